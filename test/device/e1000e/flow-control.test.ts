// 802.3x flow control at the device: PAUSE reception stops the transmitter, the receive buffer's watermarks send XOFF/XON.

import { describe, it, expect } from 'vitest';
import * as D from '../../../device/e1000e/defs.js';
import { makeRig, linkUp, setupRings, putLegacyTx, ethFrame, MAC_A, RX_RING, RX_BUF, type Rig } from '../../support/device-helpers.js';
import type { PartnerPause } from '../../../device/e1000e/phy.js';

const PEER = new Uint8Array([0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc]);
const QUANTUM_NS = 512; // at 1 Gbit/s

function pause(quanta: number, opts: { opcode?: number; dst?: number[] } = {}): Uint8Array {
  const f = new Uint8Array(60);
  f.set(opts.dst ?? [0x01, 0x80, 0xc2, 0x00, 0x00, 0x01], 0);
  f.set(PEER, 6);
  f.set([0x88, 0x08, 0x00, opts.opcode ?? 1, quanta >> 8, quanta & 0xff], 12);
  return f;
}

/** Rings up, flow control programmed as Linux's setup_link and force_mac_fc leave it (full). */
function fcRig(timing = {}, partnerPause: PartnerPause = 'symmetric'): Rig {
  const r = makeRig({ timing: { autonegNs: 1000, ...timing }, partnerPause });
  linkUp(r);
  setupRings(r, 16);
  r.wr(D.REG.FCT, 0x8808);
  r.wr(D.REG.FCAH, 0x0100);
  r.wr(D.REG.FCAL, 0x00c28001);
  r.wr(D.REG.FCTTV, 0x0680);
  r.wr(D.REG.FCRTH, 0x7330);
  r.wr(D.REG.FCRTL, 0x80007328);
  r.wr(D.REG.CTRL, r.rd(D.REG.CTRL) | D.CTRL_RFCE | D.CTRL_TFCE);
  return r;
}

describe('82574L 802.3x flow control', () => {
  it('a received XOFF holds the transmitter for its pause time (STATUS.TXOFF), then it sends again', () => {
    const r = fcRig({ paceLink: true });
    const sentAt: number[] = [];
    const orig = r.host.sendFrame.bind(r.host);
    r.host.sendFrame = (f) => {
      sentAt.push(r.host.now());
      orig(f);
    };
    r.dev.receiveFrame(pause(100));
    const t0 = r.host.now();
    expect(r.rd(D.REG.STATUS) & D.STATUS_TXOFF).toBeTruthy();
    putLegacyTx(r, 0, ethFrame(PEER, MAC_A, 100));
    r.wr(D.REG.TDT0, 1);
    r.host.queue.run();
    expect(sentAt.length).toBe(1);
    expect(sentAt[0]! - t0).toBeGreaterThanOrEqual(100 * QUANTUM_NS);
    expect(sentAt[0]! - t0).toBeLessThan(100 * QUANTUM_NS + 2000);
    expect(r.rd(D.REG.STATUS) & D.STATUS_TXOFF).toBe(0);
    expect(r.rd(D.REG.XOFFRXC)).toBe(1);
    expect(r.dev.fc.diag.pausedNs).toBe(100 * QUANTUM_NS);
    // The PAUSE frame itself never reaches the host.
    expect(r.rd(D.REG.GPRC)).toBe(0);
  });

  it('XON releases a pause early; without pacing frames wait in the FIFO and go together', () => {
    const r = fcRig();
    r.dev.receiveFrame(pause(0xffff));
    for (let i = 0; i < 3; i++) putLegacyTx(r, i, ethFrame(PEER, MAC_A, 100 + i));
    r.wr(D.REG.TDT0, 3);
    r.host.queue.advance(100_000);
    expect(r.host.sent.length).toBe(0);
    r.dev.receiveFrame(pause(0));
    r.host.queue.advance(1000);
    expect(r.host.sent.map((f) => f.length)).toEqual([100, 101, 102]);
    expect([r.rd(D.REG.XOFFRXC), r.rd(D.REG.XONRXC)]).toEqual([1, 1]);
  });

  it('ignores PAUSE without CTRL.RFCE and counts other MAC Control opcodes in FCRUC', () => {
    const r = fcRig();
    r.wr(D.REG.CTRL, r.rd(D.REG.CTRL) & ~D.CTRL_RFCE);
    r.dev.receiveFrame(pause(0xffff));
    expect(r.rd(D.REG.STATUS) & D.STATUS_TXOFF).toBe(0);
    r.dev.receiveFrame(pause(5, { opcode: 2 }));
    r.dev.receiveFrame(pause(5, { dst: [0x01, 0x80, 0xc2, 0, 0, 0x02] }));
    expect(r.rd(D.REG.FCRUC)).toBe(2);
    putLegacyTx(r, 0, ethFrame(PEER, MAC_A, 100));
    r.wr(D.REG.TDT0, 1);
    r.host.queue.advance(10_000);
    expect(r.host.sent.length).toBe(1);
  });

  it('sends XOFF when the receive buffer passes FCRTH, refreshes it, and XON once it drains below FCRTL', () => {
    const r = fcRig();
    // No free descriptors: frames wait in the 32 KB packet buffer.
    r.wr(D.REG.PBA, 32);
    r.wr(D.REG.RDT0, 0);
    for (let i = 0; i < 19; i++) r.dev.receiveFrame(ethFrame(MAC_A, PEER, 1514));
    expect(r.host.sent.length).toBe(0); // 19 x 1514 = 28,766 < 29,488
    r.dev.receiveFrame(ethFrame(MAC_A, PEER, 1514));
    expect(r.host.sent.length).toBe(1);
    const x = r.host.sent[0]!;
    expect(Array.from(x.subarray(0, 6))).toEqual([0x01, 0x80, 0xc2, 0, 0, 1]);
    expect(Array.from(x.subarray(6, 12))).toEqual(Array.from(MAC_A));
    expect(Array.from(x.subarray(12, 18))).toEqual([0x88, 0x08, 0, 1, 0x06, 0x80]);
    expect(x.length).toBe(60);
    // Still full after half the pause time: XOFF again.
    r.host.queue.advance(Math.ceil((0x680 * QUANTUM_NS) / 2) + 10);
    expect(r.host.sent.length).toBe(2);
    // Descriptors arrive: the buffer drains, XON (pause time 0).
    r.wr(D.REG.RDT0, 15);
    r.host.queue.advance(1000);
    const last = r.host.sent[r.host.sent.length - 1]!;
    expect(Array.from(last.subarray(14, 18))).toEqual([0, 1, 0, 0]);
    expect([r.rd(D.REG.XOFFTXC), r.rd(D.REG.XONTXC)]).toEqual([2, 1]);
    expect(r.rd(D.REG.MPC)).toBe(0);
  });

  it('sends no PAUSE without CTRL.TFCE, and no XON without FCRTL.XONE', () => {
    const r = fcRig();
    r.wr(D.REG.PBA, 32);
    r.wr(D.REG.RDT0, 0);
    r.wr(D.REG.CTRL, r.rd(D.REG.CTRL) & ~D.CTRL_TFCE);
    for (let i = 0; i < 21; i++) r.dev.receiveFrame(ethFrame(MAC_A, PEER, 1514));
    expect(r.host.sent.length).toBe(0);
    r.wr(D.REG.RDT0, 15);
    r.host.queue.advance(1000);
    r.wr(D.REG.CTRL, r.rd(D.REG.CTRL) | D.CTRL_TFCE);
    r.wr(D.REG.FCRTL, 0x7328);
    r.wr(D.REG.RDT0, 0);
    r.wr(D.REG.RDH0, 0);
    for (let i = 0; i < 21; i++) r.dev.receiveFrame(ethFrame(MAC_A, PEER, 1514));
    expect(r.host.sent.length).toBe(1);
    r.wr(D.REG.RDT0, 15);
    r.host.queue.advance(1000);
    expect(r.host.sent.length).toBe(1);
  });
});

/** Gives the device every descriptor again, in read format (the test's "driver" has taken the frames). */
function recycle(r: Rig): void {
  for (let i = 0; i < 16; i++) {
    r.host.w32(RX_RING + i * 16, RX_BUF + i * 2048);
    for (let w = 1; w < 4; w++) r.host.w32(RX_RING + i * 16 + w * 4, 0);
  }
  r.wr(D.REG.RDT0, (r.rd(D.REG.RDH0) + 15) % 16);
}

describe('a link partner that honours our XOFF (paced link, a backend bursting faster than the line)', () => {
  for (const partner of ['symmetric', 'none'] as const) {
    it(partner === 'symmetric'
      ? 'holds its queued frames while paused and sends them after XON: nothing is missed'
      : 'without symmetric pause it keeps sending: the packet buffer overflows (MPC)', () => {
      const r = fcRig({ paceLink: true }, partner);
      r.wr(D.REG.PBA, 32);
      r.wr(D.REG.RDT0, 0); // no descriptors yet: frames back up into the packet buffer
      // A backend hands over 60 full frames at once; the partner queues them and sends at line rate.
      for (let i = 0; i < 60; i++) r.dev.receiveFrame(ethFrame(MAC_A, PEER, 1514));
      r.host.queue.advance(2_000_000);
      expect(r.dev.fc.diag.xoffSent).toBeGreaterThan(0);
      if (partner === 'none') {
        expect(r.rd(D.REG.MPC)).toBeGreaterThan(0);
        return;
      }
      expect(r.rd(D.REG.MPC)).toBe(0);
      // 20 frames fill the buffer past FCRTH; the rest wait at the partner.
      expect(r.dev.stats.totals.rxNoBuffers).toBeLessThanOrEqual(21);
      for (let k = 0; k < 40 && r.dev.stats.totals.rxPackets < 60; k++) {
        recycle(r);
        r.host.queue.advance(300_000);
      }
      expect(r.dev.stats.totals.rxPackets).toBe(60);
      expect(r.rd(D.REG.MPC)).toBe(0);
      expect(r.dev.rx.diag.ingressDrops).toBe(0);
      expect(r.dev.fc.diag.xonSent).toBeGreaterThan(0);
    });
  }
});
