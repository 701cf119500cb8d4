// Session level: decoded actions straight into VfioUserDevice.handle with fake fds, checking every exchange.

import { VfioUserDevice } from '../../qemu/session.js';
import * as C from '../../qemu/client-codec.js';
import * as P from '../../qemu/protocol.js';
import * as D from '../../device/e1000e/defs.js';
import type { TraceSink } from '../../device/trace.js';
import type { Action, FdSpec } from './actions.js';
import { FuzzIo } from './fake-io.js';
import { ExchangeChecker, type Violation } from './oracles.js';

export const FUZZ_MAC = new Uint8Array([0x52, 0x54, 0x00, 0xf0, 0x22, 0x01]);

/** Records the session's own catch-all: an exception inside dispatch is a bug even if it became EIO. */
export class InternalErrorTrace implements TraceSink {
  readonly errors: string[] = [];
  enabled(point: string): boolean {
    return point === 'vfu_internal_error';
  }
  emit(_point: string, fields: Record<string, unknown>): void {
    this.errors.push(`${String(fields.cmd)}: ${String(fields.error)}`);
  }
}

export interface RunOutcome {
  violation: Violation | null;
  messages: number;
}

/** One device reused across inputs, as `nicsim serve` reuses it across clients. */
export class SessionHarness {
  readonly io = new FuzzIo();
  readonly trace = new InternalErrorTrace();
  readonly dev: VfioUserDevice;
  private readonly checker = new ExchangeChecker();
  /** Called with every exchange (coverage engines may want the replies). */
  messages = 0;

  constructor() {
    this.dev = new VfioUserDevice({ mac: FUZZ_MAC, io: this.io, trace: this.trace });
  }

  private makeFds(specs: FdSpec[]): number[] {
    return specs.map((s) => (s.kind === 'memfd' ? this.io.memfd(s.size) : this.io.eventfd()));
  }

  /** Sends one message; returns a violation or null. */
  private exchange(bytes: Uint8Array, fds: number[], label: string): Violation | null {
    this.messages++;
    let reply: Uint8Array | null;
    try {
      const o = this.dev.handle(bytes, fds);
      reply = o.reply;
      if (o.fatal) return { oracle: 'fatal', message: `${label}: session asked to drop the connection: ${o.fatal}` };
    } catch (e) {
      return { oracle: 'session-threw', message: `${label}: handle threw ${String((e as Error)?.stack ?? e).split('\n').slice(0, 4).join(' | ')}` };
    }
    if (this.trace.errors.length) return { oracle: 'internal-error', message: `${label}: ${this.trace.errors.join('; ')}` };
    if (this.io.violations.length) return { oracle: 'fd-misuse', message: `${label}: ${this.io.violations.join('; ')}` };
    const v = this.checker.check(bytes, reply);
    if (v) return { ...v, message: `${v.message} [${label}]` };
    const own = this.ownership(label);
    if (own?.oracle === 'fd-leak' && P.readHeader(bytes).size !== bytes.length) {
      // the same leak every time: fds of a DMA_MAP/SET_IRQS refused for its header size are never closed
      return { oracle: 'fd-leak-size-mismatch', message: `${own.message} (header size ${P.readHeader(bytes).size} != ${bytes.length} bytes)` };
    }
    return own;
  }

  /** Every fd the session holds is referenced by a DMA window or an IRQ vector, and vice versa. */
  private ownership(label: string): Violation | null {
    const held = new Set<number>();
    const wins = this.dev.dma.windows();
    let prevEnd = -1;
    let withMem = 0;
    for (const w of wins) {
      if (w.iova < prevEnd) return { oracle: 'dma-table', message: `${label}: windows overlap or are unsorted at iova 0x${w.iova.toString(16)}` };
      prevEnd = w.iova + w.size;
      if (w.mem) {
        withMem++;
        if (w.mem.length !== w.size) return { oracle: 'dma-table', message: `${label}: window at 0x${w.iova.toString(16)} maps ${w.mem.length} bytes for size ${w.size}` };
      }
      if (w.fd !== null) {
        if (held.has(w.fd)) return { oracle: 'fd-ownership', message: `${label}: fd ${w.fd} held twice` };
        held.add(w.fd);
      }
    }
    for (const vecs of this.dev.irqs.fds) {
      for (const fd of vecs) {
        if (fd === null) continue;
        if (held.has(fd)) return { oracle: 'fd-ownership', message: `${label}: fd ${fd} held twice` };
        held.add(fd);
      }
    }
    for (const fd of held) if (!this.io.open.has(fd)) return { oracle: 'fd-ownership', message: `${label}: holds fd ${fd}, already closed` };
    if (held.size !== this.io.open.size) {
      const leaked = [...this.io.open].filter((fd) => !held.has(fd));
      return { oracle: 'fd-leak', message: `${label}: fds ${leaked.join(',')} were received but neither kept nor closed` };
    }
    if (withMem !== this.io.mapped.size) return { oracle: 'mapping-leak', message: `${label}: ${this.io.mapped.size} live mappings for ${withMem} windows` };
    return null;
  }

  /** The client leaves: everything it sent must be closed and unmapped. */
  private disconnect(label: string): Violation | null {
    try {
      this.dev.disconnect();
    } catch (e) {
      return { oracle: 'session-threw', message: `disconnect threw ${String(e)}` };
    }
    this.checker.reset();
    if (this.io.violations.length) return { oracle: 'fd-misuse', message: `${label}: ${this.io.violations.join('; ')}` };
    if (this.io.open.size) return { oracle: 'fd-leak', message: `${label}: fds ${[...this.io.open].join(',')} still open after disconnect` };
    if (this.io.mapped.size) return { oracle: 'mapping-leak', message: `${label}: ${this.io.mapped.size} mappings live after disconnect` };
    return null;
  }

  /** After the hostile client: a fresh one negotiates, gets the info, and reads a plausible STATUS. */
  private freshClient(): Violation | null {
    const step = (msg: Uint8Array, what: string): Uint8Array | Violation => {
      const o = this.dev.handle(msg, []);
      const r = o.reply;
      if (!r) return { oracle: 'fresh-client', message: `${what}: no reply` };
      const h = P.readHeader(r);
      if (h.flags & P.FLAG_ERROR) return { oracle: 'fresh-client', message: `${what}: errno ${h.error}` };
      return r.subarray(P.HEADER_SIZE);
    };
    const bad = (x: Uint8Array | Violation): x is Violation => !(x instanceof Uint8Array);
    const v = step(C.versionReq(), 'VERSION');
    if (bad(v)) return v;
    const i = step(C.deviceInfoReq(), 'GET_INFO');
    if (bad(i)) return i;
    const s = step(C.regionReadReq(P.PCI_BAR0, D.REG.STATUS, 4), 'REGION_READ STATUS');
    if (bad(s)) return s;
    if (s.length !== 20) return { oracle: 'fresh-client', message: `STATUS read returned ${s.length - 16} bytes` };
    const status = new DataView(s.buffer, s.byteOffset + 16, 4).getUint32(0, true);
    if (status === 0xffffffff) return { oracle: 'fresh-client', message: 'STATUS reads all-ones' };
    return this.disconnect('fresh client left');
  }

  /** Runs the actions of one input, then disconnects and checks a fresh client. */
  run(actions: Action[]): RunOutcome {
    const m0 = this.messages;
    const out = (violation: Violation | null): RunOutcome => {
      if (violation) this.recover();
      return { violation, messages: this.messages - m0 };
    };
    for (const a of actions) {
      if (a.t === 'send') {
        if (a.bytes.length < P.HEADER_SIZE) continue; // framing is the socket level's business
        const v = this.exchange(a.bytes, this.makeFds(a.fds), a.label);
        if (v) return out(v);
      } else if (a.t === 'disconnect') {
        const v = this.disconnect('disconnect');
        if (v) return out(v);
      }
    }
    return out(this.disconnect('end of input') ?? this.freshClient());
  }

  /** After a finding: leave a clean device for the next input. */
  private recover(): void {
    try {
      this.dev.disconnect();
    } catch {
      /* reported already */
    }
    this.checker.reset();
    this.io.violations.length = 0;
    this.trace.errors.length = 0;
    for (const fd of [...this.io.open]) this.io.closeFd(fd);
    this.io.mapped.clear();
    this.io.violations.length = 0;
  }

  close(): void {
    this.dev.close();
  }
}
