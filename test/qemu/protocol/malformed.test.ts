import { describe, it, expect } from 'vitest';
import { makeVfu } from '../../support/vfu.js';
import * as C from '../../../qemu/client-codec.js';
import * as P from '../../../qemu/protocol.js';

describe('malformed and unexpected messages', () => {
  it('answers unknown and unimplemented commands with ENOTSUP', () => {
    const v = makeVfu();
    for (const cmd of [0, 6, 11, 12, 14, 16, 17, 18, 19, 999, 0xffff]) v.expectErrno(C.rawReq(cmd, new Uint8Array(8)), P.ENOTSUP);
  });
  it('refuses fds on commands that take none, closing them', () => {
    const v = makeVfu();
    const fd = v.io.eventfd();
    v.expectErrno(C.deviceInfoReq(), P.EINVAL, [fd]);
    expect(v.io.open.has(fd)).toBe(false);
  });
  it('refuses a header whose size disagrees with the message', () => {
    const v = makeVfu();
    const m = C.deviceInfoReq();
    new DataView(m.buffer).setUint32(4, 100, true);
    v.expectErrno(m, P.EINVAL);
  });
  it('ignores replies sent by the client (we never asked anything)', () => {
    const v = makeVfu();
    const m = C.deviceInfoReq();
    new DataView(m.buffer).setUint32(8, P.FLAG_REPLY, true);
    expect(v.call(m)).toBeNull();
    expect(v.trace.find('vfu_unexpected_reply').length).toBe(1);
  });
  it('a disconnect drops every map and eventfd and resets the device for the next client', () => {
    const v = makeVfu();
    const mem = v.io.memfd(0x1000);
    v.ok(C.dmaMapReq(0x1000, 0x1000, 0), [mem]);
    v.ok(C.setIrqsReq(P.IRQ_SET_DATA_EVENTFD | P.IRQ_SET_ACTION_TRIGGER, P.IRQ_MSIX, 0, 2), [v.io.eventfd(), v.io.eventfd()]);
    v.dev.disconnect();
    expect(v.io.open.size).toBe(0);
    expect(v.io.mapped.size).toBe(0);
    v.expectErrno(C.deviceInfoReq(), P.EINVAL); // must negotiate again
    v.ok(C.versionReq());
    v.ok(C.deviceInfoReq());
  });
});
