// overnight.yaml: one file for a whole site (several media, several profiles, the inventory), as
// an alternative to the flags of `overnight serve`. The zod schema is the single definition; every
// relative path in the file is taken from the file's folder.
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { ServeError } from './errors.ts';

const Id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/, 'letters, digits, - and _ (at most 32), starting with a letter or digit');

export const ServeConfigSchema = z.strictObject({
  data: z.string().optional().describe('data folder: extracted media, leases, records, Samba state (default /var/lib/overnight as root)'),
  interface: z.string().optional().describe('interface to serve on (default: the only one with an IPv4 address)'),
  dhcp: z
    .strictObject({
      mode: z.enum(['proxy', 'full', 'off']).default('proxy'),
      pool: z.string().optional().describe('full mode: START-END'),
      netmask: z.string().optional(),
      router: z.string().optional(),
      dns: z.array(z.string()).default([]),
      leaseTime: z.number().int().min(60).default(3600),
    })
    .prefault({}),
  media: z
    .array(z.strictObject({ id: Id.optional(), iso: z.string().min(1) }))
    .min(1, 'name at least one ISO')
    .describe('install media; each is extracted once into the share'),
  profiles: z
    .array(z.strictObject({ name: Id, file: z.string().min(1), media: Id.optional().describe('media id (default: the first)') }))
    .min(1, 'name at least one profile'),
  inventory: z.string().optional().describe('machines: CSV (mac,name,profile,media,group and profile fields to override) or YAML'),
  unknown: z.enum(['all', 'known-only', 'approve']).default('all').describe('machines not in the inventory: install them all, ignore them, or wait for approval (overnight machines approve MAC)'),
  defaultProfile: Id.optional().describe('profile of machines the inventory does not name one for (default: the first)'),
  share: z
    .union([
      z.strictObject({ mode: z.literal('managed'), port: z.number().int().min(1).max(65535).default(445), smbd: z.string().optional().describe('path of smbd (default: on PATH or in /usr/sbin)') }),
      z.strictObject({ mode: z.literal('external'), unc: z.string().regex(/^\\\\[^\\]+\\[^\\]+/, 'a UNC path, \\\\host\\share'), user: z.string().optional(), password: z.string().optional() }),
    ])
    .default({ mode: 'managed', port: 445 }),
  http: z.strictObject({ port: z.number().int().min(0).max(65535).default(80) }).prefault({}),
  tftp: z.strictObject({ port: z.number().int().min(0).max(65535).default(69) }).prefault({}),
  loaders: z.string().optional().describe('folder with undionly.kpxe, ipxe.efi, wimboot (searched before the data folder and /usr/lib/ipxe)'),
  chainloadIpxe: z.boolean().default(false),
  dashboard: z
    .strictObject({
      address: z.string().default('127.0.0.1').describe('address the dashboard and its API listen on (default: this host only)'),
      port: z.number().int().min(0).max(65535).default(7780),
      enabled: z.boolean().default(true),
    })
    .prefault({}),
  deployment: z
    .strictObject({
      name: z.string().min(1).max(64).default('tonight'),
      window: z.string().regex(/^\s*([01]?\d|2[0-3]):[0-5]\d\s*-\s*([01]?\d|2[0-3]):[0-5]\d\s*$/, 'HH:MM-HH:MM, e.g. 22:00-05:00').optional().describe('install only inside this local time window (may cross midnight)'),
      cap: z.number().int().min(1).max(10000).optional().describe('at most this many machines install at once'),
      group: z.string().min(1).max(64).optional().describe("the inventory's group column names the machines"),
      machines: z.array(z.string()).default([]).describe('MACs of the machines (default: every machine)'),
      wake: z.boolean().default(false).describe('wake the machines with Wake-on-LAN, paced by the cap'),
      start: z.boolean().default(true).describe('run it from the start (false: start it from the dashboard)'),
    })
    .optional()
    .describe('the night: when machines may install, how many at once, which ones'),
  timeouts: z
    .partialRecord(z.enum(['discovered', 'loader', 'winpe', 'share', 'setup', 'applied', 'specialize', 'oobe', 'firstlogon', 'apps']), z.number().int().min(1).max(24 * 60))
    .optional()
    .describe('minutes a machine may stay in a phase before it is marked stalled'),
});

export type ServeConfig = z.output<typeof ServeConfigSchema>;
export type ServeConfigInput = z.input<typeof ServeConfigSchema>;

/** Validates a configuration; errors name the field (and the line, when read from a file). */
export function validateConfig(data: unknown, file = 'overnight.yaml', locate?: (path: readonly PropertyKey[]) => number | undefined): ServeConfig {
  const r = ServeConfigSchema.safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.path.join('.');
    const line = locate?.(issue.path);
    throw new ServeError('E_CONFIG', `${file}${line ? `:${line}` : ''}: ${path ? `${path}: ` : ''}${issue.message}`, { file, path });
  }
  const c = r.data;
  const ids = new Set<string>();
  c.media.forEach((m, i) => {
    const id = m.id ?? mediaIdFromPath(m.iso, i);
    if (ids.has(id)) throw new ServeError('E_CONFIG', `${file}: two media have the id "${id}"; give them ids (media[].id)`, { file });
    ids.add(id);
  });
  const names = new Set<string>();
  for (const p of c.profiles) {
    if (names.has(p.name)) throw new ServeError('E_CONFIG', `${file}: two profiles are called "${p.name}"`, { file });
    names.add(p.name);
    if (p.media && !ids.has(p.media)) throw new ServeError('E_CONFIG', `${file}: profile "${p.name}" names media "${p.media}", which is not one of ${[...ids].join(', ')}`, { file });
  }
  if (c.defaultProfile && !names.has(c.defaultProfile)) throw new ServeError('E_CONFIG', `${file}: defaultProfile "${c.defaultProfile}" is not one of the profiles (${[...names].join(', ')})`, { file });
  return c;
}

/** A media id from the ISO's file name: 'Win7_Pro_SP1_x64.iso' → 'win7-pro-sp1-x64'. */
export function mediaIdFromPath(path: string, index: number): string {
  const base = path.split(/[\\/]/).pop()!.replace(/\.(iso|img)$/i, '');
  const id = base.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 32).replace(/-+$/, '');
  return id || `media${index + 1}`;
}

/** Reads overnight.yaml; relative paths in it are resolved from its folder. */
export async function loadConfig(path: string): Promise<ServeConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ServeError('E_CONFIG', `cannot read ${path}: ${(e as Error).message}`, { file: path });
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) throw new ServeError('E_CONFIG', `${path}:${lc.linePos(err.pos[0]).line}: ${err.message.split('\n')[0]}`, { file: path });
  const locate = (p: readonly PropertyKey[]) => {
    for (let n = p.length; n >= 0; n--) {
      const node = doc.getIn(p.slice(0, n) as unknown[], true) as { range?: [number, number, number] } | undefined;
      if (node?.range) return lc.linePos(node.range[0]).line;
    }
    return undefined;
  };
  const c = validateConfig(doc.toJS({ maxAliasCount: 100 }), path, locate);
  const dir = dirname(resolve(path));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  return {
    ...c,
    data: c.data === undefined ? undefined : abs(c.data),
    media: c.media.map((m) => ({ ...m, iso: abs(m.iso) })),
    profiles: c.profiles.map((p) => ({ ...p, file: abs(p.file) })),
    inventory: c.inventory === undefined ? undefined : abs(c.inventory),
    loaders: c.loaders === undefined ? undefined : abs(c.loaders),
  };
}
