// DeviceHost: everything a device model may ask of the world (the SimBricks nicbm split).

import type { GuestAddr } from './types.js';
import type { TraceSink } from './trace.js';

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

  /** Current time in integer nanoseconds (virtual in-process, wall-clock based under QEMU). */
  now(): number;
  /** Runs `cb` after `delayNs`; ties are broken by priority (lower first) then order of scheduling. */
  schedule(delayNs: number, cb: () => void, priority?: number): EventHandle;
  cancel(handle: EventHandle): void;

  /** Where the device's trace points go. */
  readonly trace: TraceSink;
}
