// Device fuzz harness: runs one decoded input against a fresh E1000eDevice on the fuzz host and checks the oracles after every operation.

import { E1000eDevice } from '../../device/e1000e/device.js';
import {
  REG, CTRL_RST, CTRL_SLU, CTRL_VME, RCTL_EN, RCTL_BAM, RCTL_SECRC, RCTL_UPE, RCTL_MPE, RCTL_LPE, RCTL_VFE, RCTL_BSEX,
  RFCTL_EXTEN, RCTL_DTYP_PS, TCTL_EN, TCTL_PSP, TXD_CMD_EOP, TXD_CMD_IFCS, TXD_CMD_RS, TXD_CMD_DEXT, TXD_CMD_TSE, TXD_CMD_TCP,
  TXD_CMD_IP, TXD_CMD_VLE, TXD_CMD_IDE, TXD_CMD_IC, TXD_DTYP_D, TXD_DTYP_C, TXD_POPTS_IXSM, TXD_POPTS_TXSM,
  RXD_STAT_DD, RXD_STAT_EOP,
} from '../../device/e1000e/defs.js';
import { STAT_OFFSETS } from '../../device/e1000e/registers.js';
import { DEFAULT_TIMING, ZERO_TIMING, type TimingParams } from '../../device/sim/timing.js';
import type { ReplayResult } from '../finding.js';
import { FuzzHost, RAM_BASE, RAM_END, RAM_SIZE, ALIAS_BASE, ALIAS_END } from './host.js';
import { decode, WRITE_REGS, READ_REGS, type Op } from './ops.js';
import { buildFrame, DEV_MAC, PEER_MAC, BROADCAST, MULTICAST, type L3Kind } from './packets.js';

/** Timing models an input's profile byte selects (low two bits). */
export const PROFILES: readonly Partial<TimingParams>[] = [
  ZERO_TIMING,
  { ...DEFAULT_TIMING, autonegNs: 1_000_000 },
  DEFAULT_TIMING,
  { ...ZERO_TIMING, paceLink: true, interruptThrottling: true, interruptDelayTimers: true },
];

// Guest memory layout the sane set-up uses (all inside RAM).
const TX_RING = RAM_BASE + 0x1000;
const RX_RING = RAM_BASE + 0x3000;
const REC_TX_RING = RAM_BASE + 0x5000;
const REC_RX_RING = RAM_BASE + 0x6000;
const REC_TX_BUF = RAM_BASE + 0x8000;
const REC_RX_BUF = RAM_BASE + 0xa000;
const TX_BUF = RAM_BASE + 0x10000;
const TX_BUF_END = RAM_BASE + 0x80000;
const RX_BUF = RAM_BASE + 0x80000;
/** A hole in the guest address map: neither RAM nor the alias window. */
const HOLE = 0x30_0000;
/** PSRCTL values the set-up picks from: Linux's 128-byte header with one, two or three pages, and odder ones. */
const PS_LAYOUTS = [0x04040401, 0x00040401, 0x00000401, 0x04040402, 0x01010101, 0x00000001, 0x04000400, 0x0000047f];

const W = (off: number): number => off >>> 2;
/** Events that may fire at one instant of virtual time before the run counts as a livelock. */
const LIVELOCK_EVENTS = 20_000;
const COMMAND_INTX_DISABLE = 0x400;
const LO64 = [REG.GORCL, REG.GOTCL, REG.TORL, REG.TOTL].map(W);
const HI64 = new Set(LO64.map((w) => w + 1));
const STAT_WORDS = STAT_OFFSETS.map(W).filter((w) => !HI64.has(w));
const RUN_NS = [0, 1, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 600_000_000, -1, -2, 2_000_000_000];
const CFG_SIZES = [4, 2, 1, 3, 8, 0, 4, 2];
const BAR_SIZES = [4, 4, 4, 1, 2, 8, 3, 0];
const BARS = [0, 1, 2, 3, 0, 3, 5, -1];

/** Limits and test hooks for one execution. */
export interface HarnessOptions {
  /** Nested alias-DMA accesses the host tolerates before the `reentrancy` oracle fires (default 4). */
  reentrancyBound?: number;
  /** Events one step may fire before the `hang` oracle fires (default 1,000,000: a 256 KiB TSO packet with MSS 1 legitimately needs ~500,000). */
  maxEventsPerOp?: number;
  /** Events one input may fire in all (default 2,000,000). */
  maxEventsPerInput?: number;
  /** Oracles not to report (known, already reported issues), so a run can look past them. */
  skipOracles?: readonly string[];
  /** Run the reset-recovery check at the end (default true). */
  recovery?: boolean;
  /** Test-only: runs after each operation, before the oracles, with the live device and host. */
  testHook?: (dev: E1000eDevice, host: FuzzHost, opIndex: number) => void;
}

/** What one execution did and found. */
export interface ExecResult extends ReplayResult {
  ops: number;
  events: number;
  /** Index of the operation after which an oracle failed (ops.length for the recovery check), or -1. */
  failedAt: number;
  host: FuzzHost;
}

interface Failure {
  oracle: string;
  message: string;
}

class Harness {
  readonly host: FuzzHost;
  readonly dev: E1000eDevice;
  fail: Failure | null = null;
  events = 0;
  private readonly maxPerOp: number;
  private readonly maxPerInput: number;
  private readWords = new Set<number>();
  private writtenWords = new Set<number>();
  private resetSeen = false;
  private stats: Float64Array;
  private lastTdh = 0;
  private lastRdh = 0;
  private txCursor = TX_BUF;
  private readonly skip: ReadonlySet<string>;

  constructor(profile: number, o: HarnessOptions) {
    this.skip = new Set(o.skipOracles ?? []);
    this.maxPerOp = o.maxEventsPerOp ?? 1_000_000;
    this.maxPerInput = o.maxEventsPerInput ?? 2_000_000;
    this.host = new FuzzHost({ reentrancyBound: o.reentrancyBound ?? 4 });
    this.dev = E1000eDevice.create(this.host, { mac: DEV_MAC, name: 'fuzz', timing: PROFILES[profile & 3]! });
    this.host.dev = this.dev;
    // Watch register traffic (from the fuzzer and from alias DMA alike) so the oracles know
    // which clear-on-read counters were read and which ring registers software moved.
    const dev = this.dev;
    const read = dev.mmioRead.bind(dev);
    const write = dev.mmioWrite.bind(dev);
    dev.mmioRead = (off: number): number => {
      this.readWords.add(W(off));
      return read(off);
    };
    dev.mmioWrite = (off: number, v: number): void => {
      this.writtenWords.add(W(off));
      if (off === REG.CTRL && v & CTRL_RST) this.resetSeen = true;
      write(off, v);
    };
    this.stats = new Float64Array(STAT_WORDS.length);
    this.snapshot();
  }

  private get m(): Uint32Array {
    return this.dev.mac;
  }

  failWith(oracle: string, message: string): void {
    if (!this.fail && !this.skip.has(oracle)) this.fail = { oracle, message };
  }

  private statValue(w: number): number {
    const m = this.m;
    return LO64.includes(w) ? m[w]! + m[w + 1]! * 0x1_0000_0000 : m[w]!;
  }

  private snapshot(): void {
    for (let i = 0; i < STAT_WORDS.length; i++) this.stats[i] = this.statValue(STAT_WORDS[i]!);
    this.lastTdh = this.m[W(REG.TDH0)]!;
    this.lastRdh = this.m[W(REG.RDH0)]!;
    this.readWords.clear();
    this.writtenWords.clear();
    this.resetSeen = false;
  }

  /** The oracles that hold after every operation. */
  check(what: string): void {
    if (this.fail) return;
    const h = this.host;
    const m = this.m;
    for (const v of h.violations) this.failWith(v.oracle, `${v.message} (in ${what})`);
    h.violations.length = 0;
    if (this.fail) return;
    const icr = m[W(REG.ICR)]!;
    if ((icr >>> 31 === 1) !== ((icr & 0x7fffffff) !== 0)) {
      this.failWith('icr-asserted', `ICR=0x${icr.toString(16)} after ${what}: bit 31 must be set exactly when another cause is`);
    }
    for (const [name, hw, lw, last] of [
      ['TDH', W(REG.TDH0), W(REG.TDLEN0), this.lastTdh],
      ['RDH', W(REG.RDH0), W(REG.RDLEN0), this.lastRdh],
    ] as const) {
      const n = (m[lw]! & 0xfff80) / 16;
      const head = m[hw]!;
      if (n > 0 && head !== last && head >= n && !this.resetSeen && !this.writtenWords.has(hw) && !this.writtenWords.has(lw)) {
        this.failWith('ring-head', `device moved ${name} to ${head} outside its ring of ${n} descriptors (in ${what})`);
      }
    }
    for (let i = 0; i < STAT_WORDS.length; i++) {
      const w = STAT_WORDS[i]!;
      const now = this.statValue(w);
      if (now < this.stats[i]! && !this.resetSeen && !this.readWords.has(w) && !(LO64.includes(w) && this.readWords.has(w + 1))) {
        this.failWith('stats-monotonic', `counter at 0x${(w * 4).toString(16)} went from ${this.stats[i]} to ${now} without a read or reset (in ${what})`);
      }
    }
    if (this.dev.diag.dmaFaults !== h.dmaRefused) {
      this.failWith('dma-fault-accounting', `host refused ${h.dmaRefused} DMA requests but the device counted ${this.dev.diag.dmaFaults} faults (in ${what})`);
    }
    const pci = this.dev.pci;
    if (pci.interruptMode() === 'intx') {
      const cmd = this.dev.configRead(0x04, 2);
      const want = (m[W(REG.ICR)]! & m[W(REG.IMS)]!) !== 0 && !(cmd & COMMAND_INTX_DISABLE);
      if (h.intx !== want) {
        this.failWith('intx-level', `INTx line ${h.intx ? 'asserted' : 'deasserted'} with ICR=0x${m[W(REG.ICR)]!.toString(16)} IMS=0x${m[W(REG.IMS)]!.toString(16)} COMMAND=0x${cmd.toString(16)} (in ${what})`);
      }
    }
    this.snapshot();
  }

  /**
   * Runs virtual time forward by ns, bounded in events (the hang oracle): a step may fire at most
   * maxEventsPerOp events, an input maxEventsPerInput, and no more than LIVELOCK_EVENTS may fire
   * without virtual time moving on.
   */
  runFor(ns: number): void {
    const q = this.host.queue;
    const until = q.now() + ns;
    let budget = Math.max(0, Math.min(this.maxPerOp, this.maxPerInput - this.events));
    for (;;) {
      const chunk = Math.min(budget, LIVELOCK_EVENTS);
      const t0 = q.now();
      const fired = q.run(until, chunk);
      this.events += fired;
      budget -= fired;
      if (fired < chunk) return;
      const next = q.peekTime();
      if (next === undefined || next > until) return;
      if (q.now() === t0 && next === t0) {
        return this.failWith('hang', `livelock: ${fired} events fired at ${t0} ns without virtual time advancing, and more are due`);
      }
      if (budget <= 0) {
        return this.failWith('hang', `${this.events} events fired (at most ${this.maxPerOp} per step, ${this.maxPerInput} per input) and more are due at ${next} ns`);
      }
    }
  }

  wr(off: number, v: number): void {
    this.dev.barWrite(0, off, 4, v >>> 0);
  }

  rd(off: number): number {
    return this.dev.barRead(0, off, 4);
  }

  private ringCount(tx: boolean): number {
    return (this.m[W(tx ? REG.TDLEN0 : REG.RDLEN0)]! & 0xfff80) / 16;
  }

  /** Where the fuzzer writes descriptors: the programmed ring when it lies in RAM, else the default one. */
  private ringBase(tx: boolean): number {
    const lo = this.m[W(tx ? REG.TDBAL0 : REG.RDBAL0)]! & ~0xf;
    const hi = this.m[W(tx ? REG.TDBAH0 : REG.RDBAH0)]!;
    const a = (lo >>> 0) + hi * 0x1_0000_0000;
    return a >= RAM_BASE && a + 16 <= RAM_END ? a : tx ? TX_RING : RX_RING;
  }

  /** A buffer address of the kind `sel` names: normal RAM, the alias window, a hole, straddling RAM's end... */
  private addr(sel: number, off: number, normal: number): [number, number] {
    switch (sel & 7) {
      case 0:
        return [normal, 0];
      case 1:
        return [RAM_BASE + ((off * 16) % RAM_SIZE), 0];
      case 2:
        return [ALIAS_BASE + WRITE_REGS[off % WRITE_REGS.length]!, 0];
      case 3:
        return [HOLE + off, 0];
      case 4:
        return [RAM_END - (off % 64) - 1, 0];
      case 5:
        return [off << 4, (off | 1) >>> 0];
      case 6:
        return [0, 0];
      default:
        return [ALIAS_END - (off % 8), 0];
    }
  }

  private putDesc(addr: number, lo0: number, lo1: number, lo2: number, lo3: number): void {
    const h = this.host;
    h.w32(addr, lo0);
    h.w32(addr + 4, lo1);
    h.w32(addr + 8, lo2);
    h.w32(addr + 12, lo3);
  }

  /** Programs the device the way a well-behaved driver would. */
  setup(ringSel: number, irqSel: number, flags: number, rings: { tx: number; rx: number } = { tx: TX_RING, rx: RX_RING }): void {
    const d = this.dev;
    d.configWrite(0x04, 2, 0x0007);
    const mode = irqSel % 3;
    if (mode === 0) {
      for (let v = 0; v < 5; v++) {
        d.barWrite(3, v * 16, 4, 0xfee00000);
        d.barWrite(3, v * 16 + 4, 4, 0);
        d.barWrite(3, v * 16 + 8, 4, 0x40 + v);
        d.barWrite(3, v * 16 + 12, 4, 0);
      }
      d.configWrite(0xa2, 2, 0x8000);
      this.wr(REG.IVAR, 0x000a9988 | (irqSel & 8 ? 0x80000000 : 0));
      if (irqSel & 16) this.wr(REG.EIAC, 0x01f00000);
    } else if (mode === 1) {
      d.configWrite(0xa2, 2, 0);
      d.configWrite(0xd4, 4, 0xfee00000);
      d.configWrite(0xd8, 4, 0);
      d.configWrite(0xdc, 2, 0x41);
      d.configWrite(0xd2, 2, 0x0001);
    } else {
      d.configWrite(0xa2, 2, 0);
      d.configWrite(0xd2, 2, 0);
    }
    d.setCarrier(true);
    this.wr(REG.CTRL, (this.rd(REG.CTRL) & ~CTRL_RST) | CTRL_SLU | (flags & 1 ? CTRL_VME : 0));
    this.runFor(this.dev.timing.autonegNs + 1000);
    const n = [8, 16, 32, 64, 256, 8][ringSel % 6]!;
    this.wr(REG.TDBAL0, rings.tx);
    this.wr(REG.TDBAH0, 0);
    this.wr(REG.TDLEN0, n * 16);
    this.wr(REG.TDH0, 0);
    this.wr(REG.TDT0, 0);
    this.wr(REG.TCTL, TCTL_EN | TCTL_PSP);
    this.wr(REG.RFCTL, flags & 2 ? 0 : RFCTL_EXTEN);
    this.wr(REG.RXCSUM, 0x300 | (flags & 4 ? 0x2000 : 0) | (flags & 8 ? 14 : 0));
    this.wr(REG.RDBAL0, rings.rx);
    this.wr(REG.RDBAH0, 0);
    // ringSel bit 6: packet split as Linux sets it up for jumbo frames (32-byte descriptors, a
    // header buffer and up to three pages; PSRCTL from irqSel's top bits), with LPE.
    const split = (ringSel & 64) !== 0 && rings.rx === RX_RING;
    if (split) {
      const psrctl = PS_LAYOUTS[(irqSel >>> 5) & 7]!;
      this.wr(REG.PSRCTL, psrctl);
      this.wr(REG.RDLEN0, n * 32);
      this.wr(REG.RDH0, 0);
      for (let i = 0; i < n; i++) {
        // Buffers of 4 KB slots in the RX area (shared between descriptors when the ring is long).
        const slot = (k: number) => RX_BUF + (((i * 4 + k) * 0x1000) % 0x70000);
        this.putDesc(rings.rx + i * 32, slot(0), 0, slot(1), 0);
        this.putDesc(rings.rx + i * 32 + 16, slot(2), 0, slot(3), 0);
      }
      this.wr(REG.RDT0, (n - 1) * 2);
    } else {
      this.wr(REG.RDLEN0, n * 16);
      this.wr(REG.RDH0, 0);
      for (let i = 0; i < n; i++) this.putDesc(rings.rx + i * 16, RX_BUF + i * 2048, 0, 0, 0);
      this.wr(REG.RDT0, n - 1);
    }
    const bsize = (ringSel >>> 3) & 3;
    const rctl = RCTL_EN | RCTL_BAM | (flags & 16 ? 0 : RCTL_SECRC) | (flags & 32 ? RCTL_UPE | RCTL_MPE : 0)
      | (flags & 64 || split ? RCTL_LPE : 0) | (bsize << 16) | (ringSel & 32 && bsize ? RCTL_BSEX : 0) | (flags & 128 ? RCTL_VFE : 0)
      | (split ? RCTL_DTYP_PS : 0);
    this.wr(REG.RCTL, rctl);
    this.wr(REG.IMS, irqSel & 4 ? 0 : 0x01f000d7);
  }

  exec(op: Op): void {
    const a = op.args;
    const d = this.dev;
    const m = this.m;
    switch (op.name) {
      case 'cfgRead':
        d.configRead(a[0]!, CFG_SIZES[a[1]! & 7] as 1 | 2 | 4);
        break;
      case 'cfgWrite':
        d.configWrite(a[0]!, CFG_SIZES[a[1]! & 7] as 1 | 2 | 4, a[2]!);
        break;
      case 'barRead':
      case 'barWrite': {
        const sel = a[0]!;
        const bar = BARS[sel & 7]!;
        const mode = (sel >>> 3) & 3;
        const raw = a[1]!;
        const off = mode === 0 ? raw & 0x1ffff
          : mode === 1 ? READ_REGS.concat(WRITE_REGS)[raw % (READ_REGS.length + WRITE_REGS.length)]! + ((raw >>> 20) & 1 ? (raw >>> 16) & 3 : 0)
            : mode === 2 ? raw : 0x20000 - (raw % 8);
        const size = BAR_SIZES[a[2]! & 7]!;
        if (op.name === 'barRead') d.barRead(bar, off, size);
        else d.barWrite(bar, off, size, size === 8 ? a[3]! + (a[4]! & 0xff) * 0x1_0000_0000 : a[3]!);
        break;
      }
      case 'regWrite': {
        const off = WRITE_REGS[a[0]! % WRITE_REGS.length]!;
        this.wr(off, a[1]!);
        if (off === REG.IMC) {
          const ims = this.rd(REG.IMS);
          if ((ims & a[1]!) !== 0) this.failWith('imc', `IMS reads 0x${ims.toString(16)} right after an IMC write of 0x${(a[1]! >>> 0).toString(16)}`);
        }
        break;
      }
      case 'regRead': {
        const off = READ_REGS[a[0]! % READ_REGS.length]!;
        this.rd(off);
        if (off === REG.ICR && d.pci.interruptMode() !== 'msix' && m[W(REG.ICR)] !== 0) {
          this.failWith('icr-read-clear', `ICR=0x${m[W(REG.ICR)]!.toString(16)} after an ICR read outside MSI-X mode (must clear)`);
        }
        break;
      }
      case 'ramWrite':
        this.host.put(RAM_BASE + (a[0]! % RAM_SIZE), op.data ?? new Uint8Array(0));
        break;
      case 'txDesc':
        this.txDesc(a);
        break;
      case 'rxDesc': {
        const n = Math.max(1, this.ringCount(false));
        const idx = a[0]! % n;
        const [lo, hi] = this.addr(a[1]!, a[2]!, RX_BUF + (idx % 256) * 2048);
        this.putDesc(this.ringBase(false) + idx * 16, lo, hi, 0, 0);
        break;
      }
      case 'setup':
        this.setup(a[0]!, a[1]!, a[2]!);
        break;
      case 'ring':
        this.ring(a);
        break;
      case 'tail': {
        const tx = (a[0]! & 1) === 0;
        const n = this.ringCount(tx);
        const head = m[W(tx ? REG.TDH0 : REG.RDH0)]! & 0xffff;
        const mode = a[1]! & 3;
        const v = a[2]!;
        const t = mode === 0 ? (n ? (head + 1 + (v % n)) % n : v)
          : mode === 1 ? n + v
            : mode === 2 ? v
              : tx ? head : n ? (head + n - 1) % n : 0;
        this.wr(tx ? REG.TDT0 : REG.RDT0, t);
        break;
      }
      case 'frame':
        this.frame(a, op.data ?? new Uint8Array(0));
        break;
      case 'carrier':
        d.setCarrier((a[0]! & 1) === 1);
        break;
      case 'ctrlRst':
        this.wr(REG.CTRL, this.rd(REG.CTRL) | CTRL_RST);
        break;
      case 'devReset':
        d.reset();
        this.resetSeen = true;
        break;
      case 'run': {
        const sel = RUN_NS[a[0]! % RUN_NS.length]!;
        const ns = sel === -1 ? a[1]! * 256 : sel === -2 ? a[1]! * 65536 : sel;
        this.runFor(ns);
        return;
      }
      case 'sendPkt':
        this.sendPkt(a, op.data ?? new Uint8Array(0));
        break;
      case 'ioBar': {
        const reg = (a[0]! & 0x80 ? READ_REGS : WRITE_REGS)[a[0]! % (a[0]! & 0x80 ? READ_REGS.length : WRITE_REGS.length)]!;
        const rw = a[2]!;
        d.barWrite(2, 0, 4, rw & 4 ? a[1]! : reg);
        if (rw & 2) {
          if (rw & 1) d.barWrite(2, 4 + (rw & 8 ? 1 : 0), rw & 16 ? 2 : 4, a[1]!);
          else d.barRead(2, 8, 4);
        } else if (rw & 1) d.barWrite(2, 4, 4, a[1]!);
        else d.barRead(2, 4, 4);
        break;
      }
      case 'irqCfg':
        this.irqCfg(a[0]!, a[1]!);
        break;
    }
    // Zero-delay work (doorbells with zero latency) happens before the next driver step.
    this.runFor(0);
  }

  private irqCfg(sel: number, v: number): void {
    const d = this.dev;
    const cmd = d.configRead(0x04, 2);
    switch (sel % 12) {
      case 0:
        for (let i = 0; i < 5; i++) {
          d.barWrite(3, i * 16, 4, 0xfee00000);
          d.barWrite(3, i * 16 + 8, 4, 0x40 + i);
          d.barWrite(3, i * 16 + 12, 4, 0);
        }
        d.configWrite(0xa2, 2, 0x8000);
        break;
      case 1:
        d.configWrite(0xa2, 2, 0);
        break;
      case 2:
        d.configWrite(0xa2, 2, v & 1 ? 0xc000 : 0x8000);
        break;
      case 3:
        d.barWrite(3, (v % 5) * 16 + 12, 4, 0);
        break;
      case 4:
        d.barWrite(3, (v % 5) * 16 + 12, 4, 1);
        break;
      case 5:
        d.configWrite(0xd4, 4, 0xfee00000);
        d.configWrite(0xdc, 2, 0x41);
        d.configWrite(0xd2, 2, 0x0001 | (v & 0x70));
        break;
      case 6:
        d.configWrite(0xd2, 2, 0);
        break;
      case 7:
        d.configWrite(0x04, 2, cmd ^ COMMAND_INTX_DISABLE);
        break;
      case 8:
        d.configWrite(0x04, 2, cmd & ~4);
        break;
      case 9:
        d.configWrite(0x04, 2, cmd | 6);
        break;
      case 10:
        d.configWrite(0x04, 2, cmd ^ 2);
        break;
      default:
        d.configWrite(0xcc, 2, v & 3);
    }
  }

  private ring(a: number[]): void {
    const tx = (a[0]! & 1) === 0;
    const raw = a[2]!;
    let lo: number;
    let hi = 0;
    switch (a[1]! & 7) {
      case 0:
        lo = tx ? TX_RING : RX_RING;
        break;
      case 1:
        lo = RAM_BASE + (raw % RAM_SIZE);
        break;
      case 2:
        lo = RAM_END - 16 * (1 + (raw % 8));
        break;
      case 3:
        lo = HOLE + (raw % 0x10000);
        break;
      case 4:
        lo = ALIAS_BASE + (WRITE_REGS[raw % WRITE_REGS.length]! & ~0xf);
        break;
      case 5:
        lo = 0;
        hi = raw | 1;
        break;
      case 6:
        lo = 0;
        break;
      default:
        lo = raw;
    }
    this.wr(tx ? REG.TDBAL0 : REG.RDBAL0, lo);
    this.wr(tx ? REG.TDBAH0 : REG.RDBAH0, hi);
    this.wr(tx ? REG.TDLEN0 : REG.RDLEN0, a[3]! * 16);
    if (a[0]! & 2) this.wr(tx ? REG.TDH0 : REG.RDH0, 0);
  }

  private txDesc(a: number[]): void {
    const [idxRaw, kindRaw, bufSel, bufOff, len, cmd, extra, special] = a as [number, number, number, number, number, number, number, number];
    const n = Math.max(1, this.ringCount(true));
    const idx = idxRaw % n;
    const slot = this.ringBase(true) + idx * 16;
    const [lo, hi] = this.addr(bufSel, bufOff, TX_BUF + (idx % 64) * 0x1000);
    const flags = (cmd << 24) >>> 0;
    switch (kindRaw & 3) {
      case 0: // legacy
        this.putDesc(slot, lo, hi, (len | ((flags & ~TXD_CMD_DEXT) >>> 0) | ((special & 0xff) << 16)) >>> 0, ((extra << 8) | (special << 16)) >>> 0);
        break;
      case 1: // context
        this.putDesc(slot, (14 | (24 << 8) | (33 << 16)) >>> 0, (34 | ((34 + (cmd & 1 ? 16 : 6)) << 8)) >>> 0,
          ((len | (extra << 16)) & 0xfffff | TXD_DTYP_C | TXD_CMD_DEXT | (flags & (TXD_CMD_TCP | TXD_CMD_IP | TXD_CMD_TSE | TXD_CMD_RS))) >>> 0,
          ((extra << 8) | (special << 16)) >>> 0);
        break;
      case 2: // data
        this.putDesc(slot, lo, hi, ((len | ((extra & 0xf) << 16)) | TXD_DTYP_D | flags | TXD_CMD_DEXT) >>> 0, (((extra >>> 4) << 8) | (special << 16)) >>> 0);
        break;
      default: // anything with DEXT: reserved descriptor types too
        this.putDesc(slot, lo, hi, (len | ((special & 0xf) << 20) | flags | TXD_CMD_DEXT) >>> 0, (extra * 0x01010101) >>> 0);
    }
  }

  private frame(a: number[], payload: Uint8Array): void {
    const [kindRaw, lenRaw, flags] = a as [number, number, number];
    const cls = (flags >>> 3) & 3;
    // Length classes: runts, ordinary, the 1514/1518 edge, and (class 3) jumbo sizes up to and
    // past the 82574's 9234-byte limit when the top bit is set, else anything up to 64 KiB.
    const len = cls === 0 ? lenRaw % 64 : cls === 1 ? 60 + (lenRaw % 1455) : cls === 2 ? 1510 + (lenRaw % 16)
      : lenRaw & 0x8000 ? 1515 + ((lenRaw & 0x7fff) % 7740) : lenRaw;
    const kind = kindRaw & 7;
    let f: Uint8Array;
    if (kind === 0 || kind === 5) {
      if (flags & 0x80) f = payload.slice();
      else {
        f = new Uint8Array(len);
        for (let i = 0; i < len; i++) f[i] = payload.length ? payload[i % payload.length]! : i & 0xff;
        if (kind === 5 && len >= 6) f.set(BROADCAST, 0);
        else if (len >= 6 && !(flags & 4)) f.set(DEV_MAC, 0);
      }
    } else {
      const l3: L3Kind = (['ipv4-tcp', 'ipv4-udp', 'ipv6-tcp', 'ipv6-udp', 'raw', 'ipv4-udp', 'ipv4-bad'] as const)[kind - 1]!;
      const dst = flags & 4 ? PEER_MAC : kind === 6 ? MULTICAST : DEV_MAC;
      const b = buildFrame({ dst, kind: l3, len, fill: payload, csum: flags & 2 ? 'bad' : 'good', ...(flags & 1 ? { vlan: lenRaw & 0xefff } : {}) });
      f = b.frame;
      // Frames may be cut short of their headers' claims: the checksum paths must bound their reads.
      if (flags & 0x40 && f.length > 20) f = f.slice(0, 14 + (lenRaw % (f.length - 14)));
    }
    this.dev.receiveFrame(f);
  }

  private txData(b: Uint8Array): number {
    if (this.txCursor + b.length > TX_BUF_END) this.txCursor = TX_BUF;
    const at = this.txCursor;
    this.host.put(at, b);
    this.txCursor = (at + b.length + 63) & ~63;
    return at;
  }

  /** A driver's transmit: frame data in RAM, descriptors (legacy, checksum context or TSO) at TDT, then the doorbell. */
  private sendPkt(a: number[], payload: Uint8Array): void {
    const [kindRaw, lenRaw, flags, mssRaw] = a as [number, number, number, number];
    const kind = kindRaw % 6;
    const m = this.m;
    const n = this.ringCount(true);
    const nn = n || 8;
    let t = m[W(REG.TDT0)]! & 0xffff;
    if (t >= nn) t = 0;
    const base = this.ringBase(true);
    const descs: [number, number, number, number][] = [];
    const rs = flags & 2 ? TXD_CMD_RS : 0;
    const ide = flags & 4 ? TXD_CMD_IDE : 0;
    const vle = flags & 1 ? TXD_CMD_VLE : 0;
    const eop = flags & 32 ? 0 : TXD_CMD_EOP;
    const vlanHi = (lenRaw & 0xfff) << 16;
    const tso = kind >= 3;
    const l3: L3Kind = kind === 4 ? 'ipv6-tcp' : kind === 5 ? 'ipv4-udp' : kind === 0 && flags & 64 ? 'raw' : 'ipv4-tcp';
    const len = tso ? lenRaw : 14 + (lenRaw % 1600);
    const b = buildFrame({ dst: flags & 8 ? BROADCAST : PEER_MAC, src: DEV_MAC, kind: l3, len, fill: payload, csum: kind >= 2 ? 'pseudo' : 'good' });
    const f = b.frame;
    const parts = flags & 8 ? 3 : kind === 1 ? 2 : 1;
    const chunks: [number, number][] = [];
    const at = this.txData(f);
    const step = Math.ceil(f.length / parts);
    for (let off = 0; off < f.length; off += step) chunks.push([at + off, Math.min(step, f.length - off)]);
    if (kind <= 1) {
      for (let i = 0; i < chunks.length; i++) {
        const [ad, l] = chunks[i]!;
        const last = i === chunks.length - 1;
        const ic = flags & 64 && b.tucso ? TXD_CMD_IC | (b.tucso << 16) : 0;
        descs.push([ad, 0, (l | TXD_CMD_IFCS | (last ? eop | rs | ide | vle : 0) | (i === 0 ? ic : 0)) >>> 0, ((b.tucss << 8) | vlanHi) >>> 0]);
      }
    } else {
      const hdrlen = flags & 16 ? (mssRaw >>> 8) & 0xff : b.hdrlen;
      // Bit 7 takes the MSS as given (0, 1, 65535...); otherwise it is one a driver would use.
      const mss = flags & 128 ? mssRaw : 536 + (mssRaw % 8500);
      const paylen = tso ? f.length - hdrlen : f.length;
      descs.push([
        (b.ipcss | (b.ipcso << 8) | (b.ipcse << 16)) >>> 0,
        (b.tucss | (b.tucso << 8)) >>> 0,
        ((paylen & 0xfffff) | TXD_DTYP_C | TXD_CMD_DEXT | (b.tcp ? TXD_CMD_TCP : 0) | (b.ipv4 ? TXD_CMD_IP : 0) | (tso ? TXD_CMD_TSE : 0)) >>> 0,
        ((hdrlen << 8) | ((mss & 0xffff) << 16)) >>> 0,
      ]);
      const popts = (b.ipv4 ? TXD_POPTS_IXSM : 0) | TXD_POPTS_TXSM;
      for (let i = 0; i < chunks.length; i++) {
        const [ad, l] = chunks[i]!;
        const last = i === chunks.length - 1;
        descs.push([ad, 0, (l | TXD_DTYP_D | TXD_CMD_DEXT | TXD_CMD_IFCS | (tso ? TXD_CMD_TSE : 0) | (last ? eop | rs | ide | vle : 0)) >>> 0, ((popts << 8) | vlanHi) >>> 0]);
      }
    }
    for (const dsc of descs) {
      this.putDesc(base + t * 16, dsc[0], dsc[1], dsc[2], dsc[3]);
      t = (t + 1) % nn;
    }
    this.wr(REG.TDT0, t);
  }

  /** After reset and a sane set-up, one frame goes out and one comes in, byte for byte. */
  recover(): void {
    const h = this.host;
    const d = this.dev;
    d.reset();
    this.resetSeen = true;
    const pending = h.queue.pending;
    if (pending > 1) return this.failWith('reset-leak', `${pending} events still scheduled right after device.reset() (at most the autonegotiation timer may be)`);
    this.setup(0, 2, 0, { tx: REC_TX_RING, rx: REC_RX_RING });
    for (let i = 0; i < 8; i++) this.putDesc(REC_RX_RING + i * 16, REC_RX_BUF + i * 2048, 0, 0, 0);
    this.wr(REG.RDH0, 0);
    this.wr(REG.RDT0, 7);
    this.check('recovery set-up');
    if (this.fail) return;
    const out = buildFrame({ dst: PEER_MAC, src: DEV_MAC, kind: 'ipv4-udp', len: 100 }).frame;
    h.put(REC_TX_BUF, out);
    this.putDesc(REC_TX_RING, REC_TX_BUF, 0, (out.length | TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS) >>> 0, 0);
    const before = h.sentCount;
    this.wr(REG.TDT0, 1);
    this.runFor(5_000_000);
    if (this.fail) return;
    const got = h.sent[h.sent.length - 1];
    if (h.sentCount !== before + 1 || !got || !equal(got, out)) {
      return this.failWith('reset-recovery', `after reset and set-up, ${h.sentCount - before} frames went out (want 1, ${out.length} bytes${got ? `, last ${got.length} bytes` : ''})`);
    }
    const inb = buildFrame({ dst: DEV_MAC, kind: 'ipv4-tcp', len: 128 }).frame;
    d.receiveFrame(inb);
    this.runFor(5_000_000);
    if (this.fail) return;
    const st = h.r32(REC_RX_RING + 8);
    const len = h.r32(REC_RX_RING + 12) & 0xffff;
    if ((st & (RXD_STAT_DD | RXD_STAT_EOP)) !== (RXD_STAT_DD | RXD_STAT_EOP) || len !== inb.length || !equal(h.get(REC_RX_BUF, inb.length), inb)) {
      return this.failWith('reset-recovery', `after reset and set-up, a received ${inb.length}-byte frame was not stored (status 0x${st.toString(16)}, length ${len})`);
    }
    this.check('recovery traffic');
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const frame = (e.stack ?? '').split('\n').find((l) => /device\//.test(l))?.trim() ?? '';
    return `${e.name}: ${e.message}${frame ? ` ${frame.replace(/\(.*\/(device\/[^)]*)\)/, '($1)')}` : ''}`;
  }
  return String(e);
}

/** Runs one input. Deterministic: the same bytes and options give the same result. */
export function execute(bytes: Uint8Array, o: HarnessOptions = {}): ExecResult {
  const prog = decode(bytes);
  const hz = new Harness(prog.profile, o);
  let failedAt = -1;
  for (let i = 0; i < prog.ops.length; i++) {
    const op = prog.ops[i]!;
    try {
      hz.exec(op);
      o.testHook?.(hz.dev, hz.host, i);
      hz.check(`op ${i} ${op.name}`);
    } catch (e) {
      hz.failWith('exception', `${op.name}: ${describe(e)}`);
    }
    if (hz.fail) {
      failedAt = i;
      break;
    }
  }
  if (!hz.fail && o.recovery !== false) {
    try {
      hz.recover();
    } catch (e) {
      hz.failWith('exception', `recovery: ${describe(e)}`);
    }
    if (hz.fail) failedAt = prog.ops.length;
  }
  const f = hz.fail as Failure | null;
  return {
    ok: f === null,
    ...(f ? { oracle: f.oracle, message: f.message } : {}),
    ops: prog.ops.length,
    events: hz.events,
    failedAt,
    host: hz.host,
  };
}
