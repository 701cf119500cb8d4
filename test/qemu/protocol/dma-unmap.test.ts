import { describe, it, expect } from 'vitest';
import { makeVfu, mapRam } from '../../support/vfu.js';
import * as C from '../../../qemu/client-codec.js';
import * as P from '../../../qemu/protocol.js';
import { asGuestAddr } from '../../../device/types.js';

describe('DMA_UNMAP', () => {
  it('unmaps exactly once, closes the fd, echoes the request, and DMA there then fails', () => {
    const v = makeVfu();
    mapRam(v, 0x100000, 0x1000);
    const r = v.ok(C.dmaUnmapReq(0x100000, 0x1000));
    expect(r.payload.length).toBe(P.DMA_UNMAP_SIZE);
    expect(v.io.unmaps).toBe(1);
    expect(v.io.open.size).toBe(0);
    expect(v.dev.dmaRead(asGuestAddr(0x100000), new Uint8Array(1))).toBe(false);
  });

  it('takes every map inside a larger range, and everything with the ALL flag', () => {
    const v = makeVfu();
    mapRam(v, 0x100000, 0x1000);
    mapRam(v, 0x102000, 0x1000);
    mapRam(v, 0x200000, 0x1000);
    v.ok(C.dmaUnmapReq(0x100000, 0x10000));
    expect(v.dev.dma.count).toBe(1);
    v.ok(C.dmaUnmapReq(0, 0, P.DMA_UNMAP_FLAG_ALL));
    expect(v.dev.dma.count).toBe(0);
    expect(v.io.unmaps).toBe(3);
  });

  it('refuses a range matching nothing, one that cuts a map, dirty bitmaps, bad sizes and ALL with a range', () => {
    const v = makeVfu();
    mapRam(v, 0x100000, 0x2000);
    v.expectErrno(C.dmaUnmapReq(0x500000, 0x1000), P.ENOENT);
    v.expectErrno(C.dmaUnmapReq(0x100000, 0x1000), P.EINVAL);
    v.expectErrno(C.dmaUnmapReq(0x100000, 0x2000, P.DMA_UNMAP_FLAG_GET_DIRTY_BITMAP), P.ENOTSUP);
    v.expectErrno(C.dmaUnmapReq(0x100000, 0x2000, P.DMA_UNMAP_FLAG_ALL), P.EINVAL);
    v.expectErrno(C.rawReq(P.Cmd.DMA_UNMAP, new Uint8Array(8)), P.EINVAL);
    v.expectErrno(C.dmaUnmapReq(0x100000, 0), P.EINVAL);
    expect(v.dev.dma.count).toBe(1);
  });
});
