// FakeSys: the in-memory NativeSys the vfio-user server is tested against.
import { describe, expect, it } from 'vitest';
import { FakeSys } from '../../../qemu/native/fake.js';
import { EFD_SEMAPHORE, Errno, POLL_DISCONNECT, POLL_READABLE, POLL_WRITABLE } from '../../../qemu/native/index.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe('FakeSys sockets', () => {
  it('lets a test connect as the client and talk to an accepted connection', () => {
    const sys = new FakeSys({ autoFlush: false });
    const l = sys.listenUnix('/run/nicsim.sock');
    expect(sys.accept(l)).toBe(-Errno.EAGAIN);
    const c = sys.connectUnix('/run/nicsim.sock');
    const s = sys.accept(l);
    expect(s).toBeGreaterThan(0);
    expect(sys.sendmsg(c, enc('hello'))).toBe(5);
    const buf = new Uint8Array(16);
    expect(sys.recvmsg(s, buf, 4)).toEqual({ bytes: 5, fds: [], ctrunc: false });
    expect(dec(buf.subarray(0, 5))).toBe('hello');
    sys.sendmsg(s, enc('reply'));
    expect(dec(sys.drain(c).bytes)).toBe('reply');
  });

  it('keeps a closed listener\'s path bound until unlink, like a socket file', () => {
    const sys = new FakeSys({ autoFlush: false });
    const l = sys.listenUnix('/s');
    expect(sys.listenUnix('/s')).toBe(-Errno.EADDRINUSE);
    sys.close(l);
    expect(sys.connectUnix('/s')).toBe(-Errno.ECONNREFUSED);
    expect(sys.listenUnix('/s')).toBe(-Errno.EADDRINUSE);
    expect(sys.unlink('/s')).toBe(0);
    expect(sys.connectUnix('/s')).toBe(-Errno.ENOENT);
    expect(sys.listenUnix('/s')).toBeGreaterThan(0);
    expect(sys.unlink('/nope')).toBe(-Errno.ENOENT);
  });

  it('glues sends, and hands fds over with the chunk that carries them, as Linux does', () => {
    const sys = new FakeSys({ autoFlush: false });
    const [a, b] = sys.socketpair() as [number, number];
    const mem = sys.memfdCreate('ram', 8192);
    sys.sendmsg(a, enc('ab'));
    sys.sendmsg(a, enc('cd'), [mem]);
    sys.sendmsg(a, enc('ef'));
    const buf = new Uint8Array(16);
    const r1 = sys.recvmsg(b, buf, 4);
    expect(dec(buf.subarray(0, r1.bytes))).toBe('abcd');
    expect(r1.fds).toHaveLength(1);
    expect(r1.fds[0]).not.toBe(mem);
    const r2 = sys.recvmsg(b, buf, 4);
    expect(dec(buf.subarray(0, r2.bytes))).toBe('ef');
    expect(r2.fds).toEqual([]);
    // The received fd names the same file.
    sys.fileBytes(mem)[5] = 9;
    expect(sys.fileBytes(r1.fds[0]!)[5]).toBe(9);
  });

  it('closes surplus fds beyond maxFds and reports ctrunc', () => {
    const sys = new FakeSys({ autoFlush: false });
    const [a, b] = sys.socketpair() as [number, number];
    const e = [sys.eventfd(), sys.eventfd(), sys.eventfd()];
    sys.sendmsg(a, enc('x'), e);
    const before = sys.openFds().length;
    const r = sys.recvmsg(b, new Uint8Array(4), 1);
    expect(r.fds).toHaveLength(1);
    expect(r.ctrunc).toBe(true);
    expect(sys.openFds().length).toBe(before + 1);
  });

  it('gives EOF and -EPIPE once the peer is closed, and -EBADF for closed fds', () => {
    const sys = new FakeSys({ autoFlush: false });
    const [a, b] = sys.socketpair() as [number, number];
    sys.sendmsg(b, enc('last'));
    sys.close(b);
    const buf = new Uint8Array(8);
    expect(sys.recvmsg(a, buf, 0).bytes).toBe(4);
    expect(sys.recvmsg(a, buf, 0).bytes).toBe(0);
    expect(sys.sendmsg(a, buf)).toBe(-Errno.EPIPE);
    expect(sys.close(b)).toBe(-Errno.EBADF);
    expect(sys.read(b, buf)).toBe(-Errno.EBADF);
  });

  it('sends short and then -EAGAIN against a full receive queue', () => {
    const sys = new FakeSys({ autoFlush: false, socketBuffer: 10 });
    const [a, b] = sys.socketpair() as [number, number];
    expect(sys.sendmsg(a, new Uint8Array(8))).toBe(8);
    expect(sys.sendmsg(a, new Uint8Array(8))).toBe(2);
    expect(sys.sendmsg(a, new Uint8Array(8))).toBe(-Errno.EAGAIN);
    let writable = 0;
    const h = sys.poll(a, 'w', (_s, ev) => {
      writable |= ev;
      h.stop();
    });
    expect(sys.flush()).toBe(0);
    sys.recvmsg(b, new Uint8Array(4), 0);
    expect(sys.flush()).toBe(1);
    expect(writable).toBe(POLL_WRITABLE);
    h.close();
  });

  it('injects a failure into the next call of an operation', () => {
    const sys = new FakeSys({ autoFlush: false });
    const [a] = sys.socketpair() as [number, number];
    sys.failNext('sendmsg', Errno.ECONNRESET);
    expect(sys.sendmsg(a, enc('x'))).toBe(-Errno.ECONNRESET);
    expect(sys.sendmsg(a, enc('x'))).toBe(1);
  });
});

describe('FakeSys memory and eventfds', () => {
  it('maps views onto the file bytes, and munmap answers true once', () => {
    const sys = new FakeSys();
    const mem = sys.memfdCreate('ram', 3 * 4096);
    const v = sys.mmap(mem, 4096, 8192, 'rw');
    if (typeof v === 'number') throw new Error('mmap failed');
    v[1] = 0x77;
    expect(sys.fileBytes(mem)[4097]).toBe(0x77);
    sys.fileBytes(mem)[4096 + 8191] = 5;
    expect(v[8191]).toBe(5);
    expect(sys.liveMappings()).toBe(1);
    expect(sys.munmap(v)).toBe(true);
    expect(sys.munmap(v)).toBe(false);
    expect(sys.liveMappings()).toBe(0);
    expect(() => sys.munmap(new Uint8Array(4))).toThrow(/not a live mapping/);
  });

  it('validates mmap arguments like the addon', () => {
    const sys = new FakeSys();
    const mem = sys.memfdCreate('ram', 8192);
    const e = sys.eventfd();
    expect(sys.mmap(mem, 1, 16, 'rw')).toBe(-Errno.EINVAL);
    expect(sys.mmap(mem, 0, 0, 'rw')).toBe(-Errno.EINVAL);
    expect(sys.mmap(mem, 4096, 8192, 'rw')).toBe(-Errno.ENXIO);
    expect(sys.mmap(12345, 0, 16, 'rw')).toBe(-Errno.EBADF);
    expect(sys.mmap(e, 0, 16, 'rw')).toBe(-Errno.ENODEV);
    expect(() => sys.mmap(mem, 0, 16, 'x' as never)).toThrow(TypeError);
  });

  it('records eventfd writes across the fds that share the object', () => {
    const sys = new FakeSys({ autoFlush: false });
    const [a, b] = sys.socketpair() as [number, number];
    const qemuSide = sys.eventfd();
    sys.sendmsg(a, enc('irq'), [qemuSide]);
    const serverSide = sys.recvmsg(b, new Uint8Array(8), 4).fds[0]!;
    expect(sys.eventfdWrite(serverSide, 1)).toBe(0);
    expect(sys.eventfdWrite(serverSide, 1)).toBe(0);
    expect(sys.eventfdWrites(qemuSide)).toEqual([1, 1]);
    expect(sys.eventfdCounter(qemuSide)).toBe(2);
    expect(sys.eventfdRead(qemuSide)).toBe(2);
    expect(sys.eventfdRead(qemuSide)).toBe(-Errno.EAGAIN);
    const sem = sys.eventfd(2, EFD_SEMAPHORE);
    expect(sys.eventfdRead(sem)).toBe(1);
    expect(sys.eventfdRead(sem)).toBe(1);
    expect(sys.eventfdRead(sem)).toBe(-Errno.EAGAIN);
  });
});

describe('FakeSys readiness', () => {
  it('drives poll callbacks on its own after a change (autoFlush)', async () => {
    const sys = new FakeSys();
    const l = sys.listenUnix('/p');
    const seen: number[] = [];
    const h = sys.poll(l, 'r', (status, ev) => {
      expect(status).toBe(0);
      seen.push(ev);
      while (sys.accept(l) >= 0);
    });
    sys.connectUnix('/p');
    await sys.settle();
    expect(seen).toEqual([POLL_READABLE]);
    h.close();
  });

  it('reports a hang-up to an r watch', () => {
    const sys = new FakeSys({ autoFlush: false });
    const [a, b] = sys.socketpair() as [number, number];
    let got = 0;
    const h = sys.poll(a, 'r', (_s, ev) => {
      got = ev;
      h.stop();
    });
    sys.close(b);
    sys.flush();
    expect(got).toBe(POLL_READABLE | POLL_DISCONNECT);
    h.close();
  });

  it('calls a busy loop out when a handler never drains its fd', () => {
    const sys = new FakeSys({ autoFlush: false, maxRounds: 50 });
    const e = sys.eventfd(1);
    sys.poll(e, 'r', () => {});
    expect(() => sys.flush()).toThrow(/busy loop/);
  });

  it('enforces one handle per fd and closing handles before fds', () => {
    const sys = new FakeSys({ autoFlush: false });
    const e = sys.eventfd();
    const h = sys.poll(e, 'r', () => {});
    expect(() => sys.poll(e, 'r', () => {})).toThrow(/already has a poll handle/);
    expect(() => sys.close(e)).toThrow(/still has a poll handle/);
    h.close();
    expect(sys.close(e)).toBe(0);
    expect(sys.openPolls()).toBe(0);
    expect(() => sys.poll(e, 'r', () => {})).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('plays the host side of a TAP', () => {
    const sys = new FakeSys({ autoFlush: false });
    const t = sys.tapOpen('');
    if (typeof t === 'number') throw new Error('tapOpen failed');
    expect(t.name).toBe('tap0');
    expect(sys.tapOpen('tap0')).toBe(-Errno.EBUSY);
    sys.tapInject('tap0', new Uint8Array(60).fill(1));
    const buf = new Uint8Array(2048);
    expect(sys.read(t.fd, buf)).toBe(60);
    expect(sys.read(t.fd, buf)).toBe(-Errno.EAGAIN);
    expect(sys.write(t.fd, new Uint8Array(42))).toBe(42);
    sys.tapSetBlocked('tap0', true);
    expect(sys.write(t.fd, new Uint8Array(42))).toBe(-Errno.EAGAIN);
    expect(sys.tapTake('tap0')).toHaveLength(1);
  });
});
