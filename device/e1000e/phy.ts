// 82574L integrated PHY (BM/M88-style register set) behind MDIC, with autonegotiation (datasheet §10.3).

import {
  PHY, PHY_ID1_82574, PHY_ID2_82574, BMCR_RESET, BMCR_ANRESTART, BMCR_PDOWN, BMCR_ANENABLE, BMCR_LOOPBACK,
  BMSR_LSTATUS, BMSR_ANEGCOMPLETE, ANLPAR_ACK, PSSR_LINK, NWAY_AR_PAUSE, NWAY_AR_ASM_DIR,
} from './defs.js';

/**
 * What the modeled link partner advertises for 802.3x pause: symmetric (PAUSE), asymmetric
 * (ASM_DIR only: it sends PAUSE but does not honour it), both bits, or none.
 */
export type PartnerPause = 'symmetric' | 'asymmetric' | 'both' | 'none';

const PARTNER_PAUSE_BITS: Record<PartnerPause, number> = {
  symmetric: NWAY_AR_PAUSE,
  asymmetric: NWAY_AR_ASM_DIR,
  both: NWAY_AR_PAUSE | NWAY_AR_ASM_DIR,
  none: 0,
};

const BMSR_BASE = 0x7949; // 10/100 HD/FD, extended status, preamble suppression, AN capable, extended caps
const PSSR_1000_FD_RESOLVED = 0x8000 | 0x2000 | 0x0800; // 1000 Mb, full duplex, speed/duplex resolved

/**
 * PHY register file and link state machine. The owner wires `onLinkChange` (raises LSC) and
 * `scheduleAutoneg` (virtual-time completion of autonegotiation).
 */
export class Phy {
  private page0 = new Uint16Array(32);
  private pageN = new Map<number, Uint16Array>();
  private page = 0;
  /** A link partner is connected (cable and peer present). */
  private carrier = false;
  private anDone = false;
  private linkUp = false;

  constructor(
    private readonly onLinkChange: (up: boolean) => void,
    private readonly scheduleAutoneg: (done: () => void) => void,
    private readonly cancelAutoneg: () => void,
    private readonly partnerPause: PartnerPause = 'symmetric',
  ) {
    this.reset();
  }

  get link(): boolean {
    return this.linkUp;
  }

  /** The modeled link partner acts on PAUSE frames (it advertises symmetric pause). */
  get partnerHonoursPause(): boolean {
    return (PARTNER_PAUSE_BITS[this.partnerPause] & NWAY_AR_PAUSE) !== 0;
  }

  get poweredDown(): boolean {
    return (this.page0[PHY.BMCR]! & BMCR_PDOWN) !== 0;
  }

  /**
   * BMCR.LOOPBACK: the PHY returns what the MAC transmits and hears nothing from the cable.
   * Its link is up (at the forced speed) whatever the cable does, as a BM PHY reports it.
   */
  get loopback(): boolean {
    return (this.page0[PHY.BMCR]! & BMCR_LOOPBACK) !== 0;
  }

  /** PHY power-on / reset values. */
  reset(): void {
    const r = this.page0;
    r.fill(0);
    this.pageN.clear();
    this.page = 0;
    r[PHY.BMCR] = BMCR_ANENABLE | 0x0100 | 0x0040; // AN enable, full duplex, 1000 Mb select
    r[PHY.BMSR] = BMSR_BASE;
    r[PHY.ID1] = PHY_ID1_82574;
    r[PHY.ID2] = PHY_ID2_82574;
    r[PHY.ANAR] = 0x0de1;
    r[PHY.ANLPAR] = 0;
    r[PHY.ANER] = 0x0004;
    r[PHY.NPTX] = 0x2001;
    r[PHY.GCR_1000T] = 0x0e00;
    r[PHY.GSR_1000T] = 0;
    r[PHY.EXT_STATUS] = 0x3000;
    r[PHY.PSCR] = 0x0360;
    r[PHY.PSSR] = 0;
    r[PHY.EPSCR] = 0x0c68;
    r[PHY.RXERR] = 0;
    this.anDone = false;
    this.cancelAutoneg();
    this.setLink(false);
    this.maybeStartAutoneg();
  }

  /** Cable/peer presence from the wire. */
  setCarrier(present: boolean): void {
    if (present === this.carrier) return;
    this.carrier = present;
    if (this.loopback) return;
    if (!present) {
      this.cancelAutoneg();
      this.anDone = false;
      this.setLink(false);
    } else {
      this.maybeStartAutoneg();
    }
  }

  read(reg: number): number {
    reg &= 31;
    if (reg === PHY.PAGE) return this.page;
    if (reg >= 16 && this.page !== 0) return this.pageN.get(this.page)?.[reg] ?? 0;
    return this.page0[reg]!;
  }

  write(reg: number, value: number): void {
    reg &= 31;
    value &= 0xffff;
    if (reg === PHY.PAGE) {
      // BM PHY pages go beyond 255 (769, 776, 800): the whole register is the page.
      this.page = value;
      return;
    }
    if (reg >= 16 && this.page !== 0) {
      let p = this.pageN.get(this.page);
      if (!p) this.pageN.set(this.page, (p = new Uint16Array(32)));
      p[reg] = value;
      return;
    }
    const r = this.page0;
    switch (reg) {
      case PHY.BMCR: {
        const wasDown = (r[PHY.BMCR]! & BMCR_PDOWN) !== 0;
        const wasLoop = this.loopback;
        if (value & BMCR_RESET) {
          // A soft reset keeps the configuration registers but restarts negotiation.
          r[PHY.BMCR] = value & ~(BMCR_RESET | BMCR_ANRESTART);
          if (this.loopback) this.enterLoopback();
          else this.restartAutoneg();
          return;
        }
        r[PHY.BMCR] = value & ~BMCR_ANRESTART;
        const isDown = (value & BMCR_PDOWN) !== 0;
        if (this.loopback !== wasLoop) {
          if (this.loopback) this.enterLoopback();
          else this.restartAutoneg();
          return;
        }
        if (this.loopback) return;
        if (isDown && !wasDown) {
          this.cancelAutoneg();
          this.anDone = false;
          this.setLink(false);
        } else if ((value & BMCR_ANRESTART) || (wasDown && !isDown)) {
          this.restartAutoneg();
        }
        return;
      }
      case PHY.BMSR:
      case PHY.ID1:
      case PHY.ID2:
      case PHY.ANLPAR:
      case PHY.ANER:
      case PHY.GSR_1000T:
      case PHY.EXT_STATUS:
      case PHY.PSSR:
      case PHY.RXERR:
        return; // read-only
      default:
        r[reg] = value;
    }
  }

  private enterLoopback(): void {
    this.cancelAutoneg();
    this.anDone = false;
    this.setLink(true);
  }

  private restartAutoneg(): void {
    this.cancelAutoneg();
    this.anDone = false;
    this.setLink(false);
    this.maybeStartAutoneg();
  }

  private maybeStartAutoneg(): void {
    if (!this.carrier || this.poweredDown || this.anDone || this.loopback) return;
    this.scheduleAutoneg(() => {
      if (!this.carrier || this.poweredDown || this.loopback) return;
      this.anDone = true;
      this.setLink(true);
    });
  }

  private setLink(up: boolean): void {
    const r = this.page0;
    if (up) {
      r[PHY.BMSR] = BMSR_BASE | BMSR_LSTATUS | BMSR_ANEGCOMPLETE;
      r[PHY.ANLPAR] = 0x01e0 | ANLPAR_ACK | 0x0001 | PARTNER_PAUSE_BITS[this.partnerPause];
      r[PHY.ANER] = 0x0005;
      r[PHY.GSR_1000T] = 0x3c00;
      r[PHY.PSSR] = PSSR_1000_FD_RESOLVED | PSSR_LINK | (1 << 7);
    } else {
      r[PHY.BMSR] = BMSR_BASE;
      r[PHY.ANLPAR] = 0;
      r[PHY.GSR_1000T] = 0;
      r[PHY.PSSR] = 0;
    }
    if (up !== this.linkUp) {
      this.linkUp = up;
      this.onLinkChange(up);
    }
  }
}
