#!/usr/bin/env node
// nicsim command line: runs the NIC model in-process (and, later, under QEMU).

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { runPair, printPairResult } from './pair.js';

function int(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer in ${min}..${max}`);
    return n;
  };
}

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
    .action((opts: { frames: number; seed: number; minSize: number; maxSize: number; intMode: number; itr: number; linkMbps: number; trace?: string }) => {
      if (opts.minSize > opts.maxSize) throw new InvalidArgumentError('--min-size must not exceed --max-size');
      const r = runPair({
        frames: opts.frames,
        seed: opts.seed,
        minSize: opts.minSize,
        maxSize: opts.maxSize,
        intMode: opts.intMode,
        itr: opts.itr,
        trace: opts.trace,
        timing: { linkSpeedMbps: opts.linkMbps },
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
  return program;
}

// Run when executed directly (also through npm's bin symlink), not when imported by tests.
const entry = process.argv[1];
if (entry !== undefined && realpathSync(entry) === fileURLToPath(import.meta.url)) {
  buildProgram().parseAsync(process.argv).catch((e: unknown) => {
    console.error(`nicsim: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
