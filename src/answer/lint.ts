// Lint of an answer file against the release it installs: every finding has a stable code
// (docs/answer-lint.md), a severity, a position and a fix. Rules come from the knowledge table
// (knowledge.ts, Microsoft's unattend reference) and from what a fully unattended install needs.
import { type ComponentNode, componentsIn, type PassNode, type SettingNode, type UnattendDocument, findSetting, MAX_COMMAND, PUBLIC_KEY_TOKEN } from './document.ts';
import { type Diagnostic, sortDiagnostics } from './diagnostics.ts';
import { editDistance } from './distance.ts';
import { COMPONENT_BY_NAME, type ComponentSpec, PASSES, type SettingSpec } from './knowledge.ts';
import { editionOfKey, keyFormat } from './keys.ts';
import { decodePassword, type PasswordElement } from './password.ts';
import { atLeast, inRange, RELEASE_NAMES, type Release, archesOf } from './release.ts';
import { suggestTimeZone, timeZoneIn } from './timezones.ts';

export interface LintMedia {
  /** Images of install.wim/.esd: index, name, edition id, architecture. */
  images: readonly { index: number; name: string; editionId?: string | undefined; arch?: string | undefined }[];
  languages?: readonly string[];
  arch?: string | undefined;
}

export interface LintOptions {
  /** The release the file installs. Without it, release checks are skipped (and said so). */
  release?: Release | undefined;
  /** The architecture of the media; components must match it. */
  arch?: 'x86' | 'amd64' | 'arm64' | undefined;
  media?: LintMedia | undefined;
  /** The file installs Windows from Windows PE (autounattend / setup.exe /unattend): check that nothing is left to ask. */
  unattendedInstall?: boolean;
}

const BOOLEAN = /^(true|false)$/i;
const RESERVED_USER_NAMES = new Set(['administrator', 'guest', 'defaultaccount', 'wdagutilityaccount', 'system', 'network service', 'local service', 'none', 'everyone', 'users', 'administrators', 'interactive', 'batch', 'service', 'anonymous logon', 'authenticated users', 'creator owner', 'dialup', 'network', 'restricted', 'terminal server user', 'this organization']);

export function lintDocument(doc: UnattendDocument, opts: LintOptions = {}): Diagnostic[] {
  const out: Diagnostic[] = [];
  const release = opts.release;
  const arch = opts.arch ?? (opts.media?.arch as LintOptions['arch']);
  const say = (d: Diagnostic) => out.push(d);

  const seenPass = new Map<string, PassNode>();
  for (const p of doc.passes) {
    if (!p.pass) {
      say({ code: 'UA003', severity: 'error', message: '<settings> without a pass attribute: Setup cannot tell when to apply it', fix: 'add pass="windowsPE" (or specialize, oobeSystem, ...)', pos: p.pos, path: '(no pass)' });
    } else if (!(PASSES as readonly string[]).includes(p.pass)) {
      say({ code: 'UA003', severity: 'error', message: `"${p.pass}" is not a configuration pass`, fix: `use one of ${PASSES.join(', ')}`, pos: p.pos, path: p.pass });
    }
    const prev = seenPass.get(p.pass);
    if (prev) say({ code: 'UA016', severity: 'warning', message: `pass ${p.pass} appears twice; Setup reads both, but a component in both is then listed twice`, fix: 'merge the two <settings> elements', pos: p.pos, path: p.pass });
    seenPass.set(p.pass, p);
    const seenComponent = new Map<string, ComponentNode>();
    for (const c of p.components) {
      const path = `${p.pass}/${c.name}`;
      checkComponentAttributes(c, path, arch, release, say);
      const key = `${c.name}|${c.processorArchitecture}`;
      const dup = seenComponent.get(key) ?? [...seenPass.values()].filter((q) => q !== p && q.pass === p.pass).flatMap((q) => q.components).find((x) => x.name === c.name && x.processorArchitecture === c.processorArchitecture);
      if (dup) {
        say({ code: 'UA016', severity: 'error', message: `${c.name} (${c.processorArchitecture}) is listed twice in ${p.pass}: Setup fails on it`, fix: 'merge the two components', pos: c.pos, path });
      }
      seenComponent.set(key, c);
      const spec = COMPONENT_BY_NAME.get(c.name);
      if (!spec) {
        say({ code: 'UA010', severity: 'error', message: `unknown component "${c.name}"`, fix: closest(c.name, [...COMPONENT_BY_NAME.keys()]) ?? 'check the name in the unattend reference', pos: c.pos, path });
        continue;
      }
      if (!spec.passes.includes(p.pass as (typeof PASSES)[number]) && (PASSES as readonly string[]).includes(p.pass)) {
        say({ code: 'UA012', severity: 'error', message: `${c.name} does not apply in ${p.pass}`, fix: `it applies in ${spec.passes.join(', ')}`, pos: c.pos, path });
      }
      if (release && !inRange(release, spec.since, spec.until)) {
        say({ code: 'UA013', severity: 'error', message: `${c.name} does not exist in ${RELEASE_NAMES[release]}`, fix: rangeText(spec.since, spec.until), pos: c.pos, path });
      } else if (release && spec.deprecatedSince && atLeast(release, spec.deprecatedSince)) {
        say({ code: 'UA014', severity: 'warning', message: `${c.name} is deprecated from ${RELEASE_NAMES[spec.deprecatedSince]}${spec.note ? ` (${spec.note})` : ''}`, fix: 'remove it', pos: c.pos, path });
      }
      if (spec.settings) checkSettings(c.settings, spec.settings, spec, p.pass, path, release, say);
    }
  }
  checkValues(doc, opts, say);
  if (opts.unattendedInstall !== false) checkUnattended(doc, opts, say);
  if (!release) say({ code: 'UA090', severity: 'info', message: 'no target release given: settings were not checked against a release', fix: 'pass --release (or --media ISO)' });
  return sortDiagnostics(dedupe(out));
}

function checkComponentAttributes(c: ComponentNode, path: string, arch: LintOptions['arch'], release: Release | undefined, say: (d: Diagnostic) => void): void {
  if (c.publicKeyToken.toLowerCase() !== PUBLIC_KEY_TOKEN) {
    say({ code: 'UA004', severity: 'error', message: `publicKeyToken "${c.publicKeyToken}": Setup ignores a component without Microsoft's token`, fix: `publicKeyToken="${PUBLIC_KEY_TOKEN}"`, pos: c.pos, path });
  }
  // Setup compares these without regard to case (files with "NonSxS" install); WSIM writes them as below.
  for (const [attr, want] of [['language', 'neutral'], ['versionScope', 'nonSxS']] as const) {
    const v = c[attr];
    if (v === want) continue;
    const caseOnly = v.toLowerCase() === want.toLowerCase();
    say({ code: 'UA004', severity: caseOnly ? 'warning' : 'error', message: `${attr} "${v}": components are ${attr}="${want}"`, fix: `${attr}="${want}"`, pos: c.pos, path });
  }
  const a = c.processorArchitecture;
  if (!['x86', 'amd64', 'arm64', 'wow64', 'ia64', 'arm'].includes(a)) {
    say({ code: 'UA015', severity: 'error', message: `processorArchitecture "${a}" is not an architecture`, fix: 'x86, amd64, arm64 or wow64', pos: c.pos, path });
    return;
  }
  if (release && (a === 'x86' || a === 'amd64' || a === 'arm64') && !archesOf(release).includes(a)) {
    say({ code: 'UA015', severity: 'error', message: `${RELEASE_NAMES[release]} has no ${a} edition`, fix: `use ${archesOf(release).join(' or ')}`, pos: c.pos, path });
  }
  if (!arch) return;
  // wow64 components configure 32-bit programs on 64-bit Windows; everything else must match.
  const ok = a === arch || (a === 'wow64' && arch === 'amd64');
  if (!ok) {
    say({ code: 'UA015', severity: 'error', message: `processorArchitecture ${a} on ${arch} media: Setup silently ignores this component`, fix: `processorArchitecture="${arch}"`, pos: c.pos, path });
  }
}

function checkSettings(nodes: readonly SettingNode[], specs: readonly SettingSpec[], comp: ComponentSpec, pass: string, path: string, release: Release | undefined, say: (d: Diagnostic) => void, listItem?: string): void {
  const seen = new Map<string, SettingNode>();
  for (const n of nodes) {
    const here = `${path}/${n.name}`;
    const spec = specs.find((s) => s.name === n.name);
    if (!spec) {
      const wrongCase = specs.find((s) => s.name.toLowerCase() === n.name.toLowerCase());
      // Where the reference could only be sampled (Vista/7 pages), an unknown name may be real.
      const sampled = !wrongCase && release !== undefined && comp.incompleteFor?.includes(release);
      say({
        code: 'UA011',
        severity: sampled ? 'warning' : 'error',
        message: wrongCase ? `"${n.name}": setting names are case-sensitive` : `${comp.name} has no setting "${n.name}" here`,
        fix: wrongCase ? `write ${wrongCase.name}` : (closest(n.name, specs.map((s) => s.name)) ?? `see ${comp.source}`),
        pos: n.pos,
        path: here,
      });
      continue;
    }
    // List items (wcm:action="add") repeat by design; other settings must appear once.
    if (seen.has(n.name) && n.name !== listItem) {
      say({ code: 'UA017', severity: 'error', message: `${n.name} appears twice: Setup fails on a repeated setting`, fix: 'keep one', pos: n.pos, path: here });
    }
    seen.set(n.name, n);
    const validPasses = spec.passes ?? comp.passes;
    const inPass = validPasses.includes(pass as (typeof PASSES)[number]);
    // A pass that became valid later (ComputerName in offlineServicing from Windows 10).
    const passSince = spec.passesSince?.[pass as (typeof PASSES)[number]];
    if ((PASSES as readonly string[]).includes(pass) && (!inPass || (release && passSince && !atLeast(release, passSince)))) {
      say({ code: 'UA012', severity: 'error', message: `${n.name} does not apply in ${pass}${inPass && release ? ` in ${RELEASE_NAMES[release]}` : ''}`, fix: `it applies in ${validPasses.join(', ')}${passSince ? ` (${pass} from ${RELEASE_NAMES[passSince]})` : ''}`, pos: n.pos, path: here });
    }
    if (release && !inRange(release, spec.since ?? comp.since, spec.until ?? comp.until)) {
      say({ code: 'UA013', severity: 'error', message: `${n.name} does not exist in ${RELEASE_NAMES[release]}${spec.note ? ` (${spec.note})` : ''}`, fix: `remove it for ${RELEASE_NAMES[release]}: ${rangeText(spec.since ?? comp.since, spec.until ?? comp.until)}`, pos: n.pos, path: here });
    } else if (release && spec.deprecatedSince && atLeast(release, spec.deprecatedSince)) {
      say({ code: 'UA014', severity: 'warning', message: `${n.name} is deprecated from ${RELEASE_NAMES[spec.deprecatedSince]}${spec.note ? ` (${spec.note})` : ''}`, fix: 'remove it', pos: n.pos, path: here });
    }
    if (spec.list && n.children) {
      const items = n.children.filter((c) => c.name === spec.list!.item);
      for (const it of items) {
        if (it.action !== 'add' && it.action !== 'modify' && it.action !== 'remove') {
          say({ code: 'UA019', severity: 'warning', message: `${it.name} without wcm:action: Setup may skip it`, fix: 'add wcm:action="add"', pos: it.pos, path: `${here}/${it.name}` });
        }
      }
      checkListKeys(items, spec.list.key, here, say);
    }
    if (spec.openChildren) continue;
    if (spec.children) {
      if (n.children) checkSettings(n.children, spec.children, comp, pass, here, release, say, spec.list?.item);
      else if (n.value?.trim()) say({ code: 'UA018', severity: 'error', message: `${n.name} holds settings, not a value`, pos: n.pos, path: here });
    } else if (spec.type) {
      if (n.children) say({ code: 'UA018', severity: 'error', message: `${n.name} takes a value, not settings`, pos: n.pos, path: here });
      else checkType(n, spec, here, say);
    }
  }
}

/** Items of a list must have distinct keys (Order, DiskID, PartitionID...). */
function checkListKeys(items: readonly SettingNode[], key: string, path: string, say: (d: Diagnostic) => void): void {
  const seen = new Map<string, SettingNode>();
  for (const it of items) {
    const k = key === 'wcm:keyValue' ? it.keyValue : findSetting(it.children, [key])?.value?.trim();
    if (k === undefined) {
      say({ code: 'UA036', severity: 'error', message: `${it.name} has no ${key}`, fix: `give each ${it.name} a distinct ${key}`, pos: it.pos, path });
      continue;
    }
    if (seen.has(k)) say({ code: 'UA036', severity: 'error', message: `two ${it.name} items have ${key} ${k}`, fix: `give each ${it.name} a distinct ${key}`, pos: it.pos, path });
    seen.set(k, it);
  }
}

function checkType(n: SettingNode, spec: SettingSpec, path: string, say: (d: Diagnostic) => void): void {
  const v = (n.value ?? '').trim();
  const t = spec.type!;
  const bad = (why: string, fix?: string) => say({ code: 'UA018', severity: 'error', message: `${n.name} "${v}": ${why}`, ...(fix ? { fix } : {}), pos: n.pos, path });
  if (t.kind === 'boolean' && !BOOLEAN.test(v)) bad('not true or false', 'true or false');
  else if (t.kind === 'integer') {
    if (!/^-?\d+$/.test(v)) bad('not a whole number');
    else if ((t.min !== undefined && Number(v) < t.min) || (t.max !== undefined && Number(v) > t.max)) bad(`out of range ${t.min ?? ''}..${t.max ?? ''}`);
  } else if (t.kind === 'enum' && !t.values.some((x) => x.toLowerCase() === v.toLowerCase())) bad('not an allowed value', `one of ${t.values.join(', ')}`);
  else if (t.kind === 'string' && t.maxLength !== undefined && v.length > t.maxLength) bad(`longer than ${t.maxLength} characters`);
  else if (t.kind === 'command' && v.length > MAX_COMMAND) {
    say({ code: 'UA027', severity: 'error', message: `${n.name} is ${v.length} characters; Setup runs at most ${MAX_COMMAND}`, fix: 'move the command into a script and run that (overnight does this for profiles)', pos: n.pos, path });
  }
}

/** Checks of values that need more than a type: passwords, names, keys, time zones, images. */
function checkValues(doc: UnattendDocument, opts: LintOptions, say: (d: Diagnostic) => void): void {
  const release = opts.release;
  for (const p of doc.passes) {
    for (const c of p.components) {
      const path = `${p.pass}/${c.name}`;
      walk(c.settings, path, (n, parents, here) => {
        const parent = parents[parents.length - 1];
        // Passwords: <Value> next to <PlainText>false</PlainText> must decode.
        if ((n.name === 'AdministratorPassword' || n.name === 'Password') && n.children) {
          const plain = findSetting(n.children, ['PlainText'])?.value?.trim().toLowerCase();
          const value = findSetting(n.children, ['Value'])?.value ?? '';
          const encodable = c.name === 'Microsoft-Windows-Shell-Setup';
          if (encodable && plain === 'false') {
            const element: PasswordElement = n.name === 'AdministratorPassword' ? 'AdministratorPassword' : 'Password';
            const d = decodePassword(value, element);
            if (!d.ok) say({ code: 'UA020', severity: 'error', message: `${n.name}: the encoded password ${d.reason}`, fix: 'encode it again (overnight answer render does), or write PlainText true', pos: n.pos, path: here });
          } else if (encodable && value !== '') {
            say({ code: 'UA021', severity: 'info', message: `${n.name} is in plain text`, fix: 'set PlainText false and encode it (the file stays readable on the share and in C:\\Windows\\Panther)', pos: n.pos, path: here });
          }
        }
        if (n.name === 'TimeZone' && n.value !== undefined) checkTimeZone(n, here, release, say);
        if (n.name === 'ComputerName' && n.value !== undefined && parent === undefined) checkComputerName(n, here, say);
        if (n.name === 'Name' && parent?.name === 'LocalAccount') checkUserName(n, here, say);
        if (n.name === 'Username' && parent?.name === 'AutoLogon') checkUserName(n, here, say, true);
        if (n.name === 'Key' && parents.some((x) => x.name === 'ProductKey')) checkProductKey(n, here, doc, opts, say);
        if (n.name === 'ProductKey' && n.value !== undefined && !n.children) checkProductKey(n, here, doc, opts, say);
        if ((n.name === 'CommandLine' || (n.name === 'Path' && parent?.name?.startsWith('RunSynchronousCommand')) || (n.name === 'Path' && parent?.name === 'RunAsynchronousCommand')) && (n.value ?? '').length > MAX_COMMAND) {
          if (!COMPONENT_BY_NAME.get(c.name)?.settings) {
            say({ code: 'UA027', severity: 'error', message: `${n.name} is ${(n.value ?? '').length} characters; Setup runs at most ${MAX_COMMAND}`, fix: 'move the command into a script and run that', pos: n.pos, path: here });
          }
        }
        if (n.name === 'MetaData' && parent?.name === 'InstallFrom') checkImage(n, here, opts, say);
        if (n.name === 'Disk' && parent?.name === 'DiskConfiguration') checkPartitions(n, here, say);
      });
    }
  }
}

/** Partition ids: one ModifyPartition each, and none beyond the partitions a wiped disk gets. */
function checkPartitions(disk: SettingNode, path: string, say: (d: Diagnostic) => void): void {
  const created = findSetting(disk.children, ['CreatePartitions'])?.children?.filter((c) => c.name === 'CreatePartition').length ?? 0;
  const wiped = findSetting(disk.children, ['WillWipeDisk'])?.value?.trim().toLowerCase() === 'true';
  const seen = new Set<string>();
  for (const m of findSetting(disk.children, ['ModifyPartitions'])?.children?.filter((c) => c.name === 'ModifyPartition') ?? []) {
    const id = findSetting(m.children, ['PartitionID'])?.value?.trim();
    if (id === undefined) continue;
    if (seen.has(id)) say({ code: 'UA036', severity: 'error', message: `two ModifyPartition items change partition ${id}`, fix: 'one ModifyPartition per PartitionID', pos: m.pos, path });
    seen.add(id);
    if (wiped && created && Number(id) > created) {
      say({ code: 'UA036', severity: 'error', message: `ModifyPartition changes partition ${id}, and the wiped disk gets only ${created}`, fix: `PartitionID 1 to ${created}`, pos: m.pos, path });
    }
  }
}

function checkTimeZone(n: SettingNode, path: string, release: Release | undefined, say: (d: Diagnostic) => void): void {
  const id = (n.value ?? '').trim();
  const r = timeZoneIn(id, release ?? '11');
  if (r === 'ok') return;
  const hint = suggestTimeZone(id);
  if (r === 'not-in-release') say({ code: 'UA022', severity: 'error', message: `time zone "${id}" does not exist in ${RELEASE_NAMES[release!]} as released`, fix: hint && hint !== id ? `use ${hint}` : 'pick a zone the release has (tzutil /l on it)', pos: n.pos, path });
  else say({ code: 'UA022', severity: 'error', message: `"${id}" is not a Windows time zone id: Setup stops to ask`, fix: hint ? `use "${hint}"` : 'use an id from tzutil /l, e.g. "W. Europe Standard Time"', pos: n.pos, path });
}

/** NetBIOS rules: 1-15 characters, not only digits, none of \ / : * ? " < > | , ~ ! @ # $ % ^ & ' . ( ) { } _ or space. */
export function computerNameProblem(name: string): string | undefined {
  if (name === '*') return undefined;
  if (name.length === 0) return 'empty';
  if (name.length > 15) return `${name.length} characters; at most 15`;
  if (/^\d+$/.test(name)) return 'only digits';
  const bad = /[\\/:*?"<>|,~!@#$%^&'.(){}_ ]/.exec(name);
  if (bad) return `contains "${bad[0]}"`;
  if (/[^\x21-\x7e]/.test(name)) return 'contains a character outside ASCII';
  if (name.startsWith('-')) return 'starts with a hyphen';
  return undefined;
}

function checkComputerName(n: SettingNode, path: string, say: (d: Diagnostic) => void): void {
  const why = computerNameProblem((n.value ?? '').trim());
  if (why) say({ code: 'UA023', severity: 'error', message: `computer name "${n.value}": ${why}`, fix: 'letters, digits and hyphens, at most 15 characters; * lets Setup pick one', pos: n.pos, path });
}

export function userNameProblem(name: string): string | undefined {
  if (!name) return 'empty';
  if (name.length > 20) return `${name.length} characters; at most 20`;
  const bad = /["/\\[\]:;|=,+*?<>@]/.exec(name);
  if (bad) return `contains "${bad[0]}"`;
  if (/^[. ]+$/.test(name)) return 'only dots and spaces';
  if (name.endsWith('.')) return 'ends with a dot';
  return undefined;
}

function checkUserName(n: SettingNode, path: string, say: (d: Diagnostic) => void, builtinOk = false): void {
  const name = (n.value ?? '').trim();
  const why = userNameProblem(name) ?? (!builtinOk && RESERVED_USER_NAMES.has(name.toLowerCase()) ? 'a built-in account or group name' : undefined);
  if (why) say({ code: 'UA024', severity: 'error', message: `user name "${name}": ${why}`, fix: 'at most 20 characters, none of " / \\ [ ] : ; | = , + * ? < > @, not a built-in name', pos: n.pos, path });
}

function checkProductKey(n: SettingNode, path: string, doc: UnattendDocument, opts: LintOptions, say: (d: Diagnostic) => void): void {
  const key = (n.value ?? '').trim();
  if (!key) return;
  const f = keyFormat(key, opts.release);
  if (f !== 'ok') {
    say({ code: 'UA025', severity: 'error', message: `product key "${key}": ${f}`, fix: 'five groups of five characters, e.g. XXXXX-XXXXX-XXXXX-XXXXX-XXXXX', pos: n.pos, path });
    return;
  }
  // Windows 10 and 11 share keys: look the key up in the target release first.
  const kms = editionOfKey(key.toUpperCase(), opts.release) ?? editionOfKey(key.toUpperCase());
  if (!kms) return;
  if (opts.release && kms.release !== opts.release && !(kms.release as string).startsWith('server')) {
    say({ code: 'UA026', severity: 'error', message: `product key ${key} is the KMS client key of ${kms.edition}, not of ${RELEASE_NAMES[opts.release]}`, fix: 'use the key of the edition being installed', pos: n.pos, path });
    return;
  }
  const chosen = chosenImage(doc, opts);
  if (chosen?.editionId && !kms.editionIds.some((e) => e.toLowerCase() === chosen.editionId!.toLowerCase())) {
    say({ code: 'UA026', severity: 'error', message: `product key ${key} is for ${kms.edition}, but the image installed is ${chosen.name} (${chosen.editionId})`, fix: 'use the key of that edition (or choose the matching image)', pos: n.pos, path });
  }
}

/** The image InstallFrom names, looked up on the media. */
function chosenImage(doc: UnattendDocument, opts: LintOptions): LintMedia['images'][number] | undefined {
  const images = opts.media?.images;
  if (!images) return undefined;
  const sel = imageSelection(doc);
  if (!sel) return images.length === 1 ? images[0] : undefined;
  return sel.key === '/IMAGE/INDEX' ? images.find((i) => i.index === Number(sel.value)) : images.find((i) => i.name.toLowerCase() === sel.value.toLowerCase());
}

function imageSelection(doc: UnattendDocument): { key: string; value: string; node: SettingNode } | undefined {
  for (const p of doc.passes) {
    if (p.pass !== 'windowsPE') continue;
    for (const c of p.components) {
      if (c.name !== 'Microsoft-Windows-Setup') continue;
      const from = findSetting(c.settings, ['ImageInstall', 'OSImage', 'InstallFrom']);
      const md = from?.children?.find((x) => x.name === 'MetaData');
      const key = findSetting(md?.children, ['Key'])?.value?.trim();
      const value = findSetting(md?.children, ['Value'])?.value?.trim();
      if (md && key && value !== undefined) return { key: key.toUpperCase(), value, node: md };
    }
  }
  return undefined;
}

function checkImage(n: SettingNode, path: string, opts: LintOptions, say: (d: Diagnostic) => void): void {
  const key = findSetting(n.children, ['Key'])?.value?.trim().toUpperCase();
  const value = findSetting(n.children, ['Value'])?.value?.trim() ?? '';
  if (key && !['/IMAGE/NAME', '/IMAGE/INDEX', '/IMAGE/DESCRIPTION'].includes(key)) {
    say({ code: 'UA018', severity: 'error', message: `MetaData Key "${key}" is not one Setup knows`, fix: '/IMAGE/NAME or /IMAGE/INDEX', pos: n.pos, path });
    return;
  }
  const images = opts.media?.images;
  if (!images || !key) return;
  const found = key === '/IMAGE/INDEX' ? images.find((i) => i.index === Number(value)) : key === '/IMAGE/NAME' ? images.find((i) => i.name === value) : images[0];
  if (!found) {
    const ci = key === '/IMAGE/NAME' ? images.find((i) => i.name.toLowerCase() === value.toLowerCase()) : undefined;
    say({
      code: 'UA028',
      severity: 'error',
      message: `${key === '/IMAGE/INDEX' ? 'image index' : 'image name'} "${value}" is not on the media: Setup stops and asks`,
      fix: ci ? `write "${ci.name}" (exact case)` : `the media holds ${images.map((i) => `${i.index}: ${i.name}`).join('; ')}`,
      pos: n.pos,
      path,
    });
  }
}

/** What a fully unattended install from Windows PE must answer, or Setup stops and asks. */
function checkUnattended(doc: UnattendDocument, opts: LintOptions, say: (d: Diagnostic) => void): void {
  const comp = (pass: string, name: string) => componentsIn(doc, pass, name);
  const setting = (pass: string, name: string, path: string[]) => comp(pass, name).map((c) => findSetting(c.settings, path)).find((x) => x !== undefined);
  const pe = doc.passes.find((p) => p.pass === 'windowsPE');
  const where = pe?.pos;
  const eula = setting('windowsPE', 'Microsoft-Windows-Setup', ['UserData', 'AcceptEula']);
  if (!eula || eula.value?.trim().toLowerCase() !== 'true') {
    say({ code: 'UA030', severity: 'error', message: 'the license terms are not accepted (UserData/AcceptEula): Setup stops on the EULA page', fix: 'windowsPE / Microsoft-Windows-Setup / UserData / AcceptEula = true', pos: eula?.pos ?? where });
  }
  if (!setting('windowsPE', 'Microsoft-Windows-Setup', ['DiskConfiguration']) && !setting('windowsPE', 'Microsoft-Windows-Setup', ['ImageInstall', 'OSImage', 'InstallToAvailablePartition'])) {
    say({ code: 'UA032', severity: 'warning', message: 'no disk configuration: Setup asks where to install', fix: 'add DiskConfiguration and ImageInstall/OSImage/InstallTo (overnight answer render writes both)', pos: where });
  } else if (!setting('windowsPE', 'Microsoft-Windows-Setup', ['ImageInstall', 'OSImage', 'InstallTo']) && setting('windowsPE', 'Microsoft-Windows-Setup', ['ImageInstall', 'OSImage', 'InstallToAvailablePartition'])?.value?.trim().toLowerCase() !== 'true') {
    say({ code: 'UA032', severity: 'warning', message: 'no InstallTo: Setup asks which partition to install to', fix: 'add ImageInstall/OSImage/InstallTo with DiskID and PartitionID', pos: where });
  }
  const key = setting('windowsPE', 'Microsoft-Windows-Setup', ['UserData', 'ProductKey', 'Key'])?.value?.trim() || setting('specialize', 'Microsoft-Windows-Shell-Setup', ['ProductKey'])?.value?.trim();
  const images = opts.media?.images;
  if (!imageSelection(doc) && !key && (!images || images.length > 1)) {
    say({ code: 'UA031', severity: 'warning', message: 'neither an image (InstallFrom) nor a product key chooses the edition: Setup asks which one to install', fix: 'add ImageInstall/OSImage/InstallFrom/MetaData with /IMAGE/NAME or /IMAGE/INDEX', pos: where });
  }
  if (!setting('windowsPE', 'Microsoft-Windows-International-Core-WinPE', ['SetupUILanguage', 'UILanguage']) && !setting('windowsPE', 'Microsoft-Windows-International-Core-WinPE', ['UILanguage'])) {
    say({ code: 'UA034', severity: 'warning', message: 'Setup\'s language is not given (International-Core-WinPE / SetupUILanguage): Setup asks for it', fix: 'add Microsoft-Windows-International-Core-WinPE with SetupUILanguage/UILanguage', pos: where });
  } else if (opts.media?.languages?.length) {
    const ui = setting('windowsPE', 'Microsoft-Windows-International-Core-WinPE', ['SetupUILanguage', 'UILanguage']);
    const v = ui?.value?.trim();
    if (v && !opts.media.languages.some((l) => l.toLowerCase() === v.toLowerCase())) {
      say({ code: 'UA035', severity: 'error', message: `SetupUILanguage ${v} is not a language of the media (${opts.media.languages.join(', ')}): Setup stops and asks`, fix: `use ${opts.media.languages[0]}`, pos: ui?.pos });
    }
  }
  const shell = comp('oobeSystem', 'Microsoft-Windows-Shell-Setup');
  const oobe = shell.map((c) => findSetting(c.settings, ['OOBE'])).find((x) => x);
  const oobeTrue = (name: string) => findSetting(oobe?.children, [name])?.value?.trim().toLowerCase() === 'true';
  // The license accepted in windowsPE is not asked again after a media install; HideEULAPage
  // matters where Setup did not run (a sysprepped image).
  if (!oobeTrue('HideEULAPage') && !oobeTrue('SkipMachineOOBE') && eula?.value?.trim().toLowerCase() !== 'true') {
    say({ code: 'UA033', severity: 'warning', message: 'OOBE shows the license page (OOBE/HideEULAPage is not true)', fix: 'oobeSystem / Microsoft-Windows-Shell-Setup / OOBE / HideEULAPage = true', pos: oobe?.pos ?? doc.passes.find((p) => p.pass === 'oobeSystem')?.pos });
  }
  if (!findSetting(oobe?.children, ['ProtectYourPC']) && !oobeTrue('SkipMachineOOBE')) {
    say({ code: 'UA033', severity: 'warning', message: 'OOBE asks about updates and protection (OOBE/ProtectYourPC not set)', fix: 'ProtectYourPC 3 for a machine that must not reach the internet, 1 otherwise', pos: oobe?.pos });
  }
  if (opts.release && atLeast(opts.release, '8')) {
    for (const name of ['HideOnlineAccountScreens', 'HideLocalAccountScreen']) {
      const hasUser = shell.some((c) => findSetting(c.settings, ['UserAccounts', 'LocalAccounts']));
      if (!oobeTrue(name) && !(name === 'HideLocalAccountScreen' && hasUser)) {
        say({ code: 'UA033', severity: 'warning', message: `OOBE shows the ${name === 'HideOnlineAccountScreens' ? 'Microsoft account' : 'local account'} screen (OOBE/${name} is not true)`, fix: `OOBE / ${name} = true${name === 'HideLocalAccountScreen' ? ' (and create an account, or set the Administrator password)' : ''}`, pos: oobe?.pos });
      }
    }
  }
  const cn = setting('specialize', 'Microsoft-Windows-Shell-Setup', ['ComputerName']) ?? setting('oobeSystem', 'Microsoft-Windows-Shell-Setup', ['ComputerName']);
  if (!cn && opts.release && !atLeast(opts.release, '8')) {
    say({ code: 'UA033', severity: 'warning', message: `${RELEASE_NAMES[opts.release]} OOBE asks for a computer name (none is set)`, fix: 'specialize / Microsoft-Windows-Shell-Setup / ComputerName (* for a random one)' });
  }
}

function walk(nodes: readonly SettingNode[], path: string, fn: (n: SettingNode, parents: SettingNode[], path: string) => void, parents: SettingNode[] = []): void {
  for (const n of nodes) {
    const here = `${path}/${n.name}`;
    fn(n, parents, here);
    if (n.children) walk(n.children, here, fn, [...parents, n]);
  }
}

function rangeText(since?: Release, until?: Release): string {
  if (since && until) return `it exists in ${RELEASE_NAMES[since]} to ${RELEASE_NAMES[until]}`;
  if (since) return `it exists from ${RELEASE_NAMES[since]}`;
  if (until) return `it exists up to ${RELEASE_NAMES[until]}`;
  return 'see the unattend reference';
}

/** The closest name by edit distance, as a "did you mean" (undefined when nothing is close). */
function closest(name: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const n of names) {
    const d = editDistance(name.toLowerCase(), n.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = n;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 4)) ? `did you mean ${best}?` : undefined;
}


function dedupe(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const k = `${d.code}|${d.pos?.line}|${d.pos?.column}|${d.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
