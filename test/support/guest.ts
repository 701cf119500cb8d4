// Guest-test plumbing: provisioning (failing with the setup command's name), host-side tools in the test's namespace.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setup } from '../../qemu/guest/provision.js';
import { hostPingArgv } from '../../qemu/host-tools.js';
import { ensureHostTools, type HostTools } from '../../qemu/host-root.js';

export async function provisioned(): Promise<Awaited<ReturnType<typeof setup>> & { hostTools: HostTools }> {
  try {
    const r = await setup({ log: () => {} });
    return { ...r, hostTools: await ensureHostTools({ log: () => {} }) };
  } catch (e) {
    throw new Error(`guest tests need QEMU, a guest image, passt and tshark: run \`npx nicsim setup\` (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** Runs a command inside a network namespace; resolves with its output and exit code. */
export function nsRun(ns: string, argv: string[], timeoutMs = 120_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

/** A long-running host-side process in the namespace whose output lines can be awaited. */
export class NsProcess {
  readonly lines: string[] = [];
  readonly proc: ChildProcess;
  constructor(ns: string, argv: string[]) {
    this.proc = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    const onData = (d: Buffer) => {
      const parts = (partial + d.toString()).split('\n');
      partial = parts.pop() ?? '';
      this.lines.push(...parts);
    };
    this.proc.stdout!.on('data', onData);
    this.proc.stderr!.on('data', onData);
  }
  async waitLine(re: RegExp, timeoutMs = 60_000): Promise<string> {
    const t0 = Date.now();
    for (;;) {
      const l = this.lines.find((x) => re.test(x));
      if (l) return l;
      if (Date.now() - t0 > timeoutMs) throw new Error(`host process: no line matching ${re}; got ${this.lines.join(' | ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  kill(): void {
    this.proc.kill('SIGKILL');
  }
}

export const TCP_PEER = fileURLToPath(new URL('./tcp-peer.mjs', import.meta.url));

export function hostPing(ns: string, target: string, count: number, interval = '0.05'): Promise<{ code: number | null; out: string }> {
  return nsRun(ns, [...hostPingArgv(), '-c', String(count), '-i', interval, '-W', '5', target]);
}

/** "N packets transmitted, M packets received" from busybox or iputils ping output. */
export function pingCounts(out: string): { sent: number; received: number } | null {
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(out);
  return m ? { sent: Number(m[1]), received: Number(m[2]) } : null;
}

/** Sends nothing, just connects and closes: the guest's "go on" signal. */
export function poke(ns: string, host: string, port: number): Promise<{ code: number | null; out: string }> {
  return nsRun(ns, [process.execPath, '-e', `const s=require('net').connect(${port},'${host}',()=>s.end());s.on('error',e=>{console.error(e.message);process.exit(1)});s.on('close',()=>process.exit(0))`]);
}
