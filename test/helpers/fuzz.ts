// Structure-aware fuzzing of the media readers (used by test/fuzz.test.ts).
//
// - A seeded PRNG: every case is derived from (global seed, seed image name, case number) only,
//   so one failing case can be replayed on its own (FUZZ_SEED + FUZZ_ONLY).
// - Structure maps: an independent, minimal scan of each seed image for the structures worth
//   mutating (UDF descriptor tags found by id + checksum + CRC, ISO 9660 volume descriptors,
//   directory records and SUSP entries, the El Torito catalog, embedded WIM headers and XML).
// - Mutators that target those structures: bit flips and random bytes, truncation, absurd
//   lengths and counts, directory / allocation / continuation loops, transplanted descriptors,
//   boot entries with huge counts and LBAs, WIM headers with huge counts and offsets, XML edits.
//   UDF tags are usually re-sealed (checksum + CRC) so that the mutation reaches deeper code.
// - A case runner that drives every public operation on a BufferSource and classifies each
//   outcome as data or a MediaError code; anything else is a failure.
// - A worker-thread entry point: each seed image's cases run in a worker so that the test can
//   stop a case that hangs, even in synchronous code (worker.terminate()), and so that a runaway
//   allocation cannot take the test process down.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isMainThread, parentPort, threadId, workerData } from 'node:worker_threads';
import { readBootCatalog, readBootImage } from '../../src/media/eltorito.ts';
import { MediaError } from '../../src/media/errors.ts';
import { extract } from '../../src/media/extract.ts';
import { type Media, openMedia, openMediaSource } from '../../src/media/open.ts';
import { BufferSource, MAX_SINGLE_READ } from '../../src/media/source.ts';
import type { FsKind } from '../../src/media/types.ts';
import { crcItuT, tagChecksum } from '../../src/media/udf/tag.ts';
import { readSplitSet, readWimHeader, readWimInfo } from '../../src/media/wim/index.ts';
import { identifyWindows } from '../../src/windows/identify.ts';

// ---------------------------------------------------------------------------------------------
// PRNG

/** mulberry32: small, fast, good enough to pick mutations; fully determined by its seed. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  u32(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    if (n <= 1) return 0;
    return Math.floor((this.u32() / 2 ** 32) * n);
  }
  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    const total = items.reduce((n, [, w]) => n + w, 0);
    let r = (this.u32() / 2 ** 32) * total;
    for (const [v, w] of items) {
      if ((r -= w) < 0) return v;
    }
    return items[items.length - 1]![0];
  }
}

/** FNV-1a over the parts, then a final avalanche: independent streams per (seed, image, case). */
export function caseSeed(globalSeed: number, seedName: string, index: number): number {
  let h = 0x811c9dc5;
  for (const ch of `${globalSeed >>> 0}/${seedName}/${index}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Structure maps

/** A fixed-width field inside a structure. 'b16'/'b32' are ISO 9660 both-byte-order fields. */
export interface Field {
  at: number;
  width: 1 | 2 | 4 | 7 | 8 | 'b16' | 'b32';
  name: string;
  /** Values that mean something for this field (file types, media types, ...). */
  values?: readonly number[];
}

export type TargetKind =
  | 'udf-avdp'
  | 'udf-vds'
  | 'udf-pd'
  | 'udf-lvd'
  | 'udf-fsd'
  | 'udf-fe'
  | 'udf-fid'
  | 'udf-aed'
  | 'udf-other'
  | 'iso-vd'
  | 'iso-dirrec'
  | 'iso-susp'
  | 'eltorito-validation'
  | 'eltorito-entry'
  | 'eltorito-header'
  | 'wim-header';

export interface Target {
  kind: TargetKind;
  at: number;
  length: number;
  fields: Field[];
  /** A UDF descriptor tag starts at `at`: re-seal checksum and CRC after a mutation. */
  udfTag?: boolean;
  meta: Record<string, number>;
}

/** How logical blocks map to image offsets: the physical partition, and a metadata partition's file (UDF 2.50+). */
export interface UdfAddressing {
  bs: number;
  partStart: number;
  /** Partition reference number -> the kind of partition it names (from the LVD's partition maps). */
  refs: ('phys' | 'meta')[];
  /** Image extents of the metadata file, when there is a metadata partition. */
  meta: { offset: number; length: number }[] | undefined;
}

/** Image offset of logical block `lbn` of a physical or metadata partition (undefined outside it). */
export function lbnOffset(a: UdfAddressing, kind: 'phys' | 'meta', lbn: number): number | undefined {
  if (kind === 'phys') return (a.partStart + lbn) * a.bs;
  let off = lbn * a.bs;
  for (const e of a.meta ?? []) {
    if (off < e.length) return e.offset + off;
    off -= e.length;
  }
  return undefined;
}

export interface UdfMap {
  bs: number;
  partStart: number;
  addr: UdfAddressing;
  rootLbn: number | undefined;
  /** Directory File Entries: their logical block and the image ranges of their data. */
  dirs: { lbn: number; at: number; ranges: [number, number][] }[];
}

export interface IsoMap {
  catalogSector: number | undefined;
  rootLoc: number[];
}

export interface SeedMap {
  size: number;
  targets: Target[];
  udf: UdfMap | undefined;
  iso: IsoMap | undefined;
  /** Offsets of WIM headers ('MSWIM\0\0\0') inside the image. */
  wims: number[];
  /** Byte ranges worth flipping bits in, beyond the targets (descriptor areas). */
  areas: { name: string; start: number; end: number }[];
}

const UDF_IDS = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 256, 257, 258, 259, 260, 261, 262, 263, 264, 265, 266]);

function isUdfTag(img: Buffer, at: number): boolean {
  if (at + 16 > img.length) return false;
  const id = img.readUInt16LE(at);
  if (!UDF_IDS.has(id)) return false;
  const ver = img.readUInt16LE(at + 2);
  if (ver !== 2 && ver !== 3) return false;
  if (tagChecksum(img, at) !== img[at + 4]) return false;
  const crcLen = img.readUInt16LE(at + 10);
  if (at + 16 + crcLen > img.length) return false;
  return crcItuT(img, at + 16, at + 16 + crcLen) === img.readUInt16LE(at + 8);
}

/** Re-seals a UDF descriptor tag after a mutation: CRC over its CRC length (when it fits), then checksum. */
export function resealUdfTag(img: Buffer, at: number): void {
  if (at + 16 > img.length) return;
  const crcLen = img.readUInt16LE(at + 10);
  if (at + 16 + crcLen <= img.length) img.writeUInt16LE(crcItuT(img, at + 16, at + 16 + crcLen), at + 8);
  img[at + 4] = tagChecksum(img, at);
}

function udfBlockSize(img: Buffer): number | undefined {
  for (const bs of [2048, 512, 1024, 4096]) {
    const at = 256 * bs;
    if (at + 16 <= img.length && img.readUInt16LE(at) === 2 && isUdfTag(img, at)) return bs;
  }
  return undefined;
}

/** The partition an (E)FE at image offset `at` lives in: its tag location read as a physical or a metadata block. */
function icbKind(img: Buffer, at: number, a: UdfAddressing): 'phys' | 'meta' {
  const lbn = img.readUInt32LE(at + 12);
  return lbnOffset(a, 'phys', lbn) !== at && a.meta && lbnOffset(a, 'meta', lbn) === at ? 'meta' : 'phys';
}

/**
 * The allocation descriptors of an (E)FE as [image start, image end) ranges, and the partition
 * of its first one (short_ad: the ICB's own; long_ad/ext_ad: the one it names).
 */
function feRanges(img: Buffer, at: number, a: UdfAddressing): { ranges: [number, number][]; adAt: number; form: number; dataKind: 'phys' | 'meta' } {
  const extended = img.readUInt16LE(at) === 266;
  const eaAt = at + (extended ? 208 : 168);
  const lEa = img.readUInt32LE(eaAt);
  const lAd = img.readUInt32LE(eaAt + 4);
  const adAt = eaAt + 8 + lEa;
  const form = img.readUInt16LE(at + 34) & 7;
  const own = icbKind(img, at, a);
  const ranges: [number, number][] = [];
  let dataKind = own;
  if (adAt + lAd > at + a.bs || adAt + lAd > img.length) return { ranges, adAt, form, dataKind };
  if (form === 3) {
    ranges.push([adAt, adAt + lAd]);
    return { ranges, adAt, form, dataKind };
  }
  const size = form === 0 ? 8 : form === 1 ? 16 : 20;
  for (let p = adAt; p + size <= adAt + lAd; p += size) {
    const len = img.readUInt32LE(p) & 0x3fffffff;
    if (len === 0) break;
    const lbn = img.readUInt32LE(p + (form === 2 ? 12 : 4));
    const kind = form === 0 ? own : (a.refs[img.readUInt16LE(p + (form === 2 ? 16 : 8))] ?? 'phys');
    if (p === adAt) dataKind = kind;
    // A directory's data is contiguous within its partition, but a metadata partition maps it
    // through the metadata file block by block.
    for (let b = 0; b * a.bs < len; b++) {
      const start = lbnOffset(a, kind, lbn + b);
      if (start !== undefined) ranges.push([start, start + Math.min(a.bs, len - b * a.bs)]);
    }
  }
  return { ranges, adAt, form, dataKind };
}

/** The partition maps of a Logical Volume Descriptor at `at` (3/10.7, UDF 2.2.8-2.2.10). */
function lvdMaps(img: Buffer, at: number): { at: number; type: number; kind: 'phys' | 'meta' }[] {
  const out: { at: number; type: number; kind: 'phys' | 'meta' }[] = [];
  const count = Math.min(img.readUInt32LE(at + 268), 8);
  const end = Math.min(img.length, at + 440 + img.readUInt32LE(at + 264));
  for (let i = 0, p = at + 440; i < count && p + 2 <= end; i++) {
    const type = img[p]!;
    const len = img[p + 1]!;
    if (len < 2 || p + len > end) break;
    const id = len >= 64 ? img.toString('latin1', p + 5, p + 28).replace(/\0+$/, '') : '';
    out.push({ at: p, type, kind: type === 2 && id === '*UDF Metadata Partition' ? 'meta' : 'phys' });
    p += len;
  }
  return out;
}

function mapUdf(img: Buffer, targets: Target[]): UdfMap | undefined {
  const bs = udfBlockSize(img);
  if (bs === undefined) return undefined;
  const found: number[] = [];
  for (let at = 0; at + 16 <= img.length; at += 4) if (isUdfTag(img, at)) found.push(at);
  let partStart = 0;
  let rootLbn: number | undefined;
  const refs: ('phys' | 'meta')[] = [];
  for (const at of found) {
    const id = img.readUInt16LE(at);
    if (id === 5) partStart = img.readUInt32LE(at + 188);
    if (id === 256) rootLbn = img.readUInt32LE(at + 404);
    if (id === 6 && refs.length === 0 && at + 440 <= img.length) {
      for (const m of lvdMaps(img, at)) refs.push(m.kind);
    }
  }
  const addr: UdfAddressing = { bs, partStart, refs, meta: undefined };
  // The metadata file (file type 250): short_ads into the physical partition.
  const mf = found.find((at) => (img.readUInt16LE(at) === 261 || img.readUInt16LE(at) === 266) && img[at + 27] === 250);
  if (mf !== undefined && refs.includes('meta')) {
    const { ranges } = feRanges(img, mf, { ...addr, refs: refs.map(() => 'phys') });
    addr.meta = ranges.map(([a, b]) => ({ offset: a, length: b - a }));
  }
  const dirs: UdfMap['dirs'] = [];
  const fids: Target[] = [];
  const u32 = (at: number, name: string, values?: readonly number[]): Field => ({ at, width: 4, name, ...(values ? { values } : {}) });
  for (const at of found) {
    const id = img.readUInt16LE(at);
    const t: Target = { kind: 'udf-other', at, length: Math.min(bs, img.length - at), fields: [u32(at + 12, 'tagLocation'), { at: at + 10, width: 2, name: 'descriptorCRCLength' }], udfTag: true, meta: {} };
    switch (id) {
      case 2:
        t.kind = 'udf-avdp';
        t.fields.push(u32(at + 16, 'mainVdsLength'), u32(at + 20, 'mainVdsLocation'), u32(at + 24, 'reserveVdsLength'), u32(at + 28, 'reserveVdsLocation'));
        break;
      case 1:
      case 4:
      case 7:
      case 8:
      case 9:
        t.kind = 'udf-vds';
        t.fields.push(u32(at + 16, 'sequenceNumber'), u32(at + 20, 'field20'));
        break;
      case 3:
        t.kind = 'udf-vds';
        t.fields.push(u32(at + 20, 'nextVdsLength'), u32(at + 24, 'nextVdsLocation'));
        break;
      case 5:
        t.kind = 'udf-pd';
        t.fields.push(
          { at: at + 22, width: 2, name: 'partitionNumber' },
          u32(at + 184, 'accessType'),
          u32(at + 188, 'partitionStartingLocation'),
          u32(at + 192, 'partitionLength'),
        );
        break;
      case 6:
        t.kind = 'udf-lvd';
        t.fields.push(
          u32(at + 212, 'logicalBlockSize', [0, 1, 512, 2048, 4096, 0x10000]),
          u32(at + 248, 'fsdLength'),
          u32(at + 252, 'fsdLbn'),
          { at: at + 256, width: 2, name: 'fsdPartition' },
          u32(at + 264, 'mapTableLength'),
          u32(at + 268, 'numberOfPartitionMaps', [0, 1, 2, 64, 65]),
          u32(at + 432, 'integrityLength'),
          u32(at + 436, 'integrityLocation'),
        );
        for (const [i, m] of lvdMaps(img, at).entries()) {
          t.fields.push(
            { at: m.at, width: 1, name: `map${i}.type`, values: [0, 1, 2, 3] },
            { at: m.at + 1, width: 1, name: `map${i}.length`, values: [0, 1, 2, 6, 64, 255] },
          );
          if (m.kind === 'meta') {
            t.fields.push(
              { at: m.at + 38, width: 2, name: `map${i}.partitionNumber` },
              u32(m.at + 40, `map${i}.metadataFileLocation`),
              u32(m.at + 44, `map${i}.metadataMirrorFileLocation`),
              u32(m.at + 48, `map${i}.metadataBitmapFileLocation`),
              u32(m.at + 52, `map${i}.allocationUnitSize`),
              { at: m.at + 58, width: 1, name: `map${i}.flags`, values: [0, 1] },
            );
          } else {
            t.fields.push({ at: m.at + (m.type === 1 ? 4 : 38), width: 2, name: `map${i}.partitionNumber`, values: [0, 1, 2, 0xffff] });
          }
        }
        break;
      case 256:
        t.kind = 'udf-fsd';
        t.fields.push(u32(at + 400, 'rootIcbLength'), u32(at + 404, 'rootIcbLbn'), { at: at + 408, width: 2, name: 'rootIcbPartition' }, u32(at + 468, 'streamIcbLbn'));
        break;
      case 258:
        t.kind = 'udf-aed';
        t.fields.push(u32(at + 20, 'lengthOfAllocationDescriptors'));
        break;
      case 261:
      case 266: {
        t.kind = 'udf-fe';
        const ext = id === 266;
        const eaAt = at + (ext ? 208 : 168);
        t.fields.push(
          { at: at + 27, width: 1, name: 'fileType', values: [0, 1, 3, 4, 5, 12, 13, 248, 250, 251] },
          { at: at + 34, width: 2, name: 'icbFlags', values: [0, 1, 2, 3, 4, 7] },
          { at: at + 20, width: 2, name: 'strategyType', values: [4, 4096] },
          { at: at + 56, width: 8, name: 'informationLength' },
          u32(eaAt, 'lengthOfExtendedAttributes'),
          u32(eaAt + 4, 'lengthOfAllocationDescriptors'),
        );
        if (ext) t.fields.push({ at: at + 64, width: 8, name: 'objectSize' });
        const { ranges, adAt, form, dataKind } = feRanges(img, at, addr);
        if (adAt + 16 <= at + bs && form !== 3) {
          t.fields.push(u32(adAt, 'ad0Length'), u32(adAt + (form === 2 ? 12 : 4), 'ad0Location'));
          if (form === 1) t.fields.push({ at: adAt + 8, width: 2, name: 'ad0Partition' });
        }
        t.meta['lbn'] = img.readUInt32LE(at + 12);
        t.meta['fileType'] = img[at + 27]!;
        t.meta['form'] = form;
        t.meta['adAt'] = adAt;
        t.meta['dataMeta'] = dataKind === 'meta' ? 1 : 0;
        if (img[at + 27] === 4) dirs.push({ lbn: img.readUInt32LE(at + 12), at, ranges });
        break;
      }
      case 257: {
        t.kind = 'udf-fid';
        const lFi = img[at + 19]!;
        const lIu = img.readUInt16LE(at + 36);
        t.length = Math.min((38 + lIu + lFi + 3) & ~3, img.length - at);
        t.fields.push(
          { at: at + 18, width: 1, name: 'fileCharacteristics', values: [0, 1, 2, 4, 8, 0x0a, 0xff] },
          { at: at + 19, width: 1, name: 'lengthOfFileIdentifier' },
          u32(at + 20, 'icbLength'),
          u32(at + 24, 'icbLbn'),
          { at: at + 28, width: 2, name: 'icbPartition' },
          { at: at + 36, width: 2, name: 'lengthOfImplementationUse' },
        );
        t.meta['characteristics'] = img[at + 18]!;
        fids.push(t);
        break;
      }
    }
    targets.push(t);
  }
  // Which directory each FID lives in, and that directory's parent (from its '..' FID).
  for (const f of fids) {
    const dir = dirs.find((d) => d.ranges.some(([s, e]) => f.at >= s && f.at < e));
    if (!dir) continue;
    f.meta['dirLbn'] = dir.lbn;
    const parent = fids.find((g) => g.meta['characteristics']! & 8 && dir.ranges.some(([s, e]) => g.at >= s && g.at < e));
    if (parent) f.meta['parentLbn'] = img.readUInt32LE(parent.at + 24);
  }
  return { bs, partStart, addr, rootLbn, dirs };
}

const ISO_SECTOR = 2048;

function mapIso(img: Buffer, targets: Target[]): IsoMap | undefined {
  const b32 = (at: number, name: string): Field => ({ at, width: 'b32', name });
  const roots: { loc: number; len: number; joliet: number }[] = [];
  let catalogSector: number | undefined;
  let any = false;
  for (let s = 16; s < 16 + 64; s++) {
    const at = s * ISO_SECTOR;
    if (at + ISO_SECTOR > img.length || img.toString('latin1', at + 1, at + 6) !== 'CD001') break;
    any = true;
    const type = img[at]!;
    const t: Target = { kind: 'iso-vd', at, length: ISO_SECTOR, fields: [{ at, width: 1, name: 'type', values: [0, 1, 2, 3, 255] }], meta: { type } };
    if (type === 1 || type === 2) {
      t.fields.push(
        b32(at + 80, 'volumeSpaceSize'),
        { at: at + 128, width: 'b16', name: 'logicalBlockSize', values: [0, 1, 512, 1024, 2048, 4096, 0xffff] },
        b32(at + 132, 'pathTableSize'),
        { at: at + 156, width: 1, name: 'rootRecordLength' },
        b32(at + 158, 'rootLocation'),
        b32(at + 166, 'rootDataLength'),
        { at: at + 181, width: 1, name: 'rootFlags' },
      );
      if (type === 2) t.fields.push({ at: at + 88, width: 4, name: 'escapeSequences', values: [0x00452f25, 0x00432f25, 0x00402f25, 0] });
      roots.push({ loc: img.readUInt32LE(at + 158), len: img.readUInt32LE(at + 166), joliet: type === 2 ? 1 : 0 });
    }
    if (type === 0 && img.toString('latin1', at + 7, at + 30) === 'EL TORITO SPECIFICATION') {
      t.fields.push({ at: at + 0x47, width: 4, name: 'bootCatalogSector' });
      catalogSector = img.readUInt32LE(at + 0x47);
    }
    targets.push(t);
    if (type === 255) break;
  }
  if (!any) return undefined;

  // Directory trees (primary and Joliet), breadth first, each extent once.
  const seen = new Set<number>();
  const queue = roots.map((r) => ({ ...r, parent: r.loc }));
  let records = 0;
  while (queue.length && records < 20_000) {
    const d = queue.shift()!;
    if (seen.has(d.loc)) continue;
    seen.add(d.loc);
    const start = d.loc * ISO_SECTOR;
    const end = Math.min(img.length, start + Math.min(d.len, 1 << 20));
    let pos = start;
    while (pos < end && records < 20_000) {
      const len = img[pos]!;
      const sectorEnd = Math.min(end, start + (Math.floor((pos - start) / ISO_SECTOR) + 1) * ISO_SECTOR);
      if (len === 0) {
        pos = sectorEnd;
        continue;
      }
      if (len < 34 || pos + len > sectorEnd) break;
      records++;
      const flags = img[pos + 25]!;
      const lenFi = img[pos + 32]!;
      const loc = img.readUInt32LE(pos + 2);
      const dataLen = img.readUInt32LE(pos + 10);
      const selfOrParent = lenFi === 1 && img[pos + 33]! <= 1;
      targets.push({
        kind: 'iso-dirrec',
        at: pos,
        length: len,
        fields: [
          { at: pos, width: 1, name: 'lengthOfDirectoryRecord' },
          { at: pos + 1, width: 1, name: 'extendedAttributeRecordLength' },
          b32(pos + 2, 'locationOfExtent'),
          b32(pos + 10, 'dataLength'),
          { at: pos + 25, width: 1, name: 'fileFlags', values: [0, 1, 2, 4, 0x80, 0x82] },
          { at: pos + 26, width: 1, name: 'fileUnitSize' },
          { at: pos + 27, width: 1, name: 'interleaveGapSize' },
          { at: pos + 32, width: 1, name: 'lengthOfFileIdentifier' },
        ],
        meta: { dirLoc: d.loc, dirLen: d.len, parentLoc: d.parent, isDir: flags & 2 ? 1 : 0, selfOrParent: selfOrParent ? 1 : 0, loc, dataLen, joliet: d.joliet },
      });
      // SUSP entries of the System Use area (and of the CE continuation areas they chain to).
      const suStart = pos + 33 + lenFi + (lenFi % 2 === 0 ? 1 : 0);
      mapSusp(img, suStart, pos + len, targets, { recordAt: pos, dirLoc: d.loc, parentLoc: d.parent }, 0);
      if (flags & 2 && !selfOrParent && !seen.has(loc)) queue.push({ loc, len: dataLen, parent: d.loc, joliet: d.joliet });
      pos += len;
    }
  }
  return { catalogSector, rootLoc: roots.map((r) => r.loc) };
}

function mapSusp(img: Buffer, start: number, end: number, targets: Target[], meta: Record<string, number>, depth: number): void {
  let p = start;
  while (p + 4 <= end && depth < 4) {
    const len = img[p + 2]!;
    if (img[p] === 0 || len < 4 || p + len > end) break;
    const sig = img.toString('latin1', p, p + 2);
    const t: Target = { kind: 'iso-susp', at: p, length: len, fields: [{ at: p + 2, width: 1, name: `${sig}.length` }], meta: { ...meta, entryLength: len } };
    if (sig === 'CE' && len >= 28) {
      t.fields.push({ at: p + 4, width: 'b32', name: 'CE.location' }, { at: p + 12, width: 'b32', name: 'CE.offset' }, { at: p + 20, width: 'b32', name: 'CE.length' });
      const at = img.readUInt32LE(p + 4) * ISO_SECTOR + img.readUInt32LE(p + 12);
      const n = img.readUInt32LE(p + 20);
      if (at + n <= img.length && n < 65536) mapSusp(img, at, at + n, targets, meta, depth + 1);
    } else if (sig === 'SL' && len >= 7) {
      t.fields.push({ at: p + 4, width: 1, name: 'SL.flags', values: [0, 1] }, { at: p + 5, width: 1, name: 'SL.component0Flags', values: [0, 1, 2, 4, 8] }, { at: p + 6, width: 1, name: 'SL.component0Length' });
    } else if (sig === 'NM' && len >= 5) {
      t.fields.push({ at: p + 4, width: 1, name: 'NM.flags', values: [0, 1, 2, 4] });
    } else if (sig === 'PX' && len >= 12) {
      t.fields.push({ at: p + 4, width: 'b32', name: 'PX.mode', values: [0o040755, 0o100644, 0o120777, 0o020644, 0] });
    } else if (sig === 'TF' && len >= 5) {
      t.fields.push({ at: p + 4, width: 1, name: 'TF.flags', values: [0, 0x7f, 0xff, 0x80] });
    } else if (sig === 'SP' && len >= 7) {
      t.fields.push({ at: p + 6, width: 1, name: 'SP.lenSkp' });
    } else if (sig === 'ER' && len >= 8) {
      t.fields.push({ at: p + 4, width: 1, name: 'ER.lenId' }, { at: p + 5, width: 1, name: 'ER.lenDes' });
    }
    targets.push(t);
    p += len;
  }
}

function mapElTorito(img: Buffer, sector: number, targets: Target[]): void {
  const base = sector * ISO_SECTOR;
  if (base + ISO_SECTOR > img.length) return;
  targets.push({
    kind: 'eltorito-validation',
    at: base,
    length: 32,
    fields: [{ at: base, width: 1, name: 'headerId', values: [0, 1, 0x90] }, { at: base + 1, width: 1, name: 'platform', values: [0, 1, 2, 0xef] }],
    meta: {},
  });
  for (let off = 32; off + 32 <= ISO_SECTOR; off += 32) {
    const at = base + off;
    const id = img[at]!;
    if (off > 32 && img.subarray(at, at + 32).every((b) => b === 0)) break;
    if (id === 0x90 || id === 0x91) {
      targets.push({
        kind: 'eltorito-header',
        at,
        length: 32,
        fields: [
          { at, width: 1, name: 'headerIndicator', values: [0x90, 0x91, 0, 0x88] },
          { at: at + 1, width: 1, name: 'platform', values: [0, 0xef, 7] },
          { at: at + 2, width: 2, name: 'sectionEntries', values: [0, 1, 2, 0x7fff, 0xffff] },
        ],
        meta: {},
      });
    } else {
      targets.push({
        kind: 'eltorito-entry',
        at,
        length: 32,
        fields: [
          { at, width: 1, name: 'bootIndicator', values: [0x88, 0, 0x44, 0x90] },
          { at: at + 1, width: 1, name: 'mediaType', values: [0, 1, 2, 3, 4, 5, 0x0f, 0x20, 0x24, 0xe4] },
          { at: at + 2, width: 2, name: 'loadSegment' },
          { at: at + 6, width: 2, name: 'sectorCount', values: [0, 1, 4, 0x7fff, 0xffff] },
          { at: at + 8, width: 4, name: 'loadRba', values: [0, 1, sector, 0x7fffffff, 0xffffffff, Math.floor(img.length / ISO_SECTOR)] },
        ],
        meta: {},
      });
    }
  }
}

/** WIM header fields: counts, resource headers (7-byte sizes, u64 offsets), chunk sizes, parts. */
export function wimHeaderFields(base: number): Field[] {
  const out: Field[] = [
    { at: base + 0x08, width: 4, name: 'hdrSize', values: [0, 207, 208, 209, 4096] },
    { at: base + 0x0c, width: 4, name: 'wimVersion', values: [0x10d00, 0xe00, 0, 0x10e00] },
    { at: base + 0x10, width: 4, name: 'wimFlags', values: [0, 2, 0x40002, 0x80002, 0x20002, 0x200002, 0x8, 0x40, 0xffffffff] },
    { at: base + 0x14, width: 4, name: 'chunkSize', values: [0, 1, 4096, 32768, 1 << 21, 1 << 30, 0x80000000] },
    { at: base + 0x28, width: 2, name: 'partNumber', values: [0, 1, 2, 0xffff] },
    { at: base + 0x2a, width: 2, name: 'totalParts', values: [0, 1, 2, 0xffff] },
    { at: base + 0x2c, width: 4, name: 'imageCount', values: [0, 1, 2, 3, 4, 5, 9999, 10000, 10001, 0x7fffffff, 0xffffffff] },
    { at: base + 0x78, width: 4, name: 'bootIndex', values: [0, 1, 2, 0xffffffff] },
  ];
  for (const [name, at] of [['blobTable', 0x30], ['xml', 0x48], ['bootMetadata', 0x60], ['integrity', 0x7c]] as const) {
    out.push(
      { at: base + at, width: 7, name: `${name}.size` },
      { at: base + at + 7, width: 1, name: `${name}.flags`, values: [0, 1, 2, 4, 8, 0x10, 0xff] },
      { at: base + at + 8, width: 8, name: `${name}.offset` },
      { at: base + at + 16, width: 8, name: `${name}.originalSize` },
    );
  }
  return out;
}

const WIM_MAGIC = Buffer.from('MSWIM\0\0\0', 'latin1');

export function mapSeed(img: Buffer, kind: 'image' | 'wim'): SeedMap {
  const targets: Target[] = [];
  const wims: number[] = [];
  for (let at = img.indexOf(WIM_MAGIC); at >= 0; at = img.indexOf(WIM_MAGIC, at + 1)) {
    if (at + 208 <= img.length && img.readUInt32LE(at + 8) === 208) {
      wims.push(at);
      targets.push({ kind: 'wim-header', at, length: 208, fields: wimHeaderFields(at), meta: {} });
    }
  }
  if (kind === 'wim') return { size: img.length, targets, udf: undefined, iso: undefined, wims, areas: [{ name: 'header', start: 0, end: Math.min(img.length, 208) }] };
  const iso = mapIso(img, targets);
  if (iso?.catalogSector !== undefined) mapElTorito(img, iso.catalogSector, targets);
  const udf = mapUdf(img, targets);
  const areas: SeedMap['areas'] = [];
  if (img.length > 16 * ISO_SECTOR) areas.push({ name: 'sectors 16-20', start: 16 * ISO_SECTOR, end: Math.min(img.length, 21 * ISO_SECTOR) });
  const bs = udf?.bs ?? ISO_SECTOR;
  if (img.length > 256 * bs) areas.push({ name: 'sectors 256-300', start: 256 * bs, end: Math.min(img.length, 301 * bs) });
  return { size: img.length, targets, udf, iso, wims, areas };
}

// ---------------------------------------------------------------------------------------------
// Mutators

interface MutCtx {
  img: Buffer;
  readonly rng: Rng;
  readonly map: SeedMap;
  readonly kind: 'image' | 'wim';
  /** UDF tags touched by this case, re-sealed at the end (unless the case leaves them broken). */
  readonly touchedTags: Set<number>;
  /** El Torito validation entries touched, re-summed at the end. */
  readonly touchedValidation: Set<number>;
}

type Mutator = (c: MutCtx) => string | undefined;

const hex = (n: number): string => `0x${n.toString(16)}`;

function targetsOf(c: MutCtx, ...kinds: TargetKind[]): Target[] {
  return c.map.targets.filter((t) => kinds.includes(t.kind) && t.at < c.img.length);
}

/**
 * A target chosen kind first, then within the kind: genisoimage alone writes 150 copies of the
 * UDF anchor at the end of the image, which must not drown out the few descriptors that matter.
 */
function pickTarget(c: MutCtx, filter: (t: Target) => boolean = () => true): Target | undefined {
  const byKind = new Map<TargetKind, Target[]>();
  for (const t of c.map.targets) {
    if (t.at >= c.img.length || !filter(t)) continue;
    let list = byKind.get(t.kind);
    if (!list) byKind.set(t.kind, (list = []));
    list.push(t);
  }
  if (byKind.size === 0) return undefined;
  return c.rng.pick(c.rng.pick([...byKind.values()]));
}

function touch(c: MutCtx, at: number, end: number): void {
  for (const t of c.map.targets) {
    if (t.at >= end || t.at + t.length <= at) continue;
    if (t.udfTag) c.touchedTags.add(t.at);
    if (t.kind === 'eltorito-validation') c.touchedValidation.add(t.at);
  }
}

function fieldWidthBytes(f: Field): number {
  return f.width === 'b16' ? 4 : f.width === 'b32' ? 8 : f.width;
}

/** Writes `v` into a field (both halves of a both-byte-order field unless `leOnly`). */
function writeField(img: Buffer, f: Field, v: number | bigint, leOnly = false): void {
  if (f.at + fieldWidthBytes(f) > img.length) return;
  const n = typeof v === 'bigint' ? v : BigInt(Math.max(0, Math.floor(v)));
  switch (f.width) {
    case 1:
      img[f.at] = Number(n & 0xffn);
      break;
    case 2:
      img.writeUInt16LE(Number(n & 0xffffn), f.at);
      break;
    case 4:
      img.writeUInt32LE(Number(n & 0xffffffffn), f.at);
      break;
    case 7:
      img.writeUIntLE(Number(n & 0xffffffffffffn), f.at, 6);
      img[f.at + 6] = Number((n >> 48n) & 0xffn);
      break;
    case 8:
      img.writeBigUInt64LE(n & 0xffffffffffffffffn, f.at);
      break;
    case 'b16':
      img.writeUInt16LE(Number(n & 0xffffn), f.at);
      if (!leOnly) img.writeUInt16BE(Number(n & 0xffffn), f.at + 2);
      break;
    case 'b32':
      img.writeUInt32LE(Number(n & 0xffffffffn), f.at);
      if (!leOnly) img.writeUInt32BE(Number(n & 0xffffffffn), f.at + 4);
      break;
  }
}

/** Absurd and boundary values for a field of this width, plus the field's meaningful values. */
function absurdValue(c: MutCtx, f: Field): number | bigint {
  const { rng } = c;
  if (f.values && rng.chance(0.5)) return rng.pick(f.values);
  const size = c.img.length;
  switch (f.width) {
    case 1:
      return rng.pick([0, 1, 0x7f, 0x80, 0xff, rng.int(256)]);
    case 2:
    case 'b16':
      return rng.pick([0, 1, 0x7fff, 0x8000, 0xffff, rng.int(0x10000)]);
    case 7:
    case 8:
      return rng.pick([0n, 1n, BigInt(size - 1), BigInt(size), 2n ** 32n, 2n ** 48n - 1n, 2n ** 50n + 1n, 2n ** 53n, 2n ** 56n - 1n, 2n ** 63n, 2n ** 64n - 1n]);
    default:
      return rng.pick([0, 1, 0x7fffffff, 0xffffffff, 0x80000000, Math.floor(size / 2048), Math.floor(size / 512), size, rng.u32()]);
  }
}

function pickArea(c: MutCtx): { name: string; start: number; end: number } {
  const { rng, img } = c;
  const choice = rng.int(10);
  if (choice < 3 && c.map.areas.length) {
    const a = rng.pick(c.map.areas);
    return { ...a, end: Math.min(a.end, img.length) };
  }
  if (choice < 9) {
    const t = pickTarget(c);
    if (t) return { name: `${t.kind}@${hex(t.at)}`, start: t.at, end: Math.min(img.length, t.at + t.length) };
  }
  return { name: 'anywhere', start: 0, end: img.length };
}

const flipBits: Mutator = (c) => {
  const a = pickArea(c);
  if (a.end <= a.start) return undefined;
  const n = c.rng.range(1, 8);
  for (let i = 0; i < n; i++) {
    const at = a.start + c.rng.int(a.end - a.start);
    c.img[at]! ^= 1 << c.rng.int(8);
    touch(c, at, at + 1);
  }
  return `flip ${n} bit(s) in ${a.name}`;
};

const randomBytes: Mutator = (c) => {
  const a = pickArea(c);
  if (a.end <= a.start) return undefined;
  const n = c.rng.range(1, 16);
  const at = a.start + c.rng.int(a.end - a.start);
  for (let i = 0; i < n && at + i < c.img.length; i++) c.img[at + i] = c.rng.pick([0, 0xff, 0x7f, 0x80, c.rng.int(256)]);
  touch(c, at, at + n);
  return `${n} random byte(s) at ${hex(at)} in ${a.name}`;
};

const truncate: Mutator = (c) => {
  const { rng, img } = c;
  let cut: number;
  const how = rng.int(10);
  if (how < 4) {
    const t = pickTarget(c);
    cut = t ? t.at + rng.int(t.length + 1) : rng.int(img.length);
  } else if (how < 6) {
    cut = rng.pick([0, 1, 2047, 2048, 16 * 2048, 16 * 2048 + 100, 17 * 2048, 256 * 2048 + 1, 207, 208, img.length - 1, img.length - 2048]);
  } else if (how < 8 && c.map.areas.length) {
    const a = rng.pick(c.map.areas);
    cut = a.start + rng.int(a.end - a.start + 1);
  } else {
    cut = rng.int(img.length);
  }
  cut = Math.max(0, Math.min(img.length, cut));
  c.img = img.subarray(0, cut);
  return `truncate to ${cut} bytes`;
};

const absurdField: Mutator = (c) => {
  const t = pickTarget(c, (x) => x.fields.length > 0);
  if (!t) return undefined;
  const f = c.rng.pick(t.fields);
  const v = absurdValue(c, f);
  const leOnly = (f.width === 'b32' || f.width === 'b16') && c.rng.chance(0.15);
  writeField(c.img, f, v, leOnly);
  touch(c, f.at, f.at + fieldWidthBytes(f));
  return `${t.kind}@${hex(t.at)} ${f.name}=${typeof v === 'bigint' ? `0x${v.toString(16)}` : hex(v)}${leOnly ? ' (LE half only)' : ''}`;
};

/** UDF: a FID, FE allocation descriptor or the FSD root pointing back up the tree. */
const udfLoop: Mutator = (c) => {
  const u = c.map.udf;
  if (!u) return undefined;
  const { rng, img } = c;
  const how = rng.int(5);
  if (how <= 1) {
    const fids = targetsOf(c, 'udf-fid').filter((t) => t.meta['dirLbn'] !== undefined && !(t.meta['characteristics']! & 8));
    if (!fids.length) return undefined;
    const f = rng.pick(fids);
    const to = how === 0 ? f.meta['dirLbn']! : (f.meta['parentLbn'] ?? u.rootLbn ?? 0);
    if (f.at + 28 > img.length) return undefined;
    img.writeUInt32LE(to, f.at + 24);
    img[f.at + 18]! |= 2; // mark it a directory, as a real subdirectory FID is
    c.touchedTags.add(f.at);
    return `udf FID@${hex(f.at)} ICB -> ${how === 0 ? 'its own directory' : 'its parent'} (lbn ${to})`;
  }
  if (how === 2) {
    // A directory whose data is its own File Entry block, or another directory's File Entry.
    const dirs = targetsOf(c, 'udf-fe').filter((t) => t.meta['fileType'] === 4 && (t.meta['form'] === 0 || t.meta['form'] === 1));
    if (!dirs.length) return undefined;
    const d = rng.pick(dirs);
    const adAt = d.meta['adAt']!;
    const to = rng.chance(0.5) ? d.meta['lbn']! : (u.rootLbn ?? 0);
    if (adAt + 8 > img.length) return undefined;
    img.writeUInt32LE(to, adAt + 4);
    c.touchedTags.add(d.at);
    return `udf dir FE@${hex(d.at)} data -> lbn ${to}`;
  }
  if (how === 3) {
    // Allocation extent descriptor chain that loops: the file's first AD becomes "next extent"
    // to an AED written over its first data block, whose only AD points back at itself (or at
    // a second AED that points back at the first).
    const files = targetsOf(c, 'udf-fe').filter((t) => t.meta['fileType'] === 5 && (t.meta['form'] === 0 || t.meta['form'] === 1));
    if (!files.length) return undefined;
    const fe = rng.pick(files);
    const form = fe.meta['form']!;
    const adAt = fe.meta['adAt']!;
    if (adAt + 16 > img.length) return undefined;
    const lbn = img.readUInt32LE(adAt + 4);
    const twoHop = rng.chance(0.5);
    const blocks = twoHop ? [lbn, lbn + 1] : [lbn];
    for (const [i, b] of blocks.entries()) {
      const at = lbnOffset(u.addr, fe.meta['dataMeta'] ? 'meta' : 'phys', b);
      if (at === undefined || at + u.bs > img.length) return undefined;
      const next = blocks[(i + 1) % blocks.length]!;
      const adSize = form === 0 ? 8 : 16;
      img.fill(0, at, at + u.bs);
      img.writeUInt16LE(258, at);
      img.writeUInt16LE(2, at + 2);
      img.writeUInt16LE(8 + adSize, at + 10);
      img.writeUInt32LE(b, at + 12);
      img.writeUInt32LE(adSize, at + 20);
      img.writeUInt32LE(((3 << 30) | u.bs) >>> 0, at + 24);
      img.writeUInt32LE(next, at + 28);
      resealUdfTag(img, at);
    }
    img.writeUInt32LE(((3 << 30) | u.bs) >>> 0, adAt);
    c.touchedTags.add(fe.at);
    return `udf FE@${hex(fe.at)} allocation extent chain loop over ${blocks.length} AED(s) at lbn ${lbn}`;
  }
  const fsd = targetsOf(c, 'udf-fsd')[0];
  const fes = targetsOf(c, 'udf-fe');
  if (!fsd || !fes.length || fsd.at + 408 > img.length) return undefined;
  const fe = rng.pick(fes);
  img.writeUInt32LE(fe.meta['lbn']!, fsd.at + 404);
  c.touchedTags.add(fsd.at);
  return `udf FSD root ICB -> FE lbn ${fe.meta['lbn']} (file type ${fe.meta['fileType']})`;
};

/** UDF: copy one descriptor over another of the same family (hard links, type confusion, DAGs). */
const udfTransplant: Mutator = (c) => {
  const { rng, img } = c;
  const kind = rng.pick(['udf-fe', 'udf-fid'] as const);
  const ts = targetsOf(c, kind);
  if (ts.length < 2) return undefined;
  const a = rng.pick(ts);
  const b = rng.pick(ts);
  if (a === b || a.at + a.length > img.length || b.at + b.length > img.length) return undefined;
  const n = Math.min(a.length, b.length);
  if (kind === 'udf-fe') {
    const loc = img.readUInt32LE(b.at + 12);
    img.copy(img, b.at, a.at, a.at + n);
    img.writeUInt32LE(loc, b.at + 12);
  } else {
    // Keep b's size (so the directory stays framed); take a's ICB and characteristics.
    img.copy(img, b.at + 18, a.at + 18, a.at + 19);
    img.copy(img, b.at + 20, a.at + 20, a.at + 36);
  }
  c.touchedTags.add(b.at);
  return `udf ${kind} @${hex(a.at)} transplanted over @${hex(b.at)}`;
};

/** ISO 9660: a directory record pointing at its own directory, its parent or the root; files turned into directories. */
const isoLoop: Mutator = (c) => {
  const { rng, img } = c;
  const recs = targetsOf(c, 'iso-dirrec').filter((t) => !t.meta['selfOrParent']);
  if (!recs.length) return undefined;
  const r = rng.pick(recs);
  if (r.at + 34 > img.length) return undefined;
  const how = rng.int(4);
  const loc = how === 0 ? r.meta['dirLoc']! : how === 1 ? r.meta['parentLoc']! : how === 2 ? (c.map.iso?.rootLoc[0] ?? 0) : r.meta['loc']!;
  const len = how === 3 ? Math.max(2048, r.meta['dataLen']!) : r.meta['dirLen']!;
  img.writeUInt32LE(loc, r.at + 2);
  img.writeUInt32BE(loc, r.at + 6);
  img.writeUInt32LE(len, r.at + 10);
  img.writeUInt32BE(len, r.at + 14);
  img[r.at + 25]! |= 2;
  return `iso record@${hex(r.at)} -> ${['its own directory', 'its parent', 'the root', 'its own data as a directory'][how]} (sector ${loc})`;
};

/**
 * ISO 9660 multi-extent files (9.1.6 bit 7): the rest of a file record's sector is filled with
 * copies of it, all but the last flagged "not the final record", so that they make one file;
 * often with huge lengths and interleaving (file unit size) on top.
 */
const isoMultiExtent: Mutator = (c) => {
  const { rng, img } = c;
  const recs = targetsOf(c, 'iso-dirrec').filter((t) => !t.meta['selfOrParent'] && !t.meta['isDir'] && t.at + t.length <= img.length);
  if (!recs.length) return undefined;
  const r = rng.pick(recs);
  const sectorEnd = Math.min(img.length, (Math.floor(r.at / ISO_SECTOR) + 1) * ISO_SECTOR);
  const n = Math.min(rng.range(2, 64), Math.floor((sectorEnd - r.at) / r.length));
  if (n < 2) return undefined;
  const huge = rng.chance(0.6);
  const unit = huge ? rng.pick([0, 1, 2, 3, 8]) : 0;
  const proto = Buffer.from(img.subarray(r.at, r.at + r.length));
  for (let i = 0; i < n; i++) {
    const at = r.at + i * r.length;
    proto.copy(img, at);
    img[at + 25] = (img[at + 25]! & ~0x80) | (i < n - 1 ? 0x80 : 0);
    if (huge) {
      img.writeUInt32LE(0xfffff800, at + 10);
      img.writeUInt32BE(0xfffff800, at + 14);
      img[at + 26] = unit;
      img[at + 27] = rng.int(4);
    }
  }
  return `iso record@${hex(r.at)} repeated ${n} times as one multi-extent file${huge ? ` of 4 GiB parts, file unit size ${unit}` : ''}`;
};

/** Rock Ridge: an entry rewritten as CL to an ancestor, as a CE that points at itself, or as RE/PL. */
const rockRidgeLoop: Mutator = (c) => {
  const { rng, img } = c;
  const entries = targetsOf(c, 'iso-susp').filter((t) => t.meta['entryLength']! >= 12 && t.at + t.length <= img.length);
  if (!entries.length) return undefined;
  const e = rng.pick(entries);
  const how = rng.int(4);
  if (how === 0 || e.length < 28) {
    const to = rng.pick([e.meta['dirLoc']!, e.meta['parentLoc']!, c.map.iso?.rootLoc[0] ?? 0, 0xffffffff]);
    img.write(rng.chance(0.8) ? 'CL' : 'PL', e.at, 'latin1');
    img[e.at + 3] = 1;
    img.writeUInt32LE(to, e.at + 4);
    img.writeUInt32BE(to, e.at + 8);
    return `rock ridge entry@${hex(e.at)} -> CL/PL sector ${to}`;
  }
  if (how === 1) {
    img.write('RE', e.at, 'latin1');
    return `rock ridge entry@${hex(e.at)} -> RE`;
  }
  // CE: the continuation area is the System Use area that holds this very entry.
  const sector = Math.floor(e.at / ISO_SECTOR);
  const offset = e.at % ISO_SECTOR;
  const length = how === 2 ? e.length : rng.pick([0, 1, 0xffff, 0x10001, 0xffffffff]);
  img.write('CE', e.at, 'latin1');
  img[e.at + 2] = 28;
  img[e.at + 3] = 1;
  for (const [rel, v] of [[4, sector], [12, offset], [20, length]] as const) {
    img.writeUInt32LE(v >>> 0, e.at + rel);
    img.writeUInt32BE(v >>> 0, e.at + rel + 4);
  }
  return `rock ridge entry@${hex(e.at)} -> CE to itself (length ${length})`;
};

/** Same-length replacements for a name: what identification looks for, and unsafe names. */
function renamed(rng: Rng, old: string): string | undefined {
  const special = ['install.swm', 'install.esd', 'install.wim', 'install2.swm', 'boot.wim', 'sources', 'INSTALL.SWM;1', 'INSTALL.ESD;1', 'install2.swm;1', 'BOOT.WIM;1', 'SOURCES', '.', '..', 'CON', 'NUL.TXT;1', 'ei.cfg', 'EI.CFG;1'];
  const same = special.filter((n) => n.length === old.length && n !== old);
  if (same.length && rng.chance(0.6)) return rng.pick(same);
  if (!old.length) return undefined;
  const i = rng.int(old.length);
  const ch = rng.pick(['/', '\\', '\0', ':', '*', '.', ' ', '\u00e9', '\ud800', 'A', 'a']);
  return old.slice(0, i) + ch + old.slice(i + 1);
}

/**
 * Renames an entry in place, keeping the length of its identifier (so the directory stays
 * framed): UDF FIDs (CS0 8- or 16-bit), ISO 9660 / Joliet identifiers and Rock Ridge NM names.
 * Makes install.wim an install.swm or .esd, and produces '/', '..', NULs and lone surrogates.
 */
const rename: Mutator = (c) => {
  const { rng, img } = c;
  const t = pickTarget(c, (x) => (x.kind === 'udf-fid' || x.kind === 'iso-dirrec' || (x.kind === 'iso-susp' && img.toString('latin1', x.at, x.at + 2) === 'NM')) && x.at + x.length <= img.length);
  if (!t) return undefined;
  let at: number;
  let len: number;
  let enc: 'latin1' | 'ucs2be';
  if (t.kind === 'udf-fid') {
    const lFi = img[t.at + 19]!;
    const idAt = t.at + 38 + img.readUInt16LE(t.at + 36);
    if (lFi < 2 || idAt + lFi > img.length || (img[idAt] !== 8 && img[idAt] !== 16)) return undefined;
    enc = img[idAt] === 8 ? 'latin1' : 'ucs2be';
    at = idAt + 1;
    len = lFi - 1;
  } else if (t.kind === 'iso-dirrec') {
    len = img[t.at + 32]!;
    at = t.at + 33;
    if (len < 2 || at + len > img.length) return undefined;
    enc = t.meta['joliet'] ? 'ucs2be' : 'latin1';
  } else {
    at = t.at + 5;
    len = t.length - 5;
    if (len < 1) return undefined;
    enc = 'latin1';
  }
  const raw = Buffer.from(img.subarray(at, at + len));
  const old = enc === 'latin1' ? raw.toString('latin1') : Buffer.from(raw.subarray(0, len & ~1)).swap16().toString('utf16le');
  const name = renamed(rng, old);
  if (name === undefined) return undefined;
  const bytes = enc === 'latin1' ? Buffer.from(name, 'latin1') : Buffer.from(name, 'utf16le').swap16();
  bytes.copy(img, at, 0, Math.min(bytes.length, len));
  touch(c, at, at + len);
  return `${t.kind}@${hex(t.at)} renamed ${JSON.stringify(old)} -> ${JSON.stringify(name)}`;
};

/** El Torito: huge sector counts and LBAs, catalog pointer past the end, bogus section counts. */
const bootCatalog: Mutator = (c) => {
  const { rng, img } = c;
  const ts = targetsOf(c, 'eltorito-entry', 'eltorito-header', 'eltorito-validation', 'iso-vd').filter(
    (t) => t.kind !== 'iso-vd' || t.fields.some((f) => f.name === 'bootCatalogSector'),
  );
  if (!ts.length) return undefined;
  const t = rng.pick(ts);
  const f = t.kind === 'iso-vd' ? t.fields.find((x) => x.name === 'bootCatalogSector')! : rng.pick(t.fields);
  const v =
    f.name === 'bootCatalogSector'
      ? rng.pick([0, 16, 17, 0x7fffffff, 0xffffffff, Math.floor(img.length / ISO_SECTOR) - 1, Math.floor(img.length / ISO_SECTOR)])
      : absurdValue(c, f);
  writeField(img, f, v);
  touch(c, f.at, f.at + fieldWidthBytes(f));
  return `el torito ${t.kind}@${hex(t.at)} ${f.name}=${typeof v === 'bigint' ? v.toString() : hex(v)}`;
};

/** WIM header: a field of a (possibly embedded) WIM header set to an absurd value. */
const wimHeader: Mutator = (c) => {
  const ts = targetsOf(c, 'wim-header');
  if (!ts.length) return undefined;
  const { rng, img } = c;
  const t = rng.pick(ts);
  if (rng.chance(0.1)) {
    // Pipable WIM: the real header is then read from the end of the file.
    img.write('WLPWM', t.at, 'latin1');
    return `wim@${hex(t.at)} magic WLPWM`;
  }
  const f = rng.pick(t.fields);
  let v: number | bigint;
  if (f.name.endsWith('.offset') || f.name.endsWith('.size') || f.name.endsWith('.originalSize')) {
    const size = BigInt(img.length - t.at);
    v = rng.pick([0n, 1n, 207n, 208n, size - 1n, size, size + 1n, 2n ** 32n, 2n ** 48n - 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 56n - 1n, 2n ** 64n - 1n, BigInt(rng.u32())]);
    // Keep stored and original XML sizes equal now and then, so that the XML is read at all.
    if (f.name === 'xml.size' && rng.chance(0.5)) writeField(img, { at: f.at + 16, width: 8, name: 'xml.originalSize' }, v);
    if (f.name === 'xml.originalSize' && rng.chance(0.5)) writeField(img, { at: f.at - 16, width: 7, name: 'xml.size' }, v);
  } else {
    v = absurdValue(c, f);
  }
  writeField(img, f, v);
  return `wim@${hex(t.at)} ${f.name}=${typeof v === 'bigint' ? `0x${v.toString(16)}` : hex(v)}`;
};

const XML_TOKENS = [
  '<',
  '>',
  '&',
  '&amp;',
  '&#0;',
  '&#xD800;',
  '&#x110000;',
  '&bogus;',
  '<!DOCTYPE WIM [<!ENTITY a "aaaaaaaa">]>',
  '<![CDATA[x]]>',
  '<?pi x?>',
  '<!-- c -->',
  '<!',
  '</IMAGE>',
  '<IMAGE INDEX="1">',
  '<IMAGE INDEX="0">',
  '<IMAGE INDEX="4294967297">',
  '<IMAGE INDEX="-1">',
  '<IMAGE INDEX="1e9">',
  '<IMAGE>',
  '<NAME>',
  '<WINDOWS><VERSION><BUILD>99999999999999999999</BUILD></VERSION></WINDOWS>',
  '<TOTALBYTES>1e400</TOTALBYTES>',
  '<TOTALBYTES>0x1FFFFFFFFFFFFF</TOTALBYTES>',
  '<CREATIONTIME><HIGHPART>0xFFFFFFFF</HIGHPART><LOWPART>zz</LOWPART></CREATIONTIME>',
  '<CREATIONTIME><HIGHPART>0x7FFFFFFF</HIGHPART><LOWPART>0xFFFFFFFF</LOWPART></CREATIONTIME>',
  '<ARCH>-9</ARCH>',
  '<ARCH>12</ARCH>',
  '<LANGUAGES><LANGUAGE>',
  '<ESD><ENCRYPTED>1</ENCRYPTED></ESD>',
  '<__proto__>x</__proto__>',
  '<constructor/>',
  ' INDEX="2"',
  ' INDEX="2" INDEX="3"',
  '\u0000',
  '\ud800',
  '\udfff',
  '\ufffe',
  '\uffff',
  'x'.repeat(1000),
  '<A>'.repeat(100),
  '<A>'.repeat(70) + '</A>'.repeat(70),
];

/** Text-level edits of a WIM XML document (the result is re-encoded as UTF-16LE). */
export function mutateXmlText(rng: Rng, xml: string): { xml: string; desc: string } {
  const at = rng.int(xml.length + 1);
  switch (rng.int(7)) {
    case 0: {
      const n = rng.range(1, 60);
      return { xml: xml.slice(0, at) + xml.slice(at + n), desc: `xml delete ${n} char(s) at ${at}` };
    }
    case 1: {
      const n = rng.range(1, 200);
      return { xml: xml.slice(0, at) + xml.slice(at, at + n) + xml.slice(at), desc: `xml duplicate ${n} char(s) at ${at}` };
    }
    case 2: {
      const tok = rng.pick(XML_TOKENS);
      return { xml: xml.slice(0, at) + tok + xml.slice(at), desc: `xml insert ${JSON.stringify(tok.slice(0, 30))} at ${at}` };
    }
    case 3: {
      const nums = [...xml.matchAll(/[0-9]+/g)];
      if (!nums.length) return { xml, desc: 'xml unchanged' };
      const m = rng.pick(nums);
      const v = rng.pick(['0', '-1', '4294967296', '9'.repeat(30), '0x10', '', 'NaN', '1.5', '00000000000000000001']);
      return { xml: xml.slice(0, m.index) + v + xml.slice(m.index + m[0].length), desc: `xml number ${m[0]} -> ${v}` };
    }
    case 4: {
      const tags = [...xml.matchAll(/<\/?([A-Z_]+)/g)];
      if (!tags.length) return { xml, desc: 'xml unchanged' };
      const m = rng.pick(tags);
      const to = rng.pick(['IMAGE', 'WIM', 'NAME', 'WINDOWS', 'VERSION', 'x', 'image', 'TOTALBYTES', 'LANGUAGES']);
      const start = m.index + m[0].length - m[1]!.length;
      return { xml: xml.slice(0, start) + to + xml.slice(start + m[1]!.length), desc: `xml tag ${m[1]} -> ${to}` };
    }
    case 5:
      return { xml: xml.slice(0, at), desc: `xml cut at ${at}` };
    default: {
      const n = rng.range(1, 8);
      let s = xml;
      for (let i = 0; i < n; i++) {
        const p = rng.int(s.length);
        s = s.slice(0, p) + String.fromCharCode(rng.pick([0x3c, 0x3e, 0x26, 0x22, 0x2f, 0, 0xd800, 0xdc00, rng.int(0x10000)])) + s.slice(p + 1);
      }
      return { xml: s, desc: `xml ${n} random char(s)` };
    }
  }
}

/**
 * WIM XML: decodes the XML resource of a (possibly embedded) WIM, edits it, writes it back as
 * UTF-16LE with a BOM: in place when it fits (an embedded WIM cannot grow), else appended at the
 * end of a stand-alone WIM; the XML reshdr follows.
 */
const wimXml: Mutator = (c) => {
  const ts = targetsOf(c, 'wim-header');
  if (!ts.length) return undefined;
  const { rng } = c;
  const t = rng.pick(ts);
  let img = c.img;
  if (t.at + 208 > img.length) return undefined;
  const size = img.readUIntLE(t.at + 0x48, 6);
  const offset = Number(img.readBigUInt64LE(t.at + 0x50));
  const start = t.at + offset;
  if (size < 2 || start + size > img.length) return undefined;
  let desc: string;
  let bytes: Buffer;
  if (rng.chance(0.2)) {
    // Raw bytes: odd lengths, broken code units, a BOM turned around.
    bytes = Buffer.from(img.subarray(start, start + size));
    const n = rng.range(1, 6);
    for (let i = 0; i < n; i++) bytes[rng.int(bytes.length)] = rng.pick([0, 0xff, 0xfe, 0x3c, 0xd8, 0xdc, rng.int(256)]);
    if (rng.chance(0.3)) bytes = bytes.subarray(0, bytes.length - 1);
    desc = `xml ${n} raw byte(s)`;
  } else {
    const bom = img[start] === 0xff && img[start + 1] === 0xfe ? 2 : 0;
    const text = img.toString('utf16le', start + bom, start + size - ((size - bom) % 2));
    const m = mutateXmlText(rng, text);
    desc = m.desc;
    if (rng.chance(0.3)) {
      const m2 = mutateXmlText(rng, m.xml);
      m.xml = m2.xml;
      desc += `, ${m2.desc}`;
    }
    bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(m.xml, 'utf16le')]);
  }
  let newOffset = offset;
  if (bytes.length <= size) {
    bytes.copy(img, start);
  } else if (t.at === 0 && c.kind === 'wim') {
    newOffset = img.length;
    img = Buffer.concat([img, bytes]);
  } else {
    bytes = bytes.subarray(0, size);
    bytes.copy(img, start);
    desc += ' (clipped to fit)';
  }
  img.writeUIntLE(bytes.length, t.at + 0x48, 6);
  img[t.at + 0x4e] = 0;
  img.writeBigUInt64LE(BigInt(newOffset), t.at + 0x50);
  img.writeBigUInt64LE(BigInt(bytes.length), t.at + 0x58);
  c.img = img;
  return `wim@${hex(t.at)} ${desc}`;
};

const IMAGE_MUTATORS: readonly (readonly [Mutator, number])[] = [
  [flipBits, 14],
  [randomBytes, 10],
  [truncate, 7],
  [absurdField, 24],
  [udfLoop, 8],
  [udfTransplant, 4],
  [isoLoop, 7],
  [isoMultiExtent, 3],
  [rockRidgeLoop, 5],
  [bootCatalog, 8],
  [rename, 5],
  [wimHeader, 5],
  [wimXml, 5],
];

const WIM_MUTATORS: readonly (readonly [Mutator, number])[] = [
  [flipBits, 8],
  [randomBytes, 6],
  [truncate, 8],
  [wimHeader, 35],
  [wimXml, 40],
];

export interface Mutated {
  img: Buffer;
  desc: string;
}

/** Case `index` of a seed: case 0 is the unmodified seed; the others apply 1-3 mutations. */
export function mutate(seed: Buffer, map: SeedMap, kind: 'image' | 'wim', rng: Rng, index: number): Mutated {
  const c: MutCtx = { img: Buffer.from(seed), rng, map, kind, touchedTags: new Set(), touchedValidation: new Set() };
  if (index === 0) return { img: c.img, desc: 'unmodified seed' };
  const n = rng.chance(0.7) ? 1 : rng.range(2, 3);
  const descs: string[] = [];
  const table = kind === 'wim' ? WIM_MUTATORS : IMAGE_MUTATORS;
  for (let i = 0, tries = 0; i < n && tries < 20; tries++) {
    const d = rng.weighted(table)(c);
    if (d === undefined) continue;
    descs.push(d);
    i++;
  }
  // Most of the time, make damaged UDF tags and the El Torito validation entry valid again so
  // that the mutation gets past the checksums and reaches the code behind them.
  const reseal = rng.chance(0.8);
  if (reseal) {
    for (const at of c.touchedTags) resealUdfTag(c.img, at);
    for (const at of c.touchedValidation) {
      if (at + 32 > c.img.length) continue;
      c.img.writeUInt16LE(0, at + 28);
      let sum = 0;
      for (let i = 0; i < 32; i += 2) sum += c.img.readUInt16LE(at + i);
      c.img.writeUInt16LE((0x10000 - (sum & 0xffff)) & 0xffff, at + 28);
    }
  }
  if (c.touchedTags.size || c.touchedValidation.size) descs.push(reseal ? 'resealed' : 'not resealed');
  return { img: c.img, desc: descs.join('; ') || 'no applicable mutation' };
}

// ---------------------------------------------------------------------------------------------
// Running a case

export interface CaseFailure {
  op: string;
  error: string;
}

export interface CaseResult {
  index: number;
  desc: string;
  /** Outcome of the first operation: 'data' or a MediaError code. */
  outcome: string;
  /** Operation outcomes: 'data' or a MediaError code -> count. */
  ops: Record<string, number>;
  failures: CaseFailure[];
  ms: number;
  bytesRead: number;
}

/** Per-case caps that keep a case bounded whatever the image claims. */
export const CASE_READ_BUDGET = 64 * 1024 * 1024;
const MAX_ENTRIES_EXERCISED = 2000;
const MAX_SINGLE_FILE_READ = 8 * 1024 * 1024;

class Tally {
  readonly ops: Record<string, number> = {};
  readonly failures: CaseFailure[] = [];
  first: string | undefined;
  bytesLeft = CASE_READ_BUDGET;

  async op<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      const v = await fn();
      this.#count('data');
      return v;
    } catch (e) {
      if (e instanceof MediaError) {
        this.#count(e.code);
        return undefined;
      }
      const err = e as Error;
      this.#count('FAILURE');
      const stack = (err?.stack ?? String(e)).split('\n').slice(0, 6).join('\n');
      this.failures.push({ op: name, error: stack });
      return undefined;
    }
  }

  #count(k: string): void {
    this.first ??= k;
    this.ops[k] = (this.ops[k] ?? 0) + 1;
  }
}

const VIEWS: readonly (FsKind | undefined)[] = [undefined, 'udf', 'rockridge', 'joliet', 'iso9660'];

async function exerciseMedia(t: Tally, media: Media, view: string): Promise<void> {
  // walk() as a whole: every entry, nothing read.
  await t.op(`${view}: walk`, async () => {
    let n = 0;
    for await (const _ of media.walk()) n++;
    return n;
  });
  // Then a traversal that survives damaged directories, exercising every entry.
  const dirs = ['/'];
  const seen = new Set<string>();
  let exercised = 0;
  while (dirs.length && exercised < MAX_ENTRIES_EXERCISED) {
    const d = dirs.pop()!;
    if (seen.has(d)) continue;
    seen.add(d);
    const list = await t.op(`${view}: list`, () => media.list(d));
    if (!list) continue;
    for (const e of list) {
      if (++exercised > MAX_ENTRIES_EXERCISED) break;
      if (e.type === 'directory') {
        dirs.push(e.path);
        continue;
      }
      const st = await t.op(`${view}: stat`, () => media.stat(e.path));
      if (!st || st.type === 'directory') continue;
      await t.op(`${view}: extents`, () => media.extents(e.path));
      const n = Math.min(st.size, MAX_SINGLE_FILE_READ, t.bytesLeft);
      if (n <= 0) continue;
      t.bytesLeft -= n;
      if (n === st.size) await t.op(`${view}: read`, () => media.read(e.path));
      else await t.op(`${view}: read range`, () => media.read(e.path, 0, n));
      if (st.size > n) {
        // The far end of a file that claims to be huge.
        const k = Math.min(4096, st.size);
        await t.op(`${view}: read tail`, () => media.read(e.path, st.size - k, st.size));
      }
      if (st.size > MAX_SINGLE_READ) {
        // A whole-file read of a file that claims to be larger than any single read may be:
        // it must be refused, not attempted with a giant buffer.
        await t.op(`${view}: read huge`, () => media.read(e.path));
      }
      // The file as a ByteSource of its own (how install.wim is read in place).
      const fsrc = await t.op(`${view}: fileSource`, () => media.fileSource(e.path));
      if (fsrc) {
        const k = Math.min(4096, fsrc.size);
        await t.op(`${view}: fileSource read`, () => fsrc.read(fsrc.size - k, k));
        if (fsrc.size > MAX_SINGLE_READ) await t.op(`${view}: fileSource read huge`, () => fsrc.read(0, fsrc.size));
      }
      if (/\.(wim|esd|swm)$/i.test(e.name)) {
        await t.op(`${view}: readWimInfo`, async () => readWimInfo(await media.fileSource(e.path)));
      }
    }
  }
  // A stream over the start of the first file found, consumed to the end.
  const file = (await t.op(`${view}: list`, () => media.list('/')))?.find((e) => e.type === 'file');
  if (file) {
    await t.op(`${view}: stream`, async () => {
      const s = await media.stream(file.path, 0, Math.min(file.size, 1 << 20));
      let n = 0;
      for await (const chunk of s) n += (chunk as Buffer).length;
      return n;
    });
  }
  const cat = await t.op(`${view}: bootCatalog`, () => media.bootCatalog());
  for (const e of cat?.entries ?? []) {
    if (e.imageSize > t.bytesLeft) continue;
    t.bytesLeft -= e.imageSize;
    await t.op(`${view}: readBootImage`, () => readBootImage(media.source, e));
  }
  await t.op(`${view}: identifyWindows`, () => identifyWindows(media));
}

/** Largest sum of file sizes a case extracts: a damaged image may claim far more than it holds. */
const MAX_EXTRACT_BYTES = 64 * 1024 * 1024;

/**
 * Every public operation on an install image, each outcome tallied. With `scratch` (a folder of
 * this worker's), the image is also written to a file and opened from there, which reads through
 * FileSource's windows, and extracted, which copies with copy_file_range and the synchronous
 * small-file track: the paths that only a real image file takes.
 */
export async function exerciseImage(img: Buffer, scratch?: string): Promise<Tally> {
  const t = new Tally();
  const src = new BufferSource(img, 'fuzz.iso');
  for (const view of VIEWS) {
    const name = view ?? 'default';
    const media = await t.op(`${name}: open`, () => openMediaSource('fuzz.iso', src, view ? { view } : {}));
    if (media) await exerciseMedia(t, media, name);
  }
  const cat = await t.op('readBootCatalog', () => readBootCatalog(src));
  for (const e of cat?.entries ?? []) {
    if (e.imageSize > t.bytesLeft) continue;
    t.bytesLeft -= e.imageSize;
    await t.op('readBootImage', () => readBootImage(src, e));
  }
  if (scratch) await exerciseFile(t, img, scratch);
  return t;
}

async function exerciseFile(t: Tally, img: Buffer, scratch: string): Promise<void> {
  const file = join(scratch, 'fuzz.iso');
  const dest = join(scratch, 'out');
  await rm(dest, { recursive: true, force: true });
  await writeFile(file, img);
  const media = await t.op('file: open', () => openMedia(file));
  if (!media) return;
  try {
    const total = await t.op('file: walk', async () => {
      let bytes = 0;
      for await (const e of media.walk()) if (e.type === 'file') bytes += e.size;
      return bytes;
    });
    if (total !== undefined && total <= MAX_EXTRACT_BYTES) await t.op('file: extract', () => extract(media, dest));
  } finally {
    await media.close();
    await rm(dest, { recursive: true, force: true });
  }
}

/** The WIM metadata reader on a stand-alone WIM/ESD. */
export async function exerciseWim(img: Buffer): Promise<Tally> {
  const t = new Tally();
  const src = new BufferSource(img, 'fuzz.wim');
  await t.op('readWimInfo', () => readWimInfo(src));
  await t.op('readWimInfo keepXml allowEncrypted', () => readWimInfo(src, { keepXml: true, allowEncrypted: true }));
  await t.op('readWimHeader', () => readWimHeader(src));
  await t.op('readSplitSet', () => readSplitSet([src]));
  return t;
}

// ---------------------------------------------------------------------------------------------
// Worker

export interface WorkerJob {
  overnightFuzz: true;
  seedName: string;
  seedPath: string;
  kind: 'image' | 'wim';
  globalSeed: number;
  /** Case numbers to run, in order. */
  cases: number[];
  /** Largest single Buffer allocation tolerated (bytes). */
  maxAlloc: number;
  /** A folder for image files and extractions; each worker works in a subfolder of its own. */
  scratchDir?: string;
}

export type WorkerMessage =
  | { t: 'ready'; targets: number; targetKinds: Record<string, number> }
  | { t: 'start'; index: number }
  | { t: 'done'; result: CaseResult; heapUsed: number; arrayBuffers: number; peakAlloc: number }
  | { t: 'end' };

/** Thrown by the allocation guard: a reader asked for more memory than any structure needs. */
class FuzzAllocationError extends Error {
  constructor(size: number) {
    super(`allocation of ${size} bytes exceeds the fuzz bound`);
    this.name = 'FuzzAllocationError';
  }
}

/**
 * Wraps Buffer.alloc / allocUnsafe / allocUnsafeSlow: requests above `max` throw (a failure the
 * harness reports, instead of an out-of-memory crash), and the largest request is recorded.
 */
function guardAllocations(max: number): { peak: () => number; reset: () => void } {
  let peak = 0;
  const B = Buffer as unknown as Record<'alloc' | 'allocUnsafe' | 'allocUnsafeSlow', (size: number, ...rest: unknown[]) => Buffer>;
  for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const) {
    const orig = B[name].bind(Buffer);
    B[name] = (size: number, ...rest: unknown[]) => {
      if (typeof size === 'number' && size > max) throw new FuzzAllocationError(size);
      if (typeof size === 'number' && size > peak) peak = size;
      return orig(size, ...rest);
    };
  }
  return { peak: () => peak, reset: () => (peak = 0) };
}

async function runWorker(job: WorkerJob): Promise<void> {
  const port = parentPort!;
  const seed = await readFile(job.seedPath);
  const map = mapSeed(seed, job.kind);
  const targetKinds: Record<string, number> = {};
  for (const t of map.targets) targetKinds[t.kind] = (targetKinds[t.kind] ?? 0) + 1;
  port.postMessage({ t: 'ready', targets: map.targets.length, targetKinds } satisfies WorkerMessage);
  const alloc = guardAllocations(job.maxAlloc);
  const scratch = job.scratchDir ? join(job.scratchDir, `worker-${threadId}`) : undefined;
  if (scratch) await mkdir(scratch, { recursive: true });
  for (const index of job.cases) {
    port.postMessage({ t: 'start', index } satisfies WorkerMessage);
    const t0 = performance.now();
    const rng = new Rng(caseSeed(job.globalSeed, job.seedName, index));
    let m: Mutated;
    try {
      m = mutate(seed, map, job.kind, rng, index);
    } catch (e) {
      // A bug of the harness, not of a reader: reported as a failure all the same.
      m = { img: seed, desc: 'mutation failed' };
      const failures = [{ op: 'mutate (harness)', error: String((e as Error)?.stack ?? e) }];
      const result: CaseResult = { index, desc: m.desc, outcome: 'FAILURE', ops: { FAILURE: 1 }, failures, ms: 0, bytesRead: 0 };
      port.postMessage({ t: 'done', result, heapUsed: 0, arrayBuffers: 0, peakAlloc: 0 } satisfies WorkerMessage);
      continue;
    }
    const tally = job.kind === 'wim' ? await exerciseWim(m.img) : await exerciseImage(m.img, scratch);
    const mu = process.memoryUsage();
    const result: CaseResult = {
      index,
      desc: m.desc,
      outcome: tally.first ?? 'none',
      ops: tally.ops,
      failures: tally.failures,
      ms: performance.now() - t0,
      bytesRead: CASE_READ_BUDGET - tally.bytesLeft,
    };
    port.postMessage({ t: 'done', result, heapUsed: mu.heapUsed, arrayBuffers: mu.arrayBuffers, peakAlloc: alloc.peak() } satisfies WorkerMessage);
  }
  port.postMessage({ t: 'end' } satisfies WorkerMessage);
}

if (!isMainThread && (workerData as WorkerJob | undefined)?.overnightFuzz) {
  void runWorker(workerData as WorkerJob);
}
