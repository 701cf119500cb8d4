// What a correct vfio-user server answers to a request: one reply with the same id, errno-only errors, well-formed payloads.

import * as P from '../../qemu/protocol.js';

/** A broken oracle: which one, and what happened. */
export interface Violation {
  oracle: string;
  message: string;
}

function name(cmd: number): string {
  return P.CMD_NAMES[cmd] ?? `cmd${cmd}`;
}

/** Does the server owe a reply to this message? (A request without NO_REPLY.) */
export function expectsReply(req: Uint8Array): boolean {
  const h = P.readHeader(req);
  return (h.flags & P.FLAG_TYPE_MASK) === P.FLAG_REQUEST && (h.flags & P.FLAG_NO_REPLY) === 0;
}

/**
 * Checks each request/reply exchange of one connection in order. It also follows negotiation:
 * nothing but VERSION may succeed before a VERSION did, and VERSION succeeds once.
 */
export class ExchangeChecker {
  /** 'unknown' after a VERSION whose outcome we could not see (NO_REPLY). */
  negotiated: 'no' | 'yes' | 'unknown' = 'no';

  reset(): void {
    this.negotiated = 'no';
  }

  /** `reply` is null when the server sent none. Returns the first violation found. */
  check(req: Uint8Array, reply: Uint8Array | null): Violation | null {
    const h = P.readHeader(req);
    const cmd = name(h.cmd);
    if (!expectsReply(req)) {
      if (reply) return { oracle: 'reply-to-no-reply', message: `${cmd} id ${h.msgId} flags 0x${h.flags.toString(16)} (no reply due) got a reply` };
      if (h.cmd === P.Cmd.VERSION && (h.flags & P.FLAG_TYPE_MASK) === P.FLAG_REQUEST && this.negotiated === 'no') this.negotiated = 'unknown';
      return null;
    }
    if (!reply) return { oracle: 'missing-reply', message: `${cmd} id ${h.msgId} got no reply` };
    if (reply.length < P.HEADER_SIZE) return { oracle: 'bad-reply', message: `${cmd} id ${h.msgId}: reply of ${reply.length} bytes` };
    const r = P.readHeader(reply);
    if (r.size !== reply.length) return { oracle: 'bad-reply', message: `${cmd} id ${h.msgId}: reply header size ${r.size} but ${reply.length} bytes` };
    if (r.msgId !== h.msgId) return { oracle: 'reply-id', message: `${cmd} id ${h.msgId} answered with id ${r.msgId}` };
    if (r.cmd !== h.cmd) return { oracle: 'reply-cmd', message: `${cmd} id ${h.msgId} answered with command ${r.cmd}` };
    if (r.flags & P.FLAG_ERROR) {
      if (r.flags !== (P.FLAG_REPLY | P.FLAG_ERROR)) return { oracle: 'bad-reply', message: `${cmd} id ${h.msgId}: error reply flags 0x${r.flags.toString(16)}` };
      if (r.error === 0) return { oracle: 'error-without-errno', message: `${cmd} id ${h.msgId}: ERROR flag with errno 0` };
      if (reply.length !== P.HEADER_SIZE) return { oracle: 'error-with-payload', message: `${cmd} id ${h.msgId}: error reply (errno ${r.error}) carries ${reply.length - P.HEADER_SIZE} payload bytes` };
      return null;
    }
    if (r.flags !== P.FLAG_REPLY || r.error !== 0) return { oracle: 'bad-reply', message: `${cmd} id ${h.msgId}: success reply flags 0x${r.flags.toString(16)} errno ${r.error}` };
    // A success: the request must have been acceptable.
    if (h.size !== req.length) return { oracle: 'accepted-lying-size', message: `${cmd} id ${h.msgId}: header size ${h.size} for ${req.length} bytes, answered with success` };
    if (h.cmd === P.Cmd.VERSION) {
      if (this.negotiated === 'yes') return { oracle: 'version-twice', message: `VERSION id ${h.msgId} succeeded on a connection already negotiated` };
    } else if (this.negotiated === 'no') {
      return { oracle: 'before-version', message: `${cmd} id ${h.msgId} succeeded before VERSION` };
    }
    if (this.negotiated === 'unknown' || h.cmd === P.Cmd.VERSION) this.negotiated = 'yes';
    return this.shape(h, req.subarray(P.HEADER_SIZE), reply.subarray(P.HEADER_SIZE));
  }

  /** The success payload of each command. */
  private shape(h: P.Header, q: Uint8Array, p: Uint8Array): Violation | null {
    const cmd = name(h.cmd);
    const bad = (what: string): Violation => ({ oracle: 'reply-shape', message: `${cmd} id ${h.msgId}: ${what}` });
    const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const qv = new DataView(q.buffer, q.byteOffset, q.byteLength);
    const len = (n: number) => (p.length !== n ? bad(`success payload of ${p.length} bytes, expected ${n}`) : null);
    switch (h.cmd) {
      case P.Cmd.VERSION: {
        if (p.length < 4) return bad(`payload of ${p.length} bytes`);
        if (dv.getUint16(0, true) !== 0) return bad(`major ${dv.getUint16(0, true)}`);
        if (p.length > q.length) return { oracle: 'version-reply-longer', message: `VERSION id ${h.msgId}: reply payload of ${p.length} bytes to a request of ${q.length} (the reply may not be longer than the request)` };
        if (p.length > 4) {
          const js = p.subarray(4);
          if (js[js.length - 1] !== 0) return bad('JSON not NUL-terminated');
          try {
            JSON.parse(Buffer.from(js.subarray(0, js.length - 1)).toString('utf8'));
          } catch {
            return bad('JSON does not parse');
          }
        }
        return null;
      }
      case P.Cmd.DMA_MAP:
      case P.Cmd.DEVICE_SET_IRQS:
      case P.Cmd.DEVICE_RESET:
        return len(0);
      case P.Cmd.DMA_UNMAP:
        return len(P.DMA_UNMAP_SIZE);
      case P.Cmd.DEVICE_GET_INFO:
        return len(P.DEVICE_INFO_SIZE) ?? (dv.getUint32(8, true) !== P.PCI_NUM_REGIONS || dv.getUint32(12, true) !== P.PCI_NUM_IRQS ? bad('regions/irqs') : null);
      case P.Cmd.DEVICE_GET_REGION_INFO:
        return len(P.REGION_INFO_SIZE) ?? (dv.getUint32(8, true) !== qv.getUint32(8, true) ? bad('index not echoed') : null);
      case P.Cmd.DEVICE_GET_IRQ_INFO:
        return len(P.IRQ_INFO_SIZE) ?? (dv.getUint32(8, true) !== qv.getUint32(8, true) ? bad('index not echoed') : null);
      case P.Cmd.REGION_READ: {
        const count = qv.getUint32(12, true);
        const e = len(P.REGION_ACCESS_SIZE + count);
        if (e) return e;
        for (let i = 0; i < P.REGION_ACCESS_SIZE; i++) if (p[i] !== q[i]) return bad('access header not echoed');
        return null;
      }
      case P.Cmd.REGION_WRITE:
        return len(P.REGION_ACCESS_SIZE);
      default:
        return { oracle: 'unsupported-succeeded', message: `${cmd} id ${h.msgId}: an unimplemented command answered with success` };
    }
  }
}
