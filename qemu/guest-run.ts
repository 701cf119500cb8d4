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
  /** MTU the guest sets on its interface before bringing it up. */
  mtu?: number;
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
  /** Extra QEMU arguments (e.g. -trace EVENT -D FILE), after the rest. */
  qemuArgs?: string[];
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
      ...(o.mtu !== undefined ? [`nicsim.mtu=${o.mtu}`] : []),
      ...(o.extraCmdline ?? []),
    ];
    let argv = qemuCommand({ qemu: o.qemu, guest: o.guest, initrd, nic: o.nic, memMiB: o.memMiB ?? 512, consoleLog: this.consoleLog, cmdline, extraArgs: o.qemuArgs });
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
  /** QEMU's process id (undefined if it failed to spawn). */
  get pid(): number | undefined {
    return this.proc.pid;
  }

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

/**
 * Console lines in which the guest kernel says something went wrong: panics, BUG and Oops
 * reports, warnings with their registers and call trace, lockups and stalls. The words are the
 * ones Linux prints (lib/bug.c, kernel/panic.c, arch/x86/mm/fault.c, arch/x86/kernel/dumpstack.c);
 * `panic=` of the kernel command line is not one of them.
 */
const KERNEL_TROUBLE = new RegExp([
  /Kernel panic|\bpanic\b(?!=)|\w_panic\b/, // skb_over_panic, skb_under_panic
  /\bBUG[: ]|kernel BUG at|\bOops\b|\bWARNING:|\[ cut here \]/,
  /Call Trace|\bRIP: |general protection fault|unable to handle/,
  /soft lockup|hard LOCKUP|detected stalls|self-detected stall|blocked for more than \d+ seconds|KASAN|nobody cared/,
].map((r) => r.source).join('|'));

/** Lines that close a kernel report (a WARN, BUG or Oops; a panic). */
const REPORT_END = /---\[ end (trace|Kernel panic)/;

/** Longest kernel report followed line by line once it started (a panic's call trace included). */
const REPORT_MAX_LINES = 80;

/** Whether a console line is the guest kernel saying something went wrong. */
export function isKernelTrouble(line: string): boolean {
  return KERNEL_TROUBLE.test(line);
}

/**
 * What `nicsim boot --quiet` shows of a guest console: the lines that are not kernel messages
 * (init, the script and its output), the NIC driver's kernel lines, and every kernel report of
 * trouble from its first line to its end marker (its registers and call trace are what say
 * where it went wrong). Without `quiet` every line. One filter per console: it keeps state.
 */
export function consoleFilter(quiet: boolean): (line: string) => boolean {
  if (!quiet) return () => true;
  let inReport = 0;
  return (line) => {
    if (isKernelTrouble(line)) {
      inReport = REPORT_END.test(line) ? 0 : REPORT_MAX_LINES;
      return true;
    }
    if (inReport > 0) {
      inReport = REPORT_END.test(line) ? 0 : inReport - 1;
      return true;
    }
    return !line.startsWith('[') || /e1000e|eth0/.test(line);
  };
}

/** The console part of a failed boot's report. */
export interface FailureTail {
  /** The first kernel report of trouble when it began before the tail: its lines and where it started. */
  firstTrouble: { line: number; lines: string[] } | null;
  /** The last `n` lines. */
  tail: string[];
}

/**
 * The last `n` console lines and, when the first line saying something went wrong (a panic, BUG,
 * Oops, WARNING...) scrolled out of them, that line with the rest of its report (up to its end
 * marker or `maxReport` lines, and never into the tail): after a crash the console goes on with
 * the aftermath, and the tail alone no longer shows the cause.
 */
export function failureTail(lines: readonly string[], n = 40, maxReport = 30): FailureTail {
  const start = Math.max(0, lines.length - n);
  const tail = lines.slice(start);
  const first = lines.findIndex((l) => isKernelTrouble(l));
  if (first < 0 || first >= start) return { firstTrouble: null, tail };
  let end = first + 1;
  while (end < start && end - first < maxReport && !REPORT_END.test(lines[end - 1]!)) end++;
  return { firstTrouble: { line: first + 1, lines: lines.slice(first, end) }, tail };
}
