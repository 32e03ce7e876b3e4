/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The dashboard in Debian's Chromium (playwright-core) against `overnight serve` driven by 300
// simulated machines (`overnight simulate`: real DHCP, TFTP, HTTP and phase reports):
// the grid shows every machine and updates live, the filters and the search work, a machine's
// detail shows its timeline, and a change without the admin token is refused. Screenshots go to
// test-results/.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { MachineView } from '../src/fleet/model.ts';
import { type Browser, collectErrors, hasChromium, launchBrowser, type Page, screenshot } from './helpers/browser.ts';
import { DASHBOARD, type FleetLab, startFleetLab } from './helpers/fleet-lab.ts';
import { canUseNetns } from './helpers/netns.ts';

const root = await canUseNetns();
const chromium = await hasChromium();
const N = 300;

describe('the dashboard with 300 machines', { concurrency: false, skip: (!root && 'needs root for network namespaces') || (!chromium && 'needs Chromium (apt-get install chromium)') }, () => {
  let fl: FleetLab;
  let browser: Browser;
  let page: Page;
  let sim: ChildProcess;
  let errors: string[];
  before(async () => {
    fl = await startFleetLab({ tag: 'dash', subnet: '10.102.0' });
    // About a minute per install (a real one takes ~25): the grid moves while the test looks.
    sim = fl.simulate(['--machines', String(N), '--speed', '30', '--seed', '11', '--fail-rate', '0.05', '--stagger', '40']);
    browser = await launchBrowser({ netns: fl.srv.ns });
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    errors = collectErrors(page);
  });
  after(async () => {
    await browser?.close();
    if (sim) await fl.lab.stop(sim);
    await fl?.close();
  });

  const rows = () => page.locator('[role="grid"][aria-label="Machines"] [data-mac]');

  it('loads with the token from the URL, which leaves the address bar', async () => {
    await page.goto(`${DASHBOARD}/#token=${fl.token}`);
    await page.locator('[data-connection="live"]').waitFor({ timeout: 30_000 });
    assert.equal(new URL(page.url()).hash, '');
    assert.equal(await page.evaluate(() => Object.values(sessionStorage).some((v) => v.length >= 32)), true);
  });

  it('the grid fills with every machine and updates live', { timeout: 180_000 }, async () => {
    await page.waitForFunction((n) => document.querySelectorAll('[role="grid"] [data-mac]').length >= n, N, { timeout: 120_000 });
    await screenshot(page, 'dashboard-300-filling');
    // Watch one row change state without reloading.
    const row = rows().first();
    const mac = (await row.getAttribute('data-mac'))!;
    const first = await row.getAttribute('data-state');
    await page.waitForFunction(([m, s]) => document.querySelector(`[data-mac="${m}"]`)?.getAttribute('data-state') !== s, [mac, first] as const, { timeout: 60_000 });
    // The page and the server agree (give the stream its flush interval).
    await page.waitForTimeout(500);
    const api = await fl.api<MachineView[]>('/api/machines');
    const onPage = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('[role="grid"] [data-mac]')].map((r) => [r.getAttribute('data-mac'), r.getAttribute('data-state')])));
    const same = api.filter((m) => onPage[m.mac] === m.state).length;
    assert.ok(same >= N * 0.9, `${same} of ${N} rows show the server's state`);
    assert.deepEqual(errors, []);
  });

  it('filters by state and searches by MAC', { timeout: 180_000 }, async () => {
    // Wait until some machines have failed (--fail-rate 0.05).
    await page.waitForFunction(() => document.querySelectorAll('[role="grid"] [data-state="failed"]').length >= 3, undefined, { timeout: 150_000 });
    await page.getByRole('group', { name: 'Filter by state' }).getByRole('button', { name: /Failed/ }).click();
    await page.waitForFunction(() => {
      const rs = [...document.querySelectorAll('[role="grid"] [data-mac]')];
      return rs.length > 0 && rs.every((r) => r.getAttribute('data-state') === 'failed');
    });
    // The address keeps the view (written a moment after the last change).
    await page.waitForURL(/state=failed/, { timeout: 5000 });
    await screenshot(page, 'dashboard-filter-failed');
    const failedMac = (await rows().first().getAttribute('data-mac'))!;
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.getByLabel('Search machines').fill(failedMac.replace(/:/g, '').slice(-6));
    await page.waitForFunction((m) => {
      const rs = [...document.querySelectorAll('[role="grid"] [data-mac]')];
      return rs.length === 1 && rs[0]!.getAttribute('data-mac') === m;
    }, failedMac);
    await page.getByLabel('Search machines').fill('');
  });

  it("a machine's detail shows its timeline", { timeout: 60_000 }, async () => {
    const m = (await fl.api<MachineView[]>('/api/machines')).find((x) => x.state === 'done' || x.state === 'apps' || x.state === 'failed')!;
    assert.ok(m, 'a machine far along');
    await page.getByLabel('Search machines').fill(m.mac);
    await page.locator(`[data-mac="${m.mac}"]`).click();
    const dialog = page.getByRole('dialog', { name: new RegExp(`^Machine (${m.name ?? ''}|${m.mac})`, 'i') });
    await dialog.waitFor();
    const timeline = dialog.getByRole('list', { name: 'Timeline' });
    await timeline.locator('li[data-phase="loader"]').waitFor();
    const phases = await timeline.locator('li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-phase')));
    for (const p of ['discovered', 'loader', 'winpe', 'setup']) assert.ok(phases.includes(p), `${p} in ${phases.join(',')}`);
    await screenshot(page, 'dashboard-detail');
    await page.keyboard.press('Escape');
    await page.getByLabel('Search machines').fill('');
  });

  it('a change without the admin token is refused', { timeout: 60_000 }, async () => {
    const mac = (await rows().first().getAttribute('data-mac'))!;
    // Straight at the API from the page's origin, without the token.
    const status = await page.evaluate(async (m) => (await fetch(`/api/machines/${m}/redeploy`, { method: 'POST' })).status, mac);
    assert.equal(status, 401);
    // Through the page, with a wrong token: the refusal is shown, and nothing changed.
    const other = await browser.newPage();
    await other.goto(`${DASHBOARD}/#token=wrong-wrong-wrong-wrong-wrong-wrong-00`);
    await other.locator(`[data-mac="${mac}"]`).click();
    await other.getByRole('dialog').getByRole('button', { name: 'Redeploy', exact: true }).click();
    await other.getByRole('alert').filter({ hasText: /admin token is missing or wrong/ }).waitFor();
    await screenshot(other, 'dashboard-refused');
    await other.close();
    assert.equal((await fl.api<MachineView>(`/api/machines/${mac}`)).redeploy, false);
  });
});
