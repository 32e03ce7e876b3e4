// The live fleet: one EventSource on GET /api/stream, its messages applied once per animation
// frame (hundreds of machines reporting at once must not render once per message), exposed to
// React as an immutable snapshot through useSyncExternalStore. A machine whose record did not
// change keeps its MachineView object, so that memoized rows skip it.
import { useSyncExternalStore } from 'react';
import type { DeploymentView, EventView, MachineView, StreamMessages } from './fleet.ts';
import { displayName, phaseLabel } from './fleet.ts';

export type Connection = 'connecting' | 'live' | 'reconnecting' | 'offline';

export interface FleetState {
  /** In the order the server first listed them; the grid sorts its own copy. */
  readonly machines: readonly MachineView[];
  readonly byMac: ReadonlyMap<string, MachineView>;
  readonly deployment: DeploymentView | null;
  readonly connection: Connection;
  /** A snapshot has arrived (the page is whole). */
  readonly loaded: boolean;
  /** Bumped by every snapshot: views holding history (a timeline) fetch it again. */
  readonly resyncs: number;
  /** The newest failure message for the aria-live region. */
  readonly announcement: { readonly text: string; readonly id: number } | null;
}

type EventListener = (events: readonly EventView[]) => void;

export class FleetStore {
  #state: FleetState = {
    machines: [],
    byMac: new Map(),
    deployment: null,
    connection: 'connecting',
    loaded: false,
    resyncs: 0,
    announcement: null,
  };
  readonly #listeners = new Set<() => void>();
  readonly #eventListeners = new Set<EventListener>();

  // What arrived since the last frame.
  #snapshot: StreamMessages['snapshot'] | null = null;
  readonly #machines = new Map<string, MachineView>();
  #deployment: { value: DeploymentView | null } | null = null;
  #events: EventView[] = [];
  #connection: Connection | null = null;
  #scheduled = false;
  #announceId = 0;

  #source: EventSource | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #retryDelay = 1000;
  readonly #url: string;

  constructor(url = 'api/stream') {
    this.#url = url;
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  readonly getState = (): FleetState => this.#state;

  /** Live `event` messages, in batches, for views that show a timeline. */
  onEvents(listener: EventListener): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  connect(): void {
    this.#open();
    // A page left in a background tab gets no animation frames; its batch is applied on return.
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && (this.#scheduled || this.#pending())) this.#flush();
    });
  }

  close(): void {
    this.#source?.close();
    this.#source = null;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
  }

  /**
   * An answer to one of our own changes. The stream brings the same record; this is for when the
   * stream is down, so that the page still shows what the click did.
   */
  applyMachine(m: MachineView): void {
    if (this.#state.connection === 'live') return;
    this.#machines.set(m.mac, m);
    this.#schedule();
  }

  applyDeployment(d: DeploymentView | null): void {
    if (this.#state.connection === 'live') return;
    this.#deployment = { value: d };
    this.#schedule();
  }

  #open(): void {
    this.#retryTimer = null;
    const source = new EventSource(this.#url);
    this.#source = source;
    source.addEventListener('snapshot', (e) => {
      const snap = parse<StreamMessages['snapshot']>(e);
      if (!snap) return;
      // Older single updates are contained in the snapshot; later ones apply on top of it.
      this.#snapshot = snap;
      this.#machines.clear();
      this.#deployment = null;
      this.#connection = 'live';
      this.#retryDelay = 1000;
      this.#schedule();
    });
    source.addEventListener('machine', (e) => {
      const m = parse<StreamMessages['machine']>(e);
      if (!m) return;
      this.#machines.set(m.mac, m);
      this.#schedule();
    });
    source.addEventListener('event', (e) => {
      const ev = parse<StreamMessages['event']>(e);
      if (!ev) return;
      this.#events.push(ev);
      this.#schedule();
    });
    source.addEventListener('deployment', (e) => {
      const d = parse<StreamMessages['deployment']>(e);
      if (d === undefined) return;
      this.#deployment = { value: d };
      this.#schedule();
    });
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CONNECTING) {
        // The browser reconnects by itself; the snapshot that follows replaces the state.
        this.#setConnection('reconnecting');
      } else if (source.readyState === EventSource.CLOSED) {
        // Closed for good (an HTTP error, a proxy page): open a new one, backing off.
        this.#setConnection('offline');
        source.close();
        if (this.#source === source && !this.#retryTimer) {
          this.#retryTimer = setTimeout(() => this.#open(), this.#retryDelay);
          this.#retryDelay = Math.min(this.#retryDelay * 2, 15_000);
        }
      }
    });
  }

  #setConnection(c: Connection): void {
    this.#connection = c;
    this.#schedule();
  }

  #pending(): boolean {
    return this.#snapshot != null || this.#machines.size > 0 || this.#deployment != null || this.#events.length > 0 || this.#connection != null;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    if (document.hidden) setTimeout(() => this.#flush(), 1000);
    else requestAnimationFrame(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    if (!this.#pending()) return;
    const prev = this.#state;
    let byMac: Map<string, MachineView>;
    let deployment = prev.deployment;
    let resyncs = prev.resyncs;
    let loaded = prev.loaded;
    const failedNow: MachineView[] = [];

    const snap = this.#snapshot;
    if (snap) {
      byMac = new Map();
      for (const m of snap.machines) {
        // Keep the old object when nothing changed: its row does not render again.
        const old = prev.byMac.get(m.mac);
        byMac.set(m.mac, old && sameMachine(old, m) ? old : m);
        if (prev.loaded && (m.state === 'failed' || m.state === 'stalled') && old?.state !== m.state) failedNow.push(m);
      }
      deployment = snap.deployment;
      resyncs++;
      loaded = true;
    } else {
      byMac = this.#machines.size ? new Map(prev.byMac) : (prev.byMac as Map<string, MachineView>);
    }
    for (const m of this.#machines.values()) {
      const before = byMac.get(m.mac);
      if (prev.loaded && (m.state === 'failed' || m.state === 'stalled') && before?.state !== m.state) failedNow.push(m);
      byMac.set(m.mac, m);
    }
    if (this.#deployment) deployment = this.#deployment.value;
    const machines = byMac === prev.byMac ? prev.machines : [...byMac.values()];

    let announcement = prev.announcement;
    if (snap && !prev.loaded) {
      const failed = [...byMac.values()].filter((m) => m.state === 'failed').length;
      if (failed) announcement = { text: `${failed} machine${failed === 1 ? ' has' : 's have'} failed`, id: ++this.#announceId };
    } else if (failedNow.length === 1) {
      const m = failedNow[0]!;
      const text =
        m.state === 'failed'
          ? `${displayName(m)} failed${m.failure?.phase ? ` in ${phaseLabel(m.failure.phase)}` : ''}: ${m.failure?.reason ?? 'no reason reported'}`
          : `${displayName(m)} stalled in ${phaseLabel(m.stalledIn ?? m.phase)}`;
      announcement = { text, id: ++this.#announceId };
    } else if (failedNow.length > 1) {
      const f = failedNow.filter((m) => m.state === 'failed').length;
      const s = failedNow.length - f;
      const parts = [f ? `${f} machines failed` : '', s ? `${s} stalled` : ''].filter(Boolean);
      announcement = { text: parts.join(', '), id: ++this.#announceId };
    }

    const events = this.#events;
    this.#state = {
      machines,
      byMac,
      deployment,
      connection: this.#connection ?? prev.connection,
      loaded,
      resyncs,
      announcement,
    };
    this.#snapshot = null;
    this.#machines.clear();
    this.#deployment = null;
    this.#events = [];
    this.#connection = null;
    for (const l of this.#listeners) l();
    if (events.length) for (const l of this.#eventListeners) l(events);
  }
}

function parse<T>(e: Event): T | undefined {
  try {
    return JSON.parse((e as MessageEvent<string>).data) as T;
  } catch {
    console.warn('overnight: a stream message that is not JSON', e);
    return undefined;
  }
}

/** Same record, field by field (a snapshot after a reconnect repeats most machines unchanged). */
function sameMachine(a: MachineView, b: MachineView): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export const fleet = new FleetStore();

export function useFleet(): FleetState {
  return useSyncExternalStore(fleet.subscribe, fleet.getState);
}
