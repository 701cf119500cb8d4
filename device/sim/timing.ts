// Timing parameters of the cycle-approximate model: when functional steps happen, never what they do.

/**
 * Named timing parameters. Each functional step of the device is synchronous and complete; these
 * only decide when it happens. With every delay zero and pacing off the model is still correct.
 */
export interface TimingParams {
  /** Link speed in Mbit/s (10, 100, 1000, 10000, ...). */
  linkSpeedMbps: number;
  /** Preamble + start-of-frame delimiter bytes each frame costs on the wire. */
  preambleBytes: number;
  /** Minimum inter-frame gap in bytes. */
  ifgBytes: number;
  /** Serialize transmitted frames at the link rate (false: a frame leaves as soon as it is fetched). */
  paceLink: boolean;
  /** Apply ITR/EITR minimum intervals (256 ns units) to interrupt messages. */
  interruptThrottling: boolean;
  /** Time from autonegotiation restart (or PHY power-up) to link up, ns. */
  autonegNs: number;
  /** Delay from a tail-register write to the start of descriptor processing, ns. */
  doorbellNs: number;
}

/** Defaults: 1 GbE, 8 B preamble, 12 B gap, paced, throttled, 500 ms autonegotiation (QEMU's figure). */
export const DEFAULT_TIMING: TimingParams = {
  linkSpeedMbps: 1000,
  preambleBytes: 8,
  ifgBytes: 12,
  paceLink: true,
  interruptThrottling: true,
  autonegNs: 500_000_000,
  doorbellNs: 0,
};

/** Every delay zero and nothing paced: the purely functional model. */
export const ZERO_TIMING: TimingParams = {
  ...DEFAULT_TIMING,
  paceLink: false,
  interruptThrottling: false,
  autonegNs: 0,
  doorbellNs: 0,
};

export function resolveTiming(overrides?: Partial<TimingParams>): TimingParams {
  return { ...DEFAULT_TIMING, ...(overrides ?? {}) };
}

/** Time a frame of `frameBytes` (FCS included) occupies the link, ns (fractional). */
export function wireTimeNs(t: TimingParams, frameBytes: number): number {
  return ((frameBytes + t.preambleBytes + t.ifgBytes) * 8 * 1000) / t.linkSpeedMbps;
}
