// Extraction by every way it copies bytes: in the kernel (copy_file_range, image and destination
// on one file system), through buffers when the kernel refuses (another file system: EXDEV), and
// asynchronously from an image that has no file descriptor. Each must give the same tree, byte for
// byte, with the image's timestamps; sparse extents stay holes where the kernel copies; a full
// destination stops the run with E_NO_SPACE and leaves no partial file.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, mkdir, readFile, readdir, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { MediaError } from '../src/media/errors.ts';
import { extract, type ExtractResult } from '../src/media/extract.ts';
import { openMedia, openMediaSource } from '../src/media/open.ts';
import { BufferSource } from '../src/media/source.ts';
import { pseudoRandom } from './helpers/iso.ts';
import { tempDir } from './helpers/tools.ts';
import { type ExpectedEntry, type Piece, type UdfImageOptions, type UdfNodeSpec, expectedTree, writeUdfImage } from './helpers/udf-writer.ts';

const pexec = promisify(execFile);
const KiB = 1024;
const MiB = 1024 * KiB;
const rec = (data: Buffer): Piece => ({ kind: 'recorded', data });
const hole = (length: number, allocated = false): Piece => ({ kind: allocated ? 'allocated' : 'unallocated', length });
const when = (iso: string) => ({ date: new Date(iso), tz: 0 });

// Files over 1 MiB take the large-file path (allocated up front, copied in 16 MiB pieces); the
// rest the small-file path. Both get holes, extent chains and a tail that is not block-aligned.
const children: UdfNodeSpec[] = [
  { type: 'file', name: 'readme.txt', data: Buffer.from('extract test\r\n'), mtime: when('2023-05-06T07:08:09Z') },
  { type: 'file', name: 'empty.bin' },
  { type: 'file', name: 'embedded.ini', ad: 'embedded', data: Buffer.from('[x]\r\ny=1\r\n') },
  {
    type: 'dir',
    name: 'sources',
    mtime: when('2015-07-29T17:00:00Z'),
    children: [
      // 17 MiB of data in three extents: crosses the 16 MiB piece boundary inside an extent.
      { type: 'file', name: 'install.wim', mtime: when('2016-01-02T03:04:05Z'), pieces: [rec(pseudoRandom(6 * MiB, 1)), rec(pseudoRandom(10 * MiB, 2)), rec(pseudoRandom(MiB + 333, 3))] },
      // Large and sparse: data, an allocated-but-unrecorded extent (junk bytes in the image that
      // must read as zeros), data, and a trailing hole.
      { type: 'file', name: 'sparse-large.bin', pieces: [rec(pseudoRandom(1536 * KiB, 4)), hole(2 * MiB, true), rec(pseudoRandom(700 * KiB, 5)), hole(64 * KiB)] },
      { type: 'file', name: 'chain.bin', adsPerDescriptor: 1, pieces: [rec(pseudoRandom(4096, 6)), rec(pseudoRandom(2048, 7)), hole(2048, true), rec(pseudoRandom(100, 8))] },
      { type: 'file', name: 'sparse-tail.bin', pieces: [rec(pseudoRandom(2048, 9)), hole(4096 + 10)] },
      { type: 'file', name: 'all-hole.bin', pieces: [hole(6144, true)] },
      ...Array.from({ length: 40 }, (_, i): UdfNodeSpec => ({ type: 'file', name: `f${String(i).padStart(2, '0')}.dll`, data: pseudoRandom(100 + i * 997, 100 + i), mtime: when('2010-11-20T12:00:00Z') })),
      { type: 'dir', name: 'deep', children: [{ type: 'dir', name: 'er', children: [{ type: 'file', name: 'leaf.txt', data: Buffer.from('leaf\n') }] }] },
    ],
  },
  { type: 'dir', name: 'empty dir', children: [] },
];
const opts: UdfImageOptions = { blockSize: 2048, partitions: 'metadata', metadataPieces: 2, root: { mtime: when('2024-03-04T05:06:07Z') }, children };

describe('extract: every way of copying gives the same tree', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let imagePath: string;
  let image: Buffer;
  let expected: Map<string, ExpectedEntry>;
  before(async () => {
    work = await tempDir();
    image = writeUdfImage(opts).image;
    imagePath = join(work.dir, 'test.udf');
    await writeFile(imagePath, image);
    expected = expectedTree(opts);
  });
  after(() => work.cleanup());

  /** Every file and folder is there with the image's bytes and times, and nothing else is. */
  const checkTree = async (dest: string): Promise<void> => {
    const found = (await readdir(dest, { recursive: true })).map((p) => '/' + p.split('\\').join('/')).sort();
    assert.deepEqual(found, [...expected.keys()].sort());
    for (const [path, e] of expected) {
      const st = await lstat(join(dest, path));
      if (e.type === 'directory') {
        assert.ok(st.isDirectory(), path);
        continue;
      }
      assert.ok(st.isFile(), path);
      assert.ok((await readFile(join(dest, path))).equals(e.data!), `bytes of ${path}`);
      if (e.mtime) assert.equal(Math.floor(st.mtimeMs / 1000), Math.floor(e.mtime.getTime() / 1000), `mtime of ${path}`);
    }
  };
  const dataBytes = () => [...expected.values()].reduce((a, e) => a + e.size, 0);

  it('from an image file on the same file system: copied in the kernel, holes kept', async () => {
    const m = await openMedia(imagePath);
    const dest = join(work.dir, 'same-fs');
    let r: ExtractResult;
    try {
      r = await extract(m, dest);
    } finally {
      await m.close();
    }
    await checkTree(dest);
    assert.equal(r.bytesWritten, dataBytes());
    assert.ok(r.via.kernel > 0 && r.via.buffered === 0 && r.via.direct === 0, JSON.stringify(r.via));
    // The 2 MiB allocated-but-unrecorded extent and the trailing hole were not written.
    const sparse = await stat(join(dest, 'sources/sparse-large.bin'));
    assert.ok(sparse.blocks * 512 < sparse.size - MiB, `sparse-large.bin holds ${sparse.blocks * 512} bytes on disk for ${sparse.size}`);
  });

  it('to another file system (the kernel refuses with EXDEV): read and written through buffers', async (t) => {
    const shm = '/dev/shm';
    const [a, b] = await Promise.all([stat(work.dir), stat(shm).catch(() => undefined)]);
    if (!b?.isDirectory() || a.dev === b.dev) return t.skip('no second file system at /dev/shm');
    const dest = join(shm, `overnight-extract-${process.pid}`);
    const m = await openMedia(imagePath);
    try {
      const r = await extract(m, dest);
      await checkTree(dest);
      assert.equal(r.via.kernel, 0);
      assert.ok(r.via.buffered + r.via.direct > 0, JSON.stringify(r.via));
    } finally {
      await m.close();
      await pexec('rm', ['-rf', '--', dest]);
    }
  });

  it('from an image without a file descriptor (in memory): the asynchronous track', async () => {
    const m = await openMediaSource('test.udf', new BufferSource(image));
    const dest = join(work.dir, 'from-buffer');
    const r = await extract(m, dest);
    await checkTree(dest);
    assert.equal(r.via.kernel, 0);
    assert.equal(r.bytesWritten, dataBytes());
  });

  it('a re-run skips every complete file, whichever track wrote it', async () => {
    const m = await openMedia(imagePath);
    try {
      const r = await extract(m, join(work.dir, 'same-fs'));
      assert.equal(r.files, 0);
      assert.equal(r.bytesWritten, 0);
      assert.equal(r.skippedFiles, [...expected.values()].filter((e) => e.type === 'file').length);
    } finally {
      await m.close();
    }
  });

  it('a full destination: E_NO_SPACE before anything is written, or when a large file is allocated', async (t) => {
    const mnt = join(work.dir, 'small-fs');
    await mkdir(mnt);
    try {
      await pexec('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'overnight-test', mnt]);
    } catch {
      await rmdir(mnt);
      return t.skip('mounting a 4 MiB tmpfs needs root');
    }
    const m = await openMedia(imagePath);
    try {
      // A new folder: the free space is checked first, and the folder made for it is removed.
      await assert.rejects(extract(m, join(mnt, 'new')), (e: unknown) => e instanceof MediaError && e.code === 'E_NO_SPACE' && /MiB free/.test(e.message));
      assert.deepEqual(await readdir(mnt), []);
      // An existing folder (a resumed run): the 17 MiB install.wim fails at its allocation.
      await mkdir(join(mnt, 'existing'));
      await assert.rejects(extract(m, join(mnt, 'existing')), (e: unknown) => e instanceof MediaError && e.code === 'E_NO_SPACE');
      const left = await readdir(join(mnt, 'existing'), { recursive: true });
      assert.ok(!left.some((f) => f.endsWith('.overnight-partial')), `partial files left: ${left.join(', ')}`);
    } finally {
      await m.close();
      await pexec('umount', [mnt]);
    }
  });
});
