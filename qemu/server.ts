// The vfio-user socket server: listens on a UNIX socket, frames messages with their fds, one client at a time.

import { unlinkSync, existsSync, lstatSync } from 'node:fs';
import * as P from './protocol.js';
import type { VfioUserDevice } from './session.js';
import type { TraceSink } from '../device/trace.js';
import { NULL_TRACE } from '../device/trace.js';

/** The syscalls the server needs (the native addon provides them; tests may substitute). */
export interface ServerSys {
  listenUnix(path: string, backlog: number): number;
  accept(fd: number): number;
  recvmsg(fd: number, buf: Uint8Array, maxFds: number): { bytes: number; fds: number[] };
  sendmsg(fd: number, buf: Uint8Array, fds: number[]): number;
  close(fd: number): void;
  /** One readiness handle per fd; `start` changes what it waits for; `close` before closing the fd. */
  poll(fd: number, events: 'r' | 'w' | 'rw', cb: (status: number, events: number) => void): PollLike;
}

export interface PollLike {
  start(events: 'r' | 'w' | 'rw'): void;
  stop(): void;
  close(): void;
}

const POLL_WRITABLE = 2;

const EAGAIN = 11;
const EINTR = 4;
const RECV_CHUNK = 256 * 1024;
const MAX_FDS_PER_RECV = 16;

/** Events for logs and tests. */
export interface ServerEvents {
  onConnect?(): void;
  onDisconnect?(reason: string): void;
}

class Connection {
  private buf = new Uint8Array(64 * 1024);
  private len = 0;
  /** Stream offset of buf[0]. */
  private base = 0;
  private fdQueue: { at: number; fds: number[] }[] = [];
  private out: Uint8Array[] = [];
  private ph: PollLike;
  private wantWrite = false;
  private readonly chunk = new Uint8Array(RECV_CHUNK);
  closed = false;

  constructor(
    private readonly sys: ServerSys,
    readonly fd: number,
    private readonly dev: VfioUserDevice,
    private readonly trace: TraceSink,
    private readonly onClose: (reason: string) => void,
  ) {
    this.ph = sys.poll(fd, 'r', (status, events) => {
      if (this.closed) return;
      if (status < 0) return this.close(`poll error ${status}`);
      if (events & POLL_WRITABLE) this.onWritable();
      if (!this.closed && events & ~POLL_WRITABLE) this.onReadable();
    });
  }

  private onReadable(): void {
    for (;;) {
      const r = this.sys.recvmsg(this.fd, this.chunk, MAX_FDS_PER_RECV);
      if (r.bytes <= 0) for (const fd of r.fds) this.sys.close(fd);
      if (r.bytes === -EAGAIN) break;
      if (r.bytes === -EINTR) continue;
      if (r.bytes < 0) return this.close(`recvmsg errno ${-r.bytes}`);
      if (r.bytes === 0) return this.close('client closed the connection');
      this.append(this.chunk.subarray(0, r.bytes));
      // Linux returns a send's fds with the read that reaches the end of that send (earlier
      // fd-less bytes may come first), so they belong to the message holding the last byte read.
      if (r.fds.length > 0) this.fdQueue.push({ at: this.base + this.len - 1, fds: r.fds });
      const err = this.drain();
      if (err) return this.close(err);
      if (this.closed) return;
      // A read short of the chunk emptied the socket: the poll is level-triggered, so anything
      // that arrives now wakes us again, and the recvmsg that would say EAGAIN is saved (a
      // syscall per wake-up, several microseconds in a VM).
      if (r.bytes < this.chunk.length) break;
    }
  }

  private append(b: Uint8Array): void {
    if (this.len + b.length > this.buf.length) {
      const nb = new Uint8Array(Math.max(this.buf.length * 2, this.len + b.length));
      nb.set(this.buf.subarray(0, this.len));
      this.buf = nb;
    }
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** Handles every complete message in the buffer; returns an error when framing is lost. */
  private drain(): string | null {
    let off = 0;
    // A failed send closes the connection (and resets the device for the next client): nothing
    // still buffered from this client may reach the device after that.
    while (!this.closed && this.len - off >= P.HEADER_SIZE) {
      const size = new DataView(this.buf.buffer, off + 4, 4).getUint32(0, true);
      if (size < P.HEADER_SIZE || size > P.MAX_MSG_SIZE) return `message size ${size} out of range: framing lost`;
      if (this.len - off < size) break;
      const start = this.base + off;
      const end = start + size;
      const fds: number[] = [];
      while (this.fdQueue.length > 0 && this.fdQueue[0]!.at < end) {
        const q = this.fdQueue.shift()!;
        if (q.at >= start) fds.push(...q.fds);
        else for (const fd of q.fds) this.sys.close(fd); // belonged to nothing we could parse
      }
      const msg = this.buf.slice(off, off + size);
      off += size;
      const o = this.dev.handle(msg, fds);
      if (o.reply) this.send(o.reply);
      if (this.closed) return null;
      if (o.fatal) return o.fatal;
    }
    if (off > 0) {
      this.buf.copyWithin(0, off, this.len);
      this.len -= off;
      this.base += off;
    }
    return null;
  }

  private send(m: Uint8Array): void {
    if (this.out.length === 0) {
      const n = this.sys.sendmsg(this.fd, m, []);
      if (n === m.length) return;
      if (n < 0 && n !== -EAGAIN && n !== -EINTR) {
        this.close(`sendmsg errno ${-n}`);
        return;
      }
      this.out.push(n > 0 ? m.subarray(n) : m);
    } else {
      this.out.push(m);
    }
    if (!this.wantWrite) {
      this.wantWrite = true;
      this.ph.start('rw');
    }
  }

  private onWritable(): void {
    while (this.out.length > 0) {
      const m = this.out[0]!;
      const n = this.sys.sendmsg(this.fd, m, []);
      if (n === -EAGAIN || n === -EINTR) return;
      if (n < 0) return this.close(`sendmsg errno ${-n}`);
      if (n < m.length) {
        this.out[0] = m.subarray(n);
        return;
      }
      this.out.shift();
    }
    this.wantWrite = false;
    this.ph.start('r');
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.ph.close();
    for (const q of this.fdQueue) for (const fd of q.fds) this.sys.close(fd);
    this.fdQueue = [];
    this.sys.close(this.fd);
    if (this.trace.enabled('vfu_connection_closed')) this.trace.emit('vfu_connection_closed', { reason });
    this.onClose(reason);
  }
}

/** Serves one vfio-user device on a UNIX socket; a new client may connect after the previous one left. */
export class VfioUserServer {
  private listenFd = -1;
  private listenPoll: PollLike | null = null;
  private conn: Connection | null = null;
  connections = 0;

  constructor(
    private readonly sys: ServerSys,
    readonly dev: VfioUserDevice,
    readonly socketPath: string,
    private readonly events: ServerEvents = {},
    private readonly trace: TraceSink = NULL_TRACE,
  ) {}

  get connected(): boolean {
    return this.conn !== null;
  }

  /** Starts listening. A stale socket file from an earlier run is replaced. */
  start(): void {
    if (existsSync(this.socketPath) && lstatSync(this.socketPath).isSocket()) unlinkSync(this.socketPath);
    const fd = this.sys.listenUnix(this.socketPath, 4);
    if (fd < 0) throw new Error(`cannot listen on ${this.socketPath}: errno ${-fd}`);
    this.listenFd = fd;
    this.listenPoll = this.sys.poll(fd, 'r', () => this.onAcceptable());
  }

  private onAcceptable(): void {
    for (;;) {
      const fd = this.sys.accept(this.listenFd);
      if (fd < 0) return;
      if (this.conn) {
        // vfio-user has one client per device: a second one is turned away at once.
        if (this.trace.enabled('vfu_client_refused')) this.trace.emit('vfu_client_refused', {});
        this.sys.close(fd);
        continue;
      }
      this.connections++;
      if (this.trace.enabled('vfu_client_connected')) this.trace.emit('vfu_client_connected', { n: this.connections });
      this.events.onConnect?.();
      this.conn = new Connection(this.sys, fd, this.dev, this.trace, (reason) => {
        this.conn = null;
        this.dev.disconnect();
        this.events.onDisconnect?.(reason);
      });
    }
  }

  /** Closes the client and the listening socket, and removes the socket file. */
  stop(): void {
    this.conn?.close('server shutting down');
    this.conn = null;
    this.listenPoll?.close();
    this.listenPoll = null;
    if (this.listenFd >= 0) this.sys.close(this.listenFd);
    this.listenFd = -1;
    try {
      if (existsSync(this.socketPath)) unlinkSync(this.socketPath);
    } catch {
      /* already gone */
    }
  }
}
