// Intel 82574L register offsets, bit fields and descriptor layouts (datasheet §10, Linux regs.h/defines.h).
// Leaf module: imports nothing, so both the device model and our driver can include it.

/* eslint-disable @typescript-eslint/naming-convention */

export const PCI_VENDOR_INTEL = 0x8086;
export const PCI_DEVICE_82574L = 0x10d3;

/** Receive and transmit queues of the 82574L; their register blocks are 0x100 apart. */
export const NUM_QUEUES = 2;
// Per-queue register offsets, as Linux's regs.h has E1000_RDBAL(n) and friends (queues 0..1 here).
export const RDBAL = (n: number): number => 0x02800 + n * 0x100;
export const RDBAH = (n: number): number => 0x02804 + n * 0x100;
export const RDLEN = (n: number): number => 0x02808 + n * 0x100;
export const RDH = (n: number): number => 0x02810 + n * 0x100;
export const RDT = (n: number): number => 0x02818 + n * 0x100;
export const RXDCTL = (n: number): number => 0x02828 + n * 0x100;
export const TDBAL = (n: number): number => 0x03800 + n * 0x100;
export const TDBAH = (n: number): number => 0x03804 + n * 0x100;
export const TDLEN = (n: number): number => 0x03808 + n * 0x100;
export const TDH = (n: number): number => 0x03810 + n * 0x100;
export const TDT = (n: number): number => 0x03818 + n * 0x100;
export const TXDCTL = (n: number): number => 0x03828 + n * 0x100;
export const TARC = (n: number): number => 0x03840 + n * 0x100;

/** Register offsets in BAR 0 (byte offsets, 32-bit registers). */
export const REG = {
  CTRL: 0x00000,
  CTRL_DUP: 0x00004,
  STATUS: 0x00008,
  EECD: 0x00010,
  EERD: 0x00014,
  CTRL_EXT: 0x00018,
  FLA: 0x0001c,
  MDIC: 0x00020,
  SCTL: 0x00024,
  FCAL: 0x00028,
  FCAH: 0x0002c,
  FCT: 0x00030,
  KMRNCTRLSTA: 0x00034,
  VET: 0x00038,
  ICR: 0x000c0,
  ITR: 0x000c4,
  ICS: 0x000c8,
  IMS: 0x000d0,
  IMC: 0x000d8,
  EIAC: 0x000dc,
  IAM: 0x000e0,
  IVAR: 0x000e4,
  EITR0: 0x000e8,
  EITR1: 0x000ec,
  EITR2: 0x000f0,
  EITR3: 0x000f4,
  EITR4: 0x000f8,
  RCTL: 0x00100,
  FCTTV: 0x00170,
  TXCW: 0x00178,
  RXCW: 0x00180,
  TCTL: 0x00400,
  TCTL_EXT: 0x00404,
  TIPG: 0x00410,
  AIT: 0x00458,
  LEDCTL: 0x00e00,
  EXTCNF_CTRL: 0x00f00,
  EXTCNF_SIZE: 0x00f08,
  PHY_CTRL: 0x00f10,
  PBA: 0x01000,
  PBS: 0x01008,
  PBECCSTS: 0x0100c,
  EEMNGCTL: 0x01010,
  EEWR: 0x0102c,
  FLOP: 0x0103c,
  ERT: 0x02008,
  FCRTL: 0x02160,
  FCRTH: 0x02168,
  PSRCTL: 0x02170,
  RDFH: 0x02410,
  RDFT: 0x02418,
  RDFHS: 0x02420,
  RDFTS: 0x02428,
  RDFPC: 0x02430,
  RDBAL0: RDBAL(0),
  RDBAH0: RDBAH(0),
  RDLEN0: RDLEN(0),
  RDH0: RDH(0),
  RDT0: RDT(0),
  RDTR: 0x02820,
  RXDCTL0: RXDCTL(0),
  RADV: 0x0282c,
  RDBAL1: RDBAL(1),
  RDBAH1: RDBAH(1),
  RDLEN1: RDLEN(1),
  RDH1: RDH(1),
  RDT1: RDT(1),
  RXDCTL1: RXDCTL(1),
  RSRPD: 0x02c00,
  RAID: 0x02c08,
  TXDMAC: 0x03000,
  TDFH: 0x03410,
  TDFT: 0x03418,
  TDFHS: 0x03420,
  TDFTS: 0x03428,
  TDFPC: 0x03430,
  TDBAL0: TDBAL(0),
  TDBAH0: TDBAH(0),
  TDLEN0: TDLEN(0),
  TDH0: TDH(0),
  TDT0: TDT(0),
  TIDV: 0x03820,
  TXDCTL0: TXDCTL(0),
  TADV: 0x0382c,
  TARC0: TARC(0),
  TDBAL1: TDBAL(1),
  TDBAH1: TDBAH(1),
  TDLEN1: TDLEN(1),
  TDH1: TDH(1),
  TDT1: TDT(1),
  TXDCTL1: TXDCTL(1),
  TARC1: TARC(1),
  // Statistics (clear on read).
  CRCERRS: 0x04000,
  ALGNERRC: 0x04004,
  SYMERRS: 0x04008,
  RXERRC: 0x0400c,
  MPC: 0x04010,
  SCC: 0x04014,
  ECOL: 0x04018,
  MCC: 0x0401c,
  LATECOL: 0x04020,
  COLC: 0x04028,
  DC: 0x04030,
  TNCRS: 0x04034,
  SEC: 0x04038,
  CEXTERR: 0x0403c,
  RLEC: 0x04040,
  XONRXC: 0x04048,
  XONTXC: 0x0404c,
  XOFFRXC: 0x04050,
  XOFFTXC: 0x04054,
  FCRUC: 0x04058,
  PRC64: 0x0405c,
  PRC127: 0x04060,
  PRC255: 0x04064,
  PRC511: 0x04068,
  PRC1023: 0x0406c,
  PRC1522: 0x04070,
  GPRC: 0x04074,
  BPRC: 0x04078,
  MPRC: 0x0407c,
  GPTC: 0x04080,
  GORCL: 0x04088,
  GORCH: 0x0408c,
  GOTCL: 0x04090,
  GOTCH: 0x04094,
  RNBC: 0x040a0,
  RUC: 0x040a4,
  RFC: 0x040a8,
  ROC: 0x040ac,
  RJC: 0x040b0,
  MGTPRC: 0x040b4,
  MGTPDC: 0x040b8,
  MGTPTC: 0x040bc,
  TORL: 0x040c0,
  TORH: 0x040c4,
  TOTL: 0x040c8,
  TOTH: 0x040cc,
  TPR: 0x040d0,
  TPT: 0x040d4,
  PTC64: 0x040d8,
  PTC127: 0x040dc,
  PTC255: 0x040e0,
  PTC511: 0x040e4,
  PTC1023: 0x040e8,
  PTC1522: 0x040ec,
  MPTC: 0x040f0,
  BPTC: 0x040f4,
  TSCTC: 0x040f8,
  TSCTFC: 0x040fc,
  IAC: 0x04100,
  ICRXPTC: 0x04104,
  ICRXATC: 0x04108,
  ICTXPTC: 0x0410c,
  ICTXATC: 0x04110,
  ICTXQEC: 0x04118,
  ICTXQMTC: 0x0411c,
  ICRXDMTC: 0x04120,
  ICRXOC: 0x04124,
  RXCSUM: 0x05000,
  RFCTL: 0x05008,
  MTA: 0x05200, // 128 entries
  RAL0: 0x05400, // RAL(n) = 0x5400 + 8n
  RAH0: 0x05404,
  VFTA: 0x05600, // 128 entries
  WUC: 0x05800,
  WUFC: 0x05808,
  WUS: 0x05810,
  MRQC: 0x05818,
  MANC: 0x05820,
  IPAV: 0x05838,
  MANC2H: 0x05860,
  GCR: 0x05b00,
  FACTPS: 0x05b30,
  SWSM: 0x05b50,
  FWSM: 0x05b54,
  SW_FW_SYNC: 0x05b5c,
  GCR2: 0x05b64,
  RETA: 0x05c00, // 32 entries
  RSSRK: 0x05c80, // 10 entries
  SYSTIML: 0x0b600,
  SYSTIMH: 0x0b604,
  TIMINCA: 0x0b608,
  TSYNCTXCTL: 0x0b614,
  TSYNCRXCTL: 0x0b620,
} as const;

export const NUM_MTA = 128;
export const NUM_VFTA = 128;
export const NUM_RAR = 16;
export const NUM_RETA = 32;
export const NUM_RSSRK = 10;

export const RAL = (n: number): number => REG.RAL0 + 8 * n;
export const RAH = (n: number): number => REG.RAH0 + 8 * n;
export const MTA = (n: number): number => REG.MTA + 4 * n;
export const VFTA = (n: number): number => REG.VFTA + 4 * n;
export const EITR = (n: number): number => REG.EITR0 + 4 * n;

// CTRL
export const CTRL_FD = 0x00000001;
export const CTRL_GIO_MASTER_DISABLE = 0x00000004;
export const CTRL_LRST = 0x00000008;
export const CTRL_ASDE = 0x00000020;
export const CTRL_SLU = 0x00000040;
export const CTRL_ILOS = 0x00000080;
export const CTRL_SPD_SEL = 0x00000300;
export const CTRL_SPD_1000 = 0x00000200;
export const CTRL_FRCSPD = 0x00000800;
export const CTRL_FRCDPX = 0x00001000;
export const CTRL_SWDPIN0 = 0x00040000;
export const CTRL_SWDPIN1 = 0x00080000;
export const CTRL_SWDPIN2 = 0x00100000;
export const CTRL_ADVD3WUC = 0x00100000;
export const CTRL_SWDPIN3 = 0x00200000;
export const CTRL_RST = 0x04000000;
export const CTRL_RFCE = 0x08000000;
export const CTRL_TFCE = 0x10000000;
export const CTRL_VME = 0x40000000;
export const CTRL_PHY_RST = 0x80000000;

// STATUS
export const STATUS_FD = 0x00000001;
export const STATUS_LU = 0x00000002;
export const STATUS_TXOFF = 0x00000010;
export const STATUS_SPEED_MASK = 0x000000c0;
export const STATUS_SPEED_10 = 0x00000000;
export const STATUS_SPEED_100 = 0x00000040;
export const STATUS_SPEED_1000 = 0x00000080;
export const STATUS_ASDV_1000 = 0x00000200;
export const STATUS_PHYRA = 0x00000400;
export const STATUS_GIO_MASTER_ENABLE = 0x00080000;

// EECD / EERD
export const EECD_PRES = 0x00000100;
export const EECD_AUTO_RD = 0x00000200;
export const EECD_SIZE_EX_MASK = 0x00007800;
export const EECD_SIZE_EX_SHIFT = 11;
export const EECD_FLASH_DETECTED_MASK = 0x00018000; // bits 16:15 both set = flash
export const EERD_START = 0x00000001;
export const EERD_DONE = 0x00000002;
export const EERD_ADDR_SHIFT = 2;
export const EERD_DATA_SHIFT = 16;

// CTRL_EXT
export const CTRL_EXT_EE_RST = 0x00002000;
export const CTRL_EXT_SPD_BYPS = 0x00008000;
export const CTRL_EXT_RO_DIS = 0x00020000;
export const CTRL_EXT_DMA_DYN_CLK_EN = 0x00080000;
export const CTRL_EXT_PHYPDEN = 0x00100000;
export const CTRL_EXT_EIAME = 0x01000000;
export const CTRL_EXT_IAME = 0x08000000;
export const CTRL_EXT_DRV_LOAD = 0x10000000;
export const CTRL_EXT_PBA_CLR = 0x80000000;

// MDIC
export const MDIC_DATA_MASK = 0x0000ffff;
export const MDIC_REG_MASK = 0x001f0000;
export const MDIC_REG_SHIFT = 16;
export const MDIC_PHY_MASK = 0x03e00000;
export const MDIC_PHY_SHIFT = 21;
export const MDIC_OP_WRITE = 0x04000000;
export const MDIC_OP_READ = 0x08000000;
export const MDIC_READY = 0x10000000;
export const MDIC_INT_EN = 0x20000000;
export const MDIC_ERROR = 0x40000000;
export const MDIC_PHY_ADDR = 1;

export const EXTCNF_CTRL_SWFLAG = 0x00000020;
export const SWSM_SMBI = 0x00000001;
export const SWSM_SWESMBI = 0x00000002;
export const MANC_RCV_TCO_EN = 0x00020000;
export const MANC_BLK_PHY_RST_ON_IDE = 0x00040000;

// Interrupt causes (ICR/ICS/IMS/IMC)
export const ICR_TXDW = 0x00000001;
export const ICR_TXQE = 0x00000002;
export const ICR_LSC = 0x00000004;
export const ICR_RXSEQ = 0x00000008;
export const ICR_RXDMT0 = 0x00000010;
export const ICR_RXO = 0x00000040;
export const ICR_RXT0 = 0x00000080;
export const ICR_MDAC = 0x00000200;
export const ICR_TXD_LOW = 0x00008000;
export const ICR_SRPD = 0x00010000;
export const ICR_ACK = 0x00020000;
export const ICR_MNG = 0x00040000;
export const ICR_RXQ0 = 0x00100000;
export const ICR_RXQ1 = 0x00200000;
export const ICR_TXQ0 = 0x00400000;
export const ICR_TXQ1 = 0x00800000;
export const ICR_OTHER = 0x01000000;
export const ICR_INT_ASSERTED = 0x80000000;
/** Causes that, under MSI-X, also raise OTHER. */
export const ICR_OTHER_CAUSES = ICR_LSC | ICR_RXO | ICR_MDAC | ICR_SRPD | ICR_ACK | ICR_MNG;

/** ICR/IMS bits by their datasheet names, low bit first (traces and the counters view). */
export const ICR_BIT_NAMES: readonly (readonly [number, string])[] = [
  [ICR_TXDW, 'TXDW'], [ICR_TXQE, 'TXQE'], [ICR_LSC, 'LSC'], [ICR_RXSEQ, 'RXSEQ'], [ICR_RXDMT0, 'RXDMT0'], [ICR_RXO, 'RXO'],
  [ICR_RXT0, 'RXT0'], [ICR_MDAC, 'MDAC'], [ICR_TXD_LOW, 'TXD_LOW'], [ICR_SRPD, 'SRPD'], [ICR_ACK, 'ACK'], [ICR_MNG, 'MNG'],
  [ICR_RXQ0, 'RXQ0'], [ICR_RXQ1, 'RXQ1'], [ICR_TXQ0, 'TXQ0'], [ICR_TXQ1, 'TXQ1'], [ICR_OTHER, 'OTHER'], [ICR_INT_ASSERTED, 'INT_ASSERTED'],
];

/** `RXQ0|OTHER`-style names of the ICR/IMS bits set in `bits` (unnamed bits as hex). */
export function icrBitNames(bits: number): string {
  const names: string[] = [];
  let rest = bits >>> 0;
  for (const [b, n] of ICR_BIT_NAMES) {
    if (rest & b) {
      names.push(n);
      rest = (rest & ~b) >>> 0;
    }
  }
  if (rest) names.push(`0x${rest.toString(16)}`);
  return names.length ? names.join('|') : '0';
}

/** IVAR: 4-bit entries (vector in 2:0, valid bit 3) for RXQ0, RXQ1, TXQ0, TXQ1, OTHER. */
export const IVAR_VALID = 0x8;
export const IVAR_TX_INT_EVERY_WB = 0x80000000;
export const IVAR_RXQ0_SHIFT = 0;
export const IVAR_RXQ1_SHIFT = 4;
export const IVAR_TXQ0_SHIFT = 8;
export const IVAR_TXQ1_SHIFT = 12;
export const IVAR_OTHER_SHIFT = 16;

// RCTL
export const RCTL_EN = 0x00000002;
export const RCTL_SBP = 0x00000004;
export const RCTL_UPE = 0x00000008;
export const RCTL_MPE = 0x00000010;
export const RCTL_LPE = 0x00000020;
export const RCTL_LBM_MASK = 0x000000c0;
/** RCTL.LBM = 01: MAC loopback. */
export const RCTL_LBM_MAC = 0x00000040;
export const RCTL_RDMTS_MASK = 0x00000300;
export const RCTL_DTYP_MASK = 0x00000c00;
export const RCTL_DTYP_PS = 0x00000400;
export const RCTL_MO_MASK = 0x00003000;
export const RCTL_MO_SHIFT = 12;
export const RCTL_BAM = 0x00008000;
export const RCTL_BSIZE_MASK = 0x00030000;
export const RCTL_BSIZE_SHIFT = 16;
export const RCTL_VFE = 0x00040000;
export const RCTL_CFIEN = 0x00080000;
export const RCTL_CFI = 0x00100000;
export const RCTL_DPF = 0x00400000;
export const RCTL_PMCF = 0x00800000;
export const RCTL_BSEX = 0x02000000;
export const RCTL_SECRC = 0x04000000;

// TCTL
export const TCTL_EN = 0x00000002;
export const TCTL_PSP = 0x00000008;
export const TCTL_CT_SHIFT = 4;
export const TCTL_COLD_SHIFT = 12;
export const TCTL_COLD_MASK = 0x003ff000;
export const TCTL_RTLC = 0x01000000;
export const TCTL_MULR = 0x10000000;

export const TARC_ENABLE = 0x00000400; // bit 10: queue enabled (QEMU gates TX on it)

// RXCSUM / RFCTL
export const RXCSUM_PCSS_MASK = 0x000000ff;
export const RXCSUM_IPOFL = 0x00000100;
export const RXCSUM_TUOFL = 0x00000200;
export const RXCSUM_PCSD = 0x00002000;
export const RFCTL_NFSW_DIS = 0x00000040;
export const RFCTL_NFSR_DIS = 0x00000080;
export const RFCTL_IPV6_DIS = 0x00000400;
export const RFCTL_IPV6_XSUM_DIS = 0x00000800;
export const RFCTL_ACK_DIS = 0x00001000;
export const RFCTL_ACKD_DIS = 0x00002000;
/** Packet split of IP fragments disabled. */
export const RFCTL_IPFRSP_DIS = 0x00004000;
export const RFCTL_EXTEN = 0x00008000;
/** Packet split of IPv6 packets with extension headers disabled. */
export const RFCTL_IPV6_EX_DIS = 0x00010000;
export const RFCTL_NEW_IPV6_EXT_DIS = 0x00020000;

// PSRCTL: packet-split buffer sizes. BSIZE0 in 128-byte units, BSIZE1..3 in 1 KB units.
export const PSRCTL_BSIZE0_MASK = 0x0000007f;
export const PSRCTL_BSIZE1_MASK = 0x00003f00;
export const PSRCTL_BSIZE1_SHIFT = 8;
export const PSRCTL_BSIZE2_MASK = 0x003f0000;
export const PSRCTL_BSIZE2_SHIFT = 16;
export const PSRCTL_BSIZE3_MASK = 0x3f000000;
export const PSRCTL_BSIZE3_SHIFT = 24;
/** Packet-split write-back header status: header length and whether the packet was split. */
export const RXDPS_HDRSTAT_HDRSP = 0x8000;
export const RXDPS_HDRSTAT_HDRLEN_MASK = 0x03ff;

/** The 82574L's on-chip packet buffer, shared by receive (PBA.RXA) and transmit, in KB. */
export const PACKET_BUFFER_KB = 40;

/** Largest frame (without FCS, untagged) the 82574L takes with RCTL.LPE: Linux's max_hw_frame_size. */
export const MAX_JUMBO_FRAME = 9234;

// TXDCTL / RXDCTL
export const TXDCTL_GRAN = 0x01000000;
export const RXDCTL_GRAN = 0x01000000;

// Descriptor sizes
export const TX_DESC_SIZE = 16;
export const RX_DESC_SIZE = 16;
/** Packet-split receive descriptors take 32 bytes: two 16-byte units of RDH/RDT/RDLEN. */
export const RX_PS_DESC_SIZE = 32;

// TX descriptor command/type bits (in the lower dword, bits 31:20)
export const TXD_CMD_EOP = 0x01000000;
export const TXD_CMD_IFCS = 0x02000000;
export const TXD_CMD_IC = 0x04000000;
export const TXD_CMD_RS = 0x08000000;
export const TXD_CMD_RPS = 0x10000000;
export const TXD_CMD_DEXT = 0x20000000;
export const TXD_CMD_VLE = 0x40000000;
export const TXD_CMD_IDE = 0x80000000;
export const TXD_DTYP_MASK = 0x00f00000;
export const TXD_DTYP_C = 0x00000000;
export const TXD_DTYP_D = 0x00100000;
/** Context descriptor TUCMD bits. */
export const TXD_CMD_TCP = 0x01000000;
export const TXD_CMD_IP = 0x02000000;
export const TXD_CMD_TSE = 0x04000000;
export const TXD_LEN_MASK_LEGACY = 0x0000ffff;
export const TXD_LEN_MASK_EXT = 0x000fffff;
/** Data descriptor POPTS (in the upper dword, bits 15:8). */
export const TXD_POPTS_IXSM = 0x01;
export const TXD_POPTS_TXSM = 0x02;
export const TXD_STAT_DD = 0x00000001;

// RX extended write-back status/error bits (dword 2)
export const RXD_STAT_DD = 0x00000001;
export const RXD_STAT_EOP = 0x00000002;
export const RXD_STAT_IXSM = 0x00000004;
export const RXD_STAT_VP = 0x00000008;
export const RXD_STAT_UDPCS = 0x00000010;
export const RXD_STAT_TCPCS = 0x00000020;
export const RXD_STAT_IPCS = 0x00000040;
export const RXDEXT_ERR_CE = 0x01000000;
export const RXDEXT_ERR_SE = 0x02000000;
export const RXDEXT_ERR_SEQ = 0x04000000;
export const RXDEXT_ERR_CXE = 0x10000000;
export const RXDEXT_ERR_TCPE = 0x20000000;
export const RXDEXT_ERR_IPE = 0x40000000;
export const RXDEXT_ERR_RXE = 0x80000000;
export const RXDEXT_ERR_FRAME_ERR_MASK =
  RXDEXT_ERR_CE | RXDEXT_ERR_SE | RXDEXT_ERR_SEQ | RXDEXT_ERR_CXE | RXDEXT_ERR_RXE;

// PHY (MDIO) registers
export const PHY = {
  BMCR: 0,
  BMSR: 1,
  ID1: 2,
  ID2: 3,
  ANAR: 4,
  ANLPAR: 5,
  ANER: 6,
  NPTX: 7,
  LPRNP: 8,
  GCR_1000T: 9,
  GSR_1000T: 10,
  EXT_STATUS: 15,
  PSCR: 16,
  PSSR: 17,
  IER: 18,
  ISR: 19,
  EPSCR: 20,
  RXERR: 21,
  PAGE: 22,
  P25: 25,
  P26: 26,
  P29: 29,
  P30: 30,
} as const;
export const PHY_ID1_82574 = 0x0141;
export const PHY_ID2_82574 = 0x0cb1;
export const BMCR_RESET = 0x8000;
export const BMCR_LOOPBACK = 0x4000;
export const BMCR_ANENABLE = 0x1000;
export const BMCR_PDOWN = 0x0800;
export const BMCR_ANRESTART = 0x0200;
export const BMCR_FULLDPLX = 0x0100;
export const BMSR_LSTATUS = 0x0004;
export const BMSR_ANEGCOMPLETE = 0x0020;
export const ANLPAR_ACK = 0x4000;
export const PSSR_LINK = 0x0400;

// NVM
export const NVM_WORDS = 64;
export const NVM_CHECKSUM_REG = 0x3f;
export const NVM_SUM = 0xbaba;

/** Decodes RCTL's BSIZE/BSEX into the receive buffer size in bytes (0 = reserved encoding). */
const BSIZE_BSEX = [0, 16384, 8192, 4096];
const BSIZE_PLAIN = [2048, 1024, 512, 256];
export function rctlBufferSize(rctl: number): number {
  const bsize = (rctl & RCTL_BSIZE_MASK) >>> RCTL_BSIZE_SHIFT;
  return (rctl & RCTL_BSEX ? BSIZE_BSEX : BSIZE_PLAIN)[bsize]!;
}

// MRQC / RSS (datasheet §7.1.10; bit values as in Linux/FreeBSD e1000 defines.h E1000_MRQC_*,
// types and RETA use as in QEMU hw/net/e1000x_regs.h and e1000e_core.c).
/** MRQC.MRQE, bits 1:0: 00 = one receive queue, 01 = RSS over two queues (E1000_MRQC_RSS_ENABLE_2Q); 10/11 reserved. */
export const MRQC_MRQE_MASK = 0x00000003;
export const MRQC_MRQE_RSS = 0x00000001;
/** MRQC hash-field enables (bits 21:16). */
export const MRQC_RSS_FIELD_IPV4_TCP = 0x00010000;
export const MRQC_RSS_FIELD_IPV4 = 0x00020000;
export const MRQC_RSS_FIELD_IPV6_TCP_EX = 0x00040000;
export const MRQC_RSS_FIELD_IPV6_EX = 0x00080000;
export const MRQC_RSS_FIELD_IPV6 = 0x00100000;
/** Linux e1000e sets it (a define shared with the 82575); the 82574L hashes IPv6/TCP through TCP_EX only, as QEMU does. */
export const MRQC_RSS_FIELD_IPV6_TCP = 0x00200000;

/** RSS type in the extended receive write-back's MRQ field (bits 3:0; QEMU writes type | queue << 8). */
export const RSS_TYPE_NONE = 0;
export const RSS_TYPE_IPV4_TCP = 1;
export const RSS_TYPE_IPV4 = 2;
export const RSS_TYPE_IPV6_TCP_EX = 3;
export const RSS_TYPE_IPV6_EX = 4;
export const RSS_TYPE_IPV6 = 5;

/** RSSRK: 40 key bytes in 10 registers, key byte 0 in the low byte of RSSRK[0]. */
export const RSS_KEY_BYTES = 40;
/** RETA: 128 one-byte entries (4 per register, entry 0 in the low byte of RETA[0]), indexed by hash bits 6:0. */
export const RETA_ENTRIES = 128;
/** The 82574L's two queues: bit 7 of a RETA entry is the queue index (QEMU E1000_RSS_QUEUE). */
export const RETA_ENTRY_QUEUE_SHIFT = 7;

// 802.3x flow control (datasheet §3.7.5; Linux defines.h)
/** FCRTL.XONE: send XON when the receive buffer falls below the low threshold. */
export const FCRTL_XONE = 0x80000000;
/** FCRTH/FCRTL thresholds, in bytes with 8-byte granularity. */
export const FCRT_THRESHOLD_MASK = 0x0000fff8;
/** The MAC Control ethertype (FCT) and the PAUSE opcode. */
export const ETH_P_MAC_CONTROL = 0x8808;
export const MAC_CONTROL_PAUSE = 0x0001;
/** PAUSE frames' reserved multicast destination 01:80:C2:00:00:01 as FCAL/FCAH hold it. */
export const FLOW_CONTROL_ADDRESS_LOW = 0x00c28001;
export const FLOW_CONTROL_ADDRESS_HIGH = 0x0100;
/** A pause quantum is 512 bit times. */
export const PAUSE_QUANTUM_BITS = 512;
/** ANAR/ANLPAR pause advertisement bits (PHY registers 4 and 5). */
export const NWAY_AR_PAUSE = 0x0400;
export const NWAY_AR_ASM_DIR = 0x0800;
