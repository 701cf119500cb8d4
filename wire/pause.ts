// 802.3x PAUSE toward a backend: the link partner of a served NIC honours the NIC's XOFF/XON by not reading its host side.

import type { WirePort } from './wire.js';
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

/** PAUSE frames a backend port honoured. */
export interface PauseStats {
  xoff: number;
  xon: number;
  /** Wall milliseconds the backend spent not reading. */
  pausedMs: number;
}

/**
 * Wraps the port a NIC sends through toward a real backend (TAP, socket, passt): PAUSE frames
 * from the NIC stop the backend's reads for their pause time (wall clock, at `linkMbps`), XON
 * resumes at once; other frames pass. The backend's kernel queue then fills and drops, as a
 * real switch port's would.
 */
export function honorPause(port: WirePort, reader: PausableReader, linkMbps = 1000): WirePort & { readonly pause: PauseStats } {
  const pause: PauseStats = { xoff: 0, xon: 0, pausedMs: 0 };
  let timer: NodeJS.Timeout | null = null;
  let since = 0;
  const resume = (): void => {
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
      if (!since) {
        since = performance.now();
        reader.setReadPaused(true);
      }
      const ms = (q * PAUSE_QUANTUM_BITS) / (linkMbps * 1000);
      timer = setTimeout(resume, Math.max(1, Math.ceil(ms)));
      timer.unref?.();
    },
    detach(): void {
      resume();
      port.detach();
    },
  };
}
