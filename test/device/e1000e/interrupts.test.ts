import { describe, it, expect } from 'vitest';
import * as D from '../../../device/e1000e/defs.js';
import { makeRig } from '../../support/device-helpers.js';

const msixVectors = (r: ReturnType<typeof makeRig>) => r.host.signals.filter((s) => s.kind === 'msix').map((s) => s.vector);

function linuxMsixSetup(r: ReturnType<typeof makeRig>): void {
  r.wr(D.REG.IVAR, 0x800a0908);
  r.wr(D.REG.CTRL_EXT, (r.rd(D.REG.CTRL_EXT) & ~D.CTRL_EXT_IAME) | D.CTRL_EXT_EIAME | D.CTRL_EXT_PBA_CLR);
  r.wr(D.REG.EIAC, 0x00500000);
  r.wr(D.REG.IMS, 0x01570244);
}

describe('82574L interrupt logic', () => {
  it('routes RXQ0, TXQ0 and OTHER to the vectors IVAR names (the driver writes 0x800A0908)', () => {
    const r = makeRig();
    linuxMsixSetup(r);
    r.wr(D.REG.ICS, D.ICR_RXQ0);
    r.wr(D.REG.ICS, D.ICR_TXQ0);
    r.wr(D.REG.ICS, D.ICR_LSC | D.ICR_OTHER);
    expect(msixVectors(r)).toEqual([0, 1, 2]);
  });

  it('raises OTHER for LSC under MSI-X even when only LSC is written to ICS', () => {
    const r = makeRig();
    linuxMsixSetup(r);
    r.wr(D.REG.ICS, D.ICR_LSC);
    expect(msixVectors(r)).toEqual([2]);
    expect(r.rd(D.REG.ICR) & (D.ICR_OTHER | D.ICR_LSC)).toBe(D.ICR_OTHER | D.ICR_LSC);
  });

  it('auto-masks and auto-clears EIAC causes, then fires at once when IMS re-enables a pending cause', () => {
    const r = makeRig();
    linuxMsixSetup(r);
    r.wr(D.REG.ICS, D.ICR_RXQ0);
    expect(msixVectors(r)).toEqual([0]);
    expect(r.rd(D.REG.IMS) & D.ICR_RXQ0).toBe(0); // auto-masked
    // Work arrives while NAPI polls: no interrupt, cause stays pending.
    r.wr(D.REG.ICS, D.ICR_RXQ0);
    expect(msixVectors(r)).toEqual([0]);
    // napi_complete_done -> IMS = RXQ0: fires immediately.
    r.wr(D.REG.IMS, D.ICR_RXQ0);
    expect(msixVectors(r)).toEqual([0, 0]);
    // Nothing pending: re-enabling does not fire.
    r.wr(D.REG.IMS, D.ICR_RXQ0);
    expect(msixVectors(r)).toEqual([0, 0]);
  });

  it('clears ICR on read only when asserted causes are enabled (MSI-X, IAME clear)', () => {
    const r = makeRig();
    linuxMsixSetup(r);
    r.wr(D.REG.IMC, 0xffffffff);
    r.wr(D.REG.IMS, D.ICR_OTHER);
    r.wr(D.REG.ICS, D.ICR_RXSEQ); // not enabled, not an OTHER cause
    const v = r.rd(D.REG.ICR);
    expect(v & D.ICR_RXSEQ).toBeTruthy();
    expect(v & D.ICR_INT_ASSERTED).toBeTruthy();
    expect(r.rd(D.REG.ICR) & D.ICR_RXSEQ).toBeTruthy(); // still there: ICR & IMS == 0
    r.wr(D.REG.ICS, D.ICR_LSC); // enabled via OTHER
    r.rd(D.REG.ICR);
    expect(r.rd(D.REG.ICR)).toBe(0);
  });

  it('ICR write is write-1-to-clear; IMC masks', () => {
    const r = makeRig();
    r.wr(D.REG.ICS, D.ICR_RXSEQ | D.ICR_RXO);
    r.wr(D.REG.ICR, D.ICR_RXSEQ);
    expect(r.dev.mac[D.REG.ICR >>> 2]! & (D.ICR_RXSEQ | D.ICR_RXO)).toBe(D.ICR_RXO);
    r.wr(D.REG.IMS, 0xff);
    r.wr(D.REG.IMC, 0x0f);
    expect(r.rd(D.REG.IMS)).toBe(0xf0);
  });

  it('throttles each vector to its EITR interval (256 ns units) and coalesces causes meanwhile', () => {
    const r = makeRig({ timing: { interruptThrottling: true } });
    linuxMsixSetup(r);
    r.wr(D.EITR(0), 195); // 20000/s
    r.wr(D.REG.ICS, D.ICR_RXQ0);
    r.wr(D.REG.IMS, D.ICR_RXQ0);
    r.wr(D.REG.ICS, D.ICR_RXQ0);
    r.wr(D.REG.IMS, D.ICR_RXQ0);
    r.wr(D.REG.ICS, D.ICR_RXQ0);
    expect(r.host.signals.filter((s) => s.kind === 'msix').length).toBe(1);
    r.host.queue.advance(195 * 256);
    const sigs = r.host.signals.filter((s) => s.kind === 'msix');
    expect(sigs.length).toBe(2);
    expect(sigs[1]!.time - sigs[0]!.time).toBe(195 * 256);
  });

  it('falls back to MSI: IMS 0x9D with IAME, an ICR read masks and clears, RXSEQ test interrupt fires', () => {
    const r = makeRig({ mode: 'msi' });
    r.wr(D.REG.CTRL_EXT, r.rd(D.REG.CTRL_EXT) | D.CTRL_EXT_IAME);
    r.wr(D.REG.IAM, 0xffffffff);
    r.wr(D.REG.IMS, 0x9d);
    r.wr(D.REG.ICS, D.ICR_RXSEQ);
    expect(r.host.signals.filter((s) => s.kind === 'msi').length).toBe(1);
    const icr = r.rd(D.REG.ICR);
    expect(icr & D.ICR_RXSEQ).toBeTruthy();
    expect(r.rd(D.REG.IMS)).toBe(0);
    expect(r.rd(D.REG.ICR)).toBe(0);
  });

  it('drives INTx as a level: asserted while ICR & IMS, released by the ICR read', () => {
    const r = makeRig({ mode: 'intx' });
    r.wr(D.REG.IMS, 0x9d);
    r.wr(D.REG.ICS, D.ICR_TXDW);
    expect(r.host.intx).toBe(true);
    const icr = r.rd(D.REG.ICR);
    expect(icr & D.ICR_INT_ASSERTED).toBeTruthy();
    expect(r.host.intx).toBe(false);
  });

  it('holds MSI-X messages for a masked vector in the PBA and delivers them on unmask', () => {
    const r = makeRig();
    linuxMsixSetup(r);
    r.dev.barWrite(3, 0 * 16 + 12, 4, 1); // mask vector 0
    r.wr(D.REG.ICS, D.ICR_RXQ0);
    expect(msixVectors(r)).toEqual([]);
    expect(r.dev.barRead(3, 0x2000, 4) & 1).toBe(1);
    r.dev.barWrite(3, 0 * 16 + 12, 4, 0);
    expect(msixVectors(r)).toEqual([0]);
    expect(r.dev.barRead(3, 0x2000, 4) & 1).toBe(0);
  });
});
