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
    });

  program
    .command('serve')
    .description('serve an 82574L model on a vfio-user socket until interrupted (attach with QEMU -device vfio-user-pci)')
    .requiredOption('--socket <path>', 'UNIX socket path to listen on')
    .option('--backend <spec>', 'netns[:ADDR/PREFIX] (TAP in a new namespace), tap:NAME, none, loopback', undefined)
    .option('--mac <addr>', 'MAC address in the NVM', '52:54:00:4e:53:01')
    .option('--trace <patterns>', 'trace points to print, e.g. "vfu_*,e1000e_irq_*"')
    .action(async (opts: { socket: string; backend?: string; mac: string; trace?: string }) => {
      const { ServedNic } = await import('../qemu/boot.js');
      const served = new ServedNic({ socket: opts.socket, backend: opts.backend, mac: parseMac(opts.mac), trace: opts.trace, log: out });
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          out(`nicsim: ${sig}, shutting down`);
          for (const l of served.report()) out(l);
          served.stop();
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
    .option('--backend <spec>', 'netns[:ADDR/PREFIX], tap:NAME, none, loopback (default: netns as root, else none)')
    .option('--guest-ip <addr/prefix>', 'address the guest gives eth0', undefined)
    .option('--timeout <s>', 'give up after this many seconds', int('timeout', 10, 86_400), 300)
    .option('--trace <patterns>', 'server trace points to print, e.g. "e1000e_irq_msix,vfu_*"')
    .option('--quiet', 'do not stream the guest console')
    .action(async (opts: { run?: string; shell?: boolean; kernelPackage?: string; qemu?: string; intMode?: number; memory: number; backend?: string; guestIp?: string; timeout: number; trace?: string; quiet?: boolean }) => {
      const { boot } = await import('../qemu/boot.js');
      const r = await boot({
        run: opts.run, shell: opts.shell, kernelPackage: opts.kernelPackage, qemu: opts.qemu, intMode: opts.intMode,
        memMiB: opts.memory, backend: opts.backend, guestIp: opts.guestIp, timeoutSec: opts.timeout, trace: opts.trace,
        streamConsole: !opts.quiet, log: out,
      });
      if (r.runStatus !== null && r.runStatus !== 0) process.exitCode = r.runStatus;
      else if (!r.ok) process.exitCode = 1;
    });
  return program;
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
