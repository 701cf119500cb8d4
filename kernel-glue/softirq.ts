// Softirqs (kernel/softirq.c) and the NET_RX / NET_TX actions (net/core/dev.c: net_rx_action, net_tx_action).

import { NSEC_PER_USEC, PRIO_KSOFTIRQD, PRIO_SOFTIRQ, type EventHandle } from './clock.js';
import type { Kernel } from './kernel.js';
import { NAPI_STATE_DISABLE, NAPI_STATE_SCHED, type NapiStruct } from './napi.js';
import { qdisc_run, type NetDevice } from './netdev.js';
import { Ring } from './ring.js';

export const NET_TX_SOFTIRQ = 2;
export const NET_RX_SOFTIRQ = 3;

/** __do_softirq's restart bound before deferring to ksoftirqd. */
const MAX_SOFTIRQ_RESTART = 10;

/** Pending softirq bits, the NAPI poll list and the TX output queue of the (single) CPU. */
export class Softirq {
  pending = 0;
  private event: EventHandle | null = null;
  private running = false;
  private rxRepoll = false;
  /** softnet_data.poll_list. */
  readonly pollList = new Ring<NapiStruct>(16);
  /** softnet_data.output_queue: devices whose qdisc wants to run. */
  outputQueue: NetDevice[] = [];
  private outputSpare: NetDevice[] = [];
  private readonly runCb = (): void => this.run();

  constructor(private readonly kernel: Kernel) {}

  /** raise_softirq: marks `nr` pending and makes sure processing is scheduled. */
  raise(nr: number): void {
    this.pending |= 1 << nr;
    if (!this.running && this.event === null) {
      this.event = this.kernel.clock.schedule(0, this.runCb, PRIO_SOFTIRQ);
    }
  }

  /** True while a softirq event is queued or running. */
  get active(): boolean {
    return this.running || this.event !== null;
  }

  private run(): void {
    this.event = null;
    if (this.running) return;
    const k = this.kernel;
    this.running = true;
    k.softirqDepth++;
    const prevCtx = k.ctx;
    try {
      for (let restart = 0; this.pending !== 0 && restart < MAX_SOFTIRQ_RESTART; restart++) {
        const p = this.pending;
        this.pending = 0;
        if (p & (1 << NET_TX_SOFTIRQ)) this.netTxAction();
        if (p & (1 << NET_RX_SOFTIRQ)) this.netRxAction();
      }
    } finally {
      k.ctx = prevCtx;
      k.softirqDepth--;
      this.running = false;
    }
    if (this.rxRepoll) {
      this.rxRepoll = false;
      this.pending |= 1 << NET_RX_SOFTIRQ;
    }
    if (this.pending !== 0 && this.event === null) {
      // Work left over: continue as ksoftirqd, behind whatever else is due now.
      this.event = k.clock.schedule(0, this.runCb, PRIO_KSOFTIRQD);
    }
  }

  /** net_tx_action: runs the qdiscs of devices that netif_wake_queue/__netif_schedule queued. */
  private netTxAction(): void {
    const list = this.outputQueue;
    this.outputQueue = this.outputSpare;
    this.outputSpare = list;
    for (let i = 0; i < list.length; i++) {
      const dev = list[i]!;
      dev.txScheduled = false;
      qdisc_run(dev);
    }
    list.length = 0;
  }

  /** net_rx_action: one round over the poll list within netdev_budget and netdev_budget_usecs. */
  private netRxAction(): void {
    const k = this.kernel;
    const st = k.softirqStats;
    const list = this.pollList;
    const start = k.clock.now();
    const limitNs = k.netdev_budget_usecs * NSEC_PER_USEC;
    let budget = k.netdev_budget;
    let total = 0;
    st.rounds++;
    while (list.length > 0) {
      const n = list.shift()!;
      n.listed = false;
      const b = n.weight < budget ? n.weight : budget;
      let work = 0;
      if (n.state & NAPI_STATE_SCHED) {
        k.ctx = n.dev !== null ? n.dev.pdev : null;
        n.polling = true;
        n.completedInPoll = false;
        try {
          work = n.poll(n, b);
        } finally {
          n.polling = false;
        }
        n.polls++;
        if (!(work >= 0 && work <= b) || !Number.isInteger(work)) {
          throw new Error(`NAPI poll function ${n.name} returned ${work}, exceeding its budget of ${b}`);
        }
        if (work > st.maxWorkPerPoll) st.maxWorkPerPoll = work;
        if (k.onNapiPoll) k.onNapiPoll(n, b, work);
        if (work === b) {
          if (n.completedInPoll) {
            throw new Error(`NAPI poll function ${n.name} called napi_complete_done and returned its full budget ${b}`);
          }
          if (n.state & NAPI_STATE_DISABLE) {
            n.state &= ~NAPI_STATE_SCHED; // napi_disable is waiting
          } else if (!n.listed) {
            list.push(n);
            n.listed = true;
          }
        } else if (n.state & NAPI_STATE_SCHED && !n.listed) {
          throw new Error(`NAPI poll function ${n.name} returned ${work} < budget ${b} without napi_complete_done`);
        }
      }
      budget -= work;
      total += work;
      if (budget <= 0) {
        st.budgetExhaustedRounds++;
        break;
      }
      if (k.clock.now() - start >= limitNs) {
        st.timeSqueezed++;
        break;
      }
    }
    st.totalWork += total;
    if (total > st.maxWorkPerRound) st.maxWorkPerRound = total;
    if (list.length > 0) this.rxRepoll = true;
  }
}
