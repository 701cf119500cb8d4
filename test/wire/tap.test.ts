// TapBackend: a NIC's wire port on a Linux TAP, checked against the kernel's ARP and ICMP in a private netns.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeSys } from '../../qemu/native/fake.js';
import { loadNative } from '../../qemu/native/index.js';
import { TapBackend } from '../../wire/tap.js';
import type { WireEndpoint } from '../../wire/wire.js';

const MY_MAC = [0x02, 0x00, 0x00, 0x4e, 0x53, 0x02];
const MY_IP = [169, 254, 77, 2];
const HOST_IP = [169, 254, 77, 1];

function checksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function arpRequest(targetIp: number[]): Uint8Array {
  const f = new Uint8Array(42);
  f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0);
  f.set(MY_MAC, 6);
  f.set([0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01], 12);
  f.set(MY_MAC, 22);
  f.set(MY_IP, 28);
  f.set(targetIp, 38);
  return f;
}

function arpReplyTo(req: Uint8Array): Uint8Array {
  const f = new Uint8Array(42);
  f.set(req.subarray(22, 28), 0);
  f.set(MY_MAC, 6);
  f.set([0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02], 12);
  f.set(MY_MAC, 22);
  f.set(MY_IP, 28);
  f.set(req.subarray(22, 32), 32);
  return f;
}

function echoRequest(dstMac: Uint8Array, id: number, seq: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + payload.length);
  f.set(dstMac, 0);
  f.set(MY_MAC, 6);
  f.set([0x08, 0x00], 12);
  const ip = f.subarray(14, 34);
  const total = 20 + 8 + payload.length;
  ip.set([0x45, 0, total >> 8, total & 0xff, 0, 1, 0x40, 0, 64, 1, 0, 0]);
  ip.set(MY_IP, 12);
  ip.set(HOST_IP, 16);
  const c = checksum(ip);
  ip[10] = c >> 8;
  ip[11] = c & 0xff;
  const icmp = f.subarray(34);
  icmp.set([8, 0, 0, 0, id >> 8, id & 0xff, seq >> 8, seq & 0xff]);
  icmp.set(payload, 8);
  const ic = checksum(icmp);
  icmp[2] = ic >> 8;
  icmp[3] = ic & 0xff;
  return f;
}

const isArp = (f: Uint8Array, op: number) => f.length >= 42 && f[12] === 0x08 && f[13] === 0x06 && f[21] === op;

/** A NIC stand-in: collects frames, answers ARP for MY_IP, lets a test wait for a frame. */
class TestEndpoint implements WireEndpoint {
  frames: Uint8Array[] = [];
  carrier: boolean[] = [];
  send: (f: Uint8Array) => void = () => {};
  private waiters: { match: (f: Uint8Array) => boolean; resolve: (f: Uint8Array) => void }[] = [];
  receiveFrame(frame: Uint8Array): void {
    this.frames.push(frame);
    if (isArp(frame, 1) && frame.subarray(38, 42).every((b, i) => b === MY_IP[i])) this.send(arpReplyTo(frame));
    for (const w of [...this.waiters])
      if (w.match(frame)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(frame);
      }
  }
  setCarrier(present: boolean): void {
    this.carrier.push(present);
  }
  waitFor(match: (f: Uint8Array) => boolean, ms = 5000): Promise<Uint8Array> {
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for a frame')), ms);
      this.waiters.push({ match, resolve: (f) => (clearTimeout(t), resolve(f)) });
    });
  }
}

describe('TapBackend on a real TAP in a private network namespace', () => {
  const sys = loadNative();
  const ns = `nicsim-taptest-${process.pid}`;
  const dev = `nst${process.pid}`.slice(0, 15);
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  let tap: TapBackend;
  const ep = new TestEndpoint();

  beforeAll(() => {
    if (!sys) throw new Error('nicsim native addon is not built: run `npm ci` (it builds qemu/native at install)');
    ip('netns', 'add', ns);
    tap = TapBackend.open(dev, { sys });
    // The fd keeps its queue after the netdev moves: the host side lives only in our namespace.
    ip('link', 'set', dev, 'netns', ns);
    ip('-n', ns, 'addr', 'add', '169.254.77.1/24', 'dev', dev);
    ip('-n', ns, 'link', 'set', dev, 'up');
  });

  afterAll(() => {
    tap?.close();
    try {
      ip('netns', 'del', ns);
    } catch {
      // already gone
    }
  });

  it('opens under the requested name', () => {
    expect(tap.name).toBe(dev);
    expect(tap.carrier).toBe(true);
  });

  it('gets an ARP reply from the kernel for an ARP request the NIC sent', async () => {
    const port = tap.attach(ep);
    ep.send = (f) => port.send(f);
    expect(ep.carrier).toEqual([true]);
    port.send(arpRequest(HOST_IP));
    const reply = await ep.waitFor((f) => isArp(f, 2) && f.subarray(28, 32).every((b, i) => b === HOST_IP[i]));
    expect([...reply.subarray(0, 6)]).toEqual(MY_MAC);
    expect([...reply.subarray(38, 42)]).toEqual(MY_IP);
    expect(port.stats.txFrames).toBeGreaterThanOrEqual(1);
    expect(port.stats.rxFrames).toBeGreaterThanOrEqual(1);
  });

  it('gets an ICMP echo reply carrying the same payload', async () => {
    const arp = ep.frames.find((f) => isArp(f, 2))!;
    const hostMac = arp.subarray(22, 28);
    const payload = new TextEncoder().encode('nicsim tap test payload');
    const tx = tap.stats.txFrames;
    tap.send(echoRequest(hostMac, 0x4e53, 1, payload));
    const reply = await ep.waitFor(
      (f) => f.length >= 42 && f[12] === 0x08 && f[13] === 0x00 && f[23] === 1 && f[34] === 0 && f[38] === 0x4e && f[39] === 0x53,
    );
    expect([...reply.subarray(26, 30)]).toEqual(HOST_IP);
    expect([...reply.subarray(30, 34)]).toEqual(MY_IP);
    expect(new TextDecoder().decode(reply.subarray(42, 42 + payload.length))).toBe('nicsim tap test payload');
    expect(tap.stats.txFrames).toBeGreaterThan(tx);
    expect(tap.stats.rxBytes).toBeGreaterThan(0);
  });

  it('counts a frame the TAP refuses as a drop', () => {
    const drops = tap.stats.drops;
    expect(tap.send(new Uint8Array(4))).toBe(false); // shorter than an Ethernet header: EINVAL
    expect(tap.stats.drops).toBe(drops + 1);
  });
});

describe('TapBackend over FakeSys', () => {
  function setup(readBudget?: number) {
    const sys = new FakeSys({ autoFlush: false });
    const tap = TapBackend.open('', { sys, ...(readBudget ? { readBudget } : {}) });
    const got: Uint8Array[] = [];
    const carrier: boolean[] = [];
    const port = tap.attach({ receiveFrame: (f) => got.push(f), setCarrier: (c) => carrier.push(c) });
    return { sys, tap, port, got, carrier };
  }

  it('delivers every queued frame, a budget per loop turn', () => {
    const { sys, tap, got } = setup(2);
    for (let i = 0; i < 5; i++) sys.tapInject(tap.name, new Uint8Array(60).fill(i));
    expect(sys.flush()).toBe(3); // 2 + 2 + 1
    expect(got.map((f) => f[0])).toEqual([0, 1, 2, 3, 4]);
    expect(tap.stats).toMatchObject({ rxFrames: 5, rxBytes: 300, drops: 0 });
  });

  it('stops reading at once when a frame it handed over makes the NIC pause it (XOFF), and resumes on XON', () => {
    const sys = new FakeSys({ autoFlush: false });
    const tap = TapBackend.open('', { sys, readBudget: 64 });
    const got: number[] = [];
    tap.attach({
      receiveFrame: (f) => {
        got.push(f[0]!);
        if (got.length === 3) tap.setReadPaused(true); // the third frame crossed FCRTH
      },
      setCarrier: () => {},
    });
    for (let i = 0; i < 10; i++) sys.tapInject(tap.name, new Uint8Array(60).fill(i));
    sys.flush();
    // Without the check the loop read on to its budget and the NIC dropped 7 frames as missed.
    expect(got).toEqual([0, 1, 2]);
    tap.setReadPaused(false);
    sys.flush();
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(tap.stats).toMatchObject({ rxFrames: 10, drops: 0 });
  });

  it('drops and counts frames the host cannot take', () => {
    const { sys, tap, port } = setup();
    port.send(new Uint8Array(60));
    sys.tapSetBlocked(tap.name, true);
    port.send(new Uint8Array(60));
    expect(sys.tapTake(tap.name)).toHaveLength(1);
    expect(port.stats).toMatchObject({ txFrames: 1, txBytes: 60, drops: 1 });
  });

  it('raises carrier on attach, drops it on detach and close, and releases the fd', () => {
    const { sys, tap, port, carrier, got } = setup();
    port.detach();
    sys.tapInject(tap.name, new Uint8Array(60));
    sys.flush();
    expect(got).toHaveLength(0);
    expect(tap.stats.drops).toBe(1);
    tap.close();
    tap.close();
    expect(carrier).toEqual([true, false]);
    expect(tap.carrier).toBe(false);
    expect(sys.openFds()).toEqual([]);
    expect(sys.openPolls()).toBe(0);
  });

  it('refuses a second endpoint and reports why an open failed', () => {
    const { tap } = setup();
    expect(() => tap.attach({ receiveFrame: () => {}, setCarrier: () => {} })).toThrow(/already/);
    const sys = new FakeSys();
    sys.failNext('tapOpen', 1);
    expect(() => TapBackend.open('x', { sys })).toThrow(expect.objectContaining({ code: 'EPERM' }));
  });
});
