import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { buildProgram } from '../../cli/main.js';

/** Every `npx nicsim ...` line in the README's code blocks. */
function readmeExamples(): string[][] {
  const md = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const blocks = [...md.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const cmds: string[][] = [];
  for (const line of blocks.flatMap((b) => b.split('\n'))) {
    const m = line.match(/npx nicsim (.*)$/);
    if (!m) continue;
    const args = [...m[1]!.matchAll(/'([^']*)'|(\S+)/g)].map((x) => x[1] ?? x[2]!);
    cmds.push(args);
  }
  return cmds;
}

describe('README examples', () => {
  const examples = readmeExamples();
  it('has the main command and the test command', () => {
    const md = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(md).toContain('npm ci && npx nicsim pair');
    expect(md).toContain('npm ci && npm test');
    expect(examples.length).toBeGreaterThanOrEqual(2);
  });
  for (const args of examples) {
    it(`nicsim ${args.join(' ')}`, async () => {
      const lines: string[] = [];
      process.exitCode = 0;
      await buildProgram((l) => lines.push(l)).parseAsync(['node', 'nicsim', ...args]);
      expect(process.exitCode).toBe(0);
      expect(lines.some((l) => l.includes('NIC Link is Up 1000 Mbps Full Duplex'))).toBe(true);
      expect(lines.at(-1)).toBe('OK: every frame arrived intact and in order');
      const frames = args.includes('--frames') ? Number(args[args.indexOf('--frames') + 1]) : 10_000;
      expect(lines.find((l) => l.startsWith('frames:'))).toBe(`frames: sent ${frames}, received ${frames}, mismatched 0`);
      if (args.includes('--trace')) expect(lines.some((l) => l.startsWith('trace ') && l.includes('e1000e_irq_msi'))).toBe(true);
    });
  }
});
