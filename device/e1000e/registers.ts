// 82574L register map as data (datasheet §10.2): offset, name, access kind, reset value, writable mask.

import {
  REG, NUM_MTA, NUM_VFTA, NUM_RAR, NUM_RETA, NUM_RSSRK, NUM_QUEUES,
  RDBAL, RDBAH, RDLEN, RDH, RDT, RXDCTL, TDBAL, TDBAH, TDLEN, TDH, TDT, TXDCTL, TARC,
} from './defs.js';

/** How a register responds to plain reads and writes before any side-effect handler runs. */
export const enum Access {
  /** Read/write storage (writable bits given by the mask). */
  RW = 0,
  /** Read-only: writes are ignored and traced. */
  RO = 1,
  /** Statistics: read returns the value and clears it; writes ignored. */
  RC = 2,
  /** Write 1 to clear. */
  W1C = 3,
  /** Write-only: reads return 0 and are traced. */
  WO = 4,
}

/** One row of the register table. */
export interface RegDef {
  readonly name: string;
  readonly offset: number;
  readonly access: Access;
  readonly reset: number;
  /** Writable bits for RW registers (default all). */
  readonly mask: number;
  /** Survives CTRL.RST (PBA, PBS, FLA per the datasheet). */
  readonly keepOnSwReset?: boolean;
}

const rows: RegDef[] = [];
function r(name: string, offset: number, access: Access, reset = 0, mask = 0xffffffff, keepOnSwReset = false): void {
  rows.push({ name, offset, access, reset: reset >>> 0, mask: mask >>> 0, keepOnSwReset });
}
function arr(name: string, base: number, n: number, access: Access, reset = 0, stride = 4): void {
  for (let i = 0; i < n; i++) r(`${name}[${i}]`, base + i * stride, access, reset);
}

// General
r('CTRL', REG.CTRL, Access.RW, 0x00140240 | 0x00000001 | 0x00000200, 0xffffffff);
r('STATUS', REG.STATUS, Access.RO, 0x00000202 | 0x00080000);
r('EECD', REG.EECD, Access.RW, 0x00000300, 0x00000047); // SK/CS/DI/REQ writable; DO, GNT, PRES, AUTO_RD, size read-only
r('EERD', REG.EERD, Access.RW, 0x00000002);
r('CTRL_EXT', REG.CTRL_EXT, Access.RW, 0x00000000);
r('FLA', REG.FLA, Access.RW, 0, 0xffffffff, true);
r('MDIC', REG.MDIC, Access.RW, 0x10000000);
r('SCTL', REG.SCTL, Access.RW);
r('FCAL', REG.FCAL, Access.RW);
r('FCAH', REG.FCAH, Access.RW, 0, 0xffff);
r('FCT', REG.FCT, Access.RW, 0, 0xffff);
r('KMRNCTRLSTA', REG.KMRNCTRLSTA, Access.RW);
r('VET', REG.VET, Access.RW, 0x8100, 0xffff);
r('FCTTV', REG.FCTTV, Access.RW, 0, 0xffff);
r('TXCW', REG.TXCW, Access.RW);
r('RXCW', REG.RXCW, Access.RO);
r('LEDCTL', REG.LEDCTL, Access.RW, 0x07068302);
r('EXTCNF_CTRL', REG.EXTCNF_CTRL, Access.RW);
r('EXTCNF_SIZE', REG.EXTCNF_SIZE, Access.RW);
r('PHY_CTRL', REG.PHY_CTRL, Access.RW);
r('PBA', REG.PBA, Access.RW, 0x00140014, 0x0000ffff, true);
r('PBS', REG.PBS, Access.RW, 0x00000028, 0xffffffff, true);
r('PBECCSTS', REG.PBECCSTS, Access.RW);
r('EEMNGCTL', REG.EEMNGCTL, Access.RO, 0x00040000 | 0x00080000);
r('EEWR', REG.EEWR, Access.RW, 0x00000002);
r('FLOP', REG.FLOP, Access.RW);
r('GCR', REG.GCR, Access.RW);
r('GCR2', REG.GCR2, Access.RW);
r('FACTPS', REG.FACTPS, Access.RW);
r('SWSM', REG.SWSM, Access.RW);
r('FWSM', REG.FWSM, Access.RO);
r('SW_FW_SYNC', REG.SW_FW_SYNC, Access.RW);
r('MANC', REG.MANC, Access.RW);
r('MANC2H', REG.MANC2H, Access.RW);
r('IPAV', REG.IPAV, Access.RW);
r('WUC', REG.WUC, Access.RW);
r('WUFC', REG.WUFC, Access.RW);
r('WUS', REG.WUS, Access.W1C);
r('SYSTIML', REG.SYSTIML, Access.RO);
r('SYSTIMH', REG.SYSTIMH, Access.RO);
r('TIMINCA', REG.TIMINCA, Access.RW);
r('TSYNCTXCTL', REG.TSYNCTXCTL, Access.RW, 0, 0x00000010);
r('TSYNCRXCTL', REG.TSYNCRXCTL, Access.RW, 0, 0x0000001e);

// Interrupts
r('ICR', REG.ICR, Access.RW);
r('ITR', REG.ITR, Access.RW, 0, 0xffff);
r('ICS', REG.ICS, Access.WO);
r('IMS', REG.IMS, Access.RW);
r('IMC', REG.IMC, Access.WO);
r('EIAC', REG.EIAC, Access.RW, 0, 0x01f00000);
r('IAM', REG.IAM, Access.RW);
r('IVAR', REG.IVAR, Access.RW, 0, 0x800fffff);
arr('EITR', REG.EITR0, 5, Access.RW);

// Receive
r('RCTL', REG.RCTL, Access.RW, 0, 0x07ffffff & ~0x1);
r('ERT', REG.ERT, Access.RW);
r('FCRTL', REG.FCRTL, Access.RW);
r('FCRTH', REG.FCRTH, Access.RW);
r('PSRCTL', REG.PSRCTL, Access.RW, 0x00040402);
r('RDFH', REG.RDFH, Access.RW);
r('RDFT', REG.RDFT, Access.RW);
r('RDFHS', REG.RDFHS, Access.RW);
r('RDFTS', REG.RDFTS, Access.RW);
r('RDFPC', REG.RDFPC, Access.RW);
// Each receive queue's ring registers (RDBAL(n) .. RXDCTL(n)).
for (let n = 0; n < NUM_QUEUES; n++) {
  r(`RDBAL${n}`, RDBAL(n), Access.RW, 0, 0xfffffff0);
  r(`RDBAH${n}`, RDBAH(n), Access.RW);
  r(`RDLEN${n}`, RDLEN(n), Access.RW, 0, 0x000fff80);
  r(`RDH${n}`, RDH(n), Access.RW, 0, 0xffff);
  r(`RDT${n}`, RDT(n), Access.RW, 0, 0xffff);
  r(`RXDCTL${n}`, RXDCTL(n), Access.RW, 0x00010000);
}
r('RDTR', REG.RDTR, Access.RW, 0, 0xffff);
r('RADV', REG.RADV, Access.RW, 0, 0xffff);
r('RSRPD', REG.RSRPD, Access.RW, 0, 0xfff);
r('RAID', REG.RAID, Access.RW);
r('RXCSUM', REG.RXCSUM, Access.RW, 0x00000300, 0x00003fff);
r('RFCTL', REG.RFCTL, Access.RW);
r('MRQC', REG.MRQC, Access.RW);
arr('MTA', REG.MTA, NUM_MTA, Access.RW);
arr('VFTA', REG.VFTA, NUM_VFTA, Access.RW);
for (let i = 0; i < NUM_RAR; i++) {
  r(`RAL[${i}]`, REG.RAL0 + 8 * i, Access.RW);
  r(`RAH[${i}]`, REG.RAH0 + 8 * i, Access.RW, 0, 0x8003ffff);
}
arr('RETA', REG.RETA, NUM_RETA, Access.RW);
arr('RSSRK', REG.RSSRK, NUM_RSSRK, Access.RW);

// Transmit
r('TCTL', REG.TCTL, Access.RW, 0x3103f0f8 & ~0x2);
r('TCTL_EXT', REG.TCTL_EXT, Access.RW);
r('TIPG', REG.TIPG, Access.RW, 0x00602008);
r('AIT', REG.AIT, Access.RW, 0, 0xffff);
r('TXDMAC', REG.TXDMAC, Access.RW);
r('TDFH', REG.TDFH, Access.RW);
r('TDFT', REG.TDFT, Access.RW);
r('TDFHS', REG.TDFHS, Access.RW);
r('TDFTS', REG.TDFTS, Access.RW);
r('TDFPC', REG.TDFPC, Access.RW);
// Each transmit queue's ring registers (TDBAL(n) .. TARC(n)).
for (let n = 0; n < NUM_QUEUES; n++) {
  r(`TDBAL${n}`, TDBAL(n), Access.RW, 0, 0xfffffff0);
  r(`TDBAH${n}`, TDBAH(n), Access.RW);
  r(`TDLEN${n}`, TDLEN(n), Access.RW, 0, 0x000fff80);
  r(`TDH${n}`, TDH(n), Access.RW, 0, 0xffff);
  r(`TDT${n}`, TDT(n), Access.RW, 0, 0xffff);
  r(`TXDCTL${n}`, TXDCTL(n), Access.RW, 0x00010000);
  r(`TARC${n}`, TARC(n), Access.RW, 0x00000403);
}
r('TIDV', REG.TIDV, Access.RW, 0, 0x8000ffff);
r('TADV', REG.TADV, Access.RW, 0, 0xffff);

// Statistics: clear on read
const STAT_NAMES: [string, number][] = [
  ['CRCERRS', REG.CRCERRS], ['ALGNERRC', REG.ALGNERRC], ['SYMERRS', REG.SYMERRS], ['RXERRC', REG.RXERRC],
  ['MPC', REG.MPC], ['SCC', REG.SCC], ['ECOL', REG.ECOL], ['MCC', REG.MCC], ['LATECOL', REG.LATECOL],
  ['COLC', REG.COLC], ['DC', REG.DC], ['TNCRS', REG.TNCRS], ['SEC', REG.SEC], ['CEXTERR', REG.CEXTERR],
  ['RLEC', REG.RLEC], ['XONRXC', REG.XONRXC], ['XONTXC', REG.XONTXC], ['XOFFRXC', REG.XOFFRXC],
  ['XOFFTXC', REG.XOFFTXC], ['FCRUC', REG.FCRUC], ['PRC64', REG.PRC64], ['PRC127', REG.PRC127],
  ['PRC255', REG.PRC255], ['PRC511', REG.PRC511], ['PRC1023', REG.PRC1023], ['PRC1522', REG.PRC1522],
  ['GPRC', REG.GPRC], ['BPRC', REG.BPRC], ['MPRC', REG.MPRC], ['GPTC', REG.GPTC],
  ['GORCL', REG.GORCL], ['GORCH', REG.GORCH], ['GOTCL', REG.GOTCL], ['GOTCH', REG.GOTCH],
  ['RNBC', REG.RNBC], ['RUC', REG.RUC], ['RFC', REG.RFC], ['ROC', REG.ROC], ['RJC', REG.RJC],
  ['MGTPRC', REG.MGTPRC], ['MGTPDC', REG.MGTPDC], ['MGTPTC', REG.MGTPTC],
  ['TORL', REG.TORL], ['TORH', REG.TORH], ['TOTL', REG.TOTL], ['TOTH', REG.TOTH],
  ['TPR', REG.TPR], ['TPT', REG.TPT], ['PTC64', REG.PTC64], ['PTC127', REG.PTC127], ['PTC255', REG.PTC255],
  ['PTC511', REG.PTC511], ['PTC1023', REG.PTC1023], ['PTC1522', REG.PTC1522], ['MPTC', REG.MPTC],
  ['BPTC', REG.BPTC], ['TSCTC', REG.TSCTC], ['TSCTFC', REG.TSCTFC], ['IAC', REG.IAC],
  ['ICRXPTC', REG.ICRXPTC], ['ICRXATC', REG.ICRXATC], ['ICTXPTC', REG.ICTXPTC], ['ICTXATC', REG.ICTXATC],
  ['ICTXQEC', REG.ICTXQEC], ['ICTXQMTC', REG.ICTXQMTC], ['ICRXDMTC', REG.ICRXDMTC], ['ICRXOC', REG.ICRXOC],
];
for (const [name, off] of STAT_NAMES) r(name, off, Access.RC);

/** Every register row, in datasheet order of the sections above. */
export const REGISTERS: readonly RegDef[] = rows;

/** Size of BAR 0 in bytes and in 32-bit words. */
export const MMIO_SIZE = 0x20000;
export const MMIO_WORDS = MMIO_SIZE >>> 2;

/** Maps a word index (offset >> 2) to its row in REGISTERS, or -1 for an unimplemented offset. */
export const REG_INDEX: Int16Array = (() => {
  const idx = new Int16Array(MMIO_WORDS).fill(-1);
  rows.forEach((d, i) => {
    if (idx[d.offset >>> 2] !== -1) throw new Error(`duplicate register offset ${d.offset.toString(16)}`);
    idx[d.offset >>> 2] = i;
  });
  return idx;
})();

/** Datasheet name of a register offset, for traces. */
export function regName(offset: number): string {
  const i = REG_INDEX[(offset >>> 2) & (MMIO_WORDS - 1)];
  return i === undefined || i < 0 ? `0x${offset.toString(16).padStart(5, '0')}` : rows[i]!.name;
}

/** Word offsets of the statistics registers (for bulk clear on reset). */
export const STAT_OFFSETS: readonly number[] = STAT_NAMES.map(([, o]) => o);
