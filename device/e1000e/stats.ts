// 82574L statistics counters (datasheet §10.2.6): saturating 32-bit and low/high 64-bit clear-on-read registers.

import { REG } from './defs.js';

const W = (off: number): number => off >>> 2;

/** Packet-size bucket registers (sizes with FCS) for RX and TX. */
const PRC = [W(REG.PRC64), W(REG.PRC127), W(REG.PRC255), W(REG.PRC511), W(REG.PRC1023), W(REG.PRC1522)];
const PTC = [W(REG.PTC64), W(REG.PTC127), W(REG.PTC255), W(REG.PTC511), W(REG.PTC1023), W(REG.PTC1522)];

function bucket(lenWithFcs: number): number {
  if (lenWithFcs <= 64) return 0;
  if (lenWithFcs <= 127) return 1;
  if (lenWithFcs <= 255) return 2;
  if (lenWithFcs <= 511) return 3;
  if (lenWithFcs <= 1023) return 4;
  return lenWithFcs <= 1522 ? 5 : -1;
}

/**
 * Running totals that reads do not clear: what the host side (counters view, end-of-boot
 * report, pcap cross-checks) sees while the guest driver keeps reading-and-clearing the
 * registers. They count from the device's creation: resets (a client going away, a guest
 * reboot) clear the registers, not these.
 */
export interface StatTotals {
  rxPackets: number;
  rxOctets: number;
  txPackets: number;
  txOctets: number;
  rxMissed: number;
  rxNoBuffers: number;
  rxBroadcast: number;
  rxMulticast: number;
}

export function emptyTotals(): StatTotals {
  return { rxPackets: 0, rxOctets: 0, txPackets: 0, txOctets: 0, rxMissed: 0, rxNoBuffers: 0, rxBroadcast: 0, rxMulticast: 0 };
}

/** Updates the statistics registers held in the MAC register file. */
export class Stats {
  /** Totals since power-on (octets include the FCS, like GORC/GOTC). */
  totals: StatTotals = emptyTotals();

  constructor(private readonly mac: Uint32Array) {}

  /** Saturating 32-bit increment (the 82574 counters stick at all-ones). */
  inc(word: number, by = 1): void {
    const v = this.mac[word]! + by;
    this.mac[word] = v > 0xffffffff ? 0xffffffff : v;
  }

  /** 64-bit counter held as a low/high pair. */
  add64(loWord: number, by: number): void {
    const lo = this.mac[loWord]! + by;
    if (lo > 0xffffffff) {
      this.mac[loWord] = lo % 0x1_0000_0000;
      this.mac[loWord + 1] = (this.mac[loWord + 1]! + Math.floor(lo / 0x1_0000_0000)) >>> 0;
    } else {
      this.mac[loWord] = lo;
    }
  }

  /** A frame left the MAC (length without FCS). */
  txFrame(frame: Uint8Array): void {
    this.txFrameLen(frame, frame.length);
  }

  /** A frame of `length` bytes (no FCS) whose first bytes are `frame`'s left the MAC (a GSO segment). */
  txFrameLen(frame: Uint8Array, length: number): void {
    const len = length + 4;
    this.totals.txPackets++;
    this.totals.txOctets += len;
    this.inc(W(REG.GPTC));
    this.inc(W(REG.TPT));
    this.add64(W(REG.GOTCL), len);
    this.add64(W(REG.TOTL), len);
    const b = bucket(len);
    if (b >= 0) this.inc(PTC[b]!);
    if (frame[0]! & 1) {
      if (isBroadcast(frame)) this.inc(W(REG.BPTC));
      else this.inc(W(REG.MPTC));
    }
  }

  /** A frame arrived from the wire, before filtering (length without FCS). */
  rxSeen(len: number): void {
    this.inc(W(REG.TPR));
    this.add64(W(REG.TORL), len + 4);
  }

  /** A frame passed filtering and was stored in host memory. */
  rxGood(frame: Uint8Array, len: number): void {
    const l = len + 4;
    this.totals.rxPackets++;
    this.totals.rxOctets += l;
    if (frame[0]! & 1) {
      if (isBroadcast(frame)) this.totals.rxBroadcast++;
      else this.totals.rxMulticast++;
    }
    this.inc(W(REG.GPRC));
    this.add64(W(REG.GORCL), l);
    const b = bucket(l);
    if (b >= 0) this.inc(PRC[b]!);
    if (frame[0]! & 1) {
      if (isBroadcast(frame)) this.inc(W(REG.BPRC));
      else this.inc(W(REG.MPRC));
    }
  }

  tsoContext(): void {
    this.inc(W(REG.TSCTC));
  }
}

export function isBroadcast(f: Uint8Array): boolean {
  return f[0] === 0xff && f[1] === 0xff && f[2] === 0xff && f[3] === 0xff && f[4] === 0xff && f[5] === 0xff;
}
