/**
 * Real provisioning (downloads on the first run, instant afterwards) and a real boot of the
 * guest on QEMU's own e1000e. Never skipped: without network the first run fails, naming
 * `npx nicsim setup`.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCpio, S_IFMT, S_IFREG } from '../../../qemu/guest/cpio.js';
import { composeInitrd, makeRunCpio, qemuCommand, setup, type GuestImage, type QemuInstall } from '../../../qemu/guest/provision.js';
import { runRaw } from '../../../qemu/guest/run.js';

let qemu: QemuInstall;
let guest: GuestImage;
const lines: string[] = [];

beforeAll(async () => {
  const t0 = Date.now();
  try {
    ({ qemu, guest } = await setup({ log: (l) => lines.push(l) }));
  } catch (e) {
    throw new Error(
      `provisioning failed: ${(e as Error).message}\nlast progress lines:\n${lines.slice(-10).join('\n')}\n` +
        'Provision QEMU and the guest with `npx nicsim setup` (needs deb.debian.org).',
    );
  }
  // eslint-disable-next-line no-console
  console.log(`setup took ${((Date.now() - t0) / 1000).toFixed(1)} s${lines.length ? `:\n${lines.join('\n')}` : ' (warm)'}`);
}, 20 * 60_000);

describe('provisioned QEMU', () => {
  it('is >= 10.1 and has vfio-user-pci', async () => {
    const [cmd, ...pre] = qemu.argv0;
    const v = await runRaw(cmd!, [...pre, '--version']);
    expect(v.code).toBe(0);
    const m = /version (\d+)\.(\d+)/.exec(v.stdout.toString())!;
    expect(m).toBeTruthy();
    expect(Number(m[1]) * 100 + Number(m[2])).toBeGreaterThanOrEqual(1001);
    expect(qemu.version).toBe(`${m[1]}.${m[2]}${/version \d+\.\d+(\.\d+)/.exec(v.stdout.toString())?.[1] ?? ''}`);
    const h = await runRaw(cmd!, [...pre, ...qemu.dataDirs.flatMap((d) => ['-L', d]), '-machine', 'none', '-device', 'help']);
    expect(h.stdout.toString()).toContain('"vfio-user-pci"');
    for (const d of qemu.dataDirs) expect(existsSync(d)).toBe(true);
  });

  it('setup is idempotent and fast when warm', async () => {
    const t0 = Date.now();
    const log: string[] = [];
    const again = await setup({ log: (l) => log.push(l) });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(log).toEqual([]);
    expect(again).toEqual({ qemu, guest });
  });
});

describe('failed provisioning', () => {
  it('fails naming `npx nicsim setup` and leaves no stamp or partial root', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nicsim-badcache-'));
    const saved = [process.env.NICSIM_DEBIAN_MIRROR, process.env.NICSIM_DEBIAN_SECURITY_MIRROR];
    process.env.NICSIM_DEBIAN_MIRROR = 'http://127.0.0.1:9/debian';
    process.env.NICSIM_DEBIAN_SECURITY_MIRROR = 'http://127.0.0.1:9/debian-security';
    try {
      await expect(setup({ cacheDir: dir })).rejects.toThrow(/npx nicsim setup/);
      expect(existsSync(join(dir, 'qemu'))).toBe(false);
      expect(readdirSync(dir).filter((f) => f.includes('.tmp-') || f.endsWith('.lock'))).toEqual([]);
    } finally {
      process.env.NICSIM_DEBIAN_MIRROR = saved[0];
      process.env.NICSIM_DEBIAN_SECURITY_MIRROR = saved[1];
      if (saved[0] === undefined) delete process.env.NICSIM_DEBIAN_MIRROR;
      if (saved[1] === undefined) delete process.env.NICSIM_DEBIAN_SECURITY_MIRROR;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('guest image', () => {
  it('initramfs carries /init, busybox, e1000e.ko and the tools with the loader', () => {
    const entries = parseCpio(readFileSync(guest.initramfs));
    const byPath = new Map(entries.map((e) => [e.path, e]));
    const init = byPath.get('init')!;
    expect(init.mode & 0o111).not.toBe(0);
    expect(init.data.toString()).toMatch(/NICSIM-LINK-UP/);
    expect(byPath.get('bin/busybox')!.data.length).toBeGreaterThan(500_000);
    expect(byPath.get('bin/sh')!.data.toString()).toBe('/bin/busybox');
    const ko = entries.find((e) => e.path.startsWith(`lib/modules/${guest.kernelVersion}/`) && e.path.endsWith('/e1000e.ko'));
    expect(ko, 'e1000e.ko').toBeDefined();
    expect(ko!.data.readUInt32BE(0)).toBe(0x7f454c46); // decompressed ELF
    expect(guest.modules).toContain('e1000e');
    for (const t of ['ip', 'ethtool', 'socat', 'iperf3']) {
      const e = byPath.get(`usr/bin/${t}`);
      expect(e, t).toBeDefined();
      expect(e!.mode & S_IFMT).toBe(S_IFREG);
    }
    expect(byPath.get('usr/bin/sha256sum') ?? byPath.get('bin/sha256sum')).toBeDefined();
    expect(byPath.get('lib64/ld-linux-x86-64.so.2')).toBeDefined();
    expect(byPath.get('lib/x86_64-linux-gnu/libc.so.6')).toBeDefined();
    expect(byPath.get('etc/nicsim/modules.e1000e')!.data.toString()).toMatch(/e1000e\.ko\n$/);
    expect(existsSync(guest.kernel)).toBe(true);
  });
});

describe('guest boot on QEMU e1000e (no vfio-user)', () => {
  it('reaches NICSIM-LINK-UP, runs /run.sh and powers off', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nicsim-boot-'));
    try {
      const initrd = join(dir, 'initrd');
      const script = [
        'echo hello',
        'ip -V',
        'ethtool -i eth0 | head -1',
        'ip -4 addr show dev eth0 | grep -o "inet [0-9./]*"',
        'cat /sys/module/e1000e/parameters/* >/dev/null 2>&1; dmesg | grep -o "Interrupt Mode set to [0-9]"',
        'echo abc | sha256sum',
        'exit 0',
        '',
      ].join('\n');
      composeInitrd(guest.initramfs, makeRunCpio(script), initrd);
      const consoleLog = join(dir, 'console.log');
      const argv = qemuCommand({
        qemu,
        guest,
        initrd,
        memMiB: 512,
        consoleLog,
        cmdline: ['nicsim.ip=169.254.10.2/16', 'nicsim.intmode=1'],
        nic: { kind: 'qemu-e1000e', netdev: ['-netdev', 'user,id=n0,restrict=on'] },
      });
      const t0 = Date.now();
      let linkUpAt = 0;
      const code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        const poll = setInterval(() => {
          if (!linkUpAt && existsSync(consoleLog) && readFileSync(consoleLog, 'utf8').includes('NICSIM-LINK-UP')) linkUpAt = Date.now();
        }, 100);
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`QEMU did not exit within 120 s; console:\n${existsSync(consoleLog) ? readFileSync(consoleLog, 'utf8').slice(-3000) : ''}`));
        }, 120_000);
        child.on('error', reject);
        child.on('exit', (c) => {
          clearInterval(poll);
          clearTimeout(timer);
          if (c !== 0) reject(new Error(`QEMU exited ${c}: ${stderr}`));
          else resolve(c);
        });
      });
      const out = readFileSync(consoleLog, 'utf8');
      expect(code).toBe(0);
      expect(out).toMatch(/^NICSIM-LINK-UP\r?$/m);
      expect(out).toMatch(/^hello\r?$/m);
      expect(out).toMatch(/iproute2/);
      expect(out).toMatch(/driver: e1000e/);
      expect(out).toMatch(/inet 169\.254\.10\.2\/16/);
      expect(out).toMatch(/Interrupt Mode set to 1/);
      expect(out).toContain('edeaaff3f1774ad2888673770c6d64097e391bc362d7d6fb34982ddf0efd18cb');
      expect(out).toMatch(/^NICSIM-RUN-EXIT=0\r?$/m);
      const carrier = /has carrier at ([\d.]+)s/.exec(out)?.[1];
      // eslint-disable-next-line no-console
      console.log(`boot: NICSIM-LINK-UP ${linkUpAt ? ((linkUpAt - t0) / 1000).toFixed(1) : '?'} s after QEMU start (guest uptime ${carrier} s); QEMU exited after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
