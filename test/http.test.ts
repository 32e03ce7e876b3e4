// The HTTP boot server against curl: files streamed out of ISO and UDF images (multi-extent and
// sparse files included) byte for byte, RFC 9110 ranges and conditionals, path traversal
// refused, per-machine iPXE scripts, the API, aborted transfers and many clients at once.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openMedia, type Media } from '../src/media/open.ts';
import type { HttpEvent, NetEvent } from '../src/net/events.ts';
import { liveBuffers } from '../src/net/http/send.ts';
import { type HttpServer, startHttpServer } from '../src/net/http/server.ts';
import { pseudoRandom } from './helpers/iso.ts';
import { buildWindowsIso, type WindowsMedia } from './helpers/media.ts';
import { run, runBuffer, tempDir } from './helpers/tools.ts';
import { type Piece, type UdfImageOptions, expectedTree, writeUdfImage } from './helpers/udf-writer.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const rec = (data: Buffer): Piece => ({ kind: 'recorded', data });
const hole = (length: number, allocated = false): Piece => ({ kind: allocated ? 'allocated' : 'unallocated', length });

// A multi-extent file with holes (one allocated-but-unrecorded, whose junk bytes must read as
// zeros), and a large mostly-hole file to abort transfers of.
const sparsePieces = [rec(pseudoRandom(300 * KiB, 1)), hole(1 * MiB + 2048, true), rec(pseudoRandom(1500 * KiB, 2)), hole(64 * KiB), rec(pseudoRandom(777, 3))];
const udfOpts: UdfImageOptions = {
  blockSize: 2048,
  children: [
    { type: 'dir', name: 'sources', children: [{ type: 'file', name: 'Boot.wim', pieces: sparsePieces }] },
    { type: 'file', name: 'big.bin', pieces: [rec(pseudoRandom(4096, 9)), hole(96 * MiB), rec(pseudoRandom(4096, 10))] },
    { type: 'file', name: 'empty.txt' },
  ],
};

/** Status, headers (lower-case names) and body of one curl request. */
async function curl(url: string, ...args: string[]): Promise<{ status: number; headers: Map<string, string>; body: Buffer }> {
  // Headers and body in one stream: the headers, a NUL, then the body.
  const raw = await runBuffer('sh', ['-c', 'f="$1"; shift; curl -sS --path-as-is -D "$f.h" -o "$f.b" "$@"; cat "$f.h"; printf "\\0"; cat "$f.b"; rm -f "$f.h" "$f.b"', 'sh', tmpName(), ...args, url]);
  const z = raw.indexOf(0);
  const head = raw.subarray(0, z).toString('latin1');
  const blocks = head.split(/\r\n\r\n/).filter((b) => b.startsWith('HTTP/'));
  const last = blocks[blocks.length - 1] ?? '';
  const [statusLine, ...lines] = last.split('\r\n');
  const headers = new Map<string, string>();
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers.set(l.slice(0, i).toLowerCase(), l.slice(i + 1).trim());
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, body: raw.subarray(z + 1) };
}
let tmpCounter = 0;
let tmpBase = '';
const tmpName = () => join(tmpBase, `curl-${process.pid}-${tmpCounter++}`);

describe('HTTP boot server', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let win: WindowsMedia;
  let w7: Media;
  let udf: Media;
  let server: HttpServer;
  let filesDir: string;
  const events: NetEvent[] = [];
  const served = () => events.filter((e): e is HttpEvent => e.type === 'http.served');

  before(async () => {
    work = await tempDir('overnight-http-');
    tmpBase = work.dir;
    win = await buildWindowsIso(work.dir, '7-x64');
    w7 = await openMedia(win.iso);
    const udfPath = join(work.dir, 'sparse.udf');
    await writeFile(udfPath, writeUdfImage(udfOpts).image);
    udf = await openMedia(udfPath);
    filesDir = join(work.dir, 'loaders');
    await mkdir(join(filesDir, 'efi'), { recursive: true });
    await writeFile(join(filesDir, 'wimboot'), pseudoRandom(70_000, 20));
    await writeFile(join(filesDir, 'efi', 'ipxe.efi'), pseudoRandom(5000, 21));
    await writeFile(join(work.dir, 'secret.txt'), 'root:x:0:0:secret\n');
    await symlink(join(work.dir, 'secret.txt'), join(filesDir, 'escape'));
    await symlink(work.dir, join(filesDir, 'updir'));
    await symlink('wimboot', join(filesDir, 'wimboot.link'));
    // 64 MiB read from disk (a hole in the host file, but read through buffers like any file).
    await run('truncate', ['-s', String(64 * MiB), join(filesDir, 'large.bin')]);
    server = await startHttpServer({
      address: '127.0.0.1',
      port: 0,
      media: [{ id: 'w7', fs: w7 }, { id: 'udf', fs: udf }],
      files: filesDir,
      script: (mac, req) => (mac === '52:54:00:12:34:56' ? `#!ipxe\necho hello ${mac} ${req.query.get('arch') ?? ''}\n` : undefined),
      routes: { machines: () => [{ mac: '52:54:00:12:34:56' }], '/api/nothing': () => undefined },
      events: (e) => events.push(e),
    });
  });
  after(async () => {
    await server?.close();
    await w7?.close();
    await udf?.close();
    await work?.cleanup();
  });

  it('streams every file of a Windows ISO byte for byte, as 7-Zip extracts it (UDF side)', async () => {
    const oracle = join(work.dir, '7z-out');
    await run('7z', ['x', '-tudf', `-o${oracle}`, win.iso]);
    const files: string[] = [];
    for await (const e of w7.walk()) if (e.type === 'file') files.push(e.path);
    assert.ok(files.length > 15);
    await Promise.all(
      files.map(async (p) => {
        const r = await curl(`${server.url}/media/w7${p}`);
        assert.equal(r.status, 200, p);
        const want = await readFile(join(oracle, p));
        assert.equal(sha(r.body), sha(want), p);
        assert.equal(r.headers.get('content-length'), String(want.length));
        assert.equal(r.headers.get('content-type'), 'application/octet-stream');
        assert.equal(r.headers.get('accept-ranges'), 'bytes');
        assert.match(r.headers.get('etag') ?? '', /^"[^"]+"$/);
        assert.ok(r.headers.get('last-modified'));
      }),
    );
  });

  it('finds paths case-insensitively, as Windows does', async () => {
    const r = await curl(`${server.url}/media/w7/BOOT/BCD`);
    assert.equal(r.status, 200);
    assert.equal(sha(r.body), sha(await readFile(join(win.tree, 'boot/bcd'))));
    assert.equal((await curl(`${server.url}/media/W7/boot/bcd`)).status, 404, 'media ids are exact');
    assert.equal((await curl(`${server.url}/media/w7/boot`)).status, 404, 'a folder is not a file');
    assert.equal((await curl(`${server.url}/media/w7/boot/bcd/x`)).status, 404);
    assert.equal((await curl(`${server.url}/media/w7`)).status, 404);
  });

  it('streams a multi-extent file with holes byte for byte, whole and by ranges crossing extents', async () => {
    const want = expectedTree(udfOpts).get('/sources/Boot.wim')!.data!;
    const whole = await curl(`${server.url}/media/udf/SOURCES/boot.wim`);
    assert.equal(sha(whole.body), sha(want));
    assert.equal(sha(whole.body), sha(await udf.read('/sources/Boot.wim')));
    const b1 = 300 * KiB;
    const b2 = b1 + 1 * MiB + 2048;
    const b3 = b2 + 1500 * KiB;
    for (const [a, z] of [[b1 - 10, b1 + 10], [b1 - 1, b2], [b2 - 5000, b3 + 100], [0, want.length - 1], [b3 + 64 * KiB - 1, want.length - 1]] as const) {
      const r = await curl(`${server.url}/media/udf/sources/boot.wim`, '-r', `${a}-${z}`);
      assert.equal(r.status, 206);
      assert.equal(r.headers.get('content-range'), `bytes ${a}-${z}/${want.length}`);
      assert.ok(r.body.equals(want.subarray(a, z + 1)), `${a}-${z}`);
    }
    const empty = await curl(`${server.url}/media/udf/empty.txt`);
    assert.equal(empty.status, 200);
    assert.equal(empty.body.length, 0);
  });

  describe('ranges (RFC 9110 §14)', () => {
    let want: Buffer;
    const url = () => `${server.url}/media/w7/sources/install.wim`;
    before(async () => {
      want = await readFile(join(win.tree, 'sources/install.wim'));
    });
    const check = async (range: string, first: number, last: number) => {
      const r = await curl(url(), '-r', range);
      assert.equal(r.status, 206, range);
      assert.equal(r.headers.get('content-range'), `bytes ${first}-${last}/${want.length}`);
      assert.equal(r.headers.get('content-length'), String(last - first + 1));
      assert.ok(r.body.equals(want.subarray(first, last + 1)), range);
    };
    it('start, middle, end', async () => {
      await check('0-0', 0, 0);
      await check('0-4095', 0, 4095);
      await check('1000-2999', 1000, 2999);
      await check(`${want.length - 1}-${want.length - 1}`, want.length - 1, want.length - 1);
    });
    it('open-ended, suffix, and a last position past the end', async () => {
      await check('2000-', 2000, want.length - 1);
      await check('-500', want.length - 500, want.length - 1);
      await check(`-${want.length + 10}`, 0, want.length - 1);
      await check(`100-${want.length + 1000}`, 100, want.length - 1);
    });
    it('unsatisfiable and invalid byte ranges: 416 with bytes */length', async () => {
      for (const range of [`${want.length}-`, `${want.length + 5}-${want.length + 9}`, '-0', '5-2', 'abc']) {
        const r = await curl(url(), '-H', `Range: bytes=${range}`);
        assert.equal(r.status, 416, range);
        assert.equal(r.headers.get('content-range'), `bytes */${want.length}`);
      }
    });
    it('other units are ignored and several ranges get the whole file (200)', async () => {
      for (const h of ['Range: items=0-5', 'Range: bytes=0-5,10-20', 'Range: garbage']) {
        const r = await curl(url(), '-H', h);
        assert.equal(r.status, 200, h);
        assert.equal(sha(r.body), sha(want));
      }
    });
    it('HEAD: the length and validators, no body', async () => {
      const r = await curl(url(), '-I');
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-length'), String(want.length));
      assert.ok(r.headers.get('etag'));
      const p = await curl(url(), '-I', '-r', '10-19');
      assert.equal(p.status, 206);
      assert.equal(p.headers.get('content-length'), '10');
      assert.equal(p.headers.get('content-range'), `bytes 10-19/${want.length}`);
      // curl -I prints headers as the body; a raw exchange shows nothing follows them.
      const raw = await rawExchange(server.port, 'HEAD /media/w7/sources/install.wim HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.match(raw, /^HTTP\/1\.1 200 /);
      assert.ok(raw.endsWith('\r\n\r\n'), 'no body after the headers');
    });
    it('If-Range, If-None-Match and If-Modified-Since', async () => {
      const head = await curl(url(), '-I');
      const etag = head.headers.get('etag')!;
      const lm = head.headers.get('last-modified')!;
      assert.equal((await curl(url(), '-r', '0-9', '-H', `If-Range: ${etag}`)).status, 206);
      assert.equal((await curl(url(), '-r', '0-9', '-H', `If-Range: ${lm}`)).status, 206);
      const stale = await curl(url(), '-r', '0-9', '-H', 'If-Range: "not-it"');
      assert.equal(stale.status, 200);
      assert.equal(stale.body.length, want.length);
      const nm = await curl(url(), '-H', `If-None-Match: ${etag}`);
      assert.equal(nm.status, 304);
      assert.equal(nm.body.length, 0);
      assert.equal((await curl(url(), '-H', `If-Modified-Since: ${lm}`)).status, 304);
      assert.equal((await curl(url(), '-H', 'If-None-Match: "other"', '-H', `If-Modified-Since: ${lm}`)).status, 200);
    });
    it('ETags differ between files and images', async () => {
      const a = (await curl(url(), '-I')).headers.get('etag');
      const b = (await curl(`${server.url}/media/w7/sources/boot.wim`, '-I')).headers.get('etag');
      const c = (await curl(`${server.url}/files/wimboot`, '-I')).headers.get('etag');
      assert.equal(new Set([a, b, c]).size, 3);
    });
  });

  describe('/files/', () => {
    it('serves the folder, ranges included, and symlinks that stay inside', async () => {
      const want = await readFile(join(filesDir, 'wimboot'));
      assert.equal(sha((await curl(`${server.url}/files/wimboot`)).body), sha(want));
      assert.equal(sha((await curl(`${server.url}/files/wimboot.link`)).body), sha(want));
      assert.ok((await curl(`${server.url}/files/efi/ipxe.efi`)).body.equals(await readFile(join(filesDir, 'efi/ipxe.efi'))));
      const r = await curl(`${server.url}/files/wimboot`, '-r', '69990-');
      assert.equal(r.status, 206);
      assert.ok(r.body.equals(want.subarray(69990)));
      assert.equal((await curl(`${server.url}/files/efi`)).status, 404);
      assert.equal((await curl(`${server.url}/files/nope`)).status, 404);
    });
    const attempts = [
      '/files/../secret.txt',
      '/files/../../../../etc/passwd',
      '/files/%2e%2e/secret.txt',
      '/files/%2E%2E/%2E%2E/etc/passwd',
      '/files/..%2fsecret.txt',
      '/files/efi/..%2F..%2Fsecret.txt',
      '/files/..%5csecret.txt',
      '/files/..\\secret.txt',
      '/files/wimboot%00.txt',
      '/files/%00',
      '/files//etc/passwd',
      '/files/escape',
      '/files/updir/secret.txt',
      '/files/./wimboot/../../secret.txt',
      '/media/w7/../../secret.txt',
      '/media/w7/%2e%2e/%2e%2e/secret.txt',
      '/media/..%2f..%2fsecret.txt/x',
      '/media/w7/boot%2fbcd',
    ];
    for (const a of attempts) {
      it(`refuses ${a}`, async () => {
        const r = await curl(`${server.url}${a}`);
        assert.ok(r.status === 400 || r.status === 404, `${a}: ${r.status}`);
        assert.doesNotMatch(r.body.toString('latin1'), /root:x:0/);
      });
    }
  });

  describe('/boot/<mac>.ipxe', () => {
    it('serves the script of a known machine, in every MAC spelling', async () => {
      for (const m of ['52:54:00:12:34:56', '52-54-00-12-34-56', '525400123456', '52:54:00:12:34:56'.toUpperCase()]) {
        const r = await curl(`${server.url}/boot/${m}.ipxe?arch=efi-x64`);
        assert.equal(r.status, 200, m);
        assert.equal(r.body.toString(), '#!ipxe\necho hello 52:54:00:12:34:56 efi-x64\n');
        assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
      }
      const ev = served().findLast((e) => e.path.startsWith('/boot/'))!;
      assert.equal(ev.mac, '52:54:00:12:34:56');
      assert.equal(ev.status, 200);
    });
    it('an unknown machine gets 404 with a script iPXE shows', async () => {
      const r = await curl(`${server.url}/boot/52-54-00-00-00-01.ipxe`);
      assert.equal(r.status, 404);
      const body = r.body.toString();
      assert.match(body, /^#!ipxe\n/);
      assert.match(body, /^echo .*52:54:00:00:00:01/m);
      assert.match(body, /^prompt /m);
    });
    it('a bad MAC gets 400 (still a script)', async () => {
      for (const bad of ['52-54-00-00-00.ipxe', 'hello.ipxe', '525400000001', 'a/b.ipxe', '%24%7Bmac%7D.ipxe']) {
        const r = await curl(`${server.url}/boot/${bad}`);
        assert.equal(r.status, 400, bad);
        assert.match(r.body.toString(), /^#!ipxe\n/);
        assert.doesNotMatch(r.body.toString(), /\$\{/);
      }
    });
  });

  describe('API and errors', () => {
    it('/api/health, /api/status and added routes answer JSON', async () => {
      const h = await curl(`${server.url}/api/health`);
      assert.equal(h.headers.get('content-type'), 'application/json');
      const health = JSON.parse(h.body.toString());
      assert.equal(health.ok, true);
      assert.equal(typeof health.uptime, 'number');
      const s = JSON.parse((await curl(`${server.url}/api/status`)).body.toString());
      assert.ok(s.requests > 0 && s.bytes > 0);
      assert.equal(s.active, 0);
      assert.deepEqual(s.media.map((m: { id: string; label: string; path: string }) => [m.id, m.label, m.path]), [['w7', win.label, win.iso], ['udf', udf.label, udf.path]]);
      assert.deepEqual(JSON.parse((await curl(`${server.url}/api/machines`)).body.toString()), [{ mac: '52:54:00:12:34:56' }]);
      assert.equal((await curl(`${server.url}/api/nothing`)).status, 404);
    });
    it('404 for unknown paths, 405 for other methods, 431 for huge headers', async () => {
      assert.equal((await curl(`${server.url}/nope`)).status, 404);
      assert.equal((await curl(`${server.url}/`)).status, 404);
      const post = await curl(`${server.url}/media/w7/setup.exe`, '-X', 'POST', '-d', 'x');
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
      const huge = await curl(`${server.url}/api/health`, '-H', `X-Big: ${'a'.repeat(40_000)}`);
      assert.equal(huge.status, 431);
      assert.equal((await curl(`${server.url}/api/health`)).status, 200);
    });
    it('a request line that is not HTTP gets 400 and the server stays up', async () => {
      const reply = await rawExchange(server.port, 'GARBAGE\r\n\r\n');
      assert.match(reply, /^HTTP\/1\.1 400/);
      assert.equal((await curl(`${server.url}/api/health`)).status, 200);
    });
    it('one http.served event per request, with bytes, range and duration', async () => {
      const before = served().length;
      await curl(`${server.url}/media/w7/setup.exe`, '-r', '10-109');
      const ev = served().slice(before);
      assert.equal(ev.length, 1);
      assert.equal(ev[0]!.status, 206);
      assert.equal(ev[0]!.bytes, 100);
      assert.equal(ev[0]!.range, 'bytes=10-109');
      assert.equal(ev[0]!.aborted, false);
      assert.equal(ev[0]!.path, '/media/w7/setup.exe');
      assert.ok(ev[0]!.durationMs >= 0);
    });
  });

  it('clients that go away mid-transfer: aborted events, no descriptor left open, server healthy', async () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    const eventsBefore = served().length;
    const fdBefore = fds();
    const rounds = 40;
    for (let i = 0; i < rounds; i += 8) {
      await Promise.all(
        Array.from({ length: 8 }, (_, j) => abortAfter(server.port, (i + j) % 2 ? '/media/udf/big.bin' : '/files/wimboot', 4096)),
      );
    }
    // curl giving up on a slow transfer is the other way clients leave.
    await run('curl', ['-sS', '--limit-rate', '1M', '--max-time', '0.5', '-o', '/dev/null', `${server.url}/media/udf/big.bin`]).catch(() => {});
    await waitFor(() => served().length >= eventsBefore + rounds + 1);
    const ev = served().slice(eventsBefore);
    const aborted = ev.filter((e) => e.aborted);
    assert.equal(aborted.length, ev.filter((e) => e.path === '/media/udf/big.bin').length, 'every big transfer was cut short');
    assert.ok(aborted.length >= rounds / 2 + 1);
    for (const e of aborted) {
      assert.ok(e.bytes < 96 * MiB, `bytes ${e.bytes}`);
      assert.match(e.client, /^127\.0\.0\.1:\d+$/);
    }
    await waitFor(() => fds() <= fdBefore);
    assert.equal(fds(), fdBefore);
    assert.equal(JSON.parse((await curl(`${server.url}/api/status`)).body.toString()).active, 0);
    const big = await curl(`${server.url}/media/udf/big.bin`);
    assert.equal(sha(big.body), sha(expectedTree(udfOpts).get('/big.bin')!.data!));
  });

  it('backpressure: 40 clients that do not read hold a bounded amount of memory, then leave', async () => {
    const before = served().length;
    const base = process.memoryUsage().arrayBuffers;
    const sockets = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        new Promise<Socket>((resolve) => {
          const s = connect(server.port, '127.0.0.1', () => {
            s.write(`GET ${i % 2 ? '/files/large.bin' : '/media/w7/sources/install.wim'} HTTP/1.1\r\nHost: x\r\n\r\n`);
            resolve(s);
          });
          s.pause(); // never read: the kernel buffers fill, then the server must wait
          s.on('error', () => {});
        }),
      ),
    );
    await new Promise((r) => setTimeout(r, 1500));
    const grown = process.memoryUsage().arrayBuffers - base;
    // Without backpressure the 20 large transfers alone would queue 1.3 GB; with it each
    // response holds at most two 512 KiB chunks.
    assert.ok(grown < 40 * 2 * 512 * KiB + 32 * MiB, `array buffers grew by ${grown} bytes`);
    const status = JSON.parse((await curl(`${server.url}/api/status`)).body.toString());
    assert.ok(status.active >= 20, `active ${status.active}`);
    for (const s of sockets) s.destroy();
    await waitFor(() => served().length >= before + 40);
    const large = served().slice(before).filter((e) => e.path === '/files/large.bin');
    assert.equal(large.length, 20);
    for (const e of large) assert.ok(e.aborted && e.bytes < 64 * MiB);
    // Every chunk buffer came back, but for the few recent image chunks kept for sharing.
    await waitFor(() => liveBuffers() <= 2 * 16);
  });

  it('a client that stops reading is dropped after the idle timeout', async () => {
    const got: HttpEvent[] = [];
    const quick = await startHttpServer({ address: '127.0.0.1', port: 0, files: filesDir, idleTimeoutMs: 300, events: (e) => e.type === 'http.served' && got.push(e) });
    try {
      const s = connect(quick.port, '127.0.0.1', () => s.write('GET /files/large.bin HTTP/1.1\r\nHost: x\r\n\r\n'));
      s.pause();
      s.on('error', () => {});
      const closed = new Promise((r) => s.on('close', r));
      await waitFor(() => got.length === 1, 5000);
      assert.equal(got[0]!.aborted, true);
      assert.ok(got[0]!.bytes < 64 * MiB);
      s.destroy();
      await closed;
    } finally {
      await quick.close();
    }
  });

  it('50 clients at once, each a different range, all byte for byte', async () => {
    const want = expectedTree(udfOpts).get('/sources/Boot.wim')!.data!;
    const results = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const a = Math.floor((want.length * i) / 53);
        const z = Math.min(want.length - 1, a + 37_000 * (i + 1));
        const r = await curl(`${server.url}/media/udf/sources/boot.wim`, '-r', `${a}-${z}`);
        return r.status === 206 && r.body.equals(want.subarray(a, z + 1));
      }),
    );
    assert.deepEqual(results, Array(50).fill(true));
  });
});

/** Sends `text` on a fresh connection and returns what comes back until the server closes it. */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(text));
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('close', () => resolve(got));
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('no reply')));
  });
}

/** Starts a GET and closes the connection after `after` bytes of the response. */
function abortAfter(port: number, path: string, after: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
    let n = 0;
    s.on('data', (d) => {
      n += d.length;
      if (n >= after) s.destroy();
    });
    s.on('close', () => resolve());
    s.on('error', reject);
  });
}

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
