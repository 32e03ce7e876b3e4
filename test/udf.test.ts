// UDF reader against real images: genisoimage (UDF 1.02, Microsoft's layout), mkudffs (UDF 2.01,
// Extended File Entries, embedded/short/long allocation descriptors, 512-4096 byte blocks), with
// 7-Zip and udfinfo as the oracles.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MediaError } from '../src/media/errors.ts';
import { VolumeFS } from '../src/media/fs.ts';
import { BufferSource, FileSource } from '../src/media/source.ts';
import { crcItuT, tagChecksum } from '../src/media/udf/tag.ts';
import { UdfVolume } from '../src/media/udf/volume.ts';
import { buildBigUdfIso, buildWindowsIso, type WindowsMedia } from './helpers/media.ts';
import { run, runBuffer, sevenZipList, tempDir } from './helpers/tools.ts';

async function openUdf(path: string): Promise<{ fs: VolumeFS; vol: UdfVolume; close: () => Promise<void> }> {
  const src = await FileSource.open(path);
  const vol = await UdfVolume.open(src);
  return { fs: new VolumeFS(vol, src), vol, close: () => src.close() };
}

async function ourListing(fs: VolumeFS): Promise<Map<string, { size: number; folder: boolean }>> {
  const out = new Map<string, { size: number; folder: boolean }>();
  for await (const e of fs.walk()) out.set(e.path.slice(1), { size: e.type === 'directory' ? 0 : e.size, folder: e.type === 'directory' });
  return out;
}

function sevenAsComparable(m: Awaited<ReturnType<typeof sevenZipList>>) {
  const out = new Map<string, { size: number; folder: boolean }>();
  for (const [p, v] of m) out.set(p, { size: v.folder ? 0 : v.size, folder: v.folder });
  return out;
}

/** Flips bits of a File Identifier Descriptor found by its 8-bit CS0 name, keeping its CRC valid. */
function patchFid(img: Buffer, name: string, mutate: (fid: Buffer) => void): void {
  const needle = Buffer.concat([Buffer.from([8]), Buffer.from(name, 'latin1')]);
  for (let idx = img.indexOf(needle); idx >= 0; idx = img.indexOf(needle, idx + 1)) {
    const p = idx - 38; // genisoimage writes no implementation use in FIDs
    if (p < 0 || img.readUInt16LE(p) !== 257 || img[p + 19] !== needle.length) continue;
    const fid = img.subarray(p, p + 38 + needle.length);
    mutate(fid);
    const crcLen = img.readUInt16LE(p + 10);
    img.writeUInt16LE(crcItuT(img, p + 16, p + 16 + crcLen), p + 8);
    img[p + 4] = tagChecksum(img, p);
    return;
  }
  throw new Error(`FID ${name} not found`);
}

describe('UDF: Microsoft layout built by genisoimage', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  const media: Record<string, WindowsMedia> = {};
  before(async () => {
    work = await tempDir();
    media['7-x64'] = await buildWindowsIso(join(work.dir, 'a'), '7-x64', 'udf-only');
    media['7-x86-bridge'] = await buildWindowsIso(join(work.dir, 'b'), '7-x86', 'bridge');
  });
  after(() => work.cleanup());

  for (const key of ['7-x64', '7-x86-bridge']) {
    it(`${key}: listing equals 7z's and every file's bytes equal 7z x`, async () => {
      const m = media[key]!;
      const { fs, vol, close } = await openUdf(m.iso);
      try {
        assert.equal(vol.info.udfRevision, '1.02');
        assert.equal(vol.label, m.label);
        const seven = sevenAsComparable(await sevenZipList(m.iso, 'udf'));
        const ours = await ourListing(fs);
        assert.deepEqual(new Map([...ours].sort()), new Map([...seven].sort()));
        assert.ok(ours.has('sources/install.wim'));
        const out = join(work.dir, `x-${key}`);
        await run('7z', ['x', '-tUdf', `-o${out}`, m.iso]);
        for (const [p, v] of ours) {
          if (v.folder) continue;
          const expected = await readFile(join(out, p));
          assert.ok((await fs.read('/' + p)).equals(expected), `bytes of ${p}`);
          // The tree we built from is a second oracle.
          if (p !== 'boot/boot.cat') assert.ok(expected.equals(await readFile(join(m.tree, p))), `7z vs source for ${p}`);
        }
      } finally {
        await close();
      }
    });
  }

  it('ranged reads, streams and extents agree with the file bytes', async () => {
    const { fs, close } = await openUdf(media['7-x64']!.iso);
    try {
      const whole = await fs.read('/setup.exe');
      assert.ok((await fs.read('/setup.exe', 1000, 5000)).equals(whole.subarray(1000, 5000)));
      const chunks: Buffer[] = [];
      for await (const c of await fs.stream('/setup.exe', 7, whole.length - 3)) chunks.push(c as Buffer);
      assert.ok(Buffer.concat(chunks).equals(whole.subarray(7, whole.length - 3)));
      const ext = await fs.extents('/setup.exe');
      const img = await readFile(media['7-x64']!.iso);
      const viaExtents = Buffer.concat(ext.map((e) => img.subarray(e.offset, e.offset + e.length)));
      assert.ok(viaExtents.equals(whole));
      // Lookups are case-insensitive, as Windows Setup resolves them.
      assert.equal((await fs.stat('/SOURCES/INSTALL.WIM')).path, '/sources/install.wim');
      await assert.rejects(fs.stat('/sources/nope.wim'), (e: unknown) => e instanceof MediaError && e.code === 'E_NOT_FOUND');
      await assert.rejects(fs.read('/sources'), (e: unknown) => e instanceof MediaError && e.code === 'E_IS_DIR');
    } finally {
      await close();
    }
  });

  it('skips entries marked deleted (how some tools hide ei.cfg) and reports hidden ones', async () => {
    const img = await readFile(media['7-x64']!.iso);
    patchFid(img, 'ei.cfg', (fid) => (fid[18] = fid[18]! | 0x04));
    patchFid(img, 'lang.ini', (fid) => (fid[18] = fid[18]! | 0x01));
    const src = new BufferSource(img);
    const fs = new VolumeFS(await UdfVolume.open(src), src);
    const names = (await fs.list('/sources')).map((e) => e.name);
    assert.ok(!names.includes('ei.cfg'), 'deleted entry is skipped');
    assert.ok(names.includes('install.wim'));
    assert.equal((await fs.stat('/sources/lang.ini')).hidden, true);
    assert.equal((await fs.stat('/sources/install.wim')).hidden, false);
  });
});

describe('UDF: names', () => {
  it('8-bit and 16-bit OSTA CS0 names match 7z', async () => {
    const work = await tempDir();
    try {
      const tree = join(work.dir, 't');
      await mkdir(join(tree, 'Ünïcödé dir'), { recursive: true });
      await writeFile(join(tree, 'Ünïcödé dir', 'Ωmega – 東京.txt'), 'sixteen-bit name\n');
      await writeFile(join(tree, 'plain-ascii-name.txt'), 'eight-bit name\n');
      await writeFile(join(tree, 'empty.bin'), '');
      const iso = join(work.dir, 'names.iso');
      await run('genisoimage', ['-quiet', '-udf', '-input-charset', 'utf-8', '-o', iso, tree]);
      const { fs, close } = await openUdf(iso);
      try {
        const ours = await ourListing(fs);
        const seven = sevenAsComparable(await sevenZipList(iso, 'udf'));
        assert.deepEqual(new Map([...ours].sort()), new Map([...seven].sort()));
        assert.ok(ours.has('Ünïcödé dir/Ωmega – 東京.txt'));
        assert.equal((await fs.read('/Ünïcödé dir/Ωmega – 東京.txt')).toString(), 'sixteen-bit name\n');
        assert.equal((await fs.read('/empty.bin')).length, 0);
      } finally {
        await close();
      }
    } finally {
      await work.cleanup();
    }
  });
});

describe('UDF 2.01 images from mkudffs (Extended File Entries)', () => {
  for (const ad of ['inicb', 'short', 'long']) {
    for (const bs of [512, 2048, 4096]) {
      it(`--ad=${ad} --blocksize=${bs}: label, revision and root match udfinfo`, async () => {
        const work = await tempDir();
        try {
          const img = join(work.dir, 'u.img');
          await run('truncate', ['-s', '24M', img]);
          await run('mkudffs', ['--media-type=hd', '--udfrev=2.01', `--blocksize=${bs}`, `--ad=${ad}`, '--lvid=OVERNIGHT LV', '--vid=OVN VID', '--fsid=OVN FS', img]);
          const info = Object.fromEntries(
            (await run('udfinfo', [img])).stdout
              .split('\n')
              .map((l) => /^(\w+)=(.*)$/.exec(l))
              .filter((m) => m)
              .map((m) => [m![1]!, m![2]!]),
          );
          const { fs, vol, close } = await openUdf(img);
          try {
            assert.equal(vol.info.blockSize, Number(info['blocksize']));
            assert.equal(vol.info.udfRevision, info['udfrev']);
            assert.equal(vol.info.logicalVolumeIdentifier, info['lvid']);
            assert.equal(vol.info.volumeIdentifier, info['vid']);
            assert.equal(vol.info.fileSetIdentifier, info['fsid']);
            assert.deepEqual(await fs.list('/'), []);
            const root = await vol.root();
            assert.equal(root.mode, 0o755);
          } finally {
            await close();
          }
        } finally {
          await work.cleanup();
        }
      });
    }
  }
});

describe('UDF: a file over 4 GiB', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let iso: string;
  let bigSize: number;
  before(async () => {
    work = await tempDir();
    ({ iso, bigSize } = await buildBigUdfIso(work.dir));
  });
  after(() => work.cleanup());

  it('has the right size and its bytes hash like 7z extracts them', async () => {
    const { fs, close } = await openUdf(iso);
    try {
      const st = await fs.stat('/sources/install.wim');
      assert.equal(st.size, bigSize);
      const seven = await sevenZipList(iso, 'udf');
      assert.equal(seven.get('sources/install.wim')?.size, bigSize);
      assert.equal((await fs.read('/sources/install.wim', 0, 10)).toString(), 'MSWIM-head');
      assert.equal((await fs.read('/sources/install.wim', 2 ** 30 - 2048 - 8, 2 ** 30 - 2048 + 8)).toString(), 'edge-1-aedge-1-b');
      assert.equal((await fs.read('/sources/install.wim', 2 ** 32 + 17, 2 ** 32 + 26)).toString(), 'past-4GiB');
      assert.equal((await fs.read('/sources/install.wim', bigSize - 9)).toString(), 'tail-mark');
      const ours = createHash('sha256');
      for await (const c of await fs.stream('/sources/install.wim')) ours.update(c as Buffer);
      const theirs = (await run('sh', ['-c', '7z x -tUdf -so "$1" sources/install.wim | sha256sum', 'sh', iso])).stdout.split(' ')[0];
      assert.equal(ours.digest('hex'), theirs);
    } finally {
      await close();
    }
  });
});

describe('UDF: damaged images end in a typed error', () => {
  let img: Buffer;
  before(async () => {
    const work = await tempDir();
    try {
      img = (await buildWindowsIso(work.dir, '7-x86', 'udf-only').then((m) => readFile(m.iso)));
    } finally {
      await work.cleanup();
    }
  });

  const openBuf = async (b: Buffer) => {
    const src = new BufferSource(b);
    const fs = new VolumeFS(await UdfVolume.open(src), src);
    const out: string[] = [];
    for await (const e of fs.walk()) {
      out.push(e.path);
      if (e.type === 'file') await fs.read(e.path);
    }
    return out;
  };
  const code = (c: string) => (e: unknown) => e instanceof MediaError && e.code === c;

  it('no anchor → E_NO_FS', async () => {
    const b = Buffer.from(img);
    // genisoimage repeats the anchor through its trailing padding: wipe every copy.
    for (let s = 0; s < b.length / 2048; s++) {
      if (b.readUInt16LE(s * 2048) === 2 && b.readUInt32LE(s * 2048 + 12) === s) b.fill(0, s * 2048, (s + 1) * 2048);
    }
    await assert.rejects(openBuf(b), code('E_NO_FS'));
  });

  it('a File Entry with a bad CRC → E_CRC, with the bad checksum → E_BAD_TAG', async () => {
    const b = Buffer.from(img);
    const fid = b.indexOf(Buffer.from('\x08setup.exe', 'latin1')) - 38;
    assert.equal(b.readUInt16LE(fid), 257);
    const lbn = b.readUInt32LE(fid + 24);
    const src = new BufferSource(b);
    const vol = await UdfVolume.open(src);
    const root = await vol.root();
    void root;
    // Find the partition start from the root's extents: the FE of setup.exe is at partition start + lbn.
    const p = [...Array(b.length / 2048).keys()].find((s) => b.readUInt16LE(s * 2048) === 261 && b.readUInt32LE(s * 2048 + 12) === lbn)!;
    const c = Buffer.from(b);
    c[p * 2048 + 100] = c[p * 2048 + 100]! ^ 0xff;
    await assert.rejects(openBuf(c), code('E_CRC'));
    const d = Buffer.from(b);
    d[p * 2048 + 6] = d[p * 2048 + 6]! ^ 0x01;
    await assert.rejects(openBuf(d), code('E_BAD_TAG'));
  });

  it('a truncated image → E_TRUNCATED (or no anchor), never a crash', async () => {
    for (const len of [100, 300 * 2048, Math.floor(img.length / 2)]) {
      await assert.rejects(openBuf(img.subarray(0, len)), (e: unknown) => e instanceof MediaError);
    }
    // Cutting only the trailing padding loses nothing.
    assert.ok((await openBuf(img.subarray(0, img.length - 4096))).includes('/sources/install.wim'));
  });

  it('a directory that contains its own ancestor is not followed forever', async () => {
    const b = Buffer.from(img);
    // Point the FID of "boot" at the root directory's ICB: boot/ would contain the whole tree again.
    const rootFid = (() => {
      const src = b;
      const fsdSector = [...Array(600).keys()].find((s) => src.readUInt16LE(s * 2048) === 256)!;
      return b.subarray(fsdSector * 2048 + 400, fsdSector * 2048 + 416);
    })();
    patchFid(b, 'boot', (fid) => rootFid.copy(fid, 20));
    const paths = await openBuf(b);
    assert.ok(paths.length < 100, `walk ended (${paths.length} entries)`);
  });
});
