// The fleet's vocabulary: the phases a machine goes through, what a machine's record looks like to
// the dashboard and the API, and a deployment (one night's run). Shared by the server (src/fleet,
// the API) and the dashboard (web/), which imports these types only.

/**
 * The phases of one install, in order. `discovered` is its first DHCP exchange; `loader` iPXE
 * fetching its boot script; `winpe` … `applied` come from Windows PE; `specialize` … `done` from
 * the installed system's answer-file commands.
 */
export const PHASE_ORDER = ['discovered', 'loader', 'winpe', 'share', 'setup', 'applied', 'specialize', 'oobe', 'firstlogon', 'apps', 'done'] as const;
export type Phase = (typeof PHASE_ORDER)[number];

/** A machine's state: a phase, or one of the states beside the order. */
export type MachineState = Phase | 'failed' | 'stalled' | 'idle';

export const PHASE_LABELS: Readonly<Record<Phase, string>> = {
  discovered: 'Discovered',
  loader: 'Boot loader',
  winpe: 'Windows PE',
  share: 'Share connected',
  setup: 'Setup',
  applied: 'Image applied',
  specialize: 'Specialize',
  oobe: 'OOBE',
  firstlogon: 'First logon',
  apps: 'Applications',
  done: 'Done',
};

/**
 * Rough share of a Windows 7 install's wall time each phase ends at, for the progress bar (from
 * real installs on 2010s desktops over 1 GbE: applying the image is most of it).
 */
export const PHASE_PROGRESS: Readonly<Record<Phase, number>> = {
  discovered: 1,
  loader: 3,
  winpe: 8,
  share: 10,
  setup: 12,
  applied: 55,
  specialize: 65,
  oobe: 75,
  firstlogon: 82,
  apps: 88,
  done: 100,
};

/** Phases after which the disk holds the new Windows: a network boot then boots from the disk. */
export const INSTALLED_PHASES: ReadonlySet<Phase> = new Set(['applied', 'specialize', 'oobe', 'firstlogon', 'apps', 'done']);

export function phaseIndex(p: string): number {
  return (PHASE_ORDER as readonly string[]).indexOf(p);
}

export function isPhase(p: string): p is Phase {
  return phaseIndex(p) >= 0;
}

/** One machine as the API and the dashboard see it. Times are epoch milliseconds. */
export interface MachineView {
  mac: string;
  name: string | null;
  profile: string | null;
  media: string | null;
  group: string | null;
  firmware: string | null;
  known: boolean;
  approval: 'pending' | 'approved' | 'denied' | null;
  /** Where it stands now. */
  state: MachineState;
  /** The last phase of the order it reached in this attempt (null before any). */
  phase: Phase | null;
  /** When it entered `phase`. */
  phaseSince: number | null;
  /** 0-100, from PHASE_PROGRESS. */
  progress: number;
  /** When this attempt began (its first DHCP or loader event), and when it ended (done/failed). */
  startedAt: number | null;
  finishedAt: number | null;
  /** Why it failed, and in which phase. */
  failure: { phase: Phase | null; reason: string } | null;
  /** Which phase it has been in too long (state 'stalled'). */
  stalledIn: Phase | null;
  /** Milliseconds spent in each phase this attempt (a phase is timed until the next one starts). */
  durations: Partial<Record<Phase, number>>;
  /** Installs started on this machine (1 for the first). */
  attempt: number;
  /** Marked to install again at its next network boot. */
  redeploy: boolean;
  /** Holds one of the deployment's install slots now. */
  installing: boolean;
  lastSeen: number;
  /** Address its last HTTP request came from. */
  address: string | null;
}

export interface EventView {
  id: number;
  time: number;
  mac: string;
  /** A phase, 'failed', 'stalled', 'note', 'wake', 'admin'. */
  phase: string;
  /** 'dhcp', 'http', 'smb', 'report', 'fleet', 'admin', 'schedule'. */
  source: string;
  detail: string | null;
}

export interface DeploymentView {
  id: number;
  name: string;
  /** 'HH:MM-HH:MM' in the server's local time, may cross midnight; null: any time. */
  window: string | null;
  /** At most this many machines install at once; null: no cap. */
  cap: number | null;
  /** MACs in this deployment; empty with group null: every machine. */
  machines: string[];
  group: string | null;
  /** Send Wake-on-LAN to machines that have not started, paced by the cap. */
  wake: boolean;
  state: 'planned' | 'running' | 'stopped' | 'finished';
  createdAt: number;
  startedAt: number | null;
  stoppedAt: number | null;
  /** Now inside the window (always true without one). */
  inWindow: boolean;
  /** Machines holding an install slot now. */
  installing: number;
}

/** What the dashboard's stream (GET /api/stream, server-sent events) sends, by event name. */
export interface StreamMessages {
  /** First message: everything, so that a (re)connected page starts whole. */
  snapshot: { machines: MachineView[]; deployment: DeploymentView | null; seq: number };
  /** A machine changed. */
  machine: MachineView;
  /** An event was appended. */
  event: EventView;
  deployment: DeploymentView | null;
}
