// Receive buffer bounds: every RCTL.DTYP / BSIZE / BSEX / PSRCTL layout, frames of 60..9234 bytes,
// guest memory outside the buffers a descriptor gave the device checked byte for byte.

import { describe, it, expect } from 'vitest';
import * as D from '../../../device/e1000e/defs.js';
import { E1000eDevice } from '../../../device/e1000e/device.js';
import { crc32 } from '../../../device/e1000e/rx.js';
import { ZERO_TIMING } from '../../../device/sim/timing.js';
import { mulberry32 } from '../../../device/sim/rng.js';
import { FlatHost } from '../../support/flat-host.js';
import { buildPacket } from '../../support/packets.js';
import { MAC_A, ethFrame } from '../../support/device-helpers.js';

const BASE = 0x10000;
const RAM = 8 << 20;
const RING = 0x20000;
const BUFS = 0x30000;
const GAP = 64;
const GUARD = 0xa5;
const PEER = new Uint8Array([0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc]);

interface Layout {
  name: string;
  rctl: number;
  rfctl: number;
  psrctl: number;
  vme: boolean;
}

/** A device on a flat host with a fresh ring laid out for `lay`, RAM filled with the guard byte. */
class Bench {
  readonly host = new FlatHost(BASE, RAM, 'e1000e_rx_overrun_blocked');
  readonly dev: E1000eDevice;
  /** Bytes the device may write: descriptors and the buffers they give, at their configured sizes. */
  readonly allowed = new Uint8Array(RAM);
  readonly split: boolean;
  readonly sizes: number[];
  readonly units: number;
  readonly bufs: number[][] = [];

  constructor(readonly lay: Layout, readonly descs = 64) {
    this.dev = E1000eDevice.create(this.host, { mac: MAC_A, name: 'dut', timing: { ...ZERO_TIMING, autonegNs: 1000 } });
    this.dev.configWrite(0x04, 2, 0x0006);
    this.dev.setCarrier(true);
    this.wr(D.REG.CTRL, this.rd(D.REG.CTRL) | D.CTRL_SLU | (lay.vme ? D.CTRL_VME : 0));
    this.host.queue.advance(1_000_000);
    this.split = (lay.rctl & D.RCTL_DTYP_PS) !== 0;
    const ps = lay.psrctl;
    this.sizes = this.split
      ? [(ps & 0x7f) * 128, ((ps >>> 8) & 0x3f) * 1024, ((ps >>> 16) & 0x3f) * 1024, ((ps >>> 24) & 0x3f) * 1024]
      : [D.rctlBufferSize(lay.rctl) || 2048];
    const step = this.split ? 2 : 1;
    this.units = descs * step;
    this.host.ram.fill(GUARD);
    this.wr(D.REG.RFCTL, lay.rfctl);
    this.wr(D.REG.PSRCTL, lay.psrctl);
    this.wr(D.REG.RDBAL0, RING);
    this.wr(D.REG.RDBAH0, 0);
    this.wr(D.REG.RDLEN0, this.units * 16);
    let at = BUFS;
    for (let i = 0; i < descs; i++) {
      const list: number[] = [];
      for (let b = 0; b < (this.split ? 4 : 1); b++) {
        list.push(at);
        this.allow(at, this.sizes[b]!);
        at += this.sizes[b]! + GAP;
      }
      this.bufs.push(list);
    }
    if (at > BASE + RAM) throw new Error('test layout does not fit its RAM');
    this.allow(RING, this.units * 16);
    this.wr(D.REG.RCTL, lay.rctl);
  }

  rd(off: number): number {
    return this.dev.barRead(0, off, 4);
  }
  wr(off: number, v: number): void {
    this.dev.barWrite(0, off, 4, v >>> 0);
  }
  private allow(addr: number, len: number): void {
    this.allowed.fill(1, addr - BASE, addr - BASE + len);
  }

  /** Rewrites every descriptor in read format and gives the device the whole ring again. */
  refill(): void {
    this.wr(D.REG.RDH0, 0);
    this.rewrite();
    this.wr(D.REG.RDT0, this.units - (this.split ? 2 : 1));
  }

  /** Puts every descriptor back in read format (buffer addresses), leaving RDH and RDT alone. */
  rewrite(): void {
    const step = this.split ? 2 : 1;
    for (let i = 0; i < this.descs; i++) {
      const at = RING + i * 16 * step;
      for (let w = 0; w < 4 * step; w++) this.host.w32(at + w * 4, 0);
      this.bufs[i]!.forEach((b, k) => this.host.w32(at + k * 8, b));
    }
  }

  /** Reassembles the frame from the write-backs starting at descriptor 0; null when nothing was written. */
  collect(): { data: Uint8Array; descriptors: number } | null {
    const step = this.split ? 2 : 1;
    const extended = this.split || (this.lay.rfctl & D.RFCTL_EXTEN) !== 0;
    const parts: Uint8Array[] = [];
    for (let i = 0; i < this.descs; i++) {
      const at = RING + i * 16 * step;
      const status = extended ? this.host.r32(at + 8) : this.host.ram[at + 12 - BASE]!;
      if (!(status & D.RXD_STAT_DD)) return i === 0 ? null : fail(`descriptor ${i} without DD before EOP`);
      const lens = this.split
        ? [this.host.r16(at + 12), this.host.r16(at + 18), this.host.r16(at + 20), this.host.r16(at + 22)]
        : [extended ? this.host.r16(at + 12) : this.host.r16(at + 8)];
      lens.forEach((l, k) => {
        expect(l).toBeLessThanOrEqual(this.sizes[k]!);
        if (l) parts.push(this.host.ram.slice(this.bufs[i]![k]! - BASE, this.bufs[i]![k]! - BASE + l));
      });
      if (status & D.RXD_STAT_EOP) {
        const total = parts.reduce((s, p) => s + p.length, 0);
        const data = new Uint8Array(total);
        let o = 0;
        for (const p of parts) {
          data.set(p, o);
          o += p.length;
        }
        return { data, descriptors: i + 1 };
      }
    }
    return fail('no EOP in the ring');
  }

  /** Offsets of bytes outside the allowed regions that no longer hold the guard byte. */
  strayWrites(): number[] {
    const out: number[] = [];
    const ram = this.host.ram;
    for (let i = 0; i < ram.length; i++) if (ram[i] !== GUARD && !this.allowed[i]) out.push(BASE + i);
    return out;
  }
}

function fail(msg: string): never {
  throw new Error(msg);
}

/** What the driver should find in its buffers: VLAN stripped under CTRL.VME, FCS kept without SECRC. */
function expected(frame: Uint8Array, lay: Layout): Uint8Array {
  let d = frame;
  if (lay.vme && frame[12] === 0x81 && frame[13] === 0x00) {
    d = new Uint8Array(frame.length - 4);
    d.set(frame.subarray(0, 12));
    d.set(frame.subarray(16), 12);
  }
  if (!(lay.rctl & D.RCTL_SECRC)) {
    const f = new Uint8Array(d.length + 4);
    f.set(d);
    new DataView(f.buffer).setUint32(d.length, crc32(d), true);
    d = f;
  }
  return d;
}

function frameOf(kind: number, len: number): Uint8Array {
  let f: Uint8Array;
  if (kind === 0) return ethFrame(MAC_A, PEER, len, len & 0xff);
  const hdr = kind === 1 ? 14 + 20 + 32 : 14 + 40 + 8;
  const payload = new Uint8Array(Math.max(0, len - hdr)).map((_, i) => (i * 7 + len) & 0xff);
  f = buildPacket({ dstMac: MAC_A, srcMac: PEER, version: kind === 1 ? 4 : 6, proto: kind === 1 ? 'tcp' : 'udp', payload }).frame;
  if (kind === 3) {
    // 802.1Q-tagged IPv4/TCP
    const t = new Uint8Array(f.length + 4);
    t.set(f.subarray(0, 12));
    t.set([0x81, 0x00, 0x00, 0x05], 12);
    t.set(f.subarray(12), 16);
    f = t;
  }
  return f.length > len && kind !== 3 ? f.subarray(0, Math.max(len, hdr)) : f;
}

const SIZES = [60, 61, 64, 127, 128, 129, 255, 256, 257, 1023, 1514, 1518, 2047, 2048, 2049, 4095, 4096, 4097, 8191, 8192, 9014, 9018, 9230, 9234];

function layouts(): Layout[] {
  const out: Layout[] = [];
  const base = D.RCTL_EN | D.RCTL_BAM | D.RCTL_LPE;
  for (const secrc of [D.RCTL_SECRC, 0]) {
    for (const vme of [false, true]) {
      for (const ext of [0, D.RFCTL_EXTEN]) {
        for (const bsex of [0, D.RCTL_BSEX]) {
          for (let bsize = 0; bsize < 4; bsize++) {
            out.push({
              name: `${ext ? 'extended' : 'legacy'} BSIZE=${bsize} BSEX=${bsex ? 1 : 0} SECRC=${secrc ? 1 : 0} VME=${vme ? 1 : 0}`,
              rctl: base | secrc | bsex | (bsize << D.RCTL_BSIZE_SHIFT),
              rfctl: ext,
              psrctl: 0x00040402,
              vme,
            });
          }
        }
      }
      const psrctls = [
        0x04040402, // Linux at MTU 9000: 256 B... header, three 4 KB pages
        0x04040401, // 128-byte header buffer (Linux's rx_ps_bsize0), three pages
        0x00000401, // one page only
        0x00000101, // 128 B header + 1 KB
        0x01010101, // 128 B + three 1 KB buffers: jumbo frames span descriptors
        0x3f3f3f7f, // the largest of each
        0x00000400, // no header buffer
        0x04000001, // buffer 1 and 2 empty, buffer 3 used
        0x00000000, // nothing at all: every frame unplaceable
      ];
      for (const dtyp of [D.RCTL_DTYP_PS, 0x00000c00]) {
        for (const psrctl of psrctls) {
          out.push({
            name: `split DTYP=${dtyp >>> 10} PSRCTL=0x${psrctl.toString(16)} SECRC=${secrc ? 1 : 0} VME=${vme ? 1 : 0}`,
            rctl: base | secrc | dtyp,
            rfctl: D.RFCTL_EXTEN,
            psrctl,
            vme,
          });
        }
      }
    }
  }
  return out;
}

describe('82574L receive never writes outside the buffers its descriptors give', () => {
  const all = layouts();
  for (const lay of all) {
    it(lay.name, () => {
      const b = new Bench(lay, lay.psrctl === 0x3f3f3f7f ? 8 : 64);
      let delivered = 0;
      for (const len of SIZES) {
        for (let kind = 0; kind < 4; kind++) {
          const frame = frameOf(kind, len);
          b.refill();
          b.dev.receiveFrame(frame);
          b.host.queue.run();
          const got = b.collect();
          const placeable = b.sizes.some((s) => s > 0);
          if (!placeable) {
            expect(got).toBeNull();
            continue;
          }
          expect(got, `${len}-byte frame kind ${kind}`).not.toBeNull();
          expect(Buffer.from(got!.data).equals(Buffer.from(expected(frame, lay))), `${len}-byte frame kind ${kind}`).toBe(true);
          delivered++;
        }
      }
      expect(b.strayWrites()).toEqual([]);
      expect(b.dev.rx.diag.overrunsBlocked).toBe(0);
      if (b.sizes.some((s) => s > 0)) expect(delivered).toBe(SIZES.length * 4);
      else expect(b.dev.rx.diag.unplaceable).toBe(SIZES.length * 4);
    });
  }

  it('splits IPv4/TCP and IPv6/UDP headers into the header buffer with HDRSP and the header length', () => {
    const lay: Layout = { name: 'linux', rctl: D.RCTL_EN | D.RCTL_BAM | D.RCTL_LPE | D.RCTL_SECRC | D.RCTL_DTYP_PS, rfctl: D.RFCTL_EXTEN, psrctl: 0x04040401, vme: false };
    const b = new Bench(lay);
    for (const [kind, hdr] of [[1, 14 + 20 + 32], [2, 14 + 40 + 8]] as const) {
      b.refill();
      b.dev.receiveFrame(frameOf(kind, 9014));
      b.host.queue.run();
      expect(b.host.r16(RING + 16)).toBe(hdr | D.RXDPS_HDRSTAT_HDRSP);
      expect(b.host.r16(RING + 12)).toBe(hdr);
      expect([b.host.r16(RING + 18), b.host.r16(RING + 20), b.host.r16(RING + 22)]).toEqual([4096, 4096, 9014 - hdr - 8192]);
      expect(b.host.r32(RING + 8) & (D.RXD_STAT_DD | D.RXD_STAT_EOP)).toBe(D.RXD_STAT_DD | D.RXD_STAT_EOP);
      expect(b.rd(D.REG.RDH0)).toBe(2);
    }
    // A non-IP frame is not split: its bytes run through buffer 0 and on into the pages.
    b.refill();
    b.dev.receiveFrame(frameOf(0, 1000));
    b.host.queue.run();
    expect(b.host.r16(RING + 16)).toBe(0);
    expect([b.host.r16(RING + 12), b.host.r16(RING + 18)]).toEqual([128, 872]);
  });

  it('drops frames beyond the LPE limit or 1514 bytes without LPE, counting ROC and RLEC', () => {
    const lay: Layout = { name: 'x', rctl: D.RCTL_EN | D.RCTL_BAM | D.RCTL_LPE | D.RCTL_SECRC | D.RCTL_DTYP_PS, rfctl: D.RFCTL_EXTEN, psrctl: 0x04040401, vme: false };
    const b = new Bench(lay);
    b.refill();
    b.dev.receiveFrame(frameOf(0, D.MAX_JUMBO_FRAME + 1));
    b.host.queue.run();
    expect(b.collect()).toBeNull();
    b.wr(D.REG.RCTL, lay.rctl & ~D.RCTL_LPE);
    b.dev.receiveFrame(frameOf(0, 1515));
    b.host.queue.run();
    expect(b.collect()).toBeNull();
    expect(b.rd(D.REG.ROC)).toBe(2);
    expect(b.rd(D.REG.RLEC)).toBe(2);
  });

  it('survives random layouts, ring pointers and frames without a stray byte (seeded)', () => {
    const rnd = mulberry32(20261203);
    const pick = (n: number): number => Math.floor(rnd() * n);
    for (let round = 0; round < 60; round++) {
      const split = rnd() < 0.6;
      const psrctl = (pick(128) | (pick(9) << 8) | (pick(9) << 16) | (pick(9) << 24)) >>> 0;
      const lay: Layout = {
        name: 'random',
        rctl: (D.RCTL_EN | D.RCTL_UPE | (rnd() < 0.8 ? D.RCTL_LPE : 0) | (rnd() < 0.5 ? D.RCTL_SECRC : 0) | (pick(4) << 10) * (split ? 1 : 0) | (pick(4) << 16) | (rnd() < 0.5 ? D.RCTL_BSEX : 0)) >>> 0,
        rfctl: (pick(2) ? D.RFCTL_EXTEN : 0) | (pick(2) ? D.RFCTL_IPFRSP_DIS | D.RFCTL_IPV6_EX_DIS : 0),
        psrctl,
        vme: rnd() < 0.5,
      };
      const b = new Bench(lay, 16);
      b.refill();
      // Random ring pointers, including an odd RDH in packet-split mode and RDT beyond the ring.
      b.wr(D.REG.RDH0, pick(b.units + 2));
      b.wr(D.REG.RDT0, pick(b.units + 2));
      for (let k = 0; k < 12; k++) {
        b.dev.receiveFrame(frameOf(pick(4), 60 + pick(D.MAX_JUMBO_FRAME - 60 + 8)));
        b.host.queue.run();
        // The driver hands descriptors back in read format before moving RDT over them.
        b.rewrite();
        if (rnd() < 0.3) b.wr(D.REG.RDT0, pick(b.units));
      }
      expect(b.strayWrites(), JSON.stringify(lay)).toEqual([]);
      expect(b.dev.rx.diag.overrunsBlocked).toBe(0);
    }
  });
});

describe('packet split edge cases', () => {
  it('a frame that is all header fits a header-only layout (PSRCTL with BSIZE1..3 = 0)', () => {
    const lay: Layout = { name: 'hdr-only', rctl: D.RCTL_EN | D.RCTL_UPE | D.RCTL_LPE | D.RCTL_SECRC | D.RCTL_DTYP_PS, rfctl: D.RFCTL_EXTEN, psrctl: 0x00000001, vme: false };
    const b = new Bench(lay, 8);
    // IPv4 + TCP with a 12-byte option and no payload: 66 bytes of header and nothing else.
    const f = buildPacket({ dstMac: MAC_A, srcMac: PEER, version: 4, proto: 'tcp', payload: new Uint8Array(0) }).frame;
    expect(f.length).toBe(66);
    b.refill();
    b.dev.receiveFrame(f);
    b.host.queue.run();
    expect(b.host.r16(RING + 16)).toBe(66 | D.RXDPS_HDRSTAT_HDRSP);
    expect(b.collect()!.data).toEqual(f);
    expect(b.dev.rx.diag.unplaceable).toBe(0);
    // A 129-byte frame that is not split runs through buffer 0 of two descriptors, EOP on the second.
    const g = new Uint8Array(129).fill(7);
    g.set(f.subarray(0, 12));
    g[12] = 0x88;
    g[13] = 0xb5;
    b.refill();
    b.dev.receiveFrame(g);
    b.host.queue.run();
    const got = b.collect()!;
    expect(got.descriptors).toBe(2);
    expect(got.data).toEqual(g);
    expect(b.dev.rx.diag.unplaceable).toBe(0);
    expect(b.strayWrites()).toEqual([]);
  });
});
