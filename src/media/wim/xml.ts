// WIM XML codec (pure): the UTF-16LE document that names and describes the images of a WIM
// (<WIM><TOTALBYTES/><IMAGE INDEX="n">...</IMAGE>...</WIM>). Element names are those written by
// WIMGAPI/DISM and wimlib; like wimlib they are matched case-sensitively. Unknown elements are
// kept in `extra` under a wimlib --image-property style path (e.g. "WINDOWS/SERVICINGDATA/IMAGESTATE").
import { SaxesParser, type SaxesTagPlain } from 'saxes';
import { MediaError } from '../errors.ts';
import { WIM_MAX_IMAGES } from './header.ts';

/** No real WIM XML comes near this (a 40-image install.wim has ~100 KiB). */
export const WIM_MAX_XML_BYTES = 64 * 1024 * 1024;
/** Nesting deeper than this is not a WIM document. */
export const WIM_XML_MAX_DEPTH = 64;
/** Elements in one document (a real image has ~40). */
export const WIM_XML_MAX_ELEMENTS = 2_000_000;

export type WimArchName = 'x86' | 'arm' | 'ia64' | 'amd64' | 'arm64' | 'unknown';

export interface WimWindowsVersion {
  readonly major: number | undefined;
  readonly minor: number | undefined;
  readonly build: number | undefined;
  readonly spBuild: number | undefined;
  readonly spLevel: number | undefined;
}

/** The <WINDOWS> element of an image. */
export interface WimWindowsInfo {
  /** <ARCH>: PROCESSOR_ARCHITECTURE_* (0 x86, 5 ARM, 6 IA64, 9 x64, 12 ARM64); undefined if absent. */
  readonly arch: number | undefined;
  readonly archName: WimArchName;
  readonly productName: string | undefined;
  readonly editionId: string | undefined;
  readonly installationType: string | undefined;
  readonly hal: string | undefined;
  readonly productType: string | undefined;
  readonly productSuite: string | undefined;
  /** <LANGUAGES><LANGUAGE>, in document order. */
  readonly languages: string[];
  /** <LANGUAGES><DEFAULT>. */
  readonly defaultLanguage: string | undefined;
  readonly systemRoot: string | undefined;
  /** <VERSION>, undefined when the element is absent. */
  readonly version: WimWindowsVersion | undefined;
}

/** One <IMAGE> element. Text values are kept exactly as stored (not trimmed), as wimlib does. */
export interface WimImage {
  /** INDEX attribute: 1-based image number. */
  readonly index: number;
  /** <NAME>, '' when absent (as wimlib reports it). */
  readonly name: string;
  readonly description: string | undefined;
  readonly displayName: string | undefined;
  readonly displayDescription: string | undefined;
  /** <FLAGS>, the edition in older media (e.g. 'Professional'). */
  readonly flags: string | undefined;
  readonly dirCount: number | undefined;
  readonly fileCount: number | undefined;
  readonly totalBytes: number | undefined;
  readonly hardLinkBytes: number | undefined;
  /** <CREATIONTIME> HIGHPART/LOWPART (hex FILETIME), to the millisecond. */
  readonly creationTime: Date | undefined;
  readonly lastModificationTime: Date | undefined;
  readonly windows: WimWindowsInfo | undefined;
  /** Everything else below <IMAGE>: path (relative to IMAGE) -> text; attributes as "PATH/@NAME". */
  readonly extra: Record<string, string>;
}

export interface WimXmlInfo {
  /** <WIM><TOTALBYTES>: size of the WIM file(part) as recorded by its writer. */
  readonly totalBytes: number | undefined;
  /** Images sorted by index (1..N). */
  readonly images: WimImage[];
  /** True when the document carries <ESD><ENCRYPTED> (an encrypted ESD from the Windows Store / Windows 8.1 era). */
  readonly encrypted: boolean;
  /** Everything else below <WIM> (e.g. "ESD/KEY"), keyed as in WimImage.extra. */
  readonly extra: Record<string, string>;
  /** The decoded document. */
  readonly xml: string;
  /** Fields that could not be read (a malformed number) and were left undefined. */
  readonly warnings: string[];
}

export interface ParseWimXmlOptions {
  /** Name of the file, for error messages. */
  source?: string;
  /** Offset of the XML resource in the file, for error messages. */
  offset?: number;
  /** Cap on the encoded size (default WIM_MAX_XML_BYTES). */
  maxBytes?: number;
  /** Cap on the number of images (default WIM_MAX_IMAGES). */
  maxImages?: number;
}

const ARCH_NAMES: Record<number, WimArchName> = { 0: 'x86', 5: 'arm', 6: 'ia64', 9: 'amd64', 12: 'arm64' };

/** Name of a PROCESSOR_ARCHITECTURE_* value as used in <ARCH>. */
export function archName(arch: number | undefined): WimArchName {
  return arch === undefined ? 'unknown' : (ARCH_NAMES[arch] ?? 'unknown');
}

/** FILETIME (100 ns ticks since 1601-01-01 UTC) as a Date, truncated to the millisecond. */
export function filetimeToDate(high: number, low: number): Date {
  const ticks = (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
  return new Date(Number(ticks / 10_000n) - 11_644_473_600_000);
}

/**
 * Decodes the XML resource: UTF-16LE, with or without a BOM, tolerating trailing NULs (and a lone
 * trailing zero byte). UTF-8 and UTF-16BE are refused (wimlib refuses them too).
 */
export function decodeWimXml(buf: Buffer, opts: ParseWimXmlOptions = {}): string {
  const ctx = { source: opts.source, offset: opts.offset };
  const maxBytes = opts.maxBytes ?? WIM_MAX_XML_BYTES;
  if (buf.length > maxBytes) {
    throw new MediaError('E_LIMIT', `WIM XML: ${buf.length} bytes is beyond any real WIM (limit ${maxBytes})`, { ...ctx, length: buf.length });
  }
  let start = 0;
  let end = buf.length;
  if (buf.length >= 2 && buf[0] === 0xff && buf[1] === 0xfe) start = 2;
  else if (buf.length >= 2 && buf[0] === 0xfe && buf[1] === 0xff) {
    throw new MediaError('E_FORMAT', 'WIM XML: UTF-16BE byte order mark; WIM XML is UTF-16LE', ctx);
  } else if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
    throw new MediaError('E_FORMAT', 'WIM XML: UTF-8 byte order mark; WIM XML is UTF-16LE', ctx);
  } else if (buf.length >= 2 && buf[0] === 0x3c && buf[1] !== 0) {
    throw new MediaError('E_FORMAT', 'WIM XML: looks like 8-bit text; WIM XML is UTF-16LE', ctx);
  }
  if ((end - start) % 2 === 1) {
    if (buf[end - 1] === 0) end--;
    else throw new MediaError('E_FORMAT', `WIM XML: odd length (${buf.length} bytes) for UTF-16LE`, ctx);
  }
  let text = buf.toString('utf16le', start, end);
  // Writers pad with NULs (one or more U+0000) after </WIM>.
  let cut = text.length;
  while (cut > 0 && (text.charCodeAt(cut - 1) === 0 || /\s/.test(text[cut - 1]!))) cut--;
  if (cut !== text.length) text = text.slice(0, cut);
  if (text.length === 0) throw new MediaError('E_FORMAT', 'WIM XML: the document is empty', ctx);
  // An unpaired surrogate (a name cut in the middle of a UTF-16 pair) becomes U+FFFD rather than
  // making the whole document unreadable.
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

interface XNode {
  readonly name: string;
  readonly attrs: Record<string, string>;
  readonly children: XNode[];
  text: string;
  readonly line: number;
  readonly column: number;
}

/** Parses the document into a small element tree (text = direct text and CDATA children). */
function parseTree(text: string, opts: ParseWimXmlOptions): XNode {
  const ctx = { source: opts.source, offset: opts.offset };
  const parser = new SaxesParser({ xmlns: false, position: true });
  const stack: XNode[] = [];
  let root: XNode | undefined;
  let elements = 0;
  const where = (): { line: number; column: number } => ({ line: parser.line, column: parser.column + 1 });

  parser.on('error', (err: Error) => {
    const { line, column } = where();
    // saxes prefixes "line:column: " (0-based column); we report a 1-based column instead.
    const msg = err.message.replace(/^\d+:\d+: /, '');
    throw new MediaError('E_FORMAT', `WIM XML is not well-formed at line ${line}, column ${column}: ${msg}`, { ...ctx, line, column });
  });
  parser.on('opentag', (tag: SaxesTagPlain) => {
    const { line, column } = where();
    if (++elements > WIM_XML_MAX_ELEMENTS) {
      throw new MediaError('E_LIMIT', `WIM XML: more than ${WIM_XML_MAX_ELEMENTS} elements`, { ...ctx, line, column });
    }
    if (stack.length >= WIM_XML_MAX_DEPTH) {
      throw new MediaError('E_LIMIT', `WIM XML: elements nested deeper than ${WIM_XML_MAX_DEPTH} at line ${line}, column ${column}`, { ...ctx, line, column });
    }
    const node: XNode = { name: tag.name, attrs: { ...tag.attributes }, children: [], text: '', line, column };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(node);
    else root = node;
    stack.push(node);
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  const onText = (t: string): void => {
    const top = stack[stack.length - 1];
    if (top) top.text += t;
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  try {
    parser.write(text).close();
  } catch (e) {
    if (e instanceof MediaError) throw e;
    // saxes can throw plain errors on some malformed input (e.g. a RangeError in a bad "<!").
    const { line, column } = where();
    throw new MediaError('E_FORMAT', `WIM XML is not well-formed at line ${line}, column ${column}: ${(e as Error).message}`, { ...ctx, line, column });
  }
  if (!root) throw new MediaError('E_FORMAT', 'WIM XML: no root element', ctx);
  return root;
}

/** Parses the WIM XML resource (raw bytes as stored). See decodeWimXml for the accepted encodings. */
export function parseWimXml(buf: Buffer, opts: ParseWimXmlOptions = {}): WimXmlInfo {
  const xml = decodeWimXml(buf, opts);
  return parseWimXmlText(xml, opts);
}

/** Parses an already decoded WIM XML document. */
export function parseWimXmlText(xml: string, opts: ParseWimXmlOptions = {}): WimXmlInfo {
  const ctx = { source: opts.source, offset: opts.offset };
  const root = parseTree(xml, opts);
  const at = (n: XNode): { line: number; column: number } => ({ line: n.line, column: n.column });
  const bad = (n: XNode, path: string, msg: string): never => {
    throw new MediaError('E_FORMAT', `WIM XML: ${path}: ${msg} (line ${n.line}, column ${n.column})`, { ...ctx, element: path, ...at(n) });
  };

  if (root.name !== 'WIM') bad(root, root.name, 'the root element must be <WIM>');

  // A bad number in one field (a third-party tool's typo) must not hide the rest of the image
  // list: the field reads as undefined and the problem is reported as a warning.
  const warnings: string[] = [];
  const soft = (n: XNode, path: string, msg: string): undefined => {
    warnings.push(`WIM XML: ${path}: ${msg} (line ${n.line}, column ${n.column}); ignored`);
    return undefined;
  };
  const num = (n: XNode, path: string): number | undefined => {
    const s = n.text.trim();
    if (s === '') return undefined;
    let v: number;
    if (/^[0-9]+$/.test(s)) v = Number(s);
    else if (/^0[xX][0-9a-fA-F]+$/.test(s)) v = Number(BigInt(s));
    else return soft(n, path, `not a number: ${JSON.stringify(s.slice(0, 40))}`);
    if (!Number.isSafeInteger(v)) return soft(n, path, `number ${s} is too large`);
    return v;
  };
  const hex32 = (n: XNode, path: string): number | undefined => {
    const s = n.text.trim();
    if (!/^(0[xX])?[0-9a-fA-F]+$/.test(s)) return soft(n, path, `not a hexadecimal number: ${JSON.stringify(s.slice(0, 40))}`);
    const v = BigInt(s.startsWith('0x') || s.startsWith('0X') ? s : `0x${s}`);
    if (v > 0xffffffffn) return soft(n, path, `${s} does not fit in 32 bits`);
    return Number(v);
  };

  // Where unknown content goes (`extra`, keys relative to IMAGE or WIM) and the prefix that makes
  // a relative path absolute in error messages (e.g. "IMAGE[3]").
  interface Scope {
    readonly extra: Record<string, string>;
    readonly base: string;
  }
  // Own data properties even for names like "__proto__" (a plain assignment would not create one).
  const put = (sc: Scope, key: string, value: string): void => {
    Object.defineProperty(sc.extra, key, { value, enumerable: true, writable: true, configurable: true });
  };
  const full = (sc: Scope, rel: string): string => (sc.base ? `${sc.base}/${rel}` : rel);

  // Visits the children of `node`; `take` returns true for the ones it consumes (`first` is false
  // for the 2nd, 3rd... sibling of the same name). The rest goes to `extra` as "NAME", "NAME[2]"...
  const visit = (node: XNode, path: string, sc: Scope, take: (c: XNode, cpath: string, first: boolean) => boolean): void => {
    const seen = new Map<string, number>();
    for (const c of node.children) {
      const k = (seen.get(c.name) ?? 0) + 1;
      seen.set(c.name, k);
      const key = k === 1 ? c.name : `${c.name}[${k}]`;
      const cpath = path ? `${path}/${key}` : key;
      if (take(c, cpath, k === 1)) continue;
      keep(c, cpath, sc);
    }
  };
  const keep = (n: XNode, path: string, sc: Scope): void => {
    for (const [a, v] of Object.entries(n.attrs)) put(sc, `${path}/@${a}`, v);
    if (n.children.length === 0) {
      put(sc, path, n.text);
      return;
    }
    if (n.text.trim() !== '') put(sc, path, n.text);
    visit(n, path, sc, () => false);
  };
  const time = (n: XNode, path: string, sc: Scope): Date | undefined => {
    let high: number | undefined = 0;
    let low: number | undefined = 0;
    visit(n, path, sc, (c, cpath, first) => {
      if (!first) return false;
      if (c.name === 'HIGHPART') high = hex32(c, full(sc, cpath));
      else if (c.name === 'LOWPART') low = hex32(c, full(sc, cpath));
      else return false;
      return true;
    });
    return high === undefined || low === undefined ? undefined : filetimeToDate(high, low);
  };

  const WINDOWS_STRINGS: Record<string, string> = {
    PRODUCTNAME: 'productName',
    EDITIONID: 'editionId',
    INSTALLATIONTYPE: 'installationType',
    HAL: 'hal',
    PRODUCTTYPE: 'productType',
    PRODUCTSUITE: 'productSuite',
    SYSTEMROOT: 'systemRoot',
  };
  const VERSION_NUMBERS: Record<string, keyof WimWindowsVersion> = {
    MAJOR: 'major',
    MINOR: 'minor',
    BUILD: 'build',
    SPBUILD: 'spBuild',
    SPLEVEL: 'spLevel',
  };

  const parseWindows = (n: XNode, path: string, sc: Scope): WimWindowsInfo => {
    let arch: number | undefined;
    const s: Record<string, string | undefined> = {};
    const languages: string[] = [];
    let defaultLanguage: string | undefined;
    let version: WimWindowsVersion | undefined;
    visit(n, path, sc, (c, cpath, first) => {
      if (!first) return false;
      if (c.name === 'ARCH') arch = num(c, full(sc, cpath));
      else if (Object.hasOwn(WINDOWS_STRINGS, c.name)) s[WINDOWS_STRINGS[c.name]!] = c.text;
      else if (c.name === 'LANGUAGES') {
        for (const a of Object.keys(c.attrs)) put(sc, `${cpath}/@${a}`, c.attrs[a]!);
        visit(c, cpath, sc, (l, _lpath, lfirst) => {
          if (l.name === 'LANGUAGE') languages.push(l.text); // every LANGUAGE, in order
          else if (l.name === 'DEFAULT' && lfirst) defaultLanguage = l.text;
          else return false;
          return true;
        });
      } else if (c.name === 'VERSION') {
        const v: Partial<Record<keyof WimWindowsVersion, number | undefined>> = {};
        visit(c, cpath, sc, (vc, vpath, vfirst) => {
          const f = Object.hasOwn(VERSION_NUMBERS, vc.name) ? VERSION_NUMBERS[vc.name] : undefined;
          if (!f || !vfirst) return false;
          v[f] = num(vc, full(sc, vpath));
          return true;
        });
        version = { major: v.major, minor: v.minor, build: v.build, spBuild: v.spBuild, spLevel: v.spLevel };
      } else return false;
      return true;
    });
    return {
      arch,
      archName: archName(arch),
      productName: s['productName'],
      editionId: s['editionId'],
      installationType: s['installationType'],
      hal: s['hal'],
      productType: s['productType'],
      productSuite: s['productSuite'],
      languages,
      defaultLanguage,
      systemRoot: s['systemRoot'],
      version,
    };
  };

  const IMAGE_STRINGS = new Set(['NAME', 'DESCRIPTION', 'DISPLAYNAME', 'DISPLAYDESCRIPTION', 'FLAGS']);
  const IMAGE_NUMBERS = new Set(['DIRCOUNT', 'FILECOUNT', 'TOTALBYTES', 'HARDLINKBYTES']);

  const parseImage = (n: XNode, base: string): WimImage => {
    const sc: Scope = { extra: {}, base };
    const idx = n.attrs['INDEX'];
    if (idx === undefined) return bad(n, base, 'the INDEX attribute is missing');
    if (!/^\s*[0-9]{1,9}\s*$/.test(idx)) bad(n, `${base}/@INDEX`, `not an image index: ${JSON.stringify(idx.slice(0, 40))}`);
    const index = Number(idx);
    for (const [a, v] of Object.entries(n.attrs)) if (a !== 'INDEX') put(sc, `@${a}`, v);
    const s: Record<string, string> = {};
    const nums: Record<string, number | undefined> = {};
    const times: Record<string, Date | undefined> = {};
    let windows: WimWindowsInfo | undefined;
    visit(n, '', sc, (c, cpath, first) => {
      if (!first) return false;
      if (IMAGE_STRINGS.has(c.name)) s[c.name] = c.text;
      else if (IMAGE_NUMBERS.has(c.name)) nums[c.name] = num(c, full(sc, cpath));
      else if (c.name === 'CREATIONTIME' || c.name === 'LASTMODIFICATIONTIME') times[c.name] = time(c, cpath, sc);
      else if (c.name === 'WINDOWS') windows = parseWindows(c, cpath, sc);
      else return false;
      return true;
    });
    return {
      index,
      name: s['NAME'] ?? '',
      description: s['DESCRIPTION'],
      displayName: s['DISPLAYNAME'],
      displayDescription: s['DISPLAYDESCRIPTION'],
      flags: s['FLAGS'],
      dirCount: nums['DIRCOUNT'],
      fileCount: nums['FILECOUNT'],
      totalBytes: nums['TOTALBYTES'],
      hardLinkBytes: nums['HARDLINKBYTES'],
      creationTime: times['CREATIONTIME'],
      lastModificationTime: times['LASTMODIFICATIONTIME'],
      windows,
      extra: sc.extra,
    };
  };

  const maxImages = opts.maxImages ?? WIM_MAX_IMAGES;
  const images: WimImage[] = [];
  const top: Scope = { extra: {}, base: 'WIM' };
  let totalBytes: number | undefined;
  let encrypted = false;
  const imageNodes = new Map<number, XNode>();
  visit(root, '', top, (c, cpath, first) => {
    if (c.name === 'IMAGE') {
      if (images.length >= maxImages) {
        throw new MediaError('E_LIMIT', `WIM XML: more than ${maxImages} images`, { ...ctx, ...at(c) });
      }
      const img = parseImage(c, `IMAGE[${images.length + 1}]`);
      if (imageNodes.has(img.index)) bad(c, `IMAGE[${images.length + 1}]`, `a second image with INDEX="${img.index}"`);
      imageNodes.set(img.index, c);
      images.push(img);
      return true;
    }
    if (c.name === 'TOTALBYTES' && first) {
      totalBytes = num(c, full(top, cpath));
      return true;
    }
    // Encrypted ESD: <ESD><CERTIFICATE/><KEY/><ENCRYPTED Count="n"><RANGE .../></ENCRYPTED></ESD>
    // (wimlib refuses such files with WIMLIB_ERR_WIM_IS_ENCRYPTED). Kept in `extra` as well.
    if (c.name === 'ESD' && c.children.some((e) => e.name === 'ENCRYPTED')) encrypted = true;
    return false;
  });
  const extra = top.extra;

  images.sort((a, b) => a.index - b.index);
  for (let i = 0; i < images.length; i++) {
    if (images[i]!.index !== i + 1) {
      const n = imageNodes.get(images[i]!.index)!;
      bad(n, 'IMAGE', `image indexes are not 1..${images.length}: INDEX="${images[i]!.index}" where ${i + 1} was expected`);
    }
  }
  return { totalBytes, images, encrypted, extra, xml, warnings };
}
