// Segmentation of a GSO TCP packet the way the Linux host does it for a TAP (tcp_gso_segment, then the checksum a NEEDS_CSUM packet leaves to be finished).

import type { GsoRequest } from '../device/host.js';
import { onesSum as sum16, foldSum as fold } from '../device/e1000e/offload.js';

function get16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

/**
 * The frames a GSO TCP packet becomes: per segment the headers copied, the IPv4 total length,
 * ID (+1 each) and header checksum or the IPv6 payload length, the sequence number advanced,
 * FIN and PSH kept for the last segment and CWR for the first, and the TCP checksum finished
 * from the partial one: the pseudo-header sum the packet carries (for its whole TCP length)
 * is moved to the segment's length, then summed over the segment.
 */
export function segmentGso(pkt: Uint8Array, g: GsoRequest): Uint8Array[] {
  const { hdrLen, mss, csumStart: l4, csumOffset } = g;
  const l3 = 14;
  const fullL4 = pkt.length - l4;
  const partial = get16(pkt, l4 + csumOffset);
  const seq0 = ((pkt[l4 + 4]! << 24) | (pkt[l4 + 5]! << 16) | (pkt[l4 + 6]! << 8) | pkt[l4 + 7]!) >>> 0;
  const flags0 = pkt[l4 + 13]!;
  const id0 = g.ipv6 ? 0 : get16(pkt, l3 + 4);
  const out: Uint8Array[] = [];
  const n = Math.ceil((pkt.length - hdrLen) / mss);
  for (let i = 0; i < n; i++) {
    const off = hdrLen + i * mss;
    const plen = Math.min(mss, pkt.length - off);
    const f = new Uint8Array(hdrLen + plen);
    f.set(pkt.subarray(0, hdrLen));
    f.set(pkt.subarray(off, off + plen), hdrLen);
    if (g.ipv6) put16(f, l3 + 4, f.length - l3 - 40);
    else {
      put16(f, l3 + 2, f.length - l3);
      put16(f, l3 + 4, (id0 + i) & 0xffff);
      put16(f, l3 + 10, 0);
      put16(f, l3 + 10, ~fold(sum16(f, l3, l4)) & 0xffff);
    }
    const seq = (seq0 + i * mss) >>> 0;
    f[l4 + 4] = seq >>> 24;
    f[l4 + 5] = (seq >>> 16) & 0xff;
    f[l4 + 6] = (seq >>> 8) & 0xff;
    f[l4 + 7] = seq & 0xff;
    const last = i === n - 1;
    f[l4 + 13] = last ? flags0 : i === 0 ? flags0 & ~0x09 : flags0 & ~0x89;
    // Move the pseudo-header sum from the whole length to this segment's: + new - old.
    const segL4 = f.length - l4;
    const seed = fold(partial + segL4 + (~fullL4 & 0xffff));
    put16(f, l4 + csumOffset, seed);
    put16(f, l4 + csumOffset, ~fold(sum16(f, l4, f.length)) & 0xffff);
    out.push(f);
  }
  return out;
}
