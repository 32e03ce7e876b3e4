// Streams byte ranges of an open file (an ISO image, or a file of the loaders folder) to an HTTP
// response. Nothing is extracted: the pieces are ranges of the image file, read in CHUNK-sized
// reads on libuv's thread pool and written as they are.
//
// Why it looks like this (measured with 200 clients on loopback, see bench/net/http.ts):
// - Large chunks (512 KiB): the cost per chunk (a thread-pool hop, a write, a drain) stays small;
//   1 MiB was no faster and held more memory per client.
// - One read ahead: the next chunk is read while the socket drains the current one, so a client
//   does not wait on the thread pool. Backpressure: the next write waits for 'drain', so a
//   response holds at most two chunks however slow its client is.
// - Shared chunks (images only): clients booting together fetch the same boot.wim at nearly the
//   same place. Image chunks are read at CHUNK-aligned offsets and shared by every response that
//   needs them while any holds them, plus a few recently used ones, so 200 clients in step cost
//   one read and one buffer per chunk, not 200.
import { read } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { Extent } from '../../media/types.ts';

/** A range of the file to send: `offset` in the file read from; `sparse` pieces are zeros. */
export interface Piece {
  readonly offset: number;
  readonly length: number;
  readonly sparse?: boolean | undefined;
}

/** Bytes being sent; `release` once the socket has taken them. */
export interface Lease {
  readonly data: Buffer;
  release(): void;
}

/** Where chunk bytes come from. Reads never cross a CHUNK-aligned offset of the file. */
export interface ChunkReader {
  read(offset: number, length: number): Promise<Lease>;
}

export const CHUNK = 512 * 1024;
/** Idle buffers kept for reuse; any more that come back are left to the GC. */
const POOL_MAX = 16;
const pool: Buffer[] = [];
const ZEROS = Buffer.alloc(CHUNK);
const NO_OP = (): void => {};

/** Buffers handed out and not yet back: past AHEAD_LIMIT, responses stop reading ahead. */
let live = 0;
const AHEAD_LIMIT = 128;

/** Chunk buffers out of the pool (in flight, or idle shared chunks): for /api/status and tests. */
export const liveBuffers = (): number => live;

function take(): Buffer {
  live++;
  return pool.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
}

function give(b: Buffer): void {
  live--;
  if (pool.length < POOL_MAX) pool.push(b);
}

function readExact(fd: number, buf: Buffer, length: number, offset: number, cb: (err: Error | null) => void): void {
  read(fd, buf, 0, length, offset, (err, n) => {
    if (err) cb(err);
    else if (n !== length) cb(Object.assign(new Error(`short read: ${n} of ${length} bytes at offset ${offset} (file truncated?)`), { code: 'E_TRUNCATED' }));
    else cb(null);
  });
}

/** Reads each chunk for one response alone (files of the loaders folder: one descriptor per request). */
export class DirectReader implements ChunkReader {
  readonly #fd: number;

  constructor(fd: number) {
    this.#fd = fd;
  }

  read(offset: number, length: number): Promise<Lease> {
    return new Promise((resolve, reject) => {
      const buf = take();
      readExact(this.#fd, buf, length, offset, (err) => {
        if (err) {
          give(buf);
          reject(err);
        } else {
          let done = false;
          resolve({ data: buf.subarray(0, length), release: () => !done && ((done = true), give(buf)) });
        }
      });
    });
  }
}

interface SharedChunk {
  readonly index: number;
  readonly buf: Buffer;
  readonly ready: Promise<number>;
  /** Responses holding it (a lease each, or a read waiting for it). */
  refs: number;
  /** Set as soon as the read fails (before any reader's await resumes). */
  failed: boolean;
  /** Its buffer went back to the pool: it must not be handed out again. */
  dead: boolean;
}

/** Recently released chunks kept per image, for clients a little behind the others. */
const IDLE_MAX = 16;

/**
 * Chunks of one image shared between responses. The image is read-only and open for the
 * server's life, so a chunk's bytes never change while it is cached.
 */
export class SharedReader implements ChunkReader {
  readonly #fd: number;
  readonly #size: number;
  /** Chunk index → chunk, while any response holds it or it is among the idle ones. */
  readonly #chunks = new Map<number, SharedChunk>();
  /** Idle chunks (refs 0), oldest first. */
  readonly #idle = new Set<SharedChunk>();

  constructor(fd: number, size: number) {
    this.#fd = fd;
    this.#size = size;
  }

  async read(offset: number, length: number): Promise<Lease> {
    const index = Math.floor(offset / CHUNK);
    let c = this.#chunks.get(index);
    if (c) {
      this.#idle.delete(c);
    } else {
      const buf = take();
      const n = Math.max(0, Math.min(CHUNK, this.#size - index * CHUNK));
      const ready = new Promise<number>((resolve, reject) => readExact(this.#fd, buf, n, index * CHUNK, (err) => (err ? reject(err) : resolve(n))));
      const fresh: SharedChunk = { index, buf, ready, refs: 0, failed: false, dead: false };
      ready.catch(() => (fresh.failed = true));
      this.#chunks.set(index, fresh);
      c = fresh;
    }
    c.refs++;
    const chunk = c;
    const at = offset - index * CHUNK;
    try {
      const n = await chunk.ready;
      if (at + length > n) throw Object.assign(new Error(`extent past the end of the image (offset ${offset}, length ${length}, image size ${this.#size})`), { code: 'E_TRUNCATED' });
    } catch (e) {
      this.#drop(chunk);
      throw e;
    }
    let done = false;
    return {
      data: chunk.buf.subarray(at, at + length),
      release: () => {
        if (done) return;
        done = true;
        this.#drop(chunk);
      },
    };
  }

  #drop(c: SharedChunk): void {
    if (--c.refs > 0 || c.dead) return;
    if (c.failed) {
      this.#forget(c);
      return;
    }
    this.#idle.add(c);
    if (this.#idle.size > IDLE_MAX) this.#forget(this.#idle.values().next().value!);
  }

  #forget(c: SharedChunk): void {
    this.#idle.delete(c);
    if (this.#chunks.get(c.index) === c) this.#chunks.delete(c.index);
    if (c.dead) return;
    c.dead = true;
    give(c.buf);
  }
}

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

/** Pieces cut at CHUNK-aligned offsets of the file they are read from, so that reads can be shared. */
function* chunksOf(pieces: readonly Piece[]): Generator<Piece> {
  for (const p of pieces) {
    if (p.sparse) {
      for (let at = 0; at < p.length; at += CHUNK) yield { offset: 0, length: Math.min(CHUNK, p.length - at), sparse: true };
      continue;
    }
    const end = p.offset + p.length;
    for (let at = p.offset; at < end; ) {
      const next = Math.min(end, (Math.floor(at / CHUNK) + 1) * CHUNK);
      yield { offset: at, length: next - at };
      at = next;
    }
  }
}

function fetch(reader: ChunkReader, c: Piece): Promise<Lease> {
  return c.sparse ? Promise.resolve({ data: ZEROS.subarray(0, c.length), release: NO_OP }) : reader.read(c.offset, c.length);
}

const gone = (res: ServerResponse): boolean => res.destroyed || res.closed;

/** Resolves true on 'drain', false when the response closed first. */
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
export async function sendPieces(res: ServerResponse, reader: ChunkReader, pieces: readonly Piece[], sent: (n: number) => void): Promise<void> {
  const it = chunksOf(pieces);
  let next = it.next();
  let ahead: Promise<Lease> | undefined = next.done ? undefined : fetch(reader, next.value);
  try {
    while (ahead) {
      const lease = await ahead;
      ahead = undefined;
      if (gone(res)) {
        lease.release();
        return;
      }
      next = it.next();
      const write = res.write(lease.data, (err) => {
        // Called once the socket is done with the bytes, written or not: the buffer is free.
        if (!err) sent(lease.data.length);
        lease.release();
      });
      if (!next.done && (write || live < AHEAD_LIMIT)) ahead = fetch(reader, next.value);
      if (!write && (gone(res) || !(await drained(res)))) return;
      if (!next.done && !ahead) ahead = fetch(reader, next.value);
    }
    res.end();
  } finally {
    // A read started ahead for a client that went away: wait for it (the caller may close the
    // descriptor next) and give its buffer back.
    if (ahead) await ahead.then((l) => l.release(), () => {});
  }
}
