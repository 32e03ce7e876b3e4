// The profile: the short YAML file an administrator writes instead of an answer file. The zod
// schema below is the single definition: it validates profiles, fills in the defaults, and emits
// the JSON Schema that editors use (`overnight answer schema`).
import { LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { AnswerError } from './errors.ts';
import { RELEASES } from './release.ts';

export type TargetArch = 'x86' | 'amd64' | 'arm64';
export type Firmware = 'bios' | 'uefi';

/** Largest profile read: real ones are a few KiB. */
export const MAX_PROFILE_BYTES = 1024 * 1024;

const Release = z
  .union([z.enum(RELEASES), z.number().transform((n) => String(n))])
  .pipe(z.enum(RELEASES))
  .describe('Windows release: vista, 7, 8, 8.1, 10 or 11');

/** A command: a command line, or one with a description and whether it restarts the machine. */
const Command = z.union([
  z.string().min(1),
  z.strictObject({
    run: z.string().min(1).describe('the command line'),
    description: z.string().optional(),
    reboot: z.boolean().optional().describe('specialize commands only: the command restarts Windows (WillReboot=Always)'),
  }),
]);
export type CommandSpec = z.infer<typeof Command>;

const Account = z.strictObject({
  name: z.string().min(1).describe('user name (at most 20 characters)'),
  password: z.string().optional().describe('omit for no password'),
  displayName: z.string().optional(),
  description: z.string().optional(),
  groups: z.array(z.string().min(1)).default(['Users']).describe('local groups, e.g. [Administrators]'),
});

const Disk = z.strictObject({
  layout: z
    .enum(['auto', 'bios-mbr', 'uefi-gpt', 'custom'])
    .default('auto')
    .describe('auto: MBR for BIOS clients, GPT for UEFI clients, from the firmware the network boot saw (DHCP option 93); custom: no disk settings rendered, give DiskConfiguration and InstallTo under settings'),
  disk: z.number().int().min(0).default(0).describe('disk number Setup installs to'),
  wipe: z.boolean().default(true).describe('erase the disk first (WillWipeDisk); false keeps existing partitions and installs to the first free one'),
  systemSize: z.number().int().min(100).optional().describe('MB of the System Reserved partition (MBR); default 100 on Windows 7, 500 from Windows 10'),
  efiSize: z.number().int().min(100).optional().describe('MB of the EFI system partition (GPT); default 100, 260 on 4Kn disks'),
  msrSize: z.number().int().min(16).optional().describe('MB of the MSR (GPT); default 128 on Windows 7-8.1, 16 from Windows 10'),
  recoverySize: z.number().int().min(0).default(0).describe('MB of a recovery partition at the end of the disk; 0 for none'),
  label: z.string().max(32).default('Windows'),
});

const Join = z.union([
  z.strictObject({
    domain: z.string().min(1),
    ou: z.string().optional().describe('MachineObjectOU, e.g. OU=Lab,DC=corp,DC=example,DC=com'),
    user: z.string().min(1).describe('account allowed to join machines'),
    password: z.string(),
    userDomain: z.string().optional().describe('domain of that account, when not the one joined'),
  }),
  z.strictObject({ workgroup: z.string().min(1).max(15) }),
]);

const App = z.strictObject({
  name: z.string().min(1),
  run: z.string().min(1).describe('installer path on the deployment share (relative) or a full path / UNC'),
  args: z.string().default('').describe('silent switches, e.g. /qn /norestart for an MSI'),
});

const Oobe = z.strictObject({
  networkLocation: z.enum(['home', 'work', 'other']).default('work'),
  protectYourPC: z.union([z.literal(1), z.literal(2), z.literal(3)]).default(3).describe('1 recommended updates, 2 important only, 3 no automatic updates (right for a machine that must not reach the internet)'),
  registeredOwner: z.string().optional(),
  registeredOrganization: z.string().optional(),
});

/**
 * Any other setting, as WSIM would write it: element names as keys, a map for a container, a list
 * of maps for the items of a wcm:action="add" list (a "wcm:keyValue" key gives an item its key).
 */
const ExtraSettings = z.strictObject({
  pass: z.enum(['windowsPE', 'offlineServicing', 'generalize', 'specialize', 'auditSystem', 'auditUser', 'oobeSystem']),
  component: z.string().min(1).describe('e.g. Microsoft-Windows-TerminalServices-LocalSessionManager'),
  arch: z.enum(['x86', 'amd64', 'arm64', 'wow64']).optional().describe('default: the target architecture'),
  values: z.record(z.string(), z.unknown()).describe('e.g. { fDenyTSConnections: false }'),
});
export type ExtraSettingsSpec = z.infer<typeof ExtraSettings>;

const ProfileBody = z.strictObject({
  target: z.strictObject({
    release: Release,
    arch: z.enum(['x86', 'amd64', 'arm64']).default('amd64'),
    edition: z.union([z.string().min(1), z.number().int().min(1)]).optional().describe('image name (e.g. "Windows 7 PROFESSIONAL") or index in install.wim'),
    language: z.string().regex(/^[a-z]{2,3}-[A-Za-z]{2,4}(-[A-Za-z]+)?$/).default('en-US').describe('language of the media (Setup UI)'),
  }),
  disk: Disk.prefault({}),
  productKey: z
    .union([z.enum(['none', 'kms']), z.string().regex(/^[0-9A-Za-z]{5}(-[0-9A-Za-z]{5}){4}$/, 'a key is five groups of five characters')])
    .default('none')
    .describe('none; kms (the KMS client key of the edition); or a MAK/retail key'),
  locale: z
    .strictObject({
      ui: z.string().optional(),
      input: z.string().optional().describe('e.g. de-DE or 0407:00000407'),
      system: z.string().optional(),
      user: z.string().optional(),
    })
    .prefault({}),
  timeZone: z.string().optional().describe('Windows time zone id (tzutil /l), e.g. W. Europe Standard Time; default UTC (Greenwich Standard Time on Vista, which has no UTC zone)'),
  computerName: z.string().default('*').describe('a name, * for a random one, or a pattern with {mac}, {serial}, {n} or {n:3}'),
  accounts: z
    .strictObject({
      administrator: z.strictObject({ password: z.string() }).optional().describe('the built-in Administrator'),
      users: z.array(Account).default([]),
      autologon: z.strictObject({ user: z.string().min(1), count: z.number().int().min(1).max(2 ** 31 - 1).default(1).describe('automatic logons before it turns itself off') }).optional(),
      plainTextPasswords: z.boolean().default(false).describe('write passwords as plain text (only for debugging)'),
    })
    .prefault({}),
  join: Join.optional(),
  oobe: Oobe.prefault({}),
  commands: z
    .strictObject({
      specialize: z.array(Command).default([]),
      firstLogon: z.array(Command).default([]),
    })
    .prefault({}),
  apps: z.array(App).default([]),
  share: z.string().optional().describe('UNC of the deployment share that apps and drivers are read from, e.g. \\\\server\\deploy'),
  drivers: z
    .strictObject({
      winpe: z.array(z.string()).default([]).describe('driver folders loaded into Windows PE (storage, network)'),
      system: z.array(z.string()).default([]).describe('driver folders offered to the installed system'),
    })
    .prefault({}),
  settings: z.array(ExtraSettings).default([]).describe('any other setting of the unattend reference; lint checks them like the rest'),
});

/** Per-machine overrides: any field of the profile, by machine name or MAC address. */
export const ProfileSchema = ProfileBody.extend({
  machines: z.record(z.string(), z.record(z.string(), z.unknown())).default({}).describe('overrides by machine name or MAC: any profile field'),
});

export type Profile = z.output<typeof ProfileSchema>;
export type ProfileInput = z.input<typeof ProfileSchema>;

/** The JSON Schema of profiles, for editors (yaml-language-server, VS Code). */
export function profileJsonSchema(): unknown {
  return z.toJSONSchema(ProfileSchema, { io: 'input', unrepresentable: 'any' });
}

/** Validates an already-parsed profile object; errors name the field. */
export function validateProfile(data: unknown, file = 'profile.yaml', locate?: (path: readonly PropertyKey[]) => { line: number; column: number } | undefined): Profile {
  const r = ProfileSchema.safeParse(data);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = issue.path.join('.');
  throw new AnswerError('E_PROFILE', `${path ? `${path}: ` : ''}${issue.message}`, { file, pos: locate?.(issue.path) });
}

/** Reads a YAML profile; every error names the file, line and column. */
export function parseProfile(text: string, file = 'profile.yaml'): Profile {
  if (text.length > MAX_PROFILE_BYTES) throw new AnswerError('E_TOO_LARGE', `larger than any profile (limit ${MAX_PROFILE_BYTES} bytes)`, { file });
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const at = lc.linePos(err.pos[0]);
    throw new AnswerError('E_YAML', err.message.split('\n')[0]!, { file, pos: { line: at.line, column: at.col } });
  }
  const data = doc.toJS({ maxAliasCount: 100 }) as unknown;
  const locate = (path: readonly PropertyKey[]) => {
    // The deepest node on the path that exists: an unknown key points at its parent map.
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true) as YamlNode | undefined;
      if (node && (node as { range?: [number, number, number] }).range) {
        const at = lc.linePos((node as { range: [number, number, number] }).range[0]);
        return { line: at.line, column: at.col };
      }
    }
    return undefined;
  };
  const profile = validateProfile(data, file, locate);
  // Overrides are checked now, against the same schema, so that a typo fails before any render.
  for (const [key, over] of Object.entries(profile.machines)) {
    validateProfile(mergeOverride(withoutMachines(profile), over), file, (p) => locate(['machines', key, ...p]));
  }
  return profile;
}

function withoutMachines(p: Profile): Record<string, unknown> {
  const { machines: _m, ...rest } = p;
  return rest;
}

/** Lists are replaced by an override, except commands and apps, which a machine adds to. */
const APPENDED = new Set(['commands.specialize', 'commands.firstLogon', 'apps', 'settings']);
/** Sections with alternatives (a domain or a workgroup) are replaced whole, never mixed. */
const REPLACED = new Set(['join']);

export function mergeOverride(base: Record<string, unknown>, over: Record<string, unknown>, path = ''): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const p = path ? `${path}.${k}` : k;
    const b = base[k];
    if (Array.isArray(v) && Array.isArray(b) && APPENDED.has(p)) out[k] = [...b, ...v];
    else if (v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b) && !REPLACED.has(p)) out[k] = mergeOverride(b as Record<string, unknown>, v as Record<string, unknown>, p);
    else out[k] = v;
  }
  return out;
}

/** The profile for one machine: its overrides (by name, then by MAC) merged in. */
export function profileFor(profile: Profile, machine: { name?: string | undefined; mac?: string | undefined }): Profile {
  const norm = (s: string) => s.toLowerCase().replace(/[-:.]/g, '');
  const keys = Object.keys(profile.machines);
  const hit = [
    machine.name ? keys.find((k) => k.toLowerCase() === machine.name!.toLowerCase()) : undefined,
    machine.mac ? keys.find((k) => norm(k) === norm(machine.mac!)) : undefined,
  ].filter((k): k is string => k !== undefined);
  let merged: Record<string, unknown> = withoutMachines(profile);
  for (const k of hit) merged = mergeOverride(merged, profile.machines[k]!);
  return { ...validateProfile(merged), machines: {} };
}

