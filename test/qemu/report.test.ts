// The end-of-run report of a served NIC: the link line and the accounting of received frames.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { ServedNic, DEFAULT_MAC, linkLine, rxAccountLine, type RxAccount } from '../../qemu/boot.js';
import { BAR_MMIO } from '../../device/e1000e/device.js';
import { REG, CTRL_SLU, RCTL_EN } from '../../device/e1000e/defs.js';

describe('the link line', () => {
  it('says a link down after a clean power-off is how the run ended, not a failure', () => {
    expect(linkLine({ up: false, ups: 2, end: { kind: 'poweroff' } })).toBe('link: up 2 time(s) during the run; the guest powered off (link down at exit)');
    expect(linkLine({ up: true, ups: 1, end: { kind: 'poweroff' } })).toBe('link: up 1 time(s) during the run; still up when the guest powered off');
  });

  it('reads as a failure when the link is down while the guest runs, or never came up', () => {
    expect(linkLine({ up: false, ups: 2, end: { kind: 'stopped', how: 'was stopped at the 300 s timeout' } }))
      .toBe('link: DOWN while the guest was running (it had come up 2 time(s)); the guest was stopped at the 300 s timeout');
    expect(linkLine({ up: false, ups: 0, end: { kind: 'poweroff' } })).toBe('link: DOWN, never came up before the guest powered off');
    expect(linkLine({ up: false, ups: 0, end: { kind: 'stopped', how: 'ended without finishing its script' } })).toBe('link: DOWN, never came up (the guest ended without finishing its script)');
    expect(linkLine({ up: false, ups: 1, client: 'connected' })).toBe('link now: DOWN while the client is connected (came up 1 time(s) during the run)');
    expect(linkLine({ up: false, ups: 0, client: 'connected' })).toBe('link now: DOWN, never came up');
  });

  it('keeps the up state plain, and says what it was when the client left (serve)', () => {
    expect(linkLine({ up: true, ups: 1, end: { kind: 'stopped', how: 'was stopped (QEMU exited with SIGTERM)' } }))
      .toBe('link: up, 1000 Mb/s full duplex when the guest was stopped (QEMU exited with SIGTERM) (came up 1 time(s) during the run)');
    expect(linkLine({ up: true, ups: 3, client: 'connected' })).toBe('link now: up, 1000 Mb/s full duplex (came up 3 time(s) during the run)');
    expect(linkLine({ up: false, ups: 2, client: 'left' })).toBe('link: up 2 time(s) during the run; down when the client disconnected');
    expect(linkLine({ up: false, ups: 0, client: 'never' })).toBe('link: down, no client has connected');
    expect(linkLine({ up: true, ups: 1, client: 'never' })).toBe('link now: up, 1000 Mb/s full duplex, no client has connected');
  });
});

const NO_DROPS: RxAccount['drops'] = { filtered: 0, vlanFiltered: 0, disabled: 0, missed: 0, runts: 0, oversize: 0, ingressDrops: 0, unplaceable: 0, ringFaults: 0, loopbackIgnored: 0, macControl: 0 };

describe('the received-frames line', () => {
  it('adds the frames delivered and each drop up to the backend\'s rxFrames', () => {
    const line = rxAccountLine({ fromBackend: 30, looped: 0, delivered: 22, drops: { ...NO_DROPS, filtered: 5, disabled: 3 } });
    expect(line).toBe('rx frames: 30 from the backend = 22 delivered (rx_packets) + 5 filtered by destination address + 3 receiver off or link down');
  });

  it('names every reason, and what the device holds or flushed without counting it', () => {
    const drops = { filtered: 1, vlanFiltered: 2, disabled: 3, missed: 4, runts: 5, oversize: 6, ingressDrops: 7, unplaceable: 8, ringFaults: 9, loopbackIgnored: 10, macControl: 2 };
    const line = rxAccountLine({ fromBackend: 100, looped: 0, delivered: 40, drops });
    expect(line).toBe('rx frames: 100 from the backend = 40 delivered (rx_packets) + 1 filtered by destination address + 2 VLAN-filtered + 3 receiver off or link down'
      + ' + 4 missed, packet buffer full (MPC) + 5 runts + 6 oversize (ROC) + 7 ingress drops (faster than line rate) + 8 too long for the ring\'s buffers'
      + ' + 9 lost to descriptor DMA faults + 10 ignored in loopback + 2 MAC Control (PAUSE) frames taken by the MAC + 3 still queued in the device or flushed by a reset');
    const sum = [...line.matchAll(/(?:= |\+ )(\d+) /g)].reduce((a, m) => a + Number(m[1]), 0);
    expect(sum).toBe(100);
  });

  it('counts frames looped back inside the device beside the backend\'s', () => {
    expect(rxAccountLine({ fromBackend: 2, looped: 64, delivered: 64, drops: { ...NO_DROPS, loopbackIgnored: 2 } }))
      .toBe('rx frames: 2 from the backend + 64 looped back inside the device = 64 delivered (rx_packets) + 2 ignored in loopback');
    expect(rxAccountLine({ fromBackend: 0, looped: 0, delivered: 0, drops: NO_DROPS })).toBe('rx frames: 0 from the backend');
  });
});

describe('a served NIC\'s report', () => {
  it('accounts for every frame its backend handed it, and names the client\'s state in the link line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nicsim-report-'));
    const peer = join(dir, 'peer.sock');
    const nic = await ServedNic.start({ socket: join(dir, 'vfu.sock'), backend: `stream-listen:unix:${peer}`, timing: { autonegNs: 0 } });
    const s = connect(peer);
    try {
      await new Promise<void>((r) => s.once('connect', () => r()));
      const frame = (dst: number[], len: number, type = 0x0800) => {
        const f = Buffer.alloc(4 + len);
        f.writeUInt32BE(len, 0);
        Buffer.from(dst).copy(f, 4);
        Buffer.from([0x02, 0, 0, 0, 0, 9]).copy(f, 10);
        f.writeUInt16BE(type, 16);
        if (type === 0x8808) f.writeUInt32BE(0x0001ffff, 18); // PAUSE, 0xffff quanta
        return f;
      };
      const ours = [...DEFAULT_MAC];
      const other = [0x02, 0, 0, 0, 0, 7];
      const bcast = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
      const pause = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x01];
      const settle = async (want: number) => {
        const t0 = Date.now();
        while ((nic.backend.stats()['rxFrames'] ?? 0) < want && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
        await new Promise((r) => setTimeout(r, 50)); // paced frames leave the ingress queue
      };
      // Receiver off: every frame is dropped as such.
      s.write(Buffer.concat([frame(ours, 60), frame(other, 60)]));
      await settle(2);
      // Receiver on and link up (no guest: the test programs CTRL and RCTL itself), no ring.
      const d = nic.dev.device;
      d.barWrite(BAR_MMIO, REG.CTRL, 4, d.barRead(BAR_MMIO, REG.CTRL, 4) | CTRL_SLU);
      d.barWrite(BAR_MMIO, REG.RCTL, 4, RCTL_EN);
      expect(d.linkUp()).toBe(true);
      s.write(Buffer.concat([frame(other, 60), frame(other, 100), frame(other, 60), frame(bcast, 60), frame(ours, 2000), frame(ours, 60), frame(ours, 300), frame(pause, 60, 0x8808)]));
      await settle(10);
      const report = nic.report();
      expect(nic.backend.stats()['rxFrames']).toBe(10);
      expect(report).toContain('rx frames: 10 from the backend = 0 delivered (rx_packets) + 4 filtered by destination address + 2 receiver off or link down'
        + ' + 1 oversize (ROC) + 1 MAC Control (PAUSE) frames taken by the MAC + 2 still queued in the device or flushed by a reset');
      // No vfio-user client ever came (the test set the link up itself).
      expect(report[0]).toBe('link now: up, 1000 Mb/s full duplex, no client has connected');
    } finally {
      s.destroy();
      nic.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
