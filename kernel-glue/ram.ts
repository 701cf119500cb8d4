// Simulated physical RAM and the kernel's memory allocator (a slab-like kmalloc over one buffer).

/** One contiguous block of physical RAM at `base`. Guest-controlled accesses never throw. */
function u8set(dst: Uint8Array, src: Uint8Array, off: number): void {
  dst.set(src, off);
}

export class SimRam {
  readonly buffer: ArrayBuffer;
  readonly u8: Uint8Array;
  readonly dv: DataView;

  constructor(
    readonly base: number,
    readonly size: number,
  ) {
    this.buffer = new ArrayBuffer(size);
    this.u8 = new Uint8Array(this.buffer);
    this.dv = new DataView(this.buffer);
  }

  /** First address past the end of RAM. */
  get end(): number {
    return this.base + this.size;
  }

  /** True when every byte of [phys, phys+len) is RAM. */
  contains(phys: number, len: number): boolean {
    return phys >= this.base && len >= 0 && phys + len <= this.base + this.size;
  }

  /** Copies RAM into `dst`; false (dst untouched) when any byte lies outside RAM. */
  read(phys: number, dst: Uint8Array): boolean {
    if (!this.contains(phys, dst.length)) return false;
    const off = phys - this.base;
    const n = dst.length;
    if (n <= 32) {
      // Descriptors and headers: a loop beats creating a subarray view.
      const u8 = this.u8;
      for (let i = 0; i < n; i++) dst[i] = u8[off + i]!;
    } else {
      dst.set(this.u8.subarray(off, off + n));
    }
    return true;
  }

  /** Copies `src` into RAM; false (nothing written) when any byte lies outside RAM. */
  write(phys: number, src: Uint8Array): boolean {
    if (!this.contains(phys, src.length)) return false;
    const off = phys - this.base;
    const n = src.length;
    if (n <= 32) {
      const u8 = this.u8;
      for (let i = 0; i < n; i++) u8[off + i] = src[i]!;
    } else {
      u8set(this.u8, src, off);
    }
    return true;
  }

  /** A live view of RAM for kernel code. Out of range is a bug in our code, so it throws. */
  view(phys: number, len: number): Uint8Array {
    if (!this.contains(phys, len)) {
      throw new Error(`SimRam.view: [0x${phys.toString(16)}, +${len}) is outside RAM`);
    }
    const off = phys - this.base;
    return this.u8.subarray(off, off + len);
  }
}

const GRANULE_SHIFT = 6;
const MIN_SHIFT = 6;
const MAX_SHIFT = 18;
const NCLASS = MAX_SHIFT - MIN_SHIFT + 1;
const LARGE_CLASS = NCLASS; // stored as cls = LARGE_CLASS + 1
const PAGE = 4096;

/** What an allocation is for, so freeing it through the wrong API is caught. */
export const AllocKind = { Kmalloc: 1, Skb: 2, Coherent: 3 } as const;
/** One of the AllocKind values. */
export type AllocKind = (typeof AllocKind)[keyof typeof AllocKind];

/**
 * Power-of-two size classes from 64 B to 256 KiB, each with a free stack, carved from a bump
 * region (small classes a page at a time, so every block is aligned to its size up to a page;
 * page-sized and bigger blocks are page aligned). Larger requests take whole pages from the
 * bump region and are recycled by exact page count. Alloc and free are O(1).
 */
export class KernelAllocator {
  private readonly free: number[][] = [];
  private readonly largeFree = new Map<number, number[]>();
  private readonly largeSize = new Map<number, number>();
  private bump: number;
  private readonly limit: number;
  /** Per 64-byte granule: 0 = no live allocation starts here, else size class + 1. */
  private readonly cls: Uint8Array;
  /** Per granule of a live allocation start: kind (low 2 bits) and owner index (upper 6). */
  private readonly meta: Uint8Array;
  /** Cached views per block start: a block keeps its size forever, so its view can be reused. */
  private readonly views: (Uint8Array | undefined)[] = [];
  /** Live allocations and their bytes (rounded to the size class). */
  live = 0;
  liveBytes = 0;

  constructor(private readonly ram: SimRam) {
    const start = Math.ceil(ram.base / PAGE) * PAGE;
    this.bump = start;
    this.limit = ram.end;
    for (let i = 0; i < NCLASS; i++) this.free.push([]);
    const granules = Math.ceil(ram.size / 64) + 1;
    this.cls = new Uint8Array(granules);
    this.meta = new Uint8Array(granules);
  }

  /** Size class index for a request, or -1 when it needs the large path. */
  private static classOf(size: number): number {
    if (size <= 64) return 0;
    if (size > 1 << MAX_SHIFT) return -1;
    return 32 - Math.clz32(size - 1) - MIN_SHIFT;
  }

  /** Allocates `size` bytes; returns the physical address or -1 when RAM is exhausted. */
  alloc(size: number, kind: AllocKind, ownerIdx: number): number {
    const k = KernelAllocator.classOf(size < 1 ? 1 : size);
    let phys: number;
    let bytes: number;
    if (k < 0) {
      bytes = Math.ceil(size / PAGE) * PAGE;
      const stack = this.largeFree.get(bytes);
      if (stack !== undefined && stack.length > 0) phys = stack.pop()!;
      else {
        if (this.bump + bytes > this.limit) return -1;
        phys = this.bump;
        this.bump += bytes;
      }
      this.largeSize.set(phys, bytes);
    } else {
      const stack = this.free[k]!;
      if (stack.length === 0 && !this.refill(k)) return -1;
      phys = stack.pop()!;
      bytes = 1 << (k + MIN_SHIFT);
    }
    const g = (phys - this.ram.base) >>> GRANULE_SHIFT;
    this.cls[g] = (k < 0 ? LARGE_CLASS : k) + 1;
    this.meta[g] = kind | (ownerIdx << 2);
    this.live++;
    this.liveBytes += bytes;
    return phys;
  }

  private refill(k: number): boolean {
    const block = 1 << (k + MIN_SHIFT);
    const chunk = block < PAGE ? PAGE : block;
    if (this.bump + chunk > this.limit) return false;
    const base = this.bump;
    this.bump += chunk;
    const stack = this.free[k]!;
    // Pushed high to low so the lowest address is handed out first.
    for (let off = chunk - block; off >= 0; off -= block) stack.push(base + off);
    return true;
  }

  /** Granule index of a live allocation start, or -1. */
  private granule(phys: number): number {
    if (!Number.isInteger(phys) || phys < this.ram.base || phys >= this.ram.end) return -1;
    if ((phys - this.ram.base) & 63) return -1;
    const g = (phys - this.ram.base) >>> GRANULE_SHIFT;
    return this.cls[g] === 0 ? -1 : g;
  }

  /** Usable bytes of the live allocation at `phys` (its size class), or 0 when none. */
  sizeOf(phys: number): number {
    const g = this.granule(phys);
    if (g < 0) return 0;
    const c = this.cls[g]! - 1;
    return c === LARGE_CLASS ? this.largeSize.get(phys)! : 1 << (c + MIN_SHIFT);
  }

  /** A view of the whole block of the live allocation at `phys` (cached, so no per-call allocation). */
  blockView(phys: number): Uint8Array {
    const g = (phys - this.ram.base) >>> GRANULE_SHIFT;
    let v = this.views[g];
    if (v === undefined) {
      v = this.ram.view(phys, this.sizeOf(phys));
      this.views[g] = v;
    }
    return v;
  }

  /** Kind of the live allocation at `phys`, or 0. */
  kindOf(phys: number): number {
    const g = this.granule(phys);
    return g < 0 ? 0 : this.meta[g]! & 3;
  }

  /** Owner index recorded at allocation (0 = none). */
  ownerOf(phys: number): number {
    const g = this.granule(phys);
    return g < 0 ? 0 : this.meta[g]! >>> 2;
  }

  /**
   * Frees the allocation at `phys`, which must be a live `kind` allocation; freeing anything
   * else is a bug in kernel or driver code and throws. Returns the owner index it carried.
   */
  release(phys: number, kind: AllocKind, api: string): number {
    const g = this.granule(phys);
    if (g < 0) {
      throw new Error(`${api}: 0x${phys.toString(16)} is not a live allocation (double free or bad pointer)`);
    }
    const m = this.meta[g]!;
    if ((m & 3) !== kind) {
      throw new Error(`${api}: 0x${phys.toString(16)} was not allocated by the matching API`);
    }
    const c = this.cls[g]! - 1;
    this.cls[g] = 0;
    this.meta[g] = 0;
    let bytes: number;
    if (c === LARGE_CLASS) {
      bytes = this.largeSize.get(phys)!;
      this.largeSize.delete(phys);
      let stack = this.largeFree.get(bytes);
      if (stack === undefined) this.largeFree.set(bytes, (stack = []));
      stack.push(phys);
    } else {
      bytes = 1 << (c + MIN_SHIFT);
      this.free[c]!.push(phys);
    }
    this.live--;
    this.liveBytes -= bytes;
    return m >>> 2;
  }

  /** Bytes never yet carved from the bump region. */
  get untouchedBytes(): number {
    return this.limit - this.bump;
  }
}
