// The client's DMA windows (vfio-user DMA_MAP/DMA_UNMAP): which guest physical ranges the device may reach, and how.

import { DMA_FLAG_READ, DMA_FLAG_WRITE, EEXIST, EINVAL, ENOENT, ENOSPC } from './protocol.js';

/** Maps a client-supplied fd range into our address space (the addon's mmap, or a fake). */
export interface Mapper {
  /** Returns the mapped bytes, or a negative errno. */
  map(fd: number, offset: number, size: number, writable: boolean): Uint8Array | number;
  /** Unmaps exactly once; later access to the bytes must not reach freed memory. */
  unmap(mem: Uint8Array): void;
  closeFd(fd: number): void;
}

/** One DMA window. Windows without an fd are recorded (the client may describe ROM) but refused for DMA. */
export interface DmaWindow {
  iova: number;
  size: number;
  offset: number;
  prot: number;
  fd: number | null;
  mem: Uint8Array | null;
}

export const PAGE_SIZE = 4096;

/** Sorted, non-overlapping DMA windows with bounds-checked reads and writes. */
export class DmaMapTable {
  private wins: DmaWindow[] = [];
  private last: DmaWindow | null = null;
  /** DMA refused because it fell outside every usable window (for traces and fuzz oracles). */
  faults = 0;

  constructor(
    private readonly mapper: Mapper,
    readonly maxMaps = 65535,
  ) {}

  get count(): number {
    return this.wins.length;
  }

  windows(): readonly DmaWindow[] {
    return this.wins;
  }

  /** DMA_MAP. Returns 0 or a positive errno. The fd, if any, is owned by the table on success. */
  add(iova: number, size: number, offset: number, prot: number, fd: number | null): number {
    if (!Number.isFinite(iova) || !Number.isFinite(size) || !Number.isFinite(offset)) return EINVAL;
    if (size === 0 || iova + size > Number.MAX_SAFE_INTEGER || iova % PAGE_SIZE || size % PAGE_SIZE) return EINVAL;
    if (prot & ~(DMA_FLAG_READ | DMA_FLAG_WRITE)) return EINVAL;
    if (fd !== null && offset % PAGE_SIZE) return EINVAL;
    if (this.wins.length >= this.maxMaps) return ENOSPC;
    const i = this.lowerBound(iova);
    const prev = this.wins[i - 1];
    const next = this.wins[i];
    if ((prev && prev.iova + prev.size > iova) || (next && next.iova < iova + size)) return EEXIST;
    let mem: Uint8Array | null = null;
    if (fd !== null) {
      const m = this.mapper.map(fd, offset, size, (prot & DMA_FLAG_WRITE) !== 0);
      if (typeof m === 'number') return -m > 0 ? -m : EINVAL;
      mem = m;
    }
    this.wins.splice(i, 0, { iova, size, offset, prot, fd, mem });
    return 0;
  }

  /** DMA_UNMAP of [iova, iova+size): every window inside it goes; a window cut in two is refused. */
  remove(iova: number, size: number): number {
    if (!Number.isFinite(iova) || !Number.isFinite(size) || size === 0) return EINVAL;
    const end = iova + size;
    const hit = this.wins.filter((w) => w.iova < end && w.iova + w.size > iova);
    if (hit.length === 0) return ENOENT;
    if (hit.some((w) => w.iova < iova || w.iova + w.size > end)) return EINVAL;
    for (const w of hit) this.release(w);
    this.wins = this.wins.filter((w) => !hit.includes(w));
    this.last = null;
    return 0;
  }

  /** Unmaps everything (DMA_UNMAP with the ALL flag, disconnect). */
  clear(): void {
    for (const w of this.wins) this.release(w);
    this.wins = [];
    this.last = null;
  }

  private release(w: DmaWindow): void {
    if (w.mem) this.mapper.unmap(w.mem);
    if (w.fd !== null) this.mapper.closeFd(w.fd);
    w.mem = null;
    w.fd = null;
  }

  private lowerBound(iova: number): number {
    let lo = 0;
    let hi = this.wins.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.wins[mid]!.iova < iova) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private windowAt(addr: number): DmaWindow | null {
    const l = this.last;
    if (l && addr >= l.iova && addr < l.iova + l.size) return l;
    const i = this.lowerBound(addr + 1) - 1;
    const w = this.wins[i];
    if (w && addr >= w.iova && addr < w.iova + w.size) {
      this.last = w;
      return w;
    }
    return null;
  }

  /**
   * Copies guest memory at [addr, addr+dst.length) into dst. The range may span adjacent
   * windows; every byte must lie in an fd-backed window that allows device reads.
   */
  read(addr: number, dst: Uint8Array): boolean {
    return this.access(addr, dst, DMA_FLAG_READ);
  }

  write(addr: number, src: Uint8Array): boolean {
    return this.access(addr, src, DMA_FLAG_WRITE);
  }

  private access(addr: number, buf: Uint8Array, need: number): boolean {
    const len = buf.length;
    if (!(addr >= 0) || addr + len > Number.MAX_SAFE_INTEGER) {
      this.faults++;
      return false;
    }
    // Check the whole range first so a failing access writes nothing.
    let a = addr;
    const end = addr + len;
    while (a < end) {
      const w = this.windowAt(a);
      if (!w || !w.mem || !(w.prot & need)) {
        this.faults++;
        return false;
      }
      a = Math.min(end, w.iova + w.size);
    }
    a = addr;
    let o = 0;
    while (a < end) {
      const w = this.windowAt(a)!;
      const n = Math.min(end, w.iova + w.size) - a;
      const off = a - w.iova;
      if (need === DMA_FLAG_READ) buf.set(w.mem!.subarray(off, off + n), o);
      else w.mem!.set(buf.subarray(o, o + n), off);
      a += n;
      o += n;
    }
    return true;
  }
}
