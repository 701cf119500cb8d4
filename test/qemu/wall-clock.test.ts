// The server's device clock: events follow wall time plus a look-ahead, woken by a periodic tick while busy and a one-shot expiry when not.
import { describe, it, expect } from 'vitest';
import { WallClock, type WakeTimer } from '../../qemu/wall-clock.js';
import { loadNative } from '../../qemu/native/index.js';
import { nativeSessionIo } from '../../qemu/native-io.js';

/** A wake timer the test fires by hand, recording how it was set. */
function fakeTimer() {
  const sets: [number, number][] = [];
  let fire: () => void = () => {};
  const factory = (onFire: () => void): WakeTimer => {
    fire = onFire;
    return { set: (ns, interval) => void sets.push([ns, interval]), close: () => {} };
  };
  return { sets, factory, fire: () => fire() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('WallClock', () => {
  it('rides one periodic tick while events come closer together than the look-ahead, and stops it when the queue goes quiet', async () => {
    const t = fakeTimer();
    const c = new WallClock({ wakeTimer: t.factory, lookaheadNs: 2_000_000 });
    const ran: number[] = [];
    // 1 ms apart from 30 ms on: closer together than the 2 ms look-ahead.
    for (let i = 0; i < 20; i++) c.schedule(30_000_000 + i * 1_000_000, () => ran.push(i));
    // Nothing soon: one one-shot expiry for the first, at most a look-ahead early.
    expect(t.sets).toHaveLength(1);
    expect(t.sets[0]![1]).toBe(0);
    expect(t.sets[0]![0]).toBeGreaterThan(20_000_000);
    expect(t.sets[0]![0]).toBeLessThanOrEqual(28_000_000);
    await sleep(29);
    t.fire();
    expect(ran.length).toBeGreaterThan(0);
    // The rest come every window: a periodic tick of one look-ahead takes over (unless this ran so late that all were due).
    if (ran.length < 20) expect(t.sets.at(-1)![1]).toBe(2_000_000);
    await sleep(25);
    t.fire();
    expect(ran).toEqual([...Array(20).keys()]);
    for (let i = 0; i < 40; i++) t.fire(); // ticks with nothing due
    if (t.sets.some(([, iv]) => iv > 0)) expect(t.sets.at(-1)).toEqual([0, 0]);
    expect(c.timerSets).toBeLessThanOrEqual(3);
    c.stop();
  });

  it('gives sparse events one one-shot expiry each instead of a tick that finds nothing due', async () => {
    const t = fakeTimer();
    const c = new WallClock({ wakeTimer: t.factory, lookaheadNs: 50_000 });
    const ran: number[] = [];
    for (let i = 1; i <= 3; i++) c.schedule(i * 10_000_000, () => ran.push(i)); // 10, 20, 30 ms
    for (let i = 1; i <= 3; i++) {
      await sleep(10);
      t.fire();
    }
    await sleep(3);
    t.fire();
    expect(ran).toEqual([1, 2, 3]);
    expect(t.sets.every(([, iv]) => iv === 0)).toBe(true); // never a periodic tick
    expect(t.sets.length).toBeLessThanOrEqual(3);
    c.stop();
  });

  it('never runs an event before wall time minus the look-ahead, nor after its tick', async () => {
    const t = fakeTimer();
    const c = new WallClock({ wakeTimer: t.factory, lookaheadNs: 50_000 });
    let at = -1;
    c.schedule(3_000_000, () => (at = c.wallNs()));
    t.fire();
    expect(at).toBe(-1);
    await sleep(4);
    t.fire();
    expect(at).toBeGreaterThanOrEqual(3_000_000 - 50_000);
    c.stop();
  });

  it('runs an event that falls due during an entry point when that callback returns, before any other I/O', async () => {
    const t = fakeTimer();
    const c = new WallClock({ wakeTimer: t.factory, lookaheadNs: 50_000 });
    const order: string[] = [];
    c.sync(); // a message arrives
    c.schedule(500, () => {
      order.push('tx');
      c.schedule(300, () => order.push('irq')); // and what that event schedules, in the same turn
    });
    setImmediate(() => order.push('next loop turn'));
    order.push('handler done');
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['handler done', 'tx', 'irq', 'next loop turn']);
    expect(t.sets.length).toBe(0); // no timer needed
    c.stop();
  });

  it('uses a one-shot expiry for an event beyond the tick horizon', () => {
    const t = fakeTimer();
    const c = new WallClock({ wakeTimer: t.factory, lookaheadNs: 50_000 });
    c.schedule(10_000_000, () => {});
    expect(t.sets.length).toBe(1);
    expect(t.sets[0]![1]).toBe(0);
    expect(t.sets[0]![0]).toBeGreaterThan(9_000_000);
    expect(t.sets[0]![0]).toBeLessThanOrEqual(10_000_000 - 50_000);
    c.schedule(20_000_000, () => {}); // later than the set expiry: no new syscall
    expect(t.sets.length).toBe(1);
    c.stop();
  });

  it('with the real timerfd, a 2 ms event fires on time without spinning the loop', async () => {
    const sys = loadNative();
    if (!sys) throw new Error('nicsim native addon is not built: run `npm ci`');
    const c = new WallClock({ wakeTimer: nativeSessionIo(sys).wakeTimer });
    // Virtual time 0 is the clock's start: the event is due at wall 2 ms (it may run one look-ahead early).
    const fired = new Promise<number>((r) => c.schedule(2_000_000, () => r(c.wallNs())));
    const at = await fired;
    expect(at).toBeGreaterThanOrEqual(2_000_000 - c.lookaheadNs);
    expect(at).toBeLessThan(50_000_000);
    expect(c.wakeups).toBeLessThan(200); // a spinning clock wakes thousands of times in 2 ms
    c.stop();
  });
});
