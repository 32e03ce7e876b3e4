// The morning report: what the night's installs came to, per machine and in total, for the
// administrator who arrives in the morning. Pure: the machines, their events and the deployment
// come in, the report (and its JSON, CSV, HTML or text form) goes out.
//
// Durations come from the machines' records (MachineView.durations, kept by the state machine);
// a record without them (an older store) gets them from its events instead, by the state
// machine's own rules: the last attempt only, a phase timed until the next one starts.
import { type DeploymentView, type EventView, type MachineState, type MachineView, PHASE_LABELS, PHASE_ORDER, type Phase, INSTALLED_PHASES, isPhase, phaseIndex } from './model.ts';

/** Where a machine ended up, for counting: a phase state is still in progress. */
export type Outcome = 'done' | 'failed' | 'stalled' | 'inProgress' | 'notStarted';
export const OUTCOMES: readonly Outcome[] = ['failed', 'stalled', 'inProgress', 'notStarted', 'done'];
export const OUTCOME_LABELS: Readonly<Record<Outcome, string>> = {
  done: 'done',
  failed: 'failed',
  stalled: 'stalled',
  inProgress: 'in progress',
  notStarted: 'not started',
};

/** The phases that have a duration ('done' is where an install ends, not a phase it spends time in). */
export const TIMED_PHASES: readonly Exclude<Phase, 'done'>[] = PHASE_ORDER.filter((p): p is Exclude<Phase, 'done'> => p !== 'done');
type TimedPhase = (typeof TIMED_PHASES)[number];

export interface MachineReport {
  mac: string;
  name: string | null;
  profile: string | null;
  group: string | null;
  firmware: string | null;
  state: MachineState;
  outcome: Outcome;
  /** The last phase of the order reached in the last attempt. */
  phase: Phase | null;
  /** The phases reached, in order, with the time spent in each (null: still in it). */
  phases: { phase: TimedPhase; ms: number | null }[];
  startedAt: number | null;
  finishedAt: number | null;
  /** Start to done or failure; for a machine still at it, start to now. */
  totalMs: number | null;
  /** How long it has been in its current phase, when it is still at it (in progress, stalled). */
  inPhaseMs: number | null;
  failure: { phase: Phase | null; reason: string } | null;
  stalledIn: Phase | null;
  attempts: number;
}

export interface PhaseStats {
  phase: TimedPhase;
  label: string;
  /** Machines that went through it (completed it) in their last attempt. */
  machines: number;
  medianMs: number;
  p90Ms: number;
  maxMs: number;
  /** The 5 slowest machines in this phase, slowest first. */
  slowest: { mac: string; name: string | null; ms: number }[];
}

export interface FailureGroup {
  reason: string;
  count: number;
  /** In which phases machines failed for this reason, most first. */
  phases: { phase: Phase | null; count: number }[];
  machines: { mac: string; name: string | null }[];
}

export interface StallGroup {
  phase: Phase | null;
  count: number;
  machines: { mac: string; name: string | null }[];
}

export interface ReportTotals {
  machines: number;
  byOutcome: Record<Outcome, number>;
  /** Machines that started (all but not started). */
  started: number;
  /** done ÷ started, 0-1; null when none started (machines that never tried are not failures). */
  successRate: number | null;
  /** Over the machines done: start to done. */
  medianTotalMs: number | null;
  p90TotalMs: number | null;
  firstStart: number | null;
  /** The last done or failure. */
  lastFinish: number | null;
}

export interface MorningReport {
  generatedAt: number;
  deployment: Pick<DeploymentView, 'id' | 'name' | 'window' | 'cap' | 'group' | 'state' | 'createdAt' | 'startedAt' | 'stoppedAt'> | null;
  totals: ReportTotals;
  /** Failed machines grouped by reason, most common first. */
  failures: FailureGroup[];
  /** Stalled machines grouped by phase. */
  stalls: StallGroup[];
  /** Every phase some machine completed, slowest (by median) first. */
  slowestPhases: PhaseStats[];
  /** Problems first (failed, stalled, in progress, not started, done), then by name. */
  machines: MachineReport[];
}

export interface ReportInput {
  machines: readonly MachineView[];
  events: readonly EventView[];
  deployment?: DeploymentView | null | undefined;
  now: number;
}

// ---------------------------------------------------------------------------------------------
// Building the report

/** Linear interpolation between the closest ranks (numpy's default); undefined for no values. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (!values.length) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const pos = (p / 100) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export function outcomeOf(state: MachineState): Outcome {
  if (state === 'done' || state === 'failed' || state === 'stalled') return state;
  return state === 'idle' ? 'notStarted' : 'inProgress';
}

/** What a machine's events say about its last attempt (for records without durations). */
interface FromEvents {
  startedAt: number | null;
  finishedAt: number | null;
  phase: Phase | null;
  durations: Partial<Record<Phase, number>>;
  failure: { phase: Phase | null; reason: string } | null;
  attempts: number;
}

/**
 * Replays a machine's phase and failure events, oldest first, by the state machine's rules: a
 * network boot (discovered, loader) after a failure before the image was applied, or in the
 * middle of Windows PE or Setup, starts a new attempt; after the image was applied it is the
 * installed system booting. A report for a phase already passed moves nothing.
 */
export function attemptFromEvents(events: readonly EventView[]): FromEvents {
  const sorted = [...events].sort((a, b) => a.time - b.time || a.id - b.id);
  let a: FromEvents = { startedAt: null, finishedAt: null, phase: null, durations: {}, failure: null, attempts: 0 };
  let since = 0;
  let state = 'none' as 'running' | 'done' | 'failed' | 'none'; // set in begin() too, which narrowing does not see
  const begin = (p: Phase, t: number) => {
    a = { startedAt: t, finishedAt: null, phase: p, durations: {}, failure: null, attempts: a.attempts + 1 };
    since = t;
    state = 'running';
  };
  const close = (t: number) => {
    if (a.phase && a.phase !== 'done') a.durations[a.phase] = (a.durations[a.phase] ?? 0) + Math.max(0, t - since);
  };
  for (const e of sorted) {
    if (e.phase === 'failed') {
      if (state !== 'running') continue;
      close(e.time);
      a.failure = { phase: a.phase, reason: e.detail?.trim() || 'no reason given' };
      a.finishedAt = e.time;
      state = 'failed';
      continue;
    }
    if (!isPhase(e.phase)) continue;
    const p = e.phase;
    if (state === 'none') {
      begin(p, e.time);
      continue;
    }
    const booting = p === 'discovered' || p === 'loader';
    if (state === 'done' || state === 'failed') {
      const installed = state === 'done' || (a.failure?.phase != null && INSTALLED_PHASES.has(a.failure.phase));
      if (booting && !installed) begin(p, e.time);
      continue;
    }
    const cur = phaseIndex(a.phase!);
    if (booting && cur > phaseIndex('loader') && !INSTALLED_PHASES.has(a.phase!)) {
      begin(p, e.time); // reset in the middle of Windows PE or Setup
      continue;
    }
    if (phaseIndex(p) <= cur) continue;
    close(e.time);
    a.phase = p;
    since = e.time;
    if (p === 'done') {
      a.finishedAt = e.time;
      state = 'done';
    }
  }
  return a;
}

function machineReport(m: MachineView, events: readonly EventView[], now: number): MachineReport {
  // A record without durations (kept before they were) is read from its events: all of it, since
  // its other times may be of another attempt (an older store's start is the machine's first boot).
  const ev = Object.keys(m.durations).length === 0 && events.length ? attemptFromEvents(events) : undefined;
  const fromEvents = ev !== undefined && ev.startedAt !== null;
  const durations = fromEvents ? ev.durations : m.durations;
  const phase = (fromEvents ? ev.phase : m.phase) ?? m.phase;
  const outcome = outcomeOf(m.state);
  const startedAt = (fromEvents ? ev.startedAt : m.startedAt) ?? m.startedAt;
  const finishedAt = outcome === 'done' || outcome === 'failed' ? ((fromEvents ? ev.finishedAt : m.finishedAt) ?? m.finishedAt) : null;
  const failure = outcome === 'failed' ? (m.failure ?? ev?.failure ?? { phase, reason: 'no reason given' }) : null;
  const still = outcome === 'inProgress' || outcome === 'stalled';
  // The phases it went through; the one it is still in has no duration yet.
  const phases: MachineReport['phases'] = [];
  for (const p of TIMED_PHASES) {
    const open = still && p === phase;
    if (open) phases.push({ phase: p, ms: null });
    else if (durations[p] !== undefined) phases.push({ phase: p, ms: durations[p]! });
  }
  const end = finishedAt ?? (still ? now : null);
  return {
    mac: m.mac,
    name: m.name,
    profile: m.profile,
    group: m.group,
    firmware: m.firmware,
    state: m.state,
    outcome,
    phase,
    phases,
    startedAt,
    finishedAt,
    totalMs: startedAt !== null && end !== null ? Math.max(0, end - startedAt) : null,
    inPhaseMs: still && m.phaseSince !== null ? Math.max(0, now - m.phaseSince) : null,
    failure,
    stalledIn: outcome === 'stalled' ? (m.stalledIn ?? phase) : null,
    attempts: Math.max(m.attempt, fromEvents ? ev.attempts : 0, startedAt !== null ? 1 : 0),
  };
}

/** A machine of the deployment with no record yet: it never network-booted. */
function unseen(mac: string): MachineView {
  return {
    mac, name: null, profile: null, media: null, group: null, firmware: null, known: false, approval: null, state: 'idle', phase: null, phaseSince: null, progress: 0,
    startedAt: null, finishedAt: null, failure: null, stalledIn: null, durations: {}, attempt: 0, redeploy: false, installing: false, lastSeen: 0, address: null,
  };
}

const byName = (a: { name: string | null; mac: string }, b: { name: string | null; mac: string }) =>
  (a.name ?? '\uffff').localeCompare(b.name ?? '\uffff', 'en', { numeric: true, sensitivity: 'base' }) || a.mac.localeCompare(b.mac);

export function morningReport(input: ReportInput): MorningReport {
  const { now } = input;
  const d = input.deployment ?? null;
  // A deployment's report covers its machines: its list, else its group, else every machine.
  let views = [...input.machines];
  if (d && d.machines.length) {
    const known = new Map(views.map((m) => [m.mac, m]));
    views = [...new Set(d.machines)].map((mac) => known.get(mac) ?? unseen(mac));
  } else if (d?.group != null) views = views.filter((m) => m.group === d.group);

  const eventsOf = new Map<string, EventView[]>();
  for (const e of input.events) {
    const list = eventsOf.get(e.mac);
    if (list) list.push(e);
    else eventsOf.set(e.mac, [e]);
  }
  const outcomeRank = (o: Outcome) => OUTCOMES.indexOf(o);
  const machines = views.map((m) => machineReport(m, eventsOf.get(m.mac) ?? [], now)).sort((a, b) => outcomeRank(a.outcome) - outcomeRank(b.outcome) || byName(a, b));

  const byOutcome: Record<Outcome, number> = { done: 0, failed: 0, stalled: 0, inProgress: 0, notStarted: 0 };
  for (const m of machines) byOutcome[m.outcome]++;
  const started = machines.length - byOutcome.notStarted;
  const doneTotals = machines.filter((m) => m.outcome === 'done' && m.totalMs !== null).map((m) => m.totalMs!);
  const starts = machines.map((m) => m.startedAt).filter((t): t is number => t !== null);
  const finishes = machines.map((m) => m.finishedAt).filter((t): t is number => t !== null);

  // Phase statistics count completed phases only: not the one a machine is still in, nor the one it failed in.
  const slowestPhases: PhaseStats[] = [];
  for (const p of TIMED_PHASES) {
    const rows = machines.flatMap((m) => {
      if (m.outcome === 'failed' && m.failure?.phase === p) return [];
      const ms = m.phases.find((x) => x.phase === p)?.ms;
      return ms == null ? [] : [{ mac: m.mac, name: m.name, ms }];
    });
    if (!rows.length) continue;
    const values = rows.map((r) => r.ms);
    slowestPhases.push({
      phase: p,
      label: PHASE_LABELS[p],
      machines: rows.length,
      medianMs: percentile(values, 50)!,
      p90Ms: percentile(values, 90)!,
      maxMs: Math.max(...values),
      slowest: rows.sort((a, b) => b.ms - a.ms || byName(a, b)).slice(0, 5),
    });
  }
  slowestPhases.sort((a, b) => b.medianMs - a.medianMs || phaseIndex(a.phase) - phaseIndex(b.phase));

  const failures = new Map<string, FailureGroup>();
  for (const m of machines) {
    if (!m.failure) continue;
    const reason = m.failure.reason.trim() || 'no reason given';
    let g = failures.get(reason);
    if (!g) failures.set(reason, (g = { reason, count: 0, phases: [], machines: [] }));
    g.count++;
    g.machines.push({ mac: m.mac, name: m.name });
    const ph = g.phases.find((x) => x.phase === m.failure!.phase);
    if (ph) ph.count++;
    else g.phases.push({ phase: m.failure.phase, count: 1 });
  }
  for (const g of failures.values()) g.phases.sort((a, b) => b.count - a.count || phaseIndex(a.phase ?? '') - phaseIndex(b.phase ?? ''));

  const stalls = new Map<Phase | null, StallGroup>();
  for (const m of machines) {
    if (m.outcome !== 'stalled') continue;
    let g = stalls.get(m.stalledIn);
    if (!g) stalls.set(m.stalledIn, (g = { phase: m.stalledIn, count: 0, machines: [] }));
    g.count++;
    g.machines.push({ mac: m.mac, name: m.name });
  }

  return {
    generatedAt: now,
    deployment: d && { id: d.id, name: d.name, window: d.window, cap: d.cap, group: d.group, state: d.state, createdAt: d.createdAt, startedAt: d.startedAt, stoppedAt: d.stoppedAt },
    totals: {
      machines: machines.length,
      byOutcome,
      started,
      successRate: started ? byOutcome.done / started : null,
      medianTotalMs: percentile(doneTotals, 50) ?? null,
      p90TotalMs: percentile(doneTotals, 90) ?? null,
      firstStart: starts.length ? Math.min(...starts) : null,
      lastFinish: finishes.length ? Math.max(...finishes) : null,
    },
    failures: [...failures.values()].sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)),
    stalls: [...stalls.values()].sort((a, b) => b.count - a.count || phaseIndex(a.phase ?? '') - phaseIndex(b.phase ?? '')),
    slowestPhases,
    machines,
  };
}

// ---------------------------------------------------------------------------------------------
// Output

export type ReportFormat = 'json' | 'csv' | 'html' | 'text';
export const REPORT_FORMATS: readonly ReportFormat[] = ['json', 'csv', 'html', 'text'];

export interface FormatOptions {
  /** IANA time zone for the times people read (HTML, text); default: this host's. CSV is UTC. */
  timeZone?: string | undefined;
}

export function formatReport(r: MorningReport, format: ReportFormat, opts: FormatOptions = {}): string {
  switch (format) {
    case 'json':
      return JSON.stringify(r, null, 2) + '\n';
    case 'csv':
      return reportCsv(r);
    case 'html':
      return reportHtml(r, opts);
    case 'text':
      return reportText(r, opts);
    default:
      throw new RangeError(`report format "${String(format)}" is not one of ${REPORT_FORMATS.join(', ')}`);
  }
}

/** '42 s', '12 min 05 s', '1 h 02 min'. */
export function humanDuration(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** 'YYYY-MM-DD HH:MM' in the time zone asked for. */
function humanTime(t: number | null, timeZone: string | undefined): string {
  if (t === null) return '–';
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(new Date(t));
  const v = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${v('year')}-${v('month')}-${v('day')} ${v('hour')}:${v('minute')}`;
}

const percent = (x: number | null) => (x === null ? '–' : `${(Math.round(x * 1000) / 10).toFixed(1)} %`);
const who = (m: { name: string | null; mac: string }) => m.name ?? m.mac;
const phaseName = (p: Phase | null) => (p ? PHASE_LABELS[p] : 'unknown phase');

function stateText(m: MachineReport): string {
  if (m.outcome === 'failed') return `failed in ${phaseName(m.failure?.phase ?? null)}`;
  if (m.outcome === 'stalled') return `stalled in ${phaseName(m.stalledIn)}`;
  if (m.outcome === 'inProgress') return `in progress: ${phaseName(m.phase)}`;
  return OUTCOME_LABELS[m.outcome];
}

// ---- CSV (RFC 4180)

/** A cell: quoted when it holds a comma, quote or line break; formulas (= + - @, tab, CR first) made text. */
export function csvCell(value: string | number | null): string {
  let s = value === null ? '' : String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

const seconds = (ms: number | null | undefined) => (ms == null ? null : Math.round(ms / 100) / 10);
const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export const REPORT_CSV_COLUMNS: readonly string[] = [
  'mac', 'name', 'profile', 'group', 'firmware', 'state', 'outcome', 'phase', 'attempts', 'started', 'finished', 'total_s',
  'failure_phase', 'failure_reason', 'stalled_in', ...TIMED_PHASES.map((p) => `${p}_s`),
];

function reportCsv(r: MorningReport): string {
  const rows = [REPORT_CSV_COLUMNS.map(csvCell).join(',')];
  for (const m of r.machines) {
    const cells: (string | number | null)[] = [
      m.mac, m.name, m.profile, m.group, m.firmware, m.state, OUTCOME_LABELS[m.outcome], m.phase, m.attempts, iso(m.startedAt), iso(m.finishedAt), seconds(m.totalMs),
      m.failure?.phase ?? null, m.failure?.reason ?? null, m.stalledIn,
      ...TIMED_PHASES.map((p) => seconds(m.phases.find((x) => x.phase === p)?.ms)),
    ];
    rows.push(cells.map(csvCell).join(','));
  }
  return rows.join('\r\n') + '\r\n';
}

// ---- HTML

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

// Colours pass WCAG AA against white; the state is always written too, never shown by colour alone.
const CSS = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a; background: #fff; margin: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 1.75rem 0 .5rem; border-bottom: 1px solid #ccc; padding-bottom: .2rem; }
p.sub { color: #444; margin: 0 0 1rem; }
dl.totals { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1.25rem; margin: 0; }
dl.totals dt { font-weight: 600; }
dl.totals dd { margin: 0; }
.counts { display: flex; flex-wrap: wrap; gap: .5rem; list-style: none; padding: 0; margin: 0 0 1rem; }
.counts li { border: 1px solid #bbb; border-radius: 4px; padding: .35rem .7rem; }
.counts strong { font-size: 1.3rem; display: block; }
.wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { text-align: left; vertical-align: top; padding: .3rem .5rem; border-bottom: 1px solid #ddd; }
thead th { border-bottom: 2px solid #888; background: #f3f3f3; }
td.num, th.num { text-align: right; white-space: nowrap; }
.reason { white-space: pre-line; }
code { font-family: ui-monospace, "Cascadia Mono", Consolas, monospace; font-size: .9em; }
.s-done { color: #1d6b2f; }
.s-failed { color: #b00020; font-weight: 600; }
.s-stalled { color: #8a4b00; font-weight: 600; }
.s-inProgress { color: #0b57a4; }
.s-notStarted { color: #555; }
a.skip { position: absolute; left: -999px; }
a.skip:focus { left: 1rem; top: 1rem; background: #fff; padding: .25rem .5rem; outline: 2px solid #0b57a4; }
@media print {
  body { margin: 0; font-size: 10pt; }
  a.skip { display: none; }
  .wrap { overflow: visible; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
  h2 { break-after: avoid; }
  thead th { background: none; }
}
@page { margin: 12mm; }
`;

function reportHtml(r: MorningReport, opts: FormatOptions): string {
  const e = escapeHtml;
  const tz = opts.timeZone;
  const t = r.totals;
  const d = r.deployment;
  const title = `Morning report${d ? `: ${d.name}` : ''}, ${humanTime(r.generatedAt, tz)}`;
  const whoCell = (m: { name: string | null; mac: string }) => (m.name ? `${e(m.name)} <code>${e(m.mac)}</code>` : `<code>${e(m.mac)}</code>`);
  const out: string[] = [];
  out.push('<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">', '<meta name="viewport" content="width=device-width, initial-scale=1">');
  out.push(`<title>${e(title)}</title>`, `<style>${CSS}</style>`, '</head>', '<body>');
  out.push('<a class="skip" href="#machines">Skip to the machines</a>');
  out.push('<div role="banner">', `<h1>Morning report${d ? `: ${e(d.name)}` : ''}</h1>`);
  const sub = [`Generated ${e(humanTime(r.generatedAt, tz))}${tz ? ` (${e(tz)})` : ''}`];
  if (d) {
    sub.push(`deployment ${e(d.state)}`);
    if (d.window) sub.push(`window ${e(d.window)}`);
    if (d.cap !== null) sub.push(`at most ${d.cap} at once`);
    if (d.group !== null) sub.push(`group ${e(d.group)}`);
  }
  out.push(`<p class="sub">${sub.join(' · ')}</p>`, '</div>');
  out.push('<div role="main">');

  // Totals
  out.push('<div role="region" aria-labelledby="totals"><h2 id="totals">Totals</h2>');
  out.push('<ul class="counts">');
  out.push(`<li>Machines <strong>${t.machines}</strong></li>`);
  for (const o of ['done', 'failed', 'stalled', 'inProgress', 'notStarted'] as const) out.push(`<li class="s-${o}">${e(OUTCOME_LABELS[o])} <strong>${t.byOutcome[o]}</strong></li>`);
  out.push('</ul>', '<dl class="totals">');
  out.push(`<dt>Success rate</dt><dd>${e(percent(t.successRate))}${t.started ? ` (${t.byOutcome.done} done of ${t.started} started)` : ' (none started)'}</dd>`);
  out.push(`<dt>Install time</dt><dd>${t.medianTotalMs === null ? '–' : `median ${e(humanDuration(t.medianTotalMs))}, 90th percentile ${e(humanDuration(t.p90TotalMs))}`}</dd>`);
  out.push(`<dt>First start</dt><dd>${e(humanTime(t.firstStart, tz))}</dd>`);
  out.push(`<dt>Last finish</dt><dd>${e(humanTime(t.lastFinish, tz))}</dd>`);
  out.push('</dl></div>');

  // Failures and stalls
  out.push('<div role="region" aria-labelledby="failures"><h2 id="failures">Failures</h2>');
  if (!r.failures.length) out.push('<p>No machine failed.</p>');
  else {
    out.push('<div class="wrap"><table>', '<caption>Failed machines by reason</caption>');
    out.push('<thead><tr><th scope="col">Reason</th><th scope="col" class="num">Machines</th><th scope="col">Phase</th><th scope="col">Which</th></tr></thead><tbody>');
    for (const g of r.failures) {
      out.push(`<tr><th scope="row" class="reason">${e(g.reason)}</th><td class="num">${g.count}</td><td>${g.phases.map((p) => `${e(phaseName(p.phase))} (${p.count})`).join(', ')}</td><td>${g.machines.map(whoCell).join(', ')}</td></tr>`);
    }
    out.push('</tbody></table></div>');
  }
  if (r.stalls.length) {
    out.push('<div class="wrap"><table>', '<caption>Stalled machines by phase</caption>');
    out.push('<thead><tr><th scope="col">Stalled in</th><th scope="col" class="num">Machines</th><th scope="col">Which</th></tr></thead><tbody>');
    for (const g of r.stalls) out.push(`<tr><th scope="row">${e(phaseName(g.phase))}</th><td class="num">${g.count}</td><td>${g.machines.map(whoCell).join(', ')}</td></tr>`);
    out.push('</tbody></table></div>');
  }
  out.push('</div>');

  // Slowest phases
  out.push('<div role="region" aria-labelledby="phases"><h2 id="phases">Slowest phases</h2>');
  if (!r.slowestPhases.length) out.push('<p>No machine completed a phase.</p>');
  else {
    out.push('<div class="wrap"><table>', '<caption>Time in each phase, slowest first (completed phases of each machine\'s last attempt)</caption>');
    out.push('<thead><tr><th scope="col">Phase</th><th scope="col" class="num">Machines</th><th scope="col" class="num">Median</th><th scope="col" class="num">90th percentile</th><th scope="col" class="num">Longest</th><th scope="col">Slowest machines</th></tr></thead><tbody>');
    for (const p of r.slowestPhases) {
      out.push(
        `<tr><th scope="row">${e(p.label)}</th><td class="num">${p.machines}</td><td class="num">${e(humanDuration(p.medianMs))}</td><td class="num">${e(humanDuration(p.p90Ms))}</td><td class="num">${e(humanDuration(p.maxMs))}</td><td>${p.slowest.map((s) => `${whoCell(s)} ${e(humanDuration(s.ms))}`).join(', ')}</td></tr>`,
      );
    }
    out.push('</tbody></table></div>');
  }
  out.push('</div>');

  // Machines
  out.push('<div role="region" aria-labelledby="machines"><h2 id="machines">Machines</h2>');
  if (!r.machines.length) out.push('<p>No machines in this report.</p>');
  else {
    out.push('<div class="wrap"><table>', `<caption>${r.machines.length} machine${r.machines.length === 1 ? '' : 's'}, problems first</caption>`);
    out.push('<thead><tr><th scope="col">Name</th><th scope="col">MAC</th><th scope="col">Profile</th><th scope="col">Firmware</th><th scope="col">State</th><th scope="col" class="num">Total</th><th scope="col" class="num">Attempts</th><th scope="col">Phases</th><th scope="col">Failure</th></tr></thead><tbody>');
    for (const m of r.machines) {
      const phases = m.phases.map((p) => `${e(PHASE_LABELS[p.phase])} ${p.ms === null ? `(now, ${e(humanDuration(m.inPhaseMs))})` : e(humanDuration(p.ms))}`).join('; ');
      out.push(
        `<tr><th scope="row">${e(m.name ?? '–')}</th><td><code>${e(m.mac)}</code></td><td>${e(m.profile ?? '–')}</td><td>${e(m.firmware ?? '–')}</td><td class="s-${m.outcome}">${e(stateText(m))}</td><td class="num">${e(humanDuration(m.totalMs))}</td><td class="num">${m.attempts}</td><td>${phases || '–'}</td><td class="reason">${m.failure ? e(m.failure.reason) : '–'}</td></tr>`,
      );
    }
    out.push('</tbody></table></div>');
  }
  out.push('</div>', '</div>', '</body>', '</html>');
  return out.join('\n') + '\n';
}

// ---- Text

function columns(rows: string[][], right: ReadonlySet<number> = new Set()): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  return rows.map((row) =>
    row
      .map((c, i) => (i === row.length - 1 ? c : right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** One line per value, whatever it holds: reasons come from machines and may hold line breaks. */
const oneLine = (s: string) => s.replace(/[\r\n\t]+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, '');

function reportText(r: MorningReport, opts: FormatOptions): string {
  const tz = opts.timeZone;
  const t = r.totals;
  const d = r.deployment;
  const out: string[] = [];
  out.push(`Morning report${d ? `: ${oneLine(d.name)} (${d.state}${d.window ? `, window ${d.window}` : ''})` : ''}, ${humanTime(r.generatedAt, tz)}`, '');
  const counts = (['done', 'failed', 'stalled', 'inProgress', 'notStarted'] as const).filter((o) => t.byOutcome[o]).map((o) => `${t.byOutcome[o]} ${OUTCOME_LABELS[o]}`);
  out.push(
    ...columns([
      ['Machines', `${t.machines}${counts.length ? `: ${counts.join(', ')}` : ''}`],
      ['Success', t.started ? `${percent(t.successRate)} (${t.byOutcome.done} done of ${t.started} started)` : 'none started'],
      ['Install time', t.medianTotalMs === null ? '–' : `median ${humanDuration(t.medianTotalMs)}, p90 ${humanDuration(t.p90TotalMs)}`],
      ['First start', humanTime(t.firstStart, tz)],
      ['Last finish', humanTime(t.lastFinish, tz)],
    ]),
  );
  const names = (ms: { name: string | null; mac: string }[]) => ms.map((m) => oneLine(who(m))).join(', ');
  if (r.failures.length) {
    out.push('', 'Failures');
    out.push(...columns(r.failures.map((g) => [`  ${g.count}`, oneLine(g.reason), g.phases.map((p) => phaseName(p.phase)).join(', '), names(g.machines)]), new Set([0])));
  }
  if (r.stalls.length) {
    out.push('', 'Stalled');
    out.push(...columns(r.stalls.map((g) => [`  ${g.count}`, phaseName(g.phase), names(g.machines)]), new Set([0])));
  }
  if (r.slowestPhases.length) {
    out.push('', 'Slowest phases');
    out.push(
      ...columns(
        [['  Phase', 'n', 'median', 'p90', 'max', 'slowest'], ...r.slowestPhases.map((p) => [`  ${p.label}`, String(p.machines), humanDuration(p.medianMs), humanDuration(p.p90Ms), humanDuration(p.maxMs), p.slowest.slice(0, 3).map((s) => oneLine(who(s))).join(', ')])],
        new Set([1, 2, 3, 4]),
      ),
    );
  }
  // A terminal lists the machines that need a look; the done ones are counted (CSV and HTML list all).
  const open = r.machines.filter((m) => m.outcome !== 'done');
  out.push('', open.length ? 'Machines not done' : 'Machines');
  if (!r.machines.length) out.push('  none');
  else if (open.length) {
    out.push(
      ...columns(
        [
          ['  Name', 'MAC', 'Profile', 'State', 'Time', 'Tries', 'Reason'],
          ...open.map((m) => [`  ${oneLine(m.name ?? '–')}`, m.mac, oneLine(m.profile ?? '–'), stateText(m), humanDuration(m.totalMs), String(m.attempts), m.failure ? oneLine(m.failure.reason) : '']),
        ],
        new Set([4, 5]),
      ),
    );
  }
  if (t.byOutcome.done) out.push(`  ${open.length ? 'and ' : ''}${t.byOutcome.done} done${t.byOutcome.done === t.machines ? ': all of them' : ''} (the CSV and HTML forms list every machine)`);
  return out.join('\n') + '\n';
}
