// The DMA API over an identity-mapped IOMMU-less bus: coherent buffers and streaming mappings (include/linux/dma-mapping.h).

import type { PciDev } from './pci.js';
import { AllocKind } from './ram.js';
import { EIO, ENOMEM } from './errno.js';

export const DMA_BIDIRECTIONAL = 0;
export const DMA_TO_DEVICE = 1;
export const DMA_FROM_DEVICE = 2;
export const DMA_NONE = 3;
/** dma_data_direction. */
export type DmaDirection = number;

/** What a failed mapping returns (Linux's DMA_MAPPING_ERROR is ~0). */
export const DMA_MAPPING_ERROR = -1;

/** A mask of the low `n` address bits (n >= 53 means "any address we can represent"). */
export function DMA_BIT_MASK(n: number): number {
  return n >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** n - 1;
}

/** Sets the streaming and coherent DMA masks; -EIO when RAM lies above what the mask reaches. */
export function dma_set_mask_and_coherent(pdev: PciDev, mask: number): number {
  if (pdev.kernel.ram.end - 1 > mask) return -EIO;
  pdev.dmaMask = mask;
  return 0;
}
/** Same check for the streaming mask alone. */
export const dma_set_mask = dma_set_mask_and_coherent;

/** A coherent buffer: CPU view and bus address. */
export interface DmaCoherent {
  cpu: Uint8Array;
  dma: number;
}

/** Allocates zeroed coherent memory (page aligned from 4 KiB). NULL on exhaustion. */
export function dma_alloc_coherent(pdev: PciDev, size: number, _gfp?: number): DmaCoherent | null {
  const k = pdev.kernel;
  if (k.faults.alloc > 0) {
    k.faults.alloc--;
    return null;
  }
  const phys = k.mem.alloc(size, AllocKind.Coherent, pdev.ownerIdx);
  if (phys < 0) return null;
  const cpu = k.ram.view(phys, size);
  cpu.fill(0);
  k.globalAcct.dmaCoherentCount++;
  k.globalAcct.dmaCoherentBytes += size;
  pdev.acct.dmaCoherentCount++;
  pdev.acct.dmaCoherentBytes += size;
  return { cpu, dma: phys };
}

/** Frees coherent memory; a wrong address, size or double free throws. */
export function dma_free_coherent(pdev: PciDev, size: number, cpu: Uint8Array, dma: number): void {
  const k = pdev.kernel;
  const have = k.mem.sizeOf(dma);
  if (have !== 0 && (size > have || size !== cpu.length)) {
    throw new Error(`dma_free_coherent: size ${size} does not match the allocation at 0x${dma.toString(16)}`);
  }
  const owner = k.mem.release(dma, AllocKind.Coherent, 'dma_free_coherent');
  if (owner !== pdev.ownerIdx) throw new Error(`dma_free_coherent: 0x${dma.toString(16)} belongs to another device`);
  k.globalAcct.dmaCoherentCount--;
  k.globalAcct.dmaCoherentBytes -= size;
  pdev.acct.dmaCoherentCount--;
  pdev.acct.dmaCoherentBytes -= size;
}

/**
 * Maps `len` bytes at physical `phys` for device DMA. Identity mapping; counted per device.
 * Memory outside RAM is a bug in our code and throws. Fault injection may return DMA_MAPPING_ERROR.
 */
export function dma_map_single(pdev: PciDev, phys: number, len: number, _dir: DmaDirection): number {
  const k = pdev.kernel;
  if (k.faults.dmaMap > 0) {
    k.faults.dmaMap--;
    return DMA_MAPPING_ERROR;
  }
  if (!(len > 0) || !k.ram.contains(phys, len)) {
    throw new Error(`dma_map_single: [0x${phys.toString(16)}, +${len}) is not RAM`);
  }
  if (phys + len - 1 > pdev.dmaMask) return DMA_MAPPING_ERROR;
  const m = pdev.dmaMaps;
  m.set(phys, (m.get(phys) ?? 0) + 1);
  k.globalAcct.dmaMapped++;
  pdev.acct.dmaMapped++;
  return phys;
}

/** Page-based variant of dma_map_single (`phys` is the page's address). */
export function dma_map_page(pdev: PciDev, pagePhys: number, offset: number, len: number, dir: DmaDirection): number {
  return dma_map_single(pdev, pagePhys + offset, len, dir);
}

/** Undoes dma_map_single; unmapping something not mapped throws. */
export function dma_unmap_single(pdev: PciDev, dma: number, _len: number, _dir: DmaDirection): void {
  const m = pdev.dmaMaps;
  const c = m.get(dma);
  if (c === undefined || c === 0) throw new Error(`dma_unmap_single: 0x${dma.toString(16)} is not mapped for ${pdev.name}`);
  // Zero counts stay in the map: buffers are recycled, so the key set stays small, and
  // deleting on every unmap makes V8 rehash constantly.
  m.set(dma, c - 1);
  pdev.kernel.globalAcct.dmaMapped--;
  pdev.acct.dmaMapped--;
}

/** Undoes dma_map_page. */
export const dma_unmap_page = dma_unmap_single;

/** Nonzero (-ENOMEM) when `dma` is the error value a failed mapping returned. */
export function dma_mapping_error(_pdev: PciDev, dma: number): number {
  return dma === DMA_MAPPING_ERROR ? -ENOMEM : 0;
}

function assertMapped(pdev: PciDev, dma: number, api: string): void {
  if (!pdev.dmaMaps.get(dma)) throw new Error(`${api}: 0x${dma.toString(16)} is not mapped for ${pdev.name}`);
}

/** Ownership back to the CPU: a no-op on a coherent bus, but the mapping must exist. */
export function dma_sync_single_for_cpu(pdev: PciDev, dma: number, _len: number, _dir: DmaDirection): void {
  assertMapped(pdev, dma, 'dma_sync_single_for_cpu');
}

/** Ownership back to the device: a no-op on a coherent bus, but the mapping must exist. */
export function dma_sync_single_for_device(pdev: PciDev, dma: number, _len: number, _dir: DmaDirection): void {
  assertMapped(pdev, dma, 'dma_sync_single_for_device');
}
