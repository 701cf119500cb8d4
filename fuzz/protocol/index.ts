// `nicsim fuzz protocol`: a hostile vfio-user client against the server, at session level (in-process) or over real sockets.

import { join } from 'node:path';
import { mulberry32 } from '../../device/sim/rng.js';
import { CORPUS_DIR, inputBytes, listInputs, loadInput, makeInput, saveInput, type FuzzInput, type FuzzReport, type ReplayResult } from '../finding.js';
import { decode, randomInput, randomRecord, records, OP_COUNT } from './actions.js';
import { CoverageProbe } from './coverage.js';
import type { Violation } from './oracles.js';
import { SessionHarness } from './session-level.js';
import { SocketHarness, tick } from './socket-level.js';

export { decode, records, randomInput } from './actions.js';
export { SessionHarness } from './session-level.js';
export { SocketHarness } from './socket-level.js';
export { KNOWN_FINDINGS, KNOWN_ORACLES, FIXED_FINDINGS, type KnownFinding } from './known.js';

export type ProtocolLevel = 'session' | 'socket';

export interface ProtocolFuzzOptions {
  seconds: number;
  seed: number;
  level?: ProtocolLevel;
  maxExecs?: number;
  findingsDir?: string;
  log?: (l: string) => void;
  /** 'random' (seeded structure-aware mutation, the default) or 'coverage' (the same, guided by V8 block coverage of qemu/). */
  engine?: 'random' | 'coverage';
  /** Oracles not to report (known bugs awaiting a fix); they are counted in extra.suppressed. */
  suppress?: string[];
  /** Seed inputs (default: the corpus in fuzz/corpus/protocol). */
  corpus?: Uint8Array[];
}

/** The protocol corpus kept in the repository. */
export const PROTOCOL_CORPUS_DIR = join(CORPUS_DIR, 'protocol');

export function loadProtocolCorpus(dir = PROTOCOL_CORPUS_DIR): FuzzInput[] {
  return listInputs(dir).map(loadInput).filter((i) => i.kind === 'protocol');
}

// ---- mutation ----

/** Structure-aware mutation: records are cut, duplicated, inserted, spliced; bytes inside params flipped or set to edge values. */
export function mutate(data: Uint8Array, rand: () => number, other?: Uint8Array): Uint8Array {
  const recs: Uint8Array[] = records(data).map((r) => data.slice(r.start, r.end));
  const n = 1 + Math.floor(rand() * 4);
  const pick = () => Math.floor(rand() * recs.length);
  for (let i = 0; i < n; i++) {
    const k = Math.floor(rand() * 10);
    if (recs.length === 0 || k === 0) {
      recs.splice(recs.length ? pick() : 0, 0, randomRecord(rand));
    } else if (k === 1 && recs.length > 1) {
      recs.splice(pick(), 1);
    } else if (k === 2) {
      const j = pick();
      recs.splice(pick(), 0, recs[j]!.slice());
    } else if (k === 3 && other) {
      const o = records(other);
      if (o.length) {
        const s = o[Math.floor(rand() * o.length)]!;
        const cnt = 1 + Math.floor(rand() * 4);
        const from = o.indexOf(s);
        for (const r of o.slice(from, from + cnt)) recs.splice(pick(), 0, other.slice(r.start, r.end));
      }
    } else if (k === 4) {
      const j = pick();
      const r = recs[j]!;
      r[0] = Math.floor(rand() * OP_COUNT);
    } else {
      // params: flip a bit, set a byte (small values select table entries), grow or shrink
      const j = pick();
      let r = recs[j]!;
      const op = Math.floor(rand() * 5);
      if (op === 0 || r.length < 3) {
        const grow = 1 + Math.floor(rand() * 4);
        const nr = new Uint8Array(r.length + grow);
        nr.set(r);
        for (let x = r.length; x < nr.length; x++) nr[x] = rand() < 0.5 ? Math.floor(rand() * 8) : Math.floor(rand() * 256);
        nr[1] = Math.min(255, nr.length - 2);
        r = nr;
      } else if (op === 1) {
        r = r.slice(0, 2 + Math.floor(rand() * (r.length - 2)));
        r[1] = r.length - 2;
      } else {
        const at = 2 + Math.floor(rand() * (r.length - 2));
        r[at] = op === 2 ? r[at]! ^ (1 << Math.floor(rand() * 8)) : op === 3 ? Math.floor(rand() * 16) : [0, 0xff, 0x7f, 0x80, 1][Math.floor(rand() * 5)]!;
      }
      recs[j] = r;
    }
  }
  return new Uint8Array(Buffer.concat(recs.slice(0, 120)));
}

// ---- running one input ----

type Harness = { level: 'session'; h: SessionHarness } | { level: 'socket'; h: SocketHarness };

function makeHarness(level: ProtocolLevel): Harness {
  return level === 'session' ? { level, h: new SessionHarness() } : { level, h: new SocketHarness() };
}

async function closeHarness(x: Harness): Promise<void> {
  if (x.level === 'session') x.h.close();
  else await x.h.close();
}

// ---- minimizing ----

/**
 * Shrinks an input: drops runs of records (halving), then shortens params, then zeroes bytes (0 is
 * always the sane choice). Each candidate is sent out; the reply says whether it still reproduces.
 */
function* shrinker(data: Uint8Array): Generator<Uint8Array, Uint8Array, boolean> {
  let best = data;
  const recs = () => records(best).map((r) => best.slice(r.start, r.end));
  for (let chunk = Math.max(1, records(best).length >> 1); chunk >= 1; chunk >>= 1) {
    for (let i = 0; ; ) {
      const rs = recs();
      if (i >= rs.length) break;
      const cand = Buffer.concat([...rs.slice(0, i), ...rs.slice(i + chunk)]);
      if (cand.length > 0 && (yield new Uint8Array(cand))) best = new Uint8Array(cand);
      else i += chunk;
    }
  }
  // shorten params of each record, then zero bytes
  for (let i = 0; i < records(best).length; i++) {
    for (;;) {
      const rs = recs();
      const r = rs[i]!;
      if (r.length <= 2) break;
      const nr = r.slice(0, r.length - 1);
      nr[1] = nr.length - 2;
      const cand = new Uint8Array(Buffer.concat([...rs.slice(0, i), nr, ...rs.slice(i + 1)]));
      if (yield cand) best = cand;
      else break;
    }
    const rs = recs();
    let start = 0;
    for (let k = 0; k < i; k++) start += rs[k]!.length;
    for (let b = start + 2; b < start + rs[i]!.length; b++) {
      // 0 first (the sane choice), then each set bit cleared
      for (const x of [0, ...[0, 1, 2, 3, 4, 5, 6, 7].map((k) => best[b]! & ~(1 << k))]) {
        if (best[b] === 0) break;
        if (x === best[b]) continue;
        const cand = best.slice();
        cand[b] = x;
        if (yield cand) best = cand;
      }
    }
  }
  return best;
}

function sameFailure(v: Violation | null, oracle: string | undefined): boolean {
  return v !== null && (oracle === undefined || v.oracle === oracle);
}

function levelOf(input: FuzzInput): ProtocolLevel {
  return input.options?.level === 'socket' ? 'socket' : 'session';
}

function toResult(v: Violation | null): ReplayResult {
  return v ? { ok: false, oracle: v.oracle, message: v.message } : { ok: true };
}

function replaySession(data: Uint8Array): Violation | null {
  const h = new SessionHarness();
  try {
    return h.run(decode(data)).violation;
  } finally {
    h.close();
  }
}

async function replaySocket(data: Uint8Array, h?: SocketHarness): Promise<Violation | null> {
  const own = h ?? new SocketHarness();
  try {
    return (await own.run(decode(data))).violation;
  } finally {
    if (!h) await own.close();
  }
}

/** Replays a saved input at the level it was found at (options.level, default session). */
export function replayProtocol(input: FuzzInput): Promise<ReplayResult> | ReplayResult {
  const data = inputBytes(input);
  if (levelOf(input) === 'session') return toResult(replaySession(data));
  return replaySocket(data).then(toResult);
}

/**
 * Shrinks a session-level finding while it breaks the same oracle (at most `maxTries` replays).
 * Socket-level inputs need the event loop: use minimizeProtocolAsync for those.
 */
export function minimizeProtocol(input: FuzzInput, maxTries = 5000): FuzzInput {
  if (levelOf(input) === 'socket') throw new Error('minimizeProtocol: a socket-level input needs minimizeProtocolAsync');
  const h = new SessionHarness();
  try {
    const g = shrinker(inputBytes(input));
    let step = g.next();
    for (let n = 0; !step.done; n++) step = g.next(n < maxTries && sameFailure(h.run(decode(step.value)).violation, input.oracle));
    return { ...input, data: Buffer.from(step.value).toString('base64') };
  } finally {
    h.close();
  }
}

/** minimizeProtocol for either level. */
export async function minimizeProtocolAsync(input: FuzzInput, maxTries = 400): Promise<FuzzInput> {
  if (levelOf(input) === 'session') return minimizeProtocol(input);
  const h = new SocketHarness();
  try {
    const g = shrinker(inputBytes(input));
    let step = g.next();
    for (let n = 0; !step.done; n++) step = g.next(n < maxTries && sameFailure((await h.run(decode(step.value))).violation, input.oracle));
    return { ...input, data: Buffer.from(step.value).toString('base64') };
  } finally {
    await h.close();
  }
}

// ---- the engine ----

/** Runs the protocol fuzzer for `seconds` (or `maxExecs` inputs). One input is a sequence of messages and actions. */
export async function runProtocolFuzz(o: ProtocolFuzzOptions): Promise<FuzzReport> {
  const level = o.level ?? 'session';
  const engineKind = o.engine ?? 'random';
  const log = o.log ?? (() => {});
  const rand = mulberry32(o.seed);
  const suppress = new Set(o.suppress ?? []);
  const seeds = o.corpus ?? loadProtocolCorpus().map(inputBytes);
  const corpus: Uint8Array[] = seeds.length ? [...seeds] : [randomInput(rand)];
  const recent: Uint8Array[] = [];
  const harness = makeHarness(level);
  const probe = engineKind === 'coverage' ? new CoverageProbe() : null;
  probe?.start();
  const findings: FuzzInput[] = [];
  const findingFiles: string[] = [];
  const seenOracles = new Set<string>();
  let execs = 0;
  let messages = 0;
  let suppressed = 0;
  let violations = 0;
  const t0 = performance.now();
  const deadline = t0 + o.seconds * 1000;
  let lastYield = t0;
  let lastLog = t0;
  const budget = o.maxExecs ?? Infinity;
  try {
    while (execs < budget && performance.now() < deadline) {
      // next input: the corpus entries first, then fresh ones and mutants of corpus/recent inputs
      let data: Uint8Array;
      if (execs < seeds.length) data = seeds[execs]!;
      else {
        const x = rand();
        const pool = probe || recent.length === 0 || rand() < 0.5 ? corpus : recent;
        if (x < 0.2) data = randomInput(rand);
        else data = mutate(pool[Math.floor(rand() * pool.length)]!, rand, corpus[Math.floor(rand() * corpus.length)]);
      }
      const actions = decode(data);
      const outcome = harness.level === 'session' ? harness.h.run(actions) : await harness.h.run(actions);
      execs++;
      messages += outcome.messages;
      if (probe) {
        if (probe.add(probe.take()) > 0) corpus.push(data);
      } else {
        recent.push(data);
        if (recent.length > 256) recent.shift();
      }
      const v = outcome.violation;
      if (v) {
        violations++;
        if (suppress.has(v.oracle)) suppressed++;
        else if (!seenOracles.has(v.oracle)) {
          seenOracles.add(v.oracle);
          let f = makeInput('protocol', data, { seed: o.seed, oracle: v.oracle, message: v.message, options: { level } });
          try {
            f = level === 'session' ? minimizeProtocol(f) : await minimizeProtocolAsync(f);
            const r = await replayProtocol(f);
            if (!r.ok) f = { ...f, message: r.message };
          } catch (e) {
            log(`minimizing failed: ${String(e)}`);
          }
          findings.push(f);
          if (o.findingsDir) findingFiles.push(saveInput(o.findingsDir, f));
          log(`finding: ${v.oracle}: ${f.message}`);
        }
      }
      const now = performance.now();
      if (harness.level === 'session' && now - lastYield > 50) {
        // let timers and I/O run (the device's wall clock, the test runner)
        await tick();
        lastYield = performance.now();
      }
      if (now - lastLog > 5000) {
        log(`${execs} inputs, ${messages} messages, ${((messages * 1000) / (now - t0)).toFixed(0)} msg/s${probe ? `, ${probe.features} features` : ''}`);
        lastLog = now;
      }
    }
  } finally {
    probe?.stop();
    await closeHarness(harness);
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    kind: 'protocol',
    engine: `${level} level, ${engineKind === 'coverage' ? 'V8 precise-coverage-guided structure-aware mutation (qemu/ blocks)' : 'seeded structure-aware random generation and mutation'}`,
    execs,
    seconds,
    execsPerSec: execs / seconds,
    coverage: probe ? { features: probe.features, blocks: probe.blocks, corpus: corpus.length } : null,
    findings,
    findingFiles,
    extra: { messages, messagesPerSec: Math.round(messages / seconds), violations, suppressed, corpus: corpus.length },
  };
}
