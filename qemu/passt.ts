// passt as a backend: user-mode networking (no root) over QEMU's stream protocol on a UNIX socket.

import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SocketBackend } from '../wire/socket.js';
import { honorPause } from '../wire/pause.js';
import { hostToolsIfProvisioned } from './host-root.js';
import type { Backend, OpenBackendOptions } from './backends.js';

/**
 * Addresses passt hands the guest by DHCP. Link-local, so nothing of the host's own addressing
 * leaks into the guest; passt translates the guest's connections to host sockets whatever
 * address the guest has, so it still reaches what the host reaches. The gateway stands for the
 * host's loopback (passt's --map-host-loopback).
 */
export const PASST_GUEST = '169.254.30.2';
export const PASST_GATEWAY = '169.254.30.1';
export const PASST_PREFIX = 16;

let seq = 0;

/** Whether `passt` can start here without a download (provisioned by `nicsim setup`). */
export function passtAvailable(): boolean {
  return hostToolsIfProvisioned() !== null;
}

/**
 * Starts passt on a fresh socket and connects to it as its (only) client. Spec: `passt`, or
 * `passt:ARGS` with extra passt arguments separated by commas (e.g. `passt:--mtu,1500`).
 */
export async function passtBackend(spec: string, o: OpenBackendOptions = {}): Promise<Backend> {
  const tools = hostToolsIfProvisioned();
  if (!tools) throw new Error('the passt backend needs passt: run `npx nicsim setup` (it provisions passt and tshark)');
  const extra = spec.includes(':') ? spec.slice(spec.indexOf(':') + 1).split(',').filter((a) => a.length > 0) : [];
  const path = join(o.workDir ?? tmpdir(), `passt-${process.pid}-${seq++}.sock`);
  rmSync(path, { force: true });
  const argv = [
    ...tools.passt, '-f', '-q', '-1', '--socket', path,
    '-a', PASST_GUEST, '-n', String(PASST_PREFIX), '-g', PASST_GATEWAY, '--map-host-loopback', PASST_GATEWAY,
    ...extra,
  ];
  const proc: ChildProcess = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (d: Buffer) => {
    output += d.toString();
    if (output.length > 8000) output = output.slice(-8000);
  };
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);
  let exited: string | null = null;
  proc.on('exit', (code, sig) => {
    exited = `passt exited (${code ?? sig})`;
    if (o.log && !closing) o.log(`nicsim: ${exited}${output.trim() ? `: ${lastLines(output)}` : ''}`);
  });
  proc.on('error', (e) => (exited = `passt did not start: ${e.message}`));
  let closing = false;
  const kill = () => {
    closing = true;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    rmSync(path, { force: true });
  };
  try {
    // Until passt has bound and listens, connecting fails with ENOENT, then ECONNREFUSED: retry.
    const t0 = Date.now();
    let sb: SocketBackend | null = null;
    for (;;) {
      try {
        sb = await SocketBackend.open(`stream-connect:unix:${path}`, { log: o.log, trace: o.trace });
        break;
      } catch (e) {
        if (exited) throw new Error(`${exited}${output.trim() ? `: ${lastLines(output)}` : ''}`);
        if (!/ECONNREFUSED|ENOENT/.test((e as Error).message)) throw e;
        if (Date.now() - t0 > 10_000) throw new Error(`passt took no connection on ${path} within 10 s${output.trim() ? `: ${lastLines(output)}` : ''}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const backend = sb;
    return {
      description: `passt (pid ${proc.pid}, guest ${PASST_GUEST}/${PASST_PREFIX} by DHCP, gateway ${PASST_GATEWAY} = host loopback)`,
      dhcp: true,
      attach: (ep, o) => honorPause(backend.attach(ep), backend, { clock: o?.scheduler }),
      close: () => {
        void backend.close();
        kill();
      },
      stats: () => ({ ...backend.stats }),
    };
  } catch (e) {
    kill();
    throw e;
  }
}

function lastLines(s: string): string {
  return s.trim().split('\n').slice(-5).join(' | ');
}
