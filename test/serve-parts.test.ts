// The pieces `overnight serve` is made of, each on its own: the inventory, overnight.yaml, the
// records, media preparation (extraction keyed by identity, reuse, resume), and the HTTP routes
// that machines use for their injected files and their reports (checked with curl).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, open, readdir, readFile, rm, stat, unlink, writeFile, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startHttpServer } from '../src/net/http/server.ts';
import { loadConfig, mediaIdFromPath, validateConfig } from '../src/serve/config.ts';
import { ServeError } from '../src/serve/errors.ts';
import { type InventoryMachine, type InventoryRecord, inventoryToCsv, inventoryToYaml, parseCsv, parseInventory, parseInventoryFile, parseInventoryYaml } from '../src/fleet/inventory.ts';
import { findPath, mediaIdentity, prepareMedia } from '../src/serve/media.ts';
import { openMedia } from '../src/media/open.ts';
import { buildWindowsIso, type WindowsMedia } from './helpers/media.ts';
import { run } from './helpers/tools.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('inventory (CSV)', () => {
  test('reads mac, name, profile, media and nested profile fields; cells keep their types', () => {
    const csv = '\ufeffmac,name,profile,join.ou,disk.disk,productKey\r\n00-1A-2B-3C-4D-5E,LAB-01,lab,"OU=Lab,DC=corp,DC=example",1,FJ82H-XT6CR-J8D7P-XQJJ2-GPDD4\r\n001a2b3c4d5f,LAB-02,,,,\r\n';
    const inv = parseInventory(csv, 'machines.csv');
    assert.equal(inv.length, 2);
    assert.deepEqual(inv[0], {
      mac: '00:1a:2b:3c:4d:5e',
      name: 'LAB-01',
      profile: 'lab',
      media: undefined,
      group: undefined,
      overrides: { join: { ou: 'OU=Lab,DC=corp,DC=example' }, disk: { disk: 1 }, productKey: 'FJ82H-XT6CR-J8D7P-XQJJ2-GPDD4' },
      n: 1,
      line: 2,
    });
    assert.deepEqual(inv[1]!.overrides, {});
    assert.equal(inv[1]!.mac, '00:1a:2b:3c:4d:5f');
  });

  test('quoted fields hold commas, quotes and line breaks', () => {
    const rows = parseCsv('a,b\n"x, ""y""","two\nlines"\n', 'f.csv');
    assert.deepEqual(rows[1]!.fields, ['x, "y"', 'two\nlines']);
  });

  test('each malformed inventory gets one message naming the file and line', () => {
    const cases: [string, RegExp][] = [
      ['name,profile\nPC1,lab\n', /machines\.csv:1: the header row has no "mac" column/],
      ['mac,name\nnot-a-mac,PC1\n', /machines\.csv:2: "not-a-mac" is not a MAC address/],
      ['mac,name\n00:1a:2b:3c:4d:5e,A\n00-1a-2b-3c-4d-5e,B\n', /machines\.csv:3: 00:1a:2b:3c:4d:5e is already on line 2/],
      ['mac,name\n00:1a:2b:3c:4d:5e,A,extra\n', /machines\.csv:2: 3 fields, the header has 2/],
      ['mac,bad column\n', /column "bad column" is neither/],
      ['mac,name\n"00:1a:2b:3c:4d:5e,A\n', /a quoted field is not closed/],
      ['mac,name,name\n', /column "name" appears twice/],
    ];
    for (const [text, re] of cases) {
      assert.throws(() => parseInventory(text, 'machines.csv'), (e: unknown) => e instanceof ServeError && e.code === 'E_INVENTORY' && re.test(e.message), text);
    }
  });
});

describe('inventory (groups, YAML, export)', () => {
  const isInventoryError = (re: RegExp) => (e: unknown) => e instanceof ServeError && e.code === 'E_INVENTORY' && re.test(e.message);

  test('CSV: a group column, names checked as Windows computer names', () => {
    const inv = parseInventory('MAC,Name,Group,computerName\n00:1a:2b:3c:4d:5e,LAB-01,Room 101,\n00:1a:2b:3c:4d:5f,,,\n', 'machines.csv');
    assert.equal(inv[0]!.group, 'Room 101');
    assert.equal(inv[1]!.group, undefined);
    assert.equal(inv[1]!.name, undefined);
    const cases: [string, RegExp][] = [
      ['mac,name\n00:1a:2b:3c:4d:5e,LAB_01\n', /^machines\.csv:2: computer name "LAB_01": "_" is not a letter, digit or hyphen$/],
      ['mac,name\n00:1a:2b:3c:4d:5e,LAB-PC-0123456789\n', /^machines\.csv:2: computer name "LAB-PC-0123456789": 17 characters; at most 15$/],
      ['mac,name\n00:1a:2b:3c:4d:5e,\n00:1a:2b:3c:4d:5f,12345\n', /^machines\.csv:3: computer name "12345": only digits/],
      ['mac,group\n00:1a:2b:3c:4d:5e,-lab\n', /^machines\.csv:2: group "-lab": letters, digits/],
      ['mac,group,Group\n', /column "Group" appears twice/],
    ];
    for (const [text, re] of cases) assert.throws(() => parseInventory(text, 'machines.csv'), isInventoryError(re), text);
  });

  test('YAML: machines with their fields and nested overrides; a bare-hex MAC keeps its zeros', () => {
    const yaml = [
      '# room 101',
      'machines:',
      '  - mac: 00:1a:2b:3c:4d:5e',
      '    name: LAB-01',
      '    profile: lab',
      '    media: win7',
      '    group: room-101',
      '    overrides:',
      '      productKey: FJ82H-XT6CR-J8D7P-XQJJ2-GPDD4',
      '      join: { ou: "OU=Lab,DC=corp,DC=example" }',
      '      disk: { disk: 1 }',
      '      commands:',
      '        firstLogon: [ "cmd /c echo hi" ]',
      '  - mac: 001122334455',
      '  - { mac: 52-54-00-AB-CD-EF, name: LAB-03, overrides: ~ }',
      '',
    ].join('\n');
    const inv = parseInventoryYaml(yaml, 'machines.yaml');
    assert.deepEqual(inv[0], {
      mac: '00:1a:2b:3c:4d:5e',
      name: 'LAB-01',
      profile: 'lab',
      media: 'win7',
      group: 'room-101',
      overrides: { productKey: 'FJ82H-XT6CR-J8D7P-XQJJ2-GPDD4', join: { ou: 'OU=Lab,DC=corp,DC=example' }, disk: { disk: 1 }, commands: { firstLogon: ['cmd /c echo hi'] } },
      n: 1,
      line: 3,
    });
    assert.deepEqual(inv[1], { mac: '00:11:22:33:44:55', name: undefined, profile: undefined, media: undefined, group: undefined, overrides: {}, n: 2, line: 14 });
    assert.deepEqual([inv[2]!.mac, inv[2]!.name, inv[2]!.n, inv[2]!.line], ['52:54:00:ab:cd:ef', 'LAB-03', 3, 15]);
    // The list alone, and nothing at all, are inventories too.
    assert.deepEqual(parseInventoryYaml('- mac: 00:1a:2b:3c:4d:5e\n').map((m) => m.mac), ['00:1a:2b:3c:4d:5e']);
    assert.deepEqual(parseInventoryYaml(''), []);
    assert.deepEqual(parseInventoryYaml('machines: []\n'), []);
    assert.deepEqual(parseInventoryYaml('machines:\n'), []);
  });

  test('YAML: each malformed inventory gets one message naming the file and line', () => {
    const cases: [string, RegExp][] = [
      ['machines:\n  - mac: 00:1a:2b:3c:4d:5e\n  - mac: not-a-mac\n', /^machines\.yaml:3: "not-a-mac" is not a MAC address/],
      ['machines:\n  - mac: 00:1a:2b:3c:4d:5e\n    name: A\n  - name: B\n    mac: 00-1A-2B-3C-4D-5E\n', /^machines\.yaml:5: 00:1a:2b:3c:4d:5e is already on line 2$/],
      ['machines:\n  - mac: 00:1a:2b:3c:4d:5e\n    name: "LAB 01"\n', /^machines\.yaml:3: computer name "LAB 01": " " is not a letter/],
      ['machines:\n  - mac: 00:1a:2b:3c:4d:5e\n    name: 1234\n', /^machines\.yaml:3: computer name "1234": only digits/],
      ['machines:\n  - mac: 00:1a:2b:3c:4d:5e\n    computerName: PC1\n', /^machines\.yaml:3: "computerName" is not a machine's key .*profile fields go under overrides/],
      ['machines:\n  - name: PC1\n', /^machines\.yaml:2: this machine has no mac$/],
      ['machines:\n  - mac: [00:1a:2b:3c:4d:5e]\n', /^machines\.yaml:2: mac is a single value/],
      ['machines:\n  - mac: 00:1a:2b:3c:4d:5e\n    overrides: [a]\n', /^machines\.yaml:3: overrides is a map of profile fields/],
      ['machines:\n  - mac: 00:1a:2b:3c:4d:5e\n    overrides:\n      join:\n        o-u: x\n', /^machines\.yaml:5: overrides\.join\.o-u: not a profile field name/],
      ['machines:\n  - mac: 00:1a:2b:3c:4d:5e\n    overrides: { name: PC1 }\n', /^machines\.yaml:3: overrides\.name: "name" is a machine's own key/],
      ['machines:\n  - mac: 00:1a:2b:3c:4d:5e\n    group: "#1"\n', /^machines\.yaml:3: group "#1"/],
      ['machines:\n  - mac: 00:1a:2b:3c:4d:5e\n    mac: 00:1a:2b:3c:4d:5f\n', /^machines\.yaml:3: Map keys must be unique/],
      ['machines:\n  - mac: 00:1a:2b:3c:4d:5e\n  name: [\n', /^machines\.yaml:3: /],
      ['machine:\n  - mac: 00:1a:2b:3c:4d:5e\n', /^machines\.yaml:1: "machine" is not a key of an inventory/],
      ['machines: lab\n', /^machines\.yaml:1: an inventory is a list of machines/],
      ['machines:\n  - 00:1a:2b:3c:4d:5e\n', /^machines\.yaml:2: a machine is a map/],
    ];
    for (const [text, re] of cases) assert.throws(() => parseInventoryYaml(text, 'machines.yaml'), isInventoryError(re), text);
  });

  test('a file is read as CSV or YAML by its extension', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'overnight-inventory-'));
    try {
      const csv = join(dir, 'machines.csv');
      await writeFile(csv, 'mac,name,group\n00:1a:2b:3c:4d:5e,LAB-01,room-101\n');
      for (const name of ['machines.yaml', 'machines.yml', 'MACHINES.YML']) await writeFile(join(dir, name), 'machines:\n  - { mac: 00:1a:2b:3c:4d:5e, name: LAB-01, group: room-101 }\n');
      for (const name of ['machines.csv', 'machines.yaml', 'machines.yml', 'MACHINES.YML']) {
        const [m] = await parseInventoryFile(join(dir, name));
        assert.deepEqual([m!.mac, m!.name, m!.group], ['00:1a:2b:3c:4d:5e', 'LAB-01', 'room-101'], name);
      }
      await writeFile(join(dir, 'bad.yaml'), 'machines:\n  - mac: nope\n');
      await assert.rejects(parseInventoryFile(join(dir, 'bad.yaml')), isInventoryError(new RegExp(`^${join(dir, 'bad.yaml').replaceAll('.', '\\.')}:2: "nope" is not a MAC`)));
      await writeFile(join(dir, 'machines.txt'), 'mac\n');
      await assert.rejects(parseInventoryFile(join(dir, 'machines.txt')), isInventoryError(/machines\.txt: an inventory is a \.csv, \.yaml or \.yml file, not "\.txt"/));
      await assert.rejects(parseInventoryFile(join(dir, 'missing.csv')), isInventoryError(/missing\.csv: cannot read the inventory: no such file/));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('exports to CSV and YAML read back the same, tricky values included', () => {
    const machines: InventoryRecord[] = [
      {
        mac: '00:1a:2b:3c:4d:5e',
        name: 'LAB-01',
        profile: 'lab',
        media: 'win7',
        group: 'Room 101',
        overrides: { join: { ou: 'OU=Lab,DC=corp,DC=example', domain: 'corp.example' }, disk: { disk: 1 }, productKey: 'FJ82H-XT6CR-J8D7P-XQJJ2-GPDD4' },
      },
      { mac: '00:11:22:33:44:55', name: undefined, profile: undefined, media: undefined, group: undefined, overrides: {} },
      {
        mac: '52:54:00:ab:cd:ef',
        name: '7PC',
        profile: 'lab, "quoted"',
        media: undefined,
        group: 'g',
        overrides: {
          // Strings that read as something else, or that a spreadsheet would run.
          organization: '007',
          owner: 'true',
          comment: 'two\nlines, "quoted"',
          timeZone: ' padded ',
          empty: '',
          formula: '=HYPERLINK("http://example.com")',
          plus: '+1',
          at: '@SUM(A1)',
          minus: -5,
          ratio: 0.25,
          flag: false,
          unicode: 'Zürich – ✓',
          join: { ou: 'OU=x' },
        },
      },
    ];
    const strip = (ms: InventoryMachine[]) => ms.map(({ n: _n, line: _l, ...rest }) => rest);
    const csv = inventoryToCsv(machines);
    assert.equal(csv.split('\r\n')[0], 'mac,name,profile,media,group,join.ou,join.domain,disk.disk,productKey,organization,owner,comment,timeZone,empty,formula,plus,at,minus,ratio,flag,unicode');
    assert.deepEqual(strip(parseInventory(csv, 'export.csv')), machines);
    assert.deepEqual(parseInventory(csv, 'export.csv').map((m) => m.n), [1, 2, 3]);
    // No cell a spreadsheet would evaluate: those start with a quote (text), not = + - @.
    for (const row of parseCsv(csv, 'export.csv')) for (const cell of row.fields) assert.doesNotMatch(cell, /^[=+@]|^-[^\d]/, cell);
    const yaml = inventoryToYaml(machines);
    assert.deepEqual(strip(parseInventoryYaml(yaml, 'export.yaml')), machines);
    // Lists fit YAML only.
    const withList: InventoryRecord[] = [{ ...machines[1]!, overrides: { commands: { firstLogon: ['a', 'b'] } } }];
    assert.deepEqual(strip(parseInventoryYaml(inventoryToYaml(withList))), withList);
    assert.throws(() => inventoryToCsv(withList), isInventoryError(/00:11:22:33:44:55 commands\.firstLogon: a list cannot be a CSV cell: export to YAML instead/));
    assert.equal(inventoryToCsv([]), 'mac,name,profile,media,group\r\n');
    assert.deepEqual(parseInventory(inventoryToCsv([])), []);
    assert.deepEqual(parseInventoryYaml(inventoryToYaml([])), []);
  });
});

describe('overnight.yaml', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ovn-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('relative paths are taken from the file, defaults filled in', async () => {
    const file = join(dir, 'overnight.yaml');
    await writeFile(file, 'media:\n  - iso: isos/Win7.iso\nprofiles:\n  - name: lab\n    file: lab.yaml\ninventory: machines.csv\nunknown: approve\n');
    const c = await loadConfig(file);
    assert.equal(c.media[0]!.iso, join(dir, 'isos/Win7.iso'));
    assert.equal(c.profiles[0]!.file, join(dir, 'lab.yaml'));
    assert.equal(c.inventory, join(dir, 'machines.csv'));
    assert.equal(c.unknown, 'approve');
    assert.equal(c.dhcp.mode, 'proxy');
    assert.deepEqual(c.share, { mode: 'managed', port: 445 });
    assert.equal(c.http.port, 80);
  });

  test('errors name the file, the line and the field', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'media:\n  - iso: a.iso\nprofiles:\n  - name: lab\n    file: lab.yaml\n    media: nope\n');
    await assert.rejects(loadConfig(file), /bad\.yaml: profile "lab" names media "nope", which is not one of a/);
    await writeFile(file, 'media:\n  - iso: a.iso\nprofiles: []\n');
    await assert.rejects(loadConfig(file), /bad\.yaml:3: profiles: name at least one profile/);
    await writeFile(file, 'media:\n  - iso: a.iso\nprofiles:\n  - {name: lab, file: x}\nunknown: some\n');
    await assert.rejects(loadConfig(file), /bad\.yaml:5: unknown:/);
    await assert.rejects(loadConfig(join(dir, 'missing.yaml')), /cannot read .*missing\.yaml/);
    assert.throws(() => validateConfig({ media: [{ iso: 'a/Win7.iso' }, { iso: 'b/Win7.iso' }], profiles: [{ name: 'p', file: 'p' }] }), /two media have the id "win7"/);
  });

  test('media ids from file names', () => {
    assert.equal(mediaIdFromPath('/isos/en_windows_7_professional_with_sp1_x64_dvd_u_676939.iso', 0), 'en-windows-7-professional-with-s');
    assert.equal(mediaIdFromPath('Win7 Pro SP1 (x64).iso', 0), 'win7-pro-sp1-x64');
    assert.equal(mediaIdFromPath('___.iso', 2), 'media3');
  });
});

describe('media for a deployment', () => {
  let work: string;
  let win7: WindowsMedia;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'ovn-serve-media-'));
    win7 = await buildWindowsIso(work, '7-x64');
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test('extracted once, byte for byte as 7-Zip extracts it; a second start reuses the folder', async () => {
    const mediaDir = join(work, 'data', 'media');
    const a = await prepareMedia({ id: 'win7', iso: win7.iso, mediaDir });
    await a.extracted;
    try {
      assert.equal(a.release, '7');
      assert.equal(a.arch, 'amd64');
      assert.equal(a.extraction!.reused, false);
      assert.match(a.shareDir!, /win7-[0-9a-f]{12}$/);
      assert.deepEqual(a.boot, { bootmgr: 'bootmgr', bcd: 'boot/bcd', bootSdi: 'boot/boot.sdi', bootWim: 'sources/boot.wim', bootIndex: 2 });
      const ref = join(work, '7z');
      await run('7z', ['x', '-y', `-o${ref}`, win7.iso]);
      for (const f of ['setup.exe', 'sources/install.wim', 'sources/boot.wim', 'boot/bcd']) {
        assert.equal(sha(await readFile(join(a.shareDir!, f))), sha(await readFile(join(ref, f))), f);
      }
    } finally {
      await a.media.close();
    }
    const b = await prepareMedia({ id: 'win7', iso: win7.iso, mediaDir });
    try {
      // Reused: settled at once.
      await b.extracted;
      assert.equal(b.extraction!.reused, true);
      assert.equal(b.shareDir, a.shareDir);
      assert.ok(b.extraction!.seconds < 1);
    } finally {
      await b.media.close();
    }
  });

  test('an interrupted extraction resumes: complete files are kept, the rest written', async () => {
    const mediaDir = join(work, 'resume', 'media');
    const a = await prepareMedia({ id: 'win7', iso: win7.iso, mediaDir });
    await a.extracted;
    await a.media.close();
    // As if the run had stopped: the record names the media but not as complete, one file half
    // written, one missing.
    await writeFile(join(a.shareDir!, '.overnight-media.json'), JSON.stringify({ key: a.key, iso: win7.iso }));
    await truncate(join(a.shareDir!, 'sources/install.wim'), 1000);
    await unlink(join(a.shareDir!, 'setup.exe'));
    const before = (await stat(join(a.shareDir!, 'sources/boot.wim'))).mtimeMs;
    const b = await prepareMedia({ id: 'win7', iso: win7.iso, mediaDir });
    await b.extracted;
    try {
      assert.equal(b.extraction!.reused, false);
      assert.ok(b.extraction!.skippedFiles > 0, 'complete files were kept');
      assert.equal((await stat(join(a.shareDir!, 'sources/boot.wim'))).mtimeMs, before);
      assert.equal(sha(await readFile(join(b.shareDir!, 'sources/install.wim'))), sha(await readFile(join(win7.tree, 'sources/install.wim'))));
      assert.equal(sha(await readFile(join(b.shareDir!, 'setup.exe'))), sha(await readFile(join(win7.tree, 'setup.exe'))));
    } finally {
      await b.media.close();
    }
  });

  test('a folder from an earlier start holding the same tree with other bytes, or no record of what it holds, is copied afresh', async () => {
    const mediaDir = join(work, 'other-bytes', 'media');
    const a = await prepareMedia({ id: 'win7', iso: win7.iso, mediaDir });
    await a.extracted;
    await a.media.close();
    // The same image with other bytes in setup.exe: every name, size, time and position as before.
    const patched = join(work, 'patched.iso');
    await copyFile(win7.iso, patched);
    const m = await openMedia(patched);
    const [first] = await m.extents('/setup.exe');
    await m.close();
    const fh = await open(patched, 'r+');
    await fh.write(Buffer.from('other bytes here'), 0, 16, first!.offset);
    await fh.close();
    const b = await prepareMedia({ id: 'win7', iso: patched, mediaDir });
    await b.extracted;
    try {
      assert.equal(b.shareDir, a.shareDir, 'the folder is named by the tree');
      assert.notEqual(b.key, a.key, 'the identity sees the bytes');
      assert.equal(b.extraction!.reused, false);
      assert.equal(b.extraction!.skippedFiles, 0, 'nothing of the other media was kept');
      assert.equal((await readFile(join(b.shareDir!, 'setup.exe'))).subarray(0, 16).toString(), 'other bytes here');
    } finally {
      await b.media.close();
    }
    // A folder with no record of its media (a start stopped before it was written) is not trusted.
    await unlink(join(b.shareDir!, '.overnight-media.json'));
    const c = await prepareMedia({ id: 'win7', iso: patched, mediaDir });
    await c.extracted;
    try {
      assert.equal(c.extraction!.reused, false);
      assert.equal(c.extraction!.skippedFiles, 0);
    } finally {
      await c.media.close();
    }
  });

  test('media found not to be Windows once their copy has begun leave no folder behind', async () => {
    // sources/install.wim and boot.wim are there (the copy starts), but neither is a WIM.
    const tree = join(work, 'fake-tree');
    await mkdir(join(tree, 'sources'), { recursive: true });
    await writeFile(join(tree, 'sources', 'install.wim'), randomBytes(300_000));
    await writeFile(join(tree, 'sources', 'boot.wim'), randomBytes(100_000));
    const iso = join(work, 'fake.iso');
    await run('genisoimage', ['-quiet', '-udf', '-V', 'FAKE', '-o', iso, tree]);
    const mediaDir = join(work, 'fake', 'media');
    await assert.rejects(prepareMedia({ id: 'fake', iso, mediaDir }), (e: unknown) => e instanceof ServeError && e.code === 'E_NOT_WINDOWS');
    assert.deepEqual(await readdir(mediaDir).catch(() => []), []);
  });

  test('the identity changes with the tree and not otherwise; lookups ignore case', async () => {
    const m1 = await openMedia(win7.iso);
    const m2 = await openMedia(win7.iso);
    try {
      assert.equal(await mediaIdentity(m1), await mediaIdentity(m2));
      assert.equal((await findPath(m1, 'SOURCES/Boot.WIM'))?.path, '/sources/boot.wim');
      assert.equal(await findPath(m1, 'sources/nothing.wim'), undefined);
    } finally {
      await m1.close();
      await m2.close();
    }
    // Same layout, names and sizes; other bytes.
    const other = await buildWindowsIso(join(work, 'other'), '7-x64');
    const m3 = await openMedia(other.iso);
    const m4 = await openMedia(win7.iso);
    try {
      assert.notEqual(await mediaIdentity(m3), await mediaIdentity(m4));
    } finally {
      await m3.close();
      await m4.close();
    }
  });

  test('an ISO that is not Windows, and a corrupt one, each get one clear message', async () => {
    const tree = join(work, 'linux');
    await run('mkdir', ['-p', join(tree, 'boot')]);
    await writeFile(join(tree, 'boot', 'vmlinuz'), 'not windows');
    const iso = join(work, 'linux.iso');
    await run('genisoimage', ['-quiet', '-J', '-R', '-V', 'DEBIAN', '-o', iso, tree]);
    await assert.rejects(prepareMedia({ id: 'x', iso, mediaDir: join(work, 'm2') }), (e: unknown) => e instanceof ServeError && e.code === 'E_NOT_WINDOWS' && /is not Windows Setup media/.test(e.message));
    const bad = join(work, 'corrupt.iso');
    await writeFile(bad, Buffer.alloc(100_000, 0x41));
    await assert.rejects(prepareMedia({ id: 'x', iso: bad, mediaDir: join(work, 'm3') }), /corrupt\.iso|no (UDF|ISO 9660)|volume/i);
  });
});

describe('HTTP: a machine\'s injected files and its reports', () => {
  test('files by MAC with ranges; reports by POST and GET; bad ones refused (curl)', async () => {
    const reports: [string, string, string][] = [];
    const files = new Map([['unattend.xml', Buffer.from('<unattend/>\r\n')], ['overnight.cmd', Buffer.alloc(700_000, 0x61)]]);
    const srv = await startHttpServer({
      address: '127.0.0.1',
      port: 0,
      machineFile: (mac, name) => (mac === '52:54:00:12:34:56' ? files.get(name) : undefined),
      report: (mac, phase, detail) => {
        if (phase === 'bogus') return 'unknown phase "bogus"';
        reports.push([mac, phase, detail]);
        return undefined;
      },
    });
    try {
      const curl = async (...args: string[]) => (await run('curl', ['-sS', '-w', '\n%{http_code}', ...args])).stdout;
      assert.equal(await curl(`${srv.url}/boot/52-54-00-12-34-56/unattend.xml`), '<unattend/>\r\n\n200');
      const big = await run('curl', ['-sS', '-r', '600000-600009', `${srv.url}/boot/52:54:00:12:34:56/overnight.cmd`]);
      assert.equal(big.stdout, 'aaaaaaaaaa');
      const whole = await run('curl', ['-sS', `${srv.url}/boot/52:54:00:12:34:56/overnight.cmd`], { encoding: 'buffer' } as never);
      assert.equal(Buffer.from(whole.stdout).length, 700_000);
      assert.match(await curl(`${srv.url}/boot/52:54:00:12:34:56/other.txt`), /404$/);
      assert.match(await curl(`${srv.url}/boot/52:54:00:12:34:99/unattend.xml`), /404$/);
      assert.match(await curl(`${srv.url}/boot/nonsense/unattend.xml`), /400$/);
      assert.match(await curl(`${srv.url}/boot/52:54:00:12:34:56/..%2f..%2fetc%2fpasswd`), /400$/);

      assert.match(await curl('-X', 'POST', '--data-binary', 'setup.exe exited with code 31', `${srv.url}/report/52:54:00:12:34:56/failed`), /ok\n\n200$/);
      assert.match(await curl(`${srv.url}/report/52-54-00-12-34-56/specialize?detail=via%20bits`), /200$/);
      assert.match(await curl('-X', 'POST', '-d', 'x', `${srv.url}/report/52:54:00:12:34:56/bogus`), /unknown phase "bogus".*\n\n400$/);
      assert.match(await curl('-X', 'POST', '-d', 'x', `${srv.url}/report/not-a-mac/done`), /400$/);
      assert.match(await curl('-X', 'POST', '-H', 'content-type: text/plain', '--data-binary', 'x'.repeat(5000), `${srv.url}/report/52:54:00:12:34:56/done`), /413$/);
      assert.match(await curl('-X', 'PUT', '-d', 'x', `${srv.url}/report/52:54:00:12:34:56/done`), /405$/);
      assert.match(await curl('-X', 'POST', '-d', 'x', `${srv.url}/boot/52:54:00:12:34:56/unattend.xml`), /405$/);
      assert.deepEqual(reports, [
        ['52:54:00:12:34:56', 'failed', 'setup.exe exited with code 31'],
        ['52:54:00:12:34:56', 'specialize', 'via bits'],
      ]);
    } finally {
      await srv.close();
    }
  });
});

describe('README', () => {
  test('the overnight.yaml example is a valid configuration', async () => {
    const readme = await readFile(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const block = /```yaml\n# overnight\.yaml\n([\s\S]*?)```/.exec(readme);
    assert.ok(block, 'README has an overnight.yaml example');
    const dir = await mkdtemp(join(tmpdir(), 'ovn-readme-'));
    try {
      await writeFile(join(dir, 'overnight.yaml'), block[1]!);
      const c = await loadConfig(join(dir, 'overnight.yaml'));
      assert.deepEqual(c.media.map((m) => m.id), ['win7', 'win10']);
      assert.equal(c.unknown, 'approve');
      assert.equal(c.profiles[1]!.file, join(dir, 'profiles/office.yaml'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
