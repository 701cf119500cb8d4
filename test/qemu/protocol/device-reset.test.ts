import { describe, it, expect } from 'vitest';
import { makeVfu } from '../../support/vfu.js';
import * as C from '../../../qemu/client-codec.js';
import * as P from '../../../qemu/protocol.js';
import * as D from '../../../device/e1000e/defs.js';

describe('DEVICE_RESET', () => {
  it('returns the device to its power-on state, keeping DMA maps and eventfds', () => {
    const v = makeVfu();
    const fd = v.io.eventfd();
    v.ok(C.setIrqsReq(P.IRQ_SET_DATA_EVENTFD | P.IRQ_SET_ACTION_TRIGGER, P.IRQ_MSIX, 0, 1), [fd]);
    v.ok(C.regionWriteReq(0, D.REG.IMS, C.le32(0xff)));
    v.ok(C.regionWriteReq(P.PCI_CONFIG, 4, new Uint8Array([6, 0])));
    v.ok(C.resetReq());
    expect(v.dev.device.peek('IMS')).toBe(0);
    expect(v.ok(C.regionReadReq(P.PCI_CONFIG, 4, 2)).payload[16]).toBe(0);
    expect(v.io.open.has(fd)).toBe(true);
  });
  it('refuses a payload', () => {
    const v = makeVfu();
    v.expectErrno(C.rawReq(P.Cmd.DEVICE_RESET, new Uint8Array(4)), P.EINVAL);
  });
});
