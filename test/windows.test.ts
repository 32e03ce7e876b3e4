// Windows identification beyond the plain install.wim: split and ESD install images, the release
// table, and media that are not Windows at all (the real ipxe.iso from Debian's ipxe package).
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openMedia } from '../src/media/open.ts';
import { familyOf, identifyWindows, parseIni } from '../src/windows/identify.ts';
import { buildWindowsIso, makeWim, type WindowsMedia } from './helpers/media.ts';
import { run, tempDir } from './helpers/tools.ts';

async function identify(iso: string) {
  const m = await openMedia(iso);
  try {
    return await identifyWindows(m);
  } finally {
    await m.close();
  }
}

describe('release table', () => {
  it('maps NT versions to families as Microsoft numbers them', () => {
    assert.equal(familyOf(6, 0, 6002, false), 'Vista');
    assert.equal(familyOf(6, 1, 7601, false), '7');
    assert.equal(familyOf(6, 2, 9200, false), '8');
    assert.equal(familyOf(6, 3, 9600, false), '8.1');
    assert.equal(familyOf(10, 0, 19045, false), '10');
    assert.equal(familyOf(10, 0, 22631, false), '11');
    assert.equal(familyOf(6, 1, 7601, true), 'Server');
    assert.equal(familyOf(5, 1, 2600, false), 'unknown');
  });

  it('reads the INI files of Windows media (ei.cfg sections without keys, CRLF, BOM)', () => {
    const ini = parseIni('\uFEFF[EditionID]\r\nProfessional\r\n\r\n[Channel]\r\nVolume\r\n[VL]\r\n1\r\n');
    assert.equal(ini.get('editionid')?.lines[0], 'Professional');
    assert.equal(ini.get('channel')?.lines[0], 'Volume');
    assert.equal(parseIni('[PID]\nValue=XXXXX-XXXXX-XXXXX-XXXXX-ABCDE\n').get('pid')?.get('value'), 'XXXXX-XXXXX-XXXXX-XXXXX-ABCDE');
  });
});

describe('every family, from install.wim versions written by wimlib', () => {
  const cases = [
    { v: { major: 6, minor: 0, build: 6002, spBuild: 18005, spLevel: 2 }, type: 'Client', ed: 'Business', arch: 0, release: 'Windows Vista SP2', family: 'Vista' },
    { v: { major: 6, minor: 1, build: 7600, spBuild: 16385, spLevel: 0 }, type: 'Client', ed: 'Professional', arch: 0, release: 'Windows 7', family: '7' },
    { v: { major: 6, minor: 2, build: 9200, spBuild: 16384, spLevel: 0 }, type: 'Client', ed: 'Professional', arch: 9, release: 'Windows 8', family: '8' },
    { v: { major: 6, minor: 3, build: 9600, spBuild: 17031, spLevel: 0 }, type: 'Client', ed: 'Professional', arch: 9, release: 'Windows 8.1', family: '8.1' },
    { v: { major: 10, minor: 0, build: 22631, spBuild: 2428, spLevel: 0 }, type: 'Client', ed: 'Professional', arch: 12, release: 'Windows 11', family: '11' },
    { v: { major: 6, minor: 1, build: 7601, spBuild: 17514, spLevel: 1 }, type: 'Server', ed: 'ServerStandard', arch: 9, release: 'Windows Server 2008 R2 SP1', family: 'Server' },
    { v: { major: 10, minor: 0, build: 17763, spBuild: 1, spLevel: 0 }, type: 'Server Core', ed: 'ServerDatacenterCor', arch: 9, release: 'Windows Server 2019', family: 'Server' },
  ];
  for (const c of cases) {
    it(`${c.release}`, async () => {
      const work = await tempDir();
      try {
        const tree = join(work.dir, 'tree');
        await mkdir(join(tree, 'sources'), { recursive: true });
        await makeWim(join(tree, 'sources', 'install.wim'), work.dir, [{ name: c.release, editionId: c.ed, flags: c.ed }], { arch: c.arch, version: c.v, installationType: c.type });
        const iso = join(work.dir, 'x.iso');
        await run('genisoimage', ['-quiet', '-udf', '-o', iso, tree]);
        const r = await identify(iso);
        assert.equal(r.release, c.release);
        assert.equal(r.family, c.family);
        assert.equal(r.build, c.v.build);
        assert.equal(r.architecture, c.arch === 0 ? 'x86' : c.arch === 9 ? 'amd64' : 'arm64');
        assert.equal(r.editions[0]!.editionId, c.ed);
      } finally {
        await work.cleanup();
      }
    });
  }
});

describe('install images in other forms', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let base: WindowsMedia;
  before(async () => {
    work = await tempDir();
    base = await buildWindowsIso(join(work.dir, 'w'), '7-x64', 'bridge');
  });
  after(() => work.cleanup());

  async function rebuild(name: string, prep: (sources: string) => Promise<void>): Promise<string> {
    const sources = join(base.tree, 'sources');
    await prep(sources);
    const iso = join(work.dir, `${name}.iso`);
    await run('genisoimage', ['-quiet', '-udf', '-V', base.label, '-o', iso, base.tree]);
    return iso;
  }

  it('a split install.swm set: every part found, editions read from part 1', async () => {
    const iso = await rebuild('swm', async (s) => {
      // Random data so the parts really split at a 1 MiB part size.
      await run('sh', ['-c', 'mkdir -p "$1/big" && head -c 3000000 /dev/urandom > "$1/big/blob.bin"', 'sh', work.dir]);
      await run('wimlib-imagex', ['update', join(s, 'install.wim'), '1', '--command', `add ${join(work.dir, 'big')} /big`]);
      await run('wimlib-imagex', ['split', join(s, 'install.wim'), join(s, 'install.swm'), '1']);
      await rm(join(s, 'install.wim'));
    });
    const r = await identify(iso);
    assert.equal(r.installImage?.format, 'swm');
    // wimlib never splits one resource, so the 3 MB blob gets a part of its own: 2 parts at least.
    assert.ok(r.installImage!.parts >= 2, `parts: ${r.installImage!.parts}`);
    assert.equal(r.editions.length, 4);
    assert.equal(r.editions[2]!.name, 'Windows 7 PROFESSIONAL');
    assert.equal(r.release, 'Windows 7 SP1');
  });

  it('an install.esd (solid LZMS)', async () => {
    const iso = await rebuild('esd', async (s) => {
      await run('sh', ['-c', 'rm -f "$1"/install*.swm', 'sh', s]);
      // The previous test split install.wim away: capture a fresh image and export it solid.
      const tmp = join(work.dir, 'fresh.wim');
      const props = ['WINDOWS/ARCH=9', 'WINDOWS/EDITIONID=Professional', 'WINDOWS/VERSION/MAJOR=6', 'WINDOWS/VERSION/MINOR=1', 'WINDOWS/VERSION/BUILD=7601', 'WINDOWS/VERSION/SPLEVEL=1'];
      await run('wimlib-imagex', ['capture', join(base.tree, 'boot'), tmp, 'Windows 7 PROFESSIONAL', ...props.flatMap((p) => ['--image-property', p])]);
      await run('wimlib-imagex', ['export', tmp, 'all', join(s, 'install.esd'), '--solid']);
    });
    const r = await identify(iso);
    assert.equal(r.installImage?.format, 'esd');
    assert.equal(r.installImage?.compression, 'lzms');
    assert.equal(r.editions[0]!.editionId, 'Professional');
    assert.equal(r.architecture, 'amd64');
    assert.equal(r.family, '7');
  });
});

describe('a real ISO from a Debian package', () => {
  it('/usr/lib/ipxe/ipxe.iso is read (Rock Ridge), is not Windows, and its boot files are named', async () => {
    const r = await identify('/usr/lib/ipxe/ipxe.iso');
    assert.equal(r.windows, false);
    assert.equal(r.media.fileSystem, 'rockridge');
    assert.equal(r.boot.bios, true);
    assert.equal(r.boot.uefi, true);
    // xorriso names the same files as the boot images.
    const x = (await run('xorriso', ['-indev', '/usr/lib/ipxe/ipxe.iso', '-report_el_torito', 'as_mkisofs'])).stdout;
    assert.ok(x.includes(`-b '${r.boot.biosImage}'`), x);
    assert.ok(x.includes(`-e '${r.boot.efiImage}'`), x);
    assert.deepEqual(r.editions, []);
  });
});
