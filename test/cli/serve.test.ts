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
});
