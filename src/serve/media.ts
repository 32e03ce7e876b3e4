// Install media for a deployment: opened, identified as Windows Setup media, and extracted once into
// the share folder that WinPE's setup.exe installs from.
//
// The folder is named by the tree's metadata (image size, volume label, every entry's path, type,
// size and time), which the extraction walks anyway: the copy starts without waiting for anything
// else. Beside it the media's identity is measured: a SHA-256 over the same metadata plus every
// file's position in the image and its first 4 KiB. It changes whenever the ISO's content in
// practice does, and costs a metadata walk plus one small read a file rather than a read of
// gigabytes. (A full SHA-256 of a 4 GB image takes longer than extracting it; `overnight media
// verify` checks an image against Microsoft's hashes.) The folder records it as soon as it is
// known, and an earlier start's folder is used only when its record matches: the same tree with
// other bytes gets a fresh copy. Both are remembered by the image file's device, inode, size and
// time, so a second start does not even walk the tree.
// A folder is complete when its record says so; until then, extraction resumes: complete files are
// kept and the rest written.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Release } from '../answer/release.ts';
import { RELEASES } from '../answer/release.ts';
import { extract, type ExtractProgress } from '../media/extract.ts';
import { type Media, openMedia } from '../media/open.ts';
import type { MediaEntry } from '../media/types.ts';
import { readWimHeader } from '../media/wim/index.ts';
import { identifyWindows, type WindowsReport } from '../windows/identify.ts';
import { ServeError } from './errors.ts';

export interface BootFiles {
  bootmgr: string;
  bcd: string;
  bootSdi: string;
  bootWim: string;
  /** wimboot's index=, when boot.wim marks no bootable image: the last one (Setup) is used. */
  bootIndex: number | undefined;
}

export interface PreparedMedia {
  id: string;
  iso: string;
  media: Media;
  report: WindowsReport;
  release: Release;
  /** amd64, x86, arm64 */
  arch: 'x86' | 'amd64' | 'arm64';
  /** Identity of the image (hex), naming its share folder. */
  key: string;
  boot: BootFiles;
  /** The extracted tree, when the share is overnight's own (the folder exists once prepareMedia returns). */
  shareDir: string | undefined;
  /** Settles when the share folder is complete (at once when reused); filled in then. */
  extracted: Promise<void>;
  extraction: { reused: boolean; files: number; bytesWritten: number; skippedFiles: number; seconds: number } | undefined;
}

const MARKER = '.overnight-media.json';

/** Case-insensitive lookup of a path inside the image (Microsoft media differ in case between releases). */
export async function findPath(media: Media, path: string): Promise<MediaEntry | undefined> {
  let dir = '/';
  let entry: MediaEntry | undefined;
  for (const part of path.split('/').filter(Boolean)) {
    const list = await media.list(dir).catch(() => []);
    entry = list.find((e) => e.name.toLowerCase() === part.toLowerCase());
    if (!entry) return undefined;
    dir = entry.path;
  }
  return entry;
}

/** Every entry of the image, in walk order. */
async function walkAll(media: Media): Promise<MediaEntry[]> {
  const entries: MediaEntry[] = [];
  for await (const e of media.walk()) entries.push(e);
  return entries;
}

/**
 * The name of the media's share folder: image size, label and every entry's path, type, size and
 * time. The walk it needs is the extraction's own, so it costs next to nothing and the copy starts
 * at once; the full identity (below) is checked against the folder's record beside the copy.
 */
export function folderKey(media: Media, entries: readonly MediaEntry[]): string {
  const h = createHash('sha256');
  h.update(`overnight-folder-1\0${media.size}\0${media.label}\0`);
  for (const e of entries) h.update(`${e.path}\0${e.type}\0${e.size}\0${e.mtime?.getTime() ?? ''}\n`);
  return h.digest('hex');
}

/** The media's identity: image size, label and the whole tree's metadata. */
export async function mediaIdentity(media: Media, walked?: readonly MediaEntry[]): Promise<string> {
  const h = createHash('sha256');
  h.update(`overnight-media-2\0${media.size}\0${media.label}\0`);
  const entries = walked ?? (await walkAll(media));
  // Reads in batches, hashed in walk order: one small read after another costs a disk seek each.
  for (let i = 0; i < entries.length; i += 64) {
    const batch = entries.slice(i, i + 64);
    const heads = await Promise.all(
      batch.map(async (e) => {
        const first = e.type === 'file' && e.size > 0 ? (await media.extents(e.path))[0] : undefined;
        return { first, data: first ? await media.read(e.path, 0, Math.min(e.size, 4096)) : undefined };
      }),
    );
    for (const [j, e] of batch.entries()) {
      const { first, data } = heads[j]!;
      h.update(`${e.path}\0${e.type}\0${e.size}\0${e.mtime?.getTime() ?? ''}\0${first?.offset ?? ''}\n`);
      if (data) h.update(data);
    }
  }
  return h.digest('hex');
}

export interface Known {
  /** The image file's device, inode, size and time when it was measured. */
  stamp: string;
  /** mediaIdentity */
  key: string;
  /** folderKey */
  folder: string;
}

/**
 * The identities remembered for image files (<mediaDir>/identities.json): a second start of the
 * same file neither walks the tree nor reads a byte of it to find its folder.
 */
export class Identities {
  readonly #file: string;
  readonly #iso: string;
  #stamp = '';
  constructor(mediaDir: string, iso: string) {
    this.#file = join(mediaDir, 'identities.json');
    this.#iso = iso;
  }
  async #all(): Promise<Record<string, Known>> {
    return readFile(this.#file, 'utf8')
      .then((t) => JSON.parse(t) as Record<string, Known>)
      .catch(() => ({}));
  }
  async lookup(): Promise<Known | undefined> {
    const st = await stat(this.#iso);
    this.#stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    const hit = (await this.#all())[this.#iso];
    return hit?.stamp === this.#stamp && hit.folder ? hit : undefined;
  }
  async remember(key: string, folder: string): Promise<void> {
    const all = await this.#all();
    all[this.#iso] = { stamp: this.#stamp, key, folder };
    const tmp = `${this.#file}.${process.pid}`;
    await writeFile(tmp, JSON.stringify(all, null, 1) + '\n');
    await rename(tmp, this.#file);
  }
}

export interface PrepareOptions {
  id: string;
  iso: string;
  /** Where extracted media go (<data>/media); undefined: no extraction (an external share). */
  mediaDir: string | undefined;
  onProgress?: ((p: ExtractProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
}

const notWindows = (iso: string, media: Media, bootWim: boolean) =>
  new ServeError('E_NOT_WINDOWS', `${iso} is not Windows Setup media: it has no sources/install.wim (or .esd/.swm)${bootWim ? '' : ' and no sources/boot.wim'} (volume "${media.label}")`, { iso });

/** The image path of a file under /sources, in the case the media spell it, if it is there. */
const inSources = (entries: readonly MediaEntry[], name: string) => entries.find((e) => e.type === 'file' && e.path.toLowerCase() === `/sources/${name}`);

/**
 * Media opened and, for overnight's own share, their copy begun: the first part of a start, which
 * `overnight serve` runs before the servers' code has even loaded (the copy is most of a first
 * start). prepareMedia goes on from here.
 */
export interface BegunMedia {
  readonly id: string;
  readonly iso: string;
  readonly media: Media;
  /** What an earlier start measured of this image file, when it is unchanged. */
  readonly known: Known | undefined;
  /** The walked tree (undefined when `known`). */
  readonly entries: MediaEntry[] | undefined;
  /** folderKey */
  readonly folder: string;
  readonly shareDir: string | undefined;
  /** The folder was not there: this run fills it from the start. */
  readonly fresh: boolean;
  readonly identities: Identities | undefined;
  /** Progress of the copy goes here (set by whoever waits on it). */
  onProgress: ((p: ExtractProgress) => void) | undefined;
  /** Stops the copy (the image stays open). */
  stop(reason?: unknown): void;
  /** Starts the copy into shareDir; settles once the folder exists. */
  startExtraction(): Promise<void>;
  /** The copy under way (settled at once when none is). */
  readonly extracted: Promise<void>;
  readonly extraction: PreparedMedia['extraction'];
  /** The share folder when this run made it. */
  madeDir: string | undefined;
  /** Stops the copy, waits for it, removes the folder this run made when `remove`, and closes the image. */
  abandon(remove: boolean): Promise<void>;
}

/**
 * Opens the media and, for a new share folder, starts the copy into it. Media whose tree has no
 * install image are refused here, before a byte is copied.
 */
export async function beginMedia(o: PrepareOptions): Promise<BegunMedia> {
  const media = await openMedia(o.iso);
  // Stops this media's extraction: on the caller's signal, or when the start fails.
  const stop = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, stop.signal]) : stop.signal;
  let extracted: Promise<void> = Promise.resolve();
  let extraction: PreparedMedia['extraction'];
  let closed = false;
  try {
    const identities = o.mediaDir ? new Identities(o.mediaDir, o.iso) : undefined;
    const known = await identities?.lookup();
    const entries = known ? undefined : await walkAll(media);
    if (entries && !['install.wim', 'install.esd', 'install.swm'].some((n) => inSources(entries, n))) throw notWindows(o.iso, media, !!inSources(entries, 'boot.wim'));
    const folder = known?.folder ?? folderKey(media, entries!);
    const shareDir = o.mediaDir ? join(o.mediaDir, `${o.id}-${folder.slice(0, 12)}`) : undefined;
    const t0 = performance.now();
    const b: BegunMedia = {
      id: o.id,
      iso: o.iso,
      media,
      known,
      entries,
      folder,
      shareDir,
      // A new folder is filled at once; one from an earlier start is trusted only once the full
      // identity matches its record (the same tree with other bytes gets a fresh copy).
      fresh: shareDir !== undefined && !existsSync(shareDir),
      identities,
      onProgress: o.onProgress,
      stop: (reason) => stop.abort(reason),
      get extracted() {
        return extracted;
      },
      get extraction() {
        return extraction;
      },
      madeDir: undefined,
      async startExtraction() {
        let destination!: () => void;
        const hasDestination = new Promise<void>((resolve) => (destination = resolve));
        extracted = extract(media, shareDir!, { entries, onProgress: (p) => b.onProgress?.(p), signal, onDestination: destination }).then((r) => {
          extraction = { reused: false, files: r.files, bytesWritten: r.bytesWritten, skippedFiles: r.skippedFiles, seconds: (performance.now() - t0) / 1000 };
        });
        extracted.catch(() => {});
        await Promise.race([hasDestination, extracted]);
      },
      async abandon(remove) {
        stop.abort();
        await extracted.catch(() => {});
        if (remove && b.madeDir) await rm(b.madeDir, { recursive: true, force: true });
        if (!closed) await media.close();
        closed = true;
      },
    };
    if (b.fresh) {
      await b.startExtraction();
      b.madeDir = shareDir;
    }
    return b;
  } catch (e) {
    stop.abort(e);
    await extracted.catch(() => {});
    await media.close();
    throw e;
  }
}

/**
 * Opens the media (or goes on from `begun`) and, for overnight's own share, has their extraction
 * under way: the copy is most of a first start, so the media are identified (the WIMs' XML, the
 * boot files, the full identity) beside it, and a failure there stops it (media that are not
 * Windows leave nothing).
 */
export async function prepareMedia(o: PrepareOptions, begun?: BegunMedia): Promise<PreparedMedia> {
  const b = begun ?? (await beginMedia(o));
  if (begun) {
    if (begun.iso !== o.iso || begun.id !== o.id) throw new Error(`prepareMedia: begun media ${begun.id} (${begun.iso}) are not ${o.id} (${o.iso})`);
    begun.onProgress = o.onProgress;
    if (o.signal?.aborted) begun.stop(o.signal.reason);
    o.signal?.addEventListener('abort', () => begun.stop(o.signal!.reason), { once: true });
  }
  const { media, known, entries, folder, shareDir, fresh, identities } = b;
  const t0 = performance.now();
  try {
    const [report, boot, key] = await Promise.all([identifyWindows(media), bootFiles(media, o.iso), known?.key ?? mediaIdentity(media, entries)]);
    if (!report.windows || !report.installImage) throw notWindows(o.iso, media, report.windows);
    const fam = report.family.toLowerCase();
    if (!(RELEASES as readonly string[]).includes(fam)) {
      throw new ServeError('E_NOT_WINDOWS', `${o.iso}: ${report.release} is not a release overnight installs (Vista, 7, 8, 8.1, 10, 11)`, { iso: o.iso });
    }
    const arch = report.architecture === 'x64' ? 'amd64' : (report.architecture as PreparedMedia['arch']);
    const out: PreparedMedia = { id: o.id, iso: o.iso, media, report, release: fam as Release, arch, key, boot, shareDir, extracted: b.extracted, extraction: undefined };
    if (!shareDir) return out;
    if (!known) await identities!.remember(key, folder);
    if (fresh) {
      // The record of what this folder holds, written while the copy goes on: a start that finds
      // the folder unfinished resumes it only for the same media.
      await writeRecord(shareDir, { key, iso: o.iso });
    } else {
      const record = await readRecord(shareDir);
      if (record?.key === key && record.completed && (await looksComplete(media, shareDir))) {
        out.extraction = { reused: true, files: record.files ?? 0, bytesWritten: 0, skippedFiles: record.files ?? 0, seconds: (performance.now() - t0) / 1000 };
        return out;
      }
      if (record?.key !== key) {
        // Another media with the same tree, or a start stopped before the record was written.
        await rm(shareDir, { recursive: true, force: true });
        await b.startExtraction();
        b.madeDir = shareDir;
        await writeRecord(shareDir, { key, iso: o.iso });
      } else {
        await b.startExtraction();
      }
    }
    // The extraction goes on after this returns: the caller starts what does not need the files
    // meanwhile, and waits on `extracted` before it sends any machine here.
    out.extracted = b.extracted.then(async () => {
      await writeRecord(shareDir, { key, iso: o.iso, files: b.extraction!.files, completed: new Date().toISOString() });
      out.extraction = b.extraction;
    });
    // Whoever awaits `extracted` sees a failure; nobody else is told of it twice.
    out.extracted.catch(() => {});
    return out;
  } catch (e) {
    // Media that cannot be served leave no half copy behind; a copy from an earlier start is kept.
    await b.abandon(e instanceof ServeError);
    throw e;
  }
}

/** The folder's record (MARKER): which media it holds, from the start of the copy; `completed` once whole. */
interface MediaRecord {
  key: string;
  iso: string;
  files?: number;
  completed?: string;
}

async function readRecord(dir: string): Promise<MediaRecord | undefined> {
  return readFile(join(dir, MARKER), 'utf8')
    .then((t) => JSON.parse(t) as MediaRecord)
    .catch(() => undefined);
}

async function writeRecord(dir: string, r: MediaRecord): Promise<void> {
  const tmp = join(dir, `${MARKER}.tmp`);
  await writeFile(tmp, JSON.stringify(r) + '\n');
  await rename(tmp, join(dir, MARKER));
}

/** The files Setup is started from are where the marker says: a cheap check that nobody emptied the folder. */
async function looksComplete(media: Media, dir: string): Promise<boolean> {
  for (const p of ['setup.exe', 'sources/boot.wim']) {
    const e = await findPath(media, p);
    if (!e) continue;
    const local = join(dir, ...e.path.split('/').filter(Boolean));
    const st = await stat(local).catch(() => undefined);
    if (!st || st.size !== e.size) return false;
  }
  return existsSync(dir);
}

async function bootFiles(media: Media, iso: string): Promise<BootFiles> {
  const need = { bootmgr: 'bootmgr', bcd: 'boot/bcd', bootSdi: 'boot/boot.sdi', bootWim: 'sources/boot.wim' } as const;
  const out: Partial<Record<keyof typeof need, string>> = {};
  for (const [k, p] of Object.entries(need) as [keyof typeof need, string][]) {
    const e = await findPath(media, p);
    if (!e || e.type !== 'file') throw new ServeError('E_NOT_WINDOWS', `${iso} has no ${p}: wimboot needs it to start Windows PE from the network`, { iso, path: p });
    out[k] = e.path.replace(/^\//, '');
  }
  const header = await readWimHeader(await media.fileSource(`/${out.bootWim}`));
  return { ...(out as Record<keyof typeof need, string>), bootIndex: header.bootIndex === 0 ? header.imageCount : undefined };
}
