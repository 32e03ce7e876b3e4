// Benchmark fixtures: Windows-like install ISOs of a chosen size, built with genisoimage in the
// layout Microsoft's media use (the tree only on the UDF side, the ISO 9660 side shows README.TXT).
// One large incompressible sources/install.wim carries almost all of the bytes; the rest is a
// fixed tree of about a thousand small files like the boot/, efi/, sources/ and support/ folders
// of a Windows 10 ISO. Nothing here is committed: fixtures are made in the benchmark's work dir.
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { prng } from '../../src/simulate/timings.ts';

const pexec = promisify(execFile);

export async function sh(cmd: string, args: readonly string[]): Promise<string> {
  try {
    const r = await pexec(cmd, [...args], { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' });
    return r.stdout;
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${err.stderr ?? ''}`);
  }
}

/** Log-normal size in bytes with the given median, clamped to [min, max]. */
export function logNormal(rnd: () => number, median: number, sigma: number, min: number, max: number): number {
  const u = Math.max(rnd(), 1e-12);
  const v = rnd();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  return Math.round(Math.min(max, Math.max(min, median * Math.exp(sigma * z))));
}

interface SmallFile {
  path: string;
  size: number;
}

/** The small-file part of a Windows 10 x64 ISO, in shape: names, folder depth and size spread. */
export function smallTreePlan(): SmallFile[] {
  const rnd = prng(0x5eed_1509);
  const files: SmallFile[] = [];
  const add = (path: string, size: number) => files.push({ path, size });
  add('README.TXT', 140);
  add('autorun.inf', 128);
  add('bootmgr', 413_738);
  add('bootmgr.efi', 1_505_080);
  add('setup.exe', 95_416);
  for (const f of ['bcd', 'boot.sdi', 'bootfix.bin', 'bootsect.exe', 'etfsboot.com', 'memtest.exe']) {
    add(`boot/${f}`, f === 'etfsboot.com' ? 4096 : f === 'boot.sdi' ? 3_170_304 : logNormal(rnd, 60_000, 1.2, 1024, 2_000_000));
  }
  const fonts = ['chs_boot', 'cht_boot', 'jpn_boot', 'kor_boot', 'malgun_boot', 'malgunn_boot', 'meiryo_boot', 'meiryon_boot', 'msjh_boot', 'msjhn_boot', 'msyh_boot', 'msyhn_boot', 'segmono_boot', 'segoe_slboot', 'segoen_slboot', 'wgl4_boot'];
  for (const f of fonts) add(`boot/fonts/${f}.ttf`, logNormal(rnd, 200_000, 1.3, 20_000, 4_000_000));
  add('boot/resources/bootres.dll', 90_000);
  const langs = ['cs-cz', 'da-dk', 'de-de', 'el-gr', 'en-gb', 'en-us', 'es-es', 'es-mx', 'fi-fi', 'fr-ca', 'fr-fr', 'hu-hu', 'it-it', 'ja-jp', 'ko-kr', 'nb-no', 'nl-nl', 'pl-pl', 'pt-br', 'pt-pt', 'ru-ru', 'sv-se', 'tr-tr', 'zh-cn', 'zh-tw'];
  for (const l of langs) {
    add(`boot/${l}/bootsect.exe.mui`, logNormal(rnd, 15_000, 0.3, 4096, 60_000));
    add(`efi/microsoft/boot/${l}/memtest.efi.mui`, logNormal(rnd, 40_000, 0.3, 4096, 100_000));
  }
  add('efi/boot/bootx64.efi', 1_505_080);
  for (const f of ['bcd', 'boot.stl', 'cdboot.efi', 'cdboot_noprompt.efi', 'efisys.bin', 'efisys_noprompt.bin', 'memtest.efi']) {
    add(`efi/microsoft/boot/${f}`, f.startsWith('efisys') ? 1_474_560 : logNormal(rnd, 300_000, 1.0, 4096, 2_000_000));
  }
  for (const f of fonts) add(`efi/microsoft/boot/fonts/${f}.ttf`, logNormal(rnd, 200_000, 1.3, 20_000, 4_000_000));
  add('sources/boot.wim', 24 * 1024 * 1024);
  for (const f of ['ei.cfg', 'lang.ini', 'cversion.ini', 'idwbinfo.txt', 'product.ini', 'setup.cfg']) add(`sources/${f}`, logNormal(rnd, 400, 1.0, 40, 40_000));
  // The flat part of sources/: setup's DLLs, EXEs, catalogs and data files.
  const exts = ['dll', 'dll', 'dll', 'dll', 'exe', 'cat', 'inf', 'xml', 'sdb', 'dat', 'mum', 'ini'];
  for (let i = 0; i < 520; i++) {
    const ext = exts[Math.floor(rnd() * exts.length)]!;
    add(`sources/setup${i.toString(36).padStart(3, '0')}.${ext}`, logNormal(rnd, 50_000, 1.5, 200, 6_000_000));
  }
  for (let i = 0; i < 140; i++) add(`sources/en-us/setup${i.toString(36).padStart(3, '0')}.dll.mui`, logNormal(rnd, 12_000, 1.0, 1024, 400_000));
  // sources/dlmanifests and replacementmanifests: many folders holding one to three tiny files.
  for (const top of ['dlmanifests', 'replacementmanifests']) {
    for (let i = 0; i < 60; i++) {
      const n = 1 + Math.floor(rnd() * 3);
      for (let j = 0; j < n; j++) add(`sources/${top}/microsoft-windows-component${i}/repl${j}.man`, logNormal(rnd, 3000, 1.0, 100, 80_000));
    }
  }
  for (let i = 0; i < 40; i++) add(`support/logging/tool${i}.${i % 2 ? 'dll' : 'exe'}`, logNormal(rnd, 40_000, 1.2, 1000, 1_000_000));
  return files;
}

export interface Fixture {
  /** Nominal size in GiB (the ISO's size, give or take the file system's metadata). */
  sizeGiB: number;
  iso: string;
  isoBytes: number;
  /** The folder the ISO was made from: what `cp -a` copies, the same files an extraction writes. */
  tree: string;
  /** Bytes of file data in the tree (what an extraction writes). */
  treeBytes: number;
  files: number;
  installWimBytes: number;
}

/** Writes `size` bytes of fresh random data (incompressible) in 8 MiB pieces. */
export async function randomFile(path: string, size: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const fh = await open(path, 'w');
  try {
    const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
    for (let at = 0; at < size; at += buf.length) {
      const n = Math.min(buf.length, size - at);
      randomFillSync(buf, 0, n);
      await fh.write(buf, 0, n, at);
    }
  } finally {
    await fh.close();
  }
}

/** The tree of small files, written once per work dir and shared (hard links) by every fixture size. */
async function smallTree(work: string): Promise<{ dir: string; bytes: number; files: number }> {
  const dir = join(work, 'small-tree');
  const plan = smallTreePlan();
  const done = join(work, 'small-tree.done');
  if (!existsSync(done)) {
    await rm(dir, { recursive: true, force: true });
    for (const f of plan) {
      if (f.path === 'README.TXT') {
        const text = 'This disc contains a "UDF" file system and requires an operating system\r\nthat supports the ISO-13346 "UDF" file system specification.\r\n';
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, f.path), text);
        f.size = Buffer.byteLength(text);
      } else await randomFile(join(dir, f.path), f.size);
    }
    await writeFile(done, '');
  }
  let total = 0;
  for (const f of plan) total += (await stat(join(dir, f.path))).size;
  return { dir, bytes: total, files: plan.length };
}

const TOP_HIDDEN = ['boot', 'efi', 'sources', 'support', 'bootmgr', 'bootmgr.efi', 'setup.exe', 'autorun.inf'];

/**
 * A UDF-only Windows-like ISO of about `sizeGiB` GiB, reused when the work dir already holds one
 * built with the same parameters.
 */
export async function buildFixture(work: string, sizeGiB: number, log: (s: string) => void): Promise<Fixture> {
  const tag = `win-${String(sizeGiB).replace('.', '_')}gib`;
  const iso = join(work, `${tag}.iso`);
  const manifest = join(work, `${tag}.json`);
  if (existsSync(manifest) && existsSync(iso)) {
    const m = JSON.parse(await readFile(manifest, 'utf8')) as Fixture;
    if (m.isoBytes === (await stat(iso)).size && m.tree && existsSync(join(m.tree, 'sources/install.wim'))) {
      log(`fixture ${iso}: reused`);
      return m;
    }
  }
  const small = await smallTree(work);
  const target = Math.round(sizeGiB * 2 ** 30);
  // install.wim takes the rest, less a little for the file system's own structures.
  const wimBytes = Math.max(64 * 1024 * 1024, target - small.bytes - 4 * 1024 * 1024);
  const tree = join(work, `${tag}-tree`);
  await rm(tree, { recursive: true, force: true });
  log(`fixture ${iso}: ${small.files} small files (${(small.bytes / 2 ** 20).toFixed(1)} MiB) + install.wim ${(wimBytes / 2 ** 20).toFixed(1)} MiB of random data`);
  await sh('cp', ['-al', small.dir, tree]);
  await randomFile(join(tree, 'sources/install.wim'), wimBytes);
  const args = ['-quiet', '-udf', '-V', 'CCCOMA_X64FRE_EN-US_DV9', '-A', 'CDIMAGE 2.56 (01/01/2005 TM)', '-publisher', 'MICROSOFT CORPORATION'];
  args.push('-b', 'boot/etfsboot.com', '-no-emul-boot', '-boot-load-seg', '0x07C0', '-boot-load-size', '8', '-c', 'boot/boot.cat');
  args.push('-eltorito-alt-boot', '-e', 'efi/microsoft/boot/efisys.bin', '-no-emul-boot');
  for (const top of TOP_HIDDEN) args.push('-hide', top);
  args.push('-o', iso, tree);
  await sh('genisoimage', args);
  const fx: Fixture = {
    sizeGiB,
    iso,
    isoBytes: (await stat(iso)).size,
    tree,
    treeBytes: small.bytes + wimBytes,
    files: small.files + 1,
    installWimBytes: wimBytes,
  };
  await writeFile(manifest, JSON.stringify(fx, null, 2));
  return fx;
}
