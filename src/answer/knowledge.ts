// Release-aware knowledge of unattend components and settings, taken from Microsoft's
// "Unattended Windows Setup Reference" (learn.microsoft.com/windows-hardware/customize/desktop/unattend/,
// which covers Windows 10/11) and its predecessors kept under learn.microsoft.com/previous-versions/
// (the Windows 8.1/8 reference, whose pages carry "Applies To: Windows 7, Windows 8, ... Windows Vista"
// headers, and the Windows Vista reference). Facts are restated, never copied.
//
// How the table is organised:
// - COMPONENTS holds one ComponentSpec per component name. `source` is the reference page it comes from;
//   settings whose facts come from a different page (usually the 8.1-era page that states the release
//   range) carry their own `source`.
// - A component either has `settings` (the full documented tree, nested as in the reference) or none:
//   name-level entries only say the component exists, where, and for which releases, so a linter can
//   tell "unknown component" from "component we do not model".
// - A setting inherits everything it leaves out from its parent: `passes`, `since`, `until` are stated
//   only where they are narrower than the enclosing setting/component. (The linter reports a parent that
//   is out of range or in the wrong pass; repeating the bounds on every child would only repeat findings.)
// - `list` marks a container whose items carry wcm:action="add" (and sometimes wcm:keyValue); the item
//   element is the single child spec named `list.item`, and `list.key` says what identifies an item.
// - Release bounds are inclusive and compare by index in RELEASES. `deprecatedSince` means the
//   reference still lists the setting but tells you not to use it (Setup accepts it).
// - Where the reference is ambiguous, contradicts itself, or the fact could not be checked against a
//   Microsoft page, the entry says so in `note` instead of guessing silently.
// - Architectures: `arches` lists what the reference names for the component; arm64 exists only for
//   Windows 10 and 11, and Windows 11 has no x86 build (see archesOf in release.ts). wow64 is listed
//   only where the reference (or SIM) shows a wow64 flavour of the component.
// - Component names are matched case-insensitively (Setup matches assembly names without regard to
//   case: real files write Microsoft-Windows-PnPSysprep and Microsoft-Windows-SQMApi for the documented
//   Microsoft-Windows-PnpSysprep and Microsoft-Windows-SQMAPI). Setting names are XML element names and
//   are case-sensitive.

import { atLeast, type Release } from './release.ts';
export const PASSES = ['windowsPE', 'offlineServicing', 'generalize', 'specialize', 'auditSystem', 'auditUser', 'oobeSystem'] as const;
export type Pass = (typeof PASSES)[number];
export type Arch = 'x86' | 'amd64' | 'arm64' | 'wow64';

export type ValueType =
  | { kind: 'boolean' } // true/false (Setup accepts any case)
  | { kind: 'integer'; min?: number; max?: number }
  | { kind: 'string'; maxLength?: number; /** Regular expression (source) the value must match. */ pattern?: string }
  | { kind: 'enum'; values: readonly string[] } // exact allowed values as documented
  | { kind: 'path'; maxLength?: number } // a file or folder path / UNC
  // A command line. The reference documents 1024 characters for FirstLogonCommands/LogonCommands
  // CommandLine and 259 characters for Microsoft-Windows-Deployment RunSynchronousCommand/Path; it gives
  // no limit for Microsoft-Windows-Setup's Path. FACTS.md's 255 is not a figure the reference states.
  | { kind: 'command'; maxLength?: number };

export interface SettingSpec {
  /** Element name exactly as in the reference (case-sensitive). */
  name: string;
  /** Leaf value type; absent for containers. */
  type?: ValueType;
  /** Child settings of a container. */
  children?: readonly SettingSpec[];
  /**
   * A list container whose items carry wcm:action="add" and a key (e.g. RunSynchronous ->
   * RunSynchronousCommand keyed by Order; UserAccounts/LocalAccounts -> LocalAccount keyed by Name;
   * DiskConfiguration -> Disk keyed by DiskID; CreatePartitions -> CreatePartition keyed by Order).
   * `item` is the item element name, `key` the child element (or 'wcm:keyValue') that identifies it.
   */
  list?: { item: string; key: string };
  /** Valid passes when narrower than the component's (the reference lists valid passes per setting). */
  passes?: readonly Pass[];
  /** First release in which a pass became valid, for passes added later (e.g. ComputerName in offlineServicing from 10). */
  passesSince?: Partial<Record<Pass, Release>>;
  /** First and last release that has the setting (omit when same as the component). */
  since?: Release;
  until?: Release;
  /** Deprecated from this release on (still accepted, warn). */
  deprecatedSince?: Release;
  /** Page the release facts come from, when not the component's page. */
  source?: string;
  /** The reference does not enumerate this container's children: accept any child. */
  openChildren?: boolean;
  /** Short note (why it matters, e.g. "breaks Windows 7 Setup"). */
  note?: string;
}

export interface ComponentSpec {
  name: string; // e.g. 'Microsoft-Windows-Shell-Setup'
  passes: readonly Pass[]; // every pass the component may appear in
  since: Release;
  until?: Release; // last release it exists in, if removed
  /** Architectures it exists for (wow64 where the reference lists it). */
  arches: readonly Arch[];
  /** The reference page this entry comes from. */
  source: string;
  /** Settings in full detail; omit (undefined) for components we only know by name/pass. */
  settings?: readonly SettingSpec[];
  /** Deprecated from this release on (the reference keeps it for reference only). */
  deprecatedSince?: Release;
  /**
   * Releases for which `settings` is known to be incomplete (older references we could only sample):
   * an unknown setting there deserves a warning, not an error.
   */
  incompleteFor?: readonly Release[];
  note?: string;
}

// ---------------------------------------------------------------------------------------------
// Sources and small builders (plain functions: the data below stays readable as a tree).

const REF = 'https://learn.microsoft.com/en-us/windows-hardware/customize/desktop/unattend/';
const REF81 = 'https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-8.1-and-8/';
const REFVISTA = 'https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-vista/';
const ref = (page: string): string => REF + page;
const ref81 = (id: string): string => `${REF81}${id}(v=win.10)`;
const refVista = (id: string): string => `${REFVISTA}${id}(v=ws.10)`;

const BOOL: ValueType = { kind: 'boolean' };
const STR: ValueType = { kind: 'string' };
const PATH: ValueType = { kind: 'path' };
const int = (min?: number, max?: number): ValueType => {
  const t: { kind: 'integer'; min?: number; max?: number } = { kind: 'integer' };
  if (min !== undefined) t.min = min;
  if (max !== undefined) t.max = max;
  return t;
};
const str = (maxLength: number): ValueType => ({ kind: 'string', maxLength });
const oneOf = (...values: string[]): ValueType => ({ kind: 'enum', values });
const command = (maxLength?: number): ValueType => (maxLength === undefined ? { kind: 'command' } : { kind: 'command', maxLength });

/** Product keys: five groups of five characters. */
const PRODUCT_KEY: ValueType = { kind: 'string', maxLength: 29, pattern: '^[0-9A-Za-z]{5}(-[0-9A-Za-z]{5}){4}$' };
/** Always / OnError / Never: when Setup shows its UI for a page. */
const WILL_SHOW_UI = oneOf('Always', 'OnError', 'Never');

type Extra = Omit<SettingSpec, 'name' | 'type' | 'children' | 'list'>;

function leaf(name: string, type: ValueType, extra: Extra = {}): SettingSpec {
  return { name, type, ...extra };
}
function group(name: string, children: readonly SettingSpec[], extra: Extra = {}): SettingSpec {
  return { name, children, ...extra };
}
/** A list container: `name` holds repeated `item` elements identified by `key`. */
function list(name: string, item: string, key: string, itemChildren: readonly SettingSpec[], extra: Extra = {}, itemExtra: Extra = {}): SettingSpec {
  return { name, list: { item, key }, children: [{ name: item, children: itemChildren, ...itemExtra }], ...extra };
}
/** A list whose items are values themselves (e.g. <IpAddress wcm:keyValue="1">10.0.0.1/24</IpAddress>). */
function valueList(name: string, item: string, type: ValueType, extra: Extra = {}): SettingSpec {
  return { name, list: { item, key: 'wcm:keyValue' }, children: [{ name: item, type }], ...extra };
}
/** Domain / Password / Username (or UserName) used to reach a network path. */
function credentials(userElement: 'Username' | 'UserName' = 'Username'): SettingSpec {
  return group('Credentials', [leaf('Domain', STR), leaf('Password', STR), leaf(userElement, STR)]);
}
/** <Password> or <AdministratorPassword>: a Value and whether it is stored in plain text. */
function password(name: string): SettingSpec {
  return group(name, [
    leaf('PlainText', BOOL, { note: 'false means Value is base64 of UTF-16LE(password + element name)' }),
    leaf('Value', STR),
  ]);
}
/** Link0..Link(n-1), each a path to a shortcut. */
function links(count: number, from = 0, extra: Extra = {}): SettingSpec[] {
  const out: SettingSpec[] = [];
  for (let i = from; i < count; i++) out.push(leaf(`Link${i}`, { kind: 'path', maxLength: 259 }, extra));
  return out;
}
/** Numbered tiles of StartTiles: `${prefix}1..n`, each with the given leaves. */
function tiles(prefix: string, count: number, idName: string, extraFrom?: { index: number; since: Release }): SettingSpec[] {
  const out: SettingSpec[] = [];
  for (let i = 1; i <= count; i++) {
    const extra: Extra = extraFrom && i >= extraFrom.index ? { since: extraFrom.since } : {};
    out.push(group(`${prefix}${i}`, [leaf(idName, STR), leaf('FirstRunTask', STR)], extra));
  }
  return out;
}

const ALL: readonly Arch[] = ['x86', 'amd64', 'arm64'];
const ALL_WOW: readonly Arch[] = ['x86', 'amd64', 'arm64', 'wow64'];
const PRE10: readonly Arch[] = ['x86', 'amd64'];
const PRE10_WOW: readonly Arch[] = ['x86', 'amd64', 'wow64'];

// ---------------------------------------------------------------------------------------------
// Microsoft-Windows-Setup (windowsPE only: Windows PE / setup.exe reads it before the image is applied).

const SETUP_SETTINGS: readonly SettingSpec[] = [
  group('ComplianceCheck', [leaf('DisplayReport', oneOf('OnError', 'Never'))], { source: ref81('ff715599') }),
  group('Diagnostics', [leaf('OptIn', BOOL)]),
  {
    name: 'DiskConfiguration',
    source: ref81('ff715671'),
    list: { item: 'Disk', key: 'DiskID' },
    children: [
      leaf('DisableEncryptedDiskProvisioning', BOOL, {
        since: '8',
        note: 'eDrive (hardware encryption) support; release inferred (eDrives arrived with Windows 8), not stated by the reference',
      }),
      group('Disk', [
        list('CreatePartitions', 'CreatePartition', 'Order', [
          leaf('Extend', BOOL, { note: 'do not combine with Size' }),
          leaf('Order', int(1)),
          leaf('Size', int(1), { note: 'megabytes' }),
          leaf('Type', oneOf('Primary', 'EFI', 'MSR', 'Extended', 'Logical'), { note: 'EFI and MSR only on GPT disks' }),
        ]),
        leaf('DiskID', int(0)),
        list('ModifyPartitions', 'ModifyPartition', 'Order', [
          leaf('Active', BOOL, { note: 'MBR system partition; not for EFI/MSR' }),
          leaf('Extend', BOOL),
          leaf('Format', oneOf('NTFS', 'FAT32')),
          leaf('Label', STR, { note: 'needs Format; the file system limits the length (NTFS 32, FAT32 11 characters)' }),
          leaf('Letter', oneOf(...'CDEFGHIJKLMNOPQRSTUVWXYZ'.split('')), { note: 'upper-case letter C through Z' }),
          leaf('Order', int(1)),
          leaf('PartitionID', int(1)),
          leaf('TypeID', STR, { since: '7', source: ref81('ff715563'), note: 'MBR byte (0x27) or GPT GUID; not in Windows Vista' }),
        ]),
        leaf('WillWipeDisk', BOOL),
      ]),
      leaf('WillShowUI', WILL_SHOW_UI),
    ],
  },
  group('Display', [leaf('ColorDepth', int(1)), leaf('HorizontalResolution', int(1)), leaf('RefreshRate', int(1)), leaf('VerticalResolution', int(1))], {
    note: 'display of Windows PE itself',
  }),
  group('DynamicUpdate', [leaf('Enable', BOOL), leaf('WillShowUI', WILL_SHOW_UI)]),
  leaf('EnableFirewall', BOOL, { note: 'firewall of Windows PE' }),
  leaf('EnableNetwork', BOOL, { note: 'network of Windows PE' }),
  {
    name: 'ImageInstall',
    list: { item: 'DataImage', key: 'Order' },
    children: [
      group(
        'DataImage',
        [
          {
            name: 'InstallFrom',
            list: { item: 'MetaData', key: 'Key' },
            children: [credentials(), group('MetaData', [leaf('Key', STR), leaf('Value', STR)]), leaf('Path', PATH)],
          },
          group('InstallTo', [leaf('DiskID', int(0)), leaf('PartitionID', int(1))]),
          leaf('Order', int(1)),
        ],
        { note: 'data (non-OS) images applied with Windows; repeatable, keyed by Order' },
      ),
      group('OSImage', [
        leaf('Compact', BOOL, { since: '10', source: ref('changed-answer-file-settings-for-previous-windows10-builds'), note: 'new in Windows 10: apply the image compressed' }),
        {
          name: 'InstallFrom',
          list: { item: 'MetaData', key: 'Key' },
          children: [
            credentials(),
            group('MetaData', [leaf('Key', oneOf('/IMAGE/INDEX', '/IMAGE/NAME', '/IMAGE/DESCRIPTION')), leaf('Value', STR)]),
            leaf('Path', PATH),
          ],
        },
        group('InstallTo', [leaf('DiskID', int(0)), leaf('PartitionID', int(1))]),
        leaf('InstallToAvailablePartition', BOOL, { note: 'do not combine with InstallTo' }),
        leaf('WillShowUI', WILL_SHOW_UI),
      ]),
    ],
  },
  leaf('LogPath', PATH),
  group('PageFile', [leaf('Path', PATH), leaf('Size', int(1), { note: 'megabytes' })], { note: 'page file of Windows PE' }),
  leaf('Restart', oneOf('Restart', 'Shutdown')),
  list('RunAsynchronous', 'RunAsynchronousCommand', 'Order', [credentials(), leaf('Description', STR), leaf('Order', int(1)), leaf('Path', command())]),
  list('RunSynchronous', 'RunSynchronousCommand', 'Order', [
    credentials('UserName'),
    leaf('Description', STR),
    leaf('Order', int(1, 500)),
    leaf('Path', command(), { note: 'the reference gives no length limit for Setup commands' }),
  ], { note: "Credentials uses <UserName> here (the reference's spelling), unlike Username elsewhere" }),
  group('UpgradeData', [leaf('Upgrade', BOOL), leaf('WillShowUI', WILL_SHOW_UI)]),
  leaf('UseConfigurationSet', BOOL),
  group('UserData', [
    leaf('AcceptEula', BOOL),
    leaf('FullName', STR),
    leaf('Organization', STR),
    group('ProductKey', [leaf('Key', PRODUCT_KEY, { note: 'selects the edition to install' }), leaf('WillShowUI', WILL_SHOW_UI)]),
  ]),
  group('WindowsDeploymentServices', [
    group('ImageSelection', [
      group('InstallImage', [leaf('Filename', STR), leaf('ImageGroup', STR), leaf('ImageName', STR)]),
      group('InstallTo', [leaf('DiskID', int(0)), leaf('PartitionID', int(1))]),
      leaf('WillShowUI', WILL_SHOW_UI),
    ]),
    group('Login', [credentials(), leaf('WillShowUI', WILL_SHOW_UI)]),
  ]),
];

// ---------------------------------------------------------------------------------------------
// Microsoft-Windows-Shell-Setup.

const SHELL_CMD_ITEM = (desc: string): SettingSpec[] => [
  leaf('CommandLine', command(1024), { note: 'the reference allows 1024 characters' }),
  leaf('Description', STR),
  leaf('Order', int(1, 500)),
  leaf('RequiresUserInput', BOOL, { note: desc }),
];

const SHELL_SETUP_SETTINGS: readonly SettingSpec[] = [
  group(
    'AutoLogon',
    [leaf('Domain', STR), leaf('Enabled', BOOL), leaf('LogonCount', int(0), { note: 'Windows adds 1 to values above 0 (known issue in the reference)' }), password('Password'), leaf('Username', STR)],
    { passes: ['auditSystem', 'oobeSystem', 'specialize'], source: ref('microsoft-windows-shell-setup-autologon') },
  ),
  leaf('BluetoothTaskbarIconEnabled', BOOL, { since: '7', note: 'release taken as Windows 7 (Bluetooth tray icon setting); not confirmed from an Applies-To header' }),
  group('ClientApplications', [leaf('IM', str(259)), leaf('Internet', str(259)), leaf('JavaVM', str(259)), leaf('Mail', str(259)), leaf('Media', str(259))], {
    passes: ['auditUser', 'oobeSystem', 'specialize'],
    deprecatedSince: '8',
    source: ref81('ff715997'),
    note: 'deprecated in Windows 8 (use DISM default-association servicing); not in the Windows 10 reference',
  }),
  leaf('ComputerName', str(15), {
    passes: ['offlineServicing', 'specialize'],
    passesSince: { offlineServicing: '10' },
    source: ref('microsoft-windows-shell-setup-computername'),
    note: "at most 15 bytes, no spaces or {|}~[\\]^':;<=>?@!\"#$%`()+/.,*&, not digits only; * or empty = random name. Not valid in oobeSystem",
  }),
  leaf('ConvertibleSlateModePromptPreference', int(0), { since: '10', source: ref('microsoft-windows-shell-convertibleslatemodepromptpreference') }),
  leaf('CopyProfile', BOOL, { passes: ['specialize'] }),
  group('DesktopOptimization', [
    leaf('GoToDesktopOnSignIn', BOOL),
    leaf('ShowWindowsStoreAppsOnTaskbar', BOOL),
  ], { since: '8.1', source: ref('changed-answer-file-settings-for-previous-windows10-builds'), note: 'new in Windows 8.1 Update' }),
  leaf('DisableAutoDaylightTimeSet', BOOL, { passes: ['auditSystem', 'oobeSystem', 'specialize'], source: ref81('ff715530') }),
  group(
    'Display',
    [
      leaf('ColorDepth', int(1)),
      leaf('DPI', int(1), { note: 'not in the Windows 10 child list, yet the same page shows it in an example: release range not verified' }),
      leaf('HorizontalResolution', int(1)),
      leaf('RefreshRate', int(1)),
      leaf('VerticalResolution', int(1)),
    ],
    { passes: ['auditSystem', 'auditUser', 'oobeSystem', 'specialize'] },
  ),
  leaf('DoNotCleanTaskBar', BOOL, { note: 'Vista/7-era setting still seen in Windows 10 files; absent from the Windows 10 reference, release range not verified' }),
  leaf('EnableStartMenu', BOOL, { since: '10', source: ref('changed-answer-file-settings-for-previous-windows10-builds'), note: 'new in Windows 10 version 1607' }),
  list('FirstLogonCommands', 'SynchronousCommand', 'Order', SHELL_CMD_ITEM('whether the command needs the user (the reference keeps it for compatibility)'), {
    passes: ['oobeSystem'],
    note: 'from Windows 10 these commands start together instead of one after another (reference note)',
  }),
  group('FolderLocations', [leaf('ProfilesDirectory', PATH), leaf('ProgramData', PATH)], { passes: ['oobeSystem'], note: 'test environments only: moving these off the system volume makes the image unserviceable' }),
  list('LogonCommands', 'AsynchronousCommand', 'Order', SHELL_CMD_ITEM('whether the command needs the user'), { passes: ['oobeSystem'] }),
  group('NotificationArea', [group('PromotedIcon1', [leaf('GUID', STR), leaf('Path', PATH)]), group('PromotedIcon2', [leaf('GUID', STR), leaf('Path', PATH)])], { since: '7' }),
  group(
    'OEMInformation',
    [
      leaf('HelpCustomized', BOOL),
      leaf('Logo', PATH, { note: '.bmp file' }),
      leaf('Manufacturer', STR),
      leaf('Model', STR),
      leaf('SupportAppURL', STR, { since: '10', source: ref('changed-answer-file-settings-for-previous-windows10-builds') }),
      leaf('SupportHours', STR),
      leaf('SupportPhone', STR),
      leaf('SupportProvider', STR, { since: '10', source: ref('microsoft-windows-shell-setup-oeminformation-supportprovider'), note: 'page dated 2017 (Windows 10); earlier releases not documented' }),
      leaf('SupportURL', STR),
    ],
    { passes: ['auditUser', 'generalize', 'offlineServicing', 'oobeSystem', 'specialize'], source: ref('microsoft-windows-shell-setup-oeminformation') },
  ),
  leaf('OEMName', str(256), { since: '8', passes: ['specialize'], source: ref81('jj570948'), note: 'names the OEM tile group on the Start screen' }),
  group('OEMWelcomeCenterLinks', [], {
    since: '7',
    deprecatedSince: '8',
    openChildren: true,
    note: 'Link0.. shortcuts in the Windows 7 OEM First Run application; deprecated in Windows 8 (no First Run app). Children not enumerated here',
  }),
  group(
    'OfflineUserAccounts',
    [
      password('OfflineAdministratorPassword'),
      list('OfflineDomainAccounts', 'OfflineDomainAccount', 'SID', [leaf('Group', STR), leaf('SID', STR)]),
      list('OfflineLocalAccounts', 'LocalAccount', 'Name', [leaf('Description', STR), leaf('DisplayName', STR), leaf('Group', STR), leaf('Name', STR), password('Password')]),
    ],
    { passes: ['offlineServicing'], since: '10', source: ref('changed-answer-file-settings-for-previous-windows10-builds'), note: 'new in Windows 10' },
  ),
  group(
    'OOBE',
    [
      leaf('HideEULAPage', BOOL),
      leaf('HideLocalAccountScreen', BOOL, { since: '8', note: 'Windows 8+ (Administrator password page of Server editions); Windows 7 Setup fails on it' }),
      leaf('HideOEMRegistrationScreen', BOOL, { since: '8', note: 'Windows 8+; not in the Windows 7 OOBE list (release inferred from that list)' }),
      leaf('HideOnlineAccountScreens', BOOL, { since: '8', note: 'Windows 8+ (Microsoft account pages); Windows 7 Setup fails on it' }),
      leaf('HideWirelessSetupInOOBE', BOOL, { since: '7', source: refVista('cc766165'), note: 'not in the Windows Vista OOBE child list' }),
      leaf('NetworkLocation', oneOf('Home', 'Work', 'Other'), { deprecatedSince: '10', source: ref('microsoft-windows-shell-setup-oobe-networklocation'), note: 'Windows 10 ignores it' }),
      leaf('OEMAppID', STR, { since: '8', source: ref81('jj552712') }),
      leaf('ProtectYourPC', int(1, 3), { note: 'Windows 7: 1 recommended protection, 2 important updates only, 3 off; Windows 10: 1 and 2 turn Express settings on, 3 off. No default: the page is shown' }),
      leaf('SkipMachineOOBE', BOOL, { deprecatedSince: '8', source: 'https://technet.microsoft.com/en-us/library/ff716280.aspx', note: 'test use only: skipping Welcome leaves account, language and time settings unset' }),
      leaf('SkipUserOOBE', BOOL, { deprecatedSince: '8', source: refVista('cc721948'), note: 'test use only; gone from the Windows 8+ OOBE list' }),
      leaf('UnattendEnableRetailDemo', BOOL, { since: '10', source: ref('changed-answer-file-settings-for-previous-windows10-builds') }),
      group('VMModeOptimizations', [leaf('SkipAdministratorProfileRemoval', BOOL), leaf('SkipNotifyUILanguageChange', BOOL), leaf('SkipWinREInitialization', BOOL)], {
        since: '10',
        source: ref('changed-answer-file-settings-for-previous-windows10-builds'),
        note: 'listed as new in Windows 10, though one child page claims Windows 8.1; needs sysprep /mode:vm',
      }),
    ],
    { passes: ['oobeSystem'], source: ref('microsoft-windows-shell-setup-oobe') },
  ),
  leaf('ProductKey', PRODUCT_KEY, { passes: ['specialize'], note: 'activation key (may differ from Setup UserData/ProductKey/Key); an invalid key fails Setup' }),
  leaf('RegisteredOrganization', str(256), { passes: ['auditUser', 'generalize', 'offlineServicing', 'oobeSystem', 'specialize'] }),
  leaf('RegisteredOwner', str(256), { passes: ['auditUser', 'generalize', 'offlineServicing', 'oobeSystem', 'specialize'], source: ref('microsoft-windows-shell-setup-registeredowner') }),
  leaf('ShowPowerButtonOnStartScreen', BOOL, { since: '8.1', source: ref('changed-answer-file-settings-for-previous-windows10-builds'), note: 'new in Windows 8.1 Update' }),
  leaf('ShowWindowsLive', BOOL, {
    since: '7',
    deprecatedSince: '8',
    note: 'Windows 7 Start-menu link; absent from the Windows 8+ references (bounds not confirmed from a Microsoft page; Windows 10 files carrying it install)',
  }),
  leaf('SignInMode', int(0), { since: '10', source: ref('microsoft-windows-shell-signinmode') }),
  group('StartPanelLinks', [...links(4), ...links(5, 4, { since: '7' })], {
    passes: ['auditUser', 'oobeSystem', 'specialize'],
    deprecatedSince: '8',
    source: 'https://learn.microsoft.com/en-us/previous-versions/dn953838(v=vs.85)',
    note: 'Start-menu most-used list: Link0-Link3 in Vista, Link4 added in 7; deprecated in Windows 8 (no Start menu)',
  }),
  group(
    'StartTiles',
    [
      group('LockScreen', [group('Badge', [leaf('AppId', STR)])]),
      list(
        'RegionalOverrides',
        'RegionalOverride',
        'Order',
        [
          group('LockScreen', [group('Badge', [leaf('AppId', STR)])]),
          leaf('Order', int(1, 199), { note: 'maximum raised from 19 to 199 in Windows 8.1' }),
          list('Regions', 'Region', 'Key', [leaf('CountryOrRegionID', STR), leaf('Key', STR)]),
          group('SquareTiles', [...tiles('SquareOrDesktopTile', 12, 'AppIdOrPath', { index: 7, since: '8.1' }), ...tiles('SquareTile', 12, 'AppId')]),
          group('WideTiles', tiles('WideTile', 6, 'AppId')),
        ],
      ),
      group('SquareTiles', [...tiles('SquareOrDesktopTile', 12, 'AppIdOrPath', { index: 7, since: '8.1' }), ...tiles('SquareTile', 12, 'AppId')]),
      group('WideTiles', tiles('WideTile', 6, 'AppId')),
    ],
    { since: '8', source: ref('microsoft-windows-shell-setup-starttiles'), note: 'Start screen tiles (Windows 8 and later); SquareOrDesktopTile7-12 arrived with Windows 8.1 Update' },
  ),
  group('TaskbarLinks', [...links(3), ...links(6, 3, { since: '8', source: 'https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-8.1-and-8/jj552629(v=win.10)' })], {
    passes: ['auditUser', 'oobeSystem', 'specialize'],
    since: '7',
    source: ref('microsoft-windows-shell-setup-taskbarlinks'),
    note: 'Windows 7 takes Link0-Link2; Link3-Link5 are Windows 8 and later',
  }),
  group(
    'Themes',
    [
      leaf('BrandIcon', PATH, { since: '7', note: '.png up to 240x80; Windows 7 and later (not in the Vista Themes settings seen)' }),
      leaf('CustomDefaultThemeFile', PATH, { deprecatedSince: '7', source: ref81('ff716389'), note: 'a .theme file can no longer be the default theme from Windows 7 on' }),
      leaf('DefaultThemesOff', BOOL, { deprecatedSince: '8', source: 'https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-7/ff716273(v=win.10)', note: 'classic visual style, gone in Windows 8' }),
      leaf('DesktopBackground', PATH),
      leaf('ScreenSaver', PATH, { note: 'the Windows 10 reference says it is removed' }),
      leaf('ThemeName', STR),
      leaf('UWPAppsUseLightTheme', BOOL, { since: '10', source: ref('changed-answer-file-settings-for-previous-windows10-builds'), note: 'new in Windows 10 version 1607' }),
      leaf('WindowColor', STR, {
        since: '7',
        source: ref81('ff715495'),
        note: 'Windows 7: Sky, Twilight, Sea, Leaf, Lime, Sun, Pumpkin, Ruby, Fuchsia, Blush, Violet, Lavender, Taupe, Chocolate, Slate, Frost; Windows 8+: Automatic or Color 1..Color 15',
      }),
    ],
    { passes: ['auditSystem', 'auditUser', 'oobeSystem', 'specialize'], source: ref('microsoft-windows-shell-setup-themes'), note: 'Vista-era children of Themes were not all verified' },
  ),
  leaf('TimeZone', str(256), { passes: ['auditSystem', 'oobeSystem', 'specialize'], source: ref('microsoft-windows-shell-setup-timezone'), note: 'a Windows time zone id (tzutil /l); "_dstoff" suffix turns off daylight saving' }),
  group(
    'UserAccounts',
    [
      password('AdministratorPassword'),
      {
        name: 'DomainAccounts',
        list: { item: 'DomainAccountList', key: 'Domain' },
        children: [
          {
            // DomainAccount items sit directly in DomainAccountList, next to its Domain.
            name: 'DomainAccountList',
            list: { item: 'DomainAccount', key: 'Name' },
            children: [leaf('Domain', STR), group('DomainAccount', [leaf('Group', STR), leaf('Name', STR)])],
          },
        ],
      },
      list('LocalAccounts', 'LocalAccount', 'Name', [
        leaf('Description', STR),
        leaf('DisplayName', STR),
        leaf('Group', STR, { note: 'groups separated by ;' }),
        leaf('Name', str(256), { note: 'the reference says 256 characters and forbids "/\\[]:|<>+=;,?*%@ and "NONE"; Windows itself caps user names at 20' }),
        password('Password'),
      ]),
    ],
    { passes: ['auditSystem', 'oobeSystem'], source: ref('microsoft-windows-shell-setup-useraccounts') },
  ),
  group('VisualEffects', [leaf('FontSmoothing', oneOf('Standard', 'On', 'Off', 'ClearType'), { deprecatedSince: '10' }), leaf('SystemDefaultBackgroundColor', int(0), { since: '8', deprecatedSince: '10', note: 'OOBE background colour; deprecated in Windows 10' })], {
    passes: ['oobeSystem'],
    source: ref('microsoft-windows-shell-setup-visualeffects'),
  }),
  group(
    'WindowsFeatures',
    [leaf('ShowInternetExplorer', BOOL), leaf('ShowMediaCenter', BOOL), leaf('ShowWindowsMail', BOOL, { note: 'appears only in an example of the Windows 10 page, not in its child list (Windows Mail is a Vista program): release range not verified' }), leaf('ShowWindowsMediaPlayer', BOOL)],
    { passes: ['auditSystem', 'auditUser', 'oobeSystem', 'specialize'], source: ref('microsoft-windows-shell-setup-windowsfeatures'), note: 'hiding a feature missing from the image fails Setup; first release not verified' },
  ),
];

// ---------------------------------------------------------------------------------------------
// Other components modelled in detail.

const DEPLOYMENT_CMD = (sync: boolean): SettingSpec[] => [
  credentials(),
  leaf('Description', STR),
  leaf('Order', int(1, 500)),
  leaf('Path', command(259), { note: 'the reference allows 259 characters; a UNC path needs Credentials' }),
  ...(sync ? [leaf('WillReboot', oneOf('Always', 'OnRequest', 'Never'))] : []),
];

const DEPLOYMENT_SETTINGS: readonly SettingSpec[] = [
  group('AuditComputerName', [leaf('MustReboot', BOOL), leaf('Name', str(15))], { passes: ['auditSystem'] }),
  leaf('DeviceForm', int(0), { since: '10', source: ref('changed-answer-file-settings-for-previous-windows10-builds') }),
  leaf('DuplicatorDescription', STR, { note: 'release range not verified' }),
  group('ExtendOSPartition', [leaf('Extend', BOOL), leaf('Size', int(1), { note: 'megabytes; do not set together with Extend' })], {
    passes: ['auditSystem', 'generalize', 'oobeSystem', 'specialize'],
    source: ref('microsoft-windows-deployment-extendospartition'),
  }),
  group('Generalize', [leaf('ForceShutdownNow', BOOL), leaf('Mode', oneOf('Audit', 'OOBE'))], {
    passes: ['auditUser'],
    since: '7',
    source: ref81('ff715728'),
    note: 'Windows 7 and later (not in Windows Vista); do not combine with Reseal',
  }),
  group('Reseal', [leaf('ForceShutdownNow', BOOL), leaf('Mode', oneOf('Audit', 'OOBE'))], {
    passes: ['auditSystem', 'auditUser', 'oobeSystem'],
    source: ref('microsoft-windows-deployment-reseal-mode'),
    note: 'before Windows 10, Reseal in auditSystem/oobeSystem made Setup skip the other settings of that pass',
  }),
  list('RunAsynchronous', 'RunAsynchronousCommand', 'Order', DEPLOYMENT_CMD(false), { passes: ['auditUser', 'specialize'], source: ref('microsoft-windows-deployment-runasynchronous-runasynchronouscommand') }),
  list('RunSynchronous', 'RunSynchronousCommand', 'Order', DEPLOYMENT_CMD(true), {
    passes: ['auditUser', 'specialize'],
    source: ref('microsoft-windows-deployment-runsynchronous-runsynchronouscommand-order'),
    note: 'runs as SYSTEM in specialize, as the user in auditUser; use WillReboot rather than a rebooting command',
  }),
];

const INTERNATIONAL = (winpe: boolean): SettingSpec[] => [
  leaf('InputLocale', STR, { note: 'language tags or LCID:KLID pairs (0409:00000409), separated by ;' }),
  ...(winpe ? [leaf('LayeredDriver', int(1, 6), { note: 'Japanese/Korean keyboard driver: 1..6' })] : []),
  ...(winpe
    ? [group('SetupUILanguage', [leaf('UILanguage', STR, { note: 'must be a language on the media' }), leaf('WillShowUI', WILL_SHOW_UI, { deprecatedSince: 'vista', note: 'the reference calls it deprecated without saying since when (and spells the middle value onError)' })])]
    : []),
  leaf('SystemLocale', STR),
  leaf('UILanguage', STR),
  leaf('UILanguageFallback', STR),
  leaf('UserLocale', STR),
];

const UNATTENDED_JOIN_SETTINGS: readonly SettingSpec[] = [
  group(
    'Identification',
    [
      credentials(),
      leaf('DebugJoin', BOOL),
      leaf('DebugJoinOnlyOnThisError', STR),
      leaf('JoinDomain', STR, { note: 'wins over JoinWorkgroup when both are set' }),
      leaf('JoinWorkgroup', STR),
      leaf('MachineObjectOU', STR, { note: 'LDAP distinguished name of the OU' }),
      leaf('MachinePassword', STR),
      group('Provisioning', [leaf('AccountData', STR)], { since: '10', source: ref('changed-answer-file-settings-for-previous-windows10-builds'), note: 'offline domain join blob' }),
      leaf('TimeoutPeriodInMinutes', int(5, 60), { since: '8', source: ref('microsoft-windows-unattendedjoin-identification-timeoutperiodinminutes'), note: 'default 15' }),
      leaf('UnsecureJoin', BOOL),
    ],
    { passes: ['specialize'], source: ref('microsoft-windows-unattendedjoin-identification') },
  ),
  group('OfflineIdentification', [group('Provisioning', [leaf('AccountData', STR)])], {
    passes: ['offlineServicing'],
    since: '10',
    source: ref('changed-answer-file-settings-for-previous-windows10-builds'),
  }),
];

const DRIVER_PATHS: SettingSpec = list('DriverPaths', 'PathAndCredentials', 'wcm:keyValue', [credentials(), leaf('Path', PATH, { note: 'local or UNC folder searched recursively for .inf drivers' })]);

const TCPIP_IP = (): SettingSpec[] => [leaf('DhcpEnabled', BOOL), leaf('Metric', int(0)), leaf('RouterDiscoveryEnabled', BOOL)];

const TCPIP_SETTINGS: readonly SettingSpec[] = [
  leaf('IcmpRedirectsEnabled', BOOL),
  list(
    'Interfaces',
    'Interface',
    'Identifier',
    [
      leaf('Identifier', STR, { note: 'interface name (e.g. "Local Area Connection") or MAC address' }),
      group('Ipv4Settings', TCPIP_IP()),
      group('Ipv6Settings', TCPIP_IP()),
      list('Routes', 'Route', 'Identifier', [leaf('Identifier', STR), leaf('Metric', int(0)), leaf('NextHopAddress', STR), leaf('Prefix', STR)]),
      valueList('UnicastIpAddresses', 'IpAddress', STR, { note: 'address with /prefix length, e.g. 192.168.0.10/24' }),
    ],
    { note: 'the reference wants Ipv4Settings, Ipv6Settings, Identifier, UnicastIpAddresses, Routes in that order' },
  ),
];

const DNS_SETTINGS: readonly SettingSpec[] = [
  leaf('DNSDomain', str(255)),
  valueList('DNSSuffixSearchOrder', 'DomainName', STR),
  list('Interfaces', 'Interface', 'Identifier', [
    leaf('DisableDynamicUpdate', BOOL),
    leaf('DNSDomain', str(255)),
    valueList('DNSServerSearchOrder', 'IpAddress', STR),
    leaf('EnableAdapterDomainNameRegistration', BOOL),
    leaf('Identifier', STR),
  ]),
  leaf('UseDomainNameDevolution', BOOL),
];

const FIREWALL_PROFILE = (prefix: string): SettingSpec[] => [
  leaf(`${prefix}_DisableNotifications`, BOOL),
  leaf(`${prefix}_EnableFirewall`, BOOL),
  leaf(`${prefix}_LogDroppedPackets`, BOOL),
  leaf(`${prefix}_LogFile`, PATH),
  leaf(`${prefix}_LogFileSize`, int(1)),
  leaf(`${prefix}_LogSuccessfulConnections`, BOOL),
];

const MPSSVC_SETTINGS: readonly SettingSpec[] = [
  leaf('DisableStatefulFTP', BOOL),
  leaf('DisableStatefulPPTP', BOOL),
  ...FIREWALL_PROFILE('DomainProfile'),
  list('FirewallGroups', 'FirewallGroup', 'wcm:keyValue', [
    leaf('Active', BOOL),
    leaf('Group', STR, { note: 'the group id (e.g. @FirewallAPI.dll,-28752 for Remote Desktop); display names only work in one language' }),
    leaf('Key', STR, { note: 'the reference lists Key; files put the identifier in wcm:keyValue' }),
    leaf('Profile', oneOf('all', 'domain', 'private', 'public')),
  ]),
  ...FIREWALL_PROFILE('PrivateProfile'),
  ...FIREWALL_PROFILE('PublicProfile'),
];

const IE_SETTINGS: readonly SettingSpec[] = [
  list('Accelerators', 'Accelerator', 'ItemKey', [leaf('AcceleratorXML', PATH), leaf('IsDefault', BOOL), leaf('ItemKey', STR)], { since: '7', note: 'Accelerators came with Internet Explorer 8' }),
  leaf('BlockPopups', STR),
  leaf('CompanyName', STR),
  leaf('DisableAccelerators', BOOL, { since: '7', note: 'Internet Explorer 8+; release inferred from the feature' }),
  leaf('DisableDevTools', BOOL, { since: '7', source: 'https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-7/ff716287(v=win.10)' }),
  leaf('DisableFirstRunWizard', BOOL),
  leaf('FavoritesOnTop', BOOL),
  leaf('FilterLevel', STR),
  leaf('Help_Page', STR),
  leaf('Home_Page', STR),
  leaf('LocalIntranetSites', STR),
  leaf('LockToolbars', BOOL),
  leaf('PlaySound', BOOL),
  list(
    'SearchScopes',
    'Scope',
    'ScopeKey',
    [
      leaf('FaviconURL', STR),
      leaf('PreviewURL', STR),
      leaf('ScopeDefault', BOOL),
      leaf('ScopeDisplayName', STR),
      leaf('ScopeKey', STR),
      leaf('ScopeUrl', STR, { note: '{searchTerms} marks the query' }),
      leaf('ShowSearchSuggestions', BOOL),
      leaf('SuggestionsURL', STR),
      leaf('SuggestionsURL_JSON', STR),
      leaf('DisplayQuickPick', BOOL, { deprecatedSince: '8.1', note: 'unsupported from Windows 8.1, removed in Windows 10 version 1607' }),
      leaf('ShowTopResult', BOOL, { until: '8.1', note: 'removed in Windows 10' }),
      leaf('TopResultURL', STR, { until: '8.1', note: 'removed in Windows 10' }),
    ],
  ),
  leaf('ShowInformationBar', BOOL),
  leaf('SuggestedSitesEnabled', BOOL, { since: '7' }),
  // Retired settings, from the "changed answer file settings" pages.
  leaf('AllSitesCompatibilityMode', BOOL, { deprecatedSince: '8.1', note: 'unsupported from Windows 8.1, removed in Windows 10 version 1607' }),
  leaf('DisableWelcomePage', BOOL, { deprecatedSince: '8', note: 'deprecated in Windows 8, removed in Windows 10 version 1607' }),
  leaf('NoDial', BOOL, { deprecatedSince: '8.1', note: 'IE9-IE11 have no IEAK sign-up; removed in Windows 10 version 1607' }),
  leaf('ShowCompatibilityViewButton', BOOL, { deprecatedSince: '8.1', note: 'unsupported from Windows 8.1, removed in Windows 10 version 1607' }),
  leaf('SmallCommandBarIcons', BOOL, { deprecatedSince: '8.1', note: 'unsupported from Windows 8.1, removed in Windows 10 version 1607' }),
  list('PreApprovedAddons', 'AddonGuidItem', 'AddonGuid', [leaf('AddonGuid', STR)], { since: '7', deprecatedSince: '8.1', source: ref81('ff715963'), note: 'add-ons install disabled from Windows 8.1' }),
  leaf('EnableLinksBar', BOOL, { until: '8', note: 'removed in Windows 8.1' }),
  leaf('ShowCommandBar', BOOL, { until: '8', note: 'removed in Windows 8.1' }),
  leaf('ShowMenuBar', BOOL, { until: '8', note: 'removed in Windows 8.1' }),
  leaf('ShowStatusBar', BOOL, { until: '8', note: 'removed in Windows 8.1' }),
  leaf('IEWelcomeMsg', BOOL, { until: '8', note: 'removed in Windows 8.1: use DisableFirstRunWizard' }),
  leaf('PrintBackground', BOOL, { until: '8', note: 'removed in Windows 8.1' }),
  leaf('TrustedSites', STR),
  leaf('UserAgent', STR),
  leaf('Window_Title_CN', STR),
];

const SECURESTARTUP_SETTINGS: readonly SettingSpec[] = [
  leaf('BytesDecryptedInDiskRequestOverhead', int(0)),
  leaf('MaxCryptoRequestsPerIo', int(0)),
  leaf('MaxDecryptRequests', int(0)),
  leaf('MaxEncryptRequests', int(0)),
  leaf('PreventDeviceEncryption', BOOL, {
    since: '8.1',
    source: ref('microsoft-windows-securestartup-filterdriver-preventdeviceencryption'),
    note: 'stops automatic device encryption (BitLocker) on InstantGo PCs; new in Windows 8.1',
  }),
  leaf('SlicedEncryptionInPlace', BOOL),
  leaf('SlicedEncryptionMinSize', int(0)),
  leaf('SlicedEncryptionRequestsMax', int(0)),
  leaf('WriteIoAggregateMaxSize', int(0)),
  leaf('WriteIoAggregateMinSize', int(0)),
  leaf('WriteSubrequestLength', int(0)),
  leaf('InPlaceCrypto', BOOL, { deprecatedSince: '8.1', note: 'not applicable from Windows 8.1, removed in Windows 10 version 1607' }),
  leaf('ModifiedWriteMaximum', int(0), { deprecatedSince: '8.1', note: 'not applicable from Windows 8.1, removed in Windows 10 version 1607' }),
  leaf('ReadDoubleBuffering', BOOL, { deprecatedSince: '8.1', note: 'not applicable from Windows 8.1, removed in Windows 10 version 1607' }),
];

// ---------------------------------------------------------------------------------------------
// The table.

const DETAILED: ComponentSpec[] = [
  {
    name: 'Microsoft-Windows-Setup',
    passes: ['windowsPE'],
    since: 'vista',
    arches: ALL,
    source: ref('microsoft-windows-setup'),
    settings: SETUP_SETTINGS,
    note: 'processorArchitecture follows the Windows PE/setup.exe running, which installs the image',
  },
  {
    name: 'Microsoft-Windows-International-Core-WinPE',
    passes: ['windowsPE'],
    since: 'vista',
    arches: ALL,
    source: ref81('ff715986'),
    settings: INTERNATIONAL(true),
  },
  {
    name: 'Microsoft-Windows-International-Core',
    passes: ['specialize', 'oobeSystem'],
    since: 'vista',
    arches: ALL_WOW,
    source: refVista('cc766400'),
    settings: INTERNATIONAL(false),
    note: 'SkipKeyboardLayout (seen in some files) is not a documented setting of this component',
  },
  {
    name: 'Microsoft-Windows-Shell-Setup',
    passes: ['offlineServicing', 'generalize', 'specialize', 'auditSystem', 'auditUser', 'oobeSystem'],
    since: 'vista',
    arches: ALL_WOW,
    source: ref('microsoft-windows-shell-setup'),
    settings: SHELL_SETUP_SETTINGS,
    incompleteFor: ['vista', '7'],
    note: 'Vista/7-only settings were sampled from older references; ConfigureChatAutoInstall (seen in Windows 11 files) is a registry value, not a documented setting',
  },
  {
    name: 'Microsoft-Windows-UnattendedJoin',
    passes: ['offlineServicing', 'specialize'],
    since: 'vista',
    arches: ALL_WOW,
    source: ref('microsoft-windows-unattendedjoin'),
    settings: UNATTENDED_JOIN_SETTINGS,
  },
  {
    name: 'Microsoft-Windows-Deployment',
    passes: ['generalize', 'specialize', 'auditSystem', 'auditUser', 'oobeSystem'],
    since: 'vista',
    arches: ALL_WOW,
    source: ref('microsoft-windows-deployment'),
    settings: DEPLOYMENT_SETTINGS,
  },
  {
    name: 'Microsoft-Windows-PnpCustomizationsWinPE',
    passes: ['windowsPE'],
    since: 'vista',
    arches: ALL,
    source: ref('microsoft-windows-pnpcustomizationswinpe-driverpaths-pathandcredentials'),
    settings: [DRIVER_PATHS],
    note: 'drivers added to Windows PE and the image during windowsPE',
  },
  {
    name: 'Microsoft-Windows-PnpCustomizationsNonWinPE',
    passes: ['offlineServicing', 'auditSystem'],
    since: 'vista',
    arches: ALL,
    source: ref('microsoft-windows-pnpcustomizationsnonwinpe-driverpaths'),
    settings: [DRIVER_PATHS],
  },
  {
    name: 'Microsoft-Windows-PnpSysprep',
    passes: ['generalize'],
    since: 'vista',
    arches: ALL,
    source: ref('microsoft-windows-pnpsysprep-persistalldeviceinstalls'),
    settings: [
      leaf('DoNotCleanUpNonPresentDevices', BOOL, { note: 'only matters with PersistAllDeviceInstalls; first release not verified' }),
      leaf('PersistAllDeviceInstalls', BOOL, { source: refVista('cc722095'), note: 'identical hardware only' }),
    ],
  },
  {
    name: 'Microsoft-Windows-Security-SPP',
    passes: ['generalize'],
    since: '7',
    arches: ALL_WOW,
    source: ref('microsoft-windows-security-spp-skiprearm'),
    settings: [leaf('SkipRearm', int(0, 1), { note: '1 keeps the licensing state; Windows 7 allows only a few rearms' })],
    note: 'replaces Microsoft-Windows-Security-Licensing-SLC of Windows Vista',
  },
  {
    name: 'Microsoft-Windows-Security-SPP-UX',
    passes: ['specialize'],
    since: '7',
    arches: ALL_WOW,
    source: 'https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-7/ff715518(v=win.10)',
    settings: [leaf('SkipAutoActivation', BOOL)],
    note: 'replaces Microsoft-Windows-Security-Licensing-SLC-UX of Windows Vista',
  },
  {
    name: 'Microsoft-Windows-Security-Licensing-SLC',
    passes: ['generalize'],
    since: 'vista',
    until: 'vista',
    arches: PRE10_WOW,
    source: 'https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-7/ff715721(v=win.10)',
    settings: [leaf('SkipRearm', int(0, 1))],
    note: 'Windows Vista licensing; Windows 7 uses Microsoft-Windows-Security-SPP. Upper bound inferred from the SPP rename',
  },
  {
    name: 'Microsoft-Windows-Security-Licensing-SLC-UX',
    passes: ['specialize'],
    since: 'vista',
    until: '7',
    deprecatedSince: '7',
    arches: PRE10_WOW,
    source: 'https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-7/ff715721(v=win.10)',
    settings: [leaf('SkipAutoActivation', BOOL)],
    note: 'deprecated in Windows 7 and removed in Windows 8 (use Microsoft-Windows-Security-SPP-UX)',
  },
  {
    name: 'Microsoft-Windows-TerminalServices-LocalSessionManager',
    passes: ['offlineServicing', 'generalize', 'specialize'],
    since: 'vista',
    arches: ALL,
    source: ref('microsoft-windows-terminalservices-localsessionmanager-fdenytsconnections'),
    settings: [leaf('fDenyTSConnections', BOOL, { note: 'false allows Remote Desktop; the firewall group must be opened too' })],
  },
  {
    name: 'Microsoft-Windows-TerminalServices-RDP-WinStationExtensions',
    passes: ['generalize', 'specialize'],
    since: 'vista',
    arches: ALL,
    source: ref('microsoft-windows-terminalservices-rdp-winstationextensions-userauthentication'),
    settings: [
      leaf('SecurityLayer', int(0, 2), { note: '0 RDP, 1 negotiate (default), 2 TLS' }),
      leaf('UserAuthentication', int(0, 1), { note: '1 requires Network Level Authentication' }),
    ],
  },
  {
    name: 'Microsoft-Windows-LUA-Settings',
    passes: ['offlineServicing'],
    since: 'vista',
    arches: ALL,
    source: ref('microsoft-windows-lua-settings-enablelua'),
    settings: [leaf('EnableLUA', BOOL, { note: 'false turns off User Account Control' })],
  },
  {
    name: 'Microsoft-Windows-TCPIP',
    passes: ['windowsPE', 'specialize'],
    since: 'vista',
    arches: ALL,
    source: ref('microsoft-windows-tcpip-interfaces-interface'),
    settings: TCPIP_SETTINGS,
  },
  {
    name: 'Microsoft-Windows-DNS-Client',
    passes: ['specialize'],
    since: 'vista',
    arches: ALL,
    source: ref('microsoft-windows-dns-client-dnsdomain'),
    settings: DNS_SETTINGS,
  },
  {
    name: 'Microsoft-Windows-IE-InternetExplorer',
    passes: ['specialize'],
    since: 'vista',
    arches: ALL_WOW,
    source: ref('microsoft-windows-ie-internetexplorer'),
    settings: IE_SETTINGS,
    incompleteFor: ['vista', '7', '8', '8.1', '10', '11'],
    note: 'only common settings are modelled; settings follow the Internet Explorer version in the image (the wow64 flavour configures 32-bit IE)',
  },
  {
    name: 'Microsoft-Windows-ErrorReportingCore',
    passes: ['specialize'],
    since: 'vista',
    arches: ALL,
    source: ref('microsoft-windows-errorreportingcore-disablewer'),
    settings: [
      leaf('DefaultConsent', int(0, 4), { note: '0/1 always ask, 2 send parameters, 3 send parameters and safe data, 4 send everything' }),
      leaf('DisableWER', int(0, 1), { note: '1 disables Windows Error Reporting' }),
    ],
  },
  {
    name: 'Microsoft-Windows-SQMAPI',
    passes: ['specialize'],
    since: 'vista',
    arches: ALL,
    source: ref('microsoft-windows-sqmapiceipenabled'),
    settings: [leaf('CEIPEnabled', oneOf('0', '1', 'true', 'false'), { note: '1 joins the Customer Experience Improvement Program; the setting page documents 0/1 but the component page example writes true, so both forms are accepted' })],
    note: 'files usually write Microsoft-Windows-SQMApi; first release taken as Vista, not verified',
  },
  {
    name: 'Microsoft-Windows-SystemRestore-Main',
    passes: ['specialize'],
    since: 'vista',
    arches: ALL,
    source: ref('microsoft-windows-systemrestore-main-disablesr'),
    settings: [leaf('DisableSR', int(0, 1), { note: '1 stops creating restore points' })],
  },
  {
    name: 'Networking-MPSSVC-Svc',
    passes: ['specialize'],
    since: 'vista',
    arches: ALL,
    source: ref('networking-mpssvc-svcfirewallgroups-firewallgroup'),
    settings: MPSSVC_SETTINGS,
    note: 'Windows Firewall; release of each profile setting not verified before Windows 8',
  },
  {
    name: 'Microsoft-Windows-SecureStartup-FilterDriver',
    passes: ['offlineServicing', 'specialize', 'auditSystem', 'oobeSystem'],
    since: '8',
    arches: ALL,
    source: ref('microsoft-windows-securestartup-filterdriver-preventdeviceencryption'),
    settings: SECURESTARTUP_SETTINGS,
    note: 'BitLocker tuning for SoC PCs; component release taken from the Windows 8 changes pages',
  },
  {
    name: 'Microsoft-Windows-EnhancedStorage-Adm',
    passes: ['specialize'],
    since: '8',
    arches: ALL,
    source: ref('microsoft-windows-enhancedstorage-admtcgsecurityactivationdisabled'),
    settings: [leaf('TCGSecurityActivationDisabled', int(0, 1), { note: '1: do not turn on encryption of eDrives; valid in specialize only' })],
    note: 'eDrive policy; release inferred (eDrives arrived with Windows 8)',
  },
  {
    name: 'Microsoft-Windows-OutOfBoxExperience',
    passes: ['specialize', 'oobeSystem', 'auditSystem', 'auditUser'],
    since: 'vista',
    until: '8.1',
    deprecatedSince: '8',
    arches: PRE10_WOW,
    source: ref('microsoft-windows-outofboxexperience'),
    settings: [leaf('DoNotOpenInitialConfigurationTasksAtLogon', BOOL), leaf('OemExtensionXmlFilePath', PATH)],
    note: 'Initial Configuration Tasks of Windows Server 2008/2008 R2 (no effect on client editions); deprecated with Server 2012. Valid passes not verified',
  },
  {
    name: 'Microsoft-Windows-Web-Services-for-Management-Core',
    passes: ['specialize'],
    since: 'vista',
    arches: ALL,
    source: 'https://learn.microsoft.com/en-us/windows-server/administration/server-manager/configure-remote-management-in-server-manager',
    note: 'WinRM. Its only documented unattend setting, EnableServerRemoteManagement (spelled inconsistently by Microsoft), is a Windows Server 2012+ setting; release range and passes not verified',
  },
];

/** Components known by name, release and pass only (settings not modelled). */
function named(name: string, passes: readonly Pass[], since: Release, source: string, extra: Partial<ComponentSpec> = {}): ComponentSpec {
  const arches = extra.arches ?? (extra.until !== undefined && !atLeast(extra.until, '10') ? PRE10 : ALL);
  return { name, passes, since, arches, source, ...extra };
}

const ANY_ONLINE: readonly Pass[] = ['offlineServicing', 'generalize', 'specialize', 'auditSystem', 'auditUser', 'oobeSystem'];
const UNSURE = 'valid passes not verified: every pass after windowsPE is accepted';

const NAME_ONLY: ComponentSpec[] = [
  named('Microsoft-Windows-Audio-AudioCore', ANY_ONLINE, '10', ref('microsoft-windows-audio-audiocore'), { note: UNSURE }),
  named('Microsoft-Windows-Audio-VolumeControl', ANY_ONLINE, '10', ref('microsoft-windows-audio-volumecontrol'), { note: UNSURE }),
  named('Microsoft-Windows-BLB-WSB-Online-Main', ANY_ONLINE, '7', ref('microsoft-windows-blb-wsb-online-main'), { note: `Windows Server Backup online service (Server editions); first release not verified; ${UNSURE}` }),
  named('Microsoft-Windows-BrowserService', ANY_ONLINE, 'vista', ref('microsoft-windows-browserservice'), { note: UNSURE }),
  named('Microsoft-Windows-CoreMmRes', ANY_ONLINE, '8.1', ref('microsoft-windows-coremmres'), { note: `camera sound settings, new in Windows 8.1 Update; ${UNSURE}` }),
  named('Microsoft-Windows-DeviceAccess', ANY_ONLINE, '10', ref('microsoft-windows-deviceaccess'), { note: UNSURE }),
  named('Microsoft-Windows-DeviceGuard-Unattend', ANY_ONLINE, '10', ref('microsoft-windows-deviceguard-unattend'), { note: UNSURE }),
  named('Microsoft-Windows-Devices-Lights-WinRT', ANY_ONLINE, '11', ref('microsoft-windows-devices-lights-winrt'), { arches: ['amd64', 'arm64'], note: `Dynamic Lighting (Windows 11); ${UNSURE}` }),
  named('Microsoft-Windows-DiagCpl', ANY_ONLINE, '7', ref('microsoft-windows-diagcpl'), { note: `Troubleshooting in Action Center; first release not verified; ${UNSURE}` }),
  named('Microsoft-Windows-Disk-Failure-Diagnostic-Module', ANY_ONLINE, 'vista', ref('microsoft-windows-disk-failure-diagnostic-module'), { note: UNSURE }),
  named('Microsoft-Windows-Embedded-BootExp', ANY_ONLINE, '10', ref('microsoft-windows-embedded-bootexp'), { note: `Enterprise/IoT editions; ${UNSURE}` }),
  named('Microsoft-Windows-Embedded-EmbeddedLogon', ANY_ONLINE, '10', ref('microsoft-windows-embedded-embeddedlogon'), { note: `Enterprise/IoT editions; ${UNSURE}` }),
  named('Microsoft-Windows-Embedded-KeyboardFilterService', ANY_ONLINE, '10', ref('microsoft-windows-embedded-keyboardfilterservice'), { note: `Enterprise/IoT editions; ${UNSURE}` }),
  named('Microsoft-Windows-Embedded-ShellLauncher', ANY_ONLINE, '10', ref('microsoft-windows-embedded-shelllauncher'), { note: `Enterprise/IoT editions; ${UNSURE}` }),
  named('Microsoft-Windows-Embedded-UnifiedWriteFilter', ANY_ONLINE, '10', ref('microsoft-windows-embedded-unifiedwritefilter'), { note: `Enterprise/IoT editions; ${UNSURE}` }),
  named('Microsoft-Windows-Fax-Service', ANY_ONLINE, 'vista', ref('microsoft-windows-fax-service'), { note: UNSURE }),
  named('Microsoft-Windows-GPIOButtons', ANY_ONLINE, '8.1', ref('microsoft-windows-gpiobuttons'), { note: `ConvertibleSlateMode is new in Windows 8.1; ${UNSURE}` }),
  named('Microsoft-Windows-HelpAndSupport', ANY_ONLINE, 'vista', ref('microsoft-windows-helpandsupport'), { deprecatedSince: '10', note: `deprecated in Windows 10 (Help retired); ${UNSURE}` }),
  named('Microsoft-Windows-IE-ClientNetworkProtocolImplementation', ANY_ONLINE, 'vista', ref('microsoft-windows-ie-clientnetworkprotocolimplementation'), { arches: ALL_WOW, note: `proxy and connection settings of Internet Explorer; ${UNSURE}` }),
  named('Microsoft-Windows-IE-ESC', ANY_ONLINE, 'vista', ref('microsoft-windows-ie-esc'), { arches: ALL_WOW, note: `IE Enhanced Security Configuration (Server); ${UNSURE}` }),
  named('Microsoft-Windows-MapControl-Desktop', ANY_ONLINE, '10', ref('microsoft-windows-mapcontrol'), { note: UNSURE }),
  named('Microsoft-Windows-MediaPlayer-Core', ANY_ONLINE, 'vista', ref('microsoft-windows-mediaplayer-core'), { note: UNSURE }),
  named('Microsoft-Windows-MobilePC-Sensors-Api', ANY_ONLINE, '7', ref('microsoft-windows-mobilepc-sensors-api'), { note: `sensor platform arrived in Windows 7; SensorPermissions removed in 8.1/10; ${UNSURE}` }),
  named('Microsoft-Windows-NetBT', ANY_ONLINE, 'vista', ref('microsoft-windows-netbt'), { note: UNSURE }),
  named('Microsoft-Windows-NetworkBridge', ANY_ONLINE, 'vista', ref('microsoft-windows-networkbridge'), { note: UNSURE }),
  named('Microsoft-Windows-NetworkLoadBalancing-Core', ANY_ONLINE, 'vista', ref('microsoft-windows-networkloadbalancing-core'), { note: `Server editions; ${UNSURE}` }),
  named('Microsoft-Windows-PartitionManager', ANY_ONLINE, 'vista', ref('microsoft-windows-partitionmanager'), { note: `SanPolicy; ${UNSURE}` }),
  named('Microsoft-Windows-powercpl', ANY_ONLINE, 'vista', ref('microsoft-windows-powercpl'), { note: UNSURE }),
  named('Microsoft-Windows-Printing-Spooler-Core', ANY_ONLINE, 'vista', ref('microsoft-windows-printing-spooler-core'), { note: `RemoveMPDW/Start are new in Windows 10; ${UNSURE}` }),
  named('Microsoft-Windows-RasServer', ANY_ONLINE, 'vista', ref('microsoft-windows-rasserver'), { note: UNSURE }),
  named('Microsoft-Windows-RemoteAssistance-Exe', ANY_ONLINE, 'vista', ref('microsoft-windows-remoteassistance-exe'), { note: UNSURE }),
  named('Security-Malware-Windows-Defender', ANY_ONLINE, '8', ref('security-malware-windows-defender'), { note: `Windows Defender (Windows 8 and later); ${UNSURE}` }),
  named('Microsoft-Windows-Security-SPP-UX-SPPCC', ANY_ONLINE, '8', ref('microsoft-windows-security-spp-ux-sppcc'), { note: `ReferralId; the reference titles it "microsoft-windows-security-spp-ux-sppcc-", so the exact name and release are not verified; ${UNSURE}` }),
  named('Microsoft-Windows-ServerManager-SvrMgrNc', ANY_ONLINE, 'vista', ref('microsoft-windows-servermanager-svrmgrnc'), { note: `Server editions; ${UNSURE}` }),
  named('Microsoft-Windows-SharedAccess', ANY_ONLINE, 'vista', ref('microsoft-windows-sharedaccess'), { note: UNSURE }),
  named('Microsoft-Windows-shwebsvc', ANY_ONLINE, 'vista', ref('microsoft-windows-shwebsvc'), { note: UNSURE }),
  named('Microsoft-Windows-SMBServer', ANY_ONLINE, 'vista', ref('microsoft-windows-smbserver'), { note: UNSURE }),
  named('Microsoft-Windows-SNMP-Agent-Service', ANY_ONLINE, 'vista', ref('microsoft-windows-snmp-agent-service'), { note: UNSURE }),
  named('Microsoft-Windows-stobject', ANY_ONLINE, 'vista', ref('microsoft-windows-stobject'), { note: UNSURE }),
  named('Microsoft-Windows-StorPort-RegistrySettings', ANY_ONLINE, '10', ref('microsoft-windows-storport-registrysettings'), { note: UNSURE }),
  named('Microsoft-Windows-SystemMaintenanceService', ANY_ONLINE, '8', ref('microsoft-windows-systemmaintenanceservice'), { note: `flash caches; first release not verified; ${UNSURE}` }),
  named('Microsoft-Windows-SystemSettings', ANY_ONLINE, '8.1', ref('microsoft-windows-systemsettings'), { note: `settings new in Windows 8.1; ${UNSURE}` }),
  named('Microsoft-Windows-TabletPC-Platform-Input-Core', ANY_ONLINE, 'vista', ref('microsoft-windows-tabletpc-platform-input-core'), { note: UNSURE }),
  named('Microsoft-Windows-TapiSetup', ANY_ONLINE, 'vista', refVista('cc748909'), { note: `the Windows 10 reference spells it Microsoft-Windows-TAPISetup; ${UNSURE}` }),
  named('Microsoft-Windows-TerminalServices-CentralPublishing', ANY_ONLINE, '7', ref('microsoft-windows-terminalservices-centralpublishing'), { note: `RemoteApp and Desktop Connection Management (Server); first release not verified; ${UNSURE}` }),
  named('Microsoft-Windows-TerminalServices-LicenseServer', ANY_ONLINE, 'vista', ref('microsoft-windows-terminalservices-licenseserver'), { note: `Server editions; ${UNSURE}` }),
  named('Microsoft-Windows-TerminalServices-Publishing-WMIProvider', ANY_ONLINE, 'vista', ref('microsoft-windows-terminalservices-publishing-wmiprovider'), { note: `Server editions; ${UNSURE}` }),
  named('Microsoft-Windows-TerminalServices-RemoteConnectionManager', ANY_ONLINE, 'vista', ref('microsoft-windows-terminalservices-remoteconnectionmanager'), { note: `Server editions; ${UNSURE}` }),
  named('Microsoft-Windows-Tpm-Tasks', ANY_ONLINE, '10', ref('microsoft-windows-tpm-tasks'), { note: `ClearTpm is new in Windows 10 version 1703; ${UNSURE}` }),
  named('Microsoft-Windows-TwinUI', ANY_ONLINE, '10', ref('microsoft-windows-twinui'), { note: `new in Windows 10 version 1607/1703; ${UNSURE}` }),
  named('Microsoft-Windows-WDF-Kernel Library', ANY_ONLINE, 'vista', ref('microsoft-windows-wdf-kernel-library'), { note: `the name contains a space as documented; ${UNSURE}` }),
  named('Microsoft-Windows-WiFiNetworkManager', ANY_ONLINE, '10', ref('microsoft-windows-wifinetworkmanager'), { deprecatedSince: '10', note: `Wi-Fi Sense sharing removed in Windows 10 version 1607; ${UNSURE}` }),
  named('Microsoft-Windows-WinRE-RecoveryAgent', ANY_ONLINE, '7', ref('microsoft-windows-winre-recoveryagent'), { note: `first release not verified; ${UNSURE}` }),
  named('Microsoft-Windows-Wlansvc', ANY_ONLINE, 'vista', ref('microsoft-windows-wlansvc'), { note: `its documented settings are new in Windows 10; ${UNSURE}` }),
  named('Microsoft-Windows-WorkstationService', ANY_ONLINE, 'vista', ref('microsoft-windows-workstationservice'), { note: UNSURE }),
  named('Microsoft-Windows-WPD-BusEnumService', ANY_ONLINE, '7', ref('microsoft-windows-wpd-busenumservice'), { note: `first release not verified; ${UNSURE}` }),
  named('Microsoft-Windows-WwanUI', ANY_ONLINE, '8.1', ref('microsoft-windows-wwanui'), { note: `NotInOOBE is new in Windows 8.1; ${UNSURE}` }),
  // Removed before Windows 10 (documented in the "changed answer file settings" pages).
  named('Microsoft-Windows-ehome-reg-inf', ANY_ONLINE, 'vista', ref81('ff715771'), {
    until: '8.1',
    arches: PRE10_WOW,
    note: `Windows Media Center (its OEMName is valid in oobeSystem); removed in Windows 10 per the changed-settings page; ${UNSURE}`,
  }),
  named('Microsoft-Windows-Store-Client-UI', ANY_ONLINE, '8', ref('changed-answer-file-settings-for-previous-windows10-builds'), { until: '8.1', note: `StoreContentModifier; removed in Windows 10; ${UNSURE}` }),
  named('Microsoft-Windows-MigrationWizardApplication', ANY_ONLINE, '8', ref('changed-answer-file-settings-for-previous-windows10-builds'), {
    until: '8.1',
    note: `HideDiscontinuedComponents; removed in Windows 10. First release not verified; ${UNSURE}`,
  }),
  named('Microsoft-Windows-PerfCenterCPL', ANY_ONLINE, 'vista', ref('changed-answer-file-settings-for-previous-windows10-builds'), {
    until: '8',
    note: `Windows Experience Index OEM info; its settings were removed in Windows 8.1. ${UNSURE}`,
  }),
  named('Microsoft-Windows-AllUserInstallAgent', ANY_ONLINE, '8', ref('changed-answer-file-settings-for-previous-windows10-builds'), { until: '8', note: `LogonWaitForPackageRegistration; removed in Windows 8.1; ${UNSURE}` }),
];

export const COMPONENTS: readonly ComponentSpec[] = [...DETAILED, ...NAME_ONLY];

// Setup matches component names without regard to case, so lookups do too; keys stay the documented
// spelling so suggestions read right.
const BY_LOWER_NAME = new Map(COMPONENTS.map((c) => [c.name.toLowerCase(), c] as const));

class ComponentIndex extends Map<string, ComponentSpec> {
  override get(name: string): ComponentSpec | undefined {
    return super.get(name) ?? BY_LOWER_NAME.get(name.toLowerCase());
  }
  override has(name: string): boolean {
    return this.get(name) !== undefined;
  }
}

/** Lookup by component name. */
export const COMPONENT_BY_NAME: ReadonlyMap<string, ComponentSpec> = new ComponentIndex(COMPONENTS.map((c) => [c.name, c] as const));

