/**
 * The flow-control benchmark: one guest (stock e1000e) on our model over vfio-user, a TAP in a
 * namespace of our own, `iperf3 -R` (host -> guest TCP) for N seconds four times in the same
 * boot, in the order on, off, off, on (ABBA, so warm-up and drift cancel): "on" is 802.3x flow
 * control as autonegotiated (Rx/Tx), "off" follows `ethtool -A eth0 autoneg off rx off tx off`.
 * Per mode, summed over its two runs, from the guest's `ethtool -S` deltas:
 * frames received, rx_missed_errors (the 82574L's MPC: frames its packet buffer dropped),
 * rx_no_buffer_count, XOFF/XON the NIC sent; and iperf3's receiver goodput. Printed side by side.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServedNic } from '../qemu/boot.js';
import { startGuest, type GuestRun } from '../qemu/guest-run.js';
import { setup } from '../qemu/guest/provision.js';
import { hostToolArgv } from '../qemu/host-tools.js';
import { NsProc } from './guest.js';

const HOST_IP = '169.254.10.1';
const GUEST_IP = '169.254.10.2';
const IPERF_PORT = 5201;
const STATS = ['rx_packets', 'rx_missed_errors', 'rx_no_buffer_count', 'tx_flow_control_xoff', 'tx_flow_control_xon', 'rx_flow_control_xoff'];

export interface FlowBenchOptions {
  seconds?: number;
  kernelPackage?: string;
  log?: (l: string) => void;
}

export interface FlowRun {
  /** 'on' (autonegotiated Rx/Tx) or 'off' (ethtool -A ... rx off tx off). */
  flowControl: 'on' | 'off';
  /** The driver's view after the change (ethtool -a). */
  pause: string;
  goodputMbps: number;
  rxFrames: number;
  rxMissed: number;
  rxNoBuffer: number;
  xoffSent: number;
  xonSent: number;
  /** rx_missed_errors / frames received, in %. */
  missedPct: number;
}

/** Runs in ABBA order; a tag is the mode and its round. */
const ROUNDS = ['on1', 'off1', 'off2', 'on2'] as const;

/** The guest's script: per round, flow control set, stats, iperf3 -R, stats. */
export function flowScript(seconds: number): string {
  const run = (tag: string) => `
ethtool -a eth0 | tr '\\n' ' ' | sed 's/^/FLOW-${tag}-PAUSE /'; echo
ethtool -S eth0 | grep -wE '${STATS.join('|')}' | sed 's/^/FLOW-${tag}-BEFORE /'
timeout -s KILL $((N + 25)) iperf3 -c $H -p ${IPERF_PORT} -t $N -R -f m --connect-timeout 5000 2>&1 | grep -E 'sender|receiver|error|unable' | sed 's/^/FLOW-${tag}-IPERF /'
ethtool -S eth0 | grep -wE '${STATS.join('|')}' | sed 's/^/FLOW-${tag}-AFTER /'`;
  const set = (on: boolean) =>
    on
      ? `ethtool -A eth0 autoneg on rx on tx on
i=0; while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
sleep 2`
      : `ethtool -A eth0 autoneg off rx off tx off
sleep 2`;
  let prev = true; // the link came up with flow control autonegotiated
  const body = ROUNDS.map((tag) => {
    const on = tag.startsWith('on');
    const s = `${on !== prev ? set(on) : ''}${run(tag)}`;
    prev = on;
    return s;
  }).join('\n');
  return `export NO_COLOR=1
H=${HOST_IP}
N=${seconds}
echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
i=0; until ping -c 1 -W 1 $H >/dev/null; do i=$((i+1)); [ $i -ge 30 ] && break; done
${body}
`;
}

function stats(lines: string[], prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of lines.filter((x) => x.startsWith(prefix))) {
    const m = /(\w+):\s*(\d+)/.exec(l.slice(prefix.length));
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** Parses one mode's two rounds (summed; goodput averaged); NaN where a figure is missing. */
export function parseFlowMode(lines: string[], mode: 'on' | 'off'): FlowRun {
  const rs = ROUNDS.filter((t) => t.startsWith(mode)).map((t) => parseFlowRun(lines, t));
  const sum = (f: (r: FlowRun) => number) => rs.reduce((a, r) => a + f(r), 0);
  const rxFrames = sum((r) => r.rxFrames);
  const rxMissed = sum((r) => r.rxMissed);
  return {
    flowControl: mode,
    pause: rs[0]!.pause,
    goodputMbps: sum((r) => r.goodputMbps) / rs.length,
    rxFrames,
    rxMissed,
    rxNoBuffer: sum((r) => r.rxNoBuffer),
    xoffSent: sum((r) => r.xoffSent),
    xonSent: sum((r) => r.xonSent),
    missedPct: (100 * rxMissed) / (rxFrames + rxMissed),
  };
}

/** Parses one round's lines; NaN where a figure is missing. */
export function parseFlowRun(lines: string[], tag: string): FlowRun {
  const b = stats(lines, `FLOW-${tag}-BEFORE `);
  const a = stats(lines, `FLOW-${tag}-AFTER `);
  const d = (k: string) => (a[k] ?? NaN) - (b[k] ?? NaN);
  const iperf = lines.filter((l) => l.startsWith(`FLOW-${tag}-IPERF `));
  const recv = iperf.find((l) => /receiver/.test(l)) ?? iperf.find((l) => /sender/.test(l));
  const mbps = recv ? Number(/([\d.]+)\s+Mbits\/sec/.exec(recv)?.[1] ?? NaN) : NaN;
  const pause = (lines.find((l) => l.startsWith(`FLOW-${tag}-PAUSE `)) ?? '').slice(`FLOW-${tag}-PAUSE `.length);
  const rxFrames = d('rx_packets');
  const rxMissed = d('rx_missed_errors');
  return {
    flowControl: tag.startsWith('on') ? 'on' : 'off',
    pause: [/RX:\s+(\w+)/.exec(pause)?.[1], /TX:\s+(\w+)/.exec(pause)?.[1]].map((x) => x ?? '?').join('/'),
    goodputMbps: mbps,
    rxFrames,
    rxMissed,
    rxNoBuffer: d('rx_no_buffer_count'),
    xoffSent: d('tx_flow_control_xoff'),
    xonSent: d('tx_flow_control_xon'),
    missedPct: (100 * rxMissed) / (rxFrames + rxMissed),
  };
}

/** Boots the guest on the model once and measures host -> guest TCP with flow control on and off. */
export async function runFlowBench(o: FlowBenchOptions = {}): Promise<FlowRun[]> {
  const log = o.log ?? (() => {});
  const seconds = o.seconds ?? 10;
  const env = await setup({ kernelPackage: o.kernelPackage, log });
  const work = mkdtempSync(join(tmpdir(), 'nicsim-flowbench-'));
  const served = new ServedNic({ socket: join(work, 'vfu.sock'), backend: `netns:${HOST_IP}/16`, log: (l) => log(`  ${l}`) });
  const ns = served.backend.netns!.name;
  const iperf = new NsProc(ns, [...hostToolArgv('usr/bin/iperf3'), '-s', '-p', String(IPERF_PORT), '--forceflush']);
  let g: GuestRun | null = null;
  try {
    await iperf.waitLine(/Server listening/, 15_000);
    g = startGuest({ qemu: env.qemu, guest: env.guest, nic: { kind: 'vfio-user', socket: join(work, 'vfu.sock') }, workDir: work, guestIp: `${GUEST_IP}/16`, script: flowScript(seconds), name: 'flow' });
    const exit = await Promise.race([g.exited, new Promise<null>((r) => setTimeout(() => r(null), (ROUNDS.length * seconds + 300) * 1000).unref())]);
    if (!exit) log('  the guest did not finish in time');
    const link = g.lines.find((l) => /NIC Link is Up/.test(l));
    if (link) log(`  guest: ${link.replace(/^.*\] /, '')}`);
    for (const l of served.report()) log(`  ${l}`);
    for (const t of ROUNDS) {
      const r = parseFlowRun(g.lines, t);
      log(`  round ${t}: ${r.goodputMbps} Mbit/s, ${r.rxFrames} frames, missed ${r.rxMissed}, XOFF sent ${r.xoffSent}`);
    }
    const runs = [parseFlowMode(g.lines, 'on'), parseFlowMode(g.lines, 'off')];
    const fc = served.dev.device.fc.diag;
    log(`  device: XOFF sent ${fc.xoffSent}, XON sent ${fc.xonSent} over the whole boot`);
    if (runs.some((r) => !Number.isFinite(r.goodputMbps))) for (const l of g.lines.slice(-30)) log(`  | ${l}`);
    return runs;
  } finally {
    await g?.kill();
    await iperf.stop();
    served.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** The side-by-side table, with on/off ratios. */
export function formatFlowTable(rs: FlowRun[]): string[] {
  const [on, off] = [rs.find((r) => r.flowControl === 'on'), rs.find((r) => r.flowControl === 'off')];
  const row = (name: string, f: (r: FlowRun) => number, digits = 0) => {
    const v = (r?: FlowRun) => (r && Number.isFinite(f(r)) ? f(r).toFixed(digits) : 'n/a');
    const ratio = on && off && f(off) ? (f(on) / f(off)).toFixed(2) + 'x' : '';
    return `${name.padEnd(28)} ${v(on).padStart(12)} ${v(off).padStart(12)} ${ratio.padStart(8)}`;
  };
  return [
    `${'iperf3 -R, 2 rounds each'.padEnd(28)} ${'flow ctl on'.padStart(12)} ${'flow ctl off'.padStart(12)} ${'on/off'.padStart(8)}`,
    `${'ethtool -a RX/TX'.padEnd(28)} ${(on?.pause ?? '?').padStart(12)} ${(off?.pause ?? '?').padStart(12)}`,
    row('goodput (Mbit/s)', (r) => r.goodputMbps, 0),
    row('frames received', (r) => r.rxFrames),
    row('rx_missed_errors', (r) => r.rxMissed),
    row('missed (% of arrived)', (r) => r.missedPct, 3),
    row('rx_no_buffer_count', (r) => r.rxNoBuffer),
    row('XOFF sent', (r) => r.xoffSent),
    row('XON sent', (r) => r.xonSent),
  ];
}
