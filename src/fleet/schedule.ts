// The overnight schedule: a deployment installs its machines inside a time window, at most `cap`
// at once. Outside the window, above the cap, or for a machine not in it, a PXE client is told to
// boot its local disk: the PC keeps working as it did, and nothing is wiped by surprise.
// Pure: the fleet asks `admit` with the clock and the counts it keeps.

/** Minutes after local midnight. */
export interface TimeWindow {
  start: number;
  end: number;
  text: string;
}

export class ScheduleError extends Error {
  readonly code = 'E_SCHEDULE';
}

const HHMM = /^([01]?\d|2[0-3]):([0-5]\d)$/;

/** '22:00-05:00' (may cross midnight). Equal ends mean the whole day. */
export function parseWindow(text: string): TimeWindow {
  const parts = text.trim().split(/\s*-\s*/);
  const a = parts.length === 2 ? HHMM.exec(parts[0]!) : null;
  const b = parts.length === 2 ? HHMM.exec(parts[1]!) : null;
  if (!a || !b) throw new ScheduleError(`window "${text}" is not HH:MM-HH:MM (e.g. 22:00-05:00)`);
  const start = Number(a[1]) * 60 + Number(a[2]);
  const end = Number(b[1]) * 60 + Number(b[2]);
  return { start, end, text: `${fmt(start)}-${fmt(end)}` };
}

const fmt = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

/** Whether `time` (epoch ms) falls inside the window, in the server's local time. */
export function inWindow(w: TimeWindow | null, time: number): boolean {
  if (!w || w.start === w.end) return true;
  const d = new Date(time);
  const m = d.getHours() * 60 + d.getMinutes();
  return w.start < w.end ? m >= w.start && m < w.end : m >= w.start || m < w.end;
}

/** When the window next opens after `time` (epoch ms), or `time` itself when inside it. */
export function nextOpening(w: TimeWindow | null, time: number): number {
  if (inWindow(w, time)) return time;
  const d = new Date(time);
  d.setSeconds(0, 0);
  d.setHours(Math.floor(w!.start / 60), w!.start % 60);
  if (d.getTime() <= time) d.setDate(d.getDate() + 1);
  return d.getTime();
}

export interface ScheduleDeployment {
  name: string;
  window: TimeWindow | null;
  cap: number | null;
  state: 'planned' | 'running' | 'stopped' | 'finished';
}

export type Admission = { ok: true } | { ok: false; reason: string };

/**
 * May this machine start installing now? `installing` counts the machines holding a slot;
 * `holdsSlot` says this one already holds one (its loader asked again: it keeps it).
 */
export function admit(d: ScheduleDeployment | null, o: { member: boolean; holdsSlot: boolean; installing: number; time: number }): Admission {
  // Without a deployment every machine installs when it boots (the admin runs serve for that).
  if (!d) return { ok: true };
  if (o.holdsSlot) return { ok: true };
  if (!o.member) return { ok: false, reason: `it is not in deployment "${d.name}"` };
  if (d.state !== 'running') return { ok: false, reason: `deployment "${d.name}" is ${d.state}` };
  if (!inWindow(d.window, o.time)) return { ok: false, reason: `outside deployment "${d.name}"'s window ${d.window!.text}` };
  if (d.cap !== null && o.installing >= d.cap) return { ok: false, reason: `deployment "${d.name}" already installs ${o.installing} machines (cap ${d.cap})` };
  return { ok: true };
}
