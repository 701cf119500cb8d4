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
  /** MMIO write latency: a posted register write reaching the device, ns (adds to the doorbell). */
  mmioNs: number;
  /** PCIe DMA read latency (request to completion), ns: paid for descriptor fetches and packet data. */
  dmaReadNs: number;
  /** Descriptor fetch latency on top of the DMA read, ns (descriptor cache miss handling). */
  descFetchNs: number;
  /** Descriptor write-back latency: from completion to the write-back landing in host memory, ns. */
  writebackNs: number;
  /** Honour RDTR/RADV and TIDV/TADV (1.024 us units) outside MSI-X, as the 82574 does. */
  interruptDelayTimers: boolean;
}

/** Names and one-line meanings, for --help, config validation and reports. */
export const TIMING_DOC: Record<keyof TimingParams, string> = {
  linkSpeedMbps: 'link speed, Mbit/s',
  preambleBytes: 'preamble + SFD bytes per frame',
  ifgBytes: 'inter-frame gap bytes',
  paceLink: 'serialize frames at the link rate',
  interruptThrottling: 'apply ITR/EITR (256 ns units)',
  autonegNs: 'autonegotiation time, ns',
  doorbellNs: 'extra doorbell-to-fetch delay, ns',
  mmioNs: 'MMIO write latency, ns',
  dmaReadNs: 'PCIe DMA read latency, ns',
  descFetchNs: 'descriptor fetch latency on top of the DMA read, ns',
  writebackNs: 'descriptor write-back latency, ns',
  interruptDelayTimers: 'honour RDTR/RADV/TIDV/TADV outside MSI-X',
};

/** Defaults: 1 GbE, 8 B preamble, 12 B gap, paced, throttled, 500 ms autonegotiation (QEMU's figure). */
export const DEFAULT_TIMING: TimingParams = {
  linkSpeedMbps: 1000,
  preambleBytes: 8,
  ifgBytes: 12,
  paceLink: true,
  interruptThrottling: true,
  autonegNs: 500_000_000,
  doorbellNs: 0,
  // PCIe figures after SimBricks' defaults (500 ns PCIe latency) and a measured ~850 ns FPGA round trip.
  mmioNs: 250,
  dmaReadNs: 500,
  descFetchNs: 0,
  writebackNs: 250,
  interruptDelayTimers: true,
};

/** Every delay zero and nothing paced: the purely functional model. */
export const ZERO_TIMING: TimingParams = {
  ...DEFAULT_TIMING,
  paceLink: false,
  interruptThrottling: false,
  autonegNs: 0,
  doorbellNs: 0,
  mmioNs: 0,
  dmaReadNs: 0,
  descFetchNs: 0,
  writebackNs: 0,
  interruptDelayTimers: false,
};

export function resolveTiming(overrides?: Partial<TimingParams>): TimingParams {
  return validateTiming({ ...DEFAULT_TIMING, ...(overrides ?? {}) });
}

/** Checks every field's type and range; throws with the field named (configuration is ours to get right). */
export function validateTiming(t: TimingParams): TimingParams {
  for (const k of Object.keys(t) as (keyof TimingParams)[]) {
    if (!(k in TIMING_DOC)) throw new Error(`unknown timing parameter '${k}' (known: ${Object.keys(TIMING_DOC).join(', ')})`);
    const v = t[k];
    if (typeof DEFAULT_TIMING[k] === 'boolean') {
      if (typeof v !== 'boolean') throw new Error(`timing parameter ${k} must be true or false`);
    } else if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new Error(`timing parameter ${k} must be a non-negative number`);
    }
  }
  if (t.linkSpeedMbps <= 0) throw new Error('linkSpeedMbps must be positive');
  return t;
}

/** Parses `key=value` overrides (from --set) into a partial TimingParams. */
export function parseTimingSets(sets: string[]): Partial<TimingParams> {
  const out: Record<string, number | boolean> = {};
  for (const s of sets) {
    const m = /^(\w+)=(.*)$/.exec(s);
    if (!m) throw new Error(`--set takes key=value, got '${s}'`);
    const [, k, v] = m as unknown as [string, keyof TimingParams, string];
    if (!(k in TIMING_DOC)) throw new Error(`unknown timing parameter '${k}' (known: ${Object.keys(TIMING_DOC).join(', ')})`);
    out[k] = typeof DEFAULT_TIMING[k] === 'boolean' ? v === 'true' || v === '1' : Number(v);
  }
  return out as Partial<TimingParams>;
}

/** Time a frame of `frameBytes` (FCS included) occupies the link, ns (fractional). */
export function wireTimeNs(t: TimingParams, frameBytes: number): number {
  return ((frameBytes + t.preambleBytes + t.ifgBytes) * 8 * 1000) / t.linkSpeedMbps;
}
