/**
 * A small writer and reader for the "newc" cpio format (magic 070701), the format Linux
 * unpacks as an initramfs. Archives may be gzip'd and concatenated; the kernel accepts both.
 */
import { gunzipSync, gzipSync } from 'node:zlib';

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

export type CpioEntry =
  | { type: 'file'; path: string; data: Uint8Array; mode?: number }
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'char'; path: string; major: number; minor: number; mode?: number };

export interface ParsedCpioEntry {
  path: string;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  rdevMajor: number;
  rdevMinor: number;
  data: Buffer;
}

const TRAILER = 'TRAILER!!!';

function normPath(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.some((s) => s === '..')) throw new Error(`cpio: '..' not allowed in path ${p}`);
  return parts.join('/');
}

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`cpio: field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/**
 * Builds a newc archive. Entries are written in insertion order; missing parent directories
 * are added (mode 0755) before the first entry that needs them. A path given twice keeps the
 * last definition at its first position.
 */
export class CpioWriter {
  private readonly entries = new Map<string, CpioEntry>();

  add(entry: CpioEntry): this {
    const path = normPath(entry.path);
    if (path === '') return this; // the root itself
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!this.entries.has(dir)) this.entries.set(dir, { type: 'dir', path: dir, mode: 0o755 });
    }
    this.entries.set(path, { ...entry, path } as CpioEntry);
    return this;
  }

  file(path: string, data: Uint8Array | string, mode = 0o644): this {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    return this.add({ type: 'file', path, data: bytes, mode });
  }

  dir(path: string, mode = 0o755): this {
    return this.add({ type: 'dir', path, mode });
  }

  symlink(path: string, target: string): this {
    return this.add({ type: 'symlink', path, target });
  }

  charDevice(path: string, major: number, minor: number, mode = 0o600): this {
    return this.add({ type: 'char', path, major, minor, mode });
  }

  has(path: string): boolean {
    return this.entries.has(normPath(path));
  }

  paths(): string[] {
    return [...this.entries.keys()];
  }

  /** The uncompressed archive. */
  toBuffer(): Buffer {
    const chunks: Buffer[] = [];
    let ino = 1;
    for (const e of this.entries.values()) {
      let mode: number;
      let data: Uint8Array = new Uint8Array(0);
      let rdevMajor = 0;
      let rdevMinor = 0;
      let nlink = 1;
      switch (e.type) {
        case 'file':
          mode = S_IFREG | ((e.mode ?? 0o644) & 0o7777);
          data = e.data;
          break;
        case 'dir':
          mode = S_IFDIR | ((e.mode ?? 0o755) & 0o7777);
          nlink = 2;
          break;
        case 'symlink':
          mode = S_IFLNK | 0o777;
          data = Buffer.from(e.target, 'utf8');
          break;
        case 'char':
          mode = S_IFCHR | ((e.mode ?? 0o600) & 0o7777);
          rdevMajor = e.major;
          rdevMinor = e.minor;
          break;
      }
      chunks.push(...encodeEntry(e.path, ino++, mode, nlink, data, rdevMajor, rdevMinor));
    }
    chunks.push(...encodeEntry(TRAILER, 0, 0, 1, new Uint8Array(0), 0, 0));
    return Buffer.concat(chunks);
  }

  /** The archive, gzip'd (what the kernel and QEMU's -initrd take). */
  toGzip(level = 6): Buffer {
    return gzipSync(this.toBuffer(), { level });
  }
}

function encodeEntry(
  name: string,
  ino: number,
  mode: number,
  nlink: number,
  data: Uint8Array,
  rdevMajor: number,
  rdevMinor: number,
): Buffer[] {
  const nameBytes = Buffer.from(name + '\0', 'utf8');
  const header =
    '070701' +
    hex8(ino) +
    hex8(mode) +
    hex8(0) + // uid
    hex8(0) + // gid
    hex8(nlink) +
    hex8(0) + // mtime: fixed, so archives are reproducible
    hex8(data.length) +
    hex8(0) + // devmajor
    hex8(0) + // devminor
    hex8(rdevMajor) +
    hex8(rdevMinor) +
    hex8(nameBytes.length) +
    hex8(0); // check
  const out: Buffer[] = [Buffer.from(header, 'ascii'), nameBytes, Buffer.alloc(pad4(110 + nameBytes.length))];
  if (data.length > 0) {
    out.push(Buffer.from(data.buffer, data.byteOffset, data.length), Buffer.alloc(pad4(data.length)));
  }
  return out;
}

/**
 * Parses one or more concatenated newc archives, each optionally gzip'd (zero padding between
 * archives is skipped, as the kernel does). Later entries with the same path override earlier ones
 * in the kernel; here all entries are returned in order.
 */
export function parseCpio(input: Uint8Array): ParsedCpioEntry[] {
  const out: ParsedCpioEntry[] = [];
  const buf = Buffer.from(input.buffer, input.byteOffset, input.length);
  let pos = 0;
  while (pos < buf.length) {
    if (buf[pos] === 0) {
      pos++;
      continue;
    }
    if (buf[pos] === 0x1f && buf[pos + 1] === 0x8b) {
      // gzip: node's gunzip decompresses concatenated members in one go, so the rest of
      // the input (more gzip'd archives) is parsed from the decompressed stream.
      const rest = gunzipSync(buf.subarray(pos));
      out.push(...parseCpio(rest));
      return out;
    }
    const magic = buf.toString('ascii', pos, pos + 6);
    if (magic !== '070701' && magic !== '070702') throw new Error(`cpio: bad magic at ${pos}: ${JSON.stringify(magic)}`);
    const f = (i: number): number => parseInt(buf.toString('ascii', pos + 6 + i * 8, pos + 14 + i * 8), 16);
    const mode = f(1);
    const uid = f(2);
    const gid = f(3);
    const nlink = f(4);
    const mtime = f(5);
    const filesize = f(6);
    const rdevMajor = f(9);
    const rdevMinor = f(10);
    const namesize = f(11);
    const nameStart = pos + 110;
    const name = buf.toString('utf8', nameStart, nameStart + namesize - 1);
    let p = nameStart + namesize;
    p += pad4(110 + namesize);
    const data = Buffer.from(buf.subarray(p, p + filesize));
    if (data.length !== filesize) throw new Error(`cpio: truncated data for ${name}`);
    p += filesize + pad4(filesize);
    pos = p;
    if (name === TRAILER) {
      // Possibly another archive follows.
      continue;
    }
    out.push({ path: name, mode, uid, gid, nlink, mtime, rdevMajor, rdevMinor, data });
  }
  return out;
}
