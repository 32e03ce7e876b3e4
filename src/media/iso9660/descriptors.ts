// ECMA-119 8: the volume descriptor set, from logical sector 16 up to the set terminator. Pure:
// parses a buffer holding the consecutive descriptor sectors; volume.ts does the reading.
import { MediaError } from '../errors.ts';
import {
  SECTOR_SIZE,
  both16,
  both16Mismatch,
  both32,
  both32Mismatch,
  decodeUcs2be,
  parseDirectoryRecord,
  parseLongDate,
  type DirectoryRecord,
} from './directory.ts';

/** ECMA-119 6.2.1: sectors 0-15 are the system area; the descriptor set starts at sector 16. */
export const VOLUME_DESCRIPTOR_SET_START = 16;
/** Real discs have a handful of descriptors (PVD, boot record, Joliet SVD, terminator). */
export const MAX_VOLUME_DESCRIPTORS = 64;

/** ECMA-119 8.1.1 volume descriptor types. */
export const VolumeDescriptorType = {
  bootRecord: 0,
  primary: 1,
  supplementary: 2,
  partition: 3,
  terminator: 255,
} as const;

/** El Torito 2.0: the boot system identifier of an El Torito boot record. */
export const EL_TORITO_SYSTEM_ID = 'EL TORITO SPECIFICATION';

export interface BootRecordDescriptor {
  type: 'boot';
  sector: number;
  /** BP 8-39. */
  bootSystemIdentifier: string;
  /** BP 40-71. */
  bootIdentifier: string;
  /** El Torito 2.0: absolute sector of the boot catalog (u32 LE at BP 72), for an El Torito record. */
  bootCatalogSector: number | undefined;
}

/** Fields shared by the primary (8.4) and supplementary (8.5) volume descriptors. */
export interface VolumeDescriptorFields {
  sector: number;
  /** BP 7: 1 for ECMA-119 descriptors, 2 for an ISO 9660:1999 enhanced descriptor. */
  volumeDescriptorVersion: number;
  /** BP 8 (supplementary only; 0 in a primary descriptor). */
  volumeFlags: number;
  /** BP 9-40. */
  systemIdentifier: string;
  /** BP 41-72. */
  volumeIdentifier: string;
  /** BP 81-88: number of logical blocks in the volume. */
  volumeSpaceSize: number;
  /** BP 89-120 (supplementary only): the escape sequences naming its character set. */
  escapeSequences: Buffer;
  /** BP 121-124. */
  volumeSetSize: number;
  /** BP 125-128. */
  volumeSequenceNumber: number;
  /** BP 129-132. */
  logicalBlockSize: number;
  /** BP 133-140. */
  pathTableSize: number;
  /** BP 141-144. */
  locationOfTypeLPathTable: number;
  /** BP 149-152 (big-endian). */
  locationOfTypeMPathTable: number;
  /** BP 157-190. */
  rootDirectoryRecord: DirectoryRecord;
  /** BP 191-318. */
  volumeSetIdentifier: string;
  /** BP 319-446. */
  publisherIdentifier: string;
  /** BP 447-574. */
  dataPreparerIdentifier: string;
  /** BP 575-702. */
  applicationIdentifier: string;
  /** BP 703-739. */
  copyrightFileIdentifier: string;
  /** BP 740-776. */
  abstractFileIdentifier: string;
  /** BP 777-813. */
  bibliographicFileIdentifier: string;
  /** BP 814-830. */
  volumeCreationDate: Date | undefined;
  /** BP 831-847. */
  volumeModificationDate: Date | undefined;
  /** BP 848-864. */
  volumeExpirationDate: Date | undefined;
  /** BP 865-881. */
  volumeEffectiveDate: Date | undefined;
  /** BP 882. */
  fileStructureVersion: number;
  /** Both-byte-order fields whose big-endian half disagrees with the little-endian half used. */
  endianMismatches: string[];
}

export interface PrimaryVolumeDescriptor extends VolumeDescriptorFields {
  type: 'primary';
}

export interface SupplementaryVolumeDescriptor extends VolumeDescriptorFields {
  type: 'supplementary';
  /** Joliet UCS-2 level from the escape sequences (%/@, %/C, %/E), or undefined. */
  jolietLevel: 1 | 2 | 3 | undefined;
}

export interface TerminatorDescriptor {
  type: 'terminator';
  sector: number;
}

export interface OtherVolumeDescriptor {
  type: 'partition' | 'unknown';
  sector: number;
  volumeDescriptorType: number;
}

export type VolumeDescriptor =
  | BootRecordDescriptor
  | PrimaryVolumeDescriptor
  | SupplementaryVolumeDescriptor
  | TerminatorDescriptor
  | OtherVolumeDescriptor;

export interface VolumeDescriptorSet {
  descriptors: VolumeDescriptor[];
  /** The first primary volume descriptor (8.4), if any. */
  primary: PrimaryVolumeDescriptor | undefined;
  /** The Joliet supplementary descriptor; the last one when there are several, as 7-Zip picks. */
  joliet: SupplementaryVolumeDescriptor | undefined;
  /** The El Torito boot record, if any. */
  elTorito: BootRecordDescriptor | undefined;
  /** How the set ended: at its terminator, or at an ECMA-167 (UDF) volume recognition descriptor. */
  end: 'terminator' | 'udf';
}

const STANDARD_IDENTIFIER = 'CD001';
// ECMA-167 2/9.1 volume structure descriptors that follow the ISO 9660 set on UDF bridge discs.
const UDF_IDENTIFIERS = new Set(['BEA01', 'NSR02', 'NSR03', 'TEA01', 'BOOT2', 'CDW02']);

/** a-/d-characters padded with spaces (7.4); NULs are treated as padding too. */
function aString(buf: Buffer, off: number, len: number): string {
  return buf.toString('latin1', off, off + len).replace(/[\0 ]+$/, '');
}

function ucs2String(buf: Buffer, off: number, len: number): string {
  return decodeUcs2be(buf.subarray(off, off + len)).replace(/[\0 ]+$/, '');
}

/** Joliet: the escape sequence names the UCS-2 level (Joliet specification, 1995). */
export function jolietLevelOf(escapeSequences: Buffer): 1 | 2 | 3 | undefined {
  const s = escapeSequences.toString('latin1');
  if (s.includes('%/E')) return 3;
  if (s.includes('%/C')) return 2;
  if (s.includes('%/@')) return 1;
  return undefined;
}

function parseVolumeFields(d: Buffer, sector: number, ucs2: boolean): VolumeDescriptorFields {
  const str = ucs2 ? ucs2String : aString;
  const endianMismatches: string[] = [];
  const check = (name: string, off: number, width: 16 | 32) => {
    if (width === 32 ? both32Mismatch(d, off) : both16Mismatch(d, off)) endianMismatches.push(name);
  };
  check('volumeSpaceSize', 80, 32);
  check('volumeSetSize', 120, 16);
  check('volumeSequenceNumber', 124, 16);
  check('logicalBlockSize', 128, 16);
  check('pathTableSize', 132, 32);
  const rootDirectoryRecord = parseDirectoryRecord(d, 156, { location: sector }, 34);
  if (both32Mismatch(d, 156 + 2)) endianMismatches.push('rootDirectoryRecord.locationOfExtent');
  if (both32Mismatch(d, 156 + 10)) endianMismatches.push('rootDirectoryRecord.dataLength');
  return {
    sector,
    volumeDescriptorVersion: d[6]!,
    volumeFlags: d[7]!,
    systemIdentifier: str(d, 8, 32),
    volumeIdentifier: str(d, 40, 32),
    volumeSpaceSize: both32(d, 80),
    escapeSequences: Buffer.from(d.subarray(88, 120)),
    volumeSetSize: both16(d, 120),
    volumeSequenceNumber: both16(d, 124),
    logicalBlockSize: both16(d, 128),
    pathTableSize: both32(d, 132),
    locationOfTypeLPathTable: d.readUInt32LE(140),
    locationOfTypeMPathTable: d.readUInt32BE(148),
    rootDirectoryRecord: { ...rootDirectoryRecord, fileIdentifier: Buffer.from(rootDirectoryRecord.fileIdentifier), systemUse: Buffer.alloc(0) },
    volumeSetIdentifier: str(d, 190, 128),
    publisherIdentifier: str(d, 318, 128),
    dataPreparerIdentifier: str(d, 446, 128),
    applicationIdentifier: str(d, 574, 128),
    copyrightFileIdentifier: str(d, 702, 37),
    abstractFileIdentifier: str(d, 739, 37),
    bibliographicFileIdentifier: str(d, 776, 37),
    volumeCreationDate: parseLongDate(d, 813),
    volumeModificationDate: parseLongDate(d, 830),
    volumeExpirationDate: parseLongDate(d, 847),
    volumeEffectiveDate: parseLongDate(d, 864),
    fileStructureVersion: d[881]!,
    endianMismatches,
  };
}

/**
 * Parses one 2048-byte volume descriptor. Returns undefined when the sector does not carry the
 * ISO 9660 standard identifier 'CD001' (e.g. a UDF 'BEA01'); `standardIdentifier` tells which.
 */
export function parseVolumeDescriptor(d: Buffer, sector: number): VolumeDescriptor | undefined {
  if (d.length < SECTOR_SIZE) {
    throw new MediaError('E_TRUNCATED', 'volume descriptor shorter than a sector', { sector, length: d.length });
  }
  // 8.1: BP 1 type, BP 2-6 standard identifier, BP 7 version.
  if (d.toString('latin1', 1, 6) !== STANDARD_IDENTIFIER) return undefined;
  const type = d[0]!;
  switch (type) {
    case VolumeDescriptorType.bootRecord: {
      const bootSystemIdentifier = aString(d, 7, 32);
      return {
        type: 'boot',
        sector,
        bootSystemIdentifier,
        bootIdentifier: aString(d, 39, 32),
        bootCatalogSector: bootSystemIdentifier === EL_TORITO_SYSTEM_ID ? d.readUInt32LE(0x47) : undefined,
      };
    }
    case VolumeDescriptorType.primary:
      return { type: 'primary', ...parseVolumeFields(d, sector, false) };
    case VolumeDescriptorType.supplementary: {
      const jolietLevel = jolietLevelOf(d.subarray(88, 120));
      return { type: 'supplementary', ...parseVolumeFields(d, sector, jolietLevel !== undefined), jolietLevel };
    }
    case VolumeDescriptorType.terminator:
      return { type: 'terminator', sector };
    case VolumeDescriptorType.partition:
      return { type: 'partition', sector, volumeDescriptorType: type };
    default:
      return { type: 'unknown', sector, volumeDescriptorType: type };
  }
}

/**
 * Parses the volume descriptor set from a buffer holding consecutive sectors starting at
 * `firstSector` (normally 16). Stops at the terminator (8.3), or gracefully at UDF's volume
 * recognition sequence when the terminator is missing.
 */
export function parseVolumeDescriptorSet(buf: Buffer, firstSector = VOLUME_DESCRIPTOR_SET_START): VolumeDescriptorSet {
  const set: VolumeDescriptorSet = { descriptors: [], primary: undefined, joliet: undefined, elTorito: undefined, end: 'terminator' };
  const available = Math.floor(buf.length / SECTOR_SIZE);
  for (let i = 0; ; i++) {
    const sector = firstSector + i;
    if (i >= MAX_VOLUME_DESCRIPTORS) {
      throw new MediaError('E_LIMIT', 'volume descriptor set has no terminator within the descriptor limit', {
        sector,
        limit: MAX_VOLUME_DESCRIPTORS,
      });
    }
    if (i >= available) {
      if (i === 0) throw new MediaError('E_NO_FS', 'image too small for an ISO 9660 volume descriptor', { sector });
      throw new MediaError('E_TRUNCATED', 'image ends inside the volume descriptor set', { sector });
    }
    const d = buf.subarray(i * SECTOR_SIZE, (i + 1) * SECTOR_SIZE);
    const vd = parseVolumeDescriptor(d, sector);
    if (!vd) {
      const id = d.toString('latin1', 1, 6);
      if (i > 0 && UDF_IDENTIFIERS.has(id)) {
        set.end = 'udf';
        return set;
      }
      if (i === 0) throw new MediaError('E_NO_FS', 'no ISO 9660 volume descriptor (CD001) at sector 16', { sector });
      throw new MediaError('E_FORMAT', 'volume descriptor without the CD001 identifier', { sector, identifier: id });
    }
    set.descriptors.push(vd);
    if (vd.type === 'terminator') return set;
    if (vd.type === 'primary' && !set.primary) set.primary = vd;
    if (vd.type === 'supplementary' && vd.jolietLevel !== undefined) set.joliet = vd;
    if (vd.type === 'boot' && vd.bootCatalogSector !== undefined && !set.elTorito) set.elTorito = vd;
  }
}
