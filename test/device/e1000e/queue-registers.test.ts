// Per-queue register helpers (RDBAL(n) .. TARC(n), Linux regs.h style) against the datasheet's offsets, and the register table built from them.
import { describe, it, expect } from 'vitest';
import { NUM_QUEUES, RDBAL, RDBAH, RDLEN, RDH, RDT, RXDCTL, TDBAL, TDBAH, TDLEN, TDH, TDT, TXDCTL, TARC } from '../../../device/e1000e/defs.js';
import { REGISTERS } from '../../../device/e1000e/registers.js';

describe('per-queue registers', () => {
  it('sit where the 82574L datasheet puts them (section 10.2.1: queue 1 at +0x100)', () => {
    expect(NUM_QUEUES).toBe(2);
    expect([RDBAL(0), RDBAH(0), RDLEN(0), RDH(0), RDT(0), RXDCTL(0)]).toEqual([0x2800, 0x2804, 0x2808, 0x2810, 0x2818, 0x2828]);
    expect([RDBAL(1), RDBAH(1), RDLEN(1), RDH(1), RDT(1), RXDCTL(1)]).toEqual([0x2900, 0x2904, 0x2908, 0x2910, 0x2918, 0x2928]);
    expect([TDBAL(0), TDBAH(0), TDLEN(0), TDH(0), TDT(0), TXDCTL(0), TARC(0)]).toEqual([0x3800, 0x3804, 0x3808, 0x3810, 0x3818, 0x3828, 0x3840]);
    expect([TDBAL(1), TDBAH(1), TDLEN(1), TDH(1), TDT(1), TXDCTL(1), TARC(1)]).toEqual([0x3900, 0x3904, 0x3908, 0x3910, 0x3918, 0x3928, 0x3940]);
  });

  it('each queue has its full set of rows with the same access, reset value and writable bits', () => {
    const row = (name: string) => REGISTERS.find((r) => r.name === name);
    for (const base of ['RDBAL', 'RDBAH', 'RDLEN', 'RDH', 'RDT', 'RXDCTL', 'TDBAL', 'TDBAH', 'TDLEN', 'TDH', 'TDT', 'TXDCTL', 'TARC']) {
      const q0 = row(`${base}0`);
      const q1 = row(`${base}1`);
      expect(q0, base).toBeDefined();
      expect(q1, base).toBeDefined();
      expect({ ...q1, name: '', offset: 0 }).toEqual({ ...q0, name: '', offset: 0 });
      expect(q1!.offset - q0!.offset).toBe(0x100);
    }
    expect(row('RDLEN0')!.mask).toBe(0x000fff80);
    expect(row('TXDCTL1')!.reset).toBe(0x00010000);
    expect(row('TARC1')!.reset).toBe(0x00000403);
  });
});
