// Boot-file serving throughput: overnight's HTTP server streaming sources/boot.wim straight out of
// a UDF image, against nginx (sendfile on) serving the same file from a folder, with many clients
// at once as when a classroom PXE-boots together.
//
//   node bench/net/http.ts [--size-mb 300] [--connections 200] [--threads 2] [--duration 10]
//                          [--rounds 5] [--scenario same|spread|both] [--nginx-workers auto|N]
//                          [--work DIR] [--keep] [--out FILE]
//
// Load: wrk (apt-get install wrk), --connections keep-alive connections each GETting the whole
// file over and over for --duration seconds; the figure is the bytes wrk received per second,
// partial responses included. 200 clients x 300 MB is 60 GB per server, too much for a 2-vCPU
// box, so each round is time-boxed instead: every connection is busy for the whole round.
// Scenarios: 'same', every request from the start of the file, as a classroom booting together
// (overnight's clients then share image chunks); 'spread', every request from a random offset
// (Range: bytes=N-), so that nothing is shared: the cost of serving each client on its own.
// Rounds alternate which server goes first (drift and neighbours' load hit both alike); the
// medians are compared. Client and servers share the machine's CPUs.
// Before timing, one full download from each server must match the file's SHA-256: a broken server
// cannot look fast. Server memory: peak RSS of the overnight process (VmHWM) and of nginx's
// workers, sampled during the rounds.
// Exit status: 0 when overnight reaches 0.9 x nginx's throughput in every scenario, 1 when not, 2 on an error.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openMedia } from '../../src/media/open.ts';
import { startHttpServer } from '../../src/net/http/server.ts';
import { sh } from '../media/fixture.ts';

const MiB = 1024 * 1024;
const SELF = fileURLToPath(import.meta.url);
const FILE = 'sources/boot.wim';
const TARGET = 0.9;

const { values: opt } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '300' },
    connections: { type: 'string', default: '200' },
    threads: { type: 'string', default: '2' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '5' },
    work: { type: 'string' },
    keep: { type: 'boolean', default: false },
    out: { type: 'string' },
    scenario: { type: 'string', default: 'both' },
    'nginx-workers': { type: 'string', default: 'auto' },
    // Child mode: run the overnight server on the image and print its port.
    serve: { type: 'string' },
  },
});

const log = (s: string) => process.stderr.write(s + '\n');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const gbps = (bytesPerSec: number) => `${(bytesPerSec / 1e9).toFixed(3)} GB/s`;

async function main(): Promise<number> {
  if (!(await sh('sh', ['-c', 'command -v wrk || true'])).trim()) {
    throw new Error('wrk is not installed (apt-get install wrk)');
  }
  const sizeMb = Number(opt['size-mb']);
  const conns = Number(opt.connections);
  const threads = Number(opt.threads);
  const duration = Number(opt.duration);
  const rounds = Number(opt.rounds);
  const work = opt.work ?? (await mkdtemp(join(tmpdir(), 'overnight-bench-http-')));
  // nginx's workers drop root for an unprivileged user, who must be able to reach the files.
  await chmod(work, 0o755);
  const children: ChildProcess[] = [];
  // Servers are ended however this process ends (Ctrl-C, a closed pipe on stderr, a crash).
  process.once('exit', () => children.forEach((c) => c.exitCode === null && c.kill('SIGTERM')));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => process.exit(130));
  process.stderr.on('error', () => process.exit(2));
  scriptDir = work;
  try {
    const { image, tree, sha256 } = await fixture(work, sizeMb);
    if (sizeMb < 8) throw new Error('--size-mb must be at least 8');
    const nginx = await startNginx(work, tree);
    children.push(nginx.proc);
    const ours = await startOvernight(image);
    children.push(ours.proc);
    const servers = [
      { name: 'overnight', url: `http://127.0.0.1:${ours.port}/media/bench/${FILE}`, pids: () => [ours.proc.pid!] },
      { name: 'nginx', url: `http://127.0.0.1:${nginx.port}/${FILE}`, pids: () => nginxWorkers(nginx.proc.pid!) },
    ];
    for (const s of servers) {
      const got = await sh('bash', ['-c', 'set -o pipefail; curl -sS --fail "$1" | sha256sum', 'bash', s.url]);
      if (got.split(' ')[0] !== sha256) throw new Error(`${s.name} served different bytes (${got.trim()} vs ${sha256})`);
      // A range across a chunk boundary of the image, from an odd offset.
      const [a, z] = [MiB * 3 - 12345, MiB * 7 + 999];
      const part = await sh('bash', ['-c', 'set -o pipefail; curl -sS --fail -r "$2" "$1" | sha256sum', 'bash', s.url, `${a}-${z}`]);
      if (part.split(' ')[0] !== rangeSha(tree, a, z)) throw new Error(`${s.name} served different bytes for the range ${a}-${z}`);
      log(`${s.name}: full download and a range byte-exact (sha256 ${sha256.slice(0, 16)}…)`);
    }
    const size = sizeMb * MiB;
    // Warm-up: JIT, page cache, connection tables.
    for (const s of servers) await wrk(s.url, conns, threads, 3, 'same', size);
    const scenarios = (opt.scenario === 'both' ? ['same', 'spread'] : [opt.scenario]) as Scenario[];
    const report: Record<string, unknown> = {};
    let met = true;
    for (const scenario of scenarios) {
      const results: Record<string, { rates: number[]; rssPeakKiB: number }> = {};
      for (const s of servers) results[s.name] = { rates: [], rssPeakKiB: 0 };
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 ? [...servers].reverse() : servers;
        for (const s of order) {
          const peak = { kib: 0 };
          const timer = setInterval(() => (peak.kib = Math.max(peak.kib, rssKiB(s.pids()))), 250);
          const res = await wrk(s.url, conns, threads, duration, scenario, size);
          clearInterval(timer);
          const rate = res.bytes / res.seconds;
          results[s.name]!.rates.push(rate);
          results[s.name]!.rssPeakKiB = Math.max(results[s.name]!.rssPeakKiB, peak.kib);
          log(`${scenario} round ${r + 1}/${rounds} ${s.name.padEnd(9)} ${gbps(rate)} (${(res.bytes / 1e9).toFixed(1)} GB in ${res.seconds.toFixed(1)} s, ${res.errors} errors, server RSS peak ${(peak.kib / 1024).toFixed(0)} MiB)`);
        }
      }
      const o = median(results['overnight']!.rates);
      const n = median(results['nginx']!.rates);
      const ratio = o / n;
      if (ratio < TARGET) met = false;
      report[scenario] = {
        overnight: { medianBytesPerSec: o, rates: results['overnight']!.rates, rssPeakMiB: results['overnight']!.rssPeakKiB / 1024 },
        nginx: { medianBytesPerSec: n, rates: results['nginx']!.rates, workersRssPeakMiB: results['nginx']!.rssPeakKiB / 1024 },
        ratio,
      };
      log(`${scenario}: overnight ${gbps(o)}  nginx ${gbps(n)}  ratio ${ratio.toFixed(3)} (target ≥ ${TARGET})  RSS peak overnight ${(results['overnight']!.rssPeakKiB / 1024).toFixed(0)} MiB, nginx workers ${(results['nginx']!.rssPeakKiB / 1024).toFixed(0)} MiB\n`);
    }
    const hwm = vmHwmKiB(ours.proc.pid!);
    log(`overnight server VmHWM (peak RSS over the whole run, idle ≈ 100 MiB): ${(hwm / 1024).toFixed(0)} MiB`);
    const summary = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, note: 'client (wrk), nginx and overnight share these CPUs' },
      fixture: { file: FILE, sizeBytes: size, image: 'genisoimage -udf' },
      load: { tool: 'wrk', connections: conns, threads, durationSec: duration, rounds },
      nginxWorkers: opt['nginx-workers'],
      scenarios: report,
      overnightVmHwmMiB: hwm / 1024,
      target: TARGET,
      met,
    };
    const out = opt.out ?? join(work, 'http-bench.json');
    await writeFile(out, JSON.stringify(summary, null, 2) + '\n');
    log(`results: ${out}`);
    return summary.met ? 0 : 1;
  } finally {
    for (const c of children) await stop(c);
    if (!opt.keep && !opt.work) await rm(work, { recursive: true, force: true });
  }
}

/** sources/boot.wim of pseudo-random bytes, in a folder (nginx's root) and in a UDF image made from it. */
async function fixture(work: string, sizeMb: number): Promise<{ image: string; tree: string; sha256: string }> {
  const tree = join(work, 'tree');
  const image = join(work, `bench-${sizeMb}mb.iso`);
  const file = join(tree, FILE);
  if (!existsSync(image)) {
    log(`building a ${sizeMb} MB fixture in ${work}`);
    await mkdir(join(tree, 'sources'), { recursive: true });
    await writeFile(join(tree, 'README.TXT'), 'overnight HTTP benchmark\r\n');
    const fh = await open(file, 'w');
    const buf = Buffer.allocUnsafe(16 * MiB);
    for (let left = sizeMb * MiB; left > 0; left -= buf.length) {
      randomFillSync(buf);
      await fh.write(buf, 0, Math.min(buf.length, left));
    }
    await fh.close();
    await sh('genisoimage', ['-quiet', '-udf', '-iso-level', '3', '-V', 'OVERNIGHT_BENCH', '-o', image, tree]);
  }
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return { image, tree, sha256: hash.digest('hex') };
}

/** SHA-256 of bytes [a, z] of the fixture's file. */
function rangeSha(tree: string, a: number, z: number): string {
  const buf = Buffer.allocUnsafe(z - a + 1);
  const fd = openSync(join(tree, FILE), 'r');
  try {
    readSync(fd, buf, 0, buf.length, a);
  } finally {
    closeSync(fd);
  }
  return createHash('sha256').update(buf).digest('hex');
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function startNginx(work: string, root: string): Promise<{ proc: ChildProcess; port: number }> {
  const prefix = join(work, 'nginx');
  await mkdir(join(prefix, 'logs'), { recursive: true });
  await mkdir(join(prefix, 'tmp'), { recursive: true });
  const port = await freePort();
  const conf = join(prefix, 'nginx.conf');
  const t = (n: string) => join(prefix, 'tmp', n);
  await writeFile(
    conf,
    `worker_processes ${opt['nginx-workers']};
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'logs', 'error.log')};
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path ${t('body')};
  proxy_temp_path ${t('proxy')};
  fastcgi_temp_path ${t('fastcgi')};
  uwsgi_temp_path ${t('uwsgi')};
  scgi_temp_path ${t('scgi')};
  default_type application/octet-stream;
  server { listen 127.0.0.1:${port}; root ${root}; }
}
`,
  );
  const proc = spawn('nginx', ['-p', prefix, '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, proc, 'nginx');
  return { proc, port };
}

async function startOvernight(image: string): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, [SELF, '--serve', image], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
    });
    proc.once('exit', (code) => reject(new Error(`overnight server exited (${code}) before listening`)));
  });
  return { proc, port: (JSON.parse(line) as { port: number }).port };
}

async function waitForPort(port: number, proc: ChildProcess, name: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`${name} exited (${proc.exitCode})`);
    const ok = await sh('sh', ['-c', `curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:${port}/ || true`]);
    if (ok !== '000') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} did not listen on ${port}`);
}

function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    proc.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    // nginx: SIGTERM is its fast shutdown; it ends its workers itself.
    proc.kill('SIGTERM');
  });
}

/** Exact totals from wrk (its summary line rounds), through a Lua done() hook. */
const WRK_DONE = `done = function(summary, latency, requests)
  io.write(string.format("TOTAL %d %d %d\\n", summary.bytes, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status))
end
`;

/**
 * 'spread': every request starts at a random 4 KiB-aligned offset (Range: bytes=N-), so that no
 * two clients are at the same place: nothing to share, every chunk a read of its own.
 */
const wrkSpread = (size: number) => `local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
function init(args)
  math.randomseed(tid * 7919 + os.time())
end
request = function()
  local off = math.random(0, ${Math.floor(size / 4096) - 1}) * 4096
  return wrk.format("GET", nil, { ["Range"] = "bytes=" .. off .. "-" })
end
`;

export type Scenario = 'same' | 'spread';
/** Where wrk's Lua scripts go: the work dir, once main() has one. */
let scriptDir = tmpdir();

async function wrk(url: string, conns: number, threads: number, seconds: number, scenario: Scenario, size: number): Promise<{ bytes: number; seconds: number; errors: number }> {
  const script = join(scriptDir, `wrk-${scenario}.lua`);
  if (!existsSync(script)) await writeFile(script, (scenario === 'spread' ? wrkSpread(size) : '') + WRK_DONE);
  const out = await sh('wrk', ['-t', String(threads), '-c', String(conns), '-d', `${seconds}s`, '--timeout', '300s', '-s', script, url]);
  const m = /TOTAL (\d+) (\d+) (\d+)/.exec(out);
  if (!m) throw new Error(`unexpected wrk output:\n${out}`);
  return { bytes: Number(m[1]), seconds: Number(m[2]) / 1e6, errors: Number(m[3]) };
}

function nginxWorkers(master: number): number[] {
  try {
    return readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function statusField(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0; // the process is gone
  }
}

const rssKiB = (pids: number[]): number => pids.reduce((a, pid) => a + statusField(pid, 'VmRSS'), 0);
const vmHwmKiB = (pid: number): number => statusField(pid, 'VmHWM');

if (opt.serve) {
  const media = await openMedia(opt.serve);
  const server = await startHttpServer({ address: '127.0.0.1', port: 0, media: [{ id: 'bench', fs: media }] });
  process.stdout.write(JSON.stringify({ port: server.port }) + '\n');
  process.on('SIGTERM', () => void server.close().then(() => media.close()).then(() => process.exit(0)));
} else {
  try {
    process.exitCode = await main();
  } catch (e) {
    console.error((e as Error).stack ?? e);
    process.exitCode = 2;
  }
}

