// `overnight answer ...` end to end: init → render → lint → import → explain, with the media check
// against a Windows 7-like ISO built by the real tools, exit codes, JSON and SARIF.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../src/cli/main.ts';
import { buildWindowsIso, type WindowsMedia } from './helpers/media.ts';
import { run, tempDir } from './helpers/tools.ts';

const CORPUS = new URL('../../shared/corpus/answer-files/', import.meta.url).pathname;

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s + '\n'), err: (s) => (err += s + '\n') });
  return { code, out, err };
}

describe('overnight answer', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let media: WindowsMedia;
  before(async () => {
    work = await tempDir();
    media = await buildWindowsIso(work.dir, '7-x64', 'udf-only');
  });
  after(() => work.cleanup());

  it('init writes a profile that renders, against the media, to a file that xmllint and lint accept', async () => {
    const profile = join(work.dir, 'profile.yaml');
    assert.equal((await cli('answer', 'init', '--release', '7', '-o', profile)).code, 0);
    assert.match(await readFile(profile, 'utf8'), /^target:\n {2}release: '7'/m);
    assert.equal((await cli('answer', 'init', '-o', profile)).code, 2, 'does not overwrite without --force');
    const xml = join(work.dir, 'autounattend.xml');
    const r = await cli('answer', 'render', profile, '--firmware', 'bios', '--n', '3', '--media', media.iso, '-o', xml);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /computer name: PC-003/);
    await run('xmllint', ['--noout', xml]);
    const lint = await cli('answer', 'lint', xml, '--media', media.iso);
    assert.equal(lint.code, 0, lint.err);
    assert.match(lint.err, /no findings for Windows 7/);
    // Without the firmware, disk.layout auto cannot be resolved: one clear error, exit 2.
    const noFw = await cli('answer', 'render', profile);
    assert.equal(noFw.code, 2);
    assert.match(noFw.err, /--firmware bios\|uefi/);
  });

  it('lint: findings with file:line:col, exit 1 on errors; --json and --sarif', async () => {
    const file = join(CORPUS, 'cloudbase__windows-imaging-tools__UnattendTemplate.xml');
    const r = await cli('answer', 'lint', file, '--release', '7', '--arch', 'amd64');
    assert.equal(r.code, 1);
    assert.match(r.err, /UnattendTemplate\.xml:92:17: error UA013 HideOnlineAccountScreens does not exist in Windows 7/);
    assert.match(r.err, /\n {4}fix: /);
    const j = JSON.parse((await cli('answer', 'lint', file, '--release', '7', '--json')).out);
    assert.equal(j.schema, 1);
    assert.ok(j.diagnostics.some((d: { code: string; pos: { line: number } }) => d.code === 'UA012' && d.pos.line === 142));
    const sarif = JSON.parse((await cli('answer', 'lint', file, '--release', '7', '--sarif')).out);
    assert.equal(sarif.version, '2.1.0');
    const res = sarif.runs[0].results.find((x: { ruleId: string }) => x.ruleId === 'UA013');
    assert.equal(res.locations[0].physicalLocation.region.startLine, 92);
    // A file that is not XML: one line naming the position, exit 2, no stack trace.
    const bad = join(work.dir, 'bad.xml');
    await writeFile(bad, '<unattend xmlns="urn:schemas-microsoft-com:unattend">\n<settings pass="x">\n</unattend>\n');
    const b = await cli('answer', 'lint', bad);
    assert.equal(b.code, 2);
    assert.match(b.err, /^overnight: .*bad\.xml:3:\d+: .* \[E_XML\]\n$/);
  });

  it('lint against the media: an image name that is not on it, a language it does not have', async () => {
    const profile = join(work.dir, 'wrong.yaml');
    await writeFile(profile, "target: { release: '7', edition: 'Windows 7 ENTERPRISE', language: de-DE }\ndisk: { layout: bios-mbr }\n");
    const xml = join(work.dir, 'wrong.xml');
    assert.equal((await cli('answer', 'render', profile, '-o', xml)).code, 0);
    const r = await cli('answer', 'lint', xml, '--media', media.iso);
    assert.equal(r.code, 1);
    assert.match(r.err, /UA028 image name "Windows 7 ENTERPRISE" is not on the media/);
    assert.match(r.err, /UA035 SetupUILanguage de-DE is not a language of the media/);
    // render --media refuses to write it at all.
    const rr = await cli('answer', 'render', profile, '--media', media.iso, '-o', join(work.dir, 'never.xml'));
    assert.equal(rr.code, 1);
  });

  it('import: a profile, with what it could not hold listed at its top; explain and schema', async () => {
    const out = join(work.dir, 'imported.yaml');
    const r = await cli('answer', 'import', join(CORPUS, 'dockur__windows__assets_win7x64.xml'), '-o', out);
    assert.equal(r.code, 0, r.err);
    const text = await readFile(out, 'utf8');
    assert.match(text, /^# release 7 from the image name "Windows 7 PROFESSIONAL"$/m);
    assert.match(text, /password: admin/);
    assert.match(text, /component: Microsoft-Windows-TerminalServices-LocalSessionManager/);
    const again = await cli('answer', 'render', out, '--firmware', 'bios', '-o', join(work.dir, 'reimported.xml'));
    assert.equal(again.code, 0, again.err);
    const e = await cli('answer', 'explain', 'Microsoft-Windows-Shell-Setup/OOBE/HideOnlineAccountScreens');
    assert.equal(e.code, 0);
    assert.match(e.out, /releases {2}Windows 8 and later/);
    assert.equal((await cli('answer', 'explain', 'Microsoft-Windows-Nope')).code, 2);
    const schema = (await cli('answer', 'schema')).out;
    assert.ok(JSON.parse(schema).properties.target && JSON.parse(schema).properties.disk);
    // The copy in docs/ that editors point at is the one the schema gives.
    assert.equal(await readFile(new URL('../docs/profile.schema.json', import.meta.url), 'utf8'), schema, 'regenerate: overnight answer schema > docs/profile.schema.json');
  });
});
