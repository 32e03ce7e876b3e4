// TFTP codec: round trips, every malformed form named, and a seeded fuzz loop that proves parse()
// throws nothing but TftpError.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  encodeAck,
  encodeData,
  encodeError,
  encodeOack,
  encodeRequest,
  ErrorCode,
  isTftpError,
  parse,
  TftpError,
  writeDataHeader,
} from '../src/net/tftp/codec.ts';
import { prefixParts, splitName } from '../src/net/tftp/paths.ts';
import { Rng } from './helpers/fuzz.ts';

function bytes(...parts: (string | number[])[]): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
}

function rejects(buf: Buffer, code: string, pattern: RegExp): TftpError {
  try {
    parse(buf);
  } catch (e) {
    assert.ok(isTftpError(e), `expected TftpError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return e;
  }
  assert.fail(`parse accepted ${buf.toString('hex')}`);
}

describe('TFTP codec: round trips', () => {
  test('RRQ with options: names case-insensitive, unknown options kept raw but not typed', () => {
    const p = parse(encodeRequest('RRQ', 'boot\\x86\\wdsnbp.com', 'OCTET', { BlkSize: 1468, TSIZE: 0, windowsize: 64, timeout: 3, multicast: '' }));
    assert.equal(p.op, 'RRQ');
    if (p.op !== 'RRQ') return;
    assert.equal(p.filename, 'boot\\x86\\wdsnbp.com');
    assert.equal(p.mode, 'octet');
    assert.deepEqual(p.options, { blksize: 1468, tsize: 0, windowsize: 64, timeout: 3 });
    assert.equal(p.rawOptions.get('multicast'), '');
  });

  test('WRQ, netascii', () => {
    const p = parse(encodeRequest('WRQ', 'x', 'netascii'));
    assert.deepEqual({ op: p.op, mode: p.op === 'WRQ' && p.mode }, { op: 'WRQ', mode: 'netascii' });
  });

  test('DATA, ACK, ERROR, OACK', () => {
    const payload = Buffer.from('hello');
    const d = parse(encodeData(65535, payload));
    assert.deepEqual(d, { op: 'DATA', block: 65535, data: payload });
    assert.deepEqual(parse(encodeAck(0)), { op: 'ACK', block: 0 });
    assert.deepEqual(parse(encodeAck(65536 + 7)), { op: 'ACK', block: 7 }, 'block numbers wrap at 2^16');
    assert.deepEqual(parse(encodeError(ErrorCode.FILE_NOT_FOUND, 'file not found')), { op: 'ERROR', code: 1, message: 'file not found' });
    const o = parse(encodeOack({ blksize: 1468, tsize: 123456 }));
    assert.equal(o.op, 'OACK');
    if (o.op === 'OACK') assert.deepEqual([...o.options], [['blksize', '1468'], ['tsize', '123456']]);
    const buf = Buffer.alloc(8);
    writeDataHeader(buf, 2, 0x1234);
    assert.deepEqual([...buf.subarray(2, 6)], [0, 3, 0x12, 0x34]);
  });

  test('ERROR without its trailing NUL is accepted (EDK2 and others omit it)', () => {
    assert.deepEqual(parse(bytes([0, 5, 0, 8], 'abort')), { op: 'ERROR', code: 8, message: 'abort' });
  });

  test('boundary values: blksize 8 and 65464, windowsize 1 and 65535, timeout 1 and 255', () => {
    for (const [k, v] of [['blksize', 8], ['blksize', 65464], ['windowsize', 1], ['windowsize', 65535], ['timeout', 1], ['timeout', 255]] as const) {
      const p = parse(encodeRequest('RRQ', 'f', 'octet', { [k]: v }));
      assert.equal(p.op === 'RRQ' && p.options[k], v);
    }
  });
});

describe('TFTP codec: malformed packets are named', () => {
  test('zero-length and one byte', () => {
    rejects(Buffer.alloc(0), 'E_TRUNCATED', /shorter than its 2-byte opcode/);
    rejects(Buffer.from([0]), 'E_TRUNCATED', /opcode/);
  });
  test('unknown opcode', () => {
    rejects(Buffer.from([0, 7, 0, 0]), 'E_OPCODE', /unknown opcode.*opcode=7/);
    rejects(Buffer.from([1, 1]), 'E_OPCODE', /opcode=257/);
  });
  test('truncated DATA, ACK, ERROR', () => {
    rejects(Buffer.from([0, 3, 0]), 'E_TRUNCATED', /DATA/);
    rejects(Buffer.from([0, 4, 1]), 'E_TRUNCATED', /ACK/);
    rejects(Buffer.from([0, 5]), 'E_TRUNCATED', /ERROR/);
  });
  test('RRQ: no filename, empty filename, filename without NUL', () => {
    rejects(Buffer.from([0, 1]), 'E_TRUNCATED', /before the filename/);
    rejects(bytes([0, 1, 0], 'octet', [0]), 'E_FORMAT', /empty filename/);
    rejects(bytes([0, 1], 'file'), 'E_FORMAT', /filename is not NUL-terminated/);
  });
  test('RRQ: no mode, mode without NUL, unknown mode, mail', () => {
    rejects(bytes([0, 1], 'file', [0]), 'E_TRUNCATED', /before the mode/);
    rejects(bytes([0, 1], 'file', [0], 'octet'), 'E_FORMAT', /mode is not NUL-terminated/);
    rejects(bytes([0, 1], 'file', [0], 'binary', [0]), 'E_FORMAT', /unknown transfer mode.*mode="binary"/);
    rejects(bytes([0, 2], 'file', [0], 'mail', [0]), 'E_FORMAT', /mail.*obsolete/);
  });
  test('RRQ: odd option list (name without value), option without NUL, empty name, repeated option', () => {
    rejects(bytes([0, 1], 'f', [0], 'octet', [0], 'blksize', [0]), 'E_FORMAT', /option blksize has no value/);
    rejects(bytes([0, 1], 'f', [0], 'octet', [0], 'blksize', [0], '1468'), 'E_FORMAT', /value of option blksize is not NUL-terminated/);
    rejects(bytes([0, 1], 'f', [0], 'octet', [0], 'blksize'), 'E_FORMAT', /option name is not NUL-terminated/);
    rejects(bytes([0, 1], 'f', [0], 'octet', [0, 0], '1', [0]), 'E_FORMAT', /empty option name/);
    rejects(encodeRequest('RRQ', 'f', 'octet', { blksize: 512, BLKSIZE: 1024 }), 'E_OPTION', /given twice/);
  });
  test('option values out of range answer with ERROR 8', () => {
    const cases: [Record<string, string | number>, RegExp][] = [
      [{ blksize: 7 }, /blksize must be in 8\.\.65464/],
      [{ blksize: 65465 }, /blksize must be in 8\.\.65464/],
      [{ windowsize: 0 }, /windowsize must be in 1\.\.65535/],
      [{ windowsize: 65536 }, /windowsize/],
      [{ windowsize: '99999999999999999999' }, /windowsize must be a decimal number/],
      [{ timeout: 0 }, /timeout must be in 1\.\.255/],
      [{ timeout: 256 }, /timeout/],
      [{ tsize: -1 }, /tsize must be a decimal number/],
      [{ blksize: '0x200' }, /blksize must be a decimal number/],
      [{ blksize: '' }, /blksize must be a decimal number/],
      [{ blksize: ' 512' }, /decimal/],
    ];
    for (const [opts, pattern] of cases) {
      const e = rejects(encodeRequest('RRQ', 'f', 'octet', opts), 'E_OPTION', pattern);
      assert.equal(e.tftpCode, ErrorCode.OPTION_NEGOTIATION);
    }
  });
  test('OACK with a name and no value', () => {
    rejects(bytes([0, 6], 'tsize', [0]), 'E_FORMAT', /OACK option tsize has no value/);
  });
  test('a packet longer than any UDP payload', () => {
    rejects(Buffer.alloc(70000, 1), 'E_FORMAT', /longer than any UDP payload/);
  });
});

describe('TFTP names', () => {
  test('backslashes are separators; one leading slash and . components are dropped', () => {
    assert.deepEqual(splitName('boot\\x86\\wdsnbp.com'), ['boot', 'x86', 'wdsnbp.com']);
    assert.deepEqual(splitName('/pxelinux.0'), ['pxelinux.0']);
    assert.deepEqual(splitName('./a//b/./c'), ['a', 'b', 'c']);
    assert.deepEqual(prefixParts('/media/win7/'), ['media', 'win7']);
  });
  test('.. anywhere, NUL, control characters and empty names are refused', () => {
    for (const name of ['../etc/passwd', '..\\..\\etc\\passwd', 'a/../../x', 'a/..', '..', 'a\0b', 'a\nb', '/', '', '.']) {
      assert.throws(() => splitName(name), (e: unknown) => isTftpError(e) && e.tftpCode === ErrorCode.ACCESS_VIOLATION, JSON.stringify(name));
    }
    assert.deepEqual(splitName('..a/b..'), ['..a', 'b..'], 'only whole ".." components are special');
  });
});

describe('TFTP codec: fuzz', () => {
  test('thousands of random and mutated packets: parse returns or throws TftpError, nothing else', () => {
    const rng = new Rng(0x7f7f);
    const seeds = [
      encodeRequest('RRQ', 'boot/x64/wdsmgfw.efi', 'octet', { tsize: 0, blksize: 1468, windowsize: 64, timeout: 2 }),
      encodeRequest('WRQ', 'x', 'netascii'),
      encodeData(1, Buffer.alloc(32, 7)),
      encodeAck(9),
      encodeError(8, 'User aborted the transfer'),
      encodeOack({ tsize: 1, blksize: 512 }),
    ];
    let parsed = 0;
    let refused = 0;
    for (let i = 0; i < 20000; i++) {
      let buf: Buffer;
      const kind = rng.u32() % 4;
      if (kind === 0) {
        buf = Buffer.alloc(rng.u32() % 80);
        for (let j = 0; j < buf.length; j++) buf[j] = rng.u32() & 0xff;
        if (buf.length >= 2 && rng.u32() % 2) buf[0] = 0, buf[1] = rng.u32() % 8;
      } else {
        buf = Buffer.from(seeds[rng.u32() % seeds.length]!);
        const edits = 1 + (rng.u32() % 4);
        for (let k = 0; k < edits; k++) {
          const op = rng.u32() % 4;
          if (op === 0 && buf.length) buf[rng.u32() % buf.length] = rng.u32() & 0xff; // random byte
          else if (op === 1 && buf.length) buf[rng.u32() % buf.length] = 0; // extra NUL
          else if (op === 2) buf = buf.subarray(0, rng.u32() % (buf.length + 1)); // truncate
          else buf = Buffer.concat([buf, Buffer.from([rng.u32() & 0xff, 0])]); // append
        }
      }
      try {
        const p = parse(buf);
        parsed++;
        assert.ok(['RRQ', 'WRQ', 'DATA', 'ACK', 'ERROR', 'OACK'].includes(p.op));
      } catch (e) {
        if (!isTftpError(e)) throw new Error(`case ${i} (${buf.toString('hex')}) threw ${String(e)}`);
        refused++;
      }
    }
    assert.ok(parsed > 1000 && refused > 1000, `both outcomes exercised (${parsed} parsed, ${refused} refused)`);
  });
});
