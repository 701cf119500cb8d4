import { describe, it, expect } from 'vitest';
import { makeVfu } from '../../support/vfu.js';
import * as C from '../../../qemu/client-codec.js';
import * as P from '../../../qemu/protocol.js';

describe('DEVICE_GET_REGION_INFO', () => {
  it('gives the 82574L BAR sizes, a 4 KiB config space and empty ROM/VGA', () => {
    const v = makeVfu();
    const size = (i: number) => {
      const r = v.ok(C.regionInfoReq(i));
      expect(r.dv.getUint32(8, true)).toBe(i);
      return { flags: r.dv.getUint32(4, true), size: r.dv.getUint32(16, true) };
    };
    expect(size(0)).toEqual({ flags: 3, size: 0x20000 });
    expect(size(1).size).toBe(0x20000);
    expect(size(2).size).toBe(32);
    expect(size(3).size).toBe(0x4000);
    expect(size(4).size).toBe(0);
    expect(size(6).size).toBe(0);
    expect(size(7)).toEqual({ flags: 3, size: 0x1000 });
    expect(size(8).size).toBe(0);
  });
  it('refuses an index past the last region and a short argsz', () => {
    const v = makeVfu();
    v.expectErrno(C.regionInfoReq(9), P.EINVAL);
    v.expectErrno(C.regionInfoReq(0xffffffff), P.EINVAL);
    v.expectErrno(C.regionInfoReq(0, 16), P.EINVAL);
  });
});
