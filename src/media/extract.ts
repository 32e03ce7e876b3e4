// Extraction of an image's tree to a folder: resumable (complete files are skipped), atomic per
// file (data goes to a temporary name that is renamed only once complete), timestamps kept, and
// names that could escape the destination or break a Windows host refused before anything is written.
import { closeSync, constants as fsConstants, ftruncateSync, futimesSync, lstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, type Stats, writeSync } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, rename, rm, statfs, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type KernelIO, kernelIO, UNSUPPORTED } from './kernel-io.ts';
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
  /** The whole tree as `walk()` gives it, when the caller has walked it already (no `paths`). */
  entries?: readonly MediaEntry[] | undefined;
  onProgress?: (p: ExtractProgress) => void;
  signal?: AbortSignal;
  /** Called once the destination folder exists (and, when new, was found to have room). */
  onDestination?: () => void;
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
  /**
   * The bytes of this run by how they were copied: in the kernel (copy_file_range: Linux, with the
   * image and the destination on one file system), with O_DIRECT, or through ordinary buffered
   * writes. Sparse parts of files stay holes; a stretch of a large file that is all hole (up to
   * 16 MiB) is not written and counts in none of them.
   */
  via: Record<CopyWay, number>;
}

export type CopyWay = 'kernel' | 'direct' | 'buffered';

// Memory is fixed whatever the image size: large files are copied in pieces of CHUNK bytes, LANES
// pieces in flight at once, and small files each go through a buffer of SMALL_MAX bytes.
const CHUNK = 16 * 1024 * 1024;
const LANES = 2;
// In the kernel (no buffers), a lane copies KERNEL_PIECES pieces in one call: the next call then
// waits on this thread far less often, and a busy event loop (the media being identified, Samba
// starting) does not hold the copy back between pieces.
const KERNEL_PIECES = 8;
// Files up to SMALL_MAX are written alongside the large ones: creating a file costs more than
// writing its bytes. From an image file they are written with synchronous calls on this thread,
// in slices of at most SLICE_MS between turns of the event loop: five system calls a file
// (create, copy, set the time, close, rename) and no round trips through the thread pool, which
// halves their cost; meanwhile the large files' copies run in the kernel or the thread pool, and
// are handed their next piece between slices. From other sources (an image inside an image, a
// Buffer) they are written asynchronously, SMALL_FILES at a time.
const SMALL_MAX = 1024 * 1024;
const SMALL_FILES = 4;
const SLICE_MS = 1;
/** Small files whose extents are looked up (asynchronously) ahead of a synchronous slice. */
const SMALL_BATCH = 64;
// Where the kernel cannot copy for us (another OS, or the image and the destination on different
// file systems), files from this size are written with O_DIRECT where the platform and file
// system allow it: the data goes from the buffer to the disk without first filling (and dirtying)
// gigabytes of page cache, which is most of the cost of a buffered copy (and all of it on VMs
// whose free memory is handed back to the host). Smaller files, and file systems that refuse it,
// are written as usual.
const DIRECT_MIN = 32 * 1024 * 1024;
// Offset, length and memory alignment that O_DIRECT needs on every common disk and file system.
const ALIGN = 4096;
const O_DIRECT: number | undefined = (fsConstants as { O_DIRECT?: number }).O_DIRECT;
const PARTIAL_SUFFIX = '.overnight-partial';
/** Where a file is written until it is complete: a hidden name beside it. */
const partialOf = (target: string) => join(dirname(target), `.${basename(target)}${PARTIAL_SUFFIX}`);

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

/**
 * Whether a file found at the destination is the complete file from an earlier run: same size and
 * the image's timestamp (set last). Anything but a regular file there is refused.
 */
function isComplete(existing: Stats, e: MediaEntry, target: string): boolean {
  if (existing.isSymbolicLink() || !existing.isFile()) {
    throw new MediaError('E_UNSAFE_NAME', 'destination exists and is not a regular file (symlink?)', { path: target });
  }
  const sameTime = !e.mtime || Math.abs(existing.mtimeMs - e.mtime.getTime()) < 1000;
  return existing.size === e.size && sameTime;
}

/** E_NO_SPACE when the file system holding `dest` has less than `bytes` free for this user. */
async function checkSpace(dest: string, bytes: number): Promise<void> {
  const fs = await statfs(dest).catch(() => undefined);
  // Some file systems (network, FUSE) report no sizes: nothing to check against.
  if (!fs || fs.blocks === 0) return;
  const free = fs.bavail * fs.bsize;
  if (bytes > free) {
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    throw new MediaError('E_NO_SPACE', `the destination has ${mib(free)} free; the files to extract need ${mib(bytes)}`, { path: dest, free, need: bytes });
  }
}

/**
 * Makes a folder, or checks the one there: the destination must not be reached through a symlink
 * planted inside it. True when the folder is new. In a folder this run made, nothing can exist yet.
 */
function ensureDirSync(path: string, parentIsNew: boolean): boolean {
  const st = parentIsNew ? undefined : lstatSync(path, { throwIfNoEntry: false });
  if (st?.isDirectory()) return false;
  if (st) throw new MediaError('E_UNSAFE_NAME', 'destination exists and is not a folder (or is a symlink)', { path });
  mkdirSync(path);
  return true;
}

/** Lets the event loop run (I/O callbacks, timers) between slices of synchronous work. */
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

export async function extract(media: VolumeFS, dest: string, opts: ExtractOptions = {}): Promise<ExtractResult> {
  const entries = opts.entries && !opts.paths?.length ? opts.entries : await collect(media, opts.paths ?? []);
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
  const result: ExtractResult = { files: 0, directories: 0, bytesWritten: 0, skippedFiles: 0, skippedBytes: 0, notExtracted: [], via: { kernel: 0, direct: 0, buffered: 0 } };
  const progress: ExtractProgress = {
    bytesDone: 0,
    bytesTotal: files.reduce((a, f) => a + f.e.size, 0),
    filesDone: 0,
    filesTotal: files.length,
    current: '',
  };
  const made = await mkdir(dest, { recursive: true });
  const destIsNew = made !== undefined;
  // A new destination must hold everything: say so now rather than after gigabytes. (A resumed
  // run needs less; there, the allocation of each large file finds a full disk early.)
  if (destIsNew) await checkSpace(dest, progress.bytesTotal).catch(async (e: unknown) => {
    await rm(made, { recursive: true, force: true });
    throw e;
  });
  opts.onDestination?.();
  // Each folder is checked (or made) once per run, true when this run made it: a folder made by
  // this run holds nothing but what this run writes, so there is no earlier file to look for.
  const freshDirs = new Map<string, boolean>([[dest, destIsNew]]);
  /** Makes the folders of `parts` under dest as needed; true when the last one is new. */
  const ensureDirs = (parts: readonly string[]): boolean => {
    let p = dest;
    let fresh = destIsNew;
    for (const c of parts) {
      const parentFresh = fresh;
      p = join(p, c);
      const known = freshDirs.get(p);
      fresh = known ?? ensureDirSync(p, parentFresh);
      if (known === undefined) freshDirs.set(p, fresh);
    }
    return fresh;
  };
  const dirs = plan.filter((x) => x.e.type === 'directory');
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
    const fresh = ensureDirs(parts.slice(0, -1));
    progress.current = e.path;
    const existing = fresh ? undefined : await lstat(target).catch(() => undefined);
    if (existing && isComplete(existing, e, target)) return skipped(e);
    const extents = await media.extents(e.path);
    const partial = partialOf(target);
    await copyExtents(largeSource, extents, e.size, partial, bufs, ways, (n, way) => {
      if (way) result.via[way] += n;
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
    written(e);
  };
  const skipped = (e: MediaEntry): void => {
    result.skippedFiles++;
    result.skippedBytes += e.size;
    progress.current = e.path;
    progress.bytesDone += e.size;
    progress.filesDone++;
    opts.onProgress?.(progress);
  };
  const written = (e: MediaEntry): void => {
    result.files++;
    progress.filesDone++;
    progress.current = e.path;
    opts.onProgress?.(progress);
  };

  // A small file from an image file, with synchronous calls (see SLICE_MS).
  const extractSmallSync = (e: MediaEntry, parts: string[], extents: readonly Extent[], buf: Buffer): void => {
    const target = join(dest, ...parts);
    progress.current = e.path;
    if (!ensureDirs(parts.slice(0, -1))) {
      const existing = lstatSync(target, { throwIfNoEntry: false });
      if (existing && isComplete(existing, e, target)) return skipped(e);
    }
    const partial = partialOf(target);
    try {
      const way = writeSmallSync(smallFd!, e.path, extents, e.size, partial, e.mtime, ways, buf);
      renameSync(partial, target);
      if (way) result.via[way] += e.size;
    } catch (err) {
      rmSync(partial, { force: true });
      throw err;
    }
    progress.bytesDone += e.size;
    result.bytesWritten += e.size;
    written(e);
  };

  // Two tracks side by side: larger files one after another, LANES pieces of each in flight, and
  // small files (see SLICE_MS). The large files wait on the kernel or the disk, the small ones
  // mostly on creating files.
  const { buffers, aligned } = allocateBuffers();
  // How files are copied: in the kernel (copy_file_range) when the image is a regular file, else
  // O_DIRECT for large files; large files get their blocks first (fallocate). Each way is dropped
  // for the rest of the run when it fails once.
  const kio = await kernelIO();
  const ways: Ways = {
    kernel: source.fd !== undefined ? kio : undefined,
    direct: aligned && O_DIRECT !== undefined,
    allocate: kio,
  };
  // Each track reads the image through an open file of its own: the kernel keeps its read-ahead
  // state per open file, and two tracks (or the caller's reads) at different places in the image
  // through one would each look like random reads to it, and come from a cold disk in small pieces.
  const ownFd = (): number | undefined => {
    if (source.fd === undefined || process.platform !== 'linux') return source.fd;
    try {
      const fd = openSync(`/proc/self/fd/${source.fd}`, 'r');
      opened.push(fd);
      return fd;
    } catch {
      return source.fd;
    }
  };
  const opened: number[] = [];
  const largeSource: Reader = { readInto: (b, o, n, at) => source.readInto(b, o, n, at), fd: ownFd() };
  const smallFd = ownFd();
  const small: { e: MediaEntry; parts: string[] }[] = [];
  const large: { e: MediaEntry; parts: string[] }[] = [];
  for (const x of plan) {
    if (x.e.type === 'directory') continue;
    if (x.e.type !== 'file') result.notExtracted.push({ path: x.e.path, reason: x.e.type === 'symlink' ? 'symbolic link' : 'not a regular file' });
    else (x.e.size <= SMALL_MAX ? small : large).push(x);
  }
  // The largest first: on Windows media one file (install.wim) is most of the bytes, and its copy
  // is under way from the start instead of after a string of middle-sized files, each of which
  // waits on this thread a few times.
  large.sort((a, b) => b.e.size - a.e.size);
  let failure: { err: unknown } | undefined;
  const fail = (err: unknown): void => {
    // The first failure is the one reported; the other files in flight stop at once.
    failure ??= { err };
    stop.abort(err);
  };
  // The folders, with synchronous calls in slices (see SLICE_MS): a few hundred of them. Files
  // make their own folders as they need them, so the large files do not wait for these.
  const folders = async (): Promise<void> => {
    let slice = performance.now();
    for (const { parts } of dirs) {
      if (signal.aborted) return;
      ensureDirs(parts);
      result.directories++;
      if (performance.now() - slice >= SLICE_MS) {
        await nextTurn();
        slice = performance.now();
      }
    }
  };
  const syncTrack = async (items: readonly { e: MediaEntry; parts: string[] }[]): Promise<void> => {
    const buf = Buffer.allocUnsafe(SMALL_MAX);
    // In the order their data lie in the image: from a cold disk, one read-ahead then brings
    // dozens of them instead of one seek each.
    const all: { e: MediaEntry; parts: string[]; extents: readonly Extent[]; at: number }[] = [];
    for (let i = 0; i < items.length && !signal.aborted; i += SMALL_BATCH) {
      const batch = items.slice(i, i + SMALL_BATCH);
      const extents = await Promise.all(batch.map((x) => media.extents(x.e.path))).catch((err: unknown) => {
        fail(err);
        return [];
      });
      for (const [j, x] of extents.entries()) all.push({ ...batch[j]!, extents: x, at: x.find((r) => !r.sparse)?.offset ?? 0 });
    }
    all.sort((a, b) => a.at - b.at);
    let slice = performance.now();
    for (const x of all) {
      if (signal.aborted) break;
      try {
        extractSmallSync(x.e, x.parts, x.extents, buf);
      } catch (err) {
        fail(err);
        break;
      }
      if (performance.now() - slice >= SLICE_MS) {
        await nextTurn();
        slice = performance.now();
      }
    }
  };
  const track = async (items: readonly { e: MediaEntry; parts: string[] }[], workers: Buffer[][]): Promise<void> => {
    let next = 0;
    await Promise.all(
      workers.map(async (bufs) => {
        while (!signal.aborted && next < items.length) {
          const { e, parts } = items[next++]!;
          await extractFile(e, parts, bufs).catch(fail);
        }
      }),
    );
  };
  try {
    await Promise.all([
      // The large files first, so that their copies are under way before the first slice.
      track(large, [buffers]),
      folders()
        .then(() => (source.fd !== undefined ? syncTrack(small) : track(small, Array.from({ length: SMALL_FILES }, () => [Buffer.allocUnsafe(SMALL_MAX)]))))
        .catch(fail),
    ]);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    for (const fd of opened) closeSync(fd);
  }
  if (failure) throw failure.err;
  signal.throwIfAborted();
  // Folder times last: writing their contents changed them.
  for (const { e, parts } of dirs.reverse()) if (e.mtime) await utimes(join(dest, ...parts), e.mtime, e.mtime);
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
  readonly fd?: number | undefined;
}

/** The ways of copying still open for this run; a way that fails once is not tried again. */
interface Ways {
  kernel: KernelIO | undefined;
  direct: boolean;
  /** Blocks are allocated up front for files larger than SMALL_MAX. */
  allocate: KernelIO | undefined;
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
 * Writes a file of at most SMALL_MAX bytes (`buf` holds it) from the image file `fdIn` to
 * `partial`, with its timestamp, using synchronous calls: in the kernel when it can, else read
 * and written through `buf`. Sparse parts stay holes in the kernel's copy. Returns how the bytes
 * were copied (undefined when the file has none). `file` is the image path, for errors.
 */
function writeSmallSync(fdIn: number, file: string, extents: readonly Extent[], size: number, partial: string, mtime: Date | undefined, ways: Ways, buf: Buffer): CopyWay | undefined {
  const total = extents.reduce((a, x) => a + x.length, 0);
  if (total !== size || size > buf.length) throw new MediaError('E_FORMAT', 'extents do not add up to the file size', { path: file, size, extents: total });
  // Where the file's data ends: past it there are only holes, which the final length makes.
  let end = 0;
  for (let pos = 0, i = 0; i < extents.length; pos += extents[i]!.length, i++) if (!extents[i]!.sparse) end = pos + extents[i]!.length;
  const truncated = (offset: number) => new MediaError('E_TRUNCATED', 'file data lies past the end of the image', { path: file, offset });
  const fd = openSync(partial, 'w');
  try {
    let way: CopyWay | undefined = end === 0 ? undefined : ways.kernel ? 'kernel' : 'buffered';
    if (way === 'kernel') {
      try {
        for (let pos = 0, i = 0; i < extents.length; pos += extents[i]!.length, i++) {
          const x = extents[i]!;
          for (let done = 0; !x.sparse && done < x.length; ) {
            const n = ways.kernel!.copyRangeSync(fdIn, x.offset + done, fd, pos + done, x.length - done);
            if (n === 0) throw truncated(x.offset + done);
            done += n;
          }
        }
      } catch (e) {
        if (!UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
        ways.kernel = undefined;
        way = 'buffered';
      }
    }
    if (way === 'buffered') {
      for (let pos = 0, i = 0; i < extents.length && pos < end; pos += extents[i]!.length, i++) {
        const x = extents[i]!;
        if (x.sparse) buf.fill(0, pos, pos + x.length);
        for (let done = 0; !x.sparse && done < x.length; ) {
          const n = readSync(fdIn, buf, pos + done, x.length - done, x.offset + done);
          if (n === 0) throw truncated(x.offset + done);
          done += n;
        }
      }
      for (let w = 0; w < end; ) w += writeSync(fd, buf, w, end - w, w);
    }
    if (end !== size) ftruncateSync(fd, size);
    if (mtime) futimesSync(fd, mtime, mtime);
    return way;
  } finally {
    closeSync(fd);
  }
}

/**
 * Allocates the blocks of a file's data (not of its sparse parts, which stay holes) before it is
 * written. A file system without fallocate is skipped for the rest of the run; a full one stops
 * the run now, before the copy, with E_NO_SPACE.
 */
async function allocateExtents(ways: Ways, fd: number, extents: readonly Extent[], path: string): Promise<void> {
  let pos = 0;
  for (const x of extents) {
    if (!x.sparse && x.length > 0 && ways.allocate) {
      try {
        await ways.allocate.allocate(fd, pos, x.length);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? '';
        if (code === 'ENOSPC' || code === 'EDQUOT') {
          throw new MediaError('E_NO_SPACE', `not enough free space at the destination for this file`, { path, size: x.length, offset: pos });
        }
        if (!UNSUPPORTED.has(code)) throw e;
        ways.allocate = undefined;
      }
    }
    pos += x.length;
  }
}

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
  ways: Ways,
  /** `way` is how the bytes were copied; undefined for a piece that is all hole. */
  onBytes: (n: number, way: CopyWay | undefined) => void,
  signal?: AbortSignal,
): Promise<void> {
  const { pieces, size: total } = planPieces(extents);
  if (total !== size) throw new MediaError('E_FORMAT', 'extents do not add up to the file size', { path, size, extents: total });
  // In the kernel when the image is a regular file; otherwise O_DIRECT for large files, falling
  // back to ordinary writes on a file system that refuses it.
  const fdIn = source.fd;
  let kernel = fdIn !== undefined ? ways.kernel : undefined;
  let useDirect = !kernel && ways.direct && size >= DIRECT_MIN;
  let directFh: FileHandle | undefined;
  if (useDirect) {
    directFh = await open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | O_DIRECT!, 0o666).catch((e: unknown) => {
      if (!isEinval(e)) throw e;
      ways.direct = useDirect = false;
      return undefined;
    });
  }
  // Ordinary writes: from the start, or (opened on first need) after O_DIRECT failed mid-file.
  let plainFh: FileHandle | undefined = directFh ? undefined : await open(path, 'w');
  if (ways.allocate && size > SMALL_MAX) {
    await allocateExtents(ways, (directFh ?? plainFh)!.fd, extents, path).catch(async (e: unknown) => {
      await directFh?.close();
      await plainFh?.close();
      throw e;
    });
  }
  let reopening: Promise<FileHandle> | undefined;
  // The file's length so far: direct writes of the last piece are padded to ALIGN.
  let length = 0;
  try {
    let next = 0;
    let stop = false;
    const write = async (buf: Buffer, n: number, at: number): Promise<CopyWay> => {
      if (useDirect) {
        const padded = Math.ceil(n / ALIGN) * ALIGN;
        if (padded > n) buf.fill(0, n, padded);
        try {
          let w = 0;
          while (w < padded) w += (await directFh!.write(buf, w, padded - w, at + w)).bytesWritten;
          length = Math.max(length, at + padded);
          return 'direct';
        } catch (e) {
          // Alignment rules stricter than ALIGN, or a file system that accepts the flag and
          // then refuses the writes: the rest of the file (and of the run) is written as usual.
          if (!isEinval(e)) throw e;
          ways.direct = useDirect = false;
        }
      }
      const fh = (plainFh ??= await (reopening ??= open(path, 'r+')));
      let w = 0;
      while (w < n) w += (await fh.write(buf, w, n - w, at + w)).bytesWritten;
      length = Math.max(length, at + n);
      return 'buffered';
    };
    // True when the kernel copied the pieces; false when it refused this pair of files, and the
    // pieces (from their start) and the rest of the run are to be copied through buffers. Pieces
    // that lie side by side in the image go in one call.
    const copyInKernel = async (batch: readonly Piece[]): Promise<boolean> => {
      const fdOut = plainFh!.fd;
      const runs: { offset: number; at: number; length: number }[] = [];
      for (const p of batch) {
        for (const r of p.reads) {
          const last = runs.at(-1);
          if (last && last.offset + last.length === r.offset && last.at + last.length === p.at + r.into) last.length += r.length;
          else runs.push({ offset: r.offset, at: p.at + r.into, length: r.length });
        }
      }
      try {
        for (const r of runs) {
          let done = 0;
          while (done < r.length) {
            const n = await kernel!.copyRange(fdIn!, r.offset + done, fdOut, r.at + done, r.length - done);
            if (n === 0) throw new MediaError('E_TRUNCATED', 'file data lies past the end of the image', { path, offset: r.offset + done });
            done += n;
          }
          // Sparse parts of the pieces are not written: they stay holes.
          length = Math.max(length, r.at + r.length);
        }
        return true;
      } catch (e) {
        if (!UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
        ways.kernel = kernel = undefined;
        return false;
      }
    };
    const viaBuffer = async (p: Piece, buf: Buffer): Promise<CopyWay | undefined> => {
      if (!p.reads.length) return undefined;
      if (p.gaps) buf.fill(0, 0, p.length);
      for (const r of p.reads) {
        const got = await source.readInto(buf, r.into, r.length, r.offset);
        if (got !== r.length) throw new MediaError('E_TRUNCATED', 'file data lies past the end of the image', { path, offset: r.offset });
      }
      return write(buf, p.length, p.at);
    };
    const lane = async (buf: Buffer): Promise<void> => {
      while (!stop && next < pieces.length) {
        signal?.throwIfAborted();
        if (kernel) {
          const batch = pieces.slice(next, next + KERNEL_PIECES);
          next += batch.length;
          if (await copyInKernel(batch)) {
            for (const p of batch) onBytes(p.length, p.reads.length ? 'kernel' : undefined);
          } else {
            for (const p of batch) onBytes(p.length, await viaBuffer(p, buf));
          }
          continue;
        }
        const p = pieces[next++]!;
        onBytes(p.length, await viaBuffer(p, buf));
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
