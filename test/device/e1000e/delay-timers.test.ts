import { describe, it, expect } from 'vitest';
import * as D from '../../../device/e1000e/defs.js';
import { makeRig, linkUp, setupRings, putLegacyTx, ethFrame, MAC_A } from '../../support/device-helpers.js';

const PEER = new Uint8Array([0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc]);
const msiTimes = (r: ReturnType<typeof makeRig>) => r.host.signals.filter((s) => s.kind === 'msi').map((s) => s.time);

function msiRig() {
  const r = makeRig({ mode: 'msi', timing: { autonegNs: 1000, interruptDelayTimers: true } });
  linkUp(r);
  setupRings(r, 16);
  r.wr(D.REG.IMS, D.ICR_RXT0 | D.ICR_TXDW);
  r.host.signals.length = 0;
  return r;
}

describe('interrupt delay timers outside MSI-X (1.024 us units)', () => {
  it('RDTR restarts with each frame; RADV bounds the total wait', () => {
    const r = msiRig();
    r.wr(D.REG.RDTR, 10); // 10.24 us after the last frame
    r.wr(D.REG.RADV, 25); // at most 25.6 us after the first
    const t0 = r.host.now();
    for (let i = 0; i < 4; i++) {
      r.dev.receiveFrame(ethFrame(MAC_A, PEER, 100, i));
      r.host.queue.advance(8_000); // frames 8 us apart keep restarting the packet timer
    }
    r.host.queue.advance(50_000);
    expect(msiTimes(r)).toEqual([t0 + 25 * 1024]);
  });

  it('RDTR alone fires 10.24 us after the last frame; zero RDTR interrupts at once', () => {
    const r = msiRig();
    r.wr(D.REG.RDTR, 10);
    const t0 = r.host.now();
    r.dev.receiveFrame(ethFrame(MAC_A, PEER, 100));
    r.host.queue.advance(30_000);
    expect(msiTimes(r)).toEqual([t0 + 10 * 1024]);
    r.rd(D.REG.ICR);
    r.wr(D.REG.RDTR, 0);
    const t1 = r.host.now();
    r.dev.receiveFrame(ethFrame(MAC_A, PEER, 100));
    r.host.queue.advance(1);
    expect(msiTimes(r).at(-1)).toBe(t1);
  });

  it('TIDV delays TXDW only for descriptors with IDE, and a write with FPD flushes it', () => {
    const r = msiRig();
    r.wr(D.REG.TIDV, 8);
    putLegacyTx(r, 0, ethFrame(PEER, MAC_A, 60), D.TXD_CMD_EOP | D.TXD_CMD_RS | D.TXD_CMD_IDE);
    r.wr(D.REG.TDT0, 1);
    r.host.queue.advance(2_000);
    expect(msiTimes(r)).toEqual([]);
    const tFlush = r.host.now();
    r.wr(D.REG.TIDV, 8 | 0x80000000); // flush partial descriptor block
    expect(msiTimes(r)).toEqual([tFlush]);
    r.rd(D.REG.ICR);
    putLegacyTx(r, 1, ethFrame(PEER, MAC_A, 60), D.TXD_CMD_EOP | D.TXD_CMD_RS);
    r.wr(D.REG.TDT0, 2);
    r.host.queue.advance(2_000);
    expect(msiTimes(r).length).toBe(2); // no IDE: not delayed
  });

  it('are ignored under MSI-X, as the 82574 does', () => {
    const r = makeRig({ timing: { autonegNs: 1000, interruptDelayTimers: true } });
    linkUp(r);
    setupRings(r, 16);
    r.wr(D.REG.IVAR, 0x800a0908);
    r.wr(D.REG.IMS, D.ICR_RXQ0);
    r.wr(D.REG.RDTR, 100);
    const t0 = r.host.now();
    r.dev.receiveFrame(ethFrame(MAC_A, PEER, 100));
    r.host.queue.advance(1);
    expect(r.host.signals.filter((s) => s.kind === 'msix').map((s) => s.time)).toEqual([t0]);
  });
});
