// Address types shared by device models and their hosts: guest physical addresses vs BAR offsets.

/**
 * A guest physical (DMA) address. Branded so a BAR offset or a plain length cannot be passed
 * where a bus address is meant. Kept as a number, not a bigint, so the hot path stays cheap:
 * addresses at or above 2^53 cannot be represented exactly, so they are mapped to
 * `GUEST_ADDR_INVALID`, which lies outside every RAM map and every DMA window.
 */
export type GuestAddr = number & { readonly __brand: 'GuestAddr' };

/** An offset inside one BAR of a PCI function. */
export type BarOffset = number & { readonly __brand: 'BarOffset' };

/** A value no host maps: every DMA to it faults. */
export const GUEST_ADDR_INVALID = Number.MAX_SAFE_INTEGER as GuestAddr;

const TWO_POW_32 = 0x1_0000_0000;

/** Builds a guest address from the low and high 32-bit halves a register pair or descriptor holds. */
export function guestAddr(lo: number, hi: number): GuestAddr {
  lo >>>= 0;
  hi >>>= 0;
  if (hi >= 0x20_0000) return GUEST_ADDR_INVALID;
  return (hi * TWO_POW_32 + lo) as GuestAddr;
}

/** Adds a byte offset to a guest address, saturating to GUEST_ADDR_INVALID. */
export function addrAdd(a: GuestAddr, delta: number): GuestAddr {
  const r = a + delta;
  return (r >= Number.MAX_SAFE_INTEGER || r < 0 ? GUEST_ADDR_INVALID : r) as GuestAddr;
}

/** Converts a trusted number (host-side bookkeeping, tests) to a guest address. */
export function asGuestAddr(n: number): GuestAddr {
  if (!Number.isSafeInteger(n) || n < 0) return GUEST_ADDR_INVALID;
  return n as GuestAddr;
}

export function barOffset(n: number): BarOffset {
  return n as BarOffset;
}
