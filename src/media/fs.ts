// Generic MediaFS over any Volume: path resolution, directory caching, ranged reads and streams
// assembled from a file's extents.
import { Readable } from 'node:stream';
import { MediaError } from './errors.ts';
import { type ByteSource, MAX_SINGLE_READ } from './source.ts';
import type { Extent, FsKind, MediaEntry, MediaFS, Volume, VolumeNode } from './types.ts';

/** Chunk size for streams: large enough for disk throughput, small enough to keep memory flat. */
const STREAM_CHUNK = 1024 * 1024;
/** Largest range `read()` returns in one Buffer; larger files are streamed. */
const MAX_READ_BYTES = 256 * 1024 * 1024;
/** Directory listings kept in memory; media have at most a few thousand directories. */
const MAX_CACHED_DIRS = 4096;

export function splitPath(path: string): string[] {
  return path.split(/[/\\]+/).filter((c) => c !== '' && c !== '.');
}

function publicEntry(n: VolumeNode): MediaEntry {
  const { ref: _ref, ...rest } = n;
  return rest;
}

export class VolumeFS implements MediaFS {
  readonly kind: FsKind;
  readonly label: string;
  readonly volume: Volume;
  readonly source: ByteSource;
  readonly #dirs = new Map<string, Promise<VolumeNode[]>>();

  constructor(volume: Volume, source: ByteSource) {
    this.volume = volume;
    this.source = source;
    this.kind = volume.kind;
    this.label = volume.label;
  }

  #children(dir: VolumeNode): Promise<VolumeNode[]> {
    const key = dir.path;
    let p = this.#dirs.get(key);
    if (!p) {
      if (this.#dirs.size >= MAX_CACHED_DIRS) this.#dirs.clear();
      p = this.volume.children(dir);
      this.#dirs.set(key, p);
      p.catch(() => this.#dirs.delete(key));
    }
    return p;
  }

  /** Resolves a path; exact names first, then a case-insensitive match (ISO 9660 names are upper case). */
  async node(path: string): Promise<VolumeNode> {
    let cur = await this.volume.root();
    for (const comp of splitPath(path)) {
      if (cur.type !== 'directory') {
        throw new MediaError('E_NOT_DIR', 'not a directory', { path: cur.path });
      }
      const kids = await this.#children(cur);
      const lower = comp.toLowerCase();
      const next = kids.find((k) => k.name === comp) ?? kids.find((k) => k.name.toLowerCase() === lower);
      if (!next) throw new MediaError('E_NOT_FOUND', 'no such file or directory', { path });
      cur = next;
    }
    return cur;
  }

  async list(dir: string): Promise<MediaEntry[]> {
    const n = await this.node(dir);
    if (n.type !== 'directory') throw new MediaError('E_NOT_DIR', 'not a directory', { path: dir });
    return (await this.#children(n)).map(publicEntry);
  }

  async stat(path: string): Promise<MediaEntry> {
    return publicEntry(await this.node(path));
  }

  async exists(path: string): Promise<MediaEntry | undefined> {
    try {
      return await this.stat(path);
    } catch (e) {
      if (e instanceof MediaError && (e.code === 'E_NOT_FOUND' || e.code === 'E_NOT_DIR')) return undefined;
      throw e;
    }
  }

  async extents(path: string): Promise<Extent[]> {
    const n = await this.node(path);
    if (n.type === 'directory') throw new MediaError('E_IS_DIR', 'is a directory', { path });
    return this.volume.extents(n);
  }

  async read(path: string, start = 0, end?: number): Promise<Buffer> {
    const n = await this.node(path);
    if (n.type === 'directory') throw new MediaError('E_IS_DIR', 'is a directory', { path });
    const stop = clampEnd(n.size, start, end, path);
    if (stop - start > MAX_READ_BYTES) {
      // One Buffer per call: a damaged (or honest multi-GiB) size must not become one allocation.
      throw new MediaError('E_LIMIT', 'range too large to read at once; stream it instead', { path, length: stop - start });
    }
    const ext = await this.volume.extents(n);
    const out = Buffer.alloc(stop - start);
    await readExtents(this.source, ext, start, out, path);
    return out;
  }

  async stream(path: string, start = 0, end?: number): Promise<Readable> {
    const n = await this.node(path);
    if (n.type === 'directory') throw new MediaError('E_IS_DIR', 'is a directory', { path });
    const stop = clampEnd(n.size, start, end, path);
    return streamExtents(this.source, await this.volume.extents(n), start, stop, path);
  }

  async *walk(dir = '/'): AsyncIterable<MediaEntry> {
    const top = await this.node(dir);
    const seen = new Set<string>();
    const stack: VolumeNode[] = [top];
    while (stack.length) {
      const d = stack.pop()!;
      if (d !== top) yield publicEntry(d);
      if (d.type !== 'directory') continue;
      if (seen.has(d.path)) continue;
      seen.add(d.path);
      const kids = await this.#children(d);
      // Start listing the subfolders now: their reads overlap instead of waiting one by one.
      // (A failure is cached only as long as the promise lives; the walk meets it in turn.)
      for (const k of kids) if (k.type === 'directory' && !seen.has(k.path)) this.#children(k).catch(() => undefined);
      for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
    }
  }
}

function clampEnd(size: number, start: number, end: number | undefined, path: string): number {
  const stop = end === undefined ? size : end;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(stop) || start < 0 || stop < start || stop > size) {
    throw new MediaError('E_FORMAT', 'range outside the file', { path, start, end: stop, size });
  }
  return stop;
}

/** Fills `out` with file bytes from `start`, walking the extents (sparse extents read as zeros). */
export async function readExtents(
  source: ByteSource,
  extents: readonly Extent[],
  start: number,
  out: Buffer,
  path = '',
): Promise<void> {
  let fileOff = 0;
  let filled = 0;
  for (const e of extents) {
    if (filled >= out.length) break;
    const eEnd = fileOff + e.length;
    if (eEnd > start + filled) {
      const within = start + filled - fileOff;
      const n = Math.min(e.length - within, out.length - filled);
      if (!e.sparse) {
        const got = await source.readInto(out, filled, n, e.offset + within);
        if (got !== n) {
          throw new MediaError('E_TRUNCATED', 'file data lies past the end of the image', {
            path,
            offset: e.offset + within,
            length: n,
            size: source.size,
          });
        }
      } else {
        out.fill(0, filled, filled + n);
      }
      filled += n;
    }
    fileOff = eEnd;
  }
  if (filled < out.length) {
    throw new MediaError('E_TRUNCATED', 'extents end before the file does', { path, expected: out.length, got: filled });
  }
}

export function streamExtents(
  source: ByteSource,
  extents: readonly Extent[],
  start: number,
  end: number,
  path = '',
  chunk = STREAM_CHUNK,
): Readable {
  let pos = start;
  return new Readable({
    highWaterMark: chunk,
    async read() {
      try {
        if (pos >= end) {
          this.push(null);
          return;
        }
        const n = Math.min(chunk, end - pos);
        const buf = Buffer.allocUnsafe(n);
        await readExtents(source, extents, pos, buf, path);
        pos += n;
        this.push(buf);
      } catch (e) {
        this.destroy(e as Error);
      }
    },
  });
}

/**
 * A file inside an image seen as a ByteSource of its own, so that nested formats (install.wim,
 * efisys.bin) are read in place without extracting them.
 */
export class ExtentSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  readonly #src: ByteSource;
  readonly #extents: readonly Extent[];

  constructor(src: ByteSource, extents: readonly Extent[], size: number, name: string) {
    this.#src = src;
    this.#extents = extents;
    this.size = size;
    this.name = name;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new MediaError('E_TRUNCATED', 'read past the end of the file', { source: this.name, offset, length, size: this.size });
    }
    // Same cap as every ByteSource (source.ts checkRange): `size` comes from the image (a file
    // record can claim 4 GiB), so a read of it must not become one giant allocation.
    if (length > MAX_SINGLE_READ) {
      throw new MediaError('E_LIMIT', 'read larger than any structure on real media', { source: this.name, offset, length });
    }
    const out = Buffer.alloc(length);
    await readExtents(this.#src, this.#extents, offset, out, this.name);
    return out;
  }

  async readInto(buf: Buffer, bufOffset: number, length: number, offset: number): Promise<number> {
    const n = Math.max(0, Math.min(length, this.size - offset));
    if (n > 0) await readExtents(this.#src, this.#extents, offset, buf.subarray(bufOffset, bufOffset + n), this.name);
    return n;
  }

  async close(): Promise<void> {}
}
