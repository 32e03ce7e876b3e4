// overnight's records: the machines it has seen and an append-only log of what happened to each
// (DHCP, loader, Windows PE, Setup's phases, failures). node:sqlite in WAL mode, one write
// transaction per call, so that a crash or a kill -9 loses nothing that was reported as done.
// The schema grows by numbered migrations (PRAGMA user_version); callers see only this interface,
// so that another backend can stand behind it later.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

export type UnknownPolicy = 'all' | 'known-only' | 'approve';

export interface MachineRecord {
  /** 'aa:bb:cc:dd:ee:ff' */
  mac: string;
  name: string | undefined;
  /** From the inventory (known machines) or undefined. */
  profile: string | undefined;
  media: string | undefined;
  /** What its network boot said: 'bios', 'efi-x64', ... */
  firmware: string | undefined;
  /** In the inventory. */
  known: boolean;
  /** 'pending' (approve policy, not yet decided), 'approved', 'denied', or undefined for known machines. */
  approval: 'pending' | 'approved' | 'denied' | undefined;
  /** The last phase reached ('dhcp', 'loader', 'winpe', ..., 'done', 'failed'). */
  phase: string | undefined;
  /** Why it failed, with the phase it failed in. */
  failure: string | undefined;
  firstSeen: Date;
  lastSeen: Date;
}

export interface EventRecord {
  id: number;
  time: Date;
  mac: string;
  /** 'dhcp', 'loader', 'winpe', 'share', 'setup', ... or 'note'. */
  phase: string;
  /** Where it came from: 'dhcp', 'tftp', 'http', 'smb', 'report'. */
  source: string;
  detail: string | undefined;
}

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
];

interface MachineRow {
  mac: string;
  name: string | null;
  profile: string | null;
  media: string | null;
  firmware: string | null;
  known: number;
  approval: string | null;
  phase: string | null;
  failure: string | null;
  first_seen: number;
  last_seen: number;
}

const toMachine = (r: MachineRow): MachineRecord => ({
  mac: r.mac,
  name: r.name ?? undefined,
  profile: r.profile ?? undefined,
  media: r.media ?? undefined,
  firmware: r.firmware ?? undefined,
  known: r.known === 1,
  approval: (r.approval ?? undefined) as MachineRecord['approval'],
  phase: r.phase ?? undefined,
  failure: r.failure ?? undefined,
  firstSeen: new Date(r.first_seen),
  lastSeen: new Date(r.last_seen),
});

export class Store {
  readonly path: string;
  readonly #db: DatabaseSync;

  private constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.#db = db;
  }

  /** Opens (creating when needed) the store at `path` and brings its schema up to date. */
  static open(path: string): Store {
    mkdirSync(dirname(path), { recursive: true });
    const db = new DatabaseSync(path);
    try {
      db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
      const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
      if (version > MIGRATIONS.length) throw new Error(`${path} was written by a newer overnight (schema ${version}, this one knows ${MIGRATIONS.length})`);
      for (let v = version; v < MIGRATIONS.length; v++) {
        db.exec('BEGIN');
        db.exec(MIGRATIONS[v]!);
        db.exec(`PRAGMA user_version = ${v + 1}`);
        db.exec('COMMIT');
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

  machine(mac: string): MachineRecord | undefined {
    const r = this.#db.prepare('SELECT * FROM machines WHERE mac = ?').get(mac) as MachineRow | undefined;
    return r ? toMachine(r) : undefined;
  }

  machines(): MachineRecord[] {
    return (this.#db.prepare('SELECT * FROM machines ORDER BY first_seen, mac').all() as unknown as MachineRow[]).map(toMachine);
  }

  /** Records that a machine was seen; fields given are updated, the rest kept. */
  seen(mac: string, fields: Partial<Pick<MachineRecord, 'name' | 'profile' | 'media' | 'firmware' | 'known' | 'approval'>> = {}, time = new Date()): MachineRecord {
    const t = time.getTime();
    this.#db
      .prepare(
        `INSERT INTO machines (mac, name, profile, media, firmware, known, approval, first_seen, last_seen)
         VALUES (:mac, :name, :profile, :media, :firmware, :known, :approval, :t, :t)
         ON CONFLICT (mac) DO UPDATE SET
           name = COALESCE(:name, name), profile = COALESCE(:profile, profile), media = COALESCE(:media, media),
           firmware = COALESCE(:firmware, firmware), known = COALESCE(:knownSet, known),
           approval = COALESCE(:approval, approval), last_seen = :t`,
      )
      .run({
        mac,
        name: fields.name ?? null,
        profile: fields.profile ?? null,
        media: fields.media ?? null,
        firmware: fields.firmware ?? null,
        known: fields.known ? 1 : 0,
        knownSet: fields.known === undefined ? null : fields.known ? 1 : 0,
        approval: fields.approval ?? null,
        t,
      });
    return this.machine(mac)!;
  }

  setApproval(mac: string, approval: 'approved' | 'denied' | 'pending'): MachineRecord {
    this.seen(mac, { approval });
    return this.machine(mac)!;
  }

  /**
   * Appends an event and moves the machine to `phase` (a 'note' leaves the phase as it was). A
   * failure keeps its reason until the machine reaches a later phase again.
   */
  record(mac: string, phase: string, source: string, detail?: string, time = new Date()): EventRecord {
    const t = time.getTime();
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      this.seen(mac, {}, time);
      const r = this.#db.prepare('INSERT INTO events (time, mac, phase, source, detail) VALUES (?, ?, ?, ?, ?)').run(t, mac, phase, source, detail ?? null);
      if (phase === 'failed') this.#db.prepare('UPDATE machines SET phase = ?, failure = ? WHERE mac = ?').run(phase, detail ?? 'no reason given', mac);
      else if (phase !== 'note') this.#db.prepare('UPDATE machines SET phase = ?, failure = NULL WHERE mac = ?').run(phase, mac);
      this.#db.exec('COMMIT');
      return { id: Number(r.lastInsertRowid), time, mac, phase, source, detail };
    } catch (e) {
      this.#db.exec('ROLLBACK');
      throw e;
    }
  }

  /** Events in the order they were recorded, of one machine or of all. */
  events(mac?: string): EventRecord[] {
    const rows = (mac ? this.#db.prepare('SELECT * FROM events WHERE mac = ? ORDER BY id').all(mac) : this.#db.prepare('SELECT * FROM events ORDER BY id').all()) as unknown as {
      id: number;
      time: number;
      mac: string;
      phase: string;
      source: string;
      detail: string | null;
    }[];
    return rows.map((r) => ({ id: r.id, time: new Date(r.time), mac: r.mac, phase: r.phase, source: r.source, detail: r.detail ?? undefined }));
  }
}
