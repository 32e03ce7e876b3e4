// WIM header codec (pure): the 208-byte header at the start of every WIM, ESD and SWM part, and
// at the end of a wimlib pipable WIM. Field names follow wimlib's include/wimlib/header.h
// (struct wim_header_disk) and Microsoft's WIM specification; comments give the byte offsets.
import { MediaError } from '../errors.ts';

/** Size of the on-disk header (WIM_HEADER_DISK_SIZE). */
export const WIM_HEADER_DISK_SIZE = 0xd0;

/** "MSWIM\0\0\0": every WIM written by WIMGAPI, DISM or wimlib (non-pipable). */
export const WIM_MAGIC = Buffer.from('MSWIM\0\0\0', 'latin1');
/** "WLPWM\0\0\0": wimlib's pipable WIM; the authoritative header copy is at the end of the file. */
export const PWM_MAGIC = Buffer.from('WLPWM\0\0\0', 'latin1');

/** WIM_VERSION_DEFAULT: blobs always compressed independently. */
export const WIM_VERSION_DEFAULT = 0x10d00;
/** WIM_VERSION_SOLID: solid resources and LZMS allowed (Windows 8+ "ESD" / recovery compression). */
export const WIM_VERSION_SOLID = 0xe00;

/** Header flags (wim_flags at 0x10), with wimlib's WIM_HDR_FLAG_* values. */
export const WIM_HDR_FLAG = {
  RESERVED: 0x00000001,
  COMPRESSION: 0x00000002,
  READONLY: 0x00000004,
  SPANNED: 0x00000008,
  RESOURCE_ONLY: 0x00000010,
  METADATA_ONLY: 0x00000020,
  WRITE_IN_PROGRESS: 0x00000040,
  RP_FIX: 0x00000080,
  COMPRESS_RESERVED: 0x00010000,
  COMPRESS_XPRESS: 0x00020000,
  COMPRESS_LZX: 0x00040000,
  COMPRESS_LZMS: 0x00080000,
  COMPRESS_XPRESS_2: 0x00200000,
} as const;

/** Resource header flags (byte 7 of a reshdr), with wimlib's WIM_RESHDR_FLAG_* values. */
export const WIM_RESHDR_FLAG = {
  FREE: 0x01,
  METADATA: 0x02,
  COMPRESSED: 0x04,
  SPANNED: 0x08,
  SOLID: 0x10,
} as const;

/** Size of an on-disk resource header (struct wim_reshdr_disk). */
export const WIM_RESHDR_DISK_SIZE = 24;

/** More images than any real medium carries (wimlib's own cap is INT32_MAX - 1). */
export const WIM_MAX_IMAGES = 10_000;

export type WimCompression = 'none' | 'xpress' | 'lzx' | 'lzms' | 'xpress2';
export type WimKind = 'wim' | 'esd' | 'swm-part' | 'pipable';

export interface WimResourceFlags {
  readonly free: boolean;
  readonly metadata: boolean;
  readonly compressed: boolean;
  readonly spanned: boolean;
  readonly solid: boolean;
}

/** struct wim_reshdr_disk: where a resource lies in the file. */
export interface WimResourceHeader {
  /** +0x00, 7 bytes: size of the resource in the file (wimlib: size_in_wim). */
  readonly compressedSize: number;
  /** +0x07: WIM_RESHDR_FLAG_* bits as stored. */
  readonly rawFlags: number;
  readonly flags: WimResourceFlags;
  /** +0x08, u64: byte offset of the resource in the file (wimlib: offset_in_wim). */
  readonly offset: number;
  /** +0x10, u64: size once uncompressed (wimlib: uncompressed_size). */
  readonly originalSize: number;
}

export interface WimHeaderFlags {
  readonly reserved: boolean;
  readonly compression: boolean;
  readonly readOnly: boolean;
  readonly spanned: boolean;
  readonly resourceOnly: boolean;
  readonly metadataOnly: boolean;
  readonly writeInProgress: boolean;
  readonly rpFix: boolean;
  readonly compressReserved: boolean;
  readonly compressXpress: boolean;
  readonly compressLzx: boolean;
  readonly compressLzms: boolean;
  readonly compressXpress2: boolean;
}

/** struct wim_header_disk, decoded. */
export interface WimHeader {
  /** 0x00: 'MSWIM' (normal) or 'WLPWM' (wimlib pipable WIM). */
  readonly magic: 'MSWIM' | 'WLPWM';
  /** 0x08: header size in bytes (0xD0). */
  readonly hdrSize: number;
  /** 0x0C: 0x10D00 (WIM_VERSION_DEFAULT) or 0xE00 (WIM_VERSION_SOLID). */
  readonly wimVersion: number;
  /** 0x10: WIM_HDR_FLAG_* bits as stored. */
  readonly wimFlags: number;
  readonly flags: WimHeaderFlags;
  /** Compression format implied by the flags, chosen in wimlib's order (LZX, XPRESS, LZMS). */
  readonly compression: WimCompression;
  /** 0x14: uncompressed chunk size of non-solid compressed resources (0 when uncompressed). */
  readonly chunkSize: number;
  /** 0x18, 16 bytes: the GUID, as lower-case hex of the bytes in file order (as wimlib prints it). */
  readonly guid: string;
  /** 0x28, u16: 1-based part number of a split WIM (1 when not split). */
  readonly partNumber: number;
  /** 0x2A, u16: number of parts of a split WIM (1 when not split). */
  readonly totalParts: number;
  /** 0x2C, u32: number of images. */
  readonly imageCount: number;
  /** 0x30: the blob table, a.k.a. lookup table (lookup_table_reshdr in older wimlib). */
  readonly blobTableReshdr: WimResourceHeader;
  /** 0x48: the UTF-16LE XML document. */
  readonly xmlDataReshdr: WimResourceHeader;
  /** 0x60: metadata resource of the bootable image (all zero if none). */
  readonly bootMetadataReshdr: WimResourceHeader;
  /** 0x78, u32: 1-based index of the bootable image, 0 if none (or if the stored value is out of range, as wimlib does). */
  readonly bootIndex: number;
  /** 0x78 as stored, even when out of range. */
  readonly storedBootIndex: number;
  /** 0x7C: integrity table (all zero if none). */
  readonly integrityTableReshdr: WimResourceHeader;
  /** What the file is: a pipable WIM, a part of a split set, a solid (ESD) WIM or a plain WIM. */
  readonly kind: WimKind;
  /** Oddities that do not prevent reading (e.g. an ignored boot index). */
  readonly warnings: string[];
}

export interface ParseWimHeaderOptions {
  /** Size of the file the header came from: resource ranges are checked against it. */
  fileSize?: number;
  /** Name of the file, for error messages. */
  source?: string;
  /** Byte offset of the header in the file (non-zero for the trailing header of a pipable WIM). */
  at?: number;
  /** Cap on imageCount (default WIM_MAX_IMAGES). */
  maxImages?: number;
}

/** Decodes a 24-byte resource header at `at` in `buf` (struct wim_reshdr_disk). */
export function parseReshdr(buf: Buffer, at: number): WimResourceHeader {
  // +0x00: 56-bit size_in_wim; +0x07: flags; +0x08: u64 offset_in_wim; +0x10: u64 uncompressed_size.
  const size56 = buf.readUIntLE(at, 6) + buf[at + 6]! * 2 ** 48; // exact below 2^53
  const compressedSize = Number.isSafeInteger(size56) ? size56 : Number.POSITIVE_INFINITY;
  const rawFlags = buf[at + 7]!;
  const offset = buf.readBigUInt64LE(at + 8);
  const originalSize = buf.readBigUInt64LE(at + 16);
  return {
    compressedSize,
    rawFlags,
    flags: {
      free: (rawFlags & WIM_RESHDR_FLAG.FREE) !== 0,
      metadata: (rawFlags & WIM_RESHDR_FLAG.METADATA) !== 0,
      compressed: (rawFlags & WIM_RESHDR_FLAG.COMPRESSED) !== 0,
      spanned: (rawFlags & WIM_RESHDR_FLAG.SPANNED) !== 0,
      solid: (rawFlags & WIM_RESHDR_FLAG.SOLID) !== 0,
    },
    offset: toSafe(offset),
    originalSize: toSafe(originalSize),
  };
}

// Sizes and offsets beyond 2^53 cannot occur in a real file; they become Infinity, which
// parseWimHeader rejects (E_FORMAT) for any resource that is present (non-zero size).
function toSafe(v: bigint): number {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : Number.POSITIVE_INFINITY;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/** Chunk-size orders wimlib accepts per format (wim.c: wim_chunk_size_valid). */
const CHUNK_ORDER: Record<Exclude<WimCompression, 'none'>, [number, number]> = {
  xpress: [12, 16],
  xpress2: [12, 16],
  lzx: [15, 21],
  lzms: [15, 30],
};

/**
 * Parses the 208-byte WIM header at the start of `buf`. Throws MediaError: E_TRUNCATED when
 * `buf` is shorter than a header or a resource lies past `fileSize`, E_FORMAT for a bad magic or
 * an impossible field, E_UNSUPPORTED for an unknown version, E_LIMIT for an absurd image count.
 */
export function parseWimHeader(buf: Buffer, opts: ParseWimHeaderOptions = {}): WimHeader {
  const source = opts.source;
  const base = opts.at ?? 0;
  const fail = (code: 'E_FORMAT' | 'E_TRUNCATED' | 'E_UNSUPPORTED' | 'E_LIMIT', msg: string, field: string, rel: number, extra: Record<string, unknown> = {}): never => {
    throw new MediaError(code, `WIM header: ${msg}`, { source, field, offset: base + rel, ...extra });
  };

  if (buf.length < 8) fail('E_TRUNCATED', `file too short for a WIM header (${buf.length} bytes)`, 'magic', 0);

  // 0x00: magic.
  let magic: 'MSWIM' | 'WLPWM';
  if (buf.subarray(0, 8).equals(WIM_MAGIC)) magic = 'MSWIM';
  else if (buf.subarray(0, 8).equals(PWM_MAGIC)) magic = 'WLPWM';
  else {
    const shown = buf.subarray(0, 8).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
    return fail('E_FORMAT', `not a WIM file: magic is "${shown}", expected "MSWIM\\0\\0\\0"`, 'magic', 0);
  }
  if (buf.length < WIM_HEADER_DISK_SIZE) {
    fail('E_TRUNCATED', `header is ${buf.length} bytes, expected ${WIM_HEADER_DISK_SIZE}`, 'hdrSize', 0);
  }

  // 0x08: hdr_size. wimlib requires exactly 208; larger values are accepted here (fields beyond
  // 0xD0 are not defined by any writer).
  const hdrSize = buf.readUInt32LE(0x08);
  if (hdrSize < WIM_HEADER_DISK_SIZE) fail('E_FORMAT', `header size ${hdrSize} is less than ${WIM_HEADER_DISK_SIZE}`, 'hdrSize', 0x08);

  // 0x0C: wim_version.
  const wimVersion = buf.readUInt32LE(0x0c);
  if (wimVersion !== WIM_VERSION_DEFAULT && wimVersion !== WIM_VERSION_SOLID) {
    fail('E_UNSUPPORTED', `unknown WIM version 0x${wimVersion.toString(16)} (expected 0x10d00, or 0xe00 for solid/ESD)`, 'wimVersion', 0x0c);
  }

  // 0x10: wim_flags.
  const wimFlags = buf.readUInt32LE(0x10);
  const f = (bit: number): boolean => (wimFlags & bit) !== 0;
  const flags: WimHeaderFlags = {
    reserved: f(WIM_HDR_FLAG.RESERVED),
    compression: f(WIM_HDR_FLAG.COMPRESSION),
    readOnly: f(WIM_HDR_FLAG.READONLY),
    spanned: f(WIM_HDR_FLAG.SPANNED),
    resourceOnly: f(WIM_HDR_FLAG.RESOURCE_ONLY),
    metadataOnly: f(WIM_HDR_FLAG.METADATA_ONLY),
    writeInProgress: f(WIM_HDR_FLAG.WRITE_IN_PROGRESS),
    rpFix: f(WIM_HDR_FLAG.RP_FIX),
    compressReserved: f(WIM_HDR_FLAG.COMPRESS_RESERVED),
    compressXpress: f(WIM_HDR_FLAG.COMPRESS_XPRESS),
    compressLzx: f(WIM_HDR_FLAG.COMPRESS_LZX),
    compressLzms: f(WIM_HDR_FLAG.COMPRESS_LZMS),
    compressXpress2: f(WIM_HDR_FLAG.COMPRESS_XPRESS_2),
  };
  // Same precedence as wimlib (wim.c, begin_read): the type flags only count when COMPRESSION is set.
  let compression: WimCompression = 'none';
  if (flags.compression) {
    if (flags.compressLzx) compression = 'lzx';
    else if (flags.compressXpress) compression = 'xpress';
    else if (flags.compressXpress2) compression = 'xpress2';
    else if (flags.compressLzms) compression = 'lzms';
    else fail('E_FORMAT', `compression flag set without a compression type (flags 0x${wimFlags.toString(16)})`, 'wimFlags', 0x10);
  }

  // 0x14: chunk_size. Meaningless (any value) when uncompressed, as in wimlib.
  const chunkSize = buf.readUInt32LE(0x14);
  if (compression !== 'none') {
    const [lo, hi] = CHUNK_ORDER[compression];
    if (!isPowerOfTwo(chunkSize) || chunkSize < 2 ** lo || chunkSize > 2 ** hi) {
      fail('E_FORMAT', `chunk size ${chunkSize} is not a power of two in [${2 ** lo}, ${2 ** hi}] as ${compression} requires`, 'chunkSize', 0x14);
    }
  }

  // 0x18: guid (16 bytes).
  const guid = buf.subarray(0x18, 0x28).toString('hex');

  // 0x28: part_number, 0x2A: total_parts.
  const partNumber = buf.readUInt16LE(0x28);
  const totalParts = buf.readUInt16LE(0x2a);
  if (totalParts === 0 || partNumber === 0 || partNumber > totalParts) {
    fail('E_FORMAT', `invalid part number ${partNumber} of ${totalParts}`, 'partNumber', 0x28, { partNumber, totalParts });
  }

  // 0x2C: image_count.
  const imageCount = buf.readUInt32LE(0x2c);
  const maxImages = opts.maxImages ?? WIM_MAX_IMAGES;
  if (imageCount > maxImages) {
    fail('E_LIMIT', `image count ${imageCount} is beyond any real medium (limit ${maxImages})`, 'imageCount', 0x2c);
  }

  // 0x30, 0x48, 0x60: resource headers; 0x78: boot_idx; 0x7C: integrity table reshdr.
  const blobTableReshdr = parseReshdr(buf, 0x30);
  const xmlDataReshdr = parseReshdr(buf, 0x48);
  const bootMetadataReshdr = parseReshdr(buf, 0x60);
  const bootIndex = buf.readUInt32LE(0x78);
  const integrityTableReshdr = parseReshdr(buf, 0x7c);

  const warnings: string[] = [];
  if (hdrSize !== WIM_HEADER_DISK_SIZE) {
    warnings.push(`header size is ${hdrSize}, not ${WIM_HEADER_DISK_SIZE} (wimlib refuses such files)`);
  }
  if (flags.writeInProgress) {
    warnings.push('the write-in-progress flag is set: the file may be incomplete');
  }
  // Like wimlib (wim.c): an out-of-range boot index is ignored, i.e. treated as "no bootable image".
  const storedBootIndex = bootIndex;
  if (bootIndex > imageCount) {
    warnings.push(`boot index ${bootIndex} is beyond the image count ${imageCount}; ignored`);
  }

  const reshdrs: [string, number, WimResourceHeader][] = [
    ['blobTableReshdr', 0x30, blobTableReshdr],
    ['xmlDataReshdr', 0x48, xmlDataReshdr],
    ['bootMetadataReshdr', 0x60, bootMetadataReshdr],
    ['integrityTableReshdr', 0x7c, integrityTableReshdr],
  ];
  for (const [field, at, r] of reshdrs) {
    if (r.compressedSize === 0) continue; // absent resource
    if (!Number.isSafeInteger(r.compressedSize) || !Number.isSafeInteger(r.offset) || !Number.isSafeInteger(r.originalSize)) {
      fail('E_FORMAT', `${field} offset or size beyond 2^53`, field, at);
    }
    if (r.offset < WIM_HEADER_DISK_SIZE) {
      fail('E_FORMAT', `${field} at offset ${r.offset} overlaps the header`, field, at, { resourceOffset: r.offset });
    }
    if (opts.fileSize !== undefined && r.offset + r.compressedSize > opts.fileSize) {
      fail('E_TRUNCATED', `${field} (offset ${r.offset}, ${r.compressedSize} bytes) runs past the end of the file (${opts.fileSize} bytes)`, field, at, {
        resourceOffset: r.offset,
        resourceSize: r.compressedSize,
        fileSize: opts.fileSize,
      });
    }
  }

  let kind: WimKind;
  if (magic === 'WLPWM') kind = 'pipable';
  else if (flags.spanned || totalParts > 1) kind = 'swm-part';
  else if (wimVersion === WIM_VERSION_SOLID) kind = 'esd';
  else kind = 'wim';

  return {
    magic,
    hdrSize,
    wimVersion,
    wimFlags,
    flags,
    compression,
    chunkSize,
    guid,
    partNumber,
    totalParts,
    imageCount,
    blobTableReshdr,
    xmlDataReshdr,
    bootMetadataReshdr,
    bootIndex: storedBootIndex > imageCount ? 0 : storedBootIndex,
    storedBootIndex,
    integrityTableReshdr,
    kind,
    warnings,
  };
}
