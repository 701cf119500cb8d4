// Driver fuzzing inputs: a fault schedule for a hostile 82574L, encoded as bytes (decoding never fails).

import { mulberry32 } from '../../device/sim/rng.js';

/** What a faulty or malicious device does. Numbers are part of the saved input format: append only. */
export const enum FaultKind {
  /** BAR 0 reads return random values (param & 3 picks the registers: 0 any, 1 ICR, 2 STATUS, 3 MDIC/EERD/EXTCNF_CTRL). */
  RegGarbage = 0,
  /** Surprise removal: BAR reads return all-ones, writes are lost. */
  SurpriseRemoval = 1,
  /** STATUS reads with a random LU bit and speed/duplex bits. */
  StatusFlap = 2,
  /** ICR reads with random extra causes. */
  IcrRandom = 3,
  /** BAR 0 writes lost (param & 3: 0 or 3 any register, 1 tail registers, 2 IMS/IMC/ICS). */
  WriteDrop = 4,
  /** DD (and EOP) written into RX descriptors the device never processed: runs of 1 + (param >> 8) from the head. */
  RxFakeDd = 5,
  /** RX write-backs with a length beyond the buffer, zero, or a runt. */
  RxBadLength = 6,
  /** RX write-backs with EOP cleared (or a lone EOP). */
  RxBadEop = 7,
  /** RX write-backs with random error bits. */
  RxErrorBits = 8,
  /** RX write-backs with random VLAN (VP + tag) and checksum status/error bits. */
  RxRandomStatus = 9,
  /** DD written into TX descriptors the device has not sent (runs of 1 + (param >> 8) from the head). */
  TxFakeDd = 10,
  /** TX write-backs lost (DD never set). */
  TxWritebackDrop = 11,
  /** RX write-backs lost (the frame is in the buffer, the descriptor never says so). */
  RxWritebackDrop = 12,
  /** Extra interrupt messages (every MSI-X vector, MSI, INTx pulses). */
  IrqStorm = 13,
  /** Interrupt messages lost. */
  IrqDrop = 14,
  /** Interrupt messages delayed by up to 100 us * (1 + param low byte). */
  IrqDelay = 15,
  /** Carrier (cable) flapping. */
  CarrierFlap = 16,
  /** Frames of random content and size arriving from the wire. */
  RandomFrames = 17,
}

export const FAULT_KINDS = 18;

export const FAULT_NAMES: readonly string[] = [
  'regGarbage', 'surpriseRemoval', 'statusFlap', 'icrRandom', 'writeDrop', 'rxFakeDd', 'rxBadLength', 'rxBadEop',
  'rxErrorBits', 'rxRandomStatus', 'txFakeDd', 'txWritebackDrop', 'rxWritebackDrop', 'irqStorm', 'irqDrop', 'irqDelay',
  'carrierFlap', 'randomFrames',
];

/** One fault: active from `startMs` for `durMs` of the fault phase. */
export interface FaultSpec {
  kind: FaultKind;
  startMs: number;
  durMs: number;
  /** 0..255: probability (rate + 1) / 256 per opportunity. */
  rate: number;
  /** 0..65535: kind-specific (periods, run lengths, register subsets). */
  param: number;
}

/** A decoded driver-fuzzing input. */
export interface Scenario {
  /** e1000e.IntMode: 0 INTx, 1 MSI, 2 MSI-X. */
  intMode: 0 | 1 | 2;
  /** Which NIC of the pair is hostile (0 = A, 1 = B). */
  faultySide: 0 | 1;
  /** Length of the fault phase in ms (virtual in-process, wall under QEMU). */
  phaseMs: number;
  /** Frames each way per ms of traffic. */
  trafficPerMs: number;
  /**
   * No back-pressure: traffic is queued even when the qdisc holds 512 frames (by default the
   * sender waits, as a socket with a full send buffer would).
   */
  flood: boolean;
  /** Faults from power-on: the phase starts before insmod, so probe and open meet them too. */
  early: boolean;
  faults: FaultSpec[];
}

const MAGIC = 0xd1;
const HEADER = 4;
const FAULT_BYTES = 8;
export const MAX_FAULTS = 16;

/** Decodes any bytes into a valid scenario (mutated and truncated inputs stay meaningful). */
export function decodeScenario(b: Uint8Array): Scenario {
  const flags = b[1] ?? 2;
  const im = flags & 3;
  const phaseMs = 100 * Math.max(1, Math.min(50, b[2] ?? 10));
  const s: Scenario = {
    intMode: (im === 3 ? 2 : im) as 0 | 1 | 2,
    faultySide: ((flags >> 2) & 1) as 0 | 1,
    phaseMs,
    trafficPerMs: 1 + ((b[3] ?? 1) % 8),
    flood: ((flags >> 3) & 1) === 1,
    early: ((flags >> 4) & 1) === 1,
    faults: [],
  };
  for (let o = HEADER; o + FAULT_BYTES <= b.length && s.faults.length < MAX_FAULTS; o += FAULT_BYTES) {
    const start = (b[o + 1]! | (b[o + 2]! << 8)) % phaseMs;
    const dur = 1 + ((b[o + 3]! | (b[o + 4]! << 8)) % (phaseMs - start));
    s.faults.push({ kind: (b[o]! % FAULT_KINDS) as FaultKind, startMs: start, durMs: dur, rate: b[o + 5]!, param: b[o + 6]! | (b[o + 7]! << 8) });
  }
  return s;
}

export function encodeScenario(s: Scenario): Uint8Array {
  const b = new Uint8Array(HEADER + FAULT_BYTES * s.faults.length);
  b[0] = MAGIC;
  b[1] = s.intMode | (s.faultySide << 2) | (s.flood ? 8 : 0) | (s.early ? 16 : 0);
  b[2] = Math.max(1, Math.min(50, Math.round(s.phaseMs / 100)));
  b[3] = (s.trafficPerMs - 1) & 7;
  s.faults.forEach((f, i) => {
    const o = HEADER + FAULT_BYTES * i;
    b[o] = f.kind;
    b[o + 1] = f.startMs & 0xff;
    b[o + 2] = (f.startMs >> 8) & 0xff;
    b[o + 3] = (f.durMs - 1) & 0xff;
    b[o + 4] = ((f.durMs - 1) >> 8) & 0xff;
    b[o + 5] = f.rate & 0xff;
    b[o + 6] = f.param & 0xff;
    b[o + 7] = (f.param >> 8) & 0xff;
  });
  return b;
}

/** A random scenario: 1-4 faults, weighted towards MSI-X (what Linux uses on this part). */
export function randomScenario(rnd: () => number): Scenario {
  const r = (n: number) => Math.floor(rnd() * n);
  const x = rnd();
  const intMode = (x < 0.5 ? 2 : x < 0.75 ? 1 : 0) as 0 | 1 | 2;
  const phaseMs = 100 * (3 + r(28));
  const n = 1 + r(4);
  const faults: FaultSpec[] = [];
  for (let i = 0; i < n; i++) {
    const start = r(Math.floor(phaseMs / 2));
    const dur = 1 + r(phaseMs - start);
    // Rates mostly low (a fault now and then) with some saturating ones.
    const rate = rnd() < 0.3 ? 255 : r(rnd() < 0.5 ? 16 : 128);
    faults.push({ kind: r(FAULT_KINDS) as FaultKind, startMs: start, durMs: dur, rate, param: r(65536) });
  }
  return { intMode, faultySide: r(2) as 0 | 1, phaseMs, trafficPerMs: 1 + r(4), flood: false, early: rnd() < 0.15, faults };
}

/** A per-fault random stream that depends only on the run's seed and the fault itself (so shrinking keeps the others). */
export function faultRng(seed: number, f: FaultSpec, index: number): () => number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const v of [f.kind, f.startMs, f.durMs, f.rate, f.param, index]) h = Math.imul(h ^ v, 0x85ebca6b) ^ (h >>> 13);
  return mulberry32(h >>> 0);
}

export function describeFault(f: FaultSpec): string {
  return `${FAULT_NAMES[f.kind] ?? f.kind}@${f.startMs}+${f.durMs}ms rate=${f.rate} param=0x${f.param.toString(16)}`;
}

export function describeScenario(s: Scenario): string {
  return `intMode=${s.intMode}${s.flood ? ' flood' : ''}${s.early ? ' early' : ''} faulty=${s.faultySide ? 'B' : 'A'} phase=${s.phaseMs}ms traffic=${s.trafficPerMs}/ms faults=[${s.faults.map(describeFault).join(', ')}]`;
}
