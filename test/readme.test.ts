// The README's examples, run: every `$ npx overnight ...` line in README.md is executed against a
// Windows 7 SP1 x64-like image (and a corpus answer file), and its output must match the README's
// after numbers, dates and hashes are blanked (the test image is rebuilt with random contents each
// time). A `# exit N` comment on the command line gives the exit code it must end with (default 0).
import assert from 'node:assert/strict';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { main } from '../src/cli/main.ts';
import { buildWindowsIso } from './helpers/media.ts';
import { run, tempDir } from './helpers/tools.ts';

interface Example {
  argv: string[];
  expected: string[];
  exit: number;
}

function examples(readme: string): Example[] {
  const out: Example[] = [];
  for (const block of readme.split('```').filter((_, i) => i % 2 === 1)) {
    let cur: Example | undefined;
    for (const line of block.split('\n')) {
      const cmd = /^\$ npx overnight (.*?)\s*(#.*)?$/.exec(line);
      if (cmd) {
        cur = { argv: cmd[1]!.split(/\s+/), expected: [], exit: Number(/exit (\d+)/.exec(cmd[2] ?? '')?.[1] ?? 0) };
        out.push(cur);
      } else if (cur && line.trim() !== '') cur.expected.push(line);
    }
  }
  return out;
}

const blank = (s: string) =>
  s
    .replace(/\b[0-9a-f]{40,64}\b/g, 'HASH')
    .replace(/\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+Z)?/g, 'DATE')
    .replace(/\d+(\.\d+)?/g, 'N')
    .replace(/\s+/g, ' ')
    .trim();

let work: { dir: string; cleanup: () => Promise<void> };
before(async () => {
  work = await tempDir();
  const m = await buildWindowsIso(work.dir, '7-x64', 'udf-only');
  await copyFile(m.iso, join(work.dir, 'Win7-SP1-x64.iso'));
  await copyFile(new URL('../../shared/corpus/answer-files/cloudbase__windows-imaging-tools__UnattendTemplate.xml', import.meta.url), join(work.dir, 'cloudbase-UnattendTemplate.xml'));
});
after(() => work.cleanup());

it('every README example runs and prints what the README shows', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const list = examples(readme);
  assert.ok(list.length >= 6, 'README has examples');
  const cwd = process.cwd();
  process.chdir(work.dir);
  try {
    const sha1 = (await run('sha1sum', ['Win7-SP1-x64.iso'])).stdout.slice(0, 40);
    for (const ex of list) {
      const argv = ex.argv.map((a) => (/^[0-9a-f]{40}$/.test(a) ? sha1 : a));
      let out = '';
      const code = await main(argv, { out: (s) => (out += s + '\n'), err: (s) => (out += s + '\n') });
      assert.equal(code, ex.exit, `${ex.argv.join(' ')}\n${out}`);
      const got = out.trimEnd().split('\n').map(blank).filter(Boolean);
      assert.deepEqual(got, ex.expected.map(blank), `output of: overnight ${ex.argv.join(' ')}`);
    }
  } finally {
    process.chdir(cwd);
  }
});
