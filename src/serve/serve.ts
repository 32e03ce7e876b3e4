// `overnight serve`: the whole unattended network install. Media are identified and extracted into
// a share once; Samba serves that share; DHCP/ProxyDHCP, TFTP and HTTP boot every PXE client into
// iPXE, then wimboot, then Windows PE with its own start script and answer file; and every phase a
// machine reports lands in the records.
//
// Startup order is the point of this file: everything that can be checked (loaders, media,
// profiles rendered and linted for both firmware kinds, the inventory) is checked before any
// server starts, and the servers start so that none is advertised before the ones it points to
// listen: Samba, then HTTP and TFTP, then DHCP. A failure closes what had started: never half up.
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { constants as fsConstants, accessSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { compileProfile } from '../answer/compile.ts';
import { lintDocument } from '../answer/lint.ts';
import { parseProfile, type Profile } from '../answer/profile.ts';
import { RELEASE_NAMES } from '../answer/release.ts';
import { parseUnattend, renderUnattend } from '../answer/xml.ts';
import { messageScript } from '../boot/ipxe.ts';
import { type LoaderFirmware, LoaderError, findLoaders, loaderFor } from '../boot/loaders.ts';
import { DEFAULT_LOADERS, httpBase, ipxePolicy } from '../boot/policy.ts';
import { PHASES, reportCommands, WINPE_DRIVER_DIR, winpePlan, type WinpePlan } from '../boot/winpe.ts';
import type { NetEvent } from '../net/events.ts';
import { assertUdpPortFree, pickInterface } from '../net/iface.ts';
import { parsePoolRange } from '../net/dhcp/leases.ts';
import { startDhcpServer } from '../net/dhcp/server.ts';
import { type BootServers, startBootServers } from '../net/servers.ts';
import { lowestProtocol, minProtocolFor, type SmbProtocol } from '../share/config.ts';
import { loadOrCreateCredentials, type ShareCredentials } from '../share/credentials.ts';
import { findSamba, type SambaServer, type ShareEvent, startSamba } from '../share/samba.ts';
import { Store, type UnknownPolicy } from '../store/store.ts';
import type { ServeConfig } from './config.ts';
import { mediaIdFromPath } from './config.ts';
import { ServeError } from './errors.ts';
import { type InventoryMachine, parseInventory } from './inventory.ts';
import { type PreparedMedia, prepareMedia } from './media.ts';
import { startReportWatcher, type ReportWatcher } from './reports.ts';
import type { ExtractProgress } from '../media/extract.ts';

export type ServeEvent =
  | NetEvent
  | ShareEvent
  | { readonly type: 'machine.phase'; readonly time: Date; readonly mac: string; readonly phase: string; readonly source: string; readonly detail?: string | undefined }
  | { readonly type: 'serve.note'; readonly time: Date; readonly message: string };

export interface ServeOptions {
  config: ServeConfig;
  /** The data folder (already resolved). */
  dataDir: string;
  events?: ((e: ServeEvent) => void) | undefined;
  /** Progress of the steps before the servers start (extraction). */
  onProgress?: ((step: string, p?: ExtractProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
  /**
   * Test harnesses only: rewrites a machine's iPXE script before it is served (the network boot
   * tests boot a Linux kernel that stands in for wimboot, and add its checking initramfs).
   */
  bootScriptFilter?: ((mac: string, script: string, plan: MachinePlan) => string | Promise<string>) | undefined;
  /** Full DHCP mode: how long to listen for another DHCP server first (ms). */
  dhcpProbeMs?: number | undefined;
}

export interface ServeSummary {
  interface: { name: string; address: string };
  dhcp: string;
  http: string;
  tftpPort: number;
  share: { mode: 'managed' | 'external'; uncs: string[]; user: string; port?: number | undefined; protocol?: string | undefined };
  media: { id: string; release: string; arch: string; label: string; editions: number; folder: string | undefined; reused: boolean | undefined; seconds: number | undefined }[];
  profiles: { name: string; media: string; edition: string }[];
  loaders: Record<string, string>;
  /** Optional loaders not found, with how to get them. */
  missingLoaders: string[];
  inventory: number;
  unknown: UnknownPolicy;
  store: string;
}

export interface ServeHandle {
  readonly summary: ServeSummary;
  readonly store: Store;
  close(): Promise<void>;
}

export interface MachinePlan {
  mac: string;
  firmware: 'bios' | 'uefi';
  loaderFirmware: LoaderFirmware;
  profile: string;
  media: string;
  answerXml: string;
  plan: WinpePlan;
}

interface LoadedProfile {
  name: string;
  file: string;
  /** As written, but drivers.winpe: host folders replaced by the folder WinPE copies them to. */
  profile: Profile;
  media: PreparedMedia;
  /** Driver files from the profile's host folders, injected into WinPE. */
  drivers: { name: string; bytes: Buffer }[];
}

/** Phases after which the disk holds the new Windows: a network boot then boots from the disk. */
const INSTALLED: ReadonlySet<string> = new Set(['applied', 'specialize', 'oobe', 'firstlogon', 'apps', 'done']);
/** Phases that belong to one network boot: a DHCP exchange during them is the same boot. */
const BOOTING: ReadonlySet<string> = new Set(['dhcp', 'loader']);
const REPORT_SHARE = 'overnight-report$';

export async function startServe(o: ServeOptions): Promise<ServeHandle> {
  const c = o.config;
  const emit = o.events ?? (() => {});
  const note = (message: string) => emit({ type: 'serve.note', time: new Date(), message });
  const closers: (() => Promise<void> | void)[] = [];
  const closeAll = async () => {
    for (const f of closers.splice(0).reverse()) await Promise.resolve(f()).catch(() => {});
  };
  try {
    // ---- checks that need nothing started
    const iface = pickInterface(c.interface);
    // A DHCP server already on this host is found before minutes of extraction, not after.
    if (c.dhcp.mode !== 'off') for (const port of [67, 4011]) assertUdpPortFree(port, 'keep it as the DHCP server and use --dhcp off');
    const pool = c.dhcp.mode === 'full' ? { ...parsePoolRange(c.dhcp.pool), netmask: c.dhcp.netmask ?? iface.netmask, router: c.dhcp.router, dns: c.dhcp.dns, leaseSeconds: c.dhcp.leaseTime } : undefined;
    await mkdir(o.dataDir, { recursive: true });
    const bootDir = join(o.dataDir, 'boot');
    const loaders = await stageLoaders(c.loaders, o.dataDir, bootDir);

    const profiles = await Promise.all(c.profiles.map(async (p) => ({ ...p, profile: parseProfile(await readText(p.file, 'profile'), p.file) })));
    const inventory = c.inventory ? parseInventory(await readText(c.inventory, 'inventory'), c.inventory) : [];
    const mediaIds = c.media.map((m, i) => m.id ?? mediaIdFromPath(m.iso, i));
    for (const m of inventory) {
      if (m.profile && !profiles.some((p) => p.name === m.profile)) throw new ServeError('E_INVENTORY', `${c.inventory}:${m.line}: profile "${m.profile}" is not one of ${profiles.map((p) => p.name).join(', ')}`, { line: m.line });
      if (m.media && !mediaIds.includes(m.media)) throw new ServeError('E_INVENTORY', `${c.inventory}:${m.line}: media "${m.media}" is not one of ${mediaIds.join(', ')}`, { line: m.line });
    }

    const managed = c.share.mode === 'managed';
    const mediaDir = managed ? join(o.dataDir, 'media') : undefined;
    if (c.share.mode === 'external') {
      // WinPE's net use needs an account (Windows 10/11 refuse guest access), and one UNC holds one media.
      if (!c.share.user || !c.share.password) throw new ServeError('E_CONFIG', `the external share ${c.share.unc} needs --share-user and --share-password: Windows PE connects with them`);
      if (c.media.length > 1) throw new ServeError('E_CONFIG', 'an external share holds one media; serve several media with the managed share');
    }
    // What the share needs is checked before gigabytes are extracted for it.
    if (c.share.mode === 'managed') {
      await findSamba({ smbd: c.share.smbd });
      await mkdir(mediaDir!, { recursive: true });
      checkReadable(mediaDir!);
    }
    const prepared: PreparedMedia[] = [];
    closers.push(async () => {
      for (const m of prepared) await m.media.close();
    });
    // Extraction runs while everything that does not need the files starts; a stop or a failure
    // ends it before the images are closed.
    const extraction = new AbortController();
    const stopExtraction = () => extraction.abort(o.signal?.reason);
    o.signal?.addEventListener('abort', stopExtraction, { once: true });
    closers.push(async () => {
      o.signal?.removeEventListener('abort', stopExtraction);
      extraction.abort();
      await Promise.allSettled(prepared.map((m) => m.extracted));
    });
    for (const [i, m] of c.media.entries()) {
      o.signal?.throwIfAborted();
      o.onProgress?.(`media ${mediaIds[i]}: ${m.iso}`);
      prepared.push(await prepareMedia({ id: mediaIds[i]!, iso: m.iso, mediaDir, onProgress: (p) => o.onProgress?.(`extracting ${mediaIds[i]}`, p), signal: extraction.signal }));
    }

    // Every profile is rendered for both firmware kinds and linted against its media now: a
    // profile that cannot install fails here, not on the first machine at night.
    const loaded: LoadedProfile[] = await Promise.all(
      profiles.map(async (p) => {
        const d = await loadDrivers(p.file, p.profile.drivers.winpe);
        return { name: p.name, file: p.file, profile: { ...p.profile, drivers: { ...p.profile.drivers, winpe: d.paths } }, media: prepared.find((m) => m.id === (p.media ?? mediaIds[0]))!, drivers: d.files };
      }),
    );
    for (const lp of loaded) checkProfile(lp);
    const profileSummary = loaded.map((lp) => ({ name: lp.name, media: lp.media.id, edition: String(lp.profile.target.edition ?? '(the only one)') }));

    const store = Store.open(join(o.dataDir, 'overnight.sqlite'));
    closers.push(() => store.close());
    for (const m of inventory) store.seen(m.mac, { name: m.name, profile: m.profile, media: m.media, known: true });

    const record = (mac: string, phase: string, source: string, detail?: string) => {
      const ev = store.record(mac, phase, source, detail);
      emit({ type: 'machine.phase', time: ev.time, mac, phase, source, detail });
    };
    /** Client address → MAC, from iPXE's requests: Samba's connect hook only knows the address. */
    const addressOf = new Map<string, string>();

    // ---- the share (started once the media are extracted, below)
    const serverIp = iface.address;
    let credentials: ShareCredentials | undefined;
    let samba: SambaServer | undefined;
    const uncs = new Map<string, string>();
    let reportUnc: string | undefined;
    let protocol: SmbProtocol | undefined;
    const reportsDir = join(o.dataDir, 'reports');

    // ---- per-machine plans
    const httpPort = c.http.port;
    const base = httpBase(serverIp, httpPort);
    const plans = new Map<string, MachinePlan>();
    const byMac = new Map(inventory.map((m) => [m.mac, m]));
    const unknownProfile = c.defaultProfile ?? loaded[0]!.name;


    /** Why a machine gets nothing, or undefined when it may install. */
    const refusal = (mac: string): string | undefined => {
      if (byMac.has(mac)) return undefined;
      const m = store.machine(mac);
      if (c.unknown === 'all') return undefined;
      if (c.unknown === 'known-only') return `${mac} is not in the inventory (unknown machines: known-only)`;
      if (m?.approval === 'approved') return undefined;
      if (m?.approval === 'denied') return `${mac} was denied`;
      return `${mac} waits for approval: overnight machines approve ${mac}`;
    };
    const noteUnknown = (mac: string) => {
      if (byMac.has(mac)) return;
      const m = store.machine(mac);
      if (!m) store.seen(mac, { known: false, approval: c.unknown === 'approve' ? 'pending' : undefined });
      else if (c.unknown === 'approve' && !m.approval) store.setApproval(mac, 'pending');
    };

    const planFor = (mac: string, firmware: 'bios' | 'uefi', loaderFirmware: LoaderFirmware): MachinePlan => {
      const inv = byMac.get(mac);
      const lp = loaded.find((p) => p.name === (inv?.profile ?? unknownProfile))!;
      const media = inv?.media ? prepared.find((m) => m.id === inv.media)! : lp.media;
      // Unknown machines are numbered after the inventory, in the order they were first seen.
      const n = inv?.n ?? inventory.length + 1 + store.machines().filter((m) => !m.known).findIndex((m) => m.mac === mac);
      const { xml, profile } = renderFor(lp, media, firmware, mac, inv, n);
      const unc = uncs.get(media.id)!;
      const plan = winpePlan({
        mac,
        server: base,
        serverIp,
        wimbootUrl: `${base}/files/${loaderFirmware === 'efi-ia32' ? 'wimboot.i386' : 'wimboot'}`,
        media: { id: media.id, bootmgr: media.boot.bootmgr, bcd: media.boot.bcd, bootSdi: media.boot.bootSdi, bootWim: media.boot.bootWim, bootIndex: media.boot.bootIndex },
        share: { unc, user: credentials?.user ?? '', password: credentials?.password ?? '', reportUnc: reportUnc ?? '' },
        answerXml: xml,
        drivers: lp.drivers,
        firstLogon: hasFirstLogon(profile),
        title: `${media.report.release} ${media.arch} Setup`,
      });
      return { mac, firmware, loaderFirmware, profile: lp.name, media: media.id, answerXml: xml, plan };
    };

    let mediaReady = false;
    const script = async (mac: string, req: { query: URLSearchParams; remote: string }): Promise<string | undefined> => {
      // Only a machine sent by another DHCP server can ask this early.
      if (!mediaReady) return messageScript('overnight: the install media are still being extracted on the server; this machine restarts and tries again.');
      noteUnknown(mac);
      addressOf.set(req.remote.replace(/:\d+$/, ''), mac);
      const refused = refusal(mac);
      if (refused) return messageScript(`overnight: ${refused}`);
      const m = store.machine(mac);
      if (m?.phase && INSTALLED.has(m.phase)) {
        record(mac, 'note', 'http', `booted from the network in phase ${m.phase}: sent to the local disk`);
        return localBootScript(mac, m.phase);
      }
      const platform = req.query.get('platform');
      // iPXE knows its platform; asking it is exact even where DHCP said nothing (dhcp off, chainloads).
      if (!platform) return `#!ipxe\nchain ${base}/boot/${mac}.ipxe?platform=\${platform}&buildarch=\${buildarch} || goto failed\nexit\n:failed\necho overnight: could not fetch the boot script from ${base}\nprompt --timeout 60000 Press a key for the iPXE shell || reboot\nshell\n`;
      const firmware = platform === 'efi' ? 'uefi' : 'bios';
      const arch = req.query.get('buildarch') ?? '';
      const loaderFirmware: LoaderFirmware = firmware === 'bios' ? 'bios' : arch === 'i386' ? 'efi-ia32' : 'efi-x64';
      let p: MachinePlan;
      try {
        p = planFor(mac, firmware, loaderFirmware);
      } catch (e) {
        const why = (e as Error).message;
        record(mac, 'failed', 'http', `no boot plan: ${why}`);
        return messageScript(`overnight: no boot plan for ${mac}: ${why}`);
      }
      plans.set(mac, p);
      store.seen(mac, { firmware: loaderFirmware });
      record(mac, 'loader', 'http', `iPXE (${platform} ${arch}) fetched its boot script: ${p.profile} on ${p.media}, ${firmware === 'uefi' ? 'GPT' : 'MBR'} layout`);
      return o.bootScriptFilter ? await o.bootScriptFilter(mac, p.plan.script, p) : p.plan.script;
    };

    const report = (mac: string, phase: string, detail: string): string | undefined => {
      if (!(PHASES as readonly string[]).includes(phase)) return `unknown phase "${phase}" (one of ${PHASES.join(', ')})`;
      if (!store.machine(mac)) return `${mac} is not a machine this server booted`;
      record(mac, phase, 'report', detail.trim().slice(0, 1000) || undefined);
      return undefined;
    };

    // ---- the network servers
    const onNet = (e: NetEvent) => {
      emit(e);
      if ((e.type === 'dhcp.offer' || e.type === 'dhcp.ack') && e.bootFile) {
        noteUnknown(e.mac);
        const m = store.machine(e.mac);
        store.seen(e.mac, { firmware: e.arch });
        if (m?.phase && INSTALLED.has(m.phase)) return;
        if (!m?.phase || !BOOTING.has(m.phase)) record(e.mac, 'dhcp', 'dhcp', `${e.arch ?? 'unknown'} firmware${e.ipxe ? ' (iPXE)' : ''}: ${e.bootFile}`);
      }
    };
    const allow = (mac: string) => {
      noteUnknown(mac);
      return refusal(mac);
    };
    const servers: BootServers = await startBootServers({
      events: onNet,
      http: {
        port: httpPort,
        files: bootDir,
        media: prepared.map((m) => ({ id: m.id, fs: m.media })),
        script,
        machineFile: (mac, name) => plans.get(mac)?.plan.files.get(name),
        report: (mac, phase, detail) => report(mac, phase, detail),
        routes: {
          '/api/machines': () => store.machines(),
          '/api/events': (req) => store.events(req.query.get('mac') ?? undefined),
        },
      },
      tftp: { root: bootDir, port: c.tftp.port, media: prepared.map((m) => ({ prefix: `media/${m.id}`, fs: m.media })) },
    });
    closers.push(() => servers.close());

    // Samba, then DHCP (which sends machines here), start once the share holds every file. Samba
    // is not started beside the extraction: from a cold disk, loading its programs slows the
    // extraction by more than it saves.
    await Promise.all(prepared.map((m) => m.extracted));
    o.signal?.throwIfAborted();
    if (managed) for (const m of prepared) checkReadable(m.shareDir!);
    if (c.share.mode === 'managed') {
      credentials = await loadOrCreateCredentials(join(o.dataDir, 'samba'));
      await mkdir(reportsDir, { recursive: true });
      protocol = lowestProtocol(prepared.map((m) => minProtocolFor(m.release)));
      samba = await startSamba({
        stateDir: join(o.dataDir, 'samba'),
        port: c.share.port,
        addresses: [iface.name],
        minProtocol: protocol,
        shares: [...prepared.map((m) => ({ name: m.id, path: m.shareDir!, comment: `${m.report.release} ${m.arch} (overnight)` })), { name: REPORT_SHARE, path: reportsDir, comment: 'overnight: progress reports', writable: true }],
        credentials,
        events: (e) => {
          emit(e);
          const mac = e.type === 'share.connect' ? addressOf.get(e.client) : undefined;
          if (e.type === 'share.connect' && mac) record(mac, 'note', 'smb', `connected to \\\\${serverIp}\\${e.share} from ${e.client}`);
        },
        smbd: c.share.smbd,
      });
      closers.push(() => samba!.close());
      for (const m of prepared) uncs.set(m.id, `\\\\${serverIp}\\${m.id}`);
      reportUnc = `\\\\${serverIp}\\${REPORT_SHARE}`;
    } else {
      // An existing share holds the extracted media.
      uncs.set(prepared[0]!.id, c.share.unc);
      credentials = { user: c.share.user!, password: c.share.password! };
    }

    mediaReady = true;
    if (c.dhcp.mode !== 'off') {
      const dhcp = await startDhcpServer({
        events: onNet,
        mode: c.dhcp.mode,
        interface: iface.name,
        policy: ipxePolicy({ httpPort, loaders: loaders.ipxe, chainloadIpxe: c.chainloadIpxe, allow }),
        pool,
        leasesFile: pool ? join(o.dataDir, 'leases.sqlite') : undefined,
        probeMs: o.dhcpProbeMs,
        onMalformed: (err, from) => note(`ignored a bad DHCP packet from ${from}: ${err.message}`),
      });
      closers.push(() => dhcp.close());
    }

    // WinPE reports arrive as files in the report share; each becomes a record, then goes.
    let watcher: ReportWatcher | undefined;
    if (managed) {
      watcher = startReportWatcher({
        dir: reportsDir,
        logsDir: join(o.dataDir, 'logs'),
        onReport: (r) => {
          const refused = report(r.mac, r.phase, r.reason ?? '');
          if (refused) note(`report file ${r.file} ignored: ${refused}`);
        },
        onJunk: (file, why) => note(`report share: removed ${file}: ${why}`),
      });
      closers.push(() => watcher!.close());
    }

    const summary: ServeSummary = {
      interface: { name: iface.name, address: iface.cidr },
      dhcp: c.dhcp.mode,
      http: base,
      tftpPort: c.tftp.port,
      share: { mode: c.share.mode, uncs: [...uncs.values()], user: credentials?.user ?? '(none)', port: samba?.port, protocol },
      media: prepared.map((m) => ({
        id: m.id,
        release: m.report.release,
        arch: m.arch,
        label: m.media.label,
        editions: m.report.editions.length,
        folder: m.shareDir,
        reused: m.extraction?.reused,
        seconds: m.extraction?.seconds,
      })),
      profiles: profileSummary,
      loaders: loaders.names,
      missingLoaders: loaders.missing,
      inventory: inventory.length,
      unknown: c.unknown,
      store: store.path,
    };
    let closing: Promise<void> | undefined;
    return {
      summary,
      store,
      close: () => (closing ??= closeAll()),
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/** A machine's answer file, rendered and linted: one with errors is never served. */
function renderFor(lp: LoadedProfile, media: PreparedMedia, firmware: 'bios' | 'uefi', mac: string, inv: InventoryMachine | undefined, n: number): { xml: string; profile: Profile } {
  const overrides: Record<string, unknown> = { ...(inv?.name && inv.overrides['computerName'] === undefined ? { computerName: inv.name } : {}), ...(inv?.overrides ?? {}) };
  const profile: Profile = Object.keys(overrides).length ? { ...lp.profile, machines: { ...lp.profile.machines, [mac]: overrides } } : lp.profile;
  const rc = reportCommands({ firstLogon: hasFirstLogon(profile) });
  const r = compileProfile(profile, {
    machine: { mac, name: inv?.name, n },
    firmware,
    media: { images: media.report.editions.map((e) => ({ index: e.index, name: e.name, editionId: e.editionId })) },
    around: { specialize: rc.specialize, firstLogonStart: rc.firstLogonStart, firstLogonEnd: rc.firstLogonEnd },
  });
  const xml = renderUnattend(r.doc);
  const ds = lintDocument(parseUnattend(xml).doc, { release: r.profile.target.release, arch: r.profile.target.arch, media: lintMedia(media), unattendedInstall: true });
  const errors = ds.filter((d) => d.severity === 'error');
  if (errors.length) throw new ServeError('E_PROFILE_MEDIA', `the answer file of ${mac} (profile ${lp.name}, ${firmware}) has errors: ${errors.map((d) => `${d.code} ${d.message}`).join('; ')}`, { mac, profile: lp.name });
  return { xml, profile: r.profile };
}

/** A profile that cannot install on its media fails at start, not on the first machine at night. */
function checkProfile(lp: LoadedProfile): void {
  const t = lp.profile.target;
  if (t.release !== lp.media.release) throw new ServeError('E_PROFILE_MEDIA', `profile ${lp.name} (${lp.file}) installs ${RELEASE_NAMES[t.release]}, but media ${lp.media.id} is ${lp.media.report.release}`, { profile: lp.name });
  if (t.arch !== lp.media.arch) throw new ServeError('E_PROFILE_MEDIA', `profile ${lp.name} (${lp.file}) is for ${t.arch}, but media ${lp.media.id} is ${lp.media.arch}`, { profile: lp.name });
  const eds = lp.media.report.editions;
  if (typeof t.edition === 'string' && !eds.some((e) => e.name.toLowerCase() === t.edition!.toString().toLowerCase())) {
    throw new ServeError('E_PROFILE_MEDIA', `profile ${lp.name}: edition "${t.edition}" is not on media ${lp.media.id}; it has ${eds.map((e) => `"${e.name}"`).join(', ')}`, { profile: lp.name });
  }
  if (typeof t.edition === 'number' && !eds.some((e) => e.index === t.edition)) {
    throw new ServeError('E_PROFILE_MEDIA', `profile ${lp.name}: media ${lp.media.id} has no image ${t.edition} (it has 1-${eds.length})`, { profile: lp.name });
  }
  const probe = '02:00:00:00:00:01';
  for (const fw of ['bios', 'uefi'] as const) {
    if (fw === 'uefi' && lp.media.arch === 'x86' && lp.profile.disk.layout === 'auto') continue; // 32-bit Windows before 8 has no UEFI Setup
    renderFor(lp, lp.media, fw, probe, undefined, 1);
  }
}


const DRIVER_FILE = /\.(inf|sys|cat|dll)$/i;

/**
 * A profile's WinPE drivers: entries that are folders on this host (relative to the profile) are
 * read now, their .inf/.sys/.cat/.dll files injected into WinPE (flat, as wimboot injects) and
 * offered to Setup from the folder the start script copies them to; Windows paths stay as given.
 */
async function loadDrivers(profileFile: string, entries: readonly string[]): Promise<{ files: { name: string; bytes: Buffer }[]; paths: string[] }> {
  const files: { name: string; bytes: Buffer }[] = [];
  const paths: string[] = [];
  const seen = new Map<string, string>();
  for (const entry of entries) {
    if (/^([a-zA-Z]:\\|\\\\|%)/.test(entry)) {
      paths.push(entry);
      continue;
    }
    const dir = resolve(dirname(profileFile), entry);
    let list: string[];
    try {
      list = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile() && DRIVER_FILE.test(e.name)).map((e) => join(e.parentPath, e.name));
    } catch (e) {
      throw new ServeError('E_CONFIG', `${profileFile}: drivers.winpe "${entry}" is neither a Windows path nor a folder here (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file: profileFile, entry });
    }
    if (!list.some((f) => /\.inf$/i.test(f))) throw new ServeError('E_CONFIG', `${profileFile}: drivers.winpe folder ${dir} holds no .inf file`, { file: profileFile, entry });
    for (const f of list.sort()) {
      const name = f.slice(f.lastIndexOf('/') + 1);
      const prev = seen.get(name.toLowerCase());
      if (prev) throw new ServeError('E_CONFIG', `${profileFile}: driver files ${prev} and ${f} have the same name; WinPE gets them in one folder`, { file: profileFile });
      seen.set(name.toLowerCase(), f);
      files.push({ name, bytes: await readFile(f) });
    }
  }
  if (files.length) paths.push(WINPE_DRIVER_DIR);
  return { files, paths };
}

function hasFirstLogon(p: Profile): boolean {
  // First-logon commands run only when someone logs on: with autologon, or not at all unattended.
  return p.accounts.autologon !== undefined;
}

function lintMedia(m: PreparedMedia) {
  return { images: m.report.editions.map((e) => ({ index: e.index, name: e.name, editionId: e.editionId, arch: e.architecture })), languages: m.report.languages, arch: m.arch };
}

/** A machine whose disk already holds the new Windows boots it (BIOS: the first disk; UEFI: the next boot entry). */
function localBootScript(mac: string, phase: string): string {
  return [
    '#!ipxe',
    `echo overnight: Windows is installed on ${mac} (${phase}); starting it from the local disk.`,
    `echo To install this machine again: overnight machines redeploy ${mac}`,
    'sleep 3',
    'iseq ${platform} pcbios && sanboot --no-describe --drive 0x80 ||',
    'exit',
    '',
  ].join('\n');
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
function checkReadable(dir: string): void {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const st = statSync(d);
    if ((st.mode & 0o001) === 0) {
      throw new ServeError('E_PERMISSIONS', `Samba serves the install share as an unprivileged account, which cannot enter ${d} (mode ${(st.mode & 0o777).toString(8)}). Choose a data folder others can reach (e.g. --data /srv/overnight), or chmod o+x ${d}`, { dir: d });
    }
    if (d === dirname(d)) break;
  }
  accessSync(dir, fsConstants.R_OK);
}

interface StagedLoaders {
  /** TFTP names by firmware for the DHCP policy. */
  ipxe: Partial<Record<LoaderFirmware, string>>;
  /** What is served, for the summary: name → where it came from. */
  names: Record<string, string>;
  /** Optional loaders not found (32-bit UEFI), each with how to get it. */
  missing: string[];
}

/** Copies the iPXE loaders and wimboot into the folder TFTP and HTTP serve; refuses to start without them. */
async function stageLoaders(dir: string | undefined, dataDir: string, bootDir: string): Promise<StagedLoaders> {
  const set = await findLoaders({ dir, dataDir });
  await mkdir(bootDir, { recursive: true });
  const ipxe: Partial<Record<LoaderFirmware, string>> = {};
  const names: Record<string, string> = {};
  const missing: string[] = [];
  const copy = async (path: string, name: string) => {
    await copyFile(path, join(bootDir, name));
    names[name] = path;
  };
  for (const fw of ['bios', 'efi-x64', 'efi-ia32'] as const) {
    try {
      const e = loaderFor(set, fw, 'ipxe');
      await copy(e.path, DEFAULT_LOADERS[fw]!);
      ipxe[fw] = DEFAULT_LOADERS[fw]!;
    } catch (e) {
      if (!(e instanceof LoaderError)) throw e;
      if (fw !== 'efi-ia32') throw e;
      missing.push(`32-bit UEFI clients: ${e.message}`);
    }
  }
  // wimboot is what starts Windows PE: without it nothing can install.
  await copy(loaderFor(set, 'bios', 'wimboot').path, 'wimboot');
  try {
    await copy(loaderFor(set, 'efi-ia32', 'wimboot').path, 'wimboot.i386');
  } catch (e) {
    if (!(e instanceof LoaderError)) throw e;
    if (ipxe['efi-ia32']) missing.push(`32-bit UEFI clients: ${e.message}`);
  }
  return { ipxe, names, missing };
}

