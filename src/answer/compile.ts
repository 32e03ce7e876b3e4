// Profile (+ the machine's overrides + its firmware) → UnattendDocument. Every setting goes in the
// pass where Microsoft's reference says it belongs, with the release's own defaults (Windows 7:
// 100 MB System Reserved, MSR 128 MB; Windows 10/11: MSR 16 MB), only settings the release has,
// and components for the target architecture (amd64 media also get the wow64 International-Core
// that 32-bit programs read). The output is deterministic: same inputs, same document.
import { type ComponentNode, type PassNode, type SettingNode, type UnattendDocument, item, leaf, MAX_COMMAND, node, PUBLIC_KEY_TOKEN } from './document.ts';
import { AnswerError } from './errors.ts';
import { kmsKeyFor } from './keys.ts';
import { encodePassword, type PasswordElement } from './password.ts';
import { type CommandSpec, type ExtraSettingsSpec, type Firmware, type Profile, profileFor } from './profile.ts';
import { atLeast, type Release } from './release.ts';


export interface MachineContext {
  name?: string | undefined;
  mac?: string | undefined;
  serial?: string | undefined;
  /** 1-based number of the machine (inventory order), for {n} in computer names. */
  n?: number | undefined;
}

export interface CompileContext {
  machine?: MachineContext;
  /** The client's firmware (DHCP option 93 on a network boot); resolves disk.layout auto. */
  firmware?: Firmware | undefined;
  /** Edition ids of the media's images, by image name and by index, to pick the KMS key. */
  media?: { images: readonly { index: number; name: string; editionId?: string | undefined }[] } | undefined;
  /**
   * Commands added around the profile's own: first in specialize, first at first logon, and last at
   * first logon (after the applications). A network install reports its progress through them.
   */
  around?: { specialize?: readonly CommandSpec[]; firstLogonStart?: readonly CommandSpec[]; firstLogonEnd?: readonly CommandSpec[] } | undefined;
}

export interface CompileResult {
  doc: UnattendDocument;
  /** The profile after the machine's overrides. */
  profile: Profile;
  /**
   * Scripts that commands over MAX_COMMAND characters were moved into, by path relative to the
   * deployment share (`scripts/...`): whoever serves the share writes them there.
   */
  files: Record<string, string>;
  /** Resolved choices worth showing (layout, key source, computer name). */
  notes: string[];
}

const PASS_ORDER = ['windowsPE', 'offlineServicing', 'generalize', 'specialize', 'auditSystem', 'auditUser', 'oobeSystem'] as const;
type PassName = (typeof PASS_ORDER)[number];

export function compileProfile(base: Profile, ctx: CompileContext = {}): CompileResult {
  const p = ctx.machine ? profileFor(base, ctx.machine) : base;
  const release = p.target.release;
  const arch = p.target.arch;
  if (arch === 'arm64' && !atLeast(release, '10')) throw new AnswerError('E_RENDER', `${release}: there is no arm64 Windows before Windows 10`);
  if (arch === 'x86' && release === '11') throw new AnswerError('E_RENDER', 'Windows 11 has no x86 edition');
  const notes: string[] = [];
  const files: Record<string, string> = {};
  const passes = new Map<PassName, ComponentNode[]>();
  const add = (pass: PassName, name: string, settings: readonly (SettingNode | undefined)[], archOverride?: string) => {
    const s = settings.filter((x): x is SettingNode => x !== undefined);
    if (!s.length) return;
    const list = passes.get(pass) ?? [];
    list.push({ name, processorArchitecture: archOverride ?? arch, publicKeyToken: PUBLIC_KEY_TOKEN, language: 'neutral', versionScope: 'nonSxS', settings: s });
    passes.set(pass, list);
  };
  const pw = (value: string, element: PasswordElement) => [leaf('Value', p.accounts.plainTextPasswords ? value : encodePassword(value, element)), leaf('PlainText', p.accounts.plainTextPasswords)];
  const lang = p.target.language;
  const loc = { ui: p.locale.ui ?? lang, input: p.locale.input ?? lang, system: p.locale.system ?? lang, user: p.locale.user ?? lang };

  // ---- windowsPE: language of Setup, disk, image, EULA and key
  add('windowsPE', 'Microsoft-Windows-International-Core-WinPE', [
    node('SetupUILanguage', [leaf('UILanguage', lang)]),
    leaf('InputLocale', loc.input),
    leaf('SystemLocale', loc.system),
    leaf('UILanguage', loc.ui),
    leaf('UserLocale', loc.user),
  ]);
  const layout = p.disk.layout === 'custom' ? undefined : resolveLayout(p, ctx.firmware, release, arch);
  notes.push(`disk layout: ${layout ?? 'custom (from settings:)'}${p.disk.layout === 'auto' ? ` (from ${ctx.firmware} firmware)` : ''}`);
  const disk = layout ? diskConfiguration(p, layout, release) : undefined;
  const key = productKey(p, release, ctx.media);
  if (key.note) notes.push(key.note);
  add('windowsPE', 'Microsoft-Windows-Setup', [
    disk ? node('DiskConfiguration', [disk.disk, leaf('WillShowUI', 'OnError')]) : undefined,
    node('ImageInstall', [
      node('OSImage', [
        // InstallFrom before InstallTo, as WSIM orders them (Setup reads the image first).
        imageSelection(p.target.edition),
        disk ? node('InstallTo', [leaf('DiskID', p.disk.disk), leaf('PartitionID', disk.windowsPartition)]) : undefined,
        leaf('InstallToAvailablePartition', false),
        leaf('WillShowUI', 'OnError'),
      ]),
    ]),
    node('UserData', [
      leaf('AcceptEula', true),
      p.oobe.registeredOwner ? leaf('FullName', p.oobe.registeredOwner) : undefined,
      p.oobe.registeredOrganization ? leaf('Organization', p.oobe.registeredOrganization) : undefined,
      // No key: Windows 7 and Vista install the chosen edition unactivated; later releases need one.
      node('ProductKey', [leaf('Key', key.key ?? ''), leaf('WillShowUI', key.key ? 'OnError' : 'Never')]),
    ]),
  ]);
  add('windowsPE', 'Microsoft-Windows-PnpCustomizationsWinPE', [driverPaths(p.drivers.winpe)]);

  // ---- offlineServicing: drivers added to the installed image before it first starts
  add('offlineServicing', 'Microsoft-Windows-PnpCustomizationsNonWinPE', [driverPaths(p.drivers.system)]);

  // ---- specialize: identity, domain, commands
  const computerName = expandComputerName(p.computerName, ctx.machine ?? {});
  add('specialize', 'Microsoft-Windows-Shell-Setup', [
    leaf('ComputerName', computerName),
    leaf('TimeZone', p.timeZone ?? (release === 'vista' ? 'Greenwich Standard Time' : 'UTC')),
    p.oobe.registeredOwner ? leaf('RegisteredOwner', p.oobe.registeredOwner) : undefined,
    p.oobe.registeredOrganization ? leaf('RegisteredOrganization', p.oobe.registeredOrganization) : undefined,
  ]);
  if (p.join && 'domain' in p.join) {
    add('specialize', 'Microsoft-Windows-UnattendedJoin', [
      node('Identification', [
        node('Credentials', [leaf('Domain', p.join.userDomain ?? p.join.domain), leaf('Password', p.join.password), leaf('Username', p.join.user)]),
        leaf('JoinDomain', p.join.domain),
        p.join.ou ? leaf('MachineObjectOU', p.join.ou) : undefined,
      ]),
    ]);
  } else if (p.join) {
    add('specialize', 'Microsoft-Windows-UnattendedJoin', [node('Identification', [leaf('JoinWorkgroup', p.join.workgroup)])]);
  }
  const around = ctx.around ?? {};
  const special = [...(around.specialize ?? []), ...p.commands.specialize].map((c, i) => command(c, `specialize-${i + 1}`, p, files));
  add('specialize', 'Microsoft-Windows-Deployment', [
    node(
      'RunSynchronous',
      special.map((c, i) =>
        item('RunSynchronousCommand', [leaf('Order', i + 1), leaf('Path', c.line), c.description ? leaf('Description', c.description) : undefined, c.reboot ? leaf('WillReboot', 'Always') : undefined]),
      ),
    ),
  ]);
  // An isolated machine cannot activate: do not let it try (and log failures) every few hours.
  // (Vista names the component Microsoft-Windows-Security-Licensing-SLC-UX.)
  if (p.productKey !== 'kms' && !key.key?.length) add('specialize', release === 'vista' ? 'Microsoft-Windows-Security-Licensing-SLC-UX' : 'Microsoft-Windows-Security-SPP-UX', [leaf('SkipAutoActivation', true)]);

  // ---- oobeSystem: locale, OOBE screens, accounts, autologon, first-logon commands
  add('oobeSystem', 'Microsoft-Windows-International-Core', [leaf('InputLocale', loc.input), leaf('SystemLocale', loc.system), leaf('UILanguage', loc.ui), leaf('UserLocale', loc.user)]);
  const newer = atLeast(release, '8');
  const oobe = node('OOBE', [
    leaf('HideEULAPage', true),
    newer ? leaf('HideLocalAccountScreen', true) : undefined,
    newer ? leaf('HideOEMRegistrationScreen', true) : undefined,
    newer ? leaf('HideOnlineAccountScreens', true) : undefined,
    release !== 'vista' ? leaf('HideWirelessSetupInOOBE', true) : undefined,
    // Windows 10 1709+ ignores NetworkLocation; it is harmless there.
    leaf('NetworkLocation', { home: 'Home', work: 'Work', other: 'Other' }[p.oobe.networkLocation]),
    leaf('ProtectYourPC', p.oobe.protectYourPC),
    // SkipMachineOOBE/SkipUserOOBE are deprecated from Windows 8 (they skip too much there).
    !newer ? leaf('SkipMachineOOBE', true) : undefined,
    !newer ? leaf('SkipUserOOBE', true) : undefined,
  ]);
  const users = p.accounts.users.map((u) =>
    item('LocalAccount', [
      u.password !== undefined ? node('Password', pw(u.password, 'Password')) : undefined,
      u.description ? leaf('Description', u.description) : undefined,
      leaf('DisplayName', u.displayName ?? u.name),
      leaf('Group', u.groups.join(';')),
      leaf('Name', u.name),
    ]),
  );
  const accounts = node('UserAccounts', [p.accounts.administrator ? node('AdministratorPassword', pw(p.accounts.administrator.password, 'AdministratorPassword')) : undefined, node('LocalAccounts', users)]);
  let autologon: SettingNode | undefined;
  const firstLogon = [
    ...[...(around.firstLogonStart ?? []), ...p.commands.firstLogon].map((c, i) => command(c, `firstlogon-${i + 1}`, p, files)),
    ...appCommands(p, files),
    ...(around.firstLogonEnd ?? []).map((c, i) => command(c, `firstlogon-end-${i + 1}`, p, files)),
  ];
  if (p.accounts.autologon) {
    const user = p.accounts.autologon.user;
    const isAdmin = user.toLowerCase() === 'administrator';
    const account = p.accounts.users.find((u) => u.name.toLowerCase() === user.toLowerCase());
    if (!isAdmin && !account) throw new AnswerError('E_RENDER', `accounts.autologon.user: "${user}" is neither Administrator nor one of accounts.users`);
    const password = isAdmin ? p.accounts.administrator?.password : account?.password;
    autologon = node('AutoLogon', [
      leaf('Enabled', true),
      leaf('LogonCount', p.accounts.autologon.count),
      leaf('Username', user),
      password !== undefined ? node('Password', pw(password, 'Password')) : undefined,
    ]);
  }
  add('oobeSystem', 'Microsoft-Windows-Shell-Setup', [
    autologon,
    node(
      'FirstLogonCommands',
      firstLogon.map((c, i) => item('SynchronousCommand', [leaf('CommandLine', c.line), c.description ? leaf('Description', c.description) : undefined, leaf('Order', i + 1), leaf('RequiresUserInput', false)])),
    ),
    oobe,
    accounts,
  ]);
  // 32-bit programs on 64-bit Windows read their own copy of the locale settings.
  if (arch === 'amd64') {
    add('oobeSystem', 'Microsoft-Windows-International-Core', [leaf('InputLocale', loc.input), leaf('SystemLocale', loc.system), leaf('UILanguage', loc.ui), leaf('UserLocale', loc.user)], 'wow64');
  }

  for (const [i, x] of p.settings.entries()) addExtra(passes, x, arch, `settings[${i}]`);

  const doc: UnattendDocument = { passes: PASS_ORDER.filter((n) => passes.has(n)).map((n): PassNode => ({ pass: n, components: passes.get(n)! })), extra: [] };
  notes.push(`computer name: ${computerName}`);
  return { doc, profile: p, files, notes };
}

/**
 * The profile's `settings:` entries, merged into the components rendered so far: a value given
 * there replaces the one the profile rendered, and anything new is added after it.
 */
function addExtra(passes: Map<PassName, ComponentNode[]>, x: ExtraSettingsSpec, arch: string, where: string): void {
  const list = passes.get(x.pass) ?? [];
  passes.set(x.pass, list);
  const a = x.arch ?? arch;
  let comp = list.find((c) => c.name === x.component && c.processorArchitecture === a);
  if (!comp) {
    comp = { name: x.component, processorArchitecture: a, publicKeyToken: PUBLIC_KEY_TOKEN, language: 'neutral', versionScope: 'nonSxS', settings: [] };
    list.push(comp);
  }
  mergeSettings(comp.settings, toSettings(x.values, where));
}

function toSettings(values: Record<string, unknown>, where: string): SettingNode[] {
  const out: SettingNode[] = [];
  for (const [name, v] of Object.entries(values)) {
    if (name === 'wcm:keyValue') continue;
    const here = `${where}.${name}`;
    if (v === null || v === undefined) out.push({ name, value: '' });
    else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out.push(leaf(name, v));
    else if (Array.isArray(v)) {
      // A list of items: each map is one wcm:action="add" item named `name`.
      for (const [i, it] of v.entries()) {
        if (!it || typeof it !== 'object' || Array.isArray(it)) throw new AnswerError('E_RENDER', `${here}[${i}]: list items are maps of settings`);
        const rec = it as Record<string, unknown>;
        const key = rec['wcm:keyValue'];
        out.push(item(name, toSettings(rec, `${here}[${i}]`), key === undefined ? undefined : String(key)));
      }
    } else out.push({ name, children: toSettings(v as Record<string, unknown>, here) });
  }
  return out;
}

/** Adds `add` to `into`: leaves and single containers of the same name are replaced / merged, list items appended. */
function mergeSettings(into: SettingNode[], add: readonly SettingNode[]): void {
  for (const n of add) {
    const i = into.findIndex((x) => x.name === n.name);
    const cur = i >= 0 ? into[i] : undefined;
    if (!cur || n.action || cur.action) into.push(n);
    else if (cur.children && n.children) mergeSettings(cur.children, n.children);
    else into[i] = n;
  }
}

function resolveLayout(p: Profile, firmware: Firmware | undefined, release: Release, arch: string): 'bios-mbr' | 'uefi-gpt' {
  let layout = p.disk.layout as 'auto' | 'bios-mbr' | 'uefi-gpt';
  if (layout === 'auto') {
    if (!firmware) throw new AnswerError('E_RENDER', 'disk.layout is auto: say which firmware the machine has (--firmware bios|uefi); a network boot learns it per machine');
    layout = firmware === 'uefi' ? 'uefi-gpt' : 'bios-mbr';
  }
  // Windows 7/Vista boot from UEFI only in x64 (Vista from SP1); arm64 is UEFI only.
  if (layout === 'uefi-gpt' && arch === 'x86' && !atLeast(release, '8')) throw new AnswerError('E_RENDER', `${release} x86 cannot boot from UEFI: use disk.layout bios-mbr`);
  if (layout === 'bios-mbr' && arch === 'arm64') throw new AnswerError('E_RENDER', 'arm64 machines boot from UEFI only: use disk.layout uefi-gpt');
  return layout;
}

/**
 * The Disk element and the partition Windows goes to. A recovery partition goes before Windows,
 * as in Microsoft's sample answer files: Setup can extend only the last partition, so one after
 * Windows would need a fixed Windows size.
 */
function diskConfiguration(p: Profile, layout: 'bios-mbr' | 'uefi-gpt', release: Release): { disk: SettingNode; windowsPartition: number } {
  const d = p.disk;
  if (!d.wipe) {
    // Keep what is on the disk: Setup installs to partition 2 (after an existing System Reserved
    // or EFI partition); lint reports this as a choice to check.
    return { disk: item('Disk', [leaf('DiskID', d.disk), leaf('WillWipeDisk', false)]), windowsPartition: 2 };
  }
  // [type, size or 'extend', modifications]
  const parts: [string, number | 'extend', SettingNode[]][] = [];
  // TypeID (which hides the partition) exists from Windows 7.
  const recovery = (typeId: string): [string, number, SettingNode[]] => ['Primary', d.recoverySize, [leaf('Format', 'NTFS'), leaf('Label', 'Recovery'), ...(release !== 'vista' ? [leaf('TypeID', typeId)] : [])]];
  if (layout === 'bios-mbr') {
    const system = d.systemSize ?? (atLeast(release, '10') ? 500 : atLeast(release, '8') ? 350 : 100);
    parts.push(['Primary', system, [leaf('Active', true), leaf('Format', 'NTFS'), leaf('Label', 'System Reserved')]]);
    if (d.recoverySize) parts.push(recovery('0x27'));
  } else {
    if (d.recoverySize) parts.push(recovery('DE94BBA4-06D1-4D40-A16A-BFD50179D6AC'));
    parts.push(['EFI', d.efiSize ?? 100, [leaf('Format', 'FAT32'), leaf('Label', 'System')]]);
    parts.push(['MSR', d.msrSize ?? (atLeast(release, '10') ? 16 : 128), []]);
  }
  parts.push(['Primary', 'extend', [leaf('Format', 'NTFS'), leaf('Label', d.label), leaf('Letter', 'C')]]);
  const create = parts.map(([type, size], i) => item('CreatePartition', [leaf('Order', i + 1), leaf('Type', type), size === 'extend' ? leaf('Extend', true) : leaf('Size', size)]));
  const modify = parts
    .map(([, , mods], i) => ({ id: i + 1, mods }))
    .filter((x) => x.mods.length)
    .map((x, i) => item('ModifyPartition', [leaf('Order', i + 1), leaf('PartitionID', x.id), ...x.mods]));
  return {
    disk: item('Disk', [node('CreatePartitions', create), leaf('DiskID', d.disk), node('ModifyPartitions', modify), leaf('WillWipeDisk', true)]),
    windowsPartition: parts.length,
  };
}

function imageSelection(edition: string | number | undefined): SettingNode | undefined {
  if (edition === undefined) return undefined;
  const byIndex = typeof edition === 'number';
  return node('InstallFrom', [item('MetaData', [leaf('Key', byIndex ? '/IMAGE/INDEX' : '/IMAGE/NAME'), leaf('Value', edition)])]);
}

function productKey(p: Profile, release: Release, media: CompileContext['media']): { key?: string; note?: string } {
  if (p.productKey === 'none') return { note: 'product key: none' };
  if (p.productKey !== 'kms') return { key: p.productKey.toUpperCase(), note: 'product key: given in the profile' };
  const ed = p.target.edition;
  const image = media?.images.find((i) => (typeof ed === 'number' ? i.index === ed : i.name.toLowerCase() === String(ed ?? '').toLowerCase()));
  const editionId = image?.editionId ?? editionIdFromName(typeof ed === 'string' ? ed : undefined);
  if (!editionId) throw new AnswerError('E_RENDER', 'productKey kms: name the edition (target.edition) or give the media (--media) so that its KMS client key can be chosen');
  const k = kmsKeyFor(release, editionId);
  if (!k) throw new AnswerError('E_RENDER', `productKey kms: no KMS client key is published for ${release} edition "${editionId}"`);
  return { key: k.key, note: `product key: KMS client key of ${k.edition}` };
}

/** "Windows 7 PROFESSIONAL" → Professional, "Windows 10 Pro N" → ProfessionalN, by the usual image names. */
export function editionIdFromName(name: string | undefined): string | undefined {
  if (!name) return undefined;
  const tail = name.replace(/^Windows\s+(Vista|7|8\.1|8|10|11)\s*/i, '').trim().toLowerCase();
  const map: Record<string, string> = {
    professional: 'Professional',
    pro: 'Professional',
    'professional n': 'ProfessionalN',
    'pro n': 'ProfessionalN',
    enterprise: 'Enterprise',
    'enterprise n': 'EnterpriseN',
    ultimate: 'Ultimate',
    homepremium: 'HomePremium',
    'home premium': 'HomePremium',
    homebasic: 'HomeBasic',
    'home basic': 'HomeBasic',
    starter: 'Starter',
    business: 'Business',
    education: 'Education',
    'education n': 'EducationN',
    home: 'Core',
    'pro for workstations': 'ProfessionalWorkstation',
    'pro education': 'ProfessionalEducation',
  };
  return map[tail];
}

interface RenderedCommand {
  line: string;
  description?: string | undefined;
  reboot?: boolean | undefined;
}

/**
 * A command as Setup will run it. One longer than MAX_COMMAND characters is moved into a script on
 * the deployment share (files[scripts/NAME.cmd]) and run from there.
 */
function command(c: CommandSpec, name: string, p: Profile, files: Record<string, string>): RenderedCommand {
  const spec = typeof c === 'string' ? { run: c } : c;
  if (spec.run.length <= MAX_COMMAND) return { line: spec.run, description: spec.description, reboot: spec.reboot };
  if (!p.share) throw new AnswerError('E_RENDER', `a ${spec.run.length}-character command (${name}) is over Setup's ${MAX_COMMAND}-character limit and there is no deployment share (share:) to move it to`);
  const path = `scripts/${name}.cmd`;
  files[path] = `@echo off\r\nrem Moved here by overnight: Setup runs at most ${MAX_COMMAND} characters a command.\r\n${spec.run}\r\n`;
  const line = `cmd /c "${joinUnc(p.share, path)}"`;
  if (line.length > MAX_COMMAND) throw new AnswerError('E_RENDER', `share path too long: "${line}" is over ${MAX_COMMAND} characters`);
  return { line, description: spec.description ?? `${name} (moved to a script: over ${MAX_COMMAND} characters)`, reboot: spec.reboot };
}

function joinUnc(share: string, rel: string): string {
  return `${share.replace(/[\\/]+$/, '')}\\${rel.replace(/\//g, '\\')}`;
}

/** Installers on the share, run at first logon with their silent switches. */
function appCommands(p: Profile, files: Record<string, string>): RenderedCommand[] {
  return p.apps.map((a, i) => {
    const isAbsolute = /^([a-zA-Z]:[\\/]|\\\\|%)/.test(a.run);
    if (!isAbsolute && !p.share) throw new AnswerError('E_RENDER', `apps[${i}] (${a.name}): "${a.run}" is relative, and there is no deployment share (share:)`);
    const path = isAbsolute ? a.run : joinUnc(p.share!, a.run);
    const quoted = `"${path}"`;
    const line = /\.msi$/i.test(path) ? `msiexec /i ${quoted}${a.args ? ` ${a.args}` : ' /qn /norestart'}` : `${quoted}${a.args ? ` ${a.args}` : ''}`;
    return { ...command({ run: line, description: `install ${a.name}` }, `app-${i + 1}`, p, files) };
  });
}

function driverPaths(paths: readonly string[]): SettingNode | undefined {
  return node(
    'DriverPaths',
    paths.map((path, i) => item('PathAndCredentials', [leaf('Path', path)], String(i + 1))),
  );
}

/** Expands {mac}, {serial}, {n} and {n:W} (zero-padded to W digits); '*' lets Setup pick a name. */
export function expandComputerName(pattern: string, m: MachineContext): string {
  return pattern.replace(/\{(mac|serial|n)(?::(\d+))?\}/g, (_all, what: string, width?: string) => {
    if (what === 'mac') {
      if (!m.mac) throw new AnswerError('E_RENDER', `computerName "${pattern}" uses {mac}, and the machine's MAC address is not known`);
      return m.mac.replace(/[-:.]/g, '').toUpperCase();
    }
    if (what === 'serial') {
      if (!m.serial) throw new AnswerError('E_RENDER', `computerName "${pattern}" uses {serial}, and the machine's serial number is not known`);
      return m.serial.replace(/[^A-Za-z0-9-]/g, '').toUpperCase();
    }
    if (m.n === undefined) throw new AnswerError('E_RENDER', `computerName "${pattern}" uses {n}, and the machine has no number`);
    return String(m.n).padStart(Number(width ?? 0), '0');
  });
}
