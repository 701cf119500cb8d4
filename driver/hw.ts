// e1000e hardware access for the 82574L, shaped like Linux's 82571.c, mac.c, phy.c and nvm.c.

import * as D from '../device/e1000e/defs.js';
import { readl, writel, type IoMem } from '../kernel-glue/pci.js';
import type { Kernel } from '../kernel-glue/kernel.js';
import { msleep, usleep_range, udelay } from '../kernel-glue/delay.js';
import { EIO, ETIMEDOUT, EINVAL } from '../kernel-glue/errno.js';

/** Link state as the MAC layer tracks it (e1000_mac_info). */
export interface MacInfo {
  addr: Uint8Array;
  permAddr: Uint8Array;
  getLinkStatus: boolean;
  /** Multicast table shadow, written out as a whole (mac.c's mta_shadow). */
  mtaShadow: Uint32Array;
  rarEntryCount: number;
}

/** e1000_fc_mode */
export const enum FcMode {
  NONE = 0,
  RX_PAUSE = 1,
  TX_PAUSE = 2,
  FULL = 3,
}

/** Flow-control settings (e1000_fc_info). */
export interface FcInfo {
  requestedMode: FcMode;
  currentMode: FcMode;
  /** Receive buffer thresholds (bytes, 8-byte granularity) for XOFF and XON. */
  highWater: number;
  lowWater: number;
  /** Pause time we ask for in XOFF, in 512-bit-time quanta. */
  pauseTime: number;
  sendXon: boolean;
  /** Resolve the mode by autonegotiation. */
  autoneg: boolean;
}

/** E1000_FC_PAUSE_TIME */
export const FC_PAUSE_TIME = 0x0680;

/** PHY identity (e1000_phy_info). */
export interface PhyInfo {
  id: number;
  revision: number;
  addr: number;
}

/** Statistics accumulated from the clear-on-read registers (e1000_hw_stats). */
export interface HwStats {
  gprc: number; gptc: number; gorc: number; gotc: number; mprc: number; bprc: number; mptc: number;
  bptc: number; mpc: number; rnbc: number; roc: number; ruc: number; crcerrs: number; algnerrc: number;
  rxerrc: number; colc: number; tncrs: number; tsctc: number; tsctfc: number; tpr: number; tpt: number;
  tor: number; tot: number; prc64: number; prc1522: number; ptc64: number; ptc1522: number;
}

export function newHwStats(): HwStats {
  return {
    gprc: 0, gptc: 0, gorc: 0, gotc: 0, mprc: 0, bprc: 0, mptc: 0, bptc: 0, mpc: 0, rnbc: 0, roc: 0, ruc: 0,
    crcerrs: 0, algnerrc: 0, rxerrc: 0, colc: 0, tncrs: 0, tsctc: 0, tsctfc: 0, tpr: 0, tpt: 0, tor: 0, tot: 0,
    prc64: 0, prc1522: 0, ptc64: 0, ptc1522: 0,
  };
}

/** The e1000_hw of one adapter. */
export class E1000Hw {
  readonly mac: MacInfo = {
    addr: new Uint8Array(6),
    permAddr: new Uint8Array(6),
    getLinkStatus: true,
    mtaShadow: new Uint32Array(D.NUM_MTA),
    rarEntryCount: 15,
  };
  readonly phy: PhyInfo = { id: 0, revision: 0, addr: D.MDIC_PHY_ADDR };
  readonly stats: HwStats = newHwStats();
  /** The 82571 family's default is full flow control (e1000_setup_link_82571). */
  readonly fc: FcInfo = { requestedMode: FcMode.FULL, currentMode: FcMode.FULL, highWater: 0, lowWater: 0, pauseTime: FC_PAUSE_TIME, sendXon: true, autoneg: true };
  nvmWordSize = 64;
  /** Link speed (Mb/s) and duplex (true = full) once link is up. */
  speed = 0;
  fullDuplex = false;

  constructor(
    readonly kernel: Kernel,
    readonly hwAddr: IoMem,
  ) {}

  er32(reg: number): number {
    return readl(this.hwAddr, reg);
  }
  ew32(reg: number, val: number): void {
    writel(val >>> 0, this.hwAddr, reg);
  }
  /** Posted-write flush: a read of STATUS. */
  flush(): void {
    this.er32(D.REG.STATUS);
  }

  // ---- software/firmware semaphore: 82574 uses EXTCNF_CTRL.MDIO_SW_OWNERSHIP ----

  /** e1000_get_hw_semaphore_82574: set the software flag and wait for it to stick. */
  acquireSwflag(): number {
    let extcnf = this.er32(D.REG.EXTCNF_CTRL);
    for (let i = 0; i < 10; i++) {
      extcnf |= D.EXTCNF_CTRL_SWFLAG;
      this.ew32(D.REG.EXTCNF_CTRL, extcnf);
      extcnf = this.er32(D.REG.EXTCNF_CTRL);
      if (extcnf & D.EXTCNF_CTRL_SWFLAG) return 0;
      msleep(this.kernel, 2);
    }
    return -EIO;
  }

  releaseSwflag(): void {
    this.ew32(D.REG.EXTCNF_CTRL, this.er32(D.REG.EXTCNF_CTRL) & ~D.EXTCNF_CTRL_SWFLAG);
  }

  // ---- NVM (nvm.c) ----

  /** Detects NVM type and size from EECD (e1000_init_nvm_params_82571). */
  initNvmParams(): number {
    const eecd = this.er32(D.REG.EECD);
    if (((eecd >>> 15) & 3) === 3) return -EINVAL; // flash NVM: not an 82574 with SPI EEPROM
    let size = (eecd & D.EECD_SIZE_EX_MASK) >>> D.EECD_SIZE_EX_SHIFT;
    size += 6;
    if (size > 14) size = 14;
    this.nvmWordSize = 1 << size;
    return 0;
  }

  /** e1000e_read_nvm_eerd: reads `count` words at `offset`. */
  readNvm(offset: number, count: number, out: Uint16Array): number {
    if (offset >= this.nvmWordSize || count > this.nvmWordSize - offset || count === 0) return -EINVAL;
    for (let i = 0; i < count; i++) {
      this.ew32(D.REG.EERD, (((offset + i) << D.EERD_ADDR_SHIFT) | D.EERD_START) >>> 0);
      let done = false;
      let v = 0;
      for (let t = 0; t < 100000; t++) {
        v = this.er32(D.REG.EERD);
        if (v & D.EERD_DONE) {
          done = true;
          break;
        }
        udelay(this.kernel, 5);
      }
      if (!done) return -ETIMEDOUT;
      out[i] = v >>> D.EERD_DATA_SHIFT;
    }
    return 0;
  }

  /** e1000e_validate_nvm_checksum_generic: words 0..0x3F must sum to 0xBABA. */
  validateNvmChecksum(): number {
    const w = new Uint16Array(1);
    let sum = 0;
    for (let i = 0; i <= D.NVM_CHECKSUM_REG; i++) {
      const rc = this.readNvm(i, 1, w);
      if (rc) return rc;
      sum = (sum + w[0]!) & 0xffff;
    }
    return sum === D.NVM_SUM ? 0 : -EIO;
  }

  /** e1000e_read_mac_addr_generic: the MAC comes from RAR0, which the hardware loaded from NVM. */
  readMacAddr(): void {
    const lo = this.er32(D.RAL(0));
    const hi = this.er32(D.RAH(0));
    for (let i = 0; i < 4; i++) this.mac.permAddr[i] = (lo >>> (8 * i)) & 0xff;
    this.mac.permAddr[4] = hi & 0xff;
    this.mac.permAddr[5] = (hi >>> 8) & 0xff;
    this.mac.addr.set(this.mac.permAddr);
  }

  // ---- PHY over MDIC (phy.c) ----

  /** e1000e_read_phy_reg_mdic */
  readPhyRegMdic(offset: number): number {
    this.ew32(
      D.REG.MDIC,
      ((offset << D.MDIC_REG_SHIFT) | (this.phy.addr << D.MDIC_PHY_SHIFT) | D.MDIC_OP_READ) >>> 0,
    );
    for (let i = 0; i < 640; i++) {
      udelay(this.kernel, 50);
      const mdic = this.er32(D.REG.MDIC);
      if (mdic & D.MDIC_READY) {
        if (mdic & D.MDIC_ERROR) return -EIO;
        if (((mdic & D.MDIC_REG_MASK) >>> D.MDIC_REG_SHIFT) !== offset) return -EIO;
        return mdic & 0xffff;
      }
    }
    return -EIO;
  }

  /** e1000e_write_phy_reg_mdic */
  writePhyRegMdic(offset: number, data: number): number {
    this.ew32(
      D.REG.MDIC,
      ((data & 0xffff) | (offset << D.MDIC_REG_SHIFT) | (this.phy.addr << D.MDIC_PHY_SHIFT) | D.MDIC_OP_WRITE) >>> 0,
    );
    for (let i = 0; i < 640; i++) {
      udelay(this.kernel, 50);
      const mdic = this.er32(D.REG.MDIC);
      if (mdic & D.MDIC_READY) return mdic & D.MDIC_ERROR ? -EIO : 0;
    }
    return -EIO;
  }

  /** e1000e_read_phy_reg_m88 with the BM page select the 82574 needs for registers above 15. */
  readPhyReg(offset: number): number {
    if (this.acquireSwflag()) return -EIO;
    let rc = 0;
    if (offset > 15) rc = this.writePhyRegMdic(D.PHY.PAGE, offset >>> 5);
    const v = rc ? rc : this.readPhyRegMdic(offset & 0x1f);
    this.releaseSwflag();
    return v;
  }

  writePhyReg(offset: number, data: number): number {
    if (this.acquireSwflag()) return -EIO;
    let rc = 0;
    if (offset > 15) rc = this.writePhyRegMdic(D.PHY.PAGE, offset >>> 5);
    if (!rc) rc = this.writePhyRegMdic(offset & 0x1f, data);
    this.releaseSwflag();
    return rc;
  }

  /** e1000e_get_phy_id: both ID registers, exactly. */
  getPhyId(): number {
    const id1 = this.readPhyReg(D.PHY.ID1);
    const id2 = this.readPhyReg(D.PHY.ID2);
    if (id1 < 0 || id2 < 0) return -EIO;
    this.phy.id = ((id1 << 16) | (id2 & 0xfff0)) >>> 0;
    this.phy.revision = id2 & 0xf;
    return (id1 === D.PHY_ID1_82574 && id2 === D.PHY_ID2_82574) ? 0 : -EIO;
  }

  /** e1000_power_up_phy_copper */
  powerUpPhy(): void {
    const v = this.readPhyReg(D.PHY.BMCR);
    if (v >= 0) this.writePhyReg(D.PHY.BMCR, v & ~D.BMCR_PDOWN);
  }

  /** e1000_power_down_phy_copper */
  powerDownPhy(): void {
    const v = this.readPhyReg(D.PHY.BMCR);
    if (v >= 0) this.writePhyReg(D.PHY.BMCR, v | D.BMCR_PDOWN);
    msleep(this.kernel, 1);
  }

  // ---- MAC (mac.c, 82571.c) ----

  /** e1000e_disable_pcie_master: ask the device to stop mastering and wait for it. */
  disablePcieMaster(): number {
    this.ew32(D.REG.CTRL, this.er32(D.REG.CTRL) | D.CTRL_GIO_MASTER_DISABLE);
    for (let t = 0; t < 800; t++) {
      if (!(this.er32(D.REG.STATUS) & D.STATUS_GIO_MASTER_ENABLE)) return 0;
      udelay(this.kernel, 100);
    }
    return -ETIMEDOUT;
  }

  /** e1000_reset_hw_82571 for the 82574. */
  resetHw(): number {
    this.disablePcieMaster(); // not fatal, as in Linux
    this.ew32(D.REG.IMC, 0xffffffff);
    this.ew32(D.REG.RCTL, 0);
    this.ew32(D.REG.TCTL, this.er32(D.REG.TCTL) & ~D.TCTL_EN);
    this.flush();
    usleep_range(this.kernel, 10000, 11000);
    if (this.acquireSwflag()) return -EIO;
    this.ew32(D.REG.CTRL, this.er32(D.REG.CTRL) | D.CTRL_RST);
    this.releaseSwflag();
    // e1000e_get_auto_rd_done
    let autoRd = false;
    for (let i = 0; i < 10; i++) {
      if (this.er32(D.REG.EECD) & D.EECD_AUTO_RD) {
        autoRd = true;
        break;
      }
      usleep_range(this.kernel, 1000, 2000);
    }
    if (!autoRd) return 0; // degraded, as Linux logs and carries on
    msleep(this.kernel, 25);
    this.ew32(D.REG.IMC, 0xffffffff);
    this.er32(D.REG.ICR);
    return 0;
  }

  /** e1000e_rar_set */
  rarSet(addr: Uint8Array | null, index: number): void {
    let lo = 0;
    let hi = 0;
    if (addr) {
      lo = (addr[0]! | (addr[1]! << 8) | (addr[2]! << 16) | (addr[3]! << 24)) >>> 0;
      hi = (addr[4]! | (addr[5]! << 8) | 0x80000000) >>> 0;
    }
    this.ew32(D.RAL(index), lo);
    this.flush();
    this.ew32(D.RAH(index), hi);
    this.flush();
  }

  /** Multicast hash for MO = 0 (e1000_hash_mc_addr). */
  static hashMcAddr(a: Uint8Array): number {
    return (((a[5]! << 8) | a[4]!) >>> 4) & 0xfff;
  }

  /** e1000e_update_mc_addr_list_generic */
  updateMcAddrList(list: Uint8Array[]): void {
    this.mac.mtaShadow.fill(0);
    for (const a of list) {
      const h = E1000Hw.hashMcAddr(a);
      this.mac.mtaShadow[h >>> 5] = (this.mac.mtaShadow[h >>> 5]! | (1 << (h & 31))) >>> 0;
    }
    for (let i = D.NUM_MTA - 1; i >= 0; i--) this.ew32(D.MTA(i), this.mac.mtaShadow[i]!);
    this.flush();
  }

  /** e1000e_clear_hw_cntrs_base plus the 82571-family extras: read every counter to clear it. */
  clearHwCounters(): void {
    for (let off = D.REG.CRCERRS; off <= D.REG.ICRXOC; off += 4) this.er32(off);
  }

  /** e1000_init_hw_82571: queue control, filters, RARs, link, counters. */
  initHw(): number {
    this.ew32(D.REG.TXDCTL0, (this.er32(D.REG.TXDCTL0) & ~0x3f3f3f) | 0x0141011f);
    this.ew32(D.REG.TXDCTL1, this.er32(D.REG.TXDCTL0));
    let tarc = this.er32(D.REG.TARC0);
    tarc |= (1 << 23) | (1 << 24) | (1 << 25) | (1 << 26);
    this.ew32(D.REG.TARC0, tarc);
    this.ew32(D.REG.GCR, this.er32(D.REG.GCR) | (1 << 22));
    this.ew32(D.REG.GCR2, this.er32(D.REG.GCR2) | 1);
    for (let i = 0; i < D.NUM_VFTA; i++) this.ew32(D.VFTA(i), 0);
    // e1000e_init_rx_addrs
    this.rarSet(this.mac.addr, 0);
    for (let i = 1; i < this.mac.rarEntryCount; i++) this.rarSet(null, i);
    for (let i = 0; i < D.NUM_MTA; i++) this.ew32(D.MTA(i), 0);
    const rc = this.setupLink();
    this.clearHwCounters();
    return rc;
  }

  /** e1000e_setup_link_generic + e1000_setup_copper_link_82571 (m88 copper). */
  setupLink(): number {
    let ctrl = this.er32(D.REG.CTRL);
    ctrl |= D.CTRL_SLU;
    ctrl &= ~(D.CTRL_FRCSPD | D.CTRL_FRCDPX);
    this.ew32(D.REG.CTRL, ctrl);
    // e1000e_copper_link_setup_m88: PHY specific control, then a commit (soft reset).
    let pscr = this.readPhyReg(D.PHY.PSCR);
    if (pscr < 0) return pscr;
    pscr |= 0x0060; // auto MDI/MDI-X
    this.writePhyReg(D.PHY.PSCR, pscr);
    this.commitPhy();
    this.writePhyReg(D.PHY.PSCR, pscr);
    this.commitPhy();
    this.writePhyReg(D.PHY.P29, 3);
    this.writePhyReg(D.PHY.P30, 0);
    // e1000e_copper_link_autoneg: advertise every speed and the pause the requested mode wants.
    this.fc.currentMode = this.fc.requestedMode;
    const anar = this.readPhyReg(D.PHY.ANAR);
    if (anar < 0) return anar;
    let adv = (anar | 0x01e0) & ~(D.NWAY_AR_PAUSE | D.NWAY_AR_ASM_DIR);
    if (this.fc.currentMode === FcMode.RX_PAUSE || this.fc.currentMode === FcMode.FULL) adv |= D.NWAY_AR_PAUSE | D.NWAY_AR_ASM_DIR;
    else if (this.fc.currentMode === FcMode.TX_PAUSE) adv |= D.NWAY_AR_ASM_DIR;
    this.writePhyReg(D.PHY.ANAR, adv);
    const gcr = this.readPhyReg(D.PHY.GCR_1000T);
    this.writePhyReg(D.PHY.GCR_1000T, (gcr < 0 ? 0 : gcr) | 0x0200);
    const bmcr = this.readPhyReg(D.PHY.BMCR);
    this.writePhyReg(D.PHY.BMCR, (bmcr < 0 ? 0 : bmcr) | D.BMCR_ANENABLE | D.BMCR_ANRESTART);
    // A brief poll: no link yet is not an error.
    this.checkForLink();
    this.ew32(D.REG.FCT, 0x8808);
    this.ew32(D.REG.FCAH, 0x0100);
    this.ew32(D.REG.FCAL, 0x00c28001);
    this.ew32(D.REG.FCTTV, this.fc.pauseTime);
    this.setFcWatermarks();
    return 0;
  }

  /** e1000e_set_fc_watermarks: XON/XOFF thresholds only when we may send PAUSE. */
  setFcWatermarks(): void {
    let fcrtl = 0;
    let fcrth = 0;
    if (this.fc.currentMode & FcMode.TX_PAUSE) {
      fcrtl = this.fc.lowWater;
      if (this.fc.sendXon) fcrtl |= D.FCRTL_XONE;
      fcrth = this.fc.highWater;
    }
    this.ew32(D.REG.FCRTL, fcrtl >>> 0);
    this.ew32(D.REG.FCRTH, fcrth);
  }

  /** e1000e_force_mac_fc: CTRL.RFCE/TFCE from the current mode. */
  forceMacFc(): void {
    let ctrl = this.er32(D.REG.CTRL) & ~(D.CTRL_RFCE | D.CTRL_TFCE);
    if (this.fc.currentMode & FcMode.RX_PAUSE) ctrl |= D.CTRL_RFCE;
    if (this.fc.currentMode & FcMode.TX_PAUSE) ctrl |= D.CTRL_TFCE;
    this.ew32(D.REG.CTRL, ctrl >>> 0);
  }

  /**
   * e1000e_config_fc_after_link_up: resolve the mode from our advertisement (ANAR) and the
   * partner's (ANLPAR) by IEEE 802.3 Annex 28B, then program the MAC.
   */
  configFcAfterLinkUp(): void {
    this.forceMacFc();
    if (!this.fc.autoneg) return;
    this.readPhyReg(D.PHY.BMSR);
    const bmsr = this.readPhyReg(D.PHY.BMSR);
    if (bmsr < 0 || !(bmsr & D.BMSR_ANEGCOMPLETE)) return;
    const adv = this.readPhyReg(D.PHY.ANAR);
    const lp = this.readPhyReg(D.PHY.ANLPAR);
    if (adv < 0 || lp < 0) return;
    const P = D.NWAY_AR_PAUSE;
    const A = D.NWAY_AR_ASM_DIR;
    let mode = FcMode.NONE;
    if (adv & P && lp & P) mode = this.fc.requestedMode === FcMode.FULL ? FcMode.FULL : FcMode.RX_PAUSE;
    else if (!(adv & P) && adv & A && lp & P && lp & A) mode = FcMode.TX_PAUSE;
    else if (adv & P && adv & A && !(lp & P) && lp & A) mode = FcMode.RX_PAUSE;
    this.getSpeedAndDuplex();
    if (!this.fullDuplex) mode = FcMode.NONE;
    this.fc.currentMode = mode;
    this.forceMacFc();
  }

  /** e1000e_commit_phy: BMCR soft reset. */
  private commitPhy(): void {
    const bmcr = this.readPhyReg(D.PHY.BMCR);
    if (bmcr >= 0) this.writePhyReg(D.PHY.BMCR, bmcr | D.BMCR_RESET);
    udelay(this.kernel, 1);
  }

  /**
   * e1000e_check_for_copper_link: reads BMSR twice (link is latched low); on link,
   * resolves speed/duplex from STATUS. Returns whether link is up.
   */
  checkForLink(): boolean {
    if (!this.mac.getLinkStatus) return true;
    this.readPhyReg(D.PHY.BMSR);
    const bmsr = this.readPhyReg(D.PHY.BMSR);
    if (bmsr < 0 || !(bmsr & D.BMSR_LSTATUS)) return false;
    this.mac.getLinkStatus = false;
    this.readPhyReg(D.PHY.PSSR);
    this.getSpeedAndDuplex();
    this.configFcAfterLinkUp();
    return true;
  }

  /** e1000e_get_speed_and_duplex_copper: from STATUS. */
  getSpeedAndDuplex(): void {
    const st = this.er32(D.REG.STATUS);
    const sp = st & D.STATUS_SPEED_MASK;
    this.speed = sp === D.STATUS_SPEED_1000 ? 1000 : sp === D.STATUS_SPEED_100 ? 100 : 10;
    this.fullDuplex = (st & D.STATUS_FD) !== 0;
  }

  /** e1000e_update_stats: accumulate the clear-on-read counters (GORC/GOTC low then high). */
  updateStats(): void {
    const s = this.stats;
    const r = (reg: number) => this.er32(reg);
    s.crcerrs += r(D.REG.CRCERRS);
    s.gprc += r(D.REG.GPRC);
    s.gorc += r(D.REG.GORCL) + r(D.REG.GORCH) * 0x1_0000_0000;
    s.bprc += r(D.REG.BPRC);
    s.mprc += r(D.REG.MPRC);
    s.gptc += r(D.REG.GPTC);
    s.gotc += r(D.REG.GOTCL) + r(D.REG.GOTCH) * 0x1_0000_0000;
    s.rnbc += r(D.REG.RNBC);
    s.ruc += r(D.REG.RUC);
    s.mptc += r(D.REG.MPTC);
    s.bptc += r(D.REG.BPTC);
    s.mpc += r(D.REG.MPC);
    s.roc += r(D.REG.ROC);
    s.algnerrc += r(D.REG.ALGNERRC);
    s.rxerrc += r(D.REG.RXERRC);
    s.colc += r(D.REG.COLC);
    s.tncrs += r(D.REG.TNCRS);
    s.tsctc += r(D.REG.TSCTC);
    s.tsctfc += r(D.REG.TSCTFC);
    s.tpr += r(D.REG.TPR);
    s.tpt += r(D.REG.TPT);
    s.tor += r(D.REG.TORL) + r(D.REG.TORH) * 0x1_0000_0000;
    s.tot += r(D.REG.TOTL) + r(D.REG.TOTH) * 0x1_0000_0000;
    s.prc64 += r(D.REG.PRC64);
    s.prc1522 += r(D.REG.PRC1522);
    s.ptc64 += r(D.REG.PTC64);
    s.ptc1522 += r(D.REG.PTC1522);
  }
}
