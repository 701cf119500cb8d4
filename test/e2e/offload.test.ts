import { describe, it, expect } from 'vitest';
import { makePair, captureRx, MAC_A, MAC_B, type PairRig } from '../support/pair.js';
import { buildPacket, verifyChecksums, parseFrame } from '../support/packets.js';
import { dev_queue_xmit } from '../../kernel-glue/netdev.js';
import {
  alloc_skb, skb_reserve, skb_put_data, CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY, SKB_GSO_TCPV4, SKB_GSO_TCPV6, NET_SKB_PAD,
} from '../../kernel-glue/skbuff.js';

/** Hands a frame to A's stack as the kernel would: headers marked, checksum left to the NIC. */
function sendOffloaded(r: PairRig, p: ReturnType<typeof buildPacket>, gso?: { size: number; segs: number; v6: boolean }): void {
  const skb = alloc_skb(r.a.kernel, p.frame.length + NET_SKB_PAD)!;
  skb_reserve(skb, NET_SKB_PAD);
  skb_put_data(skb, p.frame);
  skb.dev = r.na.netdev;
  skb.protocol = (p.frame[12]! << 8) | p.frame[13]!;
  skb.network_header = p.l3;
  skb.transport_header = p.l4;
  skb.ip_summed = CHECKSUM_PARTIAL;
  skb.csum_start = p.l4;
  skb.csum_offset = p.csumOff - p.l4;
  if (gso) {
    skb.gso_size = gso.size;
    skb.gso_segs = gso.segs;
    skb.gso_type = gso.v6 ? SKB_GSO_TCPV6 : SKB_GSO_TCPV4;
  }
  expect(dev_queue_xmit(skb)).toBe(0);
}

const payload = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe('checksum offload', () => {
  for (const version of [4, 6] as const) {
    for (const proto of ['tcp', 'udp'] as const) {
      it(`fills the ${proto.toUpperCase()}/IPv${version} checksum of partial-checksum packets`, () => {
        const r = makePair({ tapWire: true });
        const rx = captureRx(r.b);
        for (const size of [1, 17, 100, 1000, version === 4 ? 1400 : 1380]) {
          const p = buildPacket({ version, proto, payload: payload(size, size), dstMac: MAC_B, srcMac: MAC_A, partial: true });
          expect(verifyChecksums(p.frame).l4).toBe(false); // really left to the NIC
          sendOffloaded(r, p);
        }
        r.tb.advance(5e6);
        const sent = r.onWire.filter((w) => w.side === 0).map((w) => w.frame);
        expect(sent.length).toBe(5);
        for (const f of sent) {
          const v = verifyChecksums(f);
          expect(v.ip).toBe(true);
          expect(v.l4).toBe(true);
        }
        // B's NIC verified them too and told its stack so.
        expect(rx.skbs.map((s) => s.ip_summed)).toEqual(Array(5).fill(CHECKSUM_UNNECESSARY));
      });
    }
  }
});

describe('TCP segmentation offload', () => {
  // MSS 1448 fills a 1500-byte MTU for IPv4 with TCP timestamps; IPv6's 20 extra header bytes leave 1428.
  for (const [version, mss] of [[4, 1448], [6, 1428]] as const) {
    it(`splits a 64 KiB IPv${version} send with MSS ${mss} into ceil(65536/${mss}) correct segments`, () => {
      const r = makePair({ tapWire: true });
      const rx = captureRx(r.b);
      const data = payload(65536, 7);
      const seq0 = 0xfffff000; // wraps during the send
      const p = buildPacket({ version, proto: 'tcp', payload: data, dstMac: MAC_B, srcMac: MAC_A, seq: seq0, ipId: 0xfff0, tcpFlags: 0x19 /* FIN|PSH|ACK */, partial: true });
      const nseg = Math.ceil(65536 / mss);
      sendOffloaded(r, p, { size: mss, segs: nseg, v6: version === 6 });
      r.tb.advance(20e6);
      const segs = r.onWire.filter((w) => w.side === 0).map((w) => w.frame);
      expect(segs.length).toBe(nseg);
      const reassembled = new Uint8Array(65536);
      let off = 0;
      segs.forEach((f, i) => {
        const h = parseFrame(f);
        const dv = new DataView(f.buffer, f.byteOffset);
        const plen = Math.min(mss, 65536 - i * mss);
        expect(h.end).toBe(f.length); // no padding, IP length right
        if (version === 4) {
          expect(dv.getUint16(16)).toBe(20 + 32 + plen);
          expect(dv.getUint16(18)).toBe((0xfff0 + i) & 0xffff);
        } else {
          expect(dv.getUint16(18)).toBe(32 + plen);
        }
        expect(dv.getUint32(h.l4 + 4)).toBe((seq0 + i * mss) >>> 0);
        const flags = f[h.l4 + 13]!;
        const last = i === nseg - 1;
        expect(flags & 0x01).toBe(last ? 1 : 0); // FIN
        expect(flags & 0x08).toBe(last ? 8 : 0); // PSH
        expect(flags & 0x10).toBe(0x10); // ACK on all
        const v = verifyChecksums(f);
        expect(v.ip).toBe(true);
        expect(v.l4).toBe(true);
        reassembled.set(f.subarray(h.l4 + 32), off);
        off += plen;
      });
      expect(off).toBe(65536);
      expect(Buffer.from(reassembled).equals(Buffer.from(data))).toBe(true);
      expect(rx.frames.length).toBe(nseg);
      expect(r.na.device.peek('TSCTC')).toBe(1);
    });
  }
});

describe('TSO handed to a host that segments it (GSO)', () => {
  for (const [version, mss] of [[4, 1448], [6, 1428]] as const) {
    it(`IPv${version}: the wire carries the same bytes as when the NIC segments, one GSO send, every segment counted`, () => {
      const size = 60000;
      const run = (gso: boolean, n = size) => {
        const r = makePair({ tapWire: true, gso });
        const data = payload(n, 9);
        const p = buildPacket({ version, proto: 'tcp', payload: data, dstMac: MAC_B, srcMac: MAC_A, seq: 0xfffff000, ipId: 0xfff0, tcpFlags: 0x99 /* CWR|FIN|PSH|ACK */, partial: true });
        let gsoSends = 0;
        const host = r.na.device.host as { sendGso?: (...a: unknown[]) => void };
        const orig = host.sendGso?.bind(host);
        if (orig) host.sendGso = (...a: unknown[]) => {
          gsoSends++;
          orig(...a);
        };
        sendOffloaded(r, p, { size: mss, segs: Math.ceil(n / mss), v6: version === 6 });
        r.tb.advance(20e6);
        return { frames: r.onWire.filter((w) => w.side === 0).map((w) => w.frame), gsoSends, gptc: r.na.device.stats.totals.txPackets, tsctc: r.na.device.peek('TSCTC') };
      };
      const plain = run(false);
      const gso = run(true);
      expect(plain.gsoSends).toBe(0);
      expect(gso.gsoSends).toBe(1);
      expect(gso.frames.length).toBe(Math.ceil(size / mss));
      gso.frames.forEach((f, i) => {
        const p = plain.frames[i]!;
        const at = f.findIndex((b, k) => b !== p[k]);
        expect(f.length === p.length && at < 0, `segment ${i}: length ${f.length} vs ${p.length}, first difference at byte ${at}`).toBe(true);
      });
      for (const f of gso.frames) expect(verifyChecksums(f)).toEqual({ ip: true, l4: true });
      expect(gso.gptc).toBe(plain.gptc);
      expect(gso.tsctc).toBe(1);
      // 64 KiB of payload overflows the 16-bit IP length of one packet: the NIC segments it itself.
      const big = run(true, 65536);
      expect(big.gsoSends).toBe(0);
      expect(big.frames.length).toBe(Math.ceil(65536 / mss));
    });
  }
});
