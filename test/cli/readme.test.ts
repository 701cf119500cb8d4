import { describe, it, expect } from 'vitest';
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildProgram } from '../../cli/main.js';
import { requireNative } from '../../qemu/native/index.js';
import { VfioUserClient } from '../../qemu/client.js';
import * as C from '../../qemu/client-codec.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** Every `npx nicsim ...` line in the README's sh blocks, split like a shell would. */
function examples(): string[][] {
  const blocks = [...README.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const cmds: string[][] = [];
  for (const line of blocks.flatMap((b) => b.split('\n'))) {
    const m = line.match(/npx nicsim (.*)$/);
    if (m) cmds.push([...m[1]!.matchAll(/'([^']*)'|(\S+)/g)].map((x) => x[1] ?? x[2]!));
  }
  return cmds;
}

/** Expands `dir/*.json`-style globs (one * in the file name) relative to the repository. */
function globSync(pattern: string): string[] {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const dir = join(root, dirname(pattern));
  const re = new RegExp('^' + basename(pattern).replace(/[.]/g, '\\.').replace(/\*/g, '.*') + '$');
  return readdirSync(dir).filter((f) => re.test(f)).sort().map((f) => join(dir, f));
}

async function runInProcess(args: string[]): Promise<{ lines: string[]; code: number }> {
  const lines: string[] = [];
  process.exitCode = 0;
  await buildProgram((l) => lines.push(l)).parseAsync(['node', 'nicsim', ...args]);
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { lines, code };
}

describe('README', () => {
  it('carries the main command and the test command', () => {
    expect(README).toContain('npm ci && npx nicsim boot\n');
    expect(README).toContain('npm ci && npm test\n');
    expect(readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8')).toContain('npm ci && npm test');
  });

  for (const args of examples()) {
    it(`example: nicsim ${args.join(' ')}`, async () => {
      switch (args[0]) {
        case 'boot': {
          const { lines, code } = await runInProcess(args);
          expect(code, lines.slice(-60).join('\n')).toBe(0);
          expect(lines.some((l) => l.includes('NIC Link is Up 1000 Mbps Full Duplex'))).toBe(true);
          expect(lines.some((l) => /^(nic\d+: )?device counters:/.test(l))).toBe(true);
          if (args.includes('--pcap')) expect(existsSync(args[args.indexOf('--pcap') + 1]!)).toBe(true);
          if (args.includes('--trace')) expect(lines.some((l) => l.startsWith('trace '))).toBe(true);
          if (args.includes('--counters')) expect(lines.some((l) => l.startsWith('counters nic0:'))).toBe(true);
          if (args.includes('--guests')) expect(lines.some((l) => l.startsWith('switch:'))).toBe(true);
          return;
        }
        case 'trace-points': {
          const { lines, code } = await runInProcess(args);
          expect(code).toBe(0);
          expect(lines.some((l) => l.startsWith('e1000e_irq_msix '))).toBe(true);
          return;
        }
        case 'pair': {
          const { lines, code } = await runInProcess(args);
          expect(code).toBe(0);
          expect(lines.at(-1)).toBe('OK: every frame arrived intact and in order');
          if (args.includes('--trace')) expect(lines.some((l) => l.startsWith('trace '))).toBe(true);
          return;
        }
        case 'serve': {
          if (!existsSync(CLI)) throw new Error('dist/ is missing: run `npm ci`');
          const sock = args[args.indexOf('--socket') + 1]!;
          const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          p.stdout.on('data', (d: Buffer) => (out += d.toString()));
          const exited = new Promise<number | null>((r) => p.on('exit', r));
          const t0 = Date.now();
          while (!existsSync(sock) || !out.includes('serving')) {
            if (Date.now() - t0 > 10_000) throw new Error(out);
            await new Promise((r) => setTimeout(r, 20));
          }
          const c = VfioUserClient.connect(requireNative(), sock);
          expect((await c.request(C.versionReq())).header.error).toBe(0);
          c.close();
          p.kill('SIGTERM');
          expect(await exited).toBe(0);
          expect(existsSync(sock)).toBe(false);
          return;
        }
        case 'bench': {
          const { lines, code } = await runInProcess(args);
          expect(code, lines.join('\n')).toBe(0);
          expect(lines.length).toBeGreaterThan(3);
          for (const flag of ['--json', '--svg']) {
            if (args.includes(flag)) expect(existsSync(args[args.indexOf(flag) + 1]!)).toBe(true);
          }
          return;
        }
        case 'fuzz': {
          // Shell globs in examples expand like a shell would.
          const expanded = args.flatMap((a) => (a.includes('*') ? globSync(a) : [a]));
          const { lines, code } = await runInProcess(expanded);
          expect(code, lines.join('\n')).toBe(0);
          if (args[1] === 'replay') expect(lines.length).toBeGreaterThan(0);
          else expect(lines.some((l) => /exec\/s/.test(l))).toBe(true);
          return;
        }
        default:
          throw new Error(`README example for '${args[0]}' has no check in this test`);
      }
    }, 300_000);
  }
});
