// Streams byte ranges of an open file (an ISO image, or a file of the loaders folder) to an HTTP
// response. Nothing is extracted: the pieces are ranges of the image file, read in CHUNK-sized
// reads on libuv's thread pool into pooled buffers and written as they are.
//
// Why it looks like this (measured with 200 clients on loopback, see bench/net/http.ts):
// - Large chunks: the cost per chunk (a thread-pool hop, a write, a drain) dominates below 1 MiB.
// - One read ahead: the next chunk is read while the socket drains the current one, so a client
//   never waits on the thread pool; at most two chunks per response are held (backpressure: the
//   next write waits for 'drain', so a slow client holds ~2 MiB, never more).
// - Buffers go back to a pool when the socket has taken them (the write callback), not to the GC.
import { read } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { Extent } from '../../media/types.ts';

/** A range of the file to send: `offset` in the file read from; `sparse` pieces are zeros. */
export interface Piece {
  readonly offset: number;
  readonly length: number;
  readonly sparse?: boolean | undefined;
}

export const CHUNK = 1024 * 1024;
/** Idle buffers kept for reuse; more than this in flight are left to the GC when they come back. */
const POOL_MAX = 64;
const pool: Buffer[] = [];
const ZEROS = Buffer.alloc(CHUNK);

const take = (): Buffer => pool.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
const give = (b: Buffer): void => {
  if (pool.length < POOL_MAX) pool.push(b);
};

/**
 * The pieces of the file bytes [start, end) (end exclusive) given the file's extents in file
 * order: where each lies in the image, and which are sparse.
 */
export function slice(extents: readonly Extent[], start: number, end: number): Piece[] {
  const out: Piece[] = [];
  let pos = 0;
  for (const e of extents) {
    const a = Math.max(start, pos);
    const b = Math.min(end, pos + e.length);
    if (a < b) out.push({ offset: e.sparse ? 0 : e.offset + (a - pos), length: b - a, sparse: e.sparse });
    pos += e.length;
    if (pos >= end) break;
  }
  return out;
}

/** One chunk in flight: its buffer (owned by the pool) and the bytes it holds. */
interface Chunk {
  readonly data: Buffer;
  /** The pooled buffer to give back, undefined for the shared zero buffer. */
  readonly owned: Buffer | undefined;
}

function readChunk(fd: number, offset: number, length: number): Promise<Chunk> {
  return new Promise((resolve, reject) => {
    const buf = take();
    read(fd, buf, 0, length, offset, (err, n) => {
      if (err) {
        give(buf);
        reject(err);
      } else if (n !== length) {
        give(buf);
        reject(Object.assign(new Error(`short read: ${n} of ${length} bytes at image offset ${offset} (image truncated?)`), { code: 'E_TRUNCATED' }));
      } else {
        resolve({ data: length === CHUNK ? buf : buf.subarray(0, length), owned: buf });
      }
    });
  });
}

function* chunksOf(pieces: readonly Piece[]): Generator<Piece> {
  for (const p of pieces) {
    for (let at = 0; at < p.length; at += CHUNK) {
      yield { offset: p.sparse ? 0 : p.offset + at, length: Math.min(CHUNK, p.length - at), sparse: p.sparse };
    }
  }
}

function fetch(fd: number, c: Piece): Promise<Chunk> {
  return c.sparse ? Promise.resolve({ data: ZEROS.subarray(0, c.length), owned: undefined }) : readChunk(fd, c.offset, c.length);
}

const gone = (res: ServerResponse): boolean => res.destroyed || res.closed;

/** Resolves on 'drain', or false when the response closed first. */
function drained(res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

/**
 * Writes the pieces to `res` (headers already set) and ends it. `sent(n)` is told of bytes the
 * socket has taken. Resolves when done or when the client went away; rejects on a read error
 * (the caller then destroys the response: a Content-Length was promised).
 */
export async function sendPieces(res: ServerResponse, fd: number, pieces: readonly Piece[], sent: (n: number) => void): Promise<void> {
  const it = chunksOf(pieces);
  let next = it.next();
  let ahead: Promise<Chunk> | undefined = next.done ? undefined : fetch(fd, next.value);
  try {
    while (ahead) {
      const chunk = await ahead;
      ahead = undefined;
      next = it.next();
      if (gone(res)) {
        if (chunk.owned) give(chunk.owned);
        return;
      }
      if (!next.done) ahead = fetch(fd, next.value);
      const { owned, data } = chunk;
      const ok = res.write(data, (err) => {
        if (err) return;
        sent(data.length);
        if (owned) give(owned);
      });
      if (!ok && (gone(res) || !(await drained(res)))) return;
    }
    res.end();
  } finally {
    // A read started ahead of a client that went away: its buffer still goes back to the pool.
    if (ahead) ahead.then((c) => c.owned && give(c.owned), () => {});
  }
}
