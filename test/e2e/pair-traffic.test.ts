import { describe, it, expect } from 'vitest';
import { makePair, openBoth, captureRx, rng, MAC_A, MAC_B } from '../support/pair.js';
import { xmitFrame, dev_get_stats, netif_carrier_ok, dev_open } from '../../kernel-glue/netdev.js';
import { adapterOf } from '../../driver/netdev.js';
import { RecordingTrace } from '../../device/trace.js';
import { ZERO_TIMING } from '../../device/sim/timing.js';
import * as D from '../../device/e1000e/defs.js';

function buildFrames(n: number, seed: number): Uint8Array[] {
  const r = rng(seed);
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const len = 60 + Math.floor(r() * (1514 - 60 + 1));
    const f = new Uint8Array(len);
    f.set(MAC_B, 0);
    f.set(MAC_A, 6);
    f[12] = 0x88;
    f[13] = 0xb5; // IEEE local experimental ethertype: no offload logic touches it
    for (let j = 14; j < len; j++) f[j] = Math.floor(r() * 256);
    f[14] = i >>> 8;
    f[15] = i & 0xff;
    out.push(f);
  }
  return out;
}

describe('two NICs on a pair', () => {
  it('bring link up through the Other vector and the watchdog, which enables TCTL', () => {
    const trace = new RecordingTrace('e1000e_irq_msix,e1000e_reg_write');
    const r = makePair({ trace, open: false });
    const { na } = r;
    const ad = adapterOf(na.netdev);
    expect(na.device.peek('TCTL') & D.TCTL_EN).toBe(0);
    expect(r.a.kernel.dmesg.some((l) => l.msg.includes('Intel(R) PRO/1000 Network Connection'))).toBe(true);
    // configure_msix at open: EITR 195 (20000/s) on all three vectors, IVAR 0x800A0908, EIAC as Linux writes them.
    expect(dev_open(na.netdev)).toBe(0);
    expect([0, 1, 2].map((v) => na.device.peek(`EITR[${v}]`))).toEqual([195, 195, 195]);
    expect(na.device.peek('IVAR')).toBe(0x800a0908);
    expect(na.device.peek('EIAC')).toBe(0x00500000);
    expect(na.device.peek('IMS')).toBe(0x01570244); // OTHER is not in EIAC, so trigger_lsc's ICS leaves it enabled
    openBoth(r);
    expect(netif_carrier_ok(na.netdev)).toBe(true);
    expect(ad.linkSpeed).toBe(1000);
    expect(r.a.kernel.dmesg.some((l) => l.msg.includes('NIC Link is Up 1000 Mbps Full Duplex'))).toBe(true);
    expect(na.device.peek('TCTL') & D.TCTL_EN).toBeTruthy();
    // The Other vector (2) fired for LSC, and TCTL.EN was written only after it.
    const aRecs = trace.records.filter((x) => x.fields['dev'] === 'A.nic0');
    const firstOther = aRecs.findIndex((x) => x.point === 'e1000e_irq_msix' && x.fields['vector'] === 2);
    const tctlEn = aRecs.findIndex((x) => x.point === 'e1000e_reg_write' && x.fields['reg'] === 'TCTL' && ((x.fields['value'] as number) & D.TCTL_EN) !== 0);
    expect(firstOther).toBeGreaterThanOrEqual(0);
    expect(tctlEn).toBeGreaterThan(firstOther);
    const irqs = r.a.kernel.interrupts();
    expect(irqs.map((i) => i.name)).toEqual(['eth0-rx-0', 'eth0-tx-0', 'eth0']);
    expect(irqs.find((i) => i.name === 'eth0')!.count).toBeGreaterThan(0);
  });

  it('carry 10,000 seeded frames of 60..1514 bytes from A to B byte-identical and in order, with driver and hardware counters agreeing', () => {
    const r = makePair();
    const rx = captureRx(r.b);
    const frames = buildFrames(10_000, 0x5eed);
    let next = 0;
    // A sender that keeps the qdisc fed, like a socket with a send buffer.
    const pump = () => {
      while (next < frames.length && r.na.netdev.qdisc.length < 500) {
        expect(xmitFrame(r.na.netdev, frames[next]!)).toBe(0);
        next++;
      }
    };
    pump();
    const ok = r.tb.runUntil(() => {
      pump();
      return rx.frames.length === frames.length;
    }, 5e9);
    expect(ok).toBe(true);
    r.tb.advance(10e6);
    expect(rx.frames.length).toBe(frames.length);
    for (let i = 0; i < frames.length; i++) {
      if (!Buffer.from(rx.frames[i]!).equals(Buffer.from(frames[i]!))) throw new Error(`frame ${i} differs`);
    }
    const bytes = frames.reduce((n, f) => n + f.length, 0);
    const sa = dev_get_stats(r.na.netdev);
    const sb = dev_get_stats(r.nb.netdev);
    const aa = adapterOf(r.na.netdev);
    const ab = adapterOf(r.nb.netdev);
    // Hardware counters (what ip -s link shows): FCS included in octets.
    expect(sa.tx_packets).toBe(10_000);
    expect(sa.tx_bytes).toBe(bytes + 4 * 10_000);
    expect(sb.rx_packets).toBe(10_000);
    expect(sb.rx_bytes).toBe(bytes + 4 * 10_000);
    // Driver software counters agree with them.
    expect(aa.sw.txPackets).toBe(sa.tx_packets);
    expect(aa.sw.txBytes + 4 * aa.sw.txPackets).toBe(sa.tx_bytes);
    expect(ab.sw.rxPackets).toBe(sb.rx_packets);
    expect(ab.sw.rxBytes + 4 * ab.sw.rxPackets).toBe(sb.rx_bytes);
    expect(aa.hw.stats.gptc).toBe(ab.hw.stats.gprc);
    expect(aa.hw.stats.gotc).toBe(ab.hw.stats.gorc);
    expect(ab.hw.stats.mpc).toBe(0);
    expect(ab.sw.rxDiscards).toBe(0);
  });

  it('with every delay zero (ZERO_TIMING) carry 2,000 frames intact and in order: timing changes when, never what', () => {
    const r = makePair({ timing: { ...ZERO_TIMING, autonegNs: 1e6 } });
    const rx = captureRx(r.b);
    const frames = buildFrames(2000, 0x2e70);
    let next = 0;
    // An infinitely fast link lets a flood overrun any receiver, so the sender keeps a window in
    // flight (like TCP) rather than a full queue.
    const pump = () => {
      while (next < frames.length && next - rx.frames.length < 32) xmitFrame(r.na.netdev, frames[next++]!);
    };
    pump();
    expect(r.tb.runUntil(() => (pump(), rx.frames.length === frames.length), 5e9)).toBe(true);
    for (let i = 0; i < frames.length; i++) {
      if (!Buffer.from(rx.frames[i]!).equals(Buffer.from(frames[i]!))) throw new Error(`frame ${i} differs`);
    }
    r.tb.advance(3e9);
    expect(dev_get_stats(r.nb.netdev).rx_packets).toBe(2000);
    expect(dev_get_stats(r.na.netdev).tx_packets).toBe(2000);
    expect(r.nb.device.stats.totals.rxMissed).toBe(0);
  });
});
