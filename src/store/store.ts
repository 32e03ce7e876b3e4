// overnight's records: the machines it knows (inventory and what it saw), an append-only log of
// what happened to each (DHCP, loader, Windows PE, Setup's phases, failures, the administrator's
// actions), the deployments (a night's run) and the DHCP leases. node:sqlite in WAL mode, one
// write transaction per change, so that a crash or a kill -9 loses nothing reported as done and a
// restart resumes every machine at its recorded phase.
//
// The schema grows by numbered migrations (PRAGMA user_version). Callers see the `FleetStore`
// interface only, so that another backend (PostgreSQL) can stand behind it later.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { MachineStatus } from '../fleet/machine.ts';
import type { DeploymentView, MachineState, Phase } from '../fleet/model.ts';

/** The `mac` of events about the whole fleet (the deployment, the schedule): no machine's. */
export const FLEET = '*';

export type UnknownPolicy = 'all' | 'known-only' | 'approve';

/** What is known about a machine other than its install: the inventory and what it said. */
export interface MachineIdentity {
  /** 'aa:bb:cc:dd:ee:ff' */
  mac: string;
  name: string | undefined;
  /** From the inventory (known machines) or undefined. */
  profile: string | undefined;
  media: string | undefined;
  group: string | undefined;
  /** Profile fields of this machine (the inventory's extra columns). */
  overrides: Record<string, unknown>;
  /** What its network boot said: 'bios', 'efi-x64', ... */
  firmware: string | undefined;
  /** In the inventory. */
  known: boolean;
  /** 'pending' (approve policy, not yet decided), 'approved', 'denied', or undefined for known machines. */
  approval: 'pending' | 'approved' | 'denied' | undefined;
  /** Address of its last request to the boot server. */
  address: string | undefined;
}

export interface MachineRecord extends MachineIdentity {
  status: MachineStatus;
  firstSeen: Date;
  lastSeen: Date;
}

export interface EventRecord {
  id: number;
  time: Date;
  mac: string;
  /** A phase ('discovered', 'loader', 'winpe', ...), 'failed', 'stalled', 'note', 'wake' or 'admin'. */
  phase: string;
  /** Where it came from: 'dhcp', 'http', 'smb', 'report', 'fleet', 'admin', 'schedule'. */
  source: string;
  detail: string | undefined;
}

export interface NewEvent {
  phase: string;
  source: string;
  detail?: string | undefined;
}

/** A deployment as stored: the view without what the clock and the fleet add. */
export type DeploymentRecord = Omit<DeploymentView, 'inWindow' | 'installing'>;

export interface LeaseRecord {
  mac: string;
  ip: string;
  expires: number;
  hostname: string | undefined;
}

export type IdentityFields = Partial<Omit<MachineIdentity, 'mac'>>;

/** The store as the rest of overnight sees it. */
export interface FleetStore {
  readonly path: string;
  machine(mac: string): MachineRecord | undefined;
  machines(): MachineRecord[];
  /** Creates or updates a machine's identity; fields given are set, the rest kept. */
  seen(mac: string, fields?: IdentityFields, time?: Date): MachineRecord;
  setApproval(mac: string, approval: 'approved' | 'denied' | 'pending'): MachineRecord;
  /** A machine's number (1-based): the inventory's in order, then unknown machines as first seen. */
  machineNumber(mac: string): number | undefined;
  /**
   * Runs `change` on the machine's current record inside one write transaction: the new status it
   * returns and its events are written together, or nothing is.
   */
  update(mac: string, change: (m: MachineRecord) => { status?: MachineStatus; events: NewEvent[] }, time?: Date): { machine: MachineRecord; events: EventRecord[] };
  /** Appends events without changing the machine's status. */
  append(mac: string, events: NewEvent[], time?: Date): EventRecord[];
  events(q?: { mac?: string | undefined; after?: number | undefined; limit?: number | undefined }): EventRecord[];
  deployment(): DeploymentRecord | undefined;
  saveDeployment(d: Omit<DeploymentRecord, 'id' | 'createdAt'> & { id?: number | undefined }): DeploymentRecord;
  leases(): LeaseRecord[];
  /** Changes another connection (another overnight process) committed since the last call. */
  changedElsewhere(): boolean;
  close(): void;
}

const LEASE_TABLE = 'CREATE TABLE IF NOT EXISTS lease (mac TEXT PRIMARY KEY, ip TEXT NOT NULL UNIQUE, expires INTEGER NOT NULL, hostname TEXT)';

const MIGRATIONS: readonly string[] = [
  // 1: machines and their event log
  `CREATE TABLE machines (
     mac TEXT PRIMARY KEY,
     name TEXT,
     profile TEXT,
     media TEXT,
     firmware TEXT,
     known INTEGER NOT NULL DEFAULT 0,
     approval TEXT,
     phase TEXT,
     failure TEXT,
     first_seen INTEGER NOT NULL,
     last_seen INTEGER NOT NULL
   );
   CREATE TABLE events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     time INTEGER NOT NULL,
     mac TEXT NOT NULL,
     phase TEXT NOT NULL,
     source TEXT NOT NULL,
     detail TEXT
   );
   CREATE INDEX events_mac ON events (mac, id);`,
  // 2: the fleet: each machine's install as a state machine, groups and per-machine overrides,
  // deployments, and the DHCP leases (the same table the lease pool keeps).
  `ALTER TABLE machines ADD COLUMN grp TEXT;
   ALTER TABLE machines ADD COLUMN overrides TEXT;
   ALTER TABLE machines ADD COLUMN address TEXT;
   ALTER TABLE machines ADD COLUMN state TEXT NOT NULL DEFAULT 'idle';
   ALTER TABLE machines ADD COLUMN phase_since INTEGER;
   ALTER TABLE machines ADD COLUMN started_at INTEGER;
   ALTER TABLE machines ADD COLUMN finished_at INTEGER;
   ALTER TABLE machines ADD COLUMN failed_phase TEXT;
   ALTER TABLE machines ADD COLUMN stalled_in TEXT;
   ALTER TABLE machines ADD COLUMN durations TEXT;
   ALTER TABLE machines ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE machines ADD COLUMN redeploy INTEGER NOT NULL DEFAULT 0;
   UPDATE machines SET phase = 'discovered' WHERE phase = 'dhcp';
   UPDATE machines SET state = 'failed', attempt = 1, phase_since = last_seen, started_at = first_seen, finished_at = last_seen WHERE phase = 'failed';
   UPDATE machines SET phase = NULL WHERE phase = 'failed' OR phase = 'redeploy';
   UPDATE machines SET state = phase, attempt = 1, phase_since = last_seen, started_at = first_seen WHERE phase IS NOT NULL AND state = 'idle';
   UPDATE machines SET finished_at = last_seen WHERE state = 'done';
   UPDATE events SET phase = 'discovered' WHERE phase = 'dhcp';
   CREATE TABLE deployments (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     name TEXT NOT NULL,
     window TEXT,
     cap INTEGER,
     machines TEXT NOT NULL DEFAULT '[]',
     grp TEXT,
     wake INTEGER NOT NULL DEFAULT 0,
     state TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     started_at INTEGER,
     stopped_at INTEGER
   );
   ${LEASE_TABLE};
   CREATE INDEX events_time ON events (time);`,
];

interface MachineRow {
  mac: string;
  name: string | null;
  profile: string | null;
  media: string | null;
  grp: string | null;
  overrides: string | null;
  firmware: string | null;
  known: number;
  approval: string | null;
  address: string | null;
  phase: string | null;
  failure: string | null;
  state: string;
  phase_since: number | null;
  started_at: number | null;
  finished_at: number | null;
  failed_phase: string | null;
  stalled_in: string | null;
  durations: string | null;
  attempt: number;
  redeploy: number;
  first_seen: number;
  last_seen: number;
}

function parseJson<T>(text: string | null, fallback: T): T {
  if (!text) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

const toMachine = (r: MachineRow): MachineRecord => ({
  mac: r.mac,
  name: r.name ?? undefined,
  profile: r.profile ?? undefined,
  media: r.media ?? undefined,
  group: r.grp ?? undefined,
  overrides: parseJson(r.overrides, {}),
  firmware: r.firmware ?? undefined,
  known: r.known === 1,
  approval: (r.approval ?? undefined) as MachineRecord['approval'],
  address: r.address ?? undefined,
  status: {
    state: r.state as MachineState,
    phase: (r.phase ?? null) as Phase | null,
    phaseSince: r.phase_since,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    failure: r.state === 'failed' ? { phase: (r.failed_phase ?? null) as Phase | null, reason: r.failure ?? 'no reason given' } : null,
    stalledIn: (r.stalled_in ?? null) as Phase | null,
    durations: parseJson(r.durations, {}),
    attempt: r.attempt,
    redeploy: r.redeploy === 1,
  },
  firstSeen: new Date(r.first_seen),
  lastSeen: new Date(r.last_seen),
});

interface EventRow {
  id: number;
  time: number;
  mac: string;
  phase: string;
  source: string;
  detail: string | null;
}

const toEvent = (r: EventRow): EventRecord => ({ id: r.id, time: new Date(r.time), mac: r.mac, phase: r.phase, source: r.source, detail: r.detail ?? undefined });

interface DeploymentRow {
  id: number;
  name: string;
  window: string | null;
  cap: number | null;
  machines: string;
  grp: string | null;
  wake: number;
  state: string;
  created_at: number;
  started_at: number | null;
  stopped_at: number | null;
}

export class Store implements FleetStore {
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  #dataVersion = 0;

  private constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.#db = db;
    this.#dataVersion = this.#readDataVersion();
  }

  /** Opens (creating when needed) the store at `path` and brings its schema up to date. */
  static open(path: string): Store {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new DatabaseSync(path);
    try {
      db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
      const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
      if (version > MIGRATIONS.length) throw new Error(`${path} was written by a newer overnight (schema ${version}, this one knows ${MIGRATIONS.length})`);
      for (let v = version; v < MIGRATIONS.length; v++) {
        db.exec('BEGIN IMMEDIATE');
        try {
          // A lease table the lease pool made before migration 2 existed is kept as it is.
          db.exec(MIGRATIONS[v]!);
          db.exec(`PRAGMA user_version = ${v + 1}`);
          db.exec('COMMIT');
        } catch (e) {
          db.exec('ROLLBACK');
          throw new Error(`${path}: schema migration ${v + 1} failed: ${(e as Error).message}`);
        }
      }
    } catch (e) {
      db.close();
      throw e;
    }
    return new Store(path, db);
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /**
   * A prepared statement, made once per text: node:sqlite finalizes a statement only when V8
   * collects it, and V8 does not see the native memory thousands of them hold.
   */
  #sql(text: string): StatementSync {
    let st = this.#statements.get(text);
    if (!st) {
      st = this.#db.prepare(text);
      this.#statements.set(text, st);
    }
    return st;
  }

  #readDataVersion(): number {
    return (this.#sql('PRAGMA data_version').get() as { data_version: number }).data_version;
  }

  changedElsewhere(): boolean {
    const v = this.#readDataVersion();
    const changed = v !== this.#dataVersion;
    this.#dataVersion = v;
    return changed;
  }

  #tx<T>(fn: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const r = fn();
      this.#db.exec('COMMIT');
      return r;
    } catch (e) {
      this.#db.exec('ROLLBACK');
      throw e;
    }
  }

  machine(mac: string): MachineRecord | undefined {
    const r = this.#sql('SELECT * FROM machines WHERE mac = ?').get(mac) as MachineRow | undefined;
    return r ? toMachine(r) : undefined;
  }

  machines(): MachineRecord[] {
    // In the order they entered the records (the inventory's order, then first seen).
    return (this.#sql('SELECT * FROM machines ORDER BY rowid').all() as unknown as MachineRow[]).map(toMachine);
  }

  seen(mac: string, fields: IdentityFields = {}, time = new Date()): MachineRecord {
    const t = time.getTime();
    const opt = (v: string | undefined) => v ?? null;
    this
      .#sql(
        `INSERT INTO machines (mac, name, profile, media, grp, overrides, firmware, known, approval, address, first_seen, last_seen)
         VALUES (:mac, :name, :profile, :media, :grp, :overrides, :firmware, :known, :approval, :address, :t, :t)
         ON CONFLICT (mac) DO UPDATE SET
           name = COALESCE(:name, name), profile = COALESCE(:profile, profile), media = COALESCE(:media, media),
           grp = COALESCE(:grp, grp), overrides = COALESCE(:overrides, overrides),
           firmware = COALESCE(:firmware, firmware), known = COALESCE(:knownSet, known),
           approval = COALESCE(:approval, approval), address = COALESCE(:address, address), last_seen = :t`,
      )
      .run({
        mac,
        name: opt(fields.name),
        profile: opt(fields.profile),
        media: opt(fields.media),
        grp: opt(fields.group),
        overrides: fields.overrides === undefined ? null : JSON.stringify(fields.overrides),
        firmware: opt(fields.firmware),
        known: fields.known ? 1 : 0,
        knownSet: fields.known === undefined ? null : fields.known ? 1 : 0,
        approval: opt(fields.approval),
        address: opt(fields.address),
        t,
      });
    return this.machine(mac)!;
  }

  machineNumber(mac: string): number | undefined {
    const r = this.#sql(
      `SELECT CASE WHEN m.known = 1 THEN (SELECT COUNT(*) FROM machines k WHERE k.known = 1 AND k.rowid <= m.rowid)
         ELSE (SELECT COUNT(*) FROM machines k WHERE k.known = 1) + (SELECT COUNT(*) FROM machines u WHERE u.known = 0 AND u.rowid <= m.rowid) END AS n
       FROM machines m WHERE m.mac = ?`,
    ).get(mac) as { n: number } | undefined;
    return r?.n;
  }

  setApproval(mac: string, approval: 'approved' | 'denied' | 'pending'): MachineRecord {
    return this.seen(mac, { approval });
  }

  #insertEvents(mac: string, events: NewEvent[], t: number): EventRecord[] {
    const ins = this.#sql('INSERT INTO events (time, mac, phase, source, detail) VALUES (?, ?, ?, ?, ?)');
    return events.map((e) => {
      const r = ins.run(t, mac, e.phase, e.source, e.detail ?? null);
      return { id: Number(r.lastInsertRowid), time: new Date(t), mac, phase: e.phase, source: e.source, detail: e.detail };
    });
  }

  update(mac: string, change: (m: MachineRecord) => { status?: MachineStatus; events: NewEvent[] }, time = new Date()): { machine: MachineRecord; events: EventRecord[] } {
    const t = time.getTime();
    return this.#tx(() => {
      const m = this.seen(mac, {}, time);
      const c = change(m);
      if (c.status) {
        const s = c.status;
        this
          .#sql(
            `UPDATE machines SET state = :state, phase = :phase, phase_since = :since, started_at = :started, finished_at = :finished,
               failure = :failure, failed_phase = :failedPhase, stalled_in = :stalled, durations = :durations, attempt = :attempt, redeploy = :redeploy
             WHERE mac = :mac`,
          )
          .run({
            mac,
            state: s.state,
            phase: s.phase,
            since: s.phaseSince,
            started: s.startedAt,
            finished: s.finishedAt,
            failure: s.failure?.reason ?? null,
            failedPhase: s.failure?.phase ?? null,
            stalled: s.stalledIn,
            durations: JSON.stringify(s.durations),
            attempt: s.attempt,
            redeploy: s.redeploy ? 1 : 0,
          } as Record<string, SQLInputValue>);
      }
      const events = this.#insertEvents(mac, c.events, t);
      return { machine: c.status ? { ...m, status: c.status } : m, events };
    });
  }

  append(mac: string, events: NewEvent[], time = new Date()): EventRecord[] {
    return this.#tx(() => {
      if (mac !== FLEET) this.seen(mac, {}, time);
      return this.#insertEvents(mac, events, time.getTime());
    });
  }

  events(q: { mac?: string | undefined; after?: number | undefined; limit?: number | undefined } = {}): EventRecord[] {
    const where: string[] = [];
    const args: SQLInputValue[] = [];
    if (q.mac) {
      where.push('mac = ?');
      args.push(q.mac);
    }
    if (q.after !== undefined) {
      where.push('id > ?');
      args.push(q.after);
    }
    const sql = `SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id${q.limit !== undefined ? ' LIMIT ?' : ''}`;
    if (q.limit !== undefined) args.push(q.limit);
    return (this.#sql(sql).all(...args) as unknown as EventRow[]).map(toEvent);
  }

  deployment(): DeploymentRecord | undefined {
    const r = this.#sql('SELECT * FROM deployments ORDER BY id DESC LIMIT 1').get() as DeploymentRow | undefined;
    if (!r) return undefined;
    return {
      id: r.id,
      name: r.name,
      window: r.window,
      cap: r.cap,
      machines: parseJson<string[]>(r.machines, []),
      group: r.grp,
      wake: r.wake === 1,
      state: r.state as DeploymentRecord['state'],
      createdAt: r.created_at,
      startedAt: r.started_at,
      stoppedAt: r.stopped_at,
    };
  }

  saveDeployment(d: Omit<DeploymentRecord, 'id' | 'createdAt'> & { id?: number | undefined }): DeploymentRecord {
    const args = { name: d.name, window: d.window, cap: d.cap, machines: JSON.stringify(d.machines), grp: d.group, wake: d.wake ? 1 : 0, state: d.state, started: d.startedAt, stopped: d.stoppedAt };
    if (d.id !== undefined) {
      this.#sql('UPDATE deployments SET name = :name, window = :window, cap = :cap, machines = :machines, grp = :grp, wake = :wake, state = :state, started_at = :started, stopped_at = :stopped WHERE id = :id').run({ ...args, id: d.id });
    } else {
      this
        .#sql('INSERT INTO deployments (name, window, cap, machines, grp, wake, state, created_at, started_at, stopped_at) VALUES (:name, :window, :cap, :machines, :grp, :wake, :state, :created, :started, :stopped)')
        .run({ ...args, created: Date.now() });
    }
    return this.deployment()!;
  }

  leases(): LeaseRecord[] {
    return (this.#sql('SELECT mac, ip, expires, hostname FROM lease ORDER BY ip').all() as unknown as { mac: string; ip: string; expires: number; hostname: string | null }[]).map((r) => ({
      mac: r.mac,
      ip: r.ip,
      expires: r.expires,
      hostname: r.hostname ?? undefined,
    }));
  }
}
