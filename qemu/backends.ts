// Where a served NIC's frames go: a TAP in a private network namespace, a named TAP, nowhere, or back to itself.

import { execFileSync } from 'node:child_process';
import { TapBackend } from '../wire/tap.js';
import { createLoopback, type WireEndpoint, type WirePort } from '../wire/wire.js';
import type { NativeSys } from './native/index.js';

/** A backend the server plugs its NIC into. */
export interface Backend {
  readonly description: string;
  attach(ep: WireEndpoint): WirePort;
  close(): void;
  /** For netns: the namespace, host-side interface and address, so callers can run host tools there. */
  readonly netns?: { name: string; ifname: string; hostIp: string };
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
    attach: (ep) => tap.attach(ep),
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
  return { description: `tap ${tap.name}`, attach: (ep) => tap.attach(ep), close: () => tap.close(), stats: () => ({ ...tap.stats }) };
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
      throw new Error(`unknown backend '${spec}' (netns[:ADDR/PREFIX], tap:NAME, none, loopback)`);
  }
}

/** The default: a namespace with a TAP when we may create them (root), else nowhere. */
export function defaultBackendSpec(): string {
  return process.getuid?.() === 0 ? 'netns' : 'none';
}
