// Runs tools from the provisioned guest-tools root (busybox ping, socat) on the host, through that root's own loader.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCacheDir } from './guest/provision.js';

/**
 * The argv prefix that runs `tool` (a path under the guest-tools root, e.g. 'usr/bin/busybox')
 * on this host. The root's libc may be newer than the host's, so its loader runs it.
 */
export function hostToolArgv(tool: string, cacheDir = defaultCacheDir()): string[] {
  const root = join(cacheDir, 'guest-tools', 'root');
  const libs = join(root, 'usr', 'lib', 'x86_64-linux-gnu');
  const loader = join(libs, 'ld-linux-x86-64.so.2');
  const bin = join(root, tool);
  if (!existsSync(loader) || !existsSync(bin)) throw new Error(`${bin} is not provisioned: run \`npx nicsim setup\``);
  return [loader, '--library-path', libs, bin];
}

/** `ping` for the host side of tests and demos (busybox's, which the host may lack). */
export function hostPingArgv(cacheDir?: string): string[] {
  return [...hostToolArgv('usr/bin/busybox', cacheDir), 'ping'];
}
