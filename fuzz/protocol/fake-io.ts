// In-memory fds for session-level protocol fuzzing: memory "files", eventfds, and a record of every misuse.
// (The idea of test/support/fake-io.ts, kept here because fuzz code does not import tests.)

import type { SessionIo } from '../../qemu/session.js';

/**
 * Fake fds the session owns once "received". Misuse (closing twice, unmapping twice, signalling
 * a closed eventfd, mapping a closed fd) is recorded in `violations` instead of thrown, so the
 * fuzzer can report it as a finding rather than have the session's own catch turn it into EIO.
 */
export class FuzzIo implements SessionIo {
  private next = 1000;
  readonly files = new Map<number, Uint8Array>();
  readonly open = new Set<number>();
  readonly eventfds = new Set<number>();
  readonly mapped = new Set<Uint8Array>();
  readonly violations: string[] = [];
  signals = 0;

  /** Backing bytes by size, shared by every file of that size (contents do not matter to the oracles; allocation would dominate). */
  private readonly backing = new Map<number, Uint8Array>();

  /** A memory file of `size` bytes (like a memfd backing guest RAM). */
  memfd(size: number): number {
    const fd = this.next++;
    let b = this.backing.get(size);
    if (!b) this.backing.set(size, (b = new Uint8Array(size)));
    this.files.set(fd, b);
    this.open.add(fd);
    return fd;
  }

  eventfd(): number {
    const fd = this.next++;
    this.open.add(fd);
    this.eventfds.add(fd);
    return fd;
  }

  /** Like the addon's mmap: page-aligned offset, the range inside the file, an error for anything else. */
  map(fd: number, offset: number, size: number): Uint8Array | number {
    if (!this.open.has(fd)) {
      this.violations.push(`map of fd ${fd} that is not open`);
      return -9; // EBADF
    }
    const f = this.files.get(fd);
    if (!f) return -19; // ENODEV: an eventfd cannot be mapped
    if (!(offset >= 0) || offset % 4096 !== 0 || !(size >= 1) || !Number.isSafeInteger(offset) || !Number.isSafeInteger(size)) return -22;
    if (offset + size > f.length) return -6; // ENXIO
    const m = f.subarray(offset, offset + size);
    this.mapped.add(m);
    return m;
  }

  unmap(mem: Uint8Array): void {
    if (!this.mapped.delete(mem)) this.violations.push('unmap of a mapping that is not live (unmapped twice?)');
  }

  closeFd(fd: number): void {
    if (!this.open.delete(fd)) this.violations.push(`close of fd ${fd} that is not open (closed twice?)`);
    this.files.delete(fd);
    this.eventfds.delete(fd);
  }

  signal(fd: number): void {
    // A client may wire a memfd as an "eventfd": that only hurts the client, so it is not a finding.
    if (!this.open.has(fd)) this.violations.push(`signal on fd ${fd} that is not open`);
    this.signals++;
  }
}
