// Resource accounting: what a driver holds (timers, irqs, DMA, mappings, skbs...), so tests can prove remove() released it all.

import type { Kernel } from './kernel.js';
import type { PciDev } from './pci.js';

/** Running counters kept globally and per PCI device (the owner the resource is attributed to). */
export class Counters {
  timersPending = 0;
  dmaCoherentCount = 0;
  dmaCoherentBytes = 0;
  dmaMapped = 0;
  ioremaps = 0;
  skbsLive = 0;
  kmallocLive = 0;
  workPending = 0;
  napis = 0;
}

/** What `kernel.accounting(pdev?)` reports. Every field is zero for a device whose driver cleaned up. */
export interface Accounting {
  timersPending: number;
  irqsRequested: number;
  /** MSI-X vectors currently enabled. */
  msixEnabled: number;
  /** 1 when MSI is enabled. */
  msiEnabled: number;
  dmaCoherent: { count: number; bytes: number };
  dmaMapped: number;
  ioremaps: number;
  /** BARs claimed with pci_request_*regions. */
  regions: number;
  skbsLive: number;
  kmallocLive: number;
  workPending: number;
  napis: number;
  /** pci_enable_device* nesting count. */
  pciEnabled: number;
  /** 1 while bus mastering is on. */
  busMaster: number;
}

function popcount(x: number): number {
  let n = 0;
  for (; x !== 0; x &= x - 1) n++;
  return n;
}

/** Builds the accounting snapshot for one device, or for the whole kernel when `pdev` is absent. */
export function accountingFor(kernel: Kernel, pdev?: PciDev): Accounting {
  const c = pdev ? pdev.acct : kernel.globalAcct;
  const devs = pdev ? [pdev] : kernel.pciBus.devices;
  let msix = 0;
  let msi = 0;
  let regions = 0;
  let enabled = 0;
  let master = 0;
  for (const d of devs) {
    msix += d.msix_enabled ? d.msixIrqs.length : 0;
    msi += d.msi_enabled ? 1 : 0;
    regions += popcount(d.regionsRequested);
    enabled += d.enableCount;
    master += d.is_busmaster ? 1 : 0;
  }
  return {
    timersPending: c.timersPending,
    irqsRequested: kernel.irqs.countActions(pdev ?? null),
    msixEnabled: msix,
    msiEnabled: msi,
    dmaCoherent: { count: c.dmaCoherentCount, bytes: c.dmaCoherentBytes },
    dmaMapped: c.dmaMapped,
    ioremaps: c.ioremaps,
    regions,
    skbsLive: c.skbsLive,
    kmallocLive: c.kmallocLive,
    workPending: c.workPending,
    napis: c.napis,
    pciEnabled: enabled,
    busMaster: master,
  };
}

/** Names of the non-zero fields of a snapshot, e.g. `['skbsLive=3']`: empty means nothing leaked. */
export function accountingLeaks(a: Accounting): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(a)) {
    if (typeof v === 'number') {
      if (v !== 0) out.push(`${k}=${v}`);
    } else if (v.count !== 0 || v.bytes !== 0) {
      out.push(`${k}=${v.count}/${v.bytes}B`);
    }
  }
  return out;
}
