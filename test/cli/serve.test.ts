import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireNative } from '../../qemu/native/index.js';
import { VfioUserClient } from '../../qemu/client.js';
import * as C from '../../qemu/client-codec.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

describe('nicsim serve', () => {
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    it(`serves a vfio-user client and shuts down cleanly on ${sig}, removing the socket`, async () => {
      if (!existsSync(CLI)) throw new Error('dist/ is missing: run `npm ci` (or `npm run build`)');
      const dir = mkdtempSync(join(tmpdir(), 'nicsim-serve-'));
      const sock = join(dir, 'nic.sock');
      const p = spawn(process.execPath, [CLI, 'serve', '--socket', sock, '--backend', 'none'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
      const t0 = Date.now();
      while (!existsSync(sock)) {
        if (Date.now() - t0 > 10_000) throw new Error(`no socket: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const c = VfioUserClient.connect(requireNative(), sock);
      const v = await c.request(C.versionReq());
      expect(v.header.error).toBe(0);
      c.close();
      p.kill(sig);
      expect(await exited).toBe(0);
      expect(existsSync(sock)).toBe(false);
      expect(out).toContain(`nicsim: ${sig}, shutting down`);
      expect(out).toMatch(/vfio-user: 1 connection\(s\)/);
      rmSync(dir, { recursive: true, force: true });
    });
  }

  it('serves several NICs from one process on the built-in switch, with JSON log lines, a counters view and a capture', async () => {
    if (!existsSync(CLI)) throw new Error('dist/ is missing: run `npm ci` (or `npm run build`)');
    const dir = mkdtempSync(join(tmpdir(), 'nicsim-serve-'));
    const socks = [join(dir, 'a.sock'), join(dir, 'b.sock')];
    const pcap = join(dir, 'a.pcap');
    const p = spawn(process.execPath, [CLI, 'serve', '--nic', `socket=${socks[0]},name=a,pcap=${pcap}`, '--nic', `socket=${socks[1]},mac=52:54:00:aa:bb:02,name=b`, '--backend', 'none', '--switch-latency', '2000', '--json', '--counters', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
    const t0 = Date.now();
    while (!socks.every((s) => existsSync(s)) || !/"type":"counters"/.test(out)) {
      if (Date.now() - t0 > 15_000) throw new Error(`not serving: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const s of socks) {
      const c = VfioUserClient.connect(requireNative(), s);
      expect((await c.request(C.versionReq())).header.error).toBe(0);
      c.close();
    }
    p.kill('SIGTERM');
    expect(await exited).toBe(0);
    const recs = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(recs.some((r) => r['type'] === 'log' && /built-in switch, 2 NIC\(s\), 2 us port to port/.test(String(r['msg'])))).toBe(true);
    expect(recs.some((r) => r['type'] === 'log' && r['nic'] === 'b' && /52:54:00:aa:bb:02/.test(String(r['msg'])))).toBe(true);
    const counters = recs.filter((r) => r['type'] === 'counters');
    expect(new Set(counters.map((r) => r['nic']))).toEqual(new Set(['a', 'b', 'switch', 'server']));
    // The server's own cost: CPU %, per frame when frames moved, and its loop's wake-ups (an idle server barely wakes).
    const srv = counters.find((r) => r['nic'] === 'server')!;
    expect(typeof srv['cpuPct']).toBe('number');
    expect(srv['cpuPct'] as number).toBeLessThan(50);
    expect(srv['usPerFrame']).toBeNull();
    expect(srv['wakeupsPerSec'] as number).toBeGreaterThanOrEqual(0);
    expect(counters.find((r) => r['nic'] === 'switch')).toMatchObject({ forwardedPerSec: 0, ports: [{ name: 'a' }, { name: 'b' }] });
    expect(counters.find((r) => r['nic'] === 'a')).toMatchObject({ rxPps: 0, txPps: 0, rxMissed: 0 });
    expect(recs.some((r) => r['type'] === 'report' && /^switch: /.test(String(r['msg'])))).toBe(true);
    expect(recs.some((r) => r['type'] === 'report' && /capture .*a\.pcap: 0 frames/.test(String(r['msg'])))).toBe(true);
    expect(existsSync(pcap)).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });
});
