// `overnight media` end to end on Windows-like media built with genisoimage and wimlib-imagex,
// with 7-Zip, wimlib and xorriso as the oracles.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { bytes } from '../src/cli/format.ts';
import { main } from '../src/cli/main.ts';
import { MediaError } from '../src/media/errors.ts';
import { extract, unsafeNameReason } from '../src/media/extract.ts';
import { openMedia, openMediaSource } from '../src/media/open.ts';
import { BufferSource } from '../src/media/source.ts';
import { crcItuT, tagChecksum } from '../src/media/udf/tag.ts';
import { buildWindowsIso, type WindowsMedia } from './helpers/media.ts';
import { run, sevenZipList, tempDir } from './helpers/tools.ts';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s + '\n'), err: (s) => (err += s + '\n') });
  return { code, out, err };
}

async function walkDir(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${d.name}` : d.name;
    out.push(p);
    if (d.isDirectory()) out.push(...(await walkDir(root, p)));
  }
  return out;
}

let work: { dir: string; cleanup: () => Promise<void> };
const media: Record<string, WindowsMedia> = {};
before(async () => {
  work = await tempDir();
  await Promise.all(
    (['7-x64', '7-x86', '10-x64'] as const).map(async (r) => {
      media[r] = await buildWindowsIso(join(work.dir, r), r, 'udf-only');
    }),
  );
});
after(() => work.cleanup());

describe('media info', () => {
  it('identifies Windows 7 SP1 x64: release, editions as wimlib reports them, lock, boot', async () => {
    const m = media['7-x64']!;
    const r = await cli('media', 'info', m.iso, '--json');
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.schema, 1);
    assert.equal(j.family, '7');
    assert.equal(j.release, 'Windows 7 SP1');
    assert.equal(j.build, 7601);
    assert.equal(j.servicePack, 1);
    assert.equal(j.architecture, 'amd64');
    assert.deepEqual(j.languages, ['en-US']);
    assert.equal(j.media.fileSystem, 'udf');
    assert.equal(j.media.udfRevision, '1.02');
    assert.equal(j.media.volumeLabel, 'GSP1RMCPRXFRER_EN_DVD');
    assert.equal(j.media.applicationId, 'CDIMAGE 2.56 (01/01/2005 TM)');
    assert.equal(j.installImage.format, 'wim');
    assert.equal(j.installImage.compression, 'lzx');
    // wimlib reading the same install.wim is the oracle for the edition list.
    const wi = (await run('wimlib-imagex', ['info', join(m.tree, 'sources/install.wim')])).stdout;
    const names = [...wi.matchAll(/^Name:\s+(.*)$/gm)].map((x) => x[1]);
    const editionIds = [...wi.matchAll(/^Edition ID:\s+(.*)$/gm)].map((x) => x[1]);
    const sizes = [...wi.matchAll(/^Total Bytes:\s+(\d+)$/gm)].map((x) => Number(x[1]));
    assert.deepEqual(j.editions.map((e: { name: string }) => e.name), names);
    assert.deepEqual(j.editions.map((e: { editionId: string }) => e.editionId), editionIds);
    assert.deepEqual(j.editions.map((e: { size: number }) => e.size), sizes);
    assert.deepEqual(j.editions.map((e: { index: number }) => e.index), [1, 2, 3, 4]);
    assert.equal(j.editions[2].name, 'Windows 7 PROFESSIONAL');
    assert.deepEqual(j.editionLock.eiCfg, { editionId: 'Professional', channel: 'Retail', volumeLicense: false });
    assert.equal(j.boot.bios, true);
    assert.equal(j.boot.uefi, true);
    assert.equal(j.boot.biosImage, '/boot/etfsboot.com');
    assert.equal(j.boot.efiImage, '/efi/microsoft/boot/efisys.bin');
    assert.equal(j.boot.usbUefiNeedsBootmgfwFix, true);
    // xorriso agrees on the boot entries.
    const x = (await run('xorriso', ['-indev', m.iso, '-report_el_torito', 'plain'])).stdout;
    assert.match(x, /El Torito boot img :\s+1\s+BIOS\s+y/);
    assert.match(x, /El Torito boot img :\s+2\s+UEFI\s+y/);
  });

  it('identifies Windows 7 x86 (STARTER first, BIOS only) and Windows 10 x64', async () => {
    const x86 = JSON.parse((await cli('media', 'info', media['7-x86']!.iso, '--json')).out);
    assert.equal(x86.architecture, 'x86');
    assert.equal(x86.editions[0].name, 'Windows 7 STARTER');
    assert.equal(x86.editions.length, 5);
    assert.equal(x86.boot.uefi, false);
    assert.equal(x86.boot.usbUefiNeedsBootmgfwFix, false);
    const w10 = JSON.parse((await cli('media', 'info', media['10-x64']!.iso, '--json')).out);
    assert.equal(w10.family, '10');
    assert.equal(w10.release, 'Windows 10');
    assert.equal(w10.build, 19041);
    assert.equal(w10.boot.usbEfiLoader, '/efi/boot/bootx64.efi');
    assert.equal(w10.boot.usbUefiNeedsBootmgfwFix, false);
    assert.deepEqual(w10.editions.map((e: { name: string }) => e.name), ['Windows 10 Education', 'Windows 10 Enterprise', 'Windows 10 Pro']);
  });

  it('reads like a person would: release line, editions table, the UEFI-from-USB advice', async () => {
    const r = await cli('media', 'info', media['7-x64']!.iso);
    assert.equal(r.code, 0);
    assert.match(r.out, /^Windows 7 SP1 \(6\.1 build 7601\)  ·  amd64  ·  en-US$/m);
    assert.match(r.out, /Volume label\s+GSP1RMCPRXFRER_EN_DVD/);
    assert.match(r.out, /3\s+Windows 7 PROFESSIONAL\s+Professional\s+amd64\s+6\.1\.7601\.17514/);
    assert.match(r.out, /UEFI from USB\s+needs the bootmgfw\.efi fix-up/);
    assert.match(r.out, /Edition lock\s+ei\.cfg: Professional \(Retail\)/);
  });

  it('fails with one clear line on a missing file or a file that is not an image', async () => {
    const a = await cli('media', 'info', join(work.dir, 'missing.iso'));
    assert.equal(a.code, 2);
    assert.match(a.err, /no such file/i);
    const junk = join(work.dir, 'junk.iso');
    await writeFile(junk, Buffer.alloc(100_000, 0x41));
    const b = await cli('media', 'info', junk);
    assert.equal(b.code, 2);
    assert.match(b.err, /not an ISO 9660 or UDF image.*\[E_NO_FS\]/);
  });
});

describe('media ls', () => {
  it('lists the UDF tree like 7z, and the ISO 9660 side shows only README.TXT', async () => {
    const m = media['7-x64']!;
    const j = JSON.parse((await cli('media', 'ls', m.iso, '/', '-R', '--json')).out);
    const ours = new Map(j.entries.map((e: { path: string; size: number; type: string }) => [e.path.slice(1), e.type === 'directory' ? -1 : e.size]));
    const seven = new Map([...(await sevenZipList(m.iso, 'udf'))].map(([p, v]) => [p, v.folder ? -1 : v.size]));
    assert.deepEqual(new Map([...ours].sort()), new Map([...seven].sort()));
    const iso = await cli('media', 'ls', m.iso, '--view', 'iso9660');
    assert.equal(iso.out.trim(), 'README.TXT');
    const long = await cli('media', 'ls', m.iso, 'sources', '-l');
    assert.match(long.out, /^-r--r--r--\s+\d+\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+install\.wim$/m);
  });
});

describe('media extract', () => {
  it('writes every file with 7z\'s bytes and timestamps; a re-run skips complete files', async () => {
    const m = media['7-x86']!;
    const dest = join(work.dir, 'extract-a');
    const ref = join(work.dir, 'extract-7z');
    await run('7z', ['x', '-tUdf', `-o${ref}`, m.iso]);
    const r = await cli('media', 'extract', m.iso, dest, '--json');
    assert.equal(r.code, 0, r.err);
    const summary = JSON.parse(r.out);
    assert.equal(summary.skippedFiles, 0);
    const ours = (await walkDir(dest)).sort();
    assert.deepEqual(ours, (await walkDir(ref)).sort());
    for (const p of ours) {
      const [a, b] = [await stat(join(dest, p)), await stat(join(ref, p))];
      if (a.isFile()) assert.ok((await readFile(join(dest, p))).equals(await readFile(join(ref, p))), p);
      assert.equal(Math.floor(a.mtimeMs / 1000), Math.floor(b.mtimeMs / 1000), `mtime of ${p}`);
    }
    const again = JSON.parse((await cli('media', 'extract', m.iso, dest, '--json')).out);
    assert.equal(again.files, 0);
    assert.equal(again.skippedFiles, summary.files);
    assert.equal(again.bytesWritten, 0);
  });

  it('extracts only the paths asked for, under their image paths', async () => {
    const dest = join(work.dir, 'extract-some');
    const r = await cli('media', 'extract', media['7-x64']!.iso, dest, '/sources/ei.cfg', 'boot/fonts');
    assert.equal(r.code, 0, r.err);
    assert.deepEqual((await walkDir(dest)).sort(), ['boot', 'boot/fonts', 'boot/fonts/segmono_boot.ttf', 'sources', 'sources/ei.cfg']);
  });

  it('an interrupted run leaves no truncated file under a final name, and the next run completes it', async () => {
    const m = media['7-x64']!;
    const dest = join(work.dir, 'extract-interrupted');
    const media7 = await openMedia(m.iso);
    try {
      const ac = new AbortController();
      await assert.rejects(
        extract(media7, dest, {
          signal: ac.signal,
          onProgress: (p) => {
            if (p.current === '/sources/install.wim' && p.bytesDone > 0) ac.abort(new Error('stop'));
          },
        }),
        /stop/,
      );
      const files = await walkDir(dest);
      assert.ok(!files.some((f) => f.endsWith('.overnight-partial')), 'partial file removed');
      for (const f of files) {
        const st = await stat(join(dest, f));
        if (st.isFile()) assert.equal(st.size, (await media7.stat('/' + f)).size, `${f} is complete`);
      }
      const r = await extract(media7, dest);
      assert.ok(r.skippedFiles > 0);
      assert.ok((await readFile(join(dest, 'sources/install.wim'))).equals(await readFile(join(m.tree, 'sources/install.wim'))));
    } finally {
      await media7.close();
    }
  });

  it('refuses unsafe names before writing anything', async () => {
    for (const bad of ['..', '.', 'CON', 'aux.txt', 'com1', 'a:b', 'x\\y', 'nul.tar.gz', 'trailing.', 'C:evil']) {
      assert.ok(unsafeNameReason(bad), `${bad} must be refused`);
    }
    for (const good of ['setup.exe', 'install.wim', 'Ωmega.txt', 'console.txt', '[BOOT]']) assert.equal(unsafeNameReason(good), undefined, good);
    // A UDF image whose file "zz" is renamed ".." in its File Identifier Descriptor.
    const tree = join(work.dir, 'unsafe-tree');
    await mkdir(join(tree, 'dir'), { recursive: true });
    await writeFile(join(tree, 'dir', 'zz'), 'escape attempt\n');
    await writeFile(join(tree, 'aaa-first.txt'), 'fine\n');
    const iso = join(work.dir, 'unsafe.iso');
    await run('genisoimage', ['-quiet', '-udf', '-o', iso, tree]);
    const img = await readFile(iso);
    const at = img.indexOf(Buffer.from('\x08zz', 'latin1'));
    const p = at - 38;
    assert.equal(img.readUInt16LE(p), 257);
    img.write('..', at + 1, 'latin1');
    img.writeUInt16LE(crcItuT(img, p + 16, p + 16 + img.readUInt16LE(p + 10)), p + 8);
    img[p + 4] = tagChecksum(img, p);
    const m = await openMediaSource('unsafe.iso', new BufferSource(img));
    const dest = join(work.dir, 'extract-unsafe');
    await assert.rejects(extract(m, dest), (e: unknown) => e instanceof MediaError && e.code === 'E_UNSAFE_NAME' && /"\.\."/.test(e.message));
    assert.deepEqual(await readdir(dest).catch(() => []), [], 'nothing written');
    // Windows device names on a Rock Ridge image (legal on Linux, fatal on a Windows host).
    const rr = join(work.dir, 'rr-tree');
    await mkdir(rr, { recursive: true });
    await writeFile(join(rr, 'aux.txt'), 'device name\n');
    const rrIso = join(work.dir, 'rr.iso');
    await run('genisoimage', ['-quiet', '-R', '-o', rrIso, rr]);
    const r = await cli('media', 'extract', rrIso, join(work.dir, 'extract-rr'));
    assert.equal(r.code, 2);
    assert.match(r.err, /refusing to extract "aux\.txt": is a Windows device name/);
  });
});

describe('media verify', () => {
  it('names a known image by hash, reports a damaged one, and does not hash an unknown one', async () => {
    const m = media['7-x64']!;
    const img = await readFile(m.iso);
    const sha1 = createHash('sha1').update(img).digest('hex');
    const sha256 = (await run('sha256sum', [m.iso])).stdout.split(' ')[0]!;
    const catalog = join(work.dir, 'catalog.json');
    await writeFile(catalog, JSON.stringify([{ file: 'lab_win7_x64.iso', product: 'Lab build', sha256, size: img.length }]));
    const ok = await cli('media', 'verify', m.iso, '--catalog', catalog, '--json');
    assert.equal(ok.code, 0, ok.err);
    const j = JSON.parse(ok.out);
    assert.equal(j.status, 'match');
    assert.equal(j.image.file, 'lab_win7_x64.iso');
    assert.equal(j.hashes.sha256, sha256);
    // Same size, one byte changed: damaged.
    const bad = join(work.dir, 'damaged.iso');
    img[img.length - 10000] ^= 1;
    await writeFile(bad, img);
    const dmg = await cli('media', 'verify', bad, '--catalog', catalog);
    assert.equal(dmg.code, 1);
    assert.match(dmg.out, /exact size of lab_win7_x64\.iso but not its checksum: the image is damaged/);
    // Nothing known has this size or label: answered without hashing.
    const unknown = await cli('media', 'verify', media['10-x64']!.iso, '--json');
    const u = JSON.parse(unknown.out);
    assert.equal(u.status, 'unknown');
    assert.deepEqual(u.hashes, {});
    assert.match(u.message, /unknown image/);
    // --expect compares with the vendor's checksum; sha1sum is the oracle.
    const exp = await cli('media', 'verify', media['10-x64']!.iso, '--expect', (await run('sha1sum', [media['10-x64']!.iso])).stdout.split(' ')[0]!);
    assert.equal(exp.code, 0);
    assert.match(exp.out, /matches the expected SHA1/);
    const wrong = await cli('media', 'verify', m.iso, '--expect', sha1.replace(/^./, (c) => (c === '0' ? '1' : '0')));
    assert.equal(wrong.code, 1);
    assert.match(wrong.out, /does NOT match the expected SHA1/);
  });
});

describe('media boot', () => {
  it('shows the BIOS and EFI entries as xorriso does and extracts their images', async () => {
    const m = media['7-x64']!;
    const dir = join(work.dir, 'boot-images');
    const r = await cli('media', 'boot', m.iso, '--extract', dir, '--json');
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.deepEqual(j.entries.map((e: { platform: string }) => e.platform), ['bios', 'efi']);
    assert.equal(j.entries[0].loadSegment, 0x7c0);
    assert.equal(j.entries[0].sectorCount, 8);
    assert.equal(j.entries[0].file, '/boot/etfsboot.com');
    assert.ok((await readFile(join(dir, '0-bios-etfsboot.com'))).equals(await readFile(join(m.tree, 'boot/etfsboot.com'))));
    assert.ok((await readFile(join(dir, '1-efi-efisys.bin'))).equals(await readFile(join(m.tree, 'efi/microsoft/boot/efisys.bin'))));
    const x = (await run('xorriso', ['-indev', m.iso, '-report_el_torito', 'plain'])).stdout;
    const lba = [...x.matchAll(/El Torito boot img :\s+\d+\s+\S+\s+y\s+\S+\s+0x\w+\s+0x\w+\s+\d+\s+(\d+)/g)].map((mm) => Number(mm[1]));
    assert.deepEqual(j.entries.map((e: { loadRba: number }) => e.loadRba), lba);
    const human = await cli('media', 'boot', m.iso);
    assert.match(human.out, /0\s+BIOS\s+yes\s+no-emulation\s+0x07C0\s+8/);
  });
});

describe('progress on a terminal', () => {
  it('byte counts and rates below 1 KiB are whole numbers (a rate at the first tick is fractional)', () => {
    assert.equal(bytes(484.8945976172402), '485 B');
    assert.equal(bytes(1536), '1.5 KiB');
  });

  it('extract and verify draw a progress line with bytes/s and ETA on a TTY, and nothing when piped', async () => {
    const m = media['7-x64']!;
    const dest = join(work.dir, 'extract-tty');
    // script(1) gives the command a pseudo-terminal, as an administrator's shell would.
    const cmd = `${process.execPath} bin/overnight.js media extract ${m.iso} ${dest} && ${process.execPath} bin/overnight.js media verify ${m.iso} --hash`;
    const { stdout } = await promisify(execFile)('script', ['-qec', cmd, '/dev/null']);
    assert.match(stdout, /\r\x1b\[2Kextract [█░]+\s+\d+%\s+[\d.]+ \w+\/[\d.]+ \w+\s+[\d.]+ \w+\/s\s+ETA \d+:\d\d/);
    assert.match(stdout, /\r\x1b\[2Kverify [█░]+\s+100%/);
    assert.doesNotMatch(stdout, /…/, 'the line fits an 80-column terminal');
    assert.match(stdout, /files \([\d.]+ \w+\) written to/);
    const piped = await promisify(execFile)(process.execPath, ['bin/overnight.js', 'media', 'verify', m.iso, '--hash']);
    assert.doesNotMatch(piped.stderr, /ETA/);
  });
});

describe('the overnight binary', () => {
  it('runs through bin/overnight.js with the pinned Node', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['bin/overnight.js', 'media', 'info', media['7-x86']!.iso]);
    assert.match(stdout, /^Windows 7 SP1 \(6\.1 build 7601\)  ·  x86/);
  });
});
