// What the byte-serving code needs to know about a file, wherever its bytes lie (an ISO image or
// the loaders folder): its length, validators, and the image ranges holding any part of it.
import { createHash } from 'node:crypto';
import type { ChunkReader, Piece } from './send.ts';

export interface Representation {
  readonly length: number;
  /** Strong entity tag, quotes included. */
  readonly etag: string;
  readonly lastModified: Date | undefined;
  /** Where the pieces are read from. */
  readonly reader: ChunkReader;
  /** Pieces of file bytes [start, end). */
  pieces(start: number, end: number): Piece[];
  /** Called once the response is over (e.g. closes a per-request descriptor). */
  release?: (() => Promise<void>) | undefined;
}

/** A strong ETag from the parts that change whenever the bytes can (RFC 9110 §8.8.3). */
export function makeEtag(...parts: (string | number)[]): string {
  return `"${createHash('sha256').update(parts.join('\0')).digest('base64url').slice(0, 22)}"`;
}
