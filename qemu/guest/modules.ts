/**
 * Kernel module handling without depmod: Debian's linux-image packages do not ship modules.dep
 * (postinst generates it), so dependencies are read from each module's `.modinfo` ELF section.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** Module name as the kernel sees it: file name without .ko*, dashes as underscores. */
export function moduleName(file: string): string {
  const base = file.slice(file.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

/** Maps module name to its path relative to the modules folder, for every .ko(.xz|.zst|.gz). */
export function indexModules(modulesDir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ko(\.(xz|zst|gz))?$/.test(e.name)) out.set(moduleName(e.name), relative(modulesDir, p));
    }
  };
  walk(modulesDir);
  return out;
}

/** Names of built-in modules (modules.builtin lists their paths). */
export function builtinModules(modulesDir: string): Set<string> {
  try {
    return new Set(
      readFileSync(join(modulesDir, 'modules.builtin'), 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map(moduleName),
    );
  } catch {
    return new Set();
  }
}

/**
 * The uncompressed bytes of a module. xz and zstd need the host's `xz`/`zstd` (or any
 * tool given in `xzTool`, e.g. a static busybox run as `busybox xz`).
 */
export function readModule(path: string, xzTool: string[] = ['xz']): Buffer {
  const raw = readFileSync(path);
  if (path.endsWith('.ko')) return raw;
  if (path.endsWith('.gz')) return gunzipSync(raw);
  const tool = path.endsWith('.xz') ? xzTool : ['zstd'];
  try {
    return execFileSync(tool[0]!, [...tool.slice(1), '-dc'], { input: raw, maxBuffer: 256 * 1024 * 1024 });
  } catch (e) {
    throw new Error(`cannot decompress ${path} with ${tool.join(' ')}: ${(e as Error).message}`);
  }
}

/** The key=value strings of an ELF64 module's .modinfo section. */
export function modinfo(ko: Buffer): Map<string, string[]> {
  if (ko.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (ko[4] !== 2 || ko[5] !== 1) throw new Error('expected a little-endian ELF64 module');
  const shoff = Number(ko.readBigUInt64LE(0x28));
  const shentsize = ko.readUInt16LE(0x3a);
  const shnum = ko.readUInt16LE(0x3c);
  const shstrndx = ko.readUInt16LE(0x3e);
  const sh = (i: number): { name: number; offset: number; size: number } => {
    const o = shoff + i * shentsize;
    return { name: ko.readUInt32LE(o), offset: Number(ko.readBigUInt64LE(o + 24)), size: Number(ko.readBigUInt64LE(o + 32)) };
  };
  const strtab = sh(shstrndx);
  const out = new Map<string, string[]>();
  for (let i = 0; i < shnum; i++) {
    const s = sh(i);
    const nameEnd = ko.indexOf(0, strtab.offset + s.name);
    const name = ko.toString('latin1', strtab.offset + s.name, nameEnd);
    if (name !== '.modinfo') continue;
    for (const kv of ko.toString('utf8', s.offset, s.offset + s.size).split('\0')) {
      const eq = kv.indexOf('=');
      if (eq <= 0) continue;
      const k = kv.slice(0, eq);
      const list = out.get(k) ?? [];
      list.push(kv.slice(eq + 1));
      out.set(k, list);
    }
  }
  return out;
}

export interface ResolvedModule {
  name: string;
  /** Path relative to the modules folder, as found in the package (possibly compressed). */
  source: string;
  /** Path relative to the modules folder inside the initramfs (always plain .ko). */
  target: string;
  data: Buffer;
  depends: string[];
}

/**
 * Resolves `roots` and their dependencies (depth first). Returns the modules in a valid load
 * order (dependencies first) and, per root, the load order of just that root's closure.
 * Built-in names are dropped; roots that are neither built in nor present are reported.
 */
export function resolveModules(
  modulesDir: string,
  roots: string[],
  xzTool?: string[],
): { modules: ResolvedModule[]; orders: Map<string, string[]>; missing: string[]; builtin: string[] } {
  const index = indexModules(modulesDir);
  const builtins = builtinModules(modulesDir);
  const loaded = new Map<string, ResolvedModule>();
  const order: ResolvedModule[] = [];
  const missing: string[] = [];
  const builtin: string[] = [];
  const orders = new Map<string, string[]>();

  const visit = (name: string, stack: string[], acc: string[]): void => {
    if (builtins.has(name)) return;
    if (acc.includes(name)) return;
    let m = loaded.get(name);
    if (!m) {
      const rel = index.get(name);
      if (!rel) throw new Error(`module ${name} (needed by ${stack.join(' <- ') || 'request'}) not found under ${modulesDir}`);
      const data = readModule(join(modulesDir, rel), xzTool);
      const depends = (modinfo(data).get('depends') ?? [])
        .flatMap((d) => d.split(','))
        .map((d) => d.trim().replace(/-/g, '_'))
        .filter((d) => d.length > 0);
      m = { name, source: rel, target: rel.replace(/\.ko\.(xz|zst|gz)$/, '.ko'), data, depends };
      loaded.set(name, m);
    }
    if (stack.includes(name)) throw new Error(`module dependency cycle: ${[...stack, name].join(' -> ')}`);
    for (const d of m.depends) visit(d, [...stack, name], acc);
    acc.push(name);
    if (!order.includes(m)) order.push(m);
  };

  for (const r of roots) {
    const n = r.replace(/-/g, '_');
    if (builtins.has(n)) {
      builtin.push(n);
      orders.set(n, []);
      continue;
    }
    if (!index.has(n)) {
      missing.push(n);
      continue;
    }
    const acc: string[] = [];
    visit(n, [], acc);
    orders.set(n, acc.map((x) => loaded.get(x)!.target));
  }
  return { modules: order, orders, missing, builtin };
}
