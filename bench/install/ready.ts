// Time to ready of `overnight serve`, side by side with what an administrator would otherwise run:
// `7z x` of the same ISO into a folder, then a default Samba (smbd) serving that folder, until it
// accepts connections. Issue target: a first start (extraction included) at most 1.1 x that, a
// second start (share reused) under 3 s.
//
//   npm run bench:install -- [--size-gb 4] [--rounds 5] [--cache warm,cold] [--memory touch|none]
//                            [--second-runs 5] [--cold-second-runs 3] [--breakdown-runs 2]
//                            [--strace] [--quiet 5] [--quiet-wait 180] [--work DIR] [--out FILE]
//                            [--overnight CHECKOUT]
//
// As root (network namespaces, smbd, drop_caches). The fixture (bench/install/fixture.ts: a
// ~4 GB Windows 7 SP1 x64-like UDF ISO with a real 3.7 GB install.wim) is built once into
// --work (default /var/cache/overnight-bench/install) and reused.
//
// Both run in the same network namespace (test/helpers/netns.ts; interface eth0, 10.95.0.1/24):
//  overnight  `node bin/overnight.js serve --iso ISO --profile P --interface eth0 --data D
//             --loaders L --json` with a fresh data folder D each round (so it extracts), the
//             managed share on 445 and ProxyDHCP, TFTP and HTTP on their default ports; timed
//             from spawn until its `{"ready": ...}` line.
//  peer       one bash script: `7z x -bd -y -oOUT ISO`, then `smbd --foreground --no-process-group
//             -s CONF` (as Debian's unit starts it; CONF the smallest smb.conf serving OUT on its
//             own fresh state folder), then a TCP connect to 10.95.0.1:445 every ~5 ms until one
//             succeeds; timed from spawn until it says so (the script also times its two parts).
// Rounds alternate which of the two goes first. Before every timed run, for both alike: the
// previous outputs are deleted, `sync`, `echo 3 > /proc/sys/vm/drop_caches`; then
//  --cache warm  the ISO is read back into the page cache and the programs' files are warmed
//                (`overnight --version`, `7z i`, `smbd --version`, `pdbedit --version`);
//  --cache cold  nothing: the ISO and every program come from the disk.
// --memory touch (default) fills and frees 1.5 x the ISO's size of memory (warm: last; cold: before
// drop_caches), as the media benchmark does (on this VM memory freed a moment ago is cheaper for the
// next writer). Then the
// run waits (at most --quiet-wait s) until the machine's CPU pressure (PSI some avg10) is at most
// --quiet %, and records the share of its own wall time that some task on the machine was stalled
// for CPU or I/O (other work running beside it shows there).
// Second start: a fresh data folder is extracted once, then overnight is stopped and started again
// on it --second-runs times (page cache as it is), and --cold-second-runs times after drop_caches.
// Breakdown: --breakdown-runs more first starts under each --cache state, with the files overnight
// writes at each step watched (every 2 ms) and its JSON events read, printed as a timeline (the
// steps overlap), and as many runs of the same library calls in one process (--steps-child);
// --strace adds one warm run under `strace -f` for the programs it runs (smbd --version, getent,
// pdbedit, smbd). The breakdown runs are not in the medians. Results go to stdout (tables) and
// --out (JSON; default <work>/ready-<date>.json).
// --overnight runs bin/overnight.js of another checkout (default: this one); the in-process step
// timer always uses this checkout's sources.
// Exit status: 0 when both targets are met, 1 when one is not, 2 on an error.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { findSamba } from '../../src/share/samba.ts';
import { Lab } from '../../test/helpers/netns.ts';
import { WIN7_PROFILE } from '../../test/helpers/serve.ts';
import { standinKernel } from '../../test/helpers/standin.ts';
import { buildInstallFixture, defaultSmbConf, type InstallFixture, sh } from './fixture.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const TOUCH_MEMORY = join(ROOT, 'bench', 'media', 'touch-memory.ts');
const FIRST_TARGET = 1.1;
const SECOND_TARGET_S = 3;
const SERVER_CIDR = '10.95.0.1/24';
const SERVER_IP = '10.95.0.1';
const node = process.execPath;

const PROFILE = WIN7_PROFILE;

// ---------------------------------------------------------------- in-process step timer (child)

// `ready.ts --steps-child ISO DIR` (run by the benchmark inside the lab namespace): times, in one
// process, the library calls overnight serve makes before it is ready, in its order, and prints
// them as one JSON line. The same code as serve, without serve's glue; a reading aid for the
// breakdown, not a measurement of serve itself.
if (process.argv[2] === '--steps-child') {
  const [iso, dir] = process.argv.slice(3) as [string, string];
  const { default: module } = await import('node:module');
  module.enableCompileCache?.(); // as bin/overnight.js does
  const steps: Record<string, number> = {};
  let t = performance.now();
  const lap = (k: string) => {
    const n = performance.now();
    steps[k] = n - t;
    t = n;
  };
  await import('../../src/cli/main.ts');
  lap('import overnight\'s modules (compile cache on)');
  const { findLoaders } = await import('../../src/boot/loaders.ts');
  const { openMedia } = await import('../../src/media/open.ts');
  const { identifyWindows } = await import('../../src/windows/identify.ts');
  const { mediaIdentity, findPath } = await import('../../src/serve/media.ts');
  const { readWimHeader } = await import('../../src/media/wim/index.ts');
  const { extract } = await import('../../src/media/extract.ts');
  const { findSamba: find } = await import('../../src/share/samba.ts');
  const { startHttpServer } = await import('../../src/net/http/server.ts');
  const { startTftpServer } = await import('../../src/net/tftp/server.ts');
  const { startDhcpServer } = await import('../../src/net/dhcp/server.ts');
  const { ipxePolicy } = await import('../../src/boot/policy.ts');
  t = performance.now();
  await findLoaders({ dir: join(dir, 'loaders'), dataDir: join(dir, 'data') });
  lap('findLoaders (reads and hashes every loader)');
  await find();
  lap('findSamba (smbd --version)');
  const m = await openMedia(iso);
  lap('openMedia');
  await identifyWindows(m);
  lap('identifyWindows');
  for (const p of ['bootmgr', 'boot/bcd', 'boot/boot.sdi', 'sources/boot.wim']) await findPath(m, p);
  await readWimHeader(await m.fileSource('/sources/boot.wim'));
  lap('boot files (findPath x4, boot.wim header)');
  await mediaIdentity(m);
  lap('mediaIdentity (walk, extents, first 4 KiB of every file)');
  await extract(m, join(dir, 'extract'));
  lap('extract');
  const http = await startHttpServer({ port: 80, files: dir, media: [{ id: 'x', fs: m }] });
  lap('HTTP server');
  const tftp = await startTftpServer({ root: dir, port: 69, media: [{ prefix: 'media/x', fs: m }] });
  lap('TFTP server (transfer worker threads)');
  const dhcp = await startDhcpServer({ mode: 'proxy', interface: 'eth0', policy: ipxePolicy({ httpPort: 80, loaders: { bios: 'undionly.kpxe', 'efi-x64': 'ipxe.efi' } }) });
  lap('ProxyDHCP server');
  await dhcp.close();
  await tftp.close();
  await http.close();
  await m.close();
  process.stdout.write(JSON.stringify({ steps }) + '\n');
  process.exit(0);
}

// ---------------------------------------------------------------- options

const { values: argv } = parseArgs({
  options: {
    'size-gb': { type: 'string', default: '4' },
    rounds: { type: 'string', default: '5' },
    cache: { type: 'string', default: 'warm,cold' },
    memory: { type: 'string', default: 'touch' },
    'second-runs': { type: 'string', default: '5' },
    'cold-second-runs': { type: 'string', default: '3' },
    'breakdown-runs': { type: 'string', default: '2' },
    quiet: { type: 'string', default: '5' },
    'quiet-wait': { type: 'string', default: '180' },
    strace: { type: 'boolean', default: false },
    work: { type: 'string', default: '/var/cache/overnight-bench/install' },
    overnight: { type: 'string', default: ROOT },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  allowPositionals: false,
});
if (argv.help) {
  const lines = (await readFile(new URL(import.meta.url), 'utf8')).split('\n');
  process.stdout.write(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.slice(3)).join('\n') + '\n');
  process.exit(0);
}
const opt = {
  sizeGB: Number(argv['size-gb']),
  rounds: Number(argv.rounds),
  caches: argv.cache!.split(',').map((s) => s.trim()).filter(Boolean) as ('warm' | 'cold')[],
  memory: argv.memory as 'touch' | 'none',
  secondRuns: Number(argv['second-runs']),
  coldSecondRuns: Number(argv['cold-second-runs']),
  breakdownRuns: Number(argv['breakdown-runs']),
  strace: !!argv.strace,
  quiet: Number(argv.quiet),
  quietWait: Number(argv['quiet-wait']),
  work: argv.work!,
  overnight: argv.overnight!,
  out: argv.out,
};
if (!(opt.sizeGB > 0) || !(opt.rounds >= 1) || opt.caches.length === 0 || opt.caches.some((c) => c !== 'warm' && c !== 'cold') || !['touch', 'none'].includes(opt.memory) || !(opt.secondRuns >= 1) || !(opt.coldSecondRuns >= 0) || !(opt.breakdownRuns >= 0)) {
  process.stderr.write(`bad options: ${JSON.stringify(opt)}\n`);
  process.exit(2);
}

const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);
/** The overnight that is measured (--overnight: another checkout, e.g. one with a change to try). */
const CLI = join(opt.overnight, 'bin', 'overnight.js');
const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const f2 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '' : x.toFixed(2));
const f3 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '' : x.toFixed(3));

// ---------------------------------------------------------------- machine state

async function load(): Promise<{ loadavg1: number; cpuPressure10: number | undefined; ioPressure10: number | undefined }> {
  const la = Number((await readFile('/proc/loadavg', 'utf8')).split(' ')[0]);
  const psi = async (k: string) => {
    const t = await readFile(`/proc/pressure/${k}`, 'utf8').catch(() => '');
    const m = /^some avg10=([0-9.]+)/m.exec(t);
    return m ? Number(m[1]) : undefined;
  };
  return { loadavg1: la, cpuPressure10: await psi('cpu'), ioPressure10: await psi('io') };
}

/** Cumulative CPU and I/O stall time of the machine (PSI "some" totals, µs). */
async function stalls(): Promise<{ cpu: number; io: number }> {
  const total = async (k: string) => Number(/^some .*total=(\d+)/m.exec(await readFile(`/proc/pressure/${k}`, 'utf8').catch(() => ''))?.[1] ?? Number.NaN);
  return { cpu: await total('cpu'), io: await total('io') };
}

/**
 * Waits (at most --quiet-wait s) until CPU pressure (PSI some avg10) is at most --quiet %: other
 * work on this 2-CPU machine (other test suites, QEMU guests) otherwise lands in single runs.
 */
async function quiet(): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const { cpuPressure10 } = await load();
    if (cpuPressure10 === undefined || cpuPressure10 <= opt.quiet || performance.now() - t0 > opt.quietWait * 1000) break;
    await sleep(1000);
  }
  return (performance.now() - t0) / 1000;
}

async function cachedBytes(path: string): Promise<number | undefined> {
  try {
    return Number((await sh('fincore', ['--bytes', '--noheadings', '--output', 'RES', path])).trim());
  } catch {
    return undefined;
  }
}

async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    return (await sh(cmd, args)).split('\n').find((l) => l.trim() !== '')!.trim();
  } catch (e) {
    return `unavailable (${(e as Error).message.split('\n')[0]})`;
  }
}

/** The commit overnight runs from, and whether src/ or bin/ differ from it. */
async function source(): Promise<string> {
  const head = (await sh('git', ['-C', opt.overnight, 'rev-parse', '--short', 'HEAD']).catch(() => `${opt.overnight} (not a git checkout)`)).trim();
  const dirty = (await sh('git', ['-C', opt.overnight, 'status', '--porcelain', '--', 'src', 'bin']).catch(() => '')).trim();
  return dirty ? `${head} (src/ or bin/ modified)` : head;
}

async function machine(dir: string) {
  return {
    date: new Date().toISOString(),
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    ramGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    kernel: await firstLine('uname', ['-srm']),
    disk: (await sh('df', ['-hT', dir])).trim().split('\n').pop(),
    mountOptions: await firstLine('findmnt', ['-no', 'SOURCE,FSTYPE,OPTIONS', '-T', dir]),
    commit: await source(),
    tools: {
      node: process.version,
      sevenZip: (await firstLine('7z', [])).replace(/\s+/g, ' '),
      samba: (await firstLine('smbd', ['--version'])).trim(),
    },
  };
}

// ---------------------------------------------------------------- processes

interface Line {
  t: number;
  text: string;
}

/** Collects a child's output lines with their arrival times (ms since `t0`). */
function lines(child: ChildProcess, t0: number): { all: Line[]; wait: (re: RegExp, ms: number) => Promise<Line> } {
  const all: Line[] = [];
  const waiters: { re: RegExp; resolve: (l: Line) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  const feed = (stream: NodeJS.ReadableStream | null) => {
    let rest = '';
    stream?.on('data', (b: Buffer) => {
      const t = performance.now() - t0;
      rest += b.toString('utf8');
      const parts = rest.split('\n');
      rest = parts.pop()!;
      for (const text of parts) {
        const l = { t, text };
        all.push(l);
        for (const w of [...waiters]) {
          if (w.re.test(text)) {
            clearTimeout(w.timer);
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(l);
          }
        }
      }
    });
  };
  feed(child.stdout);
  feed(child.stderr);
  child.once('exit', (code, sig) => {
    for (const w of waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error(`process exited (${sig ?? code}) before ${w.re}:\n${all.slice(-30).map((l) => l.text).join('\n')}`));
    }
  });
  return {
    all,
    wait: (re, ms) =>
      new Promise<Line>((resolve, reject) => {
        const hit = all.find((l) => re.test(l.text));
        if (hit) return resolve(hit);
        const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${re}:\n${all.slice(-30).map((l) => l.text).join('\n')}`)), ms);
        waiters.push({ re, resolve, reject, timer });
      }),
  };
}

/** Live processes whose process group is `pgid` (read from /proc). */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let t: string;
    try {
      t = readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue;
    }
    const rest = t.slice(t.lastIndexOf(')') + 2).split(' ');
    if (Number(rest[2]) === pgid && rest[0] !== 'Z' && rest[0] !== 'X') out.push(Number(name));
  }
  return out;
}

/** PIDs of processes whose command line holds `needle` (nothing is signalled). */
function processesWith(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'latin1').includes(needle)) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

/** Ends the process group an smbd of the peer leads (it was started under setsid) and waits. */
async function endGroup(pgid: number): Promise<void> {
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 250 && groupMembers(pgid).length > 0; i++) await sleep(20);
  if (groupMembers(pgid).length > 0) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // gone
    }
    for (let i = 0; i < 100 && groupMembers(pgid).length > 0; i++) await sleep(20);
  }
}

// ---------------------------------------------------------------- the run

let lab: Lab | undefined;
const peerGroups = new Set<number>();
let cleaning: Promise<void> | undefined;
const cleanup = () =>
  (cleaning ??= (async () => {
    for (const g of peerGroups) await endGroup(g);
    await lab?.destroy();
  })());
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    log(`${sig}: stopping`);
    void cleanup().finally(() => process.exit(130));
  });
}

interface Prep {
  cache: 'warm' | 'cold';
  cachedBefore: number | undefined;
  loadavg1: number;
  cpuPressure10: number | undefined;
  ioPressure10: number | undefined;
  /** Seconds waited for the machine to be quiet before the run. */
  waited: number;
  /** Share of the run's wall time with some task stalled for CPU / for I/O (PSI some, whole machine). */
  cpuStallPct?: number;
  ioStallPct?: number;
}

interface OvernightRun extends Prep {
  tool: 'overnight';
  seconds: number;
  extractionSeconds: number | undefined;
  reused: boolean;
  /** Breakdown runs: ms since spawn at which each watched file appeared, and the share.start event. */
  marks?: Record<string, number>;
  execs?: { cmd: string; startMs: number; ms: number }[];
}

interface PeerRun extends Prep {
  tool: 'peer';
  seconds: number;
  sevenZipSeconds: number;
  smbdSeconds: number;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('run as root (network namespaces, smbd, drop_caches)');
  const samba = await findSamba();
  for (const t of ['7z', 'ip', 'fincore', 'wimlib-imagex', 'genisoimage', 'mkfs.vfat', ...(opt.strace ? ['strace'] : [])]) {
    if ((await sh('sh', ['-c', `command -v ${t} || true`])).trim() === '') throw new Error(`${t} is not installed`);
  }
  await mkdir(opt.work, { recursive: true });
  // Samba serves as nobody: every folder down to the shares must let others through.
  await chmod(opt.work, 0o755);
  for (let d = join(opt.work, '..'); d !== '/'; d = join(d, '..')) {
    if (((await stat(d)).mode & 0o001) === 0) throw new Error(`${d} does not let others through: Samba (as nobody) could not reach the shares; choose another --work`);
  }
  const fx = await buildInstallFixture(opt.work, opt.sizeGB, log);
  const run = join(opt.work, 'run');
  await rm(run, { recursive: true, force: true });
  await mkdir(run, { recursive: true, mode: 0o755 });
  await chmod(run, 0o755);
  const profile = join(run, 'profile.yaml');
  await writeFile(profile, PROFILE);
  const loaders = join(run, 'loaders');
  await mkdir(loaders);
  // wimboot is not packaged by Debian: the stand-in kernel of the network tests passes its checks.
  await copyFile(await standinKernel(), join(loaders, 'wimboot'));
  const info = await machine(run);
  log(`machine: ${info.nproc} CPUs (${info.cpu}), ${info.ramGiB} GiB, ${info.kernel}; ${info.disk}; ${info.mountOptions}`);
  log(`tools: node ${info.tools.node}, ${info.tools.sevenZip}, ${info.tools.samba}`);

  lab = await Lab.create('rdy');
  const srv = await lab.addHost('srv', SERVER_CIDR);

  const serveArgs = (data: string) => [CLI, 'serve', '--iso', fx.iso, '--profile', profile, '--interface', 'eth0', '--data', data, '--loaders', loaders, '--json'];
  const peerScript = [
    'set -e',
    'iso=$1 out=$2 conf=$3 ip=$4 smbdlog=$5',
    'a=$EPOCHREALTIME',
    '7z x -bd -y "-o$out" "$iso" > /dev/null',
    'b=$EPOCHREALTIME',
    'setsid smbd --foreground --no-process-group -s "$conf" < /dev/null > "$smbdlog" 2>&1 &',
    'pid=$!',
    'echo "smbd $pid"',
    'until (exec 3<>"/dev/tcp/$ip/445") 2> /dev/null; do',
    '  kill -0 "$pid" 2> /dev/null || { echo "smbd exited"; cat "$smbdlog"; exit 3; }',
    '  sleep 0.005',
    'done',
    'c=$EPOCHREALTIME',
    'echo "peer-ready $pid $a $b $c"',
  ].join('\n');

  let seq = 0;
  const dataDirOf = () => join(run, `data-${seq++}`);
  const peerDirOf = () => join(run, `peer-${seq++}`);

  const programsWarm = async () => {
    await sh(node, [CLI, '--version']);
    await sh('7z', ['i']);
    await sh(samba.smbd, ['--version']);
    await sh(samba.pdbedit, ['--version']);
  };

  /** The state both tools start from: nothing of earlier runs, caches as --cache says, memory touched. */
  const prepare = async (cache: 'warm' | 'cold'): Promise<Prep> => {
    const touch = async () => {
      if (opt.memory === 'touch') await sh(node, [TOUCH_MEMORY, String(Math.max(1, Math.ceil((1.5 * fx.isoBytes) / 2 ** 30)))]);
    };
    await sh('sync', []);
    if (cache === 'cold') {
      // Memory is touched first: the toucher is a Node program, and Node must not stay cached.
      await touch();
      await writeFile('/proc/sys/vm/drop_caches', '3\n');
    } else {
      await writeFile('/proc/sys/vm/drop_caches', '3\n');
      await sh('dd', [`if=${fx.iso}`, 'of=/dev/null', 'bs=16M', 'status=none']);
      await programsWarm();
      await touch();
    }
    const waited = await quiet();
    return { cache, cachedBefore: await cachedBytes(fx.iso), waited, ...(await load()) };
  };

  const newDataDir = async () => {
    const d = dataDirOf();
    await mkdir(d, { mode: 0o755 });
    await chmod(d, 0o755);
    return d;
  };

  /** One start of overnight serve on `data`, timed from spawn to its ready line; stopped after. */
  const overnight = async (data: string, prep: Prep, how: { watch?: boolean; strace?: string } = {}): Promise<OvernightRun> => {
    const args = serveArgs(data);
    const cmd = how.strace ? 'strace' : node;
    const full = how.strace ? ['-f', '--seccomp-bpf', '-q', '-s', '200', '-ttt', '-e', 'trace=execve', '-e', 'signal=none', '-o', how.strace, node, ...args] : args;
    const marks: Record<string, number> = {};
    let poll: NodeJS.Timeout | undefined;
    const st0 = await stalls();
    const t0wall = Date.now();
    const t0 = performance.now();
    const child = lab!.spawn(srv.ns, cmd, full);
    const out = lines(child, t0);
    if (how.watch) {
      // Files overnight writes at the end of each step, in the order it writes them.
      const media = join(data, 'media');
      const fixed: [string, string][] = [
        ['loaders staged', join(data, 'boot', 'wimboot')],
        ['identity', join(media, 'identities.json')],
        ['records', join(data, 'overnight.sqlite')],
        ['credentials', join(data, 'samba', 'credentials.json')],
        ['smb.conf', join(data, 'samba', 'smb.conf')],
        ['passdb', join(data, 'samba', 'private', 'passdb.tdb')],
        ['connect log', join(data, 'samba', 'connects.log')],
      ];
      poll = setInterval(() => {
        const t = performance.now() - t0;
        for (const [k, p] of fixed) if (marks[k] === undefined && existsSync(p)) marks[k] = t;
        if (marks['share folder'] === undefined || marks['extracted'] === undefined) {
          let dirs: string[] = [];
          try {
            dirs = readdirSync(media).filter((n) => n !== 'identities.json' && !n.includes('.'));
          } catch {
            // not yet
          }
          if (dirs.length && marks['share folder'] === undefined) marks['share folder'] = t;
          // The folder's record is written once the media are identified, and again with
          // `completed` once the copy is whole.
          const record = dirs.length ? join(media, dirs[0]!, '.overnight-media.json') : undefined;
          if (record && existsSync(record) && readFileSync(record, 'utf8').includes('"completed"')) marks['extracted'] = t;
        }
      }, 2);
    }
    let ready: Line;
    try {
      ready = await out.wait(/^\{"ready"/, 600_000);
    } finally {
      clearInterval(poll);
    }
    const seconds = ready.t / 1000;
    const st1 = await stalls();
    const summary = JSON.parse(ready.text).ready as { media: { reused: boolean; seconds: number; folder: string }[] };
    if (how.watch) {
      for (const l of out.all) {
        if (!l.text.startsWith('{"type":"share.start"')) continue;
        const e = JSON.parse(l.text) as { time: string };
        marks['share.start'] = Date.parse(e.time) - t0wall;
      }
      marks['ready'] = ready.t;
    }
    // overnight serve installs its SIGTERM handler only after it printed the ready line: a SIGTERM
    // sent at once can land before it and kill Node outright, leaving smbd behind (see BENCHMARKS.md).
    await sleep(300);
    if (how.strace) {
      // SIGTERM to strace would leave the traced Node running: it goes to Node itself.
      const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'latin1').trim().split(/\s+/).map(Number);
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      for (const k of kids) process.kill(k, 'SIGTERM');
      await exited;
    }
    await lab!.stop(child);
    if (child.exitCode !== 0) throw new Error(`overnight serve exited ${child.exitCode ?? child.signalCode} on SIGTERM:\n${out.all.slice(-20).map((l) => l.text).join('\n')}`);
    const left = processesWith(join(data, 'samba', 'smb.conf'));
    if (left.length) throw new Error(`smbd processes of overnight survived its stop: ${left.join(', ')}`);
    const r: OvernightRun = { tool: 'overnight', ...prep, cpuStallPct: (st1.cpu - st0.cpu) / (seconds * 1e4), ioStallPct: (st1.io - st0.io) / (seconds * 1e4), seconds, extractionSeconds: summary.media[0]?.reused ? undefined : summary.media[0]?.seconds, reused: !!summary.media[0]?.reused };
    if (how.watch) r.marks = marks;
    if (how.strace) r.execs = await straceExecs(how.strace, t0wall);
    return r;
  };


  /** The peer: 7z x, then a default smbd until it accepts connections. */
  const peer = async (dir: string, prep: Prep): Promise<PeerRun> => {
    const out = join(dir, 'win7');
    const state = join(dir, 'samba');
    for (const d of ['private', 'lock', 'state', 'cache', 'run/ncalrpc']) await mkdir(join(state, d), { recursive: true });
    await chmod(dir, 0o755);
    const conf = join(state, 'smb.conf');
    await writeFile(conf, defaultSmbConf(state, 'win7', out));
    const st0 = await stalls();
    const t0 = performance.now();
    const child = lab!.spawn(srv.ns, 'bash', ['-c', peerScript, 'peer', fx.iso, out, conf, SERVER_IP, join(state, 'smbd.out')]);
    const o = lines(child, t0);
    const started = await o.wait(/^smbd \d+$/, 600_000);
    const pid = Number(started.text.split(' ')[1]);
    peerGroups.add(pid);
    const ready = await o.wait(/^peer-ready /, 60_000);
    const st1 = await stalls();
    const [, , a, b, c] = ready.text.split(' ').map(Number);
    await endGroup(pid);
    peerGroups.delete(pid);
    return { tool: 'peer', ...prep, cpuStallPct: (st1.cpu - st0.cpu) / ready.t / 10, ioStallPct: (st1.io - st0.io) / ready.t / 10, seconds: ready.t / 1000, sevenZipSeconds: b! - a!, smbdSeconds: c! - b! };
  };

  /** Files and bytes of an extracted tree (overnight's marker file left out). */
  const totals = async (dir: string) => {
    let files = 0;
    let bytes = 0;
    for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (!e.isFile() || e.name === '.overnight-media.json') continue;
      files++;
      bytes += (await stat(join(e.parentPath, e.name))).size;
    }
    return { files, bytes };
  };
  const checkTree = async (what: string, dir: string) => {
    const t = await totals(dir);
    if (t.files !== fx.files || t.bytes !== fx.treeBytes) throw new Error(`${what} wrote ${t.files} files / ${t.bytes} bytes, expected ${fx.files} / ${fx.treeBytes}`);
  };
  const digest = async (dir: string) => {
    const all = createHash('sha256');
    const names = (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile() && e.name !== '.overnight-media.json')
      .map((e) => join(e.parentPath, e.name))
      .sort();
    for (const f of names) {
      const h = createHash('sha1');
      for await (const b of createReadStream(f, { highWaterMark: 4 * 1024 * 1024 })) h.update(b as Buffer);
      all.update(`${f.slice(dir.length)}\0${h.digest('hex')}\n`);
    }
    return all.digest('hex');
  };
  const shareFolder = async (data: string) => {
    const dirs = (await readdir(join(data, 'media'))).filter((n) => n !== 'identities.json');
    if (dirs.length !== 1) throw new Error(`expected one share folder in ${data}/media, found ${dirs.join(', ')}`);
    return join(data, 'media', dirs[0]!);
  };

  // ---- warm-up: one of each, untimed; overnight's share must hold what 7z extracts, byte for byte
  {
    log('warm-up: one start of each, and a byte-for-byte comparison of the two trees');
    const data = await newDataDir();
    await overnight(data, await prepare('warm'));
    const pdir = peerDirOf();
    await peer(pdir, await prepare('warm'));
    const ours = await shareFolder(data);
    await checkTree('overnight', ours);
    await checkTree('7z', join(pdir, 'win7'));
    const [a, b] = [await digest(ours), await digest(join(pdir, 'win7'))];
    if (a !== b) throw new Error(`overnight's share and 7z's folder differ (tree digests ${a} / ${b})`);
    log(`warm-up: both trees hold ${fx.files} files, ${fx.treeBytes} bytes, identical (sha1 per file)`);
    await rm(data, { recursive: true, force: true });
    await rm(pdir, { recursive: true, force: true });
  }

  // ---- first starts, side by side
  const firsts: First[] = [];
  for (let r = 0; r < opt.rounds; r++) {
    for (const [ci, cache] of opt.caches.entries()) {
      const order = (r + ci) % 2 === 0 ? (['overnight', 'peer'] as const) : (['peer', 'overnight'] as const);
      const got: { overnight?: OvernightRun; peer?: PeerRun } = {};
      for (const tool of order) {
        if (tool === 'overnight') {
          const data = await newDataDir();
          const res = await overnight(data, await prepare(cache));
          if (res.reused) throw new Error('a fresh data folder was reported as reused');
          await checkTree('overnight', await shareFolder(data));
          await rm(data, { recursive: true, force: true });
          got.overnight = res;
        } else {
          const dir = peerDirOf();
          const res = await peer(dir, await prepare(cache));
          await checkTree('7z', join(dir, 'win7'));
          await rm(dir, { recursive: true, force: true });
          got.peer = res;
        }
      }
      const o = got.overnight!;
      const p = got.peer!;
      firsts.push({ round: r + 1, cache, overnight: o, peer: p, order: order.join(' then ') });
      log(`round ${r + 1} ${cache}: overnight ${o.seconds.toFixed(2)} s (extraction ${f2(o.extractionSeconds)}), peer ${p.seconds.toFixed(2)} s (7z ${p.sevenZipSeconds.toFixed(2)} + smbd ${p.smbdSeconds.toFixed(2)}), ratio ${(o.seconds / p.seconds).toFixed(3)}  [load ${o.loadavg1}/${p.loadavg1}, CPU stall ${o.cpuStallPct?.toFixed(0)}/${p.cpuStallPct?.toFixed(0)} %]`);
    }
  }

  // ---- second starts: the share folder reused
  const seconds: OvernightRun[] = [];
  const coldSeconds: OvernightRun[] = [];
  {
    const data = await newDataDir();
    log('second start: extracting once into a fresh data folder');
    await overnight(data, await prepare('warm'));
    for (let i = 0; i < opt.secondRuns; i++) {
      const res = await overnight(data, { cache: 'warm', cachedBefore: await cachedBytes(fx.iso), waited: 0, ...(await load()) });
      if (!res.reused) throw new Error('the second start did not reuse the share folder');
      seconds.push(res);
      log(`second start ${i + 1} (page cache as left): ${res.seconds.toFixed(3)} s`);
    }
    for (let i = 0; i < opt.coldSecondRuns; i++) {
      await sh('sync', []);
      await writeFile('/proc/sys/vm/drop_caches', '3\n');
      const res = await overnight(data, { cache: 'cold', cachedBefore: await cachedBytes(fx.iso), waited: 0, ...(await load()) });
      if (!res.reused) throw new Error('the second start did not reuse the share folder');
      coldSeconds.push(res);
      log(`second start ${i + 1} after drop_caches: ${res.seconds.toFixed(3)} s`);
    }
    await rm(data, { recursive: true, force: true });
  }

  // ---- breakdown of a first start under each cache state, not in the medians
  const breakdown: OvernightRun[] = [];
  const inProcess: Record<string, number>[] = [];
  const inProcessCache: ('warm' | 'cold')[] = [];
  for (const cache of opt.caches) {
    for (let i = 0; i < opt.breakdownRuns; i++) {
      const data = await newDataDir();
      const res = await overnight(data, await prepare(cache), { watch: true });
      breakdown.push(res);
      log(`breakdown ${cache} ${i + 1}: ${res.seconds.toFixed(2)} s ${JSON.stringify(res.marks ?? {})}`);
      await rm(data, { recursive: true, force: true });
    }
    // The library calls alone, in one process.
    for (let i = 0; i < opt.breakdownRuns; i++) {
      const dir = join(run, `steps-${i}`);
      await mkdir(join(dir, 'loaders'), { recursive: true });
      await copyFile(join(loaders, 'wimboot'), join(dir, 'loaders', 'wimboot'));
      await prepare(cache);
      const { stdout } = await lab.exec(srv.ns, node, [import.meta.filename, '--steps-child', fx.iso, dir]);
      inProcess.push((JSON.parse(stdout.trim().split('\n').pop()!) as { steps: Record<string, number> }).steps);
      inProcessCache.push(cache);
      await rm(dir, { recursive: true, force: true });
    }
  }
  if (opt.strace) {
    const data = await newDataDir();
    const res = await overnight(data, await prepare('warm'), { strace: join(run, 'strace.txt') });
    breakdown.push(res);
    log(`breakdown (strace, warm): ${res.seconds.toFixed(2)} s`);
    await rm(data, { recursive: true, force: true });
  }
  // Node's start-up and the loading of overnight's modules, in the same namespace.
  const startup: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await lab.exec(srv.ns, node, [CLI, '--version']);
    startup.push((performance.now() - t0) / 1000);
  }
  await cleanup();
  const commitAtEnd = await source();
  if (commitAtEnd !== info.commit) log(`warning: overnight's sources changed during the run (${info.commit} at the start, ${commitAtEnd} at the end)`);

  // ---- report
  const result = report(fx, info, firsts, seconds, coldSeconds, breakdown, median(startup), inProcess, inProcessCache);
  const out = opt.out ?? join(opt.work, `ready-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.json`);
  await writeFile(out, JSON.stringify({ options: opt, command: process.argv.slice(1).join(' '), fixture: fx, machine: info, commitAtEnd, firsts, seconds, coldSeconds, breakdown, inProcess, inProcessCache, startupSeconds: startup, result }, null, 2) + '\n');
  log(`results: ${out}`);
  await rm(run, { recursive: true, force: true });
  return result.met ? 0 : 1;
}

/** The programs overnight ran (execve) and how long each took, from `strace -f -ttt -e trace=execve`. */
async function straceExecs(file: string, t0wall: number): Promise<{ cmd: string; startMs: number; ms: number }[]> {
  const text = await readFile(file, 'utf8');
  const starts = new Map<number, { cmd: string; at: number }>();
  const out: { cmd: string; startMs: number; ms: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const pid = Number(m[1]);
    const at = Number(m[2]) * 1000;
    const rest = m[3]!;
    const ex = /^execve\("([^"]+)", \[(.*?)\]/.exec(rest);
    if (ex && / = 0$/.test(rest)) {
      const args = [...ex[2]!.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => x[1]!);
      starts.set(pid, { cmd: args.slice(0, 6).join(' ').slice(0, 120), at });
    } else if (/^\+\+\+ (exited|killed)/.test(rest)) {
      const s = starts.get(pid);
      if (s) out.push({ cmd: s.cmd, startMs: s.at - t0wall, ms: at - s.at });
      starts.delete(pid);
    }
  }
  for (const [, s] of starts) out.push({ cmd: s.cmd, startMs: s.at - t0wall, ms: Number.NaN });
  return out.sort((a, b) => a.startMs - b.startMs);
}

function table(rows: string[][], right: number[] = []): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? '')].length)));
  return rows.map((r) => r.map((c, i) => (right.includes(i) ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd()).join('\n');
}

// What each watched mark says has happened. The steps overlap (the copy runs beside identifying
// the media, Samba's set-up and the rest), so the breakdown is a timeline, not a sum.
const MARKS: [string, string][] = [
  ['share folder', 'share folder made: the copy begins (checks done, media opened and walked)'],
  ['identity', 'media identified (install.wim XML, boot files, identity walk) and remembered'],
  ['loaders staged', 'loaders checked and copied'],
  ['credentials', 'Samba set-up: smbd --version, the share account'],
  ['records', 'profiles rendered and linted (BIOS, UEFI), records opened'],
  ['smb.conf', 'smb.conf written (share prelude: getent, permission checks)'],
  ['passdb', 'pdbedit (the share account in its passdb, with the port probe)'],
  ['connect log', 'smbd started'],
  ['share.start', 'smbd accepts connections'],
  ['extracted', 'extraction complete (984 files, marker written)'],
  ['ready', 'boot servers (ProxyDHCP, TFTP, HTTP) up, summary printed: ready'],
];

interface First {
  round: number;
  cache: string;
  order: string;
  overnight: OvernightRun;
  peer: PeerRun;
}

function report(fx: InstallFixture, info: Awaited<ReturnType<typeof machine>>, firsts: First[], seconds: OvernightRun[], coldSeconds: OvernightRun[], breakdown: OvernightRun[], startup: number, inProcess: Record<string, number>[], inProcessCache: string[]) {
  const print = (s = '') => process.stdout.write(s + '\n');
  print(`\nFixture: ${fx.iso}\n  ${fx.built}`);
  print(`Machine: ${info.nproc} CPUs (${info.cpu}), ${info.ramGiB} GiB RAM, ${info.kernel}; ${info.disk}; ${info.mountOptions}`);
  print(`Tools: node ${info.tools.node}; ${info.tools.sevenZip}; ${info.tools.samba}; overnight ${info.commit}\n`);
  const byCache: Record<string, { overnight: number; peer: number; sevenZip: number; smbd: number; extraction: number; ratio: number; paired: number; rounds: number; met: boolean }> = {};
  const rows = [['cache', 'round', 'first', 'overnight s', 'extraction s', 'peer s', '7z x s', 'smbd s', 'ratio', 'load', 'CPU stall %', 'ISO cached MB']];
  for (const f of firsts) {
    rows.push([f.cache, String(f.round), f.order.split(' ')[0]!, f3(f.overnight.seconds), f3(f.overnight.extractionSeconds), f3(f.peer.seconds), f3(f.peer.sevenZipSeconds), f3(f.peer.smbdSeconds), f3(f.overnight.seconds / f.peer.seconds), `${f.overnight.loadavg1}/${f.peer.loadavg1}`, `${f.overnight.cpuStallPct?.toFixed(0)}/${f.peer.cpuStallPct?.toFixed(0)}`, `${((f.overnight.cachedBefore ?? 0) / 1e6).toFixed(0)}/${((f.peer.cachedBefore ?? 0) / 1e6).toFixed(0)}`]);
  }
  print(table(rows, [1, 3, 4, 5, 6, 7, 8, 10, 11]));
  print();
  const sum = [['cache', 'rounds', 'overnight first start s', '(extraction s)', '7z x + smbd s', '(7z x s)', '(smbd s)', 'ratio', 'paired', 'target', 'result']];
  for (const cache of [...new Set(firsts.map((f) => f.cache))]) {
    const fs = firsts.filter((f) => f.cache === cache);
    const o = median(fs.map((f) => f.overnight.seconds));
    const p = median(fs.map((f) => f.peer.seconds));
    const ratio = o / p;
    const paired = median(fs.map((f) => f.overnight.seconds / f.peer.seconds));
    byCache[cache] = { overnight: o, peer: p, sevenZip: median(fs.map((f) => f.peer.sevenZipSeconds)), smbd: median(fs.map((f) => f.peer.smbdSeconds)), extraction: median(fs.map((f) => f.overnight.extractionSeconds ?? Number.NaN)), ratio, paired, rounds: fs.length, met: ratio <= FIRST_TARGET };
    const b = byCache[cache]!;
    sum.push([cache, String(fs.length), f3(o), f3(b.extraction), f3(p), f3(b.sevenZip), f3(b.smbd), f3(ratio), f3(paired), `<= ${FIRST_TARGET}`, b.met ? 'met' : 'not met']);
  }
  const second = median(seconds.map((s) => s.seconds));
  const coldSecond = median(coldSeconds.map((s) => s.seconds));
  print(table(sum, [1, 2, 3, 4, 5, 6, 7, 8]));
  print();
  print(`Second start (share reused), page cache as left: median ${f3(second)} s of ${seconds.length} (${seconds.map((s) => s.seconds.toFixed(3)).join(', ')}); target < ${SECOND_TARGET_S} s: ${second < SECOND_TARGET_S ? 'met' : 'not met'}`);
  if (coldSeconds.length) print(`Second start after drop_caches: median ${f3(coldSecond)} s of ${coldSeconds.length} (${coldSeconds.map((s) => s.seconds.toFixed(3)).join(', ')}); target < ${SECOND_TARGET_S} s: ${coldSecond < SECOND_TARGET_S ? 'met' : 'not met'}`);
  print(`Node start-up + overnight's modules (\`overnight --version\`, warm): median ${f3(startup)} s`);

  const caches = [...new Set(breakdown.filter((b) => b.marks).map((b) => b.cache))];
  const steps: { step: string; cache: string; ms: number }[] = [];
  if (caches.length) {
    const runs = (c: string) => breakdown.filter((b) => b.marks && b.cache === c);
    print(`\nTimeline of a first start (median of ${caches.map((c) => `${runs(c).length} ${c}`).join(', ')}; ms from spawn until the file or event that marks each step):`);
    const at = (mark: string, c: string) => median(runs(c).map((b) => b.marks![mark] ?? Number.NaN));
    const rows = MARKS.map(([mark, what]) => ({ what, ms: caches.map((c) => at(mark, c)) })).sort((x, y) => (x.ms[0] ?? 0) - (y.ms[0] ?? 0));
    for (const r of rows) for (const [k, c] of caches.entries()) steps.push({ step: r.what, cache: c, ms: r.ms[k]! });
    print(table([['step', ...caches.map((c) => `${c} ms`)], ...rows.map((r) => [r.what, ...r.ms.map((ms) => (Number.isNaN(ms) ? '' : ms.toFixed(0)))])], caches.map((_, k) => 1 + k)));
  }
  const traced = breakdown.find((b) => b.execs);
  if (traced) {
    print(`\nPrograms overnight ran (strace -f, one run of ${traced.seconds.toFixed(2)} s under strace):`);
    print(table([['start ms', 'ms', 'command'], ...traced.execs!.map((e) => [e.startMs.toFixed(0), Number.isNaN(e.ms) ? '(running)' : e.ms.toFixed(0), e.cmd])], [0, 1]));
  }
  if (inProcess.length) {
    const cs = [...new Set(inProcessCache)];
    const of = (c: string) => inProcess.filter((_, i) => inProcessCache[i] === c);
    print(`\nThe same library calls in one process (median of ${cs.map((c) => `${of(c).length} ${c}`).join(', ')}):`);
    print(table([['call', ...cs.map((c) => `${c} ms`)], ...Object.keys(inProcess[0]!).map((k) => [k, ...cs.map((c) => median(of(c).map((x) => x[k]!)).toFixed(0))])], cs.map((_, i) => i + 1)));
  }
  const met = Object.values(byCache).every((b) => b.met) && second < SECOND_TARGET_S;
  return { byCache, secondMedian: second, coldSecondMedian: coldSecond, startupMedian: startup, steps, met };
}

let code = 2;
try {
  code = await main();
} catch (e) {
  log(`error: ${(e as Error).stack ?? e}`);
  await cleanup();
}
process.exit(code);
