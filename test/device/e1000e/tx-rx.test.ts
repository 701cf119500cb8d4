import { describe, it, expect } from 'vitest';
import * as D from '../../../device/e1000e/defs.js';
import {
  makeRig, linkUp, setupRings, putLegacyTx, ethFrame, MAC_A, TX_RING, RX_RING, RX_BUF,
} from '../../support/device-helpers.js';

const PEER = new Uint8Array([0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc]);
const BCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

function ready(timing = {}) {
  const r = makeRig({ timing: { autonegNs: 1000, ...timing } });
  linkUp(r);
  setupRings(r, 16);
  return r;
}

describe('82574L transmit', () => {
  it('sends legacy descriptors, pads short frames to 60 bytes, writes DD and advances TDH', () => {
    const r = ready();
    putLegacyTx(r, 0, ethFrame(PEER, MAC_A, 42));
    putLegacyTx(r, 1, ethFrame(PEER, MAC_A, 1514));
    r.wr(D.REG.TDT0, 2);
    r.host.queue.run();
    expect(r.host.sent.map((f) => f.length)).toEqual([60, 1514]);
    expect(r.host.sent[0]!.subarray(0, 42)).toEqual(ethFrame(PEER, MAC_A, 42));
    expect(r.host.sent[0]!.subarray(42).every((b) => b === 0)).toBe(true);
    expect(r.host.r32(TX_RING + 12) & D.TXD_STAT_DD).toBe(1);
    expect(r.host.r32(TX_RING + 16 + 12) & D.TXD_STAT_DD).toBe(1);
    expect(r.rd(D.REG.TDH0)).toBe(2);
    expect(r.rd(D.REG.GPTC)).toBe(2);
    expect(r.rd(D.REG.GOTCL)).toBe(64 + 1518);
  });

  it('paces frames at the link rate: 64-byte frames 672 ns apart at 1 Gbit/s', () => {
    const r = ready({ paceLink: true });
    const times: number[] = [];
    const orig = r.host.sendFrame.bind(r.host);
    r.host.sendFrame = (f) => {
      times.push(r.host.now());
      orig(f);
    };
    for (let i = 0; i < 4; i++) putLegacyTx(r, i, ethFrame(PEER, MAC_A, 60));
    r.wr(D.REG.TDT0, 4);
    r.host.queue.run();
    expect(times.length).toBe(4);
    expect(times[1]! - times[0]!).toBe(672);
    expect(times[3]! - times[0]!).toBe(3 * 672);
  });

  it('raises TXQ0 on vector 1 after write-back under MSI-X', () => {
    const r = ready();
    r.wr(D.REG.IVAR, 0x800a0908);
    r.wr(D.REG.IMS, D.ICR_TXQ0);
    putLegacyTx(r, 0, ethFrame(PEER, MAC_A, 100));
    r.wr(D.REG.TDT0, 1);
    r.host.queue.run();
    expect(r.host.signals.filter((s) => s.kind === 'msix').map((s) => s.vector)).toEqual([1]);
  });

  it('inserts a VLAN tag from the descriptor only while CTRL.VME is set', () => {
    const r = ready();
    const f = ethFrame(PEER, MAC_A, 100);
    putLegacyTx(r, 0, f, D.TXD_CMD_EOP | D.TXD_CMD_RS | D.TXD_CMD_VLE);
    r.host.w32(TX_RING + 12, 0x0123 << 16);
    r.wr(D.REG.TDT0, 1);
    r.host.queue.run();
    expect(r.host.sent[0]!.length).toBe(100);
    r.wr(D.REG.CTRL, r.rd(D.REG.CTRL) | D.CTRL_VME);
    putLegacyTx(r, 1, f, D.TXD_CMD_EOP | D.TXD_CMD_RS | D.TXD_CMD_VLE);
    r.host.w32(TX_RING + 16 + 12, 0x0123 << 16);
    r.wr(D.REG.TDT0, 2);
    r.host.queue.run();
    const t = r.host.sent[1]!;
    expect(t.length).toBe(104);
    expect([t[12], t[13], t[14], t[15]]).toEqual([0x81, 0x00, 0x01, 0x23]);
    expect(t.subarray(16)).toEqual(f.subarray(12));
  });
});

describe('82574L receive', () => {
  it('stores a frame in an extended descriptor with DD|EOP, length without FCS, and raises RXQ0', () => {
    const r = ready();
    r.wr(D.REG.IVAR, 0x800a0908);
    r.wr(D.REG.IMS, D.ICR_RXQ0);
    const f = ethFrame(MAC_A, PEER, 300);
    r.dev.receiveFrame(f);
    expect(r.host.get(RX_BUF, 300)).toEqual(f);
    const st = r.host.r32(RX_RING + 8);
    expect(st & (D.RXD_STAT_DD | D.RXD_STAT_EOP)).toBe(D.RXD_STAT_DD | D.RXD_STAT_EOP);
    expect(r.host.r16(RX_RING + 12)).toBe(300);
    expect(r.rd(D.REG.RDH0)).toBe(1);
    expect(r.host.signals.filter((s) => s.kind === 'msix').map((s) => s.vector)).toEqual([0]);
    expect(r.rd(D.REG.GPRC)).toBe(1);
    expect(r.rd(D.REG.GORCL)).toBe(304);
  });

  it('keeps the FCS when SECRC is clear', () => {
    const r = ready();
    r.wr(D.REG.RCTL, D.RCTL_EN | D.RCTL_BAM);
    r.dev.receiveFrame(ethFrame(MAC_A, PEER, 100));
    expect(r.host.r16(RX_RING + 12)).toBe(104);
  });

  it('filters by RAR, multicast table, broadcast (BAM) and promiscuous modes', () => {
    const r = ready();
    const other = new Uint8Array([0x52, 0x54, 0x00, 0x00, 0x00, 0x01]);
    const mcast = new Uint8Array([0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]);
    const got = () => r.rd(D.REG.RDH0);
    r.dev.receiveFrame(ethFrame(other, PEER, 60));
    expect(got()).toBe(0);
    r.dev.receiveFrame(ethFrame(mcast, PEER, 60));
    expect(got()).toBe(0);
    const h = (((mcast[5]! << 8) | mcast[4]!) >>> 4) & 0xfff;
    r.wr(D.MTA(h >>> 5), 1 << (h & 31));
    r.dev.receiveFrame(ethFrame(mcast, PEER, 60));
    expect(got()).toBe(1);
    r.dev.receiveFrame(ethFrame(BCAST, PEER, 60));
    expect(got()).toBe(2);
    r.wr(D.REG.RCTL, r.rd(D.REG.RCTL) & ~D.RCTL_BAM);
    r.dev.receiveFrame(ethFrame(BCAST, PEER, 60));
    expect(got()).toBe(2);
    r.wr(D.REG.RCTL, r.rd(D.REG.RCTL) | D.RCTL_UPE);
    r.dev.receiveFrame(ethFrame(other, PEER, 60));
    expect(got()).toBe(3);
  });

  it('buffers frames in the packet buffer when no descriptor is free and counts overruns when it is full', () => {
    const r = ready();
    r.wr(D.REG.RDT0, 0); // no descriptors
    r.wr(D.REG.PBA, 2); // 2 KB receive buffer
    r.dev.receiveFrame(ethFrame(MAC_A, PEER, 1000));
    r.dev.receiveFrame(ethFrame(MAC_A, PEER, 1000));
    r.dev.receiveFrame(ethFrame(MAC_A, PEER, 1000)); // does not fit
    expect(r.rd(D.REG.MPC)).toBe(1);
    expect(r.rd(D.REG.RNBC)).toBe(3);
    r.wr(D.REG.RDT0, 15);
    expect(r.rd(D.REG.RDH0)).toBe(2);
    expect(r.rd(D.REG.GPRC)).toBe(2);
  });
});

describe('82574L receive at line rate', () => {
  it('takes a burst from a faster backend at the link rate: 64-byte frames stored 672 ns apart at 1 Gbit/s', () => {
    const r = ready({ paceLink: true });
    r.wr(D.REG.RDT0, 15);
    for (let i = 0; i < 5; i++) r.dev.receiveFrame(ethFrame(MAC_A, PEER, 60, i));
    expect(r.rd(D.REG.RDH0)).toBe(1); // the first arrives now, the rest wait their wire time
    r.host.queue.advance(672 * 2);
    expect(r.rd(D.REG.RDH0)).toBe(3);
    r.host.queue.advance(672 * 2);
    expect(r.rd(D.REG.RDH0)).toBe(5);
    expect(r.host.get(RX_BUF + 4 * 2048, 60)).toEqual(ethFrame(MAC_A, PEER, 60, 4));
  });

  it('drops what a link partner could not have queued, counting it apart from the NIC counters', () => {
    const r = ready({ paceLink: true });
    for (let i = 0; i < 1100; i++) r.dev.receiveFrame(ethFrame(MAC_A, PEER, 60));
    expect(r.dev.rx.diag.ingressDrops).toBe(1100 - 1 - 1000);
    expect(r.rd(D.REG.MPC)).toBe(0);
  });
});

describe('a misbehaving driver cannot break the device', () => {
  it('TX ring outside RAM: stops, counts, traces, and recovers after reset', () => {
    const r = ready();
    r.wr(D.REG.TDBAL0, 0xdead0000);
    r.wr(D.REG.TDBAH0, 0x7);
    r.wr(D.REG.TDT0, 3);
    expect(() => r.host.queue.run()).not.toThrow();
    expect(r.dev.tx.diag.ringFetchFaults).toBe(1);
    expect(r.host.recorder.find('e1000e_tx_dma_fault').length).toBe(1);
    expect(r.host.sent.length).toBe(0);
    r.wr(D.REG.CTRL, D.CTRL_RST);
    linkUp(r);
    setupRings(r, 16);
    putLegacyTx(r, 0, ethFrame(PEER, MAC_A, 60));
    r.wr(D.REG.TDT0, 1);
    r.host.queue.run();
    expect(r.host.sent.length).toBe(1);
  });

  it('RX ring outside RAM: the frame is lost, counted and traced; nothing throws', () => {
    const r = ready();
    r.wr(D.REG.RDBAL0, 0xfff00000);
    r.wr(D.REG.RDT0, 5);
    expect(() => r.dev.receiveFrame(ethFrame(MAC_A, PEER, 100))).not.toThrow();
    expect(r.dev.rx.diag.ringFetchFaults).toBe(1);
    expect(r.host.recorder.find('e1000e_rx_dma_fault').length).toBe(1);
  });

  it('TDT beyond TDLEN: treated as an empty ring, traced', () => {
    const r = ready();
    putLegacyTx(r, 0, ethFrame(PEER, MAC_A, 60));
    r.wr(D.REG.TDT0, 4000);
    r.host.queue.run();
    expect(r.host.sent.length).toBe(0);
    expect(r.dev.tx.diag.badTail).toBeGreaterThan(0);
    expect(r.host.recorder.find('e1000e_tx_bad_tail').length).toBeGreaterThan(0);
  });

  it('zero-length buffers are skipped; a frame that ends up empty is dropped as a runt', () => {
    const r = ready();
    putLegacyTx(r, 0, new Uint8Array(0));
    r.wr(D.REG.TDT0, 1);
    r.host.queue.run();
    expect(r.host.sent.length).toBe(0);
    expect(r.dev.tx.diag.runts).toBe(1);
    expect(r.rd(D.REG.TDH0)).toBe(1);
  });

  it('a 16 KiB frame is dropped and counted, and the ring keeps going', () => {
    const r = ready();
    putLegacyTx(r, 0, ethFrame(PEER, MAC_A, 8192), D.TXD_CMD_RS);
    putLegacyTx(r, 1, ethFrame(PEER, MAC_A, 8192));
    putLegacyTx(r, 2, ethFrame(PEER, MAC_A, 200));
    r.wr(D.REG.TDT0, 3);
    r.host.queue.run();
    expect(r.dev.tx.diag.oversize).toBe(1);
    expect(r.host.sent.map((f) => f.length)).toEqual([200]);
    expect(r.host.recorder.find('e1000e_tx_oversize').length).toBe(1);
  });

  it('a ring whose length spans past the end of RAM faults only at the bad descriptor', () => {
    const r = ready();
    const top = r.host.base + r.host.ram.length;
    r.wr(D.REG.TDBAL0, top - 2 * 16);
    r.wr(D.REG.TDLEN0, 128 * 16);
    for (let i = 0; i < 2; i++) {
      const a = top - 2 * 16 + i * 16;
      r.host.put(0x40000 + i * 256, ethFrame(PEER, MAC_A, 60));
      r.host.w32(a, 0x40000 + i * 256);
      r.host.w32(a + 4, 0);
      r.host.w32(a + 8, (D.TXD_CMD_EOP | D.TXD_CMD_RS | 60) >>> 0);
      r.host.w32(a + 12, 0);
    }
    r.wr(D.REG.TDT0, 5);
    r.host.queue.run();
    expect(r.host.sent.length).toBe(2);
    expect(r.dev.tx.diag.ringFetchFaults).toBe(1);
  });

  it('DMA is refused while bus mastering is off', () => {
    const r = ready();
    r.dev.configWrite(0x04, 2, 0x0002);
    putLegacyTx(r, 0, ethFrame(PEER, MAC_A, 60));
    r.wr(D.REG.TDT0, 1);
    r.host.queue.run();
    r.dev.receiveFrame(ethFrame(MAC_A, PEER, 60));
    expect(r.host.sent.length).toBe(0);
    expect(r.host.dmaCount).toBe(0);
    // Once bus mastering is back, the queued work proceeds.
    r.dev.configWrite(0x04, 2, 0x0006);
    r.host.queue.run();
    expect(r.host.sent.length).toBe(1);
    expect(r.rd(D.REG.GPRC)).toBe(1);
  });
});
