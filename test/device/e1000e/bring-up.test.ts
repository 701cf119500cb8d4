import { describe, it, expect } from 'vitest';
import * as D from '../../../device/e1000e/defs.js';
import { makeRig, mdicRead, mdicWrite, eerd, linkUp, MAC_A } from '../../support/device-helpers.js';

describe('82574L bring-up as the e1000e probe sees it', () => {
  it('presents 8086:10D3 with the capability chain PM -> MSI -> PCIe -> MSI-X', () => {
    const { dev } = makeRig();
    expect(dev.configRead(0, 2)).toBe(0x8086);
    expect(dev.configRead(2, 2)).toBe(0x10d3);
    const chain: number[] = [];
    for (let p = dev.configRead(0x34, 1); p; p = dev.configRead(p + 1, 1)) chain.push(p);
    expect(chain).toEqual([0xc8, 0xd0, 0xe0, 0xa0]);
    expect(dev.configRead(0xa2, 2) & 0x7ff).toBe(4);
  });

  it('has an NVM whose 64 words sum to 0xBABA and holds the MAC in words 0-2', () => {
    const r = makeRig();
    let sum = 0;
    for (let i = 0; i < 64; i++) sum = (sum + eerd(r, i)) & 0xffff;
    expect(sum).toBe(0xbaba);
    expect(eerd(r, 0)).toBe(MAC_A[0]! | (MAC_A[1]! << 8));
    expect(eerd(r, 0x0f) & 0x6000).toBe(0);
    const eecd = r.rd(D.REG.EECD);
    expect(eecd & D.EECD_AUTO_RD).toBeTruthy();
    expect((eecd >>> 15) & 3).not.toBe(3);
  });

  it('loads the MAC into RAL0/RAH0 with AV at power-up and again after CTRL.RST', () => {
    const r = makeRig();
    const check = () => {
      expect(r.rd(D.RAL(0))).toBe((MAC_A[0]! | (MAC_A[1]! << 8) | (MAC_A[2]! << 16) | (MAC_A[3]! << 24)) >>> 0);
      expect(r.rd(D.RAH(0))).toBe((0x80000000 | MAC_A[4]! | (MAC_A[5]! << 8)) >>> 0);
    };
    check();
    r.wr(D.RAL(0), 0);
    r.wr(D.RAH(0), 0);
    r.wr(D.REG.CTRL, r.rd(D.REG.CTRL) | D.CTRL_RST);
    check();
    expect(r.rd(D.REG.CTRL) & D.CTRL_RST).toBe(0);
  });

  it('answers the PHY ID over MDIC, honours page select, and keeps register fields in MDIC', () => {
    const r = makeRig();
    expect(mdicRead(r, D.PHY.ID1)).toBe(0x0141);
    expect(mdicRead(r, D.PHY.ID2)).toBe(0x0cb1);
    const v = r.rd(D.REG.MDIC);
    expect((v & D.MDIC_REG_MASK) >>> D.MDIC_REG_SHIFT).toBe(D.PHY.ID2);
    mdicWrite(r, D.PHY.PAGE, 0);
    mdicWrite(r, 25, 0x1234);
    mdicWrite(r, D.PHY.PAGE, 769);
    mdicWrite(r, 25, 0x5678);
    expect(mdicRead(r, 25)).toBe(0x5678);
    mdicWrite(r, D.PHY.PAGE, 0);
    expect(mdicRead(r, 25)).toBe(0x1234);
    // Wrong PHY address: ERROR, as on hardware.
    r.wr(D.REG.MDIC, (2 << D.MDIC_REG_SHIFT) | (2 << D.MDIC_PHY_SHIFT) | D.MDIC_OP_READ);
    expect(r.rd(D.REG.MDIC) & D.MDIC_ERROR).toBeTruthy();
  });

  it('latches the EXTCNF_CTRL software flag', () => {
    const r = makeRig();
    r.wr(D.REG.EXTCNF_CTRL, D.EXTCNF_CTRL_SWFLAG);
    expect(r.rd(D.REG.EXTCNF_CTRL) & D.EXTCNF_CTRL_SWFLAG).toBeTruthy();
    r.wr(D.REG.EXTCNF_CTRL, 0);
    expect(r.rd(D.REG.EXTCNF_CTRL)).toBe(0);
  });

  it('autonegotiates after a restart: BMSR link, STATUS 1000/FD, and LSC through the Other vector', () => {
    const r = makeRig({ timing: { autonegNs: 500_000_000 } });
    r.wr(D.REG.IVAR, 0x800a0908);
    r.wr(D.REG.IMS, D.ICR_OTHER | D.ICR_LSC);
    r.dev.setCarrier(true);
    mdicWrite(r, D.PHY.BMCR, D.BMCR_ANENABLE | D.BMCR_ANRESTART);
    expect(mdicRead(r, D.PHY.BMSR) & D.BMSR_LSTATUS).toBe(0);
    expect(r.rd(D.REG.STATUS) & D.STATUS_LU).toBe(0);
    r.host.queue.advance(499_000_000);
    expect(mdicRead(r, D.PHY.BMSR) & D.BMSR_LSTATUS).toBe(0);
    r.host.signals.length = 0;
    r.host.queue.advance(2_000_000);
    const bmsr = mdicRead(r, D.PHY.BMSR);
    expect(bmsr & (D.BMSR_LSTATUS | D.BMSR_ANEGCOMPLETE)).toBe(D.BMSR_LSTATUS | D.BMSR_ANEGCOMPLETE);
    const st = r.rd(D.REG.STATUS);
    expect(st & D.STATUS_LU).toBeTruthy();
    expect(st & D.STATUS_SPEED_MASK).toBe(D.STATUS_SPEED_1000);
    expect(st & D.STATUS_FD).toBeTruthy();
    expect(r.host.signals.filter((s) => s.kind === 'msix').map((s) => s.vector)).toEqual([2]);
    expect(r.rd(D.REG.ICR) & D.ICR_LSC).toBeTruthy();
  });

  it('drops the link on PHY power-down and renegotiates on power-up', () => {
    const r = makeRig({ timing: { autonegNs: 1000 } });
    linkUp(r);
    expect(r.rd(D.REG.STATUS) & D.STATUS_LU).toBeTruthy();
    mdicWrite(r, D.PHY.BMCR, mdicRead(r, D.PHY.BMCR) | D.BMCR_PDOWN);
    expect(r.rd(D.REG.STATUS) & D.STATUS_LU).toBe(0);
    mdicWrite(r, D.PHY.BMCR, mdicRead(r, D.PHY.BMCR) & ~D.BMCR_PDOWN);
    r.host.queue.advance(2000);
    expect(r.rd(D.REG.STATUS) & D.STATUS_LU).toBeTruthy();
  });

  it('clears statistics on read and keeps read-only and unknown registers inert but traced', () => {
    const r = makeRig();
    r.dev.stats.inc(D.REG.GPRC >>> 2, 5);
    expect(r.rd(D.REG.GPRC)).toBe(5);
    expect(r.rd(D.REG.GPRC)).toBe(0);
    r.wr(D.REG.GPRC, 77);
    expect(r.rd(D.REG.GPRC)).toBe(0);
    r.wr(0x1f000, 0x1234);
    expect(r.rd(0x1f000)).toBe(0);
    expect(r.host.recorder.find('e1000e_reg_unknown_*').length).toBe(2);
    expect(r.host.recorder.find('e1000e_reg_ro_write').length).toBe(1);
    // Out-of-BAR and odd-sized accesses never throw.
    expect(() => r.dev.barRead(0, 0x20000, 4)).not.toThrow();
    expect(() => r.dev.barWrite(0, -4, 4, 1)).not.toThrow();
    expect(() => r.dev.barRead(0, 3, 3)).not.toThrow();
  });
});
