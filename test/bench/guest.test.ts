// The guest comparison benchmark in its smoke version: one boot per NIC kind, every figure measured.
import { describe, it, expect } from 'vitest';
import { runGuestBench, formatGuestTable, ALL_KINDS } from '../../bench/guest.js';
import { provisioned } from '../support/guest.js';

describe('guest comparison benchmark (smoke)', () => {
  it('boots the same guest on the model, QEMU e1000e and virtio-net and measures every figure', async () => {
    await provisioned(); // fails naming `npx nicsim setup` when QEMU or the guest image is missing
    const log: string[] = [];
    const t0 = Date.now();
    const results = await runGuestBench({ smoke: true, log: (l) => log.push(l) });
    const table = formatGuestTable(results);
    const seconds = (Date.now() - t0) / 1000;
    console.log([...table, `(smoke run: ${seconds.toFixed(1)} s)`].join('\n'));
    const explain = `\n${table.join('\n')}\n--- bench log ---\n${log.join('\n')}`;

    expect(results.map((r) => r.kind), explain).toEqual(ALL_KINDS);
    for (const r of results) {
      const figures = {
        bootToLinkMs: r.bootToLinkMs,
        txPps: r.txPps,
        rxPps: r.rxPps,
        pingAvg: r.pingRttMs.avg,
        pingMin: r.pingRttMs.min,
        pingMax: r.pingRttMs.max,
        tcpTxMbps: r.tcpTxMbps,
        tcpRxMbps: r.tcpRxMbps,
      };
      for (const [name, v] of Object.entries(figures)) {
        expect(Number.isFinite(v) && v > 0, `${r.kind} ${name} = ${v}${explain}`).toBe(true);
      }
      expect(r.pingRttMs.min).toBeLessThanOrEqual(r.pingRttMs.avg);
      expect(r.pingRttMs.avg).toBeLessThanOrEqual(r.pingRttMs.max);
      // What each phase cost: QEMU's CPU for every kind, the server's only where it served the model.
      for (const phase of ['tcptx', 'tcprx', 'rx', 'tx', 'idle'] as const) {
        const c = r.cost?.[phase];
        expect(c, `${r.kind} ${phase} cost${explain}`).toBeDefined();
        expect(c!.seconds).toBeGreaterThan(0);
        expect(c!.qemuCpuPct >= 0 && c!.qemuCpuPct <= 100 * 4, `${r.kind} ${phase} QEMU CPU ${c!.qemuCpuPct}`).toBe(true);
        // Split by thread: the vCPU ran the guest; the two parts add up to the whole (tick rounding aside).
        expect(c!.qemuVcpuPct >= 0 && c!.qemuOtherPct >= 0, `${r.kind} ${phase} QEMU threads ${c!.qemuVcpuPct} + ${c!.qemuOtherPct}`).toBe(true);
        expect(Math.abs(c!.qemuVcpuPct + c!.qemuOtherPct - c!.qemuCpuPct)).toBeLessThan(15);
        if (r.kind === 'model') {
          expect(c!.serverCpuPct >= 0 && c!.serverCpuPct <= 200, `server CPU ${c!.serverCpuPct}`).toBe(true);
          expect(c!.wakeupsPerSec).toBeGreaterThanOrEqual(0);
          if (phase !== 'idle') {
            expect(c!.frames, `${phase} frames`).toBeGreaterThan(0);
            expect(c!.serverUsPerFrame > 0 && Number.isFinite(c!.serverUsPerFrame), `${phase} us/frame ${c!.serverUsPerFrame}`).toBe(true);
          }
        } else expect(Number.isNaN(c!.serverCpuPct)).toBe(true);
      }
    }
    expect(table[0]).toMatch(/model\s+qemu e1000e\s+virtio-net\s+model\/e1000e\s+model\/virtio-net/);
    for (const row of table.slice(2)) expect(row.trim().split(/\s{2,}/)).toHaveLength(6);
  }, 300_000);
});
