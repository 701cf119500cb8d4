// Decodes a fuzz input (bytes) into a hostile vfio-user client's actions: messages with fds, deliveries, disconnects.
//
// An input is a sequence of records `op u8, len u8, params[len]`. Each record decodes from its own
// params only (reads past the end give 0), so records can be cut, moved and spliced freely, and a
// zero byte always selects the sane choice: all-zero params make a valid message. Every hostile
// variant (wild fields, lying sizes, fds where none belong, REPLY-typed messages, NO_REPLY...) is
// one non-zero byte away.

import * as P from '../../qemu/protocol.js';

/** An fd the client creates and passes with a message (a real memfd/eventfd at socket level). */
export type FdSpec = { kind: 'memfd'; size: number } | { kind: 'eventfd' };

/** How a message's bytes go out at socket level. */
export type Delivery =
  /** one sendmsg */
  | 'whole'
  /** kept and sent with the next message(s) in one sendmsg: several messages in one write */
  | 'glue'
  /** several sendmsg calls, yielding to the server between them */
  | 'split';

export interface SendAction {
  t: 'send';
  bytes: Uint8Array;
  fds: FdSpec[];
  delivery: Delivery;
  /** Cut points (fractions of the length, 0..255/256) for 'split'. */
  splits: number[];
  /** Yield to the server after sending. */
  pause: boolean;
  label: string;
}

export interface DisconnectAction {
  t: 'disconnect';
  /** Abrupt: close at once, whatever the server has not read or answered yet; else wait for the replies owed first. */
  abrupt: boolean;
  /** Bytes of an unfinished message to send first (a disconnect mid-message), 0 for none. */
  partial: Uint8Array;
  fds: FdSpec[];
}

/** Bytes that do not form a message by themselves (socket level only; the session never sees them). */
export interface RawAction {
  t: 'raw';
  bytes: Uint8Array;
  fds: FdSpec[];
}

export interface PauseAction {
  t: 'pause';
  turns: number;
}

export type Action = (SendAction | DisconnectAction | RawAction | PauseAction) & { span: [number, number] };

/** Reads params; past the end every read is 0 (the sane default). */
export class Reader {
  pos = 0;
  constructor(private readonly b: Uint8Array) {}
  get left(): number {
    return Math.max(0, this.b.length - this.pos);
  }
  u8(): number {
    return this.pos < this.b.length ? this.b[this.pos++]! : (this.pos++, 0);
  }
  u16(): number {
    return this.u8() | (this.u8() << 8);
  }
  u32(): number {
    return (this.u16() | (this.u16() << 16)) >>> 0;
  }
  /** table[i] for a byte i inside the table, else `wild()`. Byte 0 is table[0]. */
  choose<T>(table: readonly T[], wild: () => T): T {
    const i = this.u8();
    return i < table.length ? table[i]! : wild();
  }
  pick<T>(table: readonly T[]): T {
    return table[this.u8() % table.length]!;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u8();
    return out;
  }
  /** The rest of the params. */
  rest(): Uint8Array {
    const out = this.b.slice(Math.min(this.pos, this.b.length));
    this.pos = this.b.length;
    return out;
  }
}

const PAGE = 0x1000n;
const U64S: bigint[] = [0n, PAGE, 2n * PAGE, 3n * PAGE, 0x10000n, 0x100000n, 0x800n, 1n, 0xfffn, 0x1001n, 1n << 32n, (1n << 32n) - PAGE, 1n << 40n, 1n << 52n, (1n << 53n) - PAGE, 1n << 53n, 1n << 63n, (1n << 64n) - PAGE, (1n << 64n) - 1n];

function wildU32(r: Reader): () => number {
  return () => r.u32();
}
function wildU64(r: Reader): () => bigint {
  return () => BigInt(r.u32()) | (BigInt(r.u32()) << 32n);
}

class Builder {
  readonly b: Uint8Array;
  readonly v: DataView;
  constructor(n: number) {
    this.b = new Uint8Array(n);
    this.v = new DataView(this.b.buffer);
  }
  u16(o: number, x: number): this {
    if (o + 2 <= this.b.length) this.v.setUint16(o, x & 0xffff, true);
    return this;
  }
  u32(o: number, x: number): this {
    if (o + 4 <= this.b.length) this.v.setUint32(o, x >>> 0, true);
    return this;
  }
  u64(o: number, x: bigint): this {
    if (o + 8 <= this.b.length) this.v.setBigUint64(o, BigInt.asUintN(64, x), true);
    return this;
  }
}

/** Payload lengths around a command's struct size: exact (default), short, long, empty. */
function payloadLen(r: Reader, exact: number): number {
  return r.choose([exact, exact - 1, exact + 1, 0, exact + 4, 4, exact + 100], () => r.u8());
}

const QEMU_CAPS = '{"capabilities":{"max_msg_fds":16,"max_data_xfer_size":1048576,"pgsizes":4096,"max_dma_maps":65535,"migration":{"pgsize":4096,"max_bitmap_size":4194304},"write_multiple":true}}';
const VERSION_JSON = [
  QEMU_CAPS,
  '',
  '{}',
  '{"capabilities":{}}',
  '[]',
  '1',
  '"x"',
  'null',
  '{"capabilities":"x"}',
  '{"capabilities":null}',
  '{"capabilities":[1,2]}',
  '{"capabilities":{"max_msg_fds":-1,"pgsizes":0,"max_data_xfer_size":1e300}}',
  '{',
  '{"a":',
  '\u00ff\u00fe',
  '[['.repeat(5000),
  '{"capabilities":{"migration":{"pgsize":"x"}},"capabilities":1}',
];

interface GenState {
  nextId: number;
  /** iova/size of DMA_MAP requests sent (whether or not they succeeded), for unmaps that hit. */
  maps: { iova: bigint; size: bigint }[];
  last: SendAction | null;
}

/** REGION sizes as the server reports them (0 for absent regions). */
const REGION_SIZES = [0x20000, 0x20000, 32, 0x4000, 0, 0, 0, 0x1000, 0];
/** Offsets worth reaching in BAR0: STATUS, CTRL, ICR, ICS, IMS, IMC, EERD, MDIC, RCTL, TCTL, RDT, TDT. */
const BAR0_OFFSETS = [0x8, 0x0, 0xc0, 0xc8, 0xd0, 0xd8, 0x14, 0x20, 0x100, 0x400, 0x2818, 0x3818, 0x5400, 0xe014];

function version(r: Reader): { payload: Uint8Array; label: string } {
  const kind = r.u8() % 8;
  const major = kind === 1 ? r.choose([1, 0xffff, 2], () => r.u16()) : 0;
  const minor = r.choose([0, 1, 0xffff], () => r.u16());
  let json: Uint8Array;
  let nul = true;
  switch (kind) {
    case 2: // short: 0..6 bytes in all
      return { payload: new Uint8Array(r.u8() % 7).fill(0), label: 'VERSION short' };
    case 3: // garbage bytes as JSON
      json = r.rest();
      nul = false;
      break;
    case 4: // no NUL terminator
      json = Buffer.from(r.pick(VERSION_JSON));
      nul = false;
      break;
    default:
      json = Buffer.from(kind === 0 ? r.choose([QEMU_CAPS], () => VERSION_JSON[r.u8() % VERSION_JSON.length]!) : r.pick(VERSION_JSON));
  }
  const b = new Builder(4 + json.length + (nul ? 1 : 0));
  b.u16(0, major).u16(2, minor);
  b.b.set(json, 4);
  return { payload: b.b, label: `VERSION k${kind}` };
}

const MEMFD_SIZES = [0x10000, 0x1000, 0x2000, 0x10000, 0x1800, 0, 0x3000, 0x400000, 0x100000];

const IOVA_CHOICES = U64S.slice(0, 6).map((x) => x * 0x10n).concat(U64S);
const SIZE_CHOICES = new Map(MEMFD_SIZES.map((fileSize) => [fileSize, [BigInt(fileSize || 0x1000), PAGE, 2n * PAGE, 0x10000n, 0n, 0x800n, 0x1001n, BigInt(fileSize) + PAGE, 1n << 32n, 1n << 40n, 1n << 53n, (1n << 64n) - PAGE]]));
const FOFF_CHOICES = new Map(MEMFD_SIZES.map((fileSize) => [fileSize, [0n, PAGE, 0x800n, 1n, BigInt(fileSize), BigInt(fileSize) - PAGE, 1n << 52n, (1n << 64n) - PAGE]]));

function dmaMap(r: Reader, st: GenState): { payload: Uint8Array; fds: FdSpec[]; label: string } {
  const fdKind = r.u8() % 6; // 0,1,2: one memfd; 3: none; 4: eventfd; 5: two memfds
  const fileSize = r.pick(MEMFD_SIZES);
  const iova = r.choose(IOVA_CHOICES, wildU64(r));
  const size = r.choose(SIZE_CHOICES.get(fileSize)!, wildU64(r));
  const offset = r.choose(FOFF_CHOICES.get(fileSize)!, wildU64(r));
  const flags = r.choose([P.DMA_FLAG_READ | P.DMA_FLAG_WRITE, P.DMA_FLAG_READ, P.DMA_FLAG_WRITE, 0, 4, 0xffffffff], wildU32(r));
  const argsz = r.choose([P.DMA_MAP_SIZE, 0, 31, 33, 0xffffffff], wildU32(r));
  const len = payloadLen(r, P.DMA_MAP_SIZE);
  const b = new Builder(len).u32(0, argsz).u32(4, flags).u64(8, offset).u64(16, iova).u64(24, size);
  const fds: FdSpec[] = [];
  if (fdKind <= 2 || fdKind === 5) fds.push({ kind: 'memfd', size: fileSize });
  if (fdKind === 5) fds.push({ kind: 'memfd', size: fileSize });
  if (fdKind === 4) fds.push({ kind: 'eventfd' });
  st.maps.push({ iova, size });
  if (st.maps.length > 32) st.maps.shift();
  return { payload: b.b, fds, label: `DMA_MAP fds=${fds.length}` };
}

function dmaUnmap(r: Reader, st: GenState): { payload: Uint8Array; label: string } {
  const target = r.u8();
  const known = st.maps.length > 0 && target < 128 ? st.maps[target % st.maps.length]! : null;
  const iova = known ? known.iova : r.choose(U64S, wildU64(r));
  const size = known && r.u8() === 0 ? known.size : r.choose([PAGE, 0n, 0x10000n, 0x100000n, 2n * PAGE, (1n << 64n) - 1n, 0x800n], wildU64(r));
  const flags = r.choose([0, P.DMA_UNMAP_FLAG_ALL, P.DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, 3, 4, 0xffffffff], wildU32(r));
  const argsz = r.choose([P.DMA_UNMAP_SIZE, 0, 23, 25, 0xffffffff], wildU32(r));
  const len = payloadLen(r, P.DMA_UNMAP_SIZE);
  const all = flags === P.DMA_UNMAP_FLAG_ALL;
  const b = new Builder(len).u32(0, argsz).u32(4, flags).u64(8, all ? 0n : iova).u64(16, all ? 0n : size);
  return { payload: b.b, label: `DMA_UNMAP${all ? ' ALL' : ''}` };
}

function infoLike(r: Reader, size: number, indexes: number[]): Uint8Array {
  const index = r.choose(indexes, wildU32(r));
  const argsz = r.choose([size, 0, size - 1, size + 1, 0xffffffff], wildU32(r));
  const len = payloadLen(r, size);
  return new Builder(len).u32(0, argsz).u32(8, index).b;
}

const SET_IRQS_FLAGS = [
  P.IRQ_SET_DATA_EVENTFD | P.IRQ_SET_ACTION_TRIGGER,
  P.IRQ_SET_DATA_NONE | P.IRQ_SET_ACTION_TRIGGER,
  P.IRQ_SET_DATA_BOOL | P.IRQ_SET_ACTION_TRIGGER,
  P.IRQ_SET_DATA_NONE | P.IRQ_SET_ACTION_UNMASK,
  P.IRQ_SET_DATA_NONE | P.IRQ_SET_ACTION_MASK,
  P.IRQ_SET_DATA_BOOL | P.IRQ_SET_ACTION_MASK,
  P.IRQ_SET_DATA_BOOL | P.IRQ_SET_ACTION_UNMASK,
  P.IRQ_SET_DATA_EVENTFD | P.IRQ_SET_ACTION_MASK,
  P.IRQ_SET_DATA_EVENTFD | P.IRQ_SET_ACTION_UNMASK,
  0,
  P.IRQ_SET_DATA_NONE | P.IRQ_SET_DATA_BOOL | P.IRQ_SET_ACTION_TRIGGER,
  P.IRQ_SET_DATA_EVENTFD | P.IRQ_SET_ACTION_MASK | P.IRQ_SET_ACTION_TRIGGER,
  P.IRQ_SET_DATA_EVENTFD | P.IRQ_SET_ACTION_TRIGGER | 0x40,
];

function setIrqs(r: Reader): { payload: Uint8Array; fds: FdSpec[]; label: string } {
  const flags = r.choose(SET_IRQS_FLAGS, wildU32(r));
  const index = r.choose([P.IRQ_MSIX, P.IRQ_INTX, P.IRQ_MSI, P.IRQ_ERR, P.IRQ_REQ, 5, 0xffffffff], wildU32(r));
  const start = r.choose([0, 1, 2, 3, 4, 5, 6, 0xffffffff, 0x80000000, 0xfffffffb], wildU32(r));
  const count = r.choose([1, 0, 2, 3, 4, 5, 6, 0xffffffff, 0x80000000, 0xfffffffb], wildU32(r));
  const data = flags & P.IRQ_SET_DATA_MASK;
  // fds: by default one eventfd per vector for DATA_EVENTFD, none otherwise; else 0..7 of them.
  const nfdSel = r.u8();
  const defaultFds = data === P.IRQ_SET_DATA_EVENTFD ? Math.min(count, 8) : 0;
  const nfds = nfdSel === 0 ? defaultFds : (nfdSel - 1) % 9;
  const memfdAt = r.u8(); // an fd that is a memfd rather than an eventfd
  const fds: FdSpec[] = [];
  for (let i = 0; i < nfds; i++) fds.push(memfdAt !== 0 && memfdAt % 8 === i ? { kind: 'memfd', size: 0x1000 } : { kind: 'eventfd' });
  const boolSel = r.u8();
  const boolLen = data === P.IRQ_SET_DATA_BOOL ? (boolSel === 0 ? Math.min(count, 64) : (boolSel - 1) % 9) : boolSel === 0 ? 0 : (boolSel - 1) % 4;
  const argsz = r.choose([P.SET_IRQS_SIZE + boolLen, 0, 19, 0xffffffff], wildU32(r));
  const shorten = r.u8() % 4 === 3 ? r.u8() % P.SET_IRQS_SIZE : -1;
  const b = new Builder(shorten >= 0 ? shorten : P.SET_IRQS_SIZE + boolLen).u32(0, argsz).u32(4, flags).u32(8, index).u32(12, start).u32(16, count);
  for (let i = 0; shorten < 0 && i < boolLen; i++) b.b[P.SET_IRQS_SIZE + i] = r.u8() === 0 ? 1 : 0;
  return { payload: b.b, fds, label: `SET_IRQS f${flags} i${index} s${start} c${count} fds=${nfds}` };
}

const REGION_CHOICES = [0, 7, 2, 1, 3, 4, 6, 8, 9, 0xffffffff];
const OFFSET_CHOICES = new Map<number, bigint[]>();
for (const size of new Set([...REGION_SIZES, 0])) {
  OFFSET_CHOICES.set(size, [...BAR0_OFFSETS.map(BigInt), BigInt(Math.max(size - 4, 0)), BigInt(Math.max(size - 1, 0)), BigInt(size), BigInt(size + 4), 1n, 2n, 3n, 1n << 32n, (1n << 53n) - 1n, 1n << 53n, (1n << 64n) - 4n]);
}
const COUNT_CHOICES = [4, 1, 2, 3, 8, 0, 5, 7, 16, 64, 256, 4096, 0x20000, P.MAX_DATA_XFER, P.MAX_DATA_XFER + 1, 0xffffffff];

function regionAccess(r: Reader, write: boolean): { payload: Uint8Array; label: string } {
  const region = r.choose(REGION_CHOICES, wildU32(r));
  const size = REGION_SIZES[region] ?? 0;
  const offset = r.choose(OFFSET_CHOICES.get(size)!, () => BigInt(r.u32() % 0x20010));
  const count = r.choose(COUNT_CHOICES, () => r.u16());
  // The data sent with a write: count bytes by default, or a wrong length.
  const dataLen = Math.min(P.MAX_DATA_XFER + 1, write ? r.choose([count, 0, count + 1, Math.max(count - 1, 0), 4], () => r.u8()) : r.choose([0, 4, 1], () => r.u8()));
  const trunc = r.u8() % 8 === 7 ? r.u8() % P.REGION_ACCESS_SIZE : -1;
  const fill = r.u8();
  const b = new Builder(trunc >= 0 ? trunc : P.REGION_ACCESS_SIZE + dataLen).u64(0, offset).u32(8, region).u32(12, count);
  if (trunc < 0 && dataLen > 0) {
    // the first 4 bytes come from the input, the rest repeat one byte
    const data = b.b.subarray(P.REGION_ACCESS_SIZE);
    data.fill(fill);
    for (let i = 0; i < Math.min(dataLen, 4); i++) data[i] = r.u8();
  }
  return { payload: b.b, label: `REGION_${write ? 'WRITE' : 'READ'} r${region} o${offset} c${count}` };
}

const UNKNOWN_CMDS = [P.Cmd.DEVICE_GET_REGION_IO_FDS, 0, P.Cmd.DMA_READ, P.Cmd.DMA_WRITE, P.Cmd.DIRTY_PAGES, P.Cmd.REGION_WRITE_MULTI, P.Cmd.DEVICE_FEATURE, P.Cmd.MIG_DATA_READ, P.Cmd.MIG_DATA_WRITE, 19, 0x7fff, 0xffff];

/** The message kinds, by op. */
const OPS = ['VERSION', 'DMA_MAP', 'DMA_UNMAP', 'GET_INFO', 'REGION_INFO', 'IRQ_INFO', 'SET_IRQS', 'REGION_READ', 'REGION_WRITE', 'RESET', 'UNKNOWN', 'RAW_MSG', 'MUTATED', 'DISCONNECT', 'PARTIAL', 'BURST', 'PAUSE'] as const;
export const OP_COUNT = OPS.length;
export const OP = Object.fromEntries(OPS.map((n, i) => [n, i])) as Record<(typeof OPS)[number], number>;

/** Builds the payload of a message kind from params (ops 0-11). */
function payloadFor(op: number, r: Reader, st: GenState): { cmd: number; payload: Uint8Array; fds: FdSpec[]; label: string } {
  switch (op) {
    case OP.VERSION: {
      const v = version(r);
      return { cmd: P.Cmd.VERSION, payload: v.payload, fds: [], label: v.label };
    }
    case OP.DMA_MAP: {
      const m = dmaMap(r, st);
      return { cmd: P.Cmd.DMA_MAP, ...m };
    }
    case OP.DMA_UNMAP:
      return { cmd: P.Cmd.DMA_UNMAP, fds: [], ...dmaUnmap(r, st) };
    case OP.GET_INFO: {
      const argsz = r.choose([P.DEVICE_INFO_SIZE, 0, 15, 4, 0xffffffff], wildU32(r));
      const len = r.choose([P.DEVICE_INFO_SIZE, 4, 0, 3, 100], () => r.u8());
      return { cmd: P.Cmd.DEVICE_GET_INFO, payload: new Builder(len).u32(0, argsz).b, fds: [], label: 'GET_INFO' };
    }
    case OP.REGION_INFO:
      return { cmd: P.Cmd.DEVICE_GET_REGION_INFO, payload: infoLike(r, P.REGION_INFO_SIZE, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xffffffff]), fds: [], label: 'REGION_INFO' };
    case OP.IRQ_INFO:
      return { cmd: P.Cmd.DEVICE_GET_IRQ_INFO, payload: infoLike(r, P.IRQ_INFO_SIZE, [2, 0, 1, 3, 4, 5, 0xffffffff]), fds: [], label: 'IRQ_INFO' };
    case OP.SET_IRQS:
      return { cmd: P.Cmd.DEVICE_SET_IRQS, ...setIrqs(r) };
    case OP.REGION_READ:
      return { cmd: P.Cmd.REGION_READ, fds: [], ...regionAccess(r, false) };
    case OP.REGION_WRITE:
      return { cmd: P.Cmd.REGION_WRITE, fds: [], ...regionAccess(r, true) };
    case OP.RESET:
      return { cmd: P.Cmd.DEVICE_RESET, payload: new Uint8Array(r.choose([0, 4, 1], () => r.u8())), fds: [], label: 'RESET' };
    case OP.UNKNOWN:
      return { cmd: r.choose(UNKNOWN_CMDS, () => r.u16()), payload: new Uint8Array(r.choose([0, 8, 16, 24], () => r.u8())), fds: [], label: 'UNKNOWN' };
    default: {
      // RAW_MSG: any command, the payload is the rest of the params
      const cmd = r.u8() % 20;
      return { cmd, payload: r.rest(), fds: [], label: `RAW cmd${cmd}` };
    }
  }
}

function header(payload: Uint8Array, msgId: number, cmd: number, flags: number, error = 0): Uint8Array {
  const m = P.buildMessage({ msgId: msgId & 0xffff, cmd, flags, error }, payload);
  return m;
}

function makeFds(r: Reader, n: number): FdSpec[] {
  const out: FdSpec[] = [];
  for (let i = 0; i < n; i++) out.push(r.u8() & 1 ? { kind: 'memfd', size: 0x1000 } : { kind: 'eventfd' });
  return out;
}

/**
 * The common part of a message record: [mod, deliv] then the kind's params. mod 0 is a plain
 * request; otherwise its bits choose flags, a lying size, extra fds and a duplicated id.
 */
function message(op: number, r: Reader, st: GenState): SendAction {
  const mod = r.u8();
  const deliv = r.u8();
  const k = payloadFor(op, r, st);
  let flags = P.FLAG_REQUEST;
  let error = 0;
  let label = k.label;
  let fds = k.fds;
  let id = st.nextId++;
  if (mod !== 0) {
    switch (mod & 7) {
      case 0:
        break;
      case 1:
        flags = P.FLAG_NO_REPLY;
        label += ' NO_REPLY';
        break;
      case 2:
        flags = P.FLAG_REPLY;
        label += ' REPLY-typed';
        break;
      case 3:
        flags = P.FLAG_REPLY | P.FLAG_ERROR;
        error = P.EINVAL;
        label += ' REPLY|ERROR';
        break;
      case 4:
        flags = r.u32();
        label += ` flags=${flags}`;
        break;
      case 5:
        flags = P.FLAG_ERROR;
        error = r.u32();
        label += ' ERROR-flagged request';
        break;
      case 6:
        flags = 2 + (r.u8() % 14);
        label += ` type=${flags}`;
        break;
      default:
        flags = P.FLAG_NO_REPLY | (r.u8() << 8);
        label += ' NO_REPLY|junk';
    }
    if (mod & 0x20) {
      fds = [...fds, ...makeFds(r, 1 + (r.u8() % 3))];
      label += ' +fds';
    }
    if (mod & 0x40) id = st.nextId - 2; // the previous message's id again
  }
  const bytes = header(k.payload, id, k.cmd, flags, error);
  if ((mod & 0x18) === 0x18) {
    // a header size that lies (the bytes sent stay as built)
    const n = bytes.length;
    const lie = r.choose([n - 1, n + 1, n + 4096, 15, 0, P.HEADER_SIZE, P.MAX_MSG_SIZE, P.MAX_MSG_SIZE + 1, 0xffffffff, Math.max(n - 4, 0), 0x80000000], () => r.u32());
    new DataView(bytes.buffer).setUint32(4, lie >>> 0, true);
    label += ` size=${lie >>> 0}(${n})`;
  }
  const delivery: Delivery = (['whole', 'whole', 'glue', 'split'] as const)[deliv & 3]!;
  const splits = delivery === 'split' ? [r.u8() | 1, r.u8()] : [];
  return { t: 'send', bytes, fds, delivery, splits, pause: (deliv & 4) !== 0, label };
}

/** A valid message of some kind, then byte mutations driven by the params (raw mutation of valid messages). */
function mutated(r: Reader, st: GenState): SendAction {
  const kind = r.u8() % 11;
  const base = message(kind, new Reader(new Uint8Array(0)), st);
  const b = Array.from(base.bytes);
  const n = 1 + (r.u8() % 6);
  for (let i = 0; i < n; i++) {
    const at = b.length > 0 ? r.u16() % b.length : 0;
    switch (r.u8() % 6) {
      case 0:
        b[at] = (b[at] ?? 0) ^ (1 << (r.u8() & 7));
        break;
      case 1:
        b[at] = r.u8();
        break;
      case 2:
        b.splice(at, 0, r.u8());
        break;
      case 3:
        b.splice(at, 1);
        break;
      case 4:
        b.length = Math.max(at, P.HEADER_SIZE);
        break;
      default: {
        const x = r.choose([0xff, 0, 0x80, 0x7f], () => r.u8());
        for (let j = 0; j < 4 && at + j < b.length; j++) b[at + j] = x;
      }
    }
  }
  // keep the size honest unless a mutation hit it (session level sees the lie either way)
  const out = new Uint8Array(Math.max(b.length, P.HEADER_SIZE));
  out.set(b.slice(0, out.length));
  if (r.u8() < 128) new DataView(out.buffer).setUint32(4, out.length, true);
  return { ...base, bytes: out, label: `MUTATED ${base.label}` };
}

/** Splits input bytes into records [op, len, params]: [start, end) of each. */
export function records(data: Uint8Array): { op: number; start: number; end: number; params: Uint8Array }[] {
  const out: { op: number; start: number; end: number; params: Uint8Array }[] = [];
  let i = 0;
  while (i < data.length) {
    const op = data[i]! % OP_COUNT;
    const len = i + 1 < data.length ? data[i + 1]! : 0;
    const end = Math.min(data.length, i + 2 + len);
    out.push({ op, start: i, end, params: data.subarray(Math.min(i + 2, end), end) });
    i = end;
  }
  return out;
}

/** Decodes an input into actions, deterministically. */
export function decode(data: Uint8Array): Action[] {
  const st: GenState = { nextId: 1, maps: [], last: null };
  const out: Action[] = [];
  for (const rec of records(data)) {
    const r = new Reader(rec.params);
    const span: [number, number] = [rec.start, rec.end];
    if (rec.op <= OP.RAW_MSG) {
      const a = message(rec.op, r, st);
      st.last = a;
      out.push({ ...a, span });
    } else if (rec.op === OP.MUTATED) {
      const a = mutated(r, st);
      st.last = a;
      out.push({ ...a, span });
    } else if (rec.op === OP.DISCONNECT) {
      // optionally half a message first (a disconnect mid-message), possibly with fds
      const sel = r.u8();
      const abrupt = r.u8() % 2 === 0;
      let partial = new Uint8Array(0);
      let fds: FdSpec[] = [];
      if (sel !== 0 && st.last) {
        partial = st.last.bytes.slice(0, 1 + (r.u8() % Math.max(1, st.last.bytes.length - 1)));
        if (sel & 1) fds = st.last.fds.length ? st.last.fds : makeFds(r, 1);
      }
      out.push({ t: 'disconnect', abrupt: abrupt || partial.length > 0, partial, fds, span });
    } else if (rec.op === OP.PARTIAL) {
      // a lone header fragment, or a header announcing more than is sent
      const sel = r.u8() % 3;
      let bytes: Uint8Array;
      if (sel === 0) bytes = r.bytes(1 + (r.u8() % 15));
      else {
        const claimed = r.choose([64, P.MAX_MSG_SIZE, 17, 4096], () => r.u32() % (P.MAX_MSG_SIZE + 1));
        bytes = header(r.bytes(sel === 1 ? 0 : r.u8()), st.nextId++, r.choose([P.Cmd.REGION_WRITE, P.Cmd.DMA_MAP, P.Cmd.VERSION], () => r.u16()), 0);
        new DataView(bytes.buffer).setUint32(4, Math.max(claimed, bytes.length + 1), true);
      }
      out.push({ t: 'raw', bytes, fds: r.u8() & 1 ? makeFds(r, 1) : [], span });
    } else if (rec.op === OP.BURST) {
      // the previous message again, many times, in one write, with fresh ids
      const n = 2 + (r.u8() % 63);
      if (st.last && st.last.bytes.length <= 4096) {
        for (let i = 0; i < n; i++) {
          const bytes = st.last.bytes.slice();
          new DataView(bytes.buffer).setUint16(0, st.nextId++ & 0xffff, true);
          out.push({ t: 'send', bytes, fds: i === 0 ? st.last.fds : [], delivery: i === n - 1 ? 'whole' : 'glue', splits: [], pause: false, label: `BURST ${st.last.label}`, span });
        }
      }
    } else {
      out.push({ t: 'pause', turns: 1 + (r.u8() % 4), span });
    }
  }
  return out;
}

/** Op weights for generating fresh records (the sane, state-building kinds more often). */
const WEIGHTS: [number, number][] = [
  [OP.VERSION, 4], [OP.DMA_MAP, 8], [OP.DMA_UNMAP, 6], [OP.GET_INFO, 2], [OP.REGION_INFO, 2], [OP.IRQ_INFO, 2],
  [OP.SET_IRQS, 9], [OP.REGION_READ, 8], [OP.REGION_WRITE, 8], [OP.RESET, 2], [OP.UNKNOWN, 2], [OP.RAW_MSG, 3],
  [OP.MUTATED, 8], [OP.DISCONNECT, 3], [OP.PARTIAL, 2], [OP.BURST, 2], [OP.PAUSE, 2],
];
const WEIGHT_SUM = WEIGHTS.reduce((s, [, w]) => s + w, 0);

/** A fresh record: an op by weight and params that are mostly zero (sane) with some random bytes. */
export function randomRecord(rand: () => number, op?: number): Uint8Array {
  if (op === undefined) {
    let x = rand() * WEIGHT_SUM;
    op = WEIGHTS[WEIGHTS.length - 1]![0];
    for (const [o, w] of WEIGHTS) {
      if ((x -= w) < 0) {
        op = o;
        break;
      }
    }
  }
  const len = Math.floor(rand() * 24);
  const out = new Uint8Array(2 + len);
  out[0] = op;
  out[1] = len;
  const hostility = rand();
  for (let i = 0; i < len; i++) {
    if (rand() < hostility * 0.6) out[2 + i] = rand() < 0.5 ? Math.floor(rand() * 8) : Math.floor(rand() * 256);
  }
  return out;
}

/** A fresh input: usually a valid VERSION first, then a few dozen records. */
export function randomInput(rand: () => number): Uint8Array {
  const parts: Uint8Array[] = [];
  if (rand() < 0.85) parts.push(new Uint8Array([OP.VERSION, 0]));
  const n = 1 + Math.floor(rand() * 30);
  for (let i = 0; i < n; i++) parts.push(randomRecord(rand));
  return Buffer.concat(parts);
}
