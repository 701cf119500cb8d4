import { describe, it, expect } from 'vitest';
import { makeVfu } from '../../support/vfu.js';
import * as C from '../../../qemu/client-codec.js';
import * as P from '../../../qemu/protocol.js';

describe('DEVICE_GET_IRQ_INFO', () => {
  it('reports INTx (automasked), MSI 1, MSI-X 5, ERR and REQ, all eventfd-capable', () => {
    const v = makeVfu();
    const info = (i: number) => {
      const r = v.ok(C.irqInfoReq(i));
      return { flags: r.dv.getUint32(4, true), count: r.dv.getUint32(12, true) };
    };
    expect(info(P.IRQ_INTX).count).toBe(1);
    expect(info(P.IRQ_INTX).flags & P.IRQ_INFO_AUTOMASKED).toBeTruthy();
    expect(info(P.IRQ_MSI).count).toBe(1);
    expect(info(P.IRQ_MSIX).count).toBe(5);
    expect(info(P.IRQ_ERR).count).toBe(1);
    expect(info(P.IRQ_REQ).count).toBe(1);
    for (let i = 0; i < 5; i++) expect(info(i).flags & P.IRQ_INFO_EVENTFD).toBeTruthy();
  });
  it('refuses an unknown index and a short argsz', () => {
    const v = makeVfu();
    v.expectErrno(C.irqInfoReq(5), P.EINVAL);
    v.expectErrno(C.irqInfoReq(0, 4), P.EINVAL);
  });
});
