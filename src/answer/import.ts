// Answer file → profile: what a profile can say is carried over; every other setting is listed
// with its position, so that nothing is dropped silently. Settings that the profile's renderer
// writes by itself (WillShowUI, PlainText, Order, partition bookkeeping) count as carried.
import { type ComponentNode, componentsIn, type Position, type SettingNode, type UnattendDocument, findSetting } from './document.ts';
import { decodePassword } from './password.ts';
import type { ProfileInput } from './profile.ts';
import { type Release } from './release.ts';

export interface ImportResult {
  profile: ProfileInput;
  /** Settings the profile cannot hold, by path, with where they are. */
  notCarried: { path: string; value?: string | undefined; pos?: Position | undefined; why: string }[];
  /** Guesses worth checking (release, layout). */
  notes: string[];
}

export function importDocument(doc: UnattendDocument): ImportResult {
  const used = new Set<SettingNode>();
  const notCarried: ImportResult['notCarried'] = [];
  const notes: string[] = [];
  const comps = (pass: string, name: string) => componentsIn(doc, pass, name).filter((c) => c.processorArchitecture !== 'wow64');
  const get = (pass: string, name: string, path: string[]): SettingNode | undefined => {
    for (const c of comps(pass, name)) {
      const n = findSetting(c.settings, path);
      if (n) {
        markPath(c, path, used);
        return n;
      }
    }
    return undefined;
  };
  const text = (n: SettingNode | undefined) => n?.value?.trim();
  const consume = (n: SettingNode | undefined) => {
    if (n) markTree(n, used);
    return n;
  };

  // ---- target
  const arches = new Set(doc.passes.flatMap((p) => p.components.map((c) => c.processorArchitecture)).filter((a) => a !== 'wow64'));
  const arch = arches.size === 1 ? ([...arches][0] as 'x86' | 'amd64' | 'arm64') : 'amd64';
  if (arches.size > 1) notes.push(`components for several architectures (${[...arches].join(', ')}); kept ${arch}`);
  const md = get('windowsPE', 'Microsoft-Windows-Setup', ['ImageInstall', 'OSImage', 'InstallFrom']);
  consume(md);
  const metaData = md?.children?.find((c) => c.name === 'MetaData');
  const mdKey = text(findSetting(metaData?.children, ['Key']))?.toUpperCase();
  const mdValue = text(findSetting(metaData?.children, ['Value']));
  const edition = mdKey === '/IMAGE/INDEX' && mdValue ? Number(mdValue) : mdValue;
  const release = guessRelease(doc, typeof edition === 'string' ? edition : undefined);
  notes.push(release.note);
  const language = text(get('windowsPE', 'Microsoft-Windows-International-Core-WinPE', ['SetupUILanguage', 'UILanguage'])) ?? text(get('windowsPE', 'Microsoft-Windows-International-Core-WinPE', ['UILanguage']));
  const profile: ProfileInput = {
    target: { release: release.release, arch, ...(edition !== undefined ? { edition } : {}), ...(language ? { language } : {}) },
  };

  // ---- disk
  const disk = get('windowsPE', 'Microsoft-Windows-Setup', ['DiskConfiguration']);
  const d = readDisk(disk);
  if (d.profile) {
    profile.disk = d.profile;
    consume(disk);
    consume(get('windowsPE', 'Microsoft-Windows-Setup', ['ImageInstall', 'OSImage', 'InstallTo']));
  } else if (disk) {
    // Kept as it is, under settings: the profile renders no disk settings of its own.
    profile.disk = { layout: 'custom' };
  }
  if (d.note) notes.push(d.note);
  for (const p of ['WillShowUI', 'InstallToAvailablePartition']) get('windowsPE', 'Microsoft-Windows-Setup', ['ImageInstall', 'OSImage', p]);
  get('windowsPE', 'Microsoft-Windows-Setup', ['DiskConfiguration', 'WillShowUI']);

  // ---- key, EULA, owner
  get('windowsPE', 'Microsoft-Windows-Setup', ['UserData', 'AcceptEula']);
  get('windowsPE', 'Microsoft-Windows-Setup', ['UserData', 'ProductKey', 'WillShowUI']);
  const key = text(get('windowsPE', 'Microsoft-Windows-Setup', ['UserData', 'ProductKey', 'Key'])) || text(get('specialize', 'Microsoft-Windows-Shell-Setup', ['ProductKey']));
  if (key) profile.productKey = key;
  // The profile writes one owner and one organization to all three places; a place holding
  // another value keeps it under settings:.
  const oneOf = (places: [string, string, string[]][]) => {
    const found = places.map(([pass, comp, path]) => ({ pass, comp, path, value: comps(pass, comp).map((c) => findSetting(c.settings, path)).find((n) => n)?.value?.trim() }));
    const value = found.find((f) => f.value)?.value;
    for (const f of found) if (value !== undefined && f.value === value) get(f.pass, f.comp, f.path);
    return value;
  };
  const owner = oneOf([['specialize', 'Microsoft-Windows-Shell-Setup', ['RegisteredOwner']], ['windowsPE', 'Microsoft-Windows-Setup', ['UserData', 'FullName']], ['oobeSystem', 'Microsoft-Windows-Shell-Setup', ['RegisteredOwner']]]);
  const org = oneOf([['specialize', 'Microsoft-Windows-Shell-Setup', ['RegisteredOrganization']], ['windowsPE', 'Microsoft-Windows-Setup', ['UserData', 'Organization']], ['oobeSystem', 'Microsoft-Windows-Shell-Setup', ['RegisteredOrganization']]]);

  // ---- locale, time zone, name
  const locale: Record<string, string> = {};
  for (const [k, el] of [['input', 'InputLocale'], ['system', 'SystemLocale'], ['ui', 'UILanguage'], ['user', 'UserLocale']] as const) {
    const v = text(get('oobeSystem', 'Microsoft-Windows-International-Core', [el])) ?? text(get('specialize', 'Microsoft-Windows-International-Core', [el])) ?? text(get('windowsPE', 'Microsoft-Windows-International-Core-WinPE', [el]));
    get('windowsPE', 'Microsoft-Windows-International-Core-WinPE', [el]);
    if (v && v !== language) locale[k] = v;
  }
  if (Object.keys(locale).length) profile.locale = locale;
  const tz = text(get('specialize', 'Microsoft-Windows-Shell-Setup', ['TimeZone'])) ?? text(get('oobeSystem', 'Microsoft-Windows-Shell-Setup', ['TimeZone']));
  if (tz) profile.timeZone = tz;
  const cn = text(get('specialize', 'Microsoft-Windows-Shell-Setup', ['ComputerName'])) ?? text(get('oobeSystem', 'Microsoft-Windows-Shell-Setup', ['ComputerName']));
  if (cn) profile.computerName = cn;

  // ---- accounts
  const accounts: NonNullable<ProfileInput['accounts']> = {};
  const admin = get('oobeSystem', 'Microsoft-Windows-Shell-Setup', ['UserAccounts', 'AdministratorPassword']);
  const pw = (n: SettingNode | undefined, element: 'Password' | 'AdministratorPassword'): string | undefined => {
    if (!n) return undefined;
    consume(n);
    const value = findSetting(n.children, ['Value'])?.value ?? '';
    const plain = text(findSetting(n.children, ['PlainText']))?.toLowerCase() !== 'false';
    if (plain) return value;
    const dec = decodePassword(value, element);
    if (!dec.ok) {
      notCarried.push({ path: 'password', pos: n.pos, why: `an encoded password that ${dec.reason}` });
      return undefined;
    }
    return dec.password;
  };
  const adminPw = pw(admin, 'AdministratorPassword');
  if (adminPw !== undefined) accounts.administrator = { password: adminPw };
  const local = get('oobeSystem', 'Microsoft-Windows-Shell-Setup', ['UserAccounts', 'LocalAccounts']);
  const users = (local?.children ?? []).filter((c) => c.name === 'LocalAccount').map((a) => {
    consume(a);
    const name = text(findSetting(a.children, ['Name'])) ?? '';
    const password = pw(findSetting(a.children, ['Password']), 'Password');
    const group = text(findSetting(a.children, ['Group']));
    const displayName = text(findSetting(a.children, ['DisplayName']));
    const description = text(findSetting(a.children, ['Description']));
    return { name, ...(password !== undefined ? { password } : {}), ...(displayName && displayName !== name ? { displayName } : {}), ...(description ? { description } : {}), groups: group ? group.split(/[;,]/).map((g) => g.trim()).filter(Boolean) : ['Users'] };
  });
  if (users.length) accounts.users = users;
  const auto = get('oobeSystem', 'Microsoft-Windows-Shell-Setup', ['AutoLogon']);
  if (auto && text(findSetting(auto.children, ['Enabled']))?.toLowerCase() === 'true') {
    consume(auto);
    const user = text(findSetting(auto.children, ['Username'])) ?? 'Administrator';
    const count = Number(text(findSetting(auto.children, ['LogonCount'])) ?? 1);
    accounts.autologon = { user, count: Number.isInteger(count) && count >= 1 ? Math.min(count, 2 ** 31 - 1) : 1 };
    const apw = pw(findSetting(auto.children, ['Password']), 'Password');
    const known = user.toLowerCase() === 'administrator' ? adminPw : users.find((u) => u.name.toLowerCase() === user.toLowerCase())?.password;
    if (apw !== undefined && known === undefined) {
      if (user.toLowerCase() === 'administrator') accounts.administrator = { password: apw };
      else notCarried.push({ path: 'AutoLogon/Password', pos: auto.pos, why: `autologon as "${user}", an account the file does not create` });
    }
  }
  const plain = [admin, ...(local?.children ?? [])].some((n) => n && text(findSetting(n.children, ['PlainText']))?.toLowerCase() === 'true');
  if (plain) notes.push('passwords were in plain text; the profile renders them encoded (plainTextPasswords: false)');
  if (Object.keys(accounts).length) profile.accounts = accounts;

  // ---- domain
  const ident = get('specialize', 'Microsoft-Windows-UnattendedJoin', ['Identification']);
  if (ident) {
    const domain = text(findSetting(ident.children, ['JoinDomain']));
    const wg = text(findSetting(ident.children, ['JoinWorkgroup']));
    if (domain) {
      consume(ident);
      const ou = text(findSetting(ident.children, ['MachineObjectOU']));
      const userDomain = text(findSetting(ident.children, ['Credentials', 'Domain']));
      profile.join = { domain, user: text(findSetting(ident.children, ['Credentials', 'Username'])) ?? '', password: findSetting(ident.children, ['Credentials', 'Password'])?.value ?? '', ...(ou ? { ou } : {}), ...(userDomain && userDomain !== domain ? { userDomain } : {}) };
    } else if (wg) {
      consume(ident);
      profile.join = { workgroup: wg };
    }
  }

  // ---- OOBE
  const oobe = get('oobeSystem', 'Microsoft-Windows-Shell-Setup', ['OOBE']);
  if (oobe) {
    const loc = text(findSetting(oobe.children, ['NetworkLocation']))?.toLowerCase();
    const protect = Number(text(findSetting(oobe.children, ['ProtectYourPC'])));
    for (const n of oobe.children ?? []) if (/^(Hide|Skip)/.test(n.name) || n.name === 'NetworkLocation' || n.name === 'ProtectYourPC') used.add(n);
    profile.oobe = {
      ...(loc === 'home' || loc === 'work' || loc === 'other' ? { networkLocation: loc } : {}),
      ...(protect === 1 || protect === 2 || protect === 3 ? { protectYourPC: protect } : {}),
      ...(owner ? { registeredOwner: owner } : {}),
      ...(org ? { registeredOrganization: org } : {}),
    };
  } else if (owner || org) profile.oobe = { ...(owner ? { registeredOwner: owner } : {}), ...(org ? { registeredOrganization: org } : {}) };

  // ---- commands and drivers
  const listOf = (n: SettingNode | undefined, item: string, field: string) =>
    (n?.children ?? [])
      .filter((c) => c.name === item)
      .sort((a, b) => Number(text(findSetting(a.children, ['Order']))) - Number(text(findSetting(b.children, ['Order']))))
      .map((c) => {
        consume(c);
        const run = findSetting(c.children, [field])?.value ?? '';
        const description = text(findSetting(c.children, ['Description']));
        const reboot = text(findSetting(c.children, ['WillReboot']))?.toLowerCase() === 'always';
        return description || reboot ? { run, ...(description ? { description } : {}), ...(reboot ? { reboot } : {}) } : run;
      });
  const specialize = listOf(get('specialize', 'Microsoft-Windows-Deployment', ['RunSynchronous']), 'RunSynchronousCommand', 'Path');
  const firstLogon = listOf(get('oobeSystem', 'Microsoft-Windows-Shell-Setup', ['FirstLogonCommands']), 'SynchronousCommand', 'CommandLine');
  if (specialize.length || firstLogon.length) profile.commands = { ...(specialize.length ? { specialize } : {}), ...(firstLogon.length ? { firstLogon } : {}) };
  const paths = (pass: string, comp: string) =>
    (get(pass, comp, ['DriverPaths'])?.children ?? []).map((pc) => {
      consume(pc);
      return findSetting(pc.children, ['Path'])?.value?.trim() ?? '';
    });
  const winpe = paths('windowsPE', 'Microsoft-Windows-PnpCustomizationsWinPE');
  const system = [...paths('offlineServicing', 'Microsoft-Windows-PnpCustomizationsNonWinPE'), ...paths('auditSystem', 'Microsoft-Windows-PnpCustomizationsNonWinPE')];
  if (winpe.length || system.length) profile.drivers = { ...(winpe.length ? { winpe } : {}), ...(system.length ? { system } : {}) };
  // The profile renders SkipAutoActivation itself only without a key; otherwise it stays in settings:.
  if (!key) get('specialize', 'Microsoft-Windows-Security-SPP-UX', ['SkipAutoActivation']);
  for (const c of doc.passes.flatMap((p) => p.components).filter((c) => c.processorArchitecture === 'wow64' && c.name === 'Microsoft-Windows-International-Core')) for (const s of c.settings) used.add(s);

  // ---- everything else goes under settings:, as it is
  const settings: NonNullable<ProfileInput['settings']> = [];
  let moved = 0;
  for (const p of doc.passes) {
    for (const c of p.components) {
      const values = leftOver(c.settings, used, `${p.pass}/${c.name}`, notCarried);
      if (!values) continue;
      walkLeaves(c.settings, '', (n) => void (!used.has(n) && moved++));
      settings.push({ pass: p.pass as NonNullable<ProfileInput['settings']>[number]['pass'], component: c.name, ...(c.processorArchitecture !== arch ? { arch: c.processorArchitecture as 'wow64' } : {}), values });
    }
  }
  if (settings.length) {
    profile.settings = settings;
    notes.push(`${moved} setting(s) with no profile field kept under settings:`);
  }
  for (const x of doc.extra) notCarried.push({ path: x.name, pos: x.pos, why: 'not a setting (a profile cannot hold it)' });
  return { profile, notCarried, notes };
}

/** The settings not carried into profile fields, as a settings: values map (undefined when none). */
function leftOver(nodes: readonly SettingNode[], used: Set<SettingNode>, path: string, notCarried: ImportResult['notCarried']): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  for (const n of nodes) {
    const here = `${path}/${n.name}`;
    if (n.attributes) notCarried.push({ path: here, pos: n.pos, why: `attributes ${Object.keys(n.attributes).join(', ')} (a profile cannot hold them)` });
    let value: unknown;
    if (n.children) {
      const sub = leftOver(n.children, used, here, notCarried);
      if (!sub) continue;
      value = n.keyValue !== undefined ? { 'wcm:keyValue': n.keyValue, ...sub } : sub;
    } else {
      if (used.has(n)) continue;
      value = n.value ?? '';
    }
    if (n.action) {
      const list = (out[n.name] ??= []) as unknown[];
      if (Array.isArray(list)) list.push(value);
    } else out[n.name] = value;
  }
  return Object.keys(out).length ? out : undefined;
}

function markTree(n: SettingNode, used: Set<SettingNode>): void {
  used.add(n);
  for (const c of n.children ?? []) markTree(c, used);
}

function markPath(c: ComponentNode, path: string[], used: Set<SettingNode>): void {
  let list = c.settings;
  for (const name of path) {
    const n = list.find((x) => x.name === name);
    if (!n) return;
    used.add(n);
    list = n.children ?? [];
  }
}

function walkLeaves(nodes: readonly SettingNode[], path: string, fn: (n: SettingNode, path: string) => void): void {
  for (const n of nodes) {
    const here = `${path}/${n.name}`;
    if (n.children) walkLeaves(n.children, here, fn);
    else fn(n, here);
  }
}

/** The release, from the image name when it has one, else from settings only some releases have. */
function guessRelease(doc: UnattendDocument, imageName: string | undefined): { release: Release; note: string } {
  const m = /windows\s+(vista|7|8\.1|8|10|11)\b/i.exec(imageName ?? '');
  if (m) return { release: m[1]!.toLowerCase() as Release, note: `release ${m[1]} from the image name "${imageName}"` };
  const names = new Set<string>();
  const collect = (ns: readonly SettingNode[]) => ns.forEach((n) => (names.add(n.name), n.children && collect(n.children)));
  doc.passes.forEach((p) => p.components.forEach((c) => collect(c.settings)));
  if (names.has('HideOnlineAccountScreens') || names.has('HideLocalAccountScreen')) return { release: '10', note: 'release 10 guessed (Windows 8+ OOBE settings, no image name): check target.release' };
  return { release: '7', note: 'release 7 guessed (no image name): check target.release' };
}

/** The profile's disk section, when the file's partitions are one of the layouts a profile makes. */
function readDisk(dc: SettingNode | undefined): { profile?: NonNullable<ProfileInput['disk']>; note?: string } {
  if (!dc) return { note: 'no DiskConfiguration: the profile renders its default layout' };
  const disks = (dc.children ?? []).filter((c) => c.name === 'Disk');
  if (disks.length !== 1) return { note: `${disks.length} disks configured: not carried over (a profile configures one)` };
  const disk = disks[0]!;
  const id = Number(findSetting(disk.children, ['DiskID'])?.value ?? 0);
  const wipe = findSetting(disk.children, ['WillWipeDisk'])?.value?.trim().toLowerCase() === 'true';
  if (!wipe) return { profile: { disk: id, wipe: false }, note: 'disk is not wiped: Windows installs to the partition the file names' };
  const parts = (findSetting(disk.children, ['CreatePartitions'])?.children ?? [])
    .filter((c) => c.name === 'CreatePartition')
    .sort((a, b) => Number(findSetting(a.children, ['Order'])?.value) - Number(findSetting(b.children, ['Order'])?.value))
    .map((c) => ({ type: findSetting(c.children, ['Type'])?.value?.trim() ?? '', size: Number(findSetting(c.children, ['Size'])?.value), extend: findSetting(c.children, ['Extend'])?.value?.trim().toLowerCase() === 'true' }));
  const types = parts.map((p) => p.type).join(',');
  if (types === 'EFI,MSR,Primary' && parts[2]!.extend) return { profile: { layout: 'uefi-gpt', disk: id, efiSize: parts[0]!.size, msrSize: parts[1]!.size }, note: 'disk: UEFI/GPT layout' };
  if (types === 'Primary,Primary' && parts[1]!.extend) return { profile: { layout: 'bios-mbr', disk: id, systemSize: parts[0]!.size }, note: 'disk: BIOS/MBR layout with a System Reserved partition' };
  return { note: `disk: partitions ${types || '(none)'} are not a layout a profile makes: the profile renders its own (check disk:)` };
}
