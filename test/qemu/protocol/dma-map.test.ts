import { describe, it, expect } from 'vitest';
import { makeVfu, mapRam } from '../../support/vfu.js';
import * as C from '../../../qemu/client-codec.js';
import * as P from '../../../qemu/protocol.js';
import { asGuestAddr } from '../../../device/types.js';

describe('DMA_MAP', () => {
  it('maps fd-backed RAM that the device can then reach, byte for byte', () => {
    const v = makeVfu();
    const ram = mapRam(v, 0x100000, 0x10000);
    ram[0x1234] = 0xab;
    const b = new Uint8Array(1);
    expect(v.dev.dmaRead(asGuestAddr(0x101234), b)).toBe(true);
    expect(b[0]).toBe(0xab);
    expect(v.dev.dmaWrite(asGuestAddr(0x10fffe), new Uint8Array([1, 2]))).toBe(true);
    expect(ram[0xfffe]).toBe(1);
  });

  it('records maps without an fd but refuses DMA through them', () => {
    const v = makeVfu();
    v.ok(C.dmaMapReq(0xc0000, 0x20000, 0, P.DMA_FLAG_READ));
    expect(v.dev.dma.count).toBe(1);
    expect(v.dev.dmaRead(asGuestAddr(0xc0000), new Uint8Array(4))).toBe(false);
  });

  it('accepts a map without an fd whose region is far larger than the message: size is guest address space, not payload', () => {
    const v = makeVfu();
    const r = v.ok(C.dmaMapReq(0x1_0000_0000, 0x4000_0000, 0, P.DMA_FLAG_READ | P.DMA_FLAG_WRITE));
    expect(r.payload.length).toBe(0);
    expect(v.dev.dma.windows()).toMatchObject([{ iova: 0x1_0000_0000, size: 0x4000_0000, fd: null, mem: null }]);
  });

  it('refuses an argsz claiming more than the 32 bytes the message holds, with or without an fd, and maps nothing', () => {
    const v = makeVfu();
    const lying = (argsz: number, iova: number) => {
      const m = C.dmaMapReq(iova, 0x20000, 0, P.DMA_FLAG_READ);
      new DataView(m.buffer, m.byteOffset).setUint32(P.HEADER_SIZE, argsz, true);
      return m;
    };
    for (const argsz of [P.DMA_MAP_SIZE + 1, 64, 0xffffffff]) v.expectErrno(lying(argsz, 0xc0000), P.EINVAL);
    const fd = v.io.memfd(0x20000);
    v.expectErrno(lying(64, 0x100000), P.EINVAL, [fd]);
    expect(v.io.open.has(fd)).toBe(false);
    expect(v.dev.dma.count).toBe(0);
    // The same maps with an honest argsz go through.
    v.ok(lying(P.DMA_MAP_SIZE, 0xc0000));
    expect(v.dev.dma.count).toBe(1);
  });

  it('refuses DMA outside every map, straddling a map end, or writing a read-only map', () => {
    const v = makeVfu();
    mapRam(v, 0x100000, 0x1000);
    const ro = v.io.memfd(0x1000);
    v.ok(C.dmaMapReq(0x200000, 0x1000, 0, P.DMA_FLAG_READ), [ro]);
    expect(v.dev.dmaRead(asGuestAddr(0x0ff000), new Uint8Array(4))).toBe(false);
    expect(v.dev.dmaRead(asGuestAddr(0x100ffe), new Uint8Array(4))).toBe(false);
    expect(v.dev.dmaWrite(asGuestAddr(0x200000), new Uint8Array(4))).toBe(false);
    expect(v.dev.dmaRead(asGuestAddr(0x200000), new Uint8Array(4))).toBe(true);
    expect(v.dev.dma.faults).toBe(3);
  });

  it('lets one access span two adjacent maps', () => {
    const v = makeVfu();
    const a = mapRam(v, 0x100000, 0x1000);
    const b = mapRam(v, 0x101000, 0x1000);
    a[0xfff] = 7;
    b[0] = 8;
    const out = new Uint8Array(2);
    expect(v.dev.dmaRead(asGuestAddr(0x100fff), out)).toBe(true);
    expect([...out]).toEqual([7, 8]);
  });

  it('rejects overlapping, unaligned, zero-sized and huge maps, bad flags, wrong sizes and extra fds, closing the fds', () => {
    const v = makeVfu();
    mapRam(v, 0x100000, 0x2000);
    const tryMap = (msg: Uint8Array, errno: number, nfds = 1) => {
      const fds = Array.from({ length: nfds }, () => v.io.memfd(0x10000));
      v.expectErrno(msg, errno, fds);
      for (const fd of fds) expect(v.io.open.has(fd)).toBe(false);
    };
    tryMap(C.dmaMapReq(0x101000, 0x1000, 0), P.EEXIST);
    tryMap(C.dmaMapReq(0x0ff000, 0x2000, 0), P.EEXIST);
    tryMap(C.dmaMapReq(0x300001, 0x1000, 0), P.EINVAL);
    tryMap(C.dmaMapReq(0x300000, 0x1001, 0), P.EINVAL);
    tryMap(C.dmaMapReq(0x300000, 0, 0), P.EINVAL);
    tryMap(C.dmaMapReq(0x300000, 0x1000, 0x10), P.EINVAL);
    tryMap(C.dmaMapReq(0x300000, 2 ** 60, 0), P.EINVAL);
    tryMap(C.dmaMapReq(0x300000, 0x1000, 0, 0x80), P.EINVAL);
    tryMap(C.dmaMapReq(0x300000, 0x1000, 0), P.EINVAL, 2);
    tryMap(C.rawReq(P.Cmd.DMA_MAP, new Uint8Array(16)), P.EINVAL);
    // An fd that cannot be mapped that far.
    tryMap(C.dmaMapReq(0x400000, 0x100000, 0), P.EINVAL);
    expect(v.dev.dma.count).toBe(1);
  });
});
