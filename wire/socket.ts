// QEMU socket netdev wires: `-netdev stream` (u32 big-endian length + frame on TCP/UNIX) and `-netdev dgram` (one frame per UDP datagram).
/**
 * A `SocketBackend` is the far end of a NIC's cable made of a socket that a stock QEMU (or
 * passt, or another nicsim) holds the other end of.
 *
 * CLI spec syntax (`parseSocketSpec`), and the QEMU `-netdev` each one faces:
 *
 * - `stream-listen:HOST:PORT` — we listen on TCP; faces
 *   `-netdev stream,id=n0,server=off,addr.type=inet,addr.host=HOST,addr.port=PORT[,reconnect-ms=MS]`
 *   (or the legacy `-netdev socket,id=n0,connect=HOST:PORT`).
 * - `stream-listen:unix:PATH` — we listen on a UNIX socket; faces
 *   `-netdev stream,id=n0,server=off,addr.type=unix,addr.path=PATH`.
 * - `stream-connect:HOST:PORT[,reconnect=MS]` — we connect over TCP; faces
 *   `-netdev stream,id=n0,server=on,addr.type=inet,addr.host=HOST,addr.port=PORT`
 *   (or the legacy `-netdev socket,id=n0,listen=HOST:PORT`).
 * - `stream-connect:unix:PATH[,reconnect=MS]` — we connect to a UNIX socket; faces
 *   `-netdev stream,id=n0,server=on,addr.type=unix,addr.path=PATH`, and passt
 *   (`passt --socket PATH`, which is what QEMU's `server=off,addr.type=unix` would use).
 *   `reconnect-ms=MS` is accepted as a synonym of `reconnect=MS` (QEMU's name).
 * - `dgram:LOCALHOST:LPORT:REMOTEHOST:RPORT` — UDP unicast, bound to LOCAL, sending to REMOTE;
 *   faces `-netdev dgram,id=n0,local.type=inet,local.host=REMOTEHOST,local.port=RPORT,`
 *   `remote.type=inet,remote.host=LOCALHOST,remote.port=LPORT` (its local is our remote).
 * - `dgram-mcast:GROUP:PORT[,localaddr=ADDR]` — IPv4 multicast; faces
 *   `-netdev dgram,id=n0,remote.type=inet,remote.host=GROUP,remote.port=PORT[,local.type=inet,local.host=ADDR]`
 *   (or the legacy `-netdev socket,id=n0,mcast=GROUP:PORT[,localaddr=ADDR]`).
 *
 * HOST may be a name, an IPv4 address or a bracketed IPv6 address (`[::1]:5555`). Port 0 is
 * allowed where we bind (listen, dgram local) and means "any free port" (see `localAddress`).
 *
 * Behaviour checked against QEMU's net/stream.c, net/stream_data.c, net/dgram.c and
 * net_fill_rstate() in net/net.c:
 * - Stream framing is `htonl(len)` then `len` bytes, no vnet header. QEMU drops the connection
 *   when a length exceeds NET_BUFSIZE (4096 + 65536 = 69632, our default `maxFrame`); we do
 *   the same, and also treat a length of 0 as a protocol error (QEMU would hand an empty
 *   packet to its NIC). Records shorter than an Ethernet header (1..13 bytes) are dropped and
 *   counted, the connection stays up.
 * - A QEMU server accepts one client at a time and leaves later ones in the listen backlog
 *   until the current one goes; we accept them paused and queue up to `maxPending`, so the
 *   next peer takes over when the current one disconnects. Link is down while no peer is
 *   connected, up while one is.
 * - A QEMU client with reconnect-ms retries that often after a failed connect or a disconnect;
 *   without it the link stays down forever. Our client does the same, except that `open()`
 *   without `reconnectMs` rejects when the first connect fails (a CLI should say so at once).
 * - QEMU's unicast dgram binds `local` and uses sendto(remote) on an unconnected socket, so it
 *   accepts datagrams from any source; we do the same. QEMU sets SO_REUSEADDR there; we do not,
 *   so two backends on one port fail loudly instead of splitting the traffic.
 * - QEMU's multicast socket binds GROUP:PORT with SO_REUSEADDR, joins the group and turns
 *   IP_MULTICAST_LOOP on; it does not filter its own frames (its NIC sees them echoed). Since
 *   every member on one host binds the same GROUP:PORT, a source-address check on that socket
 *   could not tell us from a neighbour. So we receive on a GROUP:PORT socket and send from a
 *   second socket on an ephemeral port: a datagram from that port and a local address is our
 *   own echo and is dropped.
 * - QEMU's dgram receive buffer is NET_BUFSIZE; we drop (and count) datagrams longer than
 *   `maxFrame` or shorter than 14 bytes.
 * Not supported: UNIX datagram sockets (node:dgram has none), fd passing, vnet headers.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { networkInterfaces } from 'node:os';
import type { TraceSink } from '../device/trace.js';
import type { WireEndpoint, WirePort } from './wire.js';

/** A TCP/UDP address. */
export interface InetAddr {
  type: 'inet';
  host: string;
  port: number;
}

/** A UNIX-domain socket path. */
export interface UnixAddr {
  type: 'unix';
  path: string;
}

export type StreamAddr = InetAddr | UnixAddr;

/** A host and port without a type tag (dgram endpoints are always inet). */
export interface HostPort {
  host: string;
  port: number;
}

/** Which socket protocol and which end of it we are. */
export type SocketSpec =
  | { kind: 'stream'; mode: 'listen' | 'connect'; addr: StreamAddr; reconnectMs?: number }
  | { kind: 'dgram'; local: HostPort; remote: HostPort }
  | { kind: 'dgram'; mcast: HostPort; localAddr?: string };

/** Counters, NIC's point of view: tx = NIC to socket, rx = socket to NIC. */
export interface SocketStats {
  txFrames: number;
  txBytes: number;
  rxFrames: number;
  rxBytes: number;
  /**
   * Frames lost for want of a place to go: the NIC sent with no peer connected, the socket's
   * write buffer was over the high-water mark, a write failed, a frame was too long or empty
   * to encode; or one arrived with no endpoint attached.
   */
  drops: number;
  /** Malformed input: a stream length of 0 or above maxFrame (connection dropped), a record or datagram too short or too long. */
  protocolErrors: number;
  /** Stream peers that became the active connection (accepted or connected), over the backend's life. */
  connections: number;
  /** Datagrams dropped while the NIC had paused its link partner (802.3x XOFF). */
  pausedDrops: number;
}

/** Options for SocketBackend.open. */
export interface SocketOptions {
  /** Largest frame accepted or sent (default 69632, QEMU's NET_BUFSIZE). */
  maxFrame?: number;
  /** Stream: bytes queued in the socket beyond which new frames are dropped (default 1 MiB). Dgram: bytes of sends in flight. */
  highWater?: number;
  /** Stream listen: connections held (paused) while a peer is active; more are refused (default 8). */
  maxPending?: number;
  /** Trace points `wire_stream_*`, `wire_dgram_*`, `wire_socket_*`. */
  trace?: TraceSink;
  /** Told about socket and protocol errors. The backend carries on (listening, reconnecting). */
  onError?: (err: Error) => void;
  /** Told about lifecycle events (peer connected, disconnected), one line each. */
  log?: (msg: string) => void;
}

/** QEMU's NET_BUFSIZE: 64 KiB GSO packet plus room for headers. */
export const DEFAULT_MAX_FRAME = 4096 + 65536;
export const DEFAULT_HIGH_WATER = 1 << 20;
const DEFAULT_MAX_PENDING = 8;
const ETH_HLEN = 14;

const FORMS =
  'stream-listen:HOST:PORT, stream-listen:unix:PATH, stream-connect:HOST:PORT[,reconnect=MS], ' +
  'stream-connect:unix:PATH[,reconnect=MS], dgram:LOCALHOST:LPORT:REMOTEHOST:RPORT, ' +
  'dgram-mcast:GROUP:PORT[,localaddr=ADDR]';

function specError(s: string, why: string): Error {
  return new Error(`bad socket spec '${s}': ${why} (accepted: ${FORMS})`);
}

/** Parses `HOST:PORT[:HOST:PORT...]` with bracketed IPv6 hosts; exactly `n` pairs. */
function parseHostPorts(s: string, text: string, n: number): HostPort[] {
  const out: HostPort[] = [];
  let i = 0;
  for (let k = 0; k < n; k++) {
    let host: string;
    if (text[i] === '[') {
      const end = text.indexOf(']', i);
      if (end < 0) throw specError(s, `unclosed '[' in '${text}'`);
      host = text.slice(i + 1, end);
      i = end + 1;
    } else {
      const end = text.indexOf(':', i);
      if (end < 0) throw specError(s, `expected HOST:PORT in '${text}'`);
      host = text.slice(i, end);
      i = end;
    }
    if (!host) throw specError(s, 'empty host');
    if (text[i] !== ':') throw specError(s, `expected ':' after host '${host}'`);
    i++;
    const end = k === n - 1 ? text.length : text.indexOf(':', i);
    if (end < 0) throw specError(s, `expected ${n} HOST:PORT pairs in '${text}'`);
    const portText = text.slice(i, end);
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw specError(s, `bad port '${portText}'`);
    out.push({ host, port: Number(portText) });
    i = end + 1;
  }
  return out;
}

/** Splits trailing `,key=value` options off; unknown keys are an error. */
function splitOptions(s: string, text: string, allowed: string[]): [string, Map<string, string>] {
  const opts = new Map<string, string>();
  let body = text;
  for (;;) {
    const m = /,([a-z-]+)=([^,]*)$/.exec(body);
    if (!m) break;
    if (!allowed.includes(m[1]!)) throw specError(s, `unknown option '${m[1]}'`);
    opts.set(m[1]!, m[2]!);
    body = body.slice(0, m.index);
  }
  return [body, opts];
}

function isIpv4Multicast(host: string): boolean {
  if (net.isIPv4(host)) {
    const first = Number(host.split('.')[0]);
    return first >= 224 && first <= 239;
  }
  return false;
}

/** Parses the CLI syntax described in this module's doc comment. Throws naming the accepted forms. */
export function parseSocketSpec(s: string): SocketSpec {
  const colon = s.indexOf(':');
  const kind = colon < 0 ? s : s.slice(0, colon);
  const rest = colon < 0 ? '' : s.slice(colon + 1);
  switch (kind) {
    case 'stream-listen':
    case 'stream-connect': {
      const mode = kind === 'stream-listen' ? 'listen' : 'connect';
      const [body, opts] = splitOptions(s, rest, mode === 'connect' ? ['reconnect', 'reconnect-ms'] : []);
      let addr: StreamAddr;
      if (body.startsWith('unix:')) {
        const path = body.slice(5);
        if (!path) throw specError(s, 'empty UNIX socket path');
        addr = { type: 'unix', path };
      } else {
        const [hp] = parseHostPorts(s, body, 1);
        if (mode === 'connect' && hp!.port === 0) throw specError(s, 'cannot connect to port 0');
        addr = { type: 'inet', ...hp! };
      }
      const spec: SocketSpec = { kind: 'stream', mode, addr };
      const r = opts.get('reconnect') ?? opts.get('reconnect-ms');
      if (opts.has('reconnect') && opts.has('reconnect-ms')) throw specError(s, "'reconnect' and 'reconnect-ms' are the same option");
      if (r !== undefined) {
        if (!/^\d+$/.test(r)) throw specError(s, `bad reconnect interval '${r}' (milliseconds)`);
        const ms = Number(r);
        if (ms > 0) spec.reconnectMs = ms;
      }
      return spec;
    }
    case 'dgram': {
      const [local, remote] = parseHostPorts(s, rest, 2);
      if (remote!.port === 0) throw specError(s, 'cannot send to port 0');
      if (isIpv4Multicast(remote!.host)) throw specError(s, `${remote!.host} is a multicast group: use dgram-mcast:GROUP:PORT`);
      return { kind: 'dgram', local: local!, remote: remote! };
    }
    case 'dgram-mcast': {
      const [body, opts] = splitOptions(s, rest, ['localaddr']);
      const [g] = parseHostPorts(s, body, 1);
      if (!isIpv4Multicast(g!.host)) throw specError(s, `'${g!.host}' is not an IPv4 multicast address (224.0.0.0/4)`);
      if (g!.port === 0) throw specError(s, 'a multicast group needs a port');
      const localAddr = opts.get('localaddr');
      if (localAddr !== undefined && !net.isIPv4(localAddr)) throw specError(s, `localaddr '${localAddr}' is not an IPv4 address`);
      return localAddr ? { kind: 'dgram', mcast: g!, localAddr } : { kind: 'dgram', mcast: g! };
    }
    default:
      throw specError(s, `unknown kind '${kind}'`);
  }
}

/** Formats a spec back to the CLI syntax (for descriptions and logs). */
export function formatSocketSpec(spec: SocketSpec): string {
  const hp = (h: HostPort) => `${h.host.includes(':') ? `[${h.host}]` : h.host}:${h.port}`;
  if (spec.kind === 'stream') {
    const a = spec.addr.type === 'unix' ? `unix:${spec.addr.path}` : hp(spec.addr);
    return `stream-${spec.mode}:${a}${spec.reconnectMs ? `,reconnect=${spec.reconnectMs}` : ''}`;
  }
  if ('mcast' in spec) return `dgram-mcast:${hp(spec.mcast)}${spec.localAddr ? `,localaddr=${spec.localAddr}` : ''}`;
  return `dgram:${hp(spec.local)}:${hp(spec.remote)}`;
}

/**
 * Reassembles length-prefixed frames from a byte stream cut at arbitrary points (QEMU's
 * net_fill_rstate without the vnet header state). Each frame is a fresh copy.
 */
export class StreamDeframer {
  private readonly hdr = new Uint8Array(4);
  private hdrFill = 0;
  /** Bytes of the last chunk that push() consumed (all of it unless onFrame stopped it). */
  consumed = 0;
  private frame: Uint8Array | null = null;
  private frameFill = 0;

  constructor(private readonly maxFrame: number = DEFAULT_MAX_FRAME) {}

  /** Bytes of a frame or header received so far but not yet complete. */
  get partial(): number {
    return this.frame ? 4 + this.frameFill : this.hdrFill;
  }

  /**
   * Feeds a chunk. `onFrame` is called per complete frame; returning false stops (the
   * connection went away under it). Returns the offending length when a header says 0 or
   * more than maxFrame (the rest of the chunk is ignored; reset() before reuse), else undefined.
   */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => boolean | void): number | undefined {
    let off = 0;
    this.consumed = 0;
    while (off < chunk.length) {
      if (!this.frame) {
        const take = Math.min(4 - this.hdrFill, chunk.length - off);
        this.hdr.set(chunk.subarray(off, off + take), this.hdrFill);
        this.hdrFill += take;
        off += take;
        if (this.hdrFill < 4) break;
        this.hdrFill = 0;
        const len = ((this.hdr[0]! << 24) | (this.hdr[1]! << 16) | (this.hdr[2]! << 8) | this.hdr[3]!) >>> 0;
        if (len === 0 || len > this.maxFrame) return len;
        this.frame = new Uint8Array(len);
        this.frameFill = 0;
      }
      const f = this.frame;
      const take = Math.min(f.length - this.frameFill, chunk.length - off);
      f.set(chunk.subarray(off, off + take), this.frameFill);
      this.frameFill += take;
      off += take;
      if (this.frameFill === f.length) {
        this.frame = null;
        if (onFrame(f) === false) {
          this.consumed = off;
          return undefined;
        }
      }
    }
    this.consumed = off;
    return undefined;
  }

  /** Forgets any partial frame (new connection). */
  reset(): void {
    this.hdrFill = 0;
    this.frame = null;
    this.frameFill = 0;
  }
}

/** Encodes one frame as a stream record: u32 big-endian length, then the bytes. */
export function encodeStreamFrame(frame: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(4 + frame.length);
  b.writeUInt32BE(frame.length, 0);
  b.set(frame, 4);
  return b;
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function localIpv4Addresses(): Set<string> {
  const out = new Set<string>(['127.0.0.1']);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4') out.add(a.address);
  return out;
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

/** A QEMU stream or dgram socket as the far end of a NIC's cable. */
export class SocketBackend {
  readonly stats: SocketStats = {
    txFrames: 0,
    txBytes: 0,
    rxFrames: 0,
    rxBytes: 0,
    drops: 0,
    protocolErrors: 0,
    connections: 0,
    pausedDrops: 0,
  };
  readonly spec: SocketSpec;
  private readonly maxFrame: number;
  private readonly highWater: number;
  private readonly maxPending: number;
  private ep: WireEndpoint | null = null;
  private closed = false;
  // stream
  private server: net.Server | null = null;
  private conn: net.Socket | null = null;
  private connecting: net.Socket | null = null;
  private readonly pending: net.Socket[] = [];
  private readonly deframer: StreamDeframer;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private waiters: Waiter[] = [];
  // dgram
  private rxSock: dgram.Socket | null = null;
  private txSock: dgram.Socket | null = null;
  private dest: HostPort | null = null;
  private inflightBytes = 0;
  private ownPort = -1;
  private localAddrs: Set<string> | null = null;

  private constructor(
    spec: SocketSpec,
    private readonly opts: SocketOptions,
  ) {
    this.spec = spec;
    this.maxFrame = opts.maxFrame ?? DEFAULT_MAX_FRAME;
    this.highWater = opts.highWater ?? DEFAULT_HIGH_WATER;
    this.maxPending = opts.maxPending ?? DEFAULT_MAX_PENDING;
    this.deframer = new StreamDeframer(this.maxFrame);
  }

  /**
   * Opens the socket(s): listening (resolves once bound), connecting (resolves once connected;
   * with reconnectMs, at once, retrying in the background), or bound for dgram.
   */
  static async open(spec: SocketSpec | string, opts: SocketOptions = {}): Promise<SocketBackend> {
    const s = typeof spec === 'string' ? parseSocketSpec(spec) : spec;
    const b = new SocketBackend(s, opts);
    try {
      if (s.kind === 'stream') {
        if (s.mode === 'listen') await b.listen(s.addr);
        else await b.startConnect(s.addr, s.reconnectMs ?? 0);
      } else if ('mcast' in s) {
        await b.openMcast(s.mcast, s.localAddr);
      } else {
        await b.openUnicast(s.local, s.remote);
      }
    } catch (e) {
      await b.close();
      throw e;
    }
    return b;
  }

  /** One line naming the socket, with the bound address where we bound one. */
  get description(): string {
    const a = this.localAddress;
    const s = this.spec;
    if (s.kind === 'stream' && s.mode === 'listen' && a) {
      return `stream listening on ${a.type === 'unix' ? `unix:${a.path}` : `${a.host}:${a.port}`}`;
    }
    if (s.kind === 'stream') {
      const to = s.addr.type === 'unix' ? `unix:${s.addr.path}` : `${s.addr.host}:${s.addr.port}`;
      return `stream connecting to ${to}${s.reconnectMs ? ` (retrying every ${s.reconnectMs} ms)` : ''}`;
    }
    if ('mcast' in s) return `dgram multicast ${s.mcast.host}:${s.mcast.port}${s.localAddr ? ` via ${s.localAddr}` : ''}`;
    const local = a && a.type === 'inet' ? `${a.host}:${a.port}` : `${s.local.host}:${s.local.port}`;
    return `dgram ${local} -> ${s.remote.host}:${s.remote.port}`;
  }

  /**
   * Where we are bound: the listening address (the real port when 0 was asked for), the
   * dgram receive socket, or for a stream client the local end of the current connection.
   */
  get localAddress(): StreamAddr | null {
    const fromAddr = (a: string | net.AddressInfo | null): StreamAddr | null => {
      if (!a) return null;
      if (typeof a === 'string') return { type: 'unix', path: a };
      return { type: 'inet', host: a.address, port: a.port };
    };
    if (this.server) return fromAddr(this.server.address());
    if (this.rxSock) {
      try {
        return fromAddr(this.rxSock.address());
      } catch {
        return null;
      }
    }
    if (this.conn) {
      if (this.spec.kind === 'stream' && this.spec.addr.type === 'unix') return null;
      const { localAddress, localPort } = this.conn;
      return localAddress && localPort !== undefined ? { type: 'inet', host: localAddress, port: localPort } : null;
    }
    return null;
  }

  /** Carrier toward the NIC: a stream peer is connected, or the dgram socket is bound. */
  get carrier(): boolean {
    if (this.closed) return false;
    return this.spec.kind === 'stream' ? this.conn !== null : this.rxSock !== null;
  }

  /** Stream peers waiting (accepted, paused) behind the active one. */
  get pendingPeers(): number {
    return this.pending.length;
  }

  /** Resolves when a peer is connected (at once if one is); rejects on timeout or close(). */
  waitForPeer(timeoutMs?: number): Promise<void> {
    if (this.carrier) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error(`${this.description}: closed`));
    return new Promise((resolve, reject) => {
      const w: Waiter = { resolve, reject, timer: undefined };
      if (timeoutMs !== undefined) {
        w.timer = setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          reject(new Error(`${this.description}: no peer within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.waiters.push(w);
    });
  }

  /** Plugs a NIC in: frames from the socket go to ep.receiveFrame; the port sends into the socket. */
  attach(ep: WireEndpoint): WirePort {
    if (this.ep) throw new Error(`${this.description}: an endpoint is already attached`);
    if (this.closed) throw new Error(`${this.description}: closed`);
    this.ep = ep;
    ep.setCarrier(this.carrier);
    const self = this;
    let attached = true;
    return {
      send(frame: Uint8Array): void {
        if (attached) self.send(frame);
        else self.stats.drops++;
      },
      detach(): void {
        if (!attached) return;
        attached = false;
        if (self.ep === ep) {
          self.ep = null;
          ep.setCarrier(false);
        }
      },
      get stats() {
        return self.stats;
      },
    };
  }

  /** Sends one frame toward the peer; false (counted in drops) when it could not be queued. */
  send(frame: Uint8Array): boolean {
    if (frame.length === 0 || frame.length > this.maxFrame) return this.txDrop('bad_size', frame.length);
    if (this.spec.kind === 'stream') return this.sendStream(frame);
    return this.sendDgram(frame);
  }

  /** Closes every socket, stops reconnecting, drops carrier. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const waits: Promise<void>[] = [];
    for (const s of [this.conn, this.connecting, ...this.pending]) {
      if (!s) continue;
      if (!s.destroyed) waits.push(new Promise((r) => s.once('close', () => r())));
      s.destroy();
    }
    this.conn = null;
    this.connecting = null;
    this.pending.length = 0;
    const server = this.server;
    this.server = null;
    if (server) waits.push(new Promise((r) => server.close(() => r())));
    for (const sock of [this.rxSock, this.txSock]) {
      if (!sock) continue;
      waits.push(
        new Promise((r) => {
          try {
            sock.close(() => r());
          } catch {
            r(); // not bound yet or already closed
          }
        }),
      );
    }
    this.rxSock = null;
    this.txSock = null;
    for (const w of this.waiters) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(new Error(`${this.description}: closed`));
    }
    this.waiters = [];
    const ep = this.ep;
    this.ep = null;
    ep?.setCarrier(false);
    await Promise.all(waits);
  }

  // ---- common

  private trace(point: string, fields: Record<string, unknown>): void {
    const t = this.opts.trace;
    if (t && t.enabled(point)) t.emit(point, fields);
  }

  private report(err: Error): void {
    this.trace('wire_socket_error', { message: err.message });
    try {
      this.opts.onError?.(err);
    } catch {
      // a throwing callback must not take the socket callbacks down with it
    }
  }

  private log(msg: string): void {
    try {
      this.opts.log?.(msg);
    } catch {
      // as above
    }
  }

  private txDrop(reason: string, len: number): false {
    this.stats.drops++;
    this.trace('wire_socket_tx_drop', { reason, len });
    return false;
  }

  private deliver(frame: Uint8Array): void {
    const ep = this.ep;
    if (!ep) {
      this.stats.drops++;
      return;
    }
    this.stats.rxFrames++;
    this.stats.rxBytes += frame.length;
    ep.receiveFrame(frame);
  }

  private setCarrier(up: boolean): void {
    this.ep?.setCarrier(up);
    if (!up) return;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve();
    }
  }

  // ---- stream

  private listen(addr: StreamAddr): Promise<void> {
    if (addr.type === 'unix') {
      // QEMU unlinks a stale socket before binding; refuse to remove anything that is not one.
      let st;
      try {
        st = lstatSync(addr.path);
      } catch {
        st = null;
      }
      if (st) {
        if (!st.isSocket()) return Promise.reject(new Error(`${addr.path} exists and is not a socket`));
        unlinkSync(addr.path);
      }
    }
    const server = net.createServer({ pauseOnConnect: true });
    this.server = server;
    server.on('connection', (s) => this.onAccept(s));
    return new Promise((resolve, reject) => {
      const onListenError = (e: Error) => reject(e);
      server.once('error', onListenError);
      const ready = () => {
        server.off('error', onListenError);
        server.on('error', (e) => this.report(e));
        this.log(`${this.description}`);
        resolve();
      };
      if (addr.type === 'unix') server.listen(addr.path, ready);
      else server.listen(addr.port, addr.host, ready);
    });
  }

  private onAccept(s: net.Socket): void {
    s.on('error', (e) => {
      // Reported only for the active connection; a waiting one just goes.
      if (s === this.conn) this.report(new Error(`${this.description}: ${e.message}`));
    });
    if (this.closed) {
      s.destroy();
      return;
    }
    if (this.conn) {
      if (this.pending.length >= this.maxPending) {
        this.trace('wire_stream_reject', { pending: this.pending.length });
        s.destroy();
        return;
      }
      this.pending.push(s);
      s.once('close', () => {
        const i = this.pending.indexOf(s);
        if (i >= 0) this.pending.splice(i, 1);
      });
      return;
    }
    this.activate(s);
  }

  private startConnect(addr: StreamAddr, reconnectMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let first = true;
      const attempt = () => {
        this.reconnectTimer = null;
        if (this.closed) return;
        const s = addr.type === 'unix' ? net.connect({ path: addr.path }) : net.connect({ host: addr.host, port: addr.port });
        this.connecting = s;
        const onFail = (e: Error) => {
          if (this.connecting !== s) return;
          this.connecting = null;
          s.destroy();
          this.trace('wire_stream_connect_failed', { message: e.message });
          if (first) this.log(`${this.description}: ${e.message}${reconnectMs ? `, retrying every ${reconnectMs} ms` : ''}`);
          if (first && !reconnectMs) {
            first = false;
            reject(new Error(`${this.description}: ${e.message}`));
            return;
          }
          this.scheduleReconnect(attempt);
        };
        s.once('error', onFail);
        s.once('connect', () => {
          if (this.connecting !== s) return;
          this.connecting = null;
          s.off('error', onFail);
          s.on('error', (e) => {
            if (s === this.conn) this.report(new Error(`${this.description}: ${e.message}`));
          });
          // When this connection goes, try again (QEMU arms reconnect on disconnect too).
          s.once('close', () => {
            if (!this.closed && !this.reconnectTimer && !this.connecting) this.scheduleReconnect(attempt);
          });
          this.activate(s);
          if (first) {
            first = false;
            resolve();
          }
        });
      };
      attempt();
      if (reconnectMs) {
        first = false;
        resolve();
      }
    });
  }

  private scheduleReconnect(attempt: () => void): void {
    const spec = this.spec;
    const ms = spec.kind === 'stream' ? (spec.reconnectMs ?? 0) : 0;
    if (!ms || this.closed || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(attempt, ms);
  }

  /** Makes `s` the connection: carrier up, frames flow. */
  private activate(s: net.Socket): void {
    this.conn = s;
    this.deframer.reset();
    this.stats.connections++;
    if (s.remoteAddress !== undefined) s.setNoDelay(true); // QEMU disables Nagle too
    const peer = s.remoteAddress ? `${s.remoteAddress}:${s.remotePort}` : 'unix peer';
    this.trace('wire_stream_connected', { peer, connections: this.stats.connections });
    this.log(`${this.description}: ${peer} connected`);
    s.on('data', (chunk: Buffer) => this.onData(s, chunk));
    s.on('end', () => this.dropConnection(s, 'peer closed'));
    s.on('close', () => this.dropConnection(s, 'closed'));
    if (!this.readPaused) s.resume();
    this.setCarrier(true);
  }

  private onData(s: net.Socket, chunk: Uint8Array): void {
    if (this.conn !== s) return;
    if (this.readPaused) {
      // Read before the pause took hold: it waits behind what is already held.
      this.held = this.held ? concatBytes(this.held, chunk) : chunk;
      return;
    }
    const bad = this.deframer.push(chunk, (f) => {
      if (f.length < ETH_HLEN) {
        this.stats.protocolErrors++;
        this.trace('wire_stream_runt', { len: f.length });
      } else {
        this.deliver(f);
      }
      // A frame may make the NIC send XOFF: a partner that honours pause sends nothing more.
      return this.conn === s && !this.readPaused;
    });
    // Paused part-way through a chunk: the rest waits for XON or the pause to end.
    if (bad === undefined && this.conn === s && this.deframer.consumed < chunk.length) this.held = chunk.subarray(this.deframer.consumed);
    if (bad !== undefined) {
      this.stats.protocolErrors++;
      this.trace('wire_stream_bad_length', { len: bad, max: this.maxFrame });
      this.report(new Error(`${this.description}: frame length ${bad} outside 1..${this.maxFrame}, dropping the connection`));
      this.dropConnection(s, `bad length ${bad}`);
    }
  }

  /** Ends the active connection (idempotent): carrier down, next waiting peer or reconnect. */
  private dropConnection(s: net.Socket, why: string): void {
    if (this.conn !== s) return;
    this.conn = null;
    this.held = null;
    this.deframer.reset();
    s.destroy();
    this.trace('wire_stream_disconnected', { reason: why });
    if (!this.closed) this.log(`${this.description}: peer gone (${why})`);
    this.setCarrier(false);
    if (this.closed) return;
    const next = this.pending.shift();
    if (next) this.activate(next);
    // stream-connect: the 'close' listener set in startConnect arms the reconnect.
  }

  private sendStream(frame: Uint8Array): boolean {
    const s = this.conn;
    if (!s || !s.writable) return this.txDrop('no_peer', frame.length);
    const n = 4 + frame.length;
    // Bound memory: a NIC drops rather than queue without limit behind a slow peer.
    if (s.writableLength > 0 && s.writableLength + n > this.highWater) return this.txDrop('high_water', frame.length);
    s.write(encodeStreamFrame(frame));
    this.stats.txFrames++;
    this.stats.txBytes += frame.length;
    return true;
  }

  // ---- dgram

  private static udpType(host: string): 'udp4' | 'udp6' {
    return net.isIPv6(host) ? 'udp6' : 'udp4';
  }

  private bindUdp(sock: dgram.Socket, port: number, address: string | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const onErr = (e: Error) => reject(e);
      sock.once('error', onErr);
      sock.bind({ port, address, exclusive: true }, () => {
        sock.off('error', onErr);
        sock.on('error', (e) => this.report(new Error(`${this.description}: ${e.message}`)));
        resolve();
      });
    });
  }

  private async openUnicast(local: HostPort, remote: HostPort): Promise<void> {
    const sock = dgram.createSocket({ type: SocketBackend.udpType(local.host) });
    this.rxSock = sock;
    this.txSock = null;
    sock.on('message', (m, r) => this.onDatagram(m, r));
    await this.bindUdp(sock, local.port, local.host);
    this.dest = remote;
    this.setCarrier(true);
    this.log(this.description);
  }

  private async openMcast(group: HostPort, localAddr: string | undefined): Promise<void> {
    if (!isIpv4Multicast(group.host)) throw new Error(`${group.host} is not an IPv4 multicast address`);
    const rx = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    this.rxSock = rx;
    rx.on('message', (m, r) => this.onDatagram(m, r));
    await new Promise<void>((resolve, reject) => {
      rx.once('error', reject);
      rx.bind({ port: group.port, address: group.host }, () => {
        rx.off('error', reject);
        rx.on('error', (e) => this.report(new Error(`${this.description}: ${e.message}`)));
        resolve();
      });
    });
    rx.addMembership(group.host, localAddr);
    const tx = dgram.createSocket({ type: 'udp4' });
    this.txSock = tx;
    await this.bindUdp(tx, 0, localAddr);
    tx.setMulticastLoopback(true); // other members on this host (QEMUs, nicsims) must hear us
    if (localAddr) tx.setMulticastInterface(localAddr);
    this.ownPort = tx.address().port;
    this.localAddrs = localIpv4Addresses();
    if (localAddr) this.localAddrs.add(localAddr);
    this.dest = group;
    this.setCarrier(true);
    this.log(this.description);
  }

  private readPaused = false;
  /** Stream bytes read but not yet delivered because XOFF came part-way through their chunk. */
  private held: Uint8Array | null = null;

  /**
   * The NIC sent 802.3x XOFF: a stream peer is no longer read (its kernel buffer fills, then
   * TCP or the UNIX socket pushes back on the sender); a datagram that arrives is dropped and
   * counted, as a switch port without buffer space drops.
   */
  setReadPaused(paused: boolean): void {
    this.readPaused = paused;
    if (paused) {
      this.conn?.pause();
      return;
    }
    const held = this.held;
    this.held = null;
    if (held && this.conn) this.onData(this.conn, held);
    if (!this.readPaused) this.conn?.resume();
  }

  private onDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed) return;
    if (this.readPaused) {
      this.stats.pausedDrops++;
      return;
    }
    if (rinfo.port === this.ownPort && this.localAddrs?.has(rinfo.address)) {
      this.trace('wire_dgram_own_echo', { len: msg.length });
      return;
    }
    if (msg.length < ETH_HLEN || msg.length > this.maxFrame) {
      this.stats.protocolErrors++;
      this.trace('wire_dgram_bad_size', { len: msg.length, from: `${rinfo.address}:${rinfo.port}` });
      return;
    }
    this.deliver(new Uint8Array(msg));
  }

  private sendDgram(frame: Uint8Array): boolean {
    const sock = this.txSock ?? this.rxSock;
    const dest = this.dest;
    if (!sock || !dest || this.closed) return this.txDrop('closed', frame.length);
    if (this.inflightBytes > 0 && this.inflightBytes + frame.length > this.highWater) return this.txDrop('high_water', frame.length);
    const copy = Buffer.from(frame); // the NIC may reuse its buffer before the send completes
    this.inflightBytes += copy.length;
    try {
      sock.send(copy, dest.port, dest.host, (err) => {
        this.inflightBytes -= copy.length;
        if (err) {
          // Counted as sent when queued; a late failure is a drop as well.
          this.stats.drops++;
          this.trace('wire_socket_tx_drop', { reason: 'send_error', len: copy.length });
          this.report(new Error(`${this.description}: send: ${errMessage(err)}`));
        }
      });
    } catch (e) {
      this.inflightBytes -= copy.length;
      this.report(new Error(`${this.description}: send: ${errMessage(e)}`));
      return this.txDrop('send_error', frame.length);
    }
    this.stats.txFrames++;
    this.stats.txBytes += frame.length;
    return true;
  }
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const r = new Uint8Array(a.length + b.length);
  r.set(a);
  r.set(b, a.length);
  return r;
}
