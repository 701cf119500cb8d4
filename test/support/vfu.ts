// A vfio-user session over fake fds, with helpers to send requests and read replies.

import { VfioUserDevice } from '../../qemu/session.js';
import * as C from '../../qemu/client-codec.js';
import * as P from '../../qemu/protocol.js';
import { FakeIo } from './fake-io.js';
import { RecordingTrace } from '../../device/trace.js';

export const GUEST_MAC = new Uint8Array([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

export interface Vfu {
  io: FakeIo;
  dev: VfioUserDevice;
  trace: RecordingTrace;
  /** Sends a request; returns the reply (null when none was sent). */
  call(msg: Uint8Array, fds?: number[]): ReturnType<typeof C.parseReply> | null;
  /** Expects an error reply with `errno`. */
  expectErrno(msg: Uint8Array, errno: number, fds?: number[]): void;
  ok(msg: Uint8Array, fds?: number[]): ReturnType<typeof C.parseReply>;
}

export function makeVfu(opts: { negotiate?: boolean } = {}): Vfu {
  const io = new FakeIo();
  const trace = new RecordingTrace('vfu_*');
  const dev = new VfioUserDevice({ mac: GUEST_MAC, io, trace });
  const call = (msg: Uint8Array, fds: number[] = []) => {
    const o = dev.handle(msg, fds);
    return o.reply ? C.parseReply(o.reply) : null;
  };
  const v: Vfu = {
    io,
    dev,
    trace,
    call,
    expectErrno(msg, errno, fds = []) {
      const r = call(msg, fds);
      if (!r) throw new Error('no reply');
      if (!(r.header.flags & P.FLAG_ERROR) || r.header.error !== errno) {
        throw new Error(`expected errno ${errno}, got flags ${r.header.flags} errno ${r.header.error}`);
      }
      if (r.header.size !== P.HEADER_SIZE) throw new Error('error replies carry no payload');
    },
    ok(msg, fds = []) {
      const r = call(msg, fds);
      if (!r) throw new Error('no reply');
      if (r.header.flags & P.FLAG_ERROR) throw new Error(`unexpected errno ${r.header.error}`);
      if ((r.header.flags & P.FLAG_TYPE_MASK) !== P.FLAG_REPLY) throw new Error('not a reply');
      return r;
    },
  };
  if (opts.negotiate !== false) v.ok(C.versionReq());
  return v;
}

/** Maps `size` bytes of fake guest RAM at `iova`; returns the backing bytes. */
export function mapRam(v: Vfu, iova: number, size: number): Uint8Array {
  const fd = v.io.memfd(size);
  v.ok(C.dmaMapReq(iova, size, 0), [fd]);
  return v.io.files.get(fd)!;
}
