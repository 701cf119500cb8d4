// kmalloc/kzalloc/kfree over simulated RAM (mm/slab_common.c), attributed to the calling device.

import type { Kernel } from './kernel.js';
import { AllocKind } from './ram.js';

/** GFP flags: accepted for signature fidelity; allocation never sleeps here. */
export const GFP_KERNEL = 0xcc0;
export const GFP_ATOMIC = 0xa20;
export const __GFP_ZERO = 0x100;

/** A kernel allocation: its physical address and a view of its bytes. */
export interface KmallocResult {
  phys: number;
  buf: Uint8Array;
}

/** Allocates `size` bytes of RAM (at least 64-byte aligned, page aligned from 4 KiB). NULL on exhaustion. */
export function kmalloc(kernel: Kernel, size: number, gfp = GFP_KERNEL): KmallocResult | null {
  if (kernel.faults.alloc > 0) {
    kernel.faults.alloc--;
    return null;
  }
  const owner = kernel.ctxOwnerIdx();
  const phys = kernel.mem.alloc(size, AllocKind.Kmalloc, owner);
  if (phys < 0) return null;
  kernel.globalAcct.kmallocLive++;
  const oc = kernel.ownerAcct(owner);
  if (oc) oc.kmallocLive++;
  const buf = kernel.ram.view(phys, size < 1 ? 1 : size);
  if (gfp & __GFP_ZERO) buf.fill(0);
  return { phys, buf };
}

/** kmalloc that zeroes. */
export function kzalloc(kernel: Kernel, size: number, gfp = GFP_KERNEL): KmallocResult | null {
  return kmalloc(kernel, size, gfp | __GFP_ZERO);
}

/** Frees a kmalloc allocation by physical address. Double free or an unknown address throws. */
export function kfree(kernel: Kernel, phys: number): void {
  const owner = kernel.mem.release(phys, AllocKind.Kmalloc, 'kfree');
  kernel.globalAcct.kmallocLive--;
  const oc = kernel.ownerAcct(owner);
  if (oc) oc.kmallocLive--;
}

/** PAGE_SIZE of the simulated machine (x86-64). */
export const PAGE_SIZE = 4096;

/** struct page as a driver holds it: the page's physical address and its bytes. */
export interface Page {
  phys: number;
  buf: Uint8Array;
}

/**
 * alloc_page: one page-aligned page of RAM, accounted like kmalloc to the calling device (a
 * driver that leaks pages shows in the same kernel-glue accounting). NULL on exhaustion.
 */
export function alloc_page(kernel: Kernel, gfp = GFP_ATOMIC): Page | null {
  return kmalloc(kernel, PAGE_SIZE, gfp);
}

/** put_page for a page this driver alone holds: frees it. */
export function put_page(kernel: Kernel, page: Page): void {
  kfree(kernel, page.phys);
}
