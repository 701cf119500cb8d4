// Guest-mode driver fuzzing: the same fault layer on a served NIC under QEMU, against the guest's Linux e1000e.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { ServedNic, DEFAULT_MAC } from '../../qemu/boot.js';
import { startGuest, type GuestRun } from '../../qemu/guest-run.js';
import { setup } from '../../qemu/guest/provision.js';
import { DEFAULT_GUEST_IP } from '../../qemu/backends.js';
import { hostPingArgv } from '../../qemu/host-tools.js';
import type { GuestAddr } from '../../device/types.js';
import { mulberry32 } from '../../device/sim/rng.js';
import { makeInput, inputBytes, saveInput, type FuzzInput, type FuzzReport, type ReplayResult } from '../finding.js';
import { FaultLayer, type FaultLower } from './faults.js';
import { decodeScenario, encodeScenario, randomScenario, describeScenario, FaultKind, type Scenario } from './scenario.js';

export interface GuestFuzzOptions {
  seconds: number;
  seed: number;
  maxExecs?: number;
  findingsDir?: string;
  log?: (l: string) => void;
  /** e1000e.IntMode of the guest (default 2, MSI-X). */
  intMode?: number;
}

/** What the guest console says when its kernel or driver is unhappy. */
const CONSOLE_ORACLES: { oracle: string; re: RegExp }[] = [
  { oracle: 'guest-panic', re: /Kernel panic|skb_over_panic|skb_under_panic/ },
  { oracle: 'guest-bug', re: /\bBUG[: ]|kernel BUG at/ },
  { oracle: 'guest-oops', re: /Oops|general protection fault|unable to handle (kernel )?(NULL pointer|paging request)/i },
  { oracle: 'guest-kasan', re: /KASAN/ },
  { oracle: 'guest-soft-lockup', re: /soft lockup|hard LOCKUP|rcu_sched self-detected stall|rcu: INFO: rcu_(pre)?empt detected stalls|blocked for more than \d+ seconds/ },
  { oracle: 'guest-warning', re: /WARNING:/ },
  { oracle: 'guest-irq-disabled', re: /nobody cared|Disabling IRQ #/ },
];
const HANG_RE = /Detected Hardware Unit Hang/;
const WATCHDOG_RE = /NETDEV WATCHDOG|transmit queue \d+ timed out/;
const RESET_RE = /e1000e.*(Reset adapter|reset adapter)/i;

/** Guest script: pings the host side for ever, one summary line per round, so the console shows whether traffic flows. */
function guestScript(hostIp: string): string {
  return `export NO_COLOR=1
echo 8 > /proc/sys/kernel/printk
echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
i=0
while true; do
  if ping -c 4 -i 0.05 -W 1 ${hostIp} > /tmp/p 2>&1; then r=ok; else r=fail; fi
  echo "FUZZ-PING $i $r"
  i=$((i+1))
done
`;
}

/** A served NIC whose device sits behind a swappable fault layer (null: the correct device). */
class HostileServedNic {
  readonly served: ServedNic;
  layer: FaultLayer | null = null;
  readonly lower: FaultLower;

  constructor(socket: string, backend: string, log: (l: string) => void) {
    this.served = new ServedNic({ socket, backend, log });
    const vdev = this.served.dev;
    const device = vdev.device;
    const orig = {
      dmaWrite: vdev.dmaWrite.bind(vdev),
      signalMsix: vdev.signalMsix.bind(vdev),
      signalMsi: vdev.signalMsi.bind(vdev),
      setIntx: vdev.setIntx.bind(vdev),
      barRead: device.barRead.bind(device),
      barWrite: device.barWrite.bind(device),
    };
    this.lower = {
      device,
      dmaRead: (a, d) => vdev.dmaRead(a, d),
      dmaWrite: (a, s) => orig.dmaWrite(a, s),
      signalMsix: (v) => orig.signalMsix(v),
      signalMsi: () => orig.signalMsi(),
      setIntx: (x) => orig.setIntx(x),
      barRead: (b, o, s) => orig.barRead(b, o, s),
      barWrite: (b, o, s, v) => orig.barWrite(b, o, s, v),
      receiveFrame: (f) => device.receiveFrame(f),
      setCarrier: (p) => device.setCarrier(p),
      now: () => vdev.clock.now(),
      schedule: (ns, cb) => vdev.clock.schedule(ns, cb),
      cancel: (h) => vdev.clock.cancel(h),
    };
    // Instance patches: the device reaches its host through these properties, the session
    // reaches the device's BARs through device.barRead/barWrite.
    vdev.dmaWrite = (a: GuestAddr, s: Uint8Array) => (this.layer ? this.layer.dmaWrite(a, s) : orig.dmaWrite(a, s));
    vdev.signalMsix = (v: number) => (this.layer ? this.layer.signalMsix(v, 0 as GuestAddr, 0) : orig.signalMsix(v));
    vdev.signalMsi = () => (this.layer ? this.layer.signalMsi(0, 0 as GuestAddr, 0) : orig.signalMsi());
    vdev.setIntx = (x: boolean) => (this.layer ? this.layer.setIntx(x) : orig.setIntx(x));
    device.barRead = (b: number, o: number, s: number) => (this.layer ? this.layer.barRead(b, o, s) : orig.barRead(b, o, s));
    device.barWrite = (b: number, o: number, s: number, v: number) => (this.layer ? this.layer.barWrite(b, o, s, v) : orig.barWrite(b, o, s, v));
    vdev.receiveFrame = (f: Uint8Array) => {
      vdev.clock.sync();
      if (this.layer) this.layer.receiveFrame(f);
      else device.receiveFrame(f);
    };
    vdev.setCarrier = (p: boolean) => {
      vdev.clock.sync();
      if (this.layer) this.layer.setCarrier(p);
      else device.setCarrier(p);
    };
  }

  /** Starts a scenario's faults now (wall time); ticks are 10x coarser than in-process. */
  begin(s: Scenario, seed: number): FaultLayer {
    this.served.dev.clock.sync();
    const layer = new FaultLayer(this.lower, s.faults, seed, { mac: DEFAULT_MAC, tickScale: 10 });
    this.layer = layer;
    layer.startPhase();
    return layer;
  }

  end(): void {
    this.served.dev.clock.sync();
    this.layer?.stop();
    this.layer = null;
  }
}

const RECOVERY_WAIT_MS = 120_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface GuestExec {
  oracle?: string;
  message?: string;
  notes: Record<string, number>;
  injected: Record<string, number>;
}

/** One booted guest with traffic running, on which scenarios are run one after another. */
class GuestSession {
  run: GuestRun | null = null;
  private hostPing: ChildProcess | null = null;
  bootLine = 0;

  constructor(
    private readonly env: Awaited<ReturnType<typeof setup>>,
    readonly nic: HostileServedNic,
    private readonly work: string,
    private readonly intMode: number,
    private readonly log: (l: string) => void,
    private readonly hostIp: string | null,
  ) {}

  async boot(n: number): Promise<boolean> {
    const script = this.hostIp ? guestScript(this.hostIp) : 'while true; do sleep 1; echo "FUZZ-PING 0 ok"; done\n';
    this.run = startGuest({
      qemu: this.env.qemu, guest: this.env.guest, nic: { kind: 'vfio-user', socket: this.nic.served.o.socket }, workDir: this.work,
      intMode: this.intMode, guestIp: this.hostIp ? DEFAULT_GUEST_IP : undefined, script, name: `fuzz${n}`,
    });
    try {
      await this.run.waitFor(/FUZZ-PING \d+ ok/, 240_000);
    } catch (e) {
      this.log(`driver fuzz (guest): boot ${n} failed: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
    const ns = this.nic.served.backend.netns;
    if (ns) {
      // Host -> guest traffic too (RX on the guest, TX replies).
      this.hostPing = spawn('ip', ['netns', 'exec', ns.name, ...hostPingArgv(), '-i', '0.01', '-s', '1200', '-W', '1', DEFAULT_GUEST_IP.split('/')[0]!], { stdio: 'ignore' });
    }
    return true;
  }

  alive(): boolean {
    return this.run !== null && this.run.exitInfo === null;
  }

  async stop(): Promise<void> {
    this.hostPing?.kill('SIGKILL');
    this.hostPing = null;
    await this.run?.kill();
  }

  /** Runs one scenario: faults for phaseMs, settle, then ping rounds must succeed again; the console must stay clean. */
  async exec(s: Scenario, seed: number): Promise<GuestExec> {
    const run = this.run!;
    const from = run.lines.length;
    const layer = this.nic.begin(s, seed);
    await sleep(s.phaseMs);
    this.nic.end();
    const endFaults = run.lines.length;
    const notes: Record<string, number> = {};
    // Settle: the driver's watchdog (2 s), TX timeout (5 s) and reset.
    await sleep(12_000);
    const settled = run.lines.length;
    // Recovery may take a TX ring's worth of the guest's own pings (no interrupts: nothing is
    // cleaned) plus the 5 s TX timeout, so give it two minutes and note how long it took.
    let recovered = false;
    const t0 = Date.now();
    const expectStall = layer.has(FaultKind.RxWritebackDrop, FaultKind.RxFakeDd) || layer.lostWrites > 0;
    const wait = expectStall ? 20_000 : RECOVERY_WAIT_MS;
    while (Date.now() - t0 < wait && this.alive()) {
      if (run.lines.slice(settled).some((l) => /FUZZ-PING \d+ ok/.test(l))) {
        recovered = true;
        break;
      }
      await sleep(250);
    }
    if (Date.now() - t0 > 5_000) notes['slowRecoveryS'] = Math.round((Date.now() - t0) / 1000) + 12;
    const lines = run.lines.slice(from);
    const during = run.lines.slice(from, endFaults);
    const after = run.lines.slice(settled);
    notes['hangMessages'] = lines.filter((l) => HANG_RE.test(l)).length;
    notes['txTimeouts'] = lines.filter((l) => WATCHDOG_RE.test(l)).length;
    notes['resets'] = lines.filter((l) => RESET_RE.test(l)).length;
    notes['pingFailRounds'] = lines.filter((l) => /FUZZ-PING \d+ fail/.test(l)).length;
    notes['faultLines'] = during.length;
    const res = (oracle?: string, message?: string): GuestExec => ({ oracle, message, notes, injected: layer.injected });
    for (const { oracle, re } of CONSOLE_ORACLES) {
      const i = lines.findIndex((l) => re.test(l));
      if (i >= 0) {
        // Report the splat with its context: the first line and what followed.
        const ctx = lines.slice(i, i + 12).filter((l) => l.trim()).join(' | ');
        if (oracle === 'guest-warning' && /dev_watchdog|sch_generic/.test(ctx) && recovered) {
          notes['devWatchdogWarnings'] = (notes['devWatchdogWarnings'] ?? 0) + 1;
          continue; // a transmit timeout under faults, recovered: expected (counted)
        }
        return res(oracle, ctx.slice(0, 1500));
      }
    }
    if (!this.alive()) return res('guest-died', `QEMU exited (${JSON.stringify(run.exitInfo)}); console tail: ${run.lines.slice(-15).join(' | ')}`.slice(0, 1500));
    if (after.filter((l) => HANG_RE.test(l)).length >= 2) return res('guest-hang-repeated', `"Detected Hardware Unit Hang" repeats after the faults stopped: ${after.filter((l) => HANG_RE.test(l)).slice(0, 2).join(' | ')}`);
    if (after.filter((l) => WATCHDOG_RE.test(l)).length >= 2) return res('guest-tx-timeout-repeated', `transmit timeouts repeat after the faults stopped: ${after.filter((l) => WATCHDOG_RE.test(l)).slice(0, 2).join(' | ')}`);
    if (!recovered) {
      // As in-process: a ring desync (lost or invented RX write-backs) or lost MMIO writes leave
      // a state no e1000e leaves on its own; counted, not reported (the guest is rebooted).
      const why = layer.has(FaultKind.RxWritebackDrop, FaultKind.RxFakeDd) ? 'stallAfterRingDesync' : layer.lostWrites > 0 ? 'stallAfterLostWrites' : null;
      if (why) {
        notes[why] = 1;
        return res();
      }
      return res('guest-no-recovery', `no successful ping within ${12 + wait / 1000} s after the faults stopped; last lines: ${run.lines.slice(-8).join(' | ')}`.slice(0, 1500));
    }
    return res();
  }
}

async function withGuest<T>(intMode: number, log: (l: string) => void, f: (sess: GuestSession, reboot: () => Promise<boolean>) => Promise<T>): Promise<T> {
  const env = await setup({ log: () => {} });
  const work = mkdtempSync(join(tmpdir(), 'nicsim-drvfuzz-'));
  const backend = process.getuid?.() === 0 ? 'netns' : 'none';
  const nic = new HostileServedNic(join(work, 'vfu.sock'), backend, () => {});
  const hostIp = nic.served.backend.netns?.hostIp.split('/')[0] ?? null;
  const sess = new GuestSession(env, nic, work, intMode, log, hostIp);
  let boots = 0;
  const reboot = async (): Promise<boolean> => {
    await sess.stop();
    boots++;
    log(`driver fuzz (guest): booting guest #${boots} (${env.guest.kernelVersion}, e1000e.IntMode=${intMode}, backend ${backend})`);
    return sess.boot(boots);
  };
  try {
    return await f(sess, reboot);
  } finally {
    await sess.stop();
    nic.served.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** Guest-mode fuzzing: boots a guest, then runs random fault scenarios against its e1000e, rebooting after a death. */
export async function runGuestDriverFuzz(o: GuestFuzzOptions): Promise<FuzzReport> {
  const log = o.log ?? (() => {});
  const t0 = performance.now();
  const intMode = o.intMode ?? 2;
  const rnd = mulberry32(o.seed >>> 0);
  const findings: FuzzInput[] = [];
  const findingFiles: string[] = [];
  const extra: Record<string, number> = {};
  const add = (p: string, r: Record<string, number>) => {
    for (const [k, v] of Object.entries(r)) extra[p + k] = (extra[p + k] ?? 0) + v;
  };
  let execs = 0;
  await withGuest(intMode, log, async (sess, reboot) => {
    if (!(await reboot())) throw new Error('guest mode: the guest did not come up with traffic flowing on the model');
    extra['boots'] = 1;
    while ((performance.now() - t0) / 1000 < o.seconds && (o.maxExecs === undefined || execs < o.maxExecs)) {
      const s = randomScenario(rnd);
      const seed = Math.floor(rnd() * 0x1_0000_0000);
      log(`driver fuzz (guest): exec ${execs + 1}: ${describeScenario(s)} seed=${seed}`);
      const r = await sess.exec(s, seed);
      execs++;
      add('injected.', r.injected);
      add('note.', r.notes);
      log(`  -> ${r.oracle ? `${r.oracle}: ${r.message}` : 'ok'} (${Object.entries(r.notes).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).join(' ')})`);
      if (r.oracle) {
        extra[`oracle.${r.oracle}`] = (extra[`oracle.${r.oracle}`] ?? 0) + 1;
        const input = makeInput('driver', encodeScenario(s), { seed, oracle: r.oracle, message: r.message, options: { guest: true, intMode } });
        findings.push(input);
        if (o.findingsDir) findingFiles.push(saveInput(o.findingsDir, input));
      }
      if (!sess.alive() || r.notes['stallAfterRingDesync'] || r.notes['stallAfterLostWrites'] || r.oracle === 'guest-no-recovery' || r.oracle === 'guest-panic' || r.oracle === 'guest-bug' || r.oracle === 'guest-oops') {
        extra['boots'] = (extra['boots'] ?? 0) + 1;
        if (!(await reboot())) break;
      }
    }
  });
  const seconds = (performance.now() - t0) / 1000;
  extra['findings'] = findings.length;
  return { kind: 'driver', engine: 'fault-injection (guest Linux e1000e under QEMU)', execs, seconds, execsPerSec: execs / seconds, coverage: null, findings, findingFiles, extra };
}

/** Boots a guest and runs the input's schedule once (wall-clock timing: not bit-for-bit deterministic). */
export async function replayGuestDriver(input: FuzzInput): Promise<ReplayResult> {
  const intMode = typeof input.options?.['intMode'] === 'number' ? (input.options['intMode'] as number) : 2;
  return withGuest(intMode, () => {}, async (sess, reboot) => {
    if (!(await reboot())) return { ok: false, oracle: 'guest-boot', message: 'the guest did not come up' };
    const r = await sess.exec(decodeScenario(inputBytes(input)), input.seed ?? 0);
    return r.oracle ? { ok: false, oracle: r.oracle, message: r.message } : { ok: true };
  });
}
