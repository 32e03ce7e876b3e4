// El Torito boot catalog reader against real tools: bootable images are made with genisoimage
// and xorriso at test time; every entry is compared field by field with xorriso's
// -report_el_torito, and every boot image's bytes with 7-Zip's [BOOT] items and the files the
// image was made from.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BootEntry, parseBootCatalog, readBootCatalog, readBootImage } from '../src/media/eltorito.ts';
import { MediaError } from '../src/media/errors.ts';
import { BufferSource, FileSource } from '../src/media/source.ts';
import { pseudoRandom, sevenZipEntries, sevenZipExtract, xorrisoElTorito, type XorrisoBootImage } from './helpers/iso.ts';
import { run, tempDir } from './helpers/tools.ts';

const IPXE_ISO = '/usr/lib/ipxe/ipxe.iso';

let work: string;
let cleanup: () => Promise<void>;
let root: string;

/** A 2 MiB hard disk image: an MBR with one FAT32-LBA (0x0C) partition from sector 32 to the end. */
function hardDiskImage(): Buffer {
  const img = Buffer.alloc(2 * 1024 * 1024);
  const p = 446;
  img[p] = 0x80;
  img.set([1, 1, 0], p + 1); // CHS start: head 1, sector 1, cylinder 0
  img[p + 4] = 0x0c;
  img.set([63, 32, 1], p + 5); // CHS end
  img.writeUInt32LE(32, p + 8);
  img.writeUInt32LE(4096 - 32, p + 12);
  img[510] = 0x55;
  img[511] = 0xaa;
  pseudoRandom(1000, 9).copy(img, 32 * 512);
  return img;
}

before(async () => {
  ({ dir: work, cleanup } = await tempDir('overnight-eltorito-'));
  root = join(work, 'root');
  await mkdir(root);
  await writeFile(join(root, 'boot.img'), pseudoRandom(2048, 1));
  await writeFile(join(root, 'hi.txt'), 'hi\n');
  // FAT images: an EFI system image and the three floppy sizes El Torito can emulate.
  for (const [name, kib] of [
    ['efi.img', 1440],
    ['fd12.img', 1200],
    ['fd144.img', 1440],
    ['fd288.img', 2880],
  ] as const) {
    await run('mkfs.vfat', ['-C', join(root, name), String(kib)]);
  }
});

after(async () => {
  await cleanup?.();
});

const PLATFORM_NAMES: Record<string, string> = { bios: 'BIOS', efi: 'UEFI', ppc: 'PPC', mac: 'Mac' };
const EMULATION_NAMES: Record<BootEntry['mediaType'], string> = {
  'no-emulation': 'none',
  'floppy-1.2M': 'fd1.2',
  'floppy-1.44M': 'fd1.4',
  'floppy-2.88M': 'fd2.8',
  'hard-disk': 'hd',
};

/** Our entry in the shape of xorriso's report line. */
function asXorriso(e: BootEntry, n: number): XorrisoBootImage {
  return {
    n,
    platform: typeof e.platform === 'number' ? `0x${e.platform.toString(16).padStart(2, '0')}` : PLATFORM_NAMES[e.platform]!,
    bootable: e.bootable,
    emulation: EMULATION_NAMES[e.mediaType],
    loadSegment: e.recordedLoadSegment,
    systemType: e.systemType,
    loadSize: e.sectorCount,
    lba: e.loadRba,
  };
}

/**
 * Reads the catalog and checks it against xorriso (every field) and 7-Zip (every image's bytes).
 * `sevenZipDiffers` lists entries whose size 7-Zip gets wrong (it knows only the sector count):
 * there 7-Zip's bytes must agree with ours on their common prefix.
 */
async function checkImage(image: string, sevenZipDiffers: number[] = []): Promise<{ entries: BootEntry[]; images: Buffer[] }> {
  const src = await FileSource.open(image);
  try {
    const cat = await readBootCatalog(src);
    assert.ok(cat, 'has an El Torito catalog');
    const x = await xorrisoElTorito(image);
    assert.equal(cat.catalogSector, x.catalogSector);
    assert.deepEqual(
      cat.entries.map((e, i) => asXorriso(e, i + 1)),
      x.images,
    );
    const images = await Promise.all(cat.entries.map((e) => readBootImage(src, e)));
    for (const [i, e] of cat.entries.entries()) assert.equal(images[i]!.length, e.imageSize);

    const z = await sevenZipEntries(image);
    const bootNames = [...z.boot.keys()];
    assert.equal(bootNames.length, cat.entries.length);
    const out = join(work, `x-${Math.random().toString(36).slice(2)}`);
    await sevenZipExtract(image, out);
    for (const [i, name] of bootNames.entries()) {
      const theirs = await readFile(join(out, name));
      const ours = images[i]!;
      if (sevenZipDiffers.includes(i)) {
        assert.notEqual(theirs.length, ours.length, `${name}: 7-Zip was expected to size this one differently`);
        const n = Math.min(theirs.length, ours.length);
        assert.ok(theirs.subarray(0, n).equals(ours.subarray(0, n)), `${name}: common prefix differs`);
      } else {
        assert.ok(theirs.equals(ours), `${name}: bytes differ from 7-Zip's`);
      }
    }
    return { entries: cat.entries, images };
  } finally {
    await src.close();
  }
}

describe('El Torito catalogs made by genisoimage and xorriso, compared with xorriso and 7-Zip', () => {
  it('genisoimage: no-emulation with a load segment, 1.2/1.44/2.88 MB floppies (one not bootable), EFI', async () => {
    const image = join(work, 'g.iso');
    await run('genisoimage', [
      '-quiet', '-o', image,
      '-b', 'boot.img', '-no-emul-boot', '-boot-load-size', '4', '-boot-load-seg', '0x1000',
      '-eltorito-alt-boot', '-b', 'fd12.img',
      '-eltorito-alt-boot', '-b', 'fd288.img', '-no-boot',
      '-eltorito-alt-boot', '-b', 'fd144.img',
      '-eltorito-alt-boot', '-e', 'efi.img', '-no-emul-boot',
      root,
    ]);
    const { entries, images } = await checkImage(image);
    assert.deepEqual(
      entries.map((e) => [e.platform, e.bootable, e.mediaType, e.loadSegment, e.imageSizeFrom]),
      [
        ['bios', true, 'no-emulation', 0x1000, 'sector-count'],
        ['bios', true, 'floppy-1.2M', 0x7c0, 'floppy'],
        ['bios', false, 'floppy-2.88M', 0x7c0, 'floppy'],
        ['bios', true, 'floppy-1.44M', 0x7c0, 'floppy'],
        ['efi', true, 'no-emulation', 0x7c0, 'sector-count'],
      ],
    );
    // The images are exactly the files they were made from.
    for (const [i, file] of ['boot.img', 'fd12.img', 'fd288.img', 'fd144.img', 'efi.img'].entries()) {
      assert.ok(images[i]!.equals(await readFile(join(root, file))), file);
    }
  });

  it('xorriso: BIOS + EFI + floppy, and PPC, Mac and unassigned platform ids', async () => {
    const image = join(work, 'x.iso');
    await run('xorriso', [
      '-as', 'mkisofs', '-quiet', '-o', image,
      '-b', 'boot.img', '-no-emul-boot', '-boot-load-size', '4',
      '-eltorito-alt-boot', '-e', 'efi.img', '-no-emul-boot',
      '-eltorito-alt-boot', '-b', 'fd144.img',
      '-eltorito-alt-boot', '-eltorito-platform', 'PPC', '-b', 'boot.img', '-no-emul-boot', '-boot-load-size', '2',
      '-eltorito-alt-boot', '-eltorito-platform', 'Mac', '-b', 'boot.img', '-no-emul-boot', '-boot-load-size', '4',
      '-eltorito-alt-boot', '-eltorito-platform', '0x42', '-b', 'boot.img', '-no-emul-boot', '-boot-load-size', '4',
      root,
    ]);
    const { entries, images } = await checkImage(image);
    assert.deepEqual(entries.map((e) => e.platform), ['bios', 'efi', 'bios', 'ppc', 'mac', 0x42]);
    assert.deepEqual(entries.map((e) => e.section), [0, 1, 2, 3, 4, 5]);
    assert.ok(images[1]!.equals(await readFile(join(root, 'efi.img'))));
    assert.ok(images[3]!.equals((await readFile(join(root, 'boot.img'))).subarray(0, 1024)));
  });

  it('EFI image with sector count 0 (xorriso, FAT image > 32 MiB): the size comes from the FAT boot sector', async () => {
    const dir = join(work, 'bigefi');
    await mkdir(dir);
    await run('mkfs.vfat', ['-C', join(dir, 'efi.img'), '40000']);
    const image = join(work, 'bigefi.iso');
    await run('xorriso', ['-as', 'mkisofs', '-quiet', '-o', image, '-e', 'efi.img', '-no-emul-boot', dir]);
    // 7-Zip has only the count to go by and takes everything up to the end of the image.
    const { entries, images } = await checkImage(image, [0]);
    assert.equal(entries[0]!.sectorCount, 0);
    assert.equal(entries[0]!.imageSizeFrom, 'fat');
    assert.ok(images[0]!.equals(await readFile(join(dir, 'efi.img'))));
  });

  it("EFI image with sector count 1 (as oscdimg records efisys.bin): the size comes from the FAT boot sector", async () => {
    const image = join(work, 'x1.iso');
    await run('xorriso', [
      '-as', 'mkisofs', '-quiet', '-o', image,
      '-b', 'boot.img', '-no-emul-boot', '-boot-load-size', '4',
      '-eltorito-alt-boot', '-e', 'efi.img', '-no-emul-boot',
      root,
    ]);
    // Patch the EFI entry's sector count (bytes 6-7) to 1, as Microsoft's media have it.
    const buf = await readFile(image);
    const cat = parseBootCatalog(buf.subarray(buf.readUInt32LE(17 * 2048 + 0x47) * 2048), 0);
    const efi = cat.entries.find((e) => e.platform === 'efi')!;
    buf.writeUInt16LE(1, buf.readUInt32LE(17 * 2048 + 0x47) * 2048 + efi.catalogOffset + 6);
    const patched = join(work, 'x1-count1.iso');
    await writeFile(patched, buf);
    // 7-Zip extracts 512 bytes (one virtual sector).
    const { entries, images } = await checkImage(patched, [1]);
    assert.equal(entries[1]!.sectorCount, 1);
    assert.equal(entries[1]!.imageSizeFrom, 'fat');
    assert.ok(images[1]!.equals(await readFile(join(root, 'efi.img'))));
  });

  it('hard disk emulation: the size comes from the MBR partition table', async () => {
    const dir = join(work, 'hd');
    await mkdir(dir);
    const hd = hardDiskImage();
    await writeFile(join(dir, 'hd.img'), hd);
    const image = join(work, 'hd.iso');
    await run('genisoimage', ['-quiet', '-o', image, '-hard-disk-boot', '-b', 'hd.img', dir]);
    // 7-Zip extracts sectorCount (1) x 512 bytes.
    const { entries, images } = await checkImage(image, [0]);
    assert.equal(entries[0]!.mediaType, 'hard-disk');
    assert.equal(entries[0]!.systemType, 0x0c);
    assert.equal(entries[0]!.imageSizeFrom, 'mbr');
    assert.ok(images[0]!.equals(hd));
  });

  it("Debian's ipxe.iso: BIOS (isolinux) and EFI entries equal xorriso's report and 7-Zip's bytes", { skip: !existsSync(IPXE_ISO) }, async () => {
    const { entries } = await checkImage(IPXE_ISO);
    assert.deepEqual(entries.map((e) => e.platform), ['bios', 'efi']);
  });

  it('an image without El Torito has no catalog', async () => {
    const image = join(work, 'plain.iso');
    await run('genisoimage', ['-quiet', '-o', image, root]);
    const src = await FileSource.open(image);
    try {
      assert.equal(await readBootCatalog(src), null);
    } finally {
      await src.close();
    }
  });
});

describe('boot catalog codec', () => {
  /** A validation entry with a correct checksum. */
  function validation(platformId = 0, id = 'OVERNIGHT'): Buffer {
    const v = Buffer.alloc(32);
    v[0] = 1;
    v[1] = platformId;
    v.write(id, 4, 'latin1');
    v[30] = 0x55;
    v[31] = 0xaa;
    let sum = 0;
    for (let i = 0; i < 32; i += 2) sum += v.readUInt16LE(i);
    v.writeUInt16LE((0x10000 - (sum & 0xffff)) & 0xffff, 28);
    return v;
  }
  function bootEntry(opts: { indicator?: number; media?: number; seg?: number; count?: number; rba?: number; criteria?: number } = {}): Buffer {
    const e = Buffer.alloc(32);
    e[0] = opts.indicator ?? 0x88;
    e[1] = opts.media ?? 0;
    e.writeUInt16LE(opts.seg ?? 0, 2);
    e.writeUInt16LE(opts.count ?? 4, 6);
    e.writeUInt32LE(opts.rba ?? 30, 8);
    e[12] = opts.criteria ?? 0;
    return e;
  }
  function header(final: boolean, platformId: number, count: number, id = ''): Buffer {
    const h = Buffer.alloc(32);
    h[0] = final ? 0x91 : 0x90;
    h[1] = platformId;
    h.writeUInt16LE(count, 2);
    h.write(id, 4, 'latin1');
    return h;
  }
  function extension(more: boolean): Buffer {
    const x = Buffer.alloc(32);
    x[0] = 0x44;
    x[1] = more ? 0x20 : 0;
    return x;
  }
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc(2048 - (b.length % 2048))]);

  it('parses sections, extension entries, driver flags and selection criteria', () => {
    const cat = parseBootCatalog(
      pad(
        Buffer.concat([
          validation(0, 'OVERNIGHT'),
          bootEntry({ seg: 0, count: 4, rba: 30 }),
          header(false, 0xef, 2, 'UEFI SECTION'),
          bootEntry({ media: 0x20 | 0x40, count: 1, rba: 40, criteria: 1 }),
          extension(true),
          extension(false),
          bootEntry({ indicator: 0, media: 4, rba: 50 }),
          header(true, 0x02, 1),
          bootEntry({ media: 2, seg: 0x2000, rba: 60 }),
        ]),
      ),
      100,
    );
    assert.equal(cat.validation.idString, 'OVERNIGHT');
    assert.deepEqual(
      cat.entries.map((e) => [e.section, e.platform, e.sectionId, e.bootable, e.mediaType, e.loadSegment, e.atapiDriver, e.hasExtension, e.selectionCriteriaType, e.imageOffset, e.imageSize]),
      [
        [0, 'bios', '', true, 'no-emulation', 0x7c0, false, false, 0, 30 * 2048, 2048],
        [1, 'efi', 'UEFI SECTION', true, 'no-emulation', 0x7c0, true, true, 1, 40 * 2048, 512],
        [1, 'efi', 'UEFI SECTION', false, 'hard-disk', 0x7c0, false, false, 0, 50 * 2048, 4 * 512],
        [2, 'mac', '', true, 'floppy-1.44M', 0x2000, false, false, 0, 60 * 2048, 1440 * 1024],
      ],
    );
    // Only the initial entry, then zeros: a one-entry catalog.
    assert.equal(parseBootCatalog(pad(Buffer.concat([validation(), bootEntry()]))).entries.length, 1);
  });

  function rejects(buf: Buffer, code: string, message: RegExp) {
    assert.throws(
      () => parseBootCatalog(buf, 33),
      (e: unknown) => e instanceof MediaError && e.code === code && message.test(e.message),
    );
  }

  it('rejects damaged catalogs with a MediaError that says what and where', () => {
    const good = Buffer.concat([validation(), bootEntry()]);
    const badSum = Buffer.from(good);
    badSum[4] ^= 1;
    rejects(pad(badSum), 'E_FORMAT', /checksum.*sector=33 offset=28/);
    const badKey = Buffer.from(good);
    badKey[31] = 0;
    rejects(pad(badKey), 'E_FORMAT', /55 AA/);
    const badHeader = Buffer.from(good);
    badHeader[0] = 2;
    rejects(pad(badHeader), 'E_FORMAT', /header id/);
    rejects(pad(Buffer.concat([validation(), bootEntry({ indicator: 0x77 })])), 'E_FORMAT', /boot indicator/);
    rejects(pad(Buffer.concat([validation(), bootEntry({ media: 9 })])), 'E_FORMAT', /media type/);
    rejects(pad(Buffer.concat([validation(), bootEntry(), header(true, 0, 1), bootEntry({ media: 0x20 })])), 'E_FORMAT', /extension/);
    // A section that claims more entries than the catalog holds.
    rejects(Buffer.concat([validation(), bootEntry(), header(true, 0, 5), bootEntry()]), 'E_TRUNCATED', /runs past/);
    // Section headers that never end: bounded by the catalog size limit.
    const endless = Buffer.concat([validation(), bootEntry(), ...Array.from({ length: 1024 }, () => header(false, 0, 0))]);
    rejects(endless, 'E_LIMIT', /final section header/);
    // An endless extension chain.
    rejects(
      pad(Buffer.concat([validation(), bootEntry(), header(true, 0, 1), bootEntry({ media: 0x20 }), ...Array.from({ length: 40 }, () => extension(true))])),
      'E_LIMIT',
      /extensions/,
    );
  });

  it('random damage to a catalog: MediaError or a result, never anything else', () => {
    const base = pad(
      Buffer.concat([
        validation(),
        bootEntry(),
        header(false, 0xef, 2),
        bootEntry({ media: 0x20 }),
        extension(false),
        bootEntry({ media: 4 }),
        header(true, 0, 1),
        bootEntry({ media: 2 }),
      ]),
    );
    let rng = 99;
    const next = (n: number) => {
      rng = (Math.imul(rng, 1103515245) + 12345) >>> 0;
      return rng % n;
    };
    let errors = 0;
    for (let i = 0; i < 3000; i++) {
      const buf = Buffer.from(base);
      for (let k = 0, n = 1 + next(4); k < n; k++) buf[next(320)] = next(256);
      // Keep the checksum right half of the time, so that the damage reaches the entries.
      if (i % 2) {
        buf.writeUInt16LE(0, 28);
        let sum = 0;
        for (let j = 0; j < 32; j += 2) sum += buf.readUInt16LE(j);
        buf.writeUInt16LE((0x10000 - (sum & 0xffff)) & 0xffff, 28);
      }
      try {
        parseBootCatalog(buf, 33);
      } catch (e) {
        if (!(e instanceof MediaError)) throw new Error(`iteration ${i}: ${String(e)}`, { cause: e });
        errors++;
      }
    }
    assert.ok(errors > 0 && errors < 3000);
  });

  it('readBootCatalog and readBootImage: damage in the image is E_TRUNCATED / E_FORMAT, not a crash', async () => {
    const image = join(work, 'small.iso');
    await run('genisoimage', ['-quiet', '-o', image, '-b', 'boot.img', '-no-emul-boot', '-boot-load-size', '4', root]);
    const buf = await readFile(image);
    const catSector = buf.readUInt32LE(17 * 2048 + 0x47);
    // The boot record points past the end of the image.
    const far = Buffer.from(buf);
    far.writeUInt32LE(0x00ffffff, 17 * 2048 + 0x47);
    await assert.rejects(readBootCatalog(new BufferSource(far)), { code: 'E_TRUNCATED' });
    // A bad checksum in the image.
    const bad = Buffer.from(buf);
    bad[catSector * 2048 + 5] ^= 0xff;
    await assert.rejects(readBootCatalog(new BufferSource(bad)), { code: 'E_FORMAT' });
    // The image is cut inside the catalog's boot image: its size is clamped to what is there.
    const cat = await readBootCatalog(new BufferSource(buf));
    const e = cat!.entries[0]!;
    const cut = new BufferSource(buf.subarray(0, e.imageOffset + 1000));
    const clamped = (await readBootCatalog(cut))!.entries[0]!;
    assert.equal(clamped.imageSize, 1000);
    assert.equal((await readBootImage(cut, clamped)).length, 1000);
    // An entry that lies past the end of the image cannot be read.
    await assert.rejects(readBootImage(cut, e), { code: 'E_TRUNCATED' });
  });
});
