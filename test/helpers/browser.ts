// A real browser for the dashboard's tests: Debian's Chromium driven by playwright-core (which
// downloads nothing). `netns` runs it inside a network namespace, so that it reaches a server
// bound to 127.0.0.1 in that namespace. Screenshots go to test-results/ (gitignored).
import { access, chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, type ConsoleMessage, type Page, chromium } from 'playwright-core';

export type { Browser, Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Where screenshots go: test-results/ at the repository's root. */
export const RESULTS_DIR = resolve(import.meta.dirname, '..', '..', 'test-results');

/** Whether Chromium is installed (browser tests skip otherwise, naming what is missing). */
export async function hasChromium(): Promise<boolean> {
  try {
    await access(CHROMIUM, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface LaunchOptions {
  /** Run the browser inside this network namespace (`ip netns exec NS`): needs root. */
  netns?: string;
  /** Extra Chromium flags. */
  args?: string[];
}

/**
 * Launches headless Chromium. Closing the browser also removes the namespace wrapper. The wrapper
 * `exec`s Chromium so that Playwright's pipe (file descriptors 3 and 4) reaches it unchanged.
 */
export async function launchBrowser(opts: LaunchOptions = {}): Promise<Browser> {
  let executablePath = CHROMIUM;
  let wrapperDir: string | undefined;
  if (opts.netns) {
    if (!/^[\w.-]+$/.test(opts.netns)) throw new Error(`launchBrowser: not a namespace name: ${JSON.stringify(opts.netns)}`);
    wrapperDir = await mkdtemp(join(tmpdir(), 'overnight-chromium-'));
    executablePath = join(wrapperDir, 'chromium-in-netns');
    await writeFile(executablePath, `#!/bin/sh\nexec ip netns exec ${opts.netns} ${CHROMIUM} "$@"\n`);
    await chmod(executablePath, 0o755);
  }
  try {
    const browser = await chromium.launch({
      executablePath,
      // As root (CI) Chromium needs --no-sandbox; /dev/shm is small in containers.
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', ...(opts.args ?? [])],
      timeout: 60_000,
    });
    if (wrapperDir) {
      const dir = wrapperDir;
      browser.on('disconnected', () => void rm(dir, { recursive: true, force: true }));
    }
    return browser;
  } catch (e) {
    if (wrapperDir) await rm(wrapperDir, { recursive: true, force: true });
    throw e;
  }
}

/** Saves a full-page PNG as test-results/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${name.replace(/[^\w.-]+/g, '-')}.png`);
  await page.screenshot({ path: file, fullPage: opts.fullPage ?? false });
  return file;
}

/**
 * Collects the page's console errors and uncaught exceptions, for a test to assert there were none
 * (`assert.deepEqual(errors, [])`).
 */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg: ConsoleMessage) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err: Error) => errors.push(`page: ${err.message}`));
  return errors;
}
