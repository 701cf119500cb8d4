/**
 * Captures written by PcapWriter, read by Debian's tshark from the provisioned host-tools root:
 * the independent check that the files are valid pcap and that tsharkCheck tells broken frames
 * from good ones. Never skipped: without the host tools it fails, naming `npx nicsim setup`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapWriter } from '../../wire/pcap.js';
import { hostToolsIfProvisioned, tsharkCheck, type HostTools } from '../../qemu/host-root.js';
import { runRaw } from '../../qemu/guest/run.js';
import { buildPacket, internetChecksum } from '../support/packets.js';

let tools: HostTools;
const dir = mkdtempSync(join(tmpdir(), 'nicsim-tshark-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  const t = hostToolsIfProvisioned();
  if (!t) throw new Error('tshark is not provisioned: run `npx nicsim setup` (it provisions the host tools, tshark and passt, into the cache)');
  tools = t;
});

const MAC_A = Uint8Array.of(0x02, 0, 0, 0, 0, 0x0a);
const MAC_B = Uint8Array.of(0x02, 0, 0, 0, 0, 0x0b);
const IP_A = [169, 254, 10, 1];
const IP_B = [169, 254, 10, 2];

/** Ethernet + IPv4 (header checksum set) around an L4 payload. */
function ipv4Frame(proto: number, l4: Uint8Array, src = IP_A, dst = IP_B): Uint8Array {
  const f = new Uint8Array(14 + 20 + l4.length);
  const dv = new DataView(f.buffer);
  f.set(MAC_B, 0);
  f.set(MAC_A, 6);
  dv.setUint16(12, 0x0800);
  f[14] = 0x45;
  dv.setUint16(16, 20 + l4.length);
  dv.setUint16(18, 0x4e53);
  dv.setUint16(20, 0x4000); // DF
  f[22] = 64;
  f[23] = proto;
  f.set(src, 26);
  f.set(dst, 30);
  dv.setUint16(24, internetChecksum([f.subarray(14, 34)]));
  f.set(l4, 34);
  return f;
}

function icmpEcho(type: 8 | 0, seq: number): Uint8Array {
  const m = new Uint8Array(8 + 56);
  const dv = new DataView(m.buffer);
  m[0] = type;
  dv.setUint16(4, 0x1234);
  dv.setUint16(6, seq);
  for (let i = 8; i < m.length; i++) m[i] = i;
  dv.setUint16(2, internetChecksum([m]));
  return m;
}

const ping = ipv4Frame(1, icmpEcho(8, 1));
const pong = ipv4Frame(1, icmpEcho(0, 1), IP_B, IP_A);
const udp4 = buildPacket({ version: 4, proto: 'udp', payload: new TextEncoder().encode('nicsim udp payload'), dstMac: MAC_B, srcMac: MAC_A }).frame;
const udp6 = buildPacket({ version: 6, proto: 'udp', payload: new Uint8Array(100).fill(0x5a), dstMac: MAC_B, srcMac: MAC_A }).frame;

/** Writes frames with timestamps 1 s + i µs + 7 ns and returns the path. */
function capture(name: string, frames: Uint8Array[]): string {
  const p = join(dir, name);
  const w = new PcapWriter(p);
  frames.forEach((f, i) => w.write(f, 1_000_000_000n + BigInt(i) * 1000n + 7n));
  w.close();
  return p;
}

describe('tshark reads PcapWriter captures', () => {
  it('sees every frame with its length and nanosecond timestamp', async () => {
    const p = capture('good.pcap', [ping, pong, udp4, udp6]);
    const [cmd, ...pre] = tools.tshark;
    const r = await runRaw(cmd!, [...pre, '-n', '-r', p, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.len', '-e', 'frame.protocols'], {
      env: { ...process.env, ...tools.tsharkEnv },
    });
    expect(r.code).toBe(0);
    const rows = r.stdout.toString().trim().split('\n').map((l) => l.split('\t'));
    expect(rows.map(([t, len]) => [t, Number(len)])).toEqual([
      ['1.000000007', ping.length],
      ['1.000001007', pong.length],
      ['1.000002007', udp4.length],
      ['1.000003007', udp6.length],
    ]);
    // (port 5201 makes Wireshark add iperf3 above udp)
    expect(rows.map((row) => row[2]!.split(':').slice(0, 4).join(':'))).toEqual([
      'eth:ethertype:ip:icmp',
      'eth:ethertype:ip:icmp',
      'eth:ethertype:ip:udp',
      'eth:ethertype:ipv6:udp',
    ]);
  });

  it('finds nothing wrong in well-formed ICMP and UDP frames, checksums checked', async () => {
    const rep = await tsharkCheck(capture('clean.pcap', [ping, pong, udp4, udp6]));
    expect(rep).toEqual({ frames: 4, malformed: 0, errors: 0, expertWarnings: [] });
  });

  it('flags an IPv4 frame cut inside its header as malformed', async () => {
    const cut = ping.slice(0, 14 + 12); // 12 of the 20 header bytes
    const rep = await tsharkCheck(capture('cut.pcap', [ping, udp4, cut, pong]));
    expect(rep.frames).toBe(4);
    expect(rep.malformed).toBe(1);
    expect(rep.errors).toBe(1);
    expect(rep.expertWarnings.some((w) => /^frame 3: .*Malformed Packet/.test(w))).toBe(true);
    expect(rep.expertWarnings.every((w) => w.startsWith('frame 3: '))).toBe(true);
  });

  it('counts a frame shorter than its IPv4 total length as an error, not as malformed', async () => {
    const short = ping.slice(0, 14 + 20 + 8 + 10); // the header says 84 bytes of IPv4, 38 are there
    const rep = await tsharkCheck(capture('short.pcap', [ping, short]));
    expect(rep).toMatchObject({ frames: 2, malformed: 0, errors: 1 });
    expect(rep.expertWarnings).toContain('frame 2: Expert Info (Error/Protocol): IPv4 total length exceeds packet length (38 bytes)');
  });

  it('reports a bad UDP checksum only when checksums are checked', async () => {
    const bad = udp4.slice();
    bad[bad.length - 1]! ^= 0xff; // payload changed under the checksum
    const p = capture('csum.pcap', [udp4, bad]);
    const checked = await tsharkCheck(p);
    expect(checked).toMatchObject({ frames: 2, malformed: 0, errors: 1 });
    expect(checked.expertWarnings.join('\n')).toMatch(/^frame 2: Expert Info \(Error\/Checksum\): Bad checksum/);
    expect(await tsharkCheck(p, { checksums: false })).toEqual({ frames: 2, malformed: 0, errors: 0, expertWarnings: [] });
  });

  it('caps the list of expert messages', async () => {
    const cut = ping.slice(0, 20);
    const rep = await tsharkCheck(capture('many.pcap', Array(5).fill(cut)), { maxMessages: 3 });
    expect(rep.malformed).toBe(5);
    expect(rep.expertWarnings.length).toBe(4);
    expect(rep.expertWarnings.at(-1)).toMatch(/^\.\.\. and \d+ more$/);
  });

  it('throws for a file that is not a capture or is cut inside a record', async () => {
    const text = join(dir, 'text.pcap');
    writeFileSync(text, 'hello\n');
    await expect(tsharkCheck(text)).rejects.toThrow(/not a pcap/);
    const whole = readFileSync(capture('whole.pcap', [ping, pong]));
    const partial = join(dir, 'partial.pcap');
    writeFileSync(partial, whole.subarray(0, whole.length - 5));
    await expect(tsharkCheck(partial)).rejects.toThrow(/cut short/);
  });
});
