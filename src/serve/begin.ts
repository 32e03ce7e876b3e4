// The first part of `overnight serve`'s start: the checks that need nothing started, then the media
// opened and their copy begun. It loads only what that needs, so that the CLI can run it before
// the servers' code (a quarter of a second of module loading on a small host) and the copy, which
// is most of a first start, is under way sooner. startServe goes on from here, or runs it itself.
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseProfile, type Profile } from '../answer/profile.ts';
import { assertUdpPortFree, type Interface, pickInterface } from '../net/iface.ts';
import { parsePoolRange } from '../net/dhcp/leases.ts';
import { locateSamba } from '../share/samba.ts';
import { type InventoryMachine, parseInventoryFile } from '../fleet/inventory.ts';
import { mediaIdFromPath, type ServeConfig } from './config.ts';
import { ServeError } from './errors.ts';
import { type BegunMedia, beginMedia } from './media.ts';

export interface BeginOptions {
  /** Stops the copies. (Their progress goes where prepareMedia says.) */
  signal?: AbortSignal | undefined;
}

export interface Begun {
  readonly config: ServeConfig;
  readonly dataDir: string;
  readonly iface: Interface;
  readonly pool: ReturnType<typeof parsePoolRange> | undefined;
  readonly profiles: { name: string; file: string; media?: string | undefined; profile: Profile }[];
  readonly inventory: InventoryMachine[];
  readonly mediaIds: string[];
  /** Where overnight's own share keeps extracted media; undefined for an external share. */
  readonly mediaDir: string | undefined;
  /** The media in config order, opened, with their copies under way (managed share). */
  readonly media: BegunMedia[];
  /** Stops every copy, waits for it and closes the images (a start that goes no further). */
  abandon(): Promise<void>;
}

/**
 * Checks the configuration against this host (interface, DHCP ports, profiles, inventory, the
 * share and Samba's programs), then opens every media and begins its copy. A failure stops what
 * was begun and throws one ServeError.
 */
export async function beginServe(c: ServeConfig, dataDir: string, o: BeginOptions = {}): Promise<Begun> {
  const iface = pickInterface(c.interface);
  // A DHCP server already on this host is found before minutes of extraction, not after.
  if (c.dhcp.mode !== 'off') for (const port of [67, 4011]) assertUdpPortFree(port, 'keep it as the DHCP server and use --dhcp off');
  const pool = c.dhcp.mode === 'full' ? parsePoolRange(c.dhcp.pool) : undefined;
  await mkdir(dataDir, { recursive: true });

  const profiles = await Promise.all(c.profiles.map(async (p) => ({ ...p, profile: parseProfile(await readText(p.file, 'profile'), p.file) })));
  const inventory = c.inventory ? await parseInventoryFile(c.inventory) : [];
  const mediaIds = c.media.map((m, i) => m.id ?? mediaIdFromPath(m.iso, i));
  for (const m of inventory) {
    if (m.profile && !profiles.some((p) => p.name === m.profile)) throw new ServeError('E_INVENTORY', `${c.inventory}:${m.line}: profile "${m.profile}" is not one of ${profiles.map((p) => p.name).join(', ')}`, { line: m.line });
    if (m.media && !mediaIds.includes(m.media)) throw new ServeError('E_INVENTORY', `${c.inventory}:${m.line}: media "${m.media}" is not one of ${mediaIds.join(', ')}`, { line: m.line });
  }

  const mediaDir = c.share.mode === 'managed' ? join(dataDir, 'media') : undefined;
  if (c.share.mode === 'external') {
    // WinPE's net use needs an account (Windows 10/11 refuse guest access), and one UNC holds one media.
    if (!c.share.user || !c.share.password) throw new ServeError('E_CONFIG', `the external share ${c.share.unc} needs --share-user and --share-password: Windows PE connects with them`);
    if (c.media.length > 1) throw new ServeError('E_CONFIG', 'an external share holds one media; serve several media with the managed share');
  } else {
    // What the share needs is checked before gigabytes are extracted for it: a folder Samba's
    // account can enter, and Samba's programs (a missing smbd is told before any media is opened).
    await mkdir(mediaDir!, { recursive: true });
    checkReadable(mediaDir!);
    await locateSamba({ smbd: c.share.smbd });
  }

  const media: BegunMedia[] = [];
  const abandon = async () => {
    for (const m of media.splice(0)) await m.abandon(false);
  };
  try {
    for (const [i, m] of c.media.entries()) {
      o.signal?.throwIfAborted();
      media.push(await beginMedia({ id: mediaIds[i]!, iso: m.iso, mediaDir, signal: o.signal }));
    }
  } catch (e) {
    await abandon();
    throw e;
  }
  return { config: c, dataDir, iface, pool, profiles, inventory, mediaIds, mediaDir, media, abandon };
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new ServeError('E_CONFIG', `cannot read the ${what} ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { file: path });
  }
}

/**
 * Samba serves the files as an unprivileged account: every folder above the share must let others
 * through, or Windows PE gets "access denied" with nothing on the server to say why.
 */
export function checkReadable(dir: string): void {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const st = statSync(d);
    if ((st.mode & 0o001) === 0) {
      throw new ServeError('E_PERMISSIONS', `Samba serves the install share as an unprivileged account, which cannot enter ${d} (mode ${(st.mode & 0o777).toString(8)}). Choose a data folder others can reach (e.g. --data /srv/overnight), or chmod o+x ${d}`, { dir: d });
    }
    if (d === dirname(d)) break;
  }
  accessSync(dir, fsConstants.R_OK);
}
