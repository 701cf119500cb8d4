// SocketBackend: QEMU -netdev stream (length-prefixed TCP/UNIX) and -netdev dgram (UDP unicast, multicast), checked byte for byte on real sockets.
import { execFileSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RecordingTrace } from '../../device/trace.js';
import {
  DEFAULT_MAX_FRAME,
  SocketBackend,
  StreamDeframer,
  encodeStreamFrame,
  formatSocketSpec,
  parseSocketSpec,
  type SocketOptions,
  type SocketSpec,
} from '../../wire/socket.js';
import type { WireEndpoint, WirePort } from '../../wire/wire.js';

const dir = mkdtempSync(join(tmpdir(), 'nicsim-socket-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let sockSeq = 0;
const sockPath = () => join(dir, `s${sockSeq++}.sock`);

/** A deterministic Ethernet-looking frame: broadcast dst, a fixed src, type 0x88b5, payload from seed. */
function frame(len: number, seed: number): Uint8Array {
  const f = new Uint8Array(len);
  f.fill(0xff, 0, 6);
  f.set([0x02, 0, 0, 0x4e, 0x53, seed & 0xff], 6);
  f.set([0x88, 0xb5], 12);
  for (let i = 14; i < len; i++) f[i] = (seed * 31 + i * 7) & 0xff;
  return f;
}

/** A NIC stand-in: records frames and carrier changes. */
class Ep implements WireEndpoint {
  frames: Uint8Array[] = [];
  carrier: boolean[] = [];
  receiveFrame(f: Uint8Array): void {
    this.frames.push(f);
  }
  setCarrier(up: boolean): void {
    this.carrier.push(up);
  }
  get up(): boolean {
    return this.carrier[this.carrier.length - 1] ?? false;
  }
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const open: SocketBackend[] = [];
const raws: (net.Socket | dgram.Socket)[] = [];
async function backend(spec: SocketSpec | string, opts: SocketOptions = {}): Promise<SocketBackend> {
  const b = await SocketBackend.open(spec, opts);
  open.push(b);
  return b;
}
function withEp(b: SocketBackend): { ep: Ep; port: WirePort } {
  const ep = new Ep();
  return { ep, port: b.attach(ep) };
}
function portOf(b: SocketBackend): number {
  const a = b.localAddress;
  if (!a || a.type !== 'inet') throw new Error('not an inet backend');
  return a.port;
}

/** A plain socket speaking the stream protocol by hand, collecting what it receives. */
async function rawClient(to: { path: string } | { port: number }): Promise<{ s: net.Socket; rx: Buffer[]; closed: () => boolean }> {
  const s = 'path' in to ? net.connect({ path: to.path }) : net.connect({ port: to.port, host: '127.0.0.1' });
  raws.push(s);
  const rx: Buffer[] = [];
  let closed = false;
  s.on('data', (d) => rx.push(d));
  s.on('error', () => {});
  s.on('close', () => (closed = true));
  await new Promise<void>((r, j) => {
    s.once('connect', () => r());
    s.once('error', j);
  });
  return { s, rx, closed: () => closed };
}

afterEach(async () => {
  for (const r of raws.splice(0)) {
    if (r instanceof net.Socket) r.destroy();
    else
      try {
        r.close();
      } catch {
        /* closed */
      }
  }
  await Promise.all(open.splice(0).map((b) => b.close()));
});

describe('parseSocketSpec', () => {
  it('parses every accepted form', () => {
    expect(parseSocketSpec('stream-listen:127.0.0.1:5555')).toEqual({
      kind: 'stream',
      mode: 'listen',
      addr: { type: 'inet', host: '127.0.0.1', port: 5555 },
    });
    expect(parseSocketSpec('stream-listen:unix:/tmp/a,b.sock')).toEqual({
      kind: 'stream',
      mode: 'listen',
      addr: { type: 'unix', path: '/tmp/a,b.sock' },
    });
    expect(parseSocketSpec('stream-connect:[::1]:80,reconnect=250')).toEqual({
      kind: 'stream',
      mode: 'connect',
      addr: { type: 'inet', host: '::1', port: 80 },
      reconnectMs: 250,
    });
    expect(parseSocketSpec('stream-connect:unix:/run/passt.sock,reconnect-ms=1000')).toEqual({
      kind: 'stream',
      mode: 'connect',
      addr: { type: 'unix', path: '/run/passt.sock' },
      reconnectMs: 1000,
    });
    expect(parseSocketSpec('dgram:127.0.0.1:0:10.0.0.2:5001')).toEqual({
      kind: 'dgram',
      local: { host: '127.0.0.1', port: 0 },
      remote: { host: '10.0.0.2', port: 5001 },
    });
    expect(parseSocketSpec('dgram-mcast:239.1.2.3:1234')).toEqual({ kind: 'dgram', mcast: { host: '239.1.2.3', port: 1234 } });
    expect(parseSocketSpec('dgram-mcast:239.1.2.3:1234,localaddr=127.0.0.1')).toEqual({
      kind: 'dgram',
      mcast: { host: '239.1.2.3', port: 1234 },
      localAddr: '127.0.0.1',
    });
  });

  it('formats back to the same text', () => {
    for (const s of [
      'stream-listen:127.0.0.1:5555',
      'stream-listen:unix:/tmp/s',
      'stream-connect:[::1]:80,reconnect=250',
      'dgram:127.0.0.1:5000:127.0.0.1:5001',
      'dgram-mcast:239.1.2.3:1234,localaddr=127.0.0.1',
    ])
      expect(formatSocketSpec(parseSocketSpec(s))).toBe(s);
  });

  it.each([
    ['stream-sideways:1.2.3.4:5', /unknown kind 'stream-sideways'/],
    ['stream-listen:1.2.3.4', /expected HOST:PORT/],
    ['stream-listen:1.2.3.4:99999', /bad port '99999'/],
    ['stream-connect:1.2.3.4:0', /cannot connect to port 0/],
    ['stream-listen:unix:/x,reconnect=5', /unknown option 'reconnect'/],
    ['stream-connect:h:1,reconnect=soon', /bad reconnect interval/],
    ['dgram:127.0.0.1:5000', /expected 2 HOST:PORT pairs|expected HOST:PORT/],
    ['dgram:127.0.0.1:5000:239.0.0.1:5000', /use dgram-mcast/],
    ['dgram-mcast:10.0.0.1:5000', /not an IPv4 multicast address/],
    ['dgram-mcast:239.0.0.1:5000,localaddr=eth0', /not an IPv4 address/],
  ])('rejects %s naming the accepted forms', (s, why) => {
    expect(() => parseSocketSpec(s)).toThrow(why);
    expect(() => parseSocketSpec(s)).toThrow(/accepted: stream-listen:HOST:PORT, stream-listen:unix:PATH, stream-connect:HOST:PORT/);
  });
});

describe('StreamDeframer', () => {
  const frames = [frame(60, 1), frame(1514, 2), frame(14, 3), frame(9000, 4)];
  const bytes = Buffer.concat(frames.map(encodeStreamFrame));

  it('reassembles frames fed one byte at a time', () => {
    const d = new StreamDeframer();
    const got: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i++) expect(d.push(bytes.subarray(i, i + 1), (f) => void got.push(f))).toBeUndefined();
    expect(got).toEqual(frames);
    expect(d.partial).toBe(0);
  });

  it('splits frames coalesced into one chunk, and across odd chunk edges', () => {
    for (const cut of [1, 3, 4, 5, 63, 64, 65, 1000, bytes.length]) {
      const d = new StreamDeframer();
      const got: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += cut) d.push(bytes.subarray(i, i + cut), (f) => void got.push(f));
      expect(got).toEqual(frames);
    }
  });

  it('hands out copies, not views of the chunk', () => {
    const d = new StreamDeframer();
    const chunk = Buffer.from(encodeStreamFrame(frame(60, 9)));
    let got: Uint8Array | undefined;
    d.push(chunk, (f) => void (got = f));
    chunk.fill(0);
    expect(got).toEqual(frame(60, 9));
  });

  it('reports a length of 0 or above the maximum', () => {
    expect(new StreamDeframer().push(Buffer.from([0, 0, 0, 0, 1, 2]), () => {})).toBe(0);
    expect(new StreamDeframer(1518).push(Buffer.from([0, 0, 0x05, 0xef]), () => {})).toBe(1519);
    expect(new StreamDeframer(1518).push(Buffer.from([0, 0, 0x05, 0xee]), () => {})).toBeUndefined();
    expect(new StreamDeframer().push(Buffer.from([0xff, 0xff, 0xff, 0xff]), () => {})).toBe(0xffffffff);
    expect(DEFAULT_MAX_FRAME).toBe(69632);
  });
});

describe('stream backends facing each other', () => {
  async function roundTrip(listenSpec: string, connectSpec: (l: SocketBackend) => string) {
    const l = await backend(listenSpec);
    const a = withEp(l);
    expect(a.ep.carrier).toEqual([false]);
    const c = await backend(connectSpec(l));
    const b = withEp(c);
    await l.waitForPeer(5000);
    expect(b.ep.carrier).toEqual([true]);
    expect(a.ep.carrier).toEqual([false, true]);

    const ab = [frame(60, 1), frame(1514, 2), frame(65535, 3)];
    const ba = [frame(64, 4), frame(1000, 5)];
    for (const f of ab) a.port.send(f);
    for (const f of ba) b.port.send(f);
    await until(() => b.ep.frames.length === ab.length && a.ep.frames.length === ba.length, 'frames');
    expect(b.ep.frames).toEqual(ab);
    expect(a.ep.frames).toEqual(ba);
    const sum = (fs: Uint8Array[]) => fs.reduce((n, f) => n + f.length, 0);
    expect(l.stats).toMatchObject({ txFrames: 3, txBytes: sum(ab), rxFrames: 2, rxBytes: sum(ba), drops: 0, protocolErrors: 0, connections: 1 });
    expect(c.stats).toMatchObject({ txFrames: 2, txBytes: sum(ba), rxFrames: 3, rxBytes: sum(ab), drops: 0, protocolErrors: 0, connections: 1 });
    expect(a.port.stats).toBe(l.stats);
    return { l, c, a, b };
  }

  it('carries frames both ways over TCP', async () => {
    const { l } = await roundTrip('stream-listen:127.0.0.1:0', (l) => `stream-connect:127.0.0.1:${portOf(l)}`);
    expect(l.description).toBe(`stream listening on 127.0.0.1:${portOf(l)}`);
  });

  it('carries frames both ways over a UNIX socket', async () => {
    const p = sockPath();
    const { l } = await roundTrip(`stream-listen:unix:${p}`, () => `stream-connect:unix:${p}`);
    expect(l.localAddress).toEqual({ type: 'unix', path: p });
  });

  it('drops carrier on both sides when one closes', async () => {
    const { l, c, a, b } = await roundTrip('stream-listen:127.0.0.1:0', (l) => `stream-connect:127.0.0.1:${portOf(l)}`);
    await c.close();
    expect(b.ep.carrier).toEqual([true, false]);
    await until(() => !l.carrier, 'listener carrier down');
    expect(a.ep.carrier).toEqual([false, true, false]);
    expect(a.port.send(frame(60, 1))).toBeUndefined();
    expect(l.stats.drops).toBe(1);
  });
});

describe('stream listen facing a hand-written peer', () => {
  it('puts the u32 big-endian length and the frame on the wire', async () => {
    const l = await backend('stream-listen:127.0.0.1:0');
    const { port } = withEp(l);
    const r = await rawClient({ port: portOf(l) });
    await l.waitForPeer(5000);
    port.send(frame(60, 7));
    port.send(frame(300, 8));
    await until(() => Buffer.concat(r.rx).length === 64 + 304, 'bytes');
    const got = Buffer.concat(r.rx);
    expect([...got.subarray(0, 4)]).toEqual([0, 0, 0, 60]);
    expect(new Uint8Array(got.subarray(4, 64))).toEqual(frame(60, 7));
    expect([...got.subarray(64, 68)]).toEqual([0, 0, 0x01, 0x2c]);
    expect(new Uint8Array(got.subarray(68))).toEqual(frame(300, 8));
  });

  it('reassembles a frame written one byte at a time, and many frames written at once', async () => {
    const p = sockPath();
    const l = await backend(`stream-listen:unix:${p}`);
    const { ep } = withEp(l);
    const r = await rawClient({ path: p });
    const slow = encodeStreamFrame(frame(40, 1));
    for (const byte of slow) {
      r.s.write(Buffer.from([byte]));
      await sleep(1); // let each byte arrive in a read of its own
    }
    await until(() => ep.frames.length === 1, 'the slow frame');
    expect(ep.frames[0]).toEqual(frame(40, 1));

    const many = Array.from({ length: 50 }, (_, i) => frame(60 + i * 29, 100 + i));
    r.s.write(Buffer.concat(many.map(encodeStreamFrame)));
    await until(() => ep.frames.length === 51, 'the coalesced frames');
    expect(ep.frames.slice(1)).toEqual(many);
    expect(l.stats).toMatchObject({ rxFrames: 51, protocolErrors: 0 });
  });

  it('stops delivering part-way through a chunk when the NIC pauses it (XOFF), and delivers the rest in order on XON', async () => {
    const p = sockPath();
    const l = await backend(`stream-listen:unix:${p}`);
    const got: Uint8Array[] = [];
    l.attach({
      receiveFrame: (f) => {
        got.push(f);
        if (got.length === 5) l.setReadPaused(true); // the fifth frame crossed FCRTH
      },
      setCarrier: () => {},
    });
    const r = await rawClient({ path: p });
    const many = Array.from({ length: 40 }, (_, i) => frame(60 + i, 200 + i));
    r.s.write(Buffer.concat(many.map(encodeStreamFrame))); // one write: frames 6..40 share a chunk with 1..5
    await until(() => got.length >= 5, 'the first frames');
    await sleep(50);
    expect(got.length).toBe(5);
    l.setReadPaused(false);
    await until(() => got.length === 40, 'the held frames');
    expect(got).toEqual(many);
    expect(l.stats).toMatchObject({ rxFrames: 40, protocolErrors: 0 });
  });

  it('drops the connection on a length of 0, and the next peer works', async () => {
    const trace = new RecordingTrace('wire_*');
    const errors: string[] = [];
    const l = await backend('stream-listen:127.0.0.1:0', { trace, onError: (e) => errors.push(e.message) });
    const { ep } = withEp(l);
    const r1 = await rawClient({ port: portOf(l) });
    await l.waitForPeer(5000);
    // A good frame, then a zero length, then bytes that must never be read as a frame.
    r1.s.write(Buffer.concat([encodeStreamFrame(frame(60, 1)), Buffer.from([0, 0, 0, 0]), encodeStreamFrame(frame(60, 2))]));
    await until(r1.closed, 'the backend to hang up');
    expect(ep.frames).toEqual([frame(60, 1)]);
    expect(l.stats.protocolErrors).toBe(1);
    expect(ep.carrier).toEqual([false, true, false]);
    expect(trace.find('wire_stream_bad_length').map((t) => t.fields)).toEqual([{ len: 0, max: DEFAULT_MAX_FRAME }]);
    expect(errors[0]).toMatch(/frame length 0 outside 1\.\.69632/);

    const r2 = await rawClient({ port: portOf(l) });
    await l.waitForPeer(5000);
    r2.s.write(encodeStreamFrame(frame(60, 3)));
    await until(() => ep.frames.length === 2, 'a frame from the second peer');
    expect(ep.frames[1]).toEqual(frame(60, 3));
    expect(l.stats.connections).toBe(2);
  });

  it('drops the connection on a length above maxFrame, keeps it for a runt', async () => {
    const l = await backend('stream-listen:127.0.0.1:0', { maxFrame: 1518 });
    const { ep } = withEp(l);
    const r = await rawClient({ port: portOf(l) });
    r.s.write(encodeStreamFrame(new Uint8Array(5))); // shorter than an Ethernet header: dropped, counted
    r.s.write(encodeStreamFrame(frame(1518, 1)));
    await until(() => ep.frames.length === 1, 'the good frame');
    expect(l.stats.protocolErrors).toBe(1);
    expect(r.closed()).toBe(false);
    r.s.write(Buffer.from([0, 0, 0x05, 0xef])); // 1519
    await until(r.closed, 'the backend to hang up');
    expect(l.stats.protocolErrors).toBe(2);
    expect(ep.frames).toEqual([frame(1518, 1)]);
    expect(l.carrier).toBe(false);
  });

  it('raises carrier per peer and holds a second peer until the first goes', async () => {
    const l = await backend('stream-listen:127.0.0.1:0');
    const { ep } = withEp(l);
    expect(l.carrier).toBe(false);
    const r1 = await rawClient({ port: portOf(l) });
    await until(() => ep.up, 'carrier up');
    const r2 = await rawClient({ port: portOf(l) });
    r2.s.write(encodeStreamFrame(frame(60, 2)));
    await until(() => l.pendingPeers === 1, 'the second peer to wait');
    await sleep(50);
    expect(ep.frames).toEqual([]); // the waiting peer is not read
    r1.s.write(encodeStreamFrame(frame(60, 1)));
    await until(() => ep.frames.length === 1, 'the first peer frame');
    r1.s.destroy();
    await until(() => ep.frames.length === 2, 'the second peer frame');
    expect(ep.frames).toEqual([frame(60, 1), frame(60, 2)]);
    expect(ep.carrier).toEqual([false, true, false, true]);
    expect(l.stats.connections).toBe(2);
    r2.s.destroy();
    await until(() => !ep.up, 'carrier down');
    expect(ep.carrier).toEqual([false, true, false, true, false]);
  });

  it('drops frames above the write high-water mark instead of queueing them', async () => {
    const p = sockPath();
    const highWater = 64 * 1024;
    const l = await backend(`stream-listen:unix:${p}`, { highWater });
    const { port } = withEp(l);
    const r = await rawClient({ path: p });
    r.s.pause(); // a peer that does not read
    await l.waitForPeer(5000);
    const accepted: number[] = [];
    const N = 3000;
    for (let i = 0; i < N; i++) if (l.send(frame(1500, i))) accepted.push(i);
    expect(l.stats.drops).toBeGreaterThan(0);
    expect(l.stats.txFrames + l.stats.drops).toBe(N);
    // The buffer is full: every further frame is dropped, none queued.
    const drops = l.stats.drops;
    for (let i = 0; i < 100; i++) port.send(frame(1500, 0));
    expect(l.stats.drops).toBe(drops + 100);
    // What did go out arrives whole and in order.
    const got: Uint8Array[] = [];
    const d = new StreamDeframer();
    r.s.removeAllListeners('data');
    r.s.on('data', (c: Buffer) => d.push(c, (f) => void got.push(f)));
    r.s.resume();
    await until(() => got.length === accepted.length, 'the accepted frames');
    expect(got.length).toBe(l.stats.txFrames);
    for (let k = 0; k < got.length; k++) if (got[k]![11] !== (accepted[k]! & 0xff)) throw new Error(`frame ${k} out of order`);
    expect(got[got.length - 1]).toEqual(frame(1500, accepted[accepted.length - 1]!));
  });
});

describe('stream connect', () => {
  it('rejects open() when the peer is not there and no reconnect was asked for', async () => {
    await expect(SocketBackend.open(`stream-connect:unix:${sockPath()}`)).rejects.toThrow(/ENOENT/);
  });

  it('reconnects every reconnectMs until a server appears, and again after it goes', async () => {
    const p = sockPath();
    const c = await backend(`stream-connect:unix:${p},reconnect=20`);
    const { ep, port } = withEp(c);
    expect(c.carrier).toBe(false);
    expect(port.send(frame(60, 1))).toBeUndefined();
    expect(c.stats.drops).toBe(1);
    await sleep(60); // a few failed attempts
    const l1 = await backend(`stream-listen:unix:${p}`);
    const a1 = withEp(l1);
    await c.waitForPeer(5000);
    port.send(frame(60, 2));
    await until(() => a1.ep.frames.length === 1, 'a frame through the first server');
    await l1.close();
    await until(() => !c.carrier, 'carrier down');
    const l2 = await backend(`stream-listen:unix:${p}`);
    const a2 = withEp(l2);
    await c.waitForPeer(5000);
    port.send(frame(60, 3));
    await until(() => a2.ep.frames.length === 1, 'a frame through the second server');
    expect(a2.ep.frames[0]).toEqual(frame(60, 3));
    expect(ep.carrier).toEqual([false, true, false, true]);
    expect(c.stats.connections).toBe(2);
  });

  it('waitForPeer times out, and rejects on close', async () => {
    const c = await backend(`stream-connect:unix:${sockPath()},reconnect=1000`);
    await expect(c.waitForPeer(30)).rejects.toThrow(/no peer within 30 ms/);
    const w = c.waitForPeer();
    await c.close();
    await expect(w).rejects.toThrow(/closed/);
  });
});

describe('dgram unicast', () => {
  async function udpPeer(): Promise<{ s: dgram.Socket; rx: Buffer[]; port: number }> {
    const s = dgram.createSocket('udp4');
    raws.push(s);
    const rx: Buffer[] = [];
    s.on('message', (m) => rx.push(m));
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    return { s, rx, port: s.address().port };
  }

  it('sends one frame per datagram and takes datagrams from any source', async () => {
    const peer = await udpPeer();
    const b = await backend(`dgram:127.0.0.1:0:127.0.0.1:${peer.port}`);
    const { ep, port } = withEp(b);
    expect(ep.carrier).toEqual([true]);
    port.send(frame(60, 1));
    port.send(frame(1514, 2));
    await until(() => peer.rx.length === 2, 'datagrams at the peer');
    expect(peer.rx.map((m) => new Uint8Array(m))).toEqual([frame(60, 1), frame(1514, 2)]);
    peer.s.send(frame(100, 3), portOf(b), '127.0.0.1');
    const other = await udpPeer(); // not the configured remote: still accepted, as QEMU does
    other.s.send(frame(70, 4), portOf(b), '127.0.0.1');
    await until(() => ep.frames.length === 2, 'frames at the NIC');
    expect(ep.frames).toContainEqual(frame(100, 3));
    expect(ep.frames).toContainEqual(frame(70, 4));
    expect(b.stats).toMatchObject({ txFrames: 2, txBytes: 1574, rxFrames: 2, rxBytes: 170, drops: 0, protocolErrors: 0 });
  });

  it('joins two backends both ways', async () => {
    // Reserve two ports, then bind the backends to them.
    const [pa, pb] = await Promise.all([udpPeer(), udpPeer()]);
    const portA = pa.port;
    const portB = pb.port;
    pa.s.close();
    pb.s.close();
    raws.length = 0;
    const a = await backend(`dgram:127.0.0.1:${portA}:127.0.0.1:${portB}`);
    const b = await backend(`dgram:127.0.0.1:${portB}:127.0.0.1:${portA}`);
    const ea = withEp(a);
    const eb = withEp(b);
    ea.port.send(frame(60, 1));
    eb.port.send(frame(61, 2));
    await until(() => ea.ep.frames.length === 1 && eb.ep.frames.length === 1, 'frames both ways');
    expect(eb.ep.frames[0]).toEqual(frame(60, 1));
    expect(ea.ep.frames[0]).toEqual(frame(61, 2));
    expect(a.description).toBe(`dgram 127.0.0.1:${portA} -> 127.0.0.1:${portB}`);
  });

  it('counts datagrams too short or too long and passes the rest', async () => {
    const peer = await udpPeer();
    const trace = new RecordingTrace('wire_dgram_*');
    const b = await backend(`dgram:127.0.0.1:0:127.0.0.1:${peer.port}`, { maxFrame: 1600, trace });
    const { ep } = withEp(b);
    peer.s.send(new Uint8Array(13), portOf(b), '127.0.0.1');
    peer.s.send(new Uint8Array(1601), portOf(b), '127.0.0.1');
    peer.s.send(frame(1600, 1), portOf(b), '127.0.0.1');
    peer.s.send(frame(14, 2), portOf(b), '127.0.0.1');
    await until(() => ep.frames.length === 2 && b.stats.protocolErrors === 2, 'datagrams sorted');
    expect(ep.frames).toEqual([frame(1600, 1), frame(14, 2)]);
    expect(trace.find('wire_dgram_bad_size').map((t) => t.fields.len)).toEqual([13, 1601]);
    expect(b.stats.rxFrames).toBe(2);
  });

  it('refuses a port already bound instead of sharing it', async () => {
    const peer = await udpPeer();
    await expect(SocketBackend.open(`dgram:127.0.0.1:${peer.port}:127.0.0.1:9`)).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('dgram multicast (239.255.0.0/16 via 127.0.0.1; loopback multicast works in this container)', () => {
  const group = '239.255.78.' + (1 + (process.pid % 250));
  const mport = 40000 + (process.pid % 20000);

  it('reaches the other members on this host and drops its own echo', async () => {
    const spec = `dgram-mcast:${group}:${mport},localaddr=127.0.0.1`;
    const a = await backend(spec);
    const b = await backend(spec);
    const ea = withEp(a);
    const eb = withEp(b);
    expect(ea.ep.carrier).toEqual([true]);
    // A QEMU-style member: bound to GROUP:PORT, joined, sending from that same port.
    const q = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    raws.push(q);
    const qrx: Buffer[] = [];
    q.on('message', (m) => qrx.push(m));
    await new Promise<void>((r) => q.bind(mport, group, () => r()));
    q.addMembership(group, '127.0.0.1');
    q.setMulticastInterface('127.0.0.1');
    q.setMulticastLoopback(true);

    ea.port.send(frame(60, 1));
    await until(() => eb.ep.frames.length === 1 && qrx.length === 1, 'A frame at B and at the QEMU member');
    expect(eb.ep.frames[0]).toEqual(frame(60, 1));
    expect(new Uint8Array(qrx[0]!)).toEqual(frame(60, 1));
    q.send(frame(90, 2), mport, group);
    await until(() => ea.ep.frames.length === 1 && eb.ep.frames.length === 2, 'the QEMU member frame at A and B');
    expect(ea.ep.frames).toEqual([frame(90, 2)]); // A never saw its own frame
    eb.port.send(frame(61, 3));
    await until(() => ea.ep.frames.length === 2, 'B frame at A');
    await sleep(30);
    expect(ea.ep.frames).toEqual([frame(90, 2), frame(61, 3)]);
    expect(eb.ep.frames).toEqual([frame(60, 1), frame(90, 2)]);
    expect(a.stats).toMatchObject({ txFrames: 1, rxFrames: 2, protocolErrors: 0 });
  });
});

describe('close', () => {
  const handles = () =>
    process
      .getActiveResourcesInfo()
      .filter((t) => /TCP|Pipe|UDP|Timeout/.test(t))
      .sort();

  it('releases every socket and timer, unlinks the UNIX socket, frees the port', async () => {
    await sleep(50); // earlier tests' closes finish
    const before = handles();
    const p = sockPath();
    const l = await SocketBackend.open(`stream-listen:unix:${p}`);
    const c = await SocketBackend.open(`stream-connect:unix:${p},reconnect=10`);
    const t = await SocketBackend.open('stream-listen:127.0.0.1:0');
    const r = net.connect({ port: portOf(t), host: '127.0.0.1' });
    r.on('error', () => {});
    const u = await SocketBackend.open('dgram:127.0.0.1:0:127.0.0.1:9');
    const waiting = await SocketBackend.open(`stream-connect:unix:${sockPath()},reconnect=1000`); // a retry timer armed
    const m = await SocketBackend.open(`dgram-mcast:239.255.79.1:${40000 + ((process.pid + 7) % 20000)},localaddr=127.0.0.1`);
    await c.waitForPeer(5000);
    await t.waitForPeer(5000);
    await l.waitForPeer(5000);
    const ep = new Ep();
    l.attach(ep);
    expect(handles().length).toBeGreaterThan(before.length);
    const tcpPort = portOf(t);
    await Promise.all([c.close(), l.close(), t.close(), u.close(), m.close(), waiting.close()]);
    await l.close(); // idempotent
    await new Promise((res) => r.once('close', res));
    await sleep(20); // let the reconnect path (which must not fire) have its chance
    const count = (hs: string[]) => hs.reduce<Record<string, number>>((m, h) => ((m[h] = (m[h] ?? 0) + 1), m), {});
    const left = count(handles());
    const base = count(before);
    for (const [kind, n] of Object.entries(left)) expect(n, `${kind} handles left open`).toBeLessThanOrEqual(base[kind] ?? 0);
    expect(existsSync(p)).toBe(false);
    expect(ep.carrier).toEqual([true, false]);
    expect(() => l.attach(new Ep())).toThrow(/closed/);
    const again = await backend(`stream-listen:127.0.0.1:${tcpPort}`);
    expect(portOf(again)).toBe(tcpPort);
  });

  it('replaces a stale UNIX socket but not a regular file', async () => {
    const p = sockPath();
    // Leave the path behind the way a crashed process would: exit while listening.
    execFileSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(p)}, () => process.exit(0))`]);
    expect(existsSync(p)).toBe(true);
    const l = await backend(`stream-listen:unix:${p}`);
    expect(l.carrier).toBe(false);
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    await expect(SocketBackend.open(`stream-listen:unix:${file}`)).rejects.toThrow(/not a socket/);
  });
});
