import { describe, it, expect } from 'vitest';
import { makeVfu } from '../../support/vfu.js';
import * as C from '../../../qemu/client-codec.js';
import * as P from '../../../qemu/protocol.js';

const EVT_TRIGGER = P.IRQ_SET_DATA_EVENTFD | P.IRQ_SET_ACTION_TRIGGER;
const NONE_TRIGGER = P.IRQ_SET_DATA_NONE | P.IRQ_SET_ACTION_TRIGGER;

describe('DEVICE_SET_IRQS', () => {
  it('wires MSI-X eventfds, grows 1 -> 3 vectors by disable/re-enable as QEMU does, and delivers per vector', () => {
    const v = makeVfu();
    const a = v.io.eventfd();
    v.ok(C.setIrqsReq(EVT_TRIGGER, P.IRQ_MSIX, 0, 1), [a]);
    v.ok(C.setIrqsReq(NONE_TRIGGER, P.IRQ_MSIX, 0, 0));
    expect(v.io.open.has(a)).toBe(false);
    const fds = [v.io.eventfd(), v.io.eventfd(), v.io.eventfd()];
    v.ok(C.setIrqsReq(EVT_TRIGGER, P.IRQ_MSIX, 0, 3), fds);
    v.dev.signalMsix(2);
    v.dev.signalMsix(2);
    v.dev.signalMsix(0);
    expect(fds.map((fd) => v.io.signals.get(fd))).toEqual([1, 0, 2]);
    // A vector with no eventfd is dropped and traced.
    v.dev.signalMsix(4);
    expect(v.trace.find('vfu_irq_dropped').length).toBe(1);
  });

  it('accepts eventfd data with no fds as "eventfd -1" for each vector (how QEMU enables MSI-X with no vector in use)', () => {
    const v = makeVfu();
    const fd = v.io.eventfd();
    v.ok(C.setIrqsReq(EVT_TRIGGER, P.IRQ_MSIX, 0, 1), [fd]);
    v.ok(C.setIrqsReq(EVT_TRIGGER, P.IRQ_MSIX, 0, 1));
    expect(v.io.open.has(fd)).toBe(false);
    v.dev.signalMsix(0);
    expect(v.dev.irqs.dropped[P.IRQ_MSIX]).toBe(1);
  });

  it('masks and unmasks MSI-X vectors, delivering what was pending', () => {
    const v = makeVfu();
    const fd = v.io.eventfd();
    v.ok(C.setIrqsReq(EVT_TRIGGER, P.IRQ_MSIX, 1, 1), [fd]);
    v.ok(C.setIrqsReq(P.IRQ_SET_DATA_NONE | P.IRQ_SET_ACTION_MASK, P.IRQ_MSIX, 1, 1));
    v.dev.signalMsix(1);
    expect(v.io.signals.get(fd)).toBe(0);
    v.ok(C.setIrqsReq(P.IRQ_SET_DATA_BOOL | P.IRQ_SET_ACTION_UNMASK, P.IRQ_MSIX, 1, 1, new Uint8Array([1])));
    expect(v.io.signals.get(fd)).toBe(1);
  });

  it('treats INTx as automasked and level-triggered: one signal per edge, again on UNMASK while asserted', () => {
    const v = makeVfu();
    const fd = v.io.eventfd();
    v.ok(C.setIrqsReq(EVT_TRIGGER, P.IRQ_INTX, 0, 1), [fd]);
    v.dev.setIntx(true);
    v.dev.setIntx(true);
    expect(v.io.signals.get(fd)).toBe(1);
    v.ok(C.setIrqsReq(P.IRQ_SET_DATA_NONE | P.IRQ_SET_ACTION_UNMASK, P.IRQ_INTX, 0, 1));
    expect(v.io.signals.get(fd)).toBe(2);
    v.dev.setIntx(false);
    v.ok(C.setIrqsReq(P.IRQ_SET_DATA_NONE | P.IRQ_SET_ACTION_UNMASK, P.IRQ_INTX, 0, 1));
    expect(v.io.signals.get(fd)).toBe(2);
  });

  it('triggers by DATA_NONE and DATA_BOOL (a loopback test of the wiring)', () => {
    const v = makeVfu();
    const fd = v.io.eventfd();
    v.ok(C.setIrqsReq(EVT_TRIGGER, P.IRQ_ERR, 0, 1), [fd]);
    v.ok(C.setIrqsReq(NONE_TRIGGER, P.IRQ_ERR, 0, 1));
    v.ok(C.setIrqsReq(P.IRQ_SET_DATA_BOOL | P.IRQ_SET_ACTION_TRIGGER, P.IRQ_ERR, 0, 1, new Uint8Array([0])));
    expect(v.io.signals.get(fd)).toBe(1);
  });

  it('refuses ranges beyond the vector count, bad flag combinations, fd-count mismatches and unknown indexes, closing the fds', () => {
    const v = makeVfu();
    const bad = (msg: Uint8Array, nfds: number, errno = P.EINVAL) => {
      const fds = Array.from({ length: nfds }, () => v.io.eventfd());
      v.expectErrno(msg, errno, fds);
      for (const fd of fds) expect(v.io.open.has(fd)).toBe(false);
    };
    bad(C.setIrqsReq(EVT_TRIGGER, P.IRQ_MSIX, 0, 6), 6);
    bad(C.setIrqsReq(EVT_TRIGGER, P.IRQ_MSIX, 4, 2), 2);
    bad(C.setIrqsReq(EVT_TRIGGER, P.IRQ_MSIX, 0xffffffff, 2), 2);
    bad(C.setIrqsReq(EVT_TRIGGER, P.IRQ_MSI, 0, 2), 2);
    bad(C.setIrqsReq(EVT_TRIGGER, P.IRQ_MSIX, 0, 2), 1);
    bad(C.setIrqsReq(NONE_TRIGGER, P.IRQ_MSIX, 0, 1), 1);
    bad(C.setIrqsReq(P.IRQ_SET_DATA_NONE | P.IRQ_SET_DATA_BOOL | P.IRQ_SET_ACTION_TRIGGER, P.IRQ_MSIX, 0, 1), 0);
    bad(C.setIrqsReq(P.IRQ_SET_DATA_NONE | P.IRQ_SET_ACTION_MASK | P.IRQ_SET_ACTION_UNMASK, P.IRQ_MSIX, 0, 1), 0);
    bad(C.setIrqsReq(P.IRQ_SET_DATA_NONE, P.IRQ_MSIX, 0, 1), 0);
    bad(C.setIrqsReq(NONE_TRIGGER | 0x100, P.IRQ_MSIX, 0, 1), 0);
    bad(C.setIrqsReq(EVT_TRIGGER, 5, 0, 1), 1);
    bad(C.setIrqsReq(P.IRQ_SET_DATA_BOOL | P.IRQ_SET_ACTION_TRIGGER, P.IRQ_MSIX, 0, 2, new Uint8Array([1])), 0);
    bad(C.setIrqsReq(P.IRQ_SET_DATA_EVENTFD | P.IRQ_SET_ACTION_UNMASK, P.IRQ_INTX, 0, 1), 1, P.ENOTSUP);
    bad(C.rawReq(P.Cmd.DEVICE_SET_IRQS, new Uint8Array(12)), 0);
  });
});
