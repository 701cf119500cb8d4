// The kernel instance: RAM, PCI bus, IRQ table, softirqs, timers, workqueue and net devices in one object.

import { accountingFor, Counters, type Accounting } from './accounting.js';
import { NSEC_PER_JIFFY, type KernelClock } from './clock.js';
import { IrqTable } from './irq.js';
import { NetCore } from './netdev.js';
import { PciBus, type PciDev } from './pci.js';
import { KernelAllocator, SimRam } from './ram.js';
import { Softirq } from './softirq.js';
import type { NapiStruct } from './napi.js';

/** Where trace points go (the same shape as device/trace.ts's TraceSink; kernel-glue keeps its own copy). */
export interface KernelTrace {
  enabled(point: string): boolean;
  emit(point: string, fields: Record<string, unknown>): void;
}

const NO_TRACE: KernelTrace = { enabled: () => false, emit: () => {} };

/** Options for a kernel instance. */
export interface KernelOptions {
  clock: KernelClock;
  ramBytes: number;
  /** Physical address of the first RAM byte (default 0x100000). */
  ramBase?: number;
  trace?: KernelTrace;
}

/** Per-round NET_RX statistics (like /proc/net/softnet_stat, plus maxima tests can assert on). */
export interface SoftirqStats {
  rounds: number;
  maxWorkPerRound: number;
  maxWorkPerPoll: number;
  /** Rounds that stopped because netdev_budget ran out. */
  budgetExhaustedRounds: number;
  /** Rounds that stopped because netdev_budget_usecs ran out. */
  timeSqueezed: number;
  /** Total packets (poll work) processed. */
  totalWork: number;
}

/** Fault injection: each counter fails that many upcoming calls (then drops back to zero). */
export interface KernelFaults {
  /** kmalloc/kzalloc/alloc_skb/dma_alloc_coherent return NULL. */
  alloc: number;
  /** dma_map_single returns DMA_MAPPING_ERROR. */
  dmaMap: number;
}

/** One printk line. */
export interface DmesgLine {
  time: number;
  level: string;
  msg: string;
}

/**
 * One simulated machine's kernel. Several can live in one process (two hosts on a wire), which
 * is why every API reaches its kernel through an argument (see index.ts).
 */
export class Kernel {
  readonly clock: KernelClock;
  readonly ram: SimRam;
  readonly mem: KernelAllocator;
  readonly trace: KernelTrace;
  readonly pciBus: PciBus;
  readonly irqs: IrqTable;
  readonly softirq: Softirq;
  readonly net: NetCore;

  /** Totals across all owners. */
  readonly globalAcct = new Counters();
  /** Owner table: index 0 is "unattributed"; PCI devices take 1..63. */
  readonly owners: (PciDev | null)[] = [null];
  /**
   * The device on whose behalf kernel code is currently calling into a driver (probe, ndo_*,
   * irq handler, napi poll, timer, work). Resources allocated meanwhile are attributed to it.
   */
  ctx: PciDev | null = null;
  /** >0 while in a hard IRQ handler. */
  hardirqDepth = 0;
  /** >0 while in softirq context (NET_RX/NET_TX, timer callbacks). */
  softirqDepth = 0;

  /** net.core.netdev_budget. */
  netdev_budget = 300;
  /** net.core.netdev_budget_usecs. */
  netdev_budget_usecs = 2000;
  /** net.core.dev_weight for qdisc runs (packets per qdisc_run before rescheduling). */
  dev_tx_weight = 64;

  readonly softirqStats: SoftirqStats = {
    rounds: 0,
    maxWorkPerRound: 0,
    maxWorkPerPoll: 0,
    budgetExhaustedRounds: 0,
    timeSqueezed: 0,
    totalWork: 0,
  };
  /** Called after every NAPI poll with the budget given and the work returned. */
  onNapiPoll?: (napi: NapiStruct, budget: number, work: number) => void;

  readonly faults: KernelFaults = { alloc: 0, dmaMap: 0 };
  /** MSI writes to addresses outside the interrupt window. */
  strayMsiWrites = 0;
  /** The kernel log (bounded). */
  readonly dmesg: DmesgLine[] = [];

  constructor(opts: KernelOptions) {
    this.clock = opts.clock;
    this.trace = opts.trace ?? NO_TRACE;
    this.ram = new SimRam(opts.ramBase ?? 0x100000, opts.ramBytes);
    this.mem = new KernelAllocator(this.ram);
    this.irqs = new IrqTable(this);
    this.pciBus = new PciBus(this);
    this.softirq = new Softirq(this);
    this.net = new NetCore(this);
  }

  /** Virtual time in ns. */
  now(): number {
    return this.clock.now();
  }

  /** Current jiffies (HZ=1000). */
  get jiffies(): number {
    return Math.floor(this.clock.now() / NSEC_PER_JIFFY);
  }

  /** True in hard IRQ or softirq context, where sleeping is a bug. */
  inAtomic(): boolean {
    return this.hardirqDepth > 0 || this.softirqDepth > 0;
  }

  /** Counters of the owner at `idx`, or null when unattributed. */
  ownerAcct(idx: number): Counters | null {
    const o = this.owners[idx];
    return o ? o.acct : null;
  }

  /** Owner index for the current context (0 when none). */
  ctxOwnerIdx(): number {
    return this.ctx ? this.ctx.ownerIdx : 0;
  }

  /**
   * A memory write from a device towards the local APIC window: an MSI/MSI-X message. Data is
   * the kernel irq number (that is how pci_enable_msi/msix program the device). The handler
   * runs later, as a hard IRQ event, never nested in the caller.
   */
  msiWrite(addr: number, data: number): void {
    if (addr < 0xfee00000 || addr > 0xfeefffff) {
      this.strayMsiWrites++;
      if (this.trace.enabled('kernel_msi_stray')) this.trace.emit('kernel_msi_stray', { addr, data });
      return;
    }
    this.irqs.msiMessage(data >>> 0);
  }

  /** /proc/interrupts: irqs that have handlers or have fired. */
  interrupts(): { irq: number; name: string; count: number; spurious: number }[] {
    return this.irqs.list();
  }

  /** Resources held by `pdev` (or by everyone when omitted); see Accounting. */
  accounting(pdev?: PciDev): Accounting {
    return accountingFor(this, pdev);
  }

  /** Appends to dmesg and the `kernel_printk` trace point. */
  printk(level: string, msg: string): void {
    if (this.dmesg.length >= 1000) this.dmesg.shift();
    this.dmesg.push({ time: this.clock.now(), level, msg });
    if (this.trace.enabled('kernel_printk')) this.trace.emit('kernel_printk', { level, msg });
  }
}
