import { describe, it, expect } from 'vitest';
import { makePair, captureRx, MAC_A, MAC_B } from '../support/pair.js';
import { xmitFrame, dev_set_promiscuity, dev_mc_add, dev_mc_del, dev_set_allmulti } from '../../kernel-glue/netdev.js';
import { adapterOf } from '../../driver/netdev.js';
import * as D from '../../device/e1000e/defs.js';

const OTHER = new Uint8Array([0x52, 0x54, 0x00, 0x99, 0x99, 0x99]);
const MCAST = new Uint8Array([0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]);
const MCAST2 = new Uint8Array([0x33, 0x33, 0x00, 0x00, 0x00, 0xfb]);
const BCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

function frame(dst: Uint8Array, tag: number): Uint8Array {
  const f = new Uint8Array(64);
  f.set(dst, 0);
  f.set(MAC_A, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  f[14] = tag;
  return f;
}

describe('receive filters, driven through the driver', () => {
  it('drop unicast for another MAC unless promiscuous, take multicast only with its MTA bit, and follow BAM for broadcast', () => {
    const r = makePair();
    const rx = captureRx(r.b);
    const send = (dst: Uint8Array, tag: number): boolean => {
      const before = rx.frames.length;
      xmitFrame(r.na.netdev, frame(dst, tag));
      r.tb.advance(1e6);
      return rx.frames.length > before;
    };
    const nb = r.nb.netdev;
    expect(send(MAC_B, 1)).toBe(true);
    expect(send(OTHER, 2)).toBe(false);
    dev_set_promiscuity(nb, 1);
    expect(r.nb.device.peek('RCTL') & D.RCTL_UPE).toBeTruthy();
    expect(send(OTHER, 3)).toBe(true);
    dev_set_promiscuity(nb, -1);
    expect(send(OTHER, 4)).toBe(false);

    expect(send(MCAST, 5)).toBe(false);
    dev_mc_add(nb, MCAST);
    expect(send(MCAST, 6)).toBe(true);
    // A group whose hash bit is different stays filtered.
    expect(send(MCAST2, 7)).toBe(false);
    dev_mc_del(nb, MCAST);
    expect(send(MCAST, 8)).toBe(false);
    dev_set_allmulti(nb, 1);
    expect(send(MCAST2, 9)).toBe(true);
    dev_set_allmulti(nb, -1);

    expect(send(BCAST, 10)).toBe(true);
    const ad = adapterOf(nb);
    ad.ew32(D.REG.RCTL, ad.er32(D.REG.RCTL) & ~D.RCTL_BAM);
    expect(send(BCAST, 11)).toBe(false);
    ad.ew32(D.REG.RCTL, ad.er32(D.REG.RCTL) | D.RCTL_BAM);
    expect(send(BCAST, 12)).toBe(true);
    expect(rx.frames.map((f) => f[14])).toEqual([1, 3, 6, 9, 10, 12]);
    expect(r.nb.device.rx.diag.filtered).toBe(6);
  });
});
