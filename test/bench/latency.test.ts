// `bench latency`: QEMU's trace log and the server's trace records parsed into one timeline, each ping followed hop by hop; then a short real run on both NICs.
import { describe, it, expect } from 'vitest';
import { parseQemuTrace, parseServerTrace, hopChains, runLatencyBench, formatLatencyTable, HOPS } from '../../bench/latency.js';
import { provisioned } from '../support/guest.js';

const Q = (t: string, rest: string) => `2026-12-03T14:57:07.${t}Z ${rest}`;

describe('latency timeline', () => {
  it("follows QEMU e1000e's ping from its trace log: TDT write, the 98-byte descriptor, the reply, vector 0, the next write", () => {
    const log = [
      Q('047446', 'e1000e_core_write Write to register 0x3818, 4 byte(s), value: 0xd'),
      Q('048101', 'e1000e_tx_descr 0x1ef7ac02 : 8b000062 0'),
      Q('048380', 'e1000e_irq_msix_notify_vec MSI-X notify vector 0x1'),
      Q('048467', 'e1000e_core_write Write to register 0xd0, 4 byte(s), value: 0x400000'),
      Q('048953', 'e1000e_rx_receive_iov Received vector of 1 fragments'),
      Q('048976', 'e1000e_irq_msix_notify_vec MSI-X notify vector 0x0'),
      Q('049274', 'e1000e_core_write Write to register 0xd0, 4 byte(s), value: 0x400000'),
      'a line that is not a trace record',
      // A TDT write whose first frame is not an echo request (ARP: 42 bytes) is no ping.
      Q('147446', 'e1000e_core_write Write to register 0x3818, 4 byte(s), value: 0xe'),
      Q('147500', 'e1000e_tx_descr 0x1ef7ac02 : 8b00002a 0'),
    ].join('\n');
    const s = parseQemuTrace(log);
    expect(s.map((x) => x.what)).toEqual(['W', 'TXD', 'MSI', 'W', 'RXF', 'MSI', 'W', 'W', 'TXD']);
    expect(s[1]!.arg).toBe(98);
    expect(s[5]!.arg).toBe(0);
    expect(hopChains('qemu-e1000e', s)).toEqual([[655, 852, 23, 298, 1828]]);
    expect(HOPS['qemu-e1000e']).toHaveLength(6);
  });

  it("follows the model's ping across QEMU's log and the server's records (one clock)", () => {
    const base = Date.parse('2026-12-03T14:57:07Z') * 1000;
    const q = [
      Q('000100', 'vfio_region_write  (vfio-user:/tmp/x/vfu.sock:region0+0x3818, 0x25, 4)'),
      Q('003000', 'vfio_msi_interrupt  (vfio-user:/tmp/x/vfu.sock) vector 0 0xfee01004/0x26'),
      Q('003400', 'vfio_region_write  (vfio-user:/tmp/x/vfu.sock:region0+0xd0, 0x100000, 4)'),
    ].join('\n');
    const rec = (us: number, point: string, fields: Record<string, unknown>) => JSON.stringify({ time: 'x', type: 'trace', nic: 'nic0', ns: 1, wallUs: base + us, point, fields });
    const srv = [
      rec(900, 'e1000e_reg_write', { dev: 'nic0', reg: 'TDT0', value: 37 }),
      rec(1300, 'e1000e_tx_frame', { dev: 'nic0', length: 98 }),
      rec(1301, 'e1000e_irq_msix', { vector: 1 }),
      rec(2200, 'e1000e_rx_frame', { dev: 'nic0', length: 98 }),
      rec(2260, 'e1000e_irq_msix', { vector: 0 }),
      '{"time":"x","type":"log","msg":"not a trace"}',
    ];
    const s = [...parseQemuTrace(q), ...parseServerTrace(srv)];
    expect(hopChains('model', s)).toEqual([[800, 400, 900, 60, 740, 400, 3300]]);
    expect(HOPS.model).toHaveLength(8);
  });
});

describe('latency bench (smoke)', () => {
  it('times every hop of a few pings on the model and on QEMU e1000e', async () => {
    await provisioned(); // fails naming `npx nicsim setup` when QEMU or the guest image is missing
    const log: string[] = [];
    const rs = await runLatencyBench({ pings: 6, interval: 0.1, timing: { paceLink: false }, log: (l) => log.push(l) });
    const table = formatLatencyTable(rs);
    console.log(table.join('\n'));
    const explain = `\n${table.join('\n')}\n${log.join('\n')}`;
    expect(rs.map((r) => r.kind)).toEqual(['model', 'qemu-e1000e']);
    for (const r of rs) {
      expect(r.problems, explain).toEqual([]);
      expect(r.pings, explain).toBe(6);
      expect(r.matched, explain).toBeGreaterThanOrEqual(3);
      expect(r.hops.map((h) => h.name)).toEqual(HOPS[r.kind]);
      for (const h of r.hops.slice(0, -1)) expect(h.medianUs >= 0 && Number.isFinite(h.medianUs), `${r.kind} ${h.name}${explain}`).toBe(true);
      // The hops up to the driver's reaction are part of the ping, so they take less than its RTT.
      expect(r.hops.at(-2)!.medianUs, explain).toBeLessThan(r.rttMs.max * 1000);
    }
  }, 300_000);
});
