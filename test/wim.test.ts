// WIM metadata reader tests. The pure codecs are tested on hand-built inputs; the reader is then
// compared, field by field, with wimlib-imagex (Debian wimtools) on WIMs it builds at test time:
// Windows 7-like x64 (LZX) and x86 (XPRESS) install.wims, Windows 10-like ones (none, LZMS,
// solid ESD), a split set and a pipable WIM.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MediaError } from '../src/media/errors.ts';
import { BufferSource } from '../src/media/source.ts';
import {
  archName,
  decodeWimXml,
  filetimeToDate,
  findSplitParts,
  openSplitWim,
  openWimFile,
  parseWimHeader,
  parseWimXml,
  readSplitSet,
  readWimFileInfo,
  readWimInfo,
  WIM_HDR_FLAG,
  WIM_MAX_XML_BYTES,
  type WimHeader,
  type WimImage,
  type WimInfo,
  type WimResourceHeader,
} from '../src/media/wim/index.ts';
import { FileSource } from '../src/media/source.ts';
import { run, tempDir } from './helpers/tools.ts';
import {
  haveWimlib,
  makeTree,
  parseWimlibHeader,
  parseWimlibInfo,
  propArgs,
  readXmlFile,
  replaceWimXml,
  syntheticWim,
  utf16WithBom,
  WIMLIB,
  wimlibTime,
  writeReshdr,
} from './helpers/wim.ts';

/** Asserts that `fn` rejects/throws a MediaError with `code`, and returns it. */
async function rejectsWith(fn: () => unknown, code: string, re?: RegExp): Promise<MediaError> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof MediaError, `expected a MediaError, got ${(e as Error)?.stack ?? String(e)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    if (re) assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected ${code}, but nothing was thrown`);
}

const xml16 = (s: string): Buffer => utf16WithBom(s);
const src = (b: Buffer, name = 'test.wim'): BufferSource => new BufferSource(b, name);

// ---------------------------------------------------------------------------------------------
describe('WIM header codec', () => {
  it('decodes every field of a hand-built header', () => {
    const buf = syntheticWim({ flags: 0x40082 | WIM_HDR_FLAG.READONLY, chunkSize: 65536, imageCount: 1, bootIndex: 1 });
    writeReshdr(buf, 0x30, { size: 50, flags: 0x02, offset: 300, originalSize: 50 });
    writeReshdr(buf, 0x60, { size: 0x1_0000_0001, flags: 0x06, offset: 0x2_0000_0000, originalSize: 0x3_0000_0000 });
    writeReshdr(buf, 0x7c, { size: 0x12, flags: 0, offset: 999, originalSize: 0x12 });
    const h = parseWimHeader(buf);
    assert.equal(h.magic, 'MSWIM');
    assert.equal(h.hdrSize, 208);
    assert.equal(h.wimVersion, 0x10d00);
    assert.equal(h.wimFlags, 0x40086);
    assert.deepEqual(h.flags, {
      reserved: false,
      compression: true,
      readOnly: true,
      spanned: false,
      resourceOnly: false,
      metadataOnly: false,
      writeInProgress: false,
      rpFix: true,
      compressReserved: false,
      compressXpress: false,
      compressLzx: true,
      compressLzms: false,
      compressXpress2: false,
    });
    assert.equal(h.compression, 'lzx');
    assert.equal(h.chunkSize, 65536);
    assert.equal(h.guid, '00112233445566778899aabbccddeeff');
    assert.equal(h.partNumber, 1);
    assert.equal(h.totalParts, 1);
    assert.equal(h.imageCount, 1);
    assert.equal(h.bootIndex, 1);
    assert.equal(h.kind, 'wim');
    assert.deepEqual(h.blobTableReshdr, {
      compressedSize: 50,
      rawFlags: 2,
      flags: { free: false, metadata: true, compressed: false, spanned: false, solid: false },
      offset: 300,
      originalSize: 50,
    });
    assert.equal(h.bootMetadataReshdr.compressedSize, 0x1_0000_0001);
    assert.equal(h.bootMetadataReshdr.offset, 0x2_0000_0000);
    assert.equal(h.bootMetadataReshdr.originalSize, 0x3_0000_0000);
    assert.deepEqual(h.bootMetadataReshdr.flags, { free: false, metadata: true, compressed: true, spanned: false, solid: false });
    assert.equal(h.integrityTableReshdr.offset, 999);
    assert.equal(h.xmlDataReshdr.offset, 208);
    assert.deepEqual(h.warnings, []);
  });

  it('uses the 7-byte resource size (56 bits) and every reshdr flag bit', () => {
    const buf = syntheticWim();
    writeReshdr(buf, 0x30, { size: 0, flags: 0x1f, offset: 208, originalSize: 0 });
    buf[0x30 + 6] = 0x01; // bit 48 of the size
    const h = parseWimHeader(buf);
    assert.equal(h.blobTableReshdr.compressedSize, 2 ** 48);
    assert.deepEqual(h.blobTableReshdr.flags, { free: true, metadata: true, compressed: true, spanned: true, solid: true });
    assert.equal(h.blobTableReshdr.rawFlags, 0x1f);
  });

  it('maps compression flags as wimlib does (values from wimlib header.h)', () => {
    const cases: [number, string][] = [
      [0x0, 'none'],
      [WIM_HDR_FLAG.COMPRESS_LZX, 'none'], // type flag without WIM_HDR_FLAG_COMPRESSION is ignored
      [0x2 | 0x20000, 'xpress'],
      [0x2 | 0x40000, 'lzx'],
      [0x2 | 0x80000, 'lzms'],
      [0x2 | 0x200000, 'xpress2'],
      [0x2 | 0x40000 | 0x20000, 'lzx'], // wimlib's precedence: LZX, then XPRESS, then LZMS
      [0x2 | 0x20000 | 0x80000, 'xpress'],
    ];
    for (const [flags, want] of cases) {
      const version = want === 'lzms' ? 0xe00 : 0x10d00;
      const chunkSize = want === 'xpress' || want === 'xpress2' ? 4096 : 32768;
      assert.equal(parseWimHeader(syntheticWim({ flags, version, chunkSize })).compression, want, `flags 0x${flags.toString(16)}`);
    }
    assert.equal(WIM_HDR_FLAG.COMPRESS_XPRESS, 0x20000);
    assert.equal(WIM_HDR_FLAG.COMPRESS_LZX, 0x40000);
    assert.equal(WIM_HDR_FLAG.COMPRESS_LZMS, 0x80000);
    assert.equal(WIM_HDR_FLAG.COMPRESS_XPRESS_2, 0x200000);
  });

  it('classifies pipable, split, solid and plain WIMs', () => {
    assert.equal(parseWimHeader(syntheticWim({ magic: 'WLPWM\0\0\0' })).kind, 'pipable');
    assert.equal(parseWimHeader(syntheticWim({ flags: 0x4008a, partNumber: 2, totalParts: 3 })).kind, 'swm-part');
    assert.equal(parseWimHeader(syntheticWim({ flags: 0x4008a, partNumber: 1, totalParts: 1 })).kind, 'swm-part');
    assert.equal(parseWimHeader(syntheticWim({ flags: 0x80082, version: 0xe00, chunkSize: 131072 })).kind, 'esd');
    assert.equal(parseWimHeader(syntheticWim()).kind, 'wim');
  });

  it('E_TRUNCATED for every header shorter than 208 bytes', () => {
    const full = syntheticWim();
    for (let n = 0; n < 208; n++) {
      assert.throws(
        () => parseWimHeader(full.subarray(0, n)),
        (e: unknown) => e instanceof MediaError && e.code === 'E_TRUNCATED',
        `length ${n}`,
      );
    }
  });

  it('E_FORMAT for a bad magic, naming the field', async () => {
    const e = await rejectsWith(() => parseWimHeader(Buffer.alloc(208, 0x41)), 'E_FORMAT', /not a WIM file.*AAAAAAAA/);
    assert.equal(e.context['field'], 'magic');
    await rejectsWith(() => parseWimHeader(syntheticWim({ magic: 'MSWIM\0\0\x01' })), 'E_FORMAT');
  });

  it('validates header size, version, chunk size, part numbers and image count', async () => {
    let e = await rejectsWith(() => parseWimHeader(syntheticWim({ hdrSize: 0x60 })), 'E_FORMAT', /header size 96/);
    assert.equal(e.context['field'], 'hdrSize');
    assert.equal(e.context['offset'], 8);
    assert.match(parseWimHeader(syntheticWim({ hdrSize: 216 })).warnings.join(), /header size is 216/);

    e = await rejectsWith(() => parseWimHeader(syntheticWim({ version: 0x10b00 })), 'E_UNSUPPORTED', /0x10b00/);
    assert.equal(e.context['field'], 'wimVersion');

    for (const chunkSize of [0, 1000, 32767, 16384, 1 << 22]) {
      e = await rejectsWith(() => parseWimHeader(syntheticWim({ chunkSize })), 'E_FORMAT', /chunk size/);
      assert.equal(e.context['field'], 'chunkSize');
    }
    await rejectsWith(() => parseWimHeader(syntheticWim({ flags: 0x20082, chunkSize: 1 << 17 })), 'E_FORMAT', /xpress/);
    assert.equal(parseWimHeader(syntheticWim({ flags: 0x20082, chunkSize: 4096 })).chunkSize, 4096);
    assert.equal(parseWimHeader(syntheticWim({ flags: 0x80082, version: 0xe00, chunkSize: 1 << 26 })).chunkSize, 1 << 26);
    assert.equal(parseWimHeader(syntheticWim({ flags: 0x80, chunkSize: 12345 })).chunkSize, 12345); // uncompressed: any value
    e = await rejectsWith(() => parseWimHeader(syntheticWim({ flags: 0x2 })), 'E_FORMAT', /without a compression type/);
    assert.equal(e.context['field'], 'wimFlags');

    for (const [partNumber, totalParts] of [
      [0, 1],
      [2, 1],
      [1, 0],
      [4, 3],
    ] as const) {
      e = await rejectsWith(() => parseWimHeader(syntheticWim({ partNumber, totalParts })), 'E_FORMAT', /part number/);
      assert.equal(e.context['field'], 'partNumber');
    }

    e = await rejectsWith(() => parseWimHeader(syntheticWim({ imageCount: 0xffffffff })), 'E_LIMIT', /image count 4294967295/);
    assert.equal(e.context['field'], 'imageCount');
    await rejectsWith(() => parseWimHeader(syntheticWim({ imageCount: 5 }), { maxImages: 4 }), 'E_LIMIT');
  });

  it('checks resource ranges against the file size, naming the resource', async () => {
    const buf = syntheticWim();
    const h = parseWimHeader(buf, { fileSize: buf.length });
    assert.equal(h.xmlDataReshdr.offset + h.xmlDataReshdr.compressedSize, buf.length);
    let e = await rejectsWith(() => parseWimHeader(buf, { fileSize: buf.length - 1, source: 'x.wim' }), 'E_TRUNCATED', /xmlDataReshdr/);
    assert.equal(e.context['field'], 'xmlDataReshdr');
    assert.equal(e.context['source'], 'x.wim');
    writeReshdr(buf, 0x30, { size: 10, flags: 2, offset: 100, originalSize: 10 });
    e = await rejectsWith(() => parseWimHeader(buf), 'E_FORMAT', /overlaps the header/);
    assert.equal(e.context['field'], 'blobTableReshdr');
    writeReshdr(buf, 0x30, { size: 10, flags: 2, offset: 0, originalSize: 10 });
    buf.writeBigUInt64LE(0xffff_ffff_ffff_ff00n, 0x30 + 8);
    e = await rejectsWith(() => parseWimHeader(buf), 'E_FORMAT', /2\^53/);
    assert.equal(e.context['field'], 'blobTableReshdr');
    writeReshdr(buf, 0x60, { size: 0, flags: 2, offset: 300, originalSize: 10 });
    buf.writeUIntLE(0xffffffffffff, 0x60, 6);
    buf[0x60 + 6] = 0xff; // 56-bit size beyond 2^53
    writeReshdr(buf, 0x30, { size: 10, flags: 2, offset: 300, originalSize: 10 });
    e = await rejectsWith(() => parseWimHeader(buf), 'E_FORMAT', /2\^53/);
    assert.equal(e.context['field'], 'bootMetadataReshdr');
  });

  it('ignores an out-of-range boot index as wimlib does, with a warning', () => {
    const h = parseWimHeader(syntheticWim({ imageCount: 1, bootIndex: 7 }));
    assert.equal(h.bootIndex, 0);
    assert.equal(h.storedBootIndex, 7);
    assert.match(h.warnings.join(), /boot index 7/);
  });
});

// ---------------------------------------------------------------------------------------------
// A document laid out as DISM writes a Windows 10 install.wim: TOTALBYTES first, WINDOWS before
// NAME, SERVICINGDATA and WIMBOOT, CRLF line breaks.
const MS_XML = [
  '<WIM>',
  '<TOTALBYTES>4507030042</TOTALBYTES>',
  '<IMAGE INDEX="2">',
  '<DIRCOUNT>19930</DIRCOUNT><FILECOUNT>98840</FILECOUNT><TOTALBYTES>15195265413</TOTALBYTES><HARDLINKBYTES>6474854167</HARDLINKBYTES>',
  '<CREATIONTIME><HIGHPART>0x01D5E5A3</HIGHPART><LOWPART>0x3F5C5B3F</LOWPART></CREATIONTIME>',
  '<LASTMODIFICATIONTIME><HIGHPART>0x01D5E5A4</HIGHPART><LOWPART>0x9A3C2B4D</LOWPART></LASTMODIFICATIONTIME>',
  '<WIMBOOT>0</WIMBOOT>',
  '<WINDOWS><ARCH>9</ARCH><PRODUCTNAME>Microsoft® Windows® Operating System</PRODUCTNAME><EDITIONID>Enterprise</EDITIONID><INSTALLATIONTYPE>Client</INSTALLATIONTYPE>',
  '<SERVICINGDATA><GDRDUREVISION>0</GDRDUREVISION><PKEYCONFIGVERSION>10.0.19041.1;2016-01-01T00:00:00Z</PKEYCONFIGVERSION></SERVICINGDATA>',
  '<PRODUCTTYPE>WinNT</PRODUCTTYPE><PRODUCTSUITE>Terminal Server</PRODUCTSUITE>',
  '<LANGUAGES><LANGUAGE>en-US</LANGUAGE><LANGUAGE>fr-FR</LANGUAGE><FALLBACK LANGUAGE="fr-FR">en-US</FALLBACK><DEFAULT>en-US</DEFAULT></LANGUAGES>',
  '<VERSION><MAJOR>10</MAJOR><MINOR>0</MINOR><BUILD>19041</BUILD><SPBUILD>572</SPBUILD><SPLEVEL>0</SPLEVEL></VERSION>',
  '<SYSTEMROOT>WINDOWS</SYSTEMROOT></WINDOWS>',
  '<NAME>Windows 10 Enterprise</NAME><DESCRIPTION>Windows 10 Enterprise</DESCRIPTION><FLAGS>Enterprise</FLAGS>',
  '<DISPLAYNAME>Windows 10 Enterprise</DISPLAYNAME><DISPLAYDESCRIPTION>Windows 10 Enterprise</DISPLAYDESCRIPTION>',
  '</IMAGE>',
  '<IMAGE INDEX="1"><NAME>Windows 10 Pro</NAME><WINDOWS><ARCH>12</ARCH><LANGUAGES><LANGUAGE>de-DE</LANGUAGE></LANGUAGES></WINDOWS></IMAGE>',
  '</WIM>',
].join('\r\n');

describe('WIM XML codec', () => {
  it('parses a DISM-style document: any element order, unknown elements kept in extra', () => {
    const x = parseWimXml(xml16(MS_XML));
    assert.equal(x.totalBytes, 4507030042);
    assert.equal(x.encrypted, false);
    assert.deepEqual(x.extra, {});
    assert.deepEqual(
      x.images.map((i) => i.index),
      [1, 2],
    );
    const ent = x.images[1]!;
    assert.deepEqual(ent, {
      index: 2,
      name: 'Windows 10 Enterprise',
      description: 'Windows 10 Enterprise',
      displayName: 'Windows 10 Enterprise',
      displayDescription: 'Windows 10 Enterprise',
      flags: 'Enterprise',
      dirCount: 19930,
      fileCount: 98840,
      totalBytes: 15195265413,
      hardLinkBytes: 6474854167,
      creationTime: filetimeToDate(0x01d5e5a3, 0x3f5c5b3f),
      lastModificationTime: filetimeToDate(0x01d5e5a4, 0x9a3c2b4d),
      windows: {
        arch: 9,
        archName: 'amd64',
        productName: 'Microsoft® Windows® Operating System',
        editionId: 'Enterprise',
        installationType: 'Client',
        hal: undefined,
        productType: 'WinNT',
        productSuite: 'Terminal Server',
        languages: ['en-US', 'fr-FR'],
        defaultLanguage: 'en-US',
        systemRoot: 'WINDOWS',
        version: { major: 10, minor: 0, build: 19041, spBuild: 572, spLevel: 0 },
      },
      extra: {
        WIMBOOT: '0',
        'WINDOWS/SERVICINGDATA/GDRDUREVISION': '0',
        'WINDOWS/SERVICINGDATA/PKEYCONFIGVERSION': '10.0.19041.1;2016-01-01T00:00:00Z',
        'WINDOWS/LANGUAGES/FALLBACK': 'en-US',
        'WINDOWS/LANGUAGES/FALLBACK/@LANGUAGE': 'fr-FR',
      },
    });
    const pro = x.images[0]!;
    assert.equal(pro.name, 'Windows 10 Pro');
    assert.equal(pro.windows?.archName, 'arm64');
    assert.equal(pro.windows?.version, undefined);
    assert.equal(pro.description, undefined);
    assert.equal(pro.creationTime, undefined);
  });

  it('converts FILETIME as wimlib prints it', () => {
    // wimlib-imagex info shows HIGHPART 01D2A5C3 / LOWPART 0x12345678 as "Sat Mar 25 23:53:58 2017 UTC".
    const d = filetimeToDate(0x01d2a5c3, 0x12345678);
    assert.equal(wimlibTime(d), 'Sat Mar 25 23:53:58 2017 UTC');
    assert.equal(filetimeToDate(0, 0).toISOString(), '1601-01-01T00:00:00.000Z');
    assert.equal(filetimeToDate(0x019db1de, 0xd53e8000).toISOString(), '1970-01-01T00:00:00.000Z');
  });

  it('names architectures', () => {
    assert.deepEqual(
      [0, 5, 6, 9, 12, 7, undefined].map(archName),
      ['x86', 'arm', 'ia64', 'amd64', 'arm64', 'unknown', 'unknown'],
    );
  });

  it('accepts a missing BOM, trailing NULs and hex numbers; times with or without 0x', () => {
    const body = '<WIM><IMAGE INDEX="1"><NAME>n</NAME><DIRCOUNT>0x10</DIRCOUNT><WINDOWS><ARCH>0x9</ARCH></WINDOWS>' +
      '<CREATIONTIME><HIGHPART>01D2A5C3</HIGHPART><LOWPART>0X12345678</LOWPART></CREATIONTIME></IMAGE></WIM>';
    const variants = [
      xml16(body),
      Buffer.from(body, 'utf16le'),
      Buffer.concat([xml16(body), Buffer.alloc(4)]),
      Buffer.concat([xml16(body), Buffer.alloc(1)]),
      Buffer.concat([xml16(body + '\r\n'), Buffer.alloc(2)]),
    ];
    for (const v of variants) {
      const img = parseWimXml(v).images[0]!;
      assert.equal(img.name, 'n');
      assert.equal(img.dirCount, 16);
      assert.equal(img.windows?.arch, 9);
      assert.equal(img.creationTime?.getTime(), filetimeToDate(0x01d2a5c3, 0x12345678).getTime());
    }
  });

  it('keeps text exactly (entities, CDATA, spaces) and takes the first of duplicate elements', () => {
    const x = parseWimXml(
      xml16('<WIM><IMAGE INDEX="1" X="y"><NAME> a &amp; b &lt; &#x263A; </NAME><NAME>second</NAME><DESCRIPTION><![CDATA[c<d]]></DESCRIPTION>' +
        '<FLAGS></FLAGS><DIRCOUNT> 12 </DIRCOUNT><DIRCOUNT>13</DIRCOUNT><WINDOWS><ARCH>9</ARCH><ARCH>0</ARCH></WINDOWS></IMAGE><FOO a="b">bar</FOO></WIM>'),
    );
    const img = x.images[0]!;
    assert.equal(img.name, ' a & b < ☺ ');
    assert.equal(img.description, 'c<d');
    assert.equal(img.flags, '');
    assert.equal(img.dirCount, 12);
    assert.equal(img.windows?.arch, 9);
    assert.deepEqual(img.extra, { '@X': 'y', 'NAME[2]': 'second', 'DIRCOUNT[2]': '13', 'WINDOWS/ARCH[2]': '0' });
    assert.deepEqual(x.extra, { FOO: 'bar', 'FOO/@a': 'b' });
  });

  it('keeps elements named like Object.prototype members as plain data', () => {
    const x = parseWimXml(
      xml16('<WIM><__proto__>p</__proto__><IMAGE INDEX="1"><constructor>c</constructor><WINDOWS><toString>t</toString>' +
        '<VERSION><hasOwnProperty>1</hasOwnProperty><MAJOR>10</MAJOR></VERSION></WINDOWS></IMAGE></WIM>'),
    );
    assert.deepEqual(Object.keys(x.extra), ['__proto__']);
    assert.equal(Object.getPrototypeOf(x.extra), Object.prototype);
    assert.equal(x.extra['__proto__'], 'p');
    const img = x.images[0]!;
    assert.deepEqual(Object.entries(img.extra), [
      ['constructor', 'c'],
      ['WINDOWS/toString', 't'],
      ['WINDOWS/VERSION/hasOwnProperty', '1'],
    ]);
    assert.equal(img.windows?.version?.major, 10);
  });

  it('sorts images by INDEX and requires exactly 1..N', async () => {
    const x = parseWimXml(xml16('<WIM><IMAGE INDEX="2"><NAME>two</NAME></IMAGE><IMAGE INDEX="01"><NAME>one</NAME></IMAGE></WIM>'));
    assert.deepEqual(x.images.map((i) => i.name), ['one', 'two']);
    await rejectsWith(() => parseWimXml(xml16('<WIM><IMAGE><NAME>a</NAME></IMAGE></WIM>')), 'E_FORMAT', /INDEX attribute is missing/);
    await rejectsWith(() => parseWimXml(xml16('<WIM><IMAGE INDEX="2"/></WIM>')), 'E_FORMAT', /not 1\.\.1/);
    await rejectsWith(() => parseWimXml(xml16('<WIM><IMAGE INDEX="1"/><IMAGE INDEX="1"/></WIM>')), 'E_FORMAT', /second image with INDEX="1"/);
    await rejectsWith(() => parseWimXml(xml16('<WIM><IMAGE INDEX="x"/></WIM>')), 'E_FORMAT', /not an image index/);
  });

  it('E_FORMAT with line and column for XML that is not well-formed', async () => {
    const doc = '<WIM>\n<IMAGE INDEX="1">\n  <NAME>x</IMAGE>\n</WIM>';
    const e = await rejectsWith(() => parseWimXml(xml16(doc), { source: 'install.wim', offset: 1234 }), 'E_FORMAT', /not well-formed at line 3, column \d+/);
    assert.equal(e.context['line'], 3);
    assert.equal(typeof e.context['column'], 'number');
    assert.equal(e.context['source'], 'install.wim');
    assert.equal(e.context['offset'], 1234);
    for (const bad of ['<WIM>', '<WIM></WIM><WIM/>', 'text', '<WIM><IMAGE INDEX="1"></WIM>', '<WIM a="1" a="2"/>', '<WIM>\u0000</WIM>']) {
      await rejectsWith(() => parseWimXml(xml16(bad)), 'E_FORMAT');
    }
    // Internal DTD entities are not expanded (no entity-expansion attacks): an error, not a result.
    await rejectsWith(
      () => parseWimXml(xml16('<!DOCTYPE WIM [<!ENTITY x "boom">]><WIM><IMAGE INDEX="1"><NAME>&x;</NAME></IMAGE></WIM>')),
      'E_FORMAT',
    );
  });

  it('E_FORMAT for a wrong root and encodings other than UTF-16LE; a bad number is a warning, not a lost image list', async () => {
    await rejectsWith(() => parseWimXml(xml16('<wim/>')), 'E_FORMAT', /root element/);
    // One malformed field must not hide every edition from the administrator.
    const a = parseWimXml(xml16('<WIM>\n<IMAGE INDEX="1">\n<NAME>Windows 7 PROFESSIONAL</NAME><WINDOWS><ARCH>amd64</ARCH></WINDOWS></IMAGE></WIM>'));
    assert.equal(a.images[0]!.name, 'Windows 7 PROFESSIONAL');
    assert.equal(a.images[0]!.windows?.arch, undefined);
    assert.match(a.warnings[0]!, /IMAGE\[1\]\/WINDOWS\/ARCH: not a number.*line 3/);
    const b = parseWimXml(xml16('<WIM><TOTALBYTES>99999999999999999999</TOTALBYTES></WIM>'));
    assert.equal(b.totalBytes, undefined);
    assert.match(b.warnings[0]!, /too large/);
    const c = parseWimXml(xml16('<WIM><IMAGE INDEX="1"><CREATIONTIME><HIGHPART>0x1FFFFFFFF</HIGHPART></CREATIONTIME></IMAGE></WIM>'));
    assert.equal(c.images[0]!.creationTime, undefined);
    assert.match(c.warnings[0]!, /32 bits/);
    await rejectsWith(() => parseWimXml(Buffer.from('<WIM/>')), 'E_FORMAT', /8-bit/);
    await rejectsWith(() => parseWimXml(Buffer.from('\ufeff<WIM/>')), 'E_FORMAT', /UTF-8/);
    await rejectsWith(() => parseWimXml(Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from('<WIM/>', 'utf16le').swap16()])), 'E_FORMAT', /UTF-16BE/);
    await rejectsWith(() => parseWimXml(Buffer.concat([xml16('<WIM/>'), Buffer.from([0x41])])), 'E_FORMAT', /odd length/);
    await rejectsWith(() => parseWimXml(Buffer.alloc(0)), 'E_FORMAT', /empty/);
    await rejectsWith(() => parseWimXml(Buffer.alloc(64)), 'E_FORMAT', /empty/);
  });

  it('E_LIMIT for oversized documents, too many images and absurd nesting', async () => {
    await rejectsWith(() => parseWimXml(xml16('<WIM/>'), { maxBytes: 8 }), 'E_LIMIT');
    const big = Buffer.alloc(WIM_MAX_XML_BYTES + 2);
    await rejectsWith(() => decodeWimXml(big), 'E_LIMIT');
    const many = '<WIM>' + Array.from({ length: 11 }, (_, i) => `<IMAGE INDEX="${i + 1}"/>`).join('') + '</WIM>';
    assert.equal(parseWimXml(xml16(many)).images.length, 11);
    await rejectsWith(() => parseWimXml(xml16(many), { maxImages: 10 }), 'E_LIMIT', /more than 10 images/);
    const absurd = '<WIM>' + Array.from({ length: 20_000 }, (_, i) => `<IMAGE INDEX="${i + 1}"/>`).join('') + '</WIM>';
    await rejectsWith(() => parseWimXml(xml16(absurd)), 'E_LIMIT', /images/);
    const deep = '<WIM>' + '<A>'.repeat(100) + '</A>'.repeat(100) + '</WIM>';
    await rejectsWith(() => parseWimXml(xml16(deep)), 'E_LIMIT', /nested/);
  });

  it('replaces unpaired surrogates; random XML-like input ends in results or MediaErrors only', async () => {
    assert.equal(parseWimXml(xml16('<WIM><IMAGE INDEX="1"><NAME>a\ud800b</NAME></IMAGE></WIM>')).images[0]!.name, 'a\ufffdb');
    await rejectsWith(() => parseWimXml(xml16('<!?"]=/\ud800')), 'E_FORMAT'); // saxes throws a RangeError on this one
    const pieces = ['<', '>', '/', '&', '#', ';', 'x', '0', '9', 'F', 'WIM', 'IMAGE', 'INDEX', 'NAME', 'ARCH', 'WINDOWS', ' ', '=', '"', '!', '-', '[', ']', '?', 'CDATA', '\n', '\u0000', '\ud800', 'é'];
    for (let i = 0; i < 30_000; i++) {
      let s = i % 2 ? '<WIM><IMAGE INDEX="1">' : '';
      const n = 1 + (i % 30);
      for (let j = 0; j < n; j++) s += pieces[Math.floor(Math.random() * pieces.length)];
      if (i % 2) s += '</IMAGE></WIM>';
      try {
        parseWimXml(xml16(s));
      } catch (e) {
        assert.ok(e instanceof MediaError, `${JSON.stringify(s)}: ${(e as Error).stack}`);
      }
    }
  });

  it('recognises an encrypted ESD from its <ESD><ENCRYPTED> element', () => {
    const x = parseWimXml(
      xml16('<WIM><IMAGE INDEX="1"><NAME>e</NAME></IMAGE><ESD><CERTIFICATE>c</CERTIFICATE><KEY>AAAA</KEY><ENCRYPTED Count="1"><RANGE Offset="208" Bytes="16"/></ENCRYPTED></ESD></WIM>'),
    );
    assert.equal(x.encrypted, true);
    assert.equal(x.extra['ESD/KEY'], 'AAAA');
    assert.equal(x.extra['ESD/ENCRYPTED/@Count'], '1');
    assert.equal(x.extra['ESD/ENCRYPTED/RANGE/@Offset'], '208');
    assert.equal(parseWimXml(xml16('<WIM><ESD><KEY>AAAA</KEY></ESD></WIM>')).encrypted, false);
  });
});

// ---------------------------------------------------------------------------------------------
describe('readWimInfo on hand-built and corrupted inputs', () => {
  it('reads header + XML through a ByteSource', async () => {
    const info = await readWimInfo(src(syntheticWim({ xml: xml16(MS_XML), imageCount: 2 })), { keepXml: true });
    assert.equal(info.images.length, 2);
    assert.equal(info.images[1]!.windows?.editionId, 'Enterprise');
    assert.equal(info.totalBytes, 4507030042);
    assert.equal(info.xmlRaw, MS_XML);
    assert.equal(info.source, 'test.wim');
    assert.equal((await readWimInfo(src(syntheticWim()))).xmlRaw, undefined);
  });

  it('E_TRUNCATED for empty and truncated files; E_FORMAT for a bad magic', async () => {
    await rejectsWith(() => readWimInfo(src(Buffer.alloc(0))), 'E_TRUNCATED');
    const full = syntheticWim();
    await rejectsWith(() => readWimInfo(src(full.subarray(0, 100))), 'E_TRUNCATED', /header is 100 bytes/);
    const e = await rejectsWith(() => readWimInfo(src(full.subarray(0, full.length - 2))), 'E_TRUNCATED', /xmlDataReshdr/);
    assert.equal(e.context['field'], 'xmlDataReshdr');
    await rejectsWith(() => readWimInfo(src(Buffer.from('CD001 not a wim at all, but long enough'.repeat(8)))), 'E_FORMAT', /not a WIM/);
  });

  it('E_TRUNCATED when the XML reshdr points past the end', async () => {
    const buf = syntheticWim();
    buf.writeBigUInt64LE(BigInt(buf.length), 0x48 + 8);
    const e = await rejectsWith(() => readWimInfo(src(buf, 'x.wim')), 'E_TRUNCATED', /xmlDataReshdr.*past the end/);
    assert.equal(e.context['source'], 'x.wim');
  });

  it('E_UNSUPPORTED for compressed XML, E_FORMAT for inconsistent sizes, missing XML, count mismatch', async () => {
    await rejectsWith(() => readWimInfo(src(syntheticWim({ xmlFlags: 0x06 }))), 'E_UNSUPPORTED', /XML data is stored compressed/);
    const buf = syntheticWim();
    buf.writeBigUInt64LE(1n, 0x48 + 16);
    await rejectsWith(() => readWimInfo(src(buf)), 'E_FORMAT', /original/);
    const none = syntheticWim();
    none.fill(0, 0x48, 0x60);
    await rejectsWith(() => readWimInfo(src(none)), 'E_FORMAT', /no XML data/);
    const e = await rejectsWith(() => readWimInfo(src(syntheticWim({ imageCount: 3 }))), 'E_FORMAT', /says 3 image\(s\) but the XML describes 1/);
    assert.equal(e.context['field'], 'imageCount');
    await rejectsWith(() => readWimInfo(src(syntheticWim({ imageCount: 1_000_000 }))), 'E_LIMIT');
    const xml = xml16('<WIM><IMAGE INDEX="1"/></WIM>');
    await rejectsWith(() => readWimInfo(src(syntheticWim({ xml })), { maxXmlBytes: 4 }), 'E_LIMIT', /limit 4/);
  });

  it('E_FORMAT with line and column for malformed XML in a WIM', async () => {
    const e = await rejectsWith(
      () => readWimInfo(src(syntheticWim({ xml: xml16('<WIM>\r\n<IMAGE INDEX="1"><NAME>a</NAM></IMAGE></WIM>') }), 'bad.wim')),
      'E_FORMAT',
      /line 2, column/,
    );
    assert.equal(e.context['source'], 'bad.wim');
    assert.equal(e.context['offset'], 208);
  });

  it('refuses an encrypted ESD unless asked, and then flags it', async () => {
    const xml = xml16('<WIM><IMAGE INDEX="1"><NAME>e</NAME></IMAGE><ESD><ENCRYPTED Count="0"/></ESD></WIM>');
    const buf = syntheticWim({ xml, version: 0xe00, flags: 0x80082, chunkSize: 131072 });
    await rejectsWith(() => readWimInfo(src(buf)), 'E_UNSUPPORTED', /encrypted ESD/);
    const info = await readWimInfo(src(buf), { allowEncrypted: true });
    assert.equal(info.encrypted, true);
    assert.equal(info.header.kind, 'esd');
  });

  it('uses the trailing header of a pipable WIM and checks it matches', async () => {
    const body = syntheticWim();
    const start = Buffer.from(body.subarray(0, 208));
    start.write('WLPWM', 0, 'latin1');
    start.fill(0, 0x30, 0x94); // reshdrs unknown when the start header is written
    const tail = Buffer.from(start);
    writeReshdr(tail, 0x48, { size: body.length - 208, flags: 2, offset: 208, originalSize: body.length - 208 });
    const pipable = Buffer.concat([start, body.subarray(208), tail]);
    const info = await readWimInfo(src(pipable));
    assert.equal(info.header.kind, 'pipable');
    assert.equal(info.header.xmlDataReshdr.offset, 208);
    assert.equal(info.images[0]!.name, 'a');
    const wrong = Buffer.from(pipable);
    wrong[wrong.length - 208 + 0x18] ^= 0xff; // GUID of the trailing copy
    await rejectsWith(() => readWimInfo(src(wrong)), 'E_FORMAT', /does not match/);
    const cut = pipable.subarray(0, pipable.length - 50);
    await rejectsWith(() => readWimInfo(src(cut)), 'E_FORMAT');
    await rejectsWith(() => readWimInfo(src(start.subarray(0, 208))), 'E_TRUNCATED');
  });

  it('never crashes or hangs on random corruption (only results or MediaErrors)', async () => {
    const base = syntheticWim({ xml: xml16(MS_XML), imageCount: 2 });
    let ok = 0;
    let failed = 0;
    for (let i = 0; i < 1500; i++) {
      const b = Buffer.from(base);
      const flips = 1 + (i % 6);
      for (let j = 0; j < flips; j++) {
        const at = i % 3 === 0 ? Math.floor(Math.random() * 208) : Math.floor(Math.random() * b.length);
        b[at] = Math.floor(Math.random() * 256);
      }
      const cut = i % 7 === 0 ? b.subarray(0, Math.floor(Math.random() * b.length)) : b;
      try {
        await readWimInfo(src(cut));
        ok++;
      } catch (e) {
        assert.ok(e instanceof MediaError, `iteration ${i}: ${(e as Error).stack}`);
        failed++;
      }
    }
    assert.ok(ok > 0 && failed > 0);
  });
});

// ---------------------------------------------------------------------------------------------
// Against wimlib-imagex.

const hasWimlib = await haveWimlib();

const EDITIONS7 = [
  ['STARTER', 'Starter', 'Windows 7 Starter'],
  ['HOMEBASIC', 'HomeBasic', 'Windows 7 Home Basic'],
  ['HOMEPREMIUM', 'HomePremium', 'Windows 7 Home Premium'],
  ['PROFESSIONAL', 'Professional', 'Windows 7 Professional'],
  ['ULTIMATE', 'Ultimate', 'Windows 7 Ultimate'],
] as const;
const EDITIONS10 = [
  ['Windows 10 Pro', 'Professional'],
  ['Windows 10 Enterprise', 'Enterprise'],
  ['Windows 10 Education', 'Education'],
] as const;

function win7Props(edition: (typeof EDITIONS7)[number], arch: number): Record<string, string | number> {
  const [, flags, display] = edition;
  return {
    FLAGS: flags,
    DISPLAYNAME: display,
    DISPLAYDESCRIPTION: `${display} & more <x>`,
    'WINDOWS/ARCH': arch,
    'WINDOWS/PRODUCTNAME': 'Microsoft® Windows® Operating System',
    'WINDOWS/EDITIONID': flags,
    'WINDOWS/INSTALLATIONTYPE': 'Client',
    'WINDOWS/HAL': arch === 9 ? 'acpiapic' : 'acpiapic_up',
    'WINDOWS/PRODUCTTYPE': 'WinNT',
    'WINDOWS/PRODUCTSUITE': 'Terminal Server',
    'WINDOWS/LANGUAGES/LANGUAGE': 'en-US',
    'WINDOWS/LANGUAGES/DEFAULT': 'en-US',
    'WINDOWS/VERSION/MAJOR': 6,
    'WINDOWS/VERSION/MINOR': 1,
    'WINDOWS/VERSION/BUILD': 7601,
    'WINDOWS/VERSION/SPBUILD': 17514,
    'WINDOWS/VERSION/SPLEVEL': 1,
    'WINDOWS/SYSTEMROOT': 'WINDOWS',
  };
}

function win10Props(edition: (typeof EDITIONS10)[number]): Record<string, string | number> {
  const [name, id] = edition;
  return {
    FLAGS: id,
    DISPLAYNAME: name,
    DISPLAYDESCRIPTION: name,
    'WINDOWS/ARCH': 9,
    'WINDOWS/PRODUCTNAME': 'Microsoft® Windows® Operating System',
    'WINDOWS/EDITIONID': id,
    'WINDOWS/INSTALLATIONTYPE': 'Client',
    'WINDOWS/PRODUCTTYPE': 'WinNT',
    'WINDOWS/PRODUCTSUITE': 'Terminal Server',
    'WINDOWS/LANGUAGES/LANGUAGE': 'en-US',
    'WINDOWS/LANGUAGES/LANGUAGE[2]': 'de-DE',
    'WINDOWS/LANGUAGES/DEFAULT': 'en-US',
    'WINDOWS/VERSION/MAJOR': 10,
    'WINDOWS/VERSION/MINOR': 0,
    'WINDOWS/VERSION/BUILD': 19041,
    'WINDOWS/VERSION/SPBUILD': 1,
    'WINDOWS/VERSION/SPLEVEL': 0,
    'WINDOWS/SYSTEMROOT': 'WINDOWS',
    'WINDOWS/SERVICINGDATA/IMAGESTATE': 'IMAGE_STATE_COMPLETE',
    WIMBOOT: 0,
  };
}

/** Builds a multi-image WIM: capture of the first image, then append of the others. */
async function buildWim(
  out: string,
  tree: string,
  images: { name: string; description?: string; props: Record<string, string | number> }[],
  extra: { capture?: string[]; append?: string[] } = {},
): Promise<void> {
  for (const [i, img] of images.entries()) {
    const args = [i === 0 ? 'capture' : 'append', tree, out, img.name];
    if (img.description !== undefined) args.push(img.description);
    args.push(...propArgs(img.props), ...((i === 0 ? extra.capture : extra.append) ?? []));
    await run(WIMLIB, args);
  }
}

const FLAG_NAMES: Record<string, keyof WimHeader['flags']> = {
  RESERVED: 'reserved',
  COMPRESSION: 'compression',
  READONLY: 'readOnly',
  SPANNED: 'spanned',
  RESOURCE_ONLY: 'resourceOnly',
  METADATA_ONLY: 'metadataOnly',
  WRITE_IN_PROGRESS: 'writeInProgress',
  RP_FIX: 'rpFix',
  COMPRESS_RESERVED: 'compressReserved',
  COMPRESS_XPRESS: 'compressXpress',
  COMPRESS_LZX: 'compressLzx',
  COMPRESS_LZMS: 'compressLzms',
  COMPRESS_XPRESS_2: 'compressXpress2',
};

/** Compares every header field with `wimlib-imagex info FILE --header`. */
async function compareHeader(file: string, h: WimHeader): Promise<void> {
  const w = parseWimlibHeader((await run(WIMLIB, ['info', file, '--header'])).stdout);
  assert.equal(w['Magic Characters'], h.magic === 'MSWIM' ? 'MSWIM\\0\\0\\0' : 'WLPWM\\0\\0\\0');
  assert.equal(Number(w['Header Size']), h.hdrSize);
  assert.equal(w['Version'], `0x${h.wimVersion.toString(16)}`);
  assert.equal(w['Flags'], `0x${h.wimFlags.toString(16)}`);
  const set = new Set(w['flagNames']!.split(',').filter(Boolean));
  for (const [name, key] of Object.entries(FLAG_NAMES)) assert.equal(h.flags[key], set.has(name), `flag ${name}`);
  assert.equal(Number(w['Chunk Size']), h.chunkSize);
  assert.equal(w['GUID'], h.guid);
  assert.equal(Number(w['Part Number']), h.partNumber);
  assert.equal(Number(w['Total Parts']), h.totalParts);
  assert.equal(Number(w['Image Count']), h.imageCount);
  assert.equal(Number(w['Boot Index']), h.bootIndex);
  const res = (label: string, r: WimResourceHeader, orig: string): void => {
    assert.equal(Number(w[`${label} Size`]), r.compressedSize, `${label} Size`);
    assert.equal(Number(w[`${label} Flags`]), r.rawFlags, `${label} Flags`);
    assert.equal(Number(w[`${label} Offset`]), r.offset, `${label} Offset`);
    assert.equal(Number(w[`${label} ${orig}`]), r.originalSize, `${label} ${orig}`);
  };
  res('Blob Table', h.blobTableReshdr, 'Original_size');
  res('XML Data', h.xmlDataReshdr, 'Original Size');
  res('Boot Metadata', h.bootMetadataReshdr, 'Original Size');
  res('Integrity', h.integrityTableReshdr, 'Original_size');
}

const COMPRESSION_NAMES: Record<string, string> = { none: 'None', xpress: 'XPRESS', xpress2: 'XPRESS', lzx: 'LZX', lzms: 'LZMS' };
const WIMLIB_ARCH: Record<string, string> = { x86: 'x86', arm: 'ARM', ia64: 'ia64', amd64: 'x86_64', arm64: 'ARM64', unknown: 'unknown' };

/** Compares the WIM and every image with plain `wimlib-imagex info FILE`. */
async function compareInfo(file: string, info: WimInfo): Promise<void> {
  const w = parseWimlibInfo((await run(WIMLIB, ['info', file])).stdout);
  const h = info.header;
  assert.equal(w.wim['GUID'], `0x${h.guid}`);
  assert.equal(Number(w.wim['Version']), h.wimVersion);
  assert.equal(Number(w.wim['Image Count']), h.imageCount);
  assert.equal(w.wim['Compression'], COMPRESSION_NAMES[h.compression]);
  assert.equal(w.wim['Chunk Size'], `${h.chunkSize} bytes`);
  assert.equal(w.wim['Part Number'], `${h.partNumber}/${h.totalParts}`);
  assert.equal(Number(w.wim['Boot Index']), h.bootIndex);
  assert.equal(w.wim['Size'], `${info.totalBytes ?? 0} bytes`);
  const attrs = (w.wim['Attributes'] ?? '').split(', ');
  assert.equal(attrs.includes('Relative path junction'), h.flags.rpFix);
  assert.equal(attrs.includes('Integrity info'), h.integrityTableReshdr.compressedSize > 0);
  assert.equal(attrs.includes('Pipable'), h.kind === 'pipable');

  assert.equal(w.images.length, info.images.length);
  for (const [i, img] of info.images.entries()) {
    const wi = w.images[i]!;
    const where = `${file} image ${img.index}`;
    assert.equal(Number(wi['Index']), img.index, where);
    assert.equal(wi['Name'], img.name.trimEnd(), where);
    assert.equal(wi['Description'], (img.description ?? '').trimEnd(), where);
    assert.equal(wi['Display Name'], img.displayName, where);
    assert.equal(wi['Display Description'], img.displayDescription, where);
    assert.equal(wi['Flags'], img.flags, where);
    assert.equal(Number(wi['Directory Count']), img.dirCount ?? 0, where);
    assert.equal(Number(wi['File Count']), img.fileCount ?? 0, where);
    assert.equal(Number(wi['Total Bytes']), img.totalBytes ?? 0, where);
    assert.equal(Number(wi['Hard Link Bytes']), img.hardLinkBytes ?? 0, where);
    assert.equal(wi['Creation Time'], wimlibTime(img.creationTime ?? filetimeToDate(0, 0)), where);
    assert.equal(wi['Last Modification Time'], wimlibTime(img.lastModificationTime ?? filetimeToDate(0, 0)), where);
    assert.equal(wi['WIMBoot compatible'], Number(img.extra['WIMBOOT'] ?? 0) !== 0 ? 'yes' : 'no', where);
    const win = img.windows;
    // wimlib shows a missing <ARCH> as x86 (it defaults to 0); archName says 'unknown' instead.
    assert.equal(wi['Architecture'], win ? WIMLIB_ARCH[archName(win.arch ?? 0)] : undefined, where);
    if (!win) continue;
    assert.equal(wi['Product Name'], win.productName, where);
    assert.equal(wi['Edition ID'], win.editionId, where);
    assert.equal(wi['Installation Type'], win.installationType, where);
    assert.equal(wi['HAL'], win.hal, where);
    assert.equal(wi['Product Type'], win.productType, where);
    assert.equal(wi['Product Suite'], win.productSuite, where);
    assert.equal(wi['Languages'], win.languages.length > 0 ? win.languages.join(' ') : undefined, where);
    assert.equal(wi['Default Language'], win.defaultLanguage, where);
    assert.equal(wi['System Root'], win.systemRoot, where);
    if (win.version) {
      assert.equal(Number(wi['Major Version']), win.version.major ?? 0, where);
      assert.equal(Number(wi['Minor Version']), win.version.minor ?? 0, where);
      assert.equal(Number(wi['Build']), win.version.build ?? 0, where);
      assert.equal(Number(wi['Service Pack Build']), win.version.spBuild ?? 0, where);
      assert.equal(Number(wi['Service Pack Level']), win.version.spLevel ?? 0, where);
    } else {
      assert.equal(wi['Major Version'], undefined, where);
    }
  }
}

/** Compares the decoded XML with `--extract-xml`, and the model parsed from that file. */
async function compareXml(file: string, info: WimInfo, dir: string): Promise<void> {
  const out = join(dir, `xml-${Math.random().toString(36).slice(2)}.xml`);
  await run(WIMLIB, ['info', file, '--extract-xml', out]);
  const raw = await readFile(out);
  const text = await readXmlFile(out);
  assert.equal(info.xmlRaw, text.replace(/[\s\u0000]+$/, ''));
  const x = parseWimXml(raw);
  assert.deepEqual(x.images, info.images);
  assert.equal(x.totalBytes, info.totalBytes);
  assert.equal(raw.length, info.header.xmlDataReshdr.originalSize);
  await rm(out);
}

async function checkAll(file: string, dir: string): Promise<WimInfo> {
  const info = await readWimFileInfo(file, { keepXml: true });
  await compareHeader(file, info.header);
  await compareInfo(file, info);
  await compareXml(file, info, dir);
  return info;
}

function versionOf(img: WimImage): string {
  const v = img.windows?.version;
  return v ? `${v.major}.${v.minor}.${v.build}.${v.spBuild}.${v.spLevel}` : '';
}

describe('WIM metadata compared with wimlib-imagex', { skip: hasWimlib ? false : 'wimlib-imagex (wimtools) not installed' }, () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => {};
  let tree = '';
  const f = {
    win7x64: '',
    win7x86: '',
    win10: '',
    win10lzms: '',
    win10esd: '',
    big: '',
    swm: '',
    pipable: '',
  };

  before(async () => {
    ({ dir, cleanup } = await tempDir('overnight-wim-'));
    tree = join(dir, 'tree');
    await makeTree(tree, {
      'Windows/System32/config/SOFTWARE': 'registry hive stand-in',
      'Windows/System32/drivers/etc/hosts': '127.0.0.1 localhost\n',
      'Windows/explorer.exe': 20000,
      'Program Files/Common Files/readme.txt': 'x'.repeat(5000),
      'Users/Default/NTUSER.DAT': 3000,
    });
    // Windows 7 SP1 x64 (LZX, the default): HOMEBASIC, HOMEPREMIUM, PROFESSIONAL, ULTIMATE.
    f.win7x64 = join(dir, 'win7x64.wim');
    await buildWim(
      f.win7x64,
      tree,
      EDITIONS7.slice(1).map((e) => ({ name: `Windows 7 ${e[0]}`, description: `Windows 7 ${e[0]}`, props: win7Props(e, 9) })),
    );
    // Windows 7 SP1 x86 (XPRESS, integrity table): STARTER first.
    f.win7x86 = join(dir, 'win7x86.wim');
    await buildWim(
      f.win7x86,
      tree,
      EDITIONS7.map((e) => ({ name: `Windows 7 ${e[0]}`, description: `Windows 7 ${e[0]}`, props: win7Props(e, 0) })),
      { capture: ['--compress=XPRESS', '--check'], append: ['--check'] },
    );
    // Windows 10 2004 (uncompressed; image 2 marked bootable).
    f.win10 = join(dir, 'win10.wim');
    await buildWim(
      f.win10,
      tree,
      EDITIONS10.map((e) => ({ name: e[0], description: e[0], props: win10Props(e) })),
      { capture: ['--compress=none'] },
    );
    await run(WIMLIB, ['info', f.win10, '2', '--boot']);
    // The same, LZMS without solid resources, and as a solid ESD.
    f.win10lzms = join(dir, 'win10lzms.wim');
    await buildWim(
      f.win10lzms,
      tree,
      EDITIONS10.map((e) => ({ name: e[0], props: win10Props(e) })),
      { capture: ['--compress=LZMS'] },
    );
    f.win10esd = join(dir, 'install.esd');
    await run(WIMLIB, ['export', f.win10, 'all', f.win10esd, '--solid']);
    // A split set: incompressible files so that 1 MiB parts really split (>= 3 parts).
    const bigTree = join(dir, 'bigtree');
    await makeTree(bigTree, Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`sources/f${i}.bin`, 400_000])));
    f.big = join(dir, 'big.wim');
    await buildWim(f.big, bigTree, [{ name: 'Windows 10 Pro', props: win10Props(EDITIONS10[0]) }]);
    f.swm = join(dir, 'install.swm');
    await run(WIMLIB, ['split', f.big, f.swm, '1']);
    // A wimlib pipable WIM.
    f.pipable = join(dir, 'pipable.wim');
    await run(WIMLIB, ['capture', tree, f.pipable, 'Pipable', '--pipable']);
  });
  after(() => cleanup());

  it('Windows 7 SP1 x64 install.wim (LZX, 4 editions)', async () => {
    const info = await checkAll(f.win7x64, dir);
    assert.equal(info.header.kind, 'wim');
    assert.equal(info.header.compression, 'lzx');
    assert.equal(info.header.chunkSize, 32768);
    assert.equal(info.header.wimVersion, 0x10d00);
    assert.deepEqual(
      info.images.map((i) => i.name),
      ['Windows 7 HOMEBASIC', 'Windows 7 HOMEPREMIUM', 'Windows 7 PROFESSIONAL', 'Windows 7 ULTIMATE'],
    );
    assert.deepEqual(
      info.images.map((i) => i.flags),
      ['HomeBasic', 'HomePremium', 'Professional', 'Ultimate'],
    );
    for (const img of info.images) {
      assert.equal(img.windows?.arch, 9);
      assert.equal(img.windows?.archName, 'amd64');
      assert.equal(versionOf(img), '6.1.7601.17514.1');
      assert.deepEqual(img.windows?.languages, ['en-US']);
      assert.equal(img.windows?.productName, 'Microsoft® Windows® Operating System');
      assert.equal(img.displayDescription, `${img.displayName} & more <x>`);
      assert.equal(img.fileCount, 5);
    }
  });

  it('Windows 7 SP1 x86 install.wim (XPRESS, integrity table, STARTER first)', async () => {
    const info = await checkAll(f.win7x86, dir);
    assert.equal(info.header.compression, 'xpress');
    assert.ok(info.header.integrityTableReshdr.compressedSize > 0);
    assert.equal(info.images.length, 5);
    assert.equal(info.images[0]!.name, 'Windows 7 STARTER');
    assert.equal(info.images[0]!.windows?.editionId, 'Starter');
    for (const img of info.images) assert.equal(img.windows?.archName, 'x86');
  });

  it('Windows 10 install.wim (uncompressed, bootable image 2)', async () => {
    const info = await checkAll(f.win10, dir);
    assert.equal(info.header.compression, 'none');
    assert.equal(info.header.bootIndex, 2);
    assert.ok(info.header.bootMetadataReshdr.compressedSize > 0);
    assert.deepEqual(
      info.images.map((i) => [i.name, i.windows?.editionId, versionOf(i)]),
      [
        ['Windows 10 Pro', 'Professional', '10.0.19041.1.0'],
        ['Windows 10 Enterprise', 'Enterprise', '10.0.19041.1.0'],
        ['Windows 10 Education', 'Education', '10.0.19041.1.0'],
      ],
    );
    for (const img of info.images) {
      assert.deepEqual(img.windows?.languages, ['en-US', 'de-DE']);
      assert.equal(img.windows?.defaultLanguage, 'en-US');
      assert.deepEqual(img.extra, { 'WINDOWS/SERVICINGDATA/IMAGESTATE': 'IMAGE_STATE_COMPLETE', WIMBOOT: '0' });
    }
  });

  it('Windows 10 LZMS (non-solid) WIM', async () => {
    const info = await checkAll(f.win10lzms, dir);
    assert.equal(info.header.compression, 'lzms');
    assert.equal(info.header.wimVersion, 0xe00);
    assert.equal(info.images[2]!.name, 'Windows 10 Education');
    assert.equal(info.images[2]!.description, undefined);
  });

  it('Windows 10 install.esd (solid LZMS export)', async () => {
    const info = await checkAll(f.win10esd, dir);
    assert.equal(info.header.kind, 'esd');
    assert.equal(info.header.compression, 'lzms');
    assert.equal(info.header.wimVersion, 0xe00);
    assert.equal(info.encrypted, false);
    const wim = await readWimFileInfo(f.win10);
    assert.deepEqual(
      info.images.map((i) => ({ ...i, creationTime: undefined, lastModificationTime: undefined })),
      wim.images.map((i) => ({ ...i, creationTime: undefined, lastModificationTime: undefined })),
    );
  });

  it('split WIM: every part against wimlib, set checks, XML in every part', async () => {
    const paths = await findSplitParts(f.swm);
    assert.ok(paths.length >= 3, `only ${paths.length} parts`);
    assert.deepEqual(
      paths.map((p) => p.slice(dir.length + 1)),
      ['install.swm', ...paths.slice(1).map((_, i) => `install${i + 2}.swm`)],
    );
    for (const [i, p] of paths.entries()) {
      const info = await checkAll(p, dir);
      assert.equal(info.header.kind, 'swm-part');
      assert.equal(info.header.flags.spanned, true);
      assert.equal(info.header.partNumber, i + 1);
      assert.equal(info.header.totalParts, paths.length);
      assert.equal(info.images[0]!.name, 'Windows 10 Pro'); // wimlib writes the XML into every part
    }
    const set = await openSplitWim(f.swm);
    assert.equal(set.totalParts, paths.length);
    assert.deepEqual(
      set.parts.map((p) => [p.partNumber, p.source]),
      paths.map((p, i) => [i + 1, p]),
    );
    assert.equal(set.guid, set.info.header.guid);
    assert.equal(set.info.images[0]!.windows?.editionId, 'Professional');

    // Any order; a lone non-split WIM is a set of one.
    const sources = await Promise.all([...paths].reverse().map((p) => FileSource.open(p)));
    try {
      assert.equal((await readSplitSet(sources)).parts[0]!.source, paths[0]);
      // A part given twice.
      const e = await rejectsWith(() => readSplitSet([...sources, sources[0]!]), 'E_FORMAT', /given twice/);
      assert.equal(e.context['partNumber'], paths.length);
      // A part missing.
      const m = await rejectsWith(() => readSplitSet(sources.filter((s) => s.name !== paths[1])), 'E_NOT_FOUND', /part\(s\) 2 of/);
      assert.deepEqual(m.context['missing'], [2]);
    } finally {
      for (const s of sources) await s.close();
    }
    const one = await openSplitWim(f.win7x64);
    assert.equal(one.totalParts, 1);

    // A part from another split of the same WIM has another GUID.
    const other = join(dir, 'other.swm');
    await run(WIMLIB, ['split', f.big, other, '1']);
    const mixed = await Promise.all([paths[0]!, join(dir, 'other2.swm'), ...paths.slice(2)].map((p) => FileSource.open(p)));
    try {
      await rejectsWith(() => readSplitSet(mixed), 'E_FORMAT', /belongs to another WIM/);
    } finally {
      for (const s of mixed) await s.close();
    }
    // Missing files on disk.
    await rm(paths[paths.length - 1]!);
    await rejectsWith(() => openSplitWim(f.swm), 'E_NOT_FOUND', new RegExp(`part\\(s\\) ${paths.length} of ${paths.length} missing`));
  });

  it('pipable WIM: header read from the end of the file, as wimlib does', async () => {
    const info = await checkAll(f.pipable, dir);
    assert.equal(info.header.kind, 'pipable');
    assert.equal(info.header.magic, 'WLPWM');
    assert.equal(info.images[0]!.name, 'Pipable');
  });

  it('openWimFile keeps the source open until close()', async () => {
    const w = await openWimFile(f.win7x64);
    try {
      assert.equal(w.info.images.length, 4);
      const head = await w.source.read(0, 8);
      assert.equal(head.toString('latin1'), 'MSWIM\0\0\0');
    } finally {
      await w.close();
    }
  });

  it('agrees with wimlib on a DISM-style XML document (order, whitespace, unknown elements)', async () => {
    const out = join(dir, 'msxml.wim');
    // win10.wim has 3 images: give it a 3-image DISM-style document.
    const third = '<IMAGE INDEX="3"><NAME>Windows 10 Education</NAME><WINDOWS><ARCH>5</ARCH></WINDOWS></IMAGE>';
    await replaceWimXml(f.win10, out, xml16(MS_XML.replace('</WIM>', `${third}\r\n</WIM>`)));
    const info = await readWimFileInfo(out, { keepXml: true });
    await compareInfo(out, info);
    await compareHeader(out, info.header);
    assert.equal(info.images[2]!.windows?.archName, 'arm');
    assert.equal(info.images[1]!.extra['WINDOWS/LANGUAGES/FALLBACK/@LANGUAGE'], 'fr-FR');
  });

  it('agrees with wimlib on a missing BOM and trailing NULs', async () => {
    const body = '<WIM><IMAGE INDEX="1"><NAME>nobom</NAME><DESCRIPTION>d</DESCRIPTION></IMAGE><IMAGE INDEX="2"><NAME>b</NAME></IMAGE>' +
      '<IMAGE INDEX="3"><NAME>c</NAME></IMAGE></WIM>';
    for (const xml of [Buffer.from(body, 'utf16le'), Buffer.concat([xml16(body), Buffer.alloc(4)])]) {
      const out = join(dir, 'nobom.wim');
      await replaceWimXml(f.win10, out, xml);
      await compareInfo(out, await readWimFileInfo(out));
    }
  });

  it('both refuse what wimlib refuses: bad XML, wrong image count, encrypted ESD, lower-case root', async () => {
    const cases: [string, string, RegExp][] = [
      ['<WIM><IMAGE INDEX="1"><NAME>x</IMAGE></WIM>', 'E_FORMAT', /not well-formed/],
      ['<WIM><IMAGE INDEX="1"/><IMAGE INDEX="2"/></WIM>', 'E_FORMAT', /says 3 image/],
      ['<WIM><IMAGE INDEX="1"/><IMAGE INDEX="2"/><IMAGE INDEX="2"/></WIM>', 'E_FORMAT', /second image/],
      ['<WIM><IMAGE INDEX="1"/><IMAGE INDEX="2"/><IMAGE/></WIM>', 'E_FORMAT', /INDEX/],
      ['<wim><image index="1"/><image index="2"/><image index="3"/></wim>', 'E_FORMAT', /root element/],
      ['<WIM><IMAGE INDEX="1"/><IMAGE INDEX="2"/><IMAGE INDEX="3"/><ESD><ENCRYPTED Count="0"/></ESD></WIM>', 'E_UNSUPPORTED', /encrypted/],
    ];
    for (const [doc, code, re] of cases) {
      const out = join(dir, 'refused.wim');
      await replaceWimXml(f.win10, out, xml16(doc));
      await assert.rejects(run(WIMLIB, ['info', out]), `wimlib accepted ${doc}`);
      await rejectsWith(() => readWimFileInfo(out), code, re);
    }
  });

  it('disagrees with wimlib 1.13 on purpose: hexadecimal numbers are read as numbers', async () => {
    const out = join(dir, 'hex.wim');
    const body = '<WIM><IMAGE INDEX="1"><NAME>a</NAME><DIRCOUNT>0x10</DIRCOUNT><WINDOWS><ARCH>0x9</ARCH></WINDOWS></IMAGE>' +
      '<IMAGE INDEX="2"/><IMAGE INDEX="3"/></WIM>';
    await replaceWimXml(f.win10, out, xml16(body));
    const info = await readWimFileInfo(out);
    assert.equal(info.images[0]!.dirCount, 16);
    assert.equal(info.images[0]!.windows?.archName, 'amd64');
    const w = parseWimlibInfo((await run(WIMLIB, ['info', out])).stdout);
    assert.equal(w.images[0]!['Directory Count'], '0'); // wimlib parses decimal only
    assert.equal(w.images[0]!['Architecture'], 'x86');
  });

  it('corrupted wimlib WIMs end in MediaErrors: truncation, bad magic, XML past the end, absurd counts', async () => {
    const good = await readFile(f.win7x64);
    const info = await readWimInfo(src(good));
    const xmlAt = info.header.xmlDataReshdr.offset;
    const cases: [string, Buffer, string][] = [];
    cases.push(['truncated header', good.subarray(0, 150), 'E_TRUNCATED']);
    cases.push(['truncated XML', good.subarray(0, xmlAt + 10), 'E_TRUNCATED']);
    const magic = Buffer.from(good);
    magic.write('XXWIM', 0, 'latin1');
    cases.push(['bad magic', magic, 'E_FORMAT']);
    const past = Buffer.from(good);
    past.writeBigUInt64LE(BigInt(good.length + 4096), 0x48 + 8);
    cases.push(['XML past the end', past, 'E_TRUNCATED']);
    const count = Buffer.from(good);
    count.writeUInt32LE(0x7fffffff, 0x2c);
    cases.push(['absurd image count', count, 'E_LIMIT']);
    const count5 = Buffer.from(good);
    count5.writeUInt32LE(5, 0x2c);
    cases.push(['image count not matching the XML', count5, 'E_FORMAT']);
    const xmlBad = Buffer.from(good);
    xmlBad.write('<', xmlAt + 2 + 2 * 20, 'utf16le'); // inside the first IMAGE start tag
    cases.push(['XML not well-formed', xmlBad, 'E_FORMAT']);
    const chunk = Buffer.from(good);
    chunk.writeUInt32LE(3000, 0x14);
    cases.push(['chunk size', chunk, 'E_FORMAT']);
    for (const [what, buf, code] of cases) {
      const p = join(dir, 'corrupt.wim');
      await writeFile(p, buf);
      const e = await rejectsWith(() => readWimFileInfo(p), code);
      assert.equal(e.context['source'], p, what);
      await assert.rejects(run(WIMLIB, ['info', p]), `wimlib accepted: ${what}`);
    }
    // Random damage to a real WIM: results or MediaErrors only.
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(good);
      const region = i % 2 === 0 ? [0, 208] : [xmlAt, good.length];
      for (let j = 0; j < 4; j++) b[region[0]! + Math.floor(Math.random() * (region[1]! - region[0]!))] = randomBytes(1)[0]!;
      try {
        await readWimInfo(src(b));
      } catch (e) {
        assert.ok(e instanceof MediaError, `iteration ${i}: ${(e as Error).stack}`);
      }
    }
  });
});
