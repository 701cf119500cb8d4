// The real guest Linux stack, with its unmodified e1000e, on our model behind vfio-user.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServedNic } from '../../../qemu/boot.js';
import { startGuest, type GuestRun } from '../../../qemu/guest-run.js';
import { provisioned, hostPing, pingCounts, poke, NsProcess, TCP_PEER } from '../../support/guest.js';

const HOST = '169.254.10.1';
const GUEST = '169.254.10.2';
let env: Awaited<ReturnType<typeof provisioned>>;
let served: ServedNic;
let ns: string;
let work: string;
const serverLog: string[] = [];

beforeAll(async () => {
  env = await provisioned();
  work = mkdtempSync(join(tmpdir(), 'nicsim-guest-test-'));
  served = new ServedNic({ socket: join(work, 'vfu.sock'), backend: 'netns', log: (l) => serverLog.push(l) });
  ns = served.backend.netns!.name;
}, 600_000);

afterAll(() => {
  served?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function guest(script: string, opts: { intMode?: number; allowReboot?: boolean; name: string }): GuestRun {
  return startGuest({
    qemu: env.qemu, guest: env.guest, nic: { kind: 'vfio-user', socket: served.o.socket }, workDir: work,
    intMode: opts.intMode, guestIp: `${GUEST}/16`, script, allowReboot: opts.allowReboot, name: opts.name,
  });
}

/** Dumps the console and server trace when an expectation inside fails, like nicsim boot does. */
async function explained<T>(g: GuestRun, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    await g.kill();
    const tail = g.lines.slice(-60).join('\n');
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n--- guest console ---\n${tail}\n--- qemu stderr ---\n${g.qemuStderr}`);
  }
}

const irqLine = (lines: string[], tag: string) =>
  Object.fromEntries(lines.filter((l) => l.startsWith(tag)).map((l) => {
    const f = l.trim().split(/\s+/);
    return [f.at(-1)!, Number(f[2])];
  }));

describe.sequential('a QEMU guest on the model', () => {
  it('MSI-X: ping both ways, 16 MiB each way by TCP, counters agree, interrupts rise, rmmod/insmod and a reboot bring the link back', async () => {
    const counter = new NsProcess(ns, [process.execPath, TCP_PEER, 'counter', '7001']);
    const sink = new NsProcess(ns, [process.execPath, TCP_PEER, 'sink', '5001']);
    const source = new NsProcess(ns, [process.execPath, TCP_PEER, 'source', '5002', String(16 << 20)]);
    await Promise.all([counter.waitLine(/LISTENING/), sink.waitLine(/LISTENING/), source.waitLine(/LISTENING/)]);
    const script = `export NO_COLOR=1
H=${HOST}
echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
n=$(socat -u TCP:$H:7001 - 2>/dev/null)
echo "BOOT-NUMBER $n"
if [ "$n" = 2 ]; then
  ping -c 5 -W 5 $H && echo SECOND-BOOT-PING-OK
  exit 0
fi
grep eth0 /proc/interrupts | sed 's/^/IRQ-BEFORE /'
ping -c 100 -i 0.05 -W 5 $H > /tmp/ping.txt; tail -2 /tmp/ping.txt
echo NICSIM-HOST-PING-NOW
socat -u TCP-LISTEN:7000,reuseaddr - > /dev/null
dd if=/dev/urandom of=/tmp/out bs=1M count=16 2>/dev/null
echo "GUEST-OUT $(wc -c < /tmp/out) $(sha256sum /tmp/out | cut -d' ' -f1)"
socat -u FILE:/tmp/out TCP:$H:5001 || echo GUEST-OUT-FAILED
socat -u TCP:$H:5002 CREATE:/tmp/in || echo GUEST-IN-FAILED
echo "GUEST-IN $(wc -c < /tmp/in) $(sha256sum /tmp/in | cut -d' ' -f1)"
grep eth0 /proc/interrupts | sed 's/^/IRQ-AFTER /'
ip -s link show eth0 | sed 's/^/IPS /'
echo NICSIM-COUNTERS-NOW
socat -u TCP-LISTEN:7000,reuseaddr - > /dev/null
rmmod e1000e && echo RMMOD-OK
for ko in $(cat /etc/nicsim/modules.e1000e); do insmod /lib/modules/$(uname -r)/$ko; done
ip link set eth0 up
i=0; while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
ip addr add ${GUEST}/16 dev eth0
ping -c 5 -W 5 $H && echo AFTER-INSMOD-PING-OK
echo REBOOTING
reboot -f
`;
    const g = guest(script, { name: 'msix', allowReboot: true });
    await explained(g, async () => {
      await g.waitFor(/NICSIM-HOST-PING-NOW/, 120_000);
      const guestPing = pingCounts(g.lines.join('\n'));
      expect(guestPing).toEqual({ sent: 100, received: 100 });
      const hp = await hostPing(ns, GUEST, 100);
      expect(pingCounts(hp.out)).toEqual({ sent: 100, received: 100 });
      expect((await poke(ns, GUEST, 7000)).code).toBe(0);

      const outLine = await g.waitFor(/^GUEST-OUT /, 120_000);
      const sinkLine = await sink.waitLine(/^SINK /, 180_000);
      expect(sinkLine.split(' ').slice(1)).toEqual(outLine.split(' ').slice(1));
      expect(outLine.split(' ')[1]).toBe(String(16 << 20));
      const srcLine = await source.waitLine(/^SOURCE /);
      const inLine = await g.waitFor(/^GUEST-IN /, 180_000);
      expect(inLine.split(' ').slice(1)).toEqual(srcLine.split(' ').slice(1));

      await g.waitFor(/NICSIM-COUNTERS-NOW/, 60_000);
      const t = served.dev.device.stats.totals;
      const tap = served.backend.stats();
      const rxd = served.dev.device.rx.diag;
      // ip -s link in the guest (from GORC/GPRC/GOTC/GPTC, FCS included in octets, as Linux reports)
      const ips = g.lines.filter((l) => l.startsWith('IPS '));
      const rx = ips[ips.findIndex((l) => /RX:/.test(l)) + 1]!.trim().split(/\s+/).slice(1).map(Number);
      const tx = ips[ips.findIndex((l) => /TX:/.test(l)) + 1]!.trim().split(/\s+/).slice(1).map(Number);
      expect({ rxBytes: rx[0], rxPackets: rx[1], txBytes: tx[0], txPackets: tx[1] }).toEqual({
        rxBytes: t.rxOctets, rxPackets: t.rxPackets, txBytes: t.txOctets, txPackets: t.txPackets,
      });
      // The host TAP saw exactly what the device sent, and everything the device took or filtered.
      expect(tap['txFrames']).toBe(t.txPackets);
      expect(tap['txBytes']! + 4 * tap['txFrames']!).toBe(t.txOctets);
      expect(tap['rxFrames']).toBe(t.rxPackets + rxd.filtered + rxd.disabled + t.rxMissed);
      expect(t.rxPackets).toBeGreaterThan(11_000); // 16 MiB in MSS-sized frames, plus ACKs and pings

      const before = irqLine(g.lines, 'IRQ-BEFORE');
      const after = irqLine(g.lines, 'IRQ-AFTER');
      expect(Object.keys(after).sort()).toEqual(['eth0', 'eth0-rx-0', 'eth0-tx-0']);
      expect(after['eth0-rx-0']).toBeGreaterThan(before['eth0-rx-0']!);
      expect(after['eth0-tx-0']).toBeGreaterThan(before['eth0-tx-0']!);
      expect(after['eth0']).toBeGreaterThanOrEqual(1);

      expect((await poke(ns, GUEST, 7000)).code).toBe(0);
      await g.waitFor(/AFTER-INSMOD-PING-OK/, 120_000);
      await g.waitFor(/SECOND-BOOT-PING-OK/, 180_000);
      const exit = await g.exited;
      expect(exit.code).toBe(0);
      expect(g.lines.filter((l) => /NIC Link is Up 1000 Mbps Full Duplex/.test(l)).length).toBe(3);
      expect(g.lines).toContain('RMMOD-OK');
      expect(g.lines.some((l) => l.includes('BOOT-NUMBER 2'))).toBe(true);
    });
    counter.kill();
    sink.kill();
    source.kill();
  }, 600_000);

  for (const [mode, irqs] of [
    [1, ['eth0']],
    [0, ['eth0']],
  ] as const) {
    it(`a new QEMU on the same server, e1000e.IntMode=${mode}: 100 pings each way with none lost`, async () => {
      const connectionsBefore = served.server.connections;
      const script = `export NO_COLOR=1
echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
grep eth0 /proc/interrupts | sed 's/^/IRQ-BEFORE /'
ping -c 100 -i 0.05 -W 5 ${HOST} > /tmp/ping.txt; tail -2 /tmp/ping.txt
echo NICSIM-HOST-PING-NOW
socat -u TCP-LISTEN:7000,reuseaddr - > /dev/null
grep eth0 /proc/interrupts | sed 's/^/IRQ-AFTER /'
`;
      const g = guest(script, { name: `intmode${mode}`, intMode: mode });
      await explained(g, async () => {
        await g.waitFor(/NICSIM-HOST-PING-NOW/, 120_000);
        expect(pingCounts(g.lines.join('\n'))).toEqual({ sent: 100, received: 100 });
        const hp = await hostPing(ns, GUEST, 100);
        expect(pingCounts(hp.out)).toEqual({ sent: 100, received: 100 });
        expect((await poke(ns, GUEST, 7000)).code).toBe(0);
        expect((await g.exited).code).toBe(0);
        const after = irqLine(g.lines, 'IRQ-AFTER');
        const before = irqLine(g.lines, 'IRQ-BEFORE');
        expect(Object.keys(after)).toEqual(irqs);
        expect(after['eth0']).toBeGreaterThan(before['eth0']! + 100);
        expect(g.lines.some((l) => (mode === 1 ? /PCI-MSI/ : /IO-APIC/).test(l) && l.includes('eth0'))).toBe(true);
        expect(g.lines.some((l) => /NIC Link is Up 1000 Mbps Full Duplex/.test(l))).toBe(true);
      });
      expect(served.server.connections).toBe(connectionsBefore + 1);
    }, 300_000);
  }
});
