// Point-to-point Ethernet links between NIC ports: loopback and a pair joining two NICs.

import type { GsoRequest } from '../device/host.js';
import { segmentGso } from './gso.js';

/** What a wire needs from time: schedule a callback after a delay (ns). */
export interface WireScheduler {
  schedule(delayNs: number, cb: () => void, priority?: number): unknown;
}

/** Something that can receive frames and sense carrier: a NIC's MAC/PHY side. */
export interface WireEndpoint {
  receiveFrame(frame: Uint8Array): void;
  setCarrier(present: boolean): void;
}

/** A NIC's handle on a wire: send frames, and unplug. */
export interface WirePort {
  send(frame: Uint8Array): void;
  /** Present where the far side segments TSO packets itself (a TAP with a virtio-net header). */
  sendGso?(packet: Uint8Array, gso: GsoRequest): void;
  detach(): void;
  /** Frames this port sent and received, for tests and the counters view. */
  readonly stats: { txFrames: number; txBytes: number; rxFrames: number; rxBytes: number };
}

/** Options shared by the built-in wires. */
export interface WireOptions {
  /** Propagation latency in ns; 0 delivers synchronously. */
  latencyNs?: number;
  scheduler?: WireScheduler;
  /** Observes every frame that crosses the wire (pcap capture, tests). */
  tap?: (frame: Uint8Array, fromSide: number) => void;
  /**
   * The ports take whole TSO packets (GSO) and segment them as a Linux host does for a TAP
   * with a virtio-net header: in-process runs then exercise the path a served NIC takes.
   */
  gso?: boolean;
}

const WIRE_PRIORITY = 4;

class Port implements WirePort {
  readonly stats = { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0 };
  sendGso?: (packet: Uint8Array, gso: GsoRequest) => void;
  constructor(
    readonly side: number,
    private readonly wire: LinkWire,
    public ep: WireEndpoint | null,
    gso: boolean,
  ) {
    if (gso) this.sendGso = (p, g) => {
      for (const f of segmentGso(p, g)) this.send(f);
    };
  }
  send(frame: Uint8Array): void {
    this.stats.txFrames++;
    this.stats.txBytes += frame.length;
    this.wire.carry(this.side, frame);
  }
  detach(): void {
    this.wire.detach(this.side);
  }
  deliver(frame: Uint8Array): void {
    if (!this.ep) return;
    this.stats.rxFrames++;
    this.stats.rxBytes += frame.length;
    this.ep.receiveFrame(frame);
  }
}

/**
 * A cable with two ends. A frame sent from one end arrives at the other after the latency;
 * both ends see carrier while both are attached. With `loopback`, one end is joined to itself.
 */
export class LinkWire {
  private ports: (Port | null)[] = [null, null];
  private readonly latency: number;

  constructor(
    private readonly opts: WireOptions = {},
    private readonly loopback = false,
  ) {
    this.latency = opts.latencyNs ?? 0;
    if (this.latency > 0 && !opts.scheduler) throw new Error('a wire with latency needs a scheduler');
  }

  /** Plugs an endpoint into side 0 or 1 (a loopback wire has only side 0). */
  attach(side: 0 | 1, ep: WireEndpoint): WirePort {
    if (this.loopback && side !== 0) throw new Error('a loopback wire has one side');
    if (this.ports[side]) throw new Error(`wire side ${side} is already attached`);
    const p = new Port(side, this, ep, this.opts.gso === true);
    this.ports[side] = p;
    this.updateCarrier();
    return p;
  }

  detach(side: number): void {
    const p = this.ports[side];
    if (!p) return;
    const ep = p.ep;
    p.ep = null;
    this.ports[side] = null;
    ep?.setCarrier(false);
    this.updateCarrier();
  }

  private peerOf(side: number): Port | null {
    return this.loopback ? this.ports[0]! : this.ports[1 - side] ?? null;
  }

  private updateCarrier(): void {
    if (this.loopback) {
      this.ports[0]?.ep?.setCarrier(true);
      return;
    }
    const both = this.ports[0] !== null && this.ports[1] !== null;
    this.ports[0]?.ep?.setCarrier(both);
    this.ports[1]?.ep?.setCarrier(both);
  }

  /** Moves a frame from `side` to the other end. */
  carry(side: number, frame: Uint8Array): void {
    this.opts.tap?.(frame, side);
    const peer = this.peerOf(side);
    if (!peer) return;
    if (this.latency === 0) peer.deliver(frame);
    else this.opts.scheduler!.schedule(this.latency, () => peer.deliver(frame), WIRE_PRIORITY);
  }
}

/** A wire joining two NICs. */
export function createPair(opts: WireOptions = {}): LinkWire {
  return new LinkWire(opts, false);
}

/** A wire whose far end is its near end: every frame sent comes back. */
export function createLoopback(opts: WireOptions = {}): LinkWire {
  return new LinkWire(opts, true);
}
