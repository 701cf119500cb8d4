import { describe, expect, it } from 'vitest';
import {
  cancel_delayed_work_sync,
  cancel_work_sync,
  DelayedWork,
  del_timer_sync,
  flush_work,
  HZ,
  INIT_DELAYED_WORK,
  INIT_WORK,
  IRQ_HANDLED,
  jiffies,
  mod_timer,
  msecs_to_jiffies,
  msleep,
  request_irq,
  round_jiffies,
  schedule_delayed_work,
  schedule_work,
  time_after,
  timer_pending,
  timer_setup,
  TimerList,
  udelay,
  usleep_range,
  WorkStruct,
  pci_enable_device_mem,
  pci_enable_msi,
} from '../../kernel-glue/index.js';
import { FakePci, makeKernel } from './fake-pci.js';

describe('timers', () => {
  it('fire at the requested jiffy and del_timer_sync cancels', () => {
    const { q, k } = makeKernel();
    const t = new TimerList();
    const at: number[] = [];
    timer_setup(k, t, () => at.push(jiffies(k)), 0);
    q.advance(1_500_000); // jiffies = 1
    expect(mod_timer(t, jiffies(k) + 10)).toBe(0);
    expect(timer_pending(t)).toBe(true);
    expect(k.accounting().timersPending).toBe(1);
    expect(mod_timer(t, jiffies(k) + 20)).toBe(1); // re-arm moves it
    q.run();
    expect(at).toEqual([21]);
    expect(q.now()).toBe(21_000_000);
    mod_timer(t, jiffies(k) + msecs_to_jiffies(2000));
    expect(del_timer_sync(t)).toBe(1);
    expect(del_timer_sync(t)).toBe(0);
    q.run();
    expect(at).toEqual([21]);
    expect(k.accounting().timersPending).toBe(0);
  });

  it('a timer that re-arms itself runs periodically', () => {
    const { q, k } = makeKernel();
    const t = new TimerList();
    let n = 0;
    timer_setup(k, t, () => {
      if (++n < 5) mod_timer(t, jiffies(k) + 2 * HZ);
    }, 0);
    mod_timer(t, round_jiffies(jiffies(k) + 2 * HZ));
    q.run();
    expect(n).toBe(5);
    expect(q.now()).toBe(10 * 1e9);
    expect(time_after(jiffies(k), 9000)).toBe(true);
  });

  it('sleeping in a timer callback is a bug; udelay is allowed', () => {
    const { q, k } = makeKernel();
    const t = new TimerList();
    timer_setup(k, t, () => msleep(k, 1), 0);
    mod_timer(t, 5);
    expect(() => q.run()).toThrow(/sleeping function called from invalid context/);
    const u = new TimerList();
    timer_setup(k, u, () => udelay(k, 10), 0);
    mod_timer(u, 10);
    q.run();
    expect(q.now()).toBe(10_010_000);
  });
});

describe('sleeping', () => {
  it('msleep advances virtual time and lets interrupts run inline', () => {
    const { q, k } = makeKernel();
    const d = k.pciBus.attach(1, new FakePci());
    pci_enable_device_mem(d);
    pci_enable_msi(d);
    const seen: number[] = [];
    request_irq(k, d.irq, () => (seen.push(q.now()), IRQ_HANDLED), 0, 'x', d);
    q.schedule(3_000_000, () => k.msiWrite(0xfee00000, d.irq));
    msleep(k, 10);
    expect(q.now()).toBe(10_000_000);
    expect(seen).toEqual([3_000_000]);
    usleep_range(k, 100, 200);
    expect(q.now()).toBe(10_100_000);
  });
});

describe('workqueue', () => {
  it('runs work once per schedule, in process context where it may sleep', () => {
    const { q, k } = makeKernel();
    const w = new WorkStruct();
    const times: number[] = [];
    INIT_WORK(k, w, () => {
      times.push(q.now());
      msleep(k, 5);
    });
    expect(schedule_work(w)).toBe(true);
    expect(schedule_work(w)).toBe(false);
    expect(k.accounting().workPending).toBe(1);
    q.run();
    expect(times).toEqual([0]);
    expect(q.now()).toBe(5_000_000);
    schedule_work(w);
    expect(cancel_work_sync(w)).toBe(true);
    q.run();
    expect(times).toHaveLength(1);
    schedule_work(w);
    expect(flush_work(w)).toBe(true);
    expect(times).toHaveLength(2);
    expect(k.accounting().workPending).toBe(0);
  });

  it('delayed work fires after the delay in jiffies and can be cancelled', () => {
    const { q, k } = makeKernel();
    const dw = new DelayedWork();
    const at: number[] = [];
    INIT_DELAYED_WORK(k, dw, () => at.push(jiffies(k)));
    schedule_delayed_work(dw, 100);
    q.run();
    expect(at).toEqual([100]);
    schedule_delayed_work(dw, 50);
    expect(cancel_delayed_work_sync(dw)).toBe(true);
    q.run();
    expect(at).toEqual([100]);
  });

  it('timers fire before work due at the same instant', () => {
    const { q, k } = makeKernel();
    const order: string[] = [];
    const dw = new DelayedWork();
    INIT_DELAYED_WORK(k, dw, () => order.push('work'));
    const t = new TimerList();
    timer_setup(k, t, () => order.push('timer'), 0);
    schedule_delayed_work(dw, 1); // queued first...
    mod_timer(t, 1); // ...but timers (priority 20) beat work (30) at the same instant
    q.run();
    expect(order).toEqual(['timer', 'work']);
    expect(q.now()).toBe(1_000_000);
  });
});
