// Side-by-side benchmark of overnight's media extraction and verification against the tools an
// administrator would otherwise use: cp and 7z for extraction, sha1sum and sha256sum for hashing.
// `cp -a` of the folder the ISO was made from writes the very files an extraction writes, from
// plain files: the physical limit for the extraction's output on this machine.
// Every tool runs as its own process on the same fixture, round after round in a rotating order
// (so drift and neighbours' load hit all of them alike); medians are compared against the targets.
//
//   npm run bench -- [--size-gib 2] [--runs 5] [--cache warm|cold] [--memory touch|settle|none]
//                    [--settle 5] [--nice 0] [--inode-cache drop|keep] [--rss-sizes 0.5,1,2]
//                    [--rss-runs 3] [--work DIR] [--keep] [--out FILE]
//
// --cache warm     the image stays in the page cache (each tool runs once untimed first);
//         cold     `sync; echo 3 > /proc/sys/vm/drop_caches` before every timed run (root only).
// --memory         the state of free memory before each extraction (the tools that write):
//                  on VMs with free page reporting (virtio-balloon), memory freed a moment ago is
//                  much cheaper to fill with page cache than memory the host has taken back, so
//                  a writer that runs right after another writer's output was deleted is favoured.
//          touch   fill and free 1.5 x the image size of memory just before (default): the
//                  writer gets memory the host still backs, as on bare metal, whatever ran
//                  before; page-cache writers such as cp and 7z get their best case;
//          settle  wait --settle seconds after deleting the previous output instead: the state
//                  then depends on how recently the VM used that much memory (the host takes
//                  free memory back gradually, over minutes);
//          none    neither (the state then depends on the order of the tools).
// --nice N         run every measured tool under `nice -n N` (negative needs root): the same for all.
// --inode-cache    before each extraction, after the previous output was deleted (the tools that write):
//          drop    `echo 1 > /proc/sys/vm/drop_caches` (root only; default when root), then the
//                  image is read back into the page cache under --cache warm. On ext4 without a
//                  journal (this VM's root file system), every new inode is checked against the
//                  inodes deleted in the last 30 s whose table blocks are still cached
//                  (recently_deleted()): right after the previous run's 1,044 files were deleted,
//                  each file created costs up to 1 ms. A loop artifact that cp (one file) escapes
//                  and an administrator extracting into a new share folder never meets.
//          keep    neither (default when not root).
// --rss-sizes      fixture sizes (GiB) whose peak RSS is compared, to show memory stays flat;
//                  `none` skips them. --rss-runs: rounds at each extra size.
// --work DIR       where fixtures and outputs go (default: a new temporary folder); removed at the
//                  end unless --keep. A kept work dir is reused: its fixtures are not rebuilt.
// --out FILE       the JSON results (default: bench/media/out/media-<date>.json).
//
// Options may also come from the environment: BENCH_SIZE_GIB, BENCH_RUNS, BENCH_CACHE,
// BENCH_MEMORY, BENCH_SETTLE, BENCH_NICE, BENCH_INODE_CACHE, BENCH_RSS_SIZES, BENCH_RSS_RUNS, BENCH_WORK,
// BENCH_KEEP=1, BENCH_OUT.
// Exit status: 0 when every target is met, 1 when one is not, 2 on an error. See BENCHMARKS.md.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openMedia } from '../../src/media/open.ts';
import { buildFixture, type Fixture, sh } from './fixture.ts';

const MiB = 1024 * 1024;
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const CLI = here('../../bin/overnight.js');
const HASH_WORKER = here('./hash-worker.ts');
const TOUCH_MEMORY = here('./touch-memory.ts');
const OUT_DIR = here('./out');
const MARKER = '.overnight-bench';

// ---------------------------------------------------------------- options

const { values: argv } = parseArgs({
  options: {
    'size-gib': { type: 'string' },
    runs: { type: 'string' },
    cache: { type: 'string' },
    settle: { type: 'string' },
    memory: { type: 'string' },
    nice: { type: 'string' },
    'inode-cache': { type: 'string' },
    'rss-sizes': { type: 'string' },
    'rss-runs': { type: 'string' },
    work: { type: 'string' },
    keep: { type: 'boolean' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  allowPositionals: false,
});
if (argv.help) {
  const lines = (await readFile(fileURLToPath(import.meta.url), 'utf8')).split('\n');
  const head = lines.slice(0, lines.findIndex((l) => !l.startsWith('//')));
  process.stdout.write(head.map((l) => l.slice(3)).join('\n') + '\n');
  process.exit(0);
}
const env = process.env;
const opt = {
  sizeGiB: Number(argv['size-gib'] ?? env['BENCH_SIZE_GIB'] ?? 2),
  runs: Number(argv.runs ?? env['BENCH_RUNS'] ?? 5),
  cache: (argv.cache ?? env['BENCH_CACHE'] ?? 'warm') as 'warm' | 'cold',
  memory: (argv.memory ?? env['BENCH_MEMORY'] ?? 'touch') as 'settle' | 'touch' | 'none',
  settle: Number(argv.settle ?? env['BENCH_SETTLE'] ?? 5),
  nice: Number(argv.nice ?? env['BENCH_NICE'] ?? 0),
  inodeCache: (argv['inode-cache'] ?? env['BENCH_INODE_CACHE'] ?? (process.getuid?.() === 0 ? 'drop' : 'keep')) as 'drop' | 'keep',
  rssSizes: String(argv['rss-sizes'] ?? env['BENCH_RSS_SIZES'] ?? '0.5,1,2')
    .split(',')
    .filter((s) => s.trim() !== '' && s.trim() !== 'none')
    .map(Number),
  rssRuns: Number(argv['rss-runs'] ?? env['BENCH_RSS_RUNS'] ?? 3),
  work: argv.work ?? env['BENCH_WORK'],
  keep: !!argv.keep || env['BENCH_KEEP'] === '1',
  out: argv.out ?? env['BENCH_OUT'],
};
if (!(opt.sizeGiB > 0) || !Number.isInteger(opt.runs) || opt.runs < 1 || !['warm', 'cold'].includes(opt.cache) || !(opt.settle >= 0) || !['settle', 'touch', 'none'].includes(opt.memory) || !Number.isInteger(opt.nice) || !['drop', 'keep'].includes(opt.inodeCache) || opt.rssSizes.some((s) => !(s > 0)) || !(opt.rssRuns >= 1)) {
  process.stderr.write(`bad options: ${JSON.stringify(opt)}\n`);
  process.exit(2);
}

const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

// ---------------------------------------------------------------- work dir

async function prepareWork(): Promise<string> {
  if (!opt.work) {
    const dir = await mkdtemp(join(tmpdir(), 'overnight-bench-'));
    await writeFile(join(dir, MARKER), '');
    return dir;
  }
  await mkdir(opt.work, { recursive: true });
  const entries = await readdir(opt.work);
  if (entries.length && !entries.includes(MARKER)) {
    throw new Error(`${opt.work} is not empty and was not made by this benchmark (no ${MARKER}); refusing to use it`);
  }
  await writeFile(join(opt.work, MARKER), '');
  return opt.work;
}

let work = '';
let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned || !work) return;
  cleaned = true;
  if (opt.keep) {
    log(`work dir kept: ${work}`);
    return;
  }
  // Only a folder this benchmark made (it holds the marker) is ever removed.
  if (existsSync(join(work, MARKER))) await rm(work, { recursive: true, force: true });
}

let currentChild: ReturnType<typeof spawn> | undefined;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: stopping`);
    currentChild?.kill('SIGTERM');
    void cleanup().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------- running one measurement

interface Sample {
  /** Wall time of the whole process, spawn to exit (hrtime in this process). */
  seconds: number;
  /** Time the tool reports for its own work, without start-up (overnight's --json, the hash worker). */
  innerSeconds: number | undefined;
  /** Writers only: wall time until the data is on disk (the run, then a `sync` that is timed too). */
  durableSeconds: number | undefined;
  userSeconds: number;
  sysSeconds: number;
  peakRssKiB: number;
  /** Bytes of the fixture image in the page cache just before the run (fincore). */
  cachedBefore: number | undefined;
  /** Machine load just before the run: 1-minute load average and CPU pressure (PSI some avg10, %). */
  loadavg1: number;
  cpuPressure10: number | undefined;
}

async function load(): Promise<{ loadavg1: number; cpuPressure10: number | undefined }> {
  const la = Number((await readFile('/proc/loadavg', 'utf8')).split(' ')[0]);
  const psi = await readFile('/proc/pressure/cpu', 'utf8').catch(() => '');
  const m = /^some avg10=([0-9.]+)/m.exec(psi);
  return { loadavg1: la, cpuPressure10: m ? Number(m[1]) : undefined };
}

async function exec(cmd: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string; seconds: number; timeFile: string }> {
  const timeFile = join(work, `time-${process.pid}.txt`);
  // /usr/bin/time gives the child's peak RSS and CPU times; the wall time is taken here.
  const niced = opt.nice ? ['nice', '-n', String(opt.nice), cmd] : [cmd];
  const full = ['-f', '%e %U %S %M', '-o', timeFile, ...niced, ...args];
  return await new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', full, { stdio: ['ignore', 'pipe', 'pipe'] });
    currentChild = child;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      currentChild = undefined;
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), seconds, timeFile });
    });
  });
}

async function dropCaches(): Promise<void> {
  await sh('sync', []);
  await writeFile('/proc/sys/vm/drop_caches', '3\n');
}

async function cachedBytes(path: string): Promise<number | undefined> {
  try {
    const out = await sh('fincore', ['--bytes', '--noheadings', '--output', 'RES', path]);
    return Number(out.trim());
  } catch {
    return undefined;
  }
}

async function dirTotals(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) {
      files++;
      bytes += (await stat(join(e.parentPath, e.name))).size;
    }
  }
  return { files, bytes };
}

// ---------------------------------------------------------------- the tools

interface Expect {
  files: number;
  bytes: number;
  sha1: string;
  sha256: string;
}

interface Tool {
  id: string;
  label: string;
  group: 'extract' | 'verify';
  /** What the tool reads, when not the ISO: brought back into the page cache under --inode-cache drop. */
  reads?: (fx: Fixture) => string;
  /** Bytes the throughput is computed over. */
  bytes(fx: Fixture, ex: Expect): number;
  command(fx: Fixture, ex: Expect, out: string): [string, string[]];
  /** Throws when the tool did not do the work (wrong bytes, wrong digest); returns its inner time if any. */
  check(r: { code: number; stdout: string; stderr: string }, fx: Fixture, ex: Expect, out: string): Promise<number | undefined>;
}

const node = process.execPath;

const TOOLS: Tool[] = [
  {
    id: 'cp',
    label: 'cp (the ISO, one file)',
    group: 'extract',
    bytes: (fx) => fx.isoBytes,
    command: (fx, _ex, out) => ['cp', [fx.iso, join(out, 'copy.iso')]],
    check: async (r, fx, _ex, out) => {
      if (r.code !== 0) throw new Error(`cp failed: ${r.stderr}`);
      const size = (await stat(join(out, 'copy.iso'))).size;
      if (size !== fx.isoBytes) throw new Error(`cp wrote ${size} bytes, not ${fx.isoBytes}`);
      return undefined;
    },
  },
  {
    id: 'cp-a',
    label: 'cp -a (the same files, from a folder)',
    group: 'extract',
    reads: (fx) => fx.tree,
    bytes: (fx) => fx.treeBytes,
    command: (fx, _ex, out) => ['cp', ['-a', `${fx.tree}/.`, out]],
    check: async (r, fx, _ex, out) => {
      if (r.code !== 0) throw new Error(`cp -a failed: ${r.stderr}`);
      const t = await dirTotals(out);
      if (t.files !== fx.files || t.bytes !== fx.treeBytes) throw new Error(`cp -a wrote ${t.files} files / ${t.bytes} bytes, expected ${fx.files} / ${fx.treeBytes}`);
      return undefined;
    },
  },
  {
    id: '7z',
    label: '7z x -tUdf',
    group: 'extract',
    bytes: (_fx, ex) => ex.bytes,
    command: (fx, _ex, out) => ['7z', ['x', '-tUdf', '-bd', '-y', `-o${out}`, fx.iso]],
    check: async (r, _fx, ex, out) => {
      if (r.code !== 0) throw new Error(`7z failed: ${r.stderr || r.stdout}`);
      const t = await dirTotals(out);
      if (t.files !== ex.files || t.bytes !== ex.bytes) throw new Error(`7z wrote ${t.files} files / ${t.bytes} bytes, expected ${ex.files} / ${ex.bytes}`);
      return undefined;
    },
  },
  {
    id: 'extract',
    label: 'overnight media extract (CLI)',
    group: 'extract',
    bytes: (_fx, ex) => ex.bytes,
    command: (fx, _ex, out) => [node, [CLI, 'media', 'extract', '--json', fx.iso, out]],
    check: async (r, _fx, ex, out) => {
      if (r.code !== 0) throw new Error(`overnight media extract failed (${r.code}): ${r.stderr}`);
      const j = JSON.parse(r.stdout) as { files: number; bytesWritten: number; seconds: number };
      const t = await dirTotals(out);
      if (j.files !== ex.files || j.bytesWritten !== ex.bytes || t.files !== ex.files || t.bytes !== ex.bytes) {
        throw new Error(`overnight wrote ${t.files} files / ${t.bytes} bytes (says ${j.files} / ${j.bytesWritten}), expected ${ex.files} / ${ex.bytes}`);
      }
      return j.seconds;
    },
  },
  ...(['sha1', 'sha256'] as const).flatMap((algo): Tool[] => [
    {
      id: `${algo}sum`,
      label: `${algo}sum`,
      group: 'verify',
      bytes: (fx) => fx.isoBytes,
      command: (fx) => [`${algo}sum`, [fx.iso]],
      check: async (r, _fx, ex) => {
        const hex = r.stdout.split(' ')[0];
        if (r.code !== 0 || hex !== ex[algo]) throw new Error(`${algo}sum: ${r.stdout}${r.stderr}`);
        return undefined;
      },
    },
    {
      id: `hashFile-${algo}`,
      label: `hashFile(['${algo}'])`,
      group: 'verify',
      bytes: (fx) => fx.isoBytes,
      command: (fx) => [node, [HASH_WORKER, fx.iso, algo]],
      check: async (r, _fx, ex) => {
        if (r.code !== 0) throw new Error(`hash worker failed: ${r.stderr}`);
        const j = JSON.parse(r.stdout) as { hex: string; seconds: number };
        if (j.hex !== ex[algo]) throw new Error(`hashFile ${algo} gave ${j.hex}, expected ${ex[algo]}`);
        return j.seconds;
      },
    },
  ]),
  {
    id: 'verify',
    label: 'overnight media verify --expect <sha1> (CLI)',
    group: 'verify',
    bytes: (fx) => fx.isoBytes,
    command: (fx, ex) => [node, [CLI, 'media', 'verify', '--json', '--expect', ex.sha1, fx.iso]],
    check: async (r, _fx, ex) => {
      if (r.code !== 0) throw new Error(`overnight media verify failed (${r.code}): ${r.stdout}${r.stderr}`);
      const j = JSON.parse(r.stdout) as { expected?: { matches: boolean }; hashes: { sha1?: string } };
      if (!j.expected?.matches || j.hashes.sha1 !== ex.sha1) throw new Error(`overnight media verify did not match: ${r.stdout}`);
      return undefined;
    },
  },
];

async function measure(tool: Tool, fx: Fixture, ex: Expect): Promise<Sample> {
  const out = join(work, `out-${tool.id}`);
  const writer = tool.group === 'extract';
  // Outside the timing: remove what the previous run wrote, flush, and set the cache state.
  await rm(out, { recursive: true, force: true });
  if (writer) await mkdir(out);
  if (opt.cache === 'cold') await dropCaches();
  else await sh('sync', []);
  if (writer && opt.inodeCache === 'drop' && opt.cache === 'warm') {
    await writeFile('/proc/sys/vm/drop_caches', '1\n');
    if (tool.reads) await sh('sh', ['-c', 'find "$1" -type f -exec cat {} + > /dev/null', 'sh', tool.reads(fx)]);
    else await sh('dd', [`if=${fx.iso}`, 'of=/dev/null', 'bs=16M', 'status=none']);
  }
  if (writer && opt.memory === 'settle' && opt.settle > 0) await new Promise((r) => setTimeout(r, opt.settle * 1000));
  if (writer && opt.memory === 'touch') await sh(node, [TOUCH_MEMORY, String(Math.max(1, Math.ceil(1.5 * fx.isoBytes / 2 ** 30)))]);
  const cachedBefore = await cachedBytes(fx.iso);
  const before = await load();
  const [cmd, args] = tool.command(fx, ex, out);
  const r = await exec(cmd, args);
  let durableSeconds: number | undefined;
  if (writer) {
    const t0 = process.hrtime.bigint();
    await sh('sync', []);
    durableSeconds = r.seconds + Number(process.hrtime.bigint() - t0) / 1e9;
  }
  const [, user, sys, rss] = (await readFile(r.timeFile, 'utf8')).trim().split('\n').pop()!.split(' ').map(Number);
  const innerSeconds = await tool.check(r, fx, ex, out);
  // cp copies the ISO, and cp -a the folder it was made from (without the El Torito catalog file).
  if (checkDigests && writer && tool.id !== 'cp' && tool.id !== 'cp-a') digests.set(tool.id, await treeDigest(out));
  await rm(out, { recursive: true, force: true });
  return { seconds: r.seconds, innerSeconds, durableSeconds, userSeconds: user!, sysSeconds: sys!, peakRssKiB: rss!, cachedBefore, ...before };
}

// During the warm-up pass, every extracted tree is hashed file by file: overnight's must be
// byte for byte what 7z extracts (the timed runs then only check file counts and sizes).
let checkDigests = false;
const digests = new Map<string, string>();

async function treeDigest(dir: string): Promise<string> {
  const all = createHash('sha256');
  const names = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)).sort();
  for (const f of names) {
    const h = createHash('sha1');
    for await (const b of createReadStream(f, { highWaterMark: 1024 * 1024 })) h.update(b as Buffer);
    all.update(`${f.slice(dir.length)}\0${h.digest('hex')}\n`);
  }
  return all.digest('hex');
}

// ---------------------------------------------------------------- statistics and report

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface ToolResult {
  id: string;
  label: string;
  group: string;
  bytes: number;
  samples: Sample[];
  medianSeconds: number;
  medianInnerSeconds: number | undefined;
  medianDurableSeconds: number | undefined;
  mibPerSecond: number;
  innerMibPerSecond: number | undefined;
  medianPeakRssMiB: number;
  medianCpuSeconds: number;
}

function summarise(tool: Tool, fx: Fixture, ex: Expect, samples: Sample[]): ToolResult {
  const bytes = tool.bytes(fx, ex);
  const medianSeconds = median(samples.map((s) => s.seconds));
  const inner = samples.map((s) => s.innerSeconds).filter((x): x is number => x !== undefined);
  const medianInnerSeconds = inner.length ? median(inner) : undefined;
  const durable = samples.map((s) => s.durableSeconds).filter((x): x is number => x !== undefined);
  return {
    id: tool.id,
    label: tool.label,
    group: tool.group,
    bytes,
    samples,
    medianSeconds,
    medianInnerSeconds,
    medianDurableSeconds: durable.length ? median(durable) : undefined,
    mibPerSecond: bytes / MiB / medianSeconds,
    innerMibPerSecond: medianInnerSeconds ? bytes / MiB / medianInnerSeconds : undefined,
    medianPeakRssMiB: median(samples.map((s) => s.peakRssKiB)) / 1024,
    medianCpuSeconds: median(samples.map((s) => s.userSeconds + s.sysSeconds)),
  };
}

type Basis = 'process' | 'library' | 'durable';
const BASIS_LABEL: Record<Basis, string> = {
  process: 'whole process',
  library: 'library call',
  durable: 'until on disk',
};

interface Comparison {
  target: string;
  ours: string;
  peer: string;
  /**
   * Which times: our whole process against the peer's; our library call alone (no Node start-up,
   * no image opening) against the peer's whole process; or both until their data is on disk.
   */
  basis: Basis;
  required: number;
  /** Our throughput over the peer's, from the medians. */
  ratio: number;
  /** Median of the per-round ratios (each round's runs were back to back). */
  pairedRatio: number;
  met: boolean;
}

function compare(results: Map<string, ToolResult>, ours: string, peer: string, basis: Basis, required: number, target: string): Comparison | undefined {
  const a = results.get(ours);
  const b = results.get(peer);
  if (!a || !b) return undefined;
  const ourTime = (s: Sample) => (basis === 'library' ? s.innerSeconds : basis === 'durable' ? s.durableSeconds : s.seconds);
  const peerTime = (s: Sample) => (basis === 'durable' ? s.durableSeconds : s.seconds);
  const xs = a.samples.map(ourTime);
  const ys = b.samples.map(peerTime);
  if (xs.some((x) => x === undefined) || ys.some((y) => y === undefined)) return undefined;
  const ratio = a.bytes / median(xs as number[]) / (b.bytes / median(ys as number[]));
  const paired = xs.map((x, i) => a.bytes / x! / (b.bytes / ys[i]!));
  return { target, ours, peer, basis, required, ratio, pairedRatio: median(paired), met: ratio >= required };
}

function table(rows: string[][], right: number[] = []): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? '')].length)));
  return rows
    .map((r) => r.map((c, i) => (right.includes(i) ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd())
    .join('\n');
}

// ---------------------------------------------------------------- machine description

async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    return (await sh(cmd, args)).split('\n').find((l) => l.trim() !== '')!.trim();
  } catch (e) {
    return `unavailable (${(e as Error).message.split('\n')[0]})`;
  }
}

async function machine(dir: string) {
  const df = (await sh('df', ['-T', dir])).trim().split('\n');
  return {
    date: new Date().toISOString(),
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    ramGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    kernel: await firstLine('uname', ['-srm']),
    dfT: df.join('\n'),
    mountOptions: await firstLine('sh', ['-c', `findmnt -no FSTYPE,OPTIONS -T "${dir}"`]),
    tools: {
      node: process.version,
      openssl: process.versions.openssl,
      cp: await firstLine('cp', ['--version']),
      sevenZip: await firstLine('7z', []),
      sha1sum: await firstLine('sha1sum', ['--version']),
      sha256sum: await firstLine('sha256sum', ['--version']),
      genisoimage: await firstLine('genisoimage', ['--version']),
      time: await firstLine('/usr/bin/time', ['--version']),
    },
  };
}

// ---------------------------------------------------------------- main

async function expectations(fx: Fixture): Promise<Expect> {
  const m = await openMedia(fx.iso);
  let files = 0;
  let bytes = 0;
  try {
    for await (const e of m.walk('/')) {
      if (e.type === 'file') {
        files++;
        bytes += e.size;
      }
    }
  } finally {
    await m.close();
  }
  const sha1 = (await sh('sha1sum', [fx.iso])).split(' ')[0]!;
  const sha256 = (await sh('sha256sum', [fx.iso])).split(' ')[0]!;
  return { files, bytes, sha1, sha256 };
}

/** Runs `tools` on one fixture: a warm-up pass, then `runs` rounds in rotating order. */
async function rounds(tools: readonly Tool[], fx: Fixture, ex: Expect, runs: number): Promise<Map<string, ToolResult>> {
  const samples = new Map<string, Sample[]>(tools.map((t) => [t.id, []]));
  log(`${fx.iso}: warm-up pass (untimed; also checks every tool's output)`);
  checkDigests = true;
  digests.clear();
  for (const t of tools) await measure(t, fx, ex);
  checkDigests = false;
  if (digests.size > 1 && new Set(digests.values()).size !== 1) {
    throw new Error(`extracted trees differ: ${JSON.stringify(Object.fromEntries(digests))}`);
  }
  if (digests.size > 1) log(`extracted trees identical (${[...digests.keys()].join(', ')}): ${[...digests.values()][0]}`);
  for (let r = 0; r < runs; r++) {
    const order = tools.map((_, i) => tools[(i + r) % tools.length]!);
    for (const t of order) {
      const s = await measure(t, fx, ex);
      samples.get(t.id)!.push(s);
      log(`round ${r + 1}/${runs}  ${t.label.padEnd(46)} ${s.seconds.toFixed(3)} s${s.innerSeconds !== undefined ? ` (inner ${s.innerSeconds.toFixed(3)} s)` : ''}${s.durableSeconds !== undefined ? ` (on disk ${s.durableSeconds.toFixed(3)} s)` : ''}  ${(s.peakRssKiB / 1024).toFixed(1)} MiB RSS  load ${s.loadavg1}`);
    }
  }
  return new Map(tools.map((t) => [t.id, summarise(t, fx, ex, samples.get(t.id)!)]));
}

async function main(): Promise<number> {
  work = await prepareWork();
  log(`work dir ${work}; ${opt.runs} rounds at ${opt.sizeGiB} GiB; cache policy: ${opt.cache}; memory: ${opt.memory}${opt.memory === 'settle' ? ` ${opt.settle} s` : ''}; nice ${opt.nice}; inode cache: ${opt.inodeCache}`);
  if (opt.cache === 'cold') {
    try {
      await dropCaches();
    } catch (e) {
      throw new Error(`--cache cold needs root to write /proc/sys/vm/drop_caches: ${(e as Error).message}`);
    }
  }
  const mach = await machine(work);
  const fx = await buildFixture(work, opt.sizeGiB, log);
  const ex = await expectations(fx);
  log(`fixture: ${(fx.isoBytes / MiB).toFixed(1)} MiB ISO, ${ex.files} files, ${(ex.bytes / MiB).toFixed(1)} MiB of file data`);
  const main = await rounds(TOOLS, fx, ex, opt.runs);

  const comparisons = [
    compare(main, 'extract', 'cp', 'process', 0.9, 'extract ≥ 0.9 × cp'),
    compare(main, 'extract', 'cp', 'library', 0.9, 'extract ≥ 0.9 × cp'),
    compare(main, 'extract', 'cp', 'durable', 0.9, 'extract ≥ 0.9 × cp'),
    compare(main, 'extract', 'cp-a', 'process', 0.9, 'extract ≥ 0.9 × cp -a (same files)'),
    compare(main, 'extract', 'cp-a', 'library', 0.9, 'extract ≥ 0.9 × cp -a (same files)'),
    compare(main, 'extract', 'cp-a', 'durable', 0.9, 'extract ≥ 0.9 × cp -a (same files)'),
    compare(main, 'extract', '7z', 'process', 1.2, 'extract ≥ 1.2 × 7z'),
    compare(main, 'extract', '7z', 'library', 1.2, 'extract ≥ 1.2 × 7z'),
    compare(main, 'extract', '7z', 'durable', 1.2, 'extract ≥ 1.2 × 7z'),
    compare(main, 'hashFile-sha1', 'sha1sum', 'library', 0.9, 'SHA-1 ≥ 0.9 × sha1sum'),
    compare(main, 'hashFile-sha1', 'sha1sum', 'process', 0.9, 'SHA-1 ≥ 0.9 × sha1sum'),
    compare(main, 'hashFile-sha256', 'sha256sum', 'library', 0.9, 'SHA-256 ≥ 0.9 × sha256sum'),
    compare(main, 'hashFile-sha256', 'sha256sum', 'process', 0.9, 'SHA-256 ≥ 0.9 × sha256sum'),
    compare(main, 'verify', 'sha1sum', 'process', 0.9, 'verify --expect ≥ 0.9 × sha1sum'),
  ].filter((c): c is Comparison => c !== undefined);

  // Memory against size: overnight's processes on fixtures of each size.
  const rssTools = TOOLS.filter((t) => ['extract', 'verify', 'hashFile-sha1', 'hashFile-sha256'].includes(t.id));
  const scaling: { sizeGiB: number; isoBytes: number; tools: Record<string, { medianPeakRssMiB: number; medianSeconds: number; runs: number }> }[] = [];
  for (const size of [...new Set(opt.rssSizes)].sort((a, b) => a - b)) {
    let res: Map<string, ToolResult>;
    let f: Fixture;
    if (size === opt.sizeGiB) {
      f = fx;
      res = main;
    } else {
      f = await buildFixture(work, size, log);
      res = await rounds(rssTools, f, await expectations(f), opt.rssRuns);
    }
    scaling.push({
      sizeGiB: size,
      isoBytes: f.isoBytes,
      tools: Object.fromEntries(rssTools.map((t) => {
        const r = res.get(t.id)!;
        return [t.id, { medianPeakRssMiB: r.medianPeakRssMiB, medianSeconds: r.medianSeconds, runs: r.samples.length }];
      })),
    });
  }
  // Flat: the largest fixture needs no more than the smallest plus max(16 MiB, 10 %).
  const flat = rssTools.map((t) => {
    const xs = scaling.map((s) => s.tools[t.id]!.medianPeakRssMiB);
    const growth = xs.length > 1 ? xs[xs.length - 1]! - xs[0]! : 0;
    return { tool: t.id, rssMiB: xs, growthMiB: growth, met: xs.length > 1 ? growth <= Math.max(16, 0.1 * xs[0]!) : undefined };
  });

  // ------------------------------------------------------------ print
  const f1 = (x: number | undefined, d = 1) => (x === undefined ? '' : x.toFixed(d));
  const rows = [['tool', 'median s', 'MiB/s', 'lib s', 'lib MiB/s', 'on disk s', 'CPU s', 'peak RSS MiB', 'min–max s']];
  for (const r of main.values()) {
    const ss = r.samples.map((s) => s.seconds);
    rows.push([r.label, f1(r.medianSeconds, 3), f1(r.mibPerSecond), f1(r.medianInnerSeconds, 3), f1(r.innerMibPerSecond), f1(r.medianDurableSeconds, 3), f1(r.medianCpuSeconds, 2), f1(r.medianPeakRssMiB), `${Math.min(...ss).toFixed(2)}–${Math.max(...ss).toFixed(2)}`]);
  }
  const out: string[] = [];
  out.push(`\nMedia benchmark, ${mach.date}: ${(fx.isoBytes / MiB).toFixed(0)} MiB ISO (${ex.files} files, ${(ex.bytes / MiB).toFixed(0)} MiB of file data), ${opt.runs} rounds, ${opt.cache} cache, memory ${opt.memory}${opt.memory === 'settle' ? ` ${opt.settle} s` : ''}, nice ${opt.nice}, inode cache ${opt.inodeCache}`);
  out.push(`${mach.nproc} CPUs (${mach.cpu}), ${mach.ramGiB} GiB RAM, ${mach.kernel}, node ${mach.tools.node}\n`);
  out.push(table(rows, [1, 2, 3, 4, 5, 6, 7]));
  const loads = [...main.values()].flatMap((r) => r.samples.map((s) => s.loadavg1));
  const psis = [...main.values()].flatMap((r) => r.samples.map((s) => s.cpuPressure10)).filter((x): x is number => x !== undefined);
  out.push(`load before the timed runs: 1-min load average median ${median(loads).toFixed(2)} (${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)})` + (psis.length ? `, CPU pressure (PSI some avg10) median ${median(psis).toFixed(1)} % (max ${Math.max(...psis).toFixed(1)} %)` : ''));
  out.push('');
  out.push(table([['target', 'basis', 'ratio', 'paired', 'required', 'result'], ...comparisons.map((c) => [c.target, BASIS_LABEL[c.basis], c.ratio.toFixed(2), c.pairedRatio.toFixed(2), c.required.toFixed(1), c.met ? 'met' : 'NOT MET'])], [2, 3, 4]));
  out.push('');
  const sizes = scaling.map((s) => `${s.sizeGiB} GiB`);
  out.push(table([['peak RSS (MiB)', ...sizes, 'growth', 'flat?'], ...flat.map((f) => [TOOLS.find((t) => t.id === f.tool)!.label, ...f.rssMiB.map((x) => x.toFixed(1)), f.growthMiB.toFixed(1), f.met === undefined ? 'n/a (one size)' : f.met ? 'met' : 'NOT MET'])], [1, 2, 3, 4]));
  process.stdout.write(out.join('\n') + '\n');

  const result = { schema: 1, options: { ...opt, work: opt.work ?? null }, machine: mach, fixture: { ...fx, expectedFiles: ex.files, expectedBytes: ex.bytes, sha1: ex.sha1, sha256: ex.sha256 }, results: [...main.values()], comparisons, memory: { scaling, flat } };
  const file = opt.out ?? join(OUT_DIR, `media-${mach.date.replace(/[:.]/g, '-')}.json`);
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, JSON.stringify(result, null, 2) + '\n');
  log(`results written to ${file}`);
  return comparisons.every((c) => c.met) && flat.every((f) => f.met !== false) ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  code = 2;
} finally {
  await cleanup();
}
process.exitCode = code;
