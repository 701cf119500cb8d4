// The trace-point catalog names every point the code emits, and nothing it does not.
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TRACE_POINTS } from '../../device/trace-points.js';

const ROOT = join(__dirname, '..', '..');
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir))) {
    const p = join(dir, e);
    if (statSync(join(ROOT, p)).isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

describe('trace point catalog', () => {
  it('lists exactly the points emitted by device/, qemu/, kernel-glue/ and wire/', () => {
    const emitted = new Set<string>();
    for (const dir of ['device', 'qemu', 'kernel-glue', 'wire']) {
      for (const f of sources(dir)) {
        const text = readFileSync(join(ROOT, f), 'utf8');
        // Calls like emit('x', ...), trace('x', ...), tp('x', ...), this.trace('x', ...).
        for (const m of text.matchAll(/\b(?:emit|trace|tp|traceEvent)\(\s*'([a-z0-9]+_[a-z0-9_]+)'/g)) emitted.add(m[1]!);
      }
    }
    const listed = new Set(TRACE_POINTS.map((p) => p.name));
    expect(listed.size).toBe(TRACE_POINTS.length); // no duplicates
    expect([...emitted].filter((n) => !listed.has(n)).sort()).toEqual([]);
    expect([...listed].filter((n) => !emitted.has(n)).sort()).toEqual([]);
    for (const p of TRACE_POINTS) expect(p.what.length).toBeGreaterThan(5);
  });
});
