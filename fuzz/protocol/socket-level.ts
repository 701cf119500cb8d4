// Socket level: a real VfioUserServer in this process, a hostile client over a real UNIX socket with real fds.

import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireNative, type NativeSys, type PollCallback, type PollHandle, type PollEvents, type RecvResult } from '../../qemu/native/index.js';
import { nativeSessionIo } from '../../qemu/native-io.js';
import { VfioUserDevice } from '../../qemu/session.js';
import { VfioUserServer, type ServerSys } from '../../qemu/server.js';
import * as C from '../../qemu/client-codec.js';
import * as P from '../../qemu/protocol.js';
import * as D from '../../device/e1000e/defs.js';
import type { Action, FdSpec } from './actions.js';
import { ExchangeChecker, expectsReply, type Violation } from './oracles.js';
import { FUZZ_MAC, InternalErrorTrace, type RunOutcome } from './session-level.js';

const EAGAIN = 11;
const WAIT_MS = 3000;

/** One turn of the event loop (the server reads when we yield). */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function until(cond: () => boolean, ms = WAIT_MS): Promise<boolean> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) return false;
    await tick();
  }
  return true;
}

/** fds of this process that the server could leak: memfds, eventfds, sockets. */
export function countFds(): { n: number; list: string[] } {
  const list: string[] = [];
  for (const f of readdirSync('/proc/self/fd')) {
    try {
      const l = readlinkSync(`/proc/self/fd/${f}`);
      if (l.includes('memfd:') || l.includes('[eventfd]') || l.startsWith('socket:')) list.push(`${f}->${l}`);
    } catch {
      /* the fd readdir itself used */
    }
  }
  return { n: list.length, list };
}

/**
 * The addon as the server and the session see it, with bookkeeping: which fds the server owns
 * (accepted, received), use of fds it no longer owns, and exceptions thrown out of its poll
 * callbacks (which would otherwise take the process down).
 */
class TrackedSys implements ServerSys {
  readonly owned = new Set<number>();
  readonly violations: Violation[] = [];
  constructor(readonly sys: NativeSys) {}
  private note(v: Violation): void {
    if (this.violations.length < 8) this.violations.push(v);
  }
  listenUnix(path: string, backlog: number): number {
    const fd = this.sys.listenUnix(path, backlog);
    if (fd >= 0) this.owned.add(fd);
    return fd;
  }
  accept(fd: number): number {
    const c = this.sys.accept(fd);
    if (c >= 0) this.owned.add(c);
    return c;
  }
  recvmsg(fd: number, buf: Uint8Array, maxFds: number): RecvResult {
    if (!this.owned.has(fd)) this.note({ oracle: 'closed-fd-use', message: `server recvmsg on fd ${fd}, which it had closed` });
    const r = this.sys.recvmsg(fd, buf, maxFds);
    for (const f of r.fds) this.owned.add(f);
    return r;
  }
  sendmsg(fd: number, buf: Uint8Array, fds: number[]): number {
    if (!this.owned.has(fd))
      this.note({ oracle: 'closed-fd-use', message: `server sendmsg of a ${buf.length}-byte reply on fd ${fd} after closing that connection (it went on handling messages after the connection closed)` });
    return this.sys.sendmsg(fd, buf, fds);
  }
  close(fd: number): number {
    if (!this.owned.delete(fd)) this.note({ oracle: 'fd-double-close', message: `server closed fd ${fd}, which it does not own (closed twice?)` });
    return this.sys.close(fd);
  }
  poll(fd: number, events: PollEvents, cb: PollCallback): PollHandle {
    return this.sys.poll(fd, events, (status, ev) => {
      try {
        cb(status, ev);
      } catch (e) {
        this.note({ oracle: 'server-threw', message: `server poll callback threw: ${String((e as Error)?.stack ?? e).split('\n').slice(0, 4).join(' | ')}` });
      }
    });
  }
}

/** What the server should make of the bytes we sent: framed messages, or framing lost. */
class StreamModel {
  private buf: Uint8Array = new Uint8Array(0);
  readonly framed: Uint8Array[] = [];
  lost: string | null = null;
  expected = 0;
  append(b: Uint8Array): void {
    if (this.lost || b.length === 0) return;
    const nb = new Uint8Array(this.buf.length + b.length);
    nb.set(this.buf);
    nb.set(b, this.buf.length);
    this.buf = nb;
    let off = 0;
    while (this.buf.length - off >= P.HEADER_SIZE) {
      const size = new DataView(this.buf.buffer, this.buf.byteOffset + off + 4, 4).getUint32(0, true);
      if (size < P.HEADER_SIZE || size > P.MAX_MSG_SIZE) {
        this.lost = `size ${size}`;
        break;
      }
      if (this.buf.length - off < size) break;
      const m = this.buf.slice(off, off + size);
      this.framed.push(m);
      if (expectsReply(m)) this.expected++;
      off += size;
    }
    this.buf = this.buf.slice(off);
  }
  get partial(): number {
    return this.buf.length;
  }
}

/** The hostile client's end of one connection: non-blocking sends, replies framed as they come. */
class Conn {
  readonly model = new StreamModel();
  readonly replies: Uint8Array[] = [];
  peerClosed = false;
  closed = false;
  badFraming: string | null = null;
  private rx = new Uint8Array(0);
  private readonly chunk = new Uint8Array(1 << 16);
  private readonly ph: PollHandle;
  /** Glued messages waiting for the next send. */
  pending: { bytes: Uint8Array[]; fds: FdSpec[] } = { bytes: [], fds: [] };

  constructor(
    private readonly sys: NativeSys,
    readonly fd: number,
  ) {
    this.ph = sys.poll(fd, 'r', (status) => this.onReadable(status));
  }

  private onReadable(status: number): void {
    if (this.closed) return;
    if (status < 0) {
      this.peerClosed = true;
      this.ph.stop();
      return;
    }
    for (;;) {
      const r = this.sys.recvmsg(this.fd, this.chunk, 4);
      for (const f of r.fds) this.sys.close(f);
      if (r.bytes === -EAGAIN) return;
      if (r.bytes <= 0) {
        this.peerClosed = true;
        this.ph.stop();
        return;
      }
      const nb = new Uint8Array(this.rx.length + r.bytes);
      nb.set(this.rx);
      nb.set(this.chunk.subarray(0, r.bytes), this.rx.length);
      let off = 0;
      while (nb.length - off >= P.HEADER_SIZE) {
        const size = new DataView(nb.buffer, off + 4, 4).getUint32(0, true);
        if (size < P.HEADER_SIZE) {
          this.badFraming ??= `reply header size ${size}`;
          off = nb.length;
          break;
        }
        if (nb.length - off < size) break;
        this.replies.push(nb.slice(off, off + size));
        off += size;
      }
      this.rx = nb.slice(off);
    }
  }

  /** Sends all of bytes (yielding while the socket is full); fds ride on the first byte. false if the server is gone. */
  async send(bytes: Uint8Array, fds: number[]): Promise<boolean> {
    let off = 0;
    let first = true;
    while (off < bytes.length) {
      if (this.closed) return false;
      const n = this.sys.sendmsg(this.fd, bytes.subarray(off), first ? fds.slice(0, 250) : []);
      if (n === -EAGAIN) {
        await tick();
        continue;
      }
      if (n < 0) return false; // EPIPE/ECONNRESET: the server closed the connection
      this.model.append(bytes.subarray(off, off + n));
      off += n;
      first = false;
    }
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ph.close();
    this.sys.close(this.fd);
  }
}

/** The server, its device and the bookkeeping, reused across inputs like `nicsim serve`. */
export class SocketHarness {
  readonly sys = requireNative();
  readonly tracked = new TrackedSys(this.sys);
  readonly trace = new InternalErrorTrace();
  readonly dev: VfioUserDevice;
  readonly server: VfioUserServer;
  readonly dir = mkdtempSync(join(tmpdir(), 'nicsim-fuzz-proto-'));
  readonly path = join(this.dir, 'vfu.sock');
  disconnects = 0;
  readonly reasons: string[] = [];
  private readonly afterClose: Violation[] = [];
  messages = 0;

  constructor() {
    // The session reaches the OS through the tracked addon too: its closes count.
    const io = nativeSessionIo(this.tracked.sys);
    const tio = { ...io, closeFd: (fd: number) => void this.tracked.close(fd) };
    this.dev = new VfioUserDevice({ mac: FUZZ_MAC, io: tio, trace: this.trace });
    this.server = new VfioUserServer(this.tracked, this.dev, this.path, {
      onDisconnect: (reason) => {
        this.disconnects++;
        this.reasons.push(reason);
        if (this.reasons.length > 16) this.reasons.shift();
      },
    });
    // A message handled while no connection is open is a bug of the server loop.
    const handle = this.dev.handle.bind(this.dev);
    this.dev.handle = (msg, fds) => {
      this.messages++;
      if (!this.server.connected && this.afterClose.length < 4) {
        const h = P.readHeader(msg);
        this.afterClose.push({ oracle: 'handled-after-close', message: `server handled ${P.CMD_NAMES[h.cmd] ?? `cmd${h.cmd}`} id ${h.msgId} after the connection had closed (disconnect() already ran: its effects outlive the client)` });
      }
      return handle(msg, fds);
    };
    this.server.start();
  }

  private makeFds(specs: FdSpec[]): number[] {
    const out: number[] = [];
    for (const s of specs) {
      const fd = s.kind === 'memfd' ? this.sys.memfdCreate('nicsim-fuzz', s.size) : this.sys.eventfd();
      if (fd >= 0) out.push(fd);
    }
    return out;
  }

  private closeFds(fds: number[]): void {
    for (const fd of fds) this.sys.close(fd);
  }

  private serverViolation(): Violation | null {
    return this.tracked.violations[0] ?? this.afterClose[0] ?? (this.trace.errors.length ? { oracle: 'internal-error', message: this.trace.errors.join('; ') } : null);
  }

  private async connect(): Promise<Conn | Violation> {
    const fd = this.sys.connectUnix(this.path);
    if (fd < 0) return { oracle: 'connect', message: `cannot connect: errno ${-fd}` };
    const c = new Conn(this.sys, fd);
    const before = this.tracked.owned.size;
    // wait until the server accepted (so a second connection is never turned away for overlap)
    if (!(await until(() => this.server.connected || this.tracked.owned.size > before, 1000))) return { oracle: 'accept', message: 'server did not accept a connection' };
    return c;
  }

  /** Sends what is glued up plus `extra`, in one sendmsg (or split at the given points). */
  private async flush(c: Conn, extra: Uint8Array | null, extraFds: FdSpec[], splits: number[] = []): Promise<void> {
    const parts = [...c.pending.bytes, ...(extra ? [extra] : [])];
    const specs = [...c.pending.fds, ...extraFds];
    c.pending = { bytes: [], fds: [] };
    if (parts.length === 0) return;
    const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const fds = this.makeFds(specs);
    try {
      if (splits.length === 0 || all.length < 2) {
        await c.send(all, fds);
        return;
      }
      const cuts = [...new Set(splits.map((s) => Math.max(1, Math.min(all.length - 1, Math.floor((s / 256) * all.length)))))].sort((a, b) => a - b);
      let at = 0;
      for (const cut of [...cuts, all.length]) {
        if (!(await c.send(all.subarray(at, cut), at === 0 ? fds : []))) return;
        at = cut;
        if (at < all.length) await tick();
      }
    } finally {
      this.closeFds(fds); // the kernel holds its own references to fds in flight
    }
  }

  /** Ends a connection: waits for the replies owed (unless we hang up abruptly), checks them, closes, and checks for leaks. */
  private async finish(c: Conn, abrupt: boolean, mappingsBefore: number): Promise<Violation | null> {
    const d0 = this.disconnects;
    if (!abrupt) {
      const m = c.model;
      if (m.lost) {
        if (!(await until(() => c.peerClosed))) return { oracle: 'framing-not-closed', message: `framing lost (${m.lost}) but the server kept the connection open` };
      } else {
        if (!(await until(() => c.replies.length >= m.expected || c.peerClosed))) {
          return { oracle: 'missing-reply', message: `${c.replies.length} replies to ${m.expected} requests after ${WAIT_MS} ms` };
        }
        await tick();
        await tick();
        if (c.peerClosed) return { oracle: 'server-closed', message: `server closed a connection whose framing was intact (${this.reasons.at(-1) ?? '?'})` };
      }
    }
    if (c.badFraming) return { oracle: 'bad-reply', message: c.badFraming };
    const v = this.checkReplies(c, !abrupt && !c.model.lost);
    c.close();
    if (!(await until(() => this.disconnects > d0 || !this.server.connected, 2000))) return { oracle: 'disconnect-unnoticed', message: 'server did not notice the client leave' };
    await tick();
    const sv = this.serverViolation();
    if (sv) return sv;
    if (v) return v;
    const held = this.tracked.owned.size - 1; // the listening socket
    if (held !== 0) return { oracle: 'fd-leak', message: `server still holds ${held} fds after the client left (${[...this.tracked.owned].join(',')})` };
    const maps = this.sys.liveMappings();
    if (maps !== mappingsBefore) return { oracle: 'mapping-leak', message: `${maps - mappingsBefore} mappings live after the client left` };
    return null;
  }

  /** Pairs requests and replies in order. `complete`: every reply owed must be there. */
  private checkReplies(c: Conn, complete: boolean): Violation | null {
    const chk = new ExchangeChecker();
    let i = 0;
    for (const req of c.model.framed) {
      if (expectsReply(req)) {
        if (i >= c.replies.length) {
          if (complete) return chk.check(req, null);
          break;
        }
        const v = chk.check(req, c.replies[i++]!);
        if (v) return v;
      } else {
        const v = chk.check(req, null);
        if (v) return v;
      }
    }
    if (i < c.replies.length) {
      const h = P.readHeader(c.replies[i]!);
      return { oracle: 'extra-reply', message: `${c.replies.length - i} replies more than requests owed one (first: id ${h.msgId} cmd ${h.cmd})` };
    }
    return null;
  }

  /** A fresh, well-behaved client must get VERSION, GET_INFO and a plausible STATUS read. */
  private async freshClient(): Promise<Violation | null> {
    const c = await this.connect();
    if (!(c instanceof Conn)) return c;
    const ask = async (m: Uint8Array, what: string): Promise<Uint8Array | Violation> => {
      const n = c.replies.length;
      await c.send(m, []);
      if (!(await until(() => c.replies.length > n || c.peerClosed))) return { oracle: 'fresh-client', message: `${what}: no reply` };
      const r = c.replies[n];
      if (!r) return { oracle: 'fresh-client', message: `${what}: connection closed (${this.reasons.at(-1) ?? ''})` };
      const h = P.readHeader(r);
      if (h.flags & P.FLAG_ERROR) return { oracle: 'fresh-client', message: `${what}: errno ${h.error}` };
      return r.subarray(P.HEADER_SIZE);
    };
    const steps: [Uint8Array, string][] = [
      [C.versionReq(), 'VERSION'],
      [C.deviceInfoReq(), 'GET_INFO'],
      [C.regionReadReq(P.PCI_BAR0, D.REG.STATUS, 4), 'REGION_READ STATUS'],
    ];
    let last: Uint8Array | null = null;
    for (const [m, what] of steps) {
      const r = await ask(m, what);
      if (!(r instanceof Uint8Array)) {
        c.close();
        return r;
      }
      last = r;
    }
    const d0 = this.disconnects;
    c.close();
    await until(() => this.disconnects > d0, 2000);
    if (!last || last.length !== 20) return { oracle: 'fresh-client', message: 'STATUS read has no data' };
    const status = new DataView(last.buffer, last.byteOffset + 16, 4).getUint32(0, true);
    if (status === 0xffffffff) return { oracle: 'fresh-client', message: 'STATUS reads all-ones' };
    return null;
  }

  /** Runs one input's actions over real sockets, then every check. */
  async run(actions: Action[]): Promise<RunOutcome> {
    const m0 = this.messages;
    const fds0 = countFds();
    const maps0 = this.sys.liveMappings();
    const out = async (v: Violation | null): Promise<RunOutcome> => {
      if (v) await this.recover();
      return { violation: v, messages: this.messages - m0 };
    };
    let c = await this.connect();
    if (!(c instanceof Conn)) return out(c);
    for (let k = 0; k < actions.length; k++) {
      const a = actions[k]!;
      if (c.model.lost || c.peerClosed) {
        // framing lost: the server hangs up; check that, then carry on with a new connection
        const v = await this.finish(c, false, maps0);
        if (v) return out(v);
        c = await this.connect();
        if (!(c instanceof Conn)) return out(c);
      }
      if (a.t === 'send' || a.t === 'raw') {
        const glue = a.t === 'send' && a.delivery === 'glue' && k < actions.length - 1;
        if (glue) {
          c.pending.bytes.push(a.bytes);
          c.pending.fds.push(...a.fds);
          continue;
        }
        await this.flush(c, a.bytes, a.fds, a.t === 'send' && a.delivery === 'split' ? a.splits : []);
        if (a.t === 'send' && a.pause) await tick();
      } else if (a.t === 'disconnect') {
        await this.flush(c, a.partial.length ? a.partial : null, a.partial.length ? a.fds : []);
        const v = await this.finish(c, a.abrupt, maps0);
        if (v) return out(v);
        c = await this.connect();
        if (!(c instanceof Conn)) return out(c);
      } else {
        for (let i = 0; i < a.turns; i++) await tick();
      }
    }
    await this.flush(c, null, []);
    const v = await this.finish(c, false, maps0);
    if (v) return out(v);
    const f = await this.freshClient();
    if (f) return out(f);
    const sv = this.serverViolation();
    if (sv) return out(sv);
    // our own fds are closed and the server's are gone: the process is back where it was
    let fds1 = countFds();
    if (fds1.n !== fds0.n) {
      await until(() => countFds().n === fds0.n, 200);
      fds1 = countFds();
    }
    if (fds1.n !== fds0.n) {
      const extra = fds1.list.filter((l) => !fds0.list.includes(l));
      return out({ oracle: 'fd-leak', message: `/proc/self/fd: ${fds0.n} -> ${fds1.n} fds (${extra.slice(0, 6).join(', ')})` });
    }
    return out(null);
  }

  /** After a finding: back to a clean server state for the next input. */
  private async recover(): Promise<void> {
    await until(() => !this.server.connected, 1000);
    this.tracked.violations.length = 0;
    this.afterClose.length = 0;
    this.trace.errors.length = 0;
    // a fresh client's session resets the device; state leaked by a bug is dropped the same way
    const c = await this.connect();
    if (c instanceof Conn) {
      const d0 = this.disconnects;
      c.close();
      await until(() => this.disconnects > d0, 1000);
    }
    this.tracked.violations.length = 0;
    this.afterClose.length = 0;
  }

  async close(): Promise<void> {
    this.server.stop();
    this.dev.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
