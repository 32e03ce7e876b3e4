// Small formatting helpers shared by the commands' human output.
import type { NetEvent } from '../net/events.ts';

export function bytes(n: number | undefined): string {
  if (n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(n)} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}

/** Left-aligned columns; numbers can be right-aligned by passing `right` column indexes. */
export function table(rows: string[][], right: readonly number[] = []): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 && !right.includes(i) ? c : right.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function json(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2);
}

/** One line for a network server's event (pxe and serve print them). */
export function describeNetEvent(e: NetEvent): string {
  const t = e.time.toISOString().slice(11, 19);
  switch (e.type) {
    case 'dhcp.offer':
    case 'dhcp.ack':
      return `${t} ${e.type.padEnd(11)} ${e.mac} ${e.arch ?? ''}${e.ipxe ? ' iPXE' : ''}${e.address ? ` ${e.address}` : ''} → ${e.bootFile ?? '(no boot file)'}${e.port === 4011 ? ' (port 4011)' : ''}`;
    case 'dhcp.ignore':
    case 'dhcp.nak':
      return `${t} ${e.type.padEnd(11)} ${e.mac} ${e.request}: ${e.reason ?? ''}`;
    case 'dhcp.release':
    case 'dhcp.decline':
      return `${t} ${e.type.padEnd(11)} ${e.mac} ${e.address ?? ''}`;
    case 'tftp.start':
      return `${t} ${e.type.padEnd(11)} ${e.client} ${e.file}`;
    case 'tftp.done':
      return `${t} ${e.type.padEnd(11)} ${e.client} ${e.file} ${e.bytes} bytes in ${Math.round(e.durationMs ?? 0)} ms`;
    case 'tftp.error':
      return `${t} ${e.type.padEnd(11)} ${e.client} ${e.file}: ${e.reason ?? ''}`;
    case 'http.served':
    case 'http.error':
      return `${t} ${e.type.padEnd(11)} ${e.client} ${e.method} ${e.path} ${e.status} ${e.bytes} bytes in ${Math.round(e.durationMs)} ms${e.aborted ? ' (client went away)' : ''}${e.reason ? `: ${e.reason}` : ''}`;
  }
}
