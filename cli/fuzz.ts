// `nicsim fuzz`: the device, protocol and driver fuzzers, and replay/minimize of saved inputs.

import { Command, InvalidArgumentError } from 'commander';
import { join } from 'node:path';
import { loadInput, saveInput, type FuzzInput, type FuzzReport, type ReplayResult } from '../fuzz/finding.js';

function num(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative number`);
    return n;
  };
}

/** Prints a run's figures the same way for every fuzzer. */
export function printReport(r: FuzzReport, out: (l: string) => void): void {
  out(`${r.kind} fuzzing (${r.engine}): ${r.execs.toLocaleString('en-US')} executions in ${r.seconds.toFixed(1)} s = ${Math.round(r.execsPerSec).toLocaleString('en-US')} exec/s`);
  if (r.coverage) out(`coverage: ${Object.entries(r.coverage).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  if (r.extra) out(`${Object.entries(r.extra).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toLocaleString('en-US') : v}`).join(' ')}`);
  out(`findings: ${r.findings.length}`);
  r.findings.forEach((f, i) => out(`  ${i + 1}. ${f.oracle}: ${f.message}${r.findingFiles[i] ? ` -> ${r.findingFiles[i]}` : ''}`));
}

async function replayAny(input: FuzzInput): Promise<ReplayResult> {
  switch (input.kind) {
    case 'device':
      return (await import('../fuzz/device/index.js')).replayDevice(input);
    case 'protocol':
      return await (await import('../fuzz/protocol/index.js')).replayProtocol(input);
    case 'driver':
      return await (await import('../fuzz/driver/index.js')).replayDriver(input);
  }
}

async function minimizeAny(input: FuzzInput): Promise<FuzzInput> {
  switch (input.kind) {
    case 'device':
      return (await import('../fuzz/device/index.js')).minimizeDevice(input);
    case 'protocol': {
      const m = await import('../fuzz/protocol/index.js');
      return input.options?.['level'] === 'socket' ? await m.minimizeProtocolAsync(input) : m.minimizeProtocol(input);
    }
    case 'driver':
      return (await import('../fuzz/driver/index.js')).minimizeDriver(input);
  }
}

export function addFuzz(program: Command, out: (l: string) => void): void {
  const fuzz = program.command('fuzz').description('fuzzing: a hostile driver against the device, a hostile client against the server, a hostile device against drivers');
  const common = (c: Command) =>
    c
      .option('--seconds <n>', 'how long to run', num('seconds'), 10)
      .option('--seed <n>', 'seed of the run', num('seed'), 1)
      .option('--max-execs <n>', 'stop after this many executions', num('max-execs'))
      .option('--findings <dir>', 'where findings are saved', join(process.cwd(), 'fuzz-findings'));
  const finish = (r: FuzzReport) => {
    printReport(r, out);
    if (r.findings.length > 0) process.exitCode = 1;
  };
  common(fuzz.command('device').description('hostile driver: config/BAR accesses, descriptors, ring layouts, BAR-aliasing DMA, wire frames'))
    .option('--engine <e>', 'random (seeded) or coverage (coverage-guided)', 'coverage')
    .action(async (o: { seconds: number; seed: number; maxExecs?: number; findings: string; engine: 'random' | 'coverage' }) => {
      const { runDeviceFuzz } = await import('../fuzz/device/index.js');
      finish(await runDeviceFuzz({ seconds: o.seconds, seed: o.seed, maxExecs: o.maxExecs, engine: o.engine, findingsDir: o.findings, log: out }));
    });
  common(fuzz.command('protocol').description('hostile vfio-user client: malformed messages, fds, DMA maps, SET_IRQS, partial messages, disconnects'))
    .option('--level <l>', 'session (in-process, fast) or socket (a real server over UNIX sockets)', 'session')
    .action(async (o: { seconds: number; seed: number; maxExecs?: number; findings: string; level: 'session' | 'socket' }) => {
      const { runProtocolFuzz } = await import('../fuzz/protocol/index.js');
      finish(await runProtocolFuzz({ seconds: o.seconds, seed: o.seed, maxExecs: o.maxExecs, level: o.level, findingsDir: o.findings, log: out }));
    });
  common(fuzz.command('driver').description('hostile device: faulty registers, write-backs, interrupts and frames against our driver (or, with --guest, the guest\'s Linux e1000e)'))
    .option('--guest', 'against the guest Linux e1000e under QEMU (oracle: the guest console)')
    .option('--linux-exact', 'in-process: our driver without its recovery beyond Linux 6.1 e1000e, to find what Linux\'s driver would suffer')
    .action(async (o: { seconds: number; seed: number; maxExecs?: number; findings: string; guest?: boolean; linuxExact?: boolean }) => {
      const { runDriverFuzz } = await import('../fuzz/driver/index.js');
      finish(await runDriverFuzz({ seconds: o.seconds, seed: o.seed, maxExecs: o.maxExecs, guest: o.guest, linuxExact: o.linuxExact, findingsDir: o.findings, log: out }));
    });
  fuzz
    .command('replay')
    .description('replay saved inputs deterministically (exit status 1 if any breaks an oracle)')
    .argument('<files...>')
    .action(async (files: string[]) => {
      let bad = 0;
      for (const f of files) {
        const r = await replayAny(loadInput(f));
        out(`${f}: ${r.ok ? 'ok' : `${r.oracle}: ${r.message}`}`);
        if (!r.ok) bad++;
      }
      if (bad) process.exitCode = 1;
    });
  fuzz
    .command('minimize')
    .description('shrink a finding while it still breaks the same oracle; writes the result next to it')
    .argument('<file>')
    .action(async (file: string) => {
      const input = loadInput(file);
      const m = await minimizeAny(input);
      const path = saveInput(join(file, '..'), m);
      out(`${Buffer.from(input.data, 'base64').length} -> ${Buffer.from(m.data, 'base64').length} bytes: ${path}`);
    });
}
