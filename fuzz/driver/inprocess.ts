// In-process driver fuzzing: two machines on a wire, our e1000e on both, one 82574L turned hostile by a FaultLayer.

import { Testbed, BusHost, type Machine } from '../../testbed/testbed.js';
import { E1000eDevice } from '../../device/e1000e/device.js';
import type { EventHandle } from '../../device/host.js';
import { NULL_TRACE, type TraceSink } from '../../device/trace.js';
import type { GuestAddr } from '../../device/types.js';
import { mulberry32 } from '../../device/sim/rng.js';
import type { PciDev, PciDeviceBackend } from '../../kernel-glue/pci.js';
import { accountingLeaks } from '../../kernel-glue/accounting.js';
import { dev_open, dev_close, netif_carrier_ok, netif_queue_stopped, xmitFrame, type NetDevice } from '../../kernel-glue/netdev.js';
import type { SkBuff } from '../../kernel-glue/skbuff.js';
import { adapterOf } from '../../driver/netdev.js';
import { createPair, type WireEndpoint } from '../../wire/wire.js';
import { FaultLayer, type FaultLower } from './faults.js';
import { FaultKind, type Scenario } from './scenario.js';

export const MAC_A = new Uint8Array([0x52, 0x54, 0x00, 0xf0, 0x00, 0x0a]);
export const MAC_B = new Uint8Array([0x52, 0x54, 0x00, 0xf0, 0x00, 0x0b]);
const ETHERTYPE = 0x88b5;
/** Settle after the faults: a few watchdog periods (2 s), the TX timeout (5 s) and a reset. */
const SETTLE_NS = 12e9;
const SETTLE_GAP_NS = 100e6;
const EVENT_BOUND = 4_000_000;
/** Registers the driver configures the same way on both NICs of a pair (not addresses, not interrupt state). */
const CONFIG_REGS = ['CTRL', 'CTRL_EXT', 'RCTL', 'TCTL', 'TIPG', 'RFCTL', 'RXCSUM', 'RXDCTL0', 'TXDCTL0', 'RDLEN0', 'TDLEN0', 'IVAR', 'EIAC', 'MRQC'];
/** Frames a sender lets wait in the qdisc before it holds back (unless the scenario floods). */
const BACKLOG = 512;

/** What one scenario run found: nothing (ok), or the oracle it broke. */
export interface DriverRunResult {
  ok: boolean;
  oracle?: string;
  message?: string;
  /** Faults injected, by kind. */
  injected: Record<string, number>;
  /** Observations that are not findings (allowances made, resets seen...). */
  notes: Record<string, number>;
  /** A fingerprint of the end state, for determinism checks. */
  digest: string;
  /** The finding's shape (oracle, direction, driver state), so a fuzz run reports each shape once. */
  signature?: string;
  /** On a finding: the hostile NIC's machine's last kernel log lines (virtual ms: message). */
  dmesg?: string[];
}

/** The DeviceHost of a NIC on a machine's bus (testbed's BusHost), with a fault layer in front of what the device does. */
class FuzzHost extends BusHost {
  layer: FaultLayer | null = null;
  rawDmaWrite(addr: GuestAddr, src: Uint8Array): boolean {
    return super.dmaWrite(addr, src);
  }
  rawMsi(addr: GuestAddr, data: number): void {
    super.signalMsi(0, addr, data);
  }
  rawIntx(asserted: boolean): void {
    super.setIntx(asserted);
  }
  override dmaWrite(addr: GuestAddr, src: Uint8Array): boolean {
    return this.layer ? this.layer.dmaWrite(addr, src) : this.rawDmaWrite(addr, src);
  }
  override signalMsix(vector: number, addr: GuestAddr, data: number): void {
    if (this.layer) this.layer.signalMsix(vector, addr, data);
    else this.rawMsi(addr, data);
  }
  override signalMsi(vector: number, addr: GuestAddr, data: number): void {
    if (this.layer) this.layer.signalMsi(vector, addr, data);
    else this.rawMsi(addr, data);
  }
  override setIntx(asserted: boolean): void {
    if (this.layer) this.layer.setIntx(asserted);
    else this.rawIntx(asserted);
  }
}

/** One 82574L in a slot of `m`, optionally hostile; the wire and the driver reach it through the layer. */
class FuzzNic implements WireEndpoint {
  readonly device: E1000eDevice;
  readonly pdev: PciDev;
  readonly host: FuzzHost;
  layer: FaultLayer | null = null;

  constructor(
    readonly machine: Machine,
    mac: Uint8Array,
    name: string,
    hostile: { faults: Scenario['faults']; seed: number; peerMac: Uint8Array } | null,
  ) {
    const host = new FuzzHost(machine.kernel, machine.testbed.queue, machine.testbed.trace);
    this.host = host;
    const dev = E1000eDevice.create(host, { mac, name });
    this.device = dev;
    if (hostile) {
      const lower: FaultLower = {
        device: dev,
        dmaRead: (a, d) => host.dmaRead(a, d),
        dmaWrite: (a, s) => host.rawDmaWrite(a, s),
        signalMsix: (_v, a, d) => host.rawMsi(a, d),
        signalMsi: (_v, a, d) => host.rawMsi(a, d),
        setIntx: (x) => host.rawIntx(x),
        barRead: (b, o, s) => dev.barRead(b, o, s),
        barWrite: (b, o, s, v) => dev.barWrite(b, o, s, v),
        receiveFrame: (f) => dev.receiveFrame(f),
        setCarrier: (p) => dev.setCarrier(p),
        now: () => host.now(),
        schedule: (ns, cb) => host.schedule(ns, cb),
        cancel: (h) => host.cancel(h),
      };
      this.layer = new FaultLayer(lower, hostile.faults, hostile.seed, { mac, peerMac: hostile.peerMac });
      host.layer = this.layer;
    }
    const layer = this.layer;
    const backend: PciDeviceBackend = {
      configRead: (o, s) => dev.configRead(o, s),
      configWrite: (o, s, v) => dev.configWrite(o, s, v),
      barRead: layer ? (b, o, s) => layer.barRead(b, o, s) : (b, o, s) => dev.barRead(b, o, s),
      barWrite: layer ? (b, o, s, v) => layer.barWrite(b, o, s, v) : (b, o, s, v) => dev.barWrite(b, o, s, v),
      memoryEnabled: () => dev.pci.memoryEnabled,
    };
    this.pdev = machine.kernel.pciBus.attach(3, backend);
    host.pdev = this.pdev;
  }

  receiveFrame(frame: Uint8Array): void {
    if (this.layer) this.layer.receiveFrame(frame);
    else this.device.receiveFrame(frame);
  }
  setCarrier(present: boolean): void {
    if (this.layer) this.layer.setCarrier(present);
    else this.device.setCarrier(present);
  }

  get netdev(): NetDevice<unknown> {
    const nd = this.pdev.driverData as NetDevice<unknown> | null;
    if (!nd) throw new Error(`${this.device.name}: no driver bound`);
    return nd;
  }
}

/** Sorts an exception into an oracle name (what Linux would have printed). */
export function classifyException(msg: string): string {
  if (/double free|not a live allocation|already-free IRQ|is not mapped|not allocated by the matching/.test(msg)) return 'double-free';
  if (/skb_over_panic|skb_under_panic|outside RAM|is not RAM|exceed the buffer/.test(msg)) return 'out-of-bounds';
  if (/NAPI poll|napi_/.test(msg)) return 'napi-misuse';
  if (/sleeping function|atomic context/.test(msg)) return 'sleep-in-atomic';
  if (/event bound/.test(msg)) return 'livelock';
  return 'exception';
}

function frameFor(src: Uint8Array, dst: Uint8Array, tag: number, seq: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = ETHERTYPE >> 8;
  f[13] = ETHERTYPE & 0xff;
  f[14] = tag;
  new DataView(f.buffer).setUint32(15, seq, true);
  for (let i = 19; i < len; i++) f[i] = (seq + i) & 0xff;
  return f;
}

/**
 * Runs one scenario in virtual time: bring-up, traffic both ways with the faults in their
 * windows, then faults off, a settle period, a recovery check both ways, and teardown with
 * the accounting oracle. Synchronous and deterministic in (scenario, seed).
 */
export function runScenario(s: Scenario, seed: number, opts: { trace?: TraceSink; linuxExact?: boolean } = {}): DriverRunResult {
  const tb = new Testbed(opts.trace ?? NULL_TRACE);
  const notes: Record<string, number> = {};
  const note = (k: string, n = 1) => (notes[k] = (notes[k] ?? 0) + n);
  const ma = tb.addMachine({ name: 'A' });
  const mb = tb.addMachine({ name: 'B' });
  const faultyA = s.faultySide === 0;
  const na = new FuzzNic(ma, MAC_A, 'A.nic0', faultyA ? { faults: s.faults, seed, peerMac: MAC_B } : null);
  const nb = new FuzzNic(mb, MAC_B, 'B.nic0', faultyA ? null : { faults: s.faults, seed, peerMac: MAC_A });
  const hostile = (faultyA ? na : nb).layer!;
  const wire = createPair();
  na.host.port = wire.attach(0, na);
  nb.host.port = wire.attach(1, nb);
  const traffic = mulberry32((seed ^ 0x5bd1e995) >>> 0);
  let phase = 'probe';
  const got: [Set<number>, Set<number>] = [new Set(), new Set()]; // recovery-tagged seqs received by A, by B
  let seq = 0;
  const result = (oracle?: string, message?: string, signature?: string): DriverRunResult => {
    const d = (faultyA ? na : nb).device;
    const t = d.stats.totals;
    const digest = `t=${tb.now()} rx=${t.rxPackets} tx=${t.txPackets} got=${got[0].size}/${got[1].size} inj=${JSON.stringify(hostile.injected)}`;
    const dmesg = (faultyA ? ma : mb).kernel.dmesg.slice(-30).map((l) => `${(l.time / 1e6).toFixed(3)} ${l.msg}`);
    return oracle ? { ok: false, oracle, message, injected: hostile.injected, notes, digest, dmesg, signature: signature ?? `${oracle}:${(message ?? '').replace(/0x[0-9a-f]+|\d+/g, 'N').slice(0, 100)}` } : { ok: true, injected: hostile.injected, notes, digest };
  };
  try {
    const params = { IntMode: s.intMode, recoveryBeyondLinux: !opts.linuxExact } as const;
    const faultyNic = faultyA ? na : nb;
    const faultyM = faultyA ? ma : mb;
    if (s.early) hostile.startPhase();
    ma.loadDriver(params);
    mb.loadDriver(params);
    if (s.early && faultyNic.pdev.driverData === null) {
      // Probe failed on the hostile device: that is allowed, leaking on the way out is not.
      note('probeFailed');
      const leaks = accountingLeaks(faultyM.kernel.accounting(faultyNic.pdev));
      return leaks.length ? result('leak', `${faultyM.name}: failed probe left ${leaks.join(' ')}`) : result();
    }
    const ndA = na.netdev;
    const ndB = nb.netdev;
    for (const [m, idx] of [[ma, 0], [mb, 1]] as const) {
      m.kernel.net.addRxHandler(null, (skb: SkBuff) => {
        const b = skb.buf;
        const at = skb.data + skb.mac_header;
        if (skb.tail - at < 19 || b[at + 12] !== ETHERTYPE >> 8 || b[at + 13] !== (ETHERTYPE & 0xff) || b[at + 14] !== 2) return;
        got[idx].add(b[at + 15]! | (b[at + 16]! << 8) | (b[at + 17]! << 16) | (b[at + 18]! << 24));
      });
    }
    phase = 'open';
    const faultyNd = faultyA ? ndA : ndB;
    if (dev_open(faultyA ? ndB : ndA) !== 0) return result('bring-up', 'dev_open of the good NIC failed');
    if (dev_open(faultyNd) !== 0) {
      if (!s.early) return result('bring-up', 'dev_open failed before any fault');
      note('openFailed');
      faultyM.unloadDriver();
      const leaks = accountingLeaks(faultyM.kernel.accounting(faultyNic.pdev));
      return leaks.length ? result('leak', `${faultyM.name}: failed open + remove left ${leaks.join(' ')}`) : result();
    }
    if (!tb.runUntil(() => netif_carrier_ok(ndA) && netif_carrier_ok(ndB), s.early ? s.phaseMs * 1e6 : 10e9) && !s.early) {
      return result('bring-up', 'no carrier before any fault');
    }

    // Bulk traffic in the fault phase waits while BACKLOG frames are queued (unless the scenario
    // floods); later sends (settle, recovery) always go, as new application data would.
    const send = (tag: number, n: number, bulk = false): void => {
      for (let i = 0; i < n; i++) {
        const len = 60 + Math.floor(traffic() * 1455);
        if (!bulk || s.flood || ndA.qdisc.length < BACKLOG) xmitFrame(ndA, frameFor(MAC_A, MAC_B, tag, seq, len));
        if (!bulk || s.flood || ndB.qdisc.length < BACKLOG) xmitFrame(ndB, frameFor(MAC_B, MAC_A, tag, seq, len));
        seq++;
      }
    };
    let trafficEvent: EventHandle | null = null;
    const trafficEvery = (gapNs: number, n: number, bulk: boolean): void => {
      if (trafficEvent) tb.queue.cancel(trafficEvent);
      const tick = (): void => {
        send(1, n, bulk);
        trafficEvent = tb.queue.schedule(gapNs, tick);
      };
      trafficEvent = tb.queue.schedule(gapNs, tick);
    };

    phase = 'faults';
    trafficEvery(1e6, s.trafficPerMs, true);
    if (!s.early) hostile.startPhase();
    tb.advance(Math.max(0, hostile.phaseStart + s.phaseMs * 1e6 - tb.now()), EVENT_BOUND);
    hostile.stop();

    phase = 'settle';
    trafficEvery(SETTLE_GAP_NS, 1, false);
    tb.advance(SETTLE_NS, EVENT_BOUND);

    // Allowances: states no driver can leave on its own (Linux included).
    const faultyKernel = faultyM.kernel;
    const irqDesc = faultyKernel.irqs.get((faultyA ? na : nb).pdev.irq);
    const intxDead = s.intMode === 0 && irqDesc !== undefined && irqDesc.nobodyCared;
    if (intxDead) note('intxNobodyCared');

    phase = 'recovery';
    const check = (): [number, number] => {
      got[0].clear();
      got[1].clear();
      const first = seq;
      for (let i = 0; i < 16; i++) {
        send(2, 1);
        tb.advance(100e3, EVENT_BOUND);
      }
      tb.advance(100e6, EVENT_BOUND);
      let a = 0;
      let b = 0;
      for (let q = first; q < seq; q++) {
        if (got[1].has(q)) a++; // A -> B
        if (got[0].has(q)) b++; // B -> A
      }
      return [a, b];
    };
    let [ab, ba] = check();
    if (ab < 16 || ba < 16) {
      note('slowRecovery');
      tb.advance(SETTLE_NS, EVENT_BOUND);
      [ab, ba] = check();
    }
    if (trafficEvent) tb.queue.cancel(trafficEvent);
    if (ab < 16 || ba < 16) {
      // Into the hostile NIC: a lost RX write-back, or DD on descriptors ahead of the device's
      // head, leaves the driver waiting on a descriptor the device can never reach (RDT trails
      // next_to_clean). Linux's e1000e has no RX hang detection either: only a reset helps.
      const intoFaulty = faultyA ? ba : ab;
      const outOfFaulty = faultyA ? ab : ba;
      const rxDesync = intoFaulty < 16 && outOfFaulty === 16 && hostile.has(FaultKind.RxWritebackDrop, FaultKind.RxFakeDd);
      // A device that lost MMIO writes may hold a configuration the driver never sees (a lost
      // RCTL.EN, IMS or tail write): no driver rereads its registers, so that is no finding,
      // unless the driver stopped watching altogether (its watchdog no longer armed).
      const watchdogDead = !adapterOf(faultyNd).down && adapterOf(faultyNd).watchdogTimer.handle === null;
      const lostConfig = hostile.lostWrites > 0 && !watchdogDead;
      // Garbage register reads feed the driver's read-modify-writes (CTRL, RCTL, TCTL, RFCTL...),
      // which store garbage in the device, and nothing rereads them: the same as lost writes
      // when the faulty NIC's configuration now differs from the good one's (same driver, same
      // parameters), again unless the watchdog stopped.
      const goodNic = faultyA ? nb : na;
      const diverged = CONFIG_REGS.filter((r) => (faultyA ? na : nb).device.peek(r) !== goodNic.device.peek(r));
      const corruptConfig = hostile.has(FaultKind.RegGarbage) && diverged.length > 0 && !watchdogDead;
      const unrecoverable = intxDead || rxDesync || lostConfig || corruptConfig;
      const a = adapterOf(faultyNd);
      const d = (faultyA ? na : nb).device;
      const state = `faulty ${faultyA ? 'A' : 'B'}: down=${a.down} carrier=${netif_carrier_ok(faultyNd)} queueStopped=${netif_queue_stopped(faultyNd)} ` +
        `rx ntc=${a.rxRing.nextToClean} ntu=${a.rxRing.nextToUse} RDH=${d.peek('RDH0')} RDT=${d.peek('RDT0')} ` +
        `tx ntc=${a.txRing.nextToClean} ntu=${a.txRing.nextToUse} TDH=${d.peek('TDH0')} TDT=${d.peek('TDT0')} ` +
        `IMS=0x${d.peek('IMS').toString(16)} qdisc=${faultyNd.qdisc.length} txScheduled=${faultyNd.txScheduled} watchdogArmed=${a.watchdogTimer.handle !== null} resets=${a.sw.resets} txHangs=${a.sw.txHangs} txTimeouts=${a.sw.txTimeouts}`;
      const msg = `after the faults stopped and ${(2 * SETTLE_NS) / 1e9} s of settling, A->B delivered ${ab}/16 and B->A ${ba}/16 (${state})`;
      if (unrecoverable) {
        note(intxDead ? 'stallAfterIntxDisabled' : rxDesync ? 'rxStallAfterRingDesync' : lostConfig ? 'stallAfterLostWrites' : 'stallAfterGarbageConfig');
      } else {
        const dir = intoFaulty < 16 && outOfFaulty < 16 ? 'both' : intoFaulty < 16 ? 'into-faulty' : 'out-of-faulty';
        const sig = `stuck-queue:${dir}:down=${a.down}:carrier=${netif_carrier_ok(faultyNd)}:stopped=${netif_queue_stopped(faultyNd)}:watchdog=${a.watchdogTimer.handle !== null}:qdisc=${faultyNd.qdisc.length > 0}`;
        return result('stuck-queue', msg, sig);
      }
    }
    const aA = adapterOf(faultyNd);
    note('resets', aA.sw.resets);
    note('txHangs', aA.sw.txHangs);
    note('txTimeouts', aA.sw.txTimeouts);
    note('rxDiscards', aA.sw.rxDiscards);

    phase = 'teardown';
    dev_close(ndA);
    dev_close(ndB);
    ma.unloadDriver();
    mb.unloadDriver();
    tb.advance(100e6, EVENT_BOUND);
    for (const [m, nic] of [[ma, na], [mb, nb]] as const) {
      const leaks = accountingLeaks(m.kernel.accounting(nic.pdev));
      if (leaks.length) return result('leak', `${m.name}: driver remove left ${leaks.join(' ')}`);
    }
    return result();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    // Where it was thrown: the first frames, file names without their directories.
    const where = e instanceof Error && e.stack ? ` @ ${e.stack.split('\n').slice(1, 5).map((l) => l.trim().replace(/^at /, '').replace(/(?:file:\/\/)?\/[^\s()]*\/([^/\s()]+:\d+):\d+/g, '$1')).join(' < ')}` : '';
    return result(classifyException(msg), `${phase}: ${msg}${where}`);
  }
}
