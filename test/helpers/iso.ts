// Test helpers for the ISO 9660 and El Torito readers: fixture trees, and parsers for the output
// of the oracle tools (7-Zip, xorriso). Fixtures are built at test time, never committed.
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { MediaEntry, MediaFS } from '../../src/media/types.ts';
import { run } from './tools.ts';

export type Listed = {
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  /** ls-style mode string, e.g. 'drwxr-xr-x', when the tool shows one. */
  mode?: string | undefined;
  target?: string | undefined;
  /** 'YYYY-MM-DD HH:MM:SS' (7-Zip, in the TZ of the test process). */
  modified?: string | undefined;
};

/** Deterministic pseudo-random bytes (xorshift32), so that failures are reproducible. */
export function pseudoRandom(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

async function put(root: string, rel: string, data: string | Buffer): Promise<void> {
  const p = join(root, rel);
  await mkdir(dirname(p), { recursive: true });
  await writeFile(p, data);
}

export const UNICODE_NAME = 'Ünïcödé-日本語.txt';
export const LONG_NAME = 'A Very Long Mixed-Case File Name With Spaces.And.Dots.txt';
/** Ten levels: deeper than ISO 9660's eight, so genisoimage -R relocates into rr_moved. */
export const DEEP_DIR = 'a/b/c/d/e/f/g/h/i/j';

/**
 * The fixture tree: nested dirs, long / mixed-case / unicode names, an empty file, a file
 * larger than 64 KiB (crosses many sectors), two symlinks, a deep directory and a file that
 * the tests hide with genisoimage -hidden.
 */
export async function makeTree(root: string): Promise<void> {
  await put(root, 'README.txt', 'hello\n');
  await put(root, 'empty.txt', '');
  await put(root, 'big.bin', pseudoRandom(200_000, 7));
  await put(root, LONG_NAME, 'long\n');
  await put(root, UNICODE_NAME, 'unicode\n');
  await put(root, 'secret.txt', 'hidden\n');
  await put(root, 'Docs/Sub Dir/notes.md', '# notes\n');
  await put(root, 'Docs/MixedCase.TXT', 'Mixed\n');
  await put(root, `${DEEP_DIR}/deep.txt`, 'deep\n');
  await put(root, 'a/b/mid.dat', pseudoRandom(5000, 11));
  await symlink('README.txt', join(root, 'link.txt'));
  await symlink('../../README.txt', join(root, 'Docs/Sub Dir/up.lnk'));
}

function typeOf7z(folder: boolean, mode: string): Listed['type'] {
  if (folder) return 'directory';
  if (mode.startsWith('l')) return 'symlink';
  if (mode.startsWith('d')) return 'directory';
  return 'file';
}

/** `7z l -slt -ba -tIso`: path -> entry, with the [BOOT] items kept apart. */
export async function sevenZipEntries(image: string): Promise<{ entries: Map<string, Listed & { placeholder: boolean }>; boot: Map<string, number> }> {
  const { stdout } = await run('7z', ['l', '-slt', '-ba', '-tIso', image]);
  const entries = new Map<string, Listed & { placeholder: boolean }>();
  const boot = new Map<string, number>();
  for (const block of stdout.split(/\n\s*\n/)) {
    const f: Record<string, string> = {};
    for (const line of block.split('\n')) {
      const m = /^([A-Za-z ]+?) = (.*)$/.exec(line);
      if (m) f[m[1]!] = m[2]!;
    }
    const path = f['Path'];
    if (path === undefined) continue;
    if (path.startsWith('[BOOT]/')) {
      boot.set(path, Number(f['Size'] ?? 0));
      continue;
    }
    const folder = f['Folder'] === '+';
    const mode = f['Mode'] ?? '';
    entries.set(path, {
      type: typeOf7z(folder, mode),
      size: folder ? 0 : Number(f['Size'] || 0),
      mode: mode || undefined,
      target: f['Symbolic Link'] || undefined,
      modified: f['Modified'] || undefined,
      // 7-Zip does not follow Rock Ridge CL: the record standing for a relocated directory is
      // shown as a file whose PX mode says directory.
      placeholder: !folder && mode.startsWith('d'),
    });
  }
  return { entries, boot };
}

/**
 * 7-Zip does not implement Rock Ridge directory relocation (RRIP 4.1.5): it shows the CL
 * placeholder as a file and the directory under rr_moved. This moves rr_moved/<name> back to
 * where its placeholder is (matched by name, which is unambiguous in our fixture), and leaves
 * rr_moved itself as the empty directory that the Linux kernel and xorriso show.
 */
export function undoRelocation(
  list: Map<string, Listed & { placeholder: boolean }>,
  movedDir = 'rr_moved',
): Map<string, Listed & { sevenZipPath: string }> {
  const placeholders = new Map<string, string>();
  for (const [p, e] of list) if (e.placeholder) placeholders.set(p.split('/').pop()!, p);
  const out = new Map<string, Listed & { sevenZipPath: string }>();
  for (const [p, e] of list) {
    const { placeholder, ...rest } = e;
    if (placeholder) continue;
    let path = p;
    if (p.startsWith(`${movedDir}/`)) {
      const [name, ...below] = p.slice(movedDir.length + 1).split('/');
      const to = placeholders.get(name!);
      if (to === undefined) throw new Error(`no CL placeholder for ${p}`);
      path = [to, ...below].join('/');
    }
    out.set(path, { ...rest, sevenZipPath: p });
  }
  return out;
}

/**
 * `7z x` of a whole image into `out`. p7zip refuses to create symlinks that point outside the
 * output folder ("Dangerous link path was ignored") and then exits non-zero; that is expected
 * for our fixture and is the only error tolerated.
 */
export async function sevenZipExtract(image: string, out: string): Promise<void> {
  try {
    await run('7z', ['x', '-y', '-tIso', `-o${out}`, image]);
  } catch (e) {
    const errors = String(e).split('\n').filter((l) => l.startsWith('ERROR:'));
    if (errors.length === 0 || !errors.every((l) => l.includes('Dangerous link path was ignored'))) throw e;
  }
}

/** `xorriso -read_fs X -indev image -find / -exec lsdl`: path (without leading '/') -> entry. */
export async function xorrisoEntries(image: string, readFs: 'any' | 'norock' | 'ecma119' = 'any'): Promise<Map<string, Listed>> {
  const { stdout } = await run('xorriso', ['-read_fs', readFs, '-indev', image, '-find', '/', '-exec', 'lsdl']);
  const out = new Map<string, Listed>();
  for (const line of stdout.split('\n')) {
    const m = /^(\S{10})\s+\d+\s+\S+\s+\S+\s+(\d+)\s+\w{3}\s+\d+\s+\S+\s+'(.*?)'(?: -> '(.*)')?$/.exec(line);
    if (!m) continue;
    const [, mode, size, rawPath, target] = m;
    const path = rawPath!.replace(/'\\''/g, "'").replace(/^\//, '');
    if (path === '') continue;
    const t = mode![0];
    out.set(path, {
      // xorriso marks the El Torito boot catalog 'e'; on the medium it is an ordinary file.
      type: t === 'd' ? 'directory' : t === 'l' ? 'symlink' : t === '-' || t === 'e' ? 'file' : 'other',
      size: t === 'd' ? 0 : Number(size),
      mode,
      target: target?.replace(/'\\''/g, "'"),
    });
  }
  return out;
}

export interface XorrisoBootImage {
  n: number;
  platform: string;
  bootable: boolean;
  emulation: string;
  loadSegment: number;
  systemType: number;
  loadSize: number;
  lba: number;
}

/** `xorriso -report_el_torito plain`: the "El Torito boot img" lines. */
export async function xorrisoElTorito(image: string): Promise<{ catalogSector: number | undefined; images: XorrisoBootImage[] }> {
  const { stdout } = await run('xorriso', ['-indev', image, '-report_el_torito', 'plain']);
  const images: XorrisoBootImage[] = [];
  let catalogSector: number | undefined;
  for (const line of stdout.split('\n')) {
    const c = /^El Torito catalog\s*:\s*(\d+)/.exec(line);
    if (c) catalogSector = Number(c[1]);
    const m = /^El Torito boot img :\s+(\d+)\s+(\S+)\s+([yn])\s+(\S+)\s+(0x[0-9a-fA-F]+)\s+(0x[0-9a-fA-F]+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    if (!m) continue;
    images.push({
      n: Number(m[1]),
      platform: m[2]!,
      bootable: m[3] === 'y',
      emulation: m[4]!,
      loadSegment: Number(m[5]),
      systemType: Number(m[6]),
      loadSize: Number(m[7]),
      lba: Number(m[8]),
    });
  }
  return { catalogSector, images };
}

/** `xorriso -find / -exec report_sections`: path -> [{lba, blocks, size}] per extent. */
export async function xorrisoSections(image: string): Promise<Map<string, { lba: number; blocks: number; size: number }[]>> {
  const { stdout } = await run('xorriso', ['-indev', image, '-find', '/', '-type', 'f', '-exec', 'report_sections']);
  const out = new Map<string, { lba: number; blocks: number; size: number }[]>();
  for (const line of stdout.split('\n')) {
    const m = /^File data lba:\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*'(.*)'$/.exec(line);
    if (!m) continue;
    const path = m[5]!;
    const list = out.get(path) ?? [];
    list[Number(m[1])] = { lba: Number(m[2]), blocks: Number(m[3]), size: Number(m[4]) };
    out.set(path, list);
  }
  return out;
}

/** `xorriso -pvd_info`: 'Volume Id' -> 'MY_VOLUME', ... */
export async function xorrisoPvdInfo(image: string): Promise<Record<string, string>> {
  const { stdout } = await run('xorriso', ['-indev', image, '-pvd_info']);
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^([A-Za-z. ]+?)\s*:\s?(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

const PERMS = ['---', '--x', '-w-', '-wx', 'r--', 'r-x', 'rw-', 'rwx'];

/** ls-style mode string from our entry type and POSIX permission bits (no suid/sticky needed). */
export function modeString(type: MediaEntry['type'], mode: number): string {
  const t = type === 'directory' ? 'd' : type === 'symlink' ? 'l' : type === 'file' ? '-' : '?';
  return t + PERMS[(mode >> 6) & 7] + PERMS[(mode >> 3) & 7] + PERMS[mode & 7];
}

/** 'YYYY-MM-DD HH:MM:SS' in UTC, as 7-Zip prints with TZ=UTC. */
export function sevenZipTime(d: Date | undefined): string | undefined {
  return d?.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
}

/** Every entry of a MediaFS: path without leading '/' -> entry. */
export async function walkAll(fs: MediaFS): Promise<Map<string, MediaEntry>> {
  const out = new Map<string, MediaEntry>();
  for await (const e of fs.walk()) out.set(e.path.slice(1), e);
  return out;
}
