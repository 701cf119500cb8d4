// NAPI (include/linux/netdevice.h, net/core/dev.c): scheduling, the MISSED/DISABLE state machine, completion.

import { NSEC_PER_MSEC } from './clock.js';
import type { Kernel } from './kernel.js';
import { netif_receive_skb, type NetDevice } from './netdev.js';
import type { SkBuff } from './skbuff.js';
import { NET_RX_SOFTIRQ } from './softirq.js';

/** Default NAPI weight. */
export const NAPI_POLL_WEIGHT = 64;

/** Scheduled (owned by the poll list or by napi_disable). */
export const NAPI_STATE_SCHED = 1 << 0;
/** A schedule arrived while scheduled: poll once more. */
export const NAPI_STATE_MISSED = 1 << 1;
/** napi_disable is pending. */
export const NAPI_STATE_DISABLE = 1 << 2;

/** gro_result_t value napi_gro_receive returns. */
export const GRO_NORMAL = 4;

/** A poll function: process up to `budget` items, return how many. */
export type NapiPoll = (napi: NapiStruct, budget: number) => number;

const NO_POLL: NapiPoll = () => 0;

/** struct napi_struct. Create with `new NapiStruct()`, then netif_napi_add. */
export class NapiStruct {
  dev: NetDevice | null = null;
  poll: NapiPoll = NO_POLL;
  weight = NAPI_POLL_WEIGHT;
  state = 0;
  /** On the softirq poll list. */
  listed = false;
  polling = false;
  completedInPoll = false;
  /** Times polled. */
  polls = 0;
  /** Label for error messages (the device name once added). */
  name = 'napi';

  get kernel(): Kernel {
    if (this.dev === null) throw new Error('napi: not added to a device');
    return this.dev.kernel;
  }
}

/**
 * Registers `napi` on `dev` with its poll function (Linux 6.1 form) and returns it. The
 * shorter form `netif_napi_add(dev, poll, weight?)` allocates the NapiStruct for you. The
 * napi starts disabled (SCHED held): napi_enable it before scheduling.
 */
export function netif_napi_add(dev: NetDevice, napi: NapiStruct, poll: NapiPoll, weight?: number): NapiStruct;
export function netif_napi_add(dev: NetDevice, poll: NapiPoll, weight?: number): NapiStruct;
export function netif_napi_add(
  dev: NetDevice,
  a: NapiStruct | NapiPoll,
  b?: NapiPoll | number,
  c?: number,
): NapiStruct {
  let napi: NapiStruct;
  let poll: NapiPoll;
  let weight: number;
  if (typeof a === 'function') {
    napi = new NapiStruct();
    poll = a;
    weight = typeof b === 'number' ? b : NAPI_POLL_WEIGHT;
  } else {
    napi = a;
    if (typeof b !== 'function') throw new Error('netif_napi_add: missing poll function');
    poll = b;
    weight = c ?? NAPI_POLL_WEIGHT;
  }
  if (napi.dev !== null) throw new Error('netif_napi_add: napi already added');
  if (!(weight >= 1)) throw new Error(`netif_napi_add: bad weight ${weight}`);
  napi.dev = dev;
  napi.poll = poll;
  napi.weight = weight;
  napi.state = NAPI_STATE_SCHED;
  napi.name = `${dev.name}/napi${dev.napis.size}`;
  dev.napis.add(napi);
  dev.kernel.globalAcct.napis++;
  if (dev.pdev) dev.pdev.acct.napis++;
  return napi;
}

/** Same as netif_napi_add with an explicit weight (Linux 6.1+ name). */
export const netif_napi_add_weight = netif_napi_add;

/** Unregisters a napi. It must not be on the poll list. */
export function netif_napi_del(napi: NapiStruct): void {
  const dev = napi.dev;
  if (dev === null) return;
  if (napi.listed) dev.kernel.softirq.pollList.remove(napi);
  napi.listed = false;
  dev.napis.delete(napi);
  dev.kernel.globalAcct.napis--;
  if (dev.pdev) dev.pdev.acct.napis--;
  napi.dev = null;
  napi.state = 0;
}

/** Claims the napi for polling; false if disabled or already scheduled (then MISSED is noted). */
export function napi_schedule_prep(napi: NapiStruct): boolean {
  const s = napi.state;
  if (s & NAPI_STATE_DISABLE) return false;
  if (s & NAPI_STATE_SCHED) {
    napi.state = s | NAPI_STATE_MISSED;
    return false;
  }
  napi.state = s | NAPI_STATE_SCHED;
  return true;
}

/** Puts a claimed napi on the poll list and raises NET_RX. */
export function __napi_schedule(napi: NapiStruct): void {
  const k = napi.kernel;
  if (!napi.listed) {
    napi.listed = true;
    k.softirq.pollList.push(napi);
  }
  k.softirq.raise(NET_RX_SOFTIRQ);
}

/** napi_schedule_prep + __napi_schedule; returns whether it scheduled. */
export function napi_schedule(napi: NapiStruct): boolean {
  if (napi_schedule_prep(napi)) {
    __napi_schedule(napi);
    return true;
  }
  return false;
}
/** Same as napi_schedule (interrupts are always "off" in a handler here). */
export const napi_schedule_irqoff = napi_schedule;
export const __napi_schedule_irqoff = __napi_schedule;

/**
 * Ends polling after `workDone` < budget. Returns false when a schedule arrived meanwhile
 * (MISSED): the napi then stays scheduled and is polled again, and the driver must not
 * re-enable its interrupt. Completing an unscheduled napi throws.
 */
export function napi_complete_done(napi: NapiStruct, _workDone: number): boolean {
  const s = napi.state;
  if (!(s & NAPI_STATE_SCHED)) throw new Error(`napi_complete_done: ${napi.name} is not scheduled`);
  if (napi.polling) napi.completedInPoll = true;
  if (s & NAPI_STATE_MISSED) {
    napi.state = s & ~NAPI_STATE_MISSED;
    __napi_schedule(napi);
    return false;
  }
  napi.state = s & ~NAPI_STATE_SCHED;
  return true;
}

/** napi_complete_done with no work count. */
export function napi_complete(napi: NapiStruct): boolean {
  return napi_complete_done(napi, 0);
}

/**
 * Stops a napi: marks DISABLE, waits (running the clock in 1 ms steps, like Linux's msleep
 * loop) until any pending poll finished, then holds SCHED so scheduling fails until napi_enable.
 */
export function napi_disable(napi: NapiStruct): void {
  const k = napi.kernel;
  if (k.inAtomic()) throw new Error('BUG: napi_disable called from atomic context');
  if (napi.state & NAPI_STATE_SCHED && !napi.listed) {
    throw new Error(`napi_disable: ${napi.name} is already disabled`);
  }
  napi.state |= NAPI_STATE_DISABLE;
  for (let n = 0; napi.state & NAPI_STATE_SCHED; n++) {
    if (n >= 10_000) throw new Error(`napi_disable: ${napi.name} stayed scheduled for 10 s`);
    k.clock.run(k.clock.now() + NSEC_PER_MSEC);
  }
  napi.state = (napi.state | NAPI_STATE_SCHED) & ~(NAPI_STATE_DISABLE | NAPI_STATE_MISSED);
}

/** Allows scheduling again. Enabling a napi that is not disabled throws (Linux BUG_ON). */
export function napi_enable(napi: NapiStruct): void {
  if (!(napi.state & NAPI_STATE_SCHED) || napi.listed) {
    throw new Error(`napi_enable: ${napi.name} is not disabled`);
  }
  napi.state &= ~(NAPI_STATE_SCHED | NAPI_STATE_MISSED);
}

/** Hands a received skb to the stack (no GRO: same as netif_receive_skb). */
export function napi_gro_receive(_napi: NapiStruct, skb: SkBuff): number {
  netif_receive_skb(skb);
  return GRO_NORMAL;
}

/** Nothing to flush without GRO. */
export function napi_gro_flush(_napi: NapiStruct, _flushOld: boolean): void {}
