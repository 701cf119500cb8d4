// TAP backend: joins a NIC's wire port to a Linux TAP interface (/dev/net/tun, IFF_TAP | IFF_NO_PI).
import { Errno, errnoName, requireNative } from '../qemu/native/index.js';
import type { NativeSys, PollHandle } from '../qemu/native/index.js';
import type { WireEndpoint, WirePort } from './wire.js';
import type { GsoRequest } from '../device/host.js';

/** struct virtio_net_hdr (10 bytes, little-endian): what IFF_VNET_HDR puts before each frame. */
const VNET_HDR_LEN = 10;
/** Frames from the host share slabs of this size (each frame a view of its own bytes). */
const SLAB_BYTES = 512 * 1024;
/** The header of a plain frame: no checksum to fill, no segmentation. */
const NO_VNET_HDR = new Uint8Array(VNET_HDR_LEN);
const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
const VIRTIO_NET_HDR_GSO_TCPV6 = 4;

/** Frame counters, NIC's point of view: tx = NIC to host, rx = host to NIC. */
export interface TapStats {
  txFrames: number;
  txBytes: number;
  rxFrames: number;
  rxBytes: number;
  /** Frames lost: the TAP refused a write (-EAGAIN, queue full, interface down), or one arrived with nothing attached. */
  drops: number;
}

/** Options for TapBackend.open. */
export interface TapOptions {
  /** Syscalls to use; defaults to the real addon (requireNative()). */
  sys?: NativeSys;
  /**
   * Frames read per readiness callback before yielding to the event loop (default 256). The
   * watch is level-triggered, so the rest follow on the next loop turn; this keeps a flood
   * from starving the vfio-user socket.
   */
  readBudget?: number;
  /** Largest frame read from the TAP (default 65535; longer ones are truncated by the kernel). */
  maxFrame?: number;
  /** Told about a readiness or read error that closed the backend. */
  onError?: (err: Error) => void;
  /**
   * Open with IFF_VNET_HDR so whole TSO packets go to the host kernel in one write, which
   * segments them (default true; the kernel then still hands us only whole, MTU-sized,
   * checksummed frames).
   */
  vnetHdr?: boolean;
}

/** A TAP interface as the far end of a NIC's cable. */
export class TapBackend {
  /** Interface name the kernel assigned. */
  readonly name: string;
  readonly stats: TapStats & { gsoWrites: number; gsoSegments: number } = { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0, drops: 0, gsoWrites: 0, gsoSegments: 0 };
  /** Frames carry a virtio_net_hdr. */
  readonly vnetHdr: boolean;
  /** The virtio_net_hdr of a GSO write (the frame itself goes out uncopied, by writev). */
  private readonly hdr = new Uint8Array(VNET_HDR_LEN);
  private readonly hdrView = new DataView(this.hdr.buffer);
  private fd: number;
  private pollHandle: PollHandle | null;
  private ep: WireEndpoint | null = null;
  /** Frames from the host are read into this, one after another (see onReadable). */
  private slab: Uint8Array;
  private slabOff = 0;
  /** Largest read: the largest frame plus the virtio-net header. */
  private readonly readMax: number;
  private readonly budget: number;
  /** The NIC sent XOFF: the host side is not read until XON or the pause time ends. */
  private readPaused = false;
  /** The poll watch was stopped while paused (readable with nothing to do); XON starts it again. */
  private watchStopped = false;

  private constructor(
    private readonly sys: NativeSys,
    fd: number,
    name: string,
    private readonly opts: TapOptions,
    vnetHdr: boolean,
  ) {
    this.fd = fd;
    this.name = name;
    this.vnetHdr = vnetHdr;
    this.readMax = (opts.maxFrame ?? 65535) + (vnetHdr ? VNET_HDR_LEN : 0);
    this.slab = new Uint8Array(Math.max(SLAB_BYTES, 2 * this.readMax));
    this.budget = opts.readBudget ?? 256;
    try {
      this.pollHandle = sys.poll(fd, 'r', (status) => this.onReadable(status));
    } catch (err) {
      sys.close(fd);
      throw err;
    }
  }

  /**
   * Opens (creating if needed, attaching if it exists) TAP `name`; '' lets the kernel pick
   * tapN. Throws an Error with `errno`/`code` when the kernel refuses (no /dev/net/tun, no
   * CAP_NET_ADMIN, interface busy).
   */
  static open(name: string, opts: TapOptions = {}): TapBackend {
    const sys = opts.sys ?? requireNative();
    let r = sys.tapOpen(name, opts.vnetHdr ?? true);
    // A kernel or an existing TAP that refuses the vnet header still works without GSO.
    if (r === -Errno.EINVAL && (opts.vnetHdr ?? true)) r = sys.tapOpen(name, false);
    if (typeof r === 'number') {
      const code = errnoName(r);
      throw Object.assign(new Error(`cannot open TAP ${JSON.stringify(name)}: ${code}`), { errno: r, code });
    }
    return new TapBackend(sys, r.fd, r.name, opts, r.vnetHdr === true);
  }

  /** Frames are left in the host's TAP queue while paused (the NIC sent 802.3x XOFF). */
  setReadPaused(paused: boolean): void {
    if (this.fd < 0 || paused === this.readPaused) return;
    this.readPaused = paused;
    // Under a flood the NIC sends XOFF and XON thousands of times a second, often within one
    // loop turn, so the watch is stopped lazily: only when the TAP turns readable while paused.
    if (!paused && this.watchStopped) {
      this.watchStopped = false;
      this.pollHandle?.start('r');
    }
  }

  /** Carrier toward the NIC: up while the TAP is open. */
  get carrier(): boolean {
    return this.fd >= 0;
  }

  /** Plugs a NIC in: frames from the host go to ep.receiveFrame; the port sends toward the host. */
  attach(ep: WireEndpoint): WirePort {
    if (this.ep) throw new Error(`TAP ${this.name} already has an endpoint attached`);
    if (!this.carrier) throw new Error(`TAP ${this.name} is closed`);
    this.ep = ep;
    ep.setCarrier(true);
    const self = this;
    let attached = true;
    return {
      send(frame: Uint8Array): void {
        if (attached) self.send(frame);
      },
      ...(this.vnetHdr
        ? {
            sendGso(packet: Uint8Array, gso: GsoRequest): void {
              if (attached) self.sendGso(packet, gso);
            },
          }
        : {}),
      detach(): void {
        if (!attached) return;
        attached = false;
        self.detach(ep);
      },
      get stats() {
        return self.stats;
      },
    };
  }

  /** Writes one frame toward the host; false (and counted as a drop) when the TAP refused it. */
  send(frame: Uint8Array): boolean {
    if (!this.carrier) {
      this.stats.drops++;
      return false;
    }
    const n = this.vnetHdr ? this.sys.writev2(this.fd, NO_VNET_HDR, frame) : this.sys.write(this.fd, frame);
    if (n !== frame.length + (this.vnetHdr ? VNET_HDR_LEN : 0)) {
      // -EAGAIN: the host's queue is full; a NIC drops rather than waits.
      this.stats.drops++;
      return false;
    }
    this.stats.txFrames++;
    this.stats.txBytes += frame.length;
    return true;
  }

  /**
   * Writes a whole TSO packet with a virtio_net_hdr asking the host kernel to segment it
   * (GSO, NEEDS_CSUM): one write for what would be `gso.segments` frames. Counted as the
   * frames it makes, with their bytes.
   */
  sendGso(packet: Uint8Array, gso: GsoRequest): boolean {
    if (!this.carrier || !this.vnetHdr) {
      this.stats.drops += gso.segments;
      return false;
    }
    const n = this.sys.writev2(this.fd, this.gsoHeader(gso), packet);
    if (n !== VNET_HDR_LEN + packet.length) {
      this.stats.drops += gso.segments;
      return false;
    }
    this.stats.gsoWrites++;
    this.stats.gsoSegments += gso.segments;
    this.stats.txFrames += gso.segments;
    this.stats.txBytes += packet.length + (gso.segments - 1) * gso.hdrLen;
    return true;
  }

  /** The virtio_net_hdr asking the host to segment a TSO packet (GSO, NEEDS_CSUM); written out behind it with writev. */
  private gsoHeader(gso: GsoRequest): Uint8Array {
    const v = this.hdrView;
    v.setUint8(0, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    v.setUint8(1, gso.ipv6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4);
    v.setUint16(2, gso.hdrLen, true);
    v.setUint16(4, gso.mss, true);
    v.setUint16(6, gso.csumStart, true);
    v.setUint16(8, gso.csumOffset, true);
    return this.hdr;
  }

  /** Closes the TAP fd (a non-persistent interface disappears with it). Idempotent. */
  close(): void {
    if (this.fd < 0) return;
    this.pollHandle?.close();
    this.pollHandle = null;
    this.sys.close(this.fd);
    this.fd = -1;
    const ep = this.ep;
    this.ep = null;
    ep?.setCarrier(false);
  }

  private detach(ep: WireEndpoint): void {
    if (this.ep !== ep) return;
    this.ep = null;
    ep.setCarrier(false);
  }

  private onReadable(status: number): void {
    if (status < 0) return this.fail(new Error(`TAP ${this.name}: poll error ${errnoName(status)}`));
    if (this.readPaused) {
      // Level-triggered: leave the frames queued and stop watching until XON or the pause ends.
      this.watchStopped = true;
      this.pollHandle?.stop();
      return;
    }
    // A frame handed over may make the NIC send XOFF (setReadPaused):
    // a partner that honours pause sends nothing more, so the loop stops there too.
    for (let i = 0; i < this.budget && this.fd >= 0 && !this.readPaused; i++) {
      // Read straight into the slab: the frame handed over is a view of its own bytes there, so
      // no copy and no ArrayBuffer per frame (one per slab, freed once its frames are).
      if (this.slab.length - this.slabOff < this.readMax) {
        this.slab = new Uint8Array(this.slab.length);
        this.slabOff = 0;
      }
      const at = this.slabOff;
      const n = this.sys.read(this.fd, this.slab.subarray(at, at + this.readMax));
      if (n === -Errno.EAGAIN) return;
      if (n <= 0) return this.fail(new Error(`TAP ${this.name}: read ${n === 0 ? 'EOF' : errnoName(n)}`));
      const ep = this.ep;
      if (!ep) {
        this.stats.drops++;
        continue;
      }
      // With a vnet header the kernel puts one before each frame; without offloads it is all zeros.
      const h = this.vnetHdr ? VNET_HDR_LEN : 0;
      if (n <= h) {
        this.stats.drops++;
        continue;
      }
      const frame = this.slab.subarray(at + h, at + n);
      this.slabOff = (at + n + 7) & ~7;
      this.stats.rxFrames++;
      this.stats.rxBytes += n - h;
      ep.receiveFrame(frame);
    }
  }

  private fail(err: Error): void {
    this.close();
    this.opts.onError?.(err);
  }
}
