// Where a served NIC's frames go: a TAP in a private network namespace, a named TAP, nowhere, or back to itself.

import { execFileSync } from 'node:child_process';
import { TapBackend } from '../wire/tap.js';
import { honorPause } from '../wire/pause.js';
import { createLoopback, type WireEndpoint, type WirePort, type WireScheduler } from '../wire/wire.js';
import type { EthernetSwitch } from '../wire/switch.js';
import type { NativeSys } from './native/index.js';
import { SocketBackend } from '../wire/socket.js';
import type { TraceSink } from '../device/trace.js';

/** How a NIC is plugged in: its clock (for links with latency) and a name for counters. */
export interface AttachOptions {
  scheduler?: WireScheduler;
  name?: string;
}

/** A backend the server plugs its NIC into. */
export interface Backend {
  readonly description: string;
  attach(ep: WireEndpoint, o?: AttachOptions): WirePort;
  close(): void;
  /** For netns: the namespace, host-side interface and address, so callers can run host tools there. */
  readonly netns?: { name: string; ifname: string; hostIp: string };
  /** The far side hands out addresses by DHCP (passt): the guest should ask. */
  readonly dhcp?: boolean;
  stats(): Record<string, number>;
}

export const DEFAULT_HOST_IP = '169.254.10.1/16';
export const DEFAULT_GUEST_IP = '169.254.10.2/16';

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

let seq = 0;

/** A TAP whose host side lives in a network namespace of its own, with a link-local address. */
export function netnsBackend(sys: NativeSys, hostIp = DEFAULT_HOST_IP, nsName?: string): Backend {
  const n = seq++;
  const ns = nsName ?? `nicsim-${process.pid}-${n}`;
  const ifname = `ns${process.pid % 100000}t${n}`.slice(0, 15);
  ip(['netns', 'add', ns]);
  let tap: TapBackend;
  try {
    tap = TapBackend.open(ifname, { sys });
    ip(['link', 'set', ifname, 'netns', ns]);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    ip(['-n', ns, 'addr', 'add', hostIp, 'dev', ifname]);
    ip(['-n', ns, 'link', 'set', ifname, 'up']);
  } catch (e) {
    try {
      ip(['netns', 'del', ns]);
    } catch {
      /* best effort */
    }
    throw e;
  }
  return {
    description: `tap ${ifname} in netns ${ns} (${hostIp})`,
    netns: { name: ns, ifname, hostIp },
    attach: (ep, o) => honorPause(tap.attach(ep), tap, { clock: o?.scheduler }),
    close: () => {
      tap.close();
      try {
        ip(['netns', 'del', ns]);
      } catch {
        /* already gone */
      }
    },
    stats: () => ({ ...tap.stats }),
  };
}

/** An existing (or new, persistent until closed) TAP by name, left for the user to configure. */
export function tapBackend(sys: NativeSys, name: string): Backend {
  const tap = TapBackend.open(name, { sys });
  return { description: `tap ${tap.name}`, attach: (ep, o) => honorPause(tap.attach(ep), tap, { clock: o?.scheduler }), close: () => tap.close(), stats: () => ({ ...tap.stats }) };
}

/** Carrier up, frames counted and dropped. */
export function noneBackend(): Backend {
  const st = { txFrames: 0, txBytes: 0 };
  return {
    description: 'none (frames are dropped)',
    attach: (ep) => {
      ep.setCarrier(true);
      const port: WirePort = {
        stats: { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0 },
        send: (f) => {
          st.txFrames++;
          st.txBytes += f.length;
          port.stats.txFrames++;
          port.stats.txBytes += f.length;
        },
        detach: () => ep.setCarrier(false),
      };
      return port;
    },
    close: () => {},
    stats: () => ({ ...st }),
  };
}

/** Every frame the NIC sends comes back to it. */
export function loopbackBackend(): Backend {
  const w = createLoopback();
  let port: WirePort | null = null;
  return {
    description: 'loopback',
    attach: (ep) => (port = w.attach(0, ep)),
    close: () => port?.detach(),
    stats: () => ({ ...(port?.stats ?? {}) }),
  };
}

/** A port of the process's built-in switch. */
export function switchBackend(sw: EthernetSwitch, description = 'built-in switch'): Backend {
  return {
    description,
    attach: (ep, o) => sw.attach(ep, { scheduler: o?.scheduler, name: o?.name }),
    close: () => {},
    stats: () => ({ ...sw.stats }),
  };
}

/** The backend specs, for help texts and errors. */
export const BACKEND_FORMS = 'passt, netns[:ADDR/PREFIX], tap:NAME, stream-listen:HOST:PORT|unix:PATH, stream-connect:HOST:PORT|unix:PATH[,reconnect=MS], dgram:LHOST:LPORT:RHOST:RPORT, dgram-mcast:GROUP:PORT, none, loopback';

/** Parses --backend: netns[:HOSTIP/PREFIX], tap:NAME, none, loopback. */
export function makeBackend(spec: string, sys: NativeSys): Backend {
  const [kind, arg] = spec.split(/:(.*)/s, 2) as [string, string | undefined];
  switch (kind) {
    case 'netns':
      return netnsBackend(sys, arg || DEFAULT_HOST_IP);
    case 'tap':
      if (!arg) throw new Error('--backend tap:NAME needs an interface name');
      return tapBackend(sys, arg);
    case 'none':
      return noneBackend();
    case 'loopback':
      return loopbackBackend();
    default:
      if (kind === 'passt' || kind.startsWith('stream-') || kind.startsWith('dgram')) throw new Error(`backend '${spec}' opens asynchronously: use openBackend (or ServedNic.start)`);
      throw new Error(`unknown backend '${spec}' (${BACKEND_FORMS})`);
  }
}

/** Where openBackend may put sockets and what it tells the user. */
export interface OpenBackendOptions {
  workDir?: string;
  log?: (line: string) => void;
  trace?: TraceSink;
}

/** A QEMU stream/dgram socket as a backend (see wire/socket.ts for the spec syntax). */
export async function socketBackend(spec: string, o: OpenBackendOptions = {}): Promise<Backend> {
  const sb = await SocketBackend.open(spec, { log: o.log, trace: o.trace });
  return {
    description: sb.description,
    attach: (ep, o) => honorPause(sb.attach(ep), sb, { clock: o?.scheduler }),
    close: () => void sb.close(),
    stats: () => ({ ...sb.stats }),
  };
}

/**
 * Every backend, the ones that wait included: netns[:ADDR/PREFIX], tap:NAME, none, loopback,
 * passt, stream-listen:..., stream-connect:..., dgram:..., dgram-mcast:....
 */
export async function openBackend(spec: string, sys: NativeSys, o: OpenBackendOptions = {}): Promise<Backend> {
  const kind = spec.split(':', 1)[0]!;
  if (kind === 'passt' || kind.startsWith('passt,')) {
    const { passtBackend } = await import('./passt.js');
    return passtBackend(spec, o);
  }
  if (kind.startsWith('stream-') || kind === 'dgram' || kind === 'dgram-mcast') return socketBackend(spec, o);
  return makeBackend(spec, sys);
}

/** The default: a namespace with a TAP when we may create them (root), else nowhere. */
export function defaultBackendSpec(): string {
  return process.getuid?.() === 0 ? 'netns' : 'none';
}
