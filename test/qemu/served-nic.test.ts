// A served NIC on a socket backend: the backend's trace points reach the NIC's --trace output.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { ServedNic } from '../../qemu/boot.js';

describe('a served NIC on a stream backend', () => {
  it('traces the backend (wire_stream_*) under the NIC\'s name, as text or JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nicsim-served-'));
    for (const json of [false, true]) {
      const lines: string[] = [];
      const path = join(dir, `peer-${json}.sock`);
      const nic = await ServedNic.start({ socket: join(dir, `vfu-${json}.sock`), backend: `stream-listen:unix:${path}`, name: 'n7', trace: 'wire_stream_*', json, log: (l) => lines.push(l) });
      try {
        const s = connect(path);
        await new Promise<void>((r) => s.once('connect', () => r()));
        // A zero length is a protocol error: the server drops the peer.
        s.write(Buffer.from([0, 0, 0, 0]));
        await new Promise<void>((r) => s.once('close', () => r()));
        const t0 = Date.now();
        while (!lines.some((l) => l.includes('wire_stream_disconnected')) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
        const traced = lines.filter((l) => l.includes('wire_stream_'));
        expect(traced.some((l) => l.includes('wire_stream_connected'))).toBe(true);
        expect(traced.some((l) => l.includes('wire_stream_bad_length'))).toBe(true);
        if (json) {
          const rec = JSON.parse(traced.find((l) => l.includes('wire_stream_bad_length'))!) as Record<string, unknown>;
          expect(rec).toMatchObject({ type: 'trace', nic: 'n7', point: 'wire_stream_bad_length' });
        } else {
          expect(traced.every((l) => l.startsWith('trace '))).toBe(true);
        }
        expect(nic.backend.stats()['protocolErrors']).toBe(1);
      } finally {
        nic.stop();
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
});
