// Builds vfio-user requests the way a client (QEMU) sends them: for protocol tests, fuzzing and benchmarks.

import * as P from './protocol.js';

let nextId = 1;

function req(cmd: number, payload: Uint8Array, flags = 0, msgId = nextId++ & 0xffff): Uint8Array {
  return P.buildMessage({ msgId, cmd, flags: P.FLAG_REQUEST | flags, error: 0 }, payload);
}

function words(n: number): { b: Uint8Array; v: DataView } {
  const b = new Uint8Array(n);
  return { b, v: new DataView(b.buffer) };
}

export function versionReq(caps: unknown = { capabilities: { max_msg_fds: 16, max_data_xfer_size: 1048576, pgsizes: 4096, max_dma_maps: 65535, migration: { pgsize: 4096, max_bitmap_size: 4194304 }, write_multiple: true } }, major = 0, minor = 0): Uint8Array {
  const js = Buffer.from(JSON.stringify(caps) + '\0', 'utf8');
  const { b, v } = words(4 + js.length);
  v.setUint16(0, major, true);
  v.setUint16(2, minor, true);
  b.set(js, 4);
  return req(P.Cmd.VERSION, b);
}

export function dmaMapReq(iova: number, size: number, offset: number, flags = P.DMA_FLAG_READ | P.DMA_FLAG_WRITE): Uint8Array {
  const { b, v } = words(P.DMA_MAP_SIZE);
  v.setUint32(0, P.DMA_MAP_SIZE, true);
  v.setUint32(4, flags, true);
  P.putU64(v, 8, offset);
  P.putU64(v, 16, iova);
  P.putU64(v, 24, size);
  return req(P.Cmd.DMA_MAP, b);
}

export function dmaUnmapReq(iova: number, size: number, flags = 0): Uint8Array {
  const { b, v } = words(P.DMA_UNMAP_SIZE);
  v.setUint32(0, P.DMA_UNMAP_SIZE, true);
  v.setUint32(4, flags, true);
  P.putU64(v, 8, iova);
  P.putU64(v, 16, size);
  return req(P.Cmd.DMA_UNMAP, b);
}

export function deviceInfoReq(argsz = P.DEVICE_INFO_SIZE): Uint8Array {
  const { b, v } = words(P.DEVICE_INFO_SIZE);
  v.setUint32(0, argsz, true);
  return req(P.Cmd.DEVICE_GET_INFO, b);
}

export function regionInfoReq(index: number, argsz = P.REGION_INFO_SIZE): Uint8Array {
  const { b, v } = words(P.REGION_INFO_SIZE);
  v.setUint32(0, argsz, true);
  v.setUint32(8, index, true);
  return req(P.Cmd.DEVICE_GET_REGION_INFO, b);
}

export function irqInfoReq(index: number, argsz = P.IRQ_INFO_SIZE): Uint8Array {
  const { b, v } = words(P.IRQ_INFO_SIZE);
  v.setUint32(0, argsz, true);
  v.setUint32(8, index, true);
  return req(P.Cmd.DEVICE_GET_IRQ_INFO, b);
}

export function setIrqsReq(flags: number, index: number, start: number, count: number, data?: Uint8Array): Uint8Array {
  const { b, v } = words(P.SET_IRQS_SIZE + (data ? data.length : 0));
  v.setUint32(0, b.length, true);
  v.setUint32(4, flags, true);
  v.setUint32(8, index, true);
  v.setUint32(12, start, true);
  v.setUint32(16, count, true);
  if (data) b.set(data, P.SET_IRQS_SIZE);
  return req(P.Cmd.DEVICE_SET_IRQS, b);
}

export function regionReadReq(region: number, offset: number, count: number): Uint8Array {
  const { b, v } = words(P.REGION_ACCESS_SIZE);
  P.putU64(v, 0, offset);
  v.setUint32(8, region, true);
  v.setUint32(12, count, true);
  return req(P.Cmd.REGION_READ, b);
}

/** REGION_WRITE_MULTI as QEMU's client batches posted writes (each entry at most 8 bytes). */
export function regionWriteMultiReq(writes: { region: number; offset: number; data: Uint8Array }[], posted = true): Uint8Array {
  const { b, v } = words(P.WRITE_MULTI_HEAD + writes.length * P.WRITE_MULTI_ENTRY);
  P.putU64(v, 0, writes.length);
  writes.forEach((w, i) => {
    const at = P.WRITE_MULTI_HEAD + i * P.WRITE_MULTI_ENTRY;
    P.putU64(v, at, w.offset);
    v.setUint32(at + 8, w.region, true);
    v.setUint32(at + 12, w.data.length, true);
    b.set(w.data.subarray(0, P.WRITE_MULTI_DATA), at + 16);
  });
  return req(P.Cmd.REGION_WRITE_MULTI, b, posted ? P.FLAG_NO_REPLY : 0);
}

export function regionWriteReq(region: number, offset: number, data: Uint8Array, posted = false): Uint8Array {
  const { b, v } = words(P.REGION_ACCESS_SIZE + data.length);
  P.putU64(v, 0, offset);
  v.setUint32(8, region, true);
  v.setUint32(12, data.length, true);
  b.set(data, P.REGION_ACCESS_SIZE);
  return req(P.Cmd.REGION_WRITE, b, posted ? P.FLAG_NO_REPLY : 0);
}

export function resetReq(): Uint8Array {
  return req(P.Cmd.DEVICE_RESET, new Uint8Array(0));
}

export function rawReq(cmd: number, payload: Uint8Array, flags = 0): Uint8Array {
  return req(cmd, payload, flags);
}

export function le32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

/** Parsed reply header plus payload. */
export function parseReply(m: Uint8Array): { header: P.Header; payload: Uint8Array; dv: DataView } {
  const header = P.readHeader(m);
  const payload = m.subarray(P.HEADER_SIZE);
  return { header, payload, dv: new DataView(payload.buffer, payload.byteOffset, payload.byteLength) };
}
