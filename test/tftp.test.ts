// TFTP server on loopback against real clients (curl, busybox, atftp) and a raw-packet client for
// what no real client does on demand. Every transfer is compared byte for byte (SHA-256).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openMedia } from '../src/media/open.ts';
import type { NetEvent, TftpEvent } from '../src/net/events.ts';
import { encodeError, encodeRequest, ErrorCode } from '../src/net/tftp/codec.ts';
import { startTftpServer, type TftpServer, type TftpServerOptions, tftpTestHooks } from '../src/net/tftp/server.ts';
import { pseudoRandom } from './helpers/iso.ts';
import { RawClient, rawGet, sha256, sha256File, sizeOf } from './helpers/tftp.ts';
import { run, tempDir } from './helpers/tools.ts';

let work: string;
let root: string;
let cleanup: () => Promise<void>;
const files = new Map<string, Buffer>();

async function put(name: string, data: Buffer): Promise<void> {
  await mkdir(join(root, name, '..'), { recursive: true });
  await writeFile(join(root, name), data);
  files.set(name, data);
}

before(async () => {
  ({ dir: work, cleanup } = await tempDir('overnight-tftp-'));
  // The root's sibling 'tftp2' shares its name as a string prefix: it must stay out of reach.
  root = join(work, 'tftp');
  await mkdir(root);
  await mkdir(join(work, 'tftp2'));
  await writeFile(join(work, 'tftp2', 'secret'), 'SIBLING SECRET\n');
  await writeFile(join(work, 'outside.txt'), 'OUTSIDE SECRET\n');
  await put('empty.bin', Buffer.alloc(0));
  await put('one-512.bin', pseudoRandom(512, 1));
  await put('one-1468.bin', pseudoRandom(1468, 2));
  await put('multi-1468.bin', pseudoRandom(1468 * 40, 3));
  await put('odd.bin', pseudoRandom(1_234_567, 4));
  await put('Boot/x64/wdsmgfw.efi', pseudoRandom(70_000, 5));
  await put('etc/passwd', Buffer.from('root-relative passwd, not the host one\n'));
  // > 32 MiB: block numbers pass 65535 at blksize 512.
  await put('rollover.bin', pseudoRandom(32 * 1024 * 1024 + 3 * 512 + 100, 6));
  await symlink(join(work, 'outside.txt'), join(root, 'escape.txt'));
  await symlink('../tftp2', join(root, 'sibling-link'));
  await symlink('one-512.bin', join(root, 'inner-link.bin'));
  await mkdir(join(root, 'folder'));
});

after(async () => {
  await cleanup();
});

interface Running {
  server: TftpServer;
  events: TftpEvent[];
}

const servers: TftpServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function serveWith(workers: number | undefined, opts: Partial<TftpServerOptions> = {}): Promise<Running> {
  const events: TftpEvent[] = [];
  const server = await startTftpServer({
    address: '127.0.0.1',
    port: 0,
    root,
    events: (e: NetEvent) => {
      if (e.type.startsWith('tftp.')) events.push(e as TftpEvent);
    },
    workers,
    ...opts,
  });
  servers.push(server);
  // Where workers can run (Linux with koffi), the default server must use them.
  if (workers === undefined && process.platform === 'linux' && process.env['OVERNIGHT_TFTP_WORKERS'] !== '0') assert.ok(tftpTestHooks.usesWorkers(server), 'transfers on worker threads');
  if (workers === 0) assert.equal(tftpTestHooks.usesWorkers(server), false);
  return { server, events };
}

async function waitFor<T>(f: () => T | undefined, what: string, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let outCounter = 0;
function outFile(): string {
  return join(work, `out-${outCounter++}`);
}

async function expectSame(out: string, name: string): Promise<void> {
  const want = files.get(name)!;
  if (want.length === 0) {
    assert.ok((await sizeOf(out)) <= 0, `${name}: empty`);
    return;
  }
  assert.equal(await sizeOf(out), want.length, `${name}: size`);
  assert.equal(await sha256File(out), sha256(want), `${name}: SHA-256`);
}

// Every suite runs twice: transfers on worker threads (the default) and on the main thread.
for (const [label, workers] of [['worker threads', undefined], ['main thread', 0]] as const) {
  const serve = (opts: Partial<TftpServerOptions> = {}): Promise<Running> => serveWith(workers, opts);
  describe(`TFTP server (${label}): real clients, byte-exact`, () => {
    let s: Running;
    before(async () => {
      s = await serve();
    });

    for (const name of ['empty.bin', 'one-512.bin', 'one-1468.bin', 'multi-1468.bin', 'odd.bin']) {
      test(`curl (blksize 1468; no options for the empty file): ${name}`, async () => {
        const out = outFile();
        // curl rejects 'tsize 0' in an OACK as invalid (with atftpd too), so for the empty file it
        // sends no options at all.
        const opts = name === 'empty.bin' ? ['--tftp-no-options'] : ['--tftp-blksize', '1468'];
        await run('curl', ['-s', '--fail', `tftp://127.0.0.1:${s.server.port}/${name}`, ...opts, '-o', out]);
        await expectSame(out, name);
      });
      test(`busybox tftp -b 1468: ${name}`, async () => {
        const out = outFile();
        await run('busybox', ['tftp', '-g', '-b', '1468', '-r', name, '-l', out, '127.0.0.1', String(s.server.port)]);
        await expectSame(out, name);
      });
      for (const ws of [1, 16, 64]) {
        test(`atftp blksize 1468 windowsize ${ws} tsize: ${name}`, async () => {
          const out = outFile();
          await run('atftp', ['--option', 'blksize 1468', '--option', `windowsize ${ws}`, '--option', 'tsize', '-g', '-r', name, '-l', out, '127.0.0.1', String(s.server.port)]);
          await expectSame(out, name);
        });
      }
    }

    test('curl and busybox at the default blksize 512: one-512.bin needs the trailing empty DATA', async () => {
      const a = outFile();
      await run('curl', ['-s', '--fail', `tftp://127.0.0.1:${s.server.port}/one-512.bin`, '-o', a]);
      await expectSame(a, 'one-512.bin');
      const b = outFile();
      await run('busybox', ['tftp', '-g', '-r', 'one-512.bin', '-l', b, '127.0.0.1', String(s.server.port)]);
      await expectSame(b, 'one-512.bin');
    });

    test('Windows-style name with backslashes and a symlink that stays inside the root', async () => {
      const out = outFile();
      await run('atftp', ['-g', '-r', 'Boot\\x64\\wdsmgfw.efi', '-l', out, '127.0.0.1', String(s.server.port)]);
      await expectSame(out, 'Boot/x64/wdsmgfw.efi');
      const out2 = outFile();
      await run('curl', ['-s', '--fail', `tftp://127.0.0.1:${s.server.port}/inner-link.bin`, '-o', out2]);
      await expectSame(out2, 'one-512.bin');
    });

    test('block numbers roll over past 65535 (33 MiB at blksize 512): atftp windowsize 64, curl', async () => {
      const out = outFile();
      await run('atftp', ['--option', 'blksize 512', '--option', 'windowsize 64', '-g', '-r', 'rollover.bin', '-l', out, '127.0.0.1', String(s.server.port)]);
      await expectSame(out, 'rollover.bin');
      const out2 = outFile();
      await run('curl', ['-s', '--fail', `tftp://127.0.0.1:${s.server.port}/rollover.bin`, '-o', out2]);
      await expectSame(out2, 'rollover.bin');
    });

    test('events: start and done with bytes, duration and the negotiated options', async () => {
      const before = s.events.length;
      await run('atftp', ['--option', 'blksize 1468', '--option', 'windowsize 16', '--option', 'tsize', '-g', '-r', 'odd.bin', '-l', outFile(), '127.0.0.1', String(s.server.port)]);
      const done = await waitFor(() => s.events.slice(before).find((e) => e.type === 'tftp.done'), 'tftp.done');
      assert.ok(s.events.slice(before).some((e) => e.type === 'tftp.start' && e.file === 'odd.bin'));
      assert.equal(done.file, 'odd.bin');
      assert.equal(done.bytes, 1_234_567);
      assert.ok(typeof done.durationMs === 'number' && done.durationMs >= 0);
      assert.deepEqual(done.options, { blksize: 1468, windowsize: 16, tsize: 1_234_567 });
      assert.match(done.client, /^127\.0\.0\.1:\d+$/);
    });
  });

  describe(`TFTP server (${label}): files straight out of an ISO through MediaFS`, () => {
    test('genisoimage (UDF + Joliet) mounted at /media/win7: curl and atftp, byte-exact', async () => {
      const tree = join(work, 'isotree');
      const bootmgr = pseudoRandom(400_000, 21);
      const bcd = pseudoRandom(16_384, 22);
      await mkdir(join(tree, 'boot'), { recursive: true });
      await writeFile(join(tree, 'bootmgr'), bootmgr);
      await writeFile(join(tree, 'boot', 'bcd'), bcd);
      const iso = join(work, 'small.iso');
      await run('genisoimage', ['-quiet', '-udf', '-J', '-V', 'TFTPTEST', '-o', iso, tree]);
      const media = await openMedia(iso);
      try {
        const s = await serve({ media: [{ prefix: '/media/win7', fs: media }] });
        const out = outFile();
        await run('curl', ['-s', '--fail', `tftp://127.0.0.1:${s.server.port}/media/win7/bootmgr`, '--tftp-blksize', '1468', '-o', out]);
        assert.equal(await sha256File(out), sha256(bootmgr));
        const out2 = outFile();
        await run('atftp', ['--option', 'windowsize 16', '-g', '-r', 'media\\win7\\Boot\\BCD', '-l', out2, '127.0.0.1', String(s.server.port)]);
        assert.equal(await sha256File(out2), sha256(bcd), 'backslashes and case-insensitive media lookup');
        const raw = await RawClient.open();
        try {
          await raw.send(encodeRequest('RRQ', 'media/win7/../../etc/passwd'), s.server.port);
          const r = await raw.next();
          assert.equal(r.packet.op === 'ERROR' && r.packet.code, ErrorCode.ACCESS_VIOLATION);
          await raw.send(encodeRequest('RRQ', 'media/win7/nothing'), s.server.port);
          const r2 = await raw.next();
          assert.equal(r2.packet.op === 'ERROR' && r2.packet.code, ErrorCode.FILE_NOT_FOUND);
          await raw.send(encodeRequest('RRQ', 'media/win7/boot'), s.server.port);
          const r3 = await raw.next();
          assert.equal(r3.packet.op === 'ERROR' && r3.packet.code, ErrorCode.ACCESS_VIOLATION, 'a folder on the media');
        } finally {
          raw.close();
        }
      } finally {
        await media.close();
      }
    });
  });

  describe(`TFTP server (${label}): path safety`, () => {
    let s: Running;
    let raw: RawClient;
    before(async () => {
      s = await serve();
      raw = await RawClient.open();
    });
    after(() => raw.close());

    async function refusedRaw(name: string | Buffer, code: number): Promise<string> {
      await raw.send(Buffer.isBuffer(name) ? name : encodeRequest('RRQ', name), s.server.port);
      const r = await raw.next();
      assert.equal(r.packet.op, 'ERROR', `${String(name)}: expected ERROR, got ${r.packet.op}`);
      if (r.packet.op !== 'ERROR') return '';
      assert.equal(r.packet.code, code, `${String(name)}: ${r.packet.message}`);
      assert.doesNotMatch(r.packet.message, /SECRET/);
      return r.packet.message;
    }

    test('atftp sends traversal names as typed; every one is refused with ERROR 2 and nothing is written', async () => {
      for (const name of ['../outside.txt', '..\\..\\etc\\passwd', 'a/../../outside.txt', '../tftp2/secret', 'escape.txt', 'sibling-link/secret']) {
        const out = outFile();
        await assert.rejects(run('atftp', ['-g', '-r', name, '-l', out, '127.0.0.1', String(s.server.port)]), /access violation|failed/i, name);
        assert.ok((await sizeOf(out)) <= 0, `${name}: nothing received`);
      }
    });

    test('curl --path-as-is: ../ is refused; //etc/passwd is the root-relative etc/passwd, not the host file', async () => {
      const out = outFile();
      await assert.rejects(run('curl', ['-s', '--fail', '--path-as-is', `tftp://127.0.0.1:${s.server.port}/../outside.txt`, '-o', out]));
      assert.ok((await sizeOf(out)) <= 0);
      const out2 = outFile();
      await run('curl', ['-s', '--fail', '--path-as-is', `tftp://127.0.0.1:${s.server.port}//etc/passwd`, '-o', out2]);
      await expectSame(out2, 'etc/passwd');
    });

    test('raw packets: each form is refused with a message that says why', async () => {
      assert.match(await refusedRaw('../etc/passwd', ErrorCode.ACCESS_VIOLATION), /'\.\.'/);
      assert.match(await refusedRaw('..\\..\\etc\\passwd', ErrorCode.ACCESS_VIOLATION), /'\.\.'/);
      assert.match(await refusedRaw('a/../../x', ErrorCode.ACCESS_VIOLATION), /'\.\.'/);
      assert.match(await refusedRaw('escape.txt', ErrorCode.ACCESS_VIOLATION), /outside the TFTP root/);
      assert.match(await refusedRaw('sibling-link/secret', ErrorCode.ACCESS_VIOLATION), /outside the TFTP root/);
      assert.match(await refusedRaw('folder', ErrorCode.ACCESS_VIOLATION), /folder/);
      assert.match(await refusedRaw('/', ErrorCode.ACCESS_VIOLATION), /empty file name/);
      assert.match(await refusedRaw('no-such-file', ErrorCode.FILE_NOT_FOUND), /not found/);
      assert.match(await refusedRaw('one-512.bin/x', ErrorCode.FILE_NOT_FOUND), /not found/);
      assert.match(await refusedRaw('ctl\x01name', ErrorCode.ACCESS_VIOLATION), /control character/);
      assert.match(await refusedRaw(`${'a'.repeat(300)}/${'b'.repeat(5000)}`, ErrorCode.ACCESS_VIOLATION), /ENAMETOOLONG/);
      // A NUL inside the name ends it: what follows is read as the mode, which is not one.
      const nul = Buffer.concat([Buffer.from([0, 1]), Buffer.from('one-512.bin\0../outside.txt\0octet\0', 'latin1')]);
      assert.match(await refusedRaw(nul, ErrorCode.ILLEGAL_OPERATION), /unknown transfer mode/);
      const absolute = await rawGet(raw, s.server.port, '/etc/passwd');
      assert.equal(absolute.data.toString(), files.get('etc/passwd')!.toString(), 'leading / is the TFTP root');
    });

    test('a FIFO and a device file in the root are refused without hanging', async (t) => {
      const fifo = `fifo-${workers ?? 'w'}`;
      await run('mkfifo', [join(root, fifo)]);
      assert.match(await refusedRaw(fifo, ErrorCode.ACCESS_VIOLATION), /not a regular file/);
      if (process.getuid?.() !== 0) return t.skip('mknod needs root');
      const dev = `null-dev-${workers ?? 'w'}`;
      await run('mknod', [join(root, dev), 'c', '1', '3']);
      assert.match(await refusedRaw(dev, ErrorCode.ACCESS_VIOLATION), /not a regular file/);
    });
  });

  describe(`TFTP server (${label}): protocol behaviour (raw packets)`, () => {
    test('WRQ is refused with ERROR 2 (atftp put and raw)', async () => {
      const s = await serve();
      const src = join(work, 'upload.txt');
      await writeFile(src, 'upload');
      await assert.rejects(run('atftp', ['-p', '-l', src, '-r', 'upload.txt', '127.0.0.1', String(s.server.port)]));
      assert.equal(await sizeOf(join(root, 'upload.txt')), -1);
      const raw = await RawClient.open();
      try {
        await raw.send(encodeRequest('WRQ', 'upload.txt'), s.server.port);
        const r = await raw.next();
        assert.ok(r.packet.op === 'ERROR' && r.packet.code === ErrorCode.ACCESS_VIOLATION && /read-only/.test(r.packet.message));
        assert.equal(r.port, s.server.port, 'refusals come from the server port');
      } finally {
        raw.close();
      }
      assert.ok(s.events.some((e) => e.type === 'tftp.error' && /write request refused/.test(e.reason ?? '')));
    });

    test('malformed requests get ERROR 4 or 8; an ERROR sent to the server port gets no answer', async () => {
      const s = await serve();
      const raw = await RawClient.open();
      try {
        await raw.send(Buffer.from([0, 1, 0x41]), s.server.port);
        let r = await raw.next();
        assert.ok(r.packet.op === 'ERROR' && r.packet.code === ErrorCode.ILLEGAL_OPERATION, 'truncated RRQ');
        await raw.send(encodeRequest('RRQ', 'odd.bin', 'octet', { blksize: 4 }), s.server.port);
        r = await raw.next();
        assert.ok(r.packet.op === 'ERROR' && r.packet.code === ErrorCode.OPTION_NEGOTIATION && /blksize/.test(r.packet.message), 'blksize 4');
        await raw.send(encodeError(0, 'hello'), s.server.port);
        assert.deepEqual(await raw.collect(200), []);
      } finally {
        raw.close();
      }
    });

    test('over the per-client cap the server answers ERROR, not silence', async () => {
      const s = await serve({ maxSessionsPerClient: 1 });
      const a = await RawClient.open();
      const b = await RawClient.open();
      try {
        await a.send(encodeRequest('RRQ', 'odd.bin'), s.server.port);
        const first = await a.next();
        assert.equal(first.packet.op, 'DATA');
        await b.send(encodeRequest('RRQ', 'odd.bin'), s.server.port);
        const r = await b.next();
        assert.ok(r.packet.op === 'ERROR' && /too many transfers from 127\.0\.0\.1 \(limit 1\)/.test(r.packet.message), JSON.stringify(r.packet));
        // A retransmitted RRQ from the same client and port is not a second transfer.
        await a.send(encodeRequest('RRQ', 'odd.bin'), s.server.port);
        const again = await a.collect(100);
        assert.ok(again.every((x) => x.packet.op === 'DATA' && x.port === first.port));
        assert.equal(s.server.sessions(), 1);
      } finally {
        a.close();
        b.close();
      }
    });

    test('EDK2 tsize probe: RRQ tsize=0 blksize=1468 → OACK → ERROR 8 → second RRQ reads the file', async () => {
      const s = await serve();
      const raw = await RawClient.open();
      try {
        await raw.send(encodeRequest('RRQ', 'Boot/x64/wdsmgfw.efi', 'octet', { tsize: 0, blksize: 1468 }), s.server.port);
        const oack = await raw.next();
        assert.equal(oack.packet.op, 'OACK');
        if (oack.packet.op !== 'OACK') return;
        assert.equal(oack.packet.options.get('tsize'), '70000');
        assert.equal(oack.packet.options.get('blksize'), '1468');
        await raw.send(encodeError(ErrorCode.OPTION_NEGOTIATION, 'User aborted the transfer'), oack.port);
        const probe = await waitFor(() => s.events.find((e) => e.type === 'tftp.error'), 'probe event');
        assert.match(probe.reason ?? '', /^tsize probe/);
        await waitFor(() => (s.server.sessions() === 0 ? true : undefined), 'session end');
        assert.deepEqual(await raw.collect(100), [], 'nothing more after the client ended the probe');
        const got = await rawGet(raw, s.server.port, 'Boot/x64/wdsmgfw.efi', { blksize: 1468 });
        assert.equal(sha256(got.data), sha256(files.get('Boot/x64/wdsmgfw.efi')!));
        await waitFor(() => s.events.find((e) => e.type === 'tftp.done'), 'done');
      } finally {
        raw.close();
      }
    });

    test('duplicate ACKs cause no duplicate DATA (no Sorcerer\'s Apprentice), windowsize 4 and 1', async () => {
      // A long retransmit timeout, so that every DATA counted here answers an ACK.
      const s = await serve({ retransmit: { initialMs: 5000, minMs: 5000 } });
      const raw = await RawClient.open();
      try {
        await raw.send(encodeRequest('RRQ', 'multi-1468.bin', 'octet', { blksize: 1468, windowsize: 4 }), s.server.port);
        const oack = await raw.next();
        await raw.ack(0, oack.port);
        const w1 = await raw.collect(150);
        assert.deepEqual(w1.map((r) => r.packet.op === 'DATA' && r.packet.block), [1, 2, 3, 4]);
        for (let i = 0; i < 3; i++) await raw.ack(4, oack.port);
        const w2 = await raw.collect(200);
        assert.deepEqual(w2.map((r) => r.packet.op === 'DATA' && r.packet.block), [5, 6, 7, 8], 'three ACK 4s: one window');
        // A partial ACK (block 6 of 5..8) restarts the window at 7.
        await raw.ack(6, oack.port);
        const w3 = await raw.collect(200);
        assert.deepEqual(w3.map((r) => r.packet.op === 'DATA' && r.packet.block), [7, 8, 9, 10]);
        // An ACK below the window, and one for a block not sent yet, are ignored.
        await raw.ack(3, oack.port);
        await raw.ack(200, oack.port);
        assert.deepEqual(await raw.collect(150), []);
      } finally {
        raw.close();
      }
      const raw1 = await RawClient.open();
      try {
        await raw1.send(encodeRequest('RRQ', 'multi-1468.bin'), s.server.port);
        const d1 = await raw1.next();
        assert.ok(d1.packet.op === 'DATA' && d1.packet.block === 1);
        await raw1.ack(1, d1.port);
        await raw1.ack(1, d1.port);
        await raw1.ack(1, d1.port);
        const got = await raw1.collect(200);
        assert.deepEqual(got.map((r) => r.packet.op === 'DATA' && r.packet.block), [2]);
      } finally {
        raw1.close();
      }
    });

    test('an ACK below the last one, once retransmissions went unanswered, makes the server go back (no stall under loss)', async () => {
      const s = await serve({ retransmit: { initialMs: 300, minMs: 300 } });
      const raw = await RawClient.open();
      const blocks = (rs: { packet: { op: string; block?: number } }[]) => rs.map((r) => r.packet.op === 'DATA' && r.packet.block);
      try {
        await raw.send(encodeRequest('RRQ', 'multi-1468.bin', 'octet', { blksize: 1468, windowsize: 4 }), s.server.port);
        const oack = await raw.next();
        await raw.ack(0, oack.port);
        assert.deepEqual(blocks(await raw.collect(150)), [1, 2, 3, 4]);
        await raw.ack(4, oack.port);
        assert.deepEqual(blocks(await raw.collect(150)), [5, 6, 7, 8]);
        // Right away, a lower ACK is not believed (it could be a stray from before).
        await raw.ack(2, oack.port);
        assert.deepEqual(blocks(await raw.collect(100)), []);
        // No ACK: the timer sends 5..8 again; then the client says it holds only up to 2.
        assert.deepEqual(blocks(await raw.collect(600)), [5, 6, 7, 8]);
        await raw.ack(2, oack.port);
        assert.deepEqual(blocks(await raw.collect(150)), [3, 4, 5, 6]);
      } finally {
        raw.close();
      }
    });

    test('a withheld ACK: the DATA comes again after the timeout, then the transfer completes', async () => {
      const s = await serve({ retransmit: { initialMs: 200 } });
      const raw = await RawClient.open();
      try {
        await raw.send(encodeRequest('RRQ', 'one-1468.bin'), s.server.port);
        const first = await raw.next();
        assert.ok(first.packet.op === 'DATA' && first.packet.block === 1);
        const again = await raw.next(2000);
        assert.ok(again.packet.op === 'DATA' && again.packet.block === 1, 'block 1 resent');
        assert.equal(again.port, first.port, 'from the same TID');
        assert.ok(again.at - first.at >= 150, `after the timeout (${Math.round(again.at - first.at)} ms)`);
        await raw.ack(1, first.port);
        const d2 = await raw.next();
        assert.ok(d2.packet.op === 'DATA' && d2.packet.block === 2);
        await raw.ack(2, first.port);
        const d3 = await raw.next();
        assert.ok(d3.packet.op === 'DATA' && d3.packet.block === 3 && d3.packet.data.length === 1468 - 1024);
        await raw.ack(3, first.port);
        await waitFor(() => s.events.find((e) => e.type === 'tftp.done'), 'done');
      } finally {
        raw.close();
      }
    });

    test('a client that stops answering: retries with backoff, then the transfer is abandoned', async () => {
      const s = await serve({ retransmit: { initialMs: 50, retries: 3 } });
      const raw = await RawClient.open();
      try {
        await raw.send(encodeRequest('RRQ', 'odd.bin'), s.server.port);
        const err = await waitFor(() => s.events.find((e) => e.type === 'tftp.error'), 'give-up event', 5000);
        assert.match(err.reason ?? '', /no ACK after 3 retransmissions/);
        const got = await raw.collect(50);
        // The first DATA 1 was consumed by nobody: 1 send + 3 retransmissions, growing gaps.
        const times = got.filter((r) => r.packet.op === 'DATA').map((r) => r.at);
        assert.equal(times.length, 4);
        assert.ok(times[3]! - times[2]! > times[1]! - times[0]!, 'exponential backoff');
        assert.equal(s.server.sessions(), 0);
      } finally {
        raw.close();
      }
    });

    test('bound to 0.0.0.0: replies come from the address the request was sent to, transfers from a new port', async () => {
      const s = await serve({ address: '0.0.0.0' });
      const raw = await RawClient.open();
      try {
        const got = await rawGet(raw, s.server.port, 'odd.bin', { blksize: 1468, windowsize: 8 });
        assert.equal(sha256(got.data), sha256(files.get('odd.bin')!));
        await raw.send(encodeRequest('RRQ', 'one-512.bin'), s.server.port);
        const r = await raw.next();
        assert.equal(r.address, '127.0.0.1');
        assert.notEqual(r.port, s.server.port, 'a transfer has its own TID');
        await raw.ack(1, r.port);
        await raw.ack(2, r.port);
      } finally {
        raw.close();
      }
    });

    test('random and mutated packets to the server port and to a transfer port: no crash, service goes on', async () => {
      const s = await serve({ retransmit: { initialMs: 5000 } });
      const raw = await RawClient.open();
      const junk = await RawClient.open();
      try {
        await raw.send(encodeRequest('RRQ', 'odd.bin', 'octet', { blksize: 1468 }), s.server.port);
        const oack = await raw.next();
        let x = 12345;
        const rnd = () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 8) & 0xff;
        for (let i = 0; i < 3000; i++) {
          const len = rnd() % 64;
          const buf = Buffer.alloc(len);
          for (let j = 0; j < len; j++) buf[j] = rnd();
          if (len >= 2 && i % 2) buf[0] = 0, buf[1] = 1 + (rnd() % 6);
          if (len >= 2 && i % 4 === 1) buf[1] = 5; // ERROR-shaped: never answered
          // Junk to the transfer port comes from another address:port, which a connected socket never sees.
          await junk.send(buf, i % 3 ? s.server.port : oack.port);
        }
        await raw.collect(100);
        await junk.collect(100);
        // Junk from the transfer's own peer (bad opcodes, truncated ACKs) is ignored by the session.
        for (let i = 0; i < 500; i++) {
          const buf = Buffer.alloc(i % 4);
          for (let j = 0; j < buf.length; j++) buf[j] = rnd();
          if (buf.length >= 2) buf[1] = 7 + (rnd() % 200);
          if (i % 5 === 0) buf.set([0, 4, 0].slice(0, buf.length));
          await raw.send(buf, oack.port);
        }
        await raw.collect(100);
        await raw.ack(0, oack.port);
        const chunks: Buffer[] = [];
        for (let block = 1; ; block++) {
          const d = await raw.next();
          assert.ok(d.packet.op === 'DATA' && d.packet.block === block, JSON.stringify(d.packet.op));
          if (d.packet.op !== 'DATA') break;
          chunks.push(Buffer.from(d.packet.data));
          await raw.ack(block, oack.port);
          if (d.packet.data.length < 1468) break;
        }
        assert.equal(sha256(Buffer.concat(chunks)), sha256(files.get('odd.bin')!));
        // And a new client is served.
        const fresh = await RawClient.open();
        try {
          const got = await rawGet(fresh, s.server.port, 'multi-1468.bin', { blksize: 1468, windowsize: 8 });
          assert.equal(sha256(got.data), sha256(files.get('multi-1468.bin')!));
        } finally {
          fresh.close();
        }
      } finally {
        raw.close();
        junk.close();
      }
    });

    test('the server closes cleanly with transfers in progress', async () => {
      const s = await serve();
      const raw = await RawClient.open();
      try {
        await raw.send(encodeRequest('RRQ', 'odd.bin'), s.server.port);
        await raw.next();
        assert.equal(s.server.sessions(), 1);
        await s.server.close();
        assert.equal(s.server.sessions(), 0);
      } finally {
        raw.close();
      }
    });
  });
}

describe('TFTP server: transfer worker threads', { skip: process.platform !== 'linux' || process.env['OVERNIGHT_TFTP_WORKERS'] === '0' ? 'workers need Linux and koffi' : false }, () => {
  test('a worker that dies mid-transfer: the client gets an ERROR from its transfer port, the server goes on serving', async () => {
    const s = await serveWith(2, { retransmit: { initialMs: 5000 } });
    const raw = await RawClient.open();
    const raw2 = await RawClient.open();
    try {
      // Two transfers held mid-way (no ACK yet), one per worker (least loaded first).
      await raw.send(encodeRequest('RRQ', 'odd.bin', 'octet', { blksize: 1468, windowsize: 4 }), s.server.port);
      await raw2.send(encodeRequest('RRQ', 'odd.bin', 'octet', { blksize: 1468 }), s.server.port);
      const oack = await raw.next();
      const oack2 = await raw2.next();
      assert.equal(oack.packet.op, 'OACK');
      await raw.ack(0, oack.port);
      assert.equal((await raw.next()).packet.op, 'DATA');
      assert.equal(s.server.sessions(), 2);
      tftpTestHooks.crashWorkers(s.server);
      const errors = await waitFor(() => {
        const e = s.events.filter((x) => x.type === 'tftp.error');
        return e.length === 2 ? e : undefined;
      }, 'two error events');
      for (const e of errors) assert.match(e.reason ?? '', /internal error: transfer worker stopped/);
      assert.equal(s.server.sessions(), 0);
      // The rest of the window may come before the ERROR.
      for (const [c, port] of [[raw, oack.port], [raw2, oack2.port]] as const) {
        let r = await c.next();
        while (r.packet.op === 'DATA') r = await c.next();
        assert.ok(r.packet.op === 'ERROR' && r.port === port, JSON.stringify(r.packet));
      }
      // Served again, byte-exact, by the replacement workers.
      await waitFor(() => (tftpTestHooks.usesWorkers(s.server) ? true : undefined), 'replacement workers');
      for (const ws of [1, 16]) {
        const out = outFile();
        await run('atftp', ['--option', 'blksize 1468', '--option', `windowsize ${ws}`, '-g', '-r', 'odd.bin', '-l', out, '127.0.0.1', String(s.server.port)]);
        await expectSame(out, 'odd.bin');
      }
    } finally {
      raw.close();
      raw2.close();
    }
  });

  test('20 transfers at once spread over the workers, byte-exact, then no session is left', async () => {
    const s = await serveWith(2, { maxSessionsPerClient: 64 });
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const out = outFile();
        const name = i % 2 ? 'odd.bin' : 'multi-1468.bin';
        await run('atftp', ['--option', 'blksize 1468', '--option', `windowsize ${[1, 4, 16, 64][i % 4]}`, '-g', '-r', name, '-l', out, '127.0.0.1', String(s.server.port)]);
        await expectSame(out, name);
      }),
    );
    await waitFor(() => (s.server.sessions() === 0 ? true : undefined), 'sessions end');
    assert.equal(s.events.filter((e) => e.type === 'tftp.done').length, 20);
  });

  test('OVERNIGHT_TFTP_WORKERS=0 keeps every transfer on the main thread', async () => {
    const before = process.env['OVERNIGHT_TFTP_WORKERS'];
    process.env['OVERNIGHT_TFTP_WORKERS'] = '0';
    try {
      const s = await serveWith(2);
      assert.equal(tftpTestHooks.usesWorkers(s.server), false);
      const raw = await RawClient.open();
      try {
        const got = await rawGet(raw, s.server.port, 'odd.bin', { blksize: 1468, windowsize: 8 });
        assert.equal(sha256(got.data), sha256(files.get('odd.bin')!));
      } finally {
        raw.close();
      }
    } finally {
      if (before === undefined) delete process.env['OVERNIGHT_TFTP_WORKERS'];
      else process.env['OVERNIGHT_TFTP_WORKERS'] = before;
    }
  });
});
