// The read-only view of install media that the rest of overnight uses. One interface, several
// volume readers behind it (UDF, Joliet, Rock Ridge, plain ISO 9660).
import type { Readable } from 'node:stream';

export type EntryType = 'file' | 'directory' | 'symlink' | 'other';

export interface MediaEntry {
  /** Name as recorded on the medium (after CS0 / Joliet / Rock Ridge decoding). */
  readonly name: string;
  /** Absolute path inside the image, '/' separated, e.g. '/sources/install.wim'. */
  readonly path: string;
  readonly type: EntryType;
  /** Size in bytes (0 for directories). */
  readonly size: number;
  /** Modification time, when the medium records one. */
  readonly mtime: Date | undefined;
  /** POSIX mode bits when the medium records them (Rock Ridge PX, UDF permissions). */
  readonly mode: number | undefined;
  /** Hidden attribute (ISO 9660 existence bit, UDF FID hidden characteristic). */
  readonly hidden: boolean;
  /** Symlink target (Rock Ridge SL), when type is 'symlink'. */
  readonly target?: string | undefined;
}

/**
 * A byte range of a file inside the image. `offset` is the byte offset in the image file;
 * `sparse` extents (UDF "not recorded") read as zeros and have no image bytes.
 */
export interface Extent {
  readonly offset: number;
  readonly length: number;
  readonly sparse?: boolean;
}

export type FsKind = 'udf' | 'joliet' | 'rockridge' | 'iso9660';

export interface MediaFS {
  readonly kind: FsKind;
  /** Volume label (UDF logical volume id, or the ISO 9660 / Joliet volume id). */
  readonly label: string;
  list(dir: string): Promise<MediaEntry[]>;
  stat(path: string): Promise<MediaEntry>;
  /** Like stat, but undefined instead of E_NOT_FOUND. */
  exists(path: string): Promise<MediaEntry | undefined>;
  /** Where the file's bytes lie in the image, in file order. Their lengths add up to the file size. */
  extents(path: string): Promise<Extent[]>;
  /** Bytes [start, end) of a file; end defaults to the file size. */
  read(path: string, start?: number, end?: number): Promise<Buffer>;
  /** A stream of bytes [start, end) of a file (end exclusive, unlike fs.createReadStream). */
  stream(path: string, start?: number, end?: number): Promise<Readable>;
  /** Every entry below `dir`, depth first, directories before their contents. */
  walk(dir?: string): AsyncIterable<MediaEntry>;
}

/**
 * What a volume reader provides. The generic layer in fs.ts turns it into a MediaFS: path lookup
 * (case-insensitive fallback, as Windows Setup resolves paths), reads and streams from extents.
 */
export interface VolumeNode extends MediaEntry {
  /** Opaque, reader-specific reference (e.g. an ICB location or a directory record extent). */
  readonly ref: unknown;
}

export interface Volume {
  readonly kind: FsKind;
  readonly label: string;
  root(): Promise<VolumeNode>;
  children(dir: VolumeNode): Promise<VolumeNode[]>;
  extents(file: VolumeNode): Promise<Extent[]>;
}
