// Extraction of an image's tree to a folder: resumable (complete files are skipped), atomic per
// file (data goes to a temporary name that is renamed only once complete), timestamps kept, and
// names that could escape the destination or break a Windows host refused before anything is written.
import { lstat, mkdir, open, rename, rm, utimes } from 'node:fs/promises';
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

const CHUNK = 8 * 1024 * 1024;
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

/** Destination must not be reached through a symlink planted inside it. */
async function ensureDir(path: string): Promise<void> {
  try {
    const st = await lstat(path);
    if (st.isDirectory()) return;
    throw new MediaError('E_UNSAFE_NAME', 'destination exists and is not a folder (or is a symlink)', { path });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(path);
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
  await mkdir(dest, { recursive: true });
  const dirs: { path: string; mtime: Date | undefined }[] = [];
  for (const { e, parts } of plan) {
    if (e.type !== 'directory') continue;
    let p = dest;
    for (const c of parts) {
      p = join(p, c);
      await ensureDir(p);
    }
    dirs.push({ path: p, mtime: e.mtime });
    result.directories++;
  }
  const source = (media as VolumeFS).source;
  const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  for (const { e, parts } of plan) {
    if (e.type === 'directory') continue;
    if (e.type !== 'file') {
      result.notExtracted.push({ path: e.path, reason: e.type === 'symlink' ? 'symbolic link' : 'not a regular file' });
      continue;
    }
    opts.signal?.throwIfAborted();
    const target = join(dest, ...parts);
    let p = dest;
    for (const c of parts.slice(0, -1)) {
      p = join(p, c);
      await ensureDir(p);
    }
    progress.current = e.path;
    const existing = await lstat(target).catch(() => undefined);
    if (existing) {
      if (existing.isSymbolicLink() || !existing.isFile()) {
        throw new MediaError('E_UNSAFE_NAME', 'destination exists and is not a regular file (symlink?)', { path: target });
      }
      // A complete file from an earlier run: same size and the image's timestamp (set last).
      const sameTime = !e.mtime || Math.abs(existing.mtimeMs - e.mtime.getTime()) < 1000;
      if (existing.size === e.size && sameTime) {
        result.skippedFiles++;
        result.skippedBytes += e.size;
        progress.bytesDone += e.size;
        progress.filesDone++;
        opts.onProgress?.(progress);
        continue;
      }
    }
    const extents = await media.extents(e.path);
    const partial = join(dirname(target), `.${parts[parts.length - 1]}${PARTIAL_SUFFIX}`);
    await copyExtents(source, extents, e.size, partial, bufs, (n) => {
      progress.bytesDone += n;
      result.bytesWritten += n;
      opts.onProgress?.(progress);
    }, opts.signal).catch(async (err) => {
      await rm(partial, { force: true });
      throw err;
    });
    if (e.mtime) await utimes(partial, e.mtime, e.mtime);
    await rename(partial, target);
    result.files++;
    progress.filesDone++;
    opts.onProgress?.(progress);
  }
  // Folder times last: writing their contents changed them.
  for (const d of dirs.reverse()) if (d.mtime) await utimes(d.path, d.mtime, d.mtime);
  return result;
}

interface Reader {
  readInto(buf: Buffer, bufOffset: number, length: number, offset: number): Promise<number>;
}

/** Copies a file's extents into `path`: the next read is in flight while the current chunk is written. */
async function copyExtents(
  source: Reader,
  extents: readonly Extent[],
  size: number,
  path: string,
  bufs: Buffer[],
  onBytes: (n: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  const fh = await open(path, 'w');
  try {
    // The plan: (image offset, length, file offset) pieces of at most one chunk each.
    const pieces: { offset: number; length: number; at: number; sparse: boolean }[] = [];
    let at = 0;
    for (const x of extents) {
      for (let o = 0; o < x.length; o += CHUNK) {
        const length = Math.min(CHUNK, x.length - o);
        pieces.push({ offset: x.offset + o, length, at: at + o, sparse: !!x.sparse });
      }
      at += x.length;
    }
    const readPiece = async (i: number): Promise<void> => {
      const p = pieces[i]!;
      if (p.sparse) return;
      const got = await source.readInto(bufs[i & 1]!, 0, p.length, p.offset);
      if (got !== p.length) throw new MediaError('E_TRUNCATED', 'file data lies past the end of the image', { path, offset: p.offset });
    };
    let pending = pieces.length ? readPiece(0) : Promise.resolve();
    for (let i = 0; i < pieces.length; i++) {
      await pending;
      signal?.throwIfAborted();
      pending = i + 1 < pieces.length ? readPiece(i + 1) : Promise.resolve();
      const p = pieces[i]!;
      // Sparse extents stay holes: truncate() below gives the file its full length.
      if (!p.sparse) {
        const buf = bufs[i & 1]!;
        let w = 0;
        while (w < p.length) w += (await fh.write(buf, w, p.length - w, p.at + w)).bytesWritten;
      }
      onBytes(p.length);
    }
    await pending;
    if (at !== size) throw new MediaError('E_FORMAT', 'extents do not add up to the file size', { path, size, extents: at });
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
}
