// Builds Windows-like installation media with the real tools (genisoimage, wimlib-imagex,
// mkfs.vfat), laid out as Microsoft's oscdimg lays them out. Nothing here is committed: every
// fixture is made in a temporary folder at test time.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from './tools.ts';

export type Release = '7-x64' | '7-x86' | '10-x64';

interface WimImageSpec {
  name: string;
  editionId: string;
  flags: string;
}

const WIN7_EDITIONS_X64: WimImageSpec[] = [
  { name: 'Windows 7 HOMEBASIC', editionId: 'HomeBasic', flags: 'HomeBasic' },
  { name: 'Windows 7 HOMEPREMIUM', editionId: 'HomePremium', flags: 'HomePremium' },
  { name: 'Windows 7 PROFESSIONAL', editionId: 'Professional', flags: 'Professional' },
  { name: 'Windows 7 ULTIMATE', editionId: 'Ultimate', flags: 'Ultimate' },
];
const WIN7_EDITIONS_X86: WimImageSpec[] = [{ name: 'Windows 7 STARTER', editionId: 'Starter', flags: 'Starter' }, ...WIN7_EDITIONS_X64];
const WIN10_EDITIONS: WimImageSpec[] = [
  { name: 'Windows 10 Education', editionId: 'Education', flags: 'Education' },
  { name: 'Windows 10 Enterprise', editionId: 'Enterprise', flags: 'Enterprise' },
  { name: 'Windows 10 Pro', editionId: 'Professional', flags: 'Professional' },
];

async function put(root: string, rel: string, data: string | Buffer): Promise<void> {
  const p = join(root, rel);
  await mkdir(dirname(p), { recursive: true });
  await writeFile(p, data);
}

function versionOf(release: Release) {
  return release === '10-x64'
    ? { major: 10, minor: 0, build: 19041, spBuild: 1, spLevel: 0 }
    : { major: 6, minor: 1, build: 7601, spBuild: 17514, spLevel: 1 };
}

/** Captures a WIM with Windows image properties, one image per spec, like Microsoft's install.wim. */
export async function makeWim(
  path: string,
  work: string,
  specs: readonly WimImageSpec[],
  opts: { arch: number; version: ReturnType<typeof versionOf>; language?: string; installationType?: string; compress?: string },
): Promise<void> {
  const lang = opts.language ?? 'en-US';
  for (const [i, s] of specs.entries()) {
    const src = join(work, `wimsrc-${i}`);
    await put(src, 'Windows/System32/config/SOFTWARE', randomBytes(3000 + i * 100));
    await put(src, 'Windows/Boot/EFI/bootmgfw.efi', randomBytes(4096));
    await put(src, `Users/Public/${s.editionId}.txt`, `edition ${s.editionId}\r\n`);
    const v = opts.version;
    const props = [
      `WINDOWS/ARCH=${opts.arch}`,
      `WINDOWS/PRODUCTNAME=Microsoft® Windows® Operating System`,
      `WINDOWS/EDITIONID=${s.editionId}`,
      `WINDOWS/INSTALLATIONTYPE=${opts.installationType ?? 'Client'}`,
      `WINDOWS/PRODUCTTYPE=WinNT`,
      `WINDOWS/PRODUCTSUITE=Terminal Server`,
      `WINDOWS/LANGUAGES/LANGUAGE=${lang}`,
      `WINDOWS/LANGUAGES/DEFAULT=${lang}`,
      `WINDOWS/SYSTEMROOT=WINDOWS`,
      `WINDOWS/VERSION/MAJOR=${v.major}`,
      `WINDOWS/VERSION/MINOR=${v.minor}`,
      `WINDOWS/VERSION/BUILD=${v.build}`,
      `WINDOWS/VERSION/SPBUILD=${v.spBuild}`,
      `WINDOWS/VERSION/SPLEVEL=${v.spLevel}`,
      `FLAGS=${s.flags}`,
      `DISPLAYNAME=${s.name}`,
    ].flatMap((p) => ['--image-property', p]);
    const cmd = i === 0 ? 'capture' : 'append';
    const args = [cmd, src, path, s.name, s.name, ...props];
    if (i === 0) args.push(`--compress=${opts.compress ?? 'LZX'}`);
    await run('wimlib-imagex', args);
  }
}

export interface WindowsMedia {
  /** The ISO image. */
  iso: string;
  /** The folder it was built from (what the UDF side must show). */
  tree: string;
  release: Release;
  label: string;
}

/**
 * A Windows installation ISO in Microsoft's layout: UDF 1.02 holds the tree; the ISO 9660 side
 * shows only README.TXT (`-hide`), as `oscdimg -u2` does. `bridge` keeps the full tree on both.
 */
export async function buildWindowsIso(work: string, release: Release, layout: 'udf-only' | 'bridge' = 'udf-only'): Promise<WindowsMedia> {
  const tree = join(work, `tree-${release}`);
  const x64 = release !== '7-x86';
  const arch = x64 ? 9 : 0;
  const archName = x64 ? 'x64' : 'x86';
  const version = versionOf(release);
  await put(tree, 'README.TXT', 'This disc contains a "UDF" file system and requires an operating system\r\nthat supports the ISO-13346 "UDF" file system specification.\r\n');
  await put(tree, 'bootmgr', randomBytes(40_000));
  await put(tree, 'setup.exe', randomBytes(110_000));
  await put(tree, 'autorun.inf', '[AutoRun.Amd64]\r\nopen=setup.exe\r\nicon=setup.exe,0\r\n');
  await put(tree, 'boot/bcd', randomBytes(16_384));
  await put(tree, 'boot/boot.sdi', randomBytes(8192));
  await put(tree, 'boot/etfsboot.com', randomBytes(4096));
  await put(tree, 'boot/fonts/segmono_boot.ttf', randomBytes(3000));
  await put(tree, 'boot/en-us/bootsect.exe.mui', randomBytes(2000));
  await put(tree, 'sources/ei.cfg', '[EditionID]\r\nProfessional\r\n\r\n[Channel]\r\nRetail\r\n\r\n[VL]\r\n0\r\n');
  await put(tree, 'sources/lang.ini', '[Available UI Languages]\r\nen-US = 3\r\n\r\n[Fallback Languages]\r\nen-US = en-us\r\n');
  const build = `${version.build}.${version.spBuild}`;
  await put(tree, 'sources/cversion.ini', `[HostBuild]\r\nMinClient=${build}\r\nMinServer=${build}\r\n`);
  await put(tree, 'sources/idwbinfo.txt', `[BUILDINFO]\r\nBuildArch=${x64 ? 'amd64' : 'x86'}\r\nBuildBranch=win7sp1_rtm\r\nBuildType=fre\r\n`);
  if (x64) {
    await put(tree, 'bootmgr.efi', randomBytes(20_000));
    await put(tree, 'efi/microsoft/boot/bcd', randomBytes(16_384));
    const efisys = join(tree, 'efi/microsoft/boot/efisys.bin');
    await mkdir(dirname(efisys), { recursive: true });
    await run('mkfs.vfat', ['-C', efisys, '1440']);
    if (release === '10-x64') await put(tree, 'efi/boot/bootx64.efi', randomBytes(30_000));
  }
  await makeWim(join(tree, 'sources/boot.wim'), join(work, 'bootwim'), [
    { name: `Microsoft Windows PE (${archName})`, editionId: 'WindowsPE', flags: '9' },
    { name: `Microsoft Windows Setup (${archName})`, editionId: 'WindowsPE', flags: '2' },
  ], { arch, version, installationType: 'WindowsPE' });
  const editions = release === '10-x64' ? WIN10_EDITIONS : x64 ? WIN7_EDITIONS_X64 : WIN7_EDITIONS_X86;
  await makeWim(join(tree, 'sources/install.wim'), join(work, 'installwim'), editions, { arch, version });

  const label = release === '10-x64' ? 'CCCOMA_X64FRE_EN-US_DV9' : x64 ? 'GSP1RMCPRXFRER_EN_DVD' : 'GSP1RMCPRFRER_EN_DVD';
  const iso = join(work, `${release}-${layout}.iso`);
  const args = ['-quiet', '-udf', '-V', label, '-A', 'CDIMAGE 2.56 (01/01/2005 TM)', '-publisher', 'MICROSOFT CORPORATION'];
  args.push('-b', 'boot/etfsboot.com', '-no-emul-boot', '-boot-load-seg', '0x07C0', '-boot-load-size', '8', '-c', 'boot/boot.cat');
  if (x64) args.push('-eltorito-alt-boot', '-e', 'efi/microsoft/boot/efisys.bin', '-no-emul-boot');
  if (layout === 'udf-only') {
    for (const top of ['boot', 'efi', 'sources', 'bootmgr', 'bootmgr.efi', 'setup.exe', 'autorun.inf']) args.push('-hide', top);
  } else {
    args.push('-J', '-joliet-long');
  }
  args.push('-o', iso, tree);
  await run('genisoimage', args);
  return { iso, tree, release, label };
}

/** A UDF image holding a sparse file over 4 GiB; the image itself stays sparse on disk. */
export async function buildBigUdfIso(work: string, size = 4700 * 1024 * 1024): Promise<{ iso: string; bigSize: number }> {
  const tree = join(work, 'bigtree');
  await put(tree, 'setup.txt', 'small file\n');
  const big = join(tree, 'sources/install.wim');
  await mkdir(dirname(big), { recursive: true });
  await run('truncate', ['-s', String(size), big]);
  // Marks at both ends and at the 1 GiB extent boundaries, so that misplaced extents show.
  const marks: [number, string][] = [
    [0, 'MSWIM-head'],
    [2 ** 30 - 2048 - 8, 'edge-1-a'],
    [2 ** 30 - 2048, 'edge-1-b'],
    [2 ** 32 + 17, 'past-4GiB'],
    [size - 9, 'tail-mark'],
  ];
  for (const [at, text] of marks) {
    await run('sh', ['-c', `printf '%s' "$1" | dd of="$2" bs=1 seek="$3" conv=notrunc status=none`, 'sh', text, big, String(at)]);
  }
  const iso = join(work, 'big.iso');
  await run('sh', ['-c', 'genisoimage -quiet -udf -allow-limited-size -iso-level 3 -o - "$1" | cp --sparse=always /dev/stdin "$2"', 'sh', tree, iso]);
  return { iso, bigSize: size };
}
