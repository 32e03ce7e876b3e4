// WIM metadata reader: header + XML of a WIM, ESD or split WIM (.swm) read through a ByteSource,
// so the same code reads a file on disk or /sources/install.wim inside an ISO. The byte layouts
// are decoded by the pure codecs in header.ts and xml.ts; this module only does the I/O.
// Metadata only: no resource is decompressed here.
import { readdir } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { MediaError } from '../errors.ts';
import { FileSource, type ByteSource } from '../source.ts';
import { parseWimHeader, WIM_HEADER_DISK_SIZE, type WimHeader } from './header.ts';
import { parseWimXml, WIM_MAX_XML_BYTES, type WimImage } from './xml.ts';

export * from './header.ts';
export * from './xml.ts';

export interface WimInfo {
  /** ByteSource name (file path) the information was read from. */
  readonly source: string;
  /** The effective header (for a pipable WIM, the copy at the end of the file). */
  readonly header: WimHeader;
  /** Images from the XML, sorted by index; as many as header.imageCount. */
  readonly images: WimImage[];
  /** <WIM><TOTALBYTES>. */
  readonly totalBytes: number | undefined;
  /** The XML marks the file as an encrypted ESD (only returned with `allowEncrypted`). */
  readonly encrypted: boolean;
  /** Unknown elements below <WIM>, see WimXmlInfo.extra. */
  readonly extra: Record<string, string>;
  /** Oddities that did not prevent reading. */
  readonly warnings: string[];
  /** The decoded XML document, with `keepXml`. */
  readonly xmlRaw?: string;
}

export interface ReadWimOptions {
  /** Include the decoded XML document as `xmlRaw`. */
  keepXml?: boolean;
  /** Return the metadata of an encrypted ESD instead of failing with E_UNSUPPORTED. */
  allowEncrypted?: boolean;
  /** Cap on the XML resource size (default WIM_MAX_XML_BYTES). */
  maxXmlBytes?: number;
  /** Cap on the image count (default WIM_MAX_IMAGES). */
  maxImages?: number;
}

/**
 * Reads and validates the header. For a wimlib pipable WIM (magic WLPWM) the header at offset 0
 * is a placeholder written before the resources were known; the real one is the copy in the last
 * 208 bytes, which is what wimlib reads too.
 */
export async function readWimHeader(source: ByteSource, opts: ReadWimOptions = {}): Promise<WimHeader> {
  const fileSize = source.size;
  const head = await source.read(0, Math.min(fileSize, WIM_HEADER_DISK_SIZE));
  const hopts = { fileSize, source: source.name, ...(opts.maxImages !== undefined ? { maxImages: opts.maxImages } : {}) };
  const first = parseWimHeader(head, hopts);
  if (first.magic !== 'WLPWM') return first;
  if (fileSize < 2 * WIM_HEADER_DISK_SIZE) {
    throw new MediaError('E_TRUNCATED', 'pipable WIM: no room for the header copy at the end of the file', {
      source: source.name,
      size: fileSize,
    });
  }
  const at = fileSize - WIM_HEADER_DISK_SIZE;
  const tail = parseWimHeader(await source.read(at, WIM_HEADER_DISK_SIZE), { ...hopts, at });
  if (tail.magic !== 'WLPWM' || tail.guid !== first.guid) {
    throw new MediaError('E_FORMAT', 'pipable WIM: the header at the end of the file does not match the one at the start (incomplete file?)', {
      source: source.name,
      offset: at,
      field: 'guid',
    });
  }
  return tail;
}

/** Reads the header and the XML document of a WIM/ESD/SWM part. */
export async function readWimInfo(source: ByteSource, opts: ReadWimOptions = {}): Promise<WimInfo> {
  const header = await readWimHeader(source, opts);
  const r = header.xmlDataReshdr;
  const ctx = { source: source.name, field: 'xmlDataReshdr', offset: r.offset };
  if (r.compressedSize === 0) {
    throw new MediaError('E_FORMAT', 'WIM has no XML data (xmlDataReshdr size is 0)', ctx);
  }
  if (r.flags.compressed) {
    throw new MediaError('E_UNSUPPORTED', 'the WIM XML data is stored compressed; every known writer stores it uncompressed', ctx);
  }
  if (r.compressedSize !== r.originalSize) {
    throw new MediaError(
      'E_FORMAT',
      `uncompressed XML data with different stored (${r.compressedSize}) and original (${r.originalSize}) sizes`,
      ctx,
    );
  }
  const maxBytes = opts.maxXmlBytes ?? WIM_MAX_XML_BYTES;
  if (r.originalSize > maxBytes) {
    throw new MediaError('E_LIMIT', `WIM XML data of ${r.originalSize} bytes is beyond any real WIM (limit ${maxBytes})`, {
      ...ctx,
      length: r.originalSize,
    });
  }
  const raw = await source.read(r.offset, r.originalSize);
  const xml = parseWimXml(raw, {
    source: source.name,
    offset: r.offset,
    maxBytes,
    ...(opts.maxImages !== undefined ? { maxImages: opts.maxImages } : {}),
  });
  if (xml.images.length !== header.imageCount) {
    throw new MediaError(
      'E_FORMAT',
      `the header says ${header.imageCount} image(s) but the XML describes ${xml.images.length}`,
      { source: source.name, field: 'imageCount', offset: 0x2c },
    );
  }
  if (xml.encrypted && !opts.allowEncrypted) {
    throw new MediaError(
      'E_UNSUPPORTED',
      'encrypted ESD (<ESD><ENCRYPTED> in the XML): its resources cannot be read until it is decrypted (e.g. with esddecrypt)',
      { source: source.name },
    );
  }
  return {
    source: source.name,
    header,
    images: xml.images,
    totalBytes: xml.totalBytes,
    encrypted: xml.encrypted,
    extra: xml.extra,
    warnings: [...header.warnings, ...xml.warnings],
    ...(opts.keepXml ? { xmlRaw: xml.xml } : {}),
  };
}

/** An open WIM file: its metadata and the source for later reads. Close it when done. */
export interface WimFile {
  readonly path: string;
  readonly source: ByteSource;
  readonly info: WimInfo;
  close(): Promise<void>;
}

/** Opens a WIM/ESD/SWM file and reads its metadata; the file stays open until close(). */
export async function openWimFile(path: string, opts: ReadWimOptions = {}): Promise<WimFile> {
  const source = await FileSource.open(path);
  try {
    const info = await readWimInfo(source, opts);
    return { path, source, info, close: () => source.close() };
  } catch (e) {
    await source.close();
    throw e;
  }
}

/** Reads the metadata of a WIM/ESD/SWM file and closes it. */
export async function readWimFileInfo(path: string, opts: ReadWimOptions = {}): Promise<WimInfo> {
  const f = await openWimFile(path, opts);
  try {
    return f.info;
  } finally {
    await f.close();
  }
}

export interface WimSplitPart {
  /** ByteSource name (file path). */
  readonly source: string;
  readonly partNumber: number;
  readonly header: WimHeader;
}

export interface WimSplitSet {
  readonly guid: string;
  readonly totalParts: number;
  /** One per part, sorted by part number (parts[i].partNumber === i + 1). */
  readonly parts: WimSplitPart[];
  /** Metadata read from part 1 (every part carries the XML; part 1 also holds the image metadata). */
  readonly info: WimInfo;
}

/**
 * Checks that `sources` are exactly the parts of one split WIM: same GUID, same part count, each
 * part number 1..N present once. Order does not matter. A lone non-split WIM is a set of one.
 * E_FORMAT for a foreign or duplicate part, E_NOT_FOUND for missing parts.
 */
export async function readSplitSet(sources: ByteSource[], opts: ReadWimOptions = {}): Promise<WimSplitSet> {
  if (sources.length === 0) throw new MediaError('E_NOT_FOUND', 'split WIM: no parts given');
  const parts: WimSplitPart[] = [];
  for (const s of sources) parts.push({ source: s.name, partNumber: 0, header: await readWimHeader(s, opts) });
  const ref = parts.find((p) => p.header.partNumber === 1) ?? parts[0]!;
  const { guid, totalParts } = ref.header;
  const byNumber = new Map<number, WimSplitPart>();
  for (const p of parts) {
    const h = p.header;
    if (h.guid !== guid) {
      throw new MediaError('E_FORMAT', `split WIM: ${p.source} belongs to another WIM (GUID ${h.guid}, expected ${guid} as in ${ref.source})`, {
        source: p.source,
        field: 'guid',
        offset: 0x18,
      });
    }
    if (h.totalParts !== totalParts) {
      throw new MediaError('E_FORMAT', `split WIM: ${p.source} says ${h.totalParts} parts, ${ref.source} says ${totalParts}`, {
        source: p.source,
        field: 'totalParts',
        offset: 0x2a,
      });
    }
    const dup = byNumber.get(h.partNumber);
    if (dup) {
      throw new MediaError('E_FORMAT', `split WIM: part ${h.partNumber} given twice (${dup.source} and ${p.source})`, {
        source: p.source,
        field: 'partNumber',
        partNumber: h.partNumber,
      });
    }
    byNumber.set(h.partNumber, { ...p, partNumber: h.partNumber });
  }
  const missing: number[] = [];
  for (let i = 1; i <= totalParts; i++) if (!byNumber.has(i)) missing.push(i);
  if (missing.length > 0) {
    throw new MediaError('E_NOT_FOUND', `split WIM: part(s) ${missing.join(', ')} of ${totalParts} missing`, {
      source: ref.source,
      missing,
      totalParts,
    });
  }
  const first = sources[parts.findIndex((p) => p.header.partNumber === 1)]!;
  const info = await readWimInfo(first, opts);
  return { guid, totalParts, parts: [...byNumber.values()].sort((a, b) => a.partNumber - b.partNumber), info };
}

/**
 * The sibling part files of a split WIM, named as DISM and wimlib name them: for
 * `install.swm`, `install2.swm`, `install3.swm`... in the same folder (case-insensitive).
 * Returns `firstPath` followed by the siblings in part order; it does not open them.
 */
export async function findSplitParts(firstPath: string): Promise<string[]> {
  const dir = dirname(firstPath);
  const ext = extname(firstPath);
  const stem = basename(firstPath, ext);
  const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^${escape(stem)}([0-9]+)${escape(ext)}$`, 'i');
  const found: [number, string][] = [];
  for (const name of await readdir(dir)) {
    const m = re.exec(name);
    if (m && Number(m[1]) >= 2) found.push([Number(m[1]), join(dir, name)]);
  }
  found.sort((a, b) => a[0] - b[0]);
  return [firstPath, ...found.map(([, p]) => p)];
}

/** findSplitParts + readSplitSet on files; every file is closed before returning. */
export async function openSplitWim(firstPath: string, opts: ReadWimOptions = {}): Promise<WimSplitSet> {
  const paths = await findSplitParts(firstPath);
  const sources: ByteSource[] = [];
  try {
    for (const p of paths) sources.push(await FileSource.open(p));
    return await readSplitSet(sources, opts);
  } finally {
    for (const s of sources) await s.close();
  }
}
