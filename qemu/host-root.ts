// Host-side tools from Debian trixie (tshark to read captures, passt for user-mode networking), run through their root's own loader.

import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PrivateApt } from './guest/apt.js';
import {
  buildAtomically,
  cacheOf,
  defaultCacheDir,
  duBytes,
  findLoader,
  libDirs,
  logOf,
  readStamp,
  unpackDebs,
  updateLenient,
  withLock,
  type ProvisionOptions,
} from './guest/provision.js';
import { formatBytes, runRaw } from './guest/run.js';

/** Debian trixie packages of the host-tools root (apt adds their dependency closure). */
export const HOST_TOOL_PACKAGES = ['tshark', 'passt'] as const;
const HOST_TOOLS_RECIPE = 1;
/**
 * Where the root's loader is copied. Wireshark finds its data and plugin folders relative to
 * the running executable (/proc/self/exe), which is the loader when a binary runs through it:
 * from usr/bin the relative paths land on usr/share/wireshark and
 * usr/lib/x86_64-linux-gnu/wireshark/plugins. Its WIRESHARK_DATA_DIR and WIRESHARK_PLUGIN_DIR
 * variables cannot do this: Wireshark ignores them when run as root.
 */
const LOADER_IN_BIN = 'usr/bin/ld-linux-x86-64.so.2';

/** Provisioned host tools; each argv prefix runs the tool through the root's loader. */
export interface HostTools {
  /** The unpacked root (`<cache>/host-tools/root`). */
  root: string;
  /** argv prefix for tshark: [ld.so, '--library-path', dirs, tshark]. */
  tshark: string[];
  /**
   * argv prefix for passt, the same form (passt.avx2 on CPUs with AVX2). passt prints "Can't run
   * AVX2 build, using non-AVX2 version" on start: its re-exec looks for `<loader>.avx2`; harmless.
   */
  passt: string[];
  /**
   * Variables to add to the environment of tshark: an empty personal configuration folder, so
   * the user's Wireshark preferences cannot change what tsharkCheck finds, and the root's own
   * iconv modules (the host's belong to the host's older glibc).
   */
  tsharkEnv: Record<string, string>;
  /** Package versions in the root (name=version). */
  packages: string[];
}

interface HostToolsStamp {
  recipe: number;
  /** The requested packages, so a changed list rebuilds the root. */
  request: string[];
  packages: string[];
  /** Paths relative to the host-tools folder. */
  loader: string;
  libraryPath: string[];
  tshark: string;
  passt: string;
  passtAvx2: string | null;
  configDir: string;
  downloadBytes: number;
}

function hostToolsDir(cache: string): string {
  return join(cache, 'host-tools');
}

function validStamp(dir: string): HostToolsStamp | undefined {
  const s = readStamp<HostToolsStamp>(dir);
  if (!s || s.recipe !== HOST_TOOLS_RECIPE || s.request?.join(' ') !== HOST_TOOL_PACKAGES.join(' ')) return undefined;
  if (![s.loader, s.tshark, s.passt, s.configDir, ...s.libraryPath].every((p) => existsSync(join(dir, p)))) return undefined;
  return s;
}

let avx2: boolean | undefined;
function cpuHasAvx2(): boolean {
  if (avx2 === undefined) {
    try {
      avx2 = /^flags\s*:.*\bavx2\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
    } catch {
      avx2 = false;
    }
  }
  return avx2;
}

function fromStamp(dir: string, s: HostToolsStamp): HostTools {
  const abs = (p: string): string => join(dir, p);
  const pre = [abs(s.loader), '--library-path', s.libraryPath.map(abs).join(':')];
  const passt = s.passtAvx2 && cpuHasAvx2() && existsSync(abs(s.passtAvx2)) ? s.passtAvx2 : s.passt;
  return {
    root: join(dir, 'root'),
    tshark: [...pre, abs(s.tshark)],
    passt: [...pre, abs(passt)],
    tsharkEnv: { WIRESHARK_CONFIG_DIR: abs(s.configDir), GCONV_PATH: abs('root/usr/lib/x86_64-linux-gnu/gconv') },
    packages: s.packages,
  };
}

/** The host tools if `nicsim setup` (or ensureHostTools) has provisioned them; never downloads. */
export function hostToolsIfProvisioned(cacheDir = defaultCacheDir()): HostTools | null {
  const dir = hostToolsDir(cacheDir);
  const s = validStamp(dir);
  return s ? fromStamp(dir, s) : null;
}

/** Like hostToolsIfProvisioned, but throws an error naming the setup command. */
export function requireHostTools(cacheDir?: string): HostTools {
  const t = hostToolsIfProvisioned(cacheDir);
  if (!t) throw new Error(`the host tools (${HOST_TOOL_PACKAGES.join(', ')}) are not provisioned: run \`npx nicsim setup\``);
  return t;
}

/** Runs `<argv> --version`; throws when the tool does not start. Returns the first line of output, if any. */
async function toolVersion(argv: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const [cmd, ...pre] = argv;
  const r = await runRaw(cmd!, [...pre, '--version'], { env });
  // passt prints its version with stdio buffering and leaves with _exit(): into a pipe the
  // text is lost, so only the exit status can be checked.
  if (r.code !== 0) throw new Error(`${argv.at(-1)} --version failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout.toString('utf8').trim().split('\n')[0] ?? '';
}

/**
 * Provisions `<cache>/host-tools/root` with tshark and passt from Debian trixie (instant when
 * already there). Built under the cache lock into a temporary folder renamed into place.
 */
export async function ensureHostTools(o?: ProvisionOptions): Promise<HostTools> {
  const cache = cacheOf(o);
  const log = logOf(o);
  const dir = hostToolsDir(cache);
  const warm = validStamp(dir);
  if (warm) return fromStamp(dir, warm);
  return withLock(cache, 'setup', log, async () => {
    const again = validStamp(dir);
    if (again) return fromStamp(dir, again);
    const t0 = Date.now();
    log(`provisioning host tools (${HOST_TOOL_PACKAGES.join(' ')} from trixie) into ${dir}`);
    const apt = new PrivateApt(cache, log);
    await apt.init();
    await updateLenient(apt, log);
    const debs = await apt.downloadClosure([...HOST_TOOL_PACKAGES]);
    const downloadBytes = debs.reduce((n, d) => n + duBytes(d.path), 0);
    await buildAtomically(dir, async (tmp) => {
      const root = join(tmp, 'root');
      await unpackDebs(
        debs.map((d) => d.path),
        root,
        log,
      );
      const loader = join(root, LOADER_IN_BIN);
      copyFileSync(findLoader(root), loader);
      const libs = libDirs(root);
      const tshark = join(root, 'usr/bin/tshark');
      const passt = join(root, 'usr/bin/passt');
      const passtAvx2 = join(root, 'usr/bin/passt.avx2');
      for (const b of [tshark, passt]) if (!existsSync(b)) throw new Error(`the host-tools packages left no ${b}`);
      const configDir = join(tmp, 'wireshark-config');
      mkdirSync(configDir);
      const pre = [loader, '--library-path', libs.join(':')];
      const tsharkVersion = await toolVersion([...pre, tshark], { ...process.env, WIRESHARK_CONFIG_DIR: configDir });
      await toolVersion([...pre, passt]);
      const stamp: HostToolsStamp = {
        recipe: HOST_TOOLS_RECIPE,
        request: [...HOST_TOOL_PACKAGES],
        packages: debs.map((d) => `${d.pkg.name}=${d.pkg.version}`),
        loader: relative(tmp, loader),
        libraryPath: libs.map((l) => relative(tmp, l)),
        tshark: relative(tmp, tshark),
        passt: relative(tmp, passt),
        passtAvx2: existsSync(passtAvx2) ? relative(tmp, passtAvx2) : null,
        configDir: relative(tmp, configDir),
        downloadBytes,
      };
      writeFileSync(join(tmp, 'stamp.json'), JSON.stringify(stamp, null, 2) + '\n');
      const passtPkg = stamp.packages.find((p) => p.startsWith('passt='))?.slice(6) ?? '?';
      log(
        `host tools ready: ${tsharkVersion}, passt ${passtPkg} (${debs.length} packages, ${formatBytes(downloadBytes)} of .debs, ` +
          `${formatBytes(duBytes(root))} unpacked, ${((Date.now() - t0) / 1000).toFixed(1)} s)`,
      );
    });
    const s = validStamp(dir);
    if (!s) throw new Error(`host-tools stamp missing in ${dir} after provisioning`);
    return fromStamp(dir, s);
  });
}

// ---------------------------------------------------------------------------------------------
// Checking a capture with tshark

/** What tshark found in a capture. */
export interface TsharkReport {
  /** Frames tshark read. */
  frames: number;
  /**
   * Frames Wireshark marks "[Malformed Packet]" (`_ws.malformed`): a dissector ran past the end
   * of the frame (a header cut short) or failed on its contents.
   */
  malformed: number;
  /**
   * Frames with at least one error-level expert item: every malformed frame, and also length
   * fields larger than the frame ("IPv4 total length exceeds packet length") and, with
   * `checksums`, bad IPv4/TCP/UDP checksums.
   */
  errors: number;
  /** Warning- and error-level expert items, "frame N: Expert Info (Error/Protocol): ..." (at most `maxMessages`). */
  expertWarnings: string[];
}

export interface TsharkCheckOptions {
  /** Validate IPv4 header, TCP and UDP checksums (Wireshark leaves them unchecked by default). Default true. */
  checksums?: boolean;
  /** Cap on expertWarnings entries (a last entry says how many more there were). Default 100. */
  maxMessages?: number;
  /** Tools to use; default the provisioned ones (throws naming `npx nicsim setup` when absent). */
  tools?: HostTools;
}

/** Expert severities (epan/proto.h PI_WARN, PI_ERROR). */
const PI_WARN = 0x00600000;
const PI_ERROR = 0x00800000;
/** Separates occurrences of a field within one line; expert messages may contain commas. */
const AGG = '\x1f';

/** First four bytes of a pcap (µs or ns, either byte order) or pcapng file. */
function looksLikeCapture(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(4);
    if (readSync(fd, b, 0, 4, 0) < 4) return false;
    const m = b.readUInt32LE(0);
    return [0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0x0a0d0d0a].includes(m);
  } finally {
    closeSync(fd);
  }
}

/**
 * Dissects a capture with tshark (one pass, `-T fields` of frame.number, _ws.malformed and the
 * expert items) and counts frames, malformed frames and frames with errors. Throws when tshark
 * cannot read the file (not a capture, or cut short inside a record).
 */
export async function tsharkCheck(pcapPath: string, o: TsharkCheckOptions = {}): Promise<TsharkReport> {
  const tools = o.tools ?? requireHostTools();
  if (!existsSync(pcapPath)) throw new Error(`no capture file ${pcapPath}`);
  // tshark guesses the format of what it reads and takes even a line of text for a frame.
  if (!looksLikeCapture(pcapPath)) throw new Error(`${pcapPath} is not a pcap or pcapng file`);
  const [cmd, ...pre] = tools.tshark;
  const checks = o.checksums === false ? [] : ['ip', 'tcp', 'udp'].flatMap((p) => ['-o', `${p}.check_checksum:TRUE`]);
  const args = [
    ...pre,
    '-n',
    '-r', pcapPath,
    ...checks,
    '-T', 'fields',
    '-E', 'separator=/t',
    '-E', `aggregator=${AGG}`,
    '-E', 'occurrence=a',
    '-E', 'quote=n',
    '-e', 'frame.number',
    '-e', '_ws.malformed',
    '-e', '_ws.expert.severity',
    '-e', '_ws.expert',
  ];
  const r = await runRaw(cmd!, args, { env: { ...process.env, ...tools.tsharkEnv }, binaryStdout: true });
  if (r.code !== 0) {
    const err = r.stderr
      .split('\n')
      .filter((l) => l.trim() && !/^Running as user .* This could be dangerous\.$/.test(l))
      .join('\n');
    throw new Error(`tshark could not read ${pcapPath} (exit ${r.code}): ${err}`);
  }
  const max = o.maxMessages ?? 100;
  const report: TsharkReport = { frames: 0, malformed: 0, errors: 0, expertWarnings: [] };
  let unlisted = 0;
  for (const line of r.stdout.toString('utf8').split('\n')) {
    if (!line) continue;
    const [num = '', malformed = '', severities = '', experts = ''] = line.split('\t');
    report.frames++;
    if (malformed) report.malformed++;
    const sev = severities ? severities.split(AGG).map(Number) : [];
    const text = experts ? experts.split(AGG) : [];
    if (malformed || sev.some((s) => s >= PI_ERROR)) report.errors++;
    sev.forEach((s, i) => {
      if (s < PI_WARN) return;
      if (report.expertWarnings.length < max) report.expertWarnings.push(`frame ${num}: ${text[i] ?? `severity 0x${s.toString(16)}`}`);
      else unlisted++;
    });
  }
  if (unlisted) report.expertWarnings.push(`... and ${unlisted} more`);
  return report;
}
