// ECMA-119 (ISO 9660) directory records, and the System Use Sharing Protocol (SUSP, IEEE P1281)
// and Rock Ridge (RRIP, IEEE P1282) entries recorded in their System Use areas. Pure functions:
// Buffers in, typed values out. Reading sectors and following CE continuation areas is done by
// volume.ts, which feeds the bytes back in here.
import { MediaError } from '../errors.ts';

/** ECMA-119 6.1.2: a logical sector is 2048 bytes; directory records never cross one (9.1). */
export const SECTOR_SIZE = 2048;
/** ECMA-119 9.1: the fixed part of a directory record is 33 bytes, followed by the identifier. */
export const DIRECTORY_RECORD_FIXED_LENGTH = 33;
/** Record counts beyond this are not real: Windows media directories hold a few thousand. */
export const MAX_DIRECTORY_RECORDS = 200_000;

/** ECMA-119 9.1.6 file flags. */
export const FileFlags = {
  /** Existence bit: "need not be made known to the user". */
  hidden: 0x01,
  directory: 0x02,
  /** An associated file (e.g. a Macintosh resource fork) of the same-named file. */
  associatedFile: 0x04,
  record: 0x08,
  protection: 0x10,
  /** Not the final directory record of a multi-extent file. */
  multiExtent: 0x80,
} as const;

export interface DirectoryRecord {
  /** BP 1: length of the whole record, in bytes. */
  lengthOfDirectoryRecord: number;
  /** BP 2: extended attribute record length, in logical blocks (recorded before the file data). */
  extendedAttributeRecordLength: number;
  /** BP 3-10: first logical block of the extent. */
  locationOfExtent: number;
  /** BP 11-18: bytes of file data in the extent (excluding the extended attribute record). */
  dataLength: number;
  /** BP 19-25: recording date and time. */
  recordingDateAndTime: Date | undefined;
  /** BP 26. */
  fileFlags: number;
  /** BP 27: file unit size (interleaved files), in logical blocks; 0 when not interleaved. */
  fileUnitSize: number;
  /** BP 28: interleave gap size, in logical blocks. */
  interleaveGapSize: number;
  /** BP 29-32. */
  volumeSequenceNumber: number;
  /** BP 34-: raw file identifier bytes (d-characters, or UCS-2 BE on a Joliet tree). */
  fileIdentifier: Buffer;
  /** The System Use area after the identifier (and its padding byte). */
  systemUse: Buffer;
  /** Byte offset of the record in the buffer it was parsed from. */
  offset: number;
}

// ---------------------------------------------------------------------------------------------
// Numbers and dates

/** ECMA-119 7.3.3: both-byte-order u32; the little-endian half is used. */
export function both32(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off);
}

/** True when the big-endian half of a both-byte-order u32 (7.3.3) disagrees with the LE half. */
export function both32Mismatch(buf: Buffer, off: number): boolean {
  return buf.readUInt32LE(off) !== buf.readUInt32BE(off + 4);
}

/** ECMA-119 7.2.3: both-byte-order u16. */
export function both16(buf: Buffer, off: number): number {
  return buf.readUInt16LE(off);
}

export function both16Mismatch(buf: Buffer, off: number): boolean {
  return buf.readUInt16LE(off) !== buf.readUInt16BE(off + 2);
}

function validDate(y: number, mo: number, d: number, h: number, mi: number, s: number): boolean {
  return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && s <= 60 && y >= 0;
}

/**
 * ECMA-119 9.1.5 recording date: years since 1900, month, day, hour, minute, second, and the
 * offset from GMT in 15-minute intervals (signed). All zeros means "not specified".
 */
export function parseRecordingDate(buf: Buffer, off: number): Date | undefined {
  if (off + 7 > buf.length) return undefined;
  const [y, mo, d, h, mi, s] = [buf[off]!, buf[off + 1]!, buf[off + 2]!, buf[off + 3]!, buf[off + 4]!, buf[off + 5]!];
  if (y === 0 && mo === 0 && d === 0 && h === 0 && mi === 0 && s === 0) return undefined;
  if (!validDate(y, mo, d, h, mi, s)) return undefined;
  const gmtOffset = buf.readInt8(off + 6);
  return new Date(Date.UTC(1900 + y, mo - 1, d, h, mi, s) - gmtOffset * 15 * 60_000);
}

/**
 * ECMA-119 8.4.26.1 volume date: 16 ASCII digits "YYYYMMDDHHMMSScc" then the GMT offset in
 * 15-minute intervals. All '0' digits (or zeros) with offset 0 means "not specified".
 */
export function parseLongDate(buf: Buffer, off: number): Date | undefined {
  if (off + 17 > buf.length) return undefined;
  const digits = buf.toString('latin1', off, off + 16);
  if (!/^[0-9]{16}$/.test(digits)) return undefined;
  if (/^0+$/.test(digits)) return undefined;
  const n = (a: number, b: number) => Number(digits.slice(a, b));
  const [y, mo, d, h, mi, s, cs] = [n(0, 4), n(4, 6), n(6, 8), n(8, 10), n(10, 12), n(12, 14), n(14, 16)];
  if (!validDate(y, mo, d, h, mi, s)) return undefined;
  const gmtOffset = buf.readInt8(off + 16);
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s, cs * 10) - gmtOffset * 15 * 60_000);
}

// ---------------------------------------------------------------------------------------------
// Directory records

export interface RecordContext {
  /** Logical block where the parsed buffer starts (for error messages). */
  location?: number | undefined;
  /** Path of the directory being read (for error messages). */
  path?: string | undefined;
}

/**
 * Parses one directory record at `off`. `fixedLength` overrides the length byte: the root record
 * embedded in a volume descriptor is 34 bytes, whatever some mastering tools put in its BP 1.
 */
export function parseDirectoryRecord(buf: Buffer, off: number, ctx: RecordContext = {}, fixedLength?: number): DirectoryRecord {
  const where = () => ({
    path: ctx.path,
    sector: ctx.location === undefined ? undefined : ctx.location + Math.floor(off / SECTOR_SIZE),
    offset: off % SECTOR_SIZE,
  });
  const len = fixedLength ?? buf[off] ?? 0;
  if (len < DIRECTORY_RECORD_FIXED_LENGTH + 1) {
    throw new MediaError('E_FORMAT', 'directory record shorter than its fixed part', { ...where(), length: len });
  }
  if (off + len > buf.length) {
    throw new MediaError('E_FORMAT', 'directory record runs past the end of its directory', { ...where(), length: len });
  }
  const lenFi = buf[off + 32]!;
  if (DIRECTORY_RECORD_FIXED_LENGTH + lenFi > len) {
    throw new MediaError('E_FORMAT', 'file identifier runs past the end of its directory record', {
      ...where(),
      length: len,
      identifierLength: lenFi,
    });
  }
  // 9.1.12: a padding byte follows an even-length identifier, so that the System Use area starts
  // at an even offset.
  const suStart = DIRECTORY_RECORD_FIXED_LENGTH + lenFi + (lenFi % 2 === 0 ? 1 : 0);
  return {
    lengthOfDirectoryRecord: len,
    extendedAttributeRecordLength: buf[off + 1]!,
    locationOfExtent: both32(buf, off + 2),
    dataLength: both32(buf, off + 10),
    recordingDateAndTime: parseRecordingDate(buf, off + 18),
    fileFlags: buf[off + 25]!,
    fileUnitSize: buf[off + 26]!,
    interleaveGapSize: buf[off + 27]!,
    volumeSequenceNumber: both16(buf, off + 28),
    fileIdentifier: buf.subarray(off + 33, off + 33 + lenFi),
    systemUse: suStart < len ? buf.subarray(off + suStart, off + len) : Buffer.alloc(0),
    offset: off,
  };
}

/**
 * Parses the records of a directory extent. 6.8.1.1 / 9.1: a record never crosses a logical
 * sector; the unused tail of a sector is zero, so a zero length byte means "next sector".
 */
export function parseDirectory(buf: Buffer, ctx: RecordContext = {}): DirectoryRecord[] {
  const out: DirectoryRecord[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const len = buf[pos]!;
    const sectorEnd = Math.min(buf.length, (Math.floor(pos / SECTOR_SIZE) + 1) * SECTOR_SIZE);
    if (len === 0) {
      pos = sectorEnd;
      continue;
    }
    if (pos + len > sectorEnd) {
      throw new MediaError('E_FORMAT', 'directory record crosses a sector boundary', {
        path: ctx.path,
        sector: ctx.location === undefined ? undefined : ctx.location + Math.floor(pos / SECTOR_SIZE),
        offset: pos % SECTOR_SIZE,
        length: len,
      });
    }
    out.push(parseDirectoryRecord(buf, pos, ctx));
    if (out.length > MAX_DIRECTORY_RECORDS) {
      throw new MediaError('E_LIMIT', 'too many directory records', { path: ctx.path, sector: ctx.location });
    }
    pos += len;
  }
  return out;
}

/** 6.8.2.2: the identifiers 0x00 and 0x01 are the directory itself ('.') and its parent ('..'). */
export function isSelfOrParent(rec: DirectoryRecord): boolean {
  return rec.fileIdentifier.length === 1 && rec.fileIdentifier[0]! <= 1;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes as UTF-8 when they are valid UTF-8 (Rock Ridge names written on Linux), else Latin-1. */
export function decodeBytes(bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

/** UCS-2 / UTF-16 big-endian (Joliet); an odd trailing byte is dropped. */
export function decodeUcs2be(bytes: Buffer): string {
  const n = bytes.length & ~1;
  const le = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 2) {
    le[i] = bytes[i + 1]!;
    le[i + 1] = bytes[i]!;
  }
  return le.toString('utf16le');
}

/** 7.5.1: a file identifier ends in ';' and a version number; the version is not part of the name. */
function stripVersion(name: string): string {
  return name.replace(/;[0-9]*$/, '');
}

/**
 * A plain ISO 9660 file identifier as a name: version dropped, and the separator '.' dropped
 * when there is no extension (7.5.1: "NAME.;1" is recorded for an extension-less file).
 */
export function isoName(rec: DirectoryRecord): string {
  if (isSelfOrParent(rec)) return rec.fileIdentifier[0] === 0 ? '.' : '..';
  const raw = decodeBytes(rec.fileIdentifier);
  if (rec.fileFlags & FileFlags.directory) return raw;
  const name = stripVersion(raw);
  return name.endsWith('.') && name.length > 1 ? name.slice(0, -1) : name;
}

/** A Joliet identifier (UCS-2 BE); files may carry a ';1' version, as on plain ISO 9660. */
export function jolietName(rec: DirectoryRecord): string {
  if (isSelfOrParent(rec)) return rec.fileIdentifier[0] === 0 ? '.' : '..';
  const raw = decodeUcs2be(rec.fileIdentifier);
  return rec.fileFlags & FileFlags.directory ? raw : stripVersion(raw);
}

// ---------------------------------------------------------------------------------------------
// SUSP (IEEE P1281)

export interface SuspEntry {
  /** Two-character signature word, e.g. 'NM'. */
  signature: string;
  version: number;
  /** The entry's bytes after its 4-byte header (BP 5 onwards). */
  data: Buffer;
}

/** SUSP 5.1 CE: where the System Use area continues. */
export interface ContinuationArea {
  /** Logical block of the continuation area. */
  location: number;
  /** Byte offset in that block. */
  offset: number;
  length: number;
}

export interface SuspArea {
  entries: SuspEntry[];
  continuation: ContinuationArea | undefined;
}

/**
 * Splits a System Use area (or a continuation area) into SUSP entries, from byte `start` (the
 * SP entry's LEN_SKP). Stops at ST (5.4), at padding, or at an entry whose length does not fit:
 * the bytes after it cannot be framed, and the Linux kernel and 7-Zip stop there too.
 */
export function parseSuspArea(area: Buffer, start = 0): SuspArea {
  const entries: SuspEntry[] = [];
  let continuation: ContinuationArea | undefined;
  let pos = start;
  while (pos + 4 <= area.length) {
    const len = area[pos + 2]!;
    if (area[pos] === 0 || len < 4 || pos + len > area.length) break;
    const signature = area.toString('latin1', pos, pos + 2);
    const data = area.subarray(pos + 4, pos + len);
    if (signature === 'ST') break;
    if (signature === 'CE' && data.length >= 24 && continuation === undefined) {
      continuation = { location: both32(data, 0), offset: both32(data, 8), length: both32(data, 16) };
    }
    entries.push({ signature, version: area[pos + 3]!, data });
    pos += len;
  }
  return { entries, continuation };
}

/**
 * SUSP 5.3 SP: recorded first in the System Use area of the root's '.' record ("SP", 7, 1, 0xBE,
 * 0xEF, LEN_SKP). CD-ROM XA discs put 14 bytes of XA data first, so it is also looked for there,
 * as 7-Zip does. Returns LEN_SKP, the bytes to skip in every other System Use area.
 */
export function findSp(systemUse: Buffer): number | undefined {
  for (const at of [0, 14]) {
    const p = systemUse.subarray(at, at + 7);
    if (p.length === 7 && p[0] === 0x53 && p[1] === 0x50 && p[2] === 7 && p[3] === 1 && p[4] === 0xbe && p[5] === 0xef) {
      return p[6]!;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Rock Ridge (RRIP, IEEE P1282)

/** RRIP 4.1.1 PX: POSIX file attributes. */
export interface PosixAttributes {
  mode: number;
  links: number;
  uid: number;
  gid: number;
  /** File serial number (RRIP 1.12 only). */
  serial: number | undefined;
}

/** RRIP 4.1.6 TF: the time stamps that are recorded. */
export interface RockRidgeTimes {
  creation?: Date | undefined;
  modify?: Date | undefined;
  access?: Date | undefined;
  attributes?: Date | undefined;
  backup?: Date | undefined;
  expiration?: Date | undefined;
  effective?: Date | undefined;
}

export interface RockRidgeInfo {
  /** NM alternate name (continued entries concatenated); undefined when there is none. */
  name: string | undefined;
  /** NM CURRENT (the '.' entry) or PARENT ('..') flag. */
  nameIs: 'current' | 'parent' | undefined;
  px: PosixAttributes | undefined;
  /** SL symbolic link target, components joined with '/'. */
  symlinkTarget: string | undefined;
  times: RockRidgeTimes;
  /** CL: the logical block of the relocated directory this record stands for. */
  childLink: number | undefined;
  /** PL: the logical block of the original parent ('..' of a relocated directory). */
  parentLink: number | undefined;
  /** RE: this record is a relocated directory; it is reached through a CL record instead. */
  relocated: boolean;
  /** ZF: zisofs-compressed file data (an extension of RRIP written by mkzftree / xorriso). */
  zisofs: boolean;
  /** ER extension identifiers, e.g. 'RRIP_1991A', 'IEEE_P1282'. */
  extensions: string[];
  /** Some RRIP entry (RR, PX, PN, SL, NM, CL, PL, RE, TF, SF) is present. */
  hasRrip: boolean;
}

/** ER identifiers under which Rock Ridge is registered (RRIP 1.09, 1.10, 1.12). */
export const RRIP_IDENTIFIERS = ['RRIP_1991A', 'IEEE_P1282', 'IEEE_1282'];
const RRIP_SIGNATURES = new Set(['RR', 'PX', 'PN', 'SL', 'NM', 'CL', 'PL', 'RE', 'TF', 'SF']);

// RRIP 4.1.4 NM flags and 4.1.3.1 SL component flags.
const NM_CONTINUE = 0x01;
const NM_CURRENT = 0x02;
const NM_PARENT = 0x04;
const SL_CONTINUE = 0x01;
const SL_CURRENT = 0x02;
const SL_PARENT = 0x04;
const SL_ROOT = 0x08;
const SL_VOLROOT = 0x10;
// RRIP 4.1.6 TF flags: which stamps are recorded, and whether in the 17-byte form (8.4.26.1).
const TF_FIELDS = ['creation', 'modify', 'access', 'attributes', 'backup', 'expiration', 'effective'] as const;
const TF_LONG_FORM = 0x80;

/** Interprets the SUSP entries of one directory record (System Use area plus continuations). */
export function interpretRockRidge(entries: readonly SuspEntry[]): RockRidgeInfo {
  const info: RockRidgeInfo = {
    name: undefined,
    nameIs: undefined,
    px: undefined,
    symlinkTarget: undefined,
    times: {},
    childLink: undefined,
    parentLink: undefined,
    relocated: false,
    zisofs: false,
    extensions: [],
    hasRrip: false,
  };
  const nameParts: Buffer[] = [];
  let nameDone = false;
  const slComponents: { flags: number; content: Buffer }[] = [];
  let slDone = false;
  for (const e of entries) {
    const d = e.data;
    if (RRIP_SIGNATURES.has(e.signature)) info.hasRrip = true;
    switch (e.signature) {
      case 'NM': {
        if (nameDone || d.length < 1) break;
        const flags = d[0]!;
        if (flags & NM_CURRENT) info.nameIs = 'current';
        else if (flags & NM_PARENT) info.nameIs = 'parent';
        else nameParts.push(d.subarray(1));
        // 4.1.4: CONTINUE means the name goes on in the next NM entry.
        if (!(flags & NM_CONTINUE)) nameDone = true;
        break;
      }
      case 'PX':
        if (d.length >= 32) {
          info.px = {
            mode: both32(d, 0),
            links: both32(d, 8),
            uid: both32(d, 16),
            gid: both32(d, 24),
            serial: d.length >= 40 ? both32(d, 32) : undefined,
          };
        }
        break;
      case 'SL': {
        if (slDone || d.length < 1) break;
        // 4.1.3: BP 5 flags (CONTINUE: the link goes on in the next SL), then component records.
        let p = 1;
        while (p + 2 <= d.length) {
          const flags = d[p]!;
          const len = d[p + 1]!;
          if (p + 2 + len > d.length) break;
          slComponents.push({ flags, content: d.subarray(p + 2, p + 2 + len) });
          p += 2 + len;
        }
        if (!(d[0]! & SL_CONTINUE)) slDone = true;
        break;
      }
      case 'TF': {
        if (d.length < 1) break;
        const flags = d[0]!;
        const size = flags & TF_LONG_FORM ? 17 : 7;
        let p = 1;
        for (let bit = 0; bit < TF_FIELDS.length; bit++) {
          if (!(flags & (1 << bit))) continue;
          if (p + size > d.length) break;
          info.times[TF_FIELDS[bit]!] = size === 17 ? parseLongDate(d, p) : parseRecordingDate(d, p);
          p += size;
        }
        break;
      }
      case 'CL':
        if (d.length >= 8) info.childLink = both32(d, 0);
        break;
      case 'PL':
        if (d.length >= 8) info.parentLink = both32(d, 0);
        break;
      case 'RE':
        info.relocated = true;
        break;
      case 'ZF':
        info.zisofs = true;
        break;
      case 'ER': {
        // SUSP 5.5: LEN_ID, LEN_DES, LEN_SRC, EXT_VER, then the identifier.
        if (d.length < 4) break;
        const lenId = d[0]!;
        if (4 + lenId <= d.length) info.extensions.push(d.toString('latin1', 4, 4 + lenId));
        break;
      }
    }
  }
  if (nameParts.length) info.name = decodeBytes(Buffer.concat(nameParts));
  if (slComponents.length) info.symlinkTarget = symlinkTarget(slComponents);
  return info;
}

/** RRIP 4.1.3.1: joins SL component records into a path. */
function symlinkTarget(components: readonly { flags: number; content: Buffer }[]): string {
  let out = '';
  let needSeparator = false;
  for (const c of components) {
    if (c.flags & (SL_ROOT | SL_VOLROOT)) {
      out += '/';
      needSeparator = false;
      continue;
    }
    if (needSeparator) out += '/';
    if (c.flags & SL_CURRENT) out += '.';
    else if (c.flags & SL_PARENT) out += '..';
    else out += decodeBytes(c.content);
    // A component with CONTINUE goes on in the next component record, with no separator.
    needSeparator = !(c.flags & SL_CONTINUE);
  }
  return out;
}
