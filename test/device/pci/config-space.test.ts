import { describe, expect, it } from 'vitest';
import { RecordingTrace } from '../../../device/trace.js';
import {
  PciFunction,
  PCI_COMMAND,
  PCI_STATUS,
  PCI_STATUS_REC_MASTER_ABORT,
  type InterruptSink,
  type PciFunctionConfig,
} from '../../../device/pci/index.js';

const E82574L: PciFunctionConfig = {
  vendorId: 0x8086,
  deviceId: 0x10d3,
  revision: 0,
  classCode: 0x020000,
  subsystemVendorId: 0x8086,
  subsystemId: 0x0000,
  interruptPin: 1,
  bars: [
    { index: 0, kind: 'mem32', size: 128 * 1024 },
    { index: 1, kind: 'mem32', size: 128 * 1024 },
    { index: 2, kind: 'io', size: 32 },
    { index: 3, kind: 'mem32', size: 16 * 1024 },
  ],
  pm: { offset: 0xc8 },
  msi: { offset: 0xd0, vectors: 1, is64: true, perVectorMask: false },
  pcie: { offset: 0xe0, deviceType: 'endpoint', linkSpeed: 1, linkWidth: 1, maxPayload: 256 },
  msix: { offset: 0xa0, vectors: 5, tableBar: 3, tableOffset: 0, pbaBar: 3, pbaOffset: 0x2000 },
  aer: { offset: 0x100 },
  dsn: { offset: 0x140, serial: [0x12345678, 0x9abcdef0] },
};

const quietSink: InterruptSink = { msix: () => {}, msi: () => {}, intx: () => {} };

function make(cfg: PciFunctionConfig = E82574L, trace?: RecordingTrace): PciFunction {
  return new PciFunction(cfg, quietSink, trace);
}

describe('82574L config space', () => {
  it('reads back IDs, class, revision, subsystem, header type and interrupt pin', () => {
    const f = make();
    expect(f.configRead(0x00, 4)).toBe(0x10d38086);
    expect(f.configRead(0x08, 4)).toBe(0x02000000);
    expect(f.configRead(0x0e, 1)).toBe(0);
    expect(f.configRead(0x2c, 4)).toBe(0x00008086);
    expect(f.configRead(0x3d, 1)).toBe(1);
    expect(f.configRead(0x30, 4)).toBe(0);
    expect(f.configRead(PCI_STATUS, 2) & 0x10).toBe(0x10);
  });

  it('walks the capability chain 0x34 -> C8 -> D0 -> E0 -> A0 -> end', () => {
    const f = make();
    const seen: [number, number][] = [];
    for (let p = f.configRead(0x34, 1); p !== 0; p = f.configRead(p + 1, 1)) seen.push([p, f.configRead(p, 1)]);
    expect(seen).toEqual([
      [0xc8, 0x01],
      [0xd0, 0x05],
      [0xe0, 0x10],
      [0xa0, 0x11],
    ]);
  });

  it('walks the extended chain 0x100 (AER v1) -> 0x140 (DSN v1) -> end with the serial number', () => {
    const f = make();
    const h0 = f.configRead(0x100, 4);
    expect(h0 & 0xffff).toBe(0x0001);
    expect((h0 >>> 16) & 0xf).toBe(1);
    expect(h0 >>> 20).toBe(0x140);
    const h1 = f.configRead(0x140, 4);
    expect(h1 & 0xffff).toBe(0x0003);
    expect((h1 >>> 16) & 0xf).toBe(1);
    expect(h1 >>> 20).toBe(0);
    expect(f.configRead(0x144, 4)).toBe(0x12345678);
    expect(f.configRead(0x148, 4)).toBe(0x9abcdef0);
  });

  it('reads 0 at 0x100 when there are no extended capabilities', () => {
    const { aer: _a, dsn: _d, ...rest } = E82574L;
    expect(make(rest).configRead(0x100, 4)).toBe(0);
  });

  it('describes MSI-X: table size field 4, table in BAR3 at 0, PBA in BAR3 at 0x2000', () => {
    const f = make();
    expect(f.configRead(0xa2, 2) & 0x7ff).toBe(4);
    expect(f.configRead(0xa4, 4)).toBe(0x00000003);
    expect(f.configRead(0xa8, 4)).toBe(0x00002003);
  });

  it('describes MSI as one 64-bit vector without per-vector masking', () => {
    const f = make();
    const flags = f.configRead(0xd2, 2);
    expect(flags & 0x0e).toBe(0);
    expect(flags & 0x80).toBe(0x80);
    expect(flags & 0x100).toBe(0);
  });

  it('describes PCIe v1 endpoint with 2.5 GT/s x1 link, ASPM L0s|L1 support and matching LNKSTA', () => {
    const f = make();
    expect(f.configRead(0xe2, 2) & 0xf).toBe(1);
    expect((f.configRead(0xe2, 2) >> 4) & 0xf).toBe(0);
    expect(f.configRead(0xe4, 4) & 0x7).toBe(1); // 256-byte max payload
    const lnkcap = f.configRead(0xec, 4);
    expect(lnkcap & 0xf).toBe(1);
    expect((lnkcap >> 4) & 0x3f).toBe(1);
    expect((lnkcap >> 10) & 3).toBe(3);
    const lnksta = f.configRead(0xf2, 2);
    expect(lnksta & 0xf).toBe(1);
    expect((lnksta >> 4) & 0x3f).toBe(1);
  });

  it('lets the driver clear ASPM control in LNKCTL and keeps LNKSTA read-only', () => {
    const f = make();
    f.configWrite(0xf0, 2, 0x0003);
    expect(f.configRead(0xf0, 2) & 3).toBe(3);
    f.configWrite(0xf0, 2, f.configRead(0xf0, 2) & ~3);
    expect(f.configRead(0xf0, 2) & 3).toBe(0);
    f.configWrite(0xf2, 2, 0);
    expect(f.configRead(0xf2, 2) & 0x3ff).toBe(0x11);
  });
});

describe('BARs', () => {
  it('answers all-ones with the size mask and type bits, then holds a programmed address', () => {
    const f = make();
    const sizing: [number, number][] = [
      [0x10, 0xfffe0000],
      [0x14, 0xfffe0000],
      [0x18, 0xffffffe1],
      [0x1c, 0xffffc000],
      [0x20, 0],
      [0x24, 0],
    ];
    for (const [off, mask] of sizing) {
      f.configWrite(off, 4, 0xffffffff);
      expect(f.configRead(off, 4), `BAR at 0x${off.toString(16)}`).toBe(mask);
    }
    f.configWrite(0x10, 4, 0xfebc0000);
    f.configWrite(0x18, 4, 0xc000);
    f.configWrite(0x1c, 4, 0xfebe0000);
    expect(f.configRead(0x10, 4)).toBe(0xfebc0000);
    expect(f.barAddress(0)).toBe(0xfebc0000);
    expect(f.configRead(0x18, 4)).toBe(0xc001);
    expect(f.barAddress(2)).toBe(0xc000);
    expect(f.barAddress(3)).toBe(0xfebe0000);
    expect(f.barSize(0)).toBe(0x20000);
    expect(f.barSize(2)).toBe(32);
    expect(f.barSize(4)).toBe(0);
  });

  it('sizes a prefetchable 64-bit BAR across two dwords and returns the full address', () => {
    const f = make({ ...E82574L, bars: [{ index: 0, kind: 'mem64', size: 0x4000, prefetchable: true }], msix: undefined });
    f.configWrite(0x10, 4, 0xffffffff);
    f.configWrite(0x14, 4, 0xffffffff);
    expect(f.configRead(0x10, 4)).toBe(0xffffc00c);
    expect(f.configRead(0x14, 4)).toBe(0xffffffff);
    f.configWrite(0x10, 4, 0xd0000000);
    f.configWrite(0x14, 4, 0x00000008);
    expect(f.barAddress(0)).toBe(0x8_d000_0000);
    expect(f.barSize(1)).toBe(0);
  });

  it('puts the high part of a >4 GiB 64-bit BAR mask in the upper dword', () => {
    const f = make({ ...E82574L, bars: [{ index: 2, kind: 'mem64', size: 2 ** 34 }], msix: undefined });
    f.configWrite(0x18, 4, 0xffffffff);
    f.configWrite(0x1c, 4, 0xffffffff);
    expect(f.configRead(0x18, 4)).toBe(0x4);
    expect(f.configRead(0x1c, 4)).toBe(0xfffffffc);
  });

  it('rejects an inconsistent configuration', () => {
    expect(() => make({ ...E82574L, bars: [{ index: 0, kind: 'mem32', size: 3000 }], msix: undefined })).toThrow();
    expect(() => make({ ...E82574L, pm: { offset: 0xd0 } })).toThrow(/overlap/);
    expect(() => make({ ...E82574L, dsn: { offset: 0x104, serial: [0, 0] } })).toThrow();
  });
});

describe('config writes', () => {
  it('keeps read-only fields and traces the attempt once per write', () => {
    const t = new RecordingTrace('pci_config_ro_write');
    const f = make(E82574L, t);
    f.configWrite(0x00, 4, 0);
    f.configWrite(0x08, 4, 0xffffffff);
    f.configWrite(0x34, 1, 0x40);
    f.configWrite(0x3d, 1, 4);
    f.configWrite(0xc8, 2, 0);
    f.configWrite(0xa4, 4, 0x1234);
    expect(f.configRead(0x00, 4)).toBe(0x10d38086);
    expect(f.configRead(0x08, 4)).toBe(0x02000000);
    expect(f.configRead(0x34, 1)).toBe(0xc8);
    expect(f.configRead(0x3d, 1)).toBe(1);
    expect(f.configRead(0xc8, 2)).toBe(0xd001);
    expect(f.configRead(0xa4, 4)).toBe(3);
    expect(t.find('pci_config_ro_write')).toHaveLength(6);
    expect(t.records[0]!.fields).toMatchObject({ offset: 0, size: 4, ignored: 0x10d38086 });
  });

  it('lets COMMAND bits IO, MEM, MASTER, PARITY, SERR, INTX_DISABLE through and nothing else', () => {
    const f = make();
    f.configWrite(PCI_COMMAND, 2, 0xffff);
    expect(f.configRead(PCI_COMMAND, 2)).toBe(0x0547);
    expect(f.memoryEnabled && f.ioEnabled && f.busMaster).toBe(true);
    f.configWrite(PCI_COMMAND, 2, 0x0002);
    expect([f.memoryEnabled, f.ioEnabled, f.busMaster]).toEqual([true, false, false]);
  });

  it('keeps interrupt line and cache line writable', () => {
    const f = make();
    f.configWrite(0x3c, 1, 11);
    f.configWrite(0x0c, 1, 0x10);
    expect(f.configRead(0x3c, 2)).toBe(0x010b);
    expect(f.configRead(0x0c, 1)).toBe(0x10);
  });

  it('clears STATUS error bits only where 1 is written', () => {
    const f = make();
    f.setStatusBits(PCI_STATUS_REC_MASTER_ABORT | 0x8000);
    expect(f.configRead(PCI_STATUS, 2)).toBe(0xa010);
    f.configWrite(PCI_STATUS, 2, 0x2000);
    expect(f.configRead(PCI_STATUS, 2)).toBe(0x8010);
    f.configWrite(PCI_STATUS, 2, 0);
    expect(f.configRead(PCI_STATUS, 2)).toBe(0x8010);
    f.configWrite(PCI_STATUS, 2, 0xffff);
    expect(f.configRead(PCI_STATUS, 2)).toBe(0x0010);
  });

  it('reads all-ones and drops writes for unaligned or out-of-range accesses, tracing them', () => {
    const t = new RecordingTrace('pci_config_bad_access');
    const f = make(E82574L, t);
    expect(f.configRead(0x01, 2)).toBe(0xffff);
    expect(f.configRead(0x02, 4)).toBe(0xffffffff);
    expect(f.configRead(0x1000, 1)).toBe(0xff);
    expect(f.configRead(-4, 4)).toBe(0xffffffff);
    f.configWrite(0x3b, 2, 0xffff);
    f.configWrite(0x1000, 4, 0xffffffff);
    expect(f.configRead(0x3c, 1)).toBe(0);
    expect(t.find('pci_config_bad_access')).toHaveLength(6);
  });

  it('changes PM power state between D0 and D3hot, ignores D1/D2', () => {
    const f = make();
    expect(f.configRead(0xca, 2) & 7).toBe(2); // PM version 2
    f.configWrite(0xcc, 2, 3);
    expect(f.powerState).toBe(3);
    f.configWrite(0xcc, 2, 1);
    expect(f.powerState).toBe(3);
    f.configWrite(0xcc, 2, 0);
    expect(f.powerState).toBe(0);
  });

  it('clamps MSI multiple-message-enable to what the function is capable of', () => {
    const f = make();
    f.configWrite(0xd2, 2, 0x0071);
    expect(f.configRead(0xd2, 2) & 0x71).toBe(0x01);
    const g = make({ ...E82574L, msi: { offset: 0xd0, vectors: 4, is64: false, perVectorMask: false } });
    g.configWrite(0xd2, 2, 0x0050);
    expect(g.configRead(0xd2, 2) & 0x70).toBe(0x20);
    g.configWrite(0xd2, 2, 0x0010);
    expect(g.configRead(0xd2, 2) & 0x70).toBe(0x10);
  });

  it('returns to power-up state on reset', () => {
    const f = make();
    f.configWrite(0x10, 4, 0xfebc0000);
    f.configWrite(PCI_COMMAND, 2, 0x0007);
    f.configWrite(0x3c, 1, 11);
    f.configWrite(0xa2, 2, 0x8000);
    f.reset();
    expect(f.barAddress(0)).toBe(0);
    expect(f.configRead(PCI_COMMAND, 2)).toBe(0);
    expect(f.configRead(0x3c, 1)).toBe(0);
    expect(f.interruptMode()).toBe('intx');
    expect(f.configRead(0x00, 4)).toBe(0x10d38086);
  });
});
