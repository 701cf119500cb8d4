// A vfio-user client over a real UNIX socket (the native addon): for server tests, fuzzing and benchmarks.

import type { NativeSys, PollHandle } from './native/index.js';
import * as P from './protocol.js';

export interface Reply {
  header: P.Header;
  payload: Uint8Array;
}

/** Sends requests and matches replies by message id. One in flight per id. */
export class VfioUserClient {
  private buf = new Uint8Array(1 << 16);
  private len = 0;
  private readonly chunk = new Uint8Array(1 << 16);
  private waiters = new Map<number, (r: Reply) => void>();
  private ph: PollHandle;
  closed = false;
  /** Messages that arrived with no one waiting (should never happen with a correct server). */
  readonly unsolicited: Reply[] = [];
  onClose?: () => void;

  private constructor(
    private readonly sys: NativeSys,
    readonly fd: number,
  ) {
    this.ph = sys.poll(fd, 'r', (status) => this.onReadable(status));
  }

  static connect(sys: NativeSys, path: string): VfioUserClient {
    const fd = sys.connectUnix(path);
    if (fd < 0) throw new Error(`connect ${path}: errno ${-fd}`);
    return new VfioUserClient(sys, fd);
  }

  /** Sends raw bytes (possibly a partial or malformed message) with fds. */
  sendRaw(bytes: Uint8Array, fds: number[] = []): void {
    let off = 0;
    let first = true;
    while (off < bytes.length) {
      const n = this.sys.sendmsg(this.fd, bytes.subarray(off), first ? fds : []);
      if (n === -11) continue; // EAGAIN: the server drains on the same loop only after we yield; tests send small messages
      if (n < 0) throw new Error(`sendmsg errno ${-n}`);
      off += n;
      first = false;
    }
  }

  /** Sends a request and resolves with its reply; rejects after `timeoutMs` (0: wait forever, no timer). */
  request(msg: Uint8Array, fds: number[] = [], timeoutMs = 5000): Promise<Reply> {
    const id = P.readHeader(msg).msgId;
    return new Promise((resolve, reject) => {
      const t =
        timeoutMs > 0
          ? setTimeout(() => {
              this.waiters.delete(id);
              reject(new Error(`no reply to message ${id} within ${timeoutMs} ms`));
            }, timeoutMs)
          : null;
      this.waiters.set(id, (r) => {
        if (t) clearTimeout(t);
        resolve(r);
      });
      this.sendRaw(msg, fds);
    });
  }

  private onReadable(status: number): void {
    if (this.closed) return;
    if (status < 0) return this.close();
    for (;;) {
      const r = this.sys.recvmsg(this.fd, this.chunk, 4);
      for (const fd of r.fds) this.sys.close(fd);
      if (r.bytes === -11) return;
      if (r.bytes <= 0) return this.close();
      if (this.len + r.bytes > this.buf.length) {
        const nb = new Uint8Array(Math.max(this.buf.length * 2, this.len + r.bytes));
        nb.set(this.buf.subarray(0, this.len));
        this.buf = nb;
      }
      this.buf.set(this.chunk.subarray(0, r.bytes), this.len);
      this.len += r.bytes;
      let off = 0;
      while (this.len - off >= P.HEADER_SIZE) {
        const h = P.readHeader(this.buf.subarray(off));
        if (this.len - off < h.size) break;
        const rep = { header: h, payload: this.buf.slice(off + P.HEADER_SIZE, off + h.size) };
        off += h.size;
        const w = this.waiters.get(h.msgId);
        if (w) {
          this.waiters.delete(h.msgId);
          w(rep);
        } else this.unsolicited.push(rep);
      }
      this.buf.copyWithin(0, off, this.len);
      this.len -= off;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ph.close();
    this.sys.close(this.fd);
    this.onClose?.();
  }
}
