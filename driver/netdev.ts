// Our e1000e driver for the 82574L, shaped like Linux's drivers/net/ethernet/intel/e1000e/netdev.c.

import * as D from '../device/e1000e/defs.js';
import { E1000Hw, FC_PAUSE_TIME } from './hw.js';
import type { Kernel } from '../kernel-glue/kernel.js';
import {
  type PciDev, type PciDriver, type MsixEntry, type IoMem, PCI_DEVICE, pci_enable_device_mem, pci_disable_device,
  pci_set_master, pci_select_bars, pci_request_selected_regions, pci_release_selected_regions,
  pci_set_drvdata, pci_get_drvdata, pci_ioremap_bar, iounmap, pci_enable_msix_range, pci_disable_msix,
  pci_enable_msi, pci_disable_msi, pcie_capability_clear_word, pcie_capability_read_word, pci_clear_master,
  pci_register_driver, pci_unregister_driver,
} from '../kernel-glue/pci.js';
import { IORESOURCE_MEM, PCI_EXP_LNKCTL, PCI_EXP_LNKSTA } from '../kernel-glue/pci.js';
import { DMA_BIT_MASK, DMA_FROM_DEVICE, DMA_TO_DEVICE, dma_alloc_coherent, dma_free_coherent, dma_map_single,
  dma_mapping_error, dma_set_mask_and_coherent, dma_unmap_single, dma_map_page, dma_unmap_page, dma_sync_single_for_cpu,
  type DmaCoherent } from '../kernel-glue/dma.js';
import { alloc_page, put_page, PAGE_SIZE, type Page } from '../kernel-glue/slab.js';
import { IRQ_HANDLED, IRQ_NONE, IRQF_SHARED, request_irq, free_irq, synchronize_irq } from '../kernel-glue/irq.js';
import {
  type NetDevice, type NapiStruct, type RtnlLinkStats64, alloc_etherdev, free_netdev, register_netdev, unregister_netdev,
  netdev_priv, netif_napi_add, netif_napi_del, napi_enable, napi_disable, napi_schedule_prep, __napi_schedule,
  napi_complete_done, napi_gro_receive, netif_carrier_on, netif_carrier_off, netif_carrier_ok, netif_start_queue,
  netif_stop_queue, netif_wake_queue, netif_queue_stopped, netif_running, eth_type_trans, netdev_xmit_more, NETDEV_TX_OK,
  NETDEV_TX_BUSY, IFF_PROMISC, IFF_ALLMULTI, NETIF_F_SG, NETIF_F_HW_CSUM, NETIF_F_TSO, NETIF_F_TSO6,
  NETIF_F_RXCSUM, NETIF_F_HW_VLAN_CTAG_TX, NETIF_F_HW_VLAN_CTAG_RX, netdev_info, netdev_err, netdev_dbg,
} from '../kernel-glue/netdev.js';
import {
  type SkBuff, CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY, dev_kfree_skb_any, napi_alloc_skb, netdev_alloc_skb_ip_align,
  skb_put, skb_put_padto, skb_trim, skb_checksum_start_offset, skb_network_offset, skb_transport_offset, tcp_hdrlen,
  skb_vlan_tag_present, skb_vlan_tag_get, __vlan_hwaccel_put_tag, skb_checksum_none_assert, skb_record_rx_queue,
} from '../kernel-glue/skbuff.js';
import { TimerList, timer_setup, mod_timer, del_timer_sync, timer_pending, jiffies } from '../kernel-glue/timer.js';
import { WorkStruct, INIT_WORK, schedule_work, cancel_work_sync } from '../kernel-glue/workqueue.js';
import { msleep } from '../kernel-glue/delay.js';
import { HZ, round_jiffies, time_after } from '../kernel-glue/clock.js';
import { csum_tcpudp_magic, csum_ipv6_magic } from '../kernel-glue/checksum.js';
import { ENOMEM, EIO, EBUSY, EINVAL } from '../kernel-glue/errno.js';
import { NAPI_STATE_SCHED } from '../kernel-glue/napi.js';

export const DRV_NAME = 'e1000e';
const E1000_DEFAULT_TXD = 256;
const E1000_DEFAULT_RXD = 256;
const E1000_RX_BUFFER_WRITE = 16;
const E1000_MAX_TXD_PWR = 12;
const E1000_MAX_DATA_PER_TXD = 1 << E1000_MAX_TXD_PWR;
const TX_WAKE_THRESHOLD = 32;
/** Descriptors the largest skb can need: a 64 KiB TSO in 4 KiB pieces (17) plus its context, plus 2 spare. */
const DESC_NEEDED_MAX = Math.ceil((65536 + 256) / E1000_MAX_DATA_PER_TXD) + 1 + 2;
const VLAN_ETH_FRAME_LEN = 1518;
const VLAN_ETH_HLEN = 18;
const ETH_FCS_LEN = 4;
const ETH_DATA_LEN = 1500;
const ETH_MIN_MTU = 68;
/** The 82574's max_hw_frame_size (jumbo frames): MTU 9212 with a VLAN tag and the FCS. */
const MAX_HW_FRAME_SIZE = D.MAX_JUMBO_FRAME;
/** Page buffers of a packet-split descriptor (buffers 1..3; buffer 0 holds the header). */
const PS_PAGE_BUFFERS = 3;
/** Descriptor bytes allocated per RX ring entry: enough for the 32-byte packet-split format. */
const RX_DESC_ALLOC = D.RX_PS_DESC_SIZE;
const COPYBREAK = 256;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const ETH_P_8021Q = 0x8100;
const IPPROTO_TCP = 6;

/** e1000e.IntMode values. */
export const enum IntMode {
  LEGACY = 0,
  MSI = 1,
  MSIX = 2,
}

const IMS_OTHER_MASK = D.ICR_LSC | D.ICR_RXO | D.ICR_MDAC | D.ICR_SRPD | D.ICR_ACK | D.ICR_MNG;
const IMS_ENABLE_MASK = D.ICR_RXT0 | D.ICR_TXDW | D.ICR_RXDMT0 | D.ICR_RXSEQ | D.ICR_LSC;

const enum Itr {
  LOWEST_LATENCY = 0,
  LOW_LATENCY = 1,
  BULK_LATENCY = 2,
}

/** Module parameters (param.c). */
export interface E1000eParams {
  IntMode: IntMode;
  /** 0 off, 1 dynamic, 3 dynamic conservative, 4 simple, or a fixed interrupts-per-second figure. */
  InterruptThrottleRate: number;
  TxIntDelay: number;
  TxAbsIntDelay: number;
  RxIntDelay: number;
  RxAbsIntDelay: number;
  copybreak: number;
  /** Ring sizes (what `ethtool -G` sets on Linux): multiples of 8, 64..4096. */
  txRingSize: number;
  rxRingSize: number;
  /**
   * Recovery beyond Linux 6.1's e1000e (default on): a watchdog fallback timer when the
   * link-check interrupt is lost, and the watchdog re-enabling auto-masked MSI-X causes. Off,
   * the driver behaves as Linux's on those paths, so a fuzz run reproduces Linux's failures.
   */
  recoveryBeyondLinux: boolean;
}

export const DEFAULT_PARAMS: E1000eParams = {
  IntMode: IntMode.MSIX,
  InterruptThrottleRate: 3,
  TxIntDelay: 8,
  TxAbsIntDelay: 32,
  RxIntDelay: 0,
  RxAbsIntDelay: 8,
  copybreak: COPYBREAK,
  txRingSize: E1000_DEFAULT_TXD,
  rxRingSize: E1000_DEFAULT_RXD,
  recoveryBeyondLinux: true,
};

/** e1000_buffer */
interface E1000Buffer {
  skb: SkBuff | null;
  dma: number;
  length: number;
  timeStamp: number;
  nextToWatch: number;
  segs: number;
  bytecount: number;
  /** Packet-split page buffers (e1000_ps_page), allocated on first use. */
  psPages: PsPage[] | null;
}

/** e1000_ps_page */
interface PsPage {
  page: Page | null;
  dma: number;
}

function newBuffer(): E1000Buffer {
  return { skb: null, dma: 0, length: 0, timeStamp: 0, nextToWatch: -1, segs: 0, bytecount: 0, psPages: null };
}

/** e1000_ring */
class E1000Ring {
  desc: DmaCoherent | null = null;
  view: DataView | null = null;
  size = 0;
  nextToUse = 0;
  nextToClean = 0;
  bufferInfo: E1000Buffer[] = [];
  imsVal = 0;
  itrRegister = 0;
  itrVal = 0;
  setItr = false;
  constructor(
    readonly count: number,
    readonly head: number,
    readonly tail: number,
  ) {}
  /** e1000_desc_unused */
  unused(): number {
    if (this.nextToClean > this.nextToUse) return this.nextToClean - this.nextToUse - 1;
    return this.count + this.nextToClean - this.nextToUse - 1;
  }
}

/** Per-adapter state: struct e1000_adapter. */
export class E1000Adapter {
  readonly hw: E1000Hw;
  readonly txRing: E1000Ring;
  readonly rxRing: E1000Ring;
  napi!: NapiStruct;
  msixEntries: MsixEntry[] | null = null;
  intMode: IntMode;
  msiEnabled = false;
  msiTestFailed = false;
  numVectors = 1;
  eiacMask = 0;
  itrSetting: number;
  itr = 20000;
  rxItr = Itr.LOW_LATENCY;
  txItr = Itr.LOW_LATENCY;
  rxBufferLen = VLAN_ETH_FRAME_LEN + ETH_FCS_LEN;
  /** MTU + VLAN Ethernet header + FCS. */
  maxFrameSize = ETH_DATA_LEN + VLAN_ETH_HLEN + ETH_FCS_LEN;
  /** Pages per packet-split descriptor (0: one buffer per extended descriptor). */
  rxPsPages = 0;
  /** Header buffer size for packet split (buffer 0). */
  readonly rxPsBsize0 = 128;
  txdCmd = D.TXD_CMD_EOP | D.TXD_CMD_IFCS | D.TXD_CMD_RS;
  down = true;
  discarding = false;
  /** FLAG2_CRC_STRIPPING: RCTL.SECRC set, lengths exclude the FCS. */
  crcStripping = true;
  detectTxHung = false;
  /** TX descriptors queued whose tail write was deferred by xmit_more. */
  txTailDirty = false;
  txHangRecheck = false;
  restartNow = false;
  linkSpeed = 0;
  linkDuplexFull = false;
  readonly watchdogTimer = new TimerList();
  readonly watchdogTask = new WorkStruct();
  readonly resetTask = new WorkStruct();
  /** Totals since the last ITR update (adaptive moderation input). */
  totalTxBytes = 0;
  totalTxPackets = 0;
  totalRxBytes = 0;
  totalRxPackets = 0;
  /** Software counters: what this driver handed to and took from the stack. */
  readonly sw = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, rxCsumGood: 0, rxCsumErr: 0, rxDiscards: 0, restartQueue: 0, txTimeouts: 0, txHangs: 0, resets: 0, txBusy: 0 };

  constructor(
    readonly kernel: Kernel,
    readonly pdev: PciDev,
    readonly netdev: NetDevice<E1000Adapter>,
    hwAddr: IoMem,
    readonly params: E1000eParams,
  ) {
    this.hw = new E1000Hw(kernel, hwAddr);
    const ringSize = (n: number) => Math.min(4096, Math.max(64, n & ~7));
    this.txRing = new E1000Ring(ringSize(params.txRingSize), D.REG.TDH0, D.REG.TDT0);
    this.rxRing = new E1000Ring(ringSize(params.rxRingSize), D.REG.RDH0, D.REG.RDT0);
    this.intMode = params.IntMode;
    this.itrSetting = params.InterruptThrottleRate;
    if (this.itrSetting > 4) this.itr = this.itrSetting;
    else if (this.itrSetting === 0) this.itr = 0;
    // Both vectors start at the adapter's rate: EITR = 195 at the default 20000/s.
    this.rxRing.itrVal = this.itr;
    this.txRing.itrVal = this.itr;
  }

  er32(r: number): number {
    return this.hw.er32(r);
  }
  ew32(r: number, v: number): void {
    this.hw.ew32(r, v);
  }
}

// ---------------------------------------------------------------------------------------------
// Interrupt capability and handlers

function setInterruptCapability(a: E1000Adapter): void {
  if (a.intMode === IntMode.MSIX) {
    a.numVectors = 3;
    const entries: MsixEntry[] = [0, 1, 2].map((entry) => ({ entry, vector: 0 }));
    const err = pci_enable_msix_range(a.pdev, entries, a.numVectors, a.numVectors);
    if (err > 0) {
      a.msixEntries = entries;
      return;
    }
    netdev_err(a.netdev, 'Failed to initialize MSI-X interrupts.  Falling back to MSI interrupts.');
    a.intMode = IntMode.MSI;
  }
  if (a.intMode === IntMode.MSI) {
    if (!pci_enable_msi(a.pdev)) {
      a.msiEnabled = true;
    } else {
      netdev_err(a.netdev, 'Failed to initialize MSI interrupts.  Falling back to legacy interrupts.');
      a.intMode = IntMode.LEGACY;
    }
  }
  a.numVectors = 1;
}

function resetInterruptCapability(a: E1000Adapter): void {
  if (a.msixEntries) {
    pci_disable_msix(a.pdev);
    a.msixEntries = null;
  } else if (a.msiEnabled) {
    pci_disable_msi(a.pdev);
    a.msiEnabled = false;
  }
}

function irqDisable(a: E1000Adapter): void {
  a.ew32(D.REG.IMC, 0xffffffff);
  if (a.msixEntries) a.ew32(D.REG.EIAC, 0);
  a.hw.flush();
  if (a.msixEntries) for (const e of a.msixEntries) synchronize_irq(a.kernel, e.vector);
  else synchronize_irq(a.kernel, a.pdev.irq);
}

function irqEnable(a: E1000Adapter): void {
  if (a.msixEntries) {
    a.ew32(D.REG.EIAC, a.eiacMask);
    a.ew32(D.REG.IMS, a.eiacMask | D.ICR_OTHER | IMS_OTHER_MASK);
  } else {
    a.ew32(D.REG.IMS, IMS_ENABLE_MASK);
  }
  a.hw.flush();
}

function eitrValue(itr: number): number {
  return itr ? Math.floor(1_000_000_000 / (itr * 256)) : 1;
}

/** e1000_configure_msix: IVAR, EITR, CTRL_EXT (EIAME, PBA_CLR, IAME clear). */
function configureMsix(a: E1000Adapter): void {
  a.ew32(D.REG.RFCTL, a.er32(D.REG.RFCTL) | D.RFCTL_ACK_DIS);
  a.eiacMask = 0;
  a.rxRing.imsVal = D.ICR_RXQ0;
  a.eiacMask |= a.rxRing.imsVal;
  a.rxRing.itrRegister = D.EITR(0);
  a.ew32(a.rxRing.itrRegister, eitrValue(a.rxRing.itrVal));
  let ivar = D.IVAR_VALID | 0;
  a.txRing.imsVal = D.ICR_TXQ0;
  a.eiacMask |= a.txRing.imsVal;
  a.txRing.itrRegister = D.EITR(1);
  a.ew32(a.txRing.itrRegister, eitrValue(a.txRing.itrVal));
  ivar |= (D.IVAR_VALID | 1) << 8;
  a.ew32(D.EITR(2), eitrValue(a.rxRing.itrVal)); // Other causes share the RX rate
  ivar |= (D.IVAR_VALID | 2) << 16;
  a.ew32(D.REG.IVAR, (ivar | D.IVAR_TX_INT_EVERY_WB) >>> 0);
  let ctrlExt = a.er32(D.REG.CTRL_EXT) & ~D.CTRL_EXT_IAME;
  ctrlExt |= D.CTRL_EXT_PBA_CLR | D.CTRL_EXT_EIAME;
  a.ew32(D.REG.CTRL_EXT, ctrlExt);
  a.hw.flush();
}

function intrMsixRx(_irq: number, devId: unknown): number {
  const a = netdev_priv(devId as NetDevice<E1000Adapter>);
  if (a.rxRing.setItr) {
    a.ew32(a.rxRing.itrRegister, eitrValue(a.rxRing.itrVal));
    a.rxRing.setItr = false;
  }
  if (napi_schedule_prep(a.napi)) {
    a.totalRxBytes = 0;
    a.totalRxPackets = 0;
    __napi_schedule(a.napi);
  }
  return IRQ_HANDLED;
}

function intrMsixTx(_irq: number, devId: unknown): number {
  const a = netdev_priv(devId as NetDevice<E1000Adapter>);
  a.totalTxBytes = 0;
  a.totalTxPackets = 0;
  if (!cleanTxIrq(a)) a.ew32(D.REG.ICS, a.txRing.imsVal);
  if (!a.down) a.ew32(D.REG.IMS, a.txRing.imsVal);
  return IRQ_HANDLED;
}

function msixOther(_irq: number, devId: unknown): number {
  const a = netdev_priv(devId as NetDevice<E1000Adapter>);
  const icr = a.er32(D.REG.ICR);
  if (icr & a.eiacMask) a.ew32(D.REG.ICS, icr & a.eiacMask);
  if (icr & D.ICR_LSC) {
    a.hw.mac.getLinkStatus = true;
    if (!a.down) mod_timer(a.watchdogTimer, jiffies(a.kernel) + 1);
  }
  if (!a.down) a.ew32(D.REG.IMS, D.ICR_OTHER | IMS_OTHER_MASK);
  return IRQ_HANDLED;
}

/** e1000_intr_msi: MSI, and through intrLegacy, INTx. */
function intrMsi(_irq: number, devId: unknown): number {
  const a = netdev_priv(devId as NetDevice<E1000Adapter>);
  const icr = a.er32(D.REG.ICR);
  return handleLegacyCauses(a, icr);
}

function intrLegacy(_irq: number, devId: unknown): number {
  const a = netdev_priv(devId as NetDevice<E1000Adapter>);
  const icr = a.er32(D.REG.ICR);
  if (!(icr & D.ICR_INT_ASSERTED)) return IRQ_NONE; // not ours (shared line)
  return handleLegacyCauses(a, icr);
}

function handleLegacyCauses(a: E1000Adapter, icr: number): number {
  if (icr & D.ICR_LSC) {
    a.hw.mac.getLinkStatus = true;
    if (!a.down) mod_timer(a.watchdogTimer, jiffies(a.kernel) + 1);
  }
  if (napi_schedule_prep(a.napi)) {
    a.totalTxBytes = 0;
    a.totalTxPackets = 0;
    a.totalRxBytes = 0;
    a.totalRxPackets = 0;
    __napi_schedule(a.napi);
  }
  return IRQ_HANDLED;
}

function intrMsiTest(_irq: number, devId: unknown): number {
  const a = netdev_priv(devId as NetDevice<E1000Adapter>);
  const icr = a.er32(D.REG.ICR);
  if (icr & D.ICR_RXSEQ) a.msiTestFailed = false;
  return IRQ_HANDLED;
}

function requestIrq(a: E1000Adapter): number {
  const nd = a.netdev;
  if (a.msixEntries) {
    const e = a.msixEntries;
    let err = request_irq(a.kernel, e[0]!.vector, intrMsixRx, 0, `${nd.name}-rx-0`, nd);
    if (err) return err;
    err = request_irq(a.kernel, e[1]!.vector, intrMsixTx, 0, `${nd.name}-tx-0`, nd);
    if (err) {
      free_irq(a.kernel, e[0]!.vector, nd);
      return err;
    }
    err = request_irq(a.kernel, e[2]!.vector, msixOther, 0, nd.name, nd);
    if (err) {
      free_irq(a.kernel, e[0]!.vector, nd);
      free_irq(a.kernel, e[1]!.vector, nd);
      return err;
    }
    configureMsix(a);
    return 0;
  }
  if (a.msiEnabled) return request_irq(a.kernel, a.pdev.irq, intrMsi, 0, nd.name, nd);
  return request_irq(a.kernel, a.pdev.irq, intrLegacy, IRQF_SHARED, nd.name, nd);
}

function freeIrq(a: E1000Adapter): void {
  if (a.msixEntries) {
    for (const e of a.msixEntries) free_irq(a.kernel, e.vector, a.netdev);
    return;
  }
  free_irq(a.kernel, a.pdev.irq, a.netdev);
}

/** e1000_test_msi_interrupt: MSI must deliver an RXSEQ test interrupt within 100 ms. */
function testMsi(a: E1000Adapter): number {
  a.er32(D.REG.ICR);
  freeIrq(a);
  resetInterruptCapability(a);
  a.msiTestFailed = true;
  let err = pci_enable_msi(a.pdev);
  if (!err) {
    err = request_irq(a.kernel, a.pdev.irq, intrMsiTest, 0, a.netdev.name, a.netdev);
    if (err) {
      pci_disable_msi(a.pdev);
    } else {
      irqEnable(a);
      a.ew32(D.REG.ICS, D.ICR_RXSEQ);
      a.hw.flush();
      msleep(a.kernel, 100);
      irqDisable(a);
      if (a.msiTestFailed) {
        a.intMode = IntMode.LEGACY;
        netdev_info(a.netdev, 'MSI interrupt test failed, using legacy interrupt.');
      }
      free_irq(a.kernel, a.pdev.irq, a.netdev);
      pci_disable_msi(a.pdev);
    }
  }
  setInterruptCapability(a);
  return requestIrq(a);
}

// ---------------------------------------------------------------------------------------------
// Rings

function setupRing(a: E1000Adapter, ring: E1000Ring): number {
  // e1000e_setup_rx_resources sizes RX for packet-split descriptors whatever the MTU.
  ring.size = ring.count * (ring === a.rxRing ? RX_DESC_ALLOC : 16);
  ring.desc = dma_alloc_coherent(a.pdev, ring.size);
  if (!ring.desc) return -ENOMEM;
  ring.desc.cpu.fill(0);
  ring.view = new DataView(ring.desc.cpu.buffer, ring.desc.cpu.byteOffset, ring.size);
  ring.bufferInfo = Array.from({ length: ring.count }, newBuffer);
  ring.nextToUse = 0;
  ring.nextToClean = 0;
  return 0;
}

function freeRing(a: E1000Adapter, ring: E1000Ring): void {
  if (ring.desc) dma_free_coherent(a.pdev, ring.size, ring.desc.cpu, ring.desc.dma);
  ring.desc = null;
  ring.view = null;
  ring.bufferInfo = [];
}

function putTxBuf(a: E1000Adapter, bi: E1000Buffer): void {
  if (bi.dma) {
    dma_unmap_single(a.pdev, bi.dma, bi.length, DMA_TO_DEVICE);
    bi.dma = 0;
  }
  if (bi.skb) {
    dev_kfree_skb_any(bi.skb);
    bi.skb = null;
  }
  bi.timeStamp = 0;
  bi.nextToWatch = -1;
}

function cleanTxRing(a: E1000Adapter): void {
  const r = a.txRing;
  for (const bi of r.bufferInfo) putTxBuf(a, bi);
  a.txTailDirty = false;
  r.desc?.cpu.fill(0);
  r.nextToUse = 0;
  r.nextToClean = 0;
}

function cleanRxRing(a: E1000Adapter): void {
  const r = a.rxRing;
  for (const bi of r.bufferInfo) {
    if (bi.dma) {
      dma_unmap_single(a.pdev, bi.dma, bi.length, DMA_FROM_DEVICE);
      bi.dma = 0;
    }
    if (bi.skb) {
      dev_kfree_skb_any(bi.skb);
      bi.skb = null;
    }
    for (const ps of bi.psPages ?? []) {
      if (ps.dma) dma_unmap_page(a.pdev, ps.dma, PAGE_SIZE, DMA_FROM_DEVICE);
      ps.dma = 0;
      if (ps.page) put_page(a.kernel, ps.page);
      ps.page = null;
    }
  }
  r.desc?.cpu.fill(0);
  r.nextToUse = 0;
  r.nextToClean = 0;
  a.discarding = false;
}

/** e1000_configure_tx */
function configureTx(a: E1000Adapter): void {
  const r = a.txRing;
  const dma = r.desc!.dma;
  a.ew32(D.REG.TDBAL0, dma % 0x1_0000_0000);
  a.ew32(D.REG.TDBAH0, Math.floor(dma / 0x1_0000_0000));
  a.ew32(D.REG.TDLEN0, r.size);
  a.ew32(D.REG.TDH0, 0);
  a.ew32(D.REG.TDT0, 0);
  a.ew32(D.REG.TIDV, a.params.TxIntDelay);
  a.ew32(D.REG.TADV, a.params.TxAbsIntDelay);
  const txdctl = (a.er32(D.REG.TXDCTL0) & ~0x3f3f3f) | 0x0141011f;
  a.ew32(D.REG.TXDCTL0, txdctl);
  a.ew32(D.REG.TXDCTL1, txdctl);
  let tctl = a.er32(D.REG.TCTL);
  tctl &= ~(0xff << D.TCTL_CT_SHIFT);
  tctl |= D.TCTL_PSP | D.TCTL_RTLC | (15 << D.TCTL_CT_SHIFT);
  tctl = (tctl & ~D.TCTL_COLD_MASK) | (63 << D.TCTL_COLD_SHIFT);
  a.ew32(D.REG.TCTL, tctl & ~D.TCTL_EN); // enabled by the watchdog once link is up
  a.txdCmd = D.TXD_CMD_EOP | D.TXD_CMD_IFCS | D.TXD_CMD_RS;
  if (a.params.TxIntDelay) a.txdCmd |= D.TXD_CMD_IDE;
}

/** PAGE_USE_COUNT: pages needed for `size` bytes. */
function pageUseCount(size: number): number {
  return Math.ceil(size / PAGE_SIZE);
}

/** e1000_setup_rctl */
function setupRctl(a: E1000Adapter): void {
  let rctl = a.er32(D.REG.RCTL);
  rctl &= ~(3 << D.RCTL_MO_SHIFT);
  rctl |= D.RCTL_EN | D.RCTL_BAM | D.RCTL_SECRC;
  rctl &= ~(D.RCTL_LBM_MASK | D.RCTL_RDMTS_MASK | D.RCTL_SBP);
  if (a.netdev.mtu <= ETH_DATA_LEN) rctl &= ~D.RCTL_LPE;
  else rctl |= D.RCTL_LPE;
  rctl &= ~(D.RCTL_BSIZE_MASK | D.RCTL_BSEX | D.RCTL_DTYP_MASK);
  // 2048 (and the 1522 that LPE-off allows) use BSIZE 00; 4096 is BSIZE 11 with BSEX.
  if (a.rxBufferLen === 4096) rctl |= D.RCTL_BSIZE_MASK | D.RCTL_BSEX;
  a.ew32(D.REG.RFCTL, a.er32(D.REG.RFCTL) | D.RFCTL_EXTEN);
  // Packet split for jumbo frames whose buffers fit in three pages: the header in buffer 0,
  // the rest in up to three pages.
  const pages = pageUseCount(a.netdev.mtu);
  a.rxPsPages = pages <= PS_PAGE_BUFFERS && rctl & D.RCTL_LPE ? pages : 0;
  if (a.rxPsPages) {
    rctl |= D.RCTL_DTYP_PS;
    let psrctl = a.rxPsBsize0 >>> 7;
    const kb = PAGE_SIZE / 1024;
    if (a.rxPsPages >= 3) psrctl |= kb << D.PSRCTL_BSIZE3_SHIFT;
    if (a.rxPsPages >= 2) psrctl |= kb << D.PSRCTL_BSIZE2_SHIFT;
    psrctl |= kb << D.PSRCTL_BSIZE1_SHIFT;
    a.ew32(D.REG.PSRCTL, psrctl);
  }
  a.crcStripping = (rctl & D.RCTL_SECRC) !== 0;
  a.ew32(D.REG.RCTL, rctl);
}

/** e1000_configure_rx */
function configureRx(a: E1000Adapter): void {
  const r = a.rxRing;
  const rctl = a.er32(D.REG.RCTL);
  a.ew32(D.REG.RCTL, rctl & ~D.RCTL_EN);
  a.hw.flush();
  msleep(a.kernel, 10);
  a.ew32(D.REG.RDTR, a.params.RxIntDelay);
  a.ew32(D.REG.RADV, a.params.RxAbsIntDelay);
  if (a.itrSetting !== 0) a.ew32(D.REG.ITR, eitrValue(a.itr));
  a.ew32(D.REG.IAM, 0xffffffff);
  const dma = r.desc!.dma;
  a.ew32(D.REG.RDBAL0, dma % 0x1_0000_0000);
  a.ew32(D.REG.RDBAH0, Math.floor(dma / 0x1_0000_0000));
  // 32-byte descriptors with packet split, 16-byte extended ones otherwise.
  a.ew32(D.REG.RDLEN0, r.count * (a.rxPsPages ? D.RX_PS_DESC_SIZE : D.RX_DESC_SIZE));
  a.ew32(D.REG.RDH0, 0);
  a.ew32(D.REG.RDT0, 0);
  let rxcsum = a.er32(D.REG.RXCSUM);
  if (a.netdev.features & NETIF_F_RXCSUM) rxcsum |= D.RXCSUM_TUOFL;
  else rxcsum &= ~D.RXCSUM_TUOFL;
  a.ew32(D.REG.RXCSUM, rxcsum);
  a.ew32(D.REG.RXDCTL0, 0x01040420);
  a.ew32(D.REG.RXDCTL1, 0x01040420);
  // e1000e_setup_rss_hash: a fixed key, one queue, RSS hash reported in the descriptor.
  for (let i = 0; i < D.NUM_RSSRK; i++) a.ew32(D.REG.RSSRK + 4 * i, (0x6d5a56da + i * 0x1010101) >>> 0);
  for (let i = 0; i < D.NUM_RETA; i++) a.ew32(D.REG.RETA + 4 * i, 0);
  a.ew32(D.REG.RXCSUM, a.er32(D.REG.RXCSUM) | D.RXCSUM_PCSD);
  a.ew32(D.REG.MRQC, 0x00370000);
  a.ew32(D.REG.RCTL, rctl);
}

/** adapter->alloc_rx_buf: packet split or extended descriptors. */
function allocRxBuffers(a: E1000Adapter, cleanedCount: number): void {
  if (a.rxPsPages) allocRxBuffersPs(a, cleanedCount);
  else allocRxBuffersExt(a, cleanedCount);
}

/** e1000_alloc_rx_buffers_ps: a header buffer and `rxPsPages` pages per 32-byte descriptor. */
function allocRxBuffersPs(a: E1000Adapter, cleanedCount: number): void {
  const r = a.rxRing;
  const v = r.view!;
  let i = r.nextToUse;
  outer: while (cleanedCount-- > 0) {
    const bi = r.bufferInfo[i]!;
    const base = i * D.RX_PS_DESC_SIZE;
    bi.psPages ??= Array.from({ length: PS_PAGE_BUFFERS }, () => ({ page: null, dma: 0 }));
    for (let j = 0; j < PS_PAGE_BUFFERS; j++) {
      const at = base + (j + 1) * 8;
      if (j >= a.rxPsPages) {
        // Unused buffers get the hardware's null pointer.
        v.setUint32(at, 0xffffffff, true);
        v.setUint32(at + 4, 0xffffffff, true);
        continue;
      }
      const ps = bi.psPages[j]!;
      if (!ps.page) {
        ps.page = alloc_page(a.kernel);
        if (!ps.page) break outer;
        ps.dma = dma_map_page(a.pdev, ps.page.phys, 0, PAGE_SIZE, DMA_FROM_DEVICE);
        if (dma_mapping_error(a.pdev, ps.dma)) {
          put_page(a.kernel, ps.page);
          ps.page = null;
          ps.dma = 0;
          break outer;
        }
      }
      // Refreshed every time: each write-back overwrites the addresses.
      v.setUint32(at, ps.dma % 0x1_0000_0000, true);
      v.setUint32(at + 4, Math.floor(ps.dma / 0x1_0000_0000), true);
    }
    if (!bi.skb) {
      const skb = netdev_alloc_skb_ip_align(a.netdev, a.rxPsBsize0);
      if (!skb) break;
      bi.skb = skb;
    }
    if (!bi.dma) {
      bi.dma = dma_map_single(a.pdev, bi.skb.dataPhys(), a.rxPsBsize0, DMA_FROM_DEVICE);
      bi.length = a.rxPsBsize0;
      if (dma_mapping_error(a.pdev, bi.dma)) {
        bi.dma = 0;
        break;
      }
    }
    v.setUint32(base, bi.dma % 0x1_0000_0000, true);
    v.setUint32(base + 4, Math.floor(bi.dma / 0x1_0000_0000), true);
    // RDT counts 16-byte units: a 32-byte descriptor is two.
    if (!(i & (E1000_RX_BUFFER_WRITE - 1))) a.ew32(r.tail, i << 1);
    i++;
    if (i === r.count) i = 0;
  }
  r.nextToUse = i;
}

/** e1000_alloc_rx_buffers (extended descriptors). */
function allocRxBuffersExt(a: E1000Adapter, cleanedCount: number): void {
  const r = a.rxRing;
  const v = r.view!;
  let i = r.nextToUse;
  while (cleanedCount-- > 0) {
    const bi = r.bufferInfo[i]!;
    let skb = bi.skb;
    if (skb) {
      skb_trim(skb, 0);
    } else {
      skb = netdev_alloc_skb_ip_align(a.netdev, a.rxBufferLen);
      if (!skb) break; // try again on the next clean
      bi.skb = skb;
    }
    if (!bi.dma) {
      bi.dma = dma_map_single(a.pdev, skb.dataPhys(), a.rxBufferLen, DMA_FROM_DEVICE);
      bi.length = a.rxBufferLen;
      if (dma_mapping_error(a.pdev, bi.dma)) {
        bi.dma = 0;
        break;
      }
    }
    v.setUint32(i * 16, bi.dma % 0x1_0000_0000, true);
    v.setUint32(i * 16 + 4, Math.floor(bi.dma / 0x1_0000_0000), true);
    v.setUint32(i * 16 + 8, 0, true);
    v.setUint32(i * 16 + 12, 0, true);
    if (!(i & (E1000_RX_BUFFER_WRITE - 1))) a.ew32(r.tail, i);
    i++;
    if (i === r.count) i = 0;
  }
  r.nextToUse = i;
}

/** e1000_configure + e1000e_up's ring set-up. */
function configure(a: E1000Adapter): void {
  setRxMode(a.netdev);
  if (a.netdev.features & NETIF_F_HW_VLAN_CTAG_RX) a.ew32(D.REG.CTRL, a.er32(D.REG.CTRL) | D.CTRL_VME);
  configureTx(a);
  setupRctl(a);
  configureRx(a);
  allocRxBuffers(a, a.rxRing.unused());
}

// ---------------------------------------------------------------------------------------------
// Receive

/** e1000_rx_checksum */
function rxChecksum(a: E1000Adapter, staterr: number, skb: SkBuff): void {
  skb_checksum_none_assert(skb);
  if (!(a.netdev.features & NETIF_F_RXCSUM)) return;
  if (staterr & D.RXD_STAT_IXSM) return;
  if (staterr & (D.RXDEXT_ERR_TCPE | D.RXDEXT_ERR_IPE)) {
    a.sw.rxCsumErr++;
    return;
  }
  if (!(staterr & (D.RXD_STAT_TCPCS | D.RXD_STAT_UDPCS))) return;
  skb.ip_summed = CHECKSUM_UNNECESSARY;
  a.sw.rxCsumGood++;
}

/** e1000_receive_skb: checksum status, protocol, VLAN tag, then up the stack through GRO. */
function receiveSkb(a: E1000Adapter, skb: SkBuff, staterr: number, vlan: number, length: number): void {
  rxChecksum(a, staterr, skb);
  skb.protocol = eth_type_trans(skb, a.netdev);
  if (staterr & D.RXD_STAT_VP) __vlan_hwaccel_put_tag(skb, ETH_P_8021Q, vlan);
  skb_record_rx_queue(skb, 0);
  a.sw.rxPackets++;
  a.sw.rxBytes += length;
  napi_gro_receive(a.napi, skb);
}

/** adapter->clean_rx: packet split or extended descriptors. */
function cleanRxIrq(a: E1000Adapter, budget: number): number {
  return a.rxPsPages ? cleanRxIrqPs(a, budget) : cleanRxIrqExt(a, budget);
}

/**
 * e1000_clean_rx_irq_ps: the header from buffer 0 and the rest from the pages. Linux hangs the
 * pages off the skb as fragments; kernel-glue's skbs are linear, so the frame is copied into a
 * fresh skb and the header buffer and pages stay on the descriptor. Unlike Linux, lengths
 * beyond the buffers the driver gave are refused, not trusted.
 */
function cleanRxIrqPs(a: E1000Adapter, budget: number): number {
  const r = a.rxRing;
  const v = r.view!;
  const SZ = D.RX_PS_DESC_SIZE;
  let i = r.nextToClean;
  let workDone = 0;
  let cleanedCount = 0;
  let totalBytes = 0;
  let totalPackets = 0;
  let staterr = v.getUint32(i * SZ + 8, true);
  while (staterr & D.RXD_STAT_DD) {
    if (workDone >= budget) break;
    workDone++;
    const base = i * SZ;
    const bi = r.bufferInfo[i]!;
    i++;
    if (i === r.count) i = 0;
    cleanedCount++;
    const length0 = v.getUint16(base + 12, true);
    const vlan = v.getUint16(base + 14, true);
    const lens = [v.getUint16(base + 18, true), v.getUint16(base + 20, true), v.getUint16(base + 22, true)];
    let why = '';
    if (!(staterr & D.RXD_STAT_EOP)) why = "Packet Split buffers didn't pick up the full packet";
    else if (staterr & D.RXDEXT_ERR_FRAME_ERR_MASK) why = 'frame error';
    else if (!length0) why = 'Last part of the packet spanning multiple descriptors';
    else if (length0 > a.rxPsBsize0 || lens.some((l, j) => l > PAGE_SIZE || (l > 0 && j >= a.rxPsPages))) why = 'length beyond its buffer';
    let length = length0 + lens[0]! + lens[1]! + lens[2]!;
    if (!why && !a.crcStripping) length -= 4;
    if (!why && length < 14) why = 'runt';
    const skb = why ? null : napi_alloc_skb(a.napi, length);
    if (!skb) {
      a.sw.rxDiscards++;
      if (why) netdev_dbg(a.netdev, why);
    } else {
      // The device owns the buffers until DD; the CPU may read them now.
      dma_sync_single_for_cpu(a.pdev, bi.dma, a.rxPsBsize0, DMA_FROM_DEVICE);
      const hdr = bi.skb!;
      let at = skb.data;
      let left = length;
      const take = (src: Uint8Array, n: number): void => {
        const k = Math.min(n, left);
        skb.buf.set(src.subarray(0, k), at);
        at += k;
        left -= k;
      };
      take(hdr.buf.subarray(hdr.data), length0);
      for (let j = 0; j < PS_PAGE_BUFFERS && left > 0; j++) if (lens[j]) take(bi.psPages![j]!.page!.buf, lens[j]!);
      skb_put(skb, length);
      totalBytes += length;
      totalPackets++;
      receiveSkb(a, skb, staterr, vlan, length);
    }
    v.setUint32(base + 8, v.getUint32(base + 8, true) & ~0xff, true);
    if (cleanedCount >= E1000_RX_BUFFER_WRITE) {
      r.nextToClean = i;
      allocRxBuffers(a, cleanedCount);
      cleanedCount = 0;
    }
    staterr = v.getUint32(i * SZ + 8, true);
  }
  return finishRxClean(a, i, workDone, totalBytes, totalPackets);
}

/** e1000_clean_rx_irq with extended descriptors: at most `budget` frames. */
function cleanRxIrqExt(a: E1000Adapter, budget: number): number {
  const r = a.rxRing;
  const v = r.view!;
  let i = r.nextToClean;
  let workDone = 0;
  let cleanedCount = 0;
  let totalBytes = 0;
  let totalPackets = 0;
  let staterr = v.getUint32(i * 16 + 8, true);
  while (staterr & D.RXD_STAT_DD) {
    if (workDone >= budget) break;
    workDone++;
    const bi = r.bufferInfo[i]!;
    let skb = bi.skb!;
    bi.skb = null;
    const length0 = v.getUint16(i * 16 + 12, true);
    const vlan = v.getUint16(i * 16 + 14, true);
    const descIdx = i;
    i++;
    if (i === r.count) i = 0;
    cleanedCount++;
    dma_unmap_single(a.pdev, bi.dma, bi.length, DMA_FROM_DEVICE);
    bi.dma = 0;
    let length = length0;
    let deliver = true;
    if (!(staterr & D.RXD_STAT_EOP)) a.discarding = true;
    if (a.discarding) {
      // Frames spanning several buffers are not expected at this MTU: drop all of it.
      if (staterr & D.RXD_STAT_EOP) a.discarding = false;
      deliver = false;
    } else if (staterr & D.RXDEXT_ERR_FRAME_ERR_MASK) {
      deliver = false;
    } else if (length > a.rxBufferLen || length < 14) {
      deliver = false; // a device must never report more than the buffer holds
    }
    if (!deliver) {
      a.sw.rxDiscards++;
      bi.skb = skb; // recycle the buffer
    } else {
      if (!a.crcStripping) length -= 4;
      totalBytes += length;
      totalPackets++;
      if (length < a.params.copybreak) {
        const ns = napi_alloc_skb(a.napi, length);
        if (ns) {
          ns.buf.set(skb.buf.subarray(skb.data, skb.data + length), ns.data);
          bi.skb = skb; // keep the big buffer
          skb = ns;
        }
      }
      skb_put(skb, length);
      receiveSkb(a, skb, staterr, vlan, length);
    }
    v.setUint32(descIdx * 16 + 8, v.getUint32(descIdx * 16 + 8, true) & ~0xff, true);
    if (cleanedCount >= E1000_RX_BUFFER_WRITE) {
      r.nextToClean = i;
      allocRxBuffers(a, cleanedCount);
      cleanedCount = 0;
    }
    staterr = v.getUint32(i * 16 + 8, true);
  }
  return finishRxClean(a, i, workDone, totalBytes, totalPackets);
}

/** The end of either clean_rx: where to go on, buffers back to the device, totals for ITR. */
function finishRxClean(a: E1000Adapter, nextToClean: number, workDone: number, bytes: number, packets: number): number {
  const r = a.rxRing;
  r.nextToClean = nextToClean;
  const unused = r.unused();
  if (unused) allocRxBuffers(a, unused);
  a.totalRxBytes += bytes;
  a.totalRxPackets += packets;
  return workDone;
}

// ---------------------------------------------------------------------------------------------
// Transmit

/** e1000_clean_tx_irq: reclaims completed descriptors; returns true when the ring was fully cleaned. */
function cleanTxIrq(a: E1000Adapter): boolean {
  const r = a.txRing;
  const v = r.view;
  if (!v) return true;
  let i = r.nextToClean;
  let count = 0;
  let totalBytes = 0;
  let totalPackets = 0;
  let eop = r.bufferInfo[i]!.nextToWatch;
  while (eop >= 0 && v.getUint32(eop * 16 + 12, true) & D.TXD_STAT_DD && count < r.count) {
    let cleaned = false;
    for (; !cleaned; count++) {
      const bi = r.bufferInfo[i]!;
      cleaned = i === eop;
      if (cleaned) {
        totalPackets += bi.segs;
        totalBytes += bi.bytecount;
      }
      putTxBuf(a, bi);
      v.setUint32(i * 16 + 12, 0, true);
      i++;
      if (i === r.count) i = 0;
    }
    if (i === r.nextToUse) break;
    eop = r.bufferInfo[i]!.nextToWatch;
  }
  r.nextToClean = i;
  if (count && netif_carrier_ok(a.netdev) && r.unused() >= TX_WAKE_THRESHOLD) {
    if (netif_queue_stopped(a.netdev) && !a.down) {
      netif_wake_queue(a.netdev);
      a.sw.restartQueue++;
    }
  }
  if (a.detectTxHung) {
    // A buffer stale for a watchdog period while the MAC is not paused is a hang.
    a.detectTxHung = false;
    const bi = r.bufferInfo[i]!;
    if (bi.timeStamp && time_after(jiffies(a.kernel), bi.timeStamp + a.netdev.watchdog_timeo) && !(a.er32(D.REG.STATUS) & D.STATUS_TXOFF)) {
      if (!a.txHangRecheck) {
        a.txHangRecheck = true; // re-check after flushing descriptors, like print_hang_task
        a.ew32(D.REG.TIDV, a.params.TxIntDelay | 0x80000000);
      } else {
        a.sw.txHangs++;
        netdev_err(a.netdev, `Detected Hardware Unit Hang: TDH <${a.er32(D.REG.TDH0)}> TDT <${a.er32(D.REG.TDT0)}> next_to_use <${r.nextToUse}> next_to_clean <${r.nextToClean}>`);
        netif_stop_queue(a.netdev);
      }
    } else {
      a.txHangRecheck = false;
    }
  }
  a.totalTxBytes += totalBytes;
  a.totalTxPackets += totalPackets;
  a.sw.txBytes += totalBytes;
  a.sw.txPackets += totalPackets;
  return count < r.count;
}

function maybeStopTx(a: E1000Adapter, size: number): number {
  if (a.txRing.unused() >= size) return 0;
  netif_stop_queue(a.netdev);
  if (a.txRing.unused() < size) return -EBUSY;
  netif_start_queue(a.netdev);
  a.sw.restartQueue++;
  return 0;
}

const TX_FLAGS_CSUM = 1;
const TX_FLAGS_VLAN = 2;
const TX_FLAGS_TSO = 4;
const TX_FLAGS_IPV4 = 8;

function getU16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function putU16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function putContextDesc(a: E1000Adapter, f: { ipcss: number; ipcso: number; ipcse: number; tucss: number; tucso: number; tucse: number; cmdLen: number; hdrLen: number; mss: number }): void {
  const r = a.txRing;
  const v = r.view!;
  const i = r.nextToUse;
  const o = i * 16;
  v.setUint8(o, f.ipcss);
  v.setUint8(o + 1, f.ipcso);
  v.setUint16(o + 2, f.ipcse, true);
  v.setUint8(o + 4, f.tucss);
  v.setUint8(o + 5, f.tucso);
  v.setUint16(o + 6, f.tucse, true);
  v.setUint32(o + 8, f.cmdLen >>> 0, true);
  v.setUint8(o + 12, 0);
  v.setUint8(o + 13, f.hdrLen);
  v.setUint16(o + 14, f.mss, true);
  const bi = r.bufferInfo[i]!;
  bi.timeStamp = jiffies(a.kernel);
  bi.nextToWatch = i;
  r.nextToUse = i + 1 === r.count ? 0 : i + 1;
}

/** e1000_tso: returns 1 when a TSO context was queued, 0 for a non-GSO skb. */
function tso(a: E1000Adapter, skb: SkBuff, protocol: number): number {
  if (!skb.gso_size) return 0;
  const b = skb.buf;
  const d = skb.data;
  const nh = d + skb_network_offset(skb);
  const th = d + skb_transport_offset(skb);
  const hdrLen = skb_transport_offset(skb) + tcp_hdrlen(skb);
  const mss = skb.gso_size;
  let cmdLen = D.TXD_CMD_DEXT | D.TXD_CMD_TSE | D.TXD_CMD_TCP | (skb.len - hdrLen);
  let ipcse = 0;
  if (protocol === ETH_P_IP) {
    putU16(b, nh + 2, 0); // tot_len
    putU16(b, nh + 10, 0); // check
    putU16(b, th + 16, ~csum_tcpudp_magic(b, nh + 12, nh + 16, 0, IPPROTO_TCP) & 0xffff);
    cmdLen |= D.TXD_CMD_IP;
    ipcse = skb_transport_offset(skb) - 1;
  } else if (skb.gso_type & 0x10 /* SKB_GSO_TCPV6 */) {
    putU16(b, nh + 4, 0); // payload_len
    putU16(b, th + 16, ~csum_ipv6_magic(b, nh + 8, nh + 24, 0, IPPROTO_TCP) & 0xffff);
  }
  putContextDesc(a, {
    ipcss: skb_network_offset(skb),
    ipcso: skb_network_offset(skb) + 10,
    ipcse,
    tucss: skb_transport_offset(skb),
    tucso: skb_transport_offset(skb) + 16,
    tucse: 0,
    cmdLen,
    hdrLen,
    mss,
  });
  return 1;
}

/** e1000_tx_csum: a context for generic checksum insertion from csum_start. */
function txCsum(a: E1000Adapter, skb: SkBuff, protocol: number): boolean {
  if (skb.ip_summed !== CHECKSUM_PARTIAL) return false;
  let cmdLen = D.TXD_CMD_DEXT;
  const nh = skb.data + skb_network_offset(skb);
  if (protocol === ETH_P_IP) {
    if (skb.buf[nh + 9] === IPPROTO_TCP) cmdLen |= D.TXD_CMD_TCP;
  } else if (protocol === ETH_P_IPV6) {
    if (skb.buf[nh + 6] === IPPROTO_TCP) cmdLen |= D.TXD_CMD_TCP;
  }
  const css = skb_checksum_start_offset(skb);
  putContextDesc(a, { ipcss: 0, ipcso: 0, ipcse: 0, tucss: css, tucso: css + skb.csum_offset, tucse: 0, cmdLen, hdrLen: 0, mss: 0 });
  return true;
}

/** e1000_tx_map: one data descriptor per 4 KiB of the linear buffer. Returns descriptors used. */
function txMap(a: E1000Adapter, skb: SkBuff, first: number): number {
  const r = a.txRing;
  let len = skb.len;
  let offset = 0;
  let count = 0;
  let i = r.nextToUse;
  let bi: E1000Buffer | null = null;
  while (len) {
    bi = r.bufferInfo[i]!;
    const size = Math.min(len, E1000_MAX_DATA_PER_TXD);
    bi.length = size;
    bi.timeStamp = jiffies(a.kernel);
    bi.nextToWatch = i;
    bi.dma = dma_map_single(a.pdev, skb.dataPhys() + offset, size, DMA_TO_DEVICE);
    if (dma_mapping_error(a.pdev, bi.dma)) {
      bi.dma = 0;
      // unwind what was mapped
      while (count-- > 0) {
        i = i === 0 ? r.count - 1 : i - 1;
        putTxBuf(a, r.bufferInfo[i]!);
      }
      return 0;
    }
    len -= size;
    offset += size;
    count++;
    if (len) {
      i++;
      if (i === r.count) i = 0;
    }
  }
  const segs = skb.gso_segs || 1;
  const headlen = skb_transport_offset(skb) + (skb.gso_size ? tcp_hdrlen(skb) : 0);
  bi!.skb = skb;
  bi!.segs = segs;
  bi!.bytecount = (segs - 1) * headlen + skb.len;
  r.bufferInfo[first]!.nextToWatch = i;
  return count;
}

/** e1000_tx_queue: writes the data descriptors and bumps TDT. */
function txQueue(a: E1000Adapter, flags: number, vlanTag: number, count: number): void {
  const r = a.txRing;
  const v = r.view!;
  let txdUpper = 0;
  let txdLower = D.TXD_CMD_IFCS;
  if (flags & TX_FLAGS_TSO) {
    txdLower |= D.TXD_CMD_DEXT | D.TXD_DTYP_D | D.TXD_CMD_TSE;
    txdUpper |= D.TXD_POPTS_TXSM << 8;
    if (flags & TX_FLAGS_IPV4) txdUpper |= D.TXD_POPTS_IXSM << 8;
  }
  if (flags & TX_FLAGS_CSUM) {
    txdLower |= D.TXD_CMD_DEXT | D.TXD_DTYP_D;
    txdUpper |= D.TXD_POPTS_TXSM << 8;
  }
  if (flags & TX_FLAGS_VLAN) {
    txdLower |= D.TXD_CMD_VLE;
    txdUpper |= vlanTag << 16;
  }
  let i = r.nextToUse;
  let last = i;
  while (count--) {
    const bi = r.bufferInfo[i]!;
    const o = i * 16;
    v.setUint32(o, bi.dma % 0x1_0000_0000, true);
    v.setUint32(o + 4, Math.floor(bi.dma / 0x1_0000_0000), true);
    v.setUint32(o + 8, (txdLower | bi.length) >>> 0, true);
    v.setUint32(o + 12, txdUpper >>> 0, true);
    last = i;
    i++;
    if (i === r.count) i = 0;
  }
  v.setUint32(last * 16 + 8, (v.getUint32(last * 16 + 8, true) | a.txdCmd) >>> 0, true);
  r.nextToUse = i;
}

function kickTx(a: E1000Adapter): void {
  a.txTailDirty = false;
  a.ew32(a.txRing.tail, a.txRing.nextToUse);
}

/** e1000_xmit_frame (ndo_start_xmit). */
function xmitFrame(skb: SkBuff, netdev: NetDevice<E1000Adapter>): number {
  const a = netdev_priv(netdev);
  const r = a.txRing;
  if (a.down) {
    dev_kfree_skb_any(skb);
    return NETDEV_TX_OK;
  }
  if (skb.len <= 0) {
    dev_kfree_skb_any(skb);
    return NETDEV_TX_OK;
  }
  // TCTL.PSP pads to 60 bytes on the wire; the stack still guarantees 17 (the 82574 minimum).
  if (skb_put_padto(skb, 17)) return NETDEV_TX_OK;
  let count = Math.ceil(skb.len / E1000_MAX_DATA_PER_TXD);
  if (skb.gso_size || skb.ip_summed === CHECKSUM_PARTIAL) count++;
  if (maybeStopTx(a, count + 2)) {
    a.sw.txBusy++;
    // A deferred doorbell must not be left behind when the stack is told to wait.
    if (a.txTailDirty) kickTx(a);
    return NETDEV_TX_BUSY;
  }
  let flags = 0;
  let vlanTag = 0;
  if (skb_vlan_tag_present(skb)) {
    flags |= TX_FLAGS_VLAN;
    vlanTag = skb_vlan_tag_get(skb);
  }
  const protocol = getU16(skb.buf, skb.data + 12);
  const first = r.nextToUse;
  const t = tso(a, skb, protocol);
  if (t) flags |= TX_FLAGS_TSO;
  else if (txCsum(a, skb, protocol)) flags |= TX_FLAGS_CSUM;
  if (protocol === ETH_P_IP) flags |= TX_FLAGS_IPV4;
  const n = txMap(a, skb, first);
  if (n) {
    txQueue(a, flags, vlanTag, n);
    a.txTailDirty = true;
    // Make sure there is room for the next send.
    maybeStopTx(a, DESC_NEEDED_MAX);
    // The doorbell waits for the last packet of a batch (netdev_xmit_more), as in Linux.
    if (!netdev_xmit_more() || netif_queue_stopped(netdev)) kickTx(a);
  } else {
    dev_kfree_skb_any(skb);
    r.bufferInfo[first]!.timeStamp = 0;
    r.bufferInfo[first]!.nextToWatch = -1;
    r.nextToUse = first;
  }
  return NETDEV_TX_OK;
}

// ---------------------------------------------------------------------------------------------
// NAPI and interrupt moderation

function updateItr(itrSetting: Itr, packets: number, bytes: number): Itr {
  let ret = itrSetting;
  if (packets === 0) return itrSetting;
  switch (itrSetting) {
    case Itr.LOWEST_LATENCY:
      if (bytes / packets > 8000) ret = Itr.BULK_LATENCY;
      else if (packets < 5 && bytes > 512) ret = Itr.LOW_LATENCY;
      break;
    case Itr.LOW_LATENCY:
      if (bytes > 10000) {
        if (bytes / packets > 8000) ret = Itr.BULK_LATENCY;
        else if (packets < 10 || bytes / packets > 1200) ret = Itr.BULK_LATENCY;
        else if (packets > 35) ret = Itr.LOWEST_LATENCY;
      } else if (bytes / packets > 2000) ret = Itr.BULK_LATENCY;
      else if (packets <= 2 && bytes < 512) ret = Itr.LOWEST_LATENCY;
      break;
    case Itr.BULK_LATENCY:
      if (bytes > 25000) {
        if (packets > 35) ret = Itr.LOW_LATENCY;
      } else if (bytes < 6000) ret = Itr.LOW_LATENCY;
      break;
  }
  return ret;
}

/** e1000_set_itr: adaptive interrupt moderation. */
function setItr(a: E1000Adapter): void {
  let newItr: number;
  if (a.linkSpeed !== 1000) {
    newItr = 4000;
  } else {
    a.txItr = updateItr(a.txItr, a.totalTxPackets, a.totalTxBytes);
    if (a.itrSetting === 3 && a.txItr === Itr.LOWEST_LATENCY) a.txItr = Itr.LOW_LATENCY;
    a.rxItr = updateItr(a.rxItr, a.totalRxPackets, a.totalRxBytes);
    if (a.itrSetting === 3 && a.rxItr === Itr.LOWEST_LATENCY) a.rxItr = Itr.LOW_LATENCY;
    const cur = Math.max(a.rxItr, a.txItr);
    newItr = cur === Itr.LOWEST_LATENCY ? 70000 : cur === Itr.LOW_LATENCY ? 20000 : 4000;
  }
  if (newItr !== a.itr) {
    newItr = newItr > a.itr ? Math.min(a.itr + (newItr >> 2), newItr) : newItr;
    a.itr = newItr;
    a.rxRing.itrVal = newItr;
    if (a.msixEntries) a.rxRing.setItr = true;
    else a.ew32(D.REG.ITR, eitrValue(newItr));
  }
}

/** e1000e_poll */
function poll(napi: NapiStruct, budget: number): number {
  const a = netdev_priv(napi.dev as NetDevice<E1000Adapter>);
  let txCleaned = true;
  if (!a.msixEntries) txCleaned = cleanTxIrq(a);
  const workDone = cleanRxIrq(a, budget);
  if (!txCleaned || workDone === budget) return budget;
  if (napi_complete_done(napi, workDone)) {
    if (a.itrSetting & 3) setItr(a);
    if (!a.down) {
      if (a.msixEntries) a.ew32(D.REG.IMS, a.rxRing.imsVal);
      else irqEnable(a);
    }
  }
  return workDone;
}

// ---------------------------------------------------------------------------------------------
// Filters

/** e1000e_set_rx_mode (ndo_set_rx_mode) */
function setRxMode(netdev: NetDevice<E1000Adapter>): void {
  const a = netdev_priv(netdev);
  let rctl = a.er32(D.REG.RCTL);
  rctl &= ~(D.RCTL_UPE | D.RCTL_MPE);
  if (netdev.flags & IFF_PROMISC) {
    rctl |= D.RCTL_UPE | D.RCTL_MPE;
  } else {
    if (netdev.flags & IFF_ALLMULTI) rctl |= D.RCTL_MPE;
    else a.hw.updateMcAddrList(netdev.mc);
  }
  a.ew32(D.REG.RCTL, rctl);
}

// ---------------------------------------------------------------------------------------------
// Reset, up/down, watchdog

/** The 82574's packet buffer allocation for receive, in KB (e1000_82574_info.pba). */
const PBA_82574 = 32;

/** e1000e_reset */
function reset(a: E1000Adapter): void {
  const hw = a.hw;
  let pba = PBA_82574;
  a.ew32(D.REG.PBA, pba);
  if (a.maxFrameSize > VLAN_ETH_FRAME_LEN + ETH_FCS_LEN) {
    // Jumbo frames: room for two frames in the TX FIFO, taken from RX, which keeps one.
    const v = a.er32(D.REG.PBA);
    const txSpace = v >>> 16;
    pba = v & 0xffff;
    const minTx = Math.ceil(((a.maxFrameSize + 16 - ETH_FCS_LEN) * 2) / 1024);
    const minRx = Math.ceil(a.maxFrameSize / 1024);
    if (txSpace < minTx && minTx - txSpace < pba) {
      pba -= minTx - txSpace;
      if (pba < minRx) pba = minRx;
    }
    a.ew32(D.REG.PBA, pba);
  } else a.er32(D.REG.PBA);
  // XOFF when the receive buffer has room for one more full frame (or at 90%), XON 8 bytes lower.
  const hwm = Math.min(Math.floor((pba * 1024 * 9) / 10), pba * 1024 - a.maxFrameSize);
  hw.fc.highWater = hwm & D.FCRT_THRESHOLD_MASK;
  hw.fc.lowWater = hw.fc.highWater - 8;
  hw.fc.pauseTime = FC_PAUSE_TIME;
  hw.fc.sendXon = true;
  hw.fc.currentMode = hw.fc.requestedMode;
  a.hw.resetHw();
  a.ew32(D.REG.CTRL_EXT, a.er32(D.REG.CTRL_EXT) | D.CTRL_EXT_DRV_LOAD);
  a.ew32(D.REG.WUC, 0);
  if (a.hw.initHw()) netdev_err(a.netdev, 'Hardware Error');
  a.ew32(D.REG.VET, ETH_P_8021Q);
  a.ew32(D.REG.AIT, 0);
  if (!netif_running(a.netdev)) a.hw.powerDownPhy();
  const r25 = a.hw.readPhyReg(25);
  if (r25 >= 0) a.hw.writePhyReg(25, r25 & ~1);
}

/** e1000e_up */
function up(a: E1000Adapter): void {
  configure(a);
  a.down = false;
  if (a.msixEntries) configureMsix(a);
  napi_enable(a.napi);
  irqEnable(a);
  netif_start_queue(a.netdev);
  a.hw.mac.getLinkStatus = true;
  triggerLsc(a);
  armWatchdogFallback(a);
}

/**
 * Beyond Linux: Linux arms the watchdog only from the LSC interrupt that triggerLsc asks for.
 * If that interrupt is lost (a write or a message dropped, as after a surprise removal that
 * ends), the watchdog never runs again and nothing brings the link back (driver fuzz
 * finding). A fallback timer two seconds out covers it; the LSC handler's mod_timer brings it
 * forward as usual.
 */
function armWatchdogFallback(a: E1000Adapter): void {
  if (a.params.recoveryBeyondLinux && !a.down && !timer_pending(a.watchdogTimer)) mod_timer(a.watchdogTimer, round_jiffies(jiffies(a.kernel) + 2 * HZ));
}

/** e1000e_trigger_lsc: a software LSC starts link detection through the Other vector. */
function triggerLsc(a: E1000Adapter): void {
  if (a.msixEntries) a.ew32(D.REG.ICS, D.ICR_LSC | D.ICR_OTHER);
  else a.ew32(D.REG.ICS, D.ICR_LSC);
}

/** e1000e_down */
function down(a: E1000Adapter, doReset: boolean): void {
  a.down = true;
  a.ew32(D.REG.RCTL, a.er32(D.REG.RCTL) & ~D.RCTL_EN);
  netif_stop_queue(a.netdev);
  a.ew32(D.REG.TCTL, a.er32(D.REG.TCTL) & ~D.TCTL_EN);
  a.hw.flush();
  msleep(a.kernel, 10);
  irqDisable(a);
  napi_disable(a.napi);
  del_timer_sync(a.watchdogTimer);
  netif_carrier_off(a.netdev);
  a.linkSpeed = 0;
  a.hw.updateStats();
  if (doReset) reset(a);
  cleanTxRing(a);
  cleanRxRing(a);
}

function watchdogTimerFn(_t: TimerList, a: E1000Adapter): void {
  schedule_work(a.watchdogTask);
}

/** e1000_watchdog_task */
function watchdogTask(a: E1000Adapter): void {
  if (a.down) return;
  const nd = a.netdev;
  const link = a.hw.checkForLink();
  if (link && !netif_carrier_ok(nd)) {
    a.hw.getSpeedAndDuplex();
    a.linkSpeed = a.hw.speed;
    a.linkDuplexFull = a.hw.fullDuplex;
    for (const reg of [D.PHY.BMCR, D.PHY.BMSR, D.PHY.ANAR, D.PHY.ANLPAR, D.PHY.ANER, D.PHY.GCR_1000T, D.PHY.GSR_1000T, D.PHY.EXT_STATUS]) a.hw.readPhyReg(reg);
    // e1000_print_link_info: the flow-control mode as the MAC was programmed.
    const ctrl = a.er32(D.REG.CTRL);
    const fc = ctrl & D.CTRL_TFCE && ctrl & D.CTRL_RFCE ? 'Rx/Tx' : ctrl & D.CTRL_RFCE ? 'Rx' : ctrl & D.CTRL_TFCE ? 'Tx' : 'None';
    netdev_info(nd, `NIC Link is Up ${a.linkSpeed} Mbps ${a.linkDuplexFull ? 'Full' : 'Half'} Duplex, Flow Control: ${fc}`);
    if (a.linkSpeed !== 1000) nd.features &= ~(NETIF_F_TSO | NETIF_F_TSO6);
    a.ew32(D.REG.TCTL, a.er32(D.REG.TCTL) | D.TCTL_EN);
    netif_carrier_on(nd);
  } else if (!link && netif_carrier_ok(nd)) {
    a.linkSpeed = 0;
    netdev_info(nd, 'NIC Link is Down');
    netif_carrier_off(nd);
  }
  a.hw.updateStats();
  if (!netif_carrier_ok(nd) && a.txRing.unused() + 1 < a.txRing.count) {
    // Work queued with no link: reset to flush it.
    a.restartNow = true;
  }
  if (a.restartNow) {
    a.restartNow = false;
    schedule_work(a.resetTask);
    return;
  }
  if (a.msixEntries && a.params.recoveryBeyondLinux) {
    // Beyond Linux: a lost MSI-X message leaves its cause auto-masked (EIAC) until a handler
    // or NAPI completion re-enables it, which then never comes, and the ICS below would be
    // masked too. Re-enable the causes whose handler is not running (driver fuzz finding).
    let ims = D.ICR_OTHER | IMS_OTHER_MASK | a.txRing.imsVal;
    if (!(a.napi.state & NAPI_STATE_SCHED)) ims |= a.rxRing.imsVal;
    a.ew32(D.REG.IMS, ims);
    a.ew32(D.REG.ICS, a.rxRing.imsVal);
  } else if (a.msixEntries) a.ew32(D.REG.ICS, a.rxRing.imsVal);
  else a.ew32(D.REG.ICS, D.ICR_RXDMT0);
  a.ew32(D.REG.TIDV, a.params.TxIntDelay | 0x80000000);
  a.ew32(D.REG.RDTR, a.params.RxIntDelay | 0x80000000);
  a.detectTxHung = true;
  if (!a.down) mod_timer(a.watchdogTimer, round_jiffies(jiffies(a.kernel) + 2 * HZ));
}

/** e1000_reset_task / e1000e_reinit_locked */
function resetTask(a: E1000Adapter): void {
  if (a.down) return;
  a.sw.resets++;
  down(a, true);
  up(a);
}

function txTimeout(netdev: NetDevice<E1000Adapter>): void {
  const a = netdev_priv(netdev);
  a.sw.txTimeouts++;
  schedule_work(a.resetTask);
}

// ---------------------------------------------------------------------------------------------
// net_device_ops

/** e1000e_change_mtu: jumbo frames up to the 82574's 9234-byte frames, the rings rebuilt for them. */
function changeMtu(netdev: NetDevice<E1000Adapter>, newMtu: number): number {
  const a = netdev_priv(netdev);
  const maxFrame = newMtu + VLAN_ETH_HLEN + ETH_FCS_LEN;
  if (maxFrame > MAX_HW_FRAME_SIZE) {
    netdev_err(netdev, 'Unsupported MTU setting');
    return -EINVAL;
  }
  a.maxFrameSize = maxFrame;
  netdev_dbg(netdev, `changing MTU from ${netdev.mtu} to ${newMtu}`);
  netdev.mtu = newMtu;
  const running = netif_running(netdev);
  if (running) down(a, true);
  a.rxBufferLen = maxFrame <= 2048 ? 2048 : 4096;
  if (maxFrame <= VLAN_ETH_FRAME_LEN + ETH_FCS_LEN) a.rxBufferLen = VLAN_ETH_FRAME_LEN + ETH_FCS_LEN;
  if (running) up(a);
  else reset(a);
  return 0;
}

function open(netdev: NetDevice<E1000Adapter>): number {
  const a = netdev_priv(netdev);
  netif_carrier_off(netdev);
  let err = setupRing(a, a.txRing);
  if (err) return err;
  err = setupRing(a, a.rxRing);
  if (err) {
    freeRing(a, a.txRing);
    return err;
  }
  a.hw.powerUpPhy();
  configure(a);
  err = requestIrq(a);
  if (err) {
    cleanRxRing(a);
    freeRing(a, a.rxRing);
    freeRing(a, a.txRing);
    reset(a);
    return err;
  }
  if (a.intMode !== IntMode.LEGACY && !a.msixEntries) {
    err = testMsi(a);
    if (err) {
      cleanRxRing(a);
      freeRing(a, a.rxRing);
      freeRing(a, a.txRing);
      return err;
    }
  }
  a.down = false;
  napi_enable(a.napi);
  irqEnable(a);
  netif_start_queue(netdev);
  a.hw.mac.getLinkStatus = true;
  triggerLsc(a);
  armWatchdogFallback(a);
  return 0;
}

function close(netdev: NetDevice<E1000Adapter>): number {
  const a = netdev_priv(netdev);
  netif_carrier_off(netdev);
  if (!a.down) {
    down(a, true);
    freeIrq(a);
    netdev_info(netdev, 'NIC Link is Down');
  }
  a.hw.powerDownPhy();
  // e1000e_free_tx/rx_resources clean their rings before freeing them.
  cleanTxRing(a);
  freeRing(a, a.txRing);
  cleanRxRing(a);
  freeRing(a, a.rxRing);
  return 0;
}

/** e1000e_get_stats64: ip -s link figures come from the hardware counters. */
function getStats64(netdev: NetDevice<E1000Adapter>, stats: RtnlLinkStats64): void {
  const a = netdev_priv(netdev);
  if (!a.down) a.hw.updateStats();
  const s = a.hw.stats;
  stats.rx_packets = s.gprc;
  stats.rx_bytes = s.gorc;
  stats.tx_packets = s.gptc;
  stats.tx_bytes = s.gotc;
  stats.multicast = s.mprc;
  stats.collisions = s.colc;
  stats.rx_errors = s.rxerrc + s.crcerrs + s.algnerrc + s.ruc + s.roc;
  stats.rx_length_errors = s.ruc + s.roc;
  stats.rx_crc_errors = s.crcerrs;
  stats.rx_missed_errors = s.mpc;
}

// ---------------------------------------------------------------------------------------------
// probe / remove

/** e1000_probe */
function probe(pdev: PciDev, params: E1000eParams): number {
  const kernel = pdev.kernel;
  let err = pci_enable_device_mem(pdev);
  if (err) return err;
  dma_set_mask_and_coherent(pdev, DMA_BIT_MASK(64));
  // ASPM L0s/L1 off: the 82574 has errata with them.
  pcie_capability_clear_word(pdev, PCI_EXP_LNKCTL, 0x3);
  pcie_capability_read_word(pdev, PCI_EXP_LNKSTA);
  const bars = pci_select_bars(pdev, IORESOURCE_MEM);
  err = pci_request_selected_regions(pdev, bars, DRV_NAME);
  if (err) {
    pci_disable_device(pdev);
    return err;
  }
  pci_set_master(pdev);
  const hwAddr = pci_ioremap_bar(pdev, 0);
  if (!hwAddr) {
    pci_release_selected_regions(pdev, bars);
    pci_disable_device(pdev);
    return -EIO;
  }
  let adapter!: E1000Adapter;
  const netdev = alloc_etherdev<E1000Adapter>(kernel, null as unknown as E1000Adapter);
  adapter = new E1000Adapter(kernel, pdev, netdev, hwAddr, params);
  netdev.priv = adapter;
  pci_set_drvdata(pdev, netdev);
  netdev.netdev_ops = {
    ndo_open: open,
    ndo_stop: close,
    ndo_start_xmit: xmitFrame,
    ndo_set_rx_mode: setRxMode,
    ndo_get_stats64: getStats64,
    ndo_tx_timeout: txTimeout,
    ndo_change_mtu: changeMtu,
  };
  netdev.min_mtu = ETH_MIN_MTU;
  netdev.max_mtu = MAX_HW_FRAME_SIZE - (VLAN_ETH_HLEN + ETH_FCS_LEN);
  netdev.watchdog_timeo = 5 * HZ;
  adapter.napi = netif_napi_add(netdev, poll, 64);

  const fail = (code: number): number => {
    netif_napi_del(adapter.napi);
    resetInterruptCapability(adapter);
    iounmap(hwAddr);
    free_netdev(netdev);
    pci_clear_master(pdev);
    pci_release_selected_regions(pdev, bars);
    pci_disable_device(pdev);
    return code;
  };

  // e1000_sw_init
  setInterruptCapability(adapter);
  irqDisable(adapter);
  const hw = adapter.hw;
  hw.er32(D.REG.STATUS);
  hw.ew32(D.REG.SWSM, hw.er32(D.REG.SWSM) & ~D.SWSM_SMBI);
  if (hw.initNvmParams()) {
    netdev_err(netdev, 'NVM is flash, not supported on this part');
    return fail(-EIO);
  }
  if (hw.getPhyId()) {
    netdev_err(netdev, `PHY ID mismatch (0x${hw.phy.id.toString(16)})`);
    return fail(-EIO);
  }
  const manc = hw.er32(D.REG.MANC);
  if (manc & D.MANC_BLK_PHY_RST_ON_IDE) netdev_info(netdev, 'PHY reset is blocked due to SOL/IDER session.');
  hw.resetHw();
  let nvmOk = false;
  for (let i = 0; i < 3 && !nvmOk; i++) nvmOk = hw.validateNvmChecksum() === 0;
  if (!nvmOk) {
    netdev_err(netdev, 'The NVM Checksum Is Not Valid');
    return fail(-EIO);
  }
  hw.readMacAddr();
  const m = hw.mac.addr;
  if (m.every((b) => b === 0) || m[0]! & 1) {
    netdev_err(netdev, 'Invalid MAC Address');
    return fail(-EIO);
  }
  netdev.dev_addr.set(m);
  netdev.perm_addr.set(hw.mac.permAddr);
  netdev.features |= NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_TSO | NETIF_F_TSO6 | NETIF_F_RXCSUM | NETIF_F_HW_VLAN_CTAG_TX | NETIF_F_HW_VLAN_CTAG_RX;
  netdev.hw_features = netdev.features;
  timer_setup(kernel, adapter.watchdogTimer, (t) => watchdogTimerFn(t, adapter), 0);
  INIT_WORK(kernel, adapter.watchdogTask, () => watchdogTask(adapter));
  INIT_WORK(kernel, adapter.resetTask, () => resetTask(adapter));
  reset(adapter);
  err = register_netdev(netdev);
  if (err) return fail(err);
  netif_carrier_off(netdev);
  netdev_info(netdev, `(PCI Express:2.5GT/s:Width x1) ${Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':')}`);
  netdev_info(netdev, 'Intel(R) PRO/1000 Network Connection');
  return 0;
}

/** e1000_remove */
function remove(pdev: PciDev): void {
  const netdev = pci_get_drvdata<NetDevice<E1000Adapter>>(pdev);
  const a = netdev_priv(netdev);
  // Keep the timers from re-arming while they are cancelled, then restore the state so
  // that close (from unregister_netdev) still takes the interface down properly.
  const wasDown = a.down;
  a.down = true;
  del_timer_sync(a.watchdogTimer);
  cancel_work_sync(a.resetTask);
  cancel_work_sync(a.watchdogTask);
  a.down = wasDown;
  unregister_netdev(netdev);
  // Release control of the hardware to firmware, as Linux does.
  a.ew32(D.REG.CTRL_EXT, a.er32(D.REG.CTRL_EXT) & ~D.CTRL_EXT_DRV_LOAD);
  resetInterruptCapability(a);
  netif_napi_del(a.napi);
  iounmap(a.hw.hwAddr);
  pci_release_selected_regions(pdev, pci_select_bars(pdev, IORESOURCE_MEM));
  free_netdev(netdev);
  pci_clear_master(pdev);
  pci_disable_device(pdev);
}

/** Makes the pci_driver for given module parameters (the module's init). */
export function e1000eDriver(params: Partial<E1000eParams> = {}): PciDriver {
  const p = { ...DEFAULT_PARAMS, ...params };
  return {
    name: DRV_NAME,
    id_table: [PCI_DEVICE(D.PCI_VENDOR_INTEL, D.PCI_DEVICE_82574L), PCI_DEVICE(D.PCI_VENDOR_INTEL, 0x10f6)],
    probe: (pdev) => probe(pdev, p),
    remove,
  };
}

/** module_init / module_exit */
export function e1000e_init_module(kernel: Kernel, params: Partial<E1000eParams> = {}): PciDriver {
  const drv = e1000eDriver(params);
  pci_register_driver(kernel, drv);
  return drv;
}

export function e1000e_exit_module(kernel: Kernel, drv: PciDriver): void {
  pci_unregister_driver(kernel, drv);
}

/** The adapter behind a probed netdev (tests, counters view). */
export function adapterOf(netdev: NetDevice<unknown>): E1000Adapter {
  return netdev_priv(netdev as NetDevice<E1000Adapter>);
}

