import { describe, it, expect } from 'vitest';
import { makeVfu } from '../../support/vfu.js';
import * as C from '../../../qemu/client-codec.js';
import * as P from '../../../qemu/protocol.js';
import * as D from '../../../device/e1000e/defs.js';

const le = C.le32;

describe('REGION_WRITE', () => {
  it('writes registers with a reply that carries no data', () => {
    const v = makeVfu();
    const r = v.ok(C.regionWriteReq(0, D.REG.IMS, le(0x10)));
    expect(r.payload.length).toBe(16);
    expect(v.dev.device.peek('IMS')).toBe(0x10);
  });

  it('sends no reply at all to a posted write (NO_REPLY), and none for errors either', () => {
    const v = makeVfu();
    expect(v.call(C.regionWriteReq(0, D.REG.IMS, le(0x20), true))).toBeNull();
    expect(v.dev.device.peek('IMS')).toBe(0x20);
    expect(v.call(C.regionWriteReq(0, 0x20000, le(1), true))).toBeNull();
    expect(v.dev.stats.posted).toBe(1);
  });

  it('programs config space (command register) and reads it back', () => {
    const v = makeVfu();
    v.ok(C.regionWriteReq(P.PCI_CONFIG, 4, new Uint8Array([0x06, 0x00])));
    const r = v.ok(C.regionReadReq(P.PCI_CONFIG, 4, 2));
    expect(r.payload[16]! & 0x6).toBe(0x6);
  });

  it('refuses a count that disagrees with the data, out-of-range offsets and regions', () => {
    const v = makeVfu();
    const m = C.regionWriteReq(0, 0, le(1));
    new DataView(m.buffer).setUint32(16 + 12, 8, true); // claims 8 bytes, carries 4
    v.expectErrno(m, P.EINVAL);
    v.expectErrno(C.regionWriteReq(0, 0x1fffe, le(1)), P.EINVAL);
    v.expectErrno(C.regionWriteReq(12, 0, le(1)), P.EINVAL);
    v.expectErrno(C.regionWriteReq(8, 0, le(1)), P.EINVAL);
  });

  it('never lets a bad device-level access through: odd sizes and unknown registers are traced, not fatal', () => {
    const v = makeVfu();
    v.ok(C.regionWriteReq(0, 0x1f000, le(0xffffffff)));
    // Split into a byte at 3 (CTRL) and a word at 4 (CTRL_DUP, not implemented: traced).
    v.ok(C.regionWriteReq(0, 3, new Uint8Array([1, 2, 3])));
    expect(v.dev.device.diag.unknownWrites).toBe(2);
    expect(v.trace.find('vfu_error').length).toBe(0);
  });
});
