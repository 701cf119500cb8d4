// A guest on our model and a guest on QEMU's own e1000e, joined through QEMU's stream and dgram socket netdevs.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket } from 'node:dgram';
import { ServedNic } from '../../../qemu/boot.js';
import { startGuest, type GuestRun } from '../../../qemu/guest-run.js';
import { provisioned } from '../../support/guest.js';

const MODEL_IP = '169.254.20.1';
const PEER_IP = '169.254.20.2';
let env: Awaited<ReturnType<typeof provisioned>>;
let work: string;

beforeAll(async () => {
  env = await provisioned();
  work = mkdtempSync(join(tmpdir(), 'nicsim-interop-'));
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * The model's guest receives 16 MiB and sends 16 MiB back; the peer guest does the opposite.
 * Each prints the byte count and SHA-256 of what it sent and received; each pings the other.
 */
const modelScript = `export NO_COLOR=1
P=${PEER_IP}
i=0; until ping -c 1 -W 1 $P >/dev/null; do i=$((i+1)); [ $i -ge 120 ] && break; done
ping -c 10 -i 0.2 -W 3 $P | tail -2 | sed 's/^/MODEL-PING /'
socat -u TCP-LISTEN:6001,reuseaddr CREATE:/tmp/in
echo "MODEL-IN $(wc -c < /tmp/in) $(sha256sum /tmp/in | cut -d' ' -f1)"
dd if=/dev/urandom of=/tmp/out bs=1M count=16 2>/dev/null
echo "MODEL-OUT $(wc -c < /tmp/out) $(sha256sum /tmp/out | cut -d' ' -f1)"
socat -u FILE:/tmp/out TCP-LISTEN:6002,reuseaddr
ip -s link show eth0 | sed 's/^/IPS /'
`;
const peerScript = `export NO_COLOR=1
M=${MODEL_IP}
i=0; until ping -c 1 -W 1 $M >/dev/null; do i=$((i+1)); [ $i -ge 120 ] && break; done
ping -c 10 -i 0.2 -W 3 $M | tail -2 | sed 's/^/PEER-PING /'
dd if=/dev/urandom of=/tmp/out bs=1M count=16 2>/dev/null
echo "PEER-OUT $(wc -c < /tmp/out) $(sha256sum /tmp/out | cut -d' ' -f1)"
i=0; until socat -u FILE:/tmp/out TCP:$M:6001 2>/dev/null; do i=$((i+1)); [ $i -ge 60 ] && break; sleep 1; done
i=0; until socat -u TCP:$M:6002 CREATE:/tmp/in 2>/dev/null && [ -s /tmp/in ]; do i=$((i+1)); [ $i -ge 60 ] && break; sleep 1; done
echo "PEER-IN $(wc -c < /tmp/in) $(sha256sum /tmp/in | cut -d' ' -f1)"
`;

function field(lines: string[], tag: string): string[] {
  const l = lines.find((x) => x.startsWith(`${tag} `));
  if (!l) throw new Error(`no ${tag} line`);
  return l.trim().split(/\s+/).slice(1);
}

async function runPair(backend: string, peerNetdev: string, peerDevice: 'qemu-e1000e' | 'virtio-net', name: string): Promise<{ served: ServedNic; model: GuestRun; peer: GuestRun }> {
  const served = await ServedNic.start({ socket: join(work, `${name}-vfio-user.sock`), backend, name });
  const model = startGuest({ qemu: env.qemu, guest: env.guest, nic: { kind: 'vfio-user', socket: served.o.socket }, workDir: work, guestIp: `${MODEL_IP}/16`, script: modelScript, name: `${name}-model` });
  const peer = startGuest({
    qemu: env.qemu, guest: env.guest, nic: { kind: peerDevice, netdev: ['-netdev', peerNetdev], mac: '52:54:00:12:34:02' }, workDir: work,
    guestIp: `${PEER_IP}/16`, script: peerScript, name: `${name}-peer`,
    extraCmdline: peerDevice === 'virtio-net' ? ['nicsim.driver=virtio_net,virtio_pci'] : [],
  });
  const timeout = new Promise<never>((_, rej) => setTimeout(() => rej(new Error('guests did not finish within 240 s')), 240_000).unref());
  try {
    await Promise.race([Promise.all([model.exited, peer.exited]), timeout]);
  } catch (e) {
    await Promise.all([model.kill(), peer.kill()]);
    served.stop();
    throw new Error(`${(e as Error).message}\n--- model guest ---\n${model.lines.slice(-40).join('\n')}\n--- peer guest ---\n${peer.lines.slice(-40).join('\n')}\n${peer.qemuStderr}`);
  }
  return { served, model, peer };
}

function check(r: { served: ServedNic; model: GuestRun; peer: GuestRun }): void {
  const { model, peer } = r;
  try {
    expect(model.lines.some((l) => /NIC Link is Up 1000 Mbps Full Duplex/.test(l))).toBe(true);
    for (const [g, tag] of [[model, 'MODEL-PING'], [peer, 'PEER-PING']] as const) {
      const stats = g.lines.find((l) => l.startsWith(tag) && /packets transmitted/.test(l));
      expect(stats, `${tag}: ${g.lines.filter((l) => l.startsWith(tag)).join(' | ')}`).toMatch(/10 packets transmitted, 10 (packets )?received/);
    }
    const [peerOutBytes, peerOutSha] = field(peer.lines, 'PEER-OUT');
    const [modelInBytes, modelInSha] = field(model.lines, 'MODEL-IN');
    const [modelOutBytes, modelOutSha] = field(model.lines, 'MODEL-OUT');
    const [peerInBytes, peerInSha] = field(peer.lines, 'PEER-IN');
    expect([peerOutBytes, modelInBytes, modelOutBytes, peerInBytes]).toEqual(Array(4).fill(String(16 << 20)));
    expect(modelInSha).toBe(peerOutSha);
    expect(peerInSha).toBe(modelOutSha);
    const t = r.served.dev.device.stats.totals;
    expect(t.rxPackets).toBeGreaterThan(10_000);
    expect(t.txPackets).toBeGreaterThan(10_000);
    const bs = r.served.backend.stats();
    expect(bs['rxFrames']).toBeGreaterThanOrEqual(t.rxPackets);
    expect(bs['txFrames']).toBe(t.txPackets);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- model guest ---\n${model.lines.slice(-50).join('\n')}\n--- peer guest ---\n${peer.lines.slice(-50).join('\n')}\n--- server ---\n${r.served.report().join('\n')}`);
  } finally {
    r.served.stop();
  }
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

describe.sequential('interop with stock QEMU guests through socket netdevs', () => {
  it('stream over a UNIX socket: our model and QEMU e1000e ping each other and move 16 MiB each way by TCP with matching SHA-256', async () => {
    const path = join(work, 'stream.sock');
    const r = await runPair(`stream-listen:unix:${path}`, `stream,id=n0,server=off,reconnect-ms=500,addr.type=unix,addr.path=${path}`, 'qemu-e1000e', 'stream');
    check(r);
  }, 400_000);

  it('dgram over UDP on loopback: our model and QEMU virtio-net ping each other and move 16 MiB each way by TCP with matching SHA-256', async () => {
    const [a, b] = [await freeUdpPort(), await freeUdpPort()];
    const r = await runPair(`dgram:127.0.0.1:${a}:127.0.0.1:${b}`, `dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port=${b},remote.type=inet,remote.host=127.0.0.1,remote.port=${a}`, 'virtio-net', 'dgram');
    check(r);
  }, 400_000);
});
