// `nicsim serve` and `nicsim boot`: the model behind a vfio-user socket, and a QEMU guest on it in one command.

import { mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { requireNative, type NativeSys } from './native/index.js';
import { nativeSessionIo } from './native-io.js';
import { VfioUserDevice } from './session.js';
import { VfioUserServer } from './server.js';
import { makeBackend, openBackend, switchBackend, defaultBackendSpec, DEFAULT_GUEST_IP, type Backend } from './backends.js';
import { WallClock } from './wall-clock.js';
import { ownCpuUs, ownWakeups } from './proc-stats.js';
import { EthernetSwitch } from '../wire/switch.js';
import { PcapCapture } from '../wire/pcap.js';
import { passtAvailable } from './passt.js';
import { ensureHostTools } from './host-root.js';
import { startGuest, consoleFilter, failureTail, type GuestRun } from './guest-run.js';
import { setup, type ProvisionOptions } from './guest/provision.js';
import { RingTrace, ForwardingTrace, tracePatternMatcher, formatTrace, type TraceSink, type TraceRecord } from '../device/trace.js';
import type { TimingParams } from '../device/sim/timing.js';
import type { StatTotals } from '../device/e1000e/stats.js';
import type { WireEndpoint, WirePort } from '../wire/wire.js';
import type { PauseStats } from '../wire/pause.js';

/** Trace points always kept in the ring shown after a failed boot. */
const RING_POINTS = 'vfu_*,e1000e_link,e1000e_reset,e1000e_*_fault,e1000e_*_bad_*,e1000e_reg_unknown_*,e1000e_reg_write,e1000e_rx_overrun,e1000e_tx_oversize,e1000e_dma_blocked,pci_config_write';

/** Trace points a served NIC counts for its report, whatever --trace says. */
const COUNTED_POINTS = new Set(['e1000e_link', 'vfu_connection_closed', 'e1000e_rx_runt', 'e1000e_rx_oversize', 'e1000e_loopback_frame', 'e1000e_fc_unsupported']);

export const DEFAULT_MAC = new Uint8Array([0x52, 0x54, 0x00, 0x4e, 0x53, 0x01]);

export interface ServeOptions {
  socket: string;
  /** A backend spec (see makeBackend/openBackend) or an opened backend (a switch port...). */
  backend?: string | Backend;
  mac?: Uint8Array;
  /** Name in logs, traces and counters (default nic0). */
  name?: string;
  timing?: Partial<TimingParams>;
  /** Trace-point patterns printed as they happen. */
  trace?: string;
  /** Capture every frame in both directions into this pcap file (wall-clock ns timestamps). */
  pcap?: string;
  /** Largest capture file; frames beyond it are counted, not written. */
  pcapMaxBytes?: number;
  /** Log lines as JSON objects (one per line) instead of text. */
  json?: boolean;
  log?: (line: string) => void;
  sys?: NativeSys;
}

/** One log record, rendered as text or as a JSON line. */
export function logLine(json: boolean | undefined, type: string, nic: string | null, text: string, fields: Record<string, unknown> = {}): string {
  if (!json) return text;
  return JSON.stringify({ time: new Date().toISOString(), type, ...(nic ? { nic } : {}), ...fields, ...(text ? { msg: text } : {}) }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** A NIC model served on a vfio-user socket and plugged into a backend. */
export class ServedNic {
  readonly sys: NativeSys;
  readonly dev: VfioUserDevice;
  readonly server: VfioUserServer;
  readonly backend: Backend;
  readonly ring: RingTrace;
  readonly name: string;
  readonly capture: PcapCapture | null = null;
  private port: WirePort;
  private readonly ownsBackend: boolean;
  /** Times the MAC saw link come up (the guest driver's PHY power-down ends a run with link down). */
  linkUps = 0;
  /** MAC link when the last client's connection closed, before the reset that follows it. */
  linkAtClientExit: boolean | null = null;
  /** Receive drops and loopback the device counts only in clear-on-read registers (RUC, ROC, FCRUC) or not at all: counted from its trace points. */
  readonly rxTraced = { runts: 0, oversize: 0, looped: 0, macControlOther: 0 };

  /** Like the constructor, but also opens backends that need to wait (sockets, passt). */
  static async start(o: ServeOptions): Promise<ServedNic> {
    if (typeof o.backend === 'string' || o.backend === undefined) {
      // The backend's trace points (wire_*) go to this NIC's sink, which the constructor makes.
      const trace = new ForwardingTrace();
      const log = o.log ? (l: string) => o.log!(logLine(o.json, 'log', o.name ?? 'nic0', l)) : undefined;
      const backend = await openBackend(o.backend ?? defaultBackendSpec(), o.sys ?? requireNative(), { log, workDir: dirname(o.socket), trace });
      try {
        return new ServedNic({ ...o, backend }, true, trace);
      } catch (e) {
        backend.close();
        throw e;
      }
    }
    return new ServedNic(o);
  }

  constructor(readonly o: ServeOptions, ownsBackend?: boolean, backendTrace?: ForwardingTrace) {
    this.sys = o.sys ?? requireNative();
    this.name = o.name ?? 'nic0';
    const name = this.name;
    const rawLog = o.log ?? (() => {});
    const log = (l: string) => rawLog(logLine(o.json, 'log', name, l));
    const live = o.trace ? tracePatternMatcher(o.trace) : null;
    const liveCache = new Map<string, boolean>();
    const liveOn = (p: string) => {
      if (!live) return false;
      let v = liveCache.get(p);
      if (v === undefined) liveCache.set(p, (v = live(p)));
      return v;
    };
    let clock = () => 0;
    // Wall time since the epoch, in us, for JSON trace records (set once the device exists).
    let wallUs = () => 0;
    this.ring = new RingTrace(RING_POINTS, () => clock(), 400);
    const sink: TraceSink = {
      enabled: (p) => this.ring.enabled(p) || liveOn(p) || COUNTED_POINTS.has(p),
      emit: (p, f) => {
        if (COUNTED_POINTS.has(p)) this.count(p, f);
        if (this.ring.enabled(p)) this.ring.emit(p, f);
        if (liveOn(p)) {
          const rec = { time: clock(), point: p, fields: f } as TraceRecord;
          rawLog(o.json ? logLine(true, 'trace', name, '', { ns: rec.time, wallUs: wallUs(), point: p, fields: f }) : `trace ${formatTrace(rec)}`);
        }
      },
    };
    if (backendTrace) backendTrace.target = sink;
    this.dev = new VfioUserDevice({ mac: o.mac ?? DEFAULT_MAC, io: nativeSessionIo(this.sys), trace: sink, timing: o.timing, name });
    clock = () => this.dev.clock.now();
    // Wall-clock ns since the epoch at this.dev.clock's wall reading 0, which pcap timestamps and
    // trace records share: the system clock to a microsecond, so these line up with other
    // programs' gettimeofday stamps (QEMU's trace log, tcpdump). Worked out once, here, while
    // the server is still quiet (done lazily in the middle of a boot it came out hundreds of us
    // off): Date.now() is read until it ticks over, and that edge is tied to the device
    // clock's readings around it; an edge whose readings lie more than 20 us apart (the process
    // was preempted in between) is not trusted, the next one is taken (at most 10 ms in all).
    // performance.timeOrigin would not do: it is taken at process start and drifts from the
    // system clock after.
    let epoch: bigint | null = null;
    const epochNs0 = (): bigint => {
      if (epoch !== null) return epoch;
      const w = () => this.dev.clock.wallNs();
      let prev = Date.now();
      let best = { gap: Infinity, ms: 0, at: 0 };
      for (let edges = 0; edges < 10 && best.gap > 20_000; ) {
        const before = w();
        const ms = Date.now();
        const after = w();
        if (ms === prev) continue;
        edges++;
        if (after - before < best.gap) best = { gap: after - before, ms, at: before };
        prev = ms;
      }
      epoch = BigInt(best.ms) * 1_000_000n - BigInt(Math.round(best.at));
      return epoch;
    };
    epochNs0();
    wallUs = () => Number(epochNs0() / 1000n) + Math.round(this.dev.clock.wallNs() / 1000);
    this.ownsBackend = ownsBackend ?? typeof o.backend !== 'object';
    this.backend = typeof o.backend === 'object' ? o.backend : makeBackend(o.backend ?? defaultBackendSpec(), this.sys);
    let ep: WireEndpoint = this.dev;
    let cap: PcapCapture | null = null;
    try {
      if (o.pcap) {
        // Wall-clock ns since the epoch: under QEMU the device clock follows wall time.
        cap = new PcapCapture(o.pcap, { maxBytes: o.pcapMaxBytes, clock: () => epochNs0() + BigInt(Math.round(this.dev.clock.wallNs())) });
        ep = cap.endpoint(this.dev);
      }
      this.port = this.backend.attach(ep, { scheduler: this.dev.clock, name });
    } catch (e) {
      cap?.close();
      if (this.ownsBackend) this.backend.close();
      throw e;
    }
    this.capture = cap;
    this.dev.port = cap ? cap.port(this.port) : this.port;
    this.server = new VfioUserServer(this.sys, this.dev, o.socket, {
      onConnect: () => log(`nicsim: client connected on ${o.socket}`),
      onDisconnect: (r) => log(`nicsim: client disconnected (${r}); device reset, waiting for the next one`),
    }, sink);
    this.server.start();
    log(`nicsim: serving an 82574L (${name}, ${formatMac(o.mac ?? DEFAULT_MAC)}) on ${o.socket}, backend ${this.backend.description}${o.pcap ? `, capturing to ${o.pcap}` : ''}`);
  }

  private count(p: string, f: Record<string, unknown>): void {
    if (p === 'e1000e_link') {
      if (f['up']) this.linkUps++;
    } else if (p === 'vfu_connection_closed') {
      this.linkAtClientExit = this.dev.device.linkUp();
    } else if (p === 'e1000e_rx_runt') {
      this.rxTraced.runts++;
    } else if (p === 'e1000e_rx_oversize') {
      this.rxTraced.oversize++;
    } else if (p === 'e1000e_loopback_frame') {
      this.rxTraced.looped++;
    } else if (p === 'e1000e_fc_unsupported') {
      this.rxTraced.macControlOther++;
    }
  }

  /** Where every frame that reached the NIC went: delivered to the guest, or which drop. */
  rxAccount(): RxAccount {
    const d = this.dev.device;
    const t = d.stats.totals;
    const x = d.rx.diag;
    const fc = d.fc.diag;
    return {
      fromBackend: this.port.stats.rxFrames,
      looped: this.rxTraced.looped,
      delivered: t.rxPackets,
      drops: {
        filtered: x.filtered, vlanFiltered: x.vlanFiltered, disabled: x.disabled, missed: t.rxMissed,
        runts: this.rxTraced.runts, oversize: this.rxTraced.oversize, ingressDrops: x.ingressDrops,
        unplaceable: x.unplaceable, ringFaults: x.ringFetchFaults, loopbackIgnored: x.loopbackIgnored,
        macControl: fc.xoffReceived + fc.xonReceived + this.rxTraced.macControlOther,
      },
    };
  }

  /**
   * Link state and counters, as printed at the end of a boot and by serve on exit. `end` says
   * what became of the guest, when the caller knows (boot does).
   */
  report(end?: RunEnd): string[] {
    const d = this.dev.device;
    const t = d.stats.totals;
    const irq = this.dev.irqs;
    const cap = this.capture?.stats;
    // Once the client has gone the device is reset (link down): what counts is the link it left.
    const gone = !this.server.connected && this.linkAtClientExit !== null;
    const up = gone ? this.linkAtClientExit! : d.linkUp();
    const client = this.server.connected ? 'connected' : gone ? 'left' : 'never';
    return [
      linkLine({ up, ups: this.linkUps, end, client }),
      `device counters: rx_packets=${t.rxPackets} rx_octets=${t.rxOctets} tx_packets=${t.txPackets} tx_octets=${t.txOctets} rx_missed=${t.rxMissed} rx_no_buffers=${t.rxNoBuffers}`,
      `interrupts delivered: intx=${irq.delivered[0]} msi=${irq.delivered[1]} msix=${irq.delivered[2]} (per vector ${d.irq.counts.msix.join('/')}) dropped=${irq.dropped.reduce((a, b) => a + b, 0)}`,
      `backend ${this.backend.description}: ${Object.entries(this.backend.stats()).map(([k, v]) => `${k}=${v}`).join(' ')}`,
      ...this.pauseLine(),
      rxAccountLine(this.rxAccount()),
      `vfio-user: ${this.server.connections} connection(s), ${this.dev.stats.messages} messages (${this.dev.stats.posted} posted, ${this.dev.stats.errors} errors${this.dev.stats.recentErrors.length ? `: ${[...new Set(this.dev.stats.recentErrors)].join(', ')}` : ''}), DMA faults ${this.dev.dma.faults}; by command: ${Object.entries(this.dev.stats.byCommand).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, n]) => `${k} ${n}`).join(', ')}`,
      ...(cap ? [`capture ${this.o.pcap}: ${cap.frames} frames, ${cap.bytes} bytes${cap.dropped ? `, ${cap.dropped} not written (size limit)` : ''}`] : []),
    ];
  }

  /** What 802.3x PAUSE did to the backend (only once the NIC has sent one). */
  private pauseLine(): string[] {
    const p = (this.port as Partial<{ pause: PauseStats }>).pause;
    if (!p || p.xoff + p.xon === 0) return [];
    return [`backend paused by the NIC: ${p.xoff} XOFF, ${p.xon} XON, ${p.timeouts} pause(s) ran out, not read for ${Math.round(p.pausedMs)} ms`];
  }

  /** A snapshot of the counters the counters view shows. */
  counters(): NicCounters {
    const d = this.dev.device;
    const t = d.stats.totals;
    return {
      rxPackets: t.rxPackets, rxOctets: t.rxOctets, txPackets: t.txPackets, txOctets: t.txOctets,
      rxMissed: t.rxMissed, rxNoBuffers: t.rxNoBuffers,
      irqs: [...d.irq.counts.msix], intx: this.dev.irqs.delivered[0], msi: this.dev.irqs.delivered[1],
      messages: this.dev.stats.messages, link: d.linkUp(),
    };
  }

  stop(): void {
    this.server.stop();
    this.port.detach();
    this.capture?.close();
    if (this.ownsBackend) this.backend.close();
    this.dev.close();
  }
}

/** What the counters view samples: the device's running totals and interrupt counts. */
export interface NicCounters extends Pick<StatTotals, 'rxPackets' | 'rxOctets' | 'txPackets' | 'txOctets' | 'rxMissed' | 'rxNoBuffers'> {
  /** MSI-X messages per vector. */
  irqs: number[];
  intx: number;
  msi: number;
  messages: number;
  link: boolean;
}

/** What became of a NIC's guest: it powered itself off, or it was stopped or crashed (`how`, e.g. "was stopped at the 300 s timeout"). */
export type RunEnd = { kind: 'poweroff' } | { kind: 'stopped'; how: string };

/** What the link line of a report is made of. */
export interface LinkFacts {
  /** MAC link at the end: now, or when the client left (the device is reset after that). */
  up: boolean;
  /** Times it came up during the run. */
  ups: number;
  end?: RunEnd;
  /** The vfio-user client (QEMU): still connected, gone, or never there. */
  client?: 'connected' | 'left' | 'never';
}

/**
 * The report's link line. A link that is down because the guest powered off (its driver powers
 * the PHY down on the way) is what a good run ends with and is said so; a link down while the
 * guest still ran, or one that never came up, reads as the failure it is.
 */
export function linkLine(f: LinkFacts): string {
  const times = `${f.ups} time(s)`;
  const full = 'up, 1000 Mb/s full duplex';
  if (f.end?.kind === 'poweroff') {
    if (f.ups === 0) return 'link: DOWN, never came up before the guest powered off';
    return f.up
      ? `link: up ${times} during the run; still up when the guest powered off`
      : `link: up ${times} during the run; the guest powered off (link down at exit)`;
  }
  if (f.end?.kind === 'stopped') {
    if (f.ups === 0) return `link: DOWN, never came up (the guest ${f.end.how})`;
    return f.up
      ? `link: ${full} when the guest ${f.end.how} (came up ${times} during the run)`
      : `link: DOWN while the guest was running (it had come up ${times}); the guest ${f.end.how}`;
  }
  if (f.client === 'never') return `link${f.up ? ` now: ${full}` : ': down'}, no client has connected`;
  if (f.client === 'left') {
    if (f.ups === 0) return 'link: DOWN, never came up before the client disconnected';
    return `link: up ${times} during the run; ${f.up ? 'still up' : 'down'} when the client disconnected`;
  }
  if (f.ups === 0) return 'link now: DOWN, never came up';
  return f.up ? `link now: ${full} (came up ${times} during the run)` : `link now: DOWN while the client is connected (came up ${times} during the run)`;
}

/** Frames into a NIC's receiver and where each went (the device's totals and RX diagnostics). */
export interface RxAccount {
  /** Frames the backend handed the NIC (its rxFrames). */
  fromBackend: number;
  /** Frames the device's own transmitter sent back to its receiver (PHY or MAC loopback). */
  looped: number;
  /** Stored in guest memory (rx_packets, GPRC). */
  delivered: number;
  drops: {
    /** Destination address filter (RAR, MTA, broadcast, promiscuous). */
    filtered: number;
    vlanFiltered: number;
    /** Receiver off (RCTL.EN clear) or link down. */
    disabled: number;
    /** Packet buffer full (MPC). */
    missed: number;
    runts: number;
    oversize: number;
    /** Arriving faster than the line rate, beyond what the link partner's queue holds. */
    ingressDrops: number;
    unplaceable: number;
    ringFaults: number;
    loopbackIgnored: number;
    /** MAC Control frames (802.3x PAUSE and other opcodes): the MAC takes them, the host never sees them. */
    macControl: number;
  };
}

const DROP_NAMES: Record<keyof RxAccount['drops'], string> = {
  filtered: 'filtered by destination address',
  vlanFiltered: 'VLAN-filtered',
  disabled: 'receiver off or link down',
  missed: 'missed, packet buffer full (MPC)',
  runts: 'runts',
  oversize: 'oversize (ROC)',
  ingressDrops: 'ingress drops (faster than line rate)',
  unplaceable: 'too long for the ring\'s buffers',
  ringFaults: 'lost to descriptor DMA faults',
  loopbackIgnored: 'ignored in loopback',
  macControl: 'MAC Control (PAUSE) frames taken by the MAC',
};

/**
 * The report line that reconciles the backend's rxFrames with rx_packets: the frames delivered,
 * plus each reason the device dropped one, plus what it still holds (the packet buffer, the
 * ingress queue) or flushed with a reset, which it does not count.
 */
export function rxAccountLine(a: RxAccount): string {
  const into = a.fromBackend + a.looped;
  const head = `rx frames: ${a.fromBackend} from the backend${a.looped ? ` + ${a.looped} looped back inside the device` : ''}`;
  if (into === 0 && a.delivered === 0) return `${head}`;
  const parts = [`${a.delivered} delivered (rx_packets)`];
  let sum = a.delivered;
  for (const [k, name] of Object.entries(DROP_NAMES) as [keyof RxAccount['drops'], string][]) {
    const v = a.drops[k];
    if (v) parts.push(`${v} ${name}`);
    sum += v;
  }
  const rest = into - sum;
  if (rest > 0) parts.push(`${rest} still queued in the device or flushed by a reset`);
  return `${head} = ${parts.join(' + ')}${rest < 0 ? ` (${-rest} more counted than arrived)` : ''}`;
}

/**
 * The counters view: every `periodSec`, one line per NIC with packet and bit rates each way,
 * interrupts per second by vector, drops and vfio-user messages over the last period.
 */
export function startCountersView(nics: ServedNic[], periodSec: number, log: (l: string) => void, json = false, sw: EthernetSwitch | null = null): () => void {
  let prev = nics.map((n) => n.counters());
  let prevSw = sw ? { ...sw.stats } : null;
  let t = performance.now();
  let prevCpu = ownCpuUs();
  let prevWake = ownWakeups();
  const timer = setInterval(() => {
    const now = performance.now();
    const dt = (now - t) / 1000;
    t = now;
    const cur = nics.map((n) => n.counters());
    nics.forEach((n, i) => {
      const a = prev[i]!;
      const b = cur[i]!;
      const rate = (x: number, y: number) => (y - x) / dt;
      const fields = {
        link: b.link,
        rxPps: Math.round(rate(a.rxPackets, b.rxPackets)), rxMbps: +((rate(a.rxOctets, b.rxOctets) * 8) / 1e6).toFixed(3),
        txPps: Math.round(rate(a.txPackets, b.txPackets)), txMbps: +((rate(a.txOctets, b.txOctets) * 8) / 1e6).toFixed(3),
        irqPerSec: b.irqs.map((v, k) => Math.round(rate(a.irqs[k] ?? 0, v))),
        intxPerSec: Math.round(rate(a.intx, b.intx)), msiPerSec: Math.round(rate(a.msi, b.msi)),
        rxMissed: b.rxMissed - a.rxMissed, rxNoBuffers: b.rxNoBuffers - a.rxNoBuffers,
        msgPerSec: Math.round(rate(a.messages, b.messages)),
        totals: { rxPackets: b.rxPackets, txPackets: b.txPackets },
      };
      log(json ? logLine(true, 'counters', n.name, '', fields) :
        `counters ${n.name}: link ${b.link ? 'up' : 'down'} | rx ${fields.rxPps} pps ${fields.rxMbps} Mb/s | tx ${fields.txPps} pps ${fields.txMbps} Mb/s | ` +
        `irq/s msix ${fields.irqPerSec.join('/')} msi ${fields.msiPerSec} intx ${fields.intxPerSec} | missed ${fields.rxMissed} no-buf ${fields.rxNoBuffers} | vfio-user ${fields.msgPerSec} msg/s | total rx ${b.rxPackets} tx ${b.txPackets}`);
    });
    // The server itself: CPU, CPU per frame moved (all NICs, both ways), and how often its loop woke.
    const cpu = ownCpuUs();
    const wake = ownWakeups();
    const frames = cur.reduce((s, c, i) => s + c.rxPackets + c.txPackets - prev[i]!.rxPackets - prev[i]!.txPackets, 0);
    const srv = {
      cpuPct: +((100 * (cpu - prevCpu)) / 1e6 / dt).toFixed(1),
      usPerFrame: frames > 0 ? +((cpu - prevCpu) / frames).toFixed(2) : null,
      wakeupsPerSec: Math.round((wake - prevWake) / dt),
      framesPerSec: Math.round(frames / dt),
    };
    prevCpu = cpu;
    prevWake = wake;
    log(json ? logLine(true, 'counters', 'server', '', srv) :
      `counters server: CPU ${srv.cpuPct}% | ${srv.usPerFrame ?? '-'} us/frame over ${srv.framesPerSec} frames/s | wake-ups ${srv.wakeupsPerSec}/s`);
    prev = cur;
    if (sw && prevSw) {
      // The switch: frames per second forwarded to one port and flooded to all, per port totals.
      const st = sw.stats;
      const fields = {
        forwardedPerSec: Math.round((st.forwarded - prevSw.forwarded) / dt), floodedPerSec: Math.round((st.flooded - prevSw.flooded) / dt),
        learned: st.learned, ports: sw.portList().map((p) => ({ name: p.name, tx: p.stats.txFrames, rx: p.stats.rxFrames })),
      };
      log(json ? logLine(true, 'counters', 'switch', '', fields) :
        `counters switch: forwarded ${fields.forwardedPerSec}/s flooded ${fields.floodedPerSec}/s learned ${fields.learned} | ${fields.ports.map((p) => `${p.name} tx ${p.tx} rx ${p.rx}`).join(', ')}`);
      prevSw = { ...st };
    }
  }, periodSec * 1000);
  timer.unref();
  return () => clearInterval(timer);
}

/** One NIC of a group served by one process. */
export interface GroupNic {
  socket: string;
  mac?: Uint8Array;
  name?: string;
  /** Its own backend; without one it joins the group's switch. */
  backend?: string;
  pcap?: string;
}

export interface GroupOptions extends Omit<ServeOptions, 'socket' | 'backend' | 'mac' | 'name' | 'pcap'> {
  nics: GroupNic[];
  /** Where the switch leads (a backend spec), if anywhere. */
  uplink?: string;
  /** Port-to-port latency of the built-in switch. */
  switchLatencyNs?: number;
}

/** Several NICs in one server process; those without their own backend share a built-in switch. */
export class ServedGroup {
  readonly nics: ServedNic[] = [];
  switch: EthernetSwitch | null = null;
  uplink: Backend | null = null;
  private uplinkPort: WirePort | null = null;
  private uplinkClock: WallClock | null = null;

  static async start(o: GroupOptions): Promise<ServedGroup> {
    const g = new ServedGroup();
    const log = o.log ?? (() => {});
    try {
      const onSwitch = o.nics.filter((n) => n.backend === undefined || n.backend === 'switch');
      if (onSwitch.length > 0) {
        const clock = new WallClock();
        g.uplinkClock = clock;
        const sw = new EthernetSwitch({ latencyNs: o.switchLatencyNs ?? DEFAULT_SWITCH_LATENCY_NS, now: () => clock.wallNs(), ageNs: 300e9 });
        g.switch = sw;
        if (o.uplink && o.uplink !== 'none') {
          const up = await openBackend(o.uplink, o.sys ?? requireNative(), { log, workDir: dirname(o.nics[0]!.socket) });
          g.uplink = up;
          // The uplink is one more switch port; its far side is the backend.
          let toBackend: WirePort | null = null;
          const swPort = sw.attach({ receiveFrame: (f) => toBackend?.send(f), setCarrier: () => {} }, { scheduler: clock, name: 'uplink' });
          toBackend = up.attach({ receiveFrame: (f: Uint8Array) => { clock.sync(); swPort.send(f); }, setCarrier: () => {} }, { scheduler: clock, name: 'uplink' });
          g.uplinkPort = toBackend;
        }
        log(logLine(o.json, 'log', null, `nicsim: built-in switch, ${onSwitch.length} NIC(s), ${(o.switchLatencyNs ?? DEFAULT_SWITCH_LATENCY_NS) / 1000} us port to port${g.uplink ? `, uplink ${g.uplink.description}` : ''}`));
      }
      for (const [i, n] of o.nics.entries()) {
        const name = n.name ?? `nic${i}`;
        const backend = n.backend === undefined || n.backend === 'switch' ? switchBackend(g.switch!) : n.backend;
        g.nics.push(await ServedNic.start({ ...o, socket: n.socket, mac: n.mac ?? groupMac(i), name, backend, pcap: n.pcap }));
      }
    } catch (e) {
      g.stop();
      throw e;
    }
    return g;
  }

  /** Every NIC's report (`ends[i]`: what became of NIC i's guest, if known), then the switch's and the uplink's. */
  report(ends: (RunEnd | undefined)[] = []): string[] {
    const out: string[] = [];
    for (const [i, n] of this.nics.entries()) out.push(...n.report(ends[i]).map((l) => (this.nics.length > 1 ? `${n.name}: ${l}` : l)));
    if (this.switch) {
      out.push(`switch: ${Object.entries(this.switch.stats).map(([k, v]) => `${k}=${v}`).join(' ')}; ports ${this.switch.portList().map((p) => `${p.name} tx=${p.stats.txFrames} rx=${p.stats.rxFrames}`).join(', ')}`);
    }
    if (this.uplink) out.push(`uplink ${this.uplink.description}: ${Object.entries(this.uplink.stats()).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    return out;
  }

  stop(): void {
    for (const n of this.nics) n.stop();
    this.uplinkPort?.detach();
    this.uplink?.close();
    this.uplinkClock?.stop();
  }
}

/** Port-to-port latency of the built-in switch unless set: a cut-through LAN switch and two short cables. */
export const DEFAULT_SWITCH_LATENCY_NS = 5_000;

/** MACs of a group's NICs: the default MAC with the last byte counting up. */
export function groupMac(i: number): Uint8Array {
  const m = DEFAULT_MAC.slice();
  m[5] = (m[5]! + i) & 0xff;
  return m;
}

function formatMac(m: Uint8Array): string {
  return [...m].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export interface BootOptions extends ProvisionOptions {
  backend?: string;
  memMiB?: number;
  intMode?: number;
  guestIp?: string;
  /** Commands run in the guest after link-up; `nicsim boot` exits with their status. */
  run?: string;
  /** Interactive shell on this terminal instead of a script. */
  shell?: boolean;
  timeoutSec?: number;
  trace?: string;
  mac?: Uint8Array;
  timing?: Partial<TimingParams>;
  /** Print every console line (default true); false prints only the driver's lines, markers and script output. */
  streamConsole?: boolean;
  /**
   * MTU of the guest's interface (MTU_MIN..MTU_MAX), set before it goes up; also the host side
   * of a netns backend's TAP, and what passt advertises (its --mtu).
   */
  mtu?: number;
  /** Extra words for the guest kernel command line. */
  extraCmdline?: string[];
  keepWorkDir?: boolean;
  /** Guests, each on its own NIC of one server process; with more than one they share the built-in switch, whose uplink is `backend`. */
  guests?: number;
  switchLatencyNs?: number;
  /** Capture each NIC's frames (with several guests: FILE.N.pcap). */
  pcap?: string;
  pcapMaxBytes?: number;
  /** Print the counters view every this many seconds while the guests run. */
  countersSec?: number;
  /** Log lines as JSON objects. */
  json?: boolean;
}

export interface GuestOutcome {
  linkUp: boolean;
  runStatus: number | null;
  consoleLines: string[];
  failure?: string;
  /** Whether the guest powered itself off, or how it was stopped. */
  end: RunEnd;
}

export interface BootResult {
  ok: boolean;
  /** Status of the --run script, if it ran (the first failing guest's, with several). */
  runStatus: number | null;
  linkUp: boolean;
  /** The first guest's console. */
  consoleLines: string[];
  report: string[];
  failure?: string;
  guests: GuestOutcome[];
}

/** How the guest reaches the host side: a fixed address (netns), the gateway DHCP gave (passt), or nothing. */
export type HostSide = { kind: 'ip'; ip: string } | { kind: 'gateway'; port: number } | null;

/** The script run when none is given: show the link, talk to the host side and to the other guests, show counters. */
export function defaultScript(host: HostSide | string | null, peers: string[] = []): string {
  const h: HostSide = typeof host === 'string' ? { kind: 'ip', ip: host } : host;
  // Through passt, ICMP needs ping sockets the host may not allow: TCP to the host's loopback
  // (the gateway stands for it) is the check, answered by boot's hello server.
  const ping = h?.kind === 'ip' ? `ping -c 5 -W 3 ${h.ip.split('/')[0]} || st=1\n`
    : h?.kind === 'gateway' ? `gw=$(ip route | awk '/^default/ {print $3; exit}')
r=$(echo nicsim-guest | socat -t 5 - TCP:$gw:${h.port} 2>&1)
echo "host loopback via passt ($gw:${h.port}) said: $r"
[ "$r" = "${HELLO}" ] || st=1
` : '';
  // Other guests may still be booting: try for up to 90 s before calling a peer unreachable.
  const peerPings = peers
    .map((p) => `i=0; until ping -c 1 -W 1 ${p.split('/')[0]} >/dev/null; do i=$((i+1)); [ $i -ge 90 ] && break; done
ping -c 3 -W 2 ${p.split('/')[0]} || st=1
`)
    .join('');
  // With peers, nobody powers off while another is still pinging it: each tells every peer
  // when its own pings are done (a TCP connect to port 7777) and waits to hear that from all.
  const barrierStart = peers.length
    ? `( k=0; while [ $k -lt ${peers.length} ]; do socat -u TCP-LISTEN:7777,reuseaddr - >/dev/null 2>&1; k=$((k+1)); done; touch /tmp/peers-done ) &
`
    : '';
  const barrierEnd = peers
    .map((p) => `j=0; until echo done | socat -u - TCP:${p.split('/')[0]}:7777 2>/dev/null; do j=$((j+1)); [ $j -ge 90 ] && break; sleep 1; done
`)
    .join('') + (peers.length ? `j=0; until [ -f /tmp/peers-done ]; do j=$((j+1)); [ $j -ge 90 ] && break; sleep 1; done
` : '');
  return `st=0
export NO_COLOR=1
${barrierStart}ethtool eth0 | grep -E 'Speed|Duplex|Link detected'
ip addr show eth0
${ping}${peerPings}${barrierEnd}ip -s link show eth0
grep eth0 /proc/interrupts
exit $st
`;
}

/** What boot's TCP server on the host's loopback answers (the passt check). */
export const HELLO = 'nicsim-host-hello';

/** A TCP server on 127.0.0.1 that answers every connection with HELLO: what a guest behind passt reaches. */
export async function helloServer(): Promise<{ port: number; connections: () => number; close: () => void }> {
  const { createServer } = await import('node:net');
  let n = 0;
  const srv = createServer((sock) => {
    n++;
    sock.on('error', () => {});
    sock.end(`${HELLO}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  srv.unref();
  const addr = srv.address();
  return { port: typeof addr === 'object' && addr ? addr.port : 0, connections: () => n, close: () => srv.close() };
}

/** Guest addresses on the switch when the uplink is not passt (no DHCP there): 169.254.10.2, .3, ... */
export function groupGuestIp(i: number): string {
  return `169.254.10.${2 + i}/16`;
}

function pcapName(file: string, i: number, n: number): string {
  if (n === 1) return file;
  const m = /^(.*?)(\.pcap)?$/.exec(file)!;
  return `${m[1]}.${i}${m[2] ?? '.pcap'}`;
}

/** Smallest MTU: IPv4's minimum (ETH_MIN_MTU). */
export const MTU_MIN = 68;
/** Largest MTU Linux's e1000e allows on an 82574L: its 9234-byte frames less header and FCS. */
export const MTU_MAX = 9212;

/**
 * The backend spec with the MTU added where the backend itself takes one: passt, which
 * advertises it by DHCP and NDP and sizes its TCP segments to the guest by it (passt -m/--mtu),
 * unless the spec already sets it. A TAP's MTU is an interface setting (see boot); QEMU's stream
 * and dgram sockets carry frames up to 69632 bytes, so nothing applies there.
 */
export function backendSpecWithMtu(spec: string, mtu: number | undefined): string {
  if (mtu === undefined) return spec;
  const [kind, args] = spec.split(/:(.*)/s, 2) as [string, string | undefined];
  if (kind !== 'passt') return spec;
  const extra = args ? args.split(',').filter((a) => a.length > 0) : [];
  if (extra.some((a) => a === '-m' || /^-m\d/.test(a) || a === '--mtu' || a.startsWith('--mtu='))) return spec;
  return `passt:${[...extra, '--mtu', String(mtu)].join(',')}`;
}

/** Provisions (if needed), serves the model, boots the guest(s) on it, and reports. */
export async function boot(o: BootOptions = {}): Promise<BootResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  const n = o.guests ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 8) throw new Error(`guests: 1..8, not ${n}`);
  if (o.mtu !== undefined && (!Number.isInteger(o.mtu) || o.mtu < MTU_MIN || o.mtu > MTU_MAX)) {
    throw new Error(`mtu: ${MTU_MIN}..${MTU_MAX} (the e1000e driver's range on an 82574L), not ${o.mtu}`);
  }
  if (n > 1 && o.shell) throw new Error('--shell works with one guest');
  if (n > 1 && o.backend?.startsWith('passt')) throw new Error('passt serves one guest (one address by DHCP): with --guests, use netns, tap:NAME, a socket backend or none as the switch\'s uplink');
  const { qemu, guest } = await setup(o);
  if (o.backend === undefined || o.backend.startsWith('passt')) {
    // passt (the default backend) and tshark come with the same provisioning step.
    try {
      await ensureHostTools(o);
    } catch (e) {
      if (o.backend !== undefined) throw e;
      log(`nicsim: note: passt could not be provisioned (${(e as Error).message}); using another backend`);
    }
  }
  const work = mkdtempSync(join(tmpdir(), 'nicsim-boot-'));
  const spec = backendSpecWithMtu(o.backend ?? defaultBootBackendSpec(o), o.mtu);
  const sockets = Array.from({ length: n }, (_, i) => join(work, n === 1 ? 'vfio-user.sock' : `vfio-user-${i}.sock`));
  let group: ServedGroup;
  try {
    group = await ServedGroup.start({
      nics: sockets.map((socket, i) => ({ socket, mac: n === 1 ? o.mac ?? DEFAULT_MAC : groupMac(i), name: n === 1 ? 'nic0' : `nic${i}`, backend: n === 1 ? spec : undefined, pcap: o.pcap ? pcapName(o.pcap, i, n) : undefined })),
      uplink: n > 1 ? spec : undefined,
      switchLatencyNs: o.switchLatencyNs,
      timing: o.timing, trace: o.trace, log, json: o.json, pcapMaxBytes: o.pcapMaxBytes,
    });
  } catch (e) {
    rmSync(work, { recursive: true, force: true });
    throw e;
  }
  const front = n === 1 ? group.nics[0]!.backend : group.uplink;
  const netns = front?.netns;
  const passt = front?.dhcp === true;
  if (o.mtu !== undefined) {
    try {
      if (netns) execFileSync('ip', ['-n', netns.name, 'link', 'set', 'dev', netns.ifname, 'mtu', String(o.mtu)], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      group.stop();
      rmSync(work, { recursive: true, force: true });
      throw new Error(`setting MTU ${o.mtu} on ${netns!.ifname} in netns ${netns!.name}: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`);
    }
    const hostSide = netns ? `, and ${netns.ifname} in netns ${netns.name}` : passt ? ', and passt (--mtu)' : spec.startsWith('tap:') ? `; set ${spec.slice(4)}'s own MTU yourself (ip link set ${spec.slice(4)} mtu ${o.mtu})` : '';
    log(logLine(o.json, 'log', null, `nicsim: MTU ${o.mtu} on the guest's eth0${hostSide}`));
  }
  const hello = passt && !o.shell && o.run === undefined ? await helloServer() : null;
  const host: HostSide = netns ? { kind: 'ip', ip: netns.hostIp } : hello ? { kind: 'gateway', port: hello.port } : null;
  const ips = Array.from({ length: n }, (_, i) => (o.guestIp && n === 1 ? o.guestIp : passt && n === 1 ? 'dhcp' : n > 1 || netns ? (n === 1 ? DEFAULT_GUEST_IP : groupGuestIp(i)) : undefined));
  const stopCounters = o.countersSec ? startCountersView(group.nics, o.countersSec, log, o.json, group.switch) : null;
  const runs: GuestRun[] = [];
  const stream = o.streamConsole ?? true;
  const failures: (string | undefined)[] = Array.from({ length: n }, () => undefined);
  /** How a guest that did not power itself off ended (timeout, QEMU's exit status). */
  const stops: (string | undefined)[] = Array.from({ length: n }, () => undefined);
  const onSignal = () => void Promise.all(runs.map((r) => r.kill()));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    log(`nicsim: booting ${n > 1 ? `${n} guests, ` : ''}${guest.kernelVersion} with QEMU ${qemu.version} (TCG), e1000e.IntMode=${o.intMode ?? 2}`);
    for (let i = 0; i < n; i++) {
      const peers = n > 1 ? ips.filter((_, j) => j !== i).map((x) => x!) : [];
      const script = o.shell ? undefined : o.run ?? defaultScript(host, peers);
      const prefix = n > 1 ? `guest${i}: ` : 'guest: ';
      // Quiet: kernel lines only from the NIC driver and reports of kernel trouble; the rest all.
      const shown = consoleFilter(!stream);
      runs.push(startGuest({
        qemu, guest, nic: { kind: 'vfio-user', socket: sockets[i]! }, workDir: work, memMiB: o.memMiB, intMode: o.intMode,
        guestIp: ips[i], mtu: o.mtu, script, interactive: o.shell, extraCmdline: o.extraCmdline, name: n > 1 ? `guest${i}` : undefined,
        onLine: o.shell ? undefined : (l) => {
          if (shown(l)) log(logLine(o.json, 'console', `guest${i}`, o.json ? '' : `${prefix}${l}`, { line: l }));
        },
      }));
    }
    const timeout = (o.timeoutSec ?? 300) * 1000;
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeout).unref());
    await Promise.all(runs.map(async (run, i) => {
      const r = await Promise.race([run.exited, timer]);
      if (r === 'timeout') {
        failures[i] = `timed out after ${timeout / 1000} s`;
        stops[i] = `was stopped at the ${timeout / 1000} s timeout`;
        await run.kill();
      } else if (r.code !== 0) {
        failures[i] = `QEMU exited with ${r.code ?? r.signal}${run.qemuStderr ? `: ${run.qemuStderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
        stops[i] = `was stopped (QEMU exited with ${r.code ?? r.signal})`;
      }
    }));
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    stopCounters?.();
  }
  const outcomes: GuestOutcome[] = runs.map((run, i) => {
    const lines = run.lines;
    const linkUp = lines.some((l) => /NIC Link is Up 1000 Mbps Full Duplex/.test(l));
    const exitLine = [...lines].reverse().find((l) => l.startsWith('NICSIM-RUN-EXIT='));
    const runStatus = exitLine ? Number(exitLine.split('=')[1]) : null;
    let failure = failures[i];
    if (!failure && !o.shell) {
      if (!linkUp) failure = 'the guest driver never reported link up';
      else if (runStatus === null) failure = 'the guest did not finish its script';
    }
    // QEMU exits 0 (-no-reboot) on a power-off and on a reboot alike: a panic with panic=-1 reboots.
    const stop = stops[i] ?? (!o.shell && runStatus === null ? 'ended without finishing its script' : undefined);
    const end: RunEnd = stop ? { kind: 'stopped', how: stop } : { kind: 'poweroff' };
    return { linkUp, runStatus, consoleLines: lines, failure, end };
  });
  const report = group.report(outcomes.map((g) => g.end));
  log('');
  for (const l of report) log(logLine(o.json, 'report', null, l));
  outcomes.forEach((g, i) => {
    if (!g.failure) return;
    const who = n > 1 ? `guest${i}` : 'guest';
    log('');
    log(`nicsim: boot FAILED${n > 1 ? ` (${who})` : ''}: ${g.failure}`);
    const { firstTrouble, tail } = failureTail(g.consoleLines, 40);
    if (firstTrouble) {
      log(`--- first kernel error, line ${firstTrouble.line} of ${g.consoleLines.length} of the ${who} console ---`);
      for (const l of firstTrouble.lines) log(l);
    }
    log(`--- last 40 lines of the ${who} console ---`);
    for (const l of tail) log(l);
    if (runs[i]?.qemuStderr) {
      log('--- QEMU stderr ---');
      log(runs[i]!.qemuStderr.trim().split('\n').slice(-20).join('\n'));
    }
    log('--- last 40 server trace records ---');
    for (const rec of group.nics[i]!.ring.tail().slice(-40)) log(formatTrace(rec));
  });
  if (hello) log(logLine(o.json, 'report', null, `host loopback hello server: ${hello.connections()} connection(s) from the guest through passt`));
  hello?.close();
  group.stop();
  if (!o.keepWorkDir) rmSync(work, { recursive: true, force: true });
  const firstBad = outcomes.find((g) => g.failure || g.runStatus !== 0) ?? outcomes[0]!;
  const ok = outcomes.every((g) => !g.failure && (o.shell || g.runStatus === 0));
  return { ok, runStatus: firstBad.runStatus, linkUp: outcomes.every((g) => g.linkUp), consoleLines: outcomes[0]!.consoleLines, report, failure: outcomes.map((g, i) => (g.failure ? (n > 1 ? `guest${i}: ${g.failure}` : g.failure) : null)).filter(Boolean).join('; ') || undefined, guests: outcomes };
}

/** passt where it is provisioned (no root needed, DHCP for the guest), else a namespace as root, else nowhere. */
export function defaultBootBackendSpec(o: { guests?: number } = {}): string {
  if ((o.guests ?? 1) === 1 && passtAvailable()) return 'passt';
  return process.getuid?.() === 0 ? 'netns' : 'none';
}
