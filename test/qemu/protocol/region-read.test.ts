import { describe, it, expect } from 'vitest';
import { makeVfu, GUEST_MAC } from '../../support/vfu.js';
import * as C from '../../../qemu/client-codec.js';
import * as P from '../../../qemu/protocol.js';
import * as D from '../../../device/e1000e/defs.js';

describe('REGION_READ', () => {
  it('reads the whole config space at once, as QEMU does first', () => {
    const v = makeVfu();
    const r = v.ok(C.regionReadReq(P.PCI_CONFIG, 0, 256));
    expect(r.payload.length).toBe(16 + 256);
    expect(r.dv.getUint32(12, true)).toBe(256);
    const cfg = r.payload.subarray(16);
    expect(cfg[0] | (cfg[1]! << 8)).toBe(0x8086);
    expect(cfg[2] | (cfg[3]! << 8)).toBe(0x10d3);
    expect(cfg[0x34]).toBe(0xc8);
  });

  it('reads BAR0 registers in 4, 2, 1 and 8 byte accesses', () => {
    const v = makeVfu();
    const rd = (off: number, n: number) => v.ok(C.regionReadReq(0, off, n)).payload.subarray(16);
    const ral = rd(D.REG.RAL0, 4);
    expect([...ral]).toEqual([...GUEST_MAC.subarray(0, 4)]);
    expect([...rd(D.REG.RAH0, 2)]).toEqual([...GUEST_MAC.subarray(4, 6)]);
    expect(rd(D.REG.RAH0 + 3, 1)[0]).toBe(0x80); // AV
    expect([...rd(D.REG.RAL0, 8).subarray(0, 6)]).toEqual([...GUEST_MAC]);
  });

  it('refuses out-of-range regions and offsets, zero and oversized counts, and trailing data', () => {
    const v = makeVfu();
    v.expectErrno(C.regionReadReq(9, 0, 4), P.EINVAL);
    v.expectErrno(C.regionReadReq(6, 0, 4), P.EINVAL);
    v.expectErrno(C.regionReadReq(0, 0x20000, 4), P.EINVAL);
    v.expectErrno(C.regionReadReq(0, 0x1fffe, 4), P.EINVAL);
    v.expectErrno(C.regionReadReq(2, 30, 4), P.EINVAL);
    v.expectErrno(C.regionReadReq(P.PCI_CONFIG, 0x1000, 1), P.EINVAL);
    v.expectErrno(C.regionReadReq(0, 2 ** 62, 4), P.EINVAL);
    v.expectErrno(C.regionReadReq(0, 0, 0), P.EINVAL);
    v.expectErrno(C.regionReadReq(0, 0, (1 << 20) + 1), P.EINVAL);
    v.expectErrno(C.rawReq(P.Cmd.REGION_READ, new Uint8Array(20)), P.EINVAL);
    v.expectErrno(C.rawReq(P.Cmd.REGION_READ, new Uint8Array(8)), P.EINVAL);
  });
});
