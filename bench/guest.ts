/**
 * The guest comparison benchmark: one Linux guest (same kernel, same initramfs, same script),
 * booted once per NIC kind, measured against the same host-side network namespace setup
 * (169.254.10.1/16 on a TAP in a namespace of our own, 169.254.10.2/16 in the guest):
 *
 * - `model`: our 82574L behind vfio-user (a ServedNic with the netns backend), the guest's e1000e;
 * - `qemu-e1000e`: QEMU's own 82574L emulation (`-device e1000e`), the guest's e1000e;
 * - `virtio-net`: QEMU's `virtio-net-pci` (userspace, no vhost), the guest's virtio_net.
 *
 * Figures, in one boot per kind:
 * - boot to link: wall ms from spawning QEMU to the guest console's NICSIM-LINK-UP;
 * - ping RTT: busybox ping guest -> host (20 pings, 0.2 s apart; smoke: 5);
 * - TCP: iperf3 in the guest as the client of an iperf3 server in the namespace, `-t N` both
 *   ways (`-R` for host -> guest) after 2 s left out (`-O 2`, slow start; not in smoke runs);
 *   the receiver's summary rate;
 * - RX pps: a Node dgram loop in the namespace sends 18-byte UDP datagrams (60-byte frames) to a
 *   closed port of the guest as fast as it can (about 260 kpps on this machine into a TAP with no
 *   reader); the guest waits for the flood to arrive, then takes the rx_packets delta over N
 *   seconds of its own uptime;
 * - TX pps: pktgen in the guest (count 0, 60-byte frames, to the host side's MAC and address),
 *   started in the background and stopped through pgctrl after N seconds; pktgen's own pps
 *   (falling back to the tx_packets delta).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { TimingParams } from '../device/sim/timing.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServedNic } from '../qemu/boot.js';
import { startGuest, type GuestRun } from '../qemu/guest-run.js';
import { setup, type GuestImage, type NicSpec, type QemuInstall } from '../qemu/guest/provision.js';
import { hostToolArgv } from '../qemu/host-tools.js';
import { ownCpuUs, ownWakeups, procCpuUs, qemuThreadCpuUs } from '../qemu/proc-stats.js';

export type GuestBenchKind = 'model' | 'qemu-e1000e' | 'virtio-net';

export interface GuestBenchOptions {
  kinds?: GuestBenchKind[];
  /** Seconds per measurement window (default 10; smoke: 1). */
  seconds?: number;
  /** A few-second version for npm test. */
  smoke?: boolean;
  log?: (l: string) => void;
  kernelPackage?: string;
  /** Caps the host-side UDP generator (frames/s); default: as fast as it can. */
  floodPps?: number;
  /** Timing overrides for the model (`--unpaced` is { paceLink: false }). */
  timing?: Partial<TimingParams>;
}

/** What one phase of the run cost the processes involved. */
export interface PhaseCost {
  /** Wall seconds the phase lasted. */
  seconds: number;
  /** CPU of the process serving the model (the benchmark's own Node process), % of one core. */
  serverCpuPct: number;
  /** QEMU's CPU, % of one core (vCPU and I/O threads together). */
  qemuCpuPct: number;
  /** Of that, its vCPU threads (the guest running), and the rest (main loop: device back ends, TAP, irqfds). */
  qemuVcpuPct: number;
  qemuOtherPct: number;
  /** Times the server's event-loop thread went to sleep and was woken, per second. */
  wakeupsPerSec: number;
  /** Frames the model moved (both ways) in the phase. */
  frames: number;
  /** Server CPU microseconds per frame moved. */
  serverUsPerFrame: number;
}

/** The phases costed: TCP each way, the host flood, pktgen, and an idle guest. */
export const COST_PHASES = ['tcptx', 'tcprx', 'rx', 'tx', 'idle'] as const;
export type CostPhase = (typeof COST_PHASES)[number];

export interface GuestBenchResult {
  kind: string;
  bootToLinkMs: number;
  /** pktgen in the guest: packets sent per second. */
  txPps: number;
  /** Host-side generator: frames the guest received per second. */
  rxPps: number;
  pingRttMs: { avg: number; min: number; max: number };
  /** guest -> host */
  tcpTxMbps: number;
  /** host -> guest */
  tcpRxMbps: number;
  /** CPU and wake-ups per phase (server figures for the model only). */
  cost?: Partial<Record<CostPhase, PhaseCost>>;
}

export const ALL_KINDS: GuestBenchKind[] = ['model', 'qemu-e1000e', 'virtio-net'];

export const HOST_IP = '169.254.10.1';
export const GUEST_IP = '169.254.10.2';
export const PREFIX = 16;
/** Locally administered MAC given to the host side's TAP in every run, so the script can name it. */
export const HOST_MAC = '02:4e:53:b0:00:01';
const IPERF_PORT = 5201;
const FLOOD_PORT = 9;

interface Plan {
  seconds: number;
  pings: number;
  pingInterval: number;
  /** From QEMU start to NICSIM-LINK-UP. */
  bootTimeoutMs: number;
  /** 0: as fast as it can. */
  floodPps: number;
  timing?: Partial<TimingParams>;
}

let seq = 0;

/** The host-side UDP generator (run with `node -e`): dst, port, max seconds; prints SENT <n> <pps> on exit. */
const FLOOD_SOURCE = `
const dgram = require('node:dgram');
const [dst, port, secs, rate] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4]) || 0];
const s = dgram.createSocket('udp4');
const buf = Buffer.alloc(18);
let sent = 0, errors = 0, done = false;
const t0 = Date.now();
const finish = () => {
  if (done) return;
  done = true;
  const dt = (Date.now() - t0) / 1000;
  console.log('SENT ' + sent + ' ' + Math.round(sent / dt) + ' errors ' + errors);
  process.exit(0);
};
process.on('SIGTERM', finish);
process.on('SIGINT', finish);
s.on('error', () => errors++);
s.bind(0, () => {
  console.log('FLOODING');
  const burst = () => {
    const now = Date.now();
    if (now - t0 >= secs * 1000) return finish();
    const due = t0 + (sent / rate) * 1000;
    if (rate && now < due) return void setTimeout(burst, due - now);
    const n = rate ? 32 : 256;
    for (let i = 0; i < n; i++) s.send(buf, port, dst);
    sent += n;
    setImmediate(burst);
  };
  burst();
});
`;

/** The guest's /run.sh: every figure as BENCH-* lines, each step bounded by busybox timeout. */
export function guestScript(p: Plan): string {
  const N = p.seconds;
  // TCP figures are steady state: iperf3 leaves out its first 2 s (slow start, the window
  // growing), which cost 1-2% of a 10 s average at 1 GbE. Smoke windows are too short for it.
  const omit = N >= 5 ? '-O 2' : '';
  return `export NO_COLOR=1
H=${HOST_IP}
N=${N}
HMAC=${HOST_MAC}
S=/sys/class/net/eth0/statistics
echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
up() { cut -d' ' -f1 /proc/uptime; }
noports() { awk '/^Udp:/ { if (h) print $3; h = 1 }' /proc/net/snmp; }

# the host side may still be getting its address (QEMU's TAPs are moved in after QEMU starts)
i=0
until ping -c 1 -W 1 $H > /dev/null 2>&1; do
  i=$((i + 1))
  [ $i -ge 30 ] && { echo "BENCH-ERR host $H unreachable"; break; }
done

echo BENCH-STEP ping
timeout -s KILL ${Math.ceil(p.pings * p.pingInterval) + 15} ping -c ${p.pings} -i ${p.pingInterval} -W 2 $H 2>&1 | sed 's/^/BENCH-PING /'

echo BENCH-STEP tcptx
timeout -s KILL $((N + 27)) iperf3 -c $H -p ${IPERF_PORT} -t $N ${omit} -f m --connect-timeout 5000 2>&1 | grep -E 'sender|receiver|error|unable|Abort|libgcc' | sed 's/^/BENCH-TCPTX /'

echo BENCH-STEP tcprx
sleep 0.5
timeout -s KILL $((N + 27)) iperf3 -c $H -p ${IPERF_PORT} -t $N ${omit} -f m -R --connect-timeout 5000 2>&1 | grep -E 'sender|receiver|error|unable|Abort|libgcc' | sed 's/^/BENCH-TCPRX /'

echo BENCH-STEP rx
b=$(cat $S/rx_packets)
echo BENCH-RX-GO
i=0
while [ $(($(cat $S/rx_packets) - b)) -lt 200 ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
r0=$(cat $S/rx_packets); d0=$(cat $S/rx_dropped); m0=$(cat $S/rx_missed_errors); n0=$(noports); t0=$(up)
sleep $N
r1=$(cat $S/rx_packets); t1=$(up); d1=$(cat $S/rx_dropped); m1=$(cat $S/rx_missed_errors); n1=$(noports)
echo "BENCH-RX $r0 $t0 $r1 $t1 noports $n0 $n1 dropped $d0 $d1 missed $m0 $m1"
echo BENCH-RX-DONE
sleep 0.5

echo BENCH-STEP tx
for ko in $(cat /etc/nicsim/modules.pktgen); do insmod /lib/modules/$(uname -r)/$ko || echo "BENCH-ERR insmod $ko failed"; done
PG=/proc/net/pktgen
pg() { echo "$2" > $PG/$1 || echo "BENCH-ERR pktgen $1: $2"; }
if [ -e $PG/pgctrl ]; then
  pg kpktgend_0 rem_device_all
  pg kpktgend_0 "add_device eth0"
  pg eth0 "count 0"
  pg eth0 "pkt_size 60"
  pg eth0 "delay 0"
  pg eth0 "dst $H"
  pg eth0 "dst_mac $HMAC"
  pg eth0 "udp_dst_min ${FLOOD_PORT}"
  pg eth0 "udp_dst_max ${FLOOD_PORT}"
  x0=$(cat $S/tx_packets); t0=$(up)
  (echo start > $PG/pgctrl) &
  sleep $N
  echo stop > $PG/pgctrl
  wait
  x1=$(cat $S/tx_packets); t1=$(up)
  grep -E 'pps|Result' $PG/eth0 | sed 's/^/BENCH-TXRES /'
  echo "BENCH-TX $x0 $t0 $x1 $t1"
else
  echo "BENCH-ERR no /proc/net/pktgen"
fi
echo BENCH-STEP idle
sleep $N
echo BENCH-STEP end
ip -s link show eth0 | sed 's/^/BENCH-IPS /'
exit 0
`;
}

/**
 * QEMU's `-netdev tap` creates its TAP in our namespace: wait for it, move it into the
 * benchmark's namespace and give it the host side's MAC and address there.
 */
export async function moveQemuTap(g: GuestRun, tap: string, ns: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!existsSync(`/sys/class/net/${tap}`)) {
    if (g.exitInfo) throw new Error(`QEMU exited before creating ${tap}: ${g.qemuStderr.trim().split('\n').slice(-3).join(' | ')}`);
    if (Date.now() > deadline) throw new Error(`QEMU did not create TAP ${tap} within 20 s`);
    await sleep(20);
  }
  ipCmd(['link', 'set', tap, 'netns', ns]);
  ipCmd(['-n', ns, 'link', 'set', tap, 'address', HOST_MAC]);
  ipCmd(['-n', ns, 'addr', 'add', `${HOST_IP}/${PREFIX}`, 'dev', tap]);
  ipCmd(['-n', ns, 'link', 'set', tap, 'up']);
}

export function ipCmd(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

export function tryIp(args: string[]): void {
  try {
    ipCmd(args);
  } catch {
    /* best effort */
  }
}

/** A process in the namespace whose output lines can be awaited. */
export class NsProc {
  readonly lines: string[] = [];
  readonly proc: ChildProcess;
  readonly exited: Promise<void>;
  private partial = '';
  constructor(ns: string, argv: string[]) {
    this.proc = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (d: Buffer): void => {
      const parts = (this.partial + d.toString()).split('\n');
      this.partial = parts.pop() ?? '';
      this.lines.push(...parts);
    };
    this.proc.stdout!.on('data', onData);
    this.proc.stderr!.on('data', onData);
    this.exited = new Promise((r) => {
      this.proc.on('exit', () => {
        if (this.partial) this.lines.push(this.partial);
        this.partial = '';
        r();
      });
      this.proc.on('error', (e) => {
        this.lines.push(String(e));
        r();
      });
    });
  }
  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }
  async waitLine(re: RegExp, timeoutMs: number): Promise<string> {
    const t0 = Date.now();
    for (;;) {
      const l = this.lines.find((x) => re.test(x));
      if (l !== undefined) return l;
      if (!this.running) throw new Error(`host process exited without a line matching ${re}: ${this.lines.slice(-5).join(' | ')}`);
      if (Date.now() - t0 > timeoutMs) throw new Error(`host process: no line matching ${re} within ${timeoutMs / 1000} s`);
      await sleep(50);
    }
  }
  /** SIGTERM, then SIGKILL after a grace period. */
  async stop(graceMs = 2000): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface CostSample {
  wallNs: number;
  serverCpuUs: number;
  qemuCpuUs: number;
  qemuThreads: { vcpu: number; other: number };
  wakeups: number;
  frames: number;
}

function costSample(qemuPid: number | undefined, served: ServedNic | null): CostSample {
  const t = served?.dev.device.stats.totals;
  return {
    wallNs: Number(process.hrtime.bigint()),
    serverCpuUs: ownCpuUs(),
    qemuCpuUs: procCpuUs(qemuPid),
    qemuThreads: qemuThreadCpuUs(qemuPid),
    wakeups: ownWakeups(),
    frames: t ? t.rxPackets + t.txPackets : NaN,
  };
}

/** The cost of the interval between two samples (server figures only when it served the model). */
export function phaseCost(a: CostSample, b: CostSample, served: boolean): PhaseCost {
  const s = (b.wallNs - a.wallNs) / 1e9;
  const frames = b.frames - a.frames;
  const cpu = b.serverCpuUs - a.serverCpuUs;
  return {
    seconds: s,
    serverCpuPct: served ? (100 * cpu) / 1e6 / s : NaN,
    qemuCpuPct: (100 * (b.qemuCpuUs - a.qemuCpuUs)) / 1e6 / s,
    qemuVcpuPct: (100 * (b.qemuThreads.vcpu - a.qemuThreads.vcpu)) / 1e6 / s,
    qemuOtherPct: (100 * (b.qemuThreads.other - a.qemuThreads.other)) / 1e6 / s,
    wakeupsPerSec: served ? (b.wakeups - a.wakeups) / s : NaN,
    frames: served ? frames : NaN,
    serverUsPerFrame: served && frames > 0 ? cpu / frames : NaN,
  };
}

function nanResult(kind: string): GuestBenchResult {
  return { kind, bootToLinkMs: NaN, txPps: NaN, rxPps: NaN, pingRttMs: { avg: NaN, min: NaN, max: NaN }, tcpTxMbps: NaN, tcpRxMbps: NaN };
}

function lineWith(lines: string[], prefix: string): string[] {
  return lines.filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));
}

/** iperf3's summary: the receiver's rate (the sender's if no receiver line). */
function iperfMbps(lines: string[]): number {
  const rate = (tag: string): number => {
    const l = lines.find((x) => new RegExp(`\\b${tag}\\s*$`).test(x.trim()));
    const m = l ? /([\d.]+)\s+Mbits\/sec/.exec(l) : null;
    return m ? Number(m[1]) : NaN;
  };
  const r = rate('receiver');
  return Number.isFinite(r) ? r : rate('sender');
}

/** Fills in the figures from the console; returns the reasons for those missing. */
export function parseGuestLines(lines: string[], r: GuestBenchResult): string[] {
  const why: string[] = [];
  const ping = lineWith(lines, 'BENCH-PING ').join('\n');
  const rt = /min\/avg\/max = ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(ping);
  if (rt) r.pingRttMs = { min: Number(rt[1]), avg: Number(rt[2]), max: Number(rt[3]) };
  else why.push(`ping: no round-trip summary (${ping.split('\n').slice(-2).join(' | ') || 'no output'})`);

  for (const [tag, key] of [['BENCH-TCPTX ', 'tcpTxMbps'], ['BENCH-TCPRX ', 'tcpRxMbps']] as const) {
    const ls = lineWith(lines, tag);
    r[key] = iperfMbps(ls);
    if (!Number.isFinite(r[key])) why.push(`${key}: no iperf3 summary (${ls.join(' | ') || 'no output'})`);
  }

  const rx = lineWith(lines, 'BENCH-RX ').at(-1)?.trim().split(/\s+/).map(Number);
  if (rx && rx.length >= 4 && rx[3]! > rx[1]!) r.rxPps = (rx[2]! - rx[0]!) / (rx[3]! - rx[1]!);
  else why.push(`rxPps: no BENCH-RX line`);

  const res = lineWith(lines, 'BENCH-TXRES ').join(' ');
  const pps = /(\d+)pps/.exec(res);
  const tx = lineWith(lines, 'BENCH-TX ').at(-1)?.trim().split(/\s+/).map(Number);
  if (pps && Number(pps[1]) > 0) r.txPps = Number(pps[1]);
  else if (tx && tx.length >= 4 && tx[3]! > tx[1]!) r.txPps = (tx[2]! - tx[0]!) / (tx[3]! - tx[1]!);
  else why.push(`txPps: no pktgen result (${res || 'no output'})`);
  for (const e of lineWith(lines, 'BENCH-ERR ')) why.push(`guest: ${e}`);
  return why;
}

interface Env {
  qemu: QemuInstall;
  guest: GuestImage;
  /** Extra files for the guest's initramfs. */
  files: Record<string, Uint8Array>;
}

async function benchKind(kind: GuestBenchKind, env: Env, plan: Plan, log: (l: string) => void): Promise<GuestBenchResult> {
  const r = nanResult(kind);
  const n = seq++;
  const work = mkdtempSync(join(tmpdir(), `nicsim-guestbench-${kind}-`));
  let served: ServedNic | null = null;
  let ns: string | null = null;
  let ownNs = false;
  let tap = '';
  let run: GuestRun | null = null;
  let iperf: NsProc | null = null;
  let flood: NsProc | null = null;
  const failures: string[] = [];
  const step = (name: string): number => {
    const line = run?.lines.findIndex((l) => l.includes(`BENCH-STEP ${name}`)) ?? -1;
    return line < 0 ? 0 : line;
  };
  try {
    let nic: NicSpec;
    let driver: string;
    if (kind === 'model') {
      served = new ServedNic({ socket: join(work, 'vfu.sock'), backend: `netns:${HOST_IP}/${PREFIX}`, log: (l) => log(`  ${l}`), timing: plan.timing });
      ns = served.backend.netns!.name;
      tap = served.backend.netns!.ifname;
      ipCmd(['-n', ns, 'link', 'set', tap, 'address', HOST_MAC]);
      tryIp(['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${tap}.disable_ipv6=1`]);
      nic = { kind: 'vfio-user', socket: join(work, 'vfu.sock') };
      driver = 'e1000e';
    } else {
      ns = `nicsim-gb-${process.pid}-${n}`;
      tap = `gb${process.pid % 100000}q${n}`.slice(0, 15);
      ipCmd(['netns', 'add', ns]);
      ownNs = true;
      ipCmd(['-n', ns, 'link', 'set', 'lo', 'up']);
      tryIp(['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
      nic = { kind, netdev: ['-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`] };
      driver = kind === 'qemu-e1000e' ? 'e1000e' : 'virtio_net,virtio_pci';
    }

    iperf = new NsProc(ns, [...hostToolArgv('usr/bin/iperf3'), '-s', '-p', String(IPERF_PORT), '--forceflush']);
    await iperf.waitLine(/Server listening/, 15_000);

    let linkAt = 0;
    run = startGuest({
      qemu: env.qemu,
      guest: env.guest,
      nic,
      workDir: work,
      guestIp: `${GUEST_IP}/${PREFIX}`,
      script: guestScript(plan),
      files: env.files,
      extraCmdline: [`nicsim.driver=${driver}`],
      name: kind,
      onLine: (l) => {
        if (!linkAt && l.includes('NICSIM-LINK-UP')) linkAt = Date.now();
      },
    });
    const g = run;
    const t0 = Date.now(); // startGuest composes the initrd, then spawns QEMU just before returning

    if (kind !== 'model') {
      await moveQemuTap(g, tap, ns);
    }

    const linkLine = await g.waitFor(/NICSIM-LINK-UP|NICSIM-LINK-TIMEOUT/, plan.bootTimeoutMs);
    if (!linkLine.includes('NICSIM-LINK-UP')) throw new Error('the guest reported NICSIM-LINK-TIMEOUT');
    r.bootToLinkMs = (linkAt || Date.now()) - t0;
    log(`  ${kind}: link up ${(r.bootToLinkMs / 1000).toFixed(1)} s after QEMU start`);

    const N = plan.seconds;
    // A cost sample at each step boundary: a phase's cost is the difference to the next one.
    const samples = new Map<string, CostSample>();
    const waitStep = async (name: string, timeoutMs: number): Promise<void> => {
      await g.waitFor(new RegExp(`BENCH-STEP ${name}\\b`), timeoutMs);
      samples.set(name, costSample(g.pid, served));
    };
    const costOf = (from: string, to: string): void => {
      const a = samples.get(from);
      const b = samples.get(to);
      if (a && b) (r.cost ??= {})[from as CostPhase] = phaseCost(a, b, served !== null);
    };
    await waitStep('ping', 60_000);
    await waitStep('tcptx', Math.ceil(plan.pings * plan.pingInterval) * 1000 + 30_000);
    await waitStep('tcprx', (N + 37) * 1000);
    await waitStep('rx', (N + 37) * 1000);
    await g.waitFor(/BENCH-RX-GO/, 20_000, step('rx'));
    flood = new NsProc(ns, [process.execPath, '-e', FLOOD_SOURCE, GUEST_IP, String(FLOOD_PORT), String(N + 25), String(plan.floodPps)]);
    try {
      await g.waitFor(/BENCH-RX-DONE/, (N + 30) * 1000, step('rx'));
    } finally {
      await flood.stop();
      const sent = flood.lines.find((l) => l.startsWith('SENT '));
      if (sent) log(`  ${kind}: host UDP generator: ${sent.slice(5)} (sent, pps over its run, send errors)`);
    }
    await waitStep('tx', 30_000);
    await waitStep('idle', (N + 60) * 1000);
    await waitStep('end', (N + 30) * 1000);
    for (const [a, b] of [['tcptx', 'tcprx'], ['tcprx', 'rx'], ['rx', 'tx'], ['tx', 'idle'], ['idle', 'end']]) costOf(a!, b!);
    await g.waitFor(/NICSIM-RUN-EXIT=/, 30_000, step('end'));
  } catch (e) {
    failures.push(e instanceof Error ? e.message : String(e));
  } finally {
    await flood?.stop();
    await run?.kill();
    await iperf?.stop();
    const lines = run?.lines ?? [];
    failures.push(...parseGuestLines(lines, r));
    if (ns) {
      try {
        const st = execFileSync('ip', ['-n', ns, '-s', 'link', 'show'], { encoding: 'utf8', timeout: 10_000 });
        if (st.includes(tap)) log(`  ${kind}: host side: ${st.split('\n').filter((l) => /^\s+\d/.test(l)).map((l) => l.trim().replace(/\s+/g, ' ')).slice(-2).join(' / ')}`);
      } catch {
        /* gone */
      }
    }
    if (served) {
      for (const l of served.report()) log(`  ${kind}: ${l}`);
      served.stop();
    }
    if (ownNs && ns) tryIp(['netns', 'del', ns]);
    for (const l of lines.filter((x) => /^BENCH-(RX|TX|TXRES) /.test(x))) log(`  ${kind}: ${l}`);
    const ips = lineWith(lines, 'BENCH-IPS ');
    if (ips.length) log(`  ${kind}: guest ip -s link: ${ips.map((l) => l.trim()).join(' / ')}`);
    if (failures.length) {
      log(`  ${kind}: FAILED figures (NaN): ${failures.join('; ')}`);
      if (run?.qemuStderr.trim()) log(`  ${kind}: QEMU stderr: ${run.qemuStderr.trim().split('\n').slice(-5).join(' | ')}`);
      log(`  ${kind}: --- last 30 console lines ---`);
      for (const l of lines.slice(-30)) log(`  | ${l}`);
    }
    rmSync(work, { recursive: true, force: true });
  }
  return r;
}

/** Boots the same guest once per NIC kind and measures each; never throws for a failed figure (NaN). */
export async function runGuestBench(o: GuestBenchOptions = {}): Promise<GuestBenchResult[]> {
  const log = o.log ?? ((l: string) => console.log(l));
  const smoke = o.smoke ?? false;
  const plan: Plan = {
    seconds: o.seconds ?? (smoke ? 1 : 10),
    pings: smoke ? 5 : 20,
    pingInterval: smoke ? 0.1 : 0.2,
    bootTimeoutMs: smoke ? 60_000 : 180_000,
    floodPps: o.floodPps ?? 0,
    timing: o.timing,
  };
  const env = { ...(await setup({ kernelPackage: o.kernelPackage, log })), files: {} };
  const kinds = o.kinds ?? ALL_KINDS;
  log(`guest bench: kernel ${env.guest.kernelVersion}, QEMU ${env.qemu.version} (TCG), ${plan.seconds} s windows, ${plan.pings} pings, kinds ${kinds.join(' ')}`);
  const out: GuestBenchResult[] = [];
  for (const k of kinds) {
    const t0 = Date.now();
    log(`guest bench: ${k}`);
    out.push(await benchKind(k, env, plan, log));
    log(`guest bench: ${k} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Table

function fmt(v: number, digits: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return 'n/a';
  const q = a / b;
  return `${q >= 10 ? q.toFixed(1) : q >= 0.1 ? q.toFixed(2) : q.toPrecision(2)}x`;
}

/** Rows = figures; columns = model | qemu e1000e | virtio-net | model/e1000e | model/virtio-net. */
export function formatGuestTable(results: GuestBenchResult[]): string[] {
  const by = (k: string): GuestBenchResult | undefined => results.find((r) => r.kind === k);
  const rows: [string, (r: GuestBenchResult) => number, number][] = [
    ['boot to link (ms)', (r) => r.bootToLinkMs, 0],
    ['TX pps (pktgen in guest)', (r) => r.txPps, 0],
    ['RX pps (host UDP flood)', (r) => r.rxPps, 0],
    ['ping RTT avg (ms)', (r) => r.pingRttMs.avg, 3],
    ['ping RTT min (ms)', (r) => r.pingRttMs.min, 3],
    ['ping RTT max (ms)', (r) => r.pingRttMs.max, 3],
    ['TCP guest->host (Mbit/s)', (r) => r.tcpTxMbps, 1],
    ['TCP host->guest (Mbit/s)', (r) => r.tcpRxMbps, 1],
    ['server us/frame, TCP g->h', (r) => r.cost?.tcptx?.serverUsPerFrame ?? NaN, 2],
    ['server us/frame, TCP h->g', (r) => r.cost?.tcprx?.serverUsPerFrame ?? NaN, 2],
    ['server us/frame, RX flood', (r) => r.cost?.rx?.serverUsPerFrame ?? NaN, 2],
    ['server us/frame, pktgen', (r) => r.cost?.tx?.serverUsPerFrame ?? NaN, 2],
    ['server CPU %, TCP g->h', (r) => r.cost?.tcptx?.serverCpuPct ?? NaN, 1],
    ['QEMU CPU %, TCP g->h', (r) => r.cost?.tcptx?.qemuCpuPct ?? NaN, 1],
    ['server CPU %, TCP h->g', (r) => r.cost?.tcprx?.serverCpuPct ?? NaN, 1],
    ['QEMU CPU %, TCP h->g', (r) => r.cost?.tcprx?.qemuCpuPct ?? NaN, 1],
    ['server CPU %, RX flood', (r) => r.cost?.rx?.serverCpuPct ?? NaN, 1],
    ['QEMU vCPU %, RX flood', (r) => r.cost?.rx?.qemuVcpuPct ?? NaN, 1],
    ['QEMU other threads %, RX flood', (r) => r.cost?.rx?.qemuOtherPct ?? NaN, 1],
    ['server wake-ups/s, TCP g->h', (r) => r.cost?.tcptx?.wakeupsPerSec ?? NaN, 0],
    ['server CPU %, idle guest', (r) => r.cost?.idle?.serverCpuPct ?? NaN, 2],
    ['server wake-ups/s, idle', (r) => r.cost?.idle?.wakeupsPerSec ?? NaN, 0],
    ['QEMU CPU %, idle guest', (r) => r.cost?.idle?.qemuCpuPct ?? NaN, 1],
  ];
  const header = ['figure', 'model', 'qemu e1000e', 'virtio-net', 'model/e1000e', 'model/virtio-net'];
  const m = by('model');
  const e = by('qemu-e1000e');
  const v = by('virtio-net');
  const body = rows.map(([name, get, d]) => {
    const val = (r: GuestBenchResult | undefined): number => (r ? get(r) : NaN);
    const cell = (r: GuestBenchResult | undefined): string => (r ? fmt(get(r), d) : '-');
    return [name, cell(m), cell(e), cell(v), ratio(val(m), val(e)), ratio(val(m), val(v))];
  });
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const line = (row: string[]): string => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
}
