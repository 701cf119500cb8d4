// Jumbo frames in-process: our driver at MTU 9000 takes Linux's packet-split path on both 82574Ls.

import { describe, it, expect } from 'vitest';
import { makePair, captureRx, rng, MAC_A, MAC_B } from '../support/pair.js';
import { xmitFrame, dev_get_stats, dev_set_mtu } from '../../kernel-glue/netdev.js';
import { accountingLeaks } from '../../kernel-glue/accounting.js';
import { adapterOf } from '../../driver/netdev.js';
import * as D from '../../device/e1000e/defs.js';
import { EINVAL } from '../../kernel-glue/errno.js';

function frames(n: number, seed: number, max: number): Uint8Array[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    // Every fourth frame at the MTU's limit; the rest anywhere from 60 bytes up.
    const len = i % 4 === 0 ? max : 60 + Math.floor(r() * (max - 60 + 1));
    const f = new Uint8Array(len);
    f.set(MAC_B, 0);
    f.set(MAC_A, 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    for (let j = 14; j < len; j++) f[j] = Math.floor(r() * 256);
    f[14] = i >>> 8;
    f[15] = i & 0xff;
    return f;
  });
}

describe('jumbo frames on a pair (MTU 9000)', () => {
  it('programs packet split as Linux does: LPE, DTYP=01, PSRCTL 128 B + three pages, 32-byte descriptors', () => {
    const r = makePair();
    expect(dev_set_mtu(r.na.netdev, 9000)).toBe(0);
    const rctl = r.na.device.peek('RCTL');
    expect(rctl & D.RCTL_LPE).toBeTruthy();
    expect(rctl & D.RCTL_DTYP_MASK).toBe(D.RCTL_DTYP_PS);
    expect(r.na.device.peek('PSRCTL')).toBe(0x04040401);
    expect(r.na.device.peek('RDLEN0')).toBe(256 * 32);
    expect(adapterOf(r.na.netdev).rxPsPages).toBe(3);
    // Beyond the 82574's 9234-byte frames: refused.
    expect(dev_set_mtu(r.na.netdev, 9213)).toBe(-EINVAL);
    // Back to 1500: extended descriptors again.
    expect(dev_set_mtu(r.na.netdev, 1500)).toBe(0);
    expect(r.na.device.peek('RCTL') & (D.RCTL_LPE | D.RCTL_DTYP_MASK)).toBe(0);
    expect(r.na.device.peek('RDLEN0')).toBe(256 * 16);
  });

  it('carry 3,000 seeded frames up to 9014 bytes both ways byte-identical and in order, then remove cleanly', () => {
    const r = makePair();
    for (const nd of [r.na.netdev, r.nb.netdev]) expect(dev_set_mtu(nd, 9000)).toBe(0);
    r.tb.runUntil(() => false, 3e9); // link comes back after the reset
    for (const n of [r.na, r.nb]) expect(n.device.peek('RCTL') & D.RCTL_DTYP_MASK).toBe(D.RCTL_DTYP_PS);
    const toB = frames(3000, 0x9000, 9014);
    const toA = frames(3000, 0x9001, 9014).map((f) => {
      const g = f.slice();
      g.set(MAC_A, 0);
      g.set(MAC_B, 6);
      return g;
    });
    const rxB = captureRx(r.b);
    const rxA = captureRx(r.a);
    let nb = 0;
    let na = 0;
    const pump = () => {
      while (nb < toB.length && r.na.netdev.qdisc.length < 200) expect(xmitFrame(r.na.netdev, toB[nb++]!)).toBe(0);
      while (na < toA.length && r.nb.netdev.qdisc.length < 200) expect(xmitFrame(r.nb.netdev, toA[na++]!)).toBe(0);
    };
    pump();
    expect(r.tb.runUntil(() => (pump(), rxB.frames.length === toB.length && rxA.frames.length === toA.length), 20e9)).toBe(true);
    for (let i = 0; i < toB.length; i++) {
      if (!Buffer.from(rxB.frames[i]!).equals(Buffer.from(toB[i]!))) throw new Error(`A->B frame ${i} differs`);
      if (!Buffer.from(rxA.frames[i]!).equals(Buffer.from(toA[i]!))) throw new Error(`B->A frame ${i} differs`);
    }
    r.tb.advance(3e9);
    const bytes = toB.reduce((n, f) => n + f.length, 0);
    expect(dev_get_stats(r.nb.netdev).rx_packets).toBe(3000);
    expect(dev_get_stats(r.nb.netdev).rx_bytes).toBe(bytes + 4 * 3000);
    expect(adapterOf(r.nb.netdev).sw.rxDiscards).toBe(0);
    expect(r.nb.device.rx.diag.overrunsBlocked).toBe(0);
    for (const m of [r.a, r.b]) {
      m.unloadDriver();
      expect(accountingLeaks(m.kernel.accounting())).toEqual([]);
    }
  });
});
