// Backends and observability with real guests: passt with DHCP, pcap checked by tshark, two guests on the built-in switch, interrupt traces.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import { execFile } from 'node:child_process';
import { boot, DEFAULT_MAC, ServedNic } from '../../../qemu/boot.js';
import { startGuest } from '../../../qemu/guest-run.js';
import { tsharkCheck } from '../../../qemu/host-root.js';
import { provisioned, NsProcess, TCP_PEER } from '../../support/guest.js';

let env: Awaited<ReturnType<typeof provisioned>>;
let work: string;

beforeAll(async () => {
  env = await provisioned();
  work = mkdtempSync(join(tmpdir(), 'nicsim-net-test-'));
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function explain(lines: string[], extra = ''): string {
  return `\n--- output ---\n${lines.slice(-60).join('\n')}${extra}`;
}

/** Frames in a capture whose Ethernet source is (or is not) `mac`, counted by tshark. */
function tsharkCount(file: string, filter: string): Promise<number> {
  const t = env.hostTools;
  return new Promise((resolve, reject) => {
    execFile(t.tshark[0]!, [...t.tshark.slice(1), '-n', '-r', file, '-Y', filter, '-T', 'fields', '-e', 'frame.number'], { env: { ...process.env, ...t.tsharkEnv }, maxBuffer: 64 << 20 }, (err, stdout) => {
      if (err) reject(err);
      else resolve(stdout.split('\n').filter((l) => l.trim()).length);
    });
  });
}

describe.sequential('networking backends with a real guest', () => {
  it('through passt (no root needed), the guest gets a DHCP address and reaches a TCP server on the host loopback', async () => {
    const got: string[] = [];
    const srv: Server = createServer((sock) => {
      let data = '';
      sock.on('data', (d) => (data += d.toString()));
      sock.on('end', () => {
        got.push(data.trim());
        sock.end(`ack ${data.length}\n`);
      });
      sock.on('error', () => {});
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    const lines: string[] = [];
    try {
      const r = await boot({
        backend: 'passt', streamConsole: false, log: (l) => lines.push(l), timeoutSec: 240,
        run: `export NO_COLOR=1
ip -4 addr show eth0 | sed 's/^/ADDR /'
gw=$(ip route | awk '/^default/ {print $3; exit}')
echo "GATEWAY $gw"
r=$(echo "hello from $(cat /sys/class/net/eth0/address)" | socat -t 10 - TCP:$gw:${port})
echo "REPLY $r"
[ -n "$r" ]
`,
      });
      expect(r.ok, explain(lines)).toBe(true);
      // The address came from passt's DHCP server (udhcpc's report), link-local by our choice.
      expect(lines.some((l) => /nicsim-init: dhcp eth0 169\.254\.30\.2\/16 router 169\.254\.30\.1/.test(l)), explain(lines)).toBe(true);
      expect(lines.some((l) => /ADDR\s+inet 169\.254\.30\.2\/16/.test(l)), explain(lines)).toBe(true);
      expect(lines.some((l) => /GATEWAY 169\.254\.30\.1/.test(l))).toBe(true);
      // The server on the host's loopback got the guest's words and the guest got its answer.
      expect(got).toEqual([`hello from ${[...DEFAULT_MAC].map((b) => b.toString(16).padStart(2, '0')).join(':')}`]);
      expect(lines.some((l) => new RegExp(`REPLY ack ${got[0]!.length + 1}`).test(l)), explain(lines)).toBe(true);
      expect(r.report.some((l) => /^backend passt .* connections=1/.test(l))).toBe(true);
    } finally {
      srv.close();
    }
  }, 400_000);

  it('a pcap of a boot, a ping and a TCP transfer reads in tshark with no malformed frame, and its counts match the device counters; the interrupt trace names MSI-X vectors and datasheet causes', async () => {
    const pcap = join(work, 'boot.pcap');
    const lines: string[] = [];
    // A 1 MiB TCP transfer to the host side of the namespace, started once the namespace exists.
    const served = await ServedNic.start({ socket: join(work, 'cap.sock'), backend: 'netns:169.254.40.1/16', pcap, trace: 'e1000e_irq_msix,e1000e_irq_raise', log: (l) => lines.push(l) });
    const ns = served.backend.netns!.name;
    const sink = new NsProcess(ns, [process.execPath, TCP_PEER, 'sink', '5001']);
    await sink.waitLine(/LISTENING/);
    const g = startGuest({
      qemu: env.qemu, guest: env.guest, nic: { kind: 'vfio-user', socket: served.o.socket }, workDir: work, guestIp: '169.254.40.2/16', name: 'cap',
      script: `export NO_COLOR=1
ping -c 10 -i 0.2 -W 3 169.254.40.1 | tail -2
dd if=/dev/urandom of=/tmp/out bs=64k count=16 2>/dev/null
socat -u FILE:/tmp/out TCP:169.254.40.1:5001 && echo SENT-OK
`,
    });
    let report: string[] = [];
    let t = served.dev.device.stats.totals;
    let rxd = served.dev.device.rx.diag;
    try {
      const ex = await Promise.race([g.exited, new Promise<null>((r) => setTimeout(() => r(null), 240_000).unref())]);
      expect(ex, explain(g.lines)).not.toBeNull();
      expect(g.lines.some((l) => /10 packets transmitted, 10 (packets )?received/.test(l)), explain(g.lines)).toBe(true);
      expect(g.lines.some((l) => l.includes('SENT-OK')), explain(g.lines)).toBe(true);
      await sink.waitLine(/SINK 1048576 /);
    } finally {
      sink.kill();
      report = served.report();
      // Copies: stopping the server resets the device, counters included.
      t = { ...served.dev.device.stats.totals };
      rxd = { ...served.dev.device.rx.diag };
      served.stop();
    }
    // tshark reads it all: no malformed frame, no error-level finding (checksums checked).
    const chk = await tsharkCheck(pcap, { tools: env.hostTools });
    expect(chk.malformed, chk.expertWarnings.join('\n')).toBe(0);
    expect(chk.errors, chk.expertWarnings.join('\n')).toBe(0);
    const mac = [...DEFAULT_MAC].map((b) => b.toString(16).padStart(2, '0')).join(':');
    const fromNic = await tsharkCount(pcap, `eth.src == ${mac}`);
    const toNic = await tsharkCount(pcap, `eth.src != ${mac}`);
    expect(fromNic + toNic).toBe(chk.frames);
    // Every frame the device sent is in the capture; every frame that reached it is too,
    // whether the device took it (GPRC) or its filters, a full ring or a disabled receiver did not.
    expect(fromNic, report.join('\n')).toBe(t.txPackets);
    expect(toNic, `${report.join('\n')}\n${JSON.stringify(rxd)}`).toBe(t.rxPackets + t.rxMissed + rxd.filtered + rxd.vlanFiltered + rxd.disabled + rxd.ingressDrops);
    expect(t.txPackets).toBeGreaterThan(700); // 1 MiB of TCP segments, pings, ARP
    // The interrupt trace: MSI-X vectors 0 (RXQ0) and 1 (TXQ0) and 2 (OTHER), with datasheet names.
    const traces = lines.filter((l) => l.startsWith('trace '));
    const some = (re: RegExp) => expect(traces.some((l) => re.test(l)), `${re} in ${traces.length} trace lines:\n${traces.slice(0, 30).join('\n')}`).toBe(true);
    some(/e1000e_irq_msix \{"dev":"nic0","vector":0,"causes":"RXQ0","EITR":\d+\}/);
    some(/e1000e_irq_msix \{"dev":"nic0","vector":1,"causes":"TXQ0","EITR":\d+\}/);
    some(/e1000e_irq_msix \{"dev":"nic0","vector":2,"causes":"OTHER","EITR":\d+\}/);
    some(/e1000e_irq_raise \{"dev":"nic0","cause":"RXQ0","ICR":"[A-Z0-9_|]*RXQ0[A-Z0-9_|]*","IMS":"[A-Z0-9_|]*RXQ0/);
    some(/e1000e_irq_raise \{"dev":"nic0","cause":"LSC[|A-Z]*"/);
  }, 400_000);

  it('two guests on two NICs of one server process, joined by the built-in switch, ping each other', async () => {
    const lines: string[] = [];
    const r = await boot({ guests: 2, backend: 'none', streamConsole: false, log: (l) => lines.push(l), timeoutSec: 300 });
    expect(r.ok, explain(lines)).toBe(true);
    expect(r.guests.length).toBe(2);
    expect(r.guests.every((g) => g.linkUp)).toBe(true);
    // Each pinged the other (169.254.10.2 <-> .3) through the switch.
    for (const [i, peer] of [[0, '169.254.10.3'], [1, '169.254.10.2']] as const) {
      const stats = r.guests[i]!.consoleLines.find((l) => /packets transmitted/.test(l) && r.guests[i]!.consoleLines.indexOf(l) > 0);
      expect(stats, explain(r.guests[i]!.consoleLines)).toMatch(/3 packets transmitted, 3 (packets )?received/);
      expect(r.guests[i]!.consoleLines.some((l) => l.includes(`PING ${peer}`))).toBe(true);
    }
    const sw = r.report.find((l) => l.startsWith('switch:'));
    expect(sw, r.report.join('\n')).toMatch(/forwarded=[1-9]/);
    expect(sw).toMatch(/nic0 tx=\d+ rx=\d+, nic1 tx=\d+ rx=\d+/);
  }, 400_000);
});
