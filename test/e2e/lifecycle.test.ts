import { describe, it, expect } from 'vitest';
import { makePair, captureRx, MAC_A, MAC_B } from '../support/pair.js';
import { xmitFrame, dev_close, dev_open, netif_carrier_ok } from '../../kernel-glue/netdev.js';
import { accountingLeaks } from '../../kernel-glue/accounting.js';
import { adapterOf, IntMode } from '../../driver/netdev.js';

function traffic(r: ReturnType<typeof makePair>, n: number): number {
  const rx = captureRx(r.b);
  for (let i = 0; i < n; i++) {
    const f = new Uint8Array(200 + i);
    f.set(MAC_B, 0);
    f.set(MAC_A, 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    xmitFrame(r.na.netdev, f);
  }
  r.tb.advance(20e6);
  return rx.frames.length;
}

describe('driver lifecycle', () => {
  it('remove leaves no timer, IRQ handler, DMA allocation or skb behind', () => {
    const r = makePair();
    expect(traffic(r, 300)).toBe(300);
    r.tb.advance(5e9); // let the watchdog run a few times
    for (const m of [r.a, r.b]) {
      const pdev = m.nics[0]!.pdev;
      expect(m.kernel.accounting(pdev).irqsRequested).toBe(3);
      m.unloadDriver(); // remove while the interface is up
      expect(accountingLeaks(m.kernel.accounting(pdev))).toEqual([]);
      expect(accountingLeaks(m.kernel.accounting())).toEqual([]);
      expect(m.kernel.interrupts().every((i) => i.name === '')).toBe(true);
    }
    // Nothing the driver left can fire later.
    r.tb.advance(10e9);
  });

  it('close then open again brings the link back and traffic flows', () => {
    const r = makePair();
    dev_close(r.na.netdev);
    expect(netif_carrier_ok(r.na.netdev)).toBe(false);
    r.tb.advance(1e9);
    expect(dev_open(r.na.netdev)).toBe(0);
    expect(r.tb.runUntil(() => netif_carrier_ok(r.na.netdev) && netif_carrier_ok(r.nb.netdev), 10e9)).toBe(true);
    expect(traffic(r, 50)).toBe(50);
  });

  it('rmmod and insmod give a working device again', () => {
    const r = makePair();
    r.a.unloadDriver();
    r.a.loadDriver();
    expect(dev_open(r.na.netdev)).toBe(0);
    expect(r.tb.runUntil(() => netif_carrier_ok(r.na.netdev) && netif_carrier_ok(r.nb.netdev), 10e9)).toBe(true);
    expect(traffic(r, 50)).toBe(50);
  });

  for (const [mode, name, irqNames] of [
    [IntMode.MSI, 'MSI', ['eth0']],
    [IntMode.LEGACY, 'INTx', ['eth0']],
  ] as const) {
    it(`works with e1000e.IntMode=${mode} (${name})`, () => {
      const r = makePair({ params: { IntMode: mode } });
      const ad = adapterOf(r.na.netdev);
      expect(ad.msixEntries).toBeNull();
      expect(ad.msiEnabled).toBe(mode === IntMode.MSI);
      expect(traffic(r, 200)).toBe(200);
      const irqs = r.a.kernel.interrupts().filter((i) => i.count > 0);
      expect(irqs.map((i) => i.name)).toEqual(irqNames);
      expect(r.a.kernel.dmesg.some((l) => l.msg.includes('MSI interrupt test failed'))).toBe(false);
    });
  }
});
