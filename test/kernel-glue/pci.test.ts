import { describe, expect, it } from 'vitest';
import {
  EBUSY,
  EINVAL,
  free_irq,
  IORESOURCE_MEM,
  IRQ_HANDLED,
  IRQ_NONE,
  IRQF_SHARED,
  ioremap,
  iounmap,
  PCI_COMMAND_INTX_DISABLE,
  PCI_COMMAND_MASTER,
  PCI_COMMAND_MEMORY,
  PCI_EXP_LNKCTL,
  PCI_EXP_LNKCTL_ASPM_L0S,
  PCI_CAP_ID_MSIX,
  pci_disable_device,
  pci_disable_msi,
  pci_disable_msix,
  pci_enable_device_mem,
  pci_enable_msi,
  pci_enable_msix_range,
  pci_find_capability,
  pci_register_driver,
  pci_release_selected_regions,
  pci_request_selected_regions,
  pci_resource_len,
  pci_resource_start,
  pci_select_bars,
  pci_set_master,
  pci_unregister_driver,
  pcie_capability_clear_word,
  pcie_capability_read_word,
  readl,
  request_irq,
  writel,
  type MsixEntry,
  type PciDev,
} from '../../kernel-glue/index.js';
import { CAP_MSI, CAP_MSIX, CAP_PCIE, FakePci, makeKernel } from './fake-pci.js';

describe('PCI enumeration', () => {
  it('reads ids and assigns naturally aligned BARs in the MMIO and IO windows', () => {
    const { k } = makeKernel();
    const a = new FakePci();
    const b = new FakePci({ bars: { 0: { kind: 'mem64', size: 0x100000 }, 2: { kind: 'mem32', size: 0x1000 } } });
    const da = k.pciBus.attach(3, a);
    const db = k.pciBus.attach(4, b);
    expect(da.vendor).toBe(0x8086);
    expect(da.device).toBe(0x10d3);
    expect(da.class).toBe(0x020000);
    expect(da.subsystem_device).toBe(0xa01f);
    expect(pci_resource_start(da, 0)).toBe(0xe0000000);
    expect(pci_resource_len(da, 0)).toBe(0x20000);
    expect(pci_resource_start(da, 2)).toBe(0xc000);
    expect(pci_resource_len(da, 2)).toBe(32);
    expect(pci_resource_start(da, 3)).toBe(0xe0020000);
    expect(pci_resource_len(da, 3)).toBe(0x4000);
    // The 64-bit BAR of the second device is 1 MiB aligned, and BAR1 (its upper half) is skipped.
    expect(pci_resource_start(db, 0)).toBe(0xe0100000);
    expect(pci_resource_len(db, 0)).toBe(0x100000);
    expect(pci_resource_len(db, 1)).toBe(0);
    expect(pci_resource_start(db, 2) % 0x1000).toBe(0);
    // Addresses written back into config space.
    expect(a.configRead(0x10, 4)).toBe(0xe0000000);
    expect(a.configRead(0x18, 4)).toBe(0xc001);
    expect(b.configRead(0x14, 4)).toBe(0);
    expect(pci_select_bars(da, IORESOURCE_MEM)).toBe(0b1001);
    // Legacy irq from the interrupt pin, written to INTERRUPT_LINE.
    expect(da.irq).toBeGreaterThanOrEqual(16);
    expect(a.configRead(0x3c, 1)).toBe(da.irq);
    // Decode is left off until a driver enables the device.
    expect(a.command() & PCI_COMMAND_MEMORY).toBe(0);
  });

  it('finds capabilities by walking the list', () => {
    const { k } = makeKernel();
    const d = k.pciBus.attach(1, new FakePci());
    expect(pci_find_capability(d, PCI_CAP_ID_MSIX)).toBe(CAP_MSIX);
    expect(d.msi_cap).toBe(CAP_MSI);
    expect(d.pcie_cap).toBe(CAP_PCIE);
    expect(pci_find_capability(d, 0x09)).toBe(0);
    expect(pcie_capability_read_word(d, PCI_EXP_LNKCTL) & 3).toBe(3);
    pcie_capability_clear_word(d, PCI_EXP_LNKCTL, PCI_EXP_LNKCTL_ASPM_L0S);
    expect(pcie_capability_read_word(d, PCI_EXP_LNKCTL) & 3).toBe(2);
  });
});

describe('MMIO routing', () => {
  it('readl/writel reach the BAR only while memory decode is enabled', () => {
    const { k } = makeKernel();
    const f = new FakePci();
    const d = k.pciBus.attach(2, f);
    const io = ioremap(k, pci_resource_start(d, 0), pci_resource_len(d, 0));
    expect(readl(io, 0x8)).toBe(0xffffffff);
    writel(0x1234, io, 0x10);
    expect(f.log).toHaveLength(0);
    expect(k.pciBus.unclaimedReads).toBe(1);
    expect(k.pciBus.unclaimedWrites).toBe(1);
    expect(pci_enable_device_mem(d)).toBe(0);
    expect(f.command() & PCI_COMMAND_MEMORY).toBe(PCI_COMMAND_MEMORY);
    writel(0xdeadbeef, io, 0x5400);
    expect(readl(io, 0x5400)).toBe(0xdeadbeef);
    expect(f.log).toEqual([
      { bar: 0, offset: 0x5400, size: 4, write: true, value: 0xdeadbeef },
      { bar: 0, offset: 0x5400, size: 4, write: false, value: 0xdeadbeef },
    ]);
    expect(k.pciBus.mmioDecode(pci_resource_start(d, 3) + 0x10)).toEqual({ pdev: d, bar: 3, offset: 0x10 });
    expect(k.pciBus.mmioDecode(0xd0000000)).toBeNull();
    expect(() => readl(io, 0x20000)).toThrow(/outside/);
    iounmap(io);
    expect(() => readl(io, 0)).toThrow(/unmapped/);
    expect(() => iounmap(io)).toThrow(/twice/);
    pci_disable_device(d);
    expect(f.command() & PCI_COMMAND_MASTER).toBe(0);
  });
});

describe('driver model', () => {
  it('probes matching devices, remembers a failed probe, and removes on unregister', () => {
    const { k } = makeKernel();
    const good = k.pciBus.attach(1, new FakePci());
    const bad = k.pciBus.attach(2, new FakePci({ device: 0x10d4 }));
    const other = k.pciBus.attach(3, new FakePci({ device: 0x1234 }));
    const calls: string[] = [];
    const drv = {
      name: 'e1000e',
      id_table: [
        { vendor: 0x8086, device: 0x10d3 },
        { vendor: 0x8086, device: 0x10d4 },
      ],
      probe(pdev: PciDev) {
        calls.push(`probe ${pdev.slot}`);
        return pdev.device === 0x10d4 ? -EINVAL : 0;
      },
      remove(pdev: PciDev) {
        calls.push(`remove ${pdev.slot}`);
      },
    };
    expect(pci_register_driver(k, drv)).toBe(0);
    expect(good.driver).toBe(drv);
    expect(bad.driver).toBeNull();
    expect(bad.probeErrno).toBe(-EINVAL);
    expect(other.driver).toBeNull();
    // Hotplug: a device attached later is probed too.
    k.pciBus.attach(5, new FakePci());
    pci_unregister_driver(k, drv);
    expect(calls).toEqual(['probe 1', 'probe 2', 'probe 5', 'remove 1', 'remove 5']);
    expect(good.driver).toBeNull();
  });

  it('accounts regions and rejects double requests', () => {
    const { k } = makeKernel();
    const d = k.pciBus.attach(1, new FakePci());
    const bars = pci_select_bars(d, IORESOURCE_MEM);
    expect(pci_request_selected_regions(d, bars, 'x')).toBe(0);
    expect(pci_request_selected_regions(d, bars, 'y')).toBe(-EBUSY);
    expect(k.accounting(d).regions).toBe(2);
    pci_release_selected_regions(d, bars);
    expect(k.accounting(d).regions).toBe(0);
    expect(() => pci_release_selected_regions(d, bars)).toThrow(/not requested/);
  });
});

function enabledDev() {
  const { q, k } = makeKernel();
  const f = new FakePci();
  const d = k.pciBus.attach(1, f);
  pci_enable_device_mem(d);
  pci_set_master(d);
  return { q, k, f, d };
}

describe('MSI-X', () => {
  it('programs the table through MMIO and sets enable', () => {
    const { k, f, d } = enabledDev();
    const entries: MsixEntry[] = [0, 1, 2].map((entry) => ({ entry, vector: 0 }));
    expect(pci_enable_msix_range(d, entries, 3, 3)).toBe(3);
    expect(d.msix_enabled).toBe(true);
    const ctrl = f.configRead(CAP_MSIX + 2, 2);
    expect(ctrl & 0x8000).toBe(0x8000);
    expect(ctrl & 0x4000).toBe(0);
    expect(f.command() & PCI_COMMAND_INTX_DISABLE).toBe(PCI_COMMAND_INTX_DISABLE);
    const vecs = entries.map((e) => e.vector);
    expect(new Set(vecs).size).toBe(3);
    for (let i = 0; i < 3; i++) {
      expect(f.msixEntry(3, i)).toEqual({ addr: 0xfee00000, hi: 0, data: vecs[i], ctrl: 0 });
    }
    expect(f.msixEntry(3, 3).ctrl).toBe(1); // untouched entries stay masked
    expect(k.accounting(d).msixEnabled).toBe(3);
    pci_disable_msix(d);
    expect(f.msixEntry(3, 0).ctrl).toBe(1);
    expect(f.configRead(CAP_MSIX + 2, 2) & 0x8000).toBe(0);
    expect(k.accounting(d).msixEnabled).toBe(0);
  });

  it('returns -ENOSPC when the table is smaller than minvec and clamps to the table size', () => {
    const { d } = enabledDev();
    const entries: MsixEntry[] = [0, 1, 2, 3, 4, 5, 6].map((entry) => ({ entry, vector: 0 }));
    expect(pci_enable_msix_range(d, entries, 6, 7)).toBe(-28);
    expect(pci_enable_msix_range(d, entries, 1, 7)).toBe(5);
  });

  it('dispatches an MSI-X message to the handler as a later hard IRQ event', () => {
    const { q, k, f, d } = enabledDev();
    const entries: MsixEntry[] = [
      { entry: 0, vector: 0 },
      { entry: 1, vector: 0 },
    ];
    pci_enable_msix_range(d, entries, 2, 2);
    const seen: [number, unknown][] = [];
    const devId = { me: 1 };
    expect(request_irq(k, entries[1]!.vector, (irq, id) => (seen.push([irq, id]), IRQ_HANDLED), 0, 'eth0-tx-0', devId)).toBe(0);
    expect(request_irq(k, entries[1]!.vector, () => IRQ_HANDLED, 0, 'again', {})).toBe(-EBUSY);
    f.fireMsix(k, 1);
    expect(seen).toHaveLength(0); // not nested in the device's write
    q.run();
    expect(seen).toEqual([[entries[1]!.vector, devId]]);
    // Two messages before dispatch coalesce, like a pending APIC vector.
    f.fireMsix(k, 1);
    f.fireMsix(k, 1);
    q.run();
    expect(seen).toHaveLength(2);
    expect(k.interrupts().find((r) => r.irq === entries[1]!.vector)).toMatchObject({ name: 'eth0-tx-0', count: 2 });
    // Vector 0 has no handler: spurious.
    f.fireMsix(k, 0);
    q.run();
    expect(k.interrupts().find((r) => r.irq === entries[0]!.vector)?.spurious).toBe(1);
    // Writes outside the APIC window are stray.
    k.msiWrite(0x1000, entries[1]!.vector);
    q.run();
    expect(k.strayMsiWrites).toBe(1);
    expect(seen).toHaveLength(2);
    expect(() => pci_disable_msix(d)).toThrow(/still has handler 'eth0-tx-0'/);
    free_irq(k, entries[1]!.vector, devId);
    expect(() => free_irq(k, entries[1]!.vector, devId)).toThrow(/already-free IRQ/);
    pci_disable_msix(d);
    expect(k.accounting(d).irqsRequested).toBe(0);
  });
});

describe('MSI and INTx', () => {
  it('pci_enable_msi programs the capability and moves pdev.irq', () => {
    const { q, k, f, d } = enabledDev();
    const legacy = d.irq;
    expect(pci_enable_msi(d)).toBe(0);
    expect(d.irq).not.toBe(legacy);
    expect(f.configRead(CAP_MSI + 4, 4)).toBe(0xfee00000);
    expect(f.configRead(CAP_MSI + 12, 2)).toBe(d.irq);
    expect(f.configRead(CAP_MSI + 2, 2) & 1).toBe(1);
    let n = 0;
    request_irq(k, d.irq, () => (n++, IRQ_HANDLED), 0, 'eth0', d);
    k.msiWrite(0xfee00000, d.irq);
    q.run();
    expect(n).toBe(1);
    free_irq(k, d.irq, d);
    pci_disable_msi(d);
    expect(d.irq).toBe(legacy);
  });

  it('re-dispatches a level line while it stays asserted and handled', () => {
    const { q, k, d } = enabledDev();
    let pending = 3;
    let calls = 0;
    request_irq(k, d.irq, () => {
      calls++;
      if (--pending === 0) k.pciBus.setIntx(d, false);
      return IRQ_HANDLED;
    }, IRQF_SHARED, 'eth0', d);
    k.pciBus.setIntx(d, true);
    q.run();
    expect(calls).toBe(3);
    expect(k.interrupts()[0]!.count).toBe(3);
  });

  it('disables a line held asserted that nobody handles (nobody cared)', () => {
    const { q, k, d } = enabledDev();
    let calls = 0;
    request_irq(k, d.irq, () => (calls++, IRQ_NONE), IRQF_SHARED, 'eth0', d);
    k.pciBus.setIntx(1, true);
    q.run();
    // Linux would dispatch up to two windows of 100,000 at once; the stuck line is cut short.
    expect(calls).toBe(1001);
    expect(k.irqs.get(d.irq)!.nobodyCared).toBe(true);
    expect(k.dmesg.some((l) => /nobody cared/.test(l.msg))).toBe(true);
  });

  it('spurious pulses disable a line only as Linux does: over 99,900 unhandled of 100,000', () => {
    const pulses = (n: number, gapNs: number, handledEvery = 0) => {
      const { q, k, d } = enabledDev();
      let calls = 0;
      request_irq(k, d.irq, () => (calls++, handledEvery && calls % handledEvery === 0 ? IRQ_HANDLED : IRQ_NONE), IRQF_SHARED, 'eth0', d);
      for (let i = 0; i < n && !k.irqs.get(d.irq)!.nobodyCared; i++) {
        k.pciBus.setIntx(d, true);
        q.run(Infinity, 1); // one dispatch, then the device lets go of the line
        k.pciBus.setIntx(d, false);
        q.advance(gapNs);
      }
      return { calls, dead: k.irqs.get(d.irq)!.nobodyCared };
    };
    // A few thousand spurious interrupts (a storm from a faulty device) leave the line alone.
    expect(pulses(5_000, 10_000)).toEqual({ calls: 5_000, dead: false });
    // 100,000 unhandled ones in quick succession do not.
    expect(pulses(100_000, 10_000)).toEqual({ calls: 100_000, dead: true });
    // One handled in 500: at most 99,800 unhandled per window, so the line lives.
    expect(pulses(200_000, 10_000, 500).dead).toBe(false);
    // Unhandled ones spaced more than 100 ms apart restart the count.
    expect(pulses(100_000, 101e6).dead).toBe(false);
  });

  it('shares a legacy line between two handlers', () => {
    const { q, k, d } = enabledDev();
    const hits: string[] = [];
    expect(request_irq(k, d.irq, () => (hits.push('a'), IRQ_NONE), IRQF_SHARED, 'a', 'a')).toBe(0);
    expect(request_irq(k, d.irq, () => (hits.push('b'), k.pciBus.setIntx(d, false), IRQ_HANDLED), IRQF_SHARED, 'b', 'b')).toBe(0);
    expect(request_irq(k, d.irq, () => IRQ_HANDLED, 0, 'c', 'c')).toBe(-EBUSY);
    k.pciBus.setIntx(d, true);
    q.run();
    expect(hits).toEqual(['a', 'b']);
    expect(k.accounting().irqsRequested).toBe(2);
  });
});
