// Stock e1000e of three Linux generations on the model: link-up, ping, TCP with hashes, jumbo frames (MTU 9000),
// 802.3x flow control, RSS hashing on, and the driver's offline and online self-test.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServedNic } from '../../../qemu/boot.js';
import { startGuest, type GuestRun } from '../../../qemu/guest-run.js';
import { setup } from '../../../qemu/guest/provision.js';
import { DEFAULT_KERNEL_PACKAGE } from '../../../qemu/guest/provision.js';
import { provisioned, nsRun, NsProcess, TCP_PEER } from '../../support/guest.js';

const HOST = '169.254.10.1';
const GUEST = '169.254.10.2';
const MTU = 9000;
/** ping payload sizes from the default to the largest unfragmented one at MTU 9000 (8972 + 28 = 9000). */
const SWEEP = [56, 100, 576, 1000, 1400, 1472, 1473, 1500, 2000, 3000, 4000, 4052, 4053, 5000, 6000, 7000, 8000, 8124, 8125, 8900, 8972];

/** Kernels: bookworm's default 6.1, trixie's 6.12 and trixie-backports' 7.x, each the newest its suite has (NAME/SUITE). */
const KERNELS = [DEFAULT_KERNEL_PACKAGE, 'linux-image-amd64/trixie', 'linux-image-amd64/trixie-backports'];

/** Kernel lines that mean something went wrong in the guest. */
const KERNEL_TROUBLE = /(WARNING:|BUG:|Oops|Kernel panic|Call Trace|general protection|skb_over_panic|Unable to handle|RIP: )/;

let served: ServedNic;
let ns: string;
let work: string;
const serverLog: string[] = [];

beforeAll(async () => {
  await provisioned();
  work = mkdtempSync(join(tmpdir(), 'nicsim-kernels-'));
  served = new ServedNic({ socket: join(work, 'vfu.sock'), backend: 'netns', log: (l) => serverLog.push(l) });
  ns = served.backend.netns!.name;
  const r = await nsRun(ns, ['ip', 'link', 'set', 'dev', served.backend.netns!.ifname, 'mtu', String(MTU)]);
  if (r.code !== 0) throw new Error(`host side MTU: ${r.out}`);
}, 900_000);

afterAll(() => {
  served?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const script = `export NO_COLOR=1
H=${HOST}
echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
echo "KERNEL $(uname -r)"
ip link show eth0 | head -1 | sed 's/^/LINK /'
ethtool -a eth0 | sed 's/^/PAUSE /'
ethtool -K eth0 rxhash on 2>&1 | sed 's/^/RXHASH-SET /'
ethtool -k eth0 | grep -i hash | sed 's/^/FEATURE /'
ping -c 3 -W 5 $H | tail -2 | sed 's/^/PING /'
for s in ${SWEEP.join(' ')}; do
  if ping -c 1 -W 5 -s $s $H >/dev/null 2>&1 || ping -c 1 -W 5 -s $s $H >/dev/null 2>&1; then echo "SWEEP-OK $s"; else echo "SWEEP-FAIL $s"; fi
done
ping -c 5 -i 0.2 -W 5 -s 8972 $H | tail -2 | sed 's/^/JUMBO /'
dd if=/dev/urandom of=/tmp/out bs=1M count=16 2>/dev/null
echo "GUEST-OUT $(wc -c < /tmp/out) $(sha256sum /tmp/out | cut -d' ' -f1)"
socat -u FILE:/tmp/out TCP:$H:5001 || echo GUEST-OUT-FAILED
socat -u TCP:$H:5002 CREATE:/tmp/in || echo GUEST-IN-FAILED
echo "GUEST-IN $(wc -c < /tmp/in) $(sha256sum /tmp/in | cut -d' ' -f1)"
ethtool -t eth0 offline 2>&1 | sed 's/^/OFFLINE /'
i=0; while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
ethtool -t eth0 online 2>&1 | sed 's/^/ONLINE /'
ping -c 5 -W 5 -s 8972 $H | tail -2 | sed 's/^/AFTER-TEST /'
ip -s link show eth0 | sed 's/^/IPS /'
ethtool -S eth0 | grep -E 'rx_missed|rx_no_buffer|flow_control|rx_errors|rx_length' | sed 's/^/STATS /'
`;

function tagged(lines: string[], tag: string): string[] {
  return lines.filter((l) => l.startsWith(`${tag} `)).map((l) => l.slice(tag.length + 1));
}

/** The self-test report: PASS and every line 0 (ethtool -t prints one "name ... value" line per test). */
function selfTest(lines: string[], tag: string): { pass: boolean; results: Record<string, number> } {
  const out = tagged(lines, tag);
  const results: Record<string, number> = {};
  for (const l of out) {
    const m = /^(Register|Eeprom|Interrupt|Loopback|Link) test\s.*?(\d+)\s*$/.exec(l.trim());
    if (m) results[m[1]!] = Number(m[2]);
  }
  return { pass: out.some((l) => /The test result is PASS/.test(l)), results };
}

describe.sequential('stock e1000e of three kernels on the model', () => {
  for (const pkg of KERNELS) {
    it(`${pkg}: link with Rx/Tx flow control, ping, 16 MiB each way at MTU 9000, ping sizes to 8972, self-test PASS, no kernel warning`, async () => {
      const { qemu, guest: image } = await setup({ kernelPackage: pkg, log: () => {} });
      const sink = new NsProcess(ns, [process.execPath, TCP_PEER, 'sink', '5001']);
      const source = new NsProcess(ns, [process.execPath, TCP_PEER, 'source', '5002', String(16 << 20)]);
      await Promise.all([sink.waitLine(/LISTENING/), source.waitLine(/LISTENING/)]);
      const name = pkg.replace(/[^A-Za-z0-9.]/g, '_');
      const g: GuestRun = startGuest({
        qemu, guest: image, nic: { kind: 'vfio-user', socket: served.o.socket }, workDir: work, guestIp: `${GUEST}/16`, mtu: MTU, script, name,
      });
      try {
        const exit = await Promise.race([
          g.exited,
          new Promise<never>((_, rej) => setTimeout(() => rej(new Error('guest did not finish within 420 s')), 420_000).unref()),
        ]);
        expect(exit.code).toBe(0);
        const L = g.lines;
        expect(L.some((l) => /NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx\/Tx/.test(l))).toBe(true);
        expect(tagged(L, 'LINK')[0]).toMatch(/mtu 9000/);
        const pause = tagged(L, 'PAUSE').join('\n');
        expect(pause).toMatch(/RX:\s+on/);
        expect(pause).toMatch(/TX:\s+on/);
        expect(tagged(L, 'FEATURE').join('\n')).toMatch(/receive-hashing: on/);
        expect(tagged(L, 'PING').join('\n')).toMatch(/3 packets transmitted, 3 (packets )?received/);
        expect(tagged(L, 'SWEEP-FAIL')).toEqual([]);
        expect(tagged(L, 'SWEEP-OK').map(Number)).toEqual(SWEEP);
        expect(tagged(L, 'JUMBO').join('\n')).toMatch(/5 packets transmitted, 5 (packets )?received/);
        const outLine = tagged(L, 'GUEST-OUT')[0]!;
        expect(outLine.split(' ')[0]).toBe(String(16 << 20));
        expect((await sink.waitLine(/^SINK /, 10_000)).split(' ').slice(1).join(' ')).toBe(outLine);
        const srcLine = await source.waitLine(/^SOURCE /, 10_000);
        expect(tagged(L, 'GUEST-IN')[0]).toBe(srcLine.split(' ').slice(1).join(' '));
        const off = selfTest(L, 'OFFLINE');
        expect(off.results).toEqual({ Register: 0, Eeprom: 0, Interrupt: 0, Loopback: 0, Link: 0 });
        expect(off.pass).toBe(true);
        expect(selfTest(L, 'ONLINE').pass).toBe(true);
        expect(selfTest(L, 'ONLINE').results['Link']).toBe(0);
        expect(tagged(L, 'AFTER-TEST').join('\n')).toMatch(/5 packets transmitted, 5 (packets )?received/);
        expect(L.filter((l) => KERNEL_TROUBLE.test(l) && !/panic=-1/.test(l))).toEqual([]);
        expect(served.dev.device.rx.diag.overrunsBlocked).toBe(0);
      } catch (e) {
        await g.kill();
        throw new Error(`${(e as Error).message}\n--- guest console (${pkg}) ---\n${g.lines.slice(-80).join('\n')}\n--- qemu stderr ---\n${g.qemuStderr}`);
      } finally {
        sink.kill();
        source.kill();
      }
    }, 900_000);
  }
});
