import { describe, it, expect, afterEach } from 'vitest';
import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireNative } from '../../qemu/native/index.js';
import { nativeSessionIo } from '../../qemu/native-io.js';
import { VfioUserDevice } from '../../qemu/session.js';
import { VfioUserServer } from '../../qemu/server.js';
import { VfioUserClient } from '../../qemu/client.js';
import * as C from '../../qemu/client-codec.js';
import * as P from '../../qemu/protocol.js';
import * as D from '../../device/e1000e/defs.js';
import { asGuestAddr } from '../../device/types.js';

const sys = requireNative();
const MAC = new Uint8Array([0x52, 0x54, 0, 0xab, 0xcd, 0xef]);
const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

function startServer() {
  const dir = mkdtempSync(join(tmpdir(), 'nicsim-srv-'));
  const path = join(dir, 'vfu.sock');
  const dev = new VfioUserDevice({ mac: MAC, io: nativeSessionIo(sys) });
  const events: string[] = [];
  const server = new VfioUserServer(sys, dev, path, { onConnect: () => events.push('connect'), onDisconnect: (r) => events.push(`disconnect: ${r}`) });
  server.start();
  cleanups.push(() => {
    server.stop();
    dev.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { path, dev, server, events };
}

const until = async (cond: () => boolean, ms = 2000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
};

describe('vfio-user server over a real UNIX socket', () => {
  it('negotiates, maps a memfd, wires eventfds, and the device DMAs and interrupts through them', async () => {
    const { path, dev } = startServer();
    const c = VfioUserClient.connect(sys, path);
    cleanups.push(() => c.close());
    const v = await c.request(C.versionReq());
    expect(v.header.flags & P.FLAG_ERROR).toBe(0);
    const mem = sys.memfdCreate('guest-ram', 1 << 20);
    expect((await c.request(C.dmaMapReq(0x100000, 1 << 20, 0), [mem])).header.error).toBe(0);
    sys.close(mem);
    const efds = [sys.eventfd(), sys.eventfd(), sys.eventfd()];
    expect((await c.request(C.setIrqsReq(P.IRQ_SET_DATA_EVENTFD | P.IRQ_SET_ACTION_TRIGGER, P.IRQ_MSIX, 0, 3), efds)).header.error).toBe(0);
    // The device writes guest memory through the mapping, and signals vector 2.
    expect(dev.dmaWrite(asGuestAddr(0x180000), new Uint8Array([9, 8, 7]))).toBe(true);
    const back = new Uint8Array(3);
    expect(dev.dmaRead(asGuestAddr(0x180000), back)).toBe(true);
    expect([...back]).toEqual([9, 8, 7]);
    dev.signalMsix(2);
    expect(sys.eventfdRead(efds[2]!)).toBe(1);
    expect(sys.eventfdRead(efds[0]!)).toBe(-11);
    for (const fd of efds) sys.close(fd);
  });

  it('answers back-to-back messages sent in one write, sends nothing for posted writes, and reassembles a message split across writes', async () => {
    const { path, dev } = startServer();
    const c = VfioUserClient.connect(sys, path);
    cleanups.push(() => c.close());
    await c.request(C.versionReq());
    const readIms = async () => {
      const r = await c.request(C.regionReadReq(0, D.REG.IMS, 4));
      return new DataView(r.payload.buffer, r.payload.byteOffset + 16).getUint32(0, true);
    };
    // A posted write and a read in a single write(2): one reply, for the read, seeing the write.
    const posted = C.regionWriteReq(0, D.REG.IMS, C.le32(0x40), true);
    const read = C.regionReadReq(0, D.REG.IMS, 4);
    const both = new Uint8Array(posted.length + read.length);
    both.set(posted);
    both.set(read, posted.length);
    const waitRead = new Promise<number>((resolve) => {
      const id = P.readHeader(read).msgId;
      const poll = setInterval(() => {
        const got = c.unsolicited.find((u) => u.header.msgId === id);
        if (got) {
          clearInterval(poll);
          resolve(new DataView(got.payload.buffer, got.payload.byteOffset + 16).getUint32(0, true));
        }
      }, 1);
    });
    c.sendRaw(both);
    expect(await waitRead).toBe(0x40);
    expect(c.unsolicited.length).toBe(1);
    // A posted write delivered in two pieces, 20 ms apart.
    const posted2 = C.regionWriteReq(0, D.REG.IMS, C.le32(0x100), true);
    c.sendRaw(posted2.subarray(0, 10));
    await new Promise((r) => setTimeout(r, 20));
    expect(dev.device.peek('IMS')).toBe(0x40);
    c.sendRaw(posted2.subarray(10));
    expect(await readIms()).toBe(0x140);
    expect(dev.stats.posted).toBe(2);
  });

  it('closes a connection whose framing is lost, and serves the next client with a fresh device', async () => {
    const { path, server, events, dev } = startServer();
    const c1 = VfioUserClient.connect(sys, path);
    await c1.request(C.versionReq());
    await c1.request(C.regionWriteReq(0, D.REG.IMS, C.le32(0x80)));
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setUint32(4, 3, true); // size 3 < header
    c1.sendRaw(bad);
    await until(() => c1.closed || !server.connected);
    await until(() => events.some((e) => e.startsWith('disconnect')));
    c1.close();
    expect(dev.device.peek('IMS')).toBe(0); // reset for the next client
    const c2 = VfioUserClient.connect(sys, path);
    cleanups.push(() => c2.close());
    expect((await c2.request(C.versionReq())).header.flags & P.FLAG_ERROR).toBe(0);
    expect((await c2.request(C.deviceInfoReq())).header.error).toBe(0);
    expect(server.connections).toBe(2);
  });

  it('turns away a second concurrent client, and stop removes the socket file', async () => {
    const { path, server } = startServer();
    const c1 = VfioUserClient.connect(sys, path);
    cleanups.push(() => c1.close());
    await c1.request(C.versionReq());
    const c2 = VfioUserClient.connect(sys, path);
    await until(() => c2.closed || false, 1000).catch(() => undefined);
    await expect(c2.request(C.versionReq(), [], 300)).rejects.toThrow();
    c2.close();
    expect((await c1.request(C.deviceInfoReq())).header.error).toBe(0);
    server.stop();
    expect(existsSync(path)).toBe(false);
  });

  it('a client that disconnects with maps and eventfds live leaves no mapping or fd behind', async () => {
    const { path, events } = startServer();
    const before = sys.liveMappings();
    const c = VfioUserClient.connect(sys, path);
    await c.request(C.versionReq());
    const mem = sys.memfdCreate('ram', 1 << 16);
    await c.request(C.dmaMapReq(0x10000, 1 << 16, 0), [mem]);
    sys.close(mem);
    const e = sys.eventfd();
    await c.request(C.setIrqsReq(P.IRQ_SET_DATA_EVENTFD | P.IRQ_SET_ACTION_TRIGGER, P.IRQ_MSIX, 0, 1), [e]);
    sys.close(e);
    expect(sys.liveMappings()).toBe(before + 1);
    c.close();
    await until(() => events.some((x) => x.startsWith('disconnect')));
    expect(sys.liveMappings()).toBe(before);
  });
});
