// ISO 9660 volume reader: the plain ECMA-119 tree, the Joliet tree (UCS-2 names in a
// supplementary descriptor) or the Rock Ridge view of the primary tree (POSIX names, modes,
// symlinks, relocated deep directories). This is the I/O side; the codecs are in
// descriptors.ts and directory.ts.
import { MediaError } from '../errors.ts';
import type { ByteSource } from '../source.ts';
import type { EntryType, Extent, FsKind, Volume, VolumeNode } from '../types.ts';
import {
  MAX_VOLUME_DESCRIPTORS,
  VOLUME_DESCRIPTOR_SET_START,
  parseVolumeDescriptorSet,
  type PrimaryVolumeDescriptor,
  type SupplementaryVolumeDescriptor,
  type VolumeDescriptorSet,
} from './descriptors.ts';
import {
  FileFlags,
  RRIP_IDENTIFIERS,
  SECTOR_SIZE,
  findSp,
  interpretRockRidge,
  isSelfOrParent,
  isoName,
  jolietName,
  parseDirectory,
  parseDirectoryRecord,
  parseSuspArea,
  type DirectoryRecord,
  type RockRidgeInfo,
  type SuspEntry,
} from './directory.ts';

export type IsoFlavour = 'joliet' | 'rockridge' | 'iso9660' | 'auto';

/** Directory extents larger than this are refused (Windows media directories are a few KiB). */
export const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;
/** SUSP CE chains longer than this per record are not real (one or two in practice). */
export const MAX_CONTINUATION_AREAS = 32;
/** A single CE continuation area larger than this is not real (SUSP areas are a few hundred bytes). */
export const MAX_CONTINUATION_BYTES = 64 * 1024;
/** Directory nesting deeper than this is treated as a loop (7-Zip stops at 256 too). */
export const MAX_DEPTH = 256;
/**
 * ISO 9660 has no directory hard links: one directory extent listed under many paths is a
 * crafted image whose walk would grow exponentially. Beyond this many paths, it is skipped.
 */
export const MAX_PATHS_PER_DIRECTORY = 16;
/** Interleaved files (9.1.7) split into more pieces than this are refused. */
const MAX_EXTENTS = 1 << 20;
/** Warnings kept per volume; further ones are counted only. */
const MAX_WARNINGS = 100;

/** What a VolumeNode of this volume carries in `ref`. */
export interface IsoRef {
  /** The directory records of the entry: several for a multi-extent file (9.1.6 bit 7). */
  readonly records: readonly DirectoryRecord[];
  /** For directories: the logical block of its records (a Rock Ridge CL target when relocated). */
  readonly dirLocation: number;
  /** For directories: the byte length of its records; undefined when reached through CL. */
  readonly dirLength: number | undefined;
  /** Directory logical blocks from the root down to this node's directory, to break loops. */
  readonly ancestors: readonly number[];
  readonly rockRidge: RockRidgeInfo | undefined;
}

/** Reads and parses the volume descriptor set at sector 16. */
export async function readVolumeDescriptors(source: ByteSource): Promise<VolumeDescriptorSet> {
  const start = VOLUME_DESCRIPTOR_SET_START * SECTOR_SIZE;
  if (source.size < start + SECTOR_SIZE) {
    throw new MediaError('E_NO_FS', 'image too small for an ISO 9660 volume descriptor', { source: source.name, size: source.size });
  }
  const sectors = Math.min(MAX_VOLUME_DESCRIPTORS, Math.floor((source.size - start) / SECTOR_SIZE));
  return parseVolumeDescriptorSet(await source.read(start, sectors * SECTOR_SIZE));
}

// POSIX file type bits (st_mode & S_IFMT), as recorded in RRIP PX.
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

function typeFromMode(mode: number): EntryType {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return 'directory';
    case S_IFREG:
      return 'file';
    case S_IFLNK:
      return 'symlink';
    default:
      return 'other';
  }
}

function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/** 9.1.6 bit 7: records of one multi-extent file carry the same identifier and the same flags otherwise. */
function continuesMultiExtent(prev: DirectoryRecord, next: DirectoryRecord): boolean {
  return (
    (prev.fileFlags & FileFlags.multiExtent) !== 0 &&
    prev.fileIdentifier.equals(next.fileIdentifier) &&
    ((prev.fileFlags ^ next.fileFlags) & ~FileFlags.multiExtent) === 0
  );
}

export class Iso9660Volume implements Volume {
  readonly kind: FsKind;
  readonly label: string;
  readonly source: ByteSource;
  readonly descriptors: VolumeDescriptorSet;
  /** The descriptor whose tree is read: the primary one, or the Joliet supplementary one. */
  readonly descriptor: PrimaryVolumeDescriptor | SupplementaryVolumeDescriptor;
  /** SUSP LEN_SKP from the root's SP entry; defined when reading the Rock Ridge view. */
  readonly suspSkip: number | undefined;
  /** Things skipped while reading (directory loops, ...), for the media report. */
  readonly warnings: string[] = [];
  readonly #blockSize: number;
  readonly #root: VolumeNode;
  /** Directory extent -> the paths it has been listed under (at most MAX_PATHS_PER_DIRECTORY). */
  readonly #dirPaths = new Map<number, Set<string>>();

  private constructor(
    source: ByteSource,
    descriptors: VolumeDescriptorSet,
    descriptor: PrimaryVolumeDescriptor | SupplementaryVolumeDescriptor,
    kind: FsKind,
    suspSkip: number | undefined,
    rootRockRidge: RockRidgeInfo | undefined,
  ) {
    this.source = source;
    this.descriptors = descriptors;
    this.descriptor = descriptor;
    this.kind = kind;
    this.label = descriptor.volumeIdentifier;
    this.suspSkip = suspSkip;
    this.#blockSize = descriptor.logicalBlockSize;
    const rec = descriptor.rootDirectoryRecord;
    this.#root = {
      name: '',
      path: '/',
      type: 'directory',
      size: 0,
      mtime: rootRockRidge?.times.modify ?? rec.recordingDateAndTime,
      mode: rootRockRidge?.px ? rootRockRidge.px.mode & 0o7777 : undefined,
      hidden: false,
      ref: {
        records: [rec],
        dirLocation: rec.locationOfExtent + rec.extendedAttributeRecordLength,
        dirLength: rec.dataLength,
        ancestors: [],
        rockRidge: rootRockRidge,
      } satisfies IsoRef,
    };
  }

  /**
   * Opens the ISO 9660 file system of an image. 'auto' picks Rock Ridge when the root's '.'
   * record carries SUSP SP and Rock Ridge entries, else Joliet when there is a Joliet
   * descriptor, else the plain ECMA-119 tree. Asking for a flavour the image lacks is E_NO_FS.
   */
  static async open(source: ByteSource, flavour: IsoFlavour = 'auto'): Promise<Iso9660Volume> {
    const set = await readVolumeDescriptors(source);
    const pvd = set.primary;
    if (!pvd) throw new MediaError('E_NO_FS', 'no ISO 9660 primary volume descriptor', { source: source.name });
    checkBlockSize(pvd);
    let rr: { skip: number; root: RockRidgeInfo } | undefined;
    if (flavour === 'auto' || flavour === 'rockridge') rr = await detectRockRidge(source, pvd);
    if (flavour === 'rockridge' || (flavour === 'auto' && rr)) {
      if (!rr) throw new MediaError('E_NO_FS', 'no Rock Ridge extensions on this image', { source: source.name });
      return new Iso9660Volume(source, set, pvd, 'rockridge', rr.skip, rr.root);
    }
    if (flavour === 'joliet' || (flavour === 'auto' && set.joliet)) {
      if (!set.joliet) throw new MediaError('E_NO_FS', 'no Joliet volume descriptor on this image', { source: source.name });
      checkBlockSize(set.joliet);
      return new Iso9660Volume(source, set, set.joliet, 'joliet', undefined, undefined);
    }
    return new Iso9660Volume(source, set, pvd, 'iso9660', undefined, undefined);
  }

  async root(): Promise<VolumeNode> {
    return this.#root;
  }

  async children(dir: VolumeNode): Promise<VolumeNode[]> {
    const ref = dir.ref as IsoRef;
    if (dir.type !== 'directory') throw new MediaError('E_NOT_DIR', 'not a directory', { path: dir.path });
    const bs = this.#blockSize;
    const ce = new ContinuationReader(this.source, bs);
    let length = ref.dirLength;
    if (length === undefined) {
      // Reached through a Rock Ridge CL: the directory's own '.' record gives its length.
      const first = await this.#readBlocks(ref.dirLocation, SECTOR_SIZE, dir.path);
      length = parseDirectoryRecord(first, 0, { location: ref.dirLocation, path: dir.path }).dataLength;
    }
    if (length > MAX_DIRECTORY_BYTES) {
      throw new MediaError('E_LIMIT', 'directory larger than any real medium has', { path: dir.path, sector: ref.dirLocation, length });
    }
    const buf = await this.#readBlocks(ref.dirLocation, length, dir.path);
    const records = parseDirectory(buf, { location: ref.dirLocation, path: dir.path });
    const ancestors = [...ref.ancestors, ref.dirLocation];
    const out: VolumeNode[] = [];
    for (let i = 0; i < records.length; i++) {
      const rec = records[i]!;
      // Multi-extent: the records that follow with the same identifier belong to this file.
      const parts = [rec];
      while (i + 1 < records.length && continuesMultiExtent(parts[parts.length - 1]!, records[i + 1]!)) parts.push(records[++i]!);
      if (isSelfOrParent(rec)) continue;
      // 9.1.6 bit 2: associated files (Macintosh resource forks) share the name of the file they
      // belong to; like the Linux kernel, they are not listed.
      if (rec.fileFlags & FileFlags.associatedFile) continue;
      const node = await this.#node(dir.path, parts, ancestors, ce);
      if (node) out.push(node);
    }
    return out;
  }

  async extents(file: VolumeNode): Promise<Extent[]> {
    const ref = file.ref as IsoRef;
    if (file.type === 'directory') throw new MediaError('E_IS_DIR', 'is a directory', { path: file.path });
    if (ref.rockRidge?.zisofs) {
      throw new MediaError('E_UNSUPPORTED', 'zisofs-compressed file (Rock Ridge ZF)', { path: file.path });
    }
    const bs = this.#blockSize;
    const out: Extent[] = [];
    for (const rec of ref.records) {
      if (rec.dataLength === 0) continue;
      // 9.1.2 / 9.5: an extended attribute record occupies the first blocks of the extent.
      const start = (rec.locationOfExtent + rec.extendedAttributeRecordLength) * bs;
      if (rec.fileUnitSize === 0) {
        out.push({ offset: start, length: rec.dataLength });
        continue;
      }
      // 6.4.3 interleaving: file units of fileUnitSize blocks separated by interleaveGapSize blocks.
      const unit = rec.fileUnitSize * bs;
      const stride = (rec.fileUnitSize + rec.interleaveGapSize) * bs;
      // The cap counts the extents of all the file's records: the records of one multi-extent
      // file can each be interleaved, and forty 4 GiB records with 2-block units would otherwise
      // build tens of millions of extents (an out-of-memory crash from one directory sector).
      const units = Math.ceil(rec.dataLength / unit);
      if (out.length + units > MAX_EXTENTS) {
        throw new MediaError('E_LIMIT', 'interleaved file with too many file units', { path: file.path, fileUnitSize: rec.fileUnitSize });
      }
      // A unit layout that ends past the image is damage, not data: refuse it before building
      // up to a million extents for it (on every call: extents, read, stream, fileSource).
      const end = start + (units - 1) * stride + (rec.dataLength - (units - 1) * unit);
      if (end > this.source.size) {
        throw new MediaError('E_TRUNCATED', 'interleaved file runs past the end of the image', { path: file.path, sector: rec.locationOfExtent, size: this.source.size });
      }
      for (let done = 0, off = start; done < rec.dataLength; done += unit, off += stride) {
        out.push({ offset: off, length: Math.min(unit, rec.dataLength - done) });
      }
    }
    return out;
  }

  #warn(message: string): void {
    if (this.warnings.length < MAX_WARNINGS) this.warnings.push(message);
  }

  async #readBlocks(location: number, length: number, path: string): Promise<Buffer> {
    const offset = location * this.#blockSize;
    if (offset + length > this.source.size) {
      throw new MediaError('E_TRUNCATED', 'directory lies past the end of the image', {
        path,
        sector: location,
        length,
        size: this.source.size,
      });
    }
    return this.source.read(offset, length);
  }

  async #node(parentPath: string, parts: DirectoryRecord[], ancestors: number[], ce: ContinuationReader): Promise<VolumeNode | undefined> {
    const rec = parts[0]!;
    let rr: RockRidgeInfo | undefined;
    if (this.suspSkip !== undefined) {
      const path = childPath(parentPath, isoName(rec));
      rr = interpretRockRidge(await ce.entries(rec, this.suspSkip, path));
      // RRIP 4.1.5.3: a relocated directory is listed where its CL record is, not here.
      if (rr.relocated) return undefined;
      if (rr.nameIs) return undefined;
    }
    let name = rr?.name ?? (this.kind === 'joliet' ? jolietName(rec) : isoName(rec));
    if (name === '' || name === '.' || name === '..') {
      this.#warn(`${parentPath}: entry with unusable name ${JSON.stringify(name)} skipped`);
      return undefined;
    }
    if (name.includes('/') || name.includes('\0')) {
      // No flavour allows these in a name (d-characters, Joliet's excluded set, POSIX names); a
      // damaged identifier must not turn into extra path components.
      const safe = name.replace(/[/\0]/g, '_');
      this.#warn(`${parentPath}: name ${JSON.stringify(name)} contains '/' or NUL; listed as ${JSON.stringify(safe)}`);
      name = safe;
    }
    const path = childPath(parentPath, name);
    const isDirRecord = (rec.fileFlags & FileFlags.directory) !== 0;
    let type: EntryType;
    if (rr?.childLink !== undefined) type = 'directory';
    else if (isDirRecord) type = 'directory';
    else if (rr?.px) type = typeFromMode(rr.px.mode) === 'directory' ? 'file' : typeFromMode(rr.px.mode);
    else type = 'file';
    if (type === 'symlink' && rr?.symlinkTarget === undefined) type = 'other';

    let dirLocation = 0;
    let dirLength: number | undefined;
    if (type === 'directory') {
      if (rr?.childLink !== undefined) {
        dirLocation = rr.childLink;
        dirLength = undefined;
      } else {
        dirLocation = rec.locationOfExtent + rec.extendedAttributeRecordLength;
        dirLength = rec.dataLength;
      }
      if (ancestors.includes(dirLocation)) {
        this.#warn(`${path}: directory refers back to an ancestor (sector ${dirLocation}); skipped`);
        return undefined;
      }
      if (ancestors.length >= MAX_DEPTH) {
        this.#warn(`${path}: directory nesting deeper than ${MAX_DEPTH}; skipped`);
        return undefined;
      }
      let paths = this.#dirPaths.get(dirLocation);
      if (!paths) this.#dirPaths.set(dirLocation, (paths = new Set()));
      if (!paths.has(path)) {
        if (paths.size >= MAX_PATHS_PER_DIRECTORY) {
          this.#warn(`${path}: directory (sector ${dirLocation}) already listed under ${paths.size} other paths; skipped`);
          return undefined;
        }
        paths.add(path);
      }
    }
    const size = type === 'directory' ? 0 : parts.reduce((n, p) => n + p.dataLength, 0);
    const ref: IsoRef = { records: parts, dirLocation, dirLength, ancestors, rockRidge: rr };
    return {
      name,
      path,
      type,
      size,
      mtime: rr?.times.modify ?? rec.recordingDateAndTime,
      mode: rr?.px ? rr.px.mode & 0o7777 : undefined,
      hidden: (rec.fileFlags & FileFlags.hidden) !== 0,
      ...(type === 'symlink' ? { target: rr?.symlinkTarget } : {}),
      ref,
    };
  }
}

function checkBlockSize(vd: PrimaryVolumeDescriptor | SupplementaryVolumeDescriptor): void {
  // 6.2.2: the logical block size is 2^(n+9) and at most the sector size.
  if (![512, 1024, 2048].includes(vd.logicalBlockSize)) {
    throw new MediaError('E_UNSUPPORTED', 'logical block size other than 512, 1024 or 2048', {
      sector: vd.sector,
      logicalBlockSize: vd.logicalBlockSize,
    });
  }
}

/**
 * Gathers the SUSP entries of a record: its System Use area and the CE continuation areas it
 * chains to. Blocks are cached for the directory being read, since neighbouring records share
 * their continuation blocks. Loops (a CE pointing back) are E_LOOP; long chains E_LIMIT.
 */
class ContinuationReader {
  readonly #source: ByteSource;
  readonly #bs: number;
  readonly #cache = new Map<string, Promise<Buffer>>();

  constructor(source: ByteSource, blockSize: number) {
    this.#source = source;
    this.#bs = blockSize;
  }

  async entries(rec: DirectoryRecord, skip: number, path: string): Promise<SuspEntry[]> {
    let area = parseSuspArea(rec.systemUse, skip);
    const all = [...area.entries];
    const seen = new Set<string>();
    while (area.continuation) {
      const { location, offset, length } = area.continuation;
      const key = `${location}:${offset}`;
      if (seen.has(key)) throw new MediaError('E_LOOP', 'SUSP continuation areas (CE) form a loop', { path, sector: location, offset });
      seen.add(key);
      if (seen.size > MAX_CONTINUATION_AREAS) {
        throw new MediaError('E_LIMIT', 'too many SUSP continuation areas (CE)', { path, sector: location });
      }
      if (length > MAX_CONTINUATION_BYTES) {
        throw new MediaError('E_LIMIT', 'SUSP continuation area (CE) larger than any real one', { path, sector: location, length });
      }
      const buf = await this.#read(location * this.#bs + offset, length, path);
      area = parseSuspArea(buf);
      all.push(...area.entries);
    }
    return all;
  }

  /** `length` bytes at image offset `at`, read in whole blocks so that neighbours share them. */
  async #read(at: number, length: number, path: string): Promise<Buffer> {
    const bs = this.#bs;
    const first = Math.floor(at / bs);
    const blocks = Math.ceil((at + length) / bs) - first;
    if (at + length > this.#source.size) {
      throw new MediaError('E_TRUNCATED', 'SUSP continuation area (CE) lies past the end of the image', {
        path,
        sector: first,
        size: this.#source.size,
      });
    }
    const key = `${first}:${blocks}`;
    let p = this.#cache.get(key);
    if (!p) {
      p = this.#source.read(first * bs, Math.min(blocks * bs, this.#source.size - first * bs));
      this.#cache.set(key, p);
    }
    const buf = await p;
    return buf.subarray(at - first * bs, at - first * bs + length);
  }
}

/**
 * SUSP 5.3 / RRIP: Rock Ridge is in use when the root's '.' record starts with SP and carries
 * Rock Ridge entries (an ER naming RRIP, or RR/PX/NM/TF ... entries).
 */
async function detectRockRidge(source: ByteSource, pvd: PrimaryVolumeDescriptor): Promise<{ skip: number; root: RockRidgeInfo } | undefined> {
  const bs = pvd.logicalBlockSize;
  const root = pvd.rootDirectoryRecord;
  const location = root.locationOfExtent + root.extendedAttributeRecordLength;
  const offset = location * bs;
  if (offset + SECTOR_SIZE > source.size) {
    throw new MediaError('E_TRUNCATED', 'root directory lies past the end of the image', { sector: location, size: source.size });
  }
  const first = await source.read(offset, SECTOR_SIZE);
  const dot = parseDirectoryRecord(first, 0, { location, path: '/' });
  if (!isSelfOrParent(dot)) return undefined;
  const skip = findSp(dot.systemUse);
  if (skip === undefined) return undefined;
  // The SP entry itself is at the start of this area, so it is parsed from byte 0.
  const spAt = dot.systemUse[0] === 0x53 ? 0 : 14;
  const entries = await new ContinuationReader(source, bs).entries(dot, spAt, '/');
  const info = interpretRockRidge(entries);
  const rrip = info.hasRrip || info.extensions.some((e) => RRIP_IDENTIFIERS.includes(e));
  return rrip ? { skip, root: info } : undefined;
}

export interface IsoInfo {
  systemId: string;
  volumeId: string;
  volumeSetId: string;
  publisherId: string;
  dataPreparerId: string;
  applicationId: string;
  creationDate: Date | undefined;
  modificationDate: Date | undefined;
  /** Volume space size in logical blocks, and the block size. */
  volumeSpaceSize: number;
  logicalBlockSize: number;
  hasJoliet: boolean;
  jolietLevel: 1 | 2 | 3 | undefined;
  hasRockRidge: boolean;
  hasElTorito: boolean;
  /** Where the descriptor set ended: 'udf' when a UDF volume recognition sequence follows. */
  descriptorSetEnd: 'terminator' | 'udf';
}

/** The primary volume descriptor summary for the media report. */
export async function isoInfo(source: ByteSource): Promise<IsoInfo> {
  const set = await readVolumeDescriptors(source);
  const pvd = set.primary;
  if (!pvd) throw new MediaError('E_NO_FS', 'no ISO 9660 primary volume descriptor', { source: source.name });
  checkBlockSize(pvd);
  const rr = await detectRockRidge(source, pvd);
  return {
    systemId: pvd.systemIdentifier,
    volumeId: pvd.volumeIdentifier,
    volumeSetId: pvd.volumeSetIdentifier,
    publisherId: pvd.publisherIdentifier,
    dataPreparerId: pvd.dataPreparerIdentifier,
    applicationId: pvd.applicationIdentifier,
    creationDate: pvd.volumeCreationDate,
    modificationDate: pvd.volumeModificationDate,
    volumeSpaceSize: pvd.volumeSpaceSize,
    logicalBlockSize: pvd.logicalBlockSize,
    hasJoliet: set.joliet !== undefined,
    jolietLevel: set.joliet?.jolietLevel,
    hasRockRidge: rr !== undefined,
    hasElTorito: set.elTorito !== undefined,
    descriptorSetEnd: set.end,
  };
}
