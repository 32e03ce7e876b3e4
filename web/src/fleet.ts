// What the dashboard derives from a MachineView: its category (the summary's counts and the state
// filter), its label, its reason, and times. The fleet model is imported as types only, so the
// bundle carries no server code; the tables below are checked against it by the compiler.
import type { MachineView, Phase } from '../../src/fleet/model.ts';

export type { DeploymentView, EventView, MachineState, MachineView, Phase, StreamMessages } from '../../src/fleet/model.ts';

/** Every phase with its label, in order (Record<Phase, …> makes the compiler flag a phase added to the model). */
const PHASE_TABLE: Readonly<Record<Phase, { i: number; label: string; progress: number }>> = {
  discovered: { i: 0, label: 'Discovered', progress: 1 },
  loader: { i: 1, label: 'Boot loader', progress: 3 },
  winpe: { i: 2, label: 'Windows PE', progress: 8 },
  share: { i: 3, label: 'Share connected', progress: 10 },
  setup: { i: 4, label: 'Setup', progress: 12 },
  applied: { i: 5, label: 'Image applied', progress: 55 },
  specialize: { i: 6, label: 'Specialize', progress: 65 },
  oobe: { i: 7, label: 'OOBE', progress: 75 },
  firstlogon: { i: 8, label: 'First logon', progress: 82 },
  apps: { i: 9, label: 'Applications', progress: 88 },
  done: { i: 10, label: 'Done', progress: 100 },
};

export const PHASES: readonly Phase[] = (Object.keys(PHASE_TABLE) as Phase[]).sort((a, b) => PHASE_TABLE[a].i - PHASE_TABLE[b].i);

export function isPhase(p: string | null | undefined): p is Phase {
  return p != null && Object.hasOwn(PHASE_TABLE, p);
}

export function phaseLabel(p: string | null | undefined): string {
  return isPhase(p) ? PHASE_TABLE[p].label : (p ?? '');
}

export function phaseIndex(p: string | null | undefined): number {
  return isPhase(p) ? PHASE_TABLE[p].i : -1;
}

/** Where each phase ends on the progress bar, for the tick marks. */
export const PHASE_ENDS: readonly number[] = PHASES.map((p) => PHASE_TABLE[p].progress);

/** The summary's groups and the state filter's values. */
export const CATEGORIES = ['installing', 'failed', 'stalled', 'done', 'waiting', 'approval'] as const;
export type Category = (typeof CATEGORIES)[number];

export const CATEGORY_LABELS: Readonly<Record<Category, string>> = {
  installing: 'Installing',
  failed: 'Failed',
  stalled: 'Stalled',
  done: 'Done',
  waiting: 'Waiting',
  approval: 'Pending approval',
};

export function category(m: MachineView): Category {
  if (m.state === 'failed') return 'failed';
  if (m.state === 'stalled') return 'stalled';
  if (m.state === 'done') return 'done';
  if (m.approval === 'pending') return 'approval';
  if (m.state === 'idle' || m.approval === 'denied') return 'waiting';
  // 'discovered' alone is a DHCP exchange: it installs once it holds a slot or fetches its loader.
  if (m.installing || phaseIndex(m.state) >= 1) return 'installing';
  return 'waiting';
}

/** The state column: what it is doing, in the words of Setup. */
export function stateLabel(m: MachineView): string {
  switch (m.state) {
    case 'failed':
      return m.failure?.phase ? `Failed in ${phaseLabel(m.failure.phase)}` : 'Failed';
    case 'stalled':
      return `Stalled in ${phaseLabel(m.stalledIn ?? m.phase)}`;
    case 'idle':
      if (m.approval === 'pending') return 'Awaiting approval';
      if (m.approval === 'denied') return 'Denied';
      return m.redeploy ? 'Redeploy at next boot' : 'Waiting';
    default:
      if (m.approval === 'pending') return 'Awaiting approval';
      if (m.approval === 'denied') return 'Denied';
      return phaseLabel(m.state);
  }
}

/** The note column: why it failed or stopped, or what is pending. */
export function noteText(m: MachineView): string {
  if (m.state === 'failed') return m.failure?.reason ?? 'no reason reported';
  if (m.state === 'stalled') return `no progress in ${phaseLabel(m.stalledIn ?? m.phase)} for longer than expected`;
  const parts: string[] = [];
  if (m.approval === 'pending') parts.push('unknown machine: approve or deny it');
  if (m.approval === 'denied') parts.push('denied: never installs');
  if (m.redeploy && m.state !== 'idle') parts.push('reinstalls at its next network boot');
  return parts.join(' · ');
}

/** Whether the row's clocks tick: it is in an attempt that has not ended. */
export function isRunning(m: MachineView): boolean {
  return m.startedAt != null && m.finishedAt == null && m.state !== 'done' && m.state !== 'failed' && m.state !== 'idle';
}

/** Milliseconds in the current phase at `now` (frozen when the attempt ended). */
export function phaseElapsed(m: MachineView, now: number): number | null {
  if (m.phaseSince == null || m.state === 'idle' || m.state === 'done') return null;
  return Math.max(0, (m.finishedAt ?? now) - m.phaseSince);
}

/** Milliseconds in this attempt at `now` (frozen when it ended). */
export function attemptElapsed(m: MachineView, now: number): number | null {
  if (m.startedAt == null || m.state === 'idle') return null;
  return Math.max(0, (m.finishedAt ?? now) - m.startedAt);
}

/** 0:42, 12:05, 1:02:09: fixed shapes so that tabular numerals do not move. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return '—';
  const s = Math.floor(Math.max(0, ms) / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  if (h >= 100) return `${Math.floor(h / 24)}d ${h % 24}h`;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

export function formatTime(t: number | null | undefined): string {
  return t == null ? '—' : timeFmt.format(t);
}

/** A time with its date when it is not today. */
export function formatWhen(t: number | null | undefined): string {
  if (t == null) return '—';
  const d = new Date(t);
  const today = new Date();
  return d.toDateString() === today.toDateString() ? timeFmt.format(d) : dateTimeFmt.format(d);
}

export function firmwareLabel(f: string | null): string {
  if (!f) return '—';
  const l = f.toLowerCase();
  if (l === 'bios' || l === 'pcbios') return 'BIOS';
  // 'efi-x64' is the usual UEFI; the rarer ones keep their architecture.
  if (l === 'efi-x64' || l === 'efi' || l === 'uefi') return 'UEFI';
  if (l.startsWith('efi-')) return `UEFI ${l.slice(4)}`;
  return f;
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
export const compareText = (a: string, b: string): number => collator.compare(a, b);

export function displayName(m: MachineView): string {
  return m.name ?? m.mac;
}
