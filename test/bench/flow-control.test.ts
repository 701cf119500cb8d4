// The flow-control benchmark's script and figures, without a guest (the benchmark itself boots one: `nicsim bench flow-control`).
import { describe, it, expect } from 'vitest';
import { flowScript, parseFlowMode, formatFlowTable } from '../../bench/flow-control.js';

function round(tag: string, before: number[], after: number[], mbps: number, pause: string): string[] {
  const names = ['rx_packets', 'rx_missed_errors', 'rx_no_buffer_count', 'tx_flow_control_xoff', 'tx_flow_control_xon'];
  return [
    `FLOW-${tag}-PAUSE Pause parameters for eth0: Autonegotiate: on RX: ${pause} TX: ${pause} `,
    ...names.map((n, i) => `FLOW-${tag}-BEFORE      ${n}: ${before[i]}`),
    `FLOW-${tag}-IPERF [  5]   0.00-10.00  sec  1.08 GBytes   ${mbps} Mbits/sec                  receiver`,
    ...names.map((n, i) => `FLOW-${tag}-AFTER      ${n}: ${after[i]}`),
  ];
}

describe('bench flow-control', () => {
  it('runs iperf3 -R in the order on, off, off, on, switching flow control with ethtool -A between', () => {
    const s = flowScript(10);
    const order = [...s.matchAll(/FLOW-(\w+)-IPERF/g)].map((m) => m[1]);
    expect(order).toEqual(['on1', 'off1', 'off2', 'on2']);
    expect(s.indexOf('ethtool -A eth0 autoneg off rx off tx off')).toBeLessThan(s.indexOf('FLOW-off1-IPERF'));
    expect(s.indexOf('ethtool -A eth0 autoneg on rx on tx on')).toBeGreaterThan(s.indexOf('FLOW-off2-IPERF'));
    expect(s.indexOf('ethtool -A eth0 autoneg on rx on tx on')).toBeLessThan(s.indexOf('FLOW-on2-IPERF'));
  });

  it('sums each mode over its two rounds from the ethtool -S deltas and averages the goodput', () => {
    const lines = [
      ...round('on1', [100, 5, 5, 0, 0], [1100, 5, 15, 30, 20], 900, 'on'),
      ...round('off1', [1100, 5, 15, 30, 20], [2100, 25, 45, 30, 20], 920, 'off'),
      ...round('off2', [2100, 25, 45, 30, 20], [3100, 35, 55, 30, 20], 940, 'off'),
      ...round('on2', [3100, 35, 55, 30, 20], [4100, 35, 60, 40, 25], 960, 'on'),
    ];
    const on = parseFlowMode(lines, 'on');
    const off = parseFlowMode(lines, 'off');
    expect(on).toMatchObject({ pause: 'on/on', goodputMbps: 930, rxFrames: 2000, rxMissed: 0, rxNoBuffer: 15, xoffSent: 40, xonSent: 25, missedPct: 0 });
    expect(off).toMatchObject({ pause: 'off/off', goodputMbps: 930, rxFrames: 2000, rxMissed: 30, xoffSent: 0 });
    expect(off.missedPct).toBeCloseTo((100 * 30) / 2030, 6);
    const table = formatFlowTable([on, off]);
    expect(table.find((l) => l.startsWith('goodput'))).toMatch(/930\s+930\s+1\.00x/);
    expect(table.find((l) => l.startsWith('ethtool -a'))).toMatch(/on\/on\s+off\/off/);
  });

  it('reports n/a, not a number, when a round printed nothing', () => {
    const on = parseFlowMode([], 'on');
    expect(Number.isNaN(on.goodputMbps)).toBe(true);
    expect(formatFlowTable([on, parseFlowMode([], 'off')]).find((l) => l.startsWith('goodput'))).toMatch(/n\/a\s+n\/a/);
  });
});
