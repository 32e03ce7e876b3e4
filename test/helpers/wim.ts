// Test helpers for the WIM reader: build WIMs with wimlib-imagex (the oracle), parse its text
// output, and craft variants (replaced XML, patched header fields) that wimlib can still read.
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { run } from './tools.ts';

export const WIMLIB = 'wimlib-imagex';

/** True when wimlib-imagex is installed (Debian: wimtools). */
export async function haveWimlib(): Promise<boolean> {
  try {
    await run(WIMLIB, ['--version']);
    return true;
  } catch {
    return false;
  }
}

/** Creates files under `root`: path -> content (string, Buffer, or a byte count of random data). */
export async function makeTree(root: string, files: Record<string, string | Buffer | number>): Promise<void> {
  await mkdir(root, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const p = join(root, rel);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, typeof content === 'number' ? randomBytes(content) : content);
  }
}

/** `--image-property NAME=VALUE` arguments for each entry. */
export function propArgs(props: Record<string, string | number>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(props)) out.push('--image-property', `${k}=${v}`);
  return out;
}

/**
 * Parses `wimlib-imagex info FILE --header` into field -> value, e.g. 'Chunk Size' -> '32768',
 * plus 'flagNames' -> the WIM_HDR_FLAG_* names reported as set (comma separated).
 */
export function parseWimlibHeader(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const flags: string[] = [];
  for (const line of text.split('\n')) {
    const f = /^\s+WIM_HDR_FLAG_(\w+) is set/.exec(line);
    if (f) {
      flags.push(f[1]!);
      continue;
    }
    const m = /^([A-Za-z_ ]+?)\s+= (.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  out['flagNames'] = flags.join(',');
  return out;
}

/**
 * Parses plain `wimlib-imagex info FILE`: the "WIM Information" block and one record per image
 * in "Available Images" (field label -> value, e.g. 'Edition ID' -> 'Professional').
 */
export function parseWimlibInfo(text: string): { wim: Record<string, string>; images: Record<string, string>[] } {
  const wim: Record<string, string> = {};
  const images: Record<string, string>[] = [];
  let section: 'none' | 'wim' | 'images' = 'none';
  let cur: Record<string, string> | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('WIM Information:')) {
      section = 'wim';
      continue;
    }
    if (line.startsWith('Available Images:')) {
      section = 'images';
      continue;
    }
    if (/^-+$/.test(line) || line.trim() === '') continue;
    const m = /^([A-Za-z][A-Za-z ]*?):\s{0,}(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!;
    const value = m[2]!.replace(/\s+$/, '');
    if (section === 'wim') wim[key] = value;
    else if (section === 'images') {
      if (key === 'Index') {
        cur = {};
        images.push(cur);
      }
      if (cur) cur[key] = value;
    }
  }
  return { wim, images };
}

/** UTF-16LE with a BOM, as WIM XML is stored. */
export function utf16WithBom(xml: string): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(xml, 'utf16le')]);
}

/**
 * Writes a copy of `src` to `dst` whose XML resource is `xml` (raw bytes): the new XML is
 * appended at the end and the XML reshdr (0x48) is rewritten; the integrity table reshdr (0x7C)
 * is cleared so that no stale integrity data describes the file.
 */
export async function replaceWimXml(src: string, dst: string, xml: Buffer, opts: { xmlFlags?: number } = {}): Promise<void> {
  const wim = await readFile(src);
  const hdr = Buffer.from(wim.subarray(0, 208));
  const offset = wim.length;
  writeReshdr(hdr, 0x48, { size: xml.length, flags: opts.xmlFlags ?? 0x02, offset, originalSize: xml.length });
  hdr.fill(0, 0x7c, 0x7c + 24);
  await writeFile(dst, Buffer.concat([hdr, wim.subarray(208), xml]));
}

export function writeReshdr(
  hdr: Buffer,
  at: number,
  r: { size: number; flags: number; offset: number; originalSize: number },
): void {
  hdr.writeUIntLE(r.size, at, 6);
  hdr[at + 6] = 0;
  hdr[at + 7] = r.flags;
  hdr.writeBigUInt64LE(BigInt(r.offset), at + 8);
  hdr.writeBigUInt64LE(BigInt(r.originalSize), at + 16);
}

/** A copy of `src` with `patch` applied to its bytes. */
export async function patchFile(src: string, dst: string, patch: (buf: Buffer) => Buffer | void): Promise<void> {
  const buf = await readFile(src);
  const out = patch(buf) ?? buf;
  await writeFile(dst, out);
}

export async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

/** Decodes a UTF-16LE XML file as wimlib extracts it (`--extract-xml`). */
export async function readXmlFile(path: string): Promise<string> {
  const b = await readFile(path);
  const start = b[0] === 0xff && b[1] === 0xfe ? 2 : 0;
  return b.subarray(start).toString('utf16le');
}

export interface SyntheticWimOptions {
  /** XML resource bytes (default: one image named "a"). */
  xml?: Buffer;
  magic?: string;
  hdrSize?: number;
  version?: number;
  flags?: number;
  chunkSize?: number;
  guid?: Buffer;
  partNumber?: number;
  totalParts?: number;
  imageCount?: number;
  bootIndex?: number;
  /** Flags byte of the XML reshdr (default 0x02, as wimlib writes it). */
  xmlFlags?: number;
}

/**
 * A minimal WIM built by hand: the 208-byte header followed directly by the XML resource (no
 * blob table, no metadata). Enough for the metadata reader; wimlib itself would refuse it.
 */
export function syntheticWim(o: SyntheticWimOptions = {}): Buffer {
  const xml = o.xml ?? utf16WithBom('<WIM><TOTALBYTES>0</TOTALBYTES><IMAGE INDEX="1"><NAME>a</NAME></IMAGE></WIM>');
  const hdr = Buffer.alloc(208);
  Buffer.from(o.magic ?? 'MSWIM\0\0\0', 'latin1').copy(hdr, 0);
  hdr.writeUInt32LE(o.hdrSize ?? 208, 0x08);
  hdr.writeUInt32LE(o.version ?? 0x10d00, 0x0c);
  hdr.writeUInt32LE(o.flags ?? 0x00040082, 0x10);
  hdr.writeUInt32LE(o.chunkSize ?? 32768, 0x14);
  (o.guid ?? Buffer.from('00112233445566778899aabbccddeeff', 'hex')).copy(hdr, 0x18);
  hdr.writeUInt16LE(o.partNumber ?? 1, 0x28);
  hdr.writeUInt16LE(o.totalParts ?? 1, 0x2a);
  hdr.writeUInt32LE(o.imageCount ?? 1, 0x2c);
  writeReshdr(hdr, 0x48, { size: xml.length, flags: o.xmlFlags ?? 0x02, offset: 208, originalSize: xml.length });
  hdr.writeUInt32LE(o.bootIndex ?? 0, 0x78);
  return Buffer.concat([hdr, xml]);
}

/** A Date formatted as wimlib-imagex info prints timestamps: "Sat Mar 25 23:53:58 2017 UTC". */
export function wimlibTime(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()} UTC`;
}
