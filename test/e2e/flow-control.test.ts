// 802.3x flow control between two in-process 82574Ls: a receiver whose stack drains slowly pauses its sender with real PAUSE frames.

import { describe, it, expect } from 'vitest';
import { Testbed } from '../../testbed/testbed.js';
import { createPair } from '../../wire/index.js';
import { dev_open, netif_carrier_ok, xmitFrame } from '../../kernel-glue/netdev.js';
import { captureRx, MAC_A, MAC_B } from '../support/pair.js';
import type { PartnerPause } from '../../device/e1000e/phy.js';

/**
 * A sends 1514-byte frames as fast as its qdisc takes them. B's stack is slow: a 64-entry RX
 * ring and interrupts throttled to 200/s, so its ring fills between interrupts and frames back
 * up into its 32 KB packet buffer.
 */
function run(partnerPause: PartnerPause, frames = 4000) {
  const tb = new Testbed();
  const a = tb.addMachine({ name: 'A' });
  const b = tb.addMachine({ name: 'B' });
  const na = a.addNic({ mac: MAC_A, name: 'A.nic0', partnerPause });
  const nb = b.addNic({ mac: MAC_B, name: 'B.nic0', partnerPause });
  const wire = createPair({});
  na.plug(wire, 0);
  nb.plug(wire, 1);
  a.loadDriver();
  b.loadDriver({ rxRingSize: 64, InterruptThrottleRate: 200 });
  expect(dev_open(na.netdev)).toBe(0);
  expect(dev_open(nb.netdev)).toBe(0);
  expect(tb.runUntil(() => netif_carrier_ok(na.netdev) && netif_carrier_ok(nb.netdev), 10e9)).toBe(true);
  const rx = captureRx(b);
  const sent: Uint8Array[] = [];
  const pump = () => {
    while (sent.length < frames && na.netdev.qdisc.length < 100) {
      const f = new Uint8Array(1514);
      f.set(MAC_B, 0);
      f.set(MAC_A, 6);
      f.set([0x88, 0xb5, sent.length >> 8, sent.length & 0xff], 12);
      sent.push(f);
      xmitFrame(na.netdev, f);
    }
  };
  const t0 = tb.queue.now();
  pump();
  tb.runUntil(() => (pump(), rx.frames.length === frames), 5e9);
  tb.advance(20e6);
  const log = (m: typeof a) => m.kernel.dmesg.map((l) => l.msg).filter((s) => s.includes('Link is Up'));
  return { tb, a, b, na, nb, rx, sent, ms: (tb.queue.now() - t0) / 1e6, log };
}

describe('802.3x flow control on a pair', () => {
  it('resolves Rx/Tx by autonegotiation when the partner advertises symmetric pause', () => {
    const r = run('symmetric', 10);
    expect(r.log(r.a)[0]).toContain('Flow Control: Rx/Tx');
    expect(r.log(r.b)[0]).toContain('Flow Control: Rx/Tx');
    const n = run('none', 10);
    expect(n.log(n.a)[0]).toContain('Flow Control: None');
  });

  it('a slowly draining receiver pauses its sender: no missed frames, XOFF received, the sender stalls and resumes', () => {
    const r = run('symmetric');
    expect(r.rx.frames.length).toBe(r.sent.length);
    r.rx.frames.forEach((f, i) => {
      if (f[14] !== (i >> 8) || f[15] !== (i & 0xff)) throw new Error(`frame ${i} out of order`);
    });
    expect(r.nb.device.stats.totals.rxMissed).toBe(0);
    expect(r.nb.device.fc.diag.xoffSent).toBeGreaterThan(0);
    expect(r.nb.device.fc.diag.xonSent).toBeGreaterThan(0);
    expect(r.na.device.fc.diag.xoffReceived).toBe(r.nb.device.fc.diag.xoffSent);
    expect(r.na.device.peek('XOFFRXC')).toBeGreaterThan(0);
    // A's transmitter spent real time stopped, and still delivered everything.
    expect(r.na.device.fc.diag.pausedNs).toBeGreaterThan(1e6);
    console.log(
      `flow control on: ${r.sent.length} frames in ${r.ms.toFixed(1)} ms, B sent XOFF ${r.nb.device.fc.diag.xoffSent} XON ${r.nb.device.fc.diag.xonSent}, ` +
        `A paused ${(r.na.device.fc.diag.pausedNs / 1e6).toFixed(1)} ms, B missed ${r.nb.device.stats.totals.rxMissed}`,
    );
  });

  it('without pause the same receiver misses frames (the baseline the test above is measured against)', () => {
    const r = run('none', 2000);
    expect(r.nb.device.fc.diag.xoffSent).toBe(0);
    expect(r.nb.device.stats.totals.rxMissed).toBeGreaterThan(0);
    console.log(`flow control off: B missed ${r.nb.device.stats.totals.rxMissed} of ${r.sent.length}`);
  });
});
