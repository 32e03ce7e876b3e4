// The fleet inside `overnight serve`, as an administrator runs it in a lab namespace:
// - kill -9 in the middle of a deployment, then a restart: every machine resumes at its recorded
//   phase with its durations, and goes on to done;
// - the night's window and cap decide who installs: outside the window or above the cap a machine
//   is sent to its local disk and goes back to waiting;
// - `overnight report` reads the records in the morning.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../src/cli/main.ts';
import type { DeploymentView, MachineView } from '../src/fleet/model.ts';
import { PHASE_ORDER } from '../src/fleet/model.ts';
import { buildWindowsIso, type WindowsMedia } from './helpers/media.ts';
import { Lab, canUseNetns, waitForOutput } from './helpers/netns.ts';
import { WIN7_PROFILE } from './helpers/serve.ts';
import { standinKernel } from './helpers/standin.ts';
import { tempDir } from './helpers/tools.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'overnight.js');
const root = await canUseNetns();
const mac = (i: number) => `52:54:00:6f:00:${i.toString(16).padStart(2, '0')}`;

describe('the fleet in overnight serve', { concurrency: false, skip: !root && 'needs root for network namespaces' }, () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let win7: WindowsMedia;
  let loaders: string;
  let profile: string;
  before(async () => {
    tmp = await tempDir();
    await chmod(tmp.dir, 0o755);
    win7 = await buildWindowsIso(join(tmp.dir, 'iso'), '7-x64');
    profile = join(tmp.dir, 'profile.yaml');
    await writeFile(profile, WIN7_PROFILE);
    loaders = join(tmp.dir, 'loaders');
    await mkdir(loaders);
    await copyFile(await standinKernel(), join(loaders, 'wimboot'));
  });
  after(async () => {
    await tmp?.cleanup();
  });

  async function lab(tag: string, subnet: string) {
    const l = await Lab.create(tag);
    const srv = await l.addHost('srv', `${subnet}.1/24`);
    const cli = await l.addHost('cli', `${subnet}.50/24`);
    const base = `http://${subnet}.1:8080`;
    const curl = async (url: string, ...more: string[]) => (await l.exec(cli.ns, 'curl', ['-sS', '--fail-with-body', ...more, url])).stdout;
    const api = async <T>(path: string, ...more: string[]): Promise<T> => JSON.parse((await l.exec(srv.ns, 'curl', ['-sS', '--fail-with-body', ...more, `http://127.0.0.1:7780${path}`])).stdout) as T;
    const start = async (data: string, extra: string[] = []) => {
      const c = l.spawn(srv.ns, process.execPath, [BIN, 'serve', '--iso', win7.iso, '--profile', profile, '--interface', 'eth0', '--data', data, '--loaders', loaders, '--http-port', '8080', '--tftp-port', '6969', '--dhcp', 'off', '--json', ...extra]);
      const out = await waitForOutput(c, /"ready"/, 120_000);
      return { child: c, ready: JSON.parse(out.split('\n').find((l) => l.includes('"ready"'))!).ready };
    };
    /** What iPXE does: the stub, then the script for its platform. */
    const boot = async (m: string) => {
      await curl(`${base}/boot/${m}.ipxe`);
      return curl(`${base}/boot/${m}.ipxe?platform=pcbios&buildarch=i386`);
    };
    const report = (m: string, phase: string, detail = '') => curl(`${base}/report/${m}/${phase}`, '-X', 'POST', '--data-binary', detail);
    return { l, srv, cli, base, curl, api, start, boot, report };
  }

  it('kill -9 in the middle of a deployment: a restart resumes every machine at its recorded phase', { timeout: 180_000 }, async () => {
    const t = await lab('kill', '10.98.0');
    let child: ChildProcess | undefined;
    try {
      const data = join(tmp.dir, 'data-kill');
      child = (await t.start(data)).child;
      // Twelve machines, each stopped at a different point of its install.
      const reports = PHASE_ORDER.slice(2); // winpe … done
      for (let i = 0; i < 12; i++) {
        assert.match(await t.boot(mac(i)), /wimboot/);
        for (const p of reports.slice(0, i % (reports.length + 1))) await t.report(mac(i), p);
      }
      await t.report(mac(11), 'failed', 'setup.exe exited 31');
      const before = await t.api<MachineView[]>('/api/machines');
      assert.equal(before.length, 12);
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));

      child = (await t.start(data)).child;
      const resumed = await t.api<MachineView[]>('/api/machines');
      const strip = (v: MachineView) => ({ ...v, lastSeen: 0, address: null });
      assert.deepEqual(resumed.map(strip), before.map(strip), 'every machine as it was recorded');
      assert.deepEqual(
        resumed.map((v) => v.state),
        ['loader', 'winpe', 'share', 'setup', 'applied', 'specialize', 'oobe', 'firstlogon', 'apps', 'done', 'loader', 'failed'],
      );
      // They go on from there: every unfinished one reaches done, with the time before the kill
      // counted in its durations.
      for (const v of resumed) {
        if (v.state === 'done' || v.state === 'failed') continue;
        if (v.phase === 'loader') await t.report(v.mac, 'winpe');
        for (const p of reports.slice(reports.indexOf(v.phase as (typeof reports)[number]) + 1)) await t.report(v.mac, p);
      }
      const finished = await t.api<MachineView[]>('/api/machines');
      assert.deepEqual(
        finished.map((v) => v.state),
        [...Array(11).fill('done'), 'failed'],
      );
      const m4 = finished[4]!;
      assert.ok((m4.durations.applied ?? 0) >= Date.now() - Date.now() && (m4.durations.applied ?? 0) > 0, 'the phase that spanned the kill is timed');
      assert.equal(m4.attempt, 1, 'no machine started over');
    } finally {
      if (child) await t.l.stop(child);
      await t.l.destroy();
    }
  });

  it('the window and the cap decide who installs; the rest boot their disk and wait', { timeout: 180_000 }, async () => {
    const t = await lab('cap', '10.99.0');
    let child: ChildProcess | undefined;
    try {
      const data = join(tmp.dir, 'data-cap');
      // A window that is closed now: nobody installs.
      const h = (new Date().getHours() + 2) % 24;
      const closed = `${String(h).padStart(2, '0')}:00-${String((h + 1) % 24).padStart(2, '0')}:00`;
      child = (await t.start(data, ['--window', closed, '--cap', '2'])).child;
      const d0 = await t.api<DeploymentView>('/api/deployment');
      assert.deepEqual([d0.window, d0.cap, d0.state, d0.inWindow], [closed, 2, 'running', false]);
      const refused = await t.boot(mac(1));
      assert.match(refused, /sanboot --no-describe --drive 0x80/);
      assert.match(refused, new RegExp(`outside deployment "tonight"'s window ${closed}`));
      assert.equal((await t.api<MachineView>(`/api/machines/${mac(1)}`)).state, 'idle');

      // The administrator opens the window from the dashboard: the cap of 2 holds.
      const token = (await t.l.exec(t.srv.ns, 'cat', [join(data, 'admin-token')])).stdout.trim();
      const put = await t.api<DeploymentView>('/api/deployment', '-X', 'PUT', '-H', `authorization: Bearer ${token}`, '-H', 'content-type: application/json', '--data', '{"window":null}');
      assert.equal(put.inWindow, true);
      const scripts = [];
      for (let i = 1; i <= 4; i++) scripts.push(await t.boot(mac(i)));
      assert.deepEqual(
        scripts.map((s) => (/wimboot/.test(s) ? 'install' : /sanboot/.test(s) ? 'disk' : s)),
        ['install', 'install', 'disk', 'disk'],
      );
      assert.match(scripts[2]!, /already installs 2 machines \(cap 2\)/);
      // One finishes: the next one in gets the slot; the other still waits.
      for (const p of PHASE_ORDER.slice(2)) await t.report(mac(1), p);
      assert.match(await t.boot(mac(3)), /wimboot/);
      assert.match(await t.boot(mac(4)), /cap 2/);
      // The finished one boots its disk even with a free slot.
      await t.report(mac(2), 'failed', 'no network: NIC driver');
      const again = await t.boot(mac(1));
      assert.match(again, /Windows is installed on it/);
      const states = (await t.api<MachineView[]>('/api/machines')).map((v) => `${v.mac.slice(-2)} ${v.state} ${v.installing}`);
      assert.deepEqual(states, ['01 done false', '02 failed false', '03 loader true', '04 idle false']);

      // The morning report, from the records.
      const out: string[] = [];
      assert.equal(await main(['report', '--data', data, '--json'], { out: (s) => out.push(s), err: () => {} }), 0);
      const r = JSON.parse(out.join('\n')) as { totals: { machines: number }; machines: { mac: string; state: string }[] };
      assert.equal(r.totals.machines, 4);
      assert.deepEqual(
        r.machines.map((m) => m.state).sort(),
        ['done', 'failed', 'idle', 'loader'],
      );
      const csv: string[] = [];
      assert.equal(await main(['report', '--data', data, '--csv'], { out: (s) => csv.push(s), err: () => {} }), 0);
      assert.equal(csv.join('\n').trim().split('\n').length, 5, 'a header and a row per machine');
      const html: string[] = [];
      assert.equal(await main(['report', '--data', data, '--html'], { out: (s) => html.push(s), err: () => {} }), 0);
      assert.match(html.join('\n'), /no network: NIC driver/);
    } finally {
      if (child) await t.l.stop(child);
      await t.l.destroy();
    }
  });
});
