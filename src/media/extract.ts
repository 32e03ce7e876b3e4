// Extraction of an image's tree to a folder: resumable (complete files are skipped), atomic per
// file (data goes to a temporary name that is renamed only once complete), timestamps kept, and
// names that could escape the destination or break a Windows host refused before anything is written.
import { constants as fsConstants } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, rename, rm, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MediaError } from './errors.ts';
import type { VolumeFS } from './fs.ts';
import type { Extent, MediaEntry } from './types.ts';

export interface ExtractProgress {
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
  /** Path of the file being written. */
  current: string;
}

export interface ExtractOptions {
  /** Paths inside the image (files or folders); the whole tree when empty. */
  paths?: readonly string[];
  onProgress?: (p: ExtractProgress) => void;
  signal?: AbortSignal;
}

export interface ExtractResult {
  files: number;
  directories: number;
  /** Bytes written in this run. */
  bytesWritten: number;
  /** Files already complete at the destination (a resumed run). */
  skippedFiles: number;
  skippedBytes: number;
  /** Entries not extracted, with the reason (symlinks, devices). */
  notExtracted: { path: string; reason: string }[];
}

// Memory is fixed whatever the image size: large files are copied in pieces of CHUNK bytes, LANES
// pieces in flight at once, and small files each go through a buffer of SMALL_MAX bytes.
const CHUNK = 16 * 1024 * 1024;
const LANES = 2;
// Files up to SMALL_MAX are written SMALL_FILES at a time, alongside the large ones: creating a
// file costs more than writing its bytes, and those waits overlap each other and the large copy.
const SMALL_MAX = 1024 * 1024;
const SMALL_FILES = 4;
// Files from this size are written with O_DIRECT where the platform and file system allow it:
// the data goes from the buffer to the disk without first filling (and dirtying) gigabytes of
// page cache, which is most of the cost of a buffered copy (and all of it on VMs whose free memory
// is handed back to the host). Smaller files, and file systems that refuse it, are written as usual.
const DIRECT_MIN = 32 * 1024 * 1024;
// Offset, length and memory alignment that O_DIRECT needs on every common disk and file system.
const ALIGN = 4096;
const O_DIRECT: number | undefined = (fsConstants as { O_DIRECT?: number }).O_DIRECT;
const PARTIAL_SUFFIX = '.overnight-partial';

// Reserved device names on Windows (with or without an extension): writing one on a Windows host
// opens the device instead of a file.
const DEVICE_NAME = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$/i;

/** Why a single name (one path component) is unsafe to create on a host, or undefined when it is safe. */
export function unsafeNameReason(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return 'a relative path component';
  if (name.includes('/') || name.includes('\\')) return 'contains a path separator';
  if (/[\x00-\x1f]/.test(name)) return 'contains a control character';
  if (/^[a-zA-Z]:/.test(name)) return 'looks like a drive letter';
  if (DEVICE_NAME.test(name)) return 'is a Windows device name';
  if (/[<>:"|?*]/.test(name)) return 'contains a character Windows does not allow in names';
  if (/[. ]$/.test(name)) return 'ends in a dot or space (Windows strips it)';
  if (name.endsWith(PARTIAL_SUFFIX)) return 'collides with overnight\'s partial-file names';
  return undefined;
}

/** Checks every component of an image path; throws E_UNSAFE_NAME naming the first bad one. */
function checkPath(p: string): string[] {
  if (!p.startsWith('/')) throw new MediaError('E_UNSAFE_NAME', 'image path is not absolute', { path: p });
  const parts = p.split('/').slice(1);
  for (const c of parts) {
    const why = unsafeNameReason(c);
    if (why) throw new MediaError('E_UNSAFE_NAME', `refusing to extract "${c}": ${why}`, { path: p });
  }
  return parts;
}

async function collect(media: VolumeFS, paths: readonly string[]): Promise<MediaEntry[]> {
  const out: MediaEntry[] = [];
  const seen = new Set<string>();
  const add = (e: MediaEntry) => {
    if (!seen.has(e.path)) {
      seen.add(e.path);
      out.push(e);
    }
  };
  for (const p of paths.length ? paths : ['/']) {
    const st = p === '/' || p === '' ? undefined : await media.stat(p);
    if (st) {
      // Parents of a requested path are created too, so that it lands at its image path.
      const parts = st.path.split('/').slice(1, -1);
      for (let i = 1; i <= parts.length; i++) add(await media.stat('/' + parts.slice(0, i).join('/')));
      add(st);
    }
    if (!st || st.type === 'directory') for await (const e of media.walk(st?.path ?? '/')) add(e);
  }
  return out;
}

/** Destination must not be reached through a symlink planted inside it. True when the folder is new. */
async function ensureDir(path: string): Promise<boolean> {
  try {
    const st = await lstat(path);
    if (st.isDirectory()) return false;
    throw new MediaError('E_UNSAFE_NAME', 'destination exists and is not a folder (or is a symlink)', { path });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(path);
  return true;
}

export async function extract(media: VolumeFS, dest: string, opts: ExtractOptions = {}): Promise<ExtractResult> {
  const entries = await collect(media, opts.paths ?? []);
  // Refuse before writing anything: a single bad name stops the run with nothing half-done.
  const plan = entries.map((e) => ({ e, parts: checkPath(e.path) }));
  const lower = new Map<string, string>();
  for (const { e } of plan) {
    const k = e.path.toLowerCase();
    const prev = lower.get(k);
    if (prev && prev !== e.path) {
      throw new MediaError('E_UNSAFE_NAME', `"${e.path}" and "${prev}" differ only in case and would overwrite each other on Windows hosts`, { path: e.path });
    }
    lower.set(k, e.path);
  }
  const files = plan.filter((x) => x.e.type === 'file');
  const result: ExtractResult = { files: 0, directories: 0, bytesWritten: 0, skippedFiles: 0, skippedBytes: 0, notExtracted: [] };
  const progress: ExtractProgress = {
    bytesDone: 0,
    bytesTotal: files.reduce((a, f) => a + f.e.size, 0),
    filesDone: 0,
    filesTotal: files.length,
    current: '',
  };
  const destIsNew = (await mkdir(dest, { recursive: true })) !== undefined;
  // Each folder is checked (or made) once per run; files running side by side share the check.
  // A folder made by this run holds nothing but what this run writes: no earlier file to look for.
  const checked = new Map<string, Promise<boolean>>([[dest, Promise.resolve(destIsNew)]]);
  const ensure = (path: string): Promise<boolean> => {
    let p = checked.get(path);
    if (!p) {
      p = ensureDir(path);
      checked.set(path, p);
    }
    return p;
  };
  const dirs: { path: string; mtime: Date | undefined }[] = [];
  for (const { e, parts } of plan) {
    if (e.type !== 'directory') continue;
    let p = dest;
    for (const c of parts) {
      p = join(p, c);
      await ensure(p);
    }
    dirs.push({ path: p, mtime: e.mtime });
    result.directories++;
  }
  const source = (media as VolumeFS).source;

  // Stops both tracks below: on the caller's signal, or when a file fails.
  const stop = new AbortController();
  const signal = stop.signal;
  const onAbort = () => stop.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();

  const extractFile = async (e: MediaEntry, parts: string[], bufs: Buffer[]): Promise<void> => {
    signal.throwIfAborted();
    const target = join(dest, ...parts);
    let p = dest;
    let fresh = await ensure(dest);
    for (const c of parts.slice(0, -1)) {
      p = join(p, c);
      fresh = await ensure(p);
    }
    progress.current = e.path;
    const existing = fresh ? undefined : await lstat(target).catch(() => undefined);
    if (existing) {
      if (existing.isSymbolicLink() || !existing.isFile()) {
        throw new MediaError('E_UNSAFE_NAME', 'destination exists and is not a regular file (symlink?)', { path: target });
      }
      // A complete file from an earlier run: same size and the image's timestamp (set last).
      const sameTime = !e.mtime || Math.abs(existing.mtimeMs - e.mtime.getTime()) < 1000;
      if (existing.size === e.size && sameTime) {
        result.skippedFiles++;
        result.skippedBytes += e.size;
        progress.current = e.path;
        progress.bytesDone += e.size;
        progress.filesDone++;
        opts.onProgress?.(progress);
        return;
      }
    }
    const extents = await media.extents(e.path);
    const partial = join(dirname(target), `.${parts[parts.length - 1]}${PARTIAL_SUFFIX}`);
    await copyExtents(source, extents, e.size, partial, bufs, direct, (n) => {
      progress.current = e.path;
      progress.bytesDone += n;
      result.bytesWritten += n;
      opts.onProgress?.(progress);
    }, signal).catch(async (err) => {
      await rm(partial, { force: true });
      throw err;
    });
    if (e.mtime) await utimes(partial, e.mtime, e.mtime);
    await rename(partial, target);
    result.files++;
    progress.filesDone++;
    progress.current = e.path;
    opts.onProgress?.(progress);
  };

  // Two tracks side by side: small files, SMALL_FILES at a time (creating a file costs more than
  // writing its bytes, and those waits overlap), and larger files one after another, LANES pieces
  // of each in flight. The large files wait on the disk, the small ones on the CPU.
  const { buffers, aligned } = allocateBuffers();
  // Whether O_DIRECT is tried for large files; cleared for the rest of the run when it fails once.
  const direct = { enabled: aligned && O_DIRECT !== undefined };
  const small: { e: MediaEntry; parts: string[] }[] = [];
  const large: { e: MediaEntry; parts: string[] }[] = [];
  for (const x of plan) {
    if (x.e.type === 'directory') continue;
    if (x.e.type !== 'file') result.notExtracted.push({ path: x.e.path, reason: x.e.type === 'symlink' ? 'symbolic link' : 'not a regular file' });
    else (x.e.size <= SMALL_MAX ? small : large).push(x);
  }
  let failure: { err: unknown } | undefined;
  const track = async (items: readonly { e: MediaEntry; parts: string[] }[], workers: Buffer[][]): Promise<void> => {
    let next = 0;
    await Promise.all(
      workers.map(async (bufs) => {
        while (!signal.aborted && next < items.length) {
          const { e, parts } = items[next++]!;
          await extractFile(e, parts, bufs).catch((err: unknown) => {
            // The first failure is the one reported; the other files in flight stop at once.
            failure ??= { err };
            stop.abort(err);
          });
        }
      }),
    );
  };
  try {
    await Promise.all([
      track(small, Array.from({ length: SMALL_FILES }, () => [Buffer.allocUnsafe(SMALL_MAX)])),
      track(large, [buffers]),
    ]);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  if (failure) throw failure.err;
  signal.throwIfAborted();
  // Folder times last: writing their contents changed them.
  for (const d of dirs.reverse()) if (d.mtime) await utimes(d.path, d.mtime, d.mtime);
  return result;
}

/**
 * LANES buffers of CHUNK bytes. They come from one WebAssembly memory when possible, because its
 * pages are mapped on their own and so start on a page boundary, as O_DIRECT requires (an
 * ordinary Buffer is only 16-byte aligned). Without WebAssembly (node --jitless), plain Buffers.
 */
function allocateBuffers(): { buffers: Buffer[]; aligned: boolean } {
  // (The WebAssembly global is not in the ES or @types/node typings.)
  const wasm = (globalThis as { WebAssembly?: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }).WebAssembly;
  try {
    if (!wasm) throw new Error('no WebAssembly');
    const mem = new wasm.Memory({ initial: (LANES * CHUNK) / 65536 });
    return { buffers: Array.from({ length: LANES }, (_, i) => Buffer.from(mem.buffer, i * CHUNK, CHUNK)), aligned: true };
  } catch {
    return { buffers: Array.from({ length: LANES }, () => Buffer.allocUnsafe(CHUNK)), aligned: false };
  }
}

interface Reader {
  readInto(buf: Buffer, bufOffset: number, length: number, offset: number): Promise<number>;
}

/** CHUNK bytes of a file (fewer at its end) at file offset `at`, gathered from one or more extents. */
interface Piece {
  at: number;
  length: number;
  /** Image ranges to read, and where in the piece each goes; empty when the piece is all hole. */
  reads: { offset: number; length: number; into: number }[];
  /** Some of the piece lies in sparse extents (zeros that must be filled in before writing). */
  gaps: boolean;
}

/** Cuts a file into pieces on CHUNK boundaries of the file (so that every write is aligned). */
function planPieces(extents: readonly Extent[]): { pieces: Piece[]; size: number } {
  const pieces: Piece[] = [];
  let pos = 0;
  for (const x of extents) {
    let o = 0;
    while (o < x.length) {
      const at = pos + o;
      const index = Math.floor(at / CHUNK);
      const n = Math.min(x.length - o, (index + 1) * CHUNK - at);
      const piece = (pieces[index] ??= { at: index * CHUNK, length: 0, reads: [], gaps: false });
      if (x.sparse) piece.gaps = true;
      else piece.reads.push({ offset: x.offset + o, length: n, into: at - piece.at });
      piece.length += n;
      o += n;
    }
    pos += x.length;
  }
  return { pieces, size: pos };
}

const isEinval = (e: unknown) => (e as NodeJS.ErrnoException).code === 'EINVAL';

/**
 * Copies a file's extents into `path`, one piece per buffer in `bufs`: with several buffers, that
 * many pieces are read and written at once, each at its own file offset. Pieces that lie wholly
 * in sparse extents are not written: they stay holes, and the file gets its length at the end.
 */
async function copyExtents(
  source: Reader,
  extents: readonly Extent[],
  size: number,
  path: string,
  bufs: readonly Buffer[],
  direct: { enabled: boolean },
  onBytes: (n: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  const { pieces, size: total } = planPieces(extents);
  if (total !== size) throw new MediaError('E_FORMAT', 'extents do not add up to the file size', { path, size, extents: total });
  // O_DIRECT for large files, falling back to ordinary writes on a file system that refuses it.
  let useDirect = direct.enabled && size >= DIRECT_MIN;
  let directFh: FileHandle | undefined;
  if (useDirect) {
    directFh = await open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | O_DIRECT!, 0o666).catch((e: unknown) => {
      if (!isEinval(e)) throw e;
      direct.enabled = useDirect = false;
      return undefined;
    });
  }
  // Ordinary writes: from the start, or (opened on first need) after O_DIRECT failed mid-file.
  let plainFh: FileHandle | undefined = directFh ? undefined : await open(path, 'w');
  let reopening: Promise<FileHandle> | undefined;
  // The file's length so far: direct writes of the last piece are padded to ALIGN.
  let length = 0;
  try {
    let next = 0;
    let stop = false;
    const write = async (buf: Buffer, n: number, at: number): Promise<void> => {
      if (useDirect) {
        const padded = Math.ceil(n / ALIGN) * ALIGN;
        if (padded > n) buf.fill(0, n, padded);
        try {
          let w = 0;
          while (w < padded) w += (await directFh!.write(buf, w, padded - w, at + w)).bytesWritten;
          length = Math.max(length, at + padded);
          return;
        } catch (e) {
          // Alignment rules stricter than ALIGN, or a file system that accepts the flag and
          // then refuses the writes: the rest of the file (and of the run) is written as usual.
          if (!isEinval(e)) throw e;
          direct.enabled = useDirect = false;
        }
      }
      const fh = (plainFh ??= await (reopening ??= open(path, 'r+')));
      let w = 0;
      while (w < n) w += (await fh.write(buf, w, n - w, at + w)).bytesWritten;
      length = Math.max(length, at + n);
    };
    const lane = async (buf: Buffer): Promise<void> => {
      while (!stop && next < pieces.length) {
        signal?.throwIfAborted();
        const p = pieces[next++]!;
        if (p.reads.length) {
          if (p.gaps) buf.fill(0, 0, p.length);
          for (const r of p.reads) {
            const got = await source.readInto(buf, r.into, r.length, r.offset);
            if (got !== r.length) throw new MediaError('E_TRUNCATED', 'file data lies past the end of the image', { path, offset: r.offset });
          }
          await write(buf, p.length, p.at);
        }
        onBytes(p.length);
      }
    };
    const lanes = bufs.slice(0, Math.max(1, Math.min(bufs.length, pieces.length))).map((b) =>
      lane(b).catch((err: unknown) => {
        stop = true;
        throw err;
      }),
    );
    // Every lane has finished (no write still in flight) before the file is closed or removed.
    const outcome = await Promise.allSettled(lanes);
    const bad = outcome.find((o) => o.status === 'rejected');
    if (bad) throw bad.reason;
    // Trailing holes, or the padding of a direct write past the end.
    if (length !== size) await (plainFh ?? directFh!).truncate(size);
  } finally {
    await directFh?.close();
    await plainFh?.close();
  }
}
