// Two machines, one 82574L each, joined by a wire, with our driver loaded and the interfaces up.

import { Testbed, type Machine, type SimNic } from '../../testbed/testbed.js';
import { createPair, type LinkWire } from '../../wire/index.js';
import { dev_open, netif_carrier_ok } from '../../kernel-glue/netdev.js';
import type { E1000eParams } from '../../driver/netdev.js';
import type { TimingParams } from '../../device/sim/timing.js';
import type { TraceSink } from '../../device/trace.js';
import type { SkBuff } from '../../kernel-glue/skbuff.js';
import { mulberry32 } from '../../device/sim/rng.js';

export const MAC_A = new Uint8Array([0x52, 0x54, 0x00, 0x00, 0x00, 0x0a]);
export const MAC_B = new Uint8Array([0x52, 0x54, 0x00, 0x00, 0x00, 0x0b]);

export interface PairRig {
  tb: Testbed;
  a: Machine;
  b: Machine;
  na: SimNic;
  nb: SimNic;
  wire: LinkWire;
  /** Frames the wire carried, by sending side. */
  onWire: { side: number; frame: Uint8Array }[];
}

export function makePair(opts: { params?: Partial<E1000eParams>; timing?: Partial<TimingParams>; trace?: TraceSink; open?: boolean; tapWire?: boolean; gso?: boolean } = {}): PairRig {
  const tb = new Testbed(opts.trace);
  const a = tb.addMachine({ name: 'A' });
  const b = tb.addMachine({ name: 'B' });
  const na = a.addNic({ mac: MAC_A, name: 'A.nic0', timing: opts.timing });
  const nb = b.addNic({ mac: MAC_B, name: 'B.nic0', timing: opts.timing });
  const onWire: PairRig['onWire'] = [];
  const wire = createPair({ ...(opts.tapWire ? { tap: (frame, side) => onWire.push({ side, frame: frame.slice() }) } : {}), gso: opts.gso });
  na.plug(wire, 0);
  nb.plug(wire, 1);
  a.loadDriver(opts.params);
  b.loadDriver(opts.params);
  const rig = { tb, a, b, na, nb, wire, onWire };
  if (opts.open !== false) openBoth(rig);
  return rig;
}

/** ip link set up on both sides, then wait (virtual time) for carrier. */
export function openBoth(r: PairRig): void {
  if (dev_open(r.na.netdev) !== 0) throw new Error('open A failed');
  if (dev_open(r.nb.netdev) !== 0) throw new Error('open B failed');
  const ok = r.tb.runUntil(() => netif_carrier_ok(r.na.netdev) && netif_carrier_ok(r.nb.netdev), 10e9);
  if (!ok) throw new Error(`no carrier: ${r.a.kernel.dmesg.map((l) => l.msg).join(' | ')}`);
}

/** Copies of everything a machine's stack received (Ethernet header included). */
export function captureRx(m: Machine): { frames: Uint8Array[]; skbs: { ip_summed: number; vlan: number }[] } {
  const frames: Uint8Array[] = [];
  const skbs: { ip_summed: number; vlan: number }[] = [];
  m.kernel.net.addRxHandler(null, (skb: SkBuff) => {
    // eth_type_trans pulled the 14-byte header; mac_header points back at it.
    const start = skb.data + skb.mac_header;
    frames.push(skb.buf.slice(start, skb.tail));
    skbs.push({ ip_summed: skb.ip_summed, vlan: skb.vlan_present ? skb.vlan_tci : -1 });
  });
  return { frames, skbs };
}

/** A deterministic PRNG so traffic is reproducible from a seed. */
export const rng = mulberry32;
