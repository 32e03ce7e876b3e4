// The morning report of a night of 34 machines built by hand (done, failed, stalled, in progress,
// never started; two older records that only have their events), checked in every form: totals
// and durations computed here by hand, CSV parsed back, HTML checked by xmllint and for escaping.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { reportCommand } from '../src/cli/report.ts';
import { parseCsv } from '../src/fleet/inventory.ts';
import { ServeError } from '../src/serve/errors.ts';
import type { DeploymentView, EventView, MachineView, Phase } from '../src/fleet/model.ts';
import { REPORT_CSV_COLUMNS, TIMED_PHASES, attemptFromEvents, csvCell, formatReport, morningReport, percentile, type MorningReport } from '../src/fleet/report.ts';
import { run, tempDir } from './helpers/tools.ts';

const S = 1000;
const T0 = Date.UTC(2026, 2, 13, 22, 0, 0); // 22:00 UTC, when the night's window opens
const NOW = T0 + 8 * 3600 * S;
type Timed = Exclude<Phase, 'done'>;
/** Seconds in each phase of a typical install. */
const BASE: Record<Timed, number> = { discovered: 5, loader: 60, winpe: 40, share: 10, setup: 600, applied: 120, specialize: 300, oobe: 180, firstlogon: 60, apps: 900 };
const BASE_TOTAL = Object.values(BASE).reduce((a, b) => a + b, 0); // 2275 s
const macOf = (i: number) => `02:00:00:00:00:${i.toString(16).padStart(2, '0')}`;
const nameOf = (i: number) => `LAB-${String(i).padStart(2, '0')}`;

let eventId = 0;
const events: EventView[] = [];
const event = (mac: string, time: number, phase: string, detail: string | null = null, source = 'report') => events.push({ id: ++eventId, time, mac, phase, source, detail });

function view(i: number, over: Partial<MachineView>): MachineView {
  return {
    mac: macOf(i), name: nameOf(i), profile: 'lab', media: 'win7', group: i <= 10 ? 'room-a' : 'room-b', firmware: i % 3 === 0 ? 'uefi' : 'bios', known: true, approval: null,
    state: 'idle', phase: null, phaseSince: null, progress: 0, startedAt: null, finishedAt: null, failure: null, stalledIn: null, durations: {}, attempt: 0,
    redeploy: false, installing: false, lastSeen: T0, address: null, ...over,
  };
}

/** Phases up to (not including) `until`, timed as BASE with `over`, from `start`; their events logged. */
function walk(mac: string, start: number, until: Phase, over: Partial<Record<Timed, number>> = {}) {
  const durations: Partial<Record<Phase, number>> = {};
  let t = start;
  for (const p of TIMED_PHASES) {
    if (p === until) break;
    event(mac, t, p);
    const secs = over[p] ?? BASE[p];
    durations[p] = secs * S;
    t += secs * S;
  }
  return { durations, t };
}

const machines: MachineView[] = [];
const startOf = (i: number) => T0 + i * 60 * S;
// LAB-01..20 done; setup takes 600 + 30·i s. LAB-20 needed a second attempt.
for (let i = 1; i <= 20; i++) {
  const w = walk(macOf(i), startOf(i), 'done', { setup: 600 + 30 * i });
  event(macOf(i), w.t, 'done');
  machines.push(view(i, { state: 'done', phase: 'done', phaseSince: w.t, progress: 100, startedAt: startOf(i), finishedAt: w.t, durations: w.durations, attempt: i === 20 ? 2 : 1, lastSeen: w.t }));
}
// Failed: two on a disk too small (in setup, after 200 s), one without its share, one with markup in
// its reason, one whose reason is a spreadsheet formula.
const failed = (i: number, phase: Timed, partial: number, reason: string) => {
  const w = walk(macOf(i), startOf(i), phase);
  event(macOf(i), w.t, phase);
  const end = w.t + partial * S;
  event(macOf(i), end, 'failed', reason);
  machines.push(view(i, { state: 'failed', phase, phaseSince: end, startedAt: startOf(i), finishedAt: end, failure: { phase, reason }, durations: { ...w.durations, [phase]: partial * S }, attempt: 1 }));
};
const DISK = 'Windows could not apply the image: disk 0 is smaller than 20 GB';
const SCRIPT_REASON = 'Setup said: <script>alert("x")</script>, then stopped\nsecond line';
const FORMULA = '=HYPERLINK("http://evil.example/","click")';
failed(21, 'setup', 200, DISK);
failed(22, 'setup', 200, DISK);
failed(23, 'winpe', 30, 'net use \\\\10.77.0.1\\win7: System error 53');
failed(24, 'specialize', 50, SCRIPT_REASON);
failed(25, 'apps', 100, FORMULA);
// Stalled: two in setup for two hours, one in the loader.
const still = (i: number, phase: Timed, state: MachineView['state'], forMs: number, name?: string) => {
  const since = NOW - forMs;
  const before = TIMED_PHASES.slice(0, TIMED_PHASES.indexOf(phase)).reduce((a, p) => a + BASE[p] * S, 0);
  const w = walk(macOf(i), since - before, phase);
  event(macOf(i), since, phase);
  machines.push(view(i, { state, phase, phaseSince: since, startedAt: since - before, durations: w.durations, stalledIn: state === 'stalled' ? phase : null, attempt: 1, ...(name ? { name } : {}) }));
};
still(26, 'setup', 'stalled', 2 * 3600 * S);
still(27, 'setup', 'stalled', 2 * 3600 * S);
still(28, 'loader', 'stalled', 3 * 3600 * S);
// In progress, one with a name that is markup (names come from the inventory and the API).
still(29, 'apps', 'apps', 5 * 60 * S, '<script>n</script>');
still(30, 'oobe', 'oobe', 60 * S);
// Never started; one was sent Wake-on-LAN.
machines.push(view(31, {}));
machines.push(view(32, {}));
event(macOf(32), T0, 'wake', 'magic packet ×3', 'fleet');
// An older record (no durations; its start is its first boot ever): a reset in Windows PE, then a
// whole install, with the installed system's network boot and a report that crossed a later one.
const S1 = T0 + 30 * S;
const S2 = startOf(33);
for (const [at, phase] of [[0, 'discovered'], [5, 'loader'], [65, 'winpe']] as const) event(macOf(33), S1 + at * S, phase);
event(macOf(33), S2 - 10 * S, 'note', 'network-booted again in winpe', 'fleet');
for (const [at, phase] of [[0, 'discovered'], [5, 'loader'], [65, 'winpe'], [105, 'share'], [115, 'setup'], [715, 'applied'], [800, 'discovered'], [835, 'specialize'], [840, 'share'], [1135, 'oobe'], [1315, 'firstlogon'], [1375, 'apps'], [2275, 'done']] as const) {
  event(macOf(33), S2 + at * S, phase);
}
machines.push(view(33, { state: 'done', phase: 'done', phaseSince: S2 + BASE_TOTAL * S, startedAt: S1, finishedAt: S2 + BASE_TOTAL * S, durations: {}, attempt: 1 }));
// Another, failed, its record without a reason: the reason is in its events.
const S34 = startOf(34);
for (const [at, phase] of [[0, 'discovered'], [5, 'loader'], [65, 'winpe'], [105, 'share']] as const) event(macOf(34), S34 + at * S, phase);
event(macOf(34), S34 + 115 * S, 'failed', 'net use: System error 53');
machines.push(view(34, { state: 'failed', phase: 'share', startedAt: null, finishedAt: null, durations: {}, attempt: 0 }));

const byMac = (r: MorningReport, i: number) => r.machines.find((m) => m.mac === macOf(i))!;

describe('morning report: the numbers', () => {
  const r = morningReport({ machines, events, now: NOW });

  it('counts machines by where they ended', () => {
    assert.equal(r.totals.machines, 34);
    assert.deepEqual(r.totals.byOutcome, { done: 21, failed: 6, stalled: 3, inProgress: 2, notStarted: 2 });
    assert.equal(r.totals.started, 32);
    assert.equal(r.totals.successRate, 21 / 32);
    assert.equal(r.totals.firstStart, startOf(1));
    assert.equal(r.totals.lastFinish, S2 + BASE_TOTAL * S, 'LAB-33 finished last');
  });

  it('median and p90 install time over the machines done', () => {
    // 21 totals: 2275 s (LAB-33) and 2275 + 30·i s (i = 1..20), sorted: 2275 + 30·k, k = 0..20.
    assert.equal(r.totals.medianTotalMs, (BASE_TOTAL + 30 * 10) * S);
    assert.equal(r.totals.p90TotalMs, (BASE_TOTAL + 30 * 18) * S);
    assert.equal(percentile([4, 1, 3, 2], 50), 2.5);
    assert.ok(Math.abs(percentile([1, 2, 3, 4], 90)! - 3.7) < 1e-9);
    assert.equal(percentile([7], 90), 7);
    assert.equal(percentile([], 50), undefined);
  });

  it('per machine: phases with durations, total, failure, stall, attempts', () => {
    const m5 = byMac(r, 5);
    assert.equal(m5.outcome, 'done');
    assert.deepEqual(m5.phases.map((p) => p.phase), TIMED_PHASES);
    assert.equal(m5.phases.find((p) => p.phase === 'setup')!.ms, 750 * S);
    assert.equal(m5.totalMs, (BASE_TOTAL + 150) * S);
    assert.equal(m5.firmware, 'bios');
    assert.equal(byMac(r, 20).attempts, 2);

    const m21 = byMac(r, 21);
    assert.deepEqual(m21.failure, { phase: 'setup', reason: DISK });
    assert.deepEqual(m21.phases.map((p) => [p.phase, p.ms]), [['discovered', 5 * S], ['loader', 60 * S], ['winpe', 40 * S], ['share', 10 * S], ['setup', 200 * S]]);
    assert.equal(m21.totalMs, 315 * S);

    const m26 = byMac(r, 26);
    assert.equal(m26.outcome, 'stalled');
    assert.equal(m26.stalledIn, 'setup');
    assert.deepEqual(m26.phases.at(-1), { phase: 'setup', ms: null }, 'still in setup: no duration yet');
    assert.equal(m26.inPhaseMs, 2 * 3600 * S);
    assert.equal(m26.totalMs, (5 + 60 + 40 + 10) * S + 2 * 3600 * S, 'start to now');
    assert.equal(m26.finishedAt, null);

    const m31 = byMac(r, 31);
    assert.deepEqual([m31.outcome, m31.phases, m31.totalMs, m31.attempts, m31.startedAt], ['notStarted', [], null, 0, null]);
  });

  it('a record without durations is read from its events: the last attempt, crossed reports ignored', () => {
    const m33 = byMac(r, 33);
    assert.equal(m33.startedAt, S2, 'the attempt after the reset, not the first boot');
    assert.equal(m33.attempts, 2);
    assert.deepEqual(Object.fromEntries(m33.phases.map((p) => [p.phase, p.ms! / S])), BASE);
    assert.equal(m33.totalMs, BASE_TOTAL * S);
    const m34 = byMac(r, 34);
    assert.deepEqual(m34.failure, { phase: 'share', reason: 'net use: System error 53' });
    assert.deepEqual(m34.phases.at(-1), { phase: 'share', ms: 10 * S });
    assert.equal(m34.totalMs, 115 * S);
    assert.equal(m34.attempts, 1);
    // The replay on its own: done, then a network boot of the installed system changes nothing.
    const a = attemptFromEvents([
      { id: 1, time: 0, mac: 'x', phase: 'discovered', source: 'dhcp', detail: null },
      { id: 2, time: 10, mac: 'x', phase: 'done', source: 'report', detail: null },
      { id: 3, time: 20, mac: 'x', phase: 'discovered', source: 'dhcp', detail: null },
    ]);
    assert.deepEqual(a, { startedAt: 0, finishedAt: 10, phase: 'done', durations: { discovered: 10 }, failure: null, attempts: 1 });
    // A failure before the image was applied, then a network boot: a new attempt.
    const b = attemptFromEvents([
      { id: 1, time: 0, mac: 'x', phase: 'loader', source: 'http', detail: null },
      { id: 2, time: 10, mac: 'x', phase: 'failed', source: 'report', detail: 'x' },
      { id: 3, time: 20, mac: 'x', phase: 'discovered', source: 'dhcp', detail: null },
    ]);
    assert.deepEqual([b.startedAt, b.attempts, b.failure, b.phase], [20, 2, null, 'discovered']);
  });

  it('failures grouped by reason, stalls by phase; problems listed first', () => {
    assert.deepEqual(r.failures.map((g) => [g.reason, g.count]), [
      [DISK, 2],
      [FORMULA, 1],
      ['net use \\\\10.77.0.1\\win7: System error 53', 1],
      ['net use: System error 53', 1],
      [SCRIPT_REASON, 1],
    ]);
    assert.deepEqual(r.failures[0]!.phases, [{ phase: 'setup', count: 2 }]);
    assert.deepEqual(r.failures[0]!.machines, [{ mac: macOf(21), name: 'LAB-21' }, { mac: macOf(22), name: 'LAB-22' }]);
    assert.deepEqual(r.stalls.map((g) => [g.phase, g.count]), [['setup', 2], ['loader', 1]]);
    assert.deepEqual([...new Set(r.machines.map((m) => m.outcome))], ['failed', 'stalled', 'inProgress', 'notStarted', 'done']);
    assert.deepEqual(r.machines.filter((m) => m.outcome === 'done').slice(0, 3).map((m) => m.name), ['LAB-01', 'LAB-02', 'LAB-03']);
  });

  it('slowest phases: median, p90, max and the 5 slowest, over completed phases only', () => {
    const setup = r.slowestPhases.find((p) => p.phase === 'setup')!;
    // Completed setups: 600 s × 5 (LAB-24, 25, 29, 30, 33) and 630..1200 s (LAB-01..20); LAB-21/22
    // failed in it and LAB-26/27 are still in it.
    assert.equal(setup.machines, 25);
    assert.equal(setup.medianMs, 840 * S);
    assert.equal(setup.p90Ms, 1128 * S);
    assert.equal(setup.maxMs, 1200 * S);
    assert.deepEqual(setup.slowest.map((s) => [s.name, s.ms / S]), [['LAB-20', 1200], ['LAB-19', 1170], ['LAB-18', 1140], ['LAB-17', 1110], ['LAB-16', 1080]]);
    assert.deepEqual(r.slowestPhases.map((p) => p.phase), ['apps', 'setup', 'specialize', 'oobe', 'applied', 'loader', 'firstlogon', 'winpe', 'share', 'discovered']);
    const apps = r.slowestPhases[0]!;
    assert.equal(apps.machines, 21, 'done machines only: LAB-25 failed in it, LAB-29 is in it');
    const loader = r.slowestPhases.find((p) => p.phase === 'loader')!;
    assert.equal(loader.machines, 34 - 2 - 1, 'all but the 2 never started and LAB-28, still in it');
  });

  it('a deployment reports on its machines: its list (unseen ones as not started), or its group', () => {
    const d: DeploymentView = { id: 1, name: 'night-1', window: '22:00-06:00', cap: 10, machines: [macOf(1), macOf(21), '02:00:00:00:00:99'], group: null, wake: true, state: 'running', createdAt: T0 - 3600 * S, startedAt: T0, stoppedAt: null, inWindow: false, installing: 0 };
    const listed = morningReport({ machines, events, deployment: d, now: NOW });
    assert.deepEqual(listed.machines.map((m) => [m.mac, m.outcome]), [[macOf(21), 'failed'], ['02:00:00:00:00:99', 'notStarted'], [macOf(1), 'done']]);
    assert.equal(listed.totals.successRate, 1 / 2);
    assert.equal(listed.deployment!.name, 'night-1');
    const grouped = morningReport({ machines, events, deployment: { ...d, machines: [], group: 'room-a' }, now: NOW });
    assert.equal(grouped.totals.machines, 10);
    assert.equal(grouped.totals.byOutcome.done, 10);
  });
});

describe('morning report: the forms', () => {
  const r = morningReport({ machines, events, now: NOW });
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir();
  });
  after(() => tmp.cleanup());

  it('CSV (RFC 4180) parses back: one row per machine, a column per phase in seconds', () => {
    const csv = formatReport(r, 'csv');
    assert.ok(csv.endsWith('\r\n'));
    const rows = parseCsv(csv, 'report.csv').map((x) => x.fields);
    assert.deepEqual(rows[0], REPORT_CSV_COLUMNS);
    assert.equal(rows.length, 1 + 34);
    const col = (name: string) => rows[0]!.indexOf(name);
    const row = (i: number) => rows.find((x) => x[col('mac')] === macOf(i))!;
    assert.equal(row(5)[col('setup_s')], '750');
    assert.equal(row(5)[col('total_s')], String(BASE_TOTAL + 150));
    assert.equal(row(5)[col('started')], new Date(startOf(5)).toISOString());
    assert.equal(row(5)[col('outcome')], 'done');
    assert.equal(row(21)[col('apps_s')], '', 'no duration for a phase not reached');
    assert.equal(row(26)[col('setup_s')], '', 'none for the phase it is stuck in');
    assert.equal(row(26)[col('stalled_in')], 'setup');
    assert.equal(row(24)[col('failure_reason')], SCRIPT_REASON, 'quotes, comma and line break survive');
    assert.equal(row(25)[col('failure_reason')], `'${FORMULA}`, 'a formula is made text');
    for (const x of rows) for (const cell of x) assert.doesNotMatch(cell, /^[=+\-@\t\r]/, cell);
    assert.equal(csvCell('-1+1'), "'-1+1");
    assert.equal(csvCell('@SUM(A1)'), "'@SUM(A1)");
    assert.equal(csvCell('a,"b"'), '"a,""b"""');
    assert.equal(csvCell(12.5), '12.5');
    assert.equal(csvCell(null), '');
  });

  it('HTML: one page xmllint accepts, no script or outside asset, every value escaped', async () => {
    const html = formatReport(r, 'html', { timeZone: 'UTC' });
    const file = join(tmp.dir, 'report.html');
    await writeFile(file, html);
    const { stderr } = await run('xmllint', ['--html', '--noout', file]);
    assert.equal(stderr, '', 'no parser complaint');
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /\b(src|href)\s*=\s*["']?(https?:|\/\/)|<link|@import|url\(/i, 'nothing fetched from elsewhere');
    assert.match(html, /Setup said: &lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;, then stopped/);
    assert.match(html, /<th scope="row">&lt;script&gt;n&lt;\/script&gt;<\/th>/);
    assert.match(html, /<html lang="en">/);
    assert.match(html, /<title>Morning report, 2026-03-14 06:00<\/title>/);
    // Totals, then failures, then slowest phases, then the machines.
    const order = ['id="totals"', 'id="failures"', 'id="phases"', 'id="machines"'].map((s) => html.indexOf(s));
    assert.deepEqual([...order].sort((a, b) => a - b), order);
    assert.ok(order.every((i) => i > 0));
    assert.match(html, /done <strong>21<\/strong>/);
    assert.match(html, /65\.6 % \(21 done of 32 started\)/);
    assert.match(html, /median 42 min 55 s, 90th percentile 46 min 55 s/);
    assert.match(html, /@media print/);
  });

  it('text: a plain summary, one line per value', () => {
    const text = formatReport(r, 'text', { timeZone: 'UTC' });
    const lines = text.split('\n');
    assert.equal(lines[0], 'Morning report, 2026-03-14 06:00');
    assert.ok(lines.includes('Machines      34: 21 done, 6 failed, 3 stalled, 2 in progress, 2 not started'), text);
    assert.ok(lines.includes('Success       65.6 % (21 done of 32 started)'), text);
    assert.ok(lines.includes('First start   2026-03-13 22:01'), text);
    assert.match(text, /^ {2}2 {2}Windows could not apply the image: disk 0 is smaller than 20 GB +Setup +LAB-21, LAB-22$/m);
    assert.match(text, /Setup said: <script>alert\("x"\)<\/script>, then stopped second line/, 'the line break of a reason does not break the layout');
    assert.match(text, /^ {2}LAB-26 +02:00:00:00:00:1a +lab +stalled in Setup +2 h 02 min +1$/m);
    assert.doesNotMatch(text, /^ {2}LAB-01 /m, 'done machines are counted, not listed');
    assert.match(text, /^ {2}and 21 done \(the CSV and HTML forms list every machine\)$/m);
    assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f]/);
  });

  it('JSON is the report itself', () => {
    assert.deepEqual(JSON.parse(formatReport(r, 'json')), JSON.parse(JSON.stringify(r)));
  });

  it('an empty fleet gives a sensible report in every form', async () => {
    const empty = morningReport({ machines: [], events: [], deployment: null, now: NOW });
    assert.deepEqual(empty.totals, { machines: 0, byOutcome: { done: 0, failed: 0, stalled: 0, inProgress: 0, notStarted: 0 }, started: 0, successRate: null, medianTotalMs: null, p90TotalMs: null, firstStart: null, lastFinish: null });
    assert.deepEqual([empty.failures, empty.stalls, empty.slowestPhases, empty.machines], [[], [], [], []]);
    assert.equal(formatReport(empty, 'csv'), REPORT_CSV_COLUMNS.join(',') + '\r\n');
    const html = formatReport(empty, 'html', { timeZone: 'UTC' });
    const file = join(tmp.dir, 'empty.html');
    await writeFile(file, html);
    assert.equal((await run('xmllint', ['--html', '--noout', file])).stderr, '');
    assert.match(html, /No machine failed\./);
    assert.match(html, /No machines in this report\./);
    const text = formatReport(empty, 'text', { timeZone: 'UTC' });
    assert.match(text, /^Machines +0$/m);
    assert.match(text, /^Success +none started$/m);
    assert.match(text, /^Machines\n {2}none$/m);
  });
});

describe('overnight report (the command, on records given to it)', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir();
  });
  after(() => tmp.cleanup());

  const cli = async (args: string[]) => {
    const out: string[] = [];
    const loaded: (string | undefined)[] = [];
    const cmd = reportCommand({ out: (s) => out.push(s), err: (s) => out.push(s) }, async (dir) => (loaded.push(dir), { machines, events, deployment: null }), () => NOW);
    await cmd.exitOverride().parseAsync(args, { from: 'user' });
    return { out: out.join('\n'), loaded };
  };

  it('prints text, or writes the form its file name says', async () => {
    const text = await cli(['--data', '/srv/overnight', '--time-zone', 'UTC']);
    assert.deepEqual(text.loaded, ['/srv/overnight']);
    assert.match(text.out, /^Morning report, 2026-03-14 06:00\n/);
    const html = join(tmp.dir, 'night.html');
    assert.equal((await cli(['-o', html])).out, `wrote ${html} (html, 34 machines)`);
    assert.match(await readFile(html, 'utf8'), /^<!DOCTYPE html>/);
    const csv = join(tmp.dir, 'night.csv');
    await cli(['-o', csv]);
    assert.equal(parseCsv(await readFile(csv, 'utf8'), csv).length, 35);
    assert.deepEqual(JSON.parse((await cli(['--json'])).out).totals.byOutcome, { done: 21, failed: 6, stalled: 3, inProgress: 2, notStarted: 2 });
    await assert.rejects(cli(['-o', join(tmp.dir, 'night.pdf')]), (e: unknown) => e instanceof ServeError && /name it \.html, \.csv, \.json or \.txt/.test(e.message));
    await assert.rejects(cli(['--time-zone', 'Mars/Olympus']), (e: unknown) => e instanceof ServeError && /not an IANA time zone/.test(e.message));
  });
});
