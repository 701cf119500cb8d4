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
  };
}
