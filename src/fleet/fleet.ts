// The fleet: every machine's install (the state machine in machine.ts) kept in the store, the
// night's deployment (window, cap, Wake-on-LAN), and a stream of changes for the dashboard.
//
// The store is the truth: each change reads the machine's row and writes its new status and events
// in one transaction, so that another overnight process (`overnight machines redeploy`) and a
// restart after kill -9 see exactly what was recorded. The in-memory views serve the API, the
// stream and the cap count; they are reloaded when another process writes.
import { FLEET, type FleetStore, type MachineRecord, type NewEvent, type DeploymentRecord, type EventRecord, type IdentityFields } from '../store/store.ts';
import { DEFAULT_TIMEOUTS, type FleetInput, holdsSlot, installedOnDisk, type PhaseTimeouts, progressOf, step } from './machine.ts';
import type { DeploymentView, EventView, MachineView, Phase } from './model.ts';
import { type Admission, admit, inWindow, parseWindow } from './schedule.ts';

export type FleetChange = { type: 'machine'; machine: MachineView } | { type: 'event'; event: EventView } | { type: 'deployment'; deployment: DeploymentView | null };

export interface FleetOptions {
  store: FleetStore;
  timeouts?: Partial<PhaseTimeouts> | undefined;
  /** Sends Wake-on-LAN packets; without it the deployment cannot wake machines. */
  wake?: ((macs: string[]) => Promise<void>) | undefined;
  /** How long a woken machine has to appear (its first DHCP) before it is woken again. */
  wakeTimeoutMs?: number | undefined;
  /** Wake-on-LAN packets sent to a machine that does not appear before it is given up. */
  wakeTries?: number | undefined;
  /** At most this many machines are woken per tick: power-on surges trip breakers. */
  wakePerTick?: number | undefined;
  /** The clock tick (timeouts, wake pacing, changes by other processes); 0: no timer (call tick()). */
  tickMs?: number | undefined;
  now?: (() => number) | undefined;
}

export interface BootDecision {
  install: boolean;
  /** Why it boots its local disk instead. */
  reason?: string;
}

export const toEventView = (e: EventRecord): EventView => ({ id: e.id, time: e.time.getTime(), mac: e.mac, phase: e.phase, source: e.source, detail: e.detail ?? null });

export function machineView(m: MachineRecord): MachineView {
  const s = m.status;
  return {
    mac: m.mac,
    name: m.name ?? null,
    profile: m.profile ?? null,
    media: m.media ?? null,
    group: m.group ?? null,
    firmware: m.firmware ?? null,
    known: m.known,
    approval: m.approval ?? null,
    state: s.state,
    phase: s.phase,
    phaseSince: s.phaseSince,
    progress: s.state === 'failed' ? progressOf({ ...s, phase: s.failure?.phase ?? null }) : progressOf(s),
    startedAt: s.startedAt,
    finishedAt: s.finishedAt,
    failure: s.failure,
    stalledIn: s.stalledIn,
    durations: s.durations,
    attempt: s.attempt,
    redeploy: s.redeploy,
    installing: holdsSlot(s),
    lastSeen: m.lastSeen.getTime(),
    address: m.address ?? null,
  };
}

/** Event-processing times kept for the API and the benchmark (a ring of the last ones). */
class Timings {
  readonly #ring = new Float64Array(10_000);
  #n = 0;
  add(ms: number): void {
    this.#ring[this.#n++ % this.#ring.length] = ms;
  }
  summary(): { count: number; p50: number; p99: number; max: number } {
    const k = Math.min(this.#n, this.#ring.length);
    const xs = Array.from(this.#ring.subarray(0, k)).sort((a, b) => a - b);
    const q = (p: number) => (k ? xs[Math.min(k - 1, Math.floor(p * k))]! : 0);
    return { count: this.#n, p50: q(0.5), p99: q(0.99), max: k ? xs[k - 1]! : 0 };
  }
}

export class Fleet {
  readonly store: FleetStore;
  readonly timeouts: PhaseTimeouts;
  readonly timings = new Timings();
  readonly #views = new Map<string, MachineView>();
  readonly #listeners = new Set<(c: FleetChange) => void>();
  readonly #now: () => number;
  readonly #wake: FleetOptions['wake'];
  readonly #wakeTimeoutMs: number;
  readonly #wakeTries: number;
  readonly #wakePerTick: number;
  /** Machines woken and not yet seen: MAC → tries and when the last packet went. */
  readonly #woken = new Map<string, { tries: number; at: number }>();
  #deployment: DeploymentRecord | undefined;
  #timer: NodeJS.Timeout | undefined;
  #waking = false;

  constructor(o: FleetOptions) {
    this.store = o.store;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...o.timeouts };
    this.#now = o.now ?? Date.now;
    this.#wake = o.wake;
    this.#wakeTimeoutMs = o.wakeTimeoutMs ?? 180_000;
    this.#wakeTries = o.wakeTries ?? 3;
    this.#wakePerTick = o.wakePerTick ?? 5;
    this.#reload();
    if (o.tickMs) {
      this.#timer = setInterval(() => this.tick(), o.tickMs);
      this.#timer.unref();
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.#listeners.clear();
  }

  subscribe(fn: (c: FleetChange) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #emit(c: FleetChange): void {
    for (const fn of this.#listeners) {
      try {
        fn(c);
      } catch {
        // A listener's failure (a closed stream) is its own; the fleet goes on.
      }
    }
  }

  #reload(): void {
    const seen = new Set<string>();
    for (const m of this.store.machines()) {
      const v = machineView(m);
      seen.add(v.mac);
      const old = this.#views.get(v.mac);
      this.#views.set(v.mac, v);
      if (old && JSON.stringify(old) !== JSON.stringify(v)) this.#emit({ type: 'machine', machine: v });
    }
    for (const mac of this.#views.keys()) if (!seen.has(mac)) this.#views.delete(mac);
    const d = this.store.deployment();
    const changed = JSON.stringify(d) !== JSON.stringify(this.#deployment);
    this.#deployment = d;
    if (changed) this.#emit({ type: 'deployment', deployment: this.deployment() });
  }

  view(mac: string): MachineView | undefined {
    return this.#views.get(mac);
  }

  views(): MachineView[] {
    return [...this.#views.values()];
  }

  /** Machines holding an install slot. */
  installing(): number {
    let n = 0;
    for (const v of this.#views.values()) if (v.installing) n++;
    return n;
  }

  #publish(machine: MachineRecord, events: EventRecord[]): MachineView {
    const v = machineView(machine);
    this.#views.set(v.mac, v);
    this.#emit({ type: 'machine', machine: v });
    for (const e of events) this.#emit({ type: 'event', event: toEventView(e) });
    return v;
  }

  /** Records what is known about a machine (inventory, firmware, address). */
  seen(mac: string, fields: IdentityFields = {}): MachineView {
    const before = this.#views.get(mac);
    const m = this.store.seen(mac, fields, new Date(this.#now()));
    const v = machineView(m);
    this.#views.set(mac, v);
    // lastSeen alone changes on every request: a message only when a field given is new.
    const was = before as unknown as Record<string, unknown> | undefined;
    if (!was || Object.entries(fields).some(([k, x]) => x !== undefined && (k === 'overrides' || was[k] !== x))) this.#emit({ type: 'machine', machine: v });
    return v;
  }

  #apply(mac: string, input: FleetInput, source: string, detail: string | undefined, eventPhase: string): { view: MachineView; outcome: string } {
    const t0 = performance.now();
    let outcome = 'ignored';
    const { machine, events } = this.store.update(
      mac,
      (m) => {
        const r = step(m.status, input, this.timeouts);
        outcome = r.outcome;
        const evs: NewEvent[] = [{ phase: eventPhase, source, detail }];
        if (r.note) evs.push({ phase: 'note', source: 'fleet', detail: r.note });
        return { status: r.outcome === 'ignored' ? undefined : r.status, events: evs };
      },
      new Date(input.time),
    );
    if (outcome === 'started' || outcome === 'restarted') this.#woken.delete(mac);
    const view = this.#publish(machine, events);
    this.timings.add(performance.now() - t0);
    return { view, outcome };
  }

  /** A phase reached, from a server (DHCP, the loader) or the machine's report. */
  phase(mac: string, phase: Phase, source: string, detail?: string): { view: MachineView; outcome: string } {
    return this.#apply(mac, { kind: 'phase', phase, time: this.#now() }, source, detail, phase);
  }

  fail(mac: string, reason: string, source: string): { view: MachineView; outcome: string } {
    return this.#apply(mac, { kind: 'failed', reason, time: this.#now() }, source, reason, 'failed');
  }

  /** An event that moves nothing (a connection, a refusal, a remark). */
  note(mac: string, source: string, detail: string): void {
    const events = this.store.append(mac, [{ phase: 'note', source, detail }], new Date(this.#now()));
    for (const e of events) this.#emit({ type: 'event', event: toEventView(e) });
  }

  /** It network-booted and was sent to its local disk: an attempt its DHCP began did not begin. */
  deferred(mac: string, reason: string): MachineView {
    return this.#apply(mac, { kind: 'deferred', time: this.#now() }, 'schedule', `sent to its local disk: ${reason}`, 'note').view;
  }

  redeploy(mac: string, by = 'admin'): MachineView {
    return this.#apply(mac, { kind: 'redeploy', time: this.#now() }, by, 'marked for redeploy: it installs again at its next network boot', 'admin').view;
  }

  markDone(mac: string, by = 'admin'): MachineView {
    return this.#apply(mac, { kind: 'mark-done', time: this.#now() }, by, 'marked done by hand', 'admin').view;
  }

  setApproval(mac: string, approval: 'approved' | 'denied' | 'pending', by = 'admin'): MachineView {
    const { machine, events } = this.store.update(mac, () => ({ events: [{ phase: 'admin', source: by, detail: approval === 'pending' ? 'waits for approval' : approval }] }), new Date(this.#now()));
    this.store.setApproval(mac, approval);
    return this.#publish({ ...machine, approval }, events);
  }

  /** Whether a machine that network-boots now installs, or boots its local disk and why. */
  decideBoot(mac: string): BootDecision {
    const m = this.store.machine(mac);
    const s = m?.status;
    if (s && !s.redeploy && installedOnDisk(s)) return { install: false, reason: `Windows is installed on it (${s.state === 'done' ? 'done' : `${s.state} in ${s.failure?.phase ?? s.phase}`})` };
    const a: Admission = admit(this.#scheduleView(), { member: this.#member(mac, m), holdsSlot: s ? holdsSlot(s) : false, installing: this.installing(), time: this.#now() });
    return a.ok ? { install: true } : { install: false, reason: a.reason };
  }

  #scheduleView() {
    const d = this.#deployment;
    if (!d) return null;
    return { name: d.name, window: d.window ? parseWindow(d.window) : null, cap: d.cap, state: d.state };
  }

  #member(mac: string, m: MachineRecord | undefined): boolean {
    const d = this.#deployment;
    if (!d) return true;
    if (d.machines.length) return d.machines.includes(mac);
    if (d.group) return m?.group === d.group;
    return true;
  }

  /** The deployment's machines that Wake-on-LAN can reach (their MACs are known). */
  members(): MachineView[] {
    const d = this.#deployment;
    if (!d) return [];
    if (d.machines.length) return d.machines.map((mac) => this.#views.get(mac) ?? machineView(this.store.seen(mac, {}, new Date(this.#now()))));
    if (d.group) return this.views().filter((v) => v.group === d.group);
    return this.views().filter((v) => v.known);
  }

  deployment(): DeploymentView | null {
    const d = this.#deployment;
    if (!d) return null;
    return { ...d, inWindow: inWindow(d.window ? parseWindow(d.window) : null, this.#now()), installing: this.installing() };
  }

  /** Creates or edits the deployment. Values are validated by the caller's schema. */
  setDeployment(patch: Partial<Pick<DeploymentRecord, 'name' | 'window' | 'cap' | 'machines' | 'group' | 'wake'>>, by = 'admin'): DeploymentView {
    if (patch.window) parseWindow(patch.window);
    const d = this.#deployment;
    const base: Omit<DeploymentRecord, 'id' | 'createdAt'> & { id?: number } = d ?? { name: 'tonight', window: null, cap: null, machines: [], group: null, wake: false, state: 'planned', startedAt: null, stoppedAt: null };
    this.#deployment = this.store.saveDeployment({ ...base, ...patch, id: d?.id });
    this.#logDeployment(by, `deployment "${this.#deployment.name}": ${describeDeployment(this.#deployment)}`);
    return this.deployment()!;
  }

  startDeployment(by = 'admin'): DeploymentView {
    const d = this.#deployment ?? this.store.saveDeployment({ name: 'tonight', window: null, cap: null, machines: [], group: null, wake: false, state: 'planned', startedAt: null, stoppedAt: null });
    this.#deployment = this.store.saveDeployment({ ...d, state: 'running', startedAt: this.#now(), stoppedAt: null });
    this.#woken.clear();
    this.#logDeployment(by, `deployment "${d.name}" started: ${describeDeployment(this.#deployment)}`);
    return this.deployment()!;
  }

  stopDeployment(by = 'admin'): DeploymentView | null {
    const d = this.#deployment;
    if (!d) return null;
    this.#deployment = this.store.saveDeployment({ ...d, state: 'stopped', stoppedAt: this.#now() });
    this.#logDeployment(by, `deployment "${d.name}" stopped: no new installs start; running ones finish`);
    return this.deployment();
  }

  #logDeployment(by: string, detail: string): void {
    const events = this.store.append(FLEET, [{ phase: 'admin', source: by, detail }], new Date(this.#now()));
    for (const e of events) this.#emit({ type: 'event', event: toEventView(e) });
    this.#emit({ type: 'deployment', deployment: this.deployment() });
  }

  /** Sends Wake-on-LAN to these machines (or every member that has not started) now. */
  async wakeNow(macs?: string[]): Promise<string[]> {
    if (!this.#wake) throw new Error('Wake-on-LAN needs the segment: serve was started without an interface to send on');
    const list = macs ?? this.members().filter((v) => v.state === 'idle' || v.redeploy).map((v) => v.mac);
    if (!list.length) return [];
    await this.#sendWake(list, 'admin');
    return list;
  }

  async #sendWake(macs: string[], by: string): Promise<void> {
    const t = this.#now();
    for (const mac of macs) {
      const w = this.#woken.get(mac);
      this.#woken.set(mac, { tries: (w?.tries ?? 0) + 1, at: t });
    }
    // Logged as the packets go: a machine that wakes at the first one can boot before the repeats end.
    for (const mac of macs) {
      const events = this.store.append(mac, [{ phase: 'wake', source: by, detail: `Wake-on-LAN sent (try ${this.#woken.get(mac)?.tries ?? 1})` }], new Date(t));
      for (const e of events) this.#emit({ type: 'event', event: toEventView(e) });
    }
    await this.#wake!(macs);
  }

  /** The clock: timeouts, Wake-on-LAN pacing and changes written by other processes. */
  tick(): void {
    if (this.store.changedElsewhere()) this.#reload();
    const t = this.#now();
    for (const v of this.#views.values()) {
      if (!v.installing && v.state !== 'discovered') continue;
      if (v.state === 'stalled' || v.phaseSince === null) continue;
      const limit = this.timeouts[v.phase as Exclude<Phase, 'done'>];
      if (limit !== undefined && t - v.phaseSince > limit) this.#apply(v.mac, { kind: 'tick', time: t }, 'fleet', `no progress in ${v.phase}`, 'stalled');
    }
    this.#pace(t);
  }

  #pace(t: number): void {
    const d = this.#deployment;
    if (!d || !d.wake || d.state !== 'running' || !this.#wake || this.#waking) return;
    if (!inWindow(d.window ? parseWindow(d.window) : null, t)) return;
    let pending = 0;
    const due: string[] = [];
    for (const v of this.members()) {
      // Booting and not yet at its loader: it takes a slot in a moment.
      if (v.state === 'discovered') pending++;
      if (!(v.state === 'idle' || (v.redeploy && !v.installing))) {
        this.#woken.delete(v.mac);
        continue;
      }
      const w = this.#woken.get(v.mac);
      if (w && t - w.at < this.#wakeTimeoutMs) pending++;
      else if (!w || w.tries < this.#wakeTries) due.push(v.mac);
      else if (w.tries === this.#wakeTries) {
        this.#woken.set(v.mac, { tries: w.tries + 1, at: t });
        this.note(v.mac, 'schedule', `did not appear after ${w.tries} Wake-on-LAN packets: check that Wake-on-LAN is enabled in its firmware and that it is plugged in`);
      }
    }
    const free = d.cap === null ? Number.POSITIVE_INFINITY : d.cap - this.installing() - pending;
    const n = Math.min(free, this.#wakePerTick, due.length);
    if (n <= 0) return;
    this.#waking = true;
    this.#sendWake(due.slice(0, n), 'schedule')
      .catch((e: Error) => this.note(FLEET, 'schedule', `Wake-on-LAN failed: ${e.message}`))
      .finally(() => {
        this.#waking = false;
      });
  }
}

/** What the morning report reads: every machine, the whole log, the deployment. */
export function reportData(fleet: Fleet): { machines: MachineView[]; events: EventView[]; deployment: DeploymentView | null } {
  return { machines: fleet.views(), events: fleet.store.events().map(toEventView), deployment: fleet.deployment() };
}

/** A deployment in a line: who, when, how many at once. */
export function describeDeployment(d: Pick<DeploymentRecord, 'machines' | 'group' | 'window' | 'cap' | 'wake'>): string {
  const who = d.machines.length ? `${d.machines.length} machines` : d.group ? `group ${d.group}` : 'every machine';
  return `${who}, window ${d.window ?? 'any time'}, cap ${d.cap ?? 'none'}, Wake-on-LAN ${d.wake ? 'on' : 'off'}`;
}
