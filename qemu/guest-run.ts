// One QEMU guest on a served NIC: initrd with the run script, the QEMU process, and its console as lines.

import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readSync, closeSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { qemuCommand, makeRunCpio, composeInitrd, type QemuInstall, type GuestImage, type NicSpec } from './guest/provision.js';

export interface GuestOptions {
  qemu: QemuInstall;
  guest: GuestImage;
  nic: NicSpec;
  workDir: string;
  memMiB?: number;
  /** e1000e.IntMode for the guest's driver (0 INTx, 1 MSI, 2 MSI-X). */
  intMode?: number;
  /** Address the guest gives its interface after link-up. */
  guestIp?: string;
  /** Shell script run in the guest after link-up; the guest powers off when it ends. */
  script?: string;
  /** Extra files for the guest's initramfs. */
  files?: Record<string, Uint8Array>;
  extraCmdline?: string[];
  /** Let the guest reboot (QEMU resets the machine) instead of QEMU exiting. */
  allowReboot?: boolean;
  /** Console on the user's terminal (interactive shell), logged too. */
  interactive?: boolean;
  /** Each console line as it appears. */
  onLine?: (line: string) => void;
  name?: string;
}

/** A running guest. */
export class GuestRun {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  readonly consoleLog: string;
  readonly argv: string[];
  private readonly proc: ChildProcess;
  private pos = 0;
  private partial = '';
  private timer: NodeJS.Timeout;
  private waiters: { re: RegExp; resolve: (l: string) => void; from: number }[] = [];
  private stderr = '';
  exitInfo: { code: number | null; signal: string | null } | null = null;

  constructor(private readonly o: GuestOptions) {
    const name = o.name ?? 'guest';
    this.consoleLog = join(o.workDir, `${name}-console.log`);
    writeFileSync(this.consoleLog, '');
    let initrd = o.guest.initramfs;
    if (o.script !== undefined || o.files) {
      initrd = join(o.workDir, `${name}-initrd.img`);
      composeInitrd(o.guest.initramfs, makeRunCpio(o.script ?? '', o.files), initrd);
    }
    const cmdline = [
      `nicsim.ip=${o.guestIp ?? 'none'}`,
      ...(o.intMode !== undefined ? [`nicsim.intmode=${o.intMode}`] : []),
      ...(o.extraCmdline ?? []),
    ];
    let argv = qemuCommand({ qemu: o.qemu, guest: o.guest, initrd, nic: o.nic, memMiB: o.memMiB ?? 512, consoleLog: this.consoleLog, cmdline });
    if (o.allowReboot) argv = argv.filter((a) => a !== '-no-reboot');
    if (o.interactive) {
      const i = argv.indexOf('-serial');
      argv.splice(i, 2, '-chardev', `stdio,id=con0,signal=off,logfile=${this.consoleLog}`, '-serial', 'chardev:con0');
    }
    this.argv = argv;
    this.proc = spawn(argv[0]!, argv.slice(1), { stdio: o.interactive ? ['inherit', 'inherit', 'pipe'] : ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      if (this.stderr.length > 20000) this.stderr = this.stderr.slice(-20000);
    });
    this.timer = setInterval(() => this.poll(), 50);
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        this.poll();
        if (this.partial) this.push(this.partial);
        this.partial = '';
        clearInterval(this.timer);
        resolve(this.exitInfo);
      });
      this.proc.on('error', (e) => {
        this.stderr += String(e);
        this.exitInfo = { code: -1, signal: null };
        clearInterval(this.timer);
        resolve(this.exitInfo);
      });
    });
  }

  /** QEMU's own stderr (errors from the device realize, the vfio-user client, ...). */
  get qemuStderr(): string {
    return this.stderr;
  }

  private poll(): void {
    if (!existsSync(this.consoleLog)) return;
    const fd = openSync(this.consoleLog, 'r');
    try {
      const buf = Buffer.alloc(65536);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.pos);
        if (n <= 0) break;
        this.pos += n;
        const text = this.partial + buf.subarray(0, n).toString('utf8');
        const parts = text.split(/\r?\n/);
        this.partial = parts.pop() ?? '';
        for (const p of parts) this.push(p);
      }
    } finally {
      closeSync(fd);
    }
  }

  private push(raw: string): void {
    const line = raw.replace(/\r/g, '');
    this.lines.push(line);
    this.o.onLine?.(line);
    for (const w of [...this.waiters]) {
      if (w.re.test(line)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  }

  /** Resolves with the first console line (from line `from` on) matching `re`; rejects on timeout or exit. */
  waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<string> {
    const hit = this.lines.slice(from).find((l) => re.test(l));
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const w = { re, from, resolve: (l: string) => (clearTimeout(t), resolve(l)) };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`guest console: no line matching ${re} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiters.push(w);
      void this.exited.then(() => {
        if (this.waiters.includes(w)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          clearTimeout(t);
          reject(new Error(`guest exited before a console line matching ${re}`));
        }
      });
    });
  }

  /** Stops QEMU: SIGTERM, then SIGKILL after a grace period. */
  async kill(graceMs = 3000): Promise<void> {
    if (this.exitInfo) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

export function startGuest(o: GuestOptions): GuestRun {
  return new GuestRun(o);
}
