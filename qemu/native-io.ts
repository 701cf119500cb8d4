// Adapts the native addon to what the vfio-user session needs: mmap of DMA windows, eventfd signals, fd closing.

import type { NativeSys } from './native/index.js';
import type { SessionIo } from './session.js';

/** SessionIo over the real syscalls. */
export function nativeSessionIo(sys: NativeSys): SessionIo {
  return {
    map: (fd, offset, size, writable) => sys.mmap(fd, offset, size, writable ? 'rw' : 'r'),
    unmap: (mem) => {
      sys.munmap(mem);
    },
    closeFd: (fd) => {
      sys.close(fd);
    },
    signal: (fd) => {
      sys.eventfdWrite(fd, 1);
    },
    wakeTimer: (onFire) => {
      const fd = sys.timerfdCreate();
      if (fd < 0) return null;
      const h = sys.poll(fd, 'r', () => {
        sys.timerfdRead(fd); // clears the expiry: the fd stops being readable
        onFire();
      });
      return {
        set: (ns, intervalNs) => void sys.timerfdSet(fd, ns > 0 ? Math.max(1, Math.ceil(ns)) : 0, Math.max(0, Math.ceil(intervalNs))),
        close: () => {
          h.close();
          sys.close(fd);
        },
      };
    },
  };
}
