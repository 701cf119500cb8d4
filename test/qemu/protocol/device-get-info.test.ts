import { describe, it, expect } from 'vitest';
import { makeVfu } from '../../support/vfu.js';
import * as C from '../../../qemu/client-codec.js';
import * as P from '../../../qemu/protocol.js';

describe('DEVICE_GET_INFO', () => {
  it('reports a resettable PCI device with 9 regions and 5 IRQ indexes', () => {
    const v = makeVfu();
    const r = v.ok(C.deviceInfoReq());
    expect(r.dv.getUint32(0, true)).toBe(16);
    expect(r.dv.getUint32(4, true)).toBe(P.DEVICE_FLAGS_RESET | P.DEVICE_FLAGS_PCI);
    expect(r.dv.getUint32(8, true)).toBe(9);
    expect(r.dv.getUint32(12, true)).toBe(5);
  });
  it('refuses an argsz too small for the answer, and a truncated message', () => {
    const v = makeVfu();
    v.expectErrno(C.deviceInfoReq(8), P.EINVAL);
    v.expectErrno(C.rawReq(P.Cmd.DEVICE_GET_INFO, new Uint8Array(2)), P.EINVAL);
  });
});
