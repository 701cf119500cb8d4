// Helpers that program an E1000eDevice the way a driver would, for device-level tests.

import { E1000eDevice } from '../../device/e1000e/device.js';
import * as D from '../../device/e1000e/defs.js';
import { FlatHost } from './flat-host.js';
import type { TimingParams } from '../../device/sim/timing.js';
import { ZERO_TIMING } from '../../device/sim/timing.js';
import type { PartnerPause } from '../../device/e1000e/phy.js';

export const MAC_A = new Uint8Array([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

export interface Rig {
  host: FlatHost;
  dev: E1000eDevice;
  rd(off: number): number;
  wr(off: number, v: number): void;
}

/** A device on a flat host, memory decoding and bus mastering on, MSI-X enabled with an unmasked table. */
export function makeRig(opts: { timing?: Partial<TimingParams>; mode?: 'msix' | 'msi' | 'intx'; trace?: string; partnerPause?: PartnerPause } = {}): Rig {
  const host = new FlatHost(0x10000, 1 << 20, opts.trace ?? '*');
  const dev = E1000eDevice.create(host, { mac: MAC_A, name: 'dut', timing: { ...ZERO_TIMING, ...(opts.timing ?? {}) }, partnerPause: opts.partnerPause });
  dev.configWrite(0x04, 2, 0x0006); // MEM | BUS MASTER
  const mode = opts.mode ?? 'msix';
  if (mode === 'msix') {
    for (let v = 0; v < 5; v++) {
      dev.barWrite(3, v * 16, 4, 0xfee00000);
      dev.barWrite(3, v * 16 + 4, 4, 0);
      dev.barWrite(3, v * 16 + 8, 4, 0x40 + v);
      dev.barWrite(3, v * 16 + 12, 4, 0);
    }
    dev.configWrite(0xa2, 2, 0x8000); // MSI-X enable
  } else if (mode === 'msi') {
    dev.configWrite(0xd4, 4, 0xfee00000);
    dev.configWrite(0xd8, 4, 0);
    dev.configWrite(0xdc, 2, 0x41);
    dev.configWrite(0xd2, 2, 0x0001);
  }
  return {
    host,
    dev,
    rd: (off) => dev.barRead(0, off, 4),
    wr: (off, v) => dev.barWrite(0, off, 4, v >>> 0),
  };
}

export function mdicRead(r: Rig, reg: number): number {
  r.wr(D.REG.MDIC, (reg << D.MDIC_REG_SHIFT) | (D.MDIC_PHY_ADDR << D.MDIC_PHY_SHIFT) | D.MDIC_OP_READ);
  const v = r.rd(D.REG.MDIC);
  if (!(v & D.MDIC_READY) || v & D.MDIC_ERROR) throw new Error(`MDIC read failed ${v.toString(16)}`);
  return v & 0xffff;
}

export function mdicWrite(r: Rig, reg: number, val: number): void {
  r.wr(D.REG.MDIC, (reg << D.MDIC_REG_SHIFT) | (D.MDIC_PHY_ADDR << D.MDIC_PHY_SHIFT) | D.MDIC_OP_WRITE | val);
}

export function eerd(r: Rig, word: number): number {
  r.wr(D.REG.EERD, (word << D.EERD_ADDR_SHIFT) | D.EERD_START);
  const v = r.rd(D.REG.EERD);
  if (!(v & D.EERD_DONE)) throw new Error('EERD not done');
  return v >>> D.EERD_DATA_SHIFT;
}

/** Brings the link up: carrier, SLU, wait out autonegotiation. */
export function linkUp(r: Rig): void {
  r.dev.setCarrier(true);
  r.wr(D.REG.CTRL, r.rd(D.REG.CTRL) | D.CTRL_SLU);
  r.host.queue.advance(2_000_000_000);
}

export const TX_RING = 0x20000;
export const RX_RING = 0x30000;
export const TX_BUF = 0x40000;
export const RX_BUF = 0x80000;

/** Programs TX and RX rings of `n` descriptors and enables both directions (extended RX descriptors). */
export function setupRings(r: Rig, n = 16): void {
  r.wr(D.REG.TDBAL0, TX_RING);
  r.wr(D.REG.TDBAH0, 0);
  r.wr(D.REG.TDLEN0, n * 16);
  r.wr(D.REG.TDH0, 0);
  r.wr(D.REG.TDT0, 0);
  r.wr(D.REG.TCTL, D.TCTL_EN | D.TCTL_PSP);
  r.wr(D.REG.RFCTL, D.RFCTL_EXTEN);
  r.wr(D.REG.RDBAL0, RX_RING);
  r.wr(D.REG.RDBAH0, 0);
  r.wr(D.REG.RDLEN0, n * 16);
  r.wr(D.REG.RDH0, 0);
  for (let i = 0; i < n; i++) {
    r.host.w32(RX_RING + i * 16, RX_BUF + i * 2048);
    r.host.w32(RX_RING + i * 16 + 4, 0);
    r.host.w32(RX_RING + i * 16 + 8, 0);
    r.host.w32(RX_RING + i * 16 + 12, 0);
  }
  r.wr(D.REG.RDT0, n - 1);
  r.wr(D.REG.RCTL, D.RCTL_EN | D.RCTL_BAM | D.RCTL_SECRC);
}

/** Queues a legacy TX descriptor for `frame` at ring index `i`. */
export function putLegacyTx(r: Rig, i: number, frame: Uint8Array, cmd = D.TXD_CMD_EOP | D.TXD_CMD_IFCS | D.TXD_CMD_RS): void {
  const buf = TX_BUF + i * 0x4000;
  r.host.put(buf, frame);
  r.host.w32(TX_RING + i * 16, buf);
  r.host.w32(TX_RING + i * 16 + 4, 0);
  r.host.w32(TX_RING + i * 16 + 8, (cmd | frame.length) >>> 0);
  r.host.w32(TX_RING + i * 16 + 12, 0);
}

export function ethFrame(dst: Uint8Array, src: Uint8Array, len: number, fill = 0xab, ethertype = 0x88b5): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = ethertype >>> 8;
  f[13] = ethertype & 0xff;
  for (let i = 14; i < len; i++) f[i] = (fill + i) & 0xff;
  return f;
}
