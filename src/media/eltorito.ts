// El Torito ("Bootable CD-ROM Format Specification" 1.0, Phoenix/IBM 1995): the boot catalog
// that the boot record volume descriptor points at, and the boot images it lists. Windows
// media carry a BIOS no-emulation entry (etfsboot.com) and an EFI one (efisys.bin, a FAT image
// whose catalog sector count is 1, so its size comes from its own boot sector).
import { MediaError } from './errors.ts';
import { readVolumeDescriptors } from './iso9660/volume.ts';
import type { ByteSource } from './source.ts';

/** El Torito counts load RBAs and the catalog location in 2048-byte CD sectors. */
export const CD_SECTOR_SIZE = 2048;
/** Sector counts are in 512-byte virtual sectors (El Torito 2.2, "Sector Count"). */
export const VIRTUAL_SECTOR_SIZE = 512;
/** Every catalog entry is 32 bytes. */
export const ENTRY_SIZE = 32;
/** Catalogs are one sector in practice; a few sectors allow hundreds of entries. */
export const MAX_CATALOG_BYTES = 16 * CD_SECTOR_SIZE;
/** Extension chains longer than this are not real (7-Zip stops at 32 too). */
const MAX_EXTENSIONS = 32;
/** Boot images read into memory are capped like any single read (EFI images are a few MiB). */
export const MAX_BOOT_IMAGE_BYTES = 256 * 1024 * 1024;

export type BootPlatform = 'bios' | 'ppc' | 'mac' | 'efi' | number;
export type BootMediaType = 'no-emulation' | 'floppy-1.2M' | 'floppy-1.44M' | 'floppy-2.88M' | 'hard-disk';

/** Where an entry's image size comes from. */
export type BootImageSizeSource = 'sector-count' | 'floppy' | 'fat' | 'mbr';

export interface BootValidationEntry {
  /** Byte 1: platform of the initial/default entry. */
  platformId: number;
  platform: BootPlatform;
  /** Bytes 4-27: manufacturer / developer of the CD. */
  idString: string;
  /** Bytes 28-29. */
  checksum: number;
}

export interface BootEntry {
  /** 0 for the initial/default entry, then section entries in catalog order. */
  index: number;
  /** Byte offset of the entry in the catalog. */
  catalogOffset: number;
  /** Section number (1-based), or 0 for the initial/default entry. */
  section: number;
  /** Platform: the validation entry's for the default entry, the section header's otherwise. */
  platformId: number;
  platform: BootPlatform;
  /** Section header id string (bytes 4-31), '' for the default entry. */
  sectionId: string;
  /** Byte 0: 0x88 bootable, 0x00 not bootable. */
  bootable: boolean;
  /** Byte 1 bits 0-3. */
  mediaType: BootMediaType;
  /** Byte 1 bit 5 (section entries): an extension entry follows. */
  hasExtension: boolean;
  /** Byte 1 bits 6 and 7 (section entries): image contains an ATAPI / SCSI driver. */
  atapiDriver: boolean;
  scsiDriver: boolean;
  /** Bytes 2-3 as recorded (0 means the traditional 0x7C0). */
  recordedLoadSegment: number;
  /** The segment the BIOS loads to: 0x7C0 when 0 is recorded. */
  loadSegment: number;
  /** Byte 4: for hard disk emulation, the partition type of the image's partition. */
  systemType: number;
  /** Bytes 6-7: 512-byte virtual sectors loaded at boot. */
  sectorCount: number;
  /** Bytes 8-11: CD sector of the image. */
  loadRba: number;
  /** Byte 12 (section entries): selection criteria type (0 none, 1 IBM language and version). */
  selectionCriteriaType: number;
  /** Byte offset of the image in the ISO. */
  imageOffset: number;
  /** Size of the image in bytes; see `imageSizeFrom`. */
  imageSize: number;
  imageSizeFrom: BootImageSizeSource;
}

export interface BootCatalog {
  /** CD sector of the catalog (from the boot record, or 0 for a catalog parsed on its own). */
  catalogSector: number;
  validation: BootValidationEntry;
  entries: BootEntry[];
}

const HEADER_VALIDATION = 0x01;
const HEADER_MORE = 0x90;
const HEADER_FINAL = 0x91;
const EXTENSION = 0x44;
const BOOTABLE = 0x88;
const NOT_BOOTABLE = 0x00;

const MEDIA_TYPES: readonly BootMediaType[] = ['no-emulation', 'floppy-1.2M', 'floppy-1.44M', 'floppy-2.88M', 'hard-disk'];
const FLOPPY_BYTES: Partial<Record<BootMediaType, number>> = {
  'floppy-1.2M': 1200 * 1024,
  'floppy-1.44M': 1440 * 1024,
  'floppy-2.88M': 2880 * 1024,
};

export function platformOf(id: number): BootPlatform {
  switch (id) {
    case 0x00:
      return 'bios';
    case 0x01:
      return 'ppc';
    case 0x02:
      return 'mac';
    case 0xef:
      return 'efi';
    default:
      return id;
  }
}

function idString(buf: Buffer, off: number, len: number): string {
  return buf.toString('latin1', off, off + len).replace(/[\0 ]+$/, '');
}

/** The size the catalog alone implies: floppy sizes for floppy emulation, else the sector count. */
function naiveImageSize(mediaType: BootMediaType, sectorCount: number): { imageSize: number; imageSizeFrom: BootImageSizeSource } {
  const floppy = FLOPPY_BYTES[mediaType];
  if (floppy !== undefined) return { imageSize: floppy, imageSizeFrom: 'floppy' };
  // A count of 0 loads nothing; treat it as one virtual sector so that something is extractable.
  return { imageSize: Math.max(1, sectorCount) * VIRTUAL_SECTOR_SIZE, imageSizeFrom: 'sector-count' };
}

/**
 * Parses a boot catalog. Throws E_FORMAT for a bad validation entry (header id, key bytes,
 * checksum) or an invalid entry inside a section, E_TRUNCATED when the sections run past `buf`.
 * Image sizes here come from the catalog alone; readBootCatalog refines them from the images.
 */
export function parseBootCatalog(buf: Buffer, catalogSector = 0): BootCatalog {
  const at = (offset: number) => ({ sector: catalogSector + Math.floor(offset / CD_SECTOR_SIZE), offset: offset % CD_SECTOR_SIZE });
  const entryAt = (off: number): Buffer => {
    if (off + ENTRY_SIZE > buf.length) {
      throw new MediaError(
        buf.length >= MAX_CATALOG_BYTES ? 'E_LIMIT' : 'E_TRUNCATED',
        'boot catalog runs past its end without a final section header',
        at(off),
      );
    }
    return buf.subarray(off, off + ENTRY_SIZE);
  };

  // 2.1 validation entry.
  const v = entryAt(0);
  if (v[0] !== HEADER_VALIDATION) {
    throw new MediaError('E_FORMAT', 'boot catalog validation entry has a wrong header id', { ...at(0), headerId: v[0] });
  }
  if (v[30] !== 0x55 || v[31] !== 0xaa) {
    throw new MediaError('E_FORMAT', 'boot catalog validation entry lacks the 55 AA key bytes', at(30));
  }
  let sum = 0;
  for (let i = 0; i < ENTRY_SIZE; i += 2) sum += v.readUInt16LE(i);
  if ((sum & 0xffff) !== 0) {
    throw new MediaError('E_FORMAT', 'boot catalog validation entry checksum does not sum to zero', { ...at(28), sum: sum & 0xffff });
  }
  const validation: BootValidationEntry = {
    platformId: v[1]!,
    platform: platformOf(v[1]!),
    idString: idString(v, 4, 24),
    checksum: v.readUInt16LE(28),
  };

  const entries: BootEntry[] = [];
  const entry = (off: number, section: number, platformId: number, sectionId: string, isSection: boolean): BootEntry => {
    const e = entryAt(off);
    if (e[0] !== BOOTABLE && e[0] !== NOT_BOOTABLE) {
      throw new MediaError('E_FORMAT', 'boot entry has an invalid boot indicator', { ...at(off), indicator: e[0] });
    }
    const mediaType = MEDIA_TYPES[e[1]! & 0x0f];
    if (mediaType === undefined) {
      throw new MediaError('E_FORMAT', 'boot entry has an invalid boot media type', { ...at(off + 1), mediaType: e[1]! & 0x0f });
    }
    const recordedLoadSegment = e.readUInt16LE(2);
    const sectorCount = e.readUInt16LE(6);
    const loadRba = e.readUInt32LE(8);
    return {
      index: entries.length,
      catalogOffset: off,
      section,
      platformId,
      platform: platformOf(platformId),
      sectionId,
      bootable: e[0] === BOOTABLE,
      mediaType,
      hasExtension: isSection && (e[1]! & 0x20) !== 0,
      atapiDriver: isSection && (e[1]! & 0x40) !== 0,
      scsiDriver: isSection && (e[1]! & 0x80) !== 0,
      recordedLoadSegment,
      loadSegment: recordedLoadSegment === 0 ? 0x7c0 : recordedLoadSegment,
      systemType: e[4]!,
      sectorCount,
      loadRba,
      selectionCriteriaType: isSection ? e[12]! : 0,
      imageOffset: loadRba * CD_SECTOR_SIZE,
      ...naiveImageSize(mediaType, sectorCount),
    };
  };

  // 2.2 initial/default entry.
  entries.push(entry(ENTRY_SIZE, 0, validation.platformId, '', false));

  // 2.3 section headers, each followed by its section entries (2.4) and their extensions (2.5).
  let off = 2 * ENTRY_SIZE;
  for (let section = 1; ; section++) {
    // Without headers the catalog may end right after the default entry; after a 0x90 header
    // (more headers follow) it may not, and entryAt reports it.
    if (section === 1 && off + ENTRY_SIZE > buf.length) break;
    const h = entryAt(off);
    // Anything but a section header (usually zeros) ends the catalog.
    if (h[0] !== HEADER_MORE && h[0] !== HEADER_FINAL) break;
    const platformId = h[1]!;
    const count = h.readUInt16LE(2);
    const sectionId = idString(h, 4, 28);
    off += ENTRY_SIZE;
    for (let i = 0; i < count; i++) {
      const e = entry(off, section, platformId, sectionId, true);
      entries.push(e);
      off += ENTRY_SIZE;
      if (e.hasExtension) {
        for (let n = 0; ; n++) {
          const x = entryAt(off);
          if (x[0] !== EXTENSION) {
            throw new MediaError('E_FORMAT', 'section entry announces an extension that is not there', at(off));
          }
          if (n >= MAX_EXTENSIONS) throw new MediaError('E_LIMIT', 'too many section entry extensions', at(off));
          off += ENTRY_SIZE;
          // 2.5 byte 1 bit 5: another extension follows.
          if (!(x[1]! & 0x20)) break;
        }
      }
    }
    if (h[0] === HEADER_FINAL) break;
  }
  return { catalogSector, validation, entries };
}

/**
 * The real size of a boot image from its first sector, when the catalog's sector count does
 * not tell it: a FAT boot sector's total sectors (EFI images, whose count is usually 0 or 1, or
 * 65535 when the image is larger than the 16-bit field), or the end of the last partition of a
 * hard disk image's MBR. Pure: `first` is the first 512 bytes of the image.
 */
export function refineImageSize(entry: BootEntry, first: Buffer): { imageSize: number; imageSizeFrom: BootImageSizeSource } {
  if (entry.mediaType === 'hard-disk') {
    const end = mbrEnd(first);
    if (end !== undefined) return { imageSize: end, imageSizeFrom: 'mbr' };
  }
  if (entry.mediaType === 'no-emulation' && (entry.sectorCount <= 1 || (entry.platform === 'efi' && entry.sectorCount === 0xffff))) {
    const fat = fatSize(first);
    if (fat !== undefined && fat > entry.sectorCount * VIRTUAL_SECTOR_SIZE) return { imageSize: fat, imageSizeFrom: 'fat' };
  }
  return { imageSize: entry.imageSize, imageSizeFrom: entry.imageSizeFrom };
}

/** FAT boot sector (Microsoft FAT specification, BPB): total sectors x bytes per sector. */
export function fatSize(bs: Buffer): number | undefined {
  if (bs.length < 512) return undefined;
  if (bs[510] !== 0x55 || bs[511] !== 0xaa) return undefined;
  // BS_jmpBoot: EB xx 90 or E9 xx xx.
  if (!((bs[0] === 0xeb && bs[2] === 0x90) || bs[0] === 0xe9)) return undefined;
  const bytesPerSector = bs.readUInt16LE(0x0b);
  const sectorsPerCluster = bs[0x0d]!;
  const reserved = bs.readUInt16LE(0x0e);
  const fats = bs[0x10]!;
  if (![512, 1024, 2048, 4096].includes(bytesPerSector)) return undefined;
  if (sectorsPerCluster === 0 || (sectorsPerCluster & (sectorsPerCluster - 1)) !== 0) return undefined;
  if (reserved === 0 || fats === 0) return undefined;
  const total16 = bs.readUInt16LE(0x13);
  const total = total16 !== 0 ? total16 : bs.readUInt32LE(0x20);
  return total === 0 ? undefined : total * bytesPerSector;
}

/** MBR: the end of the furthest partition, in bytes (four 16-byte entries at 446). */
export function mbrEnd(mbr: Buffer): number | undefined {
  if (mbr.length < 512 || mbr[510] !== 0x55 || mbr[511] !== 0xaa) return undefined;
  let end = 0;
  for (let i = 0; i < 4; i++) {
    const p = 446 + i * 16;
    const status = mbr[p]!;
    if (status !== 0x00 && status !== 0x80) return undefined;
    if (mbr[p + 4] === 0) continue;
    end = Math.max(end, (mbr.readUInt32LE(p + 8) + mbr.readUInt32LE(p + 12)) * VIRTUAL_SECTOR_SIZE);
  }
  return end === 0 ? undefined : end;
}

/**
 * Reads the El Torito boot catalog of an ISO image, with image sizes refined from the images
 * themselves and clamped to the end of the image. Null when there is no El Torito boot record.
 */
export async function readBootCatalog(source: ByteSource): Promise<BootCatalog | null> {
  const set = await readVolumeDescriptors(source);
  const br = set.elTorito;
  if (!br || br.bootCatalogSector === undefined) return null;
  const sector = br.bootCatalogSector;
  const offset = sector * CD_SECTOR_SIZE;
  if (offset + ENTRY_SIZE * 2 > source.size) {
    throw new MediaError('E_TRUNCATED', 'boot catalog lies past the end of the image', { sector, size: source.size });
  }
  const buf = await source.read(offset, Math.min(MAX_CATALOG_BYTES, source.size - offset));
  const catalog = parseBootCatalog(buf, sector);
  const entries: BootEntry[] = [];
  for (const e of catalog.entries) {
    let sized = { imageSize: e.imageSize, imageSizeFrom: e.imageSizeFrom };
    if (e.imageOffset + VIRTUAL_SECTOR_SIZE <= source.size) {
      sized = refineImageSize(e, await source.read(e.imageOffset, VIRTUAL_SECTOR_SIZE));
    }
    // An image cannot extend past the end of the ISO: 7-Zip clamps the same way.
    const imageSize = Math.max(0, Math.min(sized.imageSize, source.size - e.imageOffset, MAX_BOOT_IMAGE_BYTES));
    entries.push({ ...e, imageSize, imageSizeFrom: sized.imageSizeFrom });
  }
  return { ...catalog, entries };
}

/** The bytes of a boot image, as the entry describes them (imageOffset, imageSize). */
export async function readBootImage(source: ByteSource, entry: BootEntry): Promise<Buffer> {
  if (entry.imageSize > MAX_BOOT_IMAGE_BYTES) {
    throw new MediaError('E_LIMIT', 'boot image larger than any real one', { sector: entry.loadRba, size: entry.imageSize });
  }
  if (entry.imageOffset + entry.imageSize > source.size) {
    throw new MediaError('E_TRUNCATED', 'boot image lies past the end of the image', {
      sector: entry.loadRba,
      length: entry.imageSize,
      size: source.size,
    });
  }
  return source.read(entry.imageOffset, entry.imageSize);
}
