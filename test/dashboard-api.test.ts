// The dashboard's API on loopback, over a real fleet and store, with curl and fetch as clients:
// reads, changes with and without the admin token, malformed and oversized bodies, traversal in a
// MAC or a name, a foreign Host header, the live stream, and secrets masked in what it shows.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compileProfile } from '../src/answer/compile.ts';
import { parseProfile } from '../src/answer/profile.ts';
import { renderUnattend } from '../src/answer/xml.ts';
import { Fleet } from '../src/fleet/fleet.ts';
import type { MachineView } from '../src/fleet/model.ts';
import { loadOrCreateToken, maskAnswerFile, maskSecret, MASK } from '../src/fleet/secrets.ts';
import { type DashboardServer, MAX_BODY_BYTES, startDashboard } from '../src/net/http/dashboard.ts';
import { Store } from '../src/store/store.ts';
import { WIN7_PROFILE } from './helpers/serve.ts';

const A = '52:54:00:aa:00:01';
const B = '52:54:00:aa:00:02';

function curl(args: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--path-as-is', '-o', '-', '-w', '\n%{http_code}', ...args], { maxBuffer: 1 << 24 }, (err, stdout) => {
      if (err && !stdout) return reject(err);
      const i = stdout.lastIndexOf('\n');
      resolve({ status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) });
    });
  });
}

describe('the dashboard API', () => {
  let dir: string;
  let store: Store;
  let fleet: Fleet;
  let server: DashboardServer;
  let token: string;
  const xml = renderUnattend(compileProfile(parseProfile(WIN7_PROFILE.replace('productKey: none', 'productKey: FJ82H-XT6CR-J8D7P-XQJJ2-GPDD4')), { machine: { mac: A, n: 1 }, firmware: 'bios' }).doc);
  const startScript = 'net use \\\\10.0.0.1\\win7 s3cret-Passw0rd /user:10.0.0.1\\overnight';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ovn-dash-'));
    store = Store.open(join(dir, 'overnight.sqlite'));
    fleet = new Fleet({ store, wake: async () => {} });
    fleet.seen(A, { name: 'LAB-01', known: true, group: 'lab' });
    fleet.phase(A, 'discovered', 'dhcp');
    fleet.phase(A, 'loader', 'http');
    token = (await loadOrCreateToken(dir)).token;
    server = await startDashboard({
      token,
      port: 0,
      flushMs: 20,
      webRoot: undefined,
      api: {
        fleet,
        profiles: () => ['lab'],
        state: () => ({ version: 'test' }),
        answer: (mac) => (mac === A ? maskAnswerFile(xml) : undefined),
        script: (mac) => (mac === A ? maskSecret(startScript, ['s3cret-Passw0rd']) : undefined),
      },
    });
  });
  after(async () => {
    await server?.close();
    fleet?.close();
    store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const auth = () => ['-H', `authorization: Bearer ${token}`];

  test('the token: made once, 0600, the same on the next start', async () => {
    assert.match(token, /^[A-Za-z0-9_-]{32}$/);
    assert.equal((await stat(join(dir, 'admin-token'))).mode & 0o777, 0o600);
    assert.deepEqual(await loadOrCreateToken(dir), { token, file: join(dir, 'admin-token'), created: false });
  });

  test('reads need no token', async () => {
    const ms = (await (await fetch(`${server.url}/api/machines`)).json()) as MachineView[];
    assert.deepEqual(
      ms.map((m) => [m.mac, m.name, m.state, m.installing]),
      [[A, 'LAB-01', 'loader', true]],
    );
    const one = await curl([`${server.url}/api/machines/52-54-00-AA-00-01`]);
    assert.equal(one.status, 200);
    assert.equal((JSON.parse(one.body) as MachineView).mac, A);
    const evs = JSON.parse((await curl([`${server.url}/api/machines/${A}/events`])).body) as { phase: string }[];
    assert.deepEqual(
      evs.map((e) => e.phase),
      ['discovered', 'loader'],
    );
    const state = JSON.parse((await curl([`${server.url}/api/state`])).body) as { counts: Record<string, number>; timings: { count: number } };
    assert.deepEqual(state.counts, { loader: 1 });
    assert.ok(state.timings.count >= 2);
    assert.equal((await curl([`${server.url}/api/machines/${B}`])).status, 404);
  });

  test('every change needs the token: none or a wrong one is 401 and changes nothing', async () => {
    for (const [method, path] of [
      ['POST', `/api/machines/${A}/redeploy`],
      ['POST', `/api/machines/${A}/done`],
      ['POST', `/api/machines/${A}/approve`],
      ['PUT', `/api/deployment`],
      ['POST', `/api/deployment/start`],
      ['POST', `/api/deployment/wake`],
      ['PUT', `/api/machines/${A}`],
    ] as const) {
      for (const extra of [[], ['-H', 'authorization: Bearer wrong-token-wrong-token-wrong-tok'], ['-H', `authorization: Basic ${token}`]]) {
        const r = await curl(['-X', method, ...extra, '-H', 'content-type: application/json', '--data', '{"cap":1,"name":"X"}', `${server.url}${path}`]);
        assert.equal(r.status, 401, `${method} ${path} ${extra.join(' ')}`);
        assert.match(JSON.parse(r.body).error, /admin token is missing or wrong/);
      }
    }
    assert.equal(fleet.view(A)!.state, 'loader');
    assert.equal(fleet.view(A)!.redeploy, false);
    assert.equal(fleet.deployment(), null);
  });

  test('with the token: redeploy, deployment edits, start, stop', async () => {
    const r = await curl(['-X', 'POST', ...auth(), `${server.url}/api/machines/${A}/redeploy`]);
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body) as MachineView).redeploy, true);
    const d = await curl(['-X', 'PUT', ...auth(), '-H', 'content-type: application/json', '--data', '{"window":"22:00-5:00","cap":10,"group":"lab","wake":true}', `${server.url}/api/deployment`]);
    assert.equal(d.status, 200, d.body);
    assert.deepEqual(
      (({ window, cap, group, wake, state }) => ({ window, cap, group, wake, state }))(JSON.parse(d.body)),
      { window: '22:00-05:00', cap: 10, group: 'lab', wake: true, state: 'planned' },
    );
    assert.equal(JSON.parse((await curl(['-X', 'POST', ...auth(), `${server.url}/api/deployment/start`])).body).state, 'running');
    assert.equal(JSON.parse((await curl(['-X', 'POST', ...auth(), `${server.url}/api/deployment/stop`])).body).state, 'stopped');
    const e = await curl(['-X', 'PUT', ...auth(), '-H', 'content-type: application/json', '--data', '{"name":"LAB-07","group":"lab-2"}', `${server.url}/api/machines/${A}`]);
    assert.equal(e.status, 200, e.body);
    assert.equal(fleet.view(A)!.name, 'LAB-07');
  });

  test('bad bodies: malformed JSON, wrong fields, wrong type, oversized', async () => {
    const put = (body: string, type = 'application/json') => curl(['-X', 'PUT', ...auth(), '-H', `content-type: ${type}`, '--data-binary', body, `${server.url}/api/deployment`]);
    const bad = await put('{"cap": 10,');
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).error, /malformed JSON/);
    assert.match(JSON.parse((await put('{"cap": -1}')).body).error, /^cap: /);
    assert.match(JSON.parse((await put('{"window": "late"}')).body).error, /window is HH:MM-HH:MM/);
    assert.match(JSON.parse((await put('{"colour": "red"}')).body).error, /colour/);
    assert.match(JSON.parse((await put('{"machines": ["../../etc"]}')).body).error, /not a MAC address/);
    assert.equal((await put('[1,2]')).status, 400);
    assert.equal((await put('cap=1', 'application/x-www-form-urlencoded')).status, 415);
    const big = await put(JSON.stringify({ name: 'x'.repeat(MAX_BODY_BYTES) }));
    assert.equal(big.status, 413);
    // Sent without a length (chunked): counted as it arrives.
    const chunked = await curl(['-X', 'PUT', ...auth(), '-H', 'content-type: application/json', '-H', 'transfer-encoding: chunked', '--data-binary', JSON.stringify({ name: 'y'.repeat(40_000) }), `${server.url}/api/deployment`]);
    assert.equal(chunked.status, 413);
    assert.equal(fleet.deployment()!.name, 'tonight');
  });

  test('traversal in a MAC or a name is refused', async () => {
    for (const path of [`/api/machines/..%2F..%2Fetc%2Fpasswd/answer`, `/api/machines/%2e%2e/events`, `/api/machines/52:54:00:aa:00:01%00/answer`, `/api/machines/..%5C..%5Cwin.ini`]) {
      const r = await curl([`${server.url}${path}`]);
      assert.equal(r.status, 400, path);
      assert.match(JSON.parse(r.body).error, /not a MAC address|path component|forbidden character/, path);
    }
    for (const name of ['../../etc', 'a/b', 'PC 01', 'x'.repeat(16), '12345', 'C:\\\\x']) {
      const r = await curl(['-X', 'PUT', ...auth(), '-H', 'content-type: application/json', '--data', JSON.stringify({ name }), `${server.url}/api/machines/${A}`]);
      assert.equal(r.status, 400, name);
      assert.match(JSON.parse(r.body).error, /^name: a computer name/, name);
    }
    const g = await curl(['-X', 'PUT', ...auth(), '-H', 'content-type: application/json', '--data', '{"group":"../x"}', `${server.url}/api/machines/${A}`]);
    assert.equal(g.status, 400);
    const p = await curl(['-X', 'PUT', ...auth(), '-H', 'content-type: application/json', '--data', '{"profile":"other"}', `${server.url}/api/machines/${A}`]);
    assert.match(JSON.parse(p.body).error, /profile: "other" is not one of lab/);
    assert.equal(fleet.view(A)!.name, 'LAB-07');
  });

  test('a page from another site cannot read it through DNS rebinding: a foreign Host is refused', async () => {
    const r = await curl(['-H', 'host: attacker.example:7780', `${server.url}/api/machines`]);
    assert.equal(r.status, 421);
    assert.equal((await curl(['-H', `host: localhost:${server.port}`, `${server.url}/api/machines`])).status, 200);
  });

  test('the answer file and start script are shown with their secrets masked', async () => {
    const a = await curl([`${server.url}/api/machines/${A}/answer`]);
    assert.equal(a.status, 200);
    assert.ok(xml.includes('change-me') || /<Value>[^<]+<\/Value>/.test(xml));
    assert.doesNotMatch(a.body, /change-me/);
    assert.match(a.body, new RegExp(`<Value>${MASK.replace(/\*/g, '\\*')}</Value>`));
    assert.doesNotMatch(a.body, /FJ82H-XT6CR/);
    assert.match(a.body, /XXXXX-XXXXX-XXXXX-XXXXX-GPDD4/);
    // Only the secrets go: the rest is the same document.
    assert.equal(a.body.replace(/<Value>[^<]*<\/Value>/g, '').replace(/<(ProductKey|Key)>[^<]*<\//g, '<$1></'), xml.replace(/<Value>[^<]*<\/Value>/g, '').replace(/<(ProductKey|Key)>[^<]*<\//g, '<$1></'));
    const s = await curl([`${server.url}/api/machines/${A}/script`]);
    assert.doesNotMatch(s.body, /s3cret/);
    assert.match(s.body, /net use \\\\10\.0\.0\.1\\win7 \*{8} \/user:/);
    assert.equal((await curl([`${server.url}/api/machines/${B}/answer`])).status, 404);
  });

  test('the stream: a snapshot first, then each change within the flush interval', async () => {
    const ac = new AbortController();
    const res = await fetch(`${server.url}/api/stream`, { signal: ac.signal });
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = res.body!.getReader();
    let buf = '';
    const next = async (event: string, pred: (d: unknown) => boolean = () => true): Promise<unknown> => {
      for (;;) {
        const m = new RegExp(`event: ${event}\\ndata: (.*)\\n\\n`).exec(buf);
        if (m) {
          buf = buf.slice(m.index + m[0].length);
          const d = JSON.parse(m[1]!);
          if (pred(d)) return d;
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buf += Buffer.from(value).toString('utf8');
      }
    };
    const snap = (await next('snapshot')) as { machines: MachineView[] };
    assert.equal(snap.machines.length, 1);
    const t0 = performance.now();
    fleet.phase(B, 'discovered', 'dhcp');
    const m = (await next('machine', (d) => (d as MachineView).mac === B)) as MachineView;
    assert.equal(m.state, 'discovered');
    assert.ok(performance.now() - t0 < 1000);
    const e = (await next('event', (d) => (d as { mac: string }).mac === B)) as { phase: string };
    assert.equal(e.phase, 'discovered');
    ac.abort();
  });

  test('unknown routes and methods', async () => {
    assert.equal((await curl([`${server.url}/api/nothing`])).status, 404);
    assert.equal((await curl(['-X', 'DELETE', ...auth(), `${server.url}/api/machines`])).status, 405);
    assert.equal((await curl(['-X', 'POST', ...auth(), `${server.url}/api/deployment/explode`])).status, 404);
    const page = await curl([`${server.url}/`]);
    assert.equal(page.status, 503);
    assert.match(page.body, /npm run build:web/);
  });
});
