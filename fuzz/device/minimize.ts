// Shrinks a failing device fuzz input while the same oracle keeps failing: cut after the failing op, drop ops, shorten byte strings, zero fields.

import { decode, encode, type OpSource } from './ops.js';
import { execute, type ExecResult, type HarnessOptions } from './exec.js';

/** What makes two failures "the same": the oracle, and for exceptions the error text without numbers. */
export function failureSignature(r: { oracle?: string; message?: string }): string {
  if (!r.oracle) return 'ok';
  if (r.oracle !== 'exception') return r.oracle;
  const m = (r.message ?? '').replace(/^\w+: /, '').replace(/0x[0-9a-f]+|\d+/gi, 'N');
  return `exception:${m}`;
}

function sources(b: Uint8Array): { profile: number; ops: OpSource[] } {
  const p = decode(b);
  return {
    profile: p.profile,
    ops: p.ops.map((o) => ({ name: o.name, args: o.args.slice(), ...(o.data ? { data: o.data } : {}) })),
  };
}

/**
 * Returns the smallest input found (within `budget` executions) that still fails with the
 * same signature as `bytes`. Returns `bytes` unchanged if it does not fail.
 */
export function minimizeBytes(bytes: Uint8Array, opts: HarnessOptions = {}, budget = 3000): Uint8Array {
  const first = execute(bytes, opts);
  if (first.ok) return bytes;
  const want = failureSignature(first);
  let runs = 0;
  const fails = (b: Uint8Array): ExecResult | null => {
    if (runs++ >= budget) return null;
    const r = execute(b, opts);
    return !r.ok && failureSignature(r) === want ? r : null;
  };
  let { profile, ops } = sources(bytes);
  let best = encode(profile, ops);
  if (!fails(best)) best = bytes; // re-encoding should be equivalent; keep the original if not
  else if (first.failedAt >= 0 && first.failedAt < ops.length - 1) {
    const cut = ops.slice(0, first.failedAt + 1);
    const b = encode(profile, cut);
    if (fails(b)) {
      ops = cut;
      best = b;
    }
  }
  if (best === bytes) return bytes;
  // Drop chunks of operations, halving the chunk size (ddmin-style).
  for (let chunk = Math.max(1, ops.length >> 1); chunk >= 1 && runs < budget; chunk >>= 1) {
    for (let i = 0; i + chunk <= ops.length && runs < budget; ) {
      const cand = ops.slice(0, i).concat(ops.slice(i + chunk));
      const b = encode(profile, cand);
      if (cand.length < ops.length && fails(b)) {
        ops = cand;
        best = b;
      } else i += chunk;
    }
  }
  // Shorten byte strings, then zero numeric fields one at a time.
  for (let k = 0; k < ops.length && runs < budget; k++) {
    const o = ops[k]!;
    while (o.data && o.data.length > 0 && runs < budget) {
      const prev = o.data;
      o.data = Array.from(prev).slice(0, prev.length >> 1);
      const b = encode(profile, ops);
      if (fails(b)) best = b;
      else {
        o.data = prev;
        break;
      }
    }
    const args = o.args ?? [];
    for (let j = 0; j < args.length && runs < budget; j++) {
      if (args[j] === 0) continue;
      const prev = args[j]!;
      args[j] = 0;
      const b = encode(profile, ops);
      if (fails(b)) best = b;
      else args[j] = prev;
    }
  }
  if (profile !== 0 && runs < budget) {
    const b = encode(0, ops);
    if (fails(b)) {
      profile = 0;
      best = b;
    }
  }
  return best;
}
