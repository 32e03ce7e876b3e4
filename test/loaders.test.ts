// Boot loaders: finding them (Debian's ipxe package is the real oracle), checking their headers,
// and fetching pinned builds from a local HTTP server the test runs, with the failure modes a
// real download has (404, hash mismatch, connection closed mid-body).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { fetchLoaders, parsePinFile, PINS, readTar, type Artifact } from '../src/boot/loaders-fetch.ts';
import { checkLoader, findLoaders, LoaderError, loaderFor, peInfo, PE_MACHINE, requireLoader } from '../src/boot/loaders.ts';
import { main } from '../src/cli/main.ts';
import { run, tempDir } from './helpers/tools.ts';

const DEBIAN = '/usr/lib/ipxe';
const hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s + '\n'), err: (s) => (err += s + '\n') });
  return { code, out, err };
}

/** A wimboot-shaped file as prefix.S lays it out: MZ, PE at 0x40, 0xAA55 at 0x1FE, HdrS at 0x202. */
function fakeWimboot(machine: number, version = 'v2.9.0'): Buffer {
  const b = Buffer.alloc(4096);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x40, 0x3c);
  b.write('PE\0\0', 0x40, 'latin1');
  b.writeUInt16LE(machine, 0x44);
  b.writeUInt16LE(0xf0, 0x40 + 20); // SizeOfOptionalHeader
  b.writeUInt16LE(10, 0x40 + 24 + 68); // Subsystem: EFI application
  b.writeUInt8(4, 0x1f1);
  b.writeUInt16LE(0xaa55, 0x1fe);
  b.write('HdrS', 0x202, 'latin1');
  b.writeUInt16LE(0x203, 0x206);
  b.writeUInt16LE(0x30, 0x20e); // version string at 0x230
  b.write(`${version}\0`, 0x230, 'latin1');
  return b;
}

/** The real x64 ipxe.efi with its PE Machine field rewritten to i386. */
function forgeIa32(efi: Buffer): Buffer {
  const b = Buffer.from(efi);
  const lfanew = b.readUInt32LE(0x3c);
  b.writeUInt16LE(PE_MACHINE.ia32, lfanew + 4);
  return b;
}

let work: { dir: string; cleanup: () => Promise<void> };
let realEfi: Buffer;
let realKpxe: Buffer;
before(async () => {
  work = await tempDir('overnight-loaders-');
  realEfi = await readFile(join(DEBIAN, 'ipxe.efi'));
  realKpxe = await readFile(join(DEBIAN, 'undionly.kpxe'));
});
after(async () => {
  if (server) await new Promise<void>((ok) => server.close(() => ok()));
  await work.cleanup();
});

describe('findLoaders', () => {
  it("finds Debian's iPXE loaders in /usr/lib/ipxe with size and SHA-256, and reports what is missing", async () => {
    const empty = join(work.dir, 'empty-data');
    const set = await findLoaders({ dataDir: empty });
    assert.deepEqual(
      set.searched.map((s) => s.source),
      ['data', 'system', 'system'],
    );
    assert.equal(set.searched[0]!.dir, join(empty, 'loaders'));
    for (const name of ['undionly.kpxe', 'ipxe.pxe', 'ipxe.efi', 'snponly.efi']) {
      const e = set.entries.find((x) => x.name === name)!;
      assert.equal(e.status, 'ok', `${name}: ${e.problem}`);
      assert.equal(e.source, 'system');
      assert.equal(e.path, join(DEBIAN, name));
      const bytes = await readFile(join(DEBIAN, name));
      assert.equal(e.size, bytes.length);
      assert.equal(e.sha256, hex(bytes));
      // sha256sum is the oracle for the hash.
      const sum = (await run('sha256sum', [join(DEBIAN, name)])).stdout.split(/\s+/)[0];
      assert.equal(e.sha256, sum);
    }
    // Debian ships no 32-bit EFI iPXE and no wimboot.
    assert.ok(set.missing.includes('ipxe-i386.efi'));
    assert.ok(set.missing.includes('wimboot'));
    assert.deepEqual(set.invalid, []);
  });

  it('a configured folder takes precedence over the data folder and the system folders', async () => {
    const mine = join(work.dir, 'mine');
    const data = join(work.dir, 'data1');
    await mkdir(mine, { recursive: true });
    await mkdir(join(data, 'loaders'), { recursive: true });
    await writeFile(join(mine, 'ipxe.efi'), realEfi);
    await writeFile(join(data, 'loaders', 'ipxe.efi'), realEfi);
    await writeFile(join(data, 'loaders', 'wimboot'), fakeWimboot(PE_MACHINE.x64));
    const set = await findLoaders({ dir: mine, dataDir: data });
    assert.deepEqual(
      set.searched.map((s) => s.source),
      ['configured', 'data', 'system', 'system'],
    );
    const efi = requireLoader(set, 'ipxe.efi');
    assert.equal(efi.path, join(mine, 'ipxe.efi'));
    assert.equal(efi.source, 'configured');
    const wim = requireLoader(set, 'wimboot');
    assert.equal(wim.source, 'data');
    assert.equal(wim.version, 'v2.9.0');
    // Not in the configured folder: still found in the system folder.
    assert.equal(requireLoader(set, 'undionly.kpxe').path, join(DEBIAN, 'undionly.kpxe'));
    assert.equal(loaderFor(set, 'bios', 'wimboot').name, 'wimboot');
    assert.equal(loaderFor(set, 'efi-x64', 'ipxe').name, 'ipxe.efi');
  });

  it('a missing loader throws E_LOADER_MISSING naming the file, the folders searched and how to get it', async () => {
    const mine = join(work.dir, 'mine2');
    await mkdir(mine, { recursive: true });
    const set = await findLoaders({ dir: mine, dataDir: join(work.dir, 'nodata'), systemDirs: [join(work.dir, 'nosys')] });
    assert.throws(
      () => requireLoader(set, 'undionly.kpxe'),
      (e: unknown) => {
        assert.ok(e instanceof LoaderError);
        assert.equal(e.code, 'E_LOADER_MISSING');
        assert.match(e.message, /undionly\.kpxe not found/);
        assert.ok(e.message.includes(mine), e.message);
        assert.ok(e.message.includes(join(work.dir, 'nodata', 'loaders')), e.message);
        assert.ok(e.message.includes(join(work.dir, 'nosys')), e.message);
        assert.match(e.message, /apt-get install ipxe/);
        assert.match(e.message, /overnight loaders fetch/);
        return true;
      },
    );
    assert.throws(
      () => requireLoader(set, 'wimboot'),
      (e: unknown) => e instanceof LoaderError && /not packaged by Debian/.test(e.message) && !/apt-get/.test(e.message) && /overnight loaders fetch/.test(e.message),
    );
    // ia32 UEFI: the message says Debian has no such file rather than sending the user to apt.
    assert.throws(() => requireLoader(set, 'ipxe-i386.efi'), /Debian's ipxe package \(it ships x64 EFI only\)/);
    // loaderFor reports the primary loader when neither it nor the fallback is there.
    assert.throws(() => loaderFor(set, 'bios', 'ipxe'), /undionly\.kpxe not found/);
    assert.throws(() => requireLoader(set, 'pxelinux.0'), (e: unknown) => e instanceof LoaderError && e.code === 'E_UNKNOWN_LOADER');
  });

  it('an invalid file is reported, not skipped: E_LOADER_INVALID names the path and the problem', async () => {
    const mine = join(work.dir, 'mine3');
    await mkdir(mine, { recursive: true });
    await writeFile(join(mine, 'ipxe.efi'), forgeIa32(realEfi)); // an ia32 file under the x64 name
    await writeFile(join(mine, 'undionly.kpxe'), Buffer.alloc(0));
    const set = await findLoaders({ dir: mine, dataDir: join(work.dir, 'nodata') });
    assert.deepEqual(set.invalid.sort(), ['ipxe.efi', 'undionly.kpxe']);
    assert.throws(() => requireLoader(set, 'ipxe.efi'), (e: unknown) => e instanceof LoaderError && e.code === 'E_LOADER_INVALID' && e.message.includes(join(mine, 'ipxe.efi')) && /PE machine ia32 \(0x14c\), expected x64 \(0x8664\)/.test(e.message));
    assert.throws(() => requireLoader(set, 'undionly.kpxe'), /empty file/);
  });
});

describe('checkLoader', () => {
  it("reads the PE machine of Debian's ipxe.efi (x64) and of a forged ia32 header", () => {
    const pe = peInfo(realEfi);
    assert.ok(!('problem' in pe));
    assert.equal(pe.machine, 0x8664);
    assert.equal(pe.subsystem, 10);
    assert.deepEqual(checkLoader(realEfi, 'efi-x64'), { ok: true });
    assert.match(checkLoader(realEfi, 'efi-ia32').problem!, /PE machine x64 \(0x8664\), expected ia32 \(0x14c\)/);
    const ia32 = forgeIa32(realEfi);
    assert.equal((peInfo(ia32) as { machine: number }).machine, 0x14c);
    assert.deepEqual(checkLoader(ia32, 'efi-ia32'), { ok: true });
  });

  it('objdump agrees on the machine type of the real file', async (t) => {
    const r = await run('objdump', ['-f', join(DEBIAN, 'ipxe.efi')]).catch(() => undefined);
    if (!r) return t.skip('objdump not installed');
    assert.match(r.stdout, /pei-x86-64/);
  });

  it('PXE programs: size within 0:7C00..640 KiB, not PE or ELF', () => {
    assert.deepEqual(checkLoader(realKpxe, 'pxe'), { ok: true });
    assert.match(checkLoader(realEfi, 'pxe').problem!, /EFI\/PE file/);
    assert.match(checkLoader(Buffer.alloc(700_000, 0x90), 'pxe').problem!, /more than a PXE boot program can have/);
    assert.match(checkLoader(Buffer.alloc(100, 0x90), 'pxe').problem!, /too small/);
  });

  it('wimboot: PE machine plus the bzImage boot flag and HdrS; the version comes from the header', () => {
    assert.deepEqual(checkLoader(fakeWimboot(PE_MACHINE.x64), 'wimboot-x64'), { ok: true, version: 'v2.9.0' });
    assert.match(checkLoader(fakeWimboot(PE_MACHINE.ia32), 'wimboot-x64').problem!, /expected x64/);
    assert.equal(checkLoader(fakeWimboot(PE_MACHINE.ia32, 'v2.8.0'), 'wimboot-ia32').version, 'v2.8.0');
    const noHdrS = fakeWimboot(PE_MACHINE.x64);
    noHdrS.write('XXXX', 0x202, 'latin1');
    assert.match(checkLoader(noHdrS, 'wimboot-x64').problem!, /HdrS/);
    // An EFI file is not wimboot.
    assert.match(checkLoader(realEfi, 'wimboot-x64').problem!, /0xAA55/);
  });
});

// ---- fetch --------------------------------------------------------------------------------------

interface Served {
  body: Buffer;
  /** 'ok', '404', 'cut' (close after half the body), 'flaky' (cut once, then ok), 'redirect'. */
  mode: 'ok' | '404' | 'cut' | 'flaky' | 'redirect';
  hits: number;
}

let server: http.Server;
let base: string;
const routes = new Map<string, Served>();
let wimX64: Buffer;
let wimIa32: Buffer;
let tarball: Buffer;
let members: Record<string, Buffer>;

function serve(path: string, body: Buffer, mode: Served['mode'] = 'ok') {
  routes.set(path, { body, mode, hits: 0 });
}

/** The three pinned downloads, as the release servers publish them (and nothing else). */
function serveReleases(): void {
  routes.clear();
  serve('/ipxe/ipxe/releases/download/v2.0.0/ipxeboot.tar.gz', tarball);
  serve('/ipxe/wimboot/releases/download/v2.9.0/wimboot', wimX64);
  serve('/ipxe/wimboot/releases/download/v2.9.0/wimboot.i386', wimIa32);
}

function table(): Artifact[] {
  return [
    {
      file: 'ipxeboot.tar.gz',
      project: 'iPXE',
      version: '2.0.0',
      path: 'ipxe/ipxe/releases/download/v2.0.0/ipxeboot.tar.gz',
      sha256: hex(tarball),
      provenance: 'test',
      members: [
        { loader: 'undionly.kpxe', member: 'i386/undionly.kpxe' },
        { loader: 'ipxe.pxe', member: 'i386/ipxe.pxe' },
        { loader: 'ipxe.efi', member: 'x86_64/ipxe.efi', sha256: hex(members['x86_64/ipxe.efi']!) },
        { loader: 'snponly.efi', member: 'x86_64/snponly.efi' },
        { loader: 'ipxe-i386.efi', member: 'i386/ipxe.efi' },
      ],
    },
    { file: 'wimboot', project: 'wimboot', version: '2.9.0', path: 'ipxe/wimboot/releases/download/v2.9.0/wimboot', sha256: hex(wimX64), provenance: 'test', loader: 'wimboot' },
    { file: 'wimboot.i386', project: 'wimboot', version: '2.9.0', path: 'ipxe/wimboot/releases/download/v2.9.0/wimboot.i386', sha256: null, provenance: 'test', loader: 'wimboot.i386' },
  ];
}

async function listDir(d: string): Promise<string[]> {
  return (await readdir(d)).sort();
}

describe('loaders fetch', () => {
  before(async () => {
    wimX64 = fakeWimboot(PE_MACHINE.x64);
    wimIa32 = fakeWimboot(PE_MACHINE.ia32);
    members = {
      'i386/undionly.kpxe': realKpxe,
      'i386/ipxe.pxe': await readFile(join(DEBIAN, 'ipxe.pxe')),
      'x86_64/ipxe.efi': realEfi,
      'x86_64/snponly.efi': await readFile(join(DEBIAN, 'snponly.efi')),
      'i386/ipxe.efi': forgeIa32(realEfi),
    };
    // The release archive's layout: one top folder, per-architecture folders, symlinks at the top.
    const src = join(work.dir, 'tar-src');
    for (const [m, data] of Object.entries(members)) {
      await mkdir(join(src, 'ipxeboot', m, '..'), { recursive: true });
      await writeFile(join(src, 'ipxeboot', m), data);
    }
    await symlink('x86_64/ipxe.efi', join(src, 'ipxeboot', 'ipxe.efi'));
    await run('tar', ['-czf', join(work.dir, 'ipxeboot.tar.gz'), '-C', src, 'ipxeboot']);
    tarball = await readFile(join(work.dir, 'ipxeboot.tar.gz'));

    server = http.createServer((req, res) => {
      const r = routes.get(req.url ?? '');
      if (!r) {
        res.writeHead(404).end('not found');
        return;
      }
      r.hits++;
      if (r.mode === '404') {
        res.writeHead(404, 'Not Found').end();
        return;
      }
      if (r.mode === 'redirect') {
        res.writeHead(302, { location: `${req.url}.real` }).end();
        return;
      }
      res.writeHead(200, { 'content-length': r.body.length, 'content-type': 'application/octet-stream' });
      if (r.mode === 'cut' || (r.mode === 'flaky' && r.hits === 1)) {
        res.write(r.body.subarray(0, r.body.length >> 1), () => res.socket?.destroy());
        return;
      }
      res.end(r.body);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  it('readTar reads the archive tar wrote (regular files only, links skipped)', () => {
    const files = readTar(gunzipSync(tarball));
    assert.deepEqual([...files.keys()].sort(), Object.keys(members).map((m) => `ipxeboot/${m}`).sort());
    assert.equal(hex(files.get('ipxeboot/x86_64/ipxe.efi')!), hex(realEfi));
  });

  it('downloads, verifies and installs every pinned loader; the unpinned one is listed, not fetched', async () => {
    serveReleases();
    const dir = join(work.dir, 'fetch-ok');
    const progress: number[] = [];
    const r = await fetchLoaders({ dir, baseUrl: base, table: table(), onProgress: (p) => progress.push(p.done) });
    const by = Object.fromEntries(r.results.map((x) => [x.name, x]));
    for (const n of ['undionly.kpxe', 'ipxe.pxe', 'ipxe.efi', 'snponly.efi', 'ipxe-i386.efi', 'wimboot']) {
      assert.equal(by[n]!.status, 'fetched', n);
      assert.equal(by[n]!.sha256, hex(await readFile(join(dir, n))), n);
    }
    assert.equal(by['wimboot.i386']!.status, 'unpinned');
    assert.match(by['wimboot.i386']!.note!, /--sha256 wimboot\.i386=HEX/);
    assert.equal(routes.get('/ipxe/wimboot/releases/download/v2.9.0/wimboot.i386')!.hits, 0);
    assert.ok(progress.length > 0);
    // No temporary files are left; the verified archive is kept for mirrors.
    assert.deepEqual(await listDir(dir), ['downloads', 'ipxe-i386.efi', 'ipxe.efi', 'ipxe.pxe', 'snponly.efi', 'undionly.kpxe', 'wimboot']);
    assert.deepEqual(await listDir(join(dir, 'downloads')), ['ipxeboot.tar.gz']);
    // findLoaders sees them as the data folder's, and checks them (ia32 EFI included).
    const set = await findLoaders({ dataDir: join(dir, '..', 'fetch-ok-data'), dir });
    for (const n of ['ipxe-i386.efi', 'wimboot']) assert.equal(requireLoader(set, n).path, join(dir, n));

    // Again: nothing is downloaded, everything is present.
    const hits = routes.get('/ipxe/wimboot/releases/download/v2.9.0/wimboot')!.hits;
    const again = await fetchLoaders({ dir, baseUrl: base, table: table() });
    assert.ok(again.results.filter((x) => x.status !== 'unpinned').every((x) => x.status === 'present'));
    assert.equal(routes.get('/ipxe/wimboot/releases/download/v2.9.0/wimboot')!.hits, hits);

    // With a user's hash the unpinned file is fetched.
    const withPin = await fetchLoaders({ dir, baseUrl: base, table: table(), names: ['wimboot.i386'], pins: { 'wimboot.i386': hex(wimIa32) } });
    assert.deepEqual(
      withPin.results.map((x) => [x.name, x.status, x.pin]),
      [['wimboot.i386', 'fetched', 'user']],
    );
  });

  it('a hash mismatch leaves no file behind and names both hashes and the URL', async () => {
    routes.clear();
    const evil = fakeWimboot(PE_MACHINE.x64, 'v6.6.6');
    serve('/ipxe/wimboot/releases/download/v2.9.0/wimboot', evil);
    const dir = join(work.dir, 'fetch-bad');
    await assert.rejects(
      fetchLoaders({ dir, baseUrl: base, table: table(), names: ['wimboot'] }),
      (e: unknown) => {
        assert.ok(e instanceof LoaderError);
        assert.equal(e.code, 'E_HASH_MISMATCH');
        assert.ok(e.message.includes(hex(wimX64)), e.message);
        assert.ok(e.message.includes(hex(evil)), e.message);
        assert.ok(e.message.includes(`${base}ipxe/wimboot/releases/download/v2.9.0/wimboot`), e.message);
        return true;
      },
    );
    assert.deepEqual(await listDir(dir), []);
  });

  it('HTTP 404 names the URL and the status', async () => {
    routes.clear();
    serve('/ipxe/wimboot/releases/download/v2.9.0/wimboot', wimX64, '404');
    const dir = join(work.dir, 'fetch-404');
    await assert.rejects(fetchLoaders({ dir, baseUrl: base, table: table(), names: ['wimboot'] }), (e: unknown) => {
      assert.ok(e instanceof LoaderError);
      assert.equal(e.code, 'E_FETCH_HTTP');
      assert.match(e.message, /HTTP 404 Not Found/);
      assert.ok(e.message.includes(`${base}ipxe/wimboot/releases/download/v2.9.0/wimboot`));
      return true;
    });
    // A 4xx is not retried.
    assert.equal(routes.get('/ipxe/wimboot/releases/download/v2.9.0/wimboot')!.hits, 1);
    assert.deepEqual(await listDir(dir), []);
  });

  it('a connection closed mid-body is retried once, then reported with the byte counts', async () => {
    routes.clear();
    serve('/ipxe/wimboot/releases/download/v2.9.0/wimboot', wimX64, 'cut');
    const dir = join(work.dir, 'fetch-cut');
    const notes: string[] = [];
    await assert.rejects(fetchLoaders({ dir, baseUrl: base, table: table(), names: ['wimboot'], onNote: (m) => notes.push(m) }), (e: unknown) => {
      assert.ok(e instanceof LoaderError);
      assert.equal(e.code, 'E_FETCH_NETWORK');
      assert.ok(e.message.includes('/ipxe/wimboot/releases/download/v2.9.0/wimboot'), e.message);
      assert.match(e.message, /closed/);
      return true;
    });
    assert.equal(routes.get('/ipxe/wimboot/releases/download/v2.9.0/wimboot')!.hits, 2);
    assert.ok(notes.some((n) => /retrying once/.test(n)), notes.join('\n'));
    assert.deepEqual(await listDir(dir), []);

    // Cut once, whole the second time: the retry succeeds.
    routes.clear();
    serve('/ipxe/wimboot/releases/download/v2.9.0/wimboot', wimX64, 'flaky');
    const r = await fetchLoaders({ dir, baseUrl: base, table: table(), names: ['wimboot'] });
    assert.equal(r.results[0]!.status, 'fetched');
    assert.deepEqual(await listDir(dir), ['wimboot']);
  });

  it('follows redirects (GitHub sends release assets to its CDN)', async () => {
    routes.clear();
    serve('/ipxe/wimboot/releases/download/v2.9.0/wimboot', wimX64, 'redirect');
    serve('/ipxe/wimboot/releases/download/v2.9.0/wimboot.real', wimX64);
    const r = await fetchLoaders({ dir: join(work.dir, 'fetch-302'), baseUrl: base, table: table(), names: ['wimboot'] });
    assert.equal(r.results[0]!.status, 'fetched');
    assert.equal(r.results[0]!.from, `${base}ipxe/wimboot/releases/download/v2.9.0/wimboot`);
    assert.equal(routes.get('/ipxe/wimboot/releases/download/v2.9.0/wimboot.real')!.hits, 1);
  });

  it('times out a server that never answers', async () => {
    const silent = http.createServer(() => {});
    await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', ok));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/`;
      await assert.rejects(
        fetchLoaders({ dir: join(work.dir, 'fetch-silent'), baseUrl: url, table: table(), names: ['wimboot'], timeoutMs: 200, retries: 0 }),
        (e: unknown) => e instanceof LoaderError && e.code === 'E_FETCH_NETWORK' && /timeout/.test(e.message),
      );
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((ok) => silent.close(() => ok()));
    }
  });

  it('--from DIR: an air-gapped copy is verified and installed; a copied loaders folder works as a mirror', async () => {
    const usb = join(work.dir, 'usb');
    await mkdir(usb, { recursive: true });
    await writeFile(join(usb, 'ipxeboot.tar.gz'), tarball);
    await writeFile(join(usb, 'wimboot'), wimX64);
    const dir = join(work.dir, 'from-usb');
    const r = await fetchLoaders({ dir, from: usb, table: table() });
    assert.deepEqual(
      r.results.map((x) => [x.name, x.status]),
      [
        ['undionly.kpxe', 'fetched'],
        ['ipxe.pxe', 'fetched'],
        ['ipxe.efi', 'fetched'],
        ['snponly.efi', 'fetched'],
        ['ipxe-i386.efi', 'fetched'],
        ['wimboot', 'fetched'],
        ['wimboot.i386', 'unpinned'],
      ],
    );
    assert.equal(r.results.find((x) => x.name === 'wimboot')!.from, join(usb, 'wimboot'));
    // The installed folder (with downloads/) is itself a mirror for the next site.
    const second = await fetchLoaders({ dir: join(work.dir, 'from-copy'), from: dir, table: table() });
    assert.ok(second.results.filter((x) => x.status !== 'unpinned').every((x) => x.status === 'fetched'));
    assert.equal(second.results.find((x) => x.name === 'undionly.kpxe')!.from, join(dir, 'downloads', 'ipxeboot.tar.gz'));

    // A tampered copy is refused and nothing is installed.
    const bad = join(work.dir, 'usb-bad');
    await mkdir(bad, { recursive: true });
    await writeFile(join(bad, 'wimboot'), Buffer.concat([wimX64, Buffer.from('x')]));
    const target = join(work.dir, 'from-bad');
    await assert.rejects(fetchLoaders({ dir: target, from: bad, table: table(), names: ['wimboot'] }), /SHA-256 mismatch for wimboot from .*usb-bad\/wimboot: expected [0-9a-f]{64}, got [0-9a-f]{64}/);
    assert.deepEqual(await listDir(target), []);
    // A missing file names where it looked and where to get it.
    await assert.rejects(fetchLoaders({ dir: target, from: bad, table: table(), names: ['ipxe.efi'] }), /ipxeboot\.tar\.gz \(iPXE 2\.0\.0\) is not in .*usb-bad.*github\.com\/ipxe\/ipxe\/releases\/download\/v2\.0\.0\/ipxeboot\.tar\.gz/);
  });

  it('--from URL: a web mirror holds the published files by name', async () => {
    routes.clear();
    serve('/mirror/loaders/wimboot', wimX64);
    const r = await fetchLoaders({ dir: join(work.dir, 'from-url'), from: `${base}mirror/loaders`, table: table(), names: ['wimboot'] });
    assert.equal(r.results[0]!.status, 'fetched');
    assert.equal(r.results[0]!.from, `${base}mirror/loaders/wimboot`);
  });

  it('a member hash that does not match its pin stops the install even when the archive matched', async () => {
    routes.clear();
    serve('/ipxe/ipxe/releases/download/v2.0.0/ipxeboot.tar.gz', tarball);
    const t = table();
    t[0] = { ...t[0]!, members: [{ loader: 'ipxe.efi', member: 'x86_64/ipxe.efi', sha256: '0'.repeat(64) }] };
    const dir = join(work.dir, 'fetch-member');
    await assert.rejects(fetchLoaders({ dir, baseUrl: base, table: t, names: ['ipxe.efi'] }), (e: unknown) => e instanceof LoaderError && e.code === 'E_HASH_MISMATCH' && e.message.includes('0'.repeat(64)) && e.message.includes(hex(realEfi)));
    assert.deepEqual(await listDir(dir), ['downloads']);
  });

  it('pins: sha256sum files and NAME=HEX, user hashes must agree with built-in pins', async () => {
    const h = hex(wimIa32);
    assert.deepEqual(parsePinFile(`# mine\n${h}  wimboot.i386\n${h} *dir/other\nwimboot=${h.toUpperCase()}\n`), { 'wimboot.i386': h, other: h, wimboot: h });
    assert.throws(() => parsePinFile('nonsense here'), (e: unknown) => e instanceof LoaderError && e.code === 'E_PIN_FORMAT' && /line 1/.test(e.message));
    await assert.rejects(fetchLoaders({ dir: join(work.dir, 'conflict'), pins: { wimboot: h }, names: ['wimboot'] }), (e: unknown) => e instanceof LoaderError && e.code === 'E_PIN_CONFLICT');
    await assert.rejects(fetchLoaders({ dir: join(work.dir, 'nopin'), table: table(), names: ['wimboot.i386'] }), (e: unknown) => e instanceof LoaderError && e.code === 'E_NO_PIN' && /--sha256 wimboot\.i386=HEX/.test(e.message));
  });

  it('the built-in table: every entry is pinned with 64 hex digits, every loader has a download', () => {
    for (const a of PINS) {
      assert.match(a.sha256!, /^[0-9a-f]{64}$/, a.file);
      assert.match(a.path, /^ipxe\/(ipxe|wimboot)\/releases\/download\/v\d+\.\d+\.\d+\//, a.file);
      assert.ok(a.provenance.length > 20);
    }
    const covered = PINS.flatMap((a) => (a.members ? a.members.map((m) => m.loader) : [a.loader!]));
    assert.deepEqual(covered.sort(), ['ipxe-i386.efi', 'ipxe.efi', 'ipxe.pxe', 'snponly.efi', 'undionly.kpxe', 'wimboot', 'wimboot.i386']);
  });
});

describe('overnight loaders (CLI)', () => {
  it('list --json: Debian loaders found, the rest missing; exit 0', async () => {
    const r = await cli('loaders', 'list', '--json', '--data-dir', join(work.dir, 'cli-data'));
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.schema, 1);
    const e = j.entries.find((x: { name: string }) => x.name === 'ipxe.efi');
    assert.equal(e.path, join(DEBIAN, 'ipxe.efi'));
    assert.equal(e.sha256, hex(realEfi));
    assert.ok(j.missing.includes('wimboot'));
  });

  it('list: a table with firmware, path, source, size, short hash and status', async () => {
    const mine = join(work.dir, 'cli-mine');
    await mkdir(mine, { recursive: true });
    await writeFile(join(mine, 'wimboot'), wimX64);
    const r = await cli('loaders', 'list', '--dir', mine, '--data-dir', join(work.dir, 'cli-data'));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^Loader\s+Firmware\s+Found at\s+Source\s+Size\s+SHA-256\s+Status$/m);
    assert.match(r.out, new RegExp(`^wimboot\\s+BIOS \\+ UEFI x64\\s+${join(mine, 'wimboot')}\\s+configured\\s+4\\.0 KiB\\s+${hex(wimX64).slice(0, 12)}\\s+ok$`, 'm'));
    assert.match(r.out, /^ipxe-i386\.efi\s+UEFI ia32\s+-\s+-\s+-\s+-\s+MISSING$/m);
    assert.match(r.out, /wimboot is wimboot v2\.9\.0/);
    // An invalid file makes the exit code 1.
    await writeFile(join(mine, 'ipxe.efi'), forgeIa32(realEfi));
    const bad = await cli('loaders', 'list', '--dir', mine, '--data-dir', join(work.dir, 'cli-data'));
    assert.equal(bad.code, 1);
    assert.match(bad.out, /ipxe\.efi: PE machine ia32/);
  });

  it('fetch --table --base-url --json against the local server', async () => {
    serveReleases();
    const tableFile = join(work.dir, 'table.json');
    await writeFile(tableFile, JSON.stringify(table()));
    const pinFile = join(work.dir, 'SHA256SUMS');
    await writeFile(pinFile, `${hex(wimIa32)}  wimboot.i386\n`);
    const dir = join(work.dir, 'cli-fetch');
    const r = await cli('loaders', 'fetch', '--dir', dir, '--table', tableFile, '--pins', pinFile, '--base-url', base, '--json');
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.schema, 1);
    assert.equal(j.dir, dir);
    assert.deepEqual(
      j.results.map((x: { name: string; status: string }) => [x.name, x.status]),
      [
        ['undionly.kpxe', 'fetched'],
        ['ipxe.pxe', 'fetched'],
        ['ipxe.efi', 'fetched'],
        ['snponly.efi', 'fetched'],
        ['ipxe-i386.efi', 'fetched'],
        ['wimboot', 'fetched'],
        ['wimboot.i386', 'fetched'],
      ],
    );
    const human = await cli('loaders', 'fetch', '--dir', dir, '--table', tableFile, '--pins', pinFile, '--base-url', base);
    assert.equal(human.code, 0, human.err);
    assert.match(human.out, /^wimboot\s+2\.9\.0\s+present\s/m);
    // The list now finds all seven in the configured folder.
    const list = JSON.parse((await cli('loaders', 'list', '--dir', dir, '--json', '--data-dir', join(work.dir, 'cli-data'))).out);
    assert.deepEqual(list.missing, []);
    assert.ok(list.entries.every((e: { source: string }) => e.source === 'configured'));
  });

  it('fetch with the built-in pins: a wrong file from the server is refused with both hashes (exit 2)', async () => {
    routes.clear();
    serve('/ipxe/wimboot/releases/download/v2.9.0/wimboot', wimX64);
    const dir = join(work.dir, 'cli-builtin');
    const r = await cli('loaders', 'fetch', 'wimboot', '--dir', dir, '--base-url', base);
    assert.equal(r.code, 2);
    assert.match(r.err, /^overnight: SHA-256 mismatch for wimboot from http:\/\/127\.0\.0\.1:\d+\/ipxe\/wimboot\/releases\/download\/v2\.9\.0\/wimboot: expected 5f067ccdc4d084d5bf77b6c853bd0f8402dfc2b4cd1b103d358993ae97fae8e3, got [0-9a-f]{64} \(4096 bytes\); the file was not kept \[E_HASH_MISMATCH\]$/m);
    assert.deepEqual(await listDir(dir), []);
    const e404 = await cli('loaders', 'fetch', 'ipxe.efi', '--dir', dir, '--base-url', base);
    assert.equal(e404.code, 2);
    assert.match(e404.err, /ipxeboot\.tar\.gz failed: HTTP 404 Not Found \[E_FETCH_HTTP\]/);
    const bad = await cli('loaders', 'fetch', '--sha256', 'wimboot=abc');
    assert.equal(bad.code, 2);
    assert.match(bad.err, /E_PIN_FORMAT/);
  });

  it('pins --json: the built-in table with URL, hash and provenance per loader', async () => {
    const r = await cli('loaders', 'pins', '--json');
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    const w = j.pins.find((p: { loader: string }) => p.loader === 'wimboot');
    assert.equal(w.url, 'https://github.com/ipxe/wimboot/releases/download/v2.9.0/wimboot');
    assert.equal(w.sha256, '5f067ccdc4d084d5bf77b6c853bd0f8402dfc2b4cd1b103d358993ae97fae8e3');
    assert.equal(w.pinned, true);
    const human = await cli('loaders', 'pins');
    assert.match(human.out, /^ipxe-i386\.efi\s+UEFI ia32\s+iPXE 2\.0\.0 \(i386\/ipxe\.efi\)/m);
  });
});

