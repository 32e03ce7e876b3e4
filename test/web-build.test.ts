// The dashboard's build (web/dist, what overnight serves): every asset the page names is in the
// build, nothing is loaded from another host (air-gapped rooms), and the bundle stays small.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

const ROOT = resolve(import.meta.dirname, '..');
const WEB = join(ROOT, 'web');
const DIST = join(WEB, 'dist');
const KiB = 1024;
/** Raw JavaScript budget: React and React DOM are most of it. */
const JS_BUDGET = 300 * KiB;

/** URLs that name a thing rather than load it: XML namespaces, React's error-page links. */
const NOT_FETCHED = [/^http:\/\/www\.w3\.org\//, /^https:\/\/react\.dev\/errors\//];

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

function newestSource(): number {
  const sources = [join(WEB, 'index.html'), join(WEB, 'vite.config.ts'), ...files(join(WEB, 'src')), join(ROOT, 'src', 'fleet', 'model.ts')];
  return Math.max(...sources.filter((f) => existsSync(f)).map((f) => statSync(f).mtimeMs));
}

describe('dashboard build (web/dist)', () => {
  before(async () => {
    // `npm test` builds first (pretest); alone, this test builds when the build is missing or
    // older than its sources. Never during a run that serves it: a build empties web/dist.
    const index = join(DIST, 'index.html');
    if (!existsSync(index) || statSync(index).mtimeMs < newestSource()) {
      await promisify(execFile)('npm', ['run', 'build:web'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    }
  });

  it('has index.html, and every asset it names is in web/dist', () => {
    const html = readFileSync(join(DIST, 'index.html'), 'utf8');
    const refs = [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
    const scripts = refs.filter((r) => /\.js$/.test(r));
    const styles = refs.filter((r) => /\.css$/.test(r));
    assert.equal(scripts.length, 1, `one script: ${refs.join(', ')}`);
    assert.equal(styles.length, 1, `one stylesheet: ${refs.join(', ')}`);
    for (const ref of refs) {
      // data: (the empty favicon) and the API link in <noscript> are not files of the build.
      if (ref.startsWith('data:') || ref.startsWith('api/')) continue;
      assert.doesNotMatch(ref, /^[a-z][a-z0-9+.-]*:|^\/\//i, `${ref}: the page loads nothing from another host`);
      const file = resolve(DIST, ref.replace(/^\.?\//, ''));
      assert.ok(file.startsWith(DIST + '/'), `${ref} stays inside web/dist`);
      assert.ok(existsSync(file), `${ref} is in web/dist`);
    }
    // The source entry must have been replaced by the built one.
    assert.doesNotMatch(html, /src\/main\.tsx/);
  });

  it('names no external host in HTML, CSS or JavaScript', () => {
    const offenders: string[] = [];
    for (const file of files(DIST)) {
      if (!/\.(html|css|js|mjs|json|svg|webmanifest)$/.test(file)) continue;
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\bhttps?:\/\/[^\s"'`)<>]+/g)) {
        if (!NOT_FETCHED.some((re) => re.test(m[0]))) offenders.push(`${relative(DIST, file)}: ${m[0]}`);
      }
      if (/\.css$/.test(file)) {
        // The stylesheet imports nothing; what url() names is in the build or inline.
        for (const m of text.matchAll(/@import\b[^;]*;/g)) offenders.push(`${relative(DIST, file)}: ${m[0]}`);
        for (const m of text.matchAll(/url\(\s*["']?([^"')]+)/g)) {
          const target = m[1]!;
          if (!target.startsWith('data:') && !target.startsWith('#') && !existsSync(resolve(dirname(file), target))) offenders.push(`${relative(DIST, file)}: ${m[0]}`);
        }
      }
      // Fonts, imports or scripts by protocol-relative URL.
      for (const m of text.matchAll(/(?:src|href|from|import\()\s*=?\s*["'`]\/\/[^"'`]+/g)) offenders.push(`${relative(DIST, file)}: ${m[0]}`);
    }
    assert.deepEqual(offenders, []);
  });

  it('carries no server code and no development build of React', () => {
    const js = files(DIST)
      .filter((f) => f.endsWith('.js'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    assert.doesNotMatch(js, /["'`]node:[a-z]/, 'no Node built-in is imported');
    // The development build warns through these; the production build has none.
    assert.doesNotMatch(js, /Warning: Each child in a list should have a unique/);
  });

  it('is small', (t) => {
    const all = files(DIST);
    const size = (ext: string) => {
      const chosen = all.filter((f) => f.endsWith(ext));
      const raw = chosen.reduce((n, f) => n + statSync(f).size, 0);
      const gz = chosen.reduce((n, f) => n + gzipSync(readFileSync(f), { level: 9 }).length, 0);
      return { raw, gz };
    };
    const js = size('.js');
    const css = size('.css');
    const kib = (n: number) => `${(n / KiB).toFixed(1)} KiB`;
    t.diagnostic(`JS ${kib(js.raw)} (${kib(js.gz)} gzip), CSS ${kib(css.raw)} (${kib(css.gz)} gzip), ${all.length} files`);
    assert.ok(js.raw > 0, 'a script was built');
    assert.ok(js.raw < JS_BUDGET, `JS ${kib(js.raw)} is under ${kib(JS_BUDGET)}`);
    assert.ok(css.raw < 64 * KiB, `CSS ${kib(css.raw)} is under 64 KiB`);
    assert.ok(all.every((f) => !/\.(woff2?|ttf|otf|eot)$/.test(f)), 'no font files: system fonts only');
  });
});
