import { describe, expect, it } from 'vitest';
import { RecordingTrace } from '../../../device/trace.js';
import { PciFunction, type InterruptSink, type PciFunctionConfig } from '../../../device/pci/index.js';

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

type Msg = [kind: 'msix' | 'msi', vector: number, addr: number, data: number] | ['intx', boolean];

function setup(cfg: PciFunctionConfig = E82574L, opts?: { msixTableInHost?: boolean }, trace?: RecordingTrace) {
  const log: Msg[] = [];
  const sink: InterruptSink = {
    msix: (v, a, d) => log.push(['msix', v, a, d]),
    msi: (v, a, d) => log.push(['msi', v, a, d]),
    intx: (on) => log.push(['intx', on]),
  };
  const f = new PciFunction(cfg, sink, trace, opts);
  f.configWrite(0x04, 2, 0x0006); // MEM | MASTER
  return { f, log };
}

/** Programs a table entry the way Linux does: address, data, then unmask. */
function program(f: PciFunction, v: number, addr: number, data: number, unmask = true): void {
  f.msixBarWrite(v * 16, 4, addr);
  f.msixBarWrite(v * 16 + 4, 4, 0);
  f.msixBarWrite(v * 16 + 8, 4, data);
  if (unmask) f.msixBarWrite(v * 16 + 12, 4, 0);
}

const enableMsix = (f: PciFunction, maskAll = false) => f.configWrite(0xa2, 2, 0x8000 | (maskAll ? 0x4000 : 0));
const pba = (f: PciFunction) => f.msixBarRead(0x2000, 4);

describe('MSI-X', () => {
  it('starts with every vector masked and the PBA empty', () => {
    const { f } = setup();
    for (let v = 0; v < 5; v++) expect(f.msixBarRead(v * 16 + 12, 4)).toBe(1);
    expect(pba(f)).toBe(0);
    expect(f.msixBarRead(0x50, 4)).toBe(0); // past the table
  });

  it('sends a vector with the address and data from its table entry', () => {
    const { f, log } = setup();
    enableMsix(f);
    program(f, 1, 0xfee00000, 0x4041);
    expect(f.interruptMode()).toBe('msix');
    expect(f.raiseMsix(1)).toBe(true);
    expect(log).toEqual([['msix', 1, 0xfee00000, 0x4041]]);
  });

  it('holds a masked vector in the PBA and sends it when the vector is unmasked', () => {
    const t = new RecordingTrace('pci_msix_*');
    const { f, log } = setup(E82574L, undefined, t);
    enableMsix(f);
    program(f, 2, 0xfee01000, 0x22, false);
    expect(f.raiseMsix(2)).toBe(true);
    expect(log).toEqual([]);
    expect(pba(f)).toBe(0b100);
    f.msixBarWrite(2 * 16 + 12, 4, 0);
    expect(log).toEqual([['msix', 2, 0xfee01000, 0x22]]);
    expect(pba(f)).toBe(0);
    expect(t.find('pci_msix_pending')).toHaveLength(1);
    expect(t.find('pci_msix_deliver')).toHaveLength(1);
  });

  it('holds vectors while the function is masked and sends them in ascending order on unmask', () => {
    const { f, log } = setup();
    for (let v = 0; v < 3; v++) program(f, v, 0xfee00000 + v * 0x1000, 0x30 + v);
    enableMsix(f, true);
    f.raiseMsix(2);
    f.raiseMsix(0);
    f.raiseMsix(2);
    expect(pba(f)).toBe(0b101);
    enableMsix(f, false);
    expect(log).toEqual([
      ['msix', 0, 0xfee00000, 0x30],
      ['msix', 2, 0xfee02000, 0x32],
    ]);
    expect(pba(f)).toBe(0);
  });

  it('keeps a vector pending while its own mask stays set even after the function is unmasked', () => {
    const { f, log } = setup();
    program(f, 0, 0xfee00000, 1, false);
    enableMsix(f, true);
    f.raiseMsix(0);
    enableMsix(f, false);
    expect(log).toEqual([]);
    expect(pba(f)).toBe(1);
  });

  it('returns false and sends nothing when MSI-X is disabled or the vector is out of range', () => {
    const { f, log } = setup();
    program(f, 0, 0xfee00000, 1);
    expect(f.raiseMsix(0)).toBe(false);
    enableMsix(f);
    expect(f.raiseMsix(5)).toBe(false);
    expect(f.raiseMsix(-1)).toBe(false);
    expect(log).toEqual([]);
    expect(pba(f)).toBe(0);
  });

  it('drops the message while bus mastering is off', () => {
    const { f, log } = setup();
    program(f, 0, 0xfee00000, 1);
    enableMsix(f);
    f.configWrite(0x04, 2, 0x0002);
    expect(f.raiseMsix(0)).toBe(false);
    expect(log).toEqual([]);
  });

  it('keeps the PBA read-only and the vector control reserved bits zero', () => {
    const { f } = setup();
    f.msixBarWrite(0x2000, 4, 0xffffffff);
    expect(pba(f)).toBe(0);
    f.msixBarWrite(12, 4, 0xffffffff);
    expect(f.msixBarRead(12, 4)).toBe(1);
    f.msixBarWrite(0, 4, 0xfee0000f);
    expect(f.msixBarRead(0, 4)).toBe(0xfee0000c);
    f.msixBarWrite(9, 1, 0xab);
    expect(f.msixBarRead(8, 2)).toBe(0xab00);
  });

  it('in host-table mode ignores table masks and signals with address and data 0 while enabled', () => {
    const { f, log } = setup(E82574L, { msixTableInHost: true });
    expect(f.raiseMsix(0)).toBe(false);
    enableMsix(f, true);
    expect(f.raiseMsix(4)).toBe(true);
    expect(log).toEqual([['msix', 4, 0, 0]]);
    expect(pba(f)).toBe(0);
  });

  it('masks every vector and clears the PBA on reset', () => {
    const { f } = setup();
    for (let v = 0; v < 5; v++) program(f, v, 0xfee00000, v);
    enableMsix(f, true);
    f.raiseMsix(1);
    f.reset();
    for (let v = 0; v < 5; v++) {
      expect(f.msixBarRead(v * 16 + 12, 4)).toBe(1);
      expect(f.msixBarRead(v * 16, 4)).toBe(0);
    }
    expect(pba(f)).toBe(0);
    expect(f.configRead(0xa2, 2)).toBe(4);
  });
});

describe('MSI', () => {
  it('sends the programmed 64-bit address and data', () => {
    const { f, log } = setup();
    expect(f.raiseMsi()).toBe(false);
    f.configWrite(0xd4, 4, 0xfee0100c);
    f.configWrite(0xd8, 4, 0x1);
    f.configWrite(0xdc, 2, 0x4023);
    f.configWrite(0xd2, 2, 0x0001);
    expect(f.interruptMode()).toBe('msi');
    expect(f.raiseMsi()).toBe(true);
    expect(log).toEqual([['msi', 0, 0x1_fee0_100c, 0x4023]]);
  });

  it('puts the vector in the low data bits of a multi-message block', () => {
    const { f, log } = setup({ ...E82574L, msi: { offset: 0xd0, vectors: 4, is64: false, perVectorMask: false } });
    f.configWrite(0xd4, 4, 0xfee00000);
    f.configWrite(0xd8, 2, 0x40);
    f.configWrite(0xd2, 2, 0x0021); // 4 messages allocated, enabled
    f.raiseMsi(3);
    expect(log).toEqual([['msi', 3, 0xfee00000, 0x43]]);
  });

  it('holds a per-vector-masked message pending until it is unmasked', () => {
    const { f, log } = setup({ ...E82574L, msi: { offset: 0x50, vectors: 2, is64: true, perVectorMask: true } });
    f.configWrite(0x54, 4, 0xfee00000);
    f.configWrite(0x5c, 2, 0x50);
    f.configWrite(0x60, 4, 0xffffffff); // only the two implemented mask bits stick
    expect(f.configRead(0x60, 4)).toBe(0b11);
    f.configWrite(0x52, 2, 0x0011); // 2 messages, enabled
    expect(f.raiseMsi(1)).toBe(true);
    expect(log).toEqual([]);
    expect(f.configRead(0x64, 4)).toBe(0b10);
    f.configWrite(0x64, 4, 0); // pending is read-only
    expect(f.configRead(0x64, 4)).toBe(0b10);
    f.configWrite(0x60, 4, 0b01);
    expect(log).toEqual([['msi', 1, 0xfee00000, 0x51]]);
    expect(f.configRead(0x64, 4)).toBe(0);
  });

  it('reports MSI-X over MSI over INTx as the interrupt mode', () => {
    const { f } = setup();
    expect(f.interruptMode()).toBe('intx');
    f.configWrite(0xd2, 2, 1);
    expect(f.interruptMode()).toBe('msi');
    enableMsix(f);
    expect(f.interruptMode()).toBe('msix');
  });
});

describe('INTx', () => {
  it('asserts and deasserts the line and mirrors it in STATUS.INTERRUPT', () => {
    const { f, log } = setup();
    f.setIntxLevel(true);
    f.setIntxLevel(true);
    expect(f.configRead(0x06, 2) & 0x08).toBe(0x08);
    f.setIntxLevel(false);
    expect(f.configRead(0x06, 2) & 0x08).toBe(0);
    expect(log).toEqual([
      ['intx', true],
      ['intx', false],
    ]);
  });

  it('keeps the line low while INTX_DISABLE is set but still reports STATUS.INTERRUPT', () => {
    const { f, log } = setup();
    f.configWrite(0x04, 2, 0x0406);
    f.setIntxLevel(true);
    expect(log).toEqual([]);
    expect(f.configRead(0x06, 2) & 0x08).toBe(0x08);
    f.configWrite(0x04, 2, 0x0006);
    expect(log).toEqual([['intx', true]]);
    f.configWrite(0x04, 2, 0x0406);
    expect(log).toEqual([
      ['intx', true],
      ['intx', false],
    ]);
  });

  it('drops the line when MSI-X is enabled and on reset', () => {
    const { f, log } = setup();
    f.setIntxLevel(true);
    enableMsix(f);
    f.configWrite(0xa2, 2, 0);
    f.reset();
    expect(log).toEqual([
      ['intx', true],
      ['intx', false],
      ['intx', true],
      ['intx', false],
    ]);
  });
});
