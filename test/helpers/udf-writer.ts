// A small UDF image writer for tests. It lays out, byte for byte as ECMA-167 3rd edition and OSTA
// UDF 2.60 specify them, the structures that no tool available here writes: metadata partitions
// (UDF 2.2.10/2.2.13) with a metadata file split over several extents and a mirror, extended
// allocation descriptors (ext_ad, 4/14.14.3), allocation extent descriptor chains (extent type 3 →
// tag 258, 4/14.5), extents that are allocated-but-not-recorded (type 1) or neither (type 2), and
// CS0 compression ids 254/255 for deleted names (UDF 2.3.4.2). Every tag gets its checksum and
// CRC-ITU-T from src/media/udf/tag.ts and the tag location the specification asks for.
//
// Offsets in comments are ECMA-167 RBPs. Everything is kept small: images are a few hundred KiB.
import { crcItuT, tagChecksum } from '../../src/media/udf/tag.ts';

export type AdForm = 'short' | 'long' | 'extended' | 'embedded';

/** One extent of a file, in file order. Only the last may have a length that is not a block multiple (4/12.1). */
export type Piece =
  | { kind: 'recorded'; data: Buffer } // extent type 0
  | { kind: 'allocated'; length: number } // type 1: allocated, not recorded → reads as zeros
  | { kind: 'unallocated'; length: number }; // type 2: neither → reads as zeros

/** A point in time and the timezone (minutes east of UTC, or 'none' = -2047, 1/7.3.1) it is recorded in. */
export interface UdfTime {
  date: Date;
  tz?: number | 'none';
}

interface NodeCommon {
  name: string;
  /** CS0 compression id of the FID name (default: 8 when every char fits in 8 bits, else 16; deleted from UDF 2.50 on: 254/255). */
  nameId?: 8 | 16 | 254 | 255;
  hidden?: boolean;
  /** Only a FID (characteristic 0x04) with a zero ICB is written (UDF 2.3.4.2). */
  deleted?: boolean;
  mtime?: UdfTime;
  atime?: UdfTime;
  ctime?: UdfTime;
  /** POSIX mode bits (0o777), stored as UDF permissions (4/14.9.5) with owner change-attribute/delete set. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Allocation descriptor form of the ICB. */
  ad?: AdForm;
  /** Data ADs per descriptor area: more pieces than this chain through Allocation Extent Descriptors. */
  adsPerDescriptor?: number;
  /** Leave a junk block between consecutive extents (default true), so that nothing is contiguous. */
  gaps?: boolean;
}

export interface UdfFileSpec extends NodeCommon {
  type: 'file';
  data?: Buffer;
  pieces?: Piece[];
  /** Information length to record instead of the real one (negative tests). */
  declaredSize?: number;
  /** ICB file type (default 5, random access bytes). */
  fileType?: number;
}

export interface UdfDirSpec extends NodeCommon {
  type: 'dir';
  children: UdfNodeSpec[];
  /** Split the directory's FID stream into extents of this many blocks. */
  splitBlocks?: number;
}

export type UdfNodeSpec = UdfFileSpec | UdfDirSpec;

export interface UdfImageOptions {
  blockSize?: number;
  /** UDF revision of the domain identifier (0x0102, 0x0150, 0x0201, 0x0250, 0x0260). */
  revision?: number;
  partitions?: 'type1' | 'metadata';
  /** Put the metadata partition map first (the physical one is then partition reference 1). */
  metadataMapFirst?: boolean;
  /** Number of extents of the metadata file (and of its mirror when mirrorPieces is not given). */
  metadataPieces?: number;
  mirrorPieces?: number;
  /** Path of a directory whose data must cross a boundary between two metadata-file extents. */
  straddle?: string;
  fileEntries?: 'fe' | 'efe';
  /** Give every FID a 32-byte implementation use field holding the writer's EntityID (UDF 2.3.4.5). */
  fidImplementationUse?: boolean;
  /** Record extended attributes in every (E)FE: a header descriptor and a "*UDF FreeEASpace" EA. */
  extendedAttributes?: boolean;
  volumeId?: string;
  volumeSetId?: string;
  logicalVolumeId?: string;
  fileSetId?: string;
  recordingTime?: UdfTime;
  root?: Omit<UdfDirSpec, 'type' | 'name' | 'children' | 'hidden' | 'deleted' | 'nameId'>;
  children: UdfNodeSpec[];
}

export interface ExtentLayout {
  /** Image byte offset (0 for unrecorded extents). */
  offset: number;
  length: number;
  kind: Piece['kind'];
  /** Logical block number within the extent's partition. */
  lbn: number;
}

export interface NodeLayout {
  path: string;
  type: 'file' | 'dir';
  icb: { partRef: number; lbn: number };
  /** Image offset of the (Extended) File Entry. */
  icbOffset: number;
  /** Image offset of this node's FID in its parent's directory data (undefined for the root). */
  fidOffset: number | undefined;
  /** A copy of that FID's bytes (it may cross a block, or a metadata-file extent, boundary). */
  fid: Buffer | undefined;
  /** Image offsets and lbns of the Allocation Extent Descriptors, in chain order. */
  aeds: { offset: number; lbn: number }[];
  form: AdForm;
  extents: ExtentLayout[];
}

export interface MetadataFileLayout {
  icbOffset: number;
  lbn: number;
  extents: { lbn: number; blocks: number; metaStart: number }[];
}

export interface UdfImage {
  image: Buffer;
  blockSize: number;
  partitionStart: number;
  physRef: number;
  metaRef: number;
  nodes: Map<string, NodeLayout>;
  /** FIDs of deleted entries, by path: image offset of the FID's first byte, and a copy of its bytes. */
  deletedFids: Map<string, { offset: number; fid: Buffer }>;
  fsdOffset: number;
  lvdOffset: number;
  /** The metadata file and its mirror: FE location, and extents as physical lbn + metadata-partition start. */
  metadataFile?: MetadataFileLayout;
  mirrorFile?: MetadataFileLayout;
  /** Image offset of metadata-partition block `lbn` in the main metadata file (or the partition itself). */
  metaOffset(lbn: number): number;
  /** The same in the metadata mirror file (metadata partitions only). */
  mirrorOffset(lbn: number): number;
}

// ---------------------------------------------------------------- primitives

const TAG_VERSION = (rev: number) => (rev >= 0x0200 ? 3 : 2);
const JUNK = 0xa5; // gap blocks
const UNRECORDED_JUNK = 0xee; // blocks of allocated-but-unrecorded extents: a reader must not show these

/** Fills in the checksum and CRC of the tag at `at`, covering `crcLength` bytes after the tag (3/7.2). */
export function finishTag(buf: Buffer, at: number, crcLength: number): void {
  buf.writeUInt16LE(crcLength, at + 10);
  buf.writeUInt16LE(crcItuT(buf, at + 16, at + 16 + crcLength), at + 8);
  buf[at + 4] = tagChecksum(buf, at);
}

/** Recomputes checksum and CRC of a tag after a test has changed the descriptor (keeps its CRC length). */
export function retag(buf: Buffer, at: number): void {
  finishTag(buf, at, buf.readUInt16LE(at + 10));
}

function writeTag(buf: Buffer, at: number, id: number, version: number, location: number): void {
  buf.writeUInt16LE(id, at);
  buf.writeUInt16LE(version, at + 2);
  buf[at + 5] = 0;
  buf.writeUInt16LE(1, at + 6); // tag serial number
  buf.writeUInt32LE(location >>> 0, at + 12);
}

/** OSTA CS0 (UDF 2.1.1): compression id, then 8-bit chars or UCS-2 big endian. */
export function encodeCS0(s: string, id?: 8 | 16 | 254 | 255): Buffer {
  const narrow = [...s].every((c) => c.charCodeAt(0) <= 0xff && c.length === 1);
  const cid = id ?? (narrow ? 8 : 16);
  if (cid === 8 || cid === 254) {
    if (!narrow) throw new Error(`"${s}" does not fit 8-bit CS0`);
    return Buffer.concat([Buffer.from([cid]), Buffer.from(s, 'latin1')]);
  }
  const b = Buffer.alloc(1 + s.length * 2);
  b[0] = cid;
  for (let i = 0; i < s.length; i++) b.writeUInt16BE(s.charCodeAt(i), 1 + i * 2);
  return b;
}

/** dstring (1/7.2.12): CS0 bytes, zero padding, the used length in the last byte. */
function writeDString(buf: Buffer, at: number, size: number, s: string): void {
  buf.fill(0, at, at + size);
  if (!s) return;
  const cs0 = encodeCS0(s);
  if (cs0.length > size - 1) throw new Error(`dstring "${s}" longer than ${size - 1} bytes`);
  cs0.copy(buf, at);
  buf[at + size - 1] = cs0.length;
}

/** charspec (1/7.2.1) for CS0: type 0, "OSTA Compressed Unicode" (UDF 2.1.2). */
function writeCharspec(buf: Buffer, at: number): void {
  buf.fill(0, at, at + 64);
  buf.write('OSTA Compressed Unicode', at + 1, 'latin1');
}

/** regid (1/7.4): flags, 23-byte identifier, 8-byte suffix. */
function writeRegId(buf: Buffer, at: number, identifier: string, suffix: number[] = [], flags = 0): void {
  buf.fill(0, at, at + 32);
  buf[at] = flags;
  buf.write(identifier, at + 1, 23, 'latin1');
  Buffer.from(suffix).copy(buf, at + 24);
}
/** UDF 2.1.5.3 domain identifier suffix and UDF identifier suffix: revision first. */
const udfSuffix = (rev: number) => [rev & 0xff, rev >> 8];
const IMPL_ID = '*overnight test writer';

/** timestamp (1/7.3): type 1 (local time) with the timezone offset, or all zero. */
function writeTimestamp(buf: Buffer, at: number, t: UdfTime | undefined): void {
  buf.fill(0, at, at + 12);
  if (!t) return;
  const tz = t.tz ?? 0;
  const offset = tz === 'none' ? 0 : tz;
  if (tz !== 'none' && (tz < -1440 || tz > 1440)) throw new Error('timezone out of range');
  const local = new Date(t.date.getTime() + offset * 60000);
  const ms = local.getUTCMilliseconds();
  buf.writeUInt16LE((1 << 12) | ((tz === 'none' ? -2047 : tz) & 0x0fff), at);
  buf.writeInt16LE(local.getUTCFullYear(), at + 2);
  buf[at + 4] = local.getUTCMonth() + 1;
  buf[at + 5] = local.getUTCDate();
  buf[at + 6] = local.getUTCHours();
  buf[at + 7] = local.getUTCMinutes();
  buf[at + 8] = local.getUTCSeconds();
  buf[at + 9] = Math.floor(ms / 10); // centiseconds
  buf[at + 10] = (ms % 10) * 10; // hundreds of microseconds
  buf[at + 11] = 0; // microseconds
}

/** UDF permissions (4/14.9.5) from POSIX rwx bits: other bits 0-4, group 5-9, owner 10-14. */
export function udfPermissions(mode: number): number {
  const cls = (bits: number) => ((bits & 4) ? 4 : 0) | ((bits & 2) ? 2 : 0) | ((bits & 1) ? 1 : 0);
  return cls(mode & 7) | (cls((mode >> 3) & 7) << 5) | (cls((mode >> 6) & 7) << 10) | (0x18 << 10); // owner may chattr/delete
}

const EXTENT_TYPE = { recorded: 0, allocated: 1, unallocated: 2, next: 3 } as const;
const AD_SIZE = { short: 8, long: 16, extended: 20 } as const;
const AD_FORM_CODE = { short: 0, long: 1, extended: 2, embedded: 3 } as const;

interface Ad {
  type: keyof typeof EXTENT_TYPE;
  length: number;
  lbn: number;
  partRef: number;
}

/** One allocation descriptor: short_ad (4/14.14.1), long_ad (4/14.14.2) or ext_ad (4/14.14.3). */
export function encodeAd(form: Exclude<AdForm, 'embedded'>, ad: Ad): Buffer {
  const b = Buffer.alloc(AD_SIZE[form]);
  if (ad.length >= 2 ** 30) throw new Error('extent length beyond 30 bits');
  b.writeUInt32LE(((EXTENT_TYPE[ad.type] << 30) | ad.length) >>> 0, 0);
  if (form === 'short') {
    b.writeUInt32LE(ad.lbn >>> 0, 4);
  } else if (form === 'long') {
    b.writeUInt32LE(ad.lbn >>> 0, 4);
    b.writeUInt16LE(ad.partRef, 8);
    // 10..15: implementation use (ADImpUse, UDF 2.3.10.1), zero.
  } else {
    // Recorded Length: bytes recorded from the start of the extent; 0 when the extent is not recorded.
    b.writeUInt32LE(ad.type === 'recorded' || ad.type === 'next' ? ad.length : 0, 4);
    b.writeUInt32LE(ad.length, 8); // Information Length
    b.writeUInt32LE(ad.lbn >>> 0, 12);
    b.writeUInt16LE(ad.partRef, 16);
  }
  return b;
}

// ---------------------------------------------------------------- layout

interface Node {
  spec: UdfNodeSpec | undefined; // undefined: root
  path: string;
  isDir: boolean;
  parent: Node | undefined;
  children: Node[]; // live and deleted, in spec order
  uniqueId: number;
  icbLbn: number;
  form: AdForm;
  pieces: Piece[]; // file data, or the directory's FID stream cut into pieces
  dataLength: number;
  extents: { piece: Piece; lbn: number; blocks: number }[];
  aedLbns: number[];
  fidAt: number; // offset of this node's FID in its parent's FID stream
  fidStream: Buffer | undefined;
}

class Allocator {
  next: number;
  constructor(start: number) {
    this.next = start;
  }
  take(blocks: number): number {
    const at = this.next;
    this.next += blocks;
    return at;
  }
}

/** The CS0 bytes of a FID name: from UDF 2.50 on, deleted names get id 254/255 (UDF 2.3.4.2). */
function fidName(s: UdfNodeSpec, rev: number): Buffer {
  const natural = encodeCS0(s.name);
  const id = s.nameId ?? (s.deleted && rev >= 0x0250 ? (natural[0] === 8 ? 254 : 255) : undefined);
  return id === undefined ? natural : encodeCS0(s.name, id);
}

/** Writes a UDF image as the options describe it. */
export function writeUdfImage(o: UdfImageOptions): UdfImage {
  const bs = o.blockSize ?? 2048;
  if (![512, 1024, 2048, 4096].includes(bs)) throw new Error('block size must be 512-4096');
  const metadata = o.partitions === 'metadata';
  const rev = o.revision ?? (metadata ? 0x0250 : 0x0201);
  if (metadata && rev < 0x0250) throw new Error('metadata partitions need UDF 2.50 or later');
  const tagVersion = TAG_VERSION(rev);
  const efe = (o.fileEntries ?? (rev >= 0x0200 ? 'efe' : 'fe')) === 'efe';
  // Extended attribute space (4/14.10): a 24-byte header descriptor, then one implementation use EA
  // "*UDF FreeEASpace" (UDF 3.3.4.5.1.1) of 48 + 4 bytes. ADs or embedded data follow it.
  const eaLength = o.extendedAttributes ? 24 + 52 : 0;
  const feHeader = (efe ? 216 : 176) + eaLength;
  const implUse = o.fidImplementationUse ? 32 : 0;
  const fidSize = (nameBytes: number) => (38 + implUse + nameBytes + 3) & ~3;
  const physRef = metadata && o.metadataMapFirst ? 1 : 0;
  const metaRef = metadata ? (o.metadataMapFirst ? 0 : 1) : physRef;
  const allocUnit = 32; // metadata allocation unit (UDF 2.2.10), in blocks
  const recording = o.recordingTime ?? { date: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)), tz: 0 };

  // ---- the tree
  let uid = 16; // UDF 3.2.1.1: unique ids 1-15 are reserved, 0 is the root
  const nodes: Node[] = [];
  const mkNode = (spec: UdfNodeSpec | undefined, path: string, parent: Node | undefined): Node => {
    const isDir = !spec || spec.type === 'dir';
    const n: Node = {
      spec,
      path,
      isDir,
      parent,
      children: [],
      uniqueId: spec ? uid++ : 0,
      icbLbn: -1,
      form: 'short',
      pieces: [],
      dataLength: 0,
      extents: [],
      aedLbns: [],
      fidAt: -1,
      fidStream: undefined,
    };
    if (spec?.deleted) return n; // only its FID is written
    nodes.push(n);
    const kids = spec ? (spec.type === 'dir' ? spec.children : []) : o.children;
    for (const k of kids) n.children.push(mkNode(k, (path === '/' ? '/' : path + '/') + k.name, n));
    return n;
  };
  const root = mkNode(undefined, '/', undefined);
  const live = (n: Node) => !n.spec?.deleted;
  const specOf = (n: Node): NodeCommon => n.spec ?? { name: '', ...o.root };

  // ---- forms, file pieces, directory stream sizes
  for (const n of nodes) {
    const s = specOf(n);
    if (!n.isDir) {
      const f = n.spec as UdfFileSpec;
      n.pieces = f.pieces ?? (f.data && f.data.length ? [{ kind: 'recorded', data: f.data }] : []);
      n.dataLength = n.pieces.reduce((a, p) => a + (p.kind === 'recorded' ? p.data.length : p.length), 0);
      n.form = s.ad ?? (metadata ? 'long' : 'short');
      if (metadata && n.form === 'short' && n.dataLength > 0) {
        throw new Error(`${n.path}: short_ads would put file data in the metadata partition (UDF 2.2.13)`);
      }
    } else {
      let size = fidSize(0); // parent FID
      for (const c of n.children) size += fidSize(fidName(c.spec!, rev).length);
      n.dataLength = size;
      n.form = s.ad ?? 'short';
    }
    n.pieces.forEach((p, i) => {
      const len = p.kind === 'recorded' ? p.data.length : p.length;
      if (len === 0) throw new Error(`${n.path}: empty piece`);
      if (i < n.pieces.length - 1 && len % bs) throw new Error(`${n.path}: only the last extent may end inside a block`);
    });
    if (n.form === 'embedded' && feHeader + n.dataLength > bs) throw new Error(`${n.path}: too large to embed`);
  }

  // ---- allocation in the partition that holds ICBs (the metadata partition, or the only one)
  const meta = new Allocator(2); // 0: FSD, 1: Terminating Descriptor
  const dataInMeta = !metadata; // type 1 only: file data goes in the same partition
  // ICBs first, breadth first
  for (const n of nodes) n.icbLbn = meta.take(1);
  const chainCount = (n: Node, nPieces: number) => {
    if (n.form === 'embedded') return 0;
    const k = specOf(n).adsPerDescriptor ?? Infinity;
    if (nPieces <= k) return 0;
    return Math.ceil((nPieces - k) / k); // each container holds k data ADs + a next AD (the last one: the rest)
  };
  const placeExtents = (n: Node, alloc: Allocator) => {
    const gaps = specOf(n).gaps ?? true;
    let first = true;
    for (const p of n.pieces) {
      if (p.kind === 'unallocated') {
        n.extents.push({ piece: p, lbn: 0, blocks: 0 });
        continue;
      }
      if (!first && gaps) alloc.take(1); // junk block in between
      first = false;
      const len = p.kind === 'recorded' ? p.data.length : p.length;
      const blocks = Math.ceil(len / bs);
      n.extents.push({ piece: p, lbn: alloc.take(blocks), blocks });
    }
  };
  // directory data and AEDs live with the ICBs
  for (const n of nodes) {
    if (n.isDir && n.form !== 'embedded') {
      const split = (n.spec as UdfDirSpec | undefined)?.splitBlocks;
      const chunk = split ? split * bs : n.dataLength;
      n.pieces = [];
      for (let at = 0; at < n.dataLength; at += chunk) n.pieces.push({ kind: 'recorded', data: Buffer.alloc(Math.min(chunk, n.dataLength - at)) });
      if (metadata && o.straddle === n.path) {
        if (n.dataLength <= bs) throw new Error('straddle: the directory needs two blocks of data');
        // start one block before an allocation-unit boundary; the metadata file is cut there
        const boundary = Math.ceil((meta.next + 1) / allocUnit) * allocUnit;
        meta.next = boundary - 1;
      }
      placeExtents(n, meta);
    }
    n.aedLbns = Array.from({ length: chainCount(n, n.pieces.length) }, () => meta.take(1));
  }
  const straddleNode = o.straddle ? nodes.find((n) => n.path === o.straddle) : undefined;
  if (o.straddle && !straddleNode) throw new Error(`straddle: no directory ${o.straddle}`);

  // ---- the physical partition
  const phys = dataInMeta ? meta : new Allocator(0);
  let metaBlocks = 0;
  let metaExtents: { lbn: number; blocks: number; metaStart: number }[] = [];
  let mirrorExtents: { lbn: number; blocks: number; metaStart: number }[] = [];
  const metaFeLbn = 0;
  const mirrorFeLbn = 1;
  if (metadata) {
    phys.take(2); // metadata file and mirror file entries
    const pieces = o.metadataPieces ?? 3;
    metaBlocks = Math.max(Math.ceil(meta.next / allocUnit), pieces) * allocUnit;
    const units = metaBlocks / allocUnit;
    // cut points, in allocation units: the straddle boundary plus evenly spread ones
    const cuts = new Set<number>();
    if (straddleNode && pieces > 1) cuts.add(Math.ceil(straddleNode.extents[0]!.lbn / allocUnit));
    for (let i = 1; i < pieces && cuts.size < pieces - 1; i++) cuts.add(Math.round((i * units) / pieces));
    for (let c = 1; c < units && cuts.size < pieces - 1; c++) cuts.add(c);
    const bounds = [0, ...[...cuts].sort((a, b) => a - b), units];
    const lay = (n: number) => {
      const out: { lbn: number; blocks: number; metaStart: number }[] = [];
      const b = n === pieces ? bounds : [0, ...Array.from({ length: n - 1 }, (_, i) => Math.round(((i + 1) * units) / n)), units];
      for (let i = 0; i + 1 < b.length; i++) {
        if (i > 0) phys.take(1 + i); // gaps of growing size: nothing lines up by accident
        const blocks = (b[i + 1]! - b[i]!) * allocUnit;
        out.push({ lbn: phys.take(blocks), blocks, metaStart: b[i]! * allocUnit });
      }
      return out;
    };
    metaExtents = lay(pieces);
    phys.take(3);
    mirrorExtents = lay(o.mirrorPieces ?? pieces);
  }
  // file data
  for (const n of nodes) if (!n.isDir && n.form !== 'embedded') placeExtents(n, phys);

  // The partition ends with the last block used: 7-Zip only accepts zero blocks before the closing anchor.
  const partLen = phys.next;
  const partitionStart = 257;
  const vrsEnd = 32768 + 3 * Math.max(bs, 2048);
  const mainVds = Math.ceil(vrsEnd / bs);
  const reserveVds = mainVds + 16;
  const lvidLoc = reserveVds + 16;
  const lvidBlocks = Math.max(2, Math.ceil(8192 / bs));
  if (lvidLoc + lvidBlocks > 256) throw new Error('volume descriptors do not fit before sector 256');
  const totalBlocks = partitionStart + partLen + 1; // last block: the second anchor
  const img = Buffer.alloc(totalBlocks * bs);

  // ---- where a metadata-partition block is in the image
  const physOffset = (lbn: number) => (partitionStart + lbn) * bs;
  const offsetIn = (exts: typeof metaExtents, lbn: number): number => {
    if (!metadata) return physOffset(lbn);
    for (const e of exts) if (lbn >= e.metaStart && lbn < e.metaStart + e.blocks) return physOffset(e.lbn + lbn - e.metaStart);
    throw new Error(`metadata block ${lbn} outside the metadata file`);
  };
  const metaOffset = (lbn: number) => offsetIn(metaExtents, lbn);
  const icbPartRef = metaRef;
  const dataPartRef = (n: Node) => (n.isDir ? metaRef : physRef);
  const dataOffset = (n: Node, lbn: number) => (n.isDir ? metaOffset(lbn) : physOffset(lbn));
  // The metadata partition is assembled in its own buffer and then copied to both files.
  const metaBuf = metadata ? Buffer.alloc(metaBlocks * bs) : undefined;
  const metaBlock = (lbn: number): [Buffer, number] => (metaBuf ? [metaBuf, lbn * bs] : [img, physOffset(lbn)]);

  // junk in every block of the partition that nothing else claims
  img.fill(JUNK, partitionStart * bs, (partitionStart + partLen) * bs);
  metaBuf?.fill(JUNK);

  // ---- directory FID streams
  const fidOffsets = new Map<string, number>();
  for (const n of nodes) {
    if (!n.isDir) continue;
    const stream = Buffer.alloc(n.dataLength);
    // the lbn, within the directory's partition, of the block that holds stream byte `at`
    const lbnAt = (at: number) => {
      if (n.form === 'embedded') return n.icbLbn;
      let off = at;
      for (const e of n.extents) {
        const len = e.piece.kind === 'recorded' ? e.piece.data.length : e.piece.length;
        if (off < len) return e.lbn + Math.floor(off / bs);
        off -= len;
      }
      throw new Error('FID outside directory data');
    };
    let p = 0;
    const fid = (chars: number, name: Buffer, icbLbn: number, icbLen: number, unique: number) => {
      const size = fidSize(name.length);
      writeTag(stream, p, 257, tagVersion, lbnAt(p));
      stream.writeUInt16LE(1, p + 16); // file version number
      stream[p + 18] = chars;
      stream[p + 19] = name.length;
      stream.writeUInt32LE(icbLen, p + 20); // ICB long_ad: one block
      stream.writeUInt32LE(icbLbn >>> 0, p + 24);
      stream.writeUInt16LE(icbLen ? icbPartRef : 0, p + 28);
      stream.writeUInt32LE(unique >>> 0, p + 32); // ADImpUse: flags (2 bytes), UDF unique id (UDF 2.3.4.3)
      stream.writeUInt16LE(implUse, p + 36);
      if (implUse) writeRegId(stream, p + 38, IMPL_ID);
      name.copy(stream, p + 38 + implUse);
      finishTag(stream, p, size - 16);
      const at = p;
      p += size;
      return at;
    };
    const parent = n.parent ?? n;
    fid(0x02 | 0x08, Buffer.alloc(0), parent.icbLbn, bs, parent.uniqueId);
    for (const c of n.children) {
      const s = c.spec!;
      const chars = (s.hidden ? 0x01 : 0) | (c.isDir ? 0x02 : 0) | (s.deleted ? 0x04 : 0);
      const name = fidName(s, rev);
      // UDF 2.3.4.2: the ICB of a deleted FID is zeroed when its space is freed
      c.fidAt = s.deleted ? fid(chars, name, 0, 0, 0) : fid(chars, name, c.icbLbn, bs, c.uniqueId);
    }
    if (p !== stream.length) throw new Error('FID size mismatch');
    n.fidStream = stream;
  }
  // Image offset of byte `at` of a directory's FID stream (block by block: a metadata-partition
  // extent may be cut between two metadata-file extents).
  const streamOffset = (dir: Node, at: number): number => {
    if (dir.form === 'embedded') return metaOffset(dir.icbLbn) + feHeader + at;
    let off = at;
    for (const e of dir.extents) {
      const len = e.piece.kind === 'recorded' ? e.piece.data.length : e.piece.length;
      if (off < len) return metaOffset(e.lbn + Math.floor(off / bs)) + (off % bs);
      off -= len;
    }
    throw new Error('offset outside the directory');
  };

  // ---- data extents
  for (const n of nodes) {
    if (n.form === 'embedded') continue;
    let streamAt = 0;
    for (const e of n.extents) {
      const len = e.piece.kind === 'recorded' ? e.piece.data.length : e.piece.length;
      if (e.piece.kind === 'recorded') {
        const bytes = n.isDir ? n.fidStream!.subarray(streamAt, streamAt + len) : e.piece.data;
        for (let b = 0; b < e.blocks; b++) {
          const [buf, off] = n.isDir ? metaBlock(e.lbn + b) : [img, physOffset(e.lbn + b)];
          buf.fill(0, off, off + bs);
          bytes.copy(buf, off, b * bs, Math.min(len, (b + 1) * bs));
        }
      } else if (e.piece.kind === 'allocated') {
        for (let b = 0; b < e.blocks; b++) {
          const [buf, off] = n.isDir ? metaBlock(e.lbn + b) : [img, physOffset(e.lbn + b)];
          buf.fill(UNRECORDED_JUNK, off, off + bs);
        }
      }
      streamAt += len;
    }
  }

  // ---- (Extended) File Entries and Allocation Extent Descriptors
  const writeEntry = (
    buf: Buffer,
    at: number,
    lbn: number,
    fields: {
      fileType: number;
      form: AdForm;
      s: NodeCommon;
      infoLength: number;
      blocksRecorded: number;
      uniqueId: number;
      links: number;
      area: Buffer; // allocation descriptors or embedded data
    },
  ) => {
    buf.fill(0, at, at + bs);
    if (feHeader + fields.area.length > bs) throw new Error(`ICB area too large at block ${lbn}`);
    if (eaLength) {
      const ea = at + feHeader - eaLength;
      writeTag(buf, ea, 262, tagVersion, lbn); // Extended Attribute Header Descriptor (4/14.10.1)
      buf.writeUInt32LE(24, ea + 16); // implementation attributes location
      buf.writeUInt32LE(eaLength, ea + 20); // application attributes location: none
      finishTag(buf, ea, 8);
      const iu = ea + 24; // Implementation Use Extended Attribute (4/14.10.8)
      buf.writeUInt32LE(2048, iu);
      buf[iu + 4] = 1; // attribute subtype
      buf.writeUInt32LE(52, iu + 8); // attribute length
      buf.writeUInt32LE(4, iu + 12); // implementation use length
      writeRegId(buf, iu + 16, '*UDF FreeEASpace', udfSuffix(rev));
      let sum = 0;
      for (let i = 0; i < 48; i++) sum += buf[iu + i]!;
      buf.writeUInt16LE(sum & 0xffff, iu + 48); // header checksum (UDF 3.3.4.5.1)
    }
    writeTag(buf, at, efe ? 266 : 261, tagVersion, lbn);
    // ICB tag (4/14.6): strategy 4, one entry, file type, AD form in the flags
    buf.writeUInt16LE(4, at + 16 + 4);
    buf.writeUInt16LE(1, at + 16 + 8);
    buf[at + 16 + 11] = fields.fileType;
    buf.writeUInt16LE(AD_FORM_CODE[fields.form], at + 16 + 18);
    buf.writeUInt32LE((fields.s.uid ?? 0xffffffff) >>> 0, at + 36);
    buf.writeUInt32LE((fields.s.gid ?? 0xffffffff) >>> 0, at + 40);
    buf.writeUInt32LE(udfPermissions(fields.s.mode ?? (fields.fileType === 4 ? 0o755 : 0o644)), at + 44);
    buf.writeUInt16LE(fields.links, at + 48);
    buf.writeBigUInt64LE(BigInt(fields.infoLength), at + 56);
    const mtime = fields.s.mtime;
    const atime = fields.s.atime ?? mtime;
    if (efe) {
      buf.writeBigUInt64LE(BigInt(fields.infoLength), at + 64); // object size: no streams
      buf.writeBigUInt64LE(BigInt(fields.blocksRecorded), at + 72);
      writeTimestamp(buf, at + 80, atime);
      writeTimestamp(buf, at + 92, mtime);
      writeTimestamp(buf, at + 104, fields.s.ctime ?? mtime);
      writeTimestamp(buf, at + 116, mtime);
      buf.writeUInt32LE(1, at + 128); // checkpoint
      writeRegId(buf, at + 168, IMPL_ID);
      buf.writeBigUInt64LE(BigInt(fields.uniqueId), at + 200);
      buf.writeUInt32LE(eaLength, at + 208);
      buf.writeUInt32LE(fields.area.length, at + 212);
    } else {
      buf.writeBigUInt64LE(BigInt(fields.blocksRecorded), at + 64);
      writeTimestamp(buf, at + 72, atime);
      writeTimestamp(buf, at + 84, mtime);
      writeTimestamp(buf, at + 96, mtime);
      buf.writeUInt32LE(1, at + 108);
      writeRegId(buf, at + 128, IMPL_ID);
      buf.writeBigUInt64LE(BigInt(fields.uniqueId), at + 160);
      buf.writeUInt32LE(eaLength, at + 168);
      buf.writeUInt32LE(fields.area.length, at + 172);
    }
    fields.area.copy(buf, at + feHeader);
    finishTag(buf, at, feHeader + fields.area.length - 16);
  };

  const nodeLayouts = new Map<string, NodeLayout>();
  for (const n of nodes) {
    const s = specOf(n);
    const form = n.form;
    let area: Buffer;
    const aeds: { offset: number; lbn: number }[] = [];
    if (form === 'embedded') {
      area = n.isDir ? n.fidStream! : Buffer.concat(n.pieces.map((p) => (p.kind === 'recorded' ? p.data : Buffer.alloc(p.length))));
    } else {
      const ads: Ad[] = n.extents.map((e) => {
        const len = e.piece.kind === 'recorded' ? e.piece.data.length : e.piece.length;
        return { type: e.piece.kind, length: len, lbn: e.lbn, partRef: dataPartRef(n) };
      });
      const k = s.adsPerDescriptor ?? Infinity;
      const enc = (list: Ad[]) => Buffer.concat(list.map((a) => encodeAd(form, a)));
      // the ICB holds k ADs, then each AED k more; every container but the last ends with a type 3 AD
      const groups: Ad[][] = [];
      if (ads.length <= k) groups.push(ads);
      else for (let i = 0; i < ads.length; i += k) groups.push(ads.slice(i, i + k));
      if (groups.length - 1 !== n.aedLbns.length) throw new Error('AED count mismatch');
      const next = (i: number): Ad => ({ type: 'next', length: bs, lbn: n.aedLbns[i]!, partRef: icbPartRef });
      area = enc(groups.length > 1 ? [...groups[0]!, next(0)] : groups[0]!);
      for (let g = 1; g < groups.length; g++) {
        const lbn = n.aedLbns[g - 1]!;
        const [buf, off] = metaBlock(lbn);
        buf.fill(0, off, off + bs);
        const body = enc(g + 1 < groups.length ? [...groups[g]!, next(g)] : groups[g]!);
        if (24 + body.length > bs) throw new Error('AED overflow');
        writeTag(buf, off, 258, tagVersion, lbn);
        buf.writeUInt32LE(g > 1 ? n.aedLbns[g - 2]! : 0, off + 16); // previous allocation extent location
        buf.writeUInt32LE(body.length, off + 20);
        body.copy(buf, off + 24);
        // UDF 2.3.11 (2.00+): the CRC covers the allocation descriptors too
        finishTag(buf, off, rev >= 0x0200 ? 8 + body.length : 8);
        aeds.push({ offset: metaOffset(lbn), lbn });
      }
    }
    const links = n.isDir ? 1 + n.children.filter((c) => c.isDir && live(c)).length : 1;
    const f = n.spec?.type === 'file' ? n.spec : undefined;
    const blocksRecorded = n.extents.filter((e) => e.piece.kind === 'recorded').reduce((a, e) => a + e.blocks, 0);
    const [buf, off] = metaBlock(n.icbLbn);
    writeEntry(buf, off, n.icbLbn, {
      fileType: n.isDir ? 4 : (f?.fileType ?? 5),
      form,
      s,
      infoLength: f?.declaredSize ?? n.dataLength,
      blocksRecorded,
      uniqueId: n.uniqueId,
      links,
      area,
    });
    nodeLayouts.set(n.path, {
      path: n.path,
      type: n.isDir ? 'dir' : 'file',
      icb: { partRef: icbPartRef, lbn: n.icbLbn },
      icbOffset: metaOffset(n.icbLbn),
      fidOffset: n.parent ? streamOffset(n.parent, n.fidAt) : undefined,
      fid: n.parent ? Buffer.from(n.parent.fidStream!.subarray(n.fidAt, n.fidAt + fidSize(fidName(n.spec!, rev).length))) : undefined,
      aeds,
      form,
      extents:
        form === 'embedded'
          ? n.dataLength
            ? [{ offset: metaOffset(n.icbLbn) + feHeader, length: n.dataLength, kind: 'recorded', lbn: n.icbLbn }]
            : []
          : n.extents.map((e) => ({
              offset: e.piece.kind === 'unallocated' ? 0 : dataOffset(n, e.lbn),
              length: e.piece.kind === 'recorded' ? e.piece.data.length : e.piece.length,
              kind: e.piece.kind,
              lbn: e.lbn,
            })),
    });
  }
  const deletedFids = new Map<string, { offset: number; fid: Buffer }>();
  const collectDeleted = (n: Node) => {
    for (const c of n.children) {
      const fid = () => Buffer.from(n.fidStream!.subarray(c.fidAt, c.fidAt + fidSize(fidName(c.spec!, rev).length)));
      if (c.spec?.deleted) deletedFids.set(c.path, { offset: streamOffset(n, c.fidAt), fid: fid() });
      else if (c.isDir) collectDeleted(c);
    }
  };
  collectDeleted(root);

  // ---- File Set Descriptor (4/14.1) and its Terminating Descriptor, at blocks 0 and 1
  {
    const [buf, off] = metaBlock(0);
    buf.fill(0, off, off + bs);
    writeTag(buf, off, 256, tagVersion, 0);
    writeTimestamp(buf, off + 16, recording);
    buf.writeUInt16LE(3, off + 28); // interchange level
    buf.writeUInt16LE(3, off + 30);
    buf.writeUInt32LE(1, off + 32); // character set list: CS0
    buf.writeUInt32LE(1, off + 36);
    writeCharspec(buf, off + 48);
    writeDString(buf, off + 112, 128, o.logicalVolumeId ?? 'OVERNIGHT UDF');
    writeCharspec(buf, off + 240);
    writeDString(buf, off + 304, 32, o.fileSetId ?? 'OVERNIGHT FILESET');
    buf.writeUInt32LE(bs, off + 400); // root directory ICB long_ad
    buf.writeUInt32LE(root.icbLbn, off + 404);
    buf.writeUInt16LE(icbPartRef, off + 408);
    writeRegId(buf, off + 416, '*OSTA UDF Compliant', udfSuffix(rev));
    finishTag(buf, off, 512 - 16);
    const [tb, toff] = metaBlock(1);
    tb.fill(0, toff, toff + bs);
    writeTag(tb, toff, 8, tagVersion, 1);
    finishTag(tb, toff, 512 - 16);
  }

  // ---- metadata file and mirror: (E)FEs in the physical partition, short_ads relative to it (UDF 2.2.13.1)
  let metadataFile: UdfImage['metadataFile'];
  let mirrorFile: UdfImage['mirrorFile'];
  if (metadata && metaBuf) {
    const put = (exts: typeof metaExtents, feLbn: number, fileType: number) => {
      for (const e of exts) metaBuf.copy(img, physOffset(e.lbn), e.metaStart * bs, (e.metaStart + e.blocks) * bs);
      const area = Buffer.concat(exts.map((e) => encodeAd('short', { type: 'recorded', length: e.blocks * bs, lbn: e.lbn, partRef: physRef })));
      writeEntry(img, physOffset(feLbn), feLbn, {
        fileType,
        form: 'short',
        s: { name: '', mode: 0, uid: 0, gid: 0, mtime: recording },
        infoLength: metaBlocks * bs,
        blocksRecorded: metaBlocks,
        uniqueId: 0,
        links: 1,
        area,
      });
      return { icbOffset: physOffset(feLbn), lbn: feLbn, extents: exts.map((e) => ({ ...e })) };
    };
    if ((o.mirrorPieces ?? o.metadataPieces ?? 3) !== mirrorExtents.length) throw new Error('mirror layout');
    metadataFile = put(metaExtents, metaFeLbn, 250);
    mirrorFile = put(mirrorExtents, mirrorFeLbn, 251);
  }

  // ---- Volume Recognition Sequence (2/9.1): BEA01, NSR0x, TEA01, each in its own 2048-byte (or block) slot
  const vsdStride = Math.max(bs, 2048);
  ['BEA01', rev >= 0x0200 ? 'NSR03' : 'NSR02', 'TEA01'].forEach((id, i) => {
    const at = 32768 + i * vsdStride;
    img[at] = 0; // structure type
    img.write(id, at + 1, 'latin1');
    img[at + 6] = 1; // structure version
  });

  // ---- Volume Descriptor Sequences (3/8.4): PVD, IUVD, PD, LVD, USD, TD — main and reserve copies
  const lvdLength = 440 + (metadata ? 6 + 64 : 6);
  let lvdOffset = 0;
  const writeVds = (start: number) => {
    let loc = start;
    let seq = 0;
    const at = () => loc * bs;
    // Primary Volume Descriptor (3/10.1)
    writeTag(img, at(), 1, tagVersion, loc);
    img.writeUInt32LE(seq++, at() + 16);
    img.writeUInt32LE(0, at() + 20);
    writeDString(img, at() + 24, 32, o.volumeId ?? 'OVERNIGHT');
    img.writeUInt16LE(1, at() + 56); // volume sequence number
    img.writeUInt16LE(1, at() + 58);
    img.writeUInt16LE(2, at() + 60); // interchange level
    img.writeUInt16LE(3, at() + 62);
    img.writeUInt32LE(1, at() + 64);
    img.writeUInt32LE(1, at() + 68);
    writeDString(img, at() + 72, 128, o.volumeSetId ?? '0123456789ABCDEFovernight');
    writeCharspec(img, at() + 200);
    writeCharspec(img, at() + 264);
    writeRegId(img, at() + 344, '*overnight');
    writeTimestamp(img, at() + 376, recording);
    writeRegId(img, at() + 388, IMPL_ID);
    finishTag(img, at(), 512 - 16);
    loc++;
    // Implementation Use Volume Descriptor (3/10.4) with UDF LV Info (UDF 2.2.7)
    writeTag(img, at(), 4, tagVersion, loc);
    img.writeUInt32LE(seq++, at() + 16);
    writeRegId(img, at() + 20, '*UDF LV Info', udfSuffix(rev));
    writeCharspec(img, at() + 52);
    writeDString(img, at() + 116, 128, o.logicalVolumeId ?? 'OVERNIGHT UDF');
    writeRegId(img, at() + 352, IMPL_ID);
    finishTag(img, at(), 512 - 16);
    loc++;
    // Partition Descriptor (3/10.5)
    writeTag(img, at(), 5, tagVersion, loc);
    img.writeUInt32LE(seq++, at() + 16);
    img.writeUInt16LE(1, at() + 20); // allocated
    img.writeUInt16LE(0, at() + 22); // partition number
    writeRegId(img, at() + 24, rev >= 0x0200 ? '+NSR03' : '+NSR02');
    img.writeUInt32LE(1, at() + 184); // access type: read only
    img.writeUInt32LE(partitionStart, at() + 188);
    img.writeUInt32LE(partLen, at() + 192);
    writeRegId(img, at() + 196, IMPL_ID);
    finishTag(img, at(), 512 - 16);
    loc++;
    // Logical Volume Descriptor (3/10.6)
    lvdOffset ||= at();
    writeTag(img, at(), 6, tagVersion, loc);
    img.writeUInt32LE(seq++, at() + 16);
    writeCharspec(img, at() + 20);
    writeDString(img, at() + 84, 128, o.logicalVolumeId ?? 'OVERNIGHT UDF');
    img.writeUInt32LE(bs, at() + 212);
    writeRegId(img, at() + 216, '*OSTA UDF Compliant', udfSuffix(rev));
    img.writeUInt32LE(2 * bs, at() + 248); // LV contents use: long_ad of the file set descriptor sequence
    img.writeUInt32LE(0, at() + 252);
    img.writeUInt16LE(icbPartRef, at() + 256);
    img.writeUInt32LE(lvdLength - 440, at() + 264);
    img.writeUInt32LE(metadata ? 2 : 1, at() + 268);
    writeRegId(img, at() + 272, IMPL_ID);
    img.writeUInt32LE(lvidBlocks * bs, at() + 432); // integrity sequence extent
    img.writeUInt32LE(lvidLoc, at() + 436);
    const maps: Buffer[] = [];
    const type1 = Buffer.alloc(6);
    type1[0] = 1;
    type1[1] = 6;
    type1.writeUInt16LE(1, 2); // volume sequence number
    type1.writeUInt16LE(0, 4); // partition number
    maps.push(type1);
    if (metadata) {
      // UDF 2.2.10 Metadata Partition Map
      const m = Buffer.alloc(64);
      m[0] = 2;
      m[1] = 64;
      writeRegId(m, 4, '*UDF Metadata Partition', udfSuffix(rev));
      m.writeUInt16LE(1, 36);
      m.writeUInt16LE(0, 38);
      m.writeUInt32LE(metaFeLbn, 40);
      m.writeUInt32LE(mirrorFeLbn, 44);
      m.writeUInt32LE(0xffffffff, 48); // no bitmap file: read-only partition
      m.writeUInt32LE(allocUnit, 52);
      m.writeUInt16LE(1, 56); // alignment unit
      m[58] = 1; // duplicate metadata flag: the mirror is a separate copy
      if (o.metadataMapFirst) maps.unshift(m);
      else maps.push(m);
    }
    Buffer.concat(maps).copy(img, at() + 440);
    finishTag(img, at(), lvdLength - 16);
    loc++;
    // Unallocated Space Descriptor (3/10.8): no free extents
    writeTag(img, at(), 7, tagVersion, loc);
    img.writeUInt32LE(seq++, at() + 16);
    img.writeUInt32LE(0, at() + 20);
    finishTag(img, at(), 24 - 16);
    loc++;
    // Terminating Descriptor (3/10.9)
    writeTag(img, at(), 8, tagVersion, loc);
    finishTag(img, at(), 512 - 16);
  };
  writeVds(mainVds);
  writeVds(reserveVds);

  // ---- Logical Volume Integrity Descriptor (3/10.10, UDF 2.2.6), closed, then a Terminating Descriptor
  {
    const at = lvidLoc * bs;
    const nParts = metadata ? 2 : 1;
    writeTag(img, at, 9, tagVersion, lvidLoc);
    writeTimestamp(img, at + 16, recording);
    img.writeUInt32LE(1, at + 28); // close
    img.writeBigUInt64LE(BigInt(uid), at + 40); // LV header: next unique id
    img.writeUInt32LE(nParts, at + 72);
    img.writeUInt32LE(46, at + 76);
    let p = at + 80;
    const sizes = metadata ? (o.metadataMapFirst ? [metaBlocks, partLen] : [partLen, metaBlocks]) : [partLen];
    for (let i = 0; i < nParts; i++, p += 4) img.writeUInt32LE(0, p); // free space
    for (let i = 0; i < nParts; i++, p += 4) img.writeUInt32LE(sizes[i]!, p); // size
    writeRegId(img, p, IMPL_ID);
    img.writeUInt32LE(nodes.filter((n) => !n.isDir).length, p + 32);
    img.writeUInt32LE(nodes.filter((n) => n.isDir).length, p + 36);
    img.writeUInt16LE(rev, p + 40); // minimum UDF read revision
    img.writeUInt16LE(rev, p + 42); // minimum UDF write revision
    img.writeUInt16LE(rev, p + 44); // maximum UDF write revision
    finishTag(img, at, 80 + nParts * 8 + 46 - 16);
    const td = (lvidLoc + 1) * bs;
    writeTag(img, td, 8, tagVersion, lvidLoc + 1);
    finishTag(img, td, 512 - 16);
  }

  // ---- Anchor Volume Descriptor Pointers (3/10.2) at 256 and N-1
  for (const loc of [256, totalBlocks - 1]) {
    const at = loc * bs;
    img.fill(0, at, at + bs);
    writeTag(img, at, 2, tagVersion, loc);
    img.writeUInt32LE(16 * bs, at + 16);
    img.writeUInt32LE(mainVds, at + 20);
    img.writeUInt32LE(16 * bs, at + 24);
    img.writeUInt32LE(reserveVds, at + 28);
    finishTag(img, at, 512 - 16);
  }

  return {
    image: img,
    blockSize: bs,
    partitionStart,
    physRef,
    metaRef,
    nodes: nodeLayouts,
    deletedFids,
    fsdOffset: metaOffset(0),
    lvdOffset,
    ...(metadataFile ? { metadataFile } : {}),
    ...(mirrorFile ? { mirrorFile } : {}),
    metaOffset,
    mirrorOffset: (lbn: number) => offsetIn(mirrorExtents, lbn),
  };
}

// ---------------------------------------------------------------- what a reader should see

export interface ExpectedEntry {
  path: string;
  type: 'file' | 'directory';
  size: number;
  mtime: Date | undefined;
  mode: number;
  hidden: boolean;
  uid: number;
  gid: number;
  /** File bytes (unrecorded extents as zeros). */
  data?: Buffer;
  /** File offsets where one extent ends and the next begins. */
  boundaries?: number[];
}

/** The tree a correct reader must show for these options: deleted entries gone, sparse extents as zeros. */
export function expectedTree(o: UdfImageOptions): Map<string, ExpectedEntry> {
  const out = new Map<string, ExpectedEntry>();
  const walk = (kids: UdfNodeSpec[], base: string) => {
    for (const k of kids) {
      if (k.deleted) continue;
      const path = base + k.name;
      const common = {
        path,
        mtime: k.mtime?.date,
        hidden: !!k.hidden,
        uid: k.uid ?? 0xffffffff,
        gid: k.gid ?? 0xffffffff,
      };
      if (k.type === 'dir') {
        out.set(path, { ...common, type: 'directory', size: 0, mode: k.mode ?? 0o755 });
        walk(k.children, path + '/');
      } else {
        const pieces = k.pieces ?? (k.data && k.data.length ? [{ kind: 'recorded' as const, data: k.data }] : []);
        const data = Buffer.concat(pieces.map((p) => (p.kind === 'recorded' ? p.data : Buffer.alloc(p.length))));
        const boundaries: number[] = [];
        let at = 0;
        for (const p of pieces.slice(0, -1)) boundaries.push((at += p.kind === 'recorded' ? p.data.length : p.length));
        out.set(path, { ...common, type: 'file', size: data.length, mode: k.mode ?? 0o644, data, boundaries });
      }
    }
  };
  walk(o.children, '/');
  return out;
}
