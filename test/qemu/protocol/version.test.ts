import { describe, it, expect } from 'vitest';
import { makeVfu } from '../../support/vfu.js';
import * as C from '../../../qemu/client-codec.js';
import * as P from '../../../qemu/protocol.js';

describe('VERSION', () => {
  it('answers QEMU 11 negotiation with 0.0 and only the capabilities it implements, no longer than the request', () => {
    const v = makeVfu({ negotiate: false });
    const req = C.versionReq();
    const r = v.ok(req);
    expect(r.dv.getUint16(0, true)).toBe(0);
    expect(r.dv.getUint16(2, true)).toBe(0);
    const text = Buffer.from(r.payload.subarray(4, r.payload.indexOf(0, 4))).toString();
    const caps = JSON.parse(text).capabilities;
    expect(caps.max_msg_fds).toBeGreaterThan(0);
    expect(caps.pgsizes).toBe(4096);
    expect(caps.write_multiple).toBe(true); // REGION_WRITE_MULTI is implemented
    expect(caps.migration).toBeUndefined();
    expect(r.header.size).toBeLessThanOrEqual(req.length);
  });

  it('shrinks its capabilities to fit a short request', () => {
    const v = makeVfu({ negotiate: false });
    const req = C.versionReq({});
    const r = v.ok(req);
    expect(r.header.size).toBeLessThanOrEqual(Math.max(req.length, P.HEADER_SIZE + 7));
  });

  it('refuses another major version, bad JSON, a short payload, and a second negotiation', () => {
    const v = makeVfu({ negotiate: false });
    v.expectErrno(C.versionReq({}, 1), P.ENOTSUP);
    v.expectErrno(C.rawReq(P.Cmd.VERSION, new Uint8Array([0, 0, 0, 0, ...Buffer.from('{oops\0')])), P.EINVAL);
    v.expectErrno(C.rawReq(P.Cmd.VERSION, new Uint8Array([0, 0])), P.EINVAL);
    v.expectErrno(C.rawReq(P.Cmd.VERSION, new Uint8Array([0, 0, 0, 0, ...Buffer.from('[1]\0')])), P.EINVAL);
    v.ok(C.versionReq());
    v.expectErrno(C.versionReq(), P.EINVAL);
  });

  it('must come first: other commands before it get EINVAL', () => {
    const v = makeVfu({ negotiate: false });
    v.expectErrno(C.deviceInfoReq(), P.EINVAL);
    v.ok(C.versionReq());
    v.ok(C.deviceInfoReq());
  });
});
