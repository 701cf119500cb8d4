// `nicsim serve` and `nicsim boot`: the model behind a vfio-user socket, and a QEMU guest on it in one command.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireNative, type NativeSys } from './native/index.js';
import { nativeSessionIo } from './native-io.js';
import { VfioUserDevice } from './session.js';
import { VfioUserServer } from './server.js';
import { makeBackend, defaultBackendSpec, DEFAULT_GUEST_IP, type Backend } from './backends.js';
import { startGuest, type GuestRun } from './guest-run.js';
import { setup, type ProvisionOptions } from './guest/provision.js';
import { RingTrace, tracePatternMatcher, formatTrace, type TraceSink, type TraceRecord } from '../device/trace.js';
import type { TimingParams } from '../device/sim/timing.js';
import type { WirePort } from '../wire/wire.js';

/** Trace points always kept in the ring shown after a failed boot. */
const RING_POINTS = 'vfu_*,e1000e_link,e1000e_reset,e1000e_*_fault,e1000e_*_bad_*,e1000e_reg_unknown_*,e1000e_reg_write,e1000e_rx_overrun,e1000e_tx_oversize,e1000e_dma_blocked,pci_config_write';

export const DEFAULT_MAC = new Uint8Array([0x52, 0x54, 0x00, 0x4e, 0x53, 0x01]);

export interface ServeOptions {
  socket: string;
  backend?: string;
  mac?: Uint8Array;
  timing?: Partial<TimingParams>;
  /** Trace-point patterns printed as they happen. */
  trace?: string;
  log?: (line: string) => void;
  sys?: NativeSys;
}

/** A NIC model served on a vfio-user socket and plugged into a backend. */
export class ServedNic {
  readonly sys: NativeSys;
  readonly dev: VfioUserDevice;
  readonly server: VfioUserServer;
  readonly backend: Backend;
  readonly ring: RingTrace;
  private port: WirePort;
  /** Times the MAC saw link come up (the guest driver's PHY power-down ends a run with link down). */
  linkUps = 0;

  constructor(readonly o: ServeOptions) {
    this.sys = o.sys ?? requireNative();
    const log = o.log ?? (() => {});
    const live = o.trace ? tracePatternMatcher(o.trace) : null;
    const liveCache = new Map<string, boolean>();
    const liveOn = (p: string) => {
      if (!live) return false;
      let v = liveCache.get(p);
      if (v === undefined) liveCache.set(p, (v = live(p)));
      return v;
    };
    let clock = () => 0;
    this.ring = new RingTrace(RING_POINTS, () => clock(), 400);
    const sink: TraceSink = {
      enabled: (p) => this.ring.enabled(p) || liveOn(p),
      emit: (p, f) => {
        if (p === 'e1000e_link' && f['up']) this.linkUps++;
        if (this.ring.enabled(p)) this.ring.emit(p, f);
        if (liveOn(p)) log(`trace ${formatTrace({ time: clock(), point: p, fields: f } as TraceRecord)}`);
      },
    };
    this.dev = new VfioUserDevice({ mac: o.mac ?? DEFAULT_MAC, io: nativeSessionIo(this.sys), trace: sink, timing: o.timing });
    clock = () => this.dev.clock.now();
    this.backend = makeBackend(o.backend ?? defaultBackendSpec(), this.sys);
    this.port = this.backend.attach(this.dev);
    this.dev.port = this.port;
    this.server = new VfioUserServer(this.sys, this.dev, o.socket, {
      onConnect: () => log(`nicsim: client connected on ${o.socket}`),
      onDisconnect: (r) => log(`nicsim: client disconnected (${r}); device reset, waiting for the next one`),
    }, sink);
    this.server.start();
    log(`nicsim: serving an 82574L on ${o.socket}, backend ${this.backend.description}`);
  }

  /** Link state and counters, as printed at the end of a boot and by serve on exit. */
  report(): string[] {
    const d = this.dev.device;
    const t = d.stats.totals;
    const irq = this.dev.irqs;
    return [
      `link now: ${d.linkUp() ? 'up, 1000 Mb/s full duplex' : 'down'}${this.linkUps ? ` (came up ${this.linkUps} time(s) during the run)` : ''}`,
      `device counters: rx_packets=${t.rxPackets} rx_octets=${t.rxOctets} tx_packets=${t.txPackets} tx_octets=${t.txOctets} rx_missed=${t.rxMissed} rx_no_buffers=${t.rxNoBuffers}`,
      `interrupts delivered: intx=${irq.delivered[0]} msi=${irq.delivered[1]} msix=${irq.delivered[2]} (per vector ${d.irq.counts.msix.join('/')}) dropped=${irq.dropped.reduce((a, b) => a + b, 0)}`,
      `backend ${this.backend.description}: ${Object.entries(this.backend.stats()).map(([k, v]) => `${k}=${v}`).join(' ')}`,
      `vfio-user: ${this.server.connections} connection(s), ${this.dev.stats.messages} messages (${this.dev.stats.posted} posted, ${this.dev.stats.errors} errors${this.dev.stats.recentErrors.length ? `: ${[...new Set(this.dev.stats.recentErrors)].join(', ')}` : ''}), DMA faults ${this.dev.dma.faults}`,
    ];
  }

  stop(): void {
    this.server.stop();
    this.port.detach();
    this.backend.close();
    this.dev.close();
  }
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
  /** Extra words for the guest kernel command line. */
  extraCmdline?: string[];
  keepWorkDir?: boolean;
}

export interface BootResult {
  ok: boolean;
  /** Status of the --run script, if it ran. */
  runStatus: number | null;
  linkUp: boolean;
  consoleLines: string[];
  report: string[];
  failure?: string;
}

/** The script run when none is given: show the link, talk to the host side, show counters. */
export function defaultScript(hostIp: string | null): string {
  const ping = hostIp ? `ping -c 5 -W 3 ${hostIp.split('/')[0]} || st=1\n` : '';
  return `st=0
export NO_COLOR=1
ethtool eth0 | grep -E 'Speed|Duplex|Link detected'
ip addr show eth0
${ping}ip -s link show eth0
grep eth0 /proc/interrupts
exit $st
`;
}

/** Provisions (if needed), serves the model, boots a guest on it, and reports. */
export async function boot(o: BootOptions = {}): Promise<BootResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  const { qemu, guest } = await setup(o);
  const work = mkdtempSync(join(tmpdir(), 'nicsim-boot-'));
  const socket = join(work, 'vfio-user.sock');
  const served = new ServedNic({ socket, backend: o.backend, mac: o.mac, timing: o.timing, trace: o.trace, log });
  const hostIp = served.backend.netns?.hostIp ?? null;
  const script = o.shell ? undefined : o.run ?? defaultScript(hostIp);
  let run: GuestRun | null = null;
  const stream = o.streamConsole ?? true;
  let failure: string | undefined;
  const onSignal = () => void run?.kill();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    log(`nicsim: booting ${guest.kernelVersion} with QEMU ${qemu.version} (TCG), e1000e.IntMode=${o.intMode ?? 2}`);
    run = startGuest({
      qemu, guest, nic: { kind: 'vfio-user', socket }, workDir: work, memMiB: o.memMiB, intMode: o.intMode,
      guestIp: o.guestIp ?? (hostIp ? DEFAULT_GUEST_IP : undefined), script, interactive: o.shell, extraCmdline: o.extraCmdline,
      onLine: o.shell ? undefined : (l) => {
        // Kernel messages start with "[ time]": in quiet mode only the NIC driver's are shown.
        if (stream || /e1000e|eth0/.test(l) || !l.startsWith('[')) log(`guest: ${l}`);
      },
    });
    const timeout = (o.timeoutSec ?? 300) * 1000;
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeout).unref());
    const r = await Promise.race([run.exited, timer]);
    if (r === 'timeout') {
      failure = `timed out after ${timeout / 1000} s`;
      await run.kill();
    } else if (r.code !== 0) {
      failure = `QEMU exited with ${r.code ?? r.signal}${run.qemuStderr ? `: ${run.qemuStderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  const lines = run?.lines ?? [];
  const linkUp = lines.some((l) => /NIC Link is Up 1000 Mbps Full Duplex/.test(l));
  const exitLine = [...lines].reverse().find((l) => l.startsWith('NICSIM-RUN-EXIT='));
  const runStatus = exitLine ? Number(exitLine.split('=')[1]) : null;
  if (!failure && !o.shell) {
    if (!linkUp) failure = 'the guest driver never reported link up';
    else if (runStatus === null) failure = 'the guest did not finish its script';
  }
  const report = served.report();
  log('');
  for (const l of report) log(l);
  if (failure) {
    log('');
    log(`nicsim: boot FAILED: ${failure}`);
    log('--- last 40 lines of the guest console ---');
    for (const l of lines.slice(-40)) log(l);
    if (run?.qemuStderr) {
      log('--- QEMU stderr ---');
      log(run.qemuStderr.trim().split('\n').slice(-20).join('\n'));
    }
    log('--- last 40 server trace records ---');
    for (const rec of served.ring.tail().slice(-40)) log(formatTrace(rec));
  }
  served.stop();
  if (!o.keepWorkDir) rmSync(work, { recursive: true, force: true });
  return { ok: !failure && (o.shell || runStatus === 0), runStatus, linkUp, consoleLines: lines, report, failure };
}
