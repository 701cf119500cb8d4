#!/usr/bin/env node
// nicsim command line: runs the NIC model in-process (and, later, under QEMU).

import { realpathSync } from 'node:fs';
import { cpus, totalmem, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { runPair, printPairResult } from './pair.js';
import { addFuzz } from './fuzz.js';
import { resolveTiming, parseTimingSets, TIMING_DOC, type TimingParams } from '../device/sim/timing.js';
import { BACKEND_FORMS, defaultBackendSpec } from '../qemu/backends.js';
import type { GuestBenchKind } from '../bench/guest.js';
import type { LatencyKind } from '../bench/latency.js';

function int(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer in ${min}..${max}`);
    return n;
  };
}

/** --timing FILE (JSON with TimingParams fields) then --set key=value overrides, validated. */
function timingFrom(opts: { timing?: string; set?: string[] }, base: Partial<TimingParams> = {}): Partial<TimingParams> {
  let t: Partial<TimingParams> = { ...base };
  if (opts.timing) {
    const j = JSON.parse(readFileSync(opts.timing, 'utf8')) as unknown;
    if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new InvalidArgumentError(`${opts.timing}: expected a JSON object of timing parameters`);
    t = { ...t, ...(j as Partial<TimingParams>) };
  }
  if (opts.set?.length) t = { ...t, ...parseTimingSets(opts.set) };
  resolveTiming(t); // validates names, types and ranges
  return t;
}

const collect = (v: string, acc: string[]) => [...acc, v];
const TIMING_HELP = `timing parameter override key=value (repeatable): ${Object.keys(TIMING_DOC).join(', ')}`;

export function buildProgram(out: (l: string) => void = console.log): Command {
  const program = new Command();
  program.name('nicsim').description('A cycle-approximate Intel 82574L (e1000e) NIC model').version('0.1.0');

  program
    .command('pair')
    .description('two simulated machines, each with an 82574L and our e1000e driver, joined by a wire; sends seeded frames A -> B and checks them')
    .option('--frames <n>', 'frames to send', int('frames', 0, 10_000_000), 10_000)
    .option('--seed <n>', 'seed of the frame sizes and contents', int('seed', 0, 2 ** 32 - 1), 1)
    .option('--min-size <bytes>', 'smallest frame (without FCS)', int('min-size', 60, 1514), 60)
    .option('--max-size <bytes>', 'largest frame (without FCS)', int('max-size', 60, 1514), 1514)
    .option('--int-mode <n>', 'e1000e.IntMode: 0 INTx, 1 MSI, 2 MSI-X', int('int-mode', 0, 2), 2)
    .option('--itr <n>', 'e1000e.InterruptThrottleRate (0 off, 1/3 dynamic, or interrupts/s)', int('itr', 0, 100_000), 3)
    .option('--link-mbps <n>', 'modeled link speed in Mbit/s', int('link-mbps', 10, 400_000), 1000)
    .option('--trace <patterns>', 'trace points to print, e.g. "e1000e_irq_*,e1000e_link"')
    .option('--timing <file>', 'JSON file of timing parameters')
    .option('--set <key=value>', TIMING_HELP, collect, [])
    .action((opts: { frames: number; seed: number; minSize: number; maxSize: number; intMode: number; itr: number; linkMbps: number; trace?: string; timing?: string; set: string[] }) => {
      if (opts.minSize > opts.maxSize) throw new InvalidArgumentError('--min-size must not exceed --max-size');
      const r = runPair({
        frames: opts.frames,
        seed: opts.seed,
        minSize: opts.minSize,
        maxSize: opts.maxSize,
        intMode: opts.intMode,
        itr: opts.itr,
        trace: opts.trace,
        timing: timingFrom(opts, { linkSpeedMbps: opts.linkMbps }),
        out,
      });
      printPairResult(r, out);
      if (r.received !== r.sent || r.mismatches !== 0) {
        out('FAILED: frames were lost or corrupted');
        process.exitCode = 1;
      } else {
        out('OK: every frame arrived intact and in order');
      }
    });
  program
    .command('setup')
    .description('provision a QEMU with the vfio-user client and a guest kernel + initramfs into the cache (idempotent)')
    .option('--kernel-package <name>', 'Debian linux-image package for the guest (e.g. linux-image-6.1.0-56-amd64)')
    .option('--qemu <path>', 'use this QEMU (>= 10.1 with vfio-user-pci) instead of provisioning one (or NICSIM_QEMU)')
    .option('--cache <dir>', 'cache folder (default $NICSIM_CACHE or ~/.cache/nicsim)')
    .action(async (opts: { kernelPackage?: string; qemu?: string; cache?: string }) => {
      const { setup } = await import('../qemu/guest/provision.js');
      const r = await setup({ kernelPackage: opts.kernelPackage, qemu: opts.qemu, cacheDir: opts.cache, log: out });
      out(`QEMU ${r.qemu.version}: ${r.qemu.argv0.at(-1)}`);
      out(`guest kernel ${r.guest.kernelVersion}: ${r.guest.kernel}`);
      out(`initramfs: ${r.guest.initramfs} (modules: ${r.guest.modules.join(', ')})`);
      const { ensureHostTools } = await import('../qemu/host-root.js');
      const ht = await ensureHostTools({ cacheDir: opts.cache, log: out });
      out(`host tools (passt, tshark): ${ht.root}`);
    });

  program
    .command('trace-points')
    .description('list the trace points that --trace can switch on (with a pattern list, only those it matches)')
    .argument('[patterns]', 'e.g. "e1000e_irq_*,pci_msix_*"')
    .action(async (patterns?: string) => {
      const { TRACE_POINTS } = await import('../device/trace-points.js');
      const { tracePatternMatcher } = await import('../device/trace.js');
      const match = patterns ? tracePatternMatcher(patterns) : () => true;
      const pts = TRACE_POINTS.filter((p) => match(p.name));
      const w = Math.max(...pts.map((p) => p.name.length), 10);
      for (const p of pts) out(`${p.name.padEnd(w)}  ${p.what}`);
      if (pts.length === 0) {
        out(`no trace point matches '${patterns}'`);
        process.exitCode = 1;
      }
    });

  program
    .command('serve')
    .description('serve 82574L models on vfio-user sockets until interrupted (attach with QEMU -device vfio-user-pci)')
    .option('--socket <path>', 'UNIX socket path to listen on (one NIC)')
    .option('--nic <spec>', 'a NIC: socket=PATH[,mac=MAC][,name=NAME][,backend=SPEC][,pcap=FILE]; repeat for several NICs in this process (those without a backend share the built-in switch)', collect, [])
    .option('--backend <spec>', `where frames go: ${BACKEND_FORMS} (with several --nic: the switch's uplink)`, undefined)
    .option('--mac <addr>', 'MAC address in the NVM (with --socket)', '52:54:00:4e:53:01')
    .option('--switch-latency <ns>', 'port-to-port latency of the built-in switch', int('switch-latency', 0, 1_000_000_000))
    .option('--pcap <file>', 'capture every frame of the NIC (with --socket) in both directions, ns timestamps')
    .option('--pcap-max <MiB>', 'largest capture file', int('pcap-max', 1, 1_000_000), 100)
    .option('--counters <s>', 'print the counters view every this many seconds', int('counters', 1, 3600))
    .option('--json', 'log lines (messages, trace records, counters) as JSON objects')
    .option('--trace <patterns>', 'trace points to print, e.g. "vfu_*,e1000e_irq_*" (list: nicsim trace-points)')
    .option('--unpaced', 'send frames as soon as they are fetched instead of at the modeled link rate')
    .option('--timing <file>', 'JSON file of timing parameters')
    .option('--set <key=value>', TIMING_HELP, collect, [])
    .action(async (opts: { socket?: string; nic: string[]; backend?: string; mac: string; switchLatency?: number; pcap?: string; pcapMax: number; counters?: number; json?: boolean; trace?: string; unpaced?: boolean; timing?: string; set: string[] }) => {
      const { ServedGroup, startCountersView, logLine } = await import('../qemu/boot.js');
      const timing = timingFrom(opts, opts.unpaced ? { paceLink: false } : {});
      if (!opts.socket && opts.nic.length === 0) throw new InvalidArgumentError('give --socket PATH or one or more --nic socket=PATH,...');
      if (opts.socket && opts.nic.length > 0) throw new InvalidArgumentError('give either --socket or --nic, not both');
      const nics = opts.socket
        ? [{ socket: opts.socket, mac: parseMac(opts.mac), backend: opts.backend ?? defaultBackendSpec(), pcap: opts.pcap }]
        : opts.nic.map(parseNicSpec);
      const group = await ServedGroup.start({
        nics, uplink: opts.socket ? undefined : opts.backend, switchLatencyNs: opts.switchLatency,
        trace: opts.trace, timing, log: out, json: opts.json, pcapMaxBytes: opts.pcapMax * 1024 * 1024,
      });
      const stopCounters = opts.counters ? startCountersView(group.nics, opts.counters, out, opts.json, group.switch) : null;
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          out(logLine(opts.json, 'log', null, `nicsim: ${sig}, shutting down`));
          stopCounters?.();
          for (const l of group.report()) out(logLine(opts.json, 'report', null, l));
          group.stop();
          resolve();
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });

  program
    .command('boot')
    .description('serve the model, boot a QEMU guest on it (provisioning first if needed), run a script after link-up, report')
    .option('--run <commands>', 'shell commands to run in the guest after link-up; exits with their status')
    .option('--shell', 'an interactive shell on this terminal instead of a script')
    .option('--kernel-package <name>', 'Debian linux-image package for the guest')
    .option('--qemu <path>', 'use this QEMU (>= 10.1 with vfio-user-pci)')
    .option('--int-mode <n>', 'e1000e.IntMode in the guest: 0 INTx, 1 MSI, 2 MSI-X', int('int-mode', 0, 2))
    .option('--memory <MiB>', 'guest memory', int('memory', 128, 16384), 512)
    .option('--backend <spec>', `${BACKEND_FORMS} (default: passt when provisioned, else netns as root, else none)`)
    .option('--guests <n>', 'guests, each on its own NIC of this server process, joined by the built-in switch (whose uplink is --backend)', int('guests', 1, 8), 1)
    .option('--switch-latency <ns>', 'port-to-port latency of the built-in switch', int('switch-latency', 0, 1_000_000_000))
    .option('--guest-ip <addr/prefix>', 'address the guest gives eth0 (or dhcp)', undefined)
    .option('--mtu <n>', "MTU of the guest's eth0, 68..9212 (e1000e's range on an 82574L), set before it goes up; netns: the TAP's host side too; passt: passed as passt --mtu; tap:NAME: set that interface's MTU yourself; stream/dgram sockets carry frames up to 69632 bytes, nothing to set", mtuArg)
    .option('--pcap <file>', 'capture every frame in both directions (several guests: FILE.N.pcap), wall-clock ns timestamps')
    .option('--pcap-max <MiB>', 'largest capture file', int('pcap-max', 1, 1_000_000), 100)
    .option('--counters <s>', 'print the counters view every this many seconds while the guest runs', int('counters', 1, 3600))
    .option('--json', 'server log lines (messages, trace records, counters, console) as JSON objects')
    .option('--timeout <s>', 'give up after this many seconds', int('timeout', 10, 86_400), 300)
    .option('--trace <patterns>', 'server trace points to print, e.g. "e1000e_irq_msix,vfu_*" (list: nicsim trace-points)')
    .option('--quiet', "stream only the NIC driver's lines and kernel trouble (panic, BUG, Oops, WARNING, Call Trace) from the guest console")
    .option('--unpaced', 'send frames as soon as they are fetched instead of at the modeled link rate')
    .option('--timing <file>', 'JSON file of timing parameters')
    .option('--set <key=value>', TIMING_HELP, collect, [])
    .action(async (opts: { run?: string; shell?: boolean; kernelPackage?: string; qemu?: string; intMode?: number; memory: number; backend?: string; guests: number; switchLatency?: number; guestIp?: string; mtu?: number; pcap?: string; pcapMax: number; counters?: number; json?: boolean; timeout: number; trace?: string; quiet?: boolean; unpaced?: boolean; timing?: string; set: string[] }) => {
      const { boot } = await import('../qemu/boot.js');
      const timing = timingFrom(opts, opts.unpaced ? { paceLink: false } : {});
      const r = await boot({
        timing,
        run: opts.run, shell: opts.shell, kernelPackage: opts.kernelPackage, qemu: opts.qemu, intMode: opts.intMode,
        memMiB: opts.memory, backend: opts.backend, guestIp: opts.guestIp, mtu: opts.mtu, timeoutSec: opts.timeout, trace: opts.trace,
        guests: opts.guests, switchLatencyNs: opts.switchLatency, pcap: opts.pcap, pcapMaxBytes: opts.pcapMax * 1024 * 1024,
        countersSec: opts.counters, json: opts.json,
        streamConsole: !opts.quiet, log: out,
      });
      if (r.runStatus !== null && r.runStatus !== 0) process.exitCode = r.runStatus;
      else if (!r.ok) process.exitCode = 1;
    });
  addBench(program, out);
  addFuzz(program, out);
  return program;
}

/** boot --mtu: 68 (IPv4's minimum) to 9212 (the largest e1000e allows on an 82574L; boot checks the same MTU_MIN..MTU_MAX). */
function mtuArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 68 || n > 9212) throw new InvalidArgumentError(`the MTU must be an integer in 68..9212 (68 is IPv4's minimum; 9212 the largest the guest's e1000e driver allows on an 82574L: 9234-byte frames with a VLAN tag and the FCS)`);
  return n;
}

function sizesArg(v: string): number[] {
  const xs = v.split(',').map(Number);
  if (xs.some((x) => !Number.isInteger(x) || x < 64 || x > 1518)) throw new InvalidArgumentError('--sizes takes frame sizes 64..1518 (FCS included), comma-separated');
  return xs;
}

function addBench(program: Command, out: (l: string) => void): void {
  const bench = program.command('bench').description('benchmarks: what the modeled hardware does, how fast we simulate it, guests compared, vfio-user costs');
  const writeOut = (json: string | undefined, svg: string | undefined, benchmark: string, records: object[], svgText?: () => string) => {
    if (json) {
      writeFileSync(json, JSON.stringify({ benchmark, date: new Date().toISOString(), machine: machineInfo(), records }, null, 2) + '\n');
      out(`wrote ${json}`);
    }
    if (svg && svgText) {
      writeFileSync(svg, svgText());
      out(`wrote ${svg}`);
    }
  };
  bench
    .command('modeled')
    .description('modeled throughput and packet rate per frame size (TX and RX) beside the line rate, latency p50/p99, interrupt rates under load')
    .option('--link-mbps <n>', 'modeled link speed', int('link-mbps', 10, 400_000), 1000)
    .option('--sizes <list>', 'frame sizes with FCS', sizesArg)
    .option('--window-ms <ms>', 'virtual time measured per point', Number, 10)
    .option('--ring <n>', 'TX/RX descriptors (ethtool -G)', int('ring', 64, 4096), 256)
    .option('--json <file>', 'write the records as JSON')
    .option('--svg <file>', 'write a chart')
    .option('--timing <file>', 'JSON file of timing parameters')
    .option('--set <key=value>', TIMING_HELP, collect, [])
    .action(async (opts: { linkMbps: number; sizes?: number[]; windowMs: number; ring: number; json?: string; svg?: string; timing?: string; set: string[] }) => {
      const { runModeled, runInterruptModeration } = await import('../bench/modeled.js');
      const { modeledTable, interruptTable, benchSvg } = await import('../bench/report.js');
      const o = { sizes: opts.sizes, linkMbps: opts.linkMbps, windowNs: opts.windowMs * 1e6, timing: timingFrom(opts), params: { txRingSize: opts.ring, rxRingSize: opts.ring } };
      const rs = runModeled(o);
      out(`Modeled 82574L at ${opts.linkMbps} Mbit/s (virtual time; line rate computed in the same run)`);
      for (const l of modeledTable(rs)) out(l);
      const irq = runInterruptModeration(o);
      out('');
      out('RX interrupt moderation under full load (64-byte frames at line rate)');
      for (const l of interruptTable(irq)) out(l);
      writeOut(opts.json, opts.svg, 'modeled', [...rs, ...irq.map((r) => ({ ...r, size: r.frameSize, pps: NaN }))], () => benchSvg(rs, []));
    });
  bench
    .command('sim')
    .description('simulation speed: simulated frames per wall second through driver, device, wire, device, driver; ns per frame; peak memory')
    .option('--sizes <list>', 'frame sizes with FCS', sizesArg)
    .option('--frames <n>', 'frames per size', int('frames', 1000, 100_000_000))
    .option('--json <file>', 'write the records as JSON')
    .option('--svg <file>', 'write a chart (with a modeled sweep for the throughput panel)')
    .option('--timing <file>', 'JSON file of timing parameters')
    .option('--set <key=value>', TIMING_HELP, collect, [])
    .action(async (opts: { sizes?: number[]; frames?: number; json?: string; svg?: string; timing?: string; set: string[] }) => {
      const { runSimSpeed } = await import('../bench/sim.js');
      const { simTable, benchSvg } = await import('../bench/report.js');
      const rs = runSimSpeed({ sizes: opts.sizes, frames: opts.frames, timing: timingFrom(opts) });
      out(`Simulation speed on one core (${machineInfo().cpu})`);
      for (const l of simTable(rs)) out(l);
      const best64 = rs.find((r) => r.size === 64);
      if (best64) out(`64-byte frames: ${Math.round(best64.framesPerSec).toLocaleString('en-US')} simulated frames per wall second (goal 1,000,000: ${(best64.framesPerSec / 1e6).toFixed(2)}x)`);
      writeOut(opts.json, opts.svg, 'sim', rs.map((r) => ({ ...r, pps: r.framesPerSec })), () => benchSvg([], rs));
    });
  bench
    .command('vfio-user')
    .description('vfio-user costs against a nicsim serve process: non-posted round trips/s and posted writes/s')
    .option('--seconds <s>', 'seconds per figure', Number, 3)
    .option('--json <file>', 'write the result as JSON')
    .action(async (opts: { seconds: number; json?: string }) => {
      const { runVfioUserBench } = await import('../bench/vfio-user.js');
      const { table } = await import('../bench/report.js');
      const r = await runVfioUserBench({ seconds: opts.seconds });
      for (const l of table(['figure', 'per second', 'vs baseline'], [
        ['round trip, unimplemented command (baseline)', r.baselineRoundTripsPerSec, '1.000'],
        ['round trip, REGION_READ STATUS', r.readRoundTripsPerSec, r.readOverBaseline.toFixed(3)],
        ['posted REGION_WRITE', r.postedWritesPerSec, (r.postedWritesPerSec / r.baselineRoundTripsPerSec).toFixed(1)],
      ])) out(l);
      out(`mean non-posted round trip: ${r.meanReadRoundTripUs.toFixed(1)} us`);
      writeOut(opts.json, undefined, 'vfio-user', [r]);
    });
  bench
    .command('flow-control')
    .description('host -> guest TCP (iperf3 -R) on our model with 802.3x flow control on, then off, in one boot: goodput, missed frames, XOFF sent')
    .option('--seconds <s>', 'seconds per iperf3 run', Number, 10)
    .option('--kernel-package <name>', 'Debian linux-image package for the guest')
    .option('--json <file>', 'write the results as JSON')
    .action(async (opts: { seconds: number; kernelPackage?: string; json?: string }) => {
      const { runFlowBench, formatFlowTable } = await import('../bench/flow-control.js');
      const rs = await runFlowBench({ seconds: opts.seconds, kernelPackage: opts.kernelPackage, log: out });
      for (const l of formatFlowTable(rs)) out(l);
      writeOut(opts.json, undefined, 'flow-control', rs);
    });
  bench
    .command('latency')
    .description("where a ping's time goes: the guest pings the host on our model and on QEMU's e1000e, each hop timed on one clock from QEMU's trace log and the server's trace (TDT write, frame out, reply in, interrupt, the driver's reaction)")
    .option('--pings <n>', 'pings per NIC kind', Number, 40)
    .option('--interval <s>', 'seconds between pings', Number, 0.2)
    .option('--kernel-package <name>', 'Debian linux-image package for the guest')
    .option('--kinds <list>', 'which NICs, comma-separated: model, qemu-e1000e', (v: string) => v.split(',').map((k) => k.trim()).filter(Boolean))
    .option('--unpaced', "run the model unpaced, as QEMU's own devices are")
    .option('--timing <file>', 'JSON file of timing parameters for the model')
    .option('--set <key=value>', TIMING_HELP, collect, [])
    .option('--json <file>', 'write the results as JSON')
    .action(async (opts: { pings: number; interval: number; kernelPackage?: string; kinds?: string[]; unpaced?: boolean; timing?: string; set: string[]; json?: string }) => {
      const { runLatencyBench, formatLatencyTable, LATENCY_KINDS } = await import('../bench/latency.js');
      for (const k of opts.kinds ?? []) if (!(LATENCY_KINDS as string[]).includes(k)) throw new InvalidArgumentError(`unknown kind '${k}' (${LATENCY_KINDS.join(', ')})`);
      const timing = timingFrom(opts, opts.unpaced ? { paceLink: false } : {});
      const rs = await runLatencyBench({ pings: opts.pings, interval: opts.interval, kernelPackage: opts.kernelPackage, kinds: opts.kinds as LatencyKind[] | undefined, timing, log: out });
      for (const l of formatLatencyTable(rs)) out(l);
      writeOut(opts.json, undefined, 'latency', rs);
    });
  bench
    .command('guest')
    .description('a guest on our model over vfio-user beside QEMU e1000e and virtio-net: pktgen TX, RX pps, ping RTT, TCP both ways, boot-to-link')
    .option('--seconds <s>', 'seconds per measurement', Number, 10)
    .option('--smoke', 'a short version (seconds)')
    .option('--kernel-package <name>', 'Debian linux-image package for the guest')
    .option('--kinds <list>', 'which NICs, comma-separated: model, qemu-e1000e, virtio-net', (v: string) => v.split(',').map((k) => k.trim()).filter(Boolean))
    .option('--unpaced', "run the model unpaced (frames go as soon as they are fetched), as QEMU's own devices are")
    .option('--timing <file>', 'JSON file of timing parameters for the model')
    .option('--set <key=value>', TIMING_HELP, collect, [])
    .option('--json <file>', 'write the results as JSON')
    .action(async (opts: { seconds: number; smoke?: boolean; kernelPackage?: string; kinds?: string[]; unpaced?: boolean; timing?: string; set: string[]; json?: string }) => {
      const { runGuestBench, formatGuestTable, ALL_KINDS } = await import('../bench/guest.js');
      const kinds = opts.kinds as GuestBenchKind[] | undefined;
      for (const k of kinds ?? []) if (!(ALL_KINDS as string[]).includes(k)) throw new InvalidArgumentError(`unknown kind '${k}' (${ALL_KINDS.join(', ')})`);
      const timing = timingFrom(opts, opts.unpaced ? { paceLink: false } : {});
      const rs = await runGuestBench({ seconds: opts.seconds, smoke: opts.smoke, kernelPackage: opts.kernelPackage, kinds, timing, log: out });
      for (const l of formatGuestTable(rs)) out(l);
      writeOut(opts.json, undefined, 'guest', rs);
    });
}

/** What a benchmark ran on, for its JSON and reports. */
export function machineInfo(): { cpu: string; cores: number; memGiB: number; node: string; platform: string } {
  const c = cpus();
  return { cpu: c[0]?.model ?? 'unknown', cores: c.length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform} ${release()}` };
}

/** --nic socket=PATH[,mac=MAC][,name=NAME][,backend=SPEC][,pcap=FILE] (backend last if it has commas). */
function parseNicSpec(spec: string): { socket: string; mac?: Uint8Array; name?: string; backend?: string; pcap?: string } {
  const out: { socket?: string; mac?: Uint8Array; name?: string; backend?: string; pcap?: string } = {};
  const parts = spec.split(',');
  for (let i = 0; i < parts.length; i++) {
    const [k, ...rest] = parts[i]!.split('=');
    const v = rest.join('=');
    switch (k) {
      case 'socket': out.socket = v; break;
      case 'mac': out.mac = parseMac(v); break;
      case 'name': out.name = v; break;
      case 'pcap': out.pcap = v; break;
      case 'backend':
        // Backend specs may carry commas of their own (stream-connect:...,reconnect=MS): the rest is the backend's.
        out.backend = [v, ...parts.slice(i + 1)].join(',');
        i = parts.length;
        break;
      default:
        throw new InvalidArgumentError(`--nic: unknown key '${k}' in '${spec}' (socket=PATH[,mac=MAC][,name=NAME][,pcap=FILE][,backend=SPEC])`);
    }
  }
  if (!out.socket) throw new InvalidArgumentError(`--nic needs socket=PATH: '${spec}'`);
  return out as { socket: string };
}

function parseMac(s: string): Uint8Array {
  const parts = s.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new InvalidArgumentError(`bad MAC address '${s}'`);
  const m = Uint8Array.from(parts.map((p) => parseInt(p, 16)));
  if (m[0]! & 1) throw new InvalidArgumentError('the MAC address must be unicast');
  return m;
}

// Run when executed directly (also through npm's bin symlink), not when imported by tests.
const entry = process.argv[1];
if (entry !== undefined && realpathSync(entry) === fileURLToPath(import.meta.url)) {
  buildProgram().parseAsync(process.argv).catch((e: unknown) => {
    console.error(`nicsim: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
