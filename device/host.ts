// DeviceHost: everything a device model may ask of the world (the SimBricks nicbm split).

import type { GuestAddr } from './types.js';
import type { TraceSink } from './trace.js';

/**
 * A TCP segmentation job a host can take over (generic segmentation offload): one packet with
 * its headers once, set for the whole packet (IPv4 total length and checksum, or IPv6 payload
 * length) and the TCP checksum field holding the pseudo-header sum with the whole TCP length.
 * Segmenting it must give exactly the frames the device would send: MSS-sized payloads, IPv4
 * IDs counting up, sequence numbers advancing, FIN/PSH on the last segment and CWR on the first.
 */
export interface GsoRequest {
  ipv6: boolean;
  /** Bytes of Ethernet, IP and TCP headers. */
  hdrLen: number;
  mss: number;
  /** Offset of the TCP header, and of its checksum field within it. */
  csumStart: number;
  csumOffset: number;
  /** Segments it makes. */
  segments: number;
}

/** An event the host scheduled for the device; opaque to the device. */
export interface EventHandle {
  readonly id: number;
}

/**
 * Implemented by each host of a device (the in-process testbed, the vfio-user server).
 * Devices reach guest memory, interrupts, the wire and time only through this.
 */
export interface DeviceHost {
  /**
   * Reads guest memory into `dst`. Returns false, leaving `dst` unspecified, when any byte of
   * the range lies outside guest memory the host lets the device reach (a master abort).
   */
  dmaRead(addr: GuestAddr, dst: Uint8Array): boolean;
  /** Writes guest memory. Returns false, writing nothing, when any byte lies outside. */
  dmaWrite(addr: GuestAddr, src: Uint8Array): boolean;

  /** An MSI-X message for `vector`. `addr`/`data` come from the device's table when it emulates one. */
  signalMsix(vector: number, addr: GuestAddr, data: number): void;
  /** An MSI message (`vector` is the offset inside a multi-message block). */
  signalMsi(vector: number, addr: GuestAddr, data: number): void;
  /** Drives the INTx line (level-triggered). */
  setIntx(asserted: boolean): void;

  /** Puts an Ethernet frame (no FCS) on the wire. The device must not reuse `frame` afterwards. */
  sendFrame(frame: Uint8Array): void;
  /**
   * Optional: whether the far side takes whole TSO packets now (a TAP with a virtio-net
   * header and nothing watching single frames), and the send for them. The device still
   * counts, paces and traces every segment as its own frame. The host is done with `packet`
   * when sendGso returns (it writes or segments it at once), so the device may reuse it.
   */
  gsoReady?(): boolean;
  sendGso?(packet: Uint8Array, gso: GsoRequest): void;

  /** Current time in integer nanoseconds (virtual in-process, wall-clock based under QEMU). */
  now(): number;
  /** Runs `cb` after `delayNs`; ties are broken by priority (lower first) then order of scheduling. */
  schedule(delayNs: number, cb: () => void, priority?: number): EventHandle;
  cancel(handle: EventHandle): void;

  /** Where the device's trace points go. */
  readonly trace: TraceSink;
}
