// Device fuzz inputs: the byte encoding of a bounded sequence of hostile-driver operations, its decoder, encoder and a biased generator.

import { REG } from '../../device/e1000e/defs.js';

/** A fixed-width little-endian integer field, or a length-prefixed byte string (u8 or u16 length). */
type Field = 1 | 2 | 4 | 'b' | 'B';

/** Every operation the fuzzer can perform, with the fields its bytes hold. */
export const OP_SPECS = [
  { name: 'cfgRead', fields: [2, 1] },
  { name: 'cfgWrite', fields: [2, 1, 4] },
  { name: 'barRead', fields: [1, 4, 1] },
  { name: 'barWrite', fields: [1, 4, 1, 4, 1] },
  { name: 'regWrite', fields: [1, 4] },
  { name: 'regRead', fields: [1] },
  { name: 'ramWrite', fields: [4, 'b'] },
  { name: 'txDesc', fields: [1, 1, 1, 2, 2, 1, 1, 2] },
  { name: 'rxDesc', fields: [1, 1, 2] },
  { name: 'setup', fields: [1, 1, 1] },
  { name: 'ring', fields: [1, 1, 4, 2] },
  { name: 'tail', fields: [1, 1, 2] },
  { name: 'frame', fields: [1, 2, 1, 'B'] },
  { name: 'carrier', fields: [1] },
  { name: 'ctrlRst', fields: [] },
  { name: 'devReset', fields: [] },
  { name: 'run', fields: [1, 2] },
  { name: 'sendPkt', fields: [1, 2, 1, 2, 'b'] },
  { name: 'ioBar', fields: [1, 4, 1] },
  { name: 'irqCfg', fields: [1, 4] },
] as const satisfies readonly { name: string; fields: readonly Field[] }[];

export type OpName = (typeof OP_SPECS)[number]['name'];
const OP_CODE = new Map<string, number>(OP_SPECS.map((s, i) => [s.name, i]));

/** One decoded operation: its numeric fields in order, the byte-string field if any, and where it lay in the input. */
export interface Op {
  name: OpName;
  args: number[];
  data: Uint8Array | null;
  start: number;
  end: number;
}

/** A decoded input: a profile byte (timing model) and the operations. */
export interface Program {
  profile: number;
  ops: Op[];
}

/** Inputs are cut at this many operations and bytes: every input is a bounded run. */
export const MAX_OPS = 96;
export const MAX_INPUT_BYTES = 16384;

/** Decodes bytes deterministically; missing trailing bytes of a truncated final op read as 0. */
export function decode(bytes: Uint8Array): Program {
  const n = Math.min(bytes.length, MAX_INPUT_BYTES);
  let p = 1;
  const u = (w: number): number => {
    let v = 0;
    for (let i = 0; i < w; i++) v += (p + i < n ? bytes[p + i]! : 0) * 2 ** (8 * i);
    p += w;
    return v;
  };
  const ops: Op[] = [];
  while (p < n && ops.length < MAX_OPS) {
    const start = p;
    const spec = OP_SPECS[bytes[p]! % OP_SPECS.length]!;
    p++;
    const args: number[] = [];
    let data: Uint8Array | null = null;
    for (const f of spec.fields as readonly Field[]) {
      if (f === 'b' || f === 'B') {
        const len = f === 'b' ? u(1) : u(2) & 0x7ff;
        data = bytes.slice(Math.min(p, n), Math.min(p + len, n));
        p += len;
      } else args.push(u(f));
    }
    ops.push({ name: spec.name, args, data, start, end: Math.min(p, n) });
  }
  return { profile: n > 0 ? bytes[0]! : 0, ops };
}

/** An operation to encode: its name, numeric fields, optional bytes. */
export interface OpSource {
  name: OpName;
  args?: number[];
  data?: Uint8Array | number[];
}

/** Encodes one operation (the inverse of decode for well-formed fields). */
export function encodeOp(o: OpSource): number[] {
  const code = OP_CODE.get(o.name);
  if (code === undefined) throw new Error(`unknown op ${o.name}`);
  const out = [code];
  const args = o.args ?? [];
  let ai = 0;
  for (const f of OP_SPECS[code]!.fields as readonly Field[]) {
    if (f === 'b' || f === 'B') {
      const d = Array.from(o.data ?? []).slice(0, f === 'b' ? 0xff : 0x7ff);
      out.push(d.length & 0xff);
      if (f === 'B') out.push(d.length >>> 8);
      out.push(...d.map((x) => x & 0xff));
    } else {
      let v = args[ai++] ?? 0;
      for (let i = 0; i < f; i++) {
        out.push(Math.floor(v) & 0xff);
        v = Math.floor(v / 256);
      }
    }
  }
  return out;
}

/** Encodes a profile byte and a list of operations into an input. */
export function encode(profile: number, ops: OpSource[]): Uint8Array {
  const out: number[] = [profile & 0xff];
  for (const o of ops) out.push(...encodeOp(o));
  return new Uint8Array(out);
}

// ---- register choices shared by the decoder's interpretation and the generator ----

/** Registers a hostile driver writes most (regWrite picks by index). */
export const WRITE_REGS: readonly number[] = [
  REG.CTRL, REG.CTRL_EXT, REG.ICR, REG.ICS, REG.IMS, REG.IMC, REG.IAM, REG.EIAC, REG.IVAR, REG.ITR,
  REG.EITR0, REG.EITR1, REG.EITR4, REG.RCTL, REG.RFCTL, REG.RXCSUM, REG.RDBAL0, REG.RDBAH0, REG.RDLEN0,
  REG.RDH0, REG.RDT0, REG.RDTR, REG.RADV, REG.TCTL, REG.TDBAL0, REG.TDBAH0, REG.TDLEN0, REG.TDH0, REG.TDT0,
  REG.TIDV, REG.TADV, REG.TARC0, REG.TXDCTL0, REG.RXDCTL0, REG.PBA, REG.VET, REG.MDIC, REG.EERD, REG.EECD,
  REG.STATUS, REG.MTA, REG.VFTA, REG.RAL0, REG.RAH0, REG.MRQC, REG.GCR, REG.SWSM, REG.EXTCNF_CTRL, REG.TIPG,
  REG.PSRCTL, REG.EEWR, REG.TDLEN1, REG.RDT1, REG.GPRC,
];

/** Registers worth reading: side-effecting reads (ICR, statistics) and state. */
export const READ_REGS: readonly number[] = [
  REG.ICR, REG.ICS, REG.IMS, REG.STATUS, REG.CTRL, REG.EECD, REG.EERD, REG.MDIC, REG.TDH0, REG.TDT0, REG.RDH0,
  REG.RDT0, REG.GPRC, REG.GPTC, REG.GORCL, REG.GORCH, REG.GOTCL, REG.GOTCH, REG.TPR, REG.TPT, REG.TORL, REG.TORH,
  REG.TOTL, REG.TOTH, REG.MPC, REG.RNBC, REG.ROC, REG.RUC, REG.TSCTC, REG.PRC64, REG.PRC1522, REG.PTC64,
  REG.PTC1522, REG.BPRC, REG.MPRC, REG.BPTC, REG.MPTC, REG.IMC, REG.ICRXOC, REG.CRCERRS,
];

// ---- the generator: fresh operations with values biased towards interesting states ----

type Rng = () => number;
const pick = <T>(r: Rng, a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
const int = (r: Rng, n: number): number => Math.floor(r() * n);
const u32 = (r: Rng): number => Math.floor(r() * 0x1_0000_0000);

const CFG_OFFSETS = [0x00, 0x04, 0x06, 0x0c, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x30, 0x34, 0x3c, 0xa0, 0xa2, 0xa4, 0xa8,
  0xc8, 0xcc, 0xd0, 0xd2, 0xd4, 0xd8, 0xdc, 0xe0, 0xe8, 0xf0, 0x100, 0x104, 0x140, 0x144, 0xffc, 0xffe, 0xfff, 0x1000, 0xffff];
const VALUES = [0, 1, 2, 4, 6, 7, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x8000, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff,
  0x04000000, 0x40, 0xfee00000, 0x1f, 0x8000_0000 + 0x40];

function value(r: Rng): number {
  return r() < 0.6 ? pick(r, VALUES) : r() < 0.5 ? u32(r) : int(r, 256);
}

/** Register-specific values that reach deeper states than uniform ones. */
function regValue(r: Rng, off: number): number {
  switch (off) {
    case REG.CTRL:
      return pick(r, [0x40, 0x40 | 0x40000000, 0x04000000, 0x80000040, 0x4, 0x0]) >>> 0;
    case REG.RCTL:
      return (0x2 | (r() < 0.5 ? 0x8000 : 0) | (r() < 0.5 ? 0x04000000 : 0) | (r() < 0.3 ? 0x8 : 0) | (r() < 0.2 ? 0x20 : 0)
        | (int(r, 4) << 16) | (r() < 0.2 ? 0x02000000 : 0) | (r() < 0.2 ? 0x40000 : 0) | (int(r, 4) << 8) | (r() < 0.1 ? 0x400 : 0)) >>> 0;
    case REG.TCTL:
      return pick(r, [0x2 | 0x8, 0x0, 0x2, 0x3103f0fa]);
    case REG.IMS:
    case REG.IMC:
    case REG.ICS:
    case REG.ICR:
    case REG.IAM:
    case REG.EIAC:
      return pick(r, [0xffffffff, 0x01f000d7, 0x00100000, 0x00400000, 0x01000000, 0x4, 0x80, 0x80000000, 0x1, value(r)]) >>> 0;
    case REG.IVAR:
      return pick(r, [0x800a9988, 0x000a9988, 0xffffffff, 0x8, 0x0, u32(r)]) >>> 0;
    case REG.CTRL_EXT:
      return pick(r, [0x08000000, 0x01000000, 0x00002000, 0x0]);
    case REG.TDLEN0:
    case REG.RDLEN0:
      return pick(r, [0, 128, 256, 4096, 0xfff80, 0x100000, 100, int(r, 65536) * 16]);
    case REG.TDH0:
    case REG.TDT0:
    case REG.RDH0:
    case REG.RDT0:
      return pick(r, [0, 1, 7, 8, 15, 16, 255, 256, 0xffff, 0x10000, int(r, 64)]);
    case REG.MDIC:
      return (pick(r, [0x08000000, 0x04000000, 0x20000000 | 0x08000000]) | (1 << 21) | (int(r, 32) << 16) | (r() < 0.5 ? 0x8000 | 0x200 : int(r, 65536))) >>> 0;
    case REG.EERD:
      return ((int(r, 80) << 2) | 1) >>> 0;
    case REG.PBA:
      return pick(r, [0, 1, 4, 20, 40, 48, 0xffff]);
    case REG.RXCSUM:
      return pick(r, [0x300, 0x2300, 0x100, 0x200, 0x2000, int(r, 256) | 0x300]);
    case REG.RFCTL:
      return pick(r, [0x8000, 0]);
    case REG.ITR:
    case REG.EITR0:
    case REG.EITR1:
    case REG.EITR4:
    case REG.TIDV:
    case REG.RDTR:
    case REG.TADV:
    case REG.RADV:
      return pick(r, [0, 1, 10, 100, 0x8000_0000, 0xffff, 0x8000ffff]) >>> 0;
    default:
      return value(r);
  }
}

/** One fresh operation. */
export function generateOp(r: Rng): OpSource {
  const x = r();
  // Weights: writes to ring/interrupt registers, descriptors, frames and time dominate.
  if (x < 0.04) return { name: 'cfgRead', args: [r() < 0.8 ? pick(r, CFG_OFFSETS) : int(r, 0x10000), int(r, 8)] };
  if (x < 0.1) return { name: 'cfgWrite', args: [r() < 0.85 ? pick(r, CFG_OFFSETS) : int(r, 0x10000), r() < 0.7 ? 0 : int(r, 8), value(r)] };
  if (x < 0.14) return { name: 'barRead', args: [int(r, 32), r() < 0.5 ? int(r, 256) : u32(r), int(r, 8)] };
  if (x < 0.2) return { name: 'barWrite', args: [int(r, 32), r() < 0.5 ? int(r, 256) : u32(r), int(r, 8), value(r), int(r, 4)] };
  if (x < 0.34) {
    const i = int(r, WRITE_REGS.length);
    return { name: 'regWrite', args: [i, regValue(r, WRITE_REGS[i]!)] };
  }
  if (x < 0.4) return { name: 'regRead', args: [int(r, 256)] };
  if (x < 0.42) {
    const d = Array.from({ length: int(r, 64) }, () => int(r, 256));
    return { name: 'ramWrite', args: [u32(r)], data: d };
  }
  if (x < 0.5) {
    return {
      name: 'txDesc',
      args: [int(r, 64), int(r, 4), r() < 0.6 ? 0 : int(r, 8), int(r, 65536), pick(r, [0, 1, 14, 60, 64, 1514, 9014, 9015, 0xffff, int(r, 2048)]), int(r, 256), pick(r, [54, 34, 14, 0, 255, int(r, 256)]), pick(r, [1460, 0, 1, 536, 0xffff, int(r, 65536)])],
    };
  }
  if (x < 0.55) return { name: 'rxDesc', args: [int(r, 64), r() < 0.6 ? 0 : int(r, 8), int(r, 65536)] };
  if (x < 0.6) return { name: 'setup', args: [int(r, 256), int(r, 256), int(r, 256)] };
  if (x < 0.65) return { name: 'ring', args: [int(r, 4), int(r, 8), u32(r), pick(r, [0, 8, 16, 64, 256, 4096, 65535, int(r, 65536)])] };
  if (x < 0.71) return { name: 'tail', args: [int(r, 2), int(r, 4), int(r, 65536)] };
  if (x < 0.8) {
    const d = Array.from({ length: int(r, 24) }, () => int(r, 256));
    return { name: 'frame', args: [int(r, 8), int(r, 65536), int(r, 256)], data: d };
  }
  if (x < 0.82) return { name: 'carrier', args: [int(r, 2)] };
  if (x < 0.83) return { name: 'ctrlRst' };
  if (x < 0.835) return { name: 'devReset' };
  if (x < 0.9) return { name: 'run', args: [int(r, 12), int(r, 65536)] };
  if (x < 0.96) {
    const d = Array.from({ length: int(r, 16) }, () => int(r, 256));
    return { name: 'sendPkt', args: [int(r, 6), pick(r, [60, 100, 1514, 1515, 3000, 9000, 9015, 20000, 65535, int(r, 65536)]), r() < 0.8 ? int(r, 128) : int(r, 256), pick(r, [1460, 536, 1459, 8960, 0, 1, 8, int(r, 65536)])], data: d };
  }
  if (x < 0.98) return { name: 'ioBar', args: [int(r, 256), value(r), int(r, 4)] };
  return { name: 'irqCfg', args: [int(r, 16), value(r)] };
}

/** A fresh random input: a profile byte, often a sane set-up first, then a run of operations. */
export function generateInput(r: Rng, maxOps = 40): Uint8Array {
  const ops: OpSource[] = [];
  if (r() < 0.7) ops.push({ name: 'setup', args: [int(r, 256), int(r, 256), int(r, 256)] });
  const n = 1 + int(r, maxOps);
  for (let i = 0; i < n; i++) ops.push(generateOp(r));
  return encode(int(r, 256), ops);
}
