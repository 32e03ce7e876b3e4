/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The fleet under load: `overnight serve` with 500 simulated machines going through every phase
// (`overnight simulate`: real DHCP, TFTP, HTTP, phase reports), and the dashboard open in Chromium.
// Issue targets: the server's RSS under 200 MB, event processing p99 under 5 ms, a phase change on
// the dashboard within 1 s, the page loaded with 500 machines in under 2 s.
//
//   npm run bench:fleet -- [--machines 500] [--speed 20] [--loads 5] [--from package|checkout] [--out FILE]
//
// As root (network namespaces; test/helpers/fleet-lab.ts). --from package (default) runs overnight
// as it is published: the tsc build (dist/) beside bin/ and web/dist in a temporary folder, started
// through bin/overnight.js's #! line as `npx overnight` starts it; --from checkout runs this
// checkout's TypeScript through Node's type stripping (which costs each thread its own stripper).
// Measured:
//  RSS       VmRSS of the serve process (node; Samba's processes are apart), sampled every 100 ms
//            from its start to the end of the run; the maximum.
//  events    the fleet's own timing of each event it processes (read, state machine, write in one
//            SQLite transaction, publish): GET /api/state's timings (the last 10 000).
//  dashboard one page open through the run; a MutationObserver stamps (Date.now) every row's
//            data-state change; each is matched with the server's event that caused it (its
//            recorded time, same clock): latency = stamp - event time. Phases a machine passed
//            within one flush of the stream (100 ms) show only the last: those are matched only
//            for the state shown.
//  page load after the run, --loads fresh pages: from navigation start until the grid holds every
//            machine (requestAnimationFrame polling), read from performance.now().
// No peer runs beside it: no other tool shows Setup's phases per machine (WDS/MDT's monitoring is
// a Windows console). The figures are absolute, against the targets.
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import type { EventView, MachineView } from '../../src/fleet/model.ts';
import { launchBrowser } from '../../test/helpers/browser.ts';
import { DASHBOARD, startFleetLab } from '../../test/helpers/fleet-lab.ts';
import { waitForOutput } from '../../test/helpers/netns.ts';

const { values: a } = parseArgs({
  options: {
    machines: { type: 'string', default: '500' },
    speed: { type: 'string', default: '20' },
    loads: { type: 'string', default: '5' },
    from: { type: 'string', default: 'package' },
    out: { type: 'string' },
  },
});
const execFileP = promisify(execFile);
const N = Number(a.machines);
const loads = Number(a.loads);
if (process.getuid?.() !== 0) {
  console.error('bench/fleet needs root (network namespaces)');
  process.exit(2);
}

const q = (xs: number[], p: number) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN;
};

/** The published layout: bin/, dist/ (tsc), web/dist, package.json and the dependencies. */
async function buildPackage(): Promise<{ bin: string; dir: string }> {
  const repo = resolve(import.meta.dirname, '..', '..');
  const dir = await mkdtemp(join(tmpdir(), 'overnight-pkg-'));
  await chmod(dir, 0o755);
  await execFileP(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')]);
  await mkdir(join(dir, 'bin'));
  await cp(join(repo, 'bin', 'overnight.js'), join(dir, 'bin', 'overnight.js'));
  await cp(join(repo, 'package.json'), join(dir, 'package.json'));
  await symlink(join(repo, 'node_modules'), join(dir, 'node_modules'));
  await mkdir(join(dir, 'web'));
  await symlink(join(repo, 'web', 'dist'), join(dir, 'web', 'dist'));
  return { bin: join(dir, 'bin', 'overnight.js'), dir };
}

if (a.from !== 'package' && a.from !== 'checkout') throw new Error('--from is package or checkout');
const pkg = a.from === 'package' ? await buildPackage() : undefined;
const fl = await startFleetLab({ tag: 'bfleet', subnet: '10.103.0', bin: pkg?.bin });
try {
  const pid = fl.serve.pid!;
  let rssMax = 0;
  const rssSamples: number[] = [];
  const sampler = setInterval(() => {
    void readFile(`/proc/${pid}/status`, 'utf8')
      .then((t) => {
        const kb = Number(/VmRSS:\s+(\d+)/.exec(t)?.[1] ?? 0);
        rssSamples.push(kb);
        rssMax = Math.max(rssMax, kb);
      })
      .catch(() => {});
  }, 100);

  const browser = await launchBrowser({ netns: fl.srv.ns });
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  await page.goto(`${DASHBOARD}/#token=${fl.token}`);
  await page.locator('[data-connection="live"]').waitFor({ timeout: 30_000 });
  // Stamps every row's state as it appears and as it changes.
  await page.evaluate(() => {
    const w = window as unknown as { __changes: [string, string, number][] };
    w.__changes = [];
    const grid = document.querySelector('[role="grid"]')!;
    const stamp = (el: Element, t: number) => {
      const mac = el.getAttribute('data-mac');
      const state = el.getAttribute('data-state');
      if (mac && state) w.__changes.push([mac, state, t]);
    };
    new MutationObserver((muts) => {
      const t = Date.now();
      for (const m of muts) {
        if (m.type === 'attributes') stamp(m.target as Element, t);
        else for (const n of m.addedNodes) if (n instanceof Element) (n.matches('[data-mac]') ? [n] : [...n.querySelectorAll('[data-mac]')]).forEach((el) => stamp(el, t));
      }
    }).observe(grid, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
  });

  const rssAtReady = rssSamples.length ? rssSamples[rssSamples.length - 1]! : 0;
  const t0 = Date.now();
  const sim = fl.simulate(['--machines', String(N), '--speed', a.speed!, '--seed', '5', '--fail-rate', '0.02']);
  const simOut = await waitForOutput(sim, /WoL +\d+ packets/, 30 * 60_000).catch((e: Error) => e.message);
  const runSeconds = (Date.now() - t0) / 1000;
  await page.waitForTimeout(1500);
  clearInterval(sampler);

  const changes = (await page.evaluate(() => (window as unknown as { __changes: [string, string, number][] }).__changes)) as [string, string, number][];
  const events = await fl.api<EventView[]>('/api/events?limit=10000');
  const state = await fl.api<{ timings: { count: number; p50: number; p99: number; max: number }; memory: Record<string, number> }>('/api/state');
  const machines = await fl.api<MachineView[]>('/api/machines');

  // Each DOM change to phase P of machine M, against the server's event that moved M to P.
  const firstEvent = new Map<string, number>();
  for (const e of events) {
    const k = `${e.mac} ${e.phase}`;
    if (!firstEvent.has(k)) firstEvent.set(k, e.time);
  }
  const latencies: number[] = [];
  const seen = new Set<string>();
  for (const [mac, st, t] of changes) {
    const k = `${mac} ${st}`;
    if (seen.has(k)) continue;
    seen.add(k);
    const te = firstEvent.get(k);
    if (te !== undefined && t >= te - 50) latencies.push(t - te);
  }

  const loadTimes: number[] = [];
  for (let i = 0; i < loads; i++) {
    const p = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    await p.goto(DASHBOARD, { waitUntil: 'commit' });
    await p.waitForFunction((n) => document.querySelectorAll('[role="grid"] [data-mac]').length >= n, N, { polling: 'raf', timeout: 30_000 });
    loadTimes.push(await p.evaluate(() => performance.now()));
    await p.close();
  }
  await browser.close();

  const byState: Record<string, number> = {};
  for (const m of machines) byState[m.state] = (byState[m.state] ?? 0) + 1;
  const result = {
    from: a.from,
    machines: N,
    speed: Number(a.speed),
    runSeconds,
    states: byState,
    events: { processed: state.timings.count, inLog: events.length, p50Ms: state.timings.p50, p99Ms: state.timings.p99, maxMs: state.timings.max },
    rssMB: { atReady: rssAtReady / 1024, max: rssMax / 1024, median: q(rssSamples, 0.5) / 1024, atEnd: Object.fromEntries(Object.entries(state.memory).map(([k, v]) => [k, Math.round(v / 1048576)])) },
    dashboard: { matched: latencies.length, p50Ms: q(latencies, 0.5), p99Ms: q(latencies, 0.99), maxMs: Math.max(...latencies) },
    pageLoadMs: { runs: loadTimes.map((x) => Math.round(x)), median: q(loadTimes, 0.5), max: Math.max(...loadTimes) },
    simulator: simOut.split('\n').filter((l) => /^(overnight simulate: \d+ machines in|  [A-Z][a-zA-Z]+ +)/.test(l)),
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(
    [
      `fleet of ${N} (overnight from the ${a.from}, speed ${a.speed}, ${runSeconds.toFixed(0)} s): ${JSON.stringify(byState)}`,
      `  server RSS max ${result.rssMB.max.toFixed(1)} MB, median ${result.rssMB.median.toFixed(1)} MB, at ready ${result.rssMB.atReady.toFixed(1)} MB (target < 200)`,
      `  event processing p50 ${result.events.p50Ms.toFixed(2)} ms, p99 ${result.events.p99Ms.toFixed(2)} ms, max ${result.events.maxMs.toFixed(2)} ms over ${result.events.processed} events (target p99 < 5)`,
      `  dashboard phase change p50 ${result.dashboard.p50Ms} ms, p99 ${result.dashboard.p99Ms} ms, max ${result.dashboard.maxMs} ms over ${latencies.length} changes (target < 1000)`,
      `  page load with ${N} machines: median ${result.pageLoadMs.median.toFixed(0)} ms, max ${result.pageLoadMs.max.toFixed(0)} ms (target < 2000)`,
    ].join('\n'),
  );
  if (a.out) await writeFile(a.out, JSON.stringify(result, null, 2));
  await fl.lab.stop(sim);
} finally {
  await fl.close();
  if (pkg) await rm(pkg.dir, { recursive: true, force: true });
}
