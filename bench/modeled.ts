// What the modeled hardware does: throughput and packet rate per frame size, latency, and interrupt rates, in virtual time.

import { Testbed, type Machine, type SimNic } from '../testbed/testbed.js';
import { createPair, type WireEndpoint, type WirePort } from '../wire/wire.js';
import { dev_open, netif_carrier_ok, xmitFrame } from '../kernel-glue/netdev.js';
import { wireTimeNs, resolveTiming, type TimingParams } from '../device/sim/timing.js';
import type { E1000eParams } from '../driver/netdev.js';

/** Frame sizes as Ethernet counts them (FCS included), as in RFC 2544. */
export const DEFAULT_SIZES = [64, 128, 256, 512, 1024, 1518];

export interface ModeledOptions {
  sizes?: number[];
  linkMbps?: number;
  /** Virtual time measured per point (after warm-up), ns. */
  windowNs?: number;
  warmupNs?: number;
  timing?: Partial<TimingParams>;
  params?: Partial<E1000eParams>;
  /** Frames for the latency measurement. */
  latencyFrames?: number;
}

export interface ModeledRecord {
  size: number;
  direction: 'tx' | 'rx';
  linkMbps: number;
  pps: number;
  mbps: number;
  lineRatePps: number;
  /** pps / line rate */
  ratio: number;
  /** One-way latency driver-to-driver at light load, ns. */
  latencyP50Ns?: number;
  latencyP99Ns?: number;
  rxDrops?: number;
}

export interface InterruptRecord {
  mode: string;
  frameSize: number;
  rxInterruptsPerSec: number;
  napiCompletionsPerSec: number;
  limitPerSec: number | null;
}

const MAC_A = new Uint8Array([0x02, 0, 0, 0, 0, 0x0a]);
const MAC_B = new Uint8Array([0x02, 0, 0, 0, 0, 0x0b]);

/** Theoretical packets per second of a link for frames of `size` bytes (FCS included). */
export function lineRatePps(size: number, linkMbps: number, t: TimingParams = resolveTiming()): number {
  return 1e9 / wireTimeNs({ ...t, linkSpeedMbps: linkMbps }, size);
}

function frame(size: number, dst: Uint8Array, src: Uint8Array, seq = 0): Uint8Array {
  const f = new Uint8Array(size - 4);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  new DataView(f.buffer).setUint32(14, seq);
  return f;
}

function up(tb: Testbed, nics: SimNic[]): void {
  for (const n of nics) if (dev_open(n.netdev) !== 0) throw new Error('open failed');
  if (!tb.runUntil(() => nics.every((n) => netif_carrier_ok(n.netdev)), 10e9)) throw new Error('no link');
}

/** A wire end that counts frames arriving in a time window (the far side of a TX measurement). */
class Sink implements WireEndpoint {
  count = 0;
  constructor(
    private readonly tb: Testbed,
    private readonly from: number,
    private readonly to: number,
  ) {}
  receiveFrame(): void {
    const t = this.tb.now();
    if (t >= this.from && t < this.to) this.count++;
  }
  setCarrier(): void {}
}

function machineWithNic(tb: Testbed, name: string, mac: Uint8Array, timing: Partial<TimingParams>, params?: Partial<E1000eParams>): { m: Machine; nic: SimNic } {
  const m = tb.addMachine({ name });
  const nic = m.addNic({ mac, timing });
  m.loadDriver(params);
  return { m, nic };
}

/** TX: the driver keeps its queue full; frames leaving the wire are counted in the window. */
export function measureTx(size: number, o: ModeledOptions = {}): ModeledRecord {
  const linkMbps = o.linkMbps ?? 1000;
  const timing = { ...(o.timing ?? {}), linkSpeedMbps: linkMbps };
  const tb = new Testbed();
  const { nic } = machineWithNic(tb, 'A', MAC_A, timing, o.params);
  const w = createPair();
  nic.plug(w, 0);
  const warm = o.warmupNs ?? 2e6;
  const win = o.windowNs ?? 10e6;
  let sink: Sink | null = null;
  const lazySink: WireEndpoint = { receiveFrame: () => sink?.receiveFrame(), setCarrier: () => {} };
  w.attach(1, lazySink);
  up(tb, [nic]);
  const t0 = tb.now() + warm;
  sink = new Sink(tb, t0, t0 + win);
  const f = frame(size, MAC_B, MAC_A);
  const nd = nic.netdev;
  const topUp = () => {
    while (nd.qdisc.length < 600) xmitFrame(nd, f);
    if (tb.now() < t0 + win) tb.queue.schedule(20_000, topUp, 50);
  };
  topUp();
  tb.queue.run(t0 + win);
  const pps = sink.count / (win / 1e9);
  const line = lineRatePps(size, linkMbps, resolveTiming(timing));
  return { size, direction: 'tx', linkMbps, pps, mbps: (pps * size * 8) / 1e6, lineRatePps: line, ratio: pps / line };
}

/** A wire end sending back-to-back frames at the link rate (the far side of an RX measurement). */
class Source {
  sent = 0;
  private next = 0;
  constructor(
    private readonly tb: Testbed,
    private readonly port: WirePort,
    private readonly make: (seq: number) => Uint8Array,
    private readonly gapNs: number,
    private readonly until: number,
  ) {}
  start(): void {
    this.next = this.tb.now();
    this.tick();
  }
  private tick = (): void => {
    this.port.send(this.make(this.sent));
    this.sent++;
    this.next += this.gapNs;
    if (this.next < this.until) this.tb.queue.schedule(Math.round(this.next) - this.tb.now(), this.tick, 4);
  };
}

/** RX: frames arrive back to back at line rate; frames the driver hands to the stack are counted. */
export function measureRx(size: number, o: ModeledOptions = {}, count?: { interrupts?: boolean }): ModeledRecord & { interruptsPerSec: number; completionsPerSec: number } {
  const linkMbps = o.linkMbps ?? 1000;
  const timing = { ...(o.timing ?? {}), linkSpeedMbps: linkMbps };
  const tb = new Testbed();
  const { m, nic } = machineWithNic(tb, 'B', MAC_B, timing, o.params);
  const w = createPair();
  nic.plug(w, 0);
  const port = w.attach(1, { receiveFrame: () => {}, setCarrier: () => {} });
  up(tb, [nic]);
  const warm = o.warmupNs ?? 2e6;
  const win = o.windowNs ?? 10e6;
  const t0 = tb.now() + warm;
  // Frames are counted by when they were sent (their seq), so NAPI's bursts at interrupt
  // times do not blur the window's edges.
  const gap = wireTimeNs(resolveTiming(timing), size);
  const firstSeq = Math.ceil(warm / gap);
  const lastSeq = Math.floor((warm + win) / gap);
  let got = 0;
  m.kernel.net.addRxHandler(null, (skb) => {
    const seq = new DataView(skb.buf.buffer, skb.buf.byteOffset + skb.data + skb.mac_header + 14).getUint32(0);
    if (seq >= firstSeq && seq < lastSeq) got++;
  });
  let completions = 0;
  m.kernel.onNapiPoll = (_n, budget, work) => {
    const t = tb.now();
    if (work < budget && t >= t0 && t < t0 + win) completions++;
  };
  new Source(tb, port, (seq) => frame(size, MAC_B, MAC_A, seq), gap, t0 + win + 1e6).start();
  tb.queue.run(t0);
  const irqBefore = rxIrqCount(m);
  const dropsBefore = nic.device.stats.totals.rxMissed;
  tb.queue.run(t0 + win);
  const irqs = rxIrqCount(m) - irqBefore;
  tb.queue.run(t0 + win + 2e6); // let the last frames of the window reach the stack
  void count;
  const pps = got / ((lastSeq - firstSeq) * gap / 1e9);
  const line = lineRatePps(size, linkMbps, resolveTiming(timing));
  return {
    size, direction: 'rx', linkMbps, pps, mbps: (pps * size * 8) / 1e6, lineRatePps: line, ratio: pps / line,
    rxDrops: nic.device.stats.totals.rxMissed - dropsBefore,
    interruptsPerSec: irqs / (win / 1e9), completionsPerSec: completions / (win / 1e9),
  };
}

function rxIrqCount(m: Machine): number {
  return m.kernel.interrupts().filter((i) => /rx-0$|^eth0$/.test(i.name)).reduce((s, i) => s + i.count, 0);
}

/** Spacing of latency probes: 100 us keeps even 1518-byte frames at 12% load, so queueing stays out. */
export const LATENCY_SPACING_NS = 100_000;

/** One-way latency, driver to driver, at light load (a frame every 100 us). Percentiles in ns. */
export function measureLatency(size: number, o: ModeledOptions = {}): { p50: number; p99: number; mean: number } {
  const linkMbps = o.linkMbps ?? 1000;
  const timing = { ...(o.timing ?? {}), linkSpeedMbps: linkMbps };
  const tb = new Testbed();
  const A = machineWithNic(tb, 'A', MAC_A, timing, o.params);
  const B = machineWithNic(tb, 'B', MAC_B, timing, o.params);
  const w = createPair();
  A.nic.plug(w, 0);
  B.nic.plug(w, 1);
  up(tb, [A.nic, B.nic]);
  const n = o.latencyFrames ?? 1000;
  const sentAt = new Float64Array(n);
  const lat: number[] = [];
  B.m.kernel.net.addRxHandler(null, (skb) => {
    const seq = new DataView(skb.buf.buffer, skb.buf.byteOffset + skb.data + skb.mac_header + 14).getUint32(0);
    if (seq < n) lat.push(tb.now() - sentAt[seq]!);
  });
  let i = 0;
  const send = () => {
    sentAt[i] = tb.now();
    xmitFrame(A.nic.netdev, frame(size, MAC_B, MAC_A, i));
    if (++i < n) tb.queue.schedule(LATENCY_SPACING_NS, send, 50);
  };
  send();
  tb.queue.run(tb.now() + n * LATENCY_SPACING_NS + 5e6);
  lat.sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? NaN;
  return { p50: pct(50), p99: pct(99), mean: lat.reduce((s, x) => s + x, 0) / lat.length };
}

/** The full modeled sweep: TX and RX per size, plus latency per size. */
export function runModeled(o: ModeledOptions = {}): ModeledRecord[] {
  const out: ModeledRecord[] = [];
  for (const size of o.sizes ?? DEFAULT_SIZES) {
    const lat = measureLatency(size, o);
    out.push({ ...measureTx(size, o), latencyP50Ns: lat.p50, latencyP99Ns: lat.p99 });
    const rx = measureRx(size, o);
    out.push({ size, direction: 'rx', linkMbps: rx.linkMbps, pps: rx.pps, mbps: rx.mbps, lineRatePps: rx.lineRatePps, ratio: rx.ratio, rxDrops: rx.rxDrops, latencyP50Ns: lat.p50, latencyP99Ns: lat.p99 });
  }
  return out;
}

/** RX interrupt rate under full load (64-byte frames at line rate) with EITR at 20000/s, and with throttling off. */
export function runInterruptModeration(o: ModeledOptions = {}): InterruptRecord[] {
  const size = 64;
  const fixed = measureRx(size, { ...o, params: { ...(o.params ?? {}), InterruptThrottleRate: 20000 } });
  const off = measureRx(size, { ...o, params: { ...(o.params ?? {}), InterruptThrottleRate: 20000 }, timing: { ...(o.timing ?? {}), interruptThrottling: false } });
  return [
    { mode: 'EITR 20000/s', frameSize: size, rxInterruptsPerSec: fixed.interruptsPerSec, napiCompletionsPerSec: fixed.completionsPerSec, limitPerSec: 20000 },
    { mode: 'throttling off', frameSize: size, rxInterruptsPerSec: off.interruptsPerSec, napiCompletionsPerSec: off.completionsPerSec, limitPerSec: null },
  ];
}
