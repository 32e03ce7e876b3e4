// /media/<id>/<path>: files of install images, streamed from the image file by their extents.
// Each image is opened once; its descriptor serves every request. Lookups (MediaFS resolves
// case-insensitively, as Windows Setup does) are cached: the media are read-only.
import { open, type FileHandle } from 'node:fs/promises';
import { isMediaError } from '../../media/errors.ts';
import type { Extent, MediaEntry, MediaFS } from '../../media/types.ts';
import { HttpError } from './errors.ts';
import { makeEtag, type Representation } from './representation.ts';
import { SharedReader, slice } from './send.ts';

export interface HttpMedia {
  /** The URL component: /media/<id>/... */
  readonly id: string;
  readonly fs: MediaFS & { readonly path: string };
}

interface Found {
  readonly entry: MediaEntry;
  readonly extents: readonly Extent[];
}

const CACHE_MAX = 4096;

class Image {
  readonly media: HttpMedia;
  readonly #fh: FileHandle;
  readonly #mtimeMs: number;
  readonly #reader: SharedReader;
  readonly #cache = new Map<string, Promise<Found>>();

  constructor(media: HttpMedia, fh: FileHandle, mtimeMs: number, size: number) {
    this.media = media;
    this.#fh = fh;
    this.#mtimeMs = mtimeMs;
    this.#reader = new SharedReader(fh.fd, size);
  }

  async find(path: string): Promise<Representation> {
    const key = path.toLowerCase();
    let p = this.#cache.get(key);
    if (!p) {
      if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
      p = this.#lookup(path);
      this.#cache.set(key, p);
      // Failures are not cached: an I/O error may pass, and 404s are cheap to repeat.
      p.catch(() => this.#cache.delete(key));
    }
    const { entry, extents } = await p;
    const image = this.media.fs.path;
    return {
      length: entry.size,
      // The image file's identity and this file's place in it: any rewrite of either changes it.
      etag: makeEtag(image, this.#mtimeMs, extents[0]?.offset ?? 0, entry.size, entry.path),
      lastModified: entry.mtime ?? new Date(this.#mtimeMs),
      reader: this.#reader,
      pieces: (start, end) => slice(extents, start, end),
    };
  }

  async #lookup(path: string): Promise<Found> {
    let entry: MediaEntry | undefined;
    try {
      entry = await this.media.fs.exists(path);
    } catch (e) {
      // A component that is a file, or a name the reader refuses: still "no such file".
      if (isMediaError(e) && (e.code === 'E_NOT_DIR' || e.code === 'E_NOT_FOUND')) entry = undefined;
      else throw e;
    }
    if (!entry || entry.type !== 'file') throw new HttpError(404, 'no such file in the image', { media: this.media.id, path });
    return { entry, extents: await this.media.fs.extents(entry.path) };
  }

  close(): Promise<void> {
    return this.#fh.close();
  }
}

export class MediaStore {
  readonly #images = new Map<string, Image>();

  private constructor() {}

  static async open(list: readonly HttpMedia[]): Promise<MediaStore> {
    const store = new MediaStore();
    try {
      for (const m of list) {
        if (!/^[A-Za-z0-9._-]+$/.test(m.id) || m.id === '.' || m.id === '..') {
          throw new HttpError(500, 'media id must be a plain URL component (letters, digits, . _ -)', { id: m.id });
        }
        if (store.#images.has(m.id)) throw new HttpError(500, 'media id given twice', { id: m.id });
        const fh = await open(m.fs.path, 'r');
        const st = await fh.stat().catch(async (e: unknown) => {
          await fh.close();
          throw e;
        });
        store.#images.set(m.id, new Image(m, fh, st.mtimeMs, st.size));
      }
    } catch (e) {
      await store.close();
      throw e;
    }
    return store;
  }

  /** The file at `segments` of media `id`, or HttpError 404. */
  find(id: string, segments: readonly string[]): Promise<Representation> {
    const img = this.#images.get(id);
    if (!img) return Promise.reject(new HttpError(404, 'no such media', { id }));
    return img.find('/' + segments.join('/'));
  }

  list(): { id: string; label: string; path: string; kind: string }[] {
    return [...this.#images.values()].map((i) => ({ id: i.media.id, label: i.media.fs.label, path: i.media.fs.path, kind: i.media.fs.kind }));
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#images.values()].map((i) => i.close()));
    this.#images.clear();
  }
}
