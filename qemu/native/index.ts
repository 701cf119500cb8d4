// Typed wrapper over the nicsim syscall addon (qemu/native/src): sockets with SCM_RIGHTS, mmap, eventfd, TAP, uv_poll.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { fileURLToPath } from 'node:url';

/**
 * Errno values by name (EAGAIN, EBADF, ...). Runtime conditions come back from NativeSys as
 * the negated value: `sys.accept(fd) === -Errno.EAGAIN`.
 */
export const Errno = osConstants.errno;

/** Name of a (possibly negated) errno value, e.g. `errnoName(-11) === 'EAGAIN'`. */
export function errnoName(e: number): string {
  const v = Math.abs(e);
  for (const [k, n] of Object.entries(osConstants.errno)) if (n === v) return k;
  return `errno ${v}`;
}

/** eventfd(2) flags. */
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;
export const EFD_SEMAPHORE = 1;

/** Bits of the `events` argument a poll callback receives (libuv's UV_READABLE & co). */
export const POLL_READABLE = 1;
export const POLL_WRITABLE = 2;
/** The peer hung up (reported alongside READABLE for 'r' and 'rw' watches). */
export const POLL_DISCONNECT = 4;

/** What a poll handle watches for. */
export type PollEvents = 'r' | 'w' | 'rw';

/**
 * Called from the event loop while the fd is ready (level-triggered, like epoll without ET:
 * it fires again on the next loop turn until the condition is drained or the watch changed).
 * status is 0 or a negative errno; events is a POLL_* bitmask.
 */
export type PollCallback = (status: number, events: number) => void;

/** A live readiness watch on one fd. Close it before closing the fd. */
export interface PollHandle {
  readonly fd: number;
  /** (Re)starts watching with a new event set. */
  start(events: PollEvents): void;
  /** Stops watching; start() may resume. */
  stop(): void;
  /** Final: releases the watch. Idempotent. */
  close(): void;
  /** Whether an active watch keeps the process alive (default yes, like a socket). */
  ref(): void;
  unref(): void;
  readonly closed: boolean;
}

/** What recvmsg got. bytes: count, 0 at EOF, or -errno (-EAGAIN when nothing is queued). */
export interface RecvResult {
  bytes: number;
  /** Descriptors received with this chunk (close-on-exec, owned by the caller now). */
  fds: number[];
  /** The sender passed more fds than maxFds: the kernel closed the surplus. */
  ctrunc: boolean;
}

/** An opened TAP interface. */
export interface TapInfo {
  fd: number;
  /** The interface name the kernel used (it picks tapN when asked for ''). */
  name: string;
  /** Frames carry a virtio_net_hdr (IFF_VNET_HDR): GSO writes are possible. */
  vnetHdr?: boolean;
}

/**
 * The syscalls nicsim needs, and nothing more. Every method returns a negative errno for a
 * runtime condition and throws only for a bug in the caller (wrong argument types, unknown
 * buffer to munmap, closing an fd that still has a poll handle). All fds are non-blocking and
 * close-on-exec. Implemented by the real addon (`loadNative`) and by `FakeSys` (./fake.ts).
 */
export interface NativeSys {
  /** socket+bind+listen on a UNIX stream socket path -> fd | -errno. */
  listenUnix(path: string, backlog?: number): number;
  /** A connected client socket -> fd | -errno (-EAGAIN when the backlog is full). */
  connectUnix(path: string): number;
  /** A connected pair of stream sockets -> [fd, fd] | -errno. */
  socketpair(): [number, number] | number;
  /** -> new connection fd | -errno (-EAGAIN when none is pending). */
  accept(fd: number): number;
  /** -> 0 | -errno. Throws if a poll handle on fd is not closed yet. */
  close(fd: number): number;
  /** Removes a socket path -> 0 | -errno. */
  unlink(path: string): number;
  /** One recvmsg(2) into buf (non-empty) with up to maxFds SCM_RIGHTS descriptors. */
  recvmsg(fd: number, buf: Uint8Array, maxFds: number): RecvResult;
  /** One sendmsg(2) -> bytes sent (may be short) | -errno; fds ride on the first byte. */
  sendmsg(fd: number, buf: Uint8Array, fds?: readonly number[]): number;
  /** read(2) -> n | 0 at EOF | -errno. On a TAP fd one read is one frame. */
  read(fd: number, buf: Uint8Array): number;
  /** write(2) -> n | -errno. On a TAP fd one write is one frame. */
  write(fd: number, buf: Uint8Array): number;
  /** One writev(2) of `head` then `body` -> n | -errno: a TAP frame behind its virtio-net header, uncopied. */
  writev2(fd: number, head: Uint8Array, body: Uint8Array): number;
  /**
   * MAP_SHARED mapping of [offset, offset+length) of fd -> a Uint8Array over exactly that
   * range | -errno. The offset must be page aligned and the range inside the file (else
   * -EINVAL / -ENXIO: never a SIGBUS later). There is no finalizer: the mapping stays until
   * munmap. With prot 'r' the pages are read-only and a store through the view faults the
   * process, so never write into an 'r' mapping. Views longer than buffer.constants.MAX_LENGTH
   * are refused with -EOVERFLOW.
   */
  mmap(fd: number, offset: number, length: number, prot: 'r' | 'rw'): Uint8Array | number;
  /**
   * Unmaps a view returned by mmap and detaches its ArrayBuffer (every view then has length
   * 0). -> true, or false when it was already unmapped. Throws for a buffer mmap did not make.
   */
  munmap(view: Uint8Array): boolean;
  /** Mappings made and not yet unmapped (leak checks). */
  liveMappings(): number;
  /** eventfd(2) -> fd | -errno. flags default EFD_NONBLOCK | EFD_CLOEXEC. */
  eventfd(initval?: number, flags?: number): number;
  /** Adds value (default 1) to the counter -> 0 | -errno. */
  eventfdWrite(fd: number, value?: number): number;
  /** Reads and resets the counter -> value (> 0) | -errno (-EAGAIN when it is 0). */
  eventfdRead(fd: number): number;
  /** timerfd_create(CLOCK_MONOTONIC), non-blocking -> fd | -errno: a precise wake-up to poll. */
  timerfdCreate(): number;
  /** First expiry `ns` nanoseconds from now, then every `intervalNs` (default 0: once); ns 0 disarms -> 0 | -errno. */
  timerfdSet(fd: number, ns: number, intervalNs?: number): number;
  /** Reads the expiration count -> count (> 0) | -errno (-EAGAIN before it expires). */
  timerfdRead(fd: number): number;
  /** memfd_create + ftruncate -> fd | -errno: shared memory to pass as guest RAM in tests. */
  memfdCreate(name: string, size: number): number;
  /** fstat(2).st_size -> size | -errno. */
  fstatSize(fd: number): number;
  /**
   * Watches fd on Node's event loop. One handle per fd at a time. Throws (with .errno) when
   * the fd cannot be watched: that is a bug, we only poll fds we opened.
   */
  poll(fd: number, events: PollEvents, cb: PollCallback): PollHandle;
  /**
   * Opens /dev/net/tun as TAP name (IFF_TAP | IFF_NO_PI, non-blocking; with `vnetHdr` also
   * IFF_VNET_HDR: a 10-byte virtio_net_hdr before each frame both ways) -> info | -errno.
   */
  tapOpen(name: string, vnetHdr?: boolean): TapInfo | number;
  /** The system page size (mmap offsets must be multiples of it). */
  readonly pageSize: number;
}

/** Converts the 'r' | 'w' | 'rw' watch names into a POLL_* mask. */
export function pollMask(events: PollEvents): number {
  switch (events) {
    case 'r':
      return POLL_READABLE | POLL_DISCONNECT;
    case 'w':
      return POLL_WRITABLE;
    case 'rw':
      return POLL_READABLE | POLL_WRITABLE | POLL_DISCONNECT;
    default:
      throw new TypeError(`poll: events must be 'r', 'w' or 'rw', got ${String(events)}`);
  }
}

/**
 * Bookkeeping both implementations share: at most one unclosed poll handle per fd, and no
 * close(fd) under a live handle (libuv would go on watching whatever reuses the number).
 */
export class PollRegistry {
  private readonly byFd = new Map<number, PollHandle>();
  add(h: PollHandle): void {
    if (this.byFd.has(h.fd)) throw new Error(`poll: fd ${h.fd} already has a poll handle; close it first`);
    this.byFd.set(h.fd, h);
  }
  remove(h: PollHandle): void {
    if (this.byFd.get(h.fd) === h) this.byFd.delete(h.fd);
  }
  checkClose(fd: number): void {
    if (this.byFd.has(fd)) throw new Error(`close: fd ${fd} still has a poll handle; close the handle first`);
  }
  has(fd: number): boolean {
    return this.byFd.has(fd);
  }
}

interface RawPollHandle {
  start(events: number): void;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
}

/** The addon's exports as built from src/*.cc. */
interface RawAddon {
  listenUnix(path: string, backlog: number): number;
  connectUnix(path: string): number;
  socketpair(): [number, number] | number;
  accept(fd: number): number;
  close(fd: number): number;
  unlink(path: string): number;
  recvmsg(fd: number, buf: Uint8Array, maxFds: number): RecvResult;
  sendmsg(fd: number, buf: Uint8Array, fds: readonly number[]): number;
  read(fd: number, buf: Uint8Array): number;
  write(fd: number, buf: Uint8Array): number;
  writev2(fd: number, head: Uint8Array, body: Uint8Array): number;
  mmap(fd: number, offset: number, length: number, prot: string): Uint8Array | number;
  munmap(view: Uint8Array | ArrayBuffer): boolean;
  liveMappings(): number;
  eventfd(initval: number, flags: number): number;
  eventfdWrite(fd: number, value: number): number;
  eventfdRead(fd: number): number;
  timerfdCreate(): number;
  timerfdSet(fd: number, ns: number, intervalNs: number): number;
  timerfdRead(fd: number): number;
  memfdCreate(name: string, size: number): number;
  fstatSize(fd: number): number;
  tapOpen(name: string, vnetHdr: boolean): TapInfo | number;
  poll(fd: number, events: number, cb: PollCallback): RawPollHandle;
  constants: { pageSize: number; UV_READABLE: number; UV_WRITABLE: number; UV_DISCONNECT: number };
}

class AddonPollHandle implements PollHandle {
  closed = false;
  constructor(
    readonly fd: number,
    private readonly raw: RawPollHandle,
    private readonly registry: PollRegistry,
  ) {}
  start(events: PollEvents): void {
    if (this.closed) throw new Error('poll handle is closed');
    this.raw.start(pollMask(events));
  }
  stop(): void {
    if (!this.closed) this.raw.stop();
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.raw.close();
    this.registry.remove(this);
  }
  ref(): void {
    if (!this.closed) this.raw.ref();
  }
  unref(): void {
    if (!this.closed) this.raw.unref();
  }
}

class AddonSys implements NativeSys {
  private readonly polls = new PollRegistry();
  readonly pageSize: number;
  constructor(private readonly raw: RawAddon) {
    this.pageSize = raw.constants.pageSize;
    if (raw.constants.UV_READABLE !== POLL_READABLE || raw.constants.UV_WRITABLE !== POLL_WRITABLE ||
        raw.constants.UV_DISCONNECT !== POLL_DISCONNECT)
      throw new Error('nicsim native addon: libuv poll constants differ from the wrapper');
  }
  listenUnix(path: string, backlog = 16): number {
    return this.raw.listenUnix(path, backlog);
  }
  connectUnix(path: string): number {
    return this.raw.connectUnix(path);
  }
  socketpair(): [number, number] | number {
    return this.raw.socketpair();
  }
  accept(fd: number): number {
    return this.raw.accept(fd);
  }
  close(fd: number): number {
    this.polls.checkClose(fd);
    return this.raw.close(fd);
  }
  unlink(path: string): number {
    return this.raw.unlink(path);
  }
  recvmsg(fd: number, buf: Uint8Array, maxFds: number): RecvResult {
    return this.raw.recvmsg(fd, buf, maxFds);
  }
  sendmsg(fd: number, buf: Uint8Array, fds: readonly number[] = []): number {
    return this.raw.sendmsg(fd, buf, fds);
  }
  read(fd: number, buf: Uint8Array): number {
    return this.raw.read(fd, buf);
  }
  write(fd: number, buf: Uint8Array): number {
    return this.raw.write(fd, buf);
  }
  writev2(fd: number, head: Uint8Array, body: Uint8Array): number {
    return this.raw.writev2(fd, head, body);
  }
  mmap(fd: number, offset: number, length: number, prot: 'r' | 'rw'): Uint8Array | number {
    return this.raw.mmap(fd, offset, length, prot);
  }
  munmap(view: Uint8Array): boolean {
    return this.raw.munmap(view);
  }
  liveMappings(): number {
    return this.raw.liveMappings();
  }
  eventfd(initval = 0, flags = EFD_NONBLOCK | EFD_CLOEXEC): number {
    return this.raw.eventfd(initval, flags);
  }
  eventfdWrite(fd: number, value = 1): number {
    return this.raw.eventfdWrite(fd, value);
  }
  eventfdRead(fd: number): number {
    return this.raw.eventfdRead(fd);
  }
  timerfdCreate(): number {
    return this.raw.timerfdCreate();
  }
  timerfdSet(fd: number, ns: number, intervalNs = 0): number {
    return this.raw.timerfdSet(fd, ns, intervalNs);
  }
  timerfdRead(fd: number): number {
    return this.raw.timerfdRead(fd);
  }
  memfdCreate(name: string, size: number): number {
    return this.raw.memfdCreate(name, size);
  }
  fstatSize(fd: number): number {
    return this.raw.fstatSize(fd);
  }
  poll(fd: number, events: PollEvents, cb: PollCallback): PollHandle {
    if (typeof cb !== 'function') throw new TypeError('poll: callback must be a function');
    if (this.polls.has(fd)) throw new Error(`poll: fd ${fd} already has a poll handle; close it first`);
    const raw = this.raw.poll(fd, pollMask(events), (status, ev) => cb(status, ev));
    const h = new AddonPollHandle(fd, raw, this.polls);
    this.polls.add(h);
    return h;
  }
  tapOpen(name: string, vnetHdr = false): TapInfo | number {
    return this.raw.tapOpen(name, vnetHdr);
  }
}

const ADDON_FILE = 'nicsim_native.node';

/** Where the built addon is (from the source tree or from dist/), or null when not built. */
export function nativeAddonPath(): string | null {
  const candidates = [
    process.env.NICSIM_NATIVE_ADDON,
    fileURLToPath(new URL(`./build/Release/${ADDON_FILE}`, import.meta.url)),
    fileURLToPath(new URL(`../../../qemu/native/build/Release/${ADDON_FILE}`, import.meta.url)),
  ];
  for (const c of candidates) if (c && existsSync(c)) return c;
  return null;
}

let cached: NativeSys | null | undefined;

/**
 * The real syscalls, or null when the addon has not been built (then use FakeSys, or run
 * `npm ci`). Throws when the file exists but will not load (built for another Node).
 */
export function loadNative(): NativeSys | null {
  if (cached !== undefined) return cached;
  const path = nativeAddonPath();
  if (!path) return (cached = null);
  let raw: RawAddon;
  try {
    raw = createRequire(import.meta.url)(path) as RawAddon;
  } catch (err) {
    throw new Error(
      `nicsim native addon at ${path} failed to load (${(err as Error).message}); ` +
        'rebuild it with `npm ci` or `npm run build:native`',
      { cause: err },
    );
  }
  return (cached = new AddonSys(raw));
}

/** loadNative() for code that cannot work without the addon: throws a message naming `npm ci`. */
export function requireNative(): NativeSys {
  const sys = loadNative();
  if (!sys)
    throw new Error(
      'nicsim native addon is not built (qemu/native/build/Release/nicsim_native.node is missing): ' +
        'run `npm ci` (or `npm run build:native`) in the nicsim checkout',
    );
  return sys;
}
