// Side-by-side TFTP throughput: overnight's server against atftpd and dnsmasq's TFTP, with the
// same client (atftp) for all of them.
//
//   node bench/net/tftp.ts [--size-mb 300] [--rounds 5] [--windows 1,16,64] [--blksize 1468]
//                          [--parallel 20] [--parallel-size-mb 50] [--parallel-window 16]
//                          [--small-kb 1024] [--small-rounds 30] [--servers overnight,overnight-main,atftpd,dnsmasq]
//
// 'overnight' runs transfers on worker threads (the default); 'overnight-main' is the same server
// with OVERNIGHT_TFTP_WORKERS=0 (every transfer on the main thread through dgram). The small-file
// rows time a whole atftp fetch of a small loader (process start included: compare, do not read
// absolute figures), windowsize 1 as PXE ROMs do.
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
    'small-kb': { type: 'string', default: '1024' },
    'small-rounds': { type: 'string', default: '30' },
    servers: { type: 'string', default: 'overnight,overnight-main,atftpd,dnsmasq' },
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

type ServerName = 'overnight' | 'overnight-main' | 'atftpd' | 'dnsmasq';
const SERVERS = values.servers.split(',') as ServerName[];
const smallSize = Number(values['small-kb']) * 1024;
const smallRounds = Number(values['small-rounds']);

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
    'small.bin': await makeFile(join(root, 'small.bin'), smallSize, 3),
  };

  // One namespace per server, client alongside on loopback.
  const ns = new Map<ServerName, string>();
  for (const [i, name] of SERVERS.entries()) ns.set(name, (await lab.addHost(`${name.slice(0, 4)}${i}`, undefined)).ns);
  const helper = join(import.meta.dirname, '..', '..', 'test', 'helpers', 'tftp-server.ts');
  for (const name of ['overnight', 'overnight-main'] as const) {
    if (!ns.has(name)) continue;
    // Two transfer workers, as when BENCHMARKS.md's figures were taken (the default is now one on a
    // two-CPU machine).
    const env = { ...process.env, OVERNIGHT_TFTP_WORKERS: name === 'overnight-main' ? '0' : '2' };
    const ovn = lab.spawn(ns.get(name)!, process.execPath, [helper, '--root', root, '--address', '127.0.0.1', '--port', '69', '--max-per-client', String(parallel * 2)], { env });
    await waitForOutput(ovn, /PORT 69/, 15000);
  }
  if (ns.has('atftpd')) lab.spawn(ns.get('atftpd')!, 'atftpd', ['--daemon', '--no-fork', '--port', '69', '--bind-address', '127.0.0.1', '--user', 'root', '--group', 'root', '--logfile', '/dev/null', '--maxthread', '200', root]);
  if (ns.has('dnsmasq')) lab.spawn(ns.get('dnsmasq')!, 'dnsmasq', [
    '--keep-in-foreground', '--port=0', '--enable-tftp', `--tftp-root=${root}`, '--conf-file=/dev/null', '--user=root', '--group=root',
    '--pid-file', '--bind-interfaces', '--interface=lo', '--listen-address=127.0.0.1', '--tftp-max=200', '--log-facility=/dev/null',
  ]);
  await new Promise((r) => setTimeout(r, 1000));

  const verified = new Set<string>();
  async function fetch(server: ServerName, file: 'big.bin' | 'par.bin' | 'small.bin', ws: number, out: string): Promise<void> {
    await run('ip', ['netns', 'exec', ns.get(server)!, 'atftp', '--option', `blksize ${blksize}`, '--option', `windowsize ${ws}`, '-g', '-r', file, '-l', out, '127.0.0.1', '69']);
    const want = file === 'big.bin' ? size : file === 'par.bin' ? parSize : smallSize;
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
  // Small files: latency of one whole fetch, many rounds, interleaved.
  const small = new Map<ServerName, number[]>();
  for (const server of SERVERS) await fetch(server, 'small.bin', 1, join(outDir.dir, `${server}-small.out`));
  for (let r = 0; r < smallRounds; r++) {
    for (let i = 0; i < SERVERS.length; i++) {
      const server = SERVERS[(i + r) % SERVERS.length]!;
      const t0 = performance.now();
      await fetch(server, 'small.bin', 1, join(outDir.dir, `${server}-small.out`));
      small.set(server, [...(small.get(server) ?? []), performance.now() - t0]);
    }
  }
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
  const ovs = SERVERS.filter((x) => x.startsWith('overnight'));
  const others = SERVERS.filter((x) => !x.startsWith('overnight'));
  const ratios = (o: number, ref: (x: ServerName) => number) => others.map((x) => `${(o / ref(x)).toFixed(2)}×`);
  const lines = [
    `TFTP, ${size / MB} MB file, atftp client, blksize ${blksize}, loopback in a namespace per server; median of ${rounds} rounds (MB/s = 10^6 bytes/s); ratios against dnsmasq use its ws 1 figure`,
    '',
    `| windowsize | ${SERVERS.join(' | ')} | ${ovs.flatMap((o) => others.map((x) => `${o} / ${x}`)).join(' | ')} |`,
    `|---:|${SERVERS.map(() => '---:|').join('')}${ovs.flatMap(() => others.map(() => '---:|')).join('')}`,
  ];
  for (const ws of windows) {
    const cell = (x: ServerName) => (x === 'dnsmasq' && ws !== 1 ? 'n/a' : med(`${x}/${ws}`).toFixed(1));
    const ref = (x: ServerName) => (x === 'dnsmasq' ? dns1 : med(`${x}/${ws}`));
    lines.push(`| ${ws} | ${SERVERS.map(cell).join(' | ')} | ${ovs.flatMap((o) => ratios(med(`${o}/${ws}`), ref)).join(' | ')} |`);
  }
  const pm = (x: ServerName) => median(par.get(x) ?? [NaN]);
  const sm = (x: ServerName) => median(small.get(x) ?? [NaN]);
  lines.push(
    '',
    `${parallel} parallel atftp clients, ${parSize / MB} MB each, windowsize ${parWindow} (dnsmasq: 1), aggregate MB/s, median of ${rounds} rounds`,
    '',
    `| ${SERVERS.join(' | ')} | ${ovs.flatMap((o) => others.map((x) => `${o} / ${x}`)).join(' | ')} |`,
    `|${SERVERS.map(() => '---:|').join('')}${ovs.flatMap(() => others.map(() => '---:|')).join('')}`,
    `| ${SERVERS.map((x) => pm(x).toFixed(1)).join(' | ')} | ${ovs.flatMap((o) => ratios(pm(o), pm)).join(' | ')} |`,
    '',
    `Small file (${smallSize / 1024} KiB, windowsize 1): one atftp fetch, ms, median of ${smallRounds} rounds (includes starting atftp)`,
    '',
    `| ${SERVERS.join(' | ')} |`,
    `|${SERVERS.map(() => '---:|').join('')}`,
    `| ${SERVERS.map((x) => sm(x).toFixed(1)).join(' | ')} |`,
    '',
    `All runs: ${JSON.stringify(Object.fromEntries([...results].map(([k, v]) => [k, v.map((x) => Math.round(x * 10) / 10)])))}`,
    `Parallel: ${JSON.stringify(Object.fromEntries([...par].map(([k, v]) => [k, v.map((x) => Math.round(x * 10) / 10)])))}`,
    `Small (ms): ${JSON.stringify(Object.fromEntries([...small].map(([k, v]) => [k, v.map((x) => Math.round(x * 10) / 10)])))}`,
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
