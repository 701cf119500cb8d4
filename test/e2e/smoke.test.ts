import { describe, it, expect } from 'vitest';
import { Testbed } from '../../testbed/testbed.js';
import { createPair } from '../../wire/index.js';
import { dev_open, netif_carrier_ok, xmitFrame } from '../../kernel-glue/netdev.js';

describe('smoke', () => {
  it('probes, opens, links up and passes one frame', () => {
    const tb = new Testbed();
    const a = tb.addMachine({ name: 'A' });
    const b = tb.addMachine({ name: 'B' });
    const na = a.addNic({ mac: new Uint8Array([0x52, 0x54, 0, 0, 0, 1]) });
    const nb = b.addNic({ mac: new Uint8Array([0x52, 0x54, 0, 0, 0, 2]) });
    const w = createPair();
    na.plug(w, 0);
    nb.plug(w, 1);
    a.loadDriver();
    b.loadDriver();
    console.log(a.kernel.dmesg.map((l) => l.msg).join('\n'));
    expect(dev_open(na.netdev)).toBe(0);
    expect(dev_open(nb.netdev)).toBe(0);
    tb.advance(3e9);
    console.log(a.kernel.dmesg.map((l) => l.msg).join('\n'));
    expect(netif_carrier_ok(na.netdev)).toBe(true);
    const got: Uint8Array[] = [];
    b.kernel.net.addRxHandler(null, (skb) => got.push(skb.buf.slice(skb.data - 14, skb.tail)));
    const f = new Uint8Array(100);
    f.set([0x52, 0x54, 0, 0, 0, 2, 0x52, 0x54, 0, 0, 0, 1, 0x88, 0xb5]);
    xmitFrame(na.netdev, f);
    tb.advance(1e6);
    expect(got.length).toBe(1);
    console.log(a.kernel.interrupts());
  });
});
