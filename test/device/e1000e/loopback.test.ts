// PHY loopback (the BM PHY sequence Linux's e1000e self-test uses for the 82574) and MAC loopback (RCTL.LBM=01).

import { describe, it, expect } from 'vitest';
import * as D from '../../../device/e1000e/defs.js';
import { makeRig, linkUp, mdicRead, mdicWrite, type Rig } from '../../support/device-helpers.js';

const TX_RING = 0x20000;
const RX_RING = 0x30000;
const TX_BUF = 0x40000;
const RX_BUF = 0x80000;

/** PHY_REG(page, reg) access the way e1000e's bm2 helpers do it: page to register 22 first. */
function phyWrite(r: Rig, page: number, reg: number, v: number): void {
  mdicWrite(r, D.PHY.PAGE, page);
  mdicWrite(r, reg, v);
}
function phyRead(r: Rig, page: number, reg: number): number {
  mdicWrite(r, D.PHY.PAGE, page);
  return mdicRead(r, reg);
}

/** e1000_setup_desc_rings: 256 legacy TX descriptors of 1024-byte frames, 256 RX buffers of 2048. */
function setupDescRings(r: Rig): void {
  r.wr(D.REG.TDBAL0, TX_RING);
  r.wr(D.REG.TDBAH0, 0);
  r.wr(D.REG.TDLEN0, 256 * 16);
  r.wr(D.REG.TDH0, 0);
  r.wr(D.REG.TDT0, 0);
  r.wr(D.REG.TCTL, 0x1003f0fa);
  for (let i = 0; i < 256; i++) {
    const f = new Uint8Array(1024).fill(0xff);
    f.fill(0xaa, 512, 1023);
    f[522] = 0xbe;
    f[524] = 0xaf;
    r.host.put(TX_BUF + i * 1024, f);
    r.host.w32(TX_RING + i * 16, TX_BUF + i * 1024);
    r.host.w32(TX_RING + i * 16 + 4, 0);
    r.host.w32(TX_RING + i * 16 + 8, 0x0b000400);
    r.host.w32(TX_RING + i * 16 + 12, 0);
  }
  r.wr(D.REG.RDBAL0, RX_RING);
  r.wr(D.REG.RDBAH0, 0);
  r.wr(D.REG.RDLEN0, 256 * 16);
  r.wr(D.REG.RDH0, 0);
  r.wr(D.REG.RDT0, 0);
  r.wr(D.REG.RCTL, 0x0400803e);
  for (let i = 0; i < 256; i++) {
    r.host.w32(RX_RING + i * 16, RX_BUF + i * 2048);
    for (let w = 1; w < 4; w++) r.host.w32(RX_RING + i * 16 + w * 4, 0);
  }
}

/** e1000_check_lbtest_frame on each of `n` RX buffers from `from`. */
function goodFrames(r: Rig, from: number, n: number): number {
  let good = 0;
  for (let i = from; i < from + n; i++) {
    const b = RX_BUF + (i % 256) * 2048 - r.host.base;
    if (r.host.ram[b + 3] === 0xff && r.host.ram[b + 522] === 0xbe && r.host.ram[b + 524] === 0xaf) good++;
  }
  return good;
}

describe('82574L loopback', () => {
  it("PHY loopback as Linux's self-test sets it up: 64 frames of 1024 bytes come back, none reach the wire", () => {
    const r = makeRig({ timing: { autonegNs: 1_000_000 } });
    linkUp(r);
    setupDescRings(r);
    // e1000_integrated_phy_loopback, e1000_phy_bm branch
    phyWrite(r, 2, 21, (phyRead(r, 2, 21) & ~7) | 6);
    mdicWrite(r, D.PHY.BMCR, mdicRead(r, D.PHY.BMCR) | D.BMCR_RESET); // commit: PHY soft reset
    phyWrite(r, 769, 16, phyRead(r, 769, 16) | 0x000c);
    phyWrite(r, 776, 16, phyRead(r, 776, 16) | 0x0040);
    phyWrite(r, 769, 16, phyRead(r, 769, 16) | 0x0040);
    phyWrite(r, 769, 20, phyRead(r, 769, 20) | 0x0400);
    expect(phyRead(r, 769, 16)).toBe(0x004c);
    expect(phyRead(r, 776, 16)).toBe(0x0040);
    mdicWrite(r, D.PHY.BMCR, 0x4140);
    let ctrl = r.rd(D.REG.CTRL) & ~D.CTRL_SPD_SEL;
    ctrl |= D.CTRL_FRCSPD | D.CTRL_FRCDPX | D.CTRL_SPD_1000 | D.CTRL_FD;
    if (!(r.rd(D.REG.STATUS) & D.STATUS_FD)) ctrl |= D.CTRL_ILOS | D.CTRL_SLU;
    r.wr(D.REG.CTRL, ctrl);
    r.host.queue.advance(250e6);
    expect(r.rd(D.REG.STATUS) & D.STATUS_LU).toBeTruthy();
    // Frames from the cable are not heard while looping.
    r.dev.receiveFrame(new Uint8Array(1024).fill(0x11));
    // e1000_run_loopback_test: RDT = 255, then rounds of 64 frames.
    r.wr(D.REG.RDT0, 255);
    let k = 0;
    let l = 0;
    for (let round = 0; round < 10; round++) {
      k = (k + 64) % 256;
      r.wr(D.REG.TDT0, k);
      r.host.queue.advance(200e6);
      expect(goodFrames(r, l, 64), `round ${round}`).toBe(64);
      l += 64;
      r.wr(D.REG.RDT0, (l + 255) % 256);
    }
    expect(r.host.sent).toEqual([]);
    expect(r.dev.rx.diag.loopbackIgnored).toBe(1);
    expect(r.rd(D.REG.GPRC)).toBe(640);
    // e1000_loopback_cleanup: loopback off and a PHY reset; link comes back by autonegotiation.
    r.wr(D.REG.RCTL, r.rd(D.REG.RCTL) & ~D.RCTL_LBM_MASK);
    const bmcr = mdicRead(r, D.PHY.BMCR);
    mdicWrite(r, D.PHY.BMCR, bmcr & ~D.BMCR_LOOPBACK);
    mdicWrite(r, D.PHY.BMCR, (bmcr & ~D.BMCR_LOOPBACK) | D.BMCR_RESET);
    expect(r.rd(D.REG.STATUS) & D.STATUS_LU).toBe(0);
    r.host.queue.advance(5e6);
    expect(r.rd(D.REG.STATUS) & D.STATUS_LU).toBeTruthy();
    // The wire works again.
    r.wr(D.REG.TDT0, (k + 1) % 256);
    r.host.queue.advance(1e6);
    expect(r.host.sent.length).toBe(1);
  });

  it('MAC loopback (RCTL.LBM=01) returns frames without PHY link and keeps them off the wire', () => {
    const r = makeRig({ timing: { autonegNs: 1_000_000 } });
    // No carrier at all: the PHY has no link.
    r.wr(D.REG.CTRL, r.rd(D.REG.CTRL) | D.CTRL_SLU);
    setupDescRings(r);
    expect(r.rd(D.REG.STATUS) & D.STATUS_LU).toBe(0);
    r.wr(D.REG.RCTL, 0x0400803e | D.RCTL_LBM_MAC);
    expect(r.rd(D.REG.STATUS) & D.STATUS_LU).toBeTruthy();
    r.wr(D.REG.RDT0, 255);
    r.wr(D.REG.TDT0, 8);
    r.host.queue.advance(10e6);
    expect(goodFrames(r, 0, 8)).toBe(8);
    expect(r.host.sent).toEqual([]);
    // The frames carried the station's transmit path unchanged: 1024 bytes each, SECRC strips nothing extra.
    expect(r.host.r16(RX_RING + 8)).toBe(1024);
  });
});
