// UDF volume reader (ECMA-167 3rd edition, OSTA UDF 1.02-2.60): anchor → volume descriptor
// sequence → partitions and partition maps → file set → directory tree. Microsoft's Windows media
// keep their real tree only here; the ISO 9660 side holds just README.TXT.
import { MediaError } from '../errors.ts';
import type { ByteSource } from '../source.ts';
import type { Extent, Volume, VolumeNode } from '../types.ts';
import {
  type AllocationDescriptor,
  type FileEntry,
  type LbAddr,
  type LogicalVolumeDescriptor,
  type PartitionDescriptor,
  type PartitionMap,
  type PrimaryVolumeDescriptor,
  FileCharacteristics,
  FileType,
  parseAllocationDescriptors,
  parseAnchor,
  parseFileEntry,
  parseFileIdentifiers,
  parseFileSetDescriptor,
  parseLogicalVolumeDescriptor,
  parsePartitionDescriptor,
  parsePrimaryVolumeDescriptor,
  readExtentAd,
  udfRevisionOf,
  adFormOf,
} from './descriptors.ts';
import { TagId, looksLikeTag, verifyTag } from './tag.ts';

/** A volume descriptor sequence longer than this is not real (3/8.4.1 sequences are a few sectors). */
const MAX_VDS_DESCRIPTORS = 256;
/** Allocation extent chains (4/12, extent type 3) longer than this are treated as loops. */
const MAX_AED_CHAIN = 4096;
/** No real file on install media has more extents than this. */
const MAX_EXTENTS = 1 << 20;
/** Directory data larger than this is refused (Windows media directories are a few KiB). */
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;
/** Deeper trees than this are treated as a loop. */
const MAX_DEPTH = 128;
/**
 * Several FIDs may name one directory ICB (hard links), so a crafted chain of directories that
 * each link twice to the next makes a walk grow exponentially (2^depth paths). Beyond this many
 * paths, a directory is not listed again (as MAX_PATHS_PER_DIRECTORY does for ISO 9660).
 */
export const MAX_PATHS_PER_DIRECTORY = 16;

interface PhysicalPartition {
  kind: 'physical';
  descriptor: PartitionDescriptor;
}
interface MetadataPartition {
  kind: 'metadata';
  map: Extract<PartitionMap, { kind: 'metadata' }>;
  physicalRef: number;
  /** Image extents of the metadata file: logical block n of this partition is byte n*bs of it. */
  extents: Extent[];
}
type Partition = PhysicalPartition | MetadataPartition;

interface UdfRef {
  icb: LbAddr;
  entry: FileEntry;
  /** The File Entry block, for embedded data and allocation descriptors. */
  block: Buffer;
  /** Image offset of the File Entry block. */
  blockOffset: number;
  /** ICB locations of this node and its ancestors, to break directory loops. */
  ancestors: ReadonlySet<string>;
  depth: number;
}

export interface UdfInfo {
  blockSize: number;
  udfRevision: string | undefined;
  volumeIdentifier: string;
  volumeSetIdentifier: string;
  logicalVolumeIdentifier: string;
  fileSetIdentifier: string;
  recordingDate: Date | undefined;
  applicationIdentifier: string;
  implementationIdentifier: string;
  partitionMaps: ('type1' | 'metadata' | 'sparable' | 'virtual' | 'unknown')[];
}

const icbKey = (a: LbAddr) => `${a.partitionReferenceNumber}:${a.logicalBlockNumber}`;

/** True when the image carries a UDF Volume Recognition Sequence (2/9.1: BEA01, NSR02/NSR03, TEA01). */
export async function hasUdfRecognition(source: ByteSource): Promise<boolean> {
  // Each descriptor starts a sector (2/8.3): 2048 bytes apart up to 2048-byte sectors, one sector
  // apart beyond. The sector size is not known yet, so try both strides (as udftools' read_vrs);
  // with 4096-byte sectors a 2048 stride lands in the zero tail of BEA01 and used to stop there.
  for (const stride of [2048, 4096]) {
    for (let s = 0; s < 64; s++) {
      const at = 32768 + s * stride;
      if (at + 2048 > source.size) break;
      const b = await source.read(at, 7);
      const id = b.subarray(1, 6).toString('latin1');
      if (id === 'NSR02' || id === 'NSR03') return true;
      if (id === 'TEA01') break;
      if (b[0] === 0 && b.subarray(1, 6).every((c) => c === 0)) break;
    }
  }
  return false;
}

export class UdfVolume implements Volume {
  readonly kind = 'udf' as const;
  readonly label: string;
  readonly info: UdfInfo;
  readonly #src: ByteSource;
  readonly #bs: number;
  readonly #partitions: Partition[];
  readonly #rootIcb: LbAddr;
  #root: Promise<VolumeNode> | undefined;
  /** Directory ICB -> the paths it has been listed under (at most MAX_PATHS_PER_DIRECTORY). */
  readonly #dirPaths = new Map<string, Set<string>>();

  private constructor(src: ByteSource, bs: number, partitions: Partition[], rootIcb: LbAddr, info: UdfInfo) {
    this.#src = src;
    this.#bs = bs;
    this.#partitions = partitions;
    this.#rootIcb = rootIcb;
    this.info = info;
    this.label = info.logicalVolumeIdentifier || info.volumeIdentifier;
  }

  /** Opens the UDF volume, or throws E_NO_FS when there is no anchor. */
  static async open(src: ByteSource): Promise<UdfVolume> {
    const { bs, anchor } = await findAnchor(src);
    // Main sequence first, the reserve copy when the main one is damaged (2/8.4.2).
    let vds: VolumeDescriptors | undefined;
    let firstError: unknown;
    for (const ext of [anchor.mainVolumeDescriptorSequenceExtent, anchor.reserveVolumeDescriptorSequenceExtent]) {
      try {
        vds = await readVolumeDescriptorSequence(src, bs, ext.extentLocation, ext.extentLength);
        break;
      } catch (e) {
        firstError ??= e;
      }
    }
    if (!vds) throw firstError;
    const { lvd, pvd, pds } = vds;
    if (lvd.logicalBlockSize !== bs) {
      throw new MediaError('E_UNSUPPORTED', 'logical block size differs from the sector size', {
        logicalBlockSize: lvd.logicalBlockSize,
        sectorSize: bs,
      });
    }
    const partitions: Partition[] = [];
    for (const [i, map] of lvd.partitionMaps.entries()) {
      const pd = pds.find((p) => p.partitionNumber === map.partitionNumber);
      if (map.type === 1 || map.kind === 'sparable') {
        // Sparable partitions read like type 1 on an undamaged image; the sparing table only
        // remaps defective packets of rewritable discs.
        if (!pd) throw new MediaError('E_FORMAT', 'partition map names a partition that has no descriptor', { map: i, partitionNumber: map.partitionNumber });
        partitions.push({ kind: 'physical', descriptor: pd });
      } else if (map.kind === 'metadata') {
        const physicalRef = lvd.partitionMaps.findIndex((m, j) => j !== i && m.partitionNumber === map.partitionNumber && (m.type === 1 || m.kind === 'sparable'));
        if (physicalRef < 0) throw new MediaError('E_FORMAT', 'metadata partition map has no physical partition', { map: i });
        partitions.push({ kind: 'metadata', map, physicalRef, extents: [] });
      } else if (map.kind === 'virtual') {
        throw new MediaError('E_UNSUPPORTED', 'UDF virtual partitions (VAT, write-once discs) are not supported', { map: i });
      } else {
        throw new MediaError('E_UNSUPPORTED', 'unknown UDF partition map type', { map: i, identifier: map.identifier });
      }
    }
    const vol = new UdfVolume(src, bs, partitions, { logicalBlockNumber: 0, partitionReferenceNumber: 0 }, {} as UdfInfo);
    // Resolve metadata partitions: the metadata file (or its mirror) is an ICB in the physical partition.
    for (const p of partitions) {
      if (p.kind !== 'metadata') continue;
      let lastErr: unknown;
      for (const loc of [p.map.metadataFileLocation, p.map.metadataMirrorFileLocation]) {
        try {
          const node = await vol.#readIcb({ logicalBlockNumber: loc, partitionReferenceNumber: p.physicalRef });
          if (node.entry.fileType !== FileType.MetadataFile && node.entry.fileType !== FileType.MetadataMirrorFile) {
            throw new MediaError('E_FORMAT', 'metadata file ICB has the wrong file type', { fileType: node.entry.fileType });
          }
          p.extents = await vol.#dataExtents(node, 'metadata file');
          lastErr = undefined;
          break;
        } catch (e) {
          lastErr = e;
        }
      }
      if (lastErr) throw lastErr;
    }
    const fsdAd = lvd.fileSetDescriptorLocation;
    const fsdBlock = await vol.#readBlock(fsdAd.location);
    verifyTag(fsdBlock, 0, {
      ids: [TagId.FileSetDescriptor],
      location: fsdAd.location.logicalBlockNumber,
      where: { descriptor: 'FSD', block: fsdAd.location.logicalBlockNumber },
    });
    const fsd = parseFileSetDescriptor(fsdBlock);
    const info: UdfInfo = {
      blockSize: bs,
      udfRevision: udfRevisionOf(lvd.domainIdentifier) ?? udfRevisionOf(fsd.domainIdentifier),
      volumeIdentifier: pvd?.volumeIdentifier ?? '',
      volumeSetIdentifier: pvd?.volumeSetIdentifier ?? '',
      logicalVolumeIdentifier: lvd.logicalVolumeIdentifier,
      fileSetIdentifier: fsd.fileSetIdentifier,
      recordingDate: pvd?.recordingDateAndTime ?? fsd.recordingDateAndTime,
      applicationIdentifier: pvd?.applicationIdentifier.identifier ?? '',
      implementationIdentifier: pvd?.implementationIdentifier.identifier ?? '',
      partitionMaps: lvd.partitionMaps.map((m) => (m.type === 1 ? 'type1' : m.kind)),
    };
    return new UdfVolume(src, bs, partitions, fsd.rootDirectoryICB.location, info);
  }

  root(): Promise<VolumeNode> {
    this.#root ??= this.#readIcb(this.#rootIcb).then((ref) => {
      if (ref.entry.fileType !== FileType.Directory) {
        throw new MediaError('E_FORMAT', 'root ICB is not a directory', { fileType: ref.entry.fileType });
      }
      return this.#node('', '/', ref, false, new Set([icbKey(this.#rootIcb)]), 0);
    });
    return this.#root;
  }

  async children(dir: VolumeNode): Promise<VolumeNode[]> {
    const ref = dir.ref as UdfRef;
    if (ref.depth >= MAX_DEPTH) throw new MediaError('E_LIMIT', 'directory tree deeper than any real medium', { path: dir.path });
    const size = ref.entry.informationLength;
    if (size > MAX_DIRECTORY_BYTES) throw new MediaError('E_LIMIT', 'directory larger than any real medium', { path: dir.path, size });
    const data = Buffer.alloc(size);
    await this.#readData(await this.#dataExtents(ref, dir.path), data);
    const fids = parseFileIdentifiers(data, { path: dir.path });
    const out: VolumeNode[] = [];
    const base = dir.path === '/' ? '/' : `${dir.path}/`;
    // Read the children's File Entries a few at a time: large directories stay fast without
    // flooding the file handle.
    const wanted = fids.filter(
      (f) => !(f.fileCharacteristics & (FileCharacteristics.Parent | FileCharacteristics.Deleted)) && f.fileIdentifier !== '',
    );
    const BATCH = 32;
    for (let i = 0; i < wanted.length; i += BATCH) {
      const nodes = await Promise.all(
        wanted.slice(i, i + BATCH).map(async (f) => {
          const key = icbKey(f.icb.location);
          if (ref.ancestors.has(key)) return undefined; // a directory that contains its own ancestor
          const child = await this.#readIcb(f.icb.location);
          if (child.entry.fileType === FileType.Directory) {
            let paths = this.#dirPaths.get(key);
            if (!paths) this.#dirPaths.set(key, (paths = new Set()));
            if (!paths.has(base + f.fileIdentifier)) {
              if (paths.size >= MAX_PATHS_PER_DIRECTORY) return undefined; // listed often enough already
              paths.add(base + f.fileIdentifier);
            }
          }
          const ancestors = new Set(ref.ancestors).add(key);
          return this.#node(f.fileIdentifier, base + f.fileIdentifier, child, !!(f.fileCharacteristics & FileCharacteristics.Existence), ancestors, ref.depth + 1);
        }),
      );
      for (const n of nodes) if (n) out.push(n);
    }
    return out;
  }

  async extents(file: VolumeNode): Promise<Extent[]> {
    return this.#dataExtents(file.ref as UdfRef, file.path);
  }

  #node(name: string, path: string, ref: UdfRef, hidden: boolean, ancestors: ReadonlySet<string>, depth: number): VolumeNode {
    const e = ref.entry;
    const type =
      e.fileType === FileType.Directory ? 'directory' : e.fileType === FileType.SymbolicLink ? 'symlink' : e.fileType === FileType.RandomAccessBytes || e.fileType === FileType.Unspecified ? 'file' : 'other';
    return {
      name,
      path,
      type,
      size: type === 'directory' ? 0 : e.informationLength,
      mtime: e.modificationTime,
      mode: udfPermissionsToMode(e.permissions),
      hidden,
      ref: { ...ref, ancestors, depth } satisfies UdfRef,
    };
  }

  /** Byte offset in the image of logical block `lbn` of a partition (metadata partitions map through their file). */
  #blockOffset(addr: LbAddr): number {
    const p = this.#partitions[addr.partitionReferenceNumber];
    if (!p) throw new MediaError('E_FORMAT', 'reference to a partition that does not exist', { ...addr });
    if (p.kind === 'physical') {
      const d = p.descriptor;
      if (d.partitionLength && addr.logicalBlockNumber >= d.partitionLength) {
        throw new MediaError('E_FORMAT', 'logical block outside its partition', { ...addr, partitionLength: d.partitionLength });
      }
      return (d.partitionStartingLocation + addr.logicalBlockNumber) * this.#bs;
    }
    let off = addr.logicalBlockNumber * this.#bs;
    for (const e of p.extents) {
      if (off < e.length) {
        if (e.sparse) throw new MediaError('E_FORMAT', 'metadata block lies in an unrecorded extent', { ...addr });
        return e.offset + off;
      }
      off -= e.length;
    }
    throw new MediaError('E_FORMAT', 'logical block outside the metadata partition', { ...addr });
  }

  /** Image extents of `length` bytes starting at a logical block; metadata partitions may split them. */
  #mapExtent(addr: LbAddr, length: number, sparse: boolean): Extent[] {
    if (sparse) return [{ offset: 0, length, sparse: true }];
    const p = this.#partitions[addr.partitionReferenceNumber];
    if (!p) throw new MediaError('E_FORMAT', 'reference to a partition that does not exist', { ...addr });
    if (p.kind === 'physical') {
      const d = p.descriptor;
      const blocks = Math.ceil(length / this.#bs);
      if (d.partitionLength && addr.logicalBlockNumber + blocks > d.partitionLength) {
        throw new MediaError('E_FORMAT', 'extent runs past the end of its partition', { ...addr, length });
      }
      return [{ offset: (d.partitionStartingLocation + addr.logicalBlockNumber) * this.#bs, length }];
    }
    const out: Extent[] = [];
    let skip = addr.logicalBlockNumber * this.#bs;
    let left = length;
    for (const e of p.extents) {
      if (left === 0) break;
      if (skip >= e.length) {
        skip -= e.length;
        continue;
      }
      const n = Math.min(e.length - skip, left);
      out.push(e.sparse ? { offset: 0, length: n, sparse: true } : { offset: e.offset + skip, length: n });
      left -= n;
      skip = 0;
    }
    if (left > 0) throw new MediaError('E_FORMAT', 'extent runs past the end of the metadata partition', { ...addr, length });
    return out;
  }

  async #readBlock(addr: LbAddr): Promise<Buffer> {
    return this.#src.read(this.#blockOffset(addr), this.#bs);
  }

  async #readIcb(addr: LbAddr): Promise<UdfRef> {
    const blockOffset = this.#blockOffset(addr);
    const block = await this.#src.read(blockOffset, this.#bs);
    const where = { descriptor: 'ICB', block: addr.logicalBlockNumber, partition: addr.partitionReferenceNumber };
    const tag = verifyTag(block, 0, {
      ids: [TagId.FileEntry, TagId.ExtendedFileEntry],
      location: addr.logicalBlockNumber,
      where,
    });
    if (adFormOf(block) > 3) throw new MediaError('E_FORMAT', 'reserved allocation descriptor form in ICB tag', where);
    const entry = parseFileEntry(block, tag);
    return { icb: addr, entry, block, blockOffset, ancestors: new Set(), depth: 0 };
  }

  /** The file's data as image extents: follows allocation extent descriptor chains, trims to the information length. */
  async #dataExtents(ref: UdfRef, path: string): Promise<Extent[]> {
    const e = ref.entry;
    const size = e.informationLength;
    if (e.adForm === 'embedded') {
      if (size > e.lengthOfAllocationDescriptors) {
        throw new MediaError('E_FORMAT', 'embedded file data shorter than the file', { path, size, embedded: e.lengthOfAllocationDescriptors });
      }
      return size === 0 ? [] : [{ offset: ref.blockOffset + e.allocationDescriptorsOffset, length: size }];
    }
    const form = e.adForm;
    const partRef = ref.icb.partitionReferenceNumber;
    let ads: AllocationDescriptor[] = parseAllocationDescriptors(ref.block, e.allocationDescriptorsOffset, e.lengthOfAllocationDescriptors, form, partRef);
    const out: Extent[] = [];
    let total = 0;
    const seen = new Set<string>();
    for (let hops = 0; ; hops++) {
      let next: AllocationDescriptor | undefined;
      for (const ad of ads) {
        if (ad.type === 'next') {
          next = ad;
          break;
        }
        if (total >= size) break;
        const n = Math.min(ad.length, size - total);
        for (const x of this.#mapExtent(ad.location, n, ad.type !== 'recorded')) {
          const last = out[out.length - 1];
          // Merge contiguous pieces: a >4 GiB file is stored as 1 GiB extents back to back.
          if (last && !last.sparse && !x.sparse && last.offset + last.length === x.offset) {
            out[out.length - 1] = { offset: last.offset, length: last.length + x.length };
          } else if (last && last.sparse && x.sparse) {
            out[out.length - 1] = { offset: 0, length: last.length + x.length, sparse: true };
          } else {
            out.push(x);
          }
        }
        total += n;
        if (out.length > MAX_EXTENTS) throw new MediaError('E_LIMIT', 'file has more extents than any real medium', { path });
      }
      if (!next || total >= size) break;
      if (hops >= MAX_AED_CHAIN) throw new MediaError('E_LOOP', 'allocation extent chain too long', { path });
      const key = icbKey(next.location);
      if (seen.has(key)) throw new MediaError('E_LOOP', 'allocation extent chain loops', { path, block: next.location.logicalBlockNumber });
      seen.add(key);
      // 4/14.5 Allocation Extent Descriptor: 24-byte header, then more descriptors of the same form.
      const aedLen = Math.min(next.length || this.#bs, this.#bs * 16);
      const aed = Buffer.alloc(aedLen);
      await this.#readData(this.#mapExtent(next.location, aedLen, false), aed);
      verifyTag(aed, 0, {
        ids: [TagId.AllocationExtentDescriptor],
        location: next.location.logicalBlockNumber,
        where: { path, descriptor: 'AED', block: next.location.logicalBlockNumber },
      });
      const lengthOfAllocationDescriptors = aed.readUInt32LE(20);
      ads = parseAllocationDescriptors(aed, 24, Math.min(lengthOfAllocationDescriptors, aedLen - 24), form, partRef);
    }
    if (total < size) {
      throw new MediaError('E_TRUNCATED', 'allocation descriptors cover less than the file size', { path, size, covered: total });
    }
    return out;
  }

  async #readData(extents: readonly Extent[], out: Buffer): Promise<void> {
    let at = 0;
    for (const x of extents) {
      const n = Math.min(x.length, out.length - at);
      if (n <= 0) break;
      if (x.sparse) out.fill(0, at, at + n);
      else {
        const got = await this.#src.readInto(out, at, n, x.offset);
        if (got !== n) throw new MediaError('E_TRUNCATED', 'data lies past the end of the image', { offset: x.offset, length: n });
      }
      at += n;
    }
  }
}

/**
 * UDF permissions (4/14.9.5): five bits per class (execute, write, read, change-attributes,
 * delete) for other (bit 0), group (bit 5) and owner (bit 10). The low three line up with POSIX rwx.
 */
function udfPermissionsToMode(p: number): number {
  return (((p >> 10) & 7) << 6) | (((p >> 5) & 7) << 3) | (p & 7);
}

interface VolumeDescriptors {
  pvd: PrimaryVolumeDescriptor | undefined;
  lvd: LogicalVolumeDescriptor;
  pds: PartitionDescriptor[];
}

/** Tries the anchor at 256, then N-1 and N-256 (2/8.4.2.1), for each plausible sector size. */
async function findAnchor(src: ByteSource): Promise<{ bs: number; anchor: ReturnType<typeof parseAnchor> }> {
  let lastError: unknown;
  for (const bs of [2048, 512, 1024, 4096]) {
    const n = Math.floor(src.size / bs);
    for (const loc of [256, n - 1, n - 256, 512]) {
      if (loc < 0 || (loc + 1) * bs > src.size) continue;
      const b = await src.read(loc * bs, bs);
      if (!looksLikeTag(b, 0, TagId.AnchorVolumeDescriptorPointer)) continue;
      try {
        return { bs, anchor: parseAnchor(b, loc) };
      } catch (e) {
        lastError = e;
      }
    }
  }
  if (lastError) throw lastError;
  throw new MediaError('E_NO_FS', 'no UDF anchor volume descriptor pointer (tried sectors 256, N-1, N-256)', { source: src.name });
}

async function readVolumeDescriptorSequence(src: ByteSource, bs: number, location: number, length: number): Promise<VolumeDescriptors> {
  const count = Math.min(Math.ceil(length / bs), MAX_VDS_DESCRIPTORS);
  let pvd: PrimaryVolumeDescriptor | undefined;
  let lvd: LogicalVolumeDescriptor | undefined;
  const pds = new Map<number, PartitionDescriptor>();
  let loc = location;
  let end = location + count;
  let hops = 0;
  while (loc < end) {
    if (++hops > MAX_VDS_DESCRIPTORS) throw new MediaError('E_LOOP', 'volume descriptor sequence does not end', { sector: loc });
    const b = await src.read(loc * bs, bs);
    const tag = verifyTag(b, 0, {
      ids: [1, 3, 4, 5, 6, 7, 8],
      location: loc,
      where: { descriptor: 'VDS', sector: loc },
    });
    if (tag.tagIdentifier === TagId.TerminatingDescriptor) break;
    if (tag.tagIdentifier === TagId.VolumeDescriptorPointer) {
      // 3/10.3: the sequence continues elsewhere.
      const next = readExtentAd(b, 20);
      loc = next.extentLocation;
      end = loc + Math.min(Math.ceil(next.extentLength / bs), MAX_VDS_DESCRIPTORS);
      continue;
    }
    // Within a sequence the descriptor with the highest sequence number wins (3/8.4.3).
    if (tag.tagIdentifier === TagId.PrimaryVolumeDescriptor) {
      const d = parsePrimaryVolumeDescriptor(b);
      if (!pvd || d.volumeDescriptorSequenceNumber >= pvd.volumeDescriptorSequenceNumber) pvd = d;
    } else if (tag.tagIdentifier === TagId.LogicalVolumeDescriptor) {
      const d = parseLogicalVolumeDescriptor(b);
      if (!lvd || d.volumeDescriptorSequenceNumber >= lvd.volumeDescriptorSequenceNumber) lvd = d;
    } else if (tag.tagIdentifier === TagId.PartitionDescriptor) {
      const d = parsePartitionDescriptor(b);
      const prev = pds.get(d.partitionNumber);
      if (!prev || d.volumeDescriptorSequenceNumber >= prev.volumeDescriptorSequenceNumber) pds.set(d.partitionNumber, d);
    }
    loc++;
  }
  if (!lvd) throw new MediaError('E_FORMAT', 'volume descriptor sequence has no Logical Volume Descriptor', { sector: location });
  if (pds.size === 0) throw new MediaError('E_FORMAT', 'volume descriptor sequence has no Partition Descriptor', { sector: location });
  return { pvd, lvd, pds: [...pds.values()] };
}
