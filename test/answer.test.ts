// Answer files: profile → document → XML, the parser with positions, lint, import, and the real
// answer files of ../shared/corpus/answer-files. xmllint (libxml2) checks that every rendered file
// is well-formed; the corpus files' own encoded passwords check the password codec.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { compileProfile } from '../src/answer/compile.ts';
import type { Diagnostic } from '../src/answer/diagnostics.ts';
import type { SettingNode, UnattendDocument } from '../src/answer/document.ts';
import { AnswerError } from '../src/answer/errors.ts';
import { importDocument } from '../src/answer/import.ts';
import { computerNameProblem, lintDocument } from '../src/answer/lint.ts';
import { decodePassword, encodePassword } from '../src/answer/password.ts';
import { parseProfile, type Profile, validateProfile } from '../src/answer/profile.ts';
import { RELEASES, type Release, archesOf } from '../src/answer/release.ts';
import { parseUnattend, renderUnattend } from '../src/answer/xml.ts';
import { tempDir } from './helpers/tools.ts';

const pexec = promisify(execFile);
const CORPUS = new URL('../../shared/corpus/answer-files/', import.meta.url).pathname;

const codes = (ds: readonly Diagnostic[], severity?: string) => ds.filter((d) => !severity || d.severity === severity).map((d) => d.code);

/** Passes, components and settings with trimmed values: what Setup reads, without layout. */
function canonical(doc: UnattendDocument): unknown {
  const setting = (s: SettingNode): unknown => ({ n: s.name, a: s.action ?? null, k: s.keyValue ?? null, ...(s.children ? { c: s.children.map(setting) } : { v: (s.value ?? '').trim() }) });
  return doc.passes.map((p) => ({ pass: p.pass, components: p.components.map((c) => ({ name: c.name, arch: c.processorArchitecture, settings: c.settings.map(setting) })) }));
}

const baseProfile = (release: Release, arch: 'x86' | 'amd64' | 'arm64', extra = ''): Profile =>
  parseProfile(
    `target: { release: '${release}', arch: ${arch}, edition: ${release === '7' ? '"Windows 7 PROFESSIONAL"' : `"Windows ${release} Pro"`}, language: en-US }
productKey: none
timeZone: W. Europe Standard Time
computerName: LAB-{n:3}
accounts:
  administrator: { password: 'Adm1n&<pass>' }
  users:
    - { name: operator, password: 'p"w', groups: [Administrators, Users] }
  autologon: { user: operator, count: 2 }
join: { workgroup: LAB }
commands:
  specialize: [ 'reg add HKLM\\Software\\Lab /v Ready /d 1 /f' ]
  firstLogon: [ { run: 'cmd /c echo done > C:\\done.txt', description: 'mark done' } ]
share: \\\\deploy\\share
apps: [ { name: Tool, run: apps\\tool.msi } ]
drivers: { winpe: [ 'D:\\drivers\\winpe' ], system: [ '\\\\deploy\\share\\drivers' ] }
${extra}`,
    'matrix.yaml',
  );

/** Three profiles per release and architecture: the full one, a domain/KMS/recovery one, a minimal one. */
function variants(release: Release, arch: 'x86' | 'amd64' | 'arm64'): [string, Profile][] {
  const edition = release === '7' ? 'Windows 7 PROFESSIONAL' : release === 'vista' ? 'Windows Vista BUSINESS' : `Windows ${release} Pro`;
  return [
    ['full', baseProfile(release, arch)],
    [
      'domain',
      parseProfile(`target: { release: '${release}', arch: ${arch}, edition: '${edition}' }
disk: { recoverySize: 500, disk: 1 }
productKey: kms
computerName: 'PC-{n:4}'
accounts: { administrator: { password: x }, plainTextPasswords: true, autologon: { user: Administrator } }
join: { domain: corp.example.com, ou: 'OU=Lab,DC=corp,DC=example,DC=com', user: deploy, password: 'p&w' }
oobe: { networkLocation: other, protectYourPC: 1 }
settings: [ { pass: specialize, component: Microsoft-Windows-TerminalServices-LocalSessionManager, values: { fDenyTSConnections: false } } ]
`),
    ],
    ['minimal', parseProfile(`target: { release: '${release}', arch: ${arch}, edition: 1 }\ndisk: { wipe: false }\n`)],
  ];
}

describe('passwords', () => {
  it('encode as Setup does, and the corpus values decode to what their notes say', () => {
    assert.equal(encodePassword('admin', 'Password'), 'YQBkAG0AaQBuAFAAYQBzAHMAdwBvAHIAZAA=');
    const dockur = readFileSync(join(CORPUS, 'dockur__windows__assets_win7x64.xml'), 'utf8');
    const admin = /<AdministratorPassword>\s*<Value>([^<]+)<\/Value>/.exec(dockur)![1]!;
    assert.deepEqual(decodePassword(admin, 'AdministratorPassword'), { ok: true, password: 'admin' });
    const user = /<LocalAccount[\s\S]*?<Value>([^<]+)<\/Value>/.exec(dockur)![1]!;
    assert.deepEqual(decodePassword(user, 'Password'), { ok: true, password: 'admin' });
    // rgl's file: encoded values that decode (the INDEX notes them as verified).
    const rgl = parseUnattend(readFileSync(join(CORPUS, 'rgl__windows-vagrant__windows-10-uefi_autounattend.xml')), 'rgl.xml').doc;
    const values: string[] = [];
    const walk = (ns: readonly SettingNode[]) => ns.forEach((n) => (n.name.endsWith('Password') && n.children ? values.push(`${n.name}:${n.children.find((c) => c.name === 'Value')?.value}`) : n.children && walk(n.children)));
    rgl.passes.forEach((p) => p.components.forEach((c) => walk(c.settings)));
    assert.ok(values.length >= 1);
    for (const v of values) {
      const [el, val] = v.split(':') as [string, string];
      const d = decodePassword(val, el === 'AdministratorPassword' ? 'AdministratorPassword' : 'Password');
      assert.ok(d.ok, `${v}: ${JSON.stringify(d)}`);
    }
    // Unpadded base64 is accepted; damaged values are explained.
    assert.deepEqual(decodePassword('YQBkAG0AaQBuAFAAYQBzAHMAdwBvAHIAZAA', 'Password'), { ok: true, password: 'admin' });
    assert.equal(decodePassword('@@@', 'Password').ok, false);
    assert.match((decodePassword(encodePassword('x', 'Password'), 'AdministratorPassword') as { reason: string }).reason, /not end|Password/);
  });
});

describe('profile → answer file', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  before(async () => (work = await tempDir()));
  after(() => work.cleanup());

  it('renders every release, architecture and firmware to well-formed XML that lints clean and reads back', async () => {
    let n = 0;
    for (const release of RELEASES) {
      for (const arch of archesOf(release)) {
        for (const firmware of ['bios', 'uefi'] as const) {
          if (firmware === 'bios' && arch === 'arm64') continue;
          if (firmware === 'uefi' && arch === 'x86' && (release === 'vista' || release === '7')) continue;
          for (const [variant, p] of variants(release, arch)) {
          const r = compileProfile(p, { firmware, machine: { n: 7, name: 'LAB-007' } });
          const xml = renderUnattend(r.doc);
          const file = join(work.dir, `${release}-${arch}-${firmware}-${variant}.xml`);
          await writeFile(file, xml);
          await pexec('xmllint', ['--noout', file]);
          const parsed = parseUnattend(xml, file);
          assert.deepEqual(parsed.diagnostics, []);
          assert.deepEqual(canonical(parsed.doc), canonical(r.doc), `${file} reads back as rendered`);
          const ds = lintDocument(parsed.doc, { release, arch });
          assert.deepEqual(ds.filter((d) => d.severity === 'error'), [], `${file}: ${ds.map((d) => `${d.code} ${d.message}`).join('; ')}`);
          // Deterministic: the same inputs give the same bytes.
          assert.equal(renderUnattend(compileProfile(p, { firmware, machine: { n: 7, name: 'LAB-007' } }).doc), xml);
          n++;
          }
        }
      }
    }
    assert.ok(n >= 45, `${n} combinations`);
  });

  it('puts settings in their passes, InstallFrom before InstallTo, release-correct partitions and escaped values', () => {
    const r7 = compileProfile(baseProfile('7', 'amd64'), { firmware: 'uefi', machine: { n: 12 } });
    const xml = renderUnattend(r7.doc);
    assert.ok(xml.indexOf('<InstallFrom>') < xml.indexOf('<InstallTo>'));
    assert.match(xml, /<Type>MSR<\/Type>\s*<Size>128<\/Size>/);
    assert.match(xml, /<ComputerName>LAB-012<\/ComputerName>/);
    assert.match(xml, /processorArchitecture="wow64"/, 'wow64 International-Core for 32-bit programs');
    assert.doesNotMatch(xml, /HideOnlineAccountScreens/, 'a Windows 8+ setting on Windows 7');
    assert.match(xml, /<SkipMachineOOBE>true<\/SkipMachineOOBE>/);
    assert.doesNotMatch(xml, /Adm1n/, 'passwords are not in plain text');
    const r10 = compileProfile(baseProfile('10', 'amd64'), { firmware: 'uefi', machine: { n: 1 } });
    const x10 = renderUnattend(r10.doc);
    assert.match(x10, /<Type>MSR<\/Type>\s*<Size>16<\/Size>/);
    assert.match(x10, /<HideOnlineAccountScreens>true<\/HideOnlineAccountScreens>/);
    assert.doesNotMatch(x10, /SkipMachineOOBE/);
    const bios7 = renderUnattend(compileProfile(baseProfile('7', 'x86'), { firmware: 'bios', machine: { n: 1 } }).doc);
    assert.match(bios7, /<Size>100<\/Size>[\s\S]*<Label>System Reserved<\/Label>/);
    // Plain text, when asked for, is escaped.
    const plain = renderUnattend(compileProfile(baseProfile('7', 'amd64', 'oobe: { registeredOrganization: "R&D <Lab>" }'), { firmware: 'bios', machine: { n: 1 } }).doc);
    assert.match(plain, /R&amp;D &lt;Lab&gt;/);
  });

  it('moves a command over 255 characters into a script on the share', () => {
    const long = 'cmd /c echo ' + 'x'.repeat(300);
    const p = baseProfile('7', 'amd64', `machines: { LAB-001: { commands: { firstLogon: [ '${long}' ] } } }`);
    const r = compileProfile(p, { firmware: 'bios', machine: { name: 'LAB-001', n: 1 } });
    const script = Object.entries(r.files).find(([, v]) => v.includes(long));
    assert.ok(script, 'the long command is in a script');
    const xml = renderUnattend(r.doc);
    assert.ok(!xml.includes(long));
    assert.equal(script![0], 'scripts/firstlogon-2.cmd');
    assert.ok(xml.includes('<CommandLine>cmd /c "\\\\deploy\\share\\scripts\\firstlogon-2.cmd"</CommandLine>'), xml);
    assert.deepEqual(codes(lintDocument(parseUnattend(xml).doc, { release: '7', arch: 'amd64' }), 'error'), []);
  });

  it('per-machine overrides: name, OU and extra commands', () => {
    const p = baseProfile('7', 'amd64', `machines:
  LAB-042: { computerName: RECEPTION, commands: { firstLogon: [ 'cmd /c echo extra' ] } }
  52-54-00-AA-BB-CC: { join: { domain: corp.example.com, user: deploy, password: pw, ou: 'OU=Kiosk,DC=corp,DC=example,DC=com' } }`);
    const a = compileProfile(p, { firmware: 'bios', machine: { name: 'LAB-042', n: 42 } });
    assert.equal(a.profile.computerName, 'RECEPTION');
    assert.equal(a.profile.commands.firstLogon.length, 2, 'overrides add to the command list');
    const b = compileProfile(p, { firmware: 'bios', machine: { mac: '52:54:00:aa:bb:cc', n: 3 } });
    const xml = renderUnattend(b.doc);
    assert.match(xml, /<MachineObjectOU>OU=Kiosk,DC=corp,DC=example,DC=com<\/MachineObjectOU>/);
    assert.match(xml, /<ComputerName>LAB-003<\/ComputerName>/);
  });

  it('import(parse(render(profile))) gives back the profile', () => {
    for (const release of ['7', '10', '11'] as const) {
      const p = { ...baseProfile(release, 'amd64', 'disk: { layout: uefi-gpt }'), computerName: 'LAB-001', apps: [] };
      const r = compileProfile(p, { firmware: 'uefi' });
      const back = importDocument(parseUnattend(renderUnattend(r.doc)).doc);
      const again = validateProfile(back.profile);
      assert.deepEqual(again.target, p.target);
      assert.deepEqual(again.disk, { ...p.disk, efiSize: 100, msrSize: release === '7' ? 128 : 16 });
      assert.deepEqual(again.accounts, p.accounts);
      assert.deepEqual(again.join, p.join);
      assert.deepEqual(again.commands, p.commands);
      assert.deepEqual(again.drivers, p.drivers);
      assert.equal(again.timeZone, p.timeZone);
      assert.equal(again.computerName, 'LAB-001');
      assert.deepEqual(again.oobe, p.oobe);
      assert.deepEqual(back.notCarried, [], JSON.stringify(back.notCarried));
      // And the profile renders the same answer file again.
      assert.equal(renderUnattend(compileProfile({ ...again, share: p.share }, { firmware: 'uefi' }).doc), renderUnattend(r.doc));
    }
  });
});

describe('profiles: bad input gets a clear error with a position', () => {
  const fails = (text: string, re: RegExp, code = 'E_PROFILE') =>
    assert.throws(
      () => parseProfile(text, 'p.yaml'),
      (e: unknown) => e instanceof AnswerError && e.code === code && re.test(e.message) && !!e.pos,
    );
  it('malformed YAML, unknown keys, wrong types, overrides', () => {
    fails('target: [release: 7\n', /p\.yaml:\d+:\d+/, 'E_YAML');
    fails('target: { release: 7 }\ntarget: { release: 10 }\n', /unique|duplicate|Map keys/i, 'E_YAML');
    fails('target: { release: 7 }\ncomputername: X\n', /computername|Unrecognized/i);
    fails('target: { release: 12 }\n', /target\.release/);
    fails('target: { release: 7 }\ndisk: { systemSize: ten }\n', /disk\.systemSize/);
    fails('target: { release: 7 }\nmachines: { PC1: { disk: { layuot: auto } } }\n', /layuot|Unrecognized/);
    assert.throws(() => parseProfile('x'.repeat(2 * 1024 * 1024)), (e: unknown) => e instanceof AnswerError && e.code === 'E_TOO_LARGE');
  });
});

describe('answer-file parser', () => {
  it('refuses DTDs and entities, wrong encodings and huge files; reports line:column', () => {
    const bomb = '<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><unattend xmlns="urn:schemas-microsoft-com:unattend">&lol2;</unattend>';
    assert.throws(() => parseUnattend(bomb), (e: unknown) => e instanceof AnswerError && e.code === 'E_DTD');
    assert.throws(() => parseUnattend('<unattend xmlns="urn:schemas-microsoft-com:unattend">&ext;</unattend>'), (e: unknown) => e instanceof AnswerError && e.code === 'E_XML');
    assert.throws(() => parseUnattend(Buffer.from([0x3c, 0x61, 0xff, 0xfe, 0x3e])), (e: unknown) => e instanceof AnswerError && (e.code === 'E_ENCODING' || e.code === 'E_XML'));
    assert.throws(() => parseUnattend(Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?><unattend/>')), (e: unknown) => e instanceof AnswerError && e.code === 'E_ENCODING');
    assert.throws(() => parseUnattend(Buffer.alloc(9 * 1024 * 1024, 0x20)), (e: unknown) => e instanceof AnswerError && e.code === 'E_TOO_LARGE');
    assert.throws(
      () => parseUnattend('<unattend xmlns="urn:schemas-microsoft-com:unattend">\n  <settings pass="windowsPE">\n    <component>\n  </settings>\n</unattend>', 'bad.xml'),
      (e: unknown) => e instanceof AnswerError && e.code === 'E_XML' && e.pos?.line === 4 && /bad\.xml:4:/.test(e.message),
    );
    assert.throws(() => parseUnattend('<root/>'), (e: unknown) => e instanceof AnswerError && e.code === 'E_NOT_UNATTEND');
    // UTF-16 with a BOM is read.
    const u16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<unattend xmlns="urn:schemas-microsoft-com:unattend"/>', 'utf16le')]);
    assert.deepEqual(parseUnattend(u16).doc.passes, []);
  });

  it('keeps positions of every setting', () => {
    const xml = '<?xml version="1.0"?>\n<unattend xmlns="urn:schemas-microsoft-com:unattend">\n  <settings pass="oobeSystem">\n    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="x86" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">\n      <TimeZone>Mountain Time</TimeZone>\n    </component>\n  </settings>\n</unattend>\n';
    const { doc } = parseUnattend(xml);
    const tz = doc.passes[0]!.components[0]!.settings[0]!;
    assert.deepEqual(tz.pos, { line: 5, column: 7 });
    const ds = lintDocument(doc, { release: '7', arch: 'x86', unattendedInstall: false });
    const d = ds.find((x) => x.code === 'UA022')!;
    assert.deepEqual(d.pos, { line: 5, column: 7 });
    assert.match(d.fix ?? '', /Mountain Standard Time/);
  });
});

describe('lint rules', () => {
  it('repeated partition orders and ids, and ids beyond the partitions created', () => {
    const r = compileProfile(baseProfile('7', 'amd64'), { firmware: 'bios', machine: { n: 1 } });
    const xml = renderUnattend(r.doc)
      .replace('<Order>2</Order>\n                            <Type>Primary</Type>', '<Order>1</Order>\n                            <Type>Primary</Type>')
      .replace('<PartitionID>2</PartitionID>\n                            <Format>NTFS</Format>\n                            <Label>Windows</Label>', '<PartitionID>3</PartitionID>\n                            <Format>NTFS</Format>\n                            <Label>Windows</Label>');
    const ds = lintDocument(parseUnattend(xml).doc, { release: '7', arch: 'amd64' });
    assert.ok(ds.some((d) => d.code === 'UA036' && /Order 1/.test(d.message)), ds.map((d) => d.message).join('\n'));
    assert.ok(ds.some((d) => d.code === 'UA036' && /partition 3, and the wiped disk gets only 2/.test(d.message)), ds.map((d) => d.message).join('\n'));
  });

  it('computer names follow NetBIOS rules', () => {
    assert.equal(computerNameProblem('LAB-001'), undefined);
    assert.equal(computerNameProblem('*'), undefined);
    assert.match(computerNameProblem('A-VERY-LONG-COMPUTER-NAME')!, /15/);
    assert.match(computerNameProblem('12345')!, /digits/);
    assert.match(computerNameProblem('LAB_01')!, /_/);
  });
});

// The corpus: each file's findings written down, with the release and architecture INDEX.tsv gives.
// Known-broken files must produce what their notes describe; the others lint without errors, except
// where the reference shows a defect the notes do not list (said below).
const CORPUS_CASES: { file: string; release: Release; arch: 'x86' | 'amd64'; expect: string[]; why?: string }[] = [
  { file: 'boxcutter__windows__floppy_win7x64-pro_Autounattend.xml', release: '7', arch: 'amd64', expect: ['UA021@63', 'UA021@77'] },
  { file: 'boxcutter__windows__floppy_win7x86-pro_Autounattend.xml', release: '7', arch: 'x86', expect: ['UA021@63', 'UA021@77'] },
  { file: 'boxcutter__windows__floppy_win81x64-pro_Autounattend.xml', release: '8.1', arch: 'amd64', expect: ['UA033@108', 'UA021@115', 'UA021@129'] },
  {
    file: 'cloudbase__windows-imaging-tools__UnattendTemplate.xml',
    release: '7',
    arch: 'amd64',
    why: 'its notes: HideOnlineAccountScreens/HideLocalAccountScreen break Windows 7, and ComputerName is set in oobeSystem',
    expect: ['UA013@92', 'UA013@93', 'UA021@117', 'UA021@134', 'UA012@142', 'UA004@168', 'UA004@194'],
  },
  {
    file: 'dockur__windows__assets_win10x64.xml',
    release: '10',
    arch: 'amd64',
    why: 'EnhancedStorage-Adm is valid in specialize only (not noted in INDEX); OOBE settings deprecated on 10',
    expect: ['UA012@276', 'UA012@277', 'UA014@316', 'UA014@318', 'UA014@319'],
  },
  { file: 'dockur__windows__assets_win11x64.xml', release: '11', arch: 'amd64', why: 'as the Windows 10 file', expect: ['UA012@294', 'UA012@295', 'UA014@334', 'UA014@336', 'UA014@337'] },
  { file: 'dockur__windows__assets_win7x64.xml', release: '7', arch: 'amd64', expect: [] },
  {
    file: 'joefitzgerald__packer-windows__answer_files_10_Autounattend.xml',
    release: '10',
    arch: 'amd64',
    expect: ['UA021@78', 'UA021@84', 'UA033@95', 'UA014@98', 'UA021@102', 'UA014@271'],
  },
  { file: 'joefitzgerald__packer-windows__answer_files_7_Autounattend.xml', release: '7', arch: 'amd64', expect: ['UA021@78', 'UA021@84', 'UA021@102'] },
  {
    file: 'ntdevlabs__tiny11builder__autounattend.xml',
    release: '11',
    arch: 'amd64',
    why: 'its notes: the first <settings> has no pass, SkipKeyboardLayout is not a setting, OOBE-only (Setup asks for the rest)',
    expect: ['UA003@3', 'UA030@-', 'UA031@-', 'UA032@-', 'UA034@-', 'UA011@9', 'UA011@16', 'UA011@32', 'UA033@37'],
  },
  { file: 'rgl__windows-vagrant__windows-10-uefi_autounattend.xml', release: '10', arch: 'amd64', expect: [] },
];

describe('the answer-file corpus', () => {
  it('covers every file of the corpus', () => {
    assert.deepEqual(CORPUS_CASES.map((c) => c.file).sort(), readdirSync(CORPUS).filter((f) => f.endsWith('.xml')).sort());
  });
  for (const c of CORPUS_CASES) {
    it(`${c.file}: ${c.expect.length ? c.expect.join(' ') : 'no findings'}`, () => {
      const bytes = readFileSync(join(CORPUS, c.file));
      const { doc, diagnostics } = parseUnattend(bytes, c.file);
      const ds = [...diagnostics, ...lintDocument(doc, { release: c.release, arch: c.arch })];
      assert.deepEqual(ds.map((d) => `${d.code}@${d.pos?.line ?? '-'}`).sort(), [...c.expect].sort(), ds.map((d) => `${d.code} ${d.pos?.line}: ${d.message}`).join('\n'));
      // render(parse(xml)) says the same to Setup as the file itself.
      const again = parseUnattend(renderUnattend(doc), c.file);
      assert.deepEqual(canonical(again.doc), canonical(doc));
      // Lint finds the same problems in the rendered copy (positions aside).
      const ds2 = [...again.diagnostics, ...lintDocument(again.doc, { release: c.release, arch: c.arch })];
      assert.deepEqual(ds2.map((d) => d.code).sort(), ds.map((d) => d.code).sort());
    });
  }
  it('import keeps every setting: the profile renders an answer file with the same settings', () => {
    for (const c of CORPUS_CASES.filter((x) => !x.expect.some((e) => /UA0(03|11|12|13)/.test(e)))) {
      const { doc } = parseUnattend(readFileSync(join(CORPUS, c.file)), c.file);
      const r = importDocument(doc);
      assert.deepEqual(r.notCarried.filter((x) => !/password|not a setting/.test(x.why)), [], `${c.file}: ${JSON.stringify(r.notCarried)}`);
      const profile = validateProfile(r.profile);
      const firmware = profile.disk.layout === 'uefi-gpt' ? 'uefi' : 'bios';
      const rendered = parseUnattend(renderUnattend(compileProfile(profile, { firmware }).doc)).doc;
      // Every leaf of the original appears in the rendered file with its value, in the same pass.
      const leaves = (d: UnattendDocument) => {
        const out = new Set<string>();
        const walk = (ns: readonly SettingNode[], path: string) => ns.forEach((n) => (n.children ? walk(n.children, `${path}/${n.name}`) : out.add(`${path}/${n.name}=${(n.value ?? '').trim()}`)));
        d.passes.forEach((p) => p.components.forEach((c) => walk(c.settings, `${p.pass}/${c.name}/${c.processorArchitecture}`)));
        return out;
      };
      const after = leaves(rendered);
      // What a profile renders its own way: passwords (encoded), the disk it lays out itself,
      // list orders, WillShowUI, locale settings (written in windowsPE and oobeSystem; a copy in
      // specialize says the same) and the time zone (written in specialize; oobeSystem says the same).
      const own = /Password\/(Value|PlainText)|DiskConfiguration|InstallTo\/|WillShowUI|\/Order=|RequiresUserInput|InstallToAvailablePartition|specialize\/Microsoft-Windows-International-Core\/|oobeSystem\/Microsoft-Windows-Shell-Setup\/\w+\/TimeZone=/;
      const missing = [...leaves(doc)].filter((l) => !own.test(l) && !after.has(l));
      assert.deepEqual(missing, [], c.file);
    }
  });
});
