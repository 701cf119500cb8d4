// vfio-user costs: non-posted round trips and posted writes per second against a `nicsim serve` process.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireNative } from '../qemu/native/index.js';
import { VfioUserClient } from '../qemu/client.js';
import * as C from '../qemu/client-codec.js';
import * as D from '../device/e1000e/defs.js';

export interface VfioUserBenchResult {
  /** An unimplemented command answered with ENOTSUP: the protocol's own round trip (baseline). */
  baselineRoundTripsPerSec: number;
  /** REGION_READ of STATUS: a non-posted register read as a vCPU does it. */
  readRoundTripsPerSec: number;
  /** REGION_WRITE with NO_REPLY, fenced by a read at the end. */
  postedWritesPerSec: number;
  readOverBaseline: number;
  meanReadRoundTripUs: number;
}

// The built CLI, whether this file runs from dist/ or from the source tree (tests).
const CLI = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../cli/main.js' : '../dist/cli/main.js', import.meta.url));

async function timed(seconds: number, step: () => Promise<number>): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let n = 0;
  const t0 = performance.now();
  while (performance.now() < end) n += await step();
  return n / ((performance.now() - t0) / 1000);
}

/** Starts a server process, connects a client, and measures each figure for `seconds`. */
export async function runVfioUserBench(o: { seconds?: number } = {}): Promise<VfioUserBenchResult> {
  const seconds = o.seconds ?? 3;
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm ci\` (it builds dist/)`);
  const dir = mkdtempSync(join(tmpdir(), 'nicsim-vfu-bench-'));
  const sock = join(dir, 'vfu.sock');
  const proc = spawn(process.execPath, [CLI, 'serve', '--socket', sock, '--backend', 'none'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  try {
    const t0 = Date.now();
    while (!out.includes('serving')) {
      if (Date.now() - t0 > 15_000) throw new Error(`server did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const c = VfioUserClient.connect(requireNative(), sock);
    await c.request(C.versionReq());
    const unknown = () => C.rawReq(0x7fff, new Uint8Array(0));
    const baseline = await timed(seconds, async () => {
      await c.request(unknown(), [], 0);
      return 1;
    });
    const read = await timed(seconds, async () => {
      await c.request(C.regionReadReq(0, D.REG.STATUS, 4), [], 0);
      return 1;
    });
    const batch = 2000;
    const value = C.le32(0x12345678);
    const posted = await timed(seconds, async () => {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < batch; i++) parts.push(C.regionWriteReq(0, D.RAL(15), value, true));
      c.sendRaw(Buffer.concat(parts));
      await c.request(C.regionReadReq(0, D.RAL(15), 4), [], 0); // fence: replies come in order
      return batch;
    });
    c.close();
    return {
      baselineRoundTripsPerSec: baseline,
      readRoundTripsPerSec: read,
      postedWritesPerSec: posted,
      readOverBaseline: read / baseline,
      meanReadRoundTripUs: 1e6 / read,
    };
  } finally {
    proc.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}
