// The install benchmark's fixture: a Windows 7 SP1 x64-like UDF-only ISO of about 4 GB, laid out
// as test/helpers/media.ts buildWindowsIso lays out Microsoft's media (the tree only on the UDF
// side, El Torito BIOS and UEFI entries), but with real weight:
//  - sources/install.wim: a real WIM (wimlib-imagex capture --compress=none) of a folder holding a
//    few files of incompressible data, ~3.7 GB in all, with the four Windows 7 x64 editions and the
//    Windows image properties makeWim sets (the three appended editions share the data, as the
//    editions of Microsoft's install.wim share theirs);
//  - sources/boot.wim: a real two-image WIM (Windows PE, Windows Setup) of ~150 MB;
//  - about 950 small files shaped like the rest of a Windows 7 DVD (boot/, efi/, sources/ with
//    setup's files, en-us/, dlmanifests/, replacementmanifests/, license/, support/, upgrade/).
// Built once into the work dir and reused while its manifest matches; the sources (the data
// folder, the tree) are deleted once the ISO exists, so only the ISO stays (~4 GB).
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { prng } from '../../src/simulate/timings.ts';
import { logNormal, randomFile, sh } from '../media/fixture.ts';

export { sh };
const FIXTURE_VERSION = 1;

interface PlannedFile {
  path: string;
  size: number;
  /** Fixed text instead of random bytes. */
  text?: string;
}

const LANGS = ['ar-sa', 'bg-bg', 'cs-cz', 'da-dk', 'de-de', 'el-gr', 'en-us', 'es-es', 'et-ee', 'fi-fi', 'fr-fr', 'he-il', 'hr-hr', 'hu-hu', 'it-it', 'ja-jp', 'ko-kr', 'lt-lt', 'lv-lv', 'nb-no', 'nl-nl', 'pl-pl', 'pt-br', 'pt-pt', 'ro-ro', 'ru-ru', 'sk-sk', 'sl-si', 'sr-latn-cs', 'sv-se', 'th-th', 'tr-tr', 'uk-ua', 'zh-cn', 'zh-hk', 'zh-tw'];

/** Everything but the two WIMs and efisys.bin: the small files of a Windows 7 SP1 x64 DVD, in shape. */
function smallTreePlan(): PlannedFile[] {
  const rnd = prng(0x0007_7601);
  const files: PlannedFile[] = [];
  const add = (path: string, size: number, text?: string) => files.push({ path, size, ...(text === undefined ? {} : { text }) });
  const text = (path: string, t: string) => add(path, Buffer.byteLength(t), t);
  text('autorun.inf', '[AutoRun.Amd64]\r\nopen=setup.exe\r\nicon=setup.exe,0\r\n\r\n[AutoRun]\r\nopen=sources\\sp_setup.exe\r\nicon=sources\\sp_setup.exe,0\r\n');
  add('bootmgr', 383_786);
  add('bootmgr.efi', 672_640);
  add('setup.exe', 112_080);
  for (const f of ['bcd', 'boot.sdi', 'bootfix.bin', 'bootsect.exe', 'etfsboot.com', 'memtest.exe']) {
    add(`boot/${f}`, f === 'etfsboot.com' ? 4096 : f === 'boot.sdi' ? 3_170_304 : f === 'bcd' ? 262_144 : logNormal(rnd, 60_000, 1.2, 1024, 2_000_000));
  }
  const fonts = ['chs_boot', 'cht_boot', 'jpn_boot', 'kor_boot', 'wgl4_boot'];
  for (const f of fonts) add(`boot/fonts/${f}.ttf`, logNormal(rnd, 1_500_000, 1.0, 40_000, 4_000_000));
  for (const l of LANGS) {
    add(`boot/${l}/bootsect.exe.mui`, logNormal(rnd, 15_000, 0.3, 4096, 60_000));
    add(`efi/microsoft/boot/${l}/memtest.efi.mui`, logNormal(rnd, 40_000, 0.3, 4096, 100_000));
  }
  add('efi/microsoft/boot/bcd', 262_144);
  add('efi/microsoft/boot/memtest.efi', 1_071_000);
  add('efi/microsoft/boot/efisys_noprompt.bin', 1_474_560);
  for (const f of fonts) add(`efi/microsoft/boot/fonts/${f}.ttf`, logNormal(rnd, 1_500_000, 1.0, 40_000, 4_000_000));
  text('sources/ei.cfg', '[EditionID]\r\nProfessional\r\n\r\n[Channel]\r\nRetail\r\n\r\n[VL]\r\n0\r\n');
  text('sources/lang.ini', '[Available UI Languages]\r\nen-US = 3\r\n\r\n[Fallback Languages]\r\nen-US = en-us\r\n');
  text('sources/cversion.ini', '[HostBuild]\r\nMinClient=7601.17514\r\nMinServer=7601.17514\r\n');
  text('sources/idwbinfo.txt', '[BUILDINFO]\r\nBuildArch=amd64\r\nBuildBranch=win7sp1_rtm\r\nBuildType=fre\r\n');
  // The flat part of sources/: setup's DLLs, EXEs, catalogs and data files.
  const exts = ['dll', 'dll', 'dll', 'dll', 'exe', 'cat', 'inf', 'xml', 'sdb', 'dat', 'mum', 'ini'];
  for (let i = 0; i < 330; i++) {
    const ext = exts[Math.floor(rnd() * exts.length)]!;
    add(`sources/setup${i.toString(36).padStart(3, '0')}.${ext}`, logNormal(rnd, 50_000, 1.5, 200, 6_000_000));
  }
  for (let i = 0; i < 150; i++) add(`sources/en-us/setup${i.toString(36).padStart(3, '0')}.dll.mui`, logNormal(rnd, 12_000, 1.0, 1024, 400_000));
  // sources/dlmanifests and replacementmanifests: many folders holding one to three tiny files.
  for (const [top, n] of [['dlmanifests', 60], ['replacementmanifests', 45]] as const) {
    for (let i = 0; i < n; i++) {
      const k = 1 + Math.floor(rnd() * 3);
      for (let j = 0; j < k; j++) add(`sources/${top}/microsoft-windows-component${i}/repl${j}.man`, logNormal(rnd, 3000, 1.0, 100, 80_000));
    }
  }
  for (const e of ['professional', 'homepremium', 'homebasic', 'ultimate', 'starter', 'enterprise']) {
    for (const f of ['eula.rtf', 'oem/eula.rtf', 'volume/eula.rtf']) add(`sources/license/${e}/${f}`, logNormal(rnd, 120_000, 0.3, 20_000, 400_000));
  }
  for (let i = 0; i < 30; i++) add(`support/tools/tool${i}.${i % 3 ? 'dll' : 'exe'}`, logNormal(rnd, 40_000, 1.2, 1000, 1_000_000));
  for (let i = 0; i < 20; i++) add(`support/logging/log${i}.${i % 2 ? 'dll' : 'exe'}`, logNormal(rnd, 40_000, 1.2, 1000, 1_000_000));
  for (let i = 0; i < 120; i++) add(`upgrade/${i < 60 ? '' : 'netfx/'}up${i.toString(36).padStart(2, '0')}.${i % 4 ? 'dll' : 'mui'}`, logNormal(rnd, 30_000, 1.3, 500, 3_000_000));
  return files;
}


interface WimImage {
  name: string;
  editionId: string;
  flags: string;
}

const EDITIONS: WimImage[] = [
  { name: 'Windows 7 HOMEBASIC', editionId: 'HomeBasic', flags: 'HomeBasic' },
  { name: 'Windows 7 HOMEPREMIUM', editionId: 'HomePremium', flags: 'HomePremium' },
  { name: 'Windows 7 PROFESSIONAL', editionId: 'Professional', flags: 'Professional' },
  { name: 'Windows 7 ULTIMATE', editionId: 'Ultimate', flags: 'Ultimate' },
];

/** The Windows image properties test/helpers/media.ts makeWim sets (Windows 7 SP1 x64, en-US). */
function properties(s: WimImage, installationType: string): string[] {
  return [
    'WINDOWS/ARCH=9',
    'WINDOWS/PRODUCTNAME=Microsoft® Windows® Operating System',
    `WINDOWS/EDITIONID=${s.editionId}`,
    `WINDOWS/INSTALLATIONTYPE=${installationType}`,
    'WINDOWS/PRODUCTTYPE=WinNT',
    'WINDOWS/PRODUCTSUITE=Terminal Server',
    'WINDOWS/LANGUAGES/LANGUAGE=en-US',
    'WINDOWS/LANGUAGES/DEFAULT=en-US',
    'WINDOWS/SYSTEMROOT=WINDOWS',
    'WINDOWS/VERSION/MAJOR=6',
    'WINDOWS/VERSION/MINOR=1',
    'WINDOWS/VERSION/BUILD=7601',
    'WINDOWS/VERSION/SPBUILD=17514',
    'WINDOWS/VERSION/SPLEVEL=1',
    `FLAGS=${s.flags}`,
    `DISPLAYNAME=${s.name}`,
  ].flatMap((p) => ['--image-property', p]);
}

/**
 * Captures one WIM, uncompressed, one image per spec from the same folder: between images only
 * the edition's own small file changes, and --update-of lets wimlib skip re-reading the rest.
 */
async function captureWim(wim: string, src: string, specs: readonly WimImage[], installationType: string): Promise<void> {
  for (const [i, s] of specs.entries()) {
    await rm(join(src, 'Users'), { recursive: true, force: true });
    await mkdir(join(src, 'Users/Public'), { recursive: true });
    await writeFile(join(src, `Users/Public/${s.editionId}-${i}.txt`), `edition ${s.name}\r\n`);
    const args = i === 0 ? ['capture', src, wim, s.name, s.name, '--compress=none'] : ['append', src, wim, s.name, s.name, `--update-of=${i}`];
    await sh('wimlib-imagex', [...args, ...properties(s, installationType)]);
  }
}

export interface InstallFixture {
  version: number;
  /** Requested ISO size, 10^9 bytes. */
  sizeGB: number;
  iso: string;
  isoBytes: number;
  label: string;
  /** Files and folders on the UDF side, as 7z -tUdf lists them (an extraction writes these). */
  files: number;
  folders: number;
  /** Bytes of file data (what an extraction writes). */
  treeBytes: number;
  installWimBytes: number;
  installWimImages: number;
  bootWimBytes: number;
  /** The install.wim data files (incompressible), bytes each. */
  dataFiles: number[];
  /** How it was built, for the report. */
  built: string;
  buildSeconds: number;
}

/** A Windows 7 SP1 x64-like ISO of about `sizeGB` × 10^9 bytes, built or reused in `work`. */
export async function buildInstallFixture(work: string, sizeGB: number, log: (s: string) => void): Promise<InstallFixture> {
  const tag = `win7-x64-${String(sizeGB).replace('.', '_')}gb`;
  const iso = join(work, `${tag}.iso`);
  const manifest = join(work, `${tag}.json`);
  if (existsSync(manifest) && existsSync(iso)) {
    const m = JSON.parse(await readFile(manifest, 'utf8')) as InstallFixture;
    if (m.version === FIXTURE_VERSION && m.isoBytes === (await stat(iso)).size) {
      log(`fixture ${iso}: reused (${m.built})`);
      return m;
    }
  }
  const t0 = performance.now();
  await mkdir(work, { recursive: true });
  const tree = join(work, `${tag}-tree`);
  const bootSrc = join(work, `${tag}-bootwim-src`);
  const installSrc = join(work, `${tag}-installwim-src`);
  for (const d of [tree, bootSrc, installSrc, iso, manifest]) await rm(d, { recursive: true, force: true });

  const plan = smallTreePlan();
  for (const f of plan) {
    if (f.text !== undefined) {
      await mkdir(dirname(join(tree, f.path)), { recursive: true });
      await writeFile(join(tree, f.path), f.text);
    } else await randomFile(join(tree, f.path), f.size);
  }
  const efisys = join(tree, 'efi/microsoft/boot/efisys.bin');
  await sh('mkfs.vfat', ['-C', efisys, '1440']);

  // boot.wim: Windows PE and Windows Setup, as on the DVD (~150 MB, incompressible).
  const bootData = 150_000_000;
  await randomFile(join(bootSrc, 'Windows/System32/config/SYSTEM'), 12_000_000);
  await randomFile(join(bootSrc, 'Windows/System32/boot.dat'), bootData - 12_000_000);
  await writeFile(join(bootSrc, 'setup.exe'), Buffer.alloc(4096, 1));
  await captureWim(join(tree, 'sources/boot.wim'), bootSrc, [
    { name: 'Microsoft Windows PE (x64)', editionId: 'WindowsPE', flags: '9' },
    { name: 'Microsoft Windows Setup (x64)', editionId: 'WindowsPE', flags: '2' },
  ], 'WindowsPE');
  await rm(bootSrc, { recursive: true, force: true });

  // install.wim takes the rest: a few large files of incompressible data, shared by four editions.
  let small = 0;
  for (const e of await readdir(tree, { recursive: true, withFileTypes: true })) if (e.isFile()) small += (await stat(join(e.parentPath, e.name))).size;
  const wimOverhead = 2_000_000;
  const isoOverhead = 4_000_000;
  const dataTotal = Math.round(sizeGB * 1e9) - small - wimOverhead - isoOverhead;
  if (dataTotal < 100_000_000) throw new Error(`--size-gb ${sizeGB} is too small for the tree (${small} bytes without install.wim)`);
  // Three files as a Windows image's largest (driver store, WinSxS packs, the registry hives would be).
  const dataFiles = [0.45, 0.35, 0.2].map((f) => Math.floor((dataTotal * f) / 4096) * 4096);
  await randomFile(join(installSrc, 'Windows/System32/config/SOFTWARE'), 30_000);
  await randomFile(join(installSrc, 'Windows/Boot/EFI/bootmgfw.efi'), 672_640);
  for (const [i, n] of dataFiles.entries()) await randomFile(join(installSrc, `Windows/WinSxS/Pack${i}.dat`), n);
  log(`fixture: capturing install.wim (${(dataFiles.reduce((a, b) => a + b, 0) / 1e9).toFixed(2)} GB of random data in ${dataFiles.length} files, --compress=none, ${EDITIONS.length} editions)`);
  await captureWim(join(tree, 'sources/install.wim'), installSrc, EDITIONS, 'Client');
  await rm(installSrc, { recursive: true, force: true });

  let sourceFiles = 0;
  for (const e of await readdir(tree, { recursive: true, withFileTypes: true })) if (e.isFile()) sourceFiles++;
  const label = 'GSP1RMCPRXFRER_EN_DVD';
  const args = ['-quiet', '-udf', '-V', label, '-A', 'CDIMAGE 2.56 (01/01/2005 TM)', '-publisher', 'MICROSOFT CORPORATION'];
  args.push('-b', 'boot/etfsboot.com', '-no-emul-boot', '-boot-load-seg', '0x07C0', '-boot-load-size', '8', '-c', 'boot/boot.cat');
  args.push('-eltorito-alt-boot', '-e', 'efi/microsoft/boot/efisys.bin', '-no-emul-boot');
  for (const top of ['boot', 'efi', 'sources', 'support', 'upgrade', 'bootmgr', 'bootmgr.efi', 'setup.exe', 'autorun.inf']) args.push('-hide', top);
  args.push('-o', iso, tree);
  log(`fixture: genisoimage -udf (${sourceFiles} files)`);
  await sh('genisoimage', args);
  // What an extraction writes: the UDF side as 7-Zip lists it (genisoimage adds boot/boot.cat).
  const listing = await sevenZipTotals(iso);
  const installWimBytes = (await stat(join(tree, 'sources/install.wim'))).size;
  const bootWimBytes = (await stat(join(tree, 'sources/boot.wim'))).size;
  await rm(tree, { recursive: true, force: true });
  const isoBytes = (await stat(iso)).size;
  const fx: InstallFixture = {
    version: FIXTURE_VERSION,
    sizeGB,
    iso,
    isoBytes,
    label,
    files: listing.files,
    folders: listing.folders,
    treeBytes: listing.bytes,
    installWimBytes,
    installWimImages: EDITIONS.length,
    bootWimBytes,
    dataFiles,
    built:
      `UDF-only ISO (genisoimage -udf, tree hidden from ISO 9660, El Torito BIOS + UEFI), ${(isoBytes / 1e9).toFixed(2)} GB; ` +
      `sources/install.wim ${(installWimBytes / 1e9).toFixed(2)} GB (wimlib-imagex capture --compress=none of ${dataFiles.length} random files, ` +
      `${EDITIONS.length} Windows 7 editions appended with --update-of, Windows image properties as makeWim), sources/boot.wim ${(bootWimBytes / 1e6).toFixed(0)} MB (2 images), ` +
      `${listing.files - 2} other files (${((listing.bytes - installWimBytes - bootWimBytes) / 1e6).toFixed(0)} MB) in ${listing.folders} folders`,
    buildSeconds: (performance.now() - t0) / 1000,
  };
  await writeFile(manifest, JSON.stringify(fx, null, 2) + '\n');
  log(`fixture ${iso}: built in ${fx.buildSeconds.toFixed(0)} s: ${fx.built}`);
  return fx;
}

/** Files, folders and file bytes on the UDF side of an image, as `7z l -slt -tUdf` lists them. */
export async function sevenZipTotals(iso: string): Promise<{ files: number; folders: number; bytes: number }> {
  const out = await sh('7z', ['l', '-slt', '-ba', '-tUdf', iso]);
  let files = 0;
  let folders = 0;
  let bytes = 0;
  for (const block of out.split(/\n\s*\n/)) {
    if (!/^Path = /m.test(block)) continue;
    const folder = /^Folder = \+/m.test(block) || /^Attributes = D/m.test(block);
    if (folder) folders++;
    else {
      files++;
      bytes += Number(/^Size = (\d+)/m.exec(block)?.[1] ?? 0);
    }
  }
  return { files, folders, bytes };
}

/**
 * The smallest smb.conf that runs a second smbd on a state folder of its own, serving `path`
 * read-only as `share`: the "default Samba" the install benchmarks compare with.
 */
export function defaultSmbConf(state: string, share: string, path: string, port?: number): string {
  return `[global]
  private dir = ${state}/private
  lock directory = ${state}/lock
  state directory = ${state}/state
  cache directory = ${state}/cache
  pid directory = ${state}/run
  ncalrpc dir = ${state}/run/ncalrpc
  passdb backend = tdbsam:${state}/private/passdb.tdb
  log file = ${state}/log.smbd
${port === undefined ? '' : `  smb ports = ${port}\n`}
[${share}]
  path = ${path}
  read only = yes
  guest ok = no
`;
}
