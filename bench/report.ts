// Benchmark output: terminal tables, the JSON record file, and an SVG chart of throughput and simulation speed.

import type { ModeledRecord, InterruptRecord } from './modeled.js';
import type { SimSpeedRecord } from './sim.js';

/** Right-aligned text table. */
export function table(head: string[], rows: (string | number)[][]): string[] {
  const cells = [head, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: (string | number)[]) => r.map((c, i) => String(c).padStart(widths[i]!)).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)];
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(3);
}

export function modeledTable(rs: ModeledRecord[]): string[] {
  return table(
    ['link Mb/s', 'dir', 'frame B', 'pps', 'Mbit/s', 'line-rate pps', 'ratio', 'lat p50 us', 'lat p99 us', 'rx drops'],
    rs.map((r) => [r.linkMbps, r.direction, r.size, r.pps, r.mbps, r.lineRatePps, r.ratio.toFixed(4), (r.latencyP50Ns ?? NaN) / 1e3, (r.latencyP99Ns ?? NaN) / 1e3, r.rxDrops ?? '']),
  );
}

export function interruptTable(rs: InterruptRecord[]): string[] {
  return table(
    ['mode', 'frame B', 'RX interrupts/s', 'NAPI completions/s', 'limit/s', 'interrupts/limit'],
    rs.map((r) => [r.mode, r.frameSize, r.rxInterruptsPerSec, r.napiCompletionsPerSec, r.limitPerSec ?? '-', r.limitPerSec ? (r.rxInterruptsPerSec / r.limitPerSec).toFixed(4) : '-']),
  );
}

export function simTable(rs: SimSpeedRecord[]): string[] {
  return table(
    ['frame B', 'frames', 'sim frames/s', 'per CPU s', 'wall ns/frame', 'modeled pps', 'x real time', 'devices only fr/s', 'peak RSS MiB'],
    rs.map((r) => [r.size, r.frames, r.framesPerSec, r.framesPerCpuSec, r.wallNsPerFrame, r.modeledPps, r.realTimeFactor, r.deviceOnlyFramesPerSec ?? NaN, r.peakRssMiB]),
  );
}

/** A line chart: x = frame size, y = value, one polyline per series (log-scaled y when asked). */
function chart(title: string, yLabel: string, xs: number[], series: { name: string; color: string; ys: number[]; dash?: boolean }[], x0: number, y0: number, log: boolean): string {
  const W = 560;
  const H = 300;
  const pad = { l: 80, r: 20, t: 30, b: 40 };
  const all = series.flatMap((s) => s.ys).filter((v) => Number.isFinite(v) && v > 0);
  const hi = Math.max(...all);
  const lo = log ? Math.min(...all) / 2 : 0;
  const yv = (v: number) => (log ? (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi * 1.1) - Math.log10(lo)) : v / (hi * 1.1));
  const X = (i: number) => x0 + pad.l + (i / Math.max(1, xs.length - 1)) * (W - pad.l - pad.r);
  const Y = (v: number) => y0 + H - pad.b - yv(v) * (H - pad.t - pad.b);
  const parts: string[] = [];
  parts.push(`<text x="${x0 + W / 2}" y="${y0 + 18}" text-anchor="middle" font-size="14" font-weight="bold">${title}</text>`);
  parts.push(`<line x1="${x0 + pad.l}" y1="${y0 + H - pad.b}" x2="${x0 + W - pad.r}" y2="${y0 + H - pad.b}" stroke="#333"/>`);
  parts.push(`<line x1="${x0 + pad.l}" y1="${y0 + pad.t}" x2="${x0 + pad.l}" y2="${y0 + H - pad.b}" stroke="#333"/>`);
  xs.forEach((x, i) => parts.push(`<text x="${X(i)}" y="${y0 + H - pad.b + 16}" text-anchor="middle" font-size="11">${x}</text>`));
  parts.push(`<text x="${x0 + W / 2}" y="${y0 + H - 6}" text-anchor="middle" font-size="11">frame size (bytes, FCS included)</text>`);
  parts.push(`<text x="${x0 + 14}" y="${y0 + H / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 ${x0 + 14} ${y0 + H / 2})">${yLabel}</text>`);
  const ticks = log ? [lo, Math.sqrt(lo * hi), hi] : [0, hi / 2, hi];
  for (const t of ticks) if (t > 0 || !log) parts.push(`<text x="${x0 + pad.l - 6}" y="${Y(Math.max(t, log ? lo : 0)) + 4}" text-anchor="end" font-size="10">${fmt(t)}</text>`);
  series.forEach((s, k) => {
    const pts = s.ys.map((v, i) => (Number.isFinite(v) && v > 0 ? `${X(i).toFixed(1)},${Y(v).toFixed(1)}` : null)).filter(Boolean).join(' ');
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" ${s.dash ? 'stroke-dasharray="6 4"' : ''} points="${pts}"/>`);
    s.ys.forEach((v, i) => Number.isFinite(v) && v > 0 && parts.push(`<circle cx="${X(i).toFixed(1)}" cy="${Y(v).toFixed(1)}" r="3" fill="${s.color}"/>`));
    parts.push(`<text x="${x0 + W - pad.r - 4}" y="${y0 + pad.t + 14 * (k + 1)}" text-anchor="end" font-size="11" fill="${s.color}">${s.name}</text>`);
  });
  return parts.join('\n');
}

/** SVG with throughput vs frame size (modeled TX/RX beside the line rate) and simulation speed. */
export function benchSvg(modeled: ModeledRecord[], sim: SimSpeedRecord[]): string {
  const link = modeled[0]?.linkMbps ?? 1000;
  const m = modeled.filter((r) => r.linkMbps === link);
  const sizes = [...new Set(m.map((r) => r.size))].sort((a, b) => a - b);
  const pick = (dir: 'tx' | 'rx') => sizes.map((s) => m.find((r) => r.size === s && r.direction === dir)?.pps ?? NaN);
  const line = sizes.map((s) => m.find((r) => r.size === s)?.lineRatePps ?? NaN);
  const simSizes = sim.map((r) => r.size);
  const parts = [
    chart(`Modeled packet rate at ${link} Mbit/s`, 'packets per second', sizes, [
      { name: 'line rate', color: '#888', ys: line, dash: true },
      { name: 'modeled TX', color: '#1f77b4', ys: pick('tx') },
      { name: 'modeled RX', color: '#d62728', ys: pick('rx') },
    ], 0, 0, true),
    chart('Simulation speed (whole loop, one core)', 'simulated frames per wall second', simSizes, [
      { name: 'simulated frames/s', color: '#2ca02c', ys: sim.map((r) => r.framesPerSec) },
      { name: 'modeled pps (real time)', color: '#888', ys: sim.map((r) => r.modeledPps), dash: true },
    ], 0, 310, true),
  ];
  return `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="560" height="620" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}
