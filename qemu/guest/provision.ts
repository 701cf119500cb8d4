/**
 * Provisioning of a QEMU with the vfio-user client and of a guest (kernel + initramfs), into a
 * cache folder, without root:
 *
 * - A private apt configuration (apt.ts) resolves and downloads packages from Debian trixie,
 *   trixie-backports and bookworm; `dpkg-deb -x` unpacks them into private roots.
 * - QEMU (qemu-system-x86 11.1 from trixie-backports) runs from its root through that root's
 *   own dynamic loader: it needs a newer glibc than the host's.
 * - The guest is a Debian kernel and a busybox initramfs carrying e1000e and its dependencies
 *   plus ip/ethtool/socat/iperf3 with their libraries.
 *
 * Every product is built in a temporary folder that is renamed into place only when complete,
 * with a stamp inside: a present stamp means a finished product, so re-runs are instant.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { PrivateApt } from './apt.js';
import { CpioWriter } from './cpio.js';
import { INIT_SCRIPT } from './init-script.js';
import { resolveModules } from './modules.js';
import { formatBytes, run, runRaw, type Log } from './run.js';

export { CpioWriter, parseCpio } from './cpio.js';

export interface ProvisionOptions {
  /** default: $NICSIM_CACHE or ~/.cache/nicsim */
  cacheDir?: string;
  /** Debian linux-image-* package (bookworm, trixie or trixie-backports); default DEFAULT_KERNEL_PACKAGE, or $NICSIM_KERNEL_PACKAGE */
  kernelPackage?: string;
  /** A system QEMU >= 10.1 with vfio-user-pci to use instead of provisioning one (also $NICSIM_QEMU). */
  qemu?: string;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface QemuInstall {
  /** e.g. [ld.so, '--library-path', libs, qemu-binary] or [system qemu] */
  argv0: string[];
  /** -L folders */
  dataDirs: string[];
  version: string;
}

export interface GuestImage {
  /** vmlinuz path */
  kernel: string;
  /** base initramfs (gzip'd newc cpio) */
  initramfs: string;
  kernelVersion: string;
  /** Module names carried in the initramfs, in load order. */
  modules: string[];
}

/** bookworm's current kernel ABI (bookworm main and bookworm-security carry it). */
export const DEFAULT_KERNEL_PACKAGE = 'linux-image-6.1.0-50-amd64';
/** Where QEMU comes from. */
export const QEMU_PACKAGES = ['qemu-system-x86'];
export const QEMU_TARGET_RELEASE = 'trixie-backports';
/**
 * Userland for the guest (from trixie). Debian's dynamic `busybox`, not `busybox-static`: the
 * static build has FEATURE_SH_STANDALONE, so its sh runs its own applets (ip, ...) before PATH
 * and the real iproute2 `ip` would never run from a script. The loader and libc are in the
 * initramfs anyway for the other tools.
 */
export const GUEST_TOOL_PACKAGES = ['busybox', 'iproute2', 'ethtool', 'socat', 'iperf3'];
/**
 * Drivers whose modules (with dependencies) go into the initramfs; /init loads only nicsim.driver's.
 * `pktgen` (the kernel packet generator, for bench/guest.ts) is loaded by the script that uses it,
 * from /etc/nicsim/modules.pktgen.
 */
export const GUEST_DRIVERS = ['e1000e', 'e1000', 'virtio_net', 'virtio_pci', 'pktgen'];
/** Tools copied into the guest's /usr/bin with their libraries: name -> candidate paths in the tools root. */
const GUEST_TOOLS: Record<string, string[]> = {
  ip: ['usr/bin/ip', 'usr/sbin/ip', 'bin/ip', 'sbin/ip'],
  ethtool: ['usr/sbin/ethtool', 'sbin/ethtool', 'usr/bin/ethtool'],
  socat: ['usr/bin/socat', 'usr/bin/socat1'],
  iperf3: ['usr/bin/iperf3'],
};

const QEMU_RECIPE = 1;
const TOOLS_RECIPE = 2;
/**
 * Libraries glibc loads at run time rather than at link time, which `ld.so --list` cannot name:
 * libgcc_s for pthread_cancel (iperf3 ends a client test with it and aborts without it).
 */
const DLOPENED_LIBS = ['libgcc_s.so.1'];

/** Changes whenever the initramfs recipe (or /init) changes, so cached guests get rebuilt. */
const GUEST_RECIPE = createHash('sha256').update(`guest-recipe-3\n${INIT_SCRIPT}\n${GUEST_DRIVERS.join(',')}\n${DLOPENED_LIBS.join(',')}`).digest('hex').slice(0, 16);

const MIN_QEMU = [10, 1] as const;

export function defaultCacheDir(): string {
  return process.env.NICSIM_CACHE || join(homedir(), '.cache', 'nicsim');
}

export function cacheOf(o: ProvisionOptions | undefined): string {
  return o?.cacheDir ?? defaultCacheDir();
}

export function logOf(o: ProvisionOptions | undefined): Log {
  return o?.log ?? (() => {});
}

const SETUP_HINT = 'run `npx nicsim setup` on a machine that reaches deb.debian.org';

// ---------------------------------------------------------------------------------------------
// Stamps, locking, atomic folders

export function readStamp<T>(dir: string): T | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'stamp.json'), 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock file in the cache folder, so concurrent setups (parallel test files) do not collide. */
export async function withLock<T>(cacheDir: string, name: string, log: Log, fn: () => Promise<T>): Promise<T> {
  mkdirSync(cacheDir, { recursive: true });
  const path = join(cacheDir, `.${name}.lock`);
  let announced = false;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder = NaN;
      try {
        holder = Number(readFileSync(path, 'utf8'));
      } catch {
        /* raced with its removal */
      }
      if (Number.isInteger(holder) && holder > 0 && !pidAlive(holder)) {
        try {
          unlinkSync(path);
        } catch {
          /* someone else took it */
        }
        continue;
      }
      if (!announced) {
        log(`waiting for another nicsim setup (pid ${holder}) holding ${path}`);
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(path);
    } catch {
      /* gone */
    }
  }
}

/** Builds into `<dir>.tmp-<pid>` and renames it over `dir` when `build` succeeds. */
export async function buildAtomically(dir: string, build: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    await build(tmp);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

export function duBytes(p: string): number {
  let total = 0;
  const walk = (q: string): void => {
    const st = lstatSync(q);
    if (st.isDirectory()) for (const e of readdirSync(q)) walk(join(q, e));
    else total += st.size;
  };
  try {
    walk(p);
  } catch {
    /* absent */
  }
  return total;
}

/** Unpacks .debs into `root` and makes absolute symlinks relative so they stay inside it. */
export async function unpackDebs(debs: string[], root: string, log: Log): Promise<void> {
  mkdirSync(root, { recursive: true });
  for (const d of debs) await run('dpkg-deb', ['-x', d, root]);
  let fixed = 0;
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isSymbolicLink()) {
        const t = readlinkSync(p);
        if (t.startsWith('/')) {
          const rel = posix.relative(posix.dirname('/' + relative(root, p)), t) || '.';
          unlinkSync(p);
          symlinkSync(rel, p);
          fixed++;
        }
      } else if (e.isDirectory()) walk(p);
    }
  };
  walk(root);
  log(`unpacked ${debs.length} packages into ${root} (${formatBytes(duBytes(root))}${fixed ? `, ${fixed} absolute symlinks made relative` : ''})`);
}

/** Resolves a path inside `root` following symlinks as if `root` were `/`. */
function resolveInRoot(root: string, path: string, depth = 0): string {
  if (depth > 40) throw new Error(`symlink loop at ${path}`);
  const parts = path.split('/').filter((s) => s && s !== '.');
  let cur = '';
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '..') {
      cur = posix.dirname(cur);
      continue;
    }
    const next = posix.join(cur || '/', part);
    const host = join(root, next);
    let st;
    try {
      st = lstatSync(host);
    } catch {
      return join(root, next, ...parts.slice(i + 1));
    }
    if (st.isSymbolicLink()) {
      const t = readlinkSync(host);
      const target = t.startsWith('/') ? t : posix.join(posix.dirname(next), t);
      const resolved = resolveInRoot(root, target, depth + 1);
      cur = '/' + relative(root, resolved);
    } else cur = next;
  }
  return join(root, cur);
}

export function findLoader(root: string): string {
  for (const c of ['usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', 'lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', 'usr/lib64/ld-linux-x86-64.so.2', 'lib64/ld-linux-x86-64.so.2']) {
    const p = resolveInRoot(root, c);
    if (existsSync(p) && statSync(p).isFile()) return p;
  }
  throw new Error(`no ld-linux-x86-64.so.2 in ${root}`);
}

export function libDirs(root: string): string[] {
  return ['usr/lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu']
    .map((d) => join(root, d))
    .filter((d, i, a) => existsSync(d) && lstatSync(d).isDirectory() && a.indexOf(d) === i);
}

export async function updateLenient(apt: PrivateApt, log: Log): Promise<void> {
  try {
    await apt.update();
  } catch (e) {
    if (!apt.haveLists()) throw new Error(`${(e as Error).message}\n(${SETUP_HINT})`);
    log(`warning: ${(e as Error).message.split('\n')[0]}; using the package lists from an earlier update`);
  }
}

// ---------------------------------------------------------------------------------------------
// QEMU

function parseQemuVersion(text: string): string | undefined {
  return /version\s+(\d+\.\d+(?:\.\d+)?)/i.exec(text)?.[1];
}

function versionAtLeast(v: string, min: readonly number[]): boolean {
  const p = v.split('.').map(Number);
  for (let i = 0; i < min.length; i++) {
    const a = p[i] ?? 0;
    if (a !== min[i]) return a > min[i]!;
  }
  return true;
}

/** Runs `<argv0> --version` and `-device help`; throws unless >= 10.1 with vfio-user-pci. */
export async function checkQemu(argv0: string[], dataDirs: string[] = []): Promise<string> {
  const [cmd, ...pre] = argv0;
  if (!cmd) throw new Error('empty QEMU command');
  const L = dataDirs.flatMap((d) => ['-L', d]);
  const v = await runRaw(cmd, [...pre, '--version']).catch((e: Error) => {
    throw new Error(`cannot run QEMU ${argv0.join(' ')}: ${e.message}`);
  });
  const version = parseQemuVersion(v.stdout.toString('utf8'));
  if (v.code !== 0 || !version) throw new Error(`${argv0.join(' ')} --version failed: ${v.stderr.trim() || v.stdout.toString('utf8').trim()}`);
  if (!versionAtLeast(version, MIN_QEMU)) throw new Error(`QEMU ${version} at ${argv0.join(' ')} is older than ${MIN_QEMU.join('.')} (no vfio-user client)`);
  const h = await runRaw(cmd, [...pre, ...L, '-machine', 'none', '-device', 'help']);
  const text = h.stdout.toString('utf8') + h.stderr;
  if (!/"vfio-user-pci"/.test(text)) throw new Error(`QEMU ${version} at ${argv0.join(' ')} has no vfio-user-pci device (-device help)`);
  return version;
}

interface QemuStamp {
  recipe: number;
  version: string;
  packages: string[];
  loader: string;
  libraryPath: string[];
  binary: string;
  dataDirs: string[];
}

function qemuFromStamp(dir: string, s: QemuStamp): QemuInstall {
  const abs = (p: string): string => join(dir, p);
  return {
    argv0: [abs(s.loader), '--library-path', s.libraryPath.map(abs).join(':'), abs(s.binary)],
    dataDirs: s.dataDirs.map(abs),
    version: s.version,
  };
}

function validQemuStamp(dir: string): QemuStamp | undefined {
  const s = readStamp<QemuStamp>(dir);
  if (!s || s.recipe !== QEMU_RECIPE) return undefined;
  if (![s.loader, s.binary].every((p) => existsSync(join(dir, p)))) return undefined;
  return s;
}

export async function ensureQemu(o?: ProvisionOptions): Promise<QemuInstall> {
  const log = logOf(o);
  const system = o?.qemu ?? process.env.NICSIM_QEMU;
  if (system) {
    const version = await checkQemu([system]);
    log(`using system QEMU ${version} at ${system}`);
    return { argv0: [system], dataDirs: [], version };
  }
  const cache = cacheOf(o);
  const dir = join(cache, 'qemu');
  const warm = validQemuStamp(dir);
  if (warm) return qemuFromStamp(dir, warm);
  return withLock(cache, 'setup', log, async () => {
    const again = validQemuStamp(dir);
    if (again) return qemuFromStamp(dir, again);
    const t0 = Date.now();
    log(`provisioning QEMU (${QEMU_PACKAGES.join(' ')} from ${QEMU_TARGET_RELEASE}) into ${dir}`);
    const apt = new PrivateApt(cache, log);
    await apt.init();
    await updateLenient(apt, log);
    const debs = await apt.downloadClosure(QEMU_PACKAGES, QEMU_TARGET_RELEASE);
    await buildAtomically(dir, async (tmp) => {
      const root = join(tmp, 'root');
      await unpackDebs(debs.map((d) => d.path), root, log);
      const loader = findLoader(root);
      const libs = libDirs(root);
      const binary = join(root, 'usr/bin/qemu-system-x86_64');
      if (!existsSync(binary)) throw new Error(`qemu-system-x86 left no ${binary}`);
      const dataDirs = ['usr/share/qemu', 'usr/share/seabios'].map((d) => join(root, d)).filter((d) => existsSync(d));
      const argv0 = [loader, '--library-path', libs.join(':'), binary];
      const version = await checkQemu(argv0, dataDirs);
      const stamp: QemuStamp = {
        recipe: QEMU_RECIPE,
        version,
        packages: debs.map((d) => `${d.pkg.name}=${d.pkg.version}`),
        loader: relative(tmp, loader),
        libraryPath: libs.map((l) => relative(tmp, l)),
        binary: relative(tmp, binary),
        dataDirs: dataDirs.map((d) => relative(tmp, d)),
      };
      writeFileSync(join(tmp, 'stamp.json'), JSON.stringify(stamp, null, 2) + '\n');
      log(`QEMU ${version} ready (${formatBytes(duBytes(tmp))}, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    });
    const s = validQemuStamp(dir);
    if (!s) throw new Error(`QEMU stamp missing in ${dir} after provisioning`);
    return qemuFromStamp(dir, s);
  });
}

// ---------------------------------------------------------------------------------------------
// Guest tools root (busybox, iproute2, ethtool, socat, iperf3 from trixie)

interface ToolsStamp {
  recipe: number;
  packages: string[];
}

async function ensureToolsRoot(cache: string, apt: () => Promise<PrivateApt>, log: Log): Promise<string> {
  const dir = join(cache, 'guest-tools');
  const s = readStamp<ToolsStamp>(dir);
  if (s && s.recipe === TOOLS_RECIPE && existsSync(join(dir, 'root/usr/bin/busybox'))) return join(dir, 'root');
  log(`provisioning guest tools (${GUEST_TOOL_PACKAGES.join(' ')}) into ${dir}`);
  const a = await apt();
  const debs = await a.downloadClosure(GUEST_TOOL_PACKAGES);
  await buildAtomically(dir, async (tmp) => {
    await unpackDebs(debs.map((d) => d.path), join(tmp, 'root'), log);
    if (!existsSync(join(tmp, 'root/usr/bin/busybox'))) throw new Error('busybox left no usr/bin/busybox');
    const stamp: ToolsStamp = { recipe: TOOLS_RECIPE, packages: debs.map((d) => `${d.pkg.name}=${d.pkg.version}`) };
    writeFileSync(join(tmp, 'stamp.json'), JSON.stringify(stamp, null, 2) + '\n');
  });
  return join(dir, 'root');
}

// ---------------------------------------------------------------------------------------------
// Guest

interface GuestStamp {
  recipe: string;
  kernelPackage: string;
  packages: string[];
  kernelVersion: string;
  modules: string[];
  tools: string[];
  initramfsBytes: number;
}

function guestDir(cache: string, pkg: string): string {
  return join(cache, 'guest', pkg.replace(/[^A-Za-z0-9.+_-]/g, '_'));
}

function guestFromStamp(dir: string, s: GuestStamp): GuestImage {
  return { kernel: join(dir, 'vmlinuz'), initramfs: join(dir, 'initramfs.cpio.gz'), kernelVersion: s.kernelVersion, modules: s.modules };
}

function validGuestStamp(dir: string, pkg: string): GuestStamp | undefined {
  const s = readStamp<GuestStamp>(dir);
  if (!s || s.recipe !== GUEST_RECIPE || s.kernelPackage !== pkg) return undefined;
  if (!existsSync(join(dir, 'vmlinuz')) || !existsSync(join(dir, 'initramfs.cpio.gz'))) return undefined;
  return s;
}

/** The names to download for a kernel package: itself (or a metapackage's image) plus split-out parts. */
async function kernelPackageSet(apt: PrivateApt, requested: string, log: Log): Promise<string[]> {
  let name = requested;
  let f: Record<string, string> | undefined;
  const slash = requested.indexOf('/');
  if (slash > 0) {
    // NAME/SUITE (linux-image-amd64/trixie-backports): that suite's newest version of NAME.
    name = requested.slice(0, slash);
    const suite = requested.slice(slash + 1);
    const v = (await apt.madison(name)).find((x) => x.suite === suite);
    if (!v) throw new Error(`no package ${name} in ${suite}`);
    f = await apt.show(`${name}=${v.version}`);
  } else f = await apt.show(name);
  if (!f && requested === DEFAULT_KERNEL_PACKAGE) {
    // bookworm moved on to a newer ABI: take what bookworm's linux-image-amd64 points at.
    const versions = (await apt.madison('linux-image-amd64')).filter((v) => v.suite.startsWith('bookworm'));
    for (const v of versions) {
      const r = await runRaw('apt-cache', ['show', `linux-image-amd64=${v.version}`], { env: { ...process.env, APT_CONFIG: join(apt.dir, 'apt.conf') } });
      const dep = /linux-image-[\w.+-]+-amd64/.exec(/^Depends:.*$/m.exec(r.stdout.toString('utf8'))?.[0] ?? '')?.[0];
      if (dep) {
        log(`warning: ${requested} is gone from the mirror; using bookworm's current ${dep}`);
        name = dep;
        f = await apt.show(name);
        break;
      }
    }
  }
  if (!f) throw new Error(`no package ${requested} in bookworm, trixie or trixie-backports`);
  const deps = (f.Depends ?? '').split(',').map((d) => d.trim());
  // A metapackage (linux-image-amd64): follow to the versioned image.
  if (!/^linux-image-\d/.test(name)) {
    const img = deps.map((d) => /^(linux-image-\d[\w.+-]*)/.exec(d)?.[1]).find((x) => x);
    if (img) {
      log(`${name} is a metapackage for ${img}`);
      return kernelPackageSet(apt, img, log);
    }
  }
  // Newer kernels split the image into linux-binary-*, linux-modules-*: take the parts pinned
  // with "(= version)".
  const parts = deps
    .filter((d) => !d.includes('|') && /\(=\s/.test(d))
    .map((d) => d.split(/\s/)[0]!)
    .filter((n) => /^linux-(binary|modules|image|base)-\d/.test(n));
  return [name, ...parts];
}

/** `<loader> --list` of a binary inside `root`: soname -> path on the host. */
async function sharedLibs(root: string, binary: string): Promise<Map<string, string>> {
  const loader = findLoader(root);
  const r = await run(loader, ['--library-path', libDirs(root).join(':'), '--list', binary]);
  const out = new Map<string, string>();
  for (const line of r.stdout.toString('utf8').split('\n')) {
    const m = /^\s*(\S+)\s+=>\s+(\S+)\s+\(/.exec(line);
    if (m && m[2] !== 'not') out.set(m[1]!, m[2]!);
    else if (/=> not found/.test(line)) throw new Error(`${binary}: ${line.trim()}`);
  }
  return out;
}

function findKernel(kroot: string): { kernelVersion: string; vmlinuzPath: string; modulesDir: string } | undefined {
  const modRoots = ['lib/modules', 'usr/lib/modules'].map((d) => join(kroot, d)).filter((d) => existsSync(d));
  const boot = join(kroot, 'boot');
  for (const f of existsSync(boot) ? readdirSync(boot) : []) {
    if (!f.startsWith('vmlinuz-')) continue;
    const kernelVersion = f.slice('vmlinuz-'.length);
    const modulesDir = modRoots.map((r) => join(r, kernelVersion)).find((d) => existsSync(d));
    if (modulesDir) return { kernelVersion, vmlinuzPath: join(boot, f), modulesDir };
  }
  for (const r of modRoots) {
    for (const kernelVersion of readdirSync(r)) {
      const vmlinuzPath = join(r, kernelVersion, 'vmlinuz');
      if (existsSync(vmlinuzPath)) return { kernelVersion, vmlinuzPath, modulesDir: join(r, kernelVersion) };
    }
  }
  return undefined;
}

/** argv to run a binary of `root` on the host through the root's loader. */
function inRoot(root: string, binary: string): string[] {
  return [findLoader(root), '--library-path', libDirs(root).join(':'), binary];
}

function xzTool(toolsRoot: string): string[] {
  try {
    execFileSync('xz', ['--version'], { stdio: 'ignore' });
    return ['xz'];
  } catch {
    return [...inRoot(toolsRoot, join(toolsRoot, 'usr/bin/busybox')), 'xz'];
  }
}

async function buildGuest(
  cache: string,
  kernelPackage: string,
  dir: string,
  apt: () => Promise<PrivateApt>,
  log: Log,
): Promise<void> {
  const toolsRoot = await ensureToolsRoot(cache, apt, log);
  const a = await apt();
  const names = await kernelPackageSet(a, kernelPackage, log);
  const debs = await a.downloadExact(names);
  await buildAtomically(dir, async (tmp) => {
    const kroot = join(tmp, 'kernel-root');
    await unpackDebs(debs.map((d) => d.path), kroot, log);
    // vmlinuz (boot/vmlinuz-<ver>, or <modules>/<ver>/vmlinuz in the split 7.x packages) and
    // the modules folder (lib/modules up to 6.1, usr/lib/modules later)
    const found = findKernel(kroot);
    if (!found) throw new Error(`${names.join(' ')} carry no vmlinuz with a modules folder`);
    const { kernelVersion, vmlinuzPath, modulesDir } = found;
    copyFileSync(vmlinuzPath, join(tmp, 'vmlinuz'));

    const res = resolveModules(modulesDir, GUEST_DRIVERS, xzTool(toolsRoot));
    if (res.missing.includes('e1000e')) throw new Error(`kernel ${kernelVersion} has no e1000e module`);
    for (const m of res.missing) log(`note: kernel ${kernelVersion} has no ${m} module`);
    log(`modules for ${kernelVersion}: ${res.modules.map((m) => m.name).join(' ')}${res.builtin.length ? ` (built in: ${res.builtin.join(' ')})` : ''}`);

    const w = new CpioWriter();
    for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'lib/x86_64-linux-gnu', 'lib64', 'proc', 'sys', 'dev', 'tmp', 'run', 'root', 'etc/nicsim', 'var', 'mnt']) w.dir(d);
    w.charDevice('dev/console', 5, 1, 0o600);
    w.charDevice('dev/null', 1, 3, 0o666);
    w.file('init', INIT_SCRIPT, 0o755);
    w.file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
    w.file('etc/group', 'root:x:0:\n');
    w.file('etc/hosts', '127.0.0.1 localhost\n');
    w.file('etc/nicsim/kernel', `${kernelPackage} ${kernelVersion}\n`);

    // modules, decompressed, plus per-driver load orders
    const kmods = `lib/modules/${kernelVersion}`;
    for (const m of res.modules) w.file(`${kmods}/${m.target}`, m.data, 0o644);
    for (const [drv, order] of res.orders) w.file(`etc/nicsim/modules.${drv}`, order.join('\n') + (order.length ? '\n' : ''));

    // tools with their libraries, and the loader at its standard path
    const libs = new Map<string, string>();
    const tools: string[] = [];
    for (const [tool, candidates] of Object.entries(GUEST_TOOLS)) {
      const found = candidates.map((c) => resolveInRoot(toolsRoot, c)).find((p) => existsSync(p) && statSync(p).isFile());
      if (!found) {
        log(`note: no ${tool} in the tools root; busybox's applet (if any) stands in`);
        continue;
      }
      for (const [so, p] of await sharedLibs(toolsRoot, found)) libs.set(so, p);
      w.file(`usr/bin/${tool}`, readFileSync(found), 0o755);
      tools.push(tool);
    }
    // busybox (with its libraries) and its applet links (skipping names the real tools take)
    const busybox = join(toolsRoot, 'usr/bin/busybox');
    w.file('bin/busybox', readFileSync(busybox), 0o755);
    for (const [so, p] of await sharedLibs(toolsRoot, busybox)) libs.set(so, p);
    const [bbCmd, ...bbPre] = inRoot(toolsRoot, busybox);
    const applets = (await run(bbCmd!, [...bbPre, '--list-full'])).stdout.toString('utf8').split('\n').filter((l) => l.trim());
    for (const a of applets) {
      const base = posix.basename(a);
      if (tools.includes(base) || a === 'bin/busybox' || w.has(a) || base === 'init' || base === 'linuxrc') continue;
      w.symlink(a, '/bin/busybox');
    }
    if (!w.has('bin/sh')) w.symlink('bin/sh', '/bin/busybox');

    for (const so of DLOPENED_LIBS) {
      const p = join(toolsRoot, 'usr/lib/x86_64-linux-gnu', so);
      if (existsSync(p)) libs.set(so, p);
      else log(`note: ${so} is not in the tools root; tools that load it at run time may abort`);
    }
    const loader = findLoader(toolsRoot);
    for (const [so, p] of libs) {
      if (so.includes('ld-linux')) continue;
      w.file(`lib/x86_64-linux-gnu/${posix.basename(so)}`, readFileSync(p), 0o755);
    }
    w.file('lib64/ld-linux-x86-64.so.2', readFileSync(loader), 0o755);

    const gz = w.toGzip(6);
    writeFileSync(join(tmp, 'initramfs.cpio.gz'), gz);
    rmSync(kroot, { recursive: true, force: true });
    const stamp: GuestStamp = {
      recipe: GUEST_RECIPE,
      kernelPackage,
      packages: debs.map((d) => `${d.pkg.name}=${d.pkg.version}`),
      kernelVersion,
      modules: res.modules.map((m) => m.name),
      tools,
      initramfsBytes: gz.length,
    };
    writeFileSync(join(tmp, 'stamp.json'), JSON.stringify(stamp, null, 2) + '\n');
    log(`guest ready: kernel ${kernelVersion} (${formatBytes(statSync(join(tmp, 'vmlinuz')).size)}), initramfs ${formatBytes(gz.length)} with ${tools.join(' ')}`);
  });
}

export async function ensureGuest(o?: ProvisionOptions): Promise<GuestImage> {
  const log = logOf(o);
  const cache = cacheOf(o);
  const pkg = o?.kernelPackage ?? process.env.NICSIM_KERNEL_PACKAGE ?? DEFAULT_KERNEL_PACKAGE;
  if (!/^linux-image-[\w.+-]+(\/[a-z-]+)?$/.test(pkg)) throw new Error(`not a linux-image-* package name (NAME or NAME/SUITE): ${pkg}`);
  const dir = guestDir(cache, pkg);
  const warm = validGuestStamp(dir, pkg);
  if (warm) return guestFromStamp(dir, warm);
  return withLock(cache, 'setup', log, async () => {
    const again = validGuestStamp(dir, pkg);
    if (again) return guestFromStamp(dir, again);
    const t0 = Date.now();
    log(`provisioning guest (${pkg}) into ${dir}`);
    let apt: PrivateApt | undefined;
    const getApt = async (): Promise<PrivateApt> => {
      if (!apt) {
        apt = new PrivateApt(cache, log);
        await apt.init();
        await updateLenient(apt, log);
      }
      return apt;
    };
    await buildGuest(cache, pkg, dir, getApt, log);
    const s = validGuestStamp(dir, pkg);
    if (!s) throw new Error(`guest stamp missing in ${dir} after provisioning`);
    log(`guest provisioned in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return guestFromStamp(dir, s);
  });
}

/** What `nicsim setup` runs: QEMU and the guest. */
export async function setup(o?: ProvisionOptions): Promise<{ qemu: QemuInstall; guest: GuestImage }> {
  try {
    const qemu = await ensureQemu(o);
    const guest = await ensureGuest(o);
    return { qemu, guest };
  } catch (e) {
    const msg = (e as Error).message;
    throw new Error(msg.includes('nicsim setup') ? msg : `${msg}\n(nicsim setup failed; retry with \`npx nicsim setup\`)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Run-time initrd pieces

/** A gzip'd newc archive with /run.sh (mode 0755) and any extra files, to append to the base initramfs. */
export function makeRunCpio(script: string, extraFiles?: Record<string, Uint8Array>): Buffer {
  const w = new CpioWriter();
  w.file('run.sh', script, 0o755);
  for (const [path, data] of Object.entries(extraFiles ?? {})) w.file(path, data, /(^|\/)(s?bin)\//.test(path) || path.endsWith('.sh') ? 0o755 : 0o644);
  return w.toGzip(6);
}

/** Writes base initramfs + extra archive, concatenated, to `out` (Linux unpacks both in order). */
export function composeInitrd(base: string, extra: Buffer, out: string): void {
  const b = readFileSync(base);
  mkdirSync(dirname(out), { recursive: true });
  // newc archives start 4-byte aligned; gzip'd members need no padding, but keep it aligned.
  const pad = Buffer.alloc((4 - (b.length % 4)) % 4);
  writeFileSync(out, Buffer.concat([b, pad, extra]));
}

// ---------------------------------------------------------------------------------------------
// QEMU command line

export type NicSpec =
  | { kind: 'vfio-user'; socket: string; props?: Record<string, string | number | boolean> }
  | { kind: 'qemu-e1000e' | 'virtio-net'; netdev: string[]; mac?: string }
  | { kind: 'none' };

export interface QemuCommandOptions {
  qemu: QemuInstall;
  guest: GuestImage;
  initrd: string;
  /** vfio-user socket (shorthand for nic: { kind: 'vfio-user', socket }) */
  socket?: string;
  nic?: NicSpec;
  memMiB: number;
  consoleLog: string;
  /** Extra kernel command line words (after console=ttyS0 panic=-1). */
  cmdline: string[];
  extraArgs?: string[];
  /**
   * 'seabios' (default) or 'qboot' (the minimal firmware in QEMU's data folder: about 1.5 s
   * less to the kernel under TCG; not yet tried with vfio-user-pci).
   */
  firmware?: 'seabios' | 'qboot';
}

/**
 * For qemu-e1000e / virtio-net, `netdev` is the backend's argv, e.g.
 * ['-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no']; the device is attached to the
 * id found in it (default n0).
 */
export function nicArgs(nic: NicSpec): string[] {
  switch (nic.kind) {
    case 'none':
      return [];
    case 'vfio-user':
      return ['-device', JSON.stringify({ driver: 'vfio-user-pci', socket: { type: 'unix', path: nic.socket }, ...(nic.props ?? {}) })];
    case 'qemu-e1000e':
    case 'virtio-net': {
      const spec = nic.netdev.find((a) => /(^|,)id=/.test(a)) ?? '';
      const id = /(?:^|,)id=([^,]+)/.exec(spec)?.[1] ?? 'n0';
      const driver = nic.kind === 'qemu-e1000e' ? 'e1000e' : 'virtio-net-pci';
      return [...nic.netdev, '-device', `${driver},netdev=${id}${nic.mac ? `,mac=${nic.mac}` : ''}`];
    }
  }
}

function firmwareArgs(qemu: QemuInstall, firmware: QemuCommandOptions['firmware']): string[] {
  if (firmware !== 'qboot') return [];
  const rom = qemu.dataDirs.map((d) => join(d, 'qboot.rom')).find((p) => existsSync(p));
  // A system QEMU finds qboot.rom in its own data folder.
  return ['-bios', rom ?? 'qboot.rom'];
}

export function qemuCommand(opts: QemuCommandOptions): string[] {
  const nic: NicSpec | undefined = opts.nic ?? (opts.socket !== undefined ? { kind: 'vfio-user', socket: opts.socket } : undefined);
  if (!nic) throw new Error('qemuCommand: give nic or socket');
  const m = opts.memMiB;
  return [
    ...opts.qemu.argv0,
    ...opts.qemu.dataDirs.flatMap((d) => ['-L', d]),
    '-nodefaults',
    '-accel', 'tcg',
    '-m', `${m}M`,
    '-object', `memory-backend-memfd,id=mem,size=${m}M,share=on`,
    '-machine', 'pc,memory-backend=mem',
    '-nic', 'none',
    '-vga', 'none',
    '-display', 'none',
    '-no-reboot',
    ...firmwareArgs(opts.qemu, opts.firmware),
    '-serial', `file:${opts.consoleLog}`,
    '-kernel', opts.guest.kernel,
    '-initrd', opts.initrd,
    '-append', ['console=ttyS0', 'panic=-1', ...opts.cmdline].join(' '),
    ...nicArgs(nic),
    ...(opts.extraArgs ?? []),
  ];
}
