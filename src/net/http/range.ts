// Byte ranges (RFC 9110 §14): parsing the Range header against a representation's length, and the
// If-Range / conditional-request checks that decide whether a range or a 304 is sent. Pure.

/** One satisfiable byte range: `first` and `last` are inclusive positions, as in RFC 9110 §14.1.2. */
export interface ByteRange {
  readonly first: number;
  readonly last: number;
}

export type RangeDecision =
  /** Send the whole representation with 200 (no Range, another unit, or several ranges). */
  | { readonly kind: 'full' }
  | { readonly kind: 'partial'; readonly range: ByteRange }
  /** 416 with `Content-Range: bytes * /length` (§15.5.17). */
  | { readonly kind: 'unsatisfiable' };

/** More range-specs than this, or a longer field, is treated as abuse and ignored (§14.2 allows ignoring Range). */
const MAX_SPECS = 64;
const MAX_FIELD = 1024;

// int-range / suffix-range of §14.1.2; one or more digits only (no sign, no spaces inside).
const SPEC = /^(?:(\d+)-(\d*)|-(\d+))$/;

/**
 * What to send for `Range: <field>` on a representation of `length` bytes.
 *
 * Choices, following RFC 9110 §14.2: a unit other than `bytes` is ignored (200); a bytes
 * ranges-specifier that is malformed, or whose ranges are all unsatisfiable, gets 416; a single
 * satisfiable range gets 206; several ranges are answered with the whole file (200) rather than
 * multipart/byteranges, which no boot client (iPXE, wimboot, curl, Windows Setup) asks for.
 */
export function decideRange(field: string | undefined, length: number): RangeDecision {
  if (field === undefined) return { kind: 'full' };
  if (field.length > MAX_FIELD) return { kind: 'full' };
  const eq = field.indexOf('=');
  if (eq < 0) return { kind: 'full' };
  // The range unit is case-insensitive (§14.1).
  if (field.slice(0, eq).trim().toLowerCase() !== 'bytes') return { kind: 'full' };
  const specs = field.slice(eq + 1).split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (specs.length === 0) return { kind: 'unsatisfiable' };
  if (specs.length > MAX_SPECS) return { kind: 'full' };
  const ranges: ByteRange[] = [];
  for (const spec of specs) {
    const m = SPEC.exec(spec);
    if (!m) return { kind: 'unsatisfiable' };
    if (m[3] !== undefined) {
      // suffix-range: the last n bytes; n = 0 is unsatisfiable (§14.1.3).
      const n = Number(m[3]);
      if (n > 0 && length > 0) ranges.push({ first: Math.max(0, length - n), last: length - 1 });
      continue;
    }
    const first = Number(m[1]);
    const last = m[2] === '' ? Infinity : Number(m[2]);
    // last < first makes the whole ranges-specifier invalid (§14.1.1).
    if (last < first) return { kind: 'unsatisfiable' };
    if (first < length) ranges.push({ first, last: Math.min(last, length - 1) });
  }
  if (ranges.length === 0) return { kind: 'unsatisfiable' };
  if (ranges.length > 1) return { kind: 'full' };
  return { kind: 'partial', range: ranges[0]! };
}

/** `Content-Range` of a 206 (§14.4). */
export function contentRange(r: ByteRange, length: number): string {
  return `bytes ${r.first}-${r.last}/${length}`;
}

/** `Content-Range` of a 416 (§14.4). */
export function unsatisfiedRange(length: number): string {
  return `bytes */${length}`;
}

/** What a validator (ETag, Last-Modified) looks like for one representation. */
export interface Validators {
  /** Strong entity tag, quotes included. */
  readonly etag: string;
  readonly lastModified: Date | undefined;
}

/** HTTP-date resolution is one second (§5.6.7). */
const seconds = (d: Date): number => Math.floor(d.getTime() / 1000);

/**
 * If-Range (§13.1.5): the range applies only when the validator still matches. An entity tag
 * must match strongly; a date must equal Last-Modified exactly.
 */
export function ifRangeHolds(field: string | undefined, v: Validators): boolean {
  if (field === undefined) return true;
  const f = field.trim();
  if (f.startsWith('"')) return f === v.etag;
  if (f.startsWith('W/')) return false;
  const d = Date.parse(f);
  return v.lastModified !== undefined && !Number.isNaN(d) && Math.floor(d / 1000) === seconds(v.lastModified);
}

/**
 * Whether a GET/HEAD can be answered with 304 (§13.1.2, §13.1.3, §13.2.2): If-None-Match, with
 * weak comparison, takes precedence over If-Modified-Since.
 */
export function notModified(ifNoneMatch: string | undefined, ifModifiedSince: string | undefined, v: Validators): boolean {
  if (ifNoneMatch !== undefined) {
    const tags = ifNoneMatch.split(',').map((t) => t.trim());
    const opaque = v.etag.replace(/^W\//, '');
    return tags.some((t) => t === '*' || t.replace(/^W\//, '') === opaque);
  }
  if (ifModifiedSince !== undefined && v.lastModified !== undefined) {
    const d = Date.parse(ifModifiedSince);
    return !Number.isNaN(d) && seconds(v.lastModified) <= Math.floor(d / 1000);
  }
  return false;
}
