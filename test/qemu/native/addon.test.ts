// The real syscall addon: UNIX sockets with SCM_RIGHTS, shared mmap, eventfd and uv_poll readiness.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  Errno,
  POLL_DISCONNECT,
  POLL_READABLE,
  POLL_WRITABLE,
  errnoName,
  loadNative,
  nativeAddonPath,
} from '../../../qemu/native/index.js';
import type { NativeSys, PollHandle } from '../../../qemu/native/index.js';

function native(): NativeSys {
  const sys = loadNative();
  if (!sys) throw new Error('nicsim native addon is not built: run `npm ci` (it builds qemu/native at install)');
  return sys;
}

const sys = native();
const dir = mkdtempSync(join(tmpdir(), 'nicsim-native-'));
const opened: number[] = [];
const handles: PollHandle[] = [];

/** Tracks an fd (or fails on an errno) so afterEach can close it. */
function fd(n: number): number {
  if (n < 0) throw new Error(`syscall failed: ${errnoName(n)}`);
  opened.push(n);
  return n;
}

function watch(h: PollHandle): PollHandle {
  handles.push(h);
  return h;
}

/** Resolves when the poll callback has fired for `fd` with one of `mask`'s bits. */
function nextReady(f: number, events: 'r' | 'w' | 'rw', mask: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      h.close();
      reject(new Error(`fd ${f} never became ready`));
    }, 5000);
    const h = watch(
      sys.poll(f, events, (status, ev) => {
        if (status < 0) return reject(new Error(errnoName(status)));
        if ((ev & mask) === 0) return;
        clearTimeout(t);
        h.close();
        resolve(ev);
      }),
    );
  });
}

afterEach(() => {
  for (const h of handles.splice(0)) h.close();
  for (const f of opened.splice(0)) sys.close(f);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('native addon: UNIX sockets', () => {
  it('is found where the install step builds it', () => {
    expect(nativeAddonPath()).toMatch(/qemu\/native\/build\/Release\/nicsim_native\.node$/);
  });

  it('listens, reports the pending connection through poll, and accepts it', async () => {
    const path = join(dir, 'a.sock');
    const l = fd(sys.listenUnix(path, 4));
    expect(sys.accept(l)).toBe(-Errno.EAGAIN);
    const ready = nextReady(l, 'r', POLL_READABLE);
    const c = fd(sys.connectUnix(path));
    expect(await ready).toBe(POLL_READABLE);
    const s = fd(sys.accept(l));
    expect(sys.sendmsg(c, new Uint8Array([1, 2, 3]))).toBe(3);
    const buf = new Uint8Array(16);
    const r = sys.recvmsg(s, buf, 4);
    expect(r).toEqual({ bytes: 3, fds: [], ctrunc: false });
    expect([...buf.subarray(0, 3)]).toEqual([1, 2, 3]);
    expect(sys.unlink(path)).toBe(0);
    expect(sys.connectUnix(path)).toBe(-Errno.ENOENT);
  });

  it('refuses a second listener on a bound path and names that are too long', () => {
    const path = join(dir, 'b.sock');
    fd(sys.listenUnix(path));
    expect(sys.listenUnix(path)).toBe(-Errno.EADDRINUSE);
    expect(sys.listenUnix(join(dir, 'x'.repeat(200)))).toBe(-Errno.ENAMETOOLONG);
    expect(sys.connectUnix(join(dir, 'missing.sock'))).toBe(-Errno.ENOENT);
  });

  it('returns -EAGAIN with nothing queued, 0 at EOF, and -EPIPE (not SIGPIPE) to a closed peer', () => {
    const p = sys.socketpair();
    if (typeof p === 'number') throw new Error(errnoName(p));
    const [a, b] = p;
    fd(a);
    const buf = new Uint8Array(8);
    expect(sys.recvmsg(a, buf, 0).bytes).toBe(-Errno.EAGAIN);
    expect(sys.read(a, buf)).toBe(-Errno.EAGAIN);
    sys.close(b);
    expect(sys.recvmsg(a, buf, 0).bytes).toBe(0);
    expect(sys.sendmsg(a, buf)).toBe(-Errno.EPIPE);
    expect(sys.write(a, buf)).toBe(-Errno.EPIPE);
  });

  it('writev2 writes its two buffers as one, in order, and fails like write', () => {
    const p = sys.socketpair() as [number, number];
    const [a, b] = p;
    fd(a);
    const head = Uint8Array.from([1, 2, 3]);
    const body = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    expect(sys.writev2(b, head, body)).toBe(303);
    expect(sys.writev2(b, new Uint8Array(0), Uint8Array.from([9]))).toBe(1);
    const got = new Uint8Array(400);
    const n = sys.read(a, got);
    expect(n).toBe(304); // a stream socket: both writes arrive together
    expect([...got.subarray(0, 3)]).toEqual([1, 2, 3]);
    expect(got.subarray(3, 303)).toEqual(body);
    expect(got[303]).toBe(9);
    sys.close(b);
    expect(sys.writev2(a, head, body)).toBe(-Errno.EPIPE);
    expect(() => sys.writev2(-1, head, body)).toThrow(TypeError);
  });

  it('passes a memfd across; both mappings see each other\'s writes', () => {
    const p = sys.socketpair() as [number, number];
    const [a, b] = [fd(p[0]), fd(p[1])];
    const mem = fd(sys.memfdCreate('guest-ram', 4 * sys.pageSize));
    expect(sys.fstatSize(mem)).toBe(4 * sys.pageSize);
    expect(sys.sendmsg(a, new TextEncoder().encode('dma'), [mem])).toBe(3);
    const buf = new Uint8Array(64);
    const r = sys.recvmsg(b, buf, 8);
    expect(r.bytes).toBe(3);
    expect(r.fds).toHaveLength(1);
    const theirs = fd(r.fds[0]!);
    expect(theirs).not.toBe(mem);

    const mine = sys.mmap(mem, 0, 4 * sys.pageSize, 'rw');
    const remote = sys.mmap(theirs, sys.pageSize, 2 * sys.pageSize, 'rw');
    if (typeof mine === 'number' || typeof remote === 'number') throw new Error('mmap failed');
    expect(remote.byteLength).toBe(2 * sys.pageSize);
    mine[sys.pageSize + 10] = 0xab;
    expect(remote[10]).toBe(0xab);
    remote[sys.pageSize] = 0x5a;
    expect(mine[2 * sys.pageSize]).toBe(0x5a);
    expect(sys.munmap(mine)).toBe(true);
    expect(sys.munmap(remote)).toBe(true);
  });

  it('delivers at most maxFds descriptors and flags the truncation', () => {
    const p = sys.socketpair() as [number, number];
    const [a, b] = [fd(p[0]), fd(p[1])];
    const e1 = fd(sys.eventfd());
    const e2 = fd(sys.eventfd());
    const e3 = fd(sys.eventfd());
    expect(sys.sendmsg(a, new Uint8Array([7]), [e1, e2, e3])).toBe(1);
    const r = sys.recvmsg(b, new Uint8Array(4), 1);
    expect(r.bytes).toBe(1);
    expect(r.fds).toHaveLength(1);
    expect(r.ctrunc).toBe(true);
    fd(r.fds[0]!);
  });

  it('reports readable, writable and hang-up through the event loop', async () => {
    const p = sys.socketpair() as [number, number];
    const [a, b] = [fd(p[0]), fd(p[1])];
    expect(await nextReady(a, 'w', POLL_WRITABLE)).toBe(POLL_WRITABLE);
    const readable = nextReady(b, 'r', POLL_READABLE);
    sys.sendmsg(a, new Uint8Array([1]));
    expect((await readable) & POLL_READABLE).toBe(POLL_READABLE);
    sys.recvmsg(b, new Uint8Array(4), 0);
    const hup = nextReady(b, 'r', POLL_DISCONNECT);
    sys.close(a);
    opened.splice(opened.indexOf(a), 1);
    expect((await hup) & POLL_DISCONNECT).toBe(POLL_DISCONNECT);
  });
});

describe('native addon: mmap and munmap', () => {
  it('munmap detaches the buffer so no view can reach the freed pages', () => {
    const mem = fd(sys.memfdCreate('m', sys.pageSize));
    const before = sys.liveMappings();
    const v = sys.mmap(mem, 0, sys.pageSize, 'rw');
    if (typeof v === 'number') throw new Error(errnoName(v));
    const alias = new Uint32Array(v.buffer);
    v[0] = 1;
    expect(sys.liveMappings()).toBe(before + 1);
    expect(sys.munmap(v)).toBe(true);
    expect(v.byteLength).toBe(0);
    expect(v.buffer.byteLength).toBe(0);
    expect(alias.length).toBe(0);
    expect(v[0]).toBeUndefined();
    expect(sys.liveMappings()).toBe(before);
    expect(sys.munmap(v)).toBe(false);
  });

  it('a read-only mapping sees the file', () => {
    const mem = fd(sys.memfdCreate('ro', sys.pageSize));
    const rw = sys.mmap(mem, 0, sys.pageSize, 'rw') as Uint8Array;
    const ro = sys.mmap(mem, 0, 100, 'r') as Uint8Array;
    rw[99] = 42;
    expect(ro[99]).toBe(42);
    expect(ro.byteLength).toBe(100);
    sys.munmap(rw);
    sys.munmap(ro);
  });

  it('rejects bad offsets and lengths with an errno instead of crashing', () => {
    const mem = fd(sys.memfdCreate('bad', 2 * sys.pageSize));
    const p = sys.socketpair() as [number, number];
    fd(p[0]);
    fd(p[1]);
    expect(sys.mmap(mem, 1, 16, 'rw')).toBe(-Errno.EINVAL);
    expect(sys.mmap(mem, 0, 0, 'rw')).toBe(-Errno.EINVAL);
    expect(sys.mmap(mem, -4096, 16, 'rw')).toBe(-Errno.EINVAL);
    expect(sys.mmap(mem, 0, 1.5, 'rw')).toBe(-Errno.EINVAL);
    expect(sys.mmap(mem, Number.NaN, 16, 'rw')).toBe(-Errno.EINVAL);
    expect(sys.mmap(mem, 0, Infinity, 'rw')).toBe(-Errno.EINVAL);
    expect(sys.mmap(mem, 2 ** 53 - 4096, 8192, 'rw')).toBe(-Errno.EOVERFLOW);
    // Past the end of the file: would SIGBUS on access, so refused up front.
    expect(sys.mmap(mem, sys.pageSize, 2 * sys.pageSize, 'rw')).toBe(-Errno.ENXIO);
    expect(sys.mmap(mem, 4 * sys.pageSize, 1, 'rw')).toBe(-Errno.ENXIO);
    expect(sys.mmap(9999, 0, 16, 'rw')).toBe(-Errno.EBADF);
    expect(sys.mmap(p[0], 0, 16, 'rw')).toBe(-Errno.ENODEV);
    expect(sys.liveMappings()).toBe(0);
  });

  it('throws for programming errors: wrong types, or a buffer mmap did not make', () => {
    const mem = fd(sys.memfdCreate('t', sys.pageSize));
    expect(() => sys.mmap(mem, '0' as never, 16, 'rw')).toThrow(TypeError);
    expect(() => sys.mmap(mem, 0, 16, 'x' as never)).toThrow(TypeError);
    expect(() => sys.munmap(new Uint8Array(16))).toThrow(/not a live mapping/);
    expect(() => sys.munmap({} as never)).toThrow(TypeError);
  });
});

describe('native addon: eventfd, poll and the rest', () => {
  it('eventfd counts writes, reads reset it, and poll fires when it is signalled', async () => {
    const e = fd(sys.eventfd());
    expect(sys.eventfdRead(e)).toBe(-Errno.EAGAIN);
    const ready = nextReady(e, 'r', POLL_READABLE);
    setTimeout(() => {
      sys.eventfdWrite(e, 2);
      sys.eventfdWrite(e);
    }, 5);
    expect(await ready).toBe(POLL_READABLE);
    expect(sys.eventfdRead(e)).toBe(3);
    expect(sys.eventfdRead(e)).toBe(-Errno.EAGAIN);
  });

  it('timerfd: a one-shot expiry wakes poll once, a periodic one keeps counting, 0 disarms', async () => {
    const t = fd(sys.timerfdCreate());
    expect(sys.timerfdRead(t)).toBe(-Errno.EAGAIN);
    const ready = nextReady(t, 'r', POLL_READABLE);
    const t0 = performance.now();
    expect(sys.timerfdSet(t, 3_000_000)).toBe(0);
    expect(await ready).toBe(POLL_READABLE);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(2.5);
    expect(sys.timerfdRead(t)).toBe(1);
    expect(sys.timerfdRead(t)).toBe(-Errno.EAGAIN);
    expect(sys.timerfdSet(t, 1_000_000, 1_000_000)).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    expect(sys.timerfdRead(t)).toBeGreaterThanOrEqual(5);
    expect(sys.timerfdSet(t, 0, 0)).toBe(0);
    sys.timerfdRead(t);
    await new Promise((r) => setTimeout(r, 5));
    expect(sys.timerfdRead(t)).toBe(-Errno.EAGAIN);
    expect(sys.timerfdSet(999_999, 1)).toBe(-Errno.EBADF);
    expect(() => sys.timerfdSet(t, -1)).toThrow(RangeError);
  });

  it('stop() silences a handle and start() resumes it', async () => {
    const e = fd(sys.eventfd(1));
    let calls = 0;
    const h = watch(sys.poll(e, 'r', () => {
      calls++;
      h.stop();
    }));
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toBe(1); // level-triggered, but stopped after the first call
    h.start('r');
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toBe(2);
  });

  it('refuses two handles on one fd and closing an fd under a live handle', () => {
    const e = fd(sys.eventfd());
    const h = watch(sys.poll(e, 'r', () => {}));
    expect(() => sys.poll(e, 'r', () => {})).toThrow(/already has a poll handle/);
    expect(() => sys.close(e)).toThrow(/still has a poll handle/);
    h.close();
    h.close();
    expect(h.closed).toBe(true);
  });

  it('throws with an errno when asked to poll a bad fd', () => {
    expect(() => sys.poll(99999, 'r', () => {})).toThrow(expect.objectContaining({ code: 'EBADF' }));
    const mem = fd(sys.memfdCreate('p', 16));
    expect(() => sys.poll(mem, 'r', () => {})).toThrow(expect.objectContaining({ code: 'EPERM' }));
  });

  it('returns errors for bad arguments without crashing', () => {
    expect(sys.close(99999)).toBe(-Errno.EBADF);
    expect(sys.read(99999, new Uint8Array(4))).toBe(-Errno.EBADF);
    expect(sys.write(99999, new Uint8Array(4))).toBe(-Errno.EBADF);
    expect(sys.accept(99999)).toBe(-Errno.EBADF);
    expect(sys.eventfdWrite(99999, 1)).toBe(-Errno.EBADF);
    expect(sys.recvmsg(99999, new Uint8Array(4), 1).bytes).toBe(-Errno.EBADF);
    expect(sys.sendmsg(99999, new Uint8Array(4), [])).toBe(-Errno.EBADF);
    expect(sys.tapOpen('x'.repeat(16))).toBe(-Errno.EINVAL);
    expect(() => sys.close(-1)).toThrow(TypeError);
    expect(() => sys.read(0, new Uint8Array(0))).toThrow(RangeError);
    expect(() => sys.recvmsg(0, new Uint16Array(4) as never, 1)).toThrow(TypeError);
    expect(() => sys.recvmsg(0, new Uint8Array(4), 254)).toThrow(RangeError);
    expect(() => sys.sendmsg(0, new Uint8Array(1), ['3' as never])).toThrow(TypeError);
    expect(() => sys.eventfdWrite(0, -1)).toThrow(RangeError);
  });

  it('surfaces a throw inside a poll callback as an uncaught exception, and exits with handles open', () => {
    const script = `
      const n = require(${JSON.stringify(nativeAddonPath())});
      const e = n.eventfd(1, n.constants.EFD_NONBLOCK);
      const idle = n.eventfd(0, n.constants.EFD_NONBLOCK);
      n.poll(idle, 1, () => {}).unref();
      process.on('uncaughtException', (err) => { console.log('caught:' + err.message); process.exit(7); });
      n.poll(e, 1, () => { throw new Error('boom'); });
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
    expect(r.stdout).toContain('caught:boom');
    expect(r.status).toBe(7);

    const quiet = `
      const n = require(${JSON.stringify(nativeAddonPath())});
      const e = n.eventfd(0, n.constants.EFD_NONBLOCK);
      n.poll(e, 1, () => {}).unref();
      console.log('done');
    `;
    const q = spawnSync(process.execPath, ['-e', quiet], { encoding: 'utf8', timeout: 10_000 });
    expect(q.stdout).toContain('done');
    expect(q.status).toBe(0);
  });

  it('works from a worker thread and tears down its poll handles with it', () => {
    const script = `
      const { Worker } = require('node:worker_threads');
      const src = "const n = require(" + ${JSON.stringify(JSON.stringify(nativeAddonPath()))} + ");" +
        "const e = n.eventfd(0, n.constants.EFD_NONBLOCK); n.poll(e, 1, () => {});" +
        "require('node:worker_threads').parentPort.postMessage('up');";
      const w = new Worker(src, { eval: true });
      w.on('message', async () => { await w.terminate(); console.log('terminated'); });
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('terminated');
    expect(r.status).toBe(0);
  });
});
