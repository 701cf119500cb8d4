import { describe, it, expect } from 'vitest';
import { boot } from '../../../qemu/boot.js';
import { provisioned } from '../../support/guest.js';

describe('a boot that fails', () => {
  it('prints the tail of the guest console and of the server trace', async () => {
    await provisioned();
    const lines: string[] = [];
    // The guest never loads its NIC driver, so link never comes up.
    const r = await boot({ extraCmdline: ['nicsim.driver=none'], run: 'true', timeoutSec: 120, streamConsole: false, log: (l) => lines.push(l) });
    expect(r.ok).toBe(false);
    expect(r.linkUp).toBe(false);
    expect(r.failure).toMatch(/never reported link up/);
    const c = lines.indexOf('--- last 40 lines of the guest console ---');
    const t = lines.indexOf('--- last 40 server trace records ---');
    expect(c).toBeGreaterThan(0);
    expect(t).toBeGreaterThan(c);
    if (!lines.slice(c, t).some((l) => l.includes('NICSIM-RUN-EXIT=0'))) throw new Error(lines.slice(c, t).join('\n'));
    const traces = lines.slice(t + 1);
    expect(traces.length).toBeGreaterThan(5);
    expect(traces.filter((l) => /^\d+\.\d{3}ms (vfu|e1000e|pci)_\w+ \{/.test(l)).length).toBeGreaterThan(5);
    expect(lines.some((l) => l.startsWith('nicsim: boot FAILED'))).toBe(true);
  }, 300_000);
});
