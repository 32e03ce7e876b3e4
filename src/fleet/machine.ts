// One machine's install as a state machine, driven only by what happened: the servers' events
// (DHCP, the loader fetching its script) and the machine's own reports, plus the clock (per-phase
// timeouts) and the administrator's actions. Pure: the caller persists what `step` returns.
//
// Reports arrive over two channels (files in the report share from Windows PE, HTTP from the
// installed system) and can cross: an event for a phase the machine has already passed is kept in
// the log but moves nothing. A network boot in the middle of Windows PE means the machine was
// reset: that attempt is over and a new one starts. A network boot after the image was applied is
// the installed system's reboot or a PC with network boot first: it never restarts the install,
// unless the administrator asked for a redeploy.
import { INSTALLED_PHASES, type MachineView, PHASE_PROGRESS, type Phase, phaseIndex } from './model.ts';

/** A machine's install: the part of its view that the state machine moves. */
export type MachineStatus = Pick<MachineView, 'state' | 'phase' | 'phaseSince' | 'startedAt' | 'finishedAt' | 'failure' | 'stalledIn' | 'durations' | 'attempt' | 'redeploy'>;

export const IDLE: MachineStatus = Object.freeze({
  state: 'idle',
  phase: null,
  phaseSince: null,
  startedAt: null,
  finishedAt: null,
  failure: null,
  stalledIn: null,
  durations: {},
  attempt: 0,
  redeploy: false,
}) as MachineStatus;

export type FleetInput =
  | { readonly kind: 'phase'; readonly phase: Phase; readonly time: number }
  | { readonly kind: 'failed'; readonly time: number; readonly reason: string }
  | { readonly kind: 'tick'; readonly time: number }
  | { readonly kind: 'redeploy'; readonly time: number }
  | { readonly kind: 'mark-done'; readonly time: number }
  /** It network-booted but was sent to its local disk (window, cap): the attempt did not begin. */
  | { readonly kind: 'deferred'; readonly time: number };

/** What a step did, for the log and the caller. */
export type StepOutcome =
  | 'advanced'
  | 'started'
  | 'restarted'
  | 'failed'
  | 'stalled'
  | 'done-by-hand'
  | 'redeploy-marked'
  | 'deferred'
  /** Nothing changed: a repeat, a report that crossed a later one, or an installed machine booting. */
  | 'ignored';

export interface Step {
  status: MachineStatus;
  outcome: StepOutcome;
  /** Why, in words, when it is not plain (what the log's note says). */
  note?: string;
}

/**
 * How long a machine may stay in each phase before it is marked stalled (ms). Generous: a stall
 * is a question for the administrator, not a failure.
 */
export type PhaseTimeouts = Readonly<Record<Exclude<Phase, 'done'>, number>>;

const MIN = 60_000;
export const DEFAULT_TIMEOUTS: PhaseTimeouts = {
  // iPXE asks for its script seconds after DHCP: ten minutes means it never got there.
  discovered: 10 * MIN,
  // wimboot pulls boot.wim (~200 MB): slow when a hundred machines pull at once.
  loader: 20 * MIN,
  winpe: 15 * MIN,
  share: 10 * MIN,
  // Applying install.wim: 8-15 minutes on one machine, longer with the share busy.
  setup: 90 * MIN,
  // The reboot into the new system and its first boot.
  applied: 30 * MIN,
  specialize: 45 * MIN,
  oobe: 45 * MIN,
  firstlogon: 30 * MIN,
  apps: 180 * MIN,
};

/** Whether the machine is in an attempt that has not ended (counting a stalled one). */
export function inProgress(s: MachineStatus): boolean {
  return s.phase !== null && s.state !== 'done' && s.state !== 'failed' && s.state !== 'idle';
}

/** Whether it holds one of the deployment's install slots: from its loader until done or failed. */
export function holdsSlot(s: MachineStatus): boolean {
  return inProgress(s) && phaseIndex(s.phase!) >= phaseIndex('loader');
}

/** Whether its disk holds the new Windows (or a failure came after that point). */
export function installedOnDisk(s: MachineStatus): boolean {
  if (s.state === 'done') return true;
  const p = s.state === 'failed' ? s.failure?.phase : s.phase;
  return p != null && INSTALLED_PHASES.has(p);
}

export function progressOf(s: MachineStatus): number {
  if (!s.phase) return 0;
  return PHASE_PROGRESS[s.phase];
}

function closePhase(s: MachineStatus, time: number): Partial<Record<Phase, number>> {
  if (!s.phase || s.phaseSince === null) return s.durations;
  return { ...s.durations, [s.phase]: (s.durations[s.phase] ?? 0) + Math.max(0, time - s.phaseSince) };
}

function begin(s: MachineStatus, phase: Phase, time: number): MachineStatus {
  return { state: phase, phase, phaseSince: time, startedAt: time, finishedAt: null, failure: null, stalledIn: null, durations: {}, attempt: s.attempt + 1, redeploy: false };
}

export function step(s: MachineStatus, input: FleetInput, timeouts: PhaseTimeouts = DEFAULT_TIMEOUTS): Step {
  const t = input.time;
  switch (input.kind) {
    case 'phase': {
      const p = input.phase;
      const booting = p === 'discovered' || p === 'loader';
      if (s.state === 'idle' || s.phase === null) {
        return { status: begin(s, p, t), outcome: 'started' };
      }
      if (booting) {
        if (s.state === 'done' || s.state === 'failed') {
          if (s.redeploy) return { status: begin(s, p, t), outcome: 'started', note: 'marked for redeploy: installing again' };
          if (installedOnDisk(s)) return { status: s, outcome: 'ignored', note: `network boot after ${s.state === 'done' ? 'done' : `failing in ${s.failure?.phase}`}: its disk holds Windows` };
          return { status: begin(s, p, t), outcome: 'started', note: `installing again after failing in ${s.failure?.phase ?? 'an unknown phase'}` };
        }
        const cur = phaseIndex(s.phase);
        if (cur <= phaseIndex('loader')) {
          // Still booting: DHCP then the loader, or a repeat of either.
          if (phaseIndex(p) > cur) return advance(s, p, t);
          return { status: s, outcome: 'ignored' };
        }
        if (s.redeploy) return { status: begin(s, p, t), outcome: 'started', note: 'marked for redeploy: installing again' };
        if (INSTALLED_PHASES.has(s.phase)) return { status: s, outcome: 'ignored', note: `network boot in phase ${s.phase}: its disk holds Windows` };
        // Reset in the middle of Windows PE or Setup: that attempt is over.
        const next = begin(s, p, t);
        return { status: next, outcome: 'restarted', note: `network-booted again in phase ${s.phase}: the machine was reset; attempt ${next.attempt} starts` };
      }
      if (s.state === 'done' || s.state === 'failed') return { status: s, outcome: 'ignored', note: `${p} reported after ${s.state}` };
      if (phaseIndex(p) <= phaseIndex(s.phase)) return { status: s, outcome: 'ignored', note: phaseIndex(p) < phaseIndex(s.phase) ? `${p} arrived after ${s.phase}` : undefined };
      return advance(s, p, t);
    }
    case 'failed': {
      if (s.state === 'done') return { status: s, outcome: 'ignored', note: 'failure reported after done' };
      if (s.state === 'failed') return { status: s, outcome: 'ignored', note: 'failure reported twice' };
      const durations = closePhase(s, t);
      return {
        status: { ...s, state: 'failed', durations, phaseSince: t, finishedAt: t, failure: { phase: s.phase, reason: input.reason }, stalledIn: null, startedAt: s.startedAt ?? t, attempt: Math.max(1, s.attempt) },
        outcome: 'failed',
      };
    }
    case 'tick': {
      if (!inProgress(s) || s.state === 'stalled' || s.phase === 'done' || s.phaseSince === null) return { status: s, outcome: 'ignored' };
      const limit = timeouts[s.phase as Exclude<Phase, 'done'>];
      if (t - s.phaseSince <= limit) return { status: s, outcome: 'ignored' };
      return { status: { ...s, state: 'stalled', stalledIn: s.phase }, outcome: 'stalled', note: `no progress in ${s.phase} for ${Math.round((t - s.phaseSince) / MIN)} min (limit ${Math.round(limit / MIN)} min)` };
    }
    case 'deferred': {
      if (s.phase !== 'discovered' || (s.state !== 'discovered' && s.state !== 'stalled')) return { status: s, outcome: 'ignored' };
      return { status: { ...IDLE, attempt: Math.max(0, s.attempt - 1), redeploy: s.redeploy }, outcome: 'deferred' };
    }
    case 'redeploy':
      return { status: { ...s, redeploy: true }, outcome: 'redeploy-marked' };
    case 'mark-done': {
      if (s.state === 'done') return { status: s, outcome: 'ignored' };
      const durations = s.state === 'failed' ? s.durations : closePhase(s, t);
      return {
        status: { ...s, state: 'done', phase: 'done', phaseSince: t, finishedAt: t, failure: null, stalledIn: null, durations, startedAt: s.startedAt ?? t, attempt: Math.max(1, s.attempt) },
        outcome: 'done-by-hand',
      };
    }
  }
}

function advance(s: MachineStatus, p: Phase, t: number): Step {
  const durations = closePhase(s, t);
  return {
    status: { ...s, state: p, phase: p, phaseSince: t, durations, stalledIn: null, finishedAt: p === 'done' ? t : null },
    outcome: 'advanced',
    note: s.state === 'stalled' ? `moving again after stalling in ${s.stalledIn}` : undefined,
  };
}
