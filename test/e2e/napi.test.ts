import { describe, it, expect } from 'vitest';
import { Testbed, type SimNic } from '../../testbed/testbed.js';
import { createLoopback } from '../../wire/index.js';
import { dev_open, netif_carrier_ok } from '../../kernel-glue/netdev.js';
import { adapterOf } from '../../driver/netdev.js';
import { RecordingTrace, type TraceRecord } from '../../device/trace.js';
import type { NapiStruct } from '../../kernel-glue/napi.js';
import * as D from '../../device/e1000e/defs.js';
import { ZERO_TIMING } from '../../device/sim/timing.js';

function frameTo(mac: Uint8Array, i: number): Uint8Array {
  const f = new Uint8Array(60);
  f.set(mac, 0);
  f.set([0x52, 0x54, 0, 0, 0xee, 0xee], 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  f[14] = i >>> 8;
  f[15] = i & 0xff;
  return f;
}

describe('NAPI and the RX interrupt', () => {
  it('with 1,000 frames waiting, polls take at most 64 and a softirq round at most 300 across NAPI instances', () => {
    // The RX interrupt may only be re-enabled from inside a poll that already called napi_complete_done.
    let inPoll: NapiStruct | null = null;
    let checking = false;
    const badReenable: string[] = [];
    const trace = new RecordingTrace('e1000e_reg_write', undefined, 0, (rec: TraceRecord) => {
      if (checking && rec.fields['reg'] === 'IMS' && rec.fields['value'] === D.ICR_RXQ0 && !inPoll?.completedInPoll) {
        badReenable.push(`${rec.fields['dev']} at ${rec.time}`);
      }
    });
    const tb = new Testbed(trace);
    const m = tb.addMachine({ name: 'B' });
    const nics: SimNic[] = [];
    for (let i = 0; i < 4; i++) {
      const nic = m.addNic({ mac: new Uint8Array([0x52, 0x54, 0, 0, 1, i]), name: `nic${i}` });
      nic.plug(createLoopback(), 0);
      nics.push(nic);
    }
    m.loadDriver();
    for (const n of nics) expect(dev_open(n.netdev)).toBe(0);
    expect(tb.runUntil(() => nics.every((n) => netif_carrier_ok(n.netdev)), 10e9)).toBe(true);

    let delivered = 0;
    m.kernel.net.addRxHandler(null, () => delivered++);
    const polls: { dev: string; budget: number; work: number; round: number }[] = [];
    const st = m.kernel.softirqStats;
    const round0 = st.rounds;
    st.maxWorkPerPoll = 0;
    st.maxWorkPerRound = 0;
    st.budgetExhaustedRounds = 0;
    m.kernel.onNapiPoll = (napi, budget, work) => polls.push({ dev: napi.dev!.name, budget, work, round: st.rounds });
    for (const n of nics) {
      const napi = adapterOf(n.netdev).napi;
      const poll = napi.poll;
      napi.poll = (nap, budget) => {
        inPoll = nap;
        try {
          return poll(nap, budget);
        } finally {
          inPoll = null;
        }
      };
    }

    // 250 frames land on each NIC before the CPU gets to run anything: 1,000 waiting.
    checking = true;
    for (let k = 0; k < 250; k++) for (const n of nics) n.device.receiveFrame(frameTo(n.netdev.dev_addr, k));

    expect(tb.runUntil(() => delivered === 1000, 1e9)).toBe(true);
    expect(polls.length).toBeGreaterThan(0);
    expect(Math.max(...polls.map((p) => p.work))).toBe(64);
    expect(polls.every((p) => p.work <= 64 && p.budget <= 64)).toBe(true);
    const perRound = new Map<number, number>();
    for (const p of polls) perRound.set(p.round, (perRound.get(p.round) ?? 0) + p.work);
    expect(Math.max(...perRound.values())).toBe(300);
    expect(st.maxWorkPerRound).toBe(300);
    expect(st.budgetExhaustedRounds).toBeGreaterThan(0);
    expect(st.rounds - round0).toBeGreaterThanOrEqual(Math.ceil(1000 / 300));
    // A poll that used its whole budget stayed scheduled; every NAPI finished with napi_complete_done.
    for (const n of nics) {
      const mine = polls.filter((p) => p.dev === n.netdev.name);
      expect(mine.reduce((s, p) => s + p.work, 0)).toBe(250);
      expect(mine.at(-1)!.work).toBeLessThan(64);
    }
    expect(badReenable).toEqual([]);
  });

  it('re-enables RXQ0 only after napi_complete_done, and (zero timing, no EITR throttling) fires at once if a frame arrived meanwhile', () => {
    let nic!: SimNic;
    let inject = false;
    let injectedAt = -1;
    const msix: { vector: number; time: number }[] = [];
    const trace: RecordingTrace = new RecordingTrace('e1000e_irq_msix,e1000e_reg_write', () => tb.now(), 0, (rec: TraceRecord): void => {
      if (rec.point === 'e1000e_irq_msix' && rec.fields['vector'] === 0) msix.push({ vector: 0, time: rec.time });
      // The driver is about to write IMS = RXQ0 (napi_complete_done has run): a frame lands now.
      if (inject && rec.point === 'e1000e_reg_write' && rec.fields['reg'] === 'IMS' && rec.fields['value'] === D.ICR_RXQ0) {
        inject = false;
        injectedAt = rec.time;
        nic.device.receiveFrame(frameTo(nic.netdev.dev_addr, 999));
      }
    });
    const tb: Testbed = new Testbed(trace);
    const m = tb.addMachine();
    nic = m.addNic({ mac: new Uint8Array([0x52, 0x54, 0, 0, 2, 1]), timing: { ...ZERO_TIMING, autonegNs: 1_000_000 } });
    nic.plug(createLoopback(), 0);
    m.loadDriver();
    dev_open(nic.netdev);
    expect(tb.runUntil(() => netif_carrier_ok(nic.netdev), 10e9)).toBe(true);
    let delivered = 0;
    m.kernel.net.addRxHandler(null, () => delivered++);
    tb.advance(1e6);
    msix.length = 0;
    inject = true;
    for (let k = 0; k < 5; k++) nic.device.receiveFrame(frameTo(nic.netdev.dev_addr, k));
    // While the first frames wait for the poll, more arrivals do not interrupt: RXQ0 is auto-masked.
    expect(tb.runUntil(() => delivered === 6, 1e9)).toBe(true);
    expect(injectedAt).toBeGreaterThanOrEqual(0);
    // Two RX messages: the first burst, and one at the very instant IMS re-enabled RXQ0 with work pending.
    expect(msix.length).toBe(2);
    expect(msix[1]!.time).toBe(injectedAt);
  });
});
