// A built-in learning Ethernet switch: NICs (and backends) on its ports, each link with a modeled latency.

import type { WireEndpoint, WirePort, WireScheduler } from './wire.js';

/** Options of a switch. */
export interface SwitchOptions {
  /** One-way latency from port to port (cables and switching) in ns; 0 delivers synchronously. */
  latencyNs?: number;
  /** Scheduler for delayed delivery, unless a port brings its own (see attach). */
  scheduler?: WireScheduler;
  /** Learned MAC addresses age out after this long without a frame from them (ns of that port's clock). */
  ageNs?: number;
  /** Largest MAC table; the oldest entry goes when full. */
  maxMacs?: number;
  /** Observes every frame entering the switch (capture, tests). */
  tap?: (frame: Uint8Array, fromPort: number) => void;
  /** The time, for ageing (virtual in-process, wall under QEMU). Without it entries never age. */
  now?: () => number;
}

/** Per-port options: a port whose endpoint runs on its own clock delivers on that clock. */
export interface SwitchPortOptions {
  scheduler?: WireScheduler;
  name?: string;
}

/** Switch-wide counters. */
export interface SwitchStats {
  forwarded: number;
  flooded: number;
  /** Frames whose destination was learned on the port they came in on (a hairpin): dropped, as a bridge does. */
  filtered: number;
  /** Frames too short to carry two MAC addresses. */
  runts: number;
  learned: number;
}

const SWITCH_PRIORITY = 4;

class SwitchPort implements WirePort {
  readonly stats = { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0 };
  constructor(
    readonly index: number,
    readonly name: string,
    private readonly sw: EthernetSwitch,
    public ep: WireEndpoint | null,
    readonly scheduler: WireScheduler | undefined,
  ) {}
  send(frame: Uint8Array): void {
    if (!this.ep) return;
    this.stats.txFrames++;
    this.stats.txBytes += frame.length;
    this.sw.ingress(this, frame);
  }
  detach(): void {
    this.sw.detachPort(this);
  }
  deliver(frame: Uint8Array): void {
    if (!this.ep) return;
    this.stats.rxFrames++;
    this.stats.rxBytes += frame.length;
    this.ep.receiveFrame(frame);
  }
}

/**
 * A store-and-forward learning bridge (802.1D without spanning tree): it learns source MACs per
 * port, forwards known unicast to one port, and floods broadcast, multicast and unknown unicast
 * to all other ports. Every port has link as soon as something is plugged in. A frame reaches
 * its destination latencyNs after it was sent (cables and switching together).
 */
export class EthernetSwitch {
  readonly stats: SwitchStats = { forwarded: 0, flooded: 0, filtered: 0, runts: 0, learned: 0 };
  private readonly ports: (SwitchPort | null)[] = [];
  /** MAC (as a 48-bit number) -> port and last-seen time. Map order is insertion order, used for eviction. */
  private readonly macs = new Map<number, { port: SwitchPort; seen: number }>();
  private readonly latency: number;

  constructor(private readonly opts: SwitchOptions = {}) {
    this.latency = opts.latencyNs ?? 0;
    if (!Number.isFinite(this.latency) || this.latency < 0) throw new Error(`switch latency must be >= 0 ns, not ${opts.latencyNs}`);
  }

  /** Plugs an endpoint into a free port; it sees carrier at once. */
  attach(ep: WireEndpoint, o: SwitchPortOptions = {}): WirePort {
    const sched = o.scheduler ?? this.opts.scheduler;
    if (this.latency > 0 && !sched) throw new Error('a switch with latency needs a scheduler (on the switch or the port)');
    let i = this.ports.indexOf(null);
    if (i < 0) i = this.ports.length;
    const p = new SwitchPort(i, o.name ?? `port${i}`, this, ep, sched);
    this.ports[i] = p;
    ep.setCarrier(true);
    return p;
  }

  /** Ports in use, with their names and counters (the counters view). */
  portList(): { index: number; name: string; stats: WirePort['stats'] }[] {
    return this.ports.filter((p): p is SwitchPort => p !== null).map((p) => ({ index: p.index, name: p.name, stats: { ...p.stats } }));
  }

  /** Learned addresses, as aa:bb:cc:dd:ee:ff -> port name. */
  macTable(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [mac, e] of this.macs) out[macString(mac)] = e.port.name;
    return out;
  }

  detachPort(p: SwitchPort): void {
    if (this.ports[p.index] !== p) return;
    this.ports[p.index] = null;
    for (const [mac, e] of this.macs) if (e.port === p) this.macs.delete(mac);
    const ep = p.ep;
    p.ep = null;
    ep?.setCarrier(false);
  }

  ingress(from: SwitchPort, frame: Uint8Array): void {
    this.opts.tap?.(frame, from.index);
    if (frame.length < 12) {
      this.stats.runts++;
      return;
    }
    const now = this.opts.now?.() ?? 0;
    const src = mac48(frame, 6);
    if (!(frame[6]! & 1)) this.learn(src, from, now);
    const dstGroup = (frame[0]! & 1) !== 0;
    if (!dstGroup) {
      const e = this.macs.get(mac48(frame, 0));
      if (e && (this.opts.ageNs === undefined || now - e.seen <= this.opts.ageNs)) {
        if (e.port === from) {
          this.stats.filtered++;
          return;
        }
        this.stats.forwarded++;
        this.send(e.port, frame);
        return;
      }
    }
    this.stats.flooded++;
    for (const p of this.ports) if (p && p !== from) this.send(p, frame);
  }

  private learn(src: number, port: SwitchPort, now: number): void {
    const e = this.macs.get(src);
    if (e) {
      if (e.port !== port) {
        // Moved (or a new NIC with an old MAC): re-insert so eviction order stays by last change.
        this.macs.delete(src);
        this.macs.set(src, { port, seen: now });
      } else e.seen = now;
      return;
    }
    const max = this.opts.maxMacs ?? 4096;
    if (this.macs.size >= max) this.macs.delete(this.macs.keys().next().value!);
    this.macs.set(src, { port, seen: now });
    this.stats.learned++;
  }

  private send(to: SwitchPort, frame: Uint8Array): void {
    // Each receiver gets its own copy: a NIC model may keep or modify the buffer it is given.
    const copy = frame.slice();
    if (this.latency === 0) {
      to.deliver(copy);
      return;
    }
    // On the receiver's clock: under QEMU each NIC's device runs on its own wall clock.
    to.scheduler!.schedule(this.latency, () => to.deliver(copy), SWITCH_PRIORITY);
  }
}

function mac48(b: Uint8Array, o: number): number {
  return ((b[o]! * 0x10000 + (b[o + 1]! << 8) + b[o + 2]!) * 0x1000000) + ((b[o + 3]! << 16) | (b[o + 4]! << 8) | b[o + 5]!);
}

function macString(m: number): string {
  const hi = Math.floor(m / 0x1000000);
  const lo = m % 0x1000000;
  return [hi >> 16, (hi >> 8) & 0xff, hi & 0xff, lo >> 16, (lo >> 8) & 0xff, lo & 0xff].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
