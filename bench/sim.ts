// How fast we simulate: frames per wall second through the whole in-process loop (driver, device, wire, device, driver).

import { Testbed } from '../testbed/testbed.js';
import { createPair } from '../wire/wire.js';
import { dev_open, netif_carrier_ok, xmitFrame } from '../kernel-glue/netdev.js';
import type { TimingParams } from '../device/sim/timing.js';
import { DEFAULT_SIZES, lineRatePps } from './modeled.js';
import { EventQueue } from '../device/sim/event-queue.js';
import { E1000eDevice } from '../device/e1000e/device.js';
import * as D from '../device/e1000e/defs.js';
import { NULL_TRACE } from '../device/trace.js';
import type { DeviceHost, EventHandle } from '../device/host.js';
import type { GuestAddr } from '../device/types.js';
import type { WirePort } from '../wire/wire.js';

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
  /** The two device models alone (no driver, no kernel layer), frames per wall second. */
  deviceOnlyFramesPerSec?: number;
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
  return (o.sizes ?? DEFAULT_SIZES).map((size) => {
    const frames = o.frames ?? (size <= 128 ? 300_000 : 100_000);
    const r = measureSimSpeed(size, frames, o.timing);
    r.deviceOnlyFramesPerSec = measureDeviceOnly(size, frames, o.timing).framesPerSec;
    return r;
  });
}

export { lineRatePps };

/**
 * The device models alone: two 82574Ls on a wire with a host that only re-arms the rings (no
 * kernel layer, no driver). With the whole-loop figure this splits the per-frame cost between
 * the device models and the driver plus kernel side.
 */
export function measureDeviceOnly(size: number, frames: number, timing?: Partial<TimingParams>): { framesPerSec: number; wallNsPerFrame: number } {
  const q = new EventQueue();
  const RAM = 1 << 22;
  const ram = new Uint8Array(RAM);
  const dv = new DataView(ram.buffer);
  const mkHost = (name: string): DeviceHost & { port: WirePort | null } => ({
    port: null,
    trace: NULL_TRACE,
    dmaRead: (a: GuestAddr, dst: Uint8Array) => {
      if (a + dst.length > RAM) return false;
      for (let i = 0; i < dst.length; i++) dst[i] = ram[a + i]!;
      return true;
    },
    dmaWrite: (a: GuestAddr, src: Uint8Array) => {
      if (a + src.length > RAM) return false;
      ram.set(src, a);
      return true;
    },
    signalMsix: () => {},
    signalMsi: () => {},
    setIntx: () => {},
    sendFrame(f: Uint8Array) {
      this.port?.send(f);
    },
    now: () => q.now(),
    schedule: (d: number, cb: () => void, p?: number) => q.schedule(d, cb, p),
    cancel: (h: EventHandle) => q.cancel(h),
    ...{ name },
  });
  const ha = mkHost('A');
  const hb = mkHost('B');
  const a = E1000eDevice.create(ha, { mac: MAC_A, timing: { ...timing, autonegNs: 1000 } });
  const b = E1000eDevice.create(hb, { mac: MAC_B, timing: { ...timing, autonegNs: 1000 } });
  const w = createPair();
  ha.port = w.attach(0, a);
  hb.port = w.attach(1, b);
  const N = 256;
  const TX = 0x10000;
  const RX = 0x20000;
  const FRAME = 0x30000;
  const RXBUF = 0x40000;
  ram.set((() => {
    const f = new Uint8Array(size - 4);
    f.set(MAC_B, 0);
    f.set(MAC_A, 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    return f;
  })(), FRAME);
  for (let i = 0; i < N; i++) {
    dv.setUint32(TX + i * 16, FRAME, true);
    dv.setUint32(TX + i * 16 + 8, (D.TXD_CMD_EOP | D.TXD_CMD_IFCS | D.TXD_CMD_RS | (size - 4)) >>> 0, true);
    dv.setUint32(RX + i * 16, RXBUF + i * 2048, true);
  }
  for (const [d, isTx] of [[a, true], [b, false]] as const) {
    d.configWrite(4, 2, 6);
    const wr = (o: number, v: number) => d.barWrite(0, o, 4, v);
    wr(D.REG.CTRL, D.CTRL_SLU);
    if (isTx) {
      wr(D.REG.TDBAL0, TX);
      wr(D.REG.TDLEN0, N * 16);
      wr(D.REG.TCTL, D.TCTL_EN | D.TCTL_PSP);
    } else {
      wr(D.REG.RFCTL, D.RFCTL_EXTEN);
      wr(D.REG.RDBAL0, RX);
      wr(D.REG.RDLEN0, N * 16);
      wr(D.REG.RCTL, D.RCTL_EN | D.RCTL_SECRC | D.RCTL_BAM);
      wr(D.REG.RDT0, N - 1);
    }
  }
  q.run(q.now() + 1e6); // autonegotiation
  let txTail = 0;
  const step = () => {
    // Keep 128 frames queued; give every stored RX buffer straight back.
    const tdh = a.barRead(0, D.REG.TDH0, 4);
    const queued = (txTail - tdh + N) % N;
    if (queued < 128) {
      txTail = (txTail + (200 - queued)) % N;
      a.barWrite(0, D.REG.TDT0, 4, txTail);
    }
    const rdh = b.barRead(0, D.REG.RDH0, 4);
    b.barWrite(0, D.REG.RDT0, 4, (rdh + N - 1) % N);
  };
  const got = () => b.stats.totals.rxPackets;
  const warm = Math.floor(frames / 10);
  while (got() < warm) {
    step();
    q.run(q.now() + 20_000);
  }
  const g0 = got();
  const t0 = process.hrtime.bigint();
  while (got() < g0 + frames) {
    step();
    q.run(q.now() + 20_000);
  }
  const ns = Number(process.hrtime.bigint() - t0);
  const n = got() - g0;
  return { framesPerSec: n / (ns / 1e9), wallNsPerFrame: ns / n };
}
