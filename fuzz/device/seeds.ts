// The device corpus's seed inputs, built from named operations: sane traffic, offloads, misplaced rings, BAR-aliasing DMA, bad accesses.

import { REG } from '../../device/e1000e/defs.js';
import { encode, WRITE_REGS, READ_REGS, type OpSource } from './ops.js';

const wi = (off: number): number => {
  const i = WRITE_REGS.indexOf(off);
  if (i < 0) throw new Error(`register 0x${off.toString(16)} is not in WRITE_REGS`);
  return i;
};
const ri = (off: number): number => {
  const i = READ_REGS.indexOf(off);
  if (i < 0) throw new Error(`register 0x${off.toString(16)} is not in READ_REGS`);
  return i;
};

// Argument helpers (see exec.ts for what each field means).
const setup = (ring = 0, irq = 2, flags = 0): OpSource => ({ name: 'setup', args: [ring, irq, flags] });
const w = (off: number, v: number): OpSource => ({ name: 'regWrite', args: [wi(off), v >>> 0] });
const r = (off: number): OpSource => ({ name: 'regRead', args: [ri(off)] });
const run = (sel: number, raw = 0): OpSource => ({ name: 'run', args: [sel, raw] });
/** kind 0 legacy, 1 legacy split, 2 checksum offload, 3 TSO IPv4, 4 TSO IPv6, 5 UDP; flags: 1 VLE, 2 RS, 4 IDE, 8 three parts, 64 legacy IC. */
const send = (kind: number, len: number, flags = 2, mss = 924, data: number[] = []): OpSource => ({ name: 'sendPkt', args: [kind, len, flags, mss], data });
/** kind 1 ipv4-tcp, 2 ipv4-udp, 3 ipv6-tcp, 4 ipv6-udp, 5 broadcast, 6 multicast udp, 7 bad ipv4; flags: 1 VLAN, 2 bad csum, 4 other dst, 8/16/24 length class. */
const frame = (kind: number, len: number, flags = 8, data: number[] = []): OpSource => ({ name: 'frame', args: [kind, len, flags], data });
const tail = (rx: boolean, mode: number, v = 0): OpSource => ({ name: 'tail', args: [rx ? 1 : 0, mode, v] });
const ring = (which: number, place: number, raw: number, len: number): OpSource => ({ name: 'ring', args: [which, place, raw, len] });

/** Each seed: a name (the corpus file name) and the input bytes. */
export function deviceSeeds(): { name: string; bytes: Uint8Array }[] {
  const s: [string, number, OpSource[]][] = [
    ['sane-tx-rx-intx', 0, [setup(0, 2), send(0, 100), frame(1, 100), run(6), r(REG.ICR), r(REG.GPRC), r(REG.GPTC)]],
    ['sane-tx-rx-msix-default-timing', 1, [setup(1, 0), send(0, 200), frame(2, 300), run(6), send(1, 500), run(7)]],
    ['sane-tx-rx-msi-paced', 3, [setup(2, 1), send(0, 60), frame(1, 60, 0), run(6), r(REG.ICR)]],
    ['tso-ipv4-tcp', 0, [setup(2, 0), send(3, 9000, 2, 924), run(6), r(REG.TSCTC)]],
    ['tso-ipv6-tcp-paced', 3, [setup(3, 0), send(4, 20000, 2 | 8, 924), run(7)]],
    ['tso-udp-and-bad-context', 0, [setup(0, 2), send(5, 4000, 2, 100), send(3, 3000, 2 | 16, 0x0a00), send(3, 3000, 2 | 128, 0), run(6)]],
    ['checksum-offload', 0, [setup(0, 0), send(2, 1000, 2), send(5, 700, 2), send(0, 400, 2 | 64), run(6)]],
    ['tx-ring-outside-ram-then-fixed', 0, [setup(0, 2), ring(0, 3, 0x100, 8), tail(false, 0, 3), run(6), ring(2, 0, 0, 8), tail(false, 2, 0), send(0, 100), run(6)]],
    ['rx-ring-spanning-ram-end', 0, [setup(0, 2), ring(3, 2, 3, 8), tail(true, 0, 4), frame(1, 100), run(6)]],
    ['tx-ring-high-address', 1, [setup(0, 0), ring(2, 5, 0x12, 8), tail(false, 0, 1), run(6), { name: 'rxDesc', args: [0, 5, 7] }, frame(1, 80)]],
    ['tx-ring-in-bar-alias', 0, [setup(0, 2), ring(2, 4, wi(REG.ICR), 8), tail(false, 0, 2), run(6)]],
    ['rx-buffer-aliases-ics', 0, [setup(0, 0), { name: 'rxDesc', args: [0, 2, wi(REG.ICS)] }, frame(1, 64), run(6)]],
    ['tx-buffer-aliases-registers', 0, [setup(0, 2), { name: 'txDesc', args: [0, 0, 2, wi(REG.STATUS), 64, 0x0b, 0, 0] }, tail(false, 2, 1), run(6)]],
    ['tails-beyond-ring', 0, [setup(0, 2), tail(false, 1, 5), tail(true, 1, 0), frame(1, 100), send(0, 100), run(6), tail(true, 2, 0xffff)]],
    ['bad-config-accesses', 0, [
      { name: 'cfgRead', args: [0xfff, 0] }, { name: 'cfgWrite', args: [0x1000, 0, 0xffffffff] }, { name: 'cfgWrite', args: [3, 3, 0x1234] },
      { name: 'cfgRead', args: [0x10, 4] }, { name: 'cfgWrite', args: [0x10, 0, 0xffffffff] }, { name: 'cfgRead', args: [0x10, 0] },
      { name: 'cfgWrite', args: [0x06, 1, 0xffff] }, { name: 'cfgRead', args: [0xffff, 2] }, { name: 'cfgWrite', args: [0xa2, 1, 0xffff] }]],
    ['bad-bar-accesses', 0, [
      { name: 'barRead', args: [1, 0x100, 0] }, { name: 'barRead', args: [6, 0, 0] }, { name: 'barRead', args: [7, 4, 1] },
      { name: 'barWrite', args: [0 | (3 << 3), 1, 5, 0xffffffff, 0xff] }, { name: 'barWrite', args: [0, 0x1fffe, 6, 0x55, 0] },
      { name: 'barWrite', args: [0, 0xc0, 7, 1, 0] }, { name: 'barRead', args: [2, 8, 3] }, { name: 'barWrite', args: [3, 0x2000, 0, 1, 0] },
      { name: 'barRead', args: [0 | (2 << 3), 0xffffffff, 0] }, { name: 'barWrite', args: [3, 0x3ffe, 4, 0xffff, 0] }]],
    ['io-bar-indirect', 0, [setup(0, 2), { name: 'ioBar', args: [wi(REG.IMS), 0x4, 1] }, { name: 'ioBar', args: [0x80 | ri(REG.ICR), 0, 0] }, { name: 'ioBar', args: [0, 0, 2 | 1 | 8 | 16] }]],
    ['ctrl-rst-mid-traffic', 1, [setup(0, 0), send(0, 300), { name: 'ctrlRst' }, run(6), setup(1, 0), send(0, 300), frame(1, 300), run(6)]],
    ['carrier-flap', 0, [setup(0, 2), { name: 'carrier', args: [0] }, send(0, 100), frame(1, 100), { name: 'carrier', args: [1] }, run(8), send(0, 100), run(6)]],
    ['interrupt-masks-intx', 0, [setup(0, 2, 0), w(REG.IMS, 0xffffffff), w(REG.ICS, 0x4), r(REG.ICR), w(REG.IMC, 0xffffffff), w(REG.ICS, 0x80), r(REG.ICR), w(REG.IMS, 0x80)]],
    ['msix-eiac-iam', 1, [setup(0, 16), w(REG.CTRL_EXT, 0x08000000), w(REG.IAM, 0xffffffff), w(REG.ICS, 0x01f00000), run(6), r(REG.ICR), w(REG.EITR0, 100), w(REG.ICS, 0x00100000), run(6)]],
    ['delay-timers-default-timing', 2, [setup(0, 2), w(REG.RDTR, 100), w(REG.RADV, 200), frame(1, 100), run(7), w(REG.TIDV, 50), send(0, 100, 2 | 4), run(7), w(REG.RDTR, 0x80000000)]],
    ['stats-read-clear', 0, [setup(0, 2), frame(1, 100), frame(5, 100), r(REG.GPRC), r(REG.GORCL), r(REG.TPR), send(0, 100), r(REG.GPTC), r(REG.GOTCH)]],
    ['vlan-strip-insert-filter', 0, [setup(0, 2, 1 | 128), w(REG.VFTA, 0xffffffff), frame(1, 100, 8 | 1), frame(1, 0x1005, 8 | 1), send(0, 100, 2 | 1), run(6)]],
    ['jumbo-and-oversize', 0, [setup(0x18 | 0x20, 2, 64), frame(1, 9000, 24), frame(1, 20000, 24), frame(1, 1520, 16), send(0, 1599, 2), run(6)]],
    ['legacy-rx-small-buffers', 0, [setup(3 << 3, 2, 2 | 16), frame(1, 1000), frame(3, 600, 8 | 2), run(6)]],
    ['rx-checksum-status', 0, [setup(0, 2, 0), frame(1, 200), frame(2, 200, 8 | 2), frame(3, 200), frame(4, 200), frame(7, 200), frame(1, 200, 8 | 0x40), frame(0, 40, 0)]],
    ['device-reset-mid-traffic', 3, [setup(0, 0), send(3, 9000, 2, 924), { name: 'devReset' }, run(6), setup(0, 2), frame(1, 100), run(6)]],
    ['phy-and-nvm', 0, [w(REG.MDIC, 0x08000000 | (1 << 21) | (1 << 16)), r(REG.MDIC), w(REG.EERD, (0x3f << 2) | 1), r(REG.EERD),
      w(REG.MDIC, 0x04000000 | (1 << 21) | 0x8000 | 0x1000), run(8), w(REG.MDIC, 0x08000000 | (2 << 21)), w(REG.CTRL, 0x80000040)]],
    ['rx-packet-buffer-overflow', 0, [setup(0, 2), tail(true, 2, 0), frame(1, 1000, 8), frame(1, 1000, 8), w(REG.PBA, 1), frame(1, 1000, 8), r(REG.RNBC), tail(true, 2, 7), run(6), r(REG.MPC)]],
  ];
  return s.map(([name, profile, ops]) => ({ name, bytes: encode(profile, ops) }));
}
