// Few-second runs of each benchmark command so they cannot rot (figures are printed, not asserted against time).
import { describe, it, expect } from 'vitest';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram } from '../../cli/main.js';

async function cli(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  process.exitCode = 0;
  await buildProgram((l) => lines.push(l)).parseAsync(['node', 'nicsim', ...args]);
  expect(process.exitCode ?? 0).toBe(0);
  return lines;
}

describe('benchmark smoke runs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nicsim-bench-'));

  it('bench modeled writes a table, JSON records with size and pps, and an SVG chart', async () => {
    const lines = await cli(['bench', 'modeled', '--sizes', '64,1518', '--window-ms', '1', '--json', join(dir, 'm.json'), '--svg', join(dir, 'm.svg')]);
    expect(lines.some((l) => /line-rate pps/.test(l))).toBe(true);
    const j = JSON.parse(readFileSync(join(dir, 'm.json'), 'utf8'));
    expect(j.machine.cores).toBeGreaterThan(0);
    const tx64 = j.records.find((r: { size: number; direction: string }) => r.size === 64 && r.direction === 'tx');
    expect(tx64.pps).toBeGreaterThan(1_400_000);
    expect(readFileSync(join(dir, 'm.svg'), 'utf8')).toMatch(/^<\?xml[\s\S]*<svg[\s\S]*polyline/);
  });

  it('bench sim reports simulated frames per second and ns per frame', async () => {
    const lines = await cli(['bench', 'sim', '--sizes', '64', '--frames', '5000', '--json', join(dir, 's.json')]);
    expect(lines.some((l) => /simulated frames per wall second/.test(l))).toBe(true);
    const j = JSON.parse(readFileSync(join(dir, 's.json'), 'utf8'));
    expect(j.records[0].size).toBe(64);
    expect(j.records[0].pps).toBeGreaterThan(0);
    expect(j.records[0].wallNsPerFrame).toBeGreaterThan(0);
  });

  it('bench vfio-user measures round trips and posted writes against a served device', async () => {
    const lines = await cli(['bench', 'vfio-user', '--seconds', '0.5']);
    expect(lines.some((l) => /REGION_READ STATUS/.test(l))).toBe(true);
    expect(lines.some((l) => /posted REGION_WRITE/.test(l))).toBe(true);
  }, 30_000);

  it('rejects unknown timing parameters', async () => {
    await expect(cli(['bench', 'modeled', '--sizes', '64', '--window-ms', '1', '--set', 'warpFactor=9'])).rejects.toThrow(/unknown timing parameter/);
  });

  it.sequential('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});
