/**
 * A private apt configuration under the cache folder: its own sources (bookworm, trixie and
 * trixie-backports), package lists, download cache and an empty dpkg status, so that packages
 * and their dependency closure can be downloaded without root and without touching the host's
 * apt state. Packages are then unpacked with `dpkg-deb -x` (see provision.ts).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError, formatBytes, run, runRaw, type Log } from './run.js';

/** Suites known to the private configuration, in the order they are listed. */
export const SUITES = [
  { suite: 'trixie', security: false },
  { suite: 'trixie-updates', security: false },
  { suite: 'trixie-security', security: true },
  { suite: 'trixie-backports', security: false },
  { suite: 'bookworm', security: false },
  { suite: 'bookworm-updates', security: false },
  { suite: 'bookworm-security', security: true },
] as const;

const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
const DEFAULT_SECURITY_MIRROR = 'http://deb.debian.org/debian-security';
const HOST_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

export interface PackageRef {
  name: string;
  version: string;
  arch: string;
}

/** The file name apt gives a downloaded package (the epoch colon is written %3a). */
export function debFileName(p: PackageRef): string {
  return `${p.name}_${p.version.replace(/:/g, '%3a')}_${p.arch}.deb`;
}

/** Mirrors from the host's apt sources (the ones known to work from this machine). */
export function hostMirrors(): { main: string; security: string } {
  let main = process.env.NICSIM_DEBIAN_MIRROR ?? '';
  let security = process.env.NICSIM_DEBIAN_SECURITY_MIRROR ?? '';
  const files: string[] = [];
  try {
    if (existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
    for (const f of readdirSync('/etc/apt/sources.list.d')) {
      if (f.endsWith('.list') || f.endsWith('.sources')) files.push(join('/etc/apt/sources.list.d', f));
    }
  } catch {
    /* no host apt */
  }
  const found: string[] = [];
  for (const f of files) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const t = line.trim();
      let m = /^URIs:\s*(\S+)/i.exec(t);
      if (m) found.push(m[1]!);
      m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(t);
      if (m) found.push(m[1]!);
    }
  }
  for (const u of found) {
    const uri = u.replace(/\/+$/, '');
    if (!main && /\/debian$/.test(uri)) main = uri;
    if (!security && /\/debian-security$/.test(uri)) security = uri;
  }
  return { main: main || DEFAULT_MIRROR, security: security || DEFAULT_SECURITY_MIRROR };
}

export class PrivateApt {
  readonly dir: string;
  readonly archives: string;
  readonly downloads: string;
  private readonly conf: string;
  /** Folders updated by this process (one `apt-get update` per process is plenty). */
  private static readonly updatedDirs = new Set<string>();

  constructor(
    cacheDir: string,
    private readonly log: Log,
  ) {
    this.dir = join(cacheDir, 'apt');
    this.archives = join(this.dir, 'cache', 'archives');
    this.downloads = join(this.dir, 'downloads');
    this.conf = join(this.dir, 'apt.conf');
  }

  private env(): NodeJS.ProcessEnv {
    return { ...process.env, APT_CONFIG: this.conf, LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' };
  }

  /** Writes the configuration (idempotent). */
  async init(): Promise<void> {
    const d = this.dir;
    for (const sub of ['etc/sources.list.d', 'etc/preferences.d', 'etc/apt.conf.d', 'state/lists/partial', 'cache/archives/partial', 'downloads']) {
      mkdirSync(join(d, sub), { recursive: true });
    }
    const keyring = process.env.NICSIM_APT_KEYRING ?? HOST_KEYRING;
    if (!existsSync(keyring)) {
      throw new Error(
        `no Debian archive keyring at ${keyring}: install the debian-archive-keyring package ` +
          `(it must carry the trixie keys) or set NICSIM_APT_KEYRING`,
      );
    }
    const mirrors = hostMirrors();
    const sources = SUITES.map(
      (s) => `deb [arch=amd64 signed-by=${keyring}] ${s.security ? mirrors.security : mirrors.main} ${s.suite} main`,
    ).join('\n');
    writeIfChanged(join(d, 'etc/sources.list'), sources + '\n');
    // trixie-backports gets the usual 100; bookworm is only there for its kernels, so it
    // never wins a dependency over trixie.
    const prefs = ['bookworm', 'bookworm-updates', 'bookworm-security']
      .map((n) => `Package: *\nPin: release n=${n}\nPin-Priority: 50\n`)
      .join('\n');
    writeIfChanged(join(d, 'etc/preferences'), prefs);
    if (!existsSync(join(d, 'status'))) writeFileSync(join(d, 'status'), '');
    const lines = [
      `Dir::Etc::SourceList "${d}/etc/sources.list";`,
      `Dir::Etc::SourceParts "${d}/etc/sources.list.d";`,
      `Dir::Etc::Preferences "${d}/etc/preferences";`,
      `Dir::Etc::PreferencesParts "${d}/etc/preferences.d";`,
      `Dir::Etc::Parts "${d}/etc/apt.conf.d";`,
      `Dir::State "${d}/state";`,
      `Dir::State::status "${d}/status";`,
      `Dir::Cache "${d}/cache";`,
      // no second 60 MB binary cache of the source lists; keep the lists compressed
      `Dir::Cache::srcpkgcache "";`,
      `Acquire::GzipIndexes "true";`,
      `APT::Architecture "amd64";`,
      `APT::Architectures { "amd64"; };`,
      `APT::Install-Recommends "false";`,
      `APT::Install-Suggests "false";`,
      // The cache lives in the user's home, which apt's _apt sandbox user cannot write.
      `APT::Sandbox::User "root";`,
      `Acquire::Languages "none";`,
      `Acquire::Retries "3";`,
      ...(await hostProxySettings()),
    ];
    writeIfChanged(this.conf, lines.join('\n') + '\n');
  }

  /** `apt-get update`, once per process (only called when something must be built). */
  async update(): Promise<void> {
    if (PrivateApt.updatedDirs.has(this.dir)) return;
    this.log('apt: updating package lists (trixie, trixie-backports, bookworm)');
    try {
      await run('apt-get', ['-q', 'update'], {
        env: this.env(),
        onLine: (l, s) => {
          if (s === 'stdout' && /^(Get|Err|Ign):/.test(l)) this.log(`apt: ${l}`);
          else if (s === 'stderr' && l.trim()) this.log(`apt: ${l}`);
        },
      });
    } catch (e) {
      const msg = (e as Error).message;
      if (/NO_PUBKEY|not signed|EXPKEYSIG|signature/i.test(msg)) {
        throw new Error(
          `apt could not verify Debian's archive signatures with ${HOST_KEYRING} (the host keyring may ` +
            `lack trixie's keys; upgrade debian-archive-keyring): ${msg}`,
        );
      }
      throw new Error(`apt-get update failed (is deb.debian.org reachable?): ${msg}`);
    }
    // apt-get update exits 0 even when some lists failed ("W: Some index files failed").
    const lists = readdirSync(join(this.dir, 'state/lists')).filter((f) => f.endsWith('_Packages') || f.includes('_Packages.'));
    if (lists.length === 0) throw new Error('apt-get update fetched no package lists (is deb.debian.org reachable?)');
    PrivateApt.updatedDirs.add(this.dir);
  }

  /** Whether lists exist from an earlier update (to answer questions without the network). */
  haveLists(): boolean {
    try {
      return readdirSync(join(this.dir, 'state/lists')).some((f) => f.includes('_Packages'));
    } catch {
      return false;
    }
  }

  /** Candidate fields of a package (`apt-cache show --no-all-versions`), or undefined if unknown. */
  async show(name: string): Promise<Record<string, string> | undefined> {
    const r = await runRaw('apt-cache', ['show', '--no-all-versions', name], { env: this.env() });
    if (r.code !== 0) return undefined;
    return parseControl(r.stdout.toString('utf8'))[0];
  }

  /** All versions of a package with the suites they come from (`apt-cache madison`). */
  async madison(name: string): Promise<{ version: string; suite: string }[]> {
    const r = await runRaw('apt-cache', ['madison', name], { env: this.env() });
    if (r.code !== 0) return [];
    const out: { version: string; suite: string }[] = [];
    for (const line of r.stdout.toString('utf8').split('\n')) {
      const f = line.split('|').map((s) => s.trim());
      if (f.length >= 3 && f[0] === name) {
        const m = /\s(\S+)\/main/.exec(' ' + f[2]!);
        if (m) out.push({ version: f[1]!, suite: m[1]! });
      }
    }
    return out;
  }

  /**
   * Resolves the dependency closure of `packages` (no recommends) against an empty system and
   * downloads it into the archive cache. Returns the package list with the paths of the .debs.
   */
  async downloadClosure(packages: string[], targetRelease?: string): Promise<{ pkg: PackageRef; path: string }[]> {
    const base = ['-q', '-y', '--no-install-recommends', ...(targetRelease ? ['-t', targetRelease] : [])];
    const sim = await run('apt-get', ['-s', 'install', ...base, ...packages], { env: this.env() });
    const pkgs: PackageRef[] = [];
    for (const line of sim.stdout.toString('utf8').split('\n')) {
      // Inst libc6 (2.41-12 Debian:13.1/stable [amd64])
      const m = /^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) .*\[(\S+)\]\)/.exec(line);
      if (m) pkgs.push({ name: m[1]!, version: m[2]!, arch: m[3]! });
    }
    if (pkgs.length === 0) throw new Error(`apt resolved nothing to install for ${packages.join(' ')}`);
    const missing = pkgs.filter((p) => !existsSync(join(this.archives, debFileName(p))));
    if (missing.length > 0) {
      this.log(`apt: downloading ${missing.length} of ${pkgs.length} packages for ${packages.join(' ')}`);
      await run('apt-get', ['install', '--download-only', ...base, '-o', 'APT::Status-Fd=3', ...packages], {
        env: this.env(),
        statusFd: true,
        onLine: this.progressLogger(),
      });
    } else {
      this.log(`apt: all ${pkgs.length} packages for ${packages.join(' ')} already downloaded`);
    }
    return pkgs.map((pkg) => {
      const path = join(this.archives, debFileName(pkg));
      if (!existsSync(path)) throw new Error(`apt did not leave ${path}`);
      return { pkg, path };
    });
  }

  /** Downloads exactly the named packages (candidate versions, no dependencies). */
  async downloadExact(names: string[]): Promise<{ pkg: PackageRef; path: string }[]> {
    const out: { pkg: PackageRef; path: string }[] = [];
    const need: string[] = [];
    for (const name of names) {
      const f = await this.show(name);
      if (!f || !f.Version || !f.Architecture) throw new Error(`apt knows no package ${name}`);
      const pkg = { name, version: f.Version, arch: f.Architecture };
      const path = join(this.downloads, debFileName(pkg));
      out.push({ pkg, path });
      if (!existsSync(path)) {
        need.push(name);
        if (f.Size) this.log(`apt: fetching ${name} ${f.Version} (${formatBytes(Number(f.Size))})`);
      }
    }
    if (need.length > 0) {
      await run('apt-get', ['-q', 'download', '-o', 'APT::Status-Fd=3', ...need], {
        cwd: this.downloads,
        env: this.env(),
        statusFd: true,
        onLine: this.progressLogger(),
      });
    }
    for (const o of out) if (!existsSync(o.path)) throw new Error(`apt did not leave ${o.path}`);
    return out;
  }

  /** Turns apt's output and status-fd lines into progress lines (percent in 10% steps). */
  private progressLogger(): (line: string, stream: 'stdout' | 'stderr' | 'status') => void {
    let lastPct = -10;
    return (l, stream) => {
      if (stream === 'status') {
        // dlstatus:<n>:<percent>:<message>
        const m = /^dlstatus:[^:]*:([\d.]+):(.*)$/.exec(l);
        if (m) {
          const pct = Number(m[1]);
          if (pct >= lastPct + 10) {
            lastPct = Math.floor(pct / 10) * 10;
            this.log(`apt: ${pct.toFixed(0)}% ${m[2]}`);
          }
        }
        return;
      }
      if (/^(Get|Err):|^Need to get|^Fetched|^E:|^W:/.test(l)) this.log(`apt: ${l}`);
    };
  }
}

function writeIfChanged(path: string, text: string): void {
  try {
    if (readFileSync(path, 'utf8') === text) return;
  } catch {
    /* absent */
  }
  writeFileSync(path, text);
}

/** The host's apt proxy settings (only Acquire::*::Proxy), so the private config works behind one. */
async function hostProxySettings(): Promise<string[]> {
  try {
    const r = await runRaw('apt-config', ['dump'], {});
    if (r.code !== 0) return [];
    return r.stdout
      .toString('utf8')
      .split('\n')
      .filter((l) => /^Acquire::(https?|ftp)::Proxy(::\S+)? "/.test(l))
      .map((l) => (l.endsWith(';') ? l : l + ';'));
  } catch {
    return [];
  }
}

/** Parses deb822 control paragraphs (continuation lines are appended). */
export function parseControl(text: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  let cur: Record<string, string> = {};
  let last = '';
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (Object.keys(cur).length > 0) out.push(cur);
      cur = {};
      continue;
    }
    if (/^\s/.test(line) && last) {
      cur[last] += '\n' + line.trim();
      continue;
    }
    const i = line.indexOf(':');
    if (i > 0) {
      last = line.slice(0, i);
      cur[last] = line.slice(i + 1).trim();
    }
  }
  if (Object.keys(cur).length > 0) out.push(cur);
  return out;
}

export function isCommandError(e: unknown): e is CommandError {
  return e instanceof CommandError;
}

/** Size of a file, 0 if absent. */
export function fileSize(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
}
