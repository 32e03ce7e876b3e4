// ECMA-167 3/7.2 descriptor tag: every UDF descriptor starts with one. Both the checksum and the
// CRC are checked, so that a damaged or misplaced descriptor is reported instead of misread.
import { MediaError } from '../errors.ts';

export const TagId = {
  PrimaryVolumeDescriptor: 1,
  AnchorVolumeDescriptorPointer: 2,
  VolumeDescriptorPointer: 3,
  ImplementationUseVolumeDescriptor: 4,
  PartitionDescriptor: 5,
  LogicalVolumeDescriptor: 6,
  UnallocatedSpaceDescriptor: 7,
  TerminatingDescriptor: 8,
  LogicalVolumeIntegrityDescriptor: 9,
  FileSetDescriptor: 256,
  FileIdentifierDescriptor: 257,
  AllocationExtentDescriptor: 258,
  IndirectEntry: 259,
  TerminalEntry: 260,
  FileEntry: 261,
  ExtendedAttributeHeaderDescriptor: 262,
  UnallocatedSpaceEntry: 263,
  SpaceBitmapDescriptor: 264,
  PartitionIntegrityEntry: 265,
  ExtendedFileEntry: 266,
} as const;

export interface DescriptorTag {
  tagIdentifier: number;
  descriptorVersion: number;
  tagChecksum: number;
  tagSerialNumber: number;
  descriptorCRC: number;
  descriptorCRCLength: number;
  tagLocation: number;
}

// CRC-ITU-T (ECMA-167 1/7.2.6): polynomial 0x1021, initial value 0, no reflection.
const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

export function crcItuT(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ buf[i]!) & 0xff]!;
  return crc;
}

/** Checksum of 3/7.2.3: bytes 0-3 and 5-15 of the tag, modulo 256. */
export function tagChecksum(buf: Uint8Array, at = 0): number {
  let sum = 0;
  for (let i = 0; i < 16; i++) if (i !== 4) sum += buf[at + i]!;
  return sum & 0xff;
}

export function parseTag(buf: Buffer, at = 0): DescriptorTag {
  if (buf.length < at + 16) throw new MediaError('E_TRUNCATED', 'descriptor tag cut short', { offset: at });
  return {
    tagIdentifier: buf.readUInt16LE(at),
    descriptorVersion: buf.readUInt16LE(at + 2),
    tagChecksum: buf[at + 4]!,
    tagSerialNumber: buf.readUInt16LE(at + 6),
    descriptorCRC: buf.readUInt16LE(at + 8),
    descriptorCRCLength: buf.readUInt16LE(at + 10),
    tagLocation: buf.readUInt32LE(at + 12),
  };
}

/** True when the 16 bytes at `at` look like a valid tag (checksum only; cheap probing). */
export function looksLikeTag(buf: Buffer, at = 0, expectId?: number): boolean {
  if (buf.length < at + 16) return false;
  if (tagChecksum(buf, at) !== buf[at + 4]) return false;
  if (expectId !== undefined && buf.readUInt16LE(at) !== expectId) return false;
  return true;
}

export interface TagCheck {
  /** Expected tag identifier(s). */
  ids: readonly number[];
  /** Expected tag location (logical sector/block number), when known. */
  location?: number | undefined;
  /** Where the descriptor was read, for error messages. */
  where: Record<string, unknown>;
}

/** Parses and verifies the tag at `at`: identifier, checksum, CRC and (optionally) location. */
export function verifyTag(buf: Buffer, at: number, check: TagCheck): DescriptorTag {
  const tag = parseTag(buf, at);
  const ctx = { ...check.where, tagIdentifier: tag.tagIdentifier };
  if (tagChecksum(buf, at) !== tag.tagChecksum) {
    throw new MediaError('E_BAD_TAG', `descriptor tag checksum mismatch (expected ${check.ids.join('/')})`, ctx);
  }
  if (!check.ids.includes(tag.tagIdentifier)) {
    throw new MediaError('E_BAD_TAG', `unexpected descriptor (expected tag ${check.ids.join('/')})`, ctx);
  }
  if (check.location !== undefined && tag.tagLocation !== check.location) {
    throw new MediaError('E_BAD_TAG', 'descriptor tag location does not match where it was read', {
      ...ctx,
      tagLocation: tag.tagLocation,
      expected: check.location,
    });
  }
  const crcEnd = at + 16 + tag.descriptorCRCLength;
  if (crcEnd > buf.length) {
    throw new MediaError('E_FORMAT', 'descriptor CRC length runs past the descriptor', {
      ...ctx,
      descriptorCRCLength: tag.descriptorCRCLength,
    });
  }
  const crc = crcItuT(buf, at + 16, crcEnd);
  if (crc !== tag.descriptorCRC) {
    throw new MediaError('E_CRC', 'descriptor CRC mismatch', { ...ctx, recorded: tag.descriptorCRC, computed: crc });
  }
  return tag;
}
