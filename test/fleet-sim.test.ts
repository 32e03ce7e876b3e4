// The night with 100 simulated machines: `overnight serve --cap 10 --wake` and `overnight simulate
// --machines 100 --wait-for-wake` on one segment. Every machine is off until the server wakes it;
// the server wakes them as slots free; from the server's records, never more than 10 install at
// once, and all 100 finish.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EventView, MachineView } from '../src/fleet/model.ts';
import { canUseNetns, waitForOutput } from './helpers/netns.ts';
import { type FleetLab, simulatedMacs, startFleetLab } from './helpers/fleet-lab.ts';

const root = await canUseNetns();
const N = 100;
const CAP = 10;

/** The most intervals open at one instant (an interval ends before one starting at the same time). */
function maxOverlap(intervals: readonly [number, number][]): number {
  const points = intervals.flatMap(([a, b]) => [
    [a, 1],
    [b, -1],
  ]) as [number, number][];
  points.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of points) max = Math.max(max, (cur += d));
  return max;
}

describe('a night of 100 machines with a cap of 10', { skip: !root && 'needs root for network namespaces' }, () => {
  let fl: FleetLab;
  before(async () => {
    fl = await startFleetLab({ tag: 'night', subnet: '10.101.0', inventory: simulatedMacs(N), serveArgs: ['--cap', String(CAP), '--wake'] });
  });
  after(async () => {
    await fl?.close();
  });

  it('wakes them as slots free, never more than the cap install at once, and all finish', { timeout: 300_000 }, async () => {
    const sim = fl.simulate(['--machines', String(N), '--wait-for-wake', '--speed', '600', '--seed', '7', '--json']);
    const out = await waitForOutput(sim, /"summary"/, 240_000);
    const summary = JSON.parse(out.split('\n').find((l) => l.includes('"summary"'))!).summary as Record<string, unknown>;
    const machines = await fl.api<MachineView[]>('/api/machines');
    assert.equal(machines.length, N);
    assert.deepEqual(
      [...new Set(machines.map((m) => m.state))],
      ['done'],
      `every machine finished: ${JSON.stringify(summary)}`,
    );
    // From the server's own log: each machine holds a slot from its loader until done.
    const events = await fl.api<EventView[]>('/api/events?limit=10000');
    const intervals: [number, number][] = [];
    for (const mac of machines.map((m) => m.mac)) {
      const evs = events.filter((e) => e.mac === mac);
      const start = evs.find((e) => e.phase === 'loader')!.time;
      const end = evs.find((e) => e.phase === 'done')!.time;
      intervals.push([start, end]);
    }
    const most = maxOverlap(intervals);
    assert.ok(most <= CAP, `${most} installed at once`);
    // The cap is used: a slot is held from a machine's first wake until it is done (the server
    // counts machines woken and still booting against the cap), and the held slots reach the cap.
    // Counted from the wake, not the loader: on a loaded machine a simulated PC may take longer
    // to boot than to install, and fewer than the cap are then past their loader at once.
    const held: [number, number][] = machines.map((m) => {
      const evs = events.filter((e) => e.mac === m.mac);
      return [evs.find((e) => e.phase === 'wake')!.time, evs.find((e) => e.phase === 'done')!.time];
    });
    assert.equal(maxOverlap(held), CAP, `the cap was used (${most} past their loader at once)`);
    // Nobody was booted before it was woken, and the machines that found the cap full (none
    // should: the server wakes only as many as there is room for) went back to waiting.
    const wakes = events.filter((e) => e.phase === 'wake');
    assert.ok(wakes.length >= N, `${wakes.length} Wake-on-LAN events`);
    for (const mac of machines.map((m) => m.mac)) {
      const evs = events.filter((e) => e.mac === mac);
      assert.ok(evs.findIndex((e) => e.phase === 'wake') < evs.findIndex((e) => e.phase === 'discovered'), `${mac} was woken before it booted`);
    }
  });
});
