// Pure decoders for the ECMA-167 / OSTA UDF structures overnight needs. Offsets in comments are
// relative to the start of each descriptor and follow ECMA-167 3rd edition part/section numbers.
import { MediaError } from '../errors.ts';
import { TagId, type DescriptorTag, verifyTag } from './tag.ts';

// ---------------------------------------------------------------- basic types (1/7, 4/7)

export interface ExtentAd {
  extentLength: number;
  extentLocation: number;
}

/** lb_addr (4/7.1): a logical block within a partition reference. */
export interface LbAddr {
  logicalBlockNumber: number;
  partitionReferenceNumber: number;
}

export type ExtentType = 'recorded' | 'allocated' | 'unallocated' | 'next';
const EXTENT_TYPES: readonly ExtentType[] = ['recorded', 'allocated', 'unallocated', 'next'];

/** An allocation descriptor of any form, normalised. Location is relative to `partitionReferenceNumber`. */
export interface AllocationDescriptor {
  type: ExtentType;
  /** 30-bit extent length in bytes (4/14.14.1.1). */
  length: number;
  location: LbAddr;
}

export function readExtentAd(b: Buffer, at: number): ExtentAd {
  return { extentLength: b.readUInt32LE(at), extentLocation: b.readUInt32LE(at + 4) };
}

export function readLbAddr(b: Buffer, at: number): LbAddr {
  return { logicalBlockNumber: b.readUInt32LE(at), partitionReferenceNumber: b.readUInt16LE(at + 4) };
}

/** long_ad (4/14.14.2): 16 bytes. */
export function readLongAd(b: Buffer, at: number): AllocationDescriptor {
  const len = b.readUInt32LE(at);
  return { type: EXTENT_TYPES[len >>> 30]!, length: len & 0x3fffffff, location: readLbAddr(b, at + 4) };
}

/** short_ad (4/14.14.1): 8 bytes; its partition is the one of the ICB that holds it. */
export function readShortAd(b: Buffer, at: number, partitionReferenceNumber: number): AllocationDescriptor {
  const len = b.readUInt32LE(at);
  return {
    type: EXTENT_TYPES[len >>> 30]!,
    length: len & 0x3fffffff,
    location: { logicalBlockNumber: b.readUInt32LE(at + 4), partitionReferenceNumber },
  };
}

/** ext_ad (4/14.14.3): 20 bytes. Recorded length and information length are kept for sparse tails. */
export function readExtAd(b: Buffer, at: number): AllocationDescriptor & { recordedLength: number; informationLength: number } {
  const len = b.readUInt32LE(at);
  return {
    type: EXTENT_TYPES[len >>> 30]!,
    length: len & 0x3fffffff,
    recordedLength: b.readUInt32LE(at + 4) & 0x3fffffff,
    informationLength: b.readUInt32LE(at + 8),
    location: readLbAddr(b, at + 12),
  };
}

/** regid (1/7.4): flags, 23-byte identifier, 8-byte suffix. */
export interface RegId {
  flags: number;
  identifier: string;
  suffix: Buffer;
}

export function readRegId(b: Buffer, at: number): RegId {
  const raw = b.subarray(at + 1, at + 24);
  const nul = raw.indexOf(0);
  return {
    flags: b[at]!,
    identifier: raw.subarray(0, nul < 0 ? raw.length : nul).toString('latin1'),
    suffix: Buffer.from(b.subarray(at + 24, at + 32)),
  };
}

/** UDF revision from a domain regid suffix (UDF 2.1.5.3): BCD-ish u16, e.g. 0x0102 → "1.02". */
export function udfRevisionOf(r: RegId): string | undefined {
  const rev = r.suffix.readUInt16LE(0);
  if (rev === 0) return undefined;
  return `${(rev >> 8).toString(16)}.${(rev & 0xff).toString(16).padStart(2, '0')}`;
}

/** timestamp (1/7.3): 12 bytes. Returns undefined for an all-zero or impossible date. */
export function readTimestamp(b: Buffer, at: number): Date | undefined {
  const typeAndTimezone = b.readUInt16LE(at);
  const year = b.readInt16LE(at + 2);
  const month = b[at + 4]!;
  const day = b[at + 5]!;
  const hour = b[at + 6]!;
  const minute = b[at + 7]!;
  const second = b[at + 8]!;
  const centi = b[at + 9]!;
  const hundredsOfMicro = b[at + 10]!;
  if (year === 0 && month === 0 && day === 0) return undefined;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  let tz = typeAndTimezone & 0x0fff;
  if (tz & 0x0800) tz -= 0x1000; // 12-bit two's complement, minutes east of UTC
  const type = typeAndTimezone >> 12;
  const offsetMin = type === 1 && tz !== -2047 && Math.abs(tz) <= 1440 ? tz : 0;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, centi * 10 + Math.floor(hundredsOfMicro / 10));
  return new Date(ms - offsetMin * 60000);
}

// ---------------------------------------------------------------- OSTA CS0 (UDF 2.1.1, 2.1.3)

/** Decodes an OSTA compressed Unicode string: compression id 8 (1 byte/char) or 16 (UCS-2 BE). */
export function decodeCS0(b: Buffer): string {
  if (b.length === 0) return '';
  const id = b[0]!;
  const body = b.subarray(1);
  // 254/255 are the UDF 2.50 forms of 8/16 used for names of deleted files.
  if (id === 8 || id === 254) return body.toString('latin1');
  if (id === 16 || id === 255) {
    let s = '';
    for (let i = 0; i + 1 < body.length; i += 2) s += String.fromCharCode((body[i]! << 8) | body[i + 1]!);
    return s;
  }
  throw new MediaError('E_FORMAT', 'unknown OSTA CS0 compression id', { compressionId: id });
}

/** dstring (1/7.2.12): a fixed field whose last byte is the used length. */
export function readDString(b: Buffer, at: number, size: number): string {
  const used = b[at + size - 1]!;
  if (used === 0) return '';
  if (used > size - 1) return decodeCS0(b.subarray(at, at + size - 1)).replace(/\0+$/, '');
  return decodeCS0(b.subarray(at, at + used)).replace(/\0+$/, '');
}

// ---------------------------------------------------------------- volume structures (part 3)

export interface AnchorVolumeDescriptorPointer {
  tag: DescriptorTag;
  mainVolumeDescriptorSequenceExtent: ExtentAd;
  reserveVolumeDescriptorSequenceExtent: ExtentAd;
}

export function parseAnchor(b: Buffer, location: number): AnchorVolumeDescriptorPointer {
  const tag = verifyTag(b, 0, { ids: [TagId.AnchorVolumeDescriptorPointer], location, where: { descriptor: 'AVDP', sector: location } });
  return {
    tag,
    mainVolumeDescriptorSequenceExtent: readExtentAd(b, 16),
    reserveVolumeDescriptorSequenceExtent: readExtentAd(b, 24),
  };
}

export interface PrimaryVolumeDescriptor {
  volumeDescriptorSequenceNumber: number;
  volumeIdentifier: string;
  volumeSetIdentifier: string;
  applicationIdentifier: RegId;
  recordingDateAndTime: Date | undefined;
  implementationIdentifier: RegId;
}

/** 3/10.1 */
export function parsePrimaryVolumeDescriptor(b: Buffer): PrimaryVolumeDescriptor {
  return {
    volumeDescriptorSequenceNumber: b.readUInt32LE(16),
    volumeIdentifier: readDString(b, 24, 32),
    volumeSetIdentifier: readDString(b, 72, 128),
    applicationIdentifier: readRegId(b, 344),
    recordingDateAndTime: readTimestamp(b, 376),
    implementationIdentifier: readRegId(b, 388),
  };
}

export interface PartitionDescriptor {
  volumeDescriptorSequenceNumber: number;
  partitionFlags: number;
  partitionNumber: number;
  partitionContents: RegId;
  accessType: number;
  partitionStartingLocation: number;
  partitionLength: number;
}

/** 3/10.5 */
export function parsePartitionDescriptor(b: Buffer): PartitionDescriptor {
  return {
    volumeDescriptorSequenceNumber: b.readUInt32LE(16),
    partitionFlags: b.readUInt16LE(20),
    partitionNumber: b.readUInt16LE(22),
    partitionContents: readRegId(b, 24),
    accessType: b.readUInt32LE(184),
    partitionStartingLocation: b.readUInt32LE(188),
    partitionLength: b.readUInt32LE(192),
  };
}

export type PartitionMap =
  | { type: 1; volumeSequenceNumber: number; partitionNumber: number }
  | {
      type: 2;
      kind: 'metadata';
      volumeSequenceNumber: number;
      partitionNumber: number;
      metadataFileLocation: number;
      metadataMirrorFileLocation: number;
      metadataBitmapFileLocation: number;
      allocationUnitSize: number;
      alignmentUnitSize: number;
      flags: number;
    }
  | { type: 2; kind: 'sparable' | 'virtual' | 'unknown'; identifier: string; volumeSequenceNumber: number; partitionNumber: number };

export interface LogicalVolumeDescriptor {
  volumeDescriptorSequenceNumber: number;
  logicalVolumeIdentifier: string;
  logicalBlockSize: number;
  domainIdentifier: RegId;
  /** UDF 2.2.4.4: Logical Volume Contents Use holds the long_ad of the File Set Descriptor. */
  fileSetDescriptorLocation: AllocationDescriptor;
  partitionMaps: PartitionMap[];
  integritySequenceExtent: ExtentAd;
}

/** 3/10.6, with partition maps of 3/10.7 and UDF 2.2.8-2.2.10. */
export function parseLogicalVolumeDescriptor(b: Buffer): LogicalVolumeDescriptor {
  const mapTableLength = b.readUInt32LE(264);
  const numberOfPartitionMaps = b.readUInt32LE(268);
  if (440 + mapTableLength > b.length) {
    throw new MediaError('E_FORMAT', 'partition map table runs past the Logical Volume Descriptor', { mapTableLength });
  }
  if (numberOfPartitionMaps > 64) {
    throw new MediaError('E_LIMIT', 'absurd number of partition maps', { numberOfPartitionMaps });
  }
  const maps: PartitionMap[] = [];
  let p = 440;
  const end = 440 + mapTableLength;
  for (let i = 0; i < numberOfPartitionMaps; i++) {
    if (p + 2 > end) throw new MediaError('E_FORMAT', 'partition map table shorter than its map count', { map: i });
    const type = b[p]!;
    const len = b[p + 1]!;
    if (len < 2 || p + len > end) throw new MediaError('E_FORMAT', 'partition map with a bad length', { map: i, length: len });
    if (type === 1 && len >= 6) {
      maps.push({ type: 1, volumeSequenceNumber: b.readUInt16LE(p + 2), partitionNumber: b.readUInt16LE(p + 4) });
    } else if (type === 2 && len >= 40) {
      const id = readRegId(b, p + 4).identifier;
      const volumeSequenceNumber = b.readUInt16LE(p + 36);
      const partitionNumber = b.readUInt16LE(p + 38);
      if (id === '*UDF Metadata Partition' && len >= 60) {
        maps.push({
          type: 2,
          kind: 'metadata',
          volumeSequenceNumber,
          partitionNumber,
          metadataFileLocation: b.readUInt32LE(p + 40),
          metadataMirrorFileLocation: b.readUInt32LE(p + 44),
          metadataBitmapFileLocation: b.readUInt32LE(p + 48),
          allocationUnitSize: b.readUInt32LE(p + 52),
          alignmentUnitSize: b.readUInt16LE(p + 56),
          flags: b[p + 58]!,
        });
      } else {
        const kind = id === '*UDF Sparable Partition' ? 'sparable' : id === '*UDF Virtual Partition' ? 'virtual' : 'unknown';
        maps.push({ type: 2, kind, identifier: id, volumeSequenceNumber, partitionNumber });
      }
    } else {
      throw new MediaError('E_FORMAT', 'unknown partition map type', { map: i, type, length: len });
    }
    p += len;
  }
  return {
    volumeDescriptorSequenceNumber: b.readUInt32LE(16),
    logicalVolumeIdentifier: readDString(b, 84, 128),
    logicalBlockSize: b.readUInt32LE(212),
    domainIdentifier: readRegId(b, 216),
    fileSetDescriptorLocation: readLongAd(b, 248),
    partitionMaps: maps,
    integritySequenceExtent: readExtentAd(b, 432),
  };
}

// ---------------------------------------------------------------- file structures (part 4)

export interface FileSetDescriptor {
  recordingDateAndTime: Date | undefined;
  logicalVolumeIdentifier: string;
  fileSetIdentifier: string;
  rootDirectoryICB: AllocationDescriptor;
  domainIdentifier: RegId;
  systemStreamDirectoryICB: AllocationDescriptor;
}

/** 4/14.1 */
export function parseFileSetDescriptor(b: Buffer): FileSetDescriptor {
  return {
    recordingDateAndTime: readTimestamp(b, 16),
    logicalVolumeIdentifier: readDString(b, 112, 128),
    fileSetIdentifier: readDString(b, 304, 32),
    rootDirectoryICB: readLongAd(b, 400),
    domainIdentifier: readRegId(b, 416),
    systemStreamDirectoryICB: readLongAd(b, 464),
  };
}

export const FileType = {
  Unspecified: 0,
  UnallocatedSpaceEntry: 1,
  PartitionIntegrityEntry: 2,
  IndirectEntry: 3,
  Directory: 4,
  RandomAccessBytes: 5,
  BlockDevice: 6,
  CharacterDevice: 7,
  ExtendedAttributes: 8,
  Fifo: 9,
  Socket: 10,
  TerminalEntry: 11,
  SymbolicLink: 12,
  StreamDirectory: 13,
  VirtualAllocationTable: 248,
  RealTimeFile: 249,
  MetadataFile: 250,
  MetadataMirrorFile: 251,
  MetadataBitmapFile: 252,
} as const;

export type AdForm = 'short' | 'long' | 'extended' | 'embedded';
const AD_FORMS: readonly AdForm[] = ['short', 'long', 'extended', 'embedded'];

/** A File Entry (4/14.9) or Extended File Entry (4/14.17), reduced to what a reader uses. */
export interface FileEntry {
  tag: DescriptorTag;
  extended: boolean;
  /** ICB tag (4/14.6) */
  strategyType: number;
  fileType: number;
  adForm: AdForm;
  uid: number;
  gid: number;
  permissions: number;
  fileLinkCount: number;
  informationLength: number;
  accessTime: Date | undefined;
  modificationTime: Date | undefined;
  creationTime: Date | undefined;
  uniqueId: bigint;
  /** Byte offset in this descriptor where the allocation descriptors (or embedded data) start. */
  allocationDescriptorsOffset: number;
  lengthOfAllocationDescriptors: number;
}

/** Largest file UDF can describe here: keeps later arithmetic inside Number's safe range. */
const MAX_INFORMATION_LENGTH = 2 ** 50;

/**
 * Decodes a File Entry or Extended File Entry whose tag has been verified by the caller.
 * `b` is one logical block.
 */
export function parseFileEntry(b: Buffer, tag: DescriptorTag): FileEntry {
  const extended = tag.tagIdentifier === TagId.ExtendedFileEntry;
  const icbFlags = b.readUInt16LE(16 + 18);
  const infoLen = b.readBigUInt64LE(56);
  if (infoLen > BigInt(MAX_INFORMATION_LENGTH)) {
    throw new MediaError('E_LIMIT', 'file information length beyond any real medium', {
      location: tag.tagLocation,
      informationLength: infoLen.toString(),
    });
  }
  const eaAt = extended ? 208 : 168;
  const lengthOfExtendedAttributes = b.readUInt32LE(eaAt);
  const lengthOfAllocationDescriptors = b.readUInt32LE(eaAt + 4);
  const adOffset = eaAt + 8 + lengthOfExtendedAttributes;
  if (adOffset > b.length || adOffset + lengthOfAllocationDescriptors > b.length) {
    throw new MediaError('E_FORMAT', 'extended attributes and allocation descriptors run past the file entry', {
      location: tag.tagLocation,
      lengthOfExtendedAttributes,
      lengthOfAllocationDescriptors,
    });
  }
  return {
    tag,
    extended,
    strategyType: b.readUInt16LE(16 + 4),
    fileType: b[16 + 11]!,
    adForm: AD_FORMS[icbFlags & 7] ?? 'short',
    uid: b.readUInt32LE(36),
    gid: b.readUInt32LE(40),
    permissions: b.readUInt32LE(44),
    fileLinkCount: b.readUInt16LE(48),
    informationLength: Number(infoLen),
    accessTime: readTimestamp(b, extended ? 80 : 72),
    modificationTime: readTimestamp(b, extended ? 92 : 84),
    creationTime: extended ? readTimestamp(b, 104) : undefined,
    uniqueId: b.readBigUInt64LE(extended ? 200 : 160),
    allocationDescriptorsOffset: adOffset,
    lengthOfAllocationDescriptors,
  };
}

/** Validates the AD form value itself (values 4-7 are reserved). */
export function adFormOf(b: Buffer): number {
  return b.readUInt16LE(16 + 18) & 7;
}

/** Decodes a run of allocation descriptors of one form; stops at a zero-length descriptor (4/12). */
export function parseAllocationDescriptors(
  b: Buffer,
  start: number,
  length: number,
  form: Exclude<AdForm, 'embedded'>,
  partitionReferenceNumber: number,
): AllocationDescriptor[] {
  const size = form === 'short' ? 8 : form === 'long' ? 16 : 20;
  const out: AllocationDescriptor[] = [];
  const end = Math.min(b.length, start + length);
  for (let p = start; p + size <= end; p += size) {
    const ad =
      form === 'short' ? readShortAd(b, p, partitionReferenceNumber) : form === 'long' ? readLongAd(b, p) : readExtAd(b, p);
    if (ad.length === 0) break;
    out.push(ad);
  }
  return out;
}

/** File characteristics (4/14.4.3). */
export const FileCharacteristics = {
  Existence: 0x01, // "hidden" to the user
  Directory: 0x02,
  Deleted: 0x04,
  Parent: 0x08,
  Metadata: 0x10,
} as const;

export interface FileIdentifierDescriptor {
  fileVersionNumber: number;
  fileCharacteristics: number;
  fileIdentifier: string;
  icb: AllocationDescriptor;
  /** Bytes this descriptor occupies, padding included. */
  size: number;
}

/**
 * Decodes the File Identifier Descriptors (4/14.4) of a directory's data. Each descriptor's tag
 * checksum and CRC are checked; the tag location is not (it is relative to where the directory
 * happens to be recorded).
 */
export function parseFileIdentifiers(data: Buffer, where: Record<string, unknown>): FileIdentifierDescriptor[] {
  const out: FileIdentifierDescriptor[] = [];
  let p = 0;
  while (p + 38 <= data.length) {
    // Unused space after the last descriptor is zero-filled (some writers pad to the block end).
    if (data.readUInt16LE(p) === 0 && data[p + 4] === 0) break;
    verifyTag(data.subarray(p, Math.min(data.length, p + 38 + 0xffff + 0xff + 3)), 0, {
      ids: [TagId.FileIdentifierDescriptor],
      where: { ...where, offset: p },
    });
    const lengthOfFileIdentifier = data[p + 19]!;
    const lengthOfImplementationUse = data.readUInt16LE(p + 36);
    const raw = 38 + lengthOfImplementationUse + lengthOfFileIdentifier;
    const size = (raw + 3) & ~3;
    if (p + raw > data.length) {
      throw new MediaError('E_TRUNCATED', 'file identifier runs past the directory data', { ...where, offset: p });
    }
    const idStart = p + 38 + lengthOfImplementationUse;
    out.push({
      fileVersionNumber: data.readUInt16LE(p + 16),
      fileCharacteristics: data[p + 18]!,
      fileIdentifier: lengthOfFileIdentifier ? decodeCS0(data.subarray(idStart, idStart + lengthOfFileIdentifier)) : '',
      icb: readLongAd(data, p + 20),
      size,
    });
    p += size;
  }
  return out;
}
