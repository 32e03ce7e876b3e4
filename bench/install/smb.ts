// Install-share throughput: one large file (install.wim) read over SMB3 with smbclient through
// overnight's managed Samba, and through a Samba with a default configuration serving the same
// folder, side by side in one run.
//
//   node bench/install/smb.ts [--size 1GiB] [--rounds 5] [--scenario plain|signed|both]
//                             [--work DIR] [--keep] [--out FILE]
//
// As root (namespaces, smbd). Both servers run in one network namespace, the client in another,
// joined by veth through a bridge (test/helpers/netns.ts), as a PC on the wire would be: the
// lab's links have no bandwidth limit, so what is measured is the servers' cost, not a NIC's.
// overnight's share listens on 445 through test/helpers/samba.ts (the same code overnight
// serve runs); the default Samba on 4445 with the smallest smb.conf that runs it on its own
// state folder: a [media] share (read only, guest ok = no) and one passdb user.
// The file is read once before timing (page cache warm for both; the same pages serve both
// servers); each round reads it with `smbclient -c 'get install.wim /dev/null'`, the two servers
// alternating which goes first. Before timing, one read from each must match the file's SHA-256.
// Scenarios: 'plain', smbclient's defaults (no signing: WinPE of Windows 7 to 10); 'signed',
// --client-protection=sign, as Windows 11 24H2 requires signing. The figure is the file's size
// over smbclient's wall time (connect, login and read); medians compared. Exit status: 0 when
// overnight reaches 1.0 x the default's throughput in every scenario, 1 when not, 2 on an error.
import { type ChildProcess, execFile } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { findSamba } from '../../src/share/samba.ts';
import { Lab, waitForOutput } from '../../test/helpers/netns.ts';
import { defaultSmbConf } from './fixture.ts';

const RUNNER = join(import.meta.dirname, '..', '..', 'test', 'helpers', 'samba.ts');
const TARGET = 1.0;
const PASSWORD = 'BenchPassw0rd4Smb';
const DEFAULT_PORT = 4445;

const { values: opt } = parseArgs({
  options: {
    size: { type: 'string', default: '1GiB' },
    rounds: { type: 'string', default: '5' },
    work: { type: 'string' },
    keep: { type: 'boolean', default: false },
    out: { type: 'string' },
    scenario: { type: 'string', default: 'both' },
  },
});

const log = (s: string) => process.stderr.write(s + '\n');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const mbps = (bytesPerSec: number) => `${(bytesPerSec / 1e6).toFixed(0)} MB/s`;

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(|B|KiB|MiB|GiB|K|M|G)$/i.exec(s.trim());
  if (!m) throw new Error(`--size ${s}: expected e.g. 1GiB, 512MiB or a byte count`);
  const unit = m[2]!.toLowerCase().replace('ib', '');
  const mult = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[unit]!;
  return Math.round(Number(m[1]) * mult);
}

function sh(cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = execFile(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 127) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) c.stdin?.end(input);
  });
}

async function must(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await sh(cmd, args, input);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}):\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

async function fixture(dir: string, size: number): Promise<string> {
  const file = join(dir, 'install.wim');
  if (!existsSync(file) || (await stat(file)).size !== size) {
    log(`writing ${(size / 2 ** 20).toFixed(0)} MiB of random bytes to ${file}`);
    const fh = await open(file, 'w', 0o644);
    const buf = Buffer.allocUnsafe(16 * 2 ** 20);
    for (let left = size; left > 0; left -= buf.length) {
      randomFillSync(buf);
      await fh.write(buf, 0, Math.min(buf.length, left));
    }
    await fh.close();
  }
  await chmod(file, 0o644);
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * 2 ** 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('run as root (network namespaces, smbd)');
  const samba = await findSamba();
  if ((await sh('sh', ['-c', 'command -v smbclient'])).code !== 0) throw new Error('smbclient is not installed (apt-get install smbclient)');
  const size = parseSize(opt.size!);
  const rounds = Number(opt.rounds);
  const work = opt.work ?? (await mkdtemp(join(tmpdir(), 'overnight-bench-smb-')));
  await mkdir(work, { recursive: true });
  // Both smbds serve as nobody, who must get through to the file.
  await chmod(work, 0o755);
  const media = join(work, 'media');
  await mkdir(media, { recursive: true, mode: 0o755 });
  const sha = await fixture(media, size);
  log(`Samba ${samba.version}; file ${size} bytes, sha256 ${sha.slice(0, 16)}…`);

  const lab = await Lab.create('bsmb');
  const children: ChildProcess[] = [];
  let defaultPid: number | undefined;
  const cleanup = async () => {
    // The default smbd leads its own process group (--foreground without --no-process-group).
    if (defaultPid !== undefined) {
      try {
        process.kill(-defaultPid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    await lab.destroy();
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => void cleanup().finally(() => process.exit(130)));
  try {
    const srv = await lab.addHost('srv', '10.97.0.1/24');
    const cli = await lab.addHost('cli', '10.97.0.2/24');

    // overnight's managed Samba.
    const oState = join(work, 'overnight-state');
    const ours = lab.spawn(srv.ns, process.execPath, [
      RUNNER,
      JSON.stringify({ stateDir: oState, minProtocol: 'SMB3_11', shares: [{ name: 'media', path: media }], credentials: { user: 'overnight', password: PASSWORD }, logLevel: 0 }),
    ]);
    children.push(ours);
    const ready = await waitForOutput(ours, /"ready"|"error"/, 30_000);
    if (/"error"/.test(ready)) throw new Error(`overnight's share did not start: ${ready}`);

    // A default Samba on the same folder.
    const dState = join(work, 'default-state');
    for (const d of ['private', 'lock', 'state', 'cache', 'run/ncalrpc']) await mkdir(join(dState, d), { recursive: true });
    const dConf = join(dState, 'smb.conf');
    await writeFile(dConf, defaultSmbConf(dState, 'media', media, DEFAULT_PORT));
    await sh(samba.pdbedit, ['-s', dConf, '-x', '-u', 'nobody']);
    await must(samba.pdbedit, ['-s', dConf, '-a', '-t', '-u', 'nobody'], `${PASSWORD}\n${PASSWORD}\n`);
    const def = lab.spawn(srv.ns, samba.smbd, ['--foreground', '--debug-stdout', '-s', dConf]);
    children.push(def);
    defaultPid = def.pid;
    await waitForOutput(def, /started/, 10_000);
    for (let k = 0; k < 100; k++) {
      const r = await sh('ip', ['netns', 'exec', cli.ns, 'bash', '-c', `exec 3<>/dev/tcp/${srv.ip}/${DEFAULT_PORT}`]);
      if (r.code === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }

    const servers = [
      { name: 'overnight', port: 445, user: 'overnight' },
      { name: 'default', port: DEFAULT_PORT, user: 'nobody' },
    ];
    const smbclient = (s: (typeof servers)[number], cmd: string, extra: string[] = []) => [
      'ip', 'netns', 'exec', cli.ns, 'smbclient', '--configfile=/dev/null', `//${srv.ip}/media`, '-p', String(s.port), '-U', `${s.user}%${PASSWORD}`, '-m', 'SMB3', ...extra, '-c', cmd,
    ];
    for (const s of servers) {
      const args = smbclient(s, 'get install.wim -');
      const got = await must('bash', ['-c', 'set -o pipefail; "$@" 2>/dev/null | sha256sum', 'bash', ...args]);
      if (got.split(' ')[0] !== sha) throw new Error(`${s.name} served different bytes (${got.trim()} vs ${sha})`);
      log(`${s.name}: byte-exact (sha256 ${sha.slice(0, 16)}…)`);
    }
    // Page cache: both servers start warm, from the same pages.
    await must('sh', ['-c', `cat '${join(media, 'install.wim')}' > /dev/null`]);

    const scenarios = opt.scenario === 'both' ? ['plain', 'signed'] : [opt.scenario!];
    const report: Record<string, unknown> = {};
    let met = true;
    for (const scenario of scenarios) {
      if (scenario !== 'plain' && scenario !== 'signed') throw new Error(`--scenario ${scenario}: plain, signed or both`);
      const extra = scenario === 'signed' ? ['--client-protection=sign'] : [];
      const rates: Record<string, number[]> = { overnight: [], default: [] };
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 ? [...servers].reverse() : servers;
        for (const s of order) {
          const args = smbclient(s, 'get install.wim /dev/null', extra);
          const t0 = process.hrtime.bigint();
          const res = await sh(args[0]!, args.slice(1));
          const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
          if (res.code !== 0) throw new Error(`${s.name}: smbclient failed:\n${res.stdout}${res.stderr}`);
          const rate = size / seconds;
          rates[s.name]!.push(rate);
          log(`${scenario} round ${r + 1}/${rounds} ${s.name.padEnd(9)} ${mbps(rate)} (${seconds.toFixed(2)} s)`);
        }
      }
      const o = median(rates['overnight']!);
      const d = median(rates['default']!);
      const ratio = o / d;
      if (ratio < TARGET) met = false;
      report[scenario] = { overnight: { medianBytesPerSec: o, rates: rates['overnight'] }, default: { medianBytesPerSec: d, rates: rates['default'] }, ratio };
      log(`${scenario}: median overnight ${mbps(o)}  default Samba ${mbps(d)}  ratio ${ratio.toFixed(3)} (target ≥ ${TARGET})\n`);
    }
    const summary = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, note: 'client (smbclient) and both smbds share these CPUs; veth through a bridge' },
      samba: samba.version,
      file: { name: 'install.wim', sizeBytes: size },
      rounds,
      scenarios: report,
      target: TARGET,
      met,
    };
    const out = opt.out ?? join(work, 'smb-bench.json');
    await writeFile(out, JSON.stringify(summary, null, 2) + '\n');
    log(`results: ${out}`);
    return summary.met ? 0 : 1;
  } finally {
    for (const c of children) await lab.stop(c).catch(() => {});
    await cleanup();
    if (!opt.keep && !opt.work) await rm(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    log(`error: ${(e as Error).message}`);
    process.exit(2);
  },
);
