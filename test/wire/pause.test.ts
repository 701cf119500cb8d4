// 802.3x PAUSE toward real backends: the NIC's XOFF stops reading the host side, XON or the pause time resumes it.

import { describe, it, expect } from 'vitest';
import { honorPause, pauseQuanta } from '../../wire/pause.js';
import type { WirePort } from '../../wire/wire.js';
import { EventQueue } from '../../device/sim/event-queue.js';

function pauseFrame(quanta: number): Uint8Array {
  const f = new Uint8Array(60);
  f.set([0x01, 0x80, 0xc2, 0, 0, 1, 0x52, 0x54, 0, 0, 0, 1, 0x88, 0x08, 0, 1, quanta >> 8, quanta & 0xff]);
  return f;
}

function fakePort() {
  const sent: Uint8Array[] = [];
  const port: WirePort = {
    stats: { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0 },
    send: (f) => void sent.push(f),
    detach: () => {},
  };
  return { port, sent };
}

describe('PAUSE toward a backend', () => {
  it('recognizes PAUSE frames and their pause time, nothing else', () => {
    expect(pauseQuanta(pauseFrame(0x680))).toBe(0x680);
    expect(pauseQuanta(pauseFrame(0))).toBe(0);
    const other = pauseFrame(5);
    other[15] = 2;
    expect(pauseQuanta(other)).toBe(-1);
    expect(pauseQuanta(new Uint8Array(60))).toBe(-1);
    expect(pauseQuanta(new Uint8Array(10))).toBe(-1);
  });

  it('consumes XOFF and XON, pauses reading and resumes on XON; other frames pass', () => {
    const { port, sent } = fakePort();
    const calls: boolean[] = [];
    const p = honorPause(port, { setReadPaused: (x) => void calls.push(x) });
    p.send(new Uint8Array(64));
    p.send(pauseFrame(0xffff));
    p.send(pauseFrame(0xffff)); // a refresh keeps it paused without another call
    p.send(pauseFrame(0));
    expect(sent.length).toBe(1);
    expect(calls).toEqual([true, false]);
    expect([p.pause.xoff, p.pause.xon]).toEqual([2, 1]);
  });

  it('resumes by itself when the pause time runs out (1 Gbit/s: 0xffff quanta = 33.6 ms)', async () => {
    const { port } = fakePort();
    const calls: boolean[] = [];
    const p = honorPause(port, { setReadPaused: (x) => void calls.push(x) });
    const t0 = performance.now();
    p.send(pauseFrame(0xffff));
    await new Promise((r) => setTimeout(r, 10));
    // Still paused, unless this check itself ran late (a loaded machine).
    if (performance.now() - t0 < 30) expect(calls).toEqual([true]);
    await new Promise((r) => setTimeout(r, 60));
    expect(calls).toEqual([true, false]);
    expect(p.pause.pausedMs).toBeGreaterThan(30);
  });

  it("on the NIC's clock: a pause runs out after its quanta, a refresh at half time keeps it, XON ends it and a stale expiry does nothing", () => {
    const q = new EventQueue();
    const { port } = fakePort();
    const calls: boolean[] = [];
    const p = honorPause(port, { setReadPaused: (x) => void calls.push(x) }, { clock: q });
    const quantaNs = 0x680 * 512; // 851,968 ns at 1 Gbit/s
    p.send(pauseFrame(0x680));
    q.run(quantaNs - 1);
    expect(calls).toEqual([true]);
    q.run(quantaNs);
    expect(calls).toEqual([true, false]);
    expect(p.pause.timeouts).toBe(1);
    // Refreshed at half the pause time, again and again: never resumes in between.
    const t0 = q.now();
    p.send(pauseFrame(0x680));
    for (let i = 1; i <= 10; i++) {
      q.run(t0 + (i * quantaNs) / 2);
      p.send(pauseFrame(0x680));
    }
    expect(calls).toEqual([true, false, true]);
    // XON: resumes at once; the pending expiry of the last XOFF changes nothing later.
    p.send(pauseFrame(0));
    q.run(q.now() + 2 * quantaNs);
    expect(calls).toEqual([true, false, true, false]);
    expect([p.pause.xoff, p.pause.xon, p.pause.timeouts]).toEqual([12, 1, 1]);
  });
});
