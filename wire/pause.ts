// 802.3x PAUSE toward a backend: the link partner of a served NIC honours the NIC's XOFF/XON by not reading its host side.

import type { WirePort, WireScheduler } from './wire.js';
import type { GsoRequest } from '../device/host.js';
import { ETH_P_MAC_CONTROL, MAC_CONTROL_PAUSE, PAUSE_QUANTUM_BITS } from '../device/e1000e/defs.js';

/**
 * The pause time of a PAUSE frame, in quanta of 512 bit times (0 = XON), or -1 when `f` is
 * not one. 802.3x frames are link-local: a switch port consumes them, never forwards them.
 */
export function pauseQuanta(f: Uint8Array): number {
  if (f.length < 18) return -1;
  if (((f[12]! << 8) | f[13]!) !== ETH_P_MAC_CONTROL || ((f[14]! << 8) | f[15]!) !== MAC_CONTROL_PAUSE) return -1;
  return (f[16]! << 8) | f[17]!;
}

/** What a backend does while paused: stop reading its host side (the host queues or drops). */
export interface PausableReader {
  setReadPaused(paused: boolean): void;
}

export interface HonorPauseOptions {
  /** Link rate the pause quanta are counted at (default 1000 Mbit/s). */
  linkMbps?: number;
  /**
   * The NIC's own clock (the served device's), so that the pause runs out in the time base of
   * the NIC's refresh: a NIC that refreshes XOFF at half the pause time always does so before
   * its partner resumes, however late the server gets to run. Without one, Node's timers.
   */
  clock?: WireScheduler;
}

/** PAUSE frames a backend port honoured. */
export interface PauseStats {
  xoff: number;
  xon: number;
  /** Pauses that ended by their time running out (not by XON). */
  timeouts: number;
  /** Wall milliseconds the backend spent not reading. */
  pausedMs: number;
}

/**
 * Wraps the port a NIC sends through toward a real backend (TAP, socket, passt): PAUSE frames
 * from the NIC stop the backend's reads for their pause time (wall clock, at `linkMbps`), XON
 * resumes at once; other frames pass. The backend's kernel queue then fills and drops, as a
 * real switch port's would.
 */
export function honorPause(port: WirePort, reader: PausableReader, o: HonorPauseOptions = {}): WirePort & { readonly pause: PauseStats } {
  const linkMbps = o.linkMbps ?? 1000;
  const clock = o.clock;
  const pause: PauseStats = { xoff: 0, xon: 0, timeouts: 0, pausedMs: 0 };
  let timer: NodeJS.Timeout | null = null;
  /** Bumped by every XOFF and XON: a pause-time expiry from an earlier one does nothing. */
  let gen = 0;
  let since = 0;
  const resume = (): void => {
    gen++;
    if (timer) clearTimeout(timer);
    timer = null;
    if (since) {
      pause.pausedMs += performance.now() - since;
      since = 0;
      reader.setReadPaused(false);
    }
  };
  return {
    pause,
    get stats() {
      return port.stats;
    },
    ...(port.sendGso ? { sendGso: (p: Uint8Array, g: GsoRequest) => port.sendGso!(p, g) } : {}),
    send(frame: Uint8Array): void {
      const q = pauseQuanta(frame);
      if (q < 0) {
        port.send(frame);
        return;
      }
      if (q === 0) {
        pause.xon++;
        resume();
        return;
      }
      pause.xoff++;
      if (timer) clearTimeout(timer);
      timer = null;
      if (!since) {
        since = performance.now();
        reader.setReadPaused(true);
      }
      const mine = ++gen;
      const expire = (): void => {
        if (mine !== gen) return; // refreshed or released since
        pause.timeouts++;
        resume();
      };
      const ns = (q * PAUSE_QUANTUM_BITS * 1000) / linkMbps;
      if (clock) clock.schedule(Math.ceil(ns), expire);
      else {
        timer = setTimeout(expire, Math.max(1, Math.ceil(ns / 1e6)));
        timer.unref?.();
      }
    },
    detach(): void {
      resume();
      port.detach();
    },
  };
}
