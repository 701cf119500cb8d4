// Where a ping's time goes: every hop of guest -> host -> guest timed on one clock, on our model and on QEMU's e1000e.
/**
 * One boot per NIC kind, the same guest and host-side namespace as `bench guest`; the guest pings
 * the host. Each hop is stamped with the system clock:
 * - QEMU's own trace points (`-trace`, log backend, `-msg timestamp=on`): for the model, the
 *   vCPU's MMIO write of TDT leaving for the server (vfio_region_write) and QEMU's main loop
 *   taking the interrupt eventfd (vfio_msi_interrupt); for QEMU's e1000e, its register writes
 *   (e1000e_core_write), the TX descriptor it fetches (e1000e_tx_descr), the frame it receives
 *   from its TAP (e1000e_rx_receive_iov) and the MSI-X message it sends (e1000e_irq_msix_notify_vec);
 * - the server's trace records for the model, with their wall time (`wallUs`): the TDT write
 *   handled, the frame handed to the TAP, the reply written into the ring, the MSI-X eventfd write.
 * Per ping: TDT write -> frame out -> reply in -> interrupt sent -> the guest driver's next
 * register write (the vCPU took the interrupt and ran the driver), and the rest of the guest's
 * RTT (its stack from ping to TDT and from NAPI to ping). Medians over the pings are printed.
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TimingParams } from '../device/sim/timing.js';
import { ServedNic } from '../qemu/boot.js';
import { startGuest, type GuestRun } from '../qemu/guest-run.js';
import { setup, type NicSpec } from '../qemu/guest/provision.js';
import { GUEST_IP, HOST_IP, HOST_MAC, PREFIX, ipCmd, moveQemuTap, tryIp } from './guest.js';

export type LatencyKind = 'model' | 'qemu-e1000e';
export const LATENCY_KINDS: LatencyKind[] = ['model', 'qemu-e1000e'];

export interface LatencyOptions {
  pings?: number;
  /** Seconds between pings (busybox ping -i). */
  interval?: number;
  kinds?: LatencyKind[];
  kernelPackage?: string;
  timing?: Partial<TimingParams>;
  log?: (line: string) => void;
}

/** One hop's median and spread over the matched pings, microseconds. */
export interface Hop {
  name: string;
  medianUs: number;
  p10Us: number;
  p90Us: number;
}

export interface LatencyResult {
  kind: LatencyKind;
  /** Pings the guest reported, and how many of them every hop was found for. */
  pings: number;
  matched: number;
  /** The guest's own RTT figures (ms): median over the pings, min, max. */
  rttMs: { median: number; min: number; max: number };
  hops: Hop[];
  /** Why figures are missing, if they are. */
  problems: string[];
}

/** A timestamped event: wall time in microseconds since the epoch, what, and a number that goes with it. */
export interface Stamp {
  us: number;
  what: string;
  arg: number;
}

const TDT = 0x3818;
/** ICMP echo with busybox ping's 56 data bytes: 14 + 20 + 8 + 56. */
const PING_FRAME = 98;
/** A hop chain not complete within this is not one ping's. */
const MAX_CHAIN_US = 200_000;

const QEMU_EVENTS: Record<LatencyKind, string[]> = {
  model: ['vfio_region_write', 'vfio_msi_interrupt'],
  'qemu-e1000e': ['e1000e_core_write', 'e1000e_tx_descr', 'e1000e_rx_receive_iov', 'e1000e_irq_msix_notify_vec'],
};

/**
 * Parses QEMU's trace log (log backend with -msg timestamp=on): `2026-12-03T14:41:17.817764Z
 * event args...`. Register writes become `W` with the offset (BAR 0 region or e1000e index), TX
 * descriptors `TXD` with their length, `RXF` a frame from the TAP, `MSI` with the vector.
 */
export function parseQemuTrace(text: string): Stamp[] {
  const out: Stamp[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})Z (\w+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const us = Date.parse(`${m[1]}Z`) * 1000 + Number(m[2]);
    const ev = m[3]!;
    const rest = m[4]!;
    let r: RegExpExecArray | null;
    if (ev === 'vfio_region_write' && (r = /region0\+0x([0-9a-f]+),/.exec(rest))) out.push({ us, what: 'W', arg: parseInt(r[1]!, 16) });
    else if (ev === 'vfio_msi_interrupt' && (r = /vector (\d+)/.exec(rest))) out.push({ us, what: 'MSI', arg: Number(r[1]) });
    else if (ev === 'e1000e_core_write' && (r = /register 0x([0-9a-f]+)/i.exec(rest))) out.push({ us, what: 'W', arg: parseInt(r[1]!, 16) });
    // "0x1ef7ac02 : 8b000062 0": the descriptor's address, then its lower word (command, length).
    else if (ev === 'e1000e_tx_descr' && (r = /^\S+ : ([0-9a-f]+) /i.exec(rest))) out.push({ us, what: 'TXD', arg: parseInt(r[1]!, 16) & 0xffff }); else if (ev === 'e1000e_rx_receive_iov') out.push({ us, what: 'RXF', arg: 0 });
    else if (ev === 'e1000e_irq_msix_notify_vec' && (r = /vector (?:0x)?([0-9a-f]+)/i.exec(rest))) out.push({ us, what: 'MSI', arg: parseInt(r[1]!, 16) });
  }
  return out;
}

/** The server's JSON trace records (boot.ts logLine with wallUs) as stamps. */
export function parseServerTrace(lines: string[]): Stamp[] {
  const out: Stamp[] = [];
  for (const l of lines) {
    if (!l.startsWith('{') || !l.includes('"trace"')) continue;
    let r: { type?: string; wallUs?: number; point?: string; fields?: Record<string, unknown> };
    try {
      r = JSON.parse(l) as typeof r;
    } catch {
      continue;
    }
    if (r.type !== 'trace' || typeof r.wallUs !== 'number') continue;
    const f = r.fields ?? {};
    switch (r.point) {
      case 'e1000e_reg_write':
        if (f.reg === 'TDT0') out.push({ us: r.wallUs, what: 'S_TDT', arg: 0 });
        break;
      case 'e1000e_tx_frame':
        out.push({ us: r.wallUs, what: 'S_TX', arg: Number(f.length ?? f.len ?? 0) });
        break;
      case 'e1000e_rx_frame':
        out.push({ us: r.wallUs, what: 'S_RX', arg: Number(f.length ?? f.len ?? 0) });
        break;
      case 'e1000e_irq_msix':
        out.push({ us: r.wallUs, what: 'S_IRQ', arg: Number(f.vector ?? -1) });
        break;
    }
  }
  return out;
}

function firstAfter(s: Stamp[], from: number, t: number, pred: (x: Stamp) => boolean): number {
  for (let i = from; i < s.length; i++) {
    const x = s[i]!;
    if (x.us < t) continue;
    if (x.us > t + MAX_CHAIN_US) return -1;
    if (pred(x)) return i;
  }
  return -1;
}

/** Hop names in order, per kind: what each interval is. */
export const HOPS: Record<LatencyKind, string[]> = {
  model: [
    'TDT write: vCPU -> server (vfio-user message)',
    'device TX: TDT handled -> frame to the TAP',
    'host: frame out -> reply in the ring (incl. server wake, RX DMA)',
    'RX interrupt: reply in the ring -> MSI-X eventfd write',
    'eventfd -> QEMU main loop (vfio_msi_interrupt)',
    "QEMU -> vCPU -> driver's first register write",
    'TDT write -> driver reacts to the reply (sum)',
    'guest stack: RTT minus the above',
  ],
  'qemu-e1000e': [
    'device TX: TDT write -> descriptor fetched (in the vCPU)',
    'host: frame out -> reply from the TAP (QEMU main loop)',
    'RX interrupt: reply -> MSI-X notify',
    "vCPU -> driver's first register write",
    'TDT write -> driver reacts to the reply (sum)',
    'guest stack: RTT minus the above',
  ],
};

/**
 * Per ping, the hop intervals (us) from the stamps (one clock), in HOPS order without the last
 * (the guest's share needs its RTT). A ping is a TDT write followed, within 200 ms, by the whole
 * chain; chains that overlap the next TDT write's are still taken (ping is one at a time).
 */
export function hopChains(kind: LatencyKind, stamps: Stamp[]): number[][] {
  const s = [...stamps].sort((a, b) => a.us - b.us);
  const chains: number[][] = [];
  for (let i = 0; i < s.length; i++) {
    const a = s[i]!;
    if (a.what !== 'W' || a.arg !== TDT) continue;
    // This write's own doings come before the guest's next TDT write.
    const nextTdt = s.findIndex((x, k) => k > i && x.what === 'W' && x.arg === TDT);
    const before = nextTdt < 0 ? Infinity : s[nextTdt]!.us;
    if (kind === 'model') {
      // The server handles the message after QEMU sent it (the clocks agree to a few microseconds; 100 of slack).
      const b = firstAfter(s, Math.max(0, i - 200), a.us - 100, (x) => x.what === 'S_TDT');
      if (b < 0 || s[b]!.us >= before) continue;
      // The first frame out after this TDT write must be the echo request (not ARP, not a retry).
      const c = firstAfter(s, b, s[b]!.us, (x) => x.what === 'S_TX');
      if (c < 0 || s[c]!.arg !== PING_FRAME) continue;
      const d = firstAfter(s, c, s[c]!.us, (x) => x.what === 'S_RX' && x.arg === PING_FRAME);
      if (d < 0) continue;
      const e = firstAfter(s, d, s[d]!.us, (x) => x.what === 'S_IRQ' && x.arg === 0);
      if (e < 0) continue;
      const f = firstAfter(s, e, s[e]!.us - 2_000, (x) => x.what === 'MSI' && x.arg === 0);
      if (f < 0) continue;
      const g = firstAfter(s, f + 1, s[f]!.us, (x) => x.what === 'W');
      if (g < 0) continue;
      const t = [a, s[b]!, s[c]!, s[d]!, s[e]!, s[f]!, s[g]!].map((x) => x.us);
      chains.push([t[1]! - t[0]!, t[2]! - t[1]!, t[3]! - t[2]!, t[4]! - t[3]!, t[5]! - t[4]!, t[6]! - t[5]!, t[6]! - t[0]!]);
    } else {
      const c = firstAfter(s, i, a.us, (x) => x.what === 'TXD');
      if (c < 0 || s[c]!.arg !== PING_FRAME || s[c]!.us >= before) continue;
      const d = firstAfter(s, c, s[c]!.us, (x) => x.what === 'RXF');
      if (d < 0) continue;
      const e = firstAfter(s, d, s[d]!.us, (x) => x.what === 'MSI' && x.arg === 0);
      if (e < 0) continue;
      const g = firstAfter(s, e + 1, s[e]!.us, (x) => x.what === 'W');
      if (g < 0) continue;
      const t = [a, s[c]!, s[d]!, s[e]!, s[g]!].map((x) => x.us);
      chains.push([t[1]! - t[0]!, t[2]! - t[1]!, t[3]! - t[2]!, t[4]! - t[3]!, t[4]! - t[0]!]);
    }
  }
  return chains;
}

function quantile(v: number[], q: number): number {
  if (!v.length) return NaN;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** The guest's script: wait for the host, then ping it, one line per reply. */
export function latencyScript(pings: number, interval: number): string {
  return `H=${HOST_IP}
i=0
until ping -c 1 -W 1 $H > /dev/null 2>&1; do
  i=$((i + 1))
  [ $i -ge 30 ] && { echo "LAT-ERR host $H unreachable"; break; }
done
sleep 1
echo LAT-GO
ping -c ${pings} -i ${interval} -W 2 $H 2>&1 | sed 's/^/LAT-PING /'
echo LAT-DONE
exit 0
`;
}

let seq = 0;

async function oneKind(kind: LatencyKind, env: Awaited<ReturnType<typeof setup>>, o: Required<Pick<LatencyOptions, 'pings' | 'interval'>> & LatencyOptions, log: (l: string) => void): Promise<LatencyResult> {
  const r: LatencyResult = { kind, pings: 0, matched: 0, rttMs: { median: NaN, min: NaN, max: NaN }, hops: [], problems: [] };
  const work = mkdtempSync(join(tmpdir(), `nicsim-latency-${kind}-`));
  const traceFile = join(work, 'qemu-trace.log');
  const serverLines: string[] = [];
  let served: ServedNic | null = null;
  let ns = '';
  let tap = '';
  let run: GuestRun | null = null;
  try {
    let nic: NicSpec;
    let driver = 'e1000e';
    if (kind === 'model') {
      served = new ServedNic({
        socket: join(work, 'vfu.sock'),
        backend: `netns:${HOST_IP}/${PREFIX}`,
        json: true,
        trace: 'e1000e_reg_write,e1000e_tx_frame,e1000e_rx_frame,e1000e_irq_msix',
        log: (l) => {
          if (l.includes('"trace"')) serverLines.push(l);
        },
        timing: o.timing,
      });
      ns = served.backend.netns!.name;
      tap = served.backend.netns!.ifname;
      ipCmd(['-n', ns, 'link', 'set', tap, 'address', HOST_MAC]);
      nic = { kind: 'vfio-user', socket: join(work, 'vfu.sock') };
    } else {
      ns = `nicsim-lat-${process.pid}-${seq}`;
      tap = `lt${process.pid % 100000}q${seq++}`.slice(0, 15);
      ipCmd(['netns', 'add', ns]);
      ipCmd(['-n', ns, 'link', 'set', 'lo', 'up']);
      nic = { kind, netdev: ['-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`] };
    }
    const qemuArgs = ['-msg', 'timestamp=on', '-D', traceFile, ...QEMU_EVENTS[kind].flatMap((e) => ['-trace', e])];
    run = startGuest({
      qemu: env.qemu,
      guest: env.guest,
      nic,
      workDir: work,
      guestIp: `${GUEST_IP}/${PREFIX}`,
      script: latencyScript(o.pings, o.interval),
      extraCmdline: [`nicsim.driver=${driver}`],
      name: kind,
      qemuArgs,
    });
    const g = run;
    if (kind !== 'model') await moveQemuTap(g, tap, ns);
    await g.waitFor(/LAT-GO|LAT-ERR/, 180_000);
    await g.waitFor(/LAT-DONE/, (o.pings * o.interval + 30) * 1000);
    await g.waitFor(/NICSIM-RUN-EXIT=/, 30_000);
    // The guest powers off: QEMU flushes its trace log as it exits (a kill may lose the tail).
    await Promise.race([g.exited, new Promise((res) => setTimeout(res, 15_000))]);
  } catch (e) {
    r.problems.push(e instanceof Error ? e.message : String(e));
  } finally {
    await run?.kill();
    served?.stop();
    if (kind !== 'model' && ns) tryIp(['netns', 'del', ns]);
  }
  const lines = run?.lines ?? [];
  const rtts = lines.map((l) => /LAT-PING .*seq=\d+ .*time=([\d.]+) ms/.exec(l)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1]));
  r.pings = rtts.length;
  if (rtts.length) r.rttMs = { median: quantile(rtts, 0.5), min: Math.min(...rtts), max: Math.max(...rtts) };
  else r.problems.push(`no ping replies (${lines.filter((l) => l.startsWith('LAT-')).slice(-3).join(' | ') || 'no output'})`);
  let qemuTrace = '';
  try {
    qemuTrace = readFileSync(traceFile, 'utf8');
  } catch {
    r.problems.push(`QEMU wrote no trace log (${traceFile}): it needs the log trace backend`);
  }
  if (!process.env.NICSIM_KEEP_WORK) rmSync(work, { recursive: true, force: true });
  else log(`  ${kind}: work folder kept: ${work}`);
  const stamps = [...parseQemuTrace(qemuTrace), ...parseServerTrace(serverLines)];
  // Only the pings: from LAT-GO on. The first TDT writes of the run are the ones before it.
  let chains = hopChains(kind, stamps);
  if (chains.length > r.pings && r.pings > 0) chains = chains.slice(-r.pings);
  r.matched = chains.length;
  if (!chains.length) r.problems.push('no ping could be followed hop by hop in the traces');
  // The two clocks (QEMU's gettimeofday, the server's) must agree: the server handles a write after QEMU sent it.
  if (kind === 'model' && chains.length && quantile(chains.map((c) => c[0]!), 0.5) < 0) r.problems.push("QEMU's and the server's clocks disagree (the server handled TDT writes before QEMU sent them)");
  const names = HOPS[kind];
  for (let h = 0; h < names.length - 1; h++) {
    const v = chains.map((c) => c[h]!);
    r.hops.push({ name: names[h]!, medianUs: quantile(v, 0.5), p10Us: quantile(v, 0.1), p90Us: quantile(v, 0.9) });
  }
  const sum = r.hops.at(-1)!.medianUs;
  r.hops.push({ name: names.at(-1)!, medianUs: r.rttMs.median * 1000 - sum, p10Us: NaN, p90Us: NaN });
  log(`  ${kind}: ${r.pings} pings, ${r.matched} followed hop by hop${r.problems.length ? `; problems: ${r.problems.join('; ')}` : ''}`);
  return r;
}

/** Boots the guest once per kind and times each hop of its pings. */
export async function runLatencyBench(o: LatencyOptions = {}): Promise<LatencyResult[]> {
  const log = o.log ?? ((l: string) => console.log(l));
  const opts = { ...o, pings: o.pings ?? 40, interval: o.interval ?? 0.2 };
  const env = await setup({ kernelPackage: o.kernelPackage, log });
  const kinds = o.kinds ?? LATENCY_KINDS;
  log(`latency bench: kernel ${env.guest.kernelVersion}, QEMU ${env.qemu.version} (TCG), ${opts.pings} pings ${opts.interval} s apart, kinds ${kinds.join(' ')}`);
  const out: LatencyResult[] = [];
  for (const k of kinds) out.push(await oneKind(k, env, opts, log));
  return out;
}

const f = (us: number): string => (Number.isFinite(us) ? (us / 1000).toFixed(3) : '-');

export function formatLatencyTable(rs: LatencyResult[]): string[] {
  const out: string[] = [];
  for (const r of rs) {
    out.push(`${r.kind}: ping RTT median ${r.rttMs.median.toFixed(3)} ms (min ${r.rttMs.min.toFixed(3)}, max ${r.rttMs.max.toFixed(3)}), ${r.matched}/${r.pings} pings followed`);
    out.push(`  ${'hop'.padEnd(68)} ${'median ms'.padStart(9)} ${'p10'.padStart(7)} ${'p90'.padStart(7)}`);
    for (const h of r.hops) out.push(`  ${h.name.padEnd(68)} ${f(h.medianUs).padStart(9)} ${f(h.p10Us).padStart(7)} ${f(h.p90Us).padStart(7)}`);
  }
  return out;
}
