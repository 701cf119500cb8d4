import { describe, it, expect } from 'vitest';
import { makeVfu } from '../../support/vfu.js';
import * as C from '../../../qemu/client-codec.js';
import * as P from '../../../qemu/protocol.js';
import * as D from '../../../device/e1000e/defs.js';

const le = C.le32;

describe('REGION_WRITE_MULTI', () => {
  it('applies every batched write in order, posted (no reply) as QEMU sends it', () => {
    const v = makeVfu();
    const m = C.regionWriteMultiReq([
      { region: P.PCI_CONFIG, offset: 4, data: new Uint8Array([0x06, 0x00]) },
      { region: 0, offset: D.REG.IMS, data: le(0x10) },
      { region: 0, offset: D.REG.IMS, data: le(0x20) },
      { region: 0, offset: D.REG.TIDV, data: le(8) },
    ]);
    expect(v.call(m)).toBeNull();
    expect(v.dev.device.peek('IMS')).toBe(0x30);
    expect(v.dev.device.peek('TIDV')).toBe(8);
    expect(v.dev.device.configRead(4, 2) & 0x6).toBe(0x6);
  });

  it('with a reply asked for, answers with the count', () => {
    const v = makeVfu();
    const r = v.ok(C.regionWriteMultiReq([{ region: 0, offset: D.REG.IMS, data: le(4) }], false));
    expect(r.payload.length).toBe(P.WRITE_MULTI_HEAD);
    expect(new DataView(r.payload.buffer, r.payload.byteOffset).getUint32(0, true)).toBe(1);
    expect(v.dev.device.peek('IMS')).toBe(4);
  });

  it('refuses the whole message for one bad entry, a wrong count, or too many entries, applying nothing', () => {
    const v = makeVfu();
    const bad = (w: Parameters<typeof C.regionWriteMultiReq>[0]) => C.regionWriteMultiReq(w, false);
    v.expectErrno(bad([{ region: 0, offset: D.REG.IMS, data: le(1) }, { region: 0, offset: 0x1fffe, data: le(1) }]), P.EINVAL);
    expect(v.dev.device.peek('IMS')).toBe(0);
    v.expectErrno(bad([{ region: 12, offset: 0, data: le(1) }]), P.EINVAL);
    v.expectErrno(bad([]), P.EINVAL);
    v.expectErrno(bad(Array.from({ length: 201 }, () => ({ region: 0, offset: D.REG.IMS, data: le(1) }))), P.EINVAL);
    const m = bad([{ region: 0, offset: D.REG.IMS, data: le(1) }]);
    new DataView(m.buffer).setUint32(16 + 8 + 12, 9, true); // an entry claiming 9 data bytes
    v.expectErrno(m, P.EINVAL);
    const n = bad([{ region: 0, offset: D.REG.IMS, data: le(1) }]);
    new DataView(n.buffer).setUint32(16, 2, true); // two entries claimed, one carried
    v.expectErrno(n, P.EINVAL);
    expect(v.dev.device.peek('IMS')).toBe(0);
  });
});
