import { describe, it, expect } from 'vitest';
import { consoleFilter, failureTail, isKernelTrouble } from '../../qemu/guest-run.js';

/** A normal boot's kernel chatter, which --quiet hides. */
const CHATTER = [
  '[    0.000000] Linux version 6.12.48+deb13-amd64 (debian-kernel@lists.debian.org)',
  '[    0.000000] Kernel command line: console=ttyS0 panic=-1 nicsim.ip=dhcp nicsim.intmode=2',
  '[    0.412000] clocksource: Switched to clocksource tsc-early',
  '[    1.020000] PCI: Using configuration type 1 for base access',
];

/** An Oops as x86 Linux prints it, from its first line to its end marker. */
const OOPS = [
  '[   12.100000] BUG: kernel NULL pointer dereference, address: 0000000000000008',
  '[   12.100010] #PF: supervisor read access in kernel mode',
  '[   12.100020] #PF: error_code(0x0000) - not-present page',
  '[   12.100030] PGD 0 P4D 0 ',
  '[   12.100040] Oops: 0000 [#1] PREEMPT SMP NOPTI',
  '[   12.100050] CPU: 0 PID: 0 Comm: swapper/0 Not tainted 6.12.48+deb13-amd64 #1',
  '[   12.100060] RIP: 0010:napi_gro_receive+0x1a/0x1e0',
  '[   12.100070] RSP: 0018:ffffa0c0c0003e90 EFLAGS: 00010246',
  '[   12.100080] Call Trace:',
  '[   12.100090]  <IRQ>',
  '[   12.100100]  ? __die+0x23/0x70',
  '[   12.100110]  ? page_fault_oops+0x17d/0x4c0',
  '[   12.100120]  </IRQ>',
  '[   12.100130] ---[ end trace 0000000000000000 ]---',
];

describe('kernel trouble on the guest console', () => {
  it('recognises panics, BUG, Oops, WARNING, call traces and their kin, and not the command line\'s panic=', () => {
    for (const l of [
      '[    5.000000] Kernel panic - not syncing: Fatal exception in interrupt',
      '[    5.000000] skbuff: skb_over_panic: text:ffffffffc04a1b2c len:1600 put:1600 head:ffff8880 data:ffff8880 tail:0x640 end:0x600 dev:<NULL>',
      '[    5.000000] kernel BUG at net/core/skbuff.c:192!',
      '[    5.000000] BUG: unable to handle page fault for address: ffffc90000a00000',
      '[    5.000000] Oops: general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP NOPTI',
      '[    5.000000] general protection fault, probably for non-canonical address 0xdead000000000100',
      '[    5.000000] WARNING: CPU: 0 PID: 0 at net/sched/sch_generic.c:525 dev_watchdog+0x1f2/0x200',
      '[    5.000000] ------------[ cut here ]------------',
      '[    5.000000] Call Trace:',
      '[    5.000000] RIP: 0010:e1000_clean_rx_irq+0x9a/0x3c0 [e1000e]',
      '[   30.000000] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [swapper/0:0]',
    ]) expect(isKernelTrouble(l), l).toBe(true);
    for (const l of CHATTER) expect(isKernelTrouble(l), l).toBe(false);
  });

  it('--quiet shows the driver, init and script lines and every line of a kernel report, and hides the chatter around it', () => {
    const shown = consoleFilter(true);
    const input = [
      ...CHATTER,
      '[    2.300000] e1000e 0000:00:03.0 eth0: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx',
      'nicsim-init: eth0 has carrier at 2.31s',
      ...OOPS,
      '[   12.200000] clocksource: Switched to clocksource tsc',
      '[   12.300000] Kernel panic - not syncing: Fatal exception in interrupt',
      '[   12.300010] Kernel Offset: disabled',
      '[   12.300020] ---[ end Kernel panic - not syncing: Fatal exception in interrupt ]---',
      '[   12.400000] ACPI: PM: Preparing to enter system sleep state S5',
      'NICSIM-RUN-EXIT=0',
    ];
    const out = input.filter((l) => shown(l));
    expect(out).toEqual([
      '[    2.300000] e1000e 0000:00:03.0 eth0: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx',
      'nicsim-init: eth0 has carrier at 2.31s',
      ...OOPS,
      '[   12.300000] Kernel panic - not syncing: Fatal exception in interrupt',
      '[   12.300010] Kernel Offset: disabled',
      '[   12.300020] ---[ end Kernel panic - not syncing: Fatal exception in interrupt ]---',
      'NICSIM-RUN-EXIT=0',
    ]);
  });

  it('without --quiet shows every line', () => {
    const shown = consoleFilter(false);
    expect(CHATTER.every((l) => shown(l))).toBe(true);
  });
});

describe('the console tail of a failed boot', () => {
  const filler = (from: number, k: number) => Array.from({ length: k }, (_, i) => `[   ${from + i}.000000] random: crng reseeded ${from + i}`);

  it('is the last lines alone when nothing went wrong in the kernel, or when the trouble is inside them', () => {
    const lines = filler(100, 100);
    expect(failureTail(lines, 40)).toEqual({ firstTrouble: null, tail: lines.slice(-40) });
    const late = [...filler(100, 70), ...OOPS, ...filler(200, 10)];
    expect(failureTail(late, 40).firstTrouble).toBeNull();
    expect(failureTail(filler(1, 5), 40).tail).toHaveLength(5);
  });

  it('brings back the first kernel report when it scrolled out of the tail, up to its end marker', () => {
    const lines = [...filler(100, 50), ...OOPS, ...filler(200, 30), ...OOPS, ...filler(300, 60)];
    const r = failureTail(lines, 40);
    expect(r.tail).toEqual(lines.slice(-40));
    expect(r.firstTrouble).toEqual({ line: 51, lines: OOPS });
  });

  it('caps a report without an end marker, and never repeats lines of the tail', () => {
    const endless = ['[   12.000000] BUG: unable to handle page fault for address: ffffc90000a00000', ...filler(13, 100)];
    expect(failureTail(endless, 40, 30).firstTrouble!.lines).toEqual(endless.slice(0, 30));
    const short = [...filler(100, 5), ...endless.slice(0, 50)];
    const r = failureTail(short, 40, 30);
    // The report runs into the tail window: only its lines before the window come back.
    expect(r.firstTrouble).toEqual({ line: 6, lines: short.slice(5, 15) });
    expect(r.tail).toEqual(short.slice(15));
  });
});
