// Bugs the protocol fuzzer found in qemu/. KNOWN_FINDINGS lists the unfixed ones (their oracles are
// suppressed in the smoke tests only); FIXED_FINDINGS the fixed ones, whose saved inputs the tests
// replay as regression tests (they must replay clean).

export interface KnownFinding {
  /** The oracle(s) the bug breaks first. */
  oracles: string[];
  level: 'session' | 'socket';
  /** Saved, minimized input(s), relative to fuzz/corpus/protocol/. */
  files: string[];
  where: string;
  description: string;
}

export const FIXED_FINDINGS: KnownFinding[] = [
  {
    oracles: ['handled-after-close', 'closed-fd-use'],
    level: 'socket',
    files: ['findings/protocol-finding-handled-after-close.json', 'findings/protocol-finding-closed-fd-use.json'],
    where: 'qemu/server.ts Connection.drain() / send()',
    description:
      'A client that writes several requests and closes its socket before reading the replies (a crash, a kill) makes the ' +
      "server's first reply fail with EPIPE. send() then calls close(): the socket fd and the queued fds are closed and " +
      'onClose runs VfioUserDevice.disconnect() (DMA windows and eventfds dropped, negotiation forgotten, device reset). ' +
      "But drain() does not check `closed` and goes on handing the rest of the buffer to dev.handle(), so those messages act on the " +
      'device after the reset and their effects outlive the client: posted BAR writes change the freshly reset device (IMS=0x1f ' +
      'seen by the next client), a VERSION leaves versionDone set so the next client\'s VERSION is refused with EINVAL (QEMU ' +
      'fails to attach), DMA_MAPs leave (fd-less) windows that make the next client\'s DMA_MAP fail with EEXIST, and each ' +
      'further reply is sendmsg()ed on the closed fd number. Fix: stop the drain loop once the connection is closed.',
  },
  {
    oracles: ['fd-leak-size-mismatch'],
    level: 'session',
    files: ['findings/protocol-finding-fd-leak-size-mismatch.json'],
    where: 'qemu/session.ts VfioUserDevice.dispatch()',
    description:
      'For DMA_MAP and DEVICE_SET_IRQS (the commands that take fds), a header size that disagrees with the message length returns ' +
      'EINVAL without closing the fds that came with it, against handle()\'s contract ("every fd is either kept or closed"). ' +
      "Not reachable through VfioUserServer (it frames by the header's size, so they always agree); reachable by any other caller " +
      'of handle(). Fix: close the fds before returning, as the negotiation check does.',
  },
  {
    oracles: ['version-reply-longer'],
    level: 'session',
    files: ['findings/protocol-finding-version-reply-longer.json'],
    where: 'qemu/session.ts VfioUserDevice.version()',
    description:
      'A VERSION request with a 4-6 byte payload (major 0, minor, little or no JSON) is answered with 7 bytes (major, minor, "{}" ' +
      'and NUL), although the reply may not be longer than the request (QEMU reads the reply into the request\'s buffer; the code ' +
      'says so): the candidate loop keeps the last candidate even when it does not fit. Fix: answer major/minor alone (4 bytes) ' +
      'when even "{}" does not fit. QEMU itself always sends a long capabilities string, so low severity.',
  },
];

/** Unfixed findings: none at the moment. */
export const KNOWN_FINDINGS: KnownFinding[] = [];

/** Every oracle a known finding breaks (what the smoke tests suppress). */
export const KNOWN_ORACLES: string[] = KNOWN_FINDINGS.flatMap((k) => k.oracles);
