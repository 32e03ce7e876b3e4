// The fleet's state machine (every transition, timeouts, reports that cross), the schedule (window,
// cap), and the fleet over a real store: restarts resume every machine where it was, another
// process's change is seen, Wake-on-LAN is paced by the cap.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Fleet } from '../src/fleet/fleet.ts';
import { DEFAULT_TIMEOUTS, type FleetInput, holdsSlot, IDLE, installedOnDisk, type MachineStatus, step } from '../src/fleet/machine.ts';
import { PHASE_ORDER, type Phase } from '../src/fleet/model.ts';
import { admit, inWindow, nextOpening, parseWindow } from '../src/fleet/schedule.ts';
import { FLEET, Store } from '../src/store/store.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 11, 2, 22, 0, 0);

function run(inputs: FleetInput[], from: MachineStatus = IDLE) {
  let s = from;
  const outcomes: string[] = [];
  for (const i of inputs) {
    const r = step(s, i);
    s = r.status;
    outcomes.push(r.outcome);
  }
  return { s, outcomes };
}
const ph = (phase: Phase, minute: number): FleetInput => ({ kind: 'phase', phase, time: T0 + minute * MIN });

describe('the state machine', () => {
  test('a whole install: every phase in order, durations per phase, done', () => {
    const { s, outcomes } = run(PHASE_ORDER.map((p, i) => ph(p, i * 2)));
    assert.deepEqual(outcomes, ['started', ...PHASE_ORDER.slice(1).map(() => 'advanced')]);
    assert.equal(s.state, 'done');
    assert.equal(s.phase, 'done');
    assert.equal(s.attempt, 1);
    assert.equal(s.startedAt, T0);
    assert.equal(s.finishedAt, T0 + 20 * MIN);
    for (const p of PHASE_ORDER.slice(0, -1)) assert.equal(s.durations[p], 2 * MIN, p);
    assert.equal(holdsSlot(s), false);
    assert.equal(installedOnDisk(s), true);
  });

  test('phases may be skipped (no first logon without autologon)', () => {
    const { s } = run([ph('discovered', 0), ph('loader', 1), ph('winpe', 2), ph('setup', 3), ph('applied', 13), ph('oobe', 20), ph('done', 25)]);
    assert.equal(s.state, 'done');
    assert.equal(s.durations.setup, 10 * MIN);
    assert.equal(s.durations.share, undefined);
  });

  test('a report that crosses a later one moves nothing, a repeat neither', () => {
    const { s, outcomes } = run([ph('discovered', 0), ph('loader', 1), ph('winpe', 2), ph('setup', 4), ph('share', 5), ph('setup', 6)]);
    assert.deepEqual(outcomes.slice(-2), ['ignored', 'ignored']);
    assert.equal(s.phase, 'setup');
    assert.equal(s.phaseSince, T0 + 4 * MIN);
  });

  test('the loader after discovered, and repeated DHCP while booting, are one boot', () => {
    const { s, outcomes } = run([ph('discovered', 0), ph('discovered', 0.1), ph('loader', 1), ph('discovered', 1.5), ph('loader', 2)]);
    assert.deepEqual(outcomes, ['started', 'ignored', 'advanced', 'ignored', 'ignored']);
    assert.equal(s.attempt, 1);
    assert.equal(s.phase, 'loader');
  });

  test('a network boot in the middle of Windows PE or Setup restarts the install', () => {
    const r = step(run([ph('discovered', 0), ph('loader', 1), ph('winpe', 2), ph('setup', 3)]).s, ph('discovered', 9));
    assert.equal(r.outcome, 'restarted');
    assert.equal(r.status.attempt, 2);
    assert.equal(r.status.phase, 'discovered');
    assert.deepEqual(r.status.durations, {});
    assert.match(r.note!, /reset/);
  });

  test('a network boot after the image is applied never restarts it: the disk holds Windows', () => {
    for (const last of ['applied', 'specialize', 'oobe', 'apps', 'done'] as const) {
      const before = run([ph('discovered', 0), ph('loader', 1), ph(last, 20)]).s;
      const r = step(before, ph('discovered', 30));
      assert.equal(r.outcome, 'ignored', last);
      assert.equal(r.status, before);
    }
  });

  test('failed carries its reason and phase; a retry starts only when the disk has no Windows', () => {
    const early = run([ph('discovered', 0), ph('loader', 1), ph('winpe', 2), { kind: 'failed', reason: 'no network: NIC driver', time: T0 + 5 * MIN }]).s;
    assert.equal(early.state, 'failed');
    assert.deepEqual(early.failure, { phase: 'winpe', reason: 'no network: NIC driver' });
    assert.equal(early.durations.winpe, 3 * MIN);
    assert.equal(early.finishedAt, T0 + 5 * MIN);
    const retry = step(early, ph('discovered', 10));
    assert.equal(retry.outcome, 'started');
    assert.equal(retry.status.attempt, 2);
    assert.equal(retry.status.failure, null);

    const late = run([ph('discovered', 0), ph('loader', 1), ph('applied', 15), ph('apps', 30), { kind: 'failed', reason: 'app install exited 1603', time: T0 + 40 * MIN }]).s;
    assert.equal(step(late, ph('discovered', 50)).outcome, 'ignored');
    assert.equal(step(late, { kind: 'failed', reason: 'again', time: T0 }).outcome, 'ignored');
  });

  test('redeploy: a done machine installs again at its next network boot, once', () => {
    const done = run(PHASE_ORDER.map((p, i) => ph(p, i))).s;
    const marked = step(done, { kind: 'redeploy', time: T0 + 30 * MIN });
    assert.equal(marked.outcome, 'redeploy-marked');
    assert.equal(marked.status.redeploy, true);
    assert.equal(marked.status.state, 'done');
    const again = step(marked.status, ph('discovered', 40));
    assert.equal(again.outcome, 'started');
    assert.equal(again.status.attempt, 2);
    assert.equal(again.status.redeploy, false);
    // A redeploy also takes a machine that is in its installed phases back.
    const mid = step(step(run([ph('discovered', 0), ph('loader', 1), ph('oobe', 20)]).s, { kind: 'redeploy', time: T0 }).status, ph('loader', 30));
    assert.equal(mid.outcome, 'started');
  });

  test('reports after done move nothing', () => {
    const done = run(PHASE_ORDER.map((p, i) => ph(p, i))).s;
    assert.equal(step(done, ph('apps', 60)).outcome, 'ignored');
    assert.equal(step(done, { kind: 'mark-done', time: T0 }).outcome, 'ignored');
  });

  test('mark done by hand ends an attempt where it stands', () => {
    const r = step(run([ph('discovered', 0), ph('loader', 1), ph('setup', 5)]).s, { kind: 'mark-done', time: T0 + 9 * MIN });
    assert.equal(r.outcome, 'done-by-hand');
    assert.equal(r.status.state, 'done');
    assert.equal(r.status.durations.setup, 4 * MIN);
    assert.equal(step(IDLE, { kind: 'mark-done', time: T0 }).status.attempt, 1);
  });

  test('a phase past its timeout is stalled; the next report moves it on', () => {
    const s = run([ph('discovered', 0), ph('loader', 1), ph('winpe', 2), ph('setup', 3)]).s;
    assert.equal(step(s, { kind: 'tick', time: T0 + 3 * MIN + DEFAULT_TIMEOUTS.setup }).outcome, 'ignored');
    const stalled = step(s, { kind: 'tick', time: T0 + 3 * MIN + DEFAULT_TIMEOUTS.setup + 1 });
    assert.equal(stalled.outcome, 'stalled');
    assert.equal(stalled.status.state, 'stalled');
    assert.equal(stalled.status.stalledIn, 'setup');
    assert.equal(stalled.status.phase, 'setup');
    assert.equal(holdsSlot(stalled.status), true);
    assert.equal(step(stalled.status, { kind: 'tick', time: T0 + 500 * MIN }).outcome, 'ignored');
    const moving = step(stalled.status, ph('applied', 200));
    assert.equal(moving.outcome, 'advanced');
    assert.equal(moving.status.state, 'applied');
    assert.equal(moving.status.stalledIn, null);
    assert.equal(moving.status.durations.setup, 197 * MIN);
    // Idle, done and failed machines never stall.
    for (const x of [IDLE, run(PHASE_ORDER.map((p, i) => ph(p, i))).s]) assert.equal(step(x, { kind: 'tick', time: T0 + 9999 * MIN }).outcome, 'ignored');
  });

  test('deferred: a machine sent to its disk right after DHCP goes back to waiting', () => {
    const s = step(IDLE, ph('discovered', 0)).status;
    const d = step(s, { kind: 'deferred', time: T0 + 1000 });
    assert.equal(d.outcome, 'deferred');
    assert.equal(d.status.state, 'idle');
    assert.equal(d.status.attempt, 0);
    const past = run([ph('discovered', 0), ph('loader', 1)]).s;
    assert.equal(step(past, { kind: 'deferred', time: T0 }).outcome, 'ignored');
  });

  test('slots: held from the loader until done or failed', () => {
    assert.equal(holdsSlot(step(IDLE, ph('discovered', 0)).status), false);
    assert.equal(holdsSlot(run([ph('discovered', 0), ph('loader', 1)]).s), true);
    assert.equal(holdsSlot(run([ph('loader', 1), ph('apps', 30)]).s), true);
    assert.equal(holdsSlot(run([ph('loader', 1), { kind: 'failed', reason: 'x', time: T0 }]).s), false);
  });
});

describe('the schedule', () => {
  const at = (h: number, m = 0) => new Date(2026, 11, 2, h, m).getTime();
  test('windows, also across midnight', () => {
    const w = parseWindow('22:00-05:00');
    assert.equal(w.text, '22:00-05:00');
    assert.equal(inWindow(w, at(21, 59)), false);
    assert.equal(inWindow(w, at(22, 0)), true);
    assert.equal(inWindow(w, at(3, 0)), true);
    assert.equal(inWindow(w, at(5, 0)), false);
    const day = parseWindow('9:30 - 17:00');
    assert.equal(day.text, '09:30-17:00');
    assert.equal(inWindow(day, at(12)), true);
    assert.equal(inWindow(day, at(18)), false);
    assert.equal(inWindow(parseWindow('00:00-00:00'), at(13)), true);
    assert.equal(nextOpening(w, at(12)), at(22));
    assert.equal(nextOpening(w, at(23)), at(23));
    for (const bad of ['22-05', '25:00-01:00', '22:00', '22:00-05:60', '']) assert.throws(() => parseWindow(bad), /HH:MM-HH:MM/, bad);
  });

  test('admission: deployment state, membership, window, cap', () => {
    const d = { name: 'tonight', window: parseWindow('22:00-05:00'), cap: 10, state: 'running' as const };
    const o = { member: true, holdsSlot: false, installing: 3, time: at(23) };
    assert.deepEqual(admit(null, o), { ok: true });
    assert.deepEqual(admit(d, o), { ok: true });
    assert.match((admit(d, { ...o, time: at(12) }) as { reason: string }).reason, /outside .*22:00-05:00/);
    assert.match((admit(d, { ...o, installing: 10 }) as { reason: string }).reason, /cap 10/);
    assert.deepEqual(admit(d, { ...o, installing: 10, holdsSlot: true }), { ok: true });
    assert.match((admit(d, { ...o, member: false }) as { reason: string }).reason, /not in deployment/);
    assert.match((admit({ ...d, state: 'stopped' }, o) as { reason: string }).reason, /stopped/);
  });
});

describe('the fleet over its store', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ovn-fleet-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a reopened store resumes every machine at its recorded phase, durations and all', () => {
    const path = join(dir, 'resume.sqlite');
    let now = T0;
    let store = Store.open(path);
    let fleet = new Fleet({ store, now: () => now });
    const macs = Array.from({ length: 20 }, (_, i) => `02:00:5e:00:00:${i.toString(16).padStart(2, '0')}`);
    macs.forEach((mac, i) => {
      fleet.seen(mac, { name: `PC-${i}`, known: true, group: i % 2 ? 'odd' : 'even' });
      for (const p of PHASE_ORDER.slice(0, 1 + (i % PHASE_ORDER.length))) {
        fleet.phase(mac, p, 'test');
        now += MIN;
      }
    });
    fleet.fail(macs[3]!, 'setup.exe exited 31', 'report');
    const before = fleet.views();
    fleet.close();
    store.close();

    store = Store.open(path);
    fleet = new Fleet({ store, now: () => now });
    assert.deepEqual(fleet.views(), before);
    const m3 = fleet.view(macs[3]!)!;
    assert.equal(m3.state, 'failed');
    assert.deepEqual(m3.failure, { phase: 'share', reason: 'setup.exe exited 31' });
    const m5 = fleet.view(macs[5]!)!;
    assert.equal(m5.phase, 'applied');
    assert.equal(m5.group, 'odd');
    // It goes on from there.
    fleet.phase(macs[5]!, 'specialize', 'report');
    assert.equal(fleet.view(macs[5]!)!.durations.applied, now - m5.phaseSince!);
    assert.deepEqual(
      store.events({ mac: macs[2]! }).map((e) => e.phase),
      ['discovered', 'loader', 'winpe'],
    );
    fleet.close();
    store.close();
  });

  test('a change by another process (overnight machines redeploy) reaches the running fleet within a tick', () => {
    const path = join(dir, 'two.sqlite');
    const a = Store.open(path);
    const fleet = new Fleet({ store: a });
    const seenChanges: string[] = [];
    fleet.subscribe((c) => {
      if (c.type === 'machine') seenChanges.push(`${c.machine.mac} ${c.machine.redeploy}`);
    });
    for (const p of PHASE_ORDER) fleet.phase('02:00:5e:00:01:01', p, 'test');
    assert.equal(fleet.decideBoot('02:00:5e:00:01:01').install, false);
    const b = Store.open(path);
    const other = new Fleet({ store: b });
    other.redeploy('02:00:5e:00:01:01', 'cli');
    other.close();
    b.close();
    seenChanges.length = 0;
    fleet.tick();
    assert.deepEqual(seenChanges, ['02:00:5e:00:01:01 true']);
    assert.equal(fleet.decideBoot('02:00:5e:00:01:01').install, true);
    fleet.close();
    a.close();
  });

  test('the cap: a machine over it boots its disk, goes back to waiting, and gets its turn when a slot frees', () => {
    const store = Store.open(join(dir, 'cap.sqlite'));
    const fleet = new Fleet({ store });
    fleet.setDeployment({ cap: 2 });
    fleet.startDeployment();
    const [a, b, c] = ['02:00:5e:00:02:01', '02:00:5e:00:02:02', '02:00:5e:00:02:03'];
    for (const mac of [a, b]) {
      fleet.phase(mac!, 'discovered', 'dhcp');
      assert.equal(fleet.decideBoot(mac!).install, true);
      fleet.phase(mac!, 'loader', 'http');
    }
    fleet.phase(c!, 'discovered', 'dhcp');
    const d = fleet.decideBoot(c!);
    assert.equal(d.install, false);
    assert.match(d.reason!, /installs 2 machines \(cap 2\)/);
    fleet.deferred(c!, d.reason!);
    assert.equal(fleet.view(c!)!.state, 'idle');
    assert.equal(fleet.installing(), 2);
    fleet.fail(a!, 'x', 'report');
    assert.equal(fleet.decideBoot(c!).install, true);
    // The log of the whole fleet holds the deployment's changes.
    assert.ok(store.events().some((e) => e.mac === FLEET && /cap 2/.test(e.detail ?? '')));
    assert.equal(store.machine(FLEET), undefined);
    fleet.close();
    store.close();
  });

  test('Wake-on-LAN: paced by the cap and per tick, retried, then given up with a note', async () => {
    const store = Store.open(join(dir, 'wake.sqlite'));
    let now = T0;
    const sent: string[][] = [];
    const fleet = new Fleet({ store, now: () => now, wake: async (macs) => void sent.push(macs), wakeTimeoutMs: 3 * MIN, wakeTries: 2, wakePerTick: 3 });
    const macs = Array.from({ length: 8 }, (_, i) => `02:00:5e:00:03:0${i}`);
    for (const mac of macs) fleet.seen(mac, { known: true, group: 'lab' });
    fleet.seen('02:00:5e:00:03:99', { known: true, group: 'office' });
    fleet.setDeployment({ group: 'lab', cap: 4, wake: true });
    fleet.tick();
    assert.equal(sent.length, 0, 'not before it starts');
    fleet.startDeployment();
    const settle = () => new Promise((r) => setImmediate(r));
    fleet.tick();
    await settle();
    assert.deepEqual(sent, [macs.slice(0, 3)]);
    fleet.tick();
    await settle();
    assert.deepEqual(sent[1], [macs[3]], 'the cap of 4 counts machines woken and not yet seen');
    fleet.tick();
    await settle();
    assert.equal(sent.length, 2);
    // Two appear and start installing; the other two stay silent.
    for (const mac of macs.slice(0, 2)) {
      fleet.phase(mac, 'discovered', 'dhcp');
      fleet.phase(mac, 'loader', 'http');
    }
    fleet.tick();
    await settle();
    assert.equal(sent.length, 2, 'still 4: 2 installing, 2 woken and waited for');
    now += 3 * MIN + 1;
    fleet.tick();
    await settle();
    assert.deepEqual(sent[2], [macs[2], macs[3]], 'woken again after the timeout');
    now += 3 * MIN + 1;
    fleet.tick();
    await settle();
    assert.ok(!sent.slice(3).flat().includes(macs[2]!), 'given up after 2 tries');
    assert.ok(store.events({ mac: macs[2]! }).some((e) => /did not appear after 2 Wake-on-LAN/.test(e.detail ?? '')));
    assert.ok(!sent.flat().includes('02:00:5e:00:03:99'), 'not a member');
    assert.equal(store.events({ mac: macs[0]! }).filter((e) => e.phase === 'wake').length, 1);
    fleet.close();
    store.close();
  });

  test('schema migration from the first version keeps machines and maps the old phases', async () => {
    const { DatabaseSync } = await import('node:sqlite');
    const path = join(dir, 'v1.sqlite');
    const db = new DatabaseSync(path);
    db.exec(`CREATE TABLE machines (mac TEXT PRIMARY KEY, name TEXT, profile TEXT, media TEXT, firmware TEXT, known INTEGER NOT NULL DEFAULT 0, approval TEXT, phase TEXT, failure TEXT, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL);
      CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, mac TEXT NOT NULL, phase TEXT NOT NULL, source TEXT NOT NULL, detail TEXT);
      CREATE INDEX events_mac ON events (mac, id);
      INSERT INTO machines VALUES ('02:00:00:00:00:01', 'A', NULL, NULL, 'bios', 1, NULL, 'setup', NULL, 1, 2);
      INSERT INTO machines VALUES ('02:00:00:00:00:02', 'B', NULL, NULL, 'bios', 1, NULL, 'failed', 'setup.exe exited 31', 1, 2);
      INSERT INTO machines VALUES ('02:00:00:00:00:03', 'C', NULL, NULL, 'bios', 0, NULL, 'dhcp', NULL, 1, 2);
      INSERT INTO events (time, mac, phase, source) VALUES (1, '02:00:00:00:00:03', 'dhcp', 'dhcp');
      PRAGMA user_version = 1;`);
    db.close();
    const store = Store.open(path);
    assert.equal(store.machine('02:00:00:00:00:01')!.status.state, 'setup');
    assert.equal(store.machine('02:00:00:00:00:02')!.status.state, 'failed');
    assert.equal(store.machine('02:00:00:00:00:02')!.status.failure!.reason, 'setup.exe exited 31');
    assert.equal(store.machine('02:00:00:00:00:03')!.status.phase, 'discovered');
    assert.equal(store.events()[0]!.phase, 'discovered');
    assert.deepEqual(store.leases(), []);
    store.close();
  });
});
