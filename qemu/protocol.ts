// vfio-user wire format (QEMU docs/interop/vfio-user.rst): header, commands, flags and per-command layouts.

/** Command numbers. */
export const enum Cmd {
  VERSION = 1,
  DMA_MAP = 2,
  DMA_UNMAP = 3,
  DEVICE_GET_INFO = 4,
  DEVICE_GET_REGION_INFO = 5,
  DEVICE_GET_REGION_IO_FDS = 6,
  DEVICE_GET_IRQ_INFO = 7,
  DEVICE_SET_IRQS = 8,
  REGION_READ = 9,
  REGION_WRITE = 10,
  DMA_READ = 11,
  DMA_WRITE = 12,
  DEVICE_RESET = 13,
  DIRTY_PAGES = 14,
  REGION_WRITE_MULTI = 15,
  DEVICE_FEATURE = 16,
  MIG_DATA_READ = 17,
  MIG_DATA_WRITE = 18,
}

export const CMD_NAMES: Record<number, string> = {
  1: 'VERSION', 2: 'DMA_MAP', 3: 'DMA_UNMAP', 4: 'DEVICE_GET_INFO', 5: 'DEVICE_GET_REGION_INFO',
  6: 'DEVICE_GET_REGION_IO_FDS', 7: 'DEVICE_GET_IRQ_INFO', 8: 'DEVICE_SET_IRQS', 9: 'REGION_READ',
  10: 'REGION_WRITE', 11: 'DMA_READ', 12: 'DMA_WRITE', 13: 'DEVICE_RESET', 14: 'DIRTY_PAGES',
  15: 'REGION_WRITE_MULTI', 16: 'DEVICE_FEATURE', 17: 'MIG_DATA_READ', 18: 'MIG_DATA_WRITE',
};

export const HEADER_SIZE = 16;
/** Largest message accepted: data transfers up to 1 MiB plus headers. */
export const MAX_MSG_SIZE = (1 << 20) + 4096;
/** Largest REGION_READ/WRITE count served. */
export const MAX_DATA_XFER = 1 << 20;

export const FLAG_TYPE_MASK = 0xf;
export const FLAG_REQUEST = 0;
export const FLAG_REPLY = 1;
export const FLAG_NO_REPLY = 0x10;
export const FLAG_ERROR = 0x20;

// errno values used in replies (Linux numbering)
export const EPERM = 1;
export const ENOENT = 2;
export const EIO = 5;
export const E2BIG = 7;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ERANGE = 34;
export const ENOTSUP = 95;

/** A message header. */
export interface Header {
  msgId: number;
  cmd: number;
  size: number;
  flags: number;
  error: number;
}

export function readHeader(b: Uint8Array): Header {
  const v = new DataView(b.buffer, b.byteOffset, HEADER_SIZE);
  return { msgId: v.getUint16(0, true), cmd: v.getUint16(2, true), size: v.getUint32(4, true), flags: v.getUint32(8, true), error: v.getUint32(12, true) };
}

/** Builds a reply (or request) with `payload` after the header. */
export function buildMessage(h: Omit<Header, 'size'>, payload?: Uint8Array): Uint8Array {
  const size = HEADER_SIZE + (payload ? payload.length : 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint16(0, h.msgId, true);
  v.setUint16(2, h.cmd, true);
  v.setUint32(4, size, true);
  v.setUint32(8, h.flags >>> 0, true);
  v.setUint32(12, h.error >>> 0, true);
  if (payload) out.set(payload, HEADER_SIZE);
  return out;
}

export function errorReply(req: Header, errno: number): Uint8Array {
  return buildMessage({ msgId: req.msgId, cmd: req.cmd, flags: FLAG_REPLY | FLAG_ERROR, error: errno });
}

// ---- DMA ----
export const DMA_MAP_SIZE = 32;
export const DMA_UNMAP_SIZE = 24;
export const DMA_FLAG_READ = 1;
export const DMA_FLAG_WRITE = 2;
export const DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1;
export const DMA_UNMAP_FLAG_ALL = 2;

// ---- device info ----
export const DEVICE_FLAGS_RESET = 1;
export const DEVICE_FLAGS_PCI = 2;
export const DEVICE_INFO_SIZE = 16;

// ---- regions ----
export const REGION_INFO_SIZE = 32;
export const REGION_FLAG_READ = 1;
export const REGION_FLAG_WRITE = 2;
export const REGION_FLAG_MMAP = 4;
export const REGION_FLAG_CAPS = 8;
export const PCI_BAR0 = 0;
export const PCI_ROM = 6;
export const PCI_CONFIG = 7;
export const PCI_VGA = 8;
export const PCI_NUM_REGIONS = 9;
export const REGION_ACCESS_SIZE = 16;

// ---- irqs ----
export const IRQ_INFO_SIZE = 16;
export const IRQ_INFO_EVENTFD = 1;
export const IRQ_INFO_MASKABLE = 2;
export const IRQ_INFO_AUTOMASKED = 4;
export const IRQ_INFO_NORESIZE = 8;
export const IRQ_INTX = 0;
export const IRQ_MSI = 1;
export const IRQ_MSIX = 2;
export const IRQ_ERR = 3;
export const IRQ_REQ = 4;
export const PCI_NUM_IRQS = 5;
export const IRQ_NAMES = ['INTX', 'MSI', 'MSIX', 'ERR', 'REQ'];

export const SET_IRQS_SIZE = 20;
export const IRQ_SET_DATA_NONE = 1;
export const IRQ_SET_DATA_BOOL = 2;
export const IRQ_SET_DATA_EVENTFD = 4;
export const IRQ_SET_DATA_MASK = 7;
export const IRQ_SET_ACTION_MASK = 8;
export const IRQ_SET_ACTION_UNMASK = 16;
export const IRQ_SET_ACTION_TRIGGER = 32;
export const IRQ_SET_ACTION_MASK_ALL = 56;

/** REGION_WRITE_MULTI: a u64 entry count, then entries of u64 offset, u32 region, u32 count and 8 data bytes, at most 200. */
export const WRITE_MULTI_HEAD = 8;
export const WRITE_MULTI_ENTRY = 24;
export const WRITE_MULTI_DATA = 8;
export const WRITE_MULTI_MAX = 200;

/** Little-endian reader over a message payload that reports truncation instead of throwing. */
export class Payload {
  private readonly v: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get length(): number {
    return this.bytes.length;
  }
  u16(o: number): number {
    return this.v.getUint16(o, true);
  }
  u32(o: number): number {
    return this.v.getUint32(o, true);
  }
  /** A u64 as a number, or Infinity when it exceeds 2^53 (no guest address or size can be that big here). */
  u64(o: number): number {
    const lo = this.v.getUint32(o, true);
    const hi = this.v.getUint32(o + 4, true);
    if (hi >= 0x200000) return Infinity;
    return hi * 0x1_0000_0000 + lo;
  }
}

export function putU64(v: DataView, o: number, n: number): void {
  v.setUint32(o, n % 0x1_0000_0000, true);
  v.setUint32(o + 4, Math.floor(n / 0x1_0000_0000), true);
}
