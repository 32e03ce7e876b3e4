// Install media for a deployment: opened, identified as Windows Setup media, and extracted once into
// the share folder that WinPE's setup.exe installs from.
//
// The folder is named by the media's identity: a SHA-256 over the image size, the volume label,
// every entry's path, size, time and position in the image, and the first 4 KiB of every file. It
// changes whenever the ISO's content in practice does, and costs a metadata walk plus one small
// read a file rather than a read of gigabytes. (A full SHA-256 of a 4 GB image takes longer than
// extracting it; `overnight media verify` checks an image against Microsoft's hashes.) The
// identity is remembered by the image file's device, inode, size and time, so a second start
// does not even walk the tree.
// A folder is complete when its marker file exists; without it, extraction resumes: complete files
// are kept and the rest written.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
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

/** The media's identity: image size, label and the whole tree's metadata. */
export async function mediaIdentity(media: Media): Promise<string> {
  const h = createHash('sha256');
  h.update(`overnight-media-2\0${media.size}\0${media.label}\0`);
  const entries: MediaEntry[] = [];
  for await (const e of media.walk()) entries.push(e);
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

/** The identity, from the cache when the image file is the one measured before. */
async function cachedIdentity(media: Media, iso: string, mediaDir: string | undefined): Promise<string> {
  const st = await stat(iso);
  const stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  const file = mediaDir ? join(mediaDir, 'identities.json') : undefined;
  const cache = file ? await readFile(file, 'utf8').then((t) => JSON.parse(t) as Record<string, { stamp: string; key: string }>).catch(() => ({}) as Record<string, { stamp: string; key: string }>) : {};
  const hit = cache[iso];
  if (hit?.stamp === stamp) return hit.key;
  const key = await mediaIdentity(media);
  if (file) {
    cache[iso] = { stamp, key };
    await mkdir(mediaDir!, { recursive: true });
    await writeFile(`${file}.${process.pid}`, JSON.stringify(cache, null, 1) + '\n');
    await rename(`${file}.${process.pid}`, file);
  }
  return key;
}

export interface PrepareOptions {
  id: string;
  iso: string;
  /** Where extracted media go (<data>/media); undefined: no extraction (an external share). */
  mediaDir: string | undefined;
  onProgress?: ((p: ExtractProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export async function prepareMedia(o: PrepareOptions): Promise<PreparedMedia> {
  const media = await openMedia(o.iso);
  try {
    const report = await identifyWindows(media);
    if (!report.windows || !report.installImage) {
      throw new ServeError('E_NOT_WINDOWS', `${o.iso} is not Windows Setup media: it has no sources/install.wim (or .esd/.swm)${report.windows ? '' : ' and no sources/boot.wim'} (volume "${media.label}")`, { iso: o.iso });
    }
    const fam = report.family.toLowerCase();
    if (!(RELEASES as readonly string[]).includes(fam)) {
      throw new ServeError('E_NOT_WINDOWS', `${o.iso}: ${report.release} is not a release overnight installs (Vista, 7, 8, 8.1, 10, 11)`, { iso: o.iso });
    }
    const arch = report.architecture === 'x64' ? 'amd64' : (report.architecture as PreparedMedia['arch']);
    const boot = await bootFiles(media, o.iso);
    const key = await cachedIdentity(media, o.iso, o.mediaDir);
    const out: PreparedMedia = { id: o.id, iso: o.iso, media, report, release: fam as Release, arch, key, boot, shareDir: undefined, extracted: Promise.resolve(), extraction: undefined };
    if (!o.mediaDir) return out;
    const shareDir = join(o.mediaDir, `${o.id}-${key.slice(0, 12)}`);
    out.shareDir = shareDir;
    const t0 = performance.now();
    const marker = await readFile(join(shareDir, MARKER), 'utf8').then((t) => JSON.parse(t) as { key: string; files: number }).catch(() => undefined);
    if (marker?.key === key && (await looksComplete(media, shareDir))) {
      out.extraction = { reused: true, files: marker.files, bytesWritten: 0, skippedFiles: marker.files, seconds: (performance.now() - t0) / 1000 };
      return out;
    }
    // The extraction goes on after this returns: the caller starts what does not need the files
    // meanwhile, and waits on `extracted` before it sends any machine here.
    let destination!: () => void;
    const hasDestination = new Promise<void>((resolve) => (destination = resolve));
    out.extracted = (async () => {
      const r = await extract(media, shareDir, { onProgress: o.onProgress, signal: o.signal, onDestination: destination });
      const tmp = join(shareDir, `${MARKER}.tmp`);
      await writeFile(tmp, JSON.stringify({ key, iso: o.iso, files: r.files, completed: new Date().toISOString() }) + '\n');
      await rename(tmp, join(shareDir, MARKER));
      out.extraction = { reused: false, files: r.files, bytesWritten: r.bytesWritten, skippedFiles: r.skippedFiles, seconds: (performance.now() - t0) / 1000 };
    })();
    // Whoever awaits `extracted` sees a failure; nobody else is told of it twice.
    out.extracted.catch(() => {});
    await Promise.race([hasDestination, out.extracted]);
    return out;
  } catch (e) {
    await media.close();
    throw e;
  }
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
