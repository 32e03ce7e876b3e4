// openMedia: one entry point for any install image. UDF is preferred because Microsoft's media
// keep their real tree only there (oscdimg -u2); Rock Ridge, Joliet and plain ISO 9660 follow.
import { MediaError } from './errors.ts';
import { type BootCatalog, readBootCatalog } from './eltorito.ts';
import { ExtentSource, VolumeFS } from './fs.ts';
import { type IsoInfo, Iso9660Volume, isoInfo } from './iso9660/volume.ts';
import { type ByteSource, FileSource } from './source.ts';
import type { FsKind, Volume } from './types.ts';
import { type UdfInfo, UdfVolume } from './udf/volume.ts';

export interface OpenMediaOptions {
  /** Read this view instead of the preferred one (e.g. 'joliet' to see what Windows' ISO 9660 side shows). */
  view?: FsKind | undefined;
}

export class Media extends VolumeFS {
  readonly path: string;
  /** Size of the image file in bytes. */
  readonly size: number;
  readonly udf: UdfInfo | undefined;
  readonly iso: IsoInfo | undefined;
  /** Problems that did not stop reading, e.g. a damaged UDF volume with a usable ISO 9660 tree. */
  readonly warnings: string[];
  #boot: Promise<BootCatalog | null> | undefined;

  constructor(path: string, source: ByteSource, volume: Volume, udf: UdfInfo | undefined, iso: IsoInfo | undefined, warnings: string[]) {
    super(volume, source);
    this.path = path;
    this.size = source.size;
    this.udf = udf;
    this.iso = iso;
    this.warnings = warnings;
  }

  /** The El Torito boot catalog, or null when the image is not bootable. */
  bootCatalog(): Promise<BootCatalog | null> {
    this.#boot ??= this.iso?.hasElTorito ? readBootCatalog(this.source) : Promise.resolve(null);
    return this.#boot;
  }

  /**
   * Which file of the tree each boot entry loads (etfsboot.com, efisys.bin, isolinux.bin...):
   * image offset of the boot image → path. Entries whose image is not a file are absent.
   */
  async bootFiles(): Promise<Map<number, string>> {
    const cat = await this.bootCatalog();
    const out = new Map<number, string>();
    if (!cat) return out;
    const wanted = new Set(cat.entries.map((e) => e.imageOffset));
    for await (const e of this.walk()) {
      // Boot images are small; skipping large files keeps this a metadata-only walk.
      if (e.type !== 'file' || e.size === 0 || e.size > 64 * 1024 * 1024) continue;
      const first = (await this.extents(e.path))[0];
      if (first && !first.sparse && wanted.has(first.offset) && !out.has(first.offset)) out.set(first.offset, e.path);
    }
    return out;
  }

  /** A file inside the image as a ByteSource (for reading install.wim in place). */
  async fileSource(path: string): Promise<ByteSource> {
    const st = await this.stat(path);
    return new ExtentSource(this.source, await this.extents(path), st.size, `${this.path}:${st.path}`);
  }

  close(): Promise<void> {
    return this.source.close();
  }
}

export async function openMedia(path: string, opts: OpenMediaOptions = {}): Promise<Media> {
  const source = await FileSource.open(path);
  try {
    return await openMediaSource(path, source, opts);
  } catch (e) {
    await source.close();
    throw e;
  }
}

/** openMedia over any ByteSource (in-memory images for fuzzing, nested images). */
export async function openMediaSource(path: string, source: ByteSource, opts: OpenMediaOptions = {}): Promise<Media> {
  const warnings: string[] = [];
  let iso: IsoInfo | undefined;
  try {
    iso = await isoInfo(source);
  } catch (e) {
    if (!(e instanceof MediaError)) throw e;
    if (e.code !== 'E_NO_FS') warnings.push(`ISO 9660 descriptors: ${e.message}`);
  }
  let udf: UdfVolume | undefined;
  let udfError: MediaError | undefined;
  if (!opts.view || opts.view === 'udf') {
    try {
      udf = await UdfVolume.open(source);
    } catch (e) {
      if (!(e instanceof MediaError)) throw e;
      udfError = e;
      if (e.code !== 'E_NO_FS') warnings.push(`UDF volume unreadable, falling back to ISO 9660: ${e.message}`);
    }
  }
  if (opts.view === 'udf' && !udf) throw udfError!;
  let volume: Volume | undefined = udf;
  if (!volume && iso) {
    const flavour = opts.view && opts.view !== 'udf' ? opts.view : 'auto';
    volume = await Iso9660Volume.open(source, flavour);
  }
  if (!volume) {
    if (udfError && udfError.code !== 'E_NO_FS') throw udfError;
    throw new MediaError('E_NO_FS', 'not an ISO 9660 or UDF image (no volume descriptors, no UDF anchor)', { path });
  }
  return new Media(path, source, volume, udf?.info, iso, warnings);
}
