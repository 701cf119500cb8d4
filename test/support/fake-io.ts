// In-memory stand-ins for fds, shared memory and eventfds, for vfio-user session tests without the addon.

import type { SessionIo } from '../../qemu/session.js';

/** Fake fds: memory "files" that mmap to shared bytes, and eventfds that count signals. */
export class FakeIo implements SessionIo {
  private next = 100;
  readonly files = new Map<number, Uint8Array>();
  readonly open = new Set<number>();
  readonly signals = new Map<number, number>();
  readonly mapped = new Set<Uint8Array>();
  unmaps = 0;

  /** A memory file of `size` bytes (like a memfd backing guest RAM). */
  memfd(size: number, bytes?: Uint8Array): number {
    const fd = this.next++;
    this.files.set(fd, bytes ?? new Uint8Array(size));
    this.open.add(fd);
    return fd;
  }

  eventfd(): number {
    const fd = this.next++;
    this.open.add(fd);
    this.signals.set(fd, 0);
    return fd;
  }

  map(fd: number, offset: number, size: number): Uint8Array | number {
    const f = this.files.get(fd);
    if (!f || !this.open.has(fd)) return -9; // EBADF
    if (offset + size > f.length) return -22;
    const m = f.subarray(offset, offset + size);
    this.mapped.add(m);
    return m;
  }

  unmap(mem: Uint8Array): void {
    if (!this.mapped.delete(mem)) throw new Error('unmap of something not mapped (or unmapped twice)');
    this.unmaps++;
  }

  closeFd(fd: number): void {
    if (!this.open.delete(fd)) throw new Error(`close of fd ${fd} that is not open`);
  }

  signal(fd: number): void {
    if (!this.open.has(fd)) throw new Error(`signal on closed fd ${fd}`);
    this.signals.set(fd, (this.signals.get(fd) ?? 0) + 1);
  }
}
