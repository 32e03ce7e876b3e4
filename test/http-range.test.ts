// Range and conditional-request rules of RFC 9110 §13–14, and request-path checks, as pure functions.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normaliseMac, pathSegments } from '../src/net/http/path.ts';
import { decideRange, ifRangeHolds, notModified } from '../src/net/http/range.ts';
import { slice } from '../src/net/http/send.ts';

describe('decideRange (RFC 9110 §14.2)', () => {
  const L = 1000;
  const cases: [string | undefined, ReturnType<typeof decideRange>][] = [
    [undefined, { kind: 'full' }],
    ['bytes=0-99', { kind: 'partial', range: { first: 0, last: 99 } }],
    ['bytes=500-', { kind: 'partial', range: { first: 500, last: 999 } }],
    ['bytes=-100', { kind: 'partial', range: { first: 900, last: 999 } }],
    ['bytes=-5000', { kind: 'partial', range: { first: 0, last: 999 } }],
    ['bytes=990-5000', { kind: 'partial', range: { first: 990, last: 999 } }],
    ['BYTES = 1-1', { kind: 'partial', range: { first: 1, last: 1 } }],
    ['bytes=1000-', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=5-2', { kind: 'unsatisfiable' }],
    ['bytes=abc', { kind: 'unsatisfiable' }],
    ['bytes=', { kind: 'unsatisfiable' }],
    ['bytes=1-2-3', { kind: 'unsatisfiable' }],
    ['bytes=+1-2', { kind: 'unsatisfiable' }],
    ['bytes=0-1,5-6', { kind: 'full' }],
    ['bytes=0-1,2000-', { kind: 'partial', range: { first: 0, last: 1 } }],
    ['items=0-1', { kind: 'full' }],
    ['nonsense', { kind: 'full' }],
    [`bytes=${'0-1,'.repeat(100)}0-1`, { kind: 'full' }],
    ['bytes=99999999999999999999-', { kind: 'unsatisfiable' }],
  ];
  for (const [field, want] of cases) it(String(field).slice(0, 40), () => assert.deepEqual(decideRange(field, L), want));
  it('an empty representation satisfies no range', () => assert.deepEqual(decideRange('bytes=0-', 0), { kind: 'unsatisfiable' }));
});

describe('conditionals', () => {
  const v = { etag: '"abc"', lastModified: new Date('2024-01-02T03:04:05.678Z') };
  it('If-Range: strong ETag match only, or the exact date', () => {
    assert.equal(ifRangeHolds(undefined, v), true);
    assert.equal(ifRangeHolds('"abc"', v), true);
    assert.equal(ifRangeHolds('"abd"', v), false);
    assert.equal(ifRangeHolds('W/"abc"', v), false);
    assert.equal(ifRangeHolds('Tue, 02 Jan 2024 03:04:05 GMT', v), true);
    assert.equal(ifRangeHolds('Tue, 02 Jan 2024 03:04:06 GMT', v), false);
  });
  it('If-None-Match wins over If-Modified-Since', () => {
    assert.equal(notModified('"x", W/"abc"', undefined, v), true);
    assert.equal(notModified('*', undefined, v), true);
    assert.equal(notModified('"x"', 'Tue, 02 Jan 2030 00:00:00 GMT', v), false);
    assert.equal(notModified(undefined, 'Tue, 02 Jan 2024 03:04:05 GMT', v), true);
    assert.equal(notModified(undefined, 'Tue, 02 Jan 2024 03:04:04 GMT', v), false);
    assert.equal(notModified(undefined, 'garbage', v), false);
  });
});

describe('request paths', () => {
  it('decodes components one by one', () => {
    assert.deepEqual(pathSegments('a%20b/c.txt'), { ok: true, segments: ['a b', 'c.txt'] });
  });
  for (const bad of ['', '..', 'a/../b', '%2e%2e/x', '%2E%2E', 'a/.', '..%2fetc', 'a%2fb', 'a%5cb', 'a\\b', 'a%00', 'a//b', 'a/', '%zz', '%c0%ae%c0%ae']) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.equal(pathSegments(bad).ok, false));
  }
});

describe('MAC addresses', () => {
  it('colon, hyphen and bare hex forms, any case', () => {
    for (const s of ['52:54:00:AB:cd:0F', '52-54-00-ab-cd-0f', '525400ABCD0F']) assert.equal(normaliseMac(s), '52:54:00:ab:cd:0f');
  });
  for (const bad of ['52:54:00:ab:cd', '52:54-00:ab:cd:0f', '52540ABCD0F', 'zz:54:00:ab:cd:0f', '52:54:00:ab:cd:0f:00', '']) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.equal(normaliseMac(bad), undefined));
  }
});

describe('slice: file ranges to image pieces', () => {
  const ext = [{ offset: 1000, length: 10 }, { offset: 0, length: 5, sparse: true }, { offset: 5000, length: 10 }];
  it('crosses extent boundaries and keeps holes', () => {
    assert.deepEqual(slice(ext, 8, 17), [
      { offset: 1008, length: 2, sparse: undefined },
      { offset: 0, length: 5, sparse: true },
      { offset: 5000, length: 2, sparse: undefined },
    ]);
    assert.deepEqual(slice(ext, 0, 0), []);
    assert.deepEqual(slice(ext, 24, 25), [{ offset: 5009, length: 1, sparse: undefined }]);
  });
});
