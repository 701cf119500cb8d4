// `nicsim pair`: two simulated machines, an 82574L model each, our e1000e driver, traffic across a wire.

import { Testbed } from '../testbed/testbed.js';
import { createPair } from '../wire/index.js';
import { dev_open, netif_carrier_ok, xmitFrame, dev_get_stats } from '../kernel-glue/netdev.js';
import { adapterOf, type E1000eParams } from '../driver/netdev.js';
import { RecordingTrace, type TraceRecord } from '../device/trace.js';
import type { TimingParams } from '../device/sim/timing.js';
import { mulberry32 } from '../device/sim/rng.js';

/** Options of one in-process run. */
export interface PairRunOptions {
  frames: number;
  seed: number;
  minSize: number;
  maxSize: number;
  intMode: number;
  itr: number;
  trace?: string;
  timing?: Partial<TimingParams>;
  /** Where lines go (the CLI passes console.log). */
  out: (line: string) => void;
}

/** What a run measured: the figures the CLI prints and tests check. */
export interface PairRunResult {
  linkUpNs: number;
  sent: number;
  received: number;
  mismatches: number;
  virtualNs: number;
  wallMs: number;
  stats: { a: Record<string, number>; b: Record<string, number> };
  interrupts: { a: { name: string; count: number }[]; b: { name: string; count: number }[] };
}

/** Runs the pair: probe, link up, `frames` seeded frames A -> B, checked byte for byte. */
export function runPair(o: PairRunOptions): PairRunResult {
  const wall0 = performance.now();
  const trace = o.trace
    ? new RecordingTrace(o.trace, () => tb.now(), 0, (r: TraceRecord) => o.out(`trace ${(r.time / 1e3).toFixed(3)}us ${r.point} ${JSON.stringify(r.fields)}`))
    : undefined;
  const tb: Testbed = new Testbed(trace);
  const macA = new Uint8Array([0x52, 0x54, 0x00, 0x4e, 0x49, 0x0a]);
  const macB = new Uint8Array([0x52, 0x54, 0x00, 0x4e, 0x49, 0x0b]);
  const A = tb.addMachine({ name: 'A' });
  const B = tb.addMachine({ name: 'B' });
  const na = A.addNic({ mac: macA, name: 'A.eth0', timing: o.timing });
  const nb = B.addNic({ mac: macB, name: 'B.eth0', timing: o.timing });
  const wire = createPair();
  na.plug(wire, 0);
  nb.plug(wire, 1);
  const params: Partial<E1000eParams> = { IntMode: o.intMode, InterruptThrottleRate: o.itr };
  A.loadDriver(params);
  B.loadDriver(params);
  for (const [m, nic] of [[A, na], [B, nb]] as const) {
    const rc = dev_open(nic.netdev);
    if (rc) throw new Error(`${m.name}: open failed (${rc})`);
  }
  const up = tb.runUntil(() => netif_carrier_ok(na.netdev) && netif_carrier_ok(nb.netdev), 30e9);
  for (const m of [A, B]) for (const l of m.kernel.dmesg) o.out(`[${(l.time / 1e9).toFixed(6)}] ${m.name}: ${l.msg}`);
  if (!up) throw new Error('link did not come up within 30 s of virtual time');
  const linkUpNs = tb.now();

  const rnd = mulberry32(o.seed);
  const sentFrames: Uint8Array[] = [];
  for (let i = 0; i < o.frames; i++) {
    const len = o.minSize + Math.floor(rnd() * (o.maxSize - o.minSize + 1));
    const f = new Uint8Array(len);
    f.set(macB, 0);
    f.set(macA, 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    for (let j = 14; j < len; j++) f[j] = (rnd() * 256) | 0;
    sentFrames.push(f);
  }
  let received = 0;
  let mismatches = 0;
  B.kernel.net.addRxHandler(nb.netdev, (skb) => {
    const got = skb.buf.subarray(skb.data + skb.mac_header, skb.tail);
    const want = sentFrames[received++];
    if (!want || !Buffer.from(got).equals(Buffer.from(want))) mismatches++;
  });
  let next = 0;
  const pump = () => {
    while (next < sentFrames.length && na.netdev.qdisc.length < 500) xmitFrame(na.netdev, sentFrames[next++]!);
  };
  pump();
  tb.runUntil(() => {
    pump();
    return received >= sentFrames.length;
  }, 60e9);
  tb.advance(2.5e9); // one more watchdog period so the statistics are folded in
  const pick = (s: ReturnType<typeof dev_get_stats>) => ({
    rx_packets: s.rx_packets, rx_bytes: s.rx_bytes, tx_packets: s.tx_packets, tx_bytes: s.tx_bytes, rx_missed_errors: s.rx_missed_errors,
  });
  const irq = (m: typeof A) => m.kernel.interrupts().map((i) => ({ name: i.name, count: i.count }));
  return {
    linkUpNs,
    sent: sentFrames.length,
    received,
    mismatches,
    virtualNs: tb.now(),
    wallMs: performance.now() - wall0,
    stats: { a: pick(dev_get_stats(na.netdev)), b: pick(dev_get_stats(nb.netdev)) },
    interrupts: { a: irq(A), b: irq(B) },
  };
}

/** Prints a run's figures as the CLI shows them. */
export function printPairResult(r: PairRunResult, out: (l: string) => void, adapterInfo?: string): void {
  out('');
  out(`link up after ${(r.linkUpNs / 1e6).toFixed(1)} ms of virtual time`);
  out(`frames: sent ${r.sent}, received ${r.received}, mismatched ${r.mismatches}`);
  out(`virtual time ${(r.virtualNs / 1e9).toFixed(3)} s, wall time ${r.wallMs.toFixed(0)} ms`);
  for (const side of ['a', 'b'] as const) {
    const s = r.stats[side];
    out(`${side === 'a' ? 'A' : 'B'}.eth0 counters: ${Object.entries(s).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    out(`${side === 'a' ? 'A' : 'B'} interrupts: ${r.interrupts[side].map((i) => `${i.name}=${i.count}`).join(' ')}`);
  }
  if (adapterInfo) out(adapterInfo);
}

export { adapterOf };
