// UDF structures that no tool available here writes — metadata partitions (UDF 2.50/2.60) with a
// metadata file in several extents and a mirror, ext_ad, allocation extent descriptor chains,
// unrecorded extents, CS0 ids 254/255 — laid out by test/helpers/udf-writer.ts and read back
// through UdfVolume and VolumeFS. udfinfo and 7-Zip check the writer itself.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MediaError } from '../src/media/errors.ts';
import { VolumeFS } from '../src/media/fs.ts';
import { BufferSource } from '../src/media/source.ts';
import type { Extent, MediaEntry, VolumeNode } from '../src/media/types.ts';
import { decodeCS0 } from '../src/media/udf/descriptors.ts';
import { verifyTag } from '../src/media/udf/tag.ts';
import { UdfVolume, hasUdfRecognition } from '../src/media/udf/volume.ts';
import { pseudoRandom } from './helpers/iso.ts';
import { tempDir } from './helpers/tools.ts';
import {
  type AdForm,
  type ExpectedEntry,
  type Piece,
  type UdfImage,
  type UdfImageOptions,
  type UdfNodeSpec,
  encodeAd,
  expectedTree,
  retag,
  writeUdfImage,
} from './helpers/udf-writer.ts';

// ---------------------------------------------------------------- the tree every image carries

const rec = (data: Buffer): Piece => ({ kind: 'recorded', data });
const hole = (length: number, allocated = false): Piece => ({ kind: allocated ? 'allocated' : 'unallocated', length });
const when = (iso: string, tz: number | 'none') => ({ date: new Date(iso), tz });

interface Catalog {
  bs: number;
  files: Exclude<AdForm, 'embedded'>;
  dirs: Exclude<AdForm, 'embedded'>;
  /** Unrecorded extents (types 1 and 2). */
  sparse?: boolean;
  /** Allocation extent descriptor chains in files / in directories. */
  fileChains?: boolean;
  dirChains?: boolean;
}

function catalog(c: Catalog): UdfNodeSpec[] {
  const { bs, files: ad } = c;
  const sparse = c.sparse ?? true;
  const blocks = (n: number, seed: number) => pseudoRandom(n * bs, seed);
  const out: UdfNodeSpec[] = [
    {
      type: 'file',
      name: 'readme.txt',
      data: Buffer.from('UDF structures test\r\n'),
      ad,
      mtime: when('2023-05-06T07:08:09.123Z', 120),
      mode: 0o640,
      uid: 1000,
      gid: 100,
    },
    { type: 'file', name: 'Ωmega 東京.txt', ad, pieces: [rec(blocks(2, 1)), rec(pseudoRandom(300, 2))], mtime: when('1999-12-31T23:59:59.990Z', -300) },
    { type: 'file', name: 'Ünïcödé.bin', ad, data: pseudoRandom(bs + 1, 3), mode: 0o600, uid: 0, gid: 0 },
    { type: 'file', name: 'wide-ascii.txt', nameId: 16, ad, data: Buffer.from('16-bit CS0 for an ASCII name\n') },
    { type: 'file', name: 'hidden.sys', ad, data: Buffer.from('hidden\n'), hidden: true, mtime: when('2001-09-09T01:46:40Z', 0) },
    { type: 'file', name: 'embedded.ini', ad: 'embedded', data: Buffer.from('[embedded]\r\nkey=value\r\n'), mtime: when('2020-02-29T12:00:00Z', 'none') },
    { type: 'file', name: 'empty.bin', ad },
    // UDF 2.3.4.2: deleted names keep their bytes but get compression id 254 (8-bit) or 255 (16-bit)
    { type: 'file', name: 'deleted-8.txt', deleted: true },
    { type: 'file', name: '削除済み.txt', deleted: true },
    { type: 'dir', name: 'legacy-deleted', deleted: true, nameId: 8, children: [] }, // pre-2.50 writers keep id 8
    { type: 'file', name: 'contiguous.bin', ad, gaps: false, pieces: [rec(blocks(1, 11)), rec(blocks(2, 12)), rec(pseudoRandom(5, 13))] },
    {
      type: 'dir',
      name: 'sources',
      ad: c.dirs,
      splitBlocks: 1,
      ...(c.dirChains ?? true ? { adsPerDescriptor: 1 } : {}),
      mtime: when('2015-07-29T17:00:00Z', 60),
      children: [
        { type: 'file', name: 'install.wim', ad, pieces: [rec(blocks(3, 20)), rec(blocks(2, 21)), rec(pseudoRandom(bs / 2 + 3, 22))] },
        ...Array.from({ length: 60 }, (_, i): UdfNodeSpec => ({
          type: 'file',
          name: `file-${String(i).padStart(2, '0')}.txt`,
          data: Buffer.from(`file ${i}\n`),
          ad: i % 3 === 0 ? 'embedded' : ad,
        })),
        {
          type: 'dir',
          name: 'deep',
          ad: c.dirs,
          children: [{ type: 'dir', name: 'er', children: [{ type: 'dir', name: 'est', children: [{ type: 'file', name: 'leaf.txt', ad, data: Buffer.from('leaf\n') }] }] }],
        },
      ],
    },
    {
      // contiguous directory data of 2+ blocks: in metadata images it straddles two metadata-file extents
      type: 'dir',
      name: 'many',
      ad: c.dirs,
      children: Array.from({ length: 60 }, (_, i): UdfNodeSpec =>
        i % 10 === 9
          ? { type: 'file', name: `a-removed-entry-with-a-long-name-${i}.txt`, deleted: true }
          : { type: 'file', name: `a-much-longer-file-name-number-${String(i).padStart(2, '0')}.txt`, ad, data: Buffer.from(`#${i}`) },
      ),
    },
    { type: 'dir', name: 'empty dir', ad: 'embedded', children: [] },
    { type: 'dir', name: 'Hidden Dir', ad: c.dirs, hidden: true, mode: 0o700, children: [{ type: 'file', name: 'inside.txt', ad, data: Buffer.from('inside\n') }] },
  ];
  if (sparse) {
    out.push(
      // recorded, allocated-not-recorded, recorded, not-allocated, recorded tail
      { type: 'file', name: 'sparse.bin', ad, pieces: [rec(blocks(2, 4)), hole(3 * bs, true), rec(blocks(1, 5)), hole(4 * bs), rec(pseudoRandom(777, 6))] },
      { type: 'file', name: 'sparse-tail.bin', ad, pieces: [rec(blocks(1, 14)), hole(2 * bs + 10)] },
      { type: 'file', name: 'all-hole.bin', ad, pieces: [hole(3 * bs, true)] },
    );
  }
  if (c.fileChains ?? true) {
    out.push(
      // ICB → AED → AED: two hops
      {
        type: 'file',
        name: 'chain.bin',
        ad,
        adsPerDescriptor: 2,
        pieces: [rec(blocks(1, 7)), rec(blocks(2, 8)), sparse ? hole(bs, true) : rec(blocks(1, 30)), rec(blocks(1, 9)), rec(pseudoRandom(100, 10))],
      },
      // one data AD per descriptor: eleven hops
      { type: 'file', name: 'long-chain.bin', ad, adsPerDescriptor: 1, pieces: Array.from({ length: 12 }, (_, i) => (sparse && i % 4 === 2 ? hole(bs, i % 8 === 2) : rec(blocks(1, 40 + i)))) },
    );
  }
  return out;
}

const ROOT = { mtime: when('2024-03-04T05:06:07Z', 0), mode: 0o755 };

interface Case {
  name: string;
  opts: UdfImageOptions;
}

const cases: Case[] = [];
for (const bs of [2048, 512]) {
  for (const fe of ['fe', 'efe'] as const) {
    for (const form of ['short', 'long', 'extended'] as const) {
      const ea = fe === 'fe' && form === 'long';
      cases.push({
        name: `type 1 map, ${fe.toUpperCase()}, ${form}_ad${ea ? ', extended attributes' : ''}, ${bs}-byte blocks`,
        opts: { blockSize: bs, partitions: 'type1', fileEntries: fe, revision: 0x0201, extendedAttributes: ea, root: ROOT, children: catalog({ bs, files: form, dirs: form }) },
      });
    }
    for (const form of ['long', 'extended'] as const) {
      const rev: number = form === 'long' ? 0x0250 : 0x0260;
      const mapFirst = fe === 'fe' && form === 'extended';
      const ea = fe === 'efe' && form === 'extended';
      cases.push({
        name: `metadata partition (UDF ${rev.toString(16)}${mapFirst ? ', metadata map first' : ''}), ${fe.toUpperCase()}, ${form}_ad files${ea ? ', extended attributes' : ''}, ${bs}-byte blocks`,
        opts: {
          blockSize: bs,
          partitions: 'metadata',
          extendedAttributes: ea,
          metadataMapFirst: mapFirst,
          metadataPieces: 3,
          mirrorPieces: 2,
          straddle: '/many',
          fileEntries: fe,
          revision: rev,
          root: ROOT,
          children: catalog({ bs, files: form, dirs: form === 'long' ? 'short' : 'extended' }),
        },
      });
    }
  }
}

// Less common corners: UDF 1.50 (NSR02, descriptor version 2, AED CRC over the 8-byte header only,
// UDF 2.3.11), 4096-byte blocks (each volume structure descriptor in its own sector, 2/9.1), FIDs with
// a 32-byte implementation use field (UDF 2.3.4.5).
cases.push(
  {
    name: 'type 1 map, UDF 1.50 (NSR02), FE, short_ad, 2048-byte blocks',
    opts: { blockSize: 2048, revision: 0x0150, fileEntries: 'fe', extendedAttributes: true, root: ROOT, children: catalog({ bs: 2048, files: 'short', dirs: 'short' }) },
  },
  {
    name: 'type 1 map, EFE, long_ad, FIDs with implementation use, 4096-byte blocks',
    opts: { blockSize: 4096, revision: 0x0201, fileEntries: 'efe', fidImplementationUse: true, root: ROOT, children: catalog({ bs: 4096, files: 'long', dirs: 'long' }) },
  },
  {
    name: 'metadata partition (UDF 260), EFE, extended_ad files, FIDs with implementation use, 4096-byte blocks',
    opts: {
      blockSize: 4096,
      partitions: 'metadata',
      metadataPieces: 2,
      mirrorPieces: 3,
      straddle: '/many',
      fileEntries: 'efe',
      revision: 0x0260,
      fidImplementationUse: true,
      root: ROOT,
      children: catalog({ bs: 4096, files: 'extended', dirs: 'short' }),
    },
  },
);

// ---------------------------------------------------------------- checking an image

const fmtExtent = (e: Extent) => (e.sparse ? `hole:${e.length}` : `${e.offset}+${e.length}`);

/** What the reader's extents must be: the writer's extents, contiguous pieces merged. */
function expectedExtents(u: UdfImage, path: string, viaMirror: boolean): string[] {
  const n = u.nodes.get(path)!;
  const out: { offset: number; length: number; sparse: boolean }[] = [];
  for (const e of n.extents) {
    let offset = e.kind === 'recorded' ? e.offset : 0;
    if (viaMirror && (n.form === 'embedded' || n.type === 'dir')) offset = offset - u.metaOffset(e.lbn) + u.mirrorOffset(e.lbn);
    const x = { offset, length: e.length, sparse: e.kind !== 'recorded' };
    const last = out[out.length - 1];
    if (last && !last.sparse && !x.sparse && last.offset + last.length === x.offset) last.length += x.length;
    else if (last && last.sparse && x.sparse) last.length += x.length;
    else out.push(x);
  }
  return out.map(fmtExtent);
}

async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function walkVolume(vol: UdfVolume, visit: (n: VolumeNode) => void): Promise<void> {
  const stack = [await vol.root()];
  while (stack.length) {
    const d = stack.pop()!;
    for (const k of await vol.children(d)) {
      visit(k);
      if (k.type === 'directory') stack.push(k);
    }
  }
}

function revisionString(rev: number): string {
  return `${(rev >> 8).toString(16)}.${(rev & 0xff).toString(16).padStart(2, '0')}`;
}

/** Opens the image and compares everything a reader shows with what the writer was told to write. */
async function checkImage(u: UdfImage, o: UdfImageOptions, opts: { viaMirror?: boolean } = {}): Promise<void> {
  const src = new BufferSource(u.image);
  assert.ok(await hasUdfRecognition(src), 'volume recognition sequence');
  const vol = await UdfVolume.open(src);
  const fs = new VolumeFS(vol, src);
  const metadata = o.partitions === 'metadata';
  assert.equal(vol.info.blockSize, u.blockSize);
  assert.equal(vol.info.udfRevision, revisionString(o.revision!));
  assert.deepEqual(vol.info.partitionMaps, metadata ? (o.metadataMapFirst ? ['metadata', 'type1'] : ['type1', 'metadata']) : ['type1']);
  assert.equal(vol.label, 'OVERNIGHT UDF');
  assert.equal(vol.info.fileSetIdentifier, 'OVERNIGHT FILESET');
  assert.equal(vol.info.volumeIdentifier, 'OVERNIGHT');

  const expected = expectedTree(o);
  const seen = new Map<string, MediaEntry>();
  for await (const e of fs.walk()) seen.set(e.path, e);
  assert.deepEqual([...seen.keys()].sort(), [...expected.keys()].sort(), 'the tree');
  for (const [path, x] of expected) {
    const e = seen.get(path)!;
    assert.equal(e.name, path.slice(path.lastIndexOf('/') + 1), path);
    assert.equal(e.type, x.type, path);
    assert.equal(e.size, x.size, path);
    assert.equal(e.mtime?.getTime(), x.mtime?.getTime(), `${path} mtime`);
    assert.equal(e.hidden, x.hidden, `${path} hidden`);
    assert.equal(e.mode, x.mode, `${path} mode`);
  }
  const root = await vol.root();
  assert.equal(root.mtime?.getTime(), ROOT.mtime.date.getTime());
  let owners = 0;
  await walkVolume(vol, (n) => {
    const { uid, gid } = (n.ref as { entry: { uid: number; gid: number } }).entry;
    const x = expected.get(n.path)!;
    assert.deepEqual([uid, gid], [x.uid, x.gid], `${n.path} uid/gid`);
    owners++;
  });
  assert.equal(owners, expected.size);

  for (const [path, x] of expected) {
    if (x.type !== 'file') continue;
    await checkFile(fs, u, path, x, !!opts.viaMirror);
  }
}

async function checkFile(fs: VolumeFS, u: UdfImage, path: string, x: ExpectedEntry, viaMirror: boolean): Promise<void> {
  const data = x.data!;
  const whole = await fs.read(path);
  assert.ok(whole.equals(data), `bytes of ${path}`);
  assert.ok((await collect(await fs.stream(path))).equals(data), `stream of ${path}`);
  // extents: where the writer put the data, and stitched from the image they give the bytes back
  const ext = await fs.extents(path);
  assert.deepEqual(ext.map(fmtExtent), expectedExtents(u, path, viaMirror), `extents of ${path}`);
  assert.equal(ext.reduce((a, e) => a + e.length, 0), data.length);
  const stitched = Buffer.concat(ext.map((e) => (e.sparse ? Buffer.alloc(e.length) : u.image.subarray(e.offset, e.offset + e.length))));
  assert.ok(stitched.equals(data), `extents of ${path} stitched from the image`);
  // ranges across every extent boundary, and a few others
  const size = data.length;
  const ranges: [number, number][] = [[0, 0], [size, size]];
  if (size > 2) ranges.push([1, size - 1]);
  for (const b of x.boundaries!) ranges.push([Math.max(0, b - 7), Math.min(size, b + 7)], [b, b + 1], [b - 1, b], [Math.max(0, b - u.blockSize - 1), Math.min(size, b + u.blockSize + 1)]);
  const rnd = pseudoRandom(16, size + 1);
  for (let i = 0; i + 3 < rnd.length && size > 0; i += 4) {
    const a = rnd.readUInt16LE(i) % size;
    const b = a + (rnd.readUInt16LE(i + 2) % (size - a + 1));
    ranges.push([a, b]);
  }
  for (const [s, e] of ranges) {
    assert.ok((await fs.read(path, s, e)).equals(data.subarray(s, e)), `${path} [${s}, ${e})`);
    assert.ok((await collect(await fs.stream(path, s, e))).equals(data.subarray(s, e)), `stream ${path} [${s}, ${e})`);
  }
}

/** The layout facts each case is meant to exercise, checked on the writer's side. */
function checkLayout(u: UdfImage, o: UdfImageOptions): void {
  const n = (p: string) => u.nodes.get(p)!;
  assert.equal(n('/chain.bin').aeds.length, 2, 'chain.bin: ICB → AED → AED');
  assert.equal(n('/long-chain.bin').aeds.length, 11);
  assert.ok(n('/sources').aeds.length >= 1, 'the directory itself chains');
  assert.equal(n('/embedded.ini').form, 'embedded');
  assert.deepEqual(
    n('/sparse.bin').extents.map((e) => e.kind),
    ['recorded', 'allocated', 'recorded', 'unallocated', 'recorded'],
  );
  // deleted FIDs: from UDF 2.50 on the name bytes get compression id 254/255 (the legacy one keeps 8)
  const v250 = o.revision! >= 0x0250;
  const iu = o.fidImplementationUse ? 32 : 0;
  const ids = new Map([...u.deletedFids].map(([p, { fid }]) => [p, fid[38 + iu]!]));
  assert.deepEqual(Object.fromEntries(ids), {
    '/deleted-8.txt': v250 ? 254 : 8,
    '/削除済み.txt': v250 ? 255 : 16,
    '/legacy-deleted': 8,
    ...Object.fromEntries(Array.from({ length: 6 }, (_, k) => [`/many/a-removed-entry-with-a-long-name-${k * 10 + 9}.txt`, v250 ? 254 : 8])),
  });
  for (const [p, { offset, fid }] of u.deletedFids) {
    const len = fid[19]!;
    assert.equal(fid.readUInt16LE(36), iu);
    assert.equal(decodeCS0(fid.subarray(38 + iu, 38 + iu + len)), p.slice(p.lastIndexOf('/') + 1), 'CS0 254/255 decode');
    assert.equal(fid[18]! & 0x04, 0x04);
    assert.equal(fid.readUInt16LE(0), 257);
    assert.equal(u.image[offset], 0x01, 'FID tag in the image'); // tag 257 = 0x0101
  }
  // FID tags (4/14.4, UDF 2.3.4): valid, and located at the block that holds the FID's first byte
  const fids = [...[...u.nodes.values()].flatMap((l) => (l.fid ? [[l.fidOffset!, l.fid] as const] : [])), ...[...u.deletedFids.values()].map((d) => [d.offset, d.fid] as const)];
  assert.equal(fids.length, u.nodes.size - 1 + u.deletedFids.size);
  for (const [offset, fid] of fids) {
    const tag = verifyTag(fid, 0, { ids: [257], where: {} });
    assert.equal(tag.descriptorCRCLength, fid.length - 16, 'FID CRC covers the padding');
    assert.equal(u.metaOffset(tag.tagLocation), offset - (offset % u.blockSize), 'FID tag location');
  }
  if (o.partitions === 'metadata') {
    const mf = u.metadataFile!;
    assert.equal(mf.extents.length, o.metadataPieces);
    assert.equal(u.mirrorFile!.extents.length, o.mirrorPieces);
    // the extents of the metadata file are not contiguous
    for (let i = 1; i < mf.extents.length; i++) assert.notEqual(mf.extents[i - 1]!.lbn + mf.extents[i - 1]!.blocks, mf.extents[i]!.lbn);
    // /many's directory data crosses from one metadata-file extent into the next
    const d = n('/many').extents[0]!;
    const starts = mf.extents.map((e) => e.metaStart);
    const cut = starts.find((s) => s > d.lbn && s < d.lbn + Math.ceil(d.length / u.blockSize));
    assert.ok(cut !== undefined, 'directory straddles two metadata extents');
    assert.notEqual(u.metaOffset(cut - 1) + u.blockSize, u.metaOffset(cut));
    // ICBs and FIDs in the metadata partition, file data in the physical one
    assert.equal(n('/readme.txt').icb.partRef, u.metaRef);
    assert.notEqual(u.metaRef, u.physRef);
  }
}

describe('UDF structures written to spec, read back', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const u = writeUdfImage(c.opts);
      checkLayout(u, c.opts);
      await checkImage(u, c.opts);
    });
  }
});

// ---------------------------------------------------------------- damaged images

const code =
  (...codes: string[]) =>
  (e: unknown) =>
    e instanceof MediaError && codes.includes(e.code);

async function openFs(img: Buffer): Promise<VolumeFS> {
  const src = new BufferSource(img);
  return new VolumeFS(await UdfVolume.open(src), src);
}

async function readEverything(img: Buffer): Promise<number> {
  const fs = await openFs(img);
  let n = 0;
  for await (const e of fs.walk()) {
    if (e.type === 'file') await fs.read(e.path);
    n++;
  }
  return n;
}

/** Replaces the allocation descriptors of an AED and fixes its tag. */
function rewriteAed(u: UdfImage, img: Buffer, at: number, ads: Buffer): void {
  img.fill(0, at + 24, at + u.blockSize);
  ads.copy(img, at + 24);
  img.writeUInt32LE(ads.length, at + 20);
  img.writeUInt16LE(8 + ads.length, at + 10);
  retag(img, at);
}

const FE_HEADER = { fe: 176, efe: 216 } as const;

describe('UDF structures: damage ends in a typed error', () => {
  const variants = [
    { name: 'type 1, short_ad', opts: cases.find((c) => c.name === 'type 1 map, EFE, short_ad, 2048-byte blocks')!.opts, fe: 'efe' as const },
    { name: 'metadata, long_ad', opts: cases.find((c) => c.name.startsWith('metadata partition (UDF 250), FE, long_ad files, 512'))!.opts, fe: 'fe' as const },
    { name: 'metadata, ext_ad', opts: cases.find((c) => c.name.startsWith('metadata partition (UDF 260, metadata map first), FE, extended_ad files, 2048'))!.opts, fe: 'fe' as const },
  ];
  for (const v of variants) {
    describe(v.name, () => {
      let u: UdfImage;
      before(() => {
        u = writeUdfImage(v.opts);
      });
      const fresh = () => Buffer.from(u.image);
      const next = (lbn: number) => encodeAd(u.nodes.get('/chain.bin')!.form as Exclude<AdForm, 'embedded'>, { type: 'next', length: u.blockSize, lbn, partRef: u.metaRef });

      it('the undamaged image reads', async () => {
        assert.equal(await readEverything(u.image), expectedTree(v.opts).size);
      });

      it('an AED chain that loops → E_LOOP (two AEDs, one AED pointing at itself, a directory chain)', async () => {
        const aeds = u.nodes.get('/chain.bin')!.aeds;
        const a = fresh();
        rewriteAed(u, a, aeds[1]!.offset, next(aeds[0]!.lbn));
        await assert.rejects((await openFs(a)).read('/chain.bin'), code('E_LOOP'));
        const b = fresh();
        rewriteAed(u, b, aeds[0]!.offset, next(aeds[0]!.lbn));
        await assert.rejects((await openFs(b)).read('/chain.bin'), code('E_LOOP'));
        const dir = u.nodes.get('/sources')!;
        const c = fresh();
        const dirNext = encodeAd(dir.form as Exclude<AdForm, 'embedded'>, { type: 'next', length: u.blockSize, lbn: dir.aeds[0]!.lbn, partRef: u.metaRef });
        rewriteAed(u, c, dir.aeds[0]!.offset, dirNext);
        await assert.rejects((await openFs(c)).list('/sources'), code('E_LOOP'));
        // the rest of the volume is still readable
        assert.ok((await (await openFs(c)).read('/readme.txt')).length > 0);
      });

      it('an AED with a bad checksum, identifier or location → E_BAD_TAG; a bad CRC → E_CRC', async () => {
        const at = u.nodes.get('/chain.bin')!.aeds[0]!.offset;
        const checksum = fresh();
        checksum[at + 4] = checksum[at + 4]! ^ 0x01;
        await assert.rejects((await openFs(checksum)).read('/chain.bin'), code('E_BAD_TAG'));
        const ident = fresh();
        ident.writeUInt16LE(261, at);
        retag(ident, at);
        await assert.rejects((await openFs(ident)).read('/chain.bin'), code('E_BAD_TAG'));
        const location = fresh();
        location.writeUInt32LE(location.readUInt32LE(at + 12) + 1, at + 12);
        retag(location, at);
        await assert.rejects((await openFs(location)).read('/chain.bin'), code('E_BAD_TAG'));
        const crc = fresh();
        crc[at + 24] = crc[at + 24]! ^ 0x10; // inside the allocation descriptors the CRC covers
        await assert.rejects((await openFs(crc)).read('/chain.bin'), code('E_CRC'));
        // the walk itself does not touch file allocation descriptors
        assert.equal((await (await openFs(crc)).stat('/chain.bin')).size, expectedTree(v.opts).get('/chain.bin')!.size);
      });

      it('allocation descriptors covering less than the information length → E_TRUNCATED', async () => {
        // the ICB's type 3 AD becomes a terminating zero-length AD: the chain is cut short
        const n = u.nodes.get('/chain.bin')!;
        const size = { short: 8, long: 16, extended: 20 }[n.form as 'short'];
        const img = fresh();
        const adArea = n.icbOffset + FE_HEADER[v.fe];
        img.fill(0, adArea + 2 * size, adArea + 3 * size);
        retag(img, n.icbOffset);
        await assert.rejects((await openFs(img)).read('/chain.bin'), code('E_TRUNCATED'));
        // extents() promises lengths that add up to the file size: it must refuse too
        await assert.rejects((await openFs(img)).extents('/chain.bin'), code('E_TRUNCATED'));
        // a File Entry that claims more bytes than its extents hold
        const big = writeUdfImage({
          ...v.opts,
          children: [...v.opts.children, { type: 'file', name: 'short.bin', ad: n.form, data: pseudoRandom(3000, 1), declaredSize: 3001 }],
        });
        const fs = await openFs(big.image);
        assert.equal((await fs.stat('/short.bin')).size, 3001);
        await assert.rejects(fs.read('/short.bin'), code('E_TRUNCATED'));
        await assert.rejects(fs.extents('/short.bin'), code('E_TRUNCATED'));
      });

      it('a partition reference that does not exist → E_FORMAT (FID ICB, file extent, File Set Descriptor)', async () => {
        const fid = fresh();
        const f = u.nodes.get('/readme.txt')!.fidOffset!;
        fid.writeUInt16LE(7, f + 28);
        retag(fid, f);
        await assert.rejects((await openFs(fid)).list('/'), code('E_FORMAT'));

        const lvd = fresh();
        lvd.writeUInt16LE(4, u.lvdOffset + 256); // LV contents use: long_ad of the FSD
        retag(lvd, u.lvdOffset);
        await assert.rejects(openFs(lvd), code('E_FORMAT'));

        const n = u.nodes.get('/Ωmega 東京.txt')!;
        if (n.form === 'long' || n.form === 'extended') {
          const data = fresh();
          data.writeUInt16LE(7, n.icbOffset + FE_HEADER[v.fe] + (n.form === 'long' ? 8 : 16));
          retag(data, n.icbOffset);
          await assert.rejects((await openFs(data)).read('/Ωmega 東京.txt'), code('E_FORMAT'));
        }
      });

      it('an unknown CS0 compression id or a reserved AD form → E_FORMAT', async () => {
        const cs0 = fresh();
        const f = u.nodes.get('/readme.txt')!.fidOffset!;
        cs0[f + 38] = 12;
        retag(cs0, f);
        await assert.rejects((await openFs(cs0)).list('/'), code('E_FORMAT'));
        const form = fresh();
        const icb = u.nodes.get('/readme.txt')!.icbOffset;
        form.writeUInt16LE((form.readUInt16LE(icb + 34) & ~7) | 4, icb + 34);
        retag(form, icb);
        await assert.rejects((await openFs(form)).list('/'), code('E_FORMAT'));
      });

      if (v.opts.partitions === 'metadata') {
        it('a damaged metadata file: the mirror is used, and every byte still reads', async () => {
          const mf = u.metadataFile!;
          const damages: [string, (img: Buffer) => void][] = [
            ['CRC', (img) => (img[mf.icbOffset + 100] = img[mf.icbOffset + 100]! ^ 0xff)],
            ['checksum', (img) => (img[mf.icbOffset + 4] = img[mf.icbOffset + 4]! ^ 0xff)],
            [
              'file type',
              (img) => {
                img[mf.icbOffset + 27] = 5;
                retag(img, mf.icbOffset);
              },
            ],
            [
              'tag location',
              (img) => {
                img.writeUInt32LE(99, mf.icbOffset + 12);
                retag(img, mf.icbOffset);
              },
            ],
          ];
          for (const [what, damage] of damages) {
            const img = fresh();
            damage(img);
            await checkImage({ ...u, image: img }, v.opts, { viaMirror: true }).catch((e: unknown) => {
              throw new Error(`metadata file with a bad ${what}: ${String(e)}`);
            });
          }
          // a damaged mirror alone changes nothing
          const img = fresh();
          img[u.mirrorFile!.icbOffset + 100] = img[u.mirrorFile!.icbOffset + 100]! ^ 0xff;
          await checkImage({ ...u, image: img }, v.opts);
        });

        it('metadata file and mirror both damaged → E_CRC / E_BAD_TAG; no physical partition → E_FORMAT', async () => {
          const both = fresh();
          both[u.metadataFile!.icbOffset + 100] = both[u.metadataFile!.icbOffset + 100]! ^ 0xff;
          both[u.mirrorFile!.icbOffset + 4] = both[u.mirrorFile!.icbOffset + 4]! ^ 0xff;
          await assert.rejects(openFs(both), code('E_CRC', 'E_BAD_TAG'));
          const types = fresh();
          for (const at of [u.metadataFile!.icbOffset, u.mirrorFile!.icbOffset]) {
            types[at + 27] = 4; // a directory is not a metadata file
            retag(types, at);
          }
          await assert.rejects(openFs(types), code('E_FORMAT'));
          // the metadata map names partition 9, which no type 1 map covers
          const lvd = fresh();
          const map = u.lvdOffset + 440 + (v.opts.metadataMapFirst ? 0 : 6);
          assert.equal(lvd.subarray(map + 5, map + 28).toString('latin1').replace(/\0+$/, ''), '*UDF Metadata Partition');
          lvd.writeUInt16LE(9, map + 38);
          retag(lvd, u.lvdOffset);
          await assert.rejects(openFs(lvd), code('E_FORMAT'));
        });
      }
    });
  }
});

describe('UDF structures: volume-level fallbacks', () => {
  it('a damaged main volume descriptor sequence → the reserve one; a damaged anchor at 256 → the one at N-1', async () => {
    for (const bs of [2048, 512]) {
      const o = cases.find((c) => c.opts.blockSize === bs && c.opts.partitions === 'metadata')!.opts;
      const u = writeUdfImage(o);
      const mainLvd = Buffer.from(u.image);
      mainLvd[u.lvdOffset + 100] = mainLvd[u.lvdOffset + 100]! ^ 0xff; // CRC no longer matches
      await checkImage({ ...u, image: mainLvd }, o);
      const anchor = Buffer.from(u.image);
      anchor[256 * bs + 4] = anchor[256 * bs + 4]! ^ 0xff;
      await checkImage({ ...u, image: anchor }, o);
    }
  });

  it('hasUdfRecognition finds the VRS of real mkudffs images with 512-, 2048- and 4096-byte blocks', async () => {
    const work = await tempDir('overnight-udfw-vrs-');
    try {
      for (const bs of [512, 2048, 4096]) {
        const path = join(work.dir, `m${bs}.img`);
        await writeFile(path, Buffer.alloc(0));
        assert.equal((await sh('truncate', ['-s', '8M', path])).code, 0);
        const r = await sh('mkudffs', ['--media-type=hd', `--blocksize=${bs}`, path]);
        assert.equal(r.code, 0, r.stderr);
        const src = new BufferSource(await readFile(path));
        assert.equal(await hasUdfRecognition(src), true, `mkudffs --blocksize=${bs}`);
        assert.equal((await UdfVolume.open(src)).info.blockSize, bs);
      }
      // and nothing is recognised where there is no VRS
      assert.equal(await hasUdfRecognition(new BufferSource(Buffer.alloc(128 * 1024))), false);
    } finally {
      await work.cleanup();
    }
  });
});

// ---------------------------------------------------------------- independent readers check the writer

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function sh(cmd: string, args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' }, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const c = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code: c, stdout, stderr });
    });
  });
}

function parseSevenList(out: string): Map<string, { folder: boolean; size: number; modified: string }> {
  const m = new Map<string, { folder: boolean; size: number; modified: string }>();
  for (const block of out.split(/\n\s*\n/)) {
    const f: Record<string, string> = {};
    for (const line of block.split('\n')) {
      const x = /^([A-Za-z ]+?) = (.*)$/.exec(line);
      if (x) f[x[1]!] = x[2]!;
    }
    if (f['Path'] === undefined || f['Type'] !== undefined) continue;
    m.set(f['Path'], { folder: f['Folder'] === '+', size: Number(f['Size'] || 0), modified: f['Modified'] ?? '' });
  }
  return m;
}

/** 7-Zip prints times as 'YYYY-MM-DD HH:MM:SS.ffffff' (TZ=UTC here). */
const sevenTime = (d: Date | undefined) => (d ? d.toISOString().replace('T', ' ').replace('Z', '000') : '');

describe('the writer against udfinfo and 7-Zip', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    work = await tempDir('overnight-udfw-');
  });
  after(() => work.cleanup());

  it('udfinfo accepts every image without a warning and reports the same label, revision, block size and counts', async () => {
    for (const [i, c] of cases.entries()) {
      const u = writeUdfImage(c.opts);
      const path = join(work.dir, `case-${i}.img`);
      await writeFile(path, u.image);
      const r = await sh('udfinfo', [path]);
      assert.equal(r.code, 0, `${c.name}: ${r.stderr}`);
      assert.equal(r.stderr, '', `${c.name}: udfinfo warnings`);
      const info: Record<string, string> = {};
      for (const line of r.stdout.split('\n')) {
        const m = /^(\w+)=(.*)$/.exec(line);
        if (m) info[m[1]!] = m[2]!;
      }
      const expected = expectedTree(c.opts);
      const files = [...expected.values()].filter((e) => e.type === 'file').length;
      assert.deepEqual(
        {
          blocksize: info['blocksize'],
          udfrev: info['udfrev'],
          lvid: info['lvid'],
          vid: info['vid'],
          fsid: info['fsid'],
          numfiles: info['numfiles'],
          numdirs: info['numdirs'],
          integrity: info['integrity'],
          blocks: info['blocks'],
        },
        {
          blocksize: String(c.opts.blockSize),
          udfrev: revisionString(c.opts.revision!),
          lvid: 'OVERNIGHT UDF',
          vid: 'OVERNIGHT',
          fsid: 'OVERNIGHT FILESET',
          numfiles: String(files),
          numdirs: String(expected.size - files + 1),
          integrity: 'closed',
          blocks: String(u.image.length / c.opts.blockSize!),
        },
        c.name,
      );
    }
  });

  // What 7-Zip reads: one-extent metadata files, short/long/embedded ADs, recorded extents only.
  const sevenCases: Case[] = [
    { name: 'type 1, EFE, short_ad, 2048', opts: { blockSize: 2048, revision: 0x0201, fileEntries: 'efe', root: ROOT, children: catalog({ bs: 2048, files: 'short', dirs: 'short', sparse: false, fileChains: false, dirChains: false }) } },
    { name: 'type 1, FE, long_ad, 512', opts: { blockSize: 512, revision: 0x0201, fileEntries: 'fe', root: ROOT, children: catalog({ bs: 512, files: 'long', dirs: 'long', sparse: false, fileChains: false, dirChains: false }) } },
    {
      name: 'metadata partition 2.50, EFE, long_ad, 2048',
      opts: { blockSize: 2048, revision: 0x0250, partitions: 'metadata', metadataPieces: 1, fileEntries: 'efe', root: ROOT, children: catalog({ bs: 2048, files: 'long', dirs: 'short', sparse: false, fileChains: false, dirChains: false }) },
    },
    {
      name: 'metadata partition 2.60 (map first), FE, long_ad, 512',
      opts: { blockSize: 512, revision: 0x0260, partitions: 'metadata', metadataMapFirst: true, metadataPieces: 1, mirrorPieces: 2, fileEntries: 'fe', extendedAttributes: true, root: ROOT, children: catalog({ bs: 512, files: 'long', dirs: 'long', sparse: false, fileChains: false, dirChains: false }) },
    },
  ];
  for (const [i, c] of sevenCases.entries()) {
    it(`7-Zip lists and extracts exactly what was written: ${c.name}`, async () => {
      const u = writeUdfImage(c.opts);
      const img = join(work.dir, `7z-${i}.img`);
      await writeFile(img, u.image);
      const l = await sh('7z', ['l', '-slt', '-tUdf', img]);
      assert.equal(l.code, 0, l.stdout + l.stderr);
      assert.match(l.stdout, c.opts.partitions === 'metadata' ? /IsMetadata: 1/ : /Type: 1/);
      const listed = parseSevenList(l.stdout);
      const expected = expectedTree(c.opts);
      assert.deepEqual([...listed.keys()].sort(), [...expected.keys()].map((p) => p.slice(1)).sort());
      for (const [p, x] of expected) {
        const s = listed.get(p.slice(1))!;
        assert.equal(s.folder, x.type === 'directory', p);
        if (x.type === 'file') assert.equal(s.size, x.size, p);
        assert.equal(s.modified, sevenTime(x.mtime), `${p} mtime`); // timezones applied, -2047 = none (1/7.3.1)
      }
      const out = join(work.dir, `7z-${i}-x`);
      await mkdir(out);
      const x = await sh('7z', ['x', '-tUdf', `-o${out}`, img]);
      assert.equal(x.code, 0, x.stdout + x.stderr);
      for (const [p, e] of expected) if (e.type === 'file') assert.ok((await readFile(join(out, p))).equals(e.data!), `7z bytes of ${p}`);
      // and our reader agrees with both
      await checkImage(u, { ...c.opts, partitions: c.opts.partitions ?? 'type1' });
    });
  }

  it('7-Zip refuses exactly the files that use what it lacks (unrecorded extents, AED chains) and reads the rest', async () => {
    for (const [i, opts] of [
      { blockSize: 2048, revision: 0x0201, root: ROOT, children: catalog({ bs: 2048, files: 'short', dirs: 'short', dirChains: false }) },
      { blockSize: 512, revision: 0x0250, partitions: 'metadata', metadataPieces: 1, root: ROOT, children: catalog({ bs: 512, files: 'long', dirs: 'short', dirChains: false }) },
    ].entries() as Iterable<[number, UdfImageOptions]>) {
      const u = writeUdfImage(opts);
      const img = join(work.dir, `7z-lenient-${i}.img`);
      await writeFile(img, u.image);
      const l = await sh('7z', ['l', '-slt', '-tUdf', img]);
      // 7-Zip sizes the image from the extents of files it can read, so it misses the closing anchor
      assert.ok(l.code === 0 || /Headers Error/.test(l.stdout), l.stdout + l.stderr);
      const listed = parseSevenList(l.stdout);
      const expected = expectedTree(opts);
      assert.deepEqual([...listed.keys()].sort(), [...expected.keys()].map((p) => p.slice(1)).sort());
      const out = join(work.dir, `7z-lenient-${i}-x`);
      await mkdir(out);
      const x = await sh('7z', ['x', '-tUdf', `-o${out}`, img]);
      const refused = new Set([...(x.stdout + x.stderr).matchAll(/ERROR: Unsupported Method : (.*)$/gm)].map((m) => '/' + m[1]!.trim()));
      const lacking = new Set(
        [...u.nodes.values()].filter((n) => n.type === 'file' && (n.aeds.length > 0 || n.extents.some((e) => e.kind !== 'recorded'))).map((n) => n.path),
      );
      assert.deepEqual([...refused].sort(), [...lacking].sort());
      for (const [p, e] of expected) {
        if (e.type !== 'file' || lacking.has(p)) continue;
        assert.ok((await readFile(join(out, p))).equals(e.data!), `7z bytes of ${p}`);
      }
    }
  });

  it('7-Zip refuses a metadata file in several extents and ext_ad as unsupported (its limits, not the writer)', async () => {
    const base: UdfImageOptions = { blockSize: 2048, revision: 0x0250, partitions: 'metadata', root: ROOT, children: catalog({ bs: 2048, files: 'long', dirs: 'short', sparse: false, fileChains: false, dirChains: false }) };
    const verdict = async (name: string, o: UdfImageOptions) => {
      const img = join(work.dir, `7z-limit-${name}.img`);
      await writeFile(img, writeUdfImage(o).image);
      const r = await sh('7z', ['l', '-tUdf', img]);
      return r.code === 0 ? 'ok' : /Unsupported feature/.test(r.stdout + r.stderr) ? 'unsupported' : `rc ${r.code}: ${r.stdout}${r.stderr}`;
    };
    assert.equal(await verdict('one-extent', { ...base, metadataPieces: 1 }), 'ok');
    assert.equal(await verdict('three-extents', { ...base, metadataPieces: 3 }), 'unsupported');
    assert.equal(await verdict('ext-ad', { ...base, metadataPieces: 1, children: [...base.children, { type: 'file', name: 'x.bin', ad: 'extended', data: Buffer.from('x') }] }), 'unsupported');
  });
});
