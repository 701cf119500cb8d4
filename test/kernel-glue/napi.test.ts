import { describe, expect, it } from 'vitest';
import {
  alloc_etherdev,
  napi_complete_done,
  napi_disable,
  napi_enable,
  napi_schedule,
  NapiStruct,
  netif_napi_add,
  netif_napi_del,
  register_netdev,
  type Kernel,
  type NetDevice,
} from '../../kernel-glue/index.js';
import { makeKernel } from './fake-pci.js';

const OPS = { ndo_open: () => 0, ndo_stop: () => 0, ndo_start_xmit: () => 0 };

function netdev(k: Kernel): NetDevice {
  const dev = alloc_etherdev(k, {});
  dev.netdev_ops = OPS;
  register_netdev(dev);
  return dev;
}

/** A napi draining a queue of `pending` items, completing like e1000e when it did less than budget. */
function fakeNapi(dev: NetDevice, pending: number) {
  const s = { pending, polls: [] as number[], napi: new NapiStruct() };
  netif_napi_add(dev, s.napi, (napi, budget) => {
    const work = Math.min(budget, s.pending);
    s.pending -= work;
    s.polls.push(budget);
    if (work < budget) napi_complete_done(napi, work);
    return work;
  });
  napi_enable(s.napi);
  return s;
}

describe('NAPI budgets', () => {
  it('polls at most weight per poll and netdev_budget per round, staying scheduled until drained', () => {
    const { q, k } = makeKernel();
    const dev = netdev(k);
    const a = fakeNapi(dev, 1000);
    const works: number[] = [];
    k.onNapiPoll = (_n, _b, w) => works.push(w);
    expect(napi_schedule(a.napi)).toBe(true);
    expect(napi_schedule(a.napi)).toBe(false);
    q.run();
    expect(a.pending).toBe(0);
    expect(Math.max(...works)).toBeLessThanOrEqual(64);
    expect(works.reduce((x, y) => x + y, 0)).toBe(1000);
    expect(k.softirqStats.maxWorkPerRound).toBeLessThanOrEqual(300);
    expect(k.softirqStats.maxWorkPerPoll).toBe(64);
    // 300 + 300 + 300 + 100, then one more (empty) poll: the second napi_schedule above
    // arrived while scheduled, set MISSED, and so the final napi_complete_done returned false.
    expect(k.softirqStats.rounds).toBe(5);
    expect(k.softirqStats.budgetExhaustedRounds).toBe(3);
    // The poll that got the last 44 of a round's budget used it all and stayed scheduled.
    expect(a.polls).toContain(44);
    expect(a.napi.state & 1).toBe(0); // completed at last
  });

  it('shares one round of 300 across several napis', () => {
    const { q, k } = makeKernel();
    const dev = netdev(k);
    const ns = [0, 1, 2, 3, 4, 5].map(() => fakeNapi(dev, 200));
    const perRound: number[] = [];
    let roundWork = 0;
    let lastRound = 0;
    k.onNapiPoll = (_n, _b, w) => {
      if (k.softirqStats.rounds !== lastRound) {
        if (lastRound) perRound.push(roundWork);
        roundWork = 0;
        lastRound = k.softirqStats.rounds;
      }
      roundWork += w;
    };
    for (const s of ns) napi_schedule(s.napi);
    q.run();
    perRound.push(roundWork);
    expect(ns.every((s) => s.pending === 0)).toBe(true);
    expect(Math.max(...perRound)).toBeLessThanOrEqual(300);
    expect(perRound.reduce((x, y) => x + y, 0)).toBe(1200);
    // Four full rounds; the last poll of round 4 used its whole budget, so it was polled once more.
    expect(k.softirqStats.rounds).toBe(5);
    expect(k.softirqStats.budgetExhaustedRounds).toBe(4);
    // Round robin: the first round gave 64 to each of the first four napis and 44 to the fifth.
    expect(ns.map((s) => s.polls[0])).toEqual([64, 64, 64, 64, 44, 64]);
  });

  it('MISSED: a schedule during the poll makes napi_complete_done return false and polls again', () => {
    const { q, k } = makeKernel();
    const dev = netdev(k);
    const napi = new NapiStruct();
    const results: boolean[] = [];
    let polls = 0;
    netif_napi_add(dev, napi, (n) => {
      polls++;
      if (polls === 1) napi_schedule(n); // an interrupt arrives mid-poll
      results.push(napi_complete_done(n, 0));
      return 0;
    });
    napi_enable(napi);
    napi_schedule(napi);
    q.run();
    expect(results).toEqual([false, true]);
    expect(polls).toBe(2);
  });

  it('napi_disable waits for a pending poll and then refuses scheduling until napi_enable', () => {
    const { q, k } = makeKernel();
    const dev = netdev(k);
    const s = fakeNapi(dev, 10);
    napi_schedule(s.napi);
    napi_disable(s.napi);
    expect(s.pending).toBe(0); // the pending poll ran to completion inside napi_disable
    expect(napi_schedule(s.napi)).toBe(false);
    q.run();
    expect(s.polls).toHaveLength(1);
    expect(() => napi_disable(s.napi)).toThrow(/already disabled/);
    napi_enable(s.napi);
    expect(() => napi_enable(s.napi)).toThrow(/not disabled/);
    s.pending = 5;
    expect(napi_schedule(s.napi)).toBe(true);
    q.run();
    expect(s.pending).toBe(0);
    expect(k.accounting().napis).toBe(1);
    netif_napi_del(s.napi);
    expect(k.accounting().napis).toBe(0);
  });

  it('treats poll contract violations as driver bugs', () => {
    const { q, k } = makeKernel();
    const dev = netdev(k);
    const over = new NapiStruct();
    netif_napi_add(dev, over, (_n, budget) => budget + 1);
    napi_enable(over);
    napi_schedule(over);
    expect(() => q.run()).toThrow(/exceeding its budget/);

    const k2 = makeKernel();
    const dev2 = netdev(k2.k);
    const lazy = new NapiStruct();
    netif_napi_add(dev2, lazy, () => 3);
    napi_enable(lazy);
    napi_schedule(lazy);
    expect(() => k2.q.run()).toThrow(/without napi_complete_done/);

    const k3 = makeKernel();
    const dev3 = netdev(k3.k);
    const eager = new NapiStruct();
    netif_napi_add(dev3, eager, (n, budget) => (napi_complete_done(n, budget), budget));
    napi_enable(eager);
    napi_schedule(eager);
    expect(() => k3.q.run()).toThrow(/full budget/);
  });
});
