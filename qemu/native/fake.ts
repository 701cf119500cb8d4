// In-memory stand-in for the syscall addon (NativeSys), so everything above it is tested without native code.
/**
 * FakeSys implements NativeSys with kernel-like semantics kept in JS objects. A test plays the
 * other side (QEMU, the host network) through the same NativeSys calls plus a few helpers.
 *
 * Descriptors: numbers from 100 up, never reused (a use-after-close shows up as -EBADF).
 * Passing an fd with sendmsg hands the receiver a new number for the same object, as SCM_RIGHTS
 * does; an object lives while any fd or in-flight message refers to it.
 *
 * UNIX sockets: `listenUnix(path)` binds a name in the fake's own namespace; `connectUnix(path)`
 * returns the client end at once and queues the server end for `accept`. A closed listener's
 * path stays bound (-ECONNREFUSED, and -EADDRINUSE for a new listen) until `unlink(path)`, as
 * with a real socket file, so servers should remove stale paths with `sys.unlink`. Streams
 * behave like Linux AF_UNIX: a recvmsg glues consecutive sends together, delivers the fds of a
 * send with the first chunk read from it and then stops, and closes surplus fds beyond maxFds
 * (ctrunc). With `socketBuffer` set, a receive queue holds at most that many bytes: sendmsg
 * then sends short or returns -EAGAIN, and the sender's poll turns writable once drained.
 * Closing the last fd of one end gives the other end EOF (recvmsg 0) and -EPIPE on send.
 *
 * Shared memory: `memfdCreate(name, size)` makes a file backed by a Uint8Array; `fileBytes(fd)`
 * is that array and `mmap` returns a subarray of it, so test writes and program writes see each
 * other. The fake cannot detach a view: after munmap the view stays readable here (the real
 * addon tests cover detaching); munmap still answers true once, then false. 'r' mappings are
 * not write-protected here either.
 *
 * eventfds: a counter per object; `eventfdWrites(fd)` lists every value written (through any fd
 * of the object), `eventfdCounter(fd)` peeks. Reads never block (-EAGAIN at 0).
 *
 * TAP: `tapOpen(name)` creates the device ('' picks tapN); `tapInject(name, frame)` makes a
 * frame readable on its fd, `tapTake(name)` returns (and forgets) the frames the program wrote,
 * `tapSetBlocked(name, true)` makes writes return -EAGAIN.
 *
 * Readiness: poll callbacks are level-triggered like libuv's. `flush()` runs callbacks for
 * every ready handle, round after round, until nothing is ready; more than `maxRounds` rounds
 * throws (a handler that never drains its fd, or a writable watch left on, would spin the real
 * event loop too). With `autoFlush` (default) a flush is scheduled with setImmediate after any
 * change; `await settle()` waits until everything is quiet. With `autoFlush: false` the test
 * steps the loop itself with flush().
 *
 * Faults: `failNext(op, errno)` makes the next call of op return -errno.
 */
import {
  EFD_SEMAPHORE,
  Errno,
  POLL_DISCONNECT,
  POLL_READABLE,
  POLL_WRITABLE,
  PollRegistry,
  pollMask,
} from './index.js';
import type { NativeSys, PollCallback, PollEvents, PollHandle, RecvResult, TapInfo } from './index.js';

/** Options for FakeSys. */
export interface FakeSysOptions {
  /** Schedule flush() with setImmediate after each change (default true). */
  autoFlush?: boolean;
  /** flush() rounds before it declares a busy loop (default 1000). */
  maxRounds?: number;
  /** Receive-queue capacity of each socket end in bytes (default unlimited). */
  socketBuffer?: number;
  /** Listen backlog used when listenUnix is not given one (default 16). */
  defaultBacklog?: number;
}

/** NativeSys operations whose next result can be forced to an errno with failNext. */
export type FakeOp =
  | 'listenUnix'
  | 'connectUnix'
  | 'accept'
  | 'recvmsg'
  | 'sendmsg'
  | 'read'
  | 'write'
  | 'mmap'
  | 'eventfd'
  | 'eventfdWrite'
  | 'eventfdRead'
  | 'memfdCreate'
  | 'tapOpen';

const PAGE = 4096;
const MAX_FDS = 253;
const SUN_PATH_MAX = 108;
const IFNAMSIZ = 16;

interface Segment {
  data: Uint8Array;
  off: number;
  objs: FdObject[] | null;
}

type FdObject = Listener | SockEnd | MemFile | EventFd | TapFile;

class Base {
  refs = 0;
}

class Listener extends Base {
  readonly kind = 'listener';
  readonly pending: SockEnd[] = [];
  constructor(
    readonly path: string,
    readonly backlog: number,
  ) {
    super();
  }
}

class SockEnd extends Base {
  readonly kind = 'sock';
  readonly queue: Segment[] = [];
  queued = 0;
  peer: SockEnd | null = null;
  /** Every fd of the peer is gone. */
  peerGone = false;
}

class MemFile extends Base {
  readonly kind = 'memfd';
  constructor(
    readonly name: string,
    readonly bytes: Uint8Array,
  ) {
    super();
  }
}

class EventFd extends Base {
  readonly kind = 'eventfd';
  readonly writes: number[] = [];
  constructor(
    public counter: number,
    readonly semaphore: boolean,
  ) {
    super();
  }
}

class TapDevice {
  readonly inbound: Uint8Array[] = [];
  readonly written: Uint8Array[] = [];
  blocked = false;
  file: TapFile | null = null;
  constructor(readonly name: string) {}
}

class TapFile extends Base {
  readonly kind = 'tap';
  constructor(readonly dev: TapDevice) {
    super();
  }
}

class FakePollHandle implements PollHandle {
  closed = false;
  started = true;
  refd = true;
  constructor(
    readonly fd: number,
    public mask: number,
    readonly cb: PollCallback,
    private readonly owner: FakeSys,
  ) {}
  start(events: PollEvents): void {
    if (this.closed) throw new Error('poll handle is closed');
    this.mask = pollMask(events);
    this.started = true;
    this.owner.changed();
  }
  stop(): void {
    this.started = false;
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.started = false;
    this.owner.dropPoll(this);
  }
  ref(): void {
    this.refd = true;
  }
  unref(): void {
    this.refd = false;
  }
}

/** An in-memory NativeSys for tests; see the top of this file. */
export class FakeSys implements NativeSys {
  readonly pageSize = PAGE;
  private readonly fds = new Map<number, FdObject>();
  private nextFd = 100;
  private readonly paths = new Map<string, Listener | 'stale'>();
  private readonly taps = new Map<string, TapDevice>();
  private readonly handles = new Set<FakePollHandle>();
  private readonly registry = new PollRegistry();
  private readonly live = new Set<Uint8Array>();
  private readonly unmapped = new WeakSet<Uint8Array>();
  private readonly failures = new Map<FakeOp, number[]>();
  private flushScheduled = false;
  private readonly autoFlush: boolean;
  private readonly maxRounds: number;
  private readonly socketBuffer: number;
  private readonly defaultBacklog: number;

  constructor(opts: FakeSysOptions = {}) {
    this.autoFlush = opts.autoFlush ?? true;
    this.maxRounds = opts.maxRounds ?? 1000;
    this.socketBuffer = opts.socketBuffer ?? Infinity;
    this.defaultBacklog = opts.defaultBacklog ?? 16;
  }

  // ---- test-side helpers ----

  /** Forces the next call of op to return -errno. */
  failNext(op: FakeOp, errno: number): void {
    const q = this.failures.get(op) ?? [];
    q.push(Math.abs(errno));
    this.failures.set(op, q);
  }

  /** The bytes behind a memfd-like file (shared with every mapping of it). */
  fileBytes(fd: number): Uint8Array {
    return this.expect(fd, 'memfd', 'fileBytes').bytes;
  }

  /** Every value written to the eventfd behind fd, oldest first. */
  eventfdWrites(fd: number): readonly number[] {
    return this.expect(fd, 'eventfd', 'eventfdWrites').writes;
  }

  /** The eventfd's counter, without consuming it. */
  eventfdCounter(fd: number): number {
    return this.expect(fd, 'eventfd', 'eventfdCounter').counter;
  }

  /** A frame arriving from the host side of TAP name (readable on its fd). */
  tapInject(name: string, frame: Uint8Array): void {
    const dev = this.taps.get(name);
    if (!dev) throw new Error(`tapInject: no TAP named ${name}`);
    dev.inbound.push(frame.slice());
    this.changed();
  }

  /** Frames written to TAP name since the last call. */
  tapTake(name: string): Uint8Array[] {
    const dev = this.taps.get(name);
    if (!dev) throw new Error(`tapTake: no TAP named ${name}`);
    return dev.written.splice(0);
  }

  /** While blocked, writes to TAP name return -EAGAIN (the host cannot take more). */
  tapSetBlocked(name: string, blocked: boolean): void {
    const dev = this.taps.get(name);
    if (!dev) throw new Error(`tapSetBlocked: no TAP named ${name}`);
    dev.blocked = blocked;
    this.changed();
  }

  /** Reads everything queued on a socket now: bytes glued together and all fds received. */
  drain(fd: number): { bytes: Uint8Array; fds: number[]; eof: boolean } {
    const parts: Uint8Array[] = [];
    const fds: number[] = [];
    const buf = new Uint8Array(65536);
    let eof = false;
    for (;;) {
      const r = this.recvmsg(fd, buf, MAX_FDS);
      fds.push(...r.fds);
      if (r.bytes > 0) parts.push(buf.slice(0, r.bytes));
      else {
        eof = r.bytes === 0;
        break;
      }
    }
    const total = parts.reduce((n, p) => n + p.length, 0);
    const bytes = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      bytes.set(p, o);
      o += p.length;
    }
    return { bytes, fds, eof };
  }

  /** Bytes waiting to be read on a socket fd. */
  pendingBytes(fd: number): number {
    return this.expect(fd, 'sock', 'pendingBytes').queued;
  }

  /** Whether fd is open. */
  isOpen(fd: number): boolean {
    return this.fds.has(fd);
  }

  /** Open fds, ascending (leak checks). */
  openFds(): number[] {
    return [...this.fds.keys()].sort((a, b) => a - b);
  }

  /** Poll handles not yet closed. */
  openPolls(): number {
    return this.handles.size;
  }

  /**
   * Runs callbacks of ready poll handles until none is ready; returns how many ran. Throws
   * when readiness never settles (a busy loop on the real event loop).
   */
  flush(): number {
    this.flushScheduled = false;
    let ran = 0;
    for (let round = 0; ; round++) {
      if (round >= this.maxRounds)
        throw new Error(
          `FakeSys: poll callbacks still ready after ${this.maxRounds} rounds ` +
            '(a handler does not drain its fd, or a writable watch is left on): a busy loop',
        );
      let any = false;
      for (const h of [...this.handles]) {
        if (!h.started || h.closed) continue;
        const ev = this.readiness(h);
        if (ev === 0) continue;
        any = true;
        ran++;
        h.cb(0, ev);
      }
      if (!any) return ran;
    }
  }

  /** Resolves once no callback is ready and no flush is pending. */
  async settle(): Promise<void> {
    for (let i = 0; i < this.maxRounds; i++) {
      await new Promise<void>((r) => setImmediate(r));
      if (!this.flushScheduled && !this.anyReady()) return;
      if (!this.autoFlush) this.flush();
    }
    throw new Error('FakeSys.settle: still busy');
  }

  // ---- NativeSys ----

  listenUnix(path: string, backlog = this.defaultBacklog): number {
    const f = this.fail('listenUnix');
    if (f) return f;
    if (typeof path !== 'string') throw new TypeError('listenUnix: expected a string');
    if (path.length === 0) return -Errno.EINVAL;
    if (Buffer.byteLength(path) >= SUN_PATH_MAX) return -Errno.ENAMETOOLONG;
    if (this.paths.has(path)) return -Errno.EADDRINUSE;
    const l = new Listener(path, Math.max(1, backlog));
    this.paths.set(path, l);
    return this.install(l);
  }

  connectUnix(path: string): number {
    const f = this.fail('connectUnix');
    if (f) return f;
    if (typeof path !== 'string') throw new TypeError('connectUnix: expected a string');
    if (path.length === 0) return -Errno.EINVAL;
    if (Buffer.byteLength(path) >= SUN_PATH_MAX) return -Errno.ENAMETOOLONG;
    const l = this.paths.get(path);
    if (!l) return -Errno.ENOENT;
    if (l === 'stale') return -Errno.ECONNREFUSED;
    if (l.pending.length >= l.backlog) return -Errno.EAGAIN;
    const [client, server] = this.pair();
    server.refs++; // held by the listen queue until accepted
    l.pending.push(server);
    this.changed();
    return this.install(client);
  }

  socketpair(): [number, number] | number {
    const [a, b] = this.pair();
    return [this.install(a), this.install(b)];
  }

  accept(fd: number): number {
    const f = this.fail('accept');
    if (f) return f;
    const l = this.get(fd, 'accept');
    if (!l) return -Errno.EBADF;
    if (l.kind !== 'listener') return -Errno.EINVAL;
    const s = l.pending.shift();
    if (!s) return -Errno.EAGAIN;
    const nfd = this.install(s);
    s.refs--;
    return nfd;
  }

  close(fd: number): number {
    this.checkFd(fd, 'close');
    this.registry.checkClose(fd);
    const o = this.fds.get(fd);
    if (!o) return -Errno.EBADF;
    this.fds.delete(fd);
    this.release(o);
    return 0;
  }

  unlink(path: string): number {
    if (typeof path !== 'string') throw new TypeError('unlink: expected a string');
    if (!this.paths.has(path)) return -Errno.ENOENT;
    // The listener (if open) keeps working; only the name goes.
    this.paths.delete(path);
    return 0;
  }

  recvmsg(fd: number, buf: Uint8Array, maxFds: number): RecvResult {
    const f = this.fail('recvmsg');
    if (f) return { bytes: f, fds: [], ctrunc: false };
    this.checkBuf(buf, 'recvmsg', true);
    if (!Number.isInteger(maxFds) || maxFds < 0 || maxFds > MAX_FDS) throw new RangeError('recvmsg: maxFds out of range');
    const o = this.get(fd, 'recvmsg');
    if (!o) return { bytes: -Errno.EBADF, fds: [], ctrunc: false };
    if (o.kind !== 'sock') return { bytes: -Errno.ENOTSOCK, fds: [], ctrunc: false };
    return this.recv(o, buf, maxFds);
  }

  sendmsg(fd: number, buf: Uint8Array, fds: readonly number[] = []): number {
    const f = this.fail('sendmsg');
    if (f) return f;
    this.checkBuf(buf, 'sendmsg', false);
    if (!Array.isArray(fds)) throw new TypeError('sendmsg: fds must be an array');
    for (const x of fds) this.checkFd(x, 'sendmsg');
    const o = this.get(fd, 'sendmsg');
    if (!o) return -Errno.EBADF;
    if (o.kind !== 'sock') return -Errno.ENOTSOCK;
    if (fds.length > MAX_FDS || (fds.length > 0 && buf.length === 0)) return -Errno.EINVAL;
    const objs: FdObject[] = [];
    for (const x of fds) {
      const obj = this.fds.get(x);
      if (!obj) return -Errno.EBADF;
      objs.push(obj);
    }
    return this.send(o, buf, objs);
  }

  read(fd: number, buf: Uint8Array): number {
    const f = this.fail('read');
    if (f) return f;
    this.checkBuf(buf, 'read', true);
    const o = this.get(fd, 'read');
    if (!o) return -Errno.EBADF;
    switch (o.kind) {
      case 'sock':
        return this.recv(o, buf, 0).bytes;
      case 'tap': {
        const frame = o.dev.inbound.shift();
        if (!frame) return -Errno.EAGAIN;
        const n = Math.min(frame.length, buf.length);
        buf.set(frame.subarray(0, n));
        return n;
      }
      case 'eventfd': {
        if (buf.length < 8) return -Errno.EINVAL;
        const v = this.eventfdTake(o);
        if (v < 0) return v;
        new DataView(buf.buffer, buf.byteOffset, 8).setBigUint64(0, BigInt(v), true);
        return 8;
      }
      case 'memfd':
        return -Errno.EINVAL; // no file position in the fake; use mmap
      default:
        return -Errno.EINVAL;
    }
  }

  write(fd: number, buf: Uint8Array): number {
    const f = this.fail('write');
    if (f) return f;
    this.checkBuf(buf, 'write', false);
    const o = this.get(fd, 'write');
    if (!o) return -Errno.EBADF;
    switch (o.kind) {
      case 'sock':
        return this.send(o, buf, []);
      case 'tap':
        if (o.dev.blocked) return -Errno.EAGAIN;
        if (buf.length < 14) return -Errno.EINVAL;
        o.dev.written.push(buf.slice());
        return buf.length;
      case 'eventfd': {
        if (buf.length < 8) return -Errno.EINVAL;
        const v = Number(new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true));
        return this.eventfdAdd(o, v) < 0 ? -Errno.EAGAIN : 8;
      }
      default:
        return -Errno.EINVAL;
    }
  }

  /** As write() of head and body joined (fails and blocks the same way). */
  writev2(fd: number, head: Uint8Array, body: Uint8Array): number {
    this.checkBuf(head, 'writev2', false);
    this.checkBuf(body, 'writev2', false);
    const joined = new Uint8Array(head.length + body.length);
    joined.set(head);
    joined.set(body, head.length);
    return this.write(fd, joined);
  }

  mmap(fd: number, offset: number, length: number, prot: 'r' | 'rw'): Uint8Array | number {
    this.checkFd(fd, 'mmap');
    if (typeof offset !== 'number' || typeof length !== 'number')
      throw new TypeError('mmap: offset and length must be numbers');
    if (prot !== 'r' && prot !== 'rw') throw new TypeError("mmap: prot must be 'r' or 'rw'");
    const f = this.fail('mmap');
    if (f) return f;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset % PAGE !== 0) return -Errno.EINVAL;
    if (!Number.isSafeInteger(length) || length < 1) return -Errno.EINVAL;
    if (!Number.isSafeInteger(offset + length)) return -Errno.EOVERFLOW;
    const o = this.fds.get(fd);
    if (!o) return -Errno.EBADF;
    if (o.kind !== 'memfd') return -Errno.ENODEV;
    if (offset + length > o.bytes.length) return -Errno.ENXIO;
    const view = o.bytes.subarray(offset, offset + length);
    this.live.add(view);
    return view;
  }

  munmap(view: Uint8Array): boolean {
    if (!(view instanceof Uint8Array)) throw new TypeError('munmap: expected the Uint8Array returned by mmap');
    if (this.live.delete(view)) {
      this.unmapped.add(view);
      return true;
    }
    if (this.unmapped.has(view)) return false;
    throw new TypeError('munmap: buffer is not a live mapping made by mmap');
  }

  liveMappings(): number {
    return this.live.size;
  }

  eventfd(initval = 0, flags = 0): number {
    const f = this.fail('eventfd');
    if (f) return f;
    if (!Number.isInteger(initval) || initval < 0 || initval > 0xffffffff) throw new RangeError('eventfd: initval out of range');
    return this.install(new EventFd(initval, (flags & EFD_SEMAPHORE) !== 0));
  }

  eventfdWrite(fd: number, value = 1): number {
    const f = this.fail('eventfdWrite');
    if (f) return f;
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError('eventfdWrite: value out of range');
    const o = this.get(fd, 'eventfdWrite');
    if (!o) return -Errno.EBADF;
    if (o.kind !== 'eventfd') return -Errno.EINVAL;
    return this.eventfdAdd(o, value);
  }

  eventfdRead(fd: number): number {
    const f = this.fail('eventfdRead');
    if (f) return f;
    const o = this.get(fd, 'eventfdRead');
    if (!o) return -Errno.EBADF;
    if (o.kind !== 'eventfd') return -Errno.EINVAL;
    return this.eventfdTake(o);
  }

  /**
   * The fake has no timers of its own: timerfd is refused (-ENOSYS), and the server's clock
   * falls back to Node's timers, as it does without the addon.
   */
  timerfdCreate(): number {
    return -Errno.ENOSYS;
  }
  timerfdSet(_fd: number, _ns: number, _intervalNs = 0): number {
    return -Errno.EBADF;
  }
  timerfdRead(_fd: number): number {
    return -Errno.EBADF;
  }

  memfdCreate(name: string, size: number): number {
    const f = this.fail('memfdCreate');
    if (f) return f;
    if (typeof name !== 'string') throw new TypeError('memfdCreate: expected a string');
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError('memfdCreate: size out of range');
    return this.install(new MemFile(name, new Uint8Array(size)));
  }

  fstatSize(fd: number): number {
    const o = this.get(fd, 'fstatSize');
    if (!o) return -Errno.EBADF;
    return o.kind === 'memfd' ? o.bytes.length : 0;
  }

  poll(fd: number, events: PollEvents, cb: PollCallback): PollHandle {
    if (typeof cb !== 'function') throw new TypeError('poll: callback must be a function');
    const mask = pollMask(events);
    const o = this.get(fd, 'poll');
    if (!o) throw Object.assign(new Error(`poll: uv_poll_init: bad file descriptor (fd ${fd})`), { errno: -Errno.EBADF, code: 'EBADF' });
    if (o.kind === 'memfd')
      throw Object.assign(new Error('poll: uv_poll_init: operation not permitted'), { errno: -Errno.EPERM, code: 'EPERM' });
    const h = new FakePollHandle(fd, mask, cb, this);
    this.registry.add(h);
    this.handles.add(h);
    this.changed();
    return h;
  }

  /** The fake's TAPs carry bare frames: a vnet header is not offered (vnetHdr false), so no GSO. */
  tapOpen(name: string, _vnetHdr = false): TapInfo | number {
    const f = this.fail('tapOpen');
    if (f) return f;
    if (typeof name !== 'string') throw new TypeError('tapOpen: expected a string');
    if (Buffer.byteLength(name) >= IFNAMSIZ) return -Errno.EINVAL;
    let n = name;
    if (n === '') for (let i = 0; ; i++) if (!this.taps.has((n = `tap${i}`))) break;
    let dev = this.taps.get(n);
    if (dev?.file) return -Errno.EBUSY;
    if (!dev) {
      dev = new TapDevice(n);
      this.taps.set(n, dev);
    }
    const file = new TapFile(dev);
    dev.file = file;
    return { fd: this.install(file), name: n, vnetHdr: false };
  }

  // ---- internals ----

  /** Something may have become ready: schedule a flush when running on autoFlush. */
  changed(): void {
    if (!this.autoFlush || this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      if (this.flushScheduled) this.flush();
    });
  }

  dropPoll(h: FakePollHandle): void {
    this.handles.delete(h);
    this.registry.remove(h);
  }

  private fail(op: FakeOp): number {
    const q = this.failures.get(op);
    const e = q?.shift();
    return e === undefined ? 0 : -e;
  }

  private checkFd(fd: number, fn: string): void {
    if (typeof fd !== 'number') throw new TypeError(`${fn}: fd must be a number`);
    if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw new TypeError(`${fn}: fd must be a non-negative integer`);
  }

  private checkBuf(buf: Uint8Array, fn: string, nonEmpty: boolean): void {
    if (!(buf instanceof Uint8Array)) throw new TypeError(`${fn}: buffer must be a Uint8Array`);
    if (nonEmpty && buf.length === 0) throw new RangeError(`${fn}: buffer must not be empty`);
  }

  private get(fd: number, fn: string): FdObject | undefined {
    this.checkFd(fd, fn);
    return this.fds.get(fd);
  }

  private expect<K extends FdObject['kind']>(fd: number, kind: K, fn: string): Extract<FdObject, { kind: K }> {
    const o = this.fds.get(fd);
    if (!o || o.kind !== kind) throw new Error(`${fn}: fd ${fd} is not an open ${kind}`);
    return o as Extract<FdObject, { kind: K }>;
  }

  private install(o: FdObject): number {
    const fd = this.nextFd++;
    o.refs++;
    this.fds.set(fd, o);
    return fd;
  }

  private release(o: FdObject): void {
    if (--o.refs > 0) return;
    switch (o.kind) {
      case 'sock':
        this.dropQueue(o);
        if (o.peer) {
          o.peer.peerGone = true;
          o.peer.peer = null;
          o.peer = null;
        }
        break;
      case 'listener':
        for (const s of o.pending.splice(0)) this.release(s);
        if (this.paths.get(o.path) === o) this.paths.set(o.path, 'stale');
        break;
      case 'tap':
        o.dev.file = null;
        o.dev.inbound.length = 0;
        break;
      default:
        break;
    }
    this.changed();
  }

  private dropQueue(s: SockEnd): void {
    for (const seg of s.queue.splice(0)) for (const x of seg.objs ?? []) this.release(x);
    s.queued = 0;
  }

  private pair(): [SockEnd, SockEnd] {
    const a = new SockEnd();
    const b = new SockEnd();
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  private send(s: SockEnd, buf: Uint8Array, objs: FdObject[]): number {
    const peer = s.peer;
    if (!peer) return -Errno.EPIPE;
    if (buf.length === 0) return 0;
    const room = this.socketBuffer - peer.queued;
    if (room <= 0) return -Errno.EAGAIN;
    const n = Math.min(buf.length, room);
    for (const o of objs) o.refs++; // in flight
    peer.queue.push({ data: buf.slice(0, n), off: 0, objs: objs.length ? objs : null });
    peer.queued += n;
    this.changed();
    return n;
  }

  private recv(s: SockEnd, buf: Uint8Array, maxFds: number): RecvResult {
    if (s.queue.length === 0) return { bytes: s.peerGone ? 0 : -Errno.EAGAIN, fds: [], ctrunc: false };
    let n = 0;
    const fds: number[] = [];
    let ctrunc = false;
    while (s.queue.length > 0 && n < buf.length) {
      const seg = s.queue[0]!;
      const chunk = Math.min(seg.data.length - seg.off, buf.length - n);
      buf.set(seg.data.subarray(seg.off, seg.off + chunk), n);
      n += chunk;
      seg.off += chunk;
      const objs = seg.objs;
      seg.objs = null;
      if (seg.off === seg.data.length) s.queue.shift();
      if (objs) {
        for (const [i, o] of objs.entries()) {
          if (i < maxFds) fds.push(this.install(o));
          else ctrunc = true;
          this.release(o); // the in-flight reference
        }
        break; // Linux ends a read after the chunk that carried fds
      }
    }
    s.queued -= n;
    if (n > 0) this.changed(); // the sender may be writable again
    return { bytes: n, fds, ctrunc };
  }

  private eventfdAdd(e: EventFd, v: number): number {
    if (e.counter + v > Number.MAX_SAFE_INTEGER) return -Errno.EAGAIN;
    e.counter += v;
    e.writes.push(v);
    this.changed();
    return 0;
  }

  private eventfdTake(e: EventFd): number {
    if (e.counter === 0) return -Errno.EAGAIN;
    const v = e.semaphore ? 1 : e.counter;
    e.counter -= v;
    return v;
  }

  private readiness(h: FakePollHandle): number {
    const o = this.fds.get(h.fd);
    if (!o) return 0;
    let ev = 0;
    switch (o.kind) {
      case 'listener':
        if (o.pending.length > 0) ev |= POLL_READABLE;
        break;
      case 'sock':
        if (o.queue.length > 0 || o.peerGone) ev |= POLL_READABLE;
        if (o.peerGone) ev |= POLL_DISCONNECT | POLL_WRITABLE;
        else if (o.peer && o.peer.queued < this.socketBuffer) ev |= POLL_WRITABLE;
        break;
      case 'eventfd':
        if (o.counter > 0) ev |= POLL_READABLE;
        ev |= POLL_WRITABLE;
        break;
      case 'tap':
        if (o.dev.inbound.length > 0) ev |= POLL_READABLE;
        if (!o.dev.blocked) ev |= POLL_WRITABLE;
        break;
      default:
        break;
    }
    return ev & h.mask;
  }

  private anyReady(): boolean {
    for (const h of this.handles) if (h.started && !h.closed && this.readiness(h) !== 0) return true;
    return false;
  }
}
