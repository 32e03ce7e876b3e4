// Side-by-side TFTP throughput: overnight's server against atftpd and dnsmasq's TFTP, with the
// same client (atftp) for all of them.
//
//   node bench/net/tftp.ts [--size-mb 300] [--rounds 5] [--windows 1,16,64] [--blksize 1468]
//                          [--parallel 20] [--parallel-size-mb 50] [--parallel-window 16]
//
// Topology, the same for every server: each server runs in a network namespace of its own (a
// Lab host; dnsmasq can only serve TFTP on port 69), bound to 127.0.0.1:69, and the client runs
// in the same namespace over loopback. The file is pseudo-random, made once; the client writes to
// /dev/shm so that the output's disk is not what is measured. Every run's output size is checked,
// and each (server, window) pair's first output is hashed, so that a broken transfer cannot look
// fast. Rounds are interleaved, server order rotating, and medians are reported.
//
// dnsmasq has no windowsize (RFC 7440): atftp asks for it, dnsmasq leaves it out of the OACK, and
// atftp falls back to one block per ACK. dnsmasq is therefore measured at windowsize 1 only, and
// the overnight/dnsmasq ratio of every row compares against that figure (dnsmasq's best).
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Lab, waitForOutput } from '../../test/helpers/netns.ts';
import { run, tempDir } from '../../test/helpers/tools.ts';

const { values } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '300' },
    rounds: { type: 'string', default: '5' },
    windows: { type: 'string', default: '1,16,64' },
    blksize: { type: 'string', default: '1468' },
    parallel: { type: 'string', default: '20' },
    'parallel-size-mb': { type: 'string', default: '50' },
    'parallel-window': { type: 'string', default: '16' },
  },
});
const MB = 1_000_000;
const size = Number(values['size-mb']) * MB;
const parSize = Number(values['parallel-size-mb']) * MB;
const rounds = Number(values.rounds);
const windows = values.windows.split(',').map(Number);
const blksize = Number(values.blksize);
const parallel = Number(values.parallel);
const parWindow = Number(values['parallel-window']);

type ServerName = 'overnight' | 'atftpd' | 'dnsmasq';
const SERVERS: ServerName[] = ['overnight', 'atftpd', 'dnsmasq'];

async function makeFile(path: string, bytes: number, seed: number): Promise<string> {
  const fh = await open(path, 'w');
  const hash = createHash('sha256');
  const buf = Buffer.alloc(8 * 1024 * 1024);
  let left = bytes;
  let n = seed;
  while (left > 0) {
    randomFillSync(buf);
    buf.writeUInt32LE(n++, 0); // deterministic enough to be unique; content is random
    const part = buf.subarray(0, Math.min(left, buf.length));
    await fh.write(part);
    hash.update(part);
    left -= part.length;
  }
  await fh.close();
  return hash.digest('hex');
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const { dir: work, cleanup } = await tempDir('overnight-bench-tftp-');
const outDir = await tempDirIn('/dev/shm');
const lab = await Lab.create('btftp');
try {
  const root = join(work, 'root');
  await run('mkdir', ['-p', root]);
  process.stderr.write(`making ${size / MB} MB and ${parSize / MB} MB files...\n`);
  const hashes = {
    'big.bin': await makeFile(join(root, 'big.bin'), size, 1),
    'par.bin': await makeFile(join(root, 'par.bin'), parSize, 2),
  };

  // One namespace per server, client alongside on loopback.
  const ns = new Map<ServerName, string>();
  for (const name of SERVERS) ns.set(name, (await lab.addHost(name.slice(0, 4), undefined)).ns);
  const helper = join(import.meta.dirname, '..', '..', 'test', 'helpers', 'tftp-server.ts');
  const ovn = lab.spawn(ns.get('overnight')!, process.execPath, [helper, '--root', root, '--address', '127.0.0.1', '--port', '69', '--max-per-client', String(parallel * 2)]);
  await waitForOutput(ovn, /PORT 69/, 15000);
  lab.spawn(ns.get('atftpd')!, 'atftpd', ['--daemon', '--no-fork', '--port', '69', '--bind-address', '127.0.0.1', '--user', 'root', '--group', 'root', '--logfile', '/dev/null', '--maxthread', '200', root]);
  lab.spawn(ns.get('dnsmasq')!, 'dnsmasq', [
    '--keep-in-foreground', '--port=0', '--enable-tftp', `--tftp-root=${root}`, '--conf-file=/dev/null', '--user=root', '--group=root',
    '--pid-file', '--bind-interfaces', '--interface=lo', '--listen-address=127.0.0.1', '--tftp-max=200', '--log-facility=/dev/null',
  ]);
  await new Promise((r) => setTimeout(r, 1000));

  const verified = new Set<string>();
  async function fetch(server: ServerName, file: 'big.bin' | 'par.bin', ws: number, out: string): Promise<void> {
    await run('ip', ['netns', 'exec', ns.get(server)!, 'atftp', '--option', `blksize ${blksize}`, '--option', `windowsize ${ws}`, '-g', '-r', file, '-l', out, '127.0.0.1', '69']);
    const want = file === 'big.bin' ? size : parSize;
    const got = (await stat(out)).size;
    if (got !== want) throw new Error(`${server} ws${ws} ${file}: got ${got} bytes, want ${want}`);
    const key = `${server}/${ws}/${file}`;
    if (!verified.has(key)) {
      const h = await hashFile(out);
      if (h !== hashes[file]) throw new Error(`${key}: SHA-256 mismatch`);
      verified.add(key);
    }
  }

  async function single(server: ServerName, ws: number): Promise<number> {
    const out = join(outDir.dir, `${server}.out`);
    const t0 = performance.now();
    await fetch(server, 'big.bin', ws, out);
    const s = (performance.now() - t0) / 1000;
    await rm(out);
    return size / MB / s;
  }

  async function many(server: ServerName): Promise<number> {
    const outs = Array.from({ length: parallel }, (_, i) => join(outDir.dir, `${server}-${i}.out`));
    const t0 = performance.now();
    await Promise.all(outs.map((o) => fetch(server, 'par.bin', server === 'dnsmasq' ? 1 : parWindow, o)));
    const s = (performance.now() - t0) / 1000;
    await Promise.all(outs.map((o) => rm(o)));
    return (parallel * parSize) / MB / s;
  }

  const configs: { server: ServerName; ws: number }[] = [];
  for (const ws of windows) for (const server of SERVERS) if (server !== 'dnsmasq' || ws === 1) configs.push({ server, ws });
  // Warm-up: page cache, the servers' first-use costs, and the hash check of each pair.
  for (const c of configs) await single(c.server, c.ws);
  const results = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    const order = configs.map((_, i) => configs[(i + r) % configs.length]!);
    for (const c of order) {
      const mbps = await single(c.server, c.ws);
      const key = `${c.server}/${c.ws}`;
      results.set(key, [...(results.get(key) ?? []), mbps]);
      process.stderr.write(`round ${r + 1}/${rounds} ${key}: ${mbps.toFixed(1)} MB/s\n`);
    }
  }
  const par = new Map<ServerName, number[]>();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < SERVERS.length; i++) {
      const server = SERVERS[(i + r) % SERVERS.length]!;
      const mbps = await many(server);
      par.set(server, [...(par.get(server) ?? []), mbps]);
      process.stderr.write(`round ${r + 1}/${rounds} ${parallel} parallel ${server}: ${mbps.toFixed(1)} MB/s\n`);
    }
  }

  const med = (k: string) => median(results.get(k) ?? [NaN]);
  const dns1 = med('dnsmasq/1');
  const lines = [
    `TFTP, ${size / MB} MB file, atftp client, blksize ${blksize}, loopback in a namespace per server; median of ${rounds} rounds (MB/s = 10^6 bytes/s)`,
    '',
    '| windowsize | overnight | atftpd | dnsmasq | overnight / atftpd | overnight / dnsmasq |',
    '|---:|---:|---:|---:|---:|---:|',
  ];
  for (const ws of windows) {
    const o = med(`overnight/${ws}`);
    const a = med(`atftpd/${ws}`);
    const d = ws === 1 ? dns1.toFixed(1) : 'n/a (no windowsize)';
    lines.push(`| ${ws} | ${o.toFixed(1)} | ${a.toFixed(1)} | ${d} | ${(o / a).toFixed(2)}× | ${(o / dns1).toFixed(2)}×${ws === 1 ? '' : ' (vs dnsmasq ws 1)'} |`);
  }
  const po = median(par.get('overnight')!);
  const pa = median(par.get('atftpd')!);
  const pd = median(par.get('dnsmasq')!);
  lines.push(
    '',
    `${parallel} parallel atftp clients, ${parSize / MB} MB each, windowsize ${parWindow} (dnsmasq: 1), aggregate MB/s, median of ${rounds} rounds`,
    '',
    '| overnight | atftpd | dnsmasq | overnight / atftpd | overnight / dnsmasq |',
    '|---:|---:|---:|---:|---:|',
    `| ${po.toFixed(1)} | ${pa.toFixed(1)} | ${pd.toFixed(1)} | ${(po / pa).toFixed(2)}× | ${(po / pd).toFixed(2)}× |`,
    '',
    `All runs: ${JSON.stringify(Object.fromEntries([...results].map(([k, v]) => [k, v.map((x) => Math.round(x * 10) / 10)])))}`,
    `Parallel: ${JSON.stringify(Object.fromEntries([...par].map(([k, v]) => [k, v.map((x) => Math.round(x * 10) / 10)])))}`,
  );
  console.log(lines.join('\n'));
} finally {
  await lab.destroy();
  await outDir.cleanup();
  await cleanup();
}

async function tempDirIn(parent: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const { mkdtemp } = await import('node:fs/promises');
  const dir = await mkdtemp(join(parent, 'overnight-bench-tftp-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
