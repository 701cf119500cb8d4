import { describe, expect, it } from 'vitest';
import { gunzipSync } from 'node:zlib';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpioWriter, parseCpio, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../../../qemu/guest/cpio.js';
import { composeInitrd, makeRunCpio, nicArgs, qemuCommand } from '../../../qemu/guest/provision.js';
import { modinfo, moduleName } from '../../../qemu/guest/modules.js';

describe('cpio newc writer', () => {
  it('round-trips files, dirs, symlinks and device nodes with parents added first', () => {
    const w = new CpioWriter();
    w.file('init', '#!/bin/sh\necho hi\n', 0o755);
    w.file('/lib/modules/6.1.0/kernel/e1000e.ko', new Uint8Array([1, 2, 3, 4, 5]));
    w.symlink('bin/sh', '/bin/busybox');
    w.charDevice('dev/console', 5, 1);
    w.dir('empty', 0o700);
    w.file('odd-sized', Buffer.alloc(7, 0xaa));
    const raw = w.toBuffer();
    expect(raw.length % 4).toBe(0);
    const entries = parseCpio(raw);
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect(entries.map((e) => e.path)).toEqual([
      'init',
      'lib',
      'lib/modules',
      'lib/modules/6.1.0',
      'lib/modules/6.1.0/kernel',
      'lib/modules/6.1.0/kernel/e1000e.ko',
      'bin',
      'bin/sh',
      'dev',
      'dev/console',
      'empty',
      'odd-sized',
    ]);
    const init = byPath.get('init')!;
    expect(init.mode).toBe(S_IFREG | 0o755);
    expect(init.data.toString()).toBe('#!/bin/sh\necho hi\n');
    expect([...byPath.get('lib/modules/6.1.0/kernel/e1000e.ko')!.data]).toEqual([1, 2, 3, 4, 5]);
    expect(byPath.get('lib')!.mode & S_IFMT).toBe(S_IFDIR);
    expect(byPath.get('bin/sh')!.mode & S_IFMT).toBe(S_IFLNK);
    expect(byPath.get('bin/sh')!.data.toString()).toBe('/bin/busybox');
    const con = byPath.get('dev/console')!;
    expect(con.mode & S_IFMT).toBe(S_IFCHR);
    expect([con.rdevMajor, con.rdevMinor]).toEqual([5, 1]);
    expect(byPath.get('empty')!.mode).toBe(S_IFDIR | 0o700);
    expect(byPath.get('odd-sized')!.data).toEqual(Buffer.alloc(7, 0xaa));
    for (const e of entries) expect([e.uid, e.gid, e.mtime]).toEqual([0, 0, 0]);
    // the archive ends with the trailer, and gzip round-trips
    expect(raw.includes(Buffer.from('TRAILER!!!\0'))).toBe(true);
    expect(gunzipSync(w.toGzip())).toEqual(raw);
  });

  it('writes the exact newc header layout', () => {
    const raw = new CpioWriter().file('a', 'xy', 0o644).toBuffer();
    const h = raw.toString('ascii', 0, 110);
    expect(h.slice(0, 6)).toBe('070701');
    const field = (i: number): number => parseInt(h.slice(6 + 8 * i, 14 + 8 * i), 16);
    expect(field(1)).toBe(0o100644); // mode
    expect(field(6)).toBe(2); // filesize
    expect(field(11)).toBe(2); // namesize incl. NUL
    // header 110 + name 2 = 112: already aligned; data "xy" + 2 bytes padding
    expect(raw.toString('ascii', 110, 111)).toBe('a');
    expect(raw.toString('ascii', 112, 114)).toBe('xy');
    expect(raw.toString('ascii', 116, 122)).toBe('070701');
  });

  it('rejects .. in paths', () => {
    expect(() => new CpioWriter().file('../etc/passwd', 'x')).toThrow(/\.\./);
  });

  it('makeRunCpio + composeInitrd give an initrd whose second archive carries /run.sh', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nicsim-cpio-'));
    try {
      const base = new CpioWriter().file('init', 'base').file('etc/x', 'old').toGzip();
      writeFileSync(join(dir, 'base.gz'), base);
      const extra = makeRunCpio('echo hello\n', { 'etc/x': Buffer.from('new'), 'usr/bin/tool': new Uint8Array([0x7f]) });
      composeInitrd(join(dir, 'base.gz'), extra, join(dir, 'out', 'initrd'));
      const all = parseCpio(readFileSync(join(dir, 'out', 'initrd')));
      const paths = all.map((e) => e.path);
      expect(paths).toContain('init');
      const run = all.find((e) => e.path === 'run.sh')!;
      expect(run.data.toString()).toBe('echo hello\n');
      expect(run.mode).toBe(S_IFREG | 0o755);
      expect(all.find((e) => e.path === 'usr/bin/tool')!.mode & 0o111).not.toBe(0);
      // later archives override earlier ones in the kernel: last etc/x wins
      expect(all.filter((e) => e.path === 'etc/x').map((e) => e.data.toString())).toEqual(['old', 'new']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('QEMU command line', () => {
  const qemu = { argv0: ['/r/ld.so', '--library-path', '/r/lib', '/r/qemu'], dataDirs: ['/r/share/qemu', '/r/share/seabios'], version: '11.1.3' };
  const guest = { kernel: '/g/vmlinuz', initramfs: '/g/initramfs.cpio.gz', kernelVersion: '6.1', modules: ['e1000e'] };

  it('has the vfio-user device in JSON form and shared memfd RAM', () => {
    const argv = qemuCommand({ qemu, guest, initrd: '/t/initrd', socket: '/t/s.sock', memMiB: 512, consoleLog: '/t/console.log', cmdline: ['nicsim.ip=169.254.10.2/16'] });
    expect(argv.slice(0, 4)).toEqual(qemu.argv0);
    const at = (flag: string): string => argv[argv.indexOf(flag) + 1]!;
    expect(argv.join(' ')).toContain('-L /r/share/qemu -L /r/share/seabios');
    expect(at('-accel')).toBe('tcg');
    expect(at('-m')).toBe('512M');
    expect(at('-object')).toBe('memory-backend-memfd,id=mem,size=512M,share=on');
    expect(at('-machine')).toBe('pc,memory-backend=mem');
    expect(at('-serial')).toBe('file:/t/console.log');
    expect(at('-kernel')).toBe('/g/vmlinuz');
    expect(at('-initrd')).toBe('/t/initrd');
    expect(at('-append')).toBe('console=ttyS0 panic=-1 nicsim.ip=169.254.10.2/16');
    expect(JSON.parse(at('-device'))).toEqual({ driver: 'vfio-user-pci', socket: { type: 'unix', path: '/t/s.sock' } });
    for (const f of ['-no-reboot', '-display', '-vga', '-nic']) expect(argv).toContain(f);
    expect(argv).not.toContain('-bios');
  });

  it('can use qboot from the data folders', () => {
    const argv = qemuCommand({ qemu: { ...qemu, dataDirs: [] }, guest, initrd: '/t/i', nic: { kind: 'none' }, memMiB: 256, consoleLog: '/t/c', cmdline: [], firmware: 'qboot' });
    expect(argv[argv.indexOf('-bios') + 1]).toBe('qboot.rom');
    expect(argv).not.toContain('-device');
  });

  it('attaches QEMU e1000e / virtio-net to the given netdev', () => {
    expect(nicArgs({ kind: 'qemu-e1000e', netdev: ['-netdev', 'tap,id=t0,ifname=tap9,script=no,downscript=no'] })).toEqual([
      '-netdev',
      'tap,id=t0,ifname=tap9,script=no,downscript=no',
      '-device',
      'e1000e,netdev=t0',
    ]);
    expect(nicArgs({ kind: 'virtio-net', netdev: ['-netdev', 'user,id=n0,restrict=on'], mac: '52:54:00:00:00:01' }).slice(2)).toEqual([
      '-device',
      'virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01',
    ]);
    expect(JSON.parse(nicArgs({ kind: 'vfio-user', socket: '/s', props: { 'x-msg-timeout': 20000 } })[1]!)).toEqual({
      driver: 'vfio-user-pci',
      socket: { type: 'unix', path: '/s' },
      'x-msg-timeout': 20000,
    });
  });
});

describe('module helpers', () => {
  it('names modules like the kernel', () => {
    expect(moduleName('kernel/drivers/pps/pps_core.ko.xz')).toBe('pps_core');
    expect(moduleName('a/b/nf-nat.ko')).toBe('nf_nat');
  });

  it('reads depends= from a minimal ELF64 .modinfo section', () => {
    // ELF header (64 bytes) + .modinfo data + .shstrtab data + 3 section headers
    const modinfoData = Buffer.from('license=GPL\0depends=ptp,pps_core\0name=e1000e\0');
    const shstr = Buffer.from('\0.modinfo\0.shstrtab\0');
    const dataOff = 64;
    const strOff = dataOff + modinfoData.length;
    const shoff = Math.ceil((strOff + shstr.length) / 8) * 8;
    const elf = Buffer.alloc(shoff + 3 * 64);
    elf.writeUInt32BE(0x7f454c46, 0);
    elf[4] = 2;
    elf[5] = 1;
    elf.writeBigUInt64LE(BigInt(shoff), 0x28);
    elf.writeUInt16LE(64, 0x3a);
    elf.writeUInt16LE(3, 0x3c);
    elf.writeUInt16LE(2, 0x3e);
    modinfoData.copy(elf, dataOff);
    shstr.copy(elf, strOff);
    const sh = (i: number, name: number, off: number, size: number): void => {
      const o = shoff + i * 64;
      elf.writeUInt32LE(name, o);
      elf.writeBigUInt64LE(BigInt(off), o + 24);
      elf.writeBigUInt64LE(BigInt(size), o + 32);
    };
    sh(1, 1, dataOff, modinfoData.length);
    sh(2, 10, strOff, shstr.length);
    const info = modinfo(elf);
    expect(info.get('depends')).toEqual(['ptp,pps_core']);
    expect(info.get('name')).toEqual(['e1000e']);
  });
});
