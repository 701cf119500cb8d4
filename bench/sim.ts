// How fast we simulate: frames per wall second through the whole in-process loop (driver, device, wire, device, driver).

import { Testbed } from '../testbed/testbed.js';
import { createPair } from '../wire/wire.js';
import { dev_open, netif_carrier_ok, xmitFrame } from '../kernel-glue/netdev.js';
import type { TimingParams } from '../device/sim/timing.js';
import { DEFAULT_SIZES, lineRatePps } from './modeled.js';

export interface SimSpeedOptions {
  sizes?: number[];
  /** Frames per size (the first 10% warm the JIT up and are not timed). */
  frames?: number;
  timing?: Partial<TimingParams>;
}

export interface SimSpeedRecord {
  size: number;
  frames: number;
  /** Simulated frames per wall second (whole loop, one core). */
  framesPerSec: number;
  /** Same, per second of this process's CPU time (less sensitive to other load on the machine). */
  framesPerCpuSec: number;
  wallNsPerFrame: number;
  /** Modeled packets per second in the same run (virtual time). */
  modeledPps: number;
  /** framesPerSec / modeledPps: above 1 the simulation outruns the modeled hardware. */
  realTimeFactor: number;
  rssMiB: number;
  peakRssMiB: number;
}

const MAC_A = new Uint8Array([0x02, 0, 0, 0, 0, 0x0a]);
const MAC_B = new Uint8Array([0x02, 0, 0, 0, 0, 0x0b]);

/** Runs `frames` frames of one size from A's driver to B's stack and times it. */
export function measureSimSpeed(size: number, frames: number, timing?: Partial<TimingParams>): SimSpeedRecord {
  const tb = new Testbed();
  const A = tb.addMachine({ name: 'A' });
  const B = tb.addMachine({ name: 'B' });
  const na = A.addNic({ mac: MAC_A, timing });
  const nb = B.addNic({ mac: MAC_B, timing });
  const w = createPair();
  na.plug(w, 0);
  nb.plug(w, 1);
  A.loadDriver();
  B.loadDriver();
  dev_open(na.netdev);
  dev_open(nb.netdev);
  if (!tb.runUntil(() => netif_carrier_ok(na.netdev) && netif_carrier_ok(nb.netdev), 10e9)) throw new Error('no link');
  const f = new Uint8Array(size - 4);
  f.set(MAC_B, 0);
  f.set(MAC_A, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  let got = 0;
  B.kernel.net.addRxHandler(null, () => got++);
  const nd = na.netdev;
  let sent = 0;
  const warm = Math.max(1, Math.floor(frames / 10));
  const total = frames + warm;
  // The sender tops the queue up every 20 us of virtual time, like a socket with a full buffer.
  const topUp = () => {
    while (sent < total && nd.qdisc.length < 600) {
      xmitFrame(nd, f);
      sent++;
    }
    if (sent < total) tb.queue.schedule(20_000, topUp, 50);
  };
  topUp();
  while (got < warm) tb.queue.run(tb.now() + 1e6);
  const g0 = got;
  const v0 = tb.now();
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  while (got < total) {
    if (tb.queue.run(tb.now() + 1e6) === 0 && got < total) throw new Error(`stalled at ${got}/${total}`);
  }
  const wallNs = Number(process.hrtime.bigint() - t0);
  const cu = process.cpuUsage(c0);
  const n = got - g0;
  const modeledPps = n / ((tb.now() - v0) / 1e9);
  const fps = n / (wallNs / 1e9);
  return {
    size,
    frames: n,
    framesPerSec: fps,
    framesPerCpuSec: n / ((cu.user + cu.system) / 1e6),
    wallNsPerFrame: wallNs / n,
    modeledPps,
    realTimeFactor: fps / modeledPps,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

export function runSimSpeed(o: SimSpeedOptions = {}): SimSpeedRecord[] {
  return (o.sizes ?? DEFAULT_SIZES).map((size) => measureSimSpeed(size, o.frames ?? (size <= 128 ? 300_000 : 100_000), o.timing));
}

export { lineRatePps };
