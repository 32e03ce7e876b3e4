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
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { compileProfile } from '../answer/compile.ts';
import { lintDocument } from '../answer/lint.ts';
import type { Profile } from '../answer/profile.ts';
import { RELEASE_NAMES } from '../answer/release.ts';
import { parseUnattend, renderUnattend } from '../answer/xml.ts';
import { messageScript } from '../boot/ipxe.ts';
import { type LoaderFirmware, LoaderError, findLoaders, loaderFor } from '../boot/loaders.ts';
import { DEFAULT_LOADERS, httpBase, ipxePolicy } from '../boot/policy.ts';
import { PHASES, reportCommands, WINPE_DRIVER_DIR, winpePlan, type WinpePlan } from '../boot/winpe.ts';
import type { NetEvent } from '../net/events.ts';
import { startDhcpServer } from '../net/dhcp/server.ts';
import { type BootServers, startBootServers } from '../net/servers.ts';
import { lowestProtocol, minProtocolFor, type SmbProtocol } from '../share/config.ts';
import { loadOrCreateCredentials, type ShareCredentials } from '../share/credentials.ts';
import { findSamba, type PreparedSamba, prepareSamba, type SambaServer, type ShareEvent } from '../share/samba.ts';
import { Store, type UnknownPolicy } from '../store/store.ts';
import { describeDeployment, Fleet, reportData } from '../fleet/fleet.ts';
import { formatReport, morningReport } from '../fleet/report.ts';
import { VERSION } from '../version.ts';
import { sendWake } from '../fleet/wol.ts';
import { INSTALLED_PHASES, isPhase } from '../fleet/model.ts';
import { loadOrCreateToken, maskAnswerFile, maskSecret } from '../fleet/secrets.ts';
import { type DashboardServer, startDashboard } from '../net/http/dashboard.ts';
import type { ServeConfig } from './config.ts';
import { ServeError } from './errors.ts';
import type { InventoryMachine } from '../fleet/inventory.ts';
import { type PreparedMedia, prepareMedia } from './media.ts';
import { type Begun, beginServe, checkReadable } from './begin.ts';
import { startReportWatcher, type ReportWatcher } from './reports.ts';
import type { ExtractProgress } from '../media/extract.ts';

export type ServeEvent =
  | NetEvent
  | ShareEvent
  | { readonly type: 'machine.phase'; readonly time: Date; readonly mac: string; readonly phase: string; readonly source: string; readonly detail?: string | undefined }
  | { readonly type: 'serve.note'; readonly time: Date; readonly message: string };

export interface ServeDashboard {
  /** The dashboard's address with the admin token in the fragment. */
  url: string;
  token: string;
  tokenFile: string;
  /** A new token was made on this start (print it). */
  created: boolean;
}

export interface ServeOptions {
  config: ServeConfig;
  /** The data folder (already resolved). */
  dataDir: string;
  events?: ((e: ServeEvent) => void) | undefined;
  /** Progress of the steps before the servers start (extraction). */
  onProgress?: ((step: string, p?: ExtractProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** The checks done and the copies begun (beginServe with the same config and data folder); else startServe runs them. */
  begun?: Begun | undefined;
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
  dashboard: ServeDashboard | undefined;
  deployment: string | undefined;
}

export interface ServeHandle {
  readonly summary: ServeSummary;
  readonly store: Store;
  readonly fleet: Fleet;
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

const REPORT_SHARE = 'overnight-report$';
/** Machine plans kept rendered: more than boot at one moment on a segment. */
const PLAN_CACHE = 64;

export async function startServe(o: ServeOptions): Promise<ServeHandle> {
  const c = o.config;
  const emit = o.events ?? (() => {});
  const note = (message: string) => emit({ type: 'serve.note', time: new Date(), message });
  const closers: (() => Promise<void> | void)[] = [];
  const closeAll = async () => {
    for (const f of closers.splice(0).reverse()) await Promise.resolve(f()).catch(() => {});
  };
  try {
    // ---- checks that need nothing started, and the copies of the media begun
    const begun = o.begun ?? (await beginServe(c, o.dataDir, { signal: o.signal }));
    // The images are closed (a copy still under way stopped first) when serve stops or its start fails.
    closers.push(() => begun.abandon());
    if (begun.config !== c || begun.dataDir !== o.dataDir) throw new Error('startServe: the begun start is for another configuration');
    const { iface, profiles, inventory, mediaIds, mediaDir } = begun;
    const pool = begun.pool && { ...begun.pool, netmask: c.dhcp.netmask ?? iface.netmask, router: c.dhcp.router, dns: c.dhcp.dns, leaseSeconds: c.dhcp.leaseTime };
    const bootDir = join(o.dataDir, 'boot');

    // ---- the share
    // Samba is set up (the account in its passdb, the port probe) while the media are identified,
    // and smbd starts as soon as their folders are named, beside the extraction: on a
    // host where Samba's programs take a second to start, that second hides behind the copy.
    // No client is sent here before DHCP starts, and DHCP waits for the last file.
    const serverIp = iface.address;
    let credentials: ShareCredentials | undefined;
    let samba: SambaServer | undefined;
    const uncs = new Map<string, string>();
    let reportUnc: string | undefined;
    let protocol: SmbProtocol | undefined;
    const reportsDir = join(o.dataDir, 'reports');
    /** Connects Samba's hook reports; set once the records are open (smbd starts after that). */
    let onShareConnect: (e: Extract<ShareEvent, { type: 'share.connect' }>) => void = () => {};
    let sambaSetUp: Promise<PreparedSamba> | undefined;
    if (c.share.mode === 'managed') {
      const share = c.share;
      // (beginServe found Samba's programs before any media was opened.) smbd is run, for its
      // version, with the rest of the set-up.
      sambaSetUp = (async () => {
        await findSamba({ smbd: share.smbd });
        credentials = await loadOrCreateCredentials(join(o.dataDir, 'samba'));
        await mkdir(reportsDir, { recursive: true });
        return prepareSamba({
          stateDir: join(o.dataDir, 'samba'),
          port: share.port,
          addresses: [iface.name],
          credentials,
          events: (e) => {
            emit(e);
            if (e.type === 'share.connect') onShareConnect(e);
          },
          smbd: share.smbd,
        });
      })();
      // Settled by whoever awaits it; a failure also ends the extraction (below).
      sambaSetUp.catch(() => {});
    }
    const prepared: PreparedMedia[] = [];
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
      const pm = await prepareMedia(
        {
          id: mediaIds[i]!,
          iso: m.iso,
          mediaDir,
          onProgress: (p) => o.onProgress?.(`extracting ${mediaIds[i]}`, p),
          signal: extraction.signal,
        },
        begun.media[i],
      );
      prepared.push(pm);
    }
    // The loaders are checked and copied while the extraction runs: nothing needs them before it ends.
    const staging = stageLoaders(c.loaders, o.dataDir, bootDir);
    staging.catch(() => {});
    // smbd starts now, on folders that are still filling (see "the share" above).
    let sambaStarted: Promise<SambaServer> | undefined;
    if (sambaSetUp) {
      for (const m of prepared) checkReadable(m.shareDir!);
      protocol = lowestProtocol(prepared.map((m) => minProtocolFor(m.release)));
      const shares = [...prepared.map((m) => ({ name: m.id, path: m.shareDir!, comment: `${m.report.release} ${m.arch} (overnight)` })), { name: REPORT_SHARE, path: reportsDir, comment: 'overnight: progress reports', writable: true }];
      sambaStarted = sambaSetUp.then((p) => p.start({ minProtocol: protocol!, shares }));
      // A share that cannot start (port 445 taken) ends the extraction now, not minutes later.
      sambaStarted.catch(() => extraction.abort());
      closers.push(async () => {
        await (await sambaStarted!.catch(() => undefined))?.close();
      });
    }

    const loaders = await staging;

    // Every profile is rendered for both firmware kinds and linted against its media now: a
    // profile that cannot install fails here, not on the first machine at night.
    const loaded: LoadedProfile[] = await Promise.all(
      profiles.map(async (p) => {
        const d = await loadDrivers(p.file, p.profile.drivers.winpe);
        return { name: p.name, file: p.file, profile: { ...p.profile, drivers: { ...p.profile.drivers, winpe: d.paths } }, media: prepared.find((m) => m.id === (p.media ?? mediaIds[0]))!, drivers: d.files };
      }),
    );
    const lints = new Map(loaded.map((lp) => [lp.name, checkProfile(lp)]));
    const profileSummary = loaded.map((lp) => ({ name: lp.name, media: lp.media.id, edition: String(lp.profile.target.edition ?? '(the only one)') }));

    const store = Store.open(join(o.dataDir, 'overnight.sqlite'));
    closers.push(() => store.close());
    for (const m of inventory) store.seen(m.mac, { name: m.name, profile: m.profile, media: m.media, group: m.group, overrides: m.overrides, known: true });
    const fleet = new Fleet({
      store,
      tickMs: 1000,
      timeouts: Object.fromEntries(Object.entries(c.timeouts ?? {}).map(([k, v]) => [k, v * 60_000])),
      wake: wakeOn(iface.address, iface.broadcast),
    });
    closers.push(() => fleet.close());
    fleet.subscribe((ch) => {
      if (ch.type === 'event' && ch.event.phase !== 'note') emit({ type: 'machine.phase', time: new Date(ch.event.time), mac: ch.event.mac, phase: ch.event.phase, source: ch.event.source, detail: ch.event.detail ?? undefined });
    });
    if (c.deployment) {
      const d = c.deployment;
      fleet.setDeployment({ name: d.name, window: d.window?.trim() ?? null, cap: d.cap ?? null, group: d.group ?? null, machines: d.machines.map((m) => m.toLowerCase().replace(/-/g, ':')), wake: d.wake }, 'config');
      if (d.start && fleet.deployment()?.state !== 'running') fleet.startDeployment('config');
    }
    /** Client address → MAC, from iPXE's requests: Samba's connect hook only knows the address. */
    const addressOf = new Map<string, string>();

    onShareConnect = (e) => {
      const mac = addressOf.get(e.client);
      if (mac) fleet.note(mac, 'smb', `connected to \\\\${serverIp}\\${e.share} from ${e.client}`);
    };

    // ---- per-machine plans
    const httpPort = c.http.port;
    const base = httpBase(serverIp, httpPort);
    // The plans of the machines booting now; any other is rendered again when asked for (the
    // rendering is deterministic): five hundred kept plans would hold tens of megabytes.
    const plans = new Map<string, MachinePlan>();
    const keepPlan = (p: MachinePlan) => {
      plans.delete(p.mac);
      plans.set(p.mac, p);
      if (plans.size > PLAN_CACHE) plans.delete(plans.keys().next().value!);
    };
    const planOf = (mac: string): MachinePlan | undefined => {
      const kept = plans.get(mac);
      if (kept) return kept;
      // Rendered again for the firmware its last boot reported.
      const fw = store.machine(mac)?.firmware;
      if (!fw) return undefined;
      const lf: LoaderFirmware = fw === 'bios' ? 'bios' : fw === 'efi-ia32' ? 'efi-ia32' : 'efi-x64';
      try {
        const p = planFor(mac, lf === 'bios' ? 'bios' : 'uefi', lf);
        keepPlan(p);
        return p;
      } catch {
        return undefined;
      }
    };
    // The inventory lives in the records: the file's machines are loaded there at each start, and
    // machines imported or edited since (overnight machines import, the dashboard) count the same.
    const knownMachine = (mac: string) => store.machine(mac)?.known === true;
    const unknownProfile = c.defaultProfile ?? loaded[0]!.name;


    /** Why a machine gets nothing, or undefined when it may install. */
    const refusal = (mac: string): string | undefined => {
      if (knownMachine(mac)) return undefined;
      const m = store.machine(mac);
      if (c.unknown === 'all') return undefined;
      if (c.unknown === 'known-only') return `${mac} is not in the inventory (unknown machines: known-only)`;
      if (m?.approval === 'approved') return undefined;
      if (m?.approval === 'denied') return `${mac} was denied`;
      return `${mac} waits for approval: overnight machines approve ${mac}`;
    };
    const noteUnknown = (mac: string) => {
      if (knownMachine(mac)) return;
      const m = store.machine(mac);
      if (!m) fleet.seen(mac, { known: false, approval: c.unknown === 'approve' ? 'pending' : undefined });
      else if (c.unknown === 'approve' && !m.approval) fleet.setApproval(mac, 'pending', 'policy');
    };

    const planFor = (mac: string, firmware: 'bios' | 'uefi', loaderFirmware: LoaderFirmware): MachinePlan => {
      const rec = store.machine(mac);
      const inv = rec?.known ? rec : undefined;
      const lp = loaded.find((p) => p.name === (inv?.profile ?? unknownProfile));
      if (!lp) throw new ServeError('E_INVENTORY', `its profile "${inv?.profile}" is not one of ${loaded.map((p) => p.name).join(', ')}`, { mac });
      const media = inv?.media ? prepared.find((m) => m.id === inv.media) : lp.media;
      if (!media) throw new ServeError('E_INVENTORY', `its media "${inv?.media}" is not one of ${prepared.map((m) => m.id).join(', ')}`, { mac });
      // Machines are numbered in the order they entered the records: the inventory first, then
      // unknown machines in the order they were first seen.
      const n = store.machineNumber(mac) ?? 1;
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
      const address = req.remote.replace(/:\d+$/, '');
      addressOf.set(address, mac);
      fleet.seen(mac, { address });
      const refused = refusal(mac);
      if (refused) return messageScript(`overnight: ${refused}`);
      // Installed, outside the night's window, over its cap, not in the deployment: the local disk.
      const decision = fleet.decideBoot(mac);
      if (!decision.install) {
        fleet.deferred(mac, decision.reason!);
        return localBootScript(mac, decision.reason!);
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
        fleet.fail(mac, `no boot plan: ${why}`, 'http');
        return messageScript(`overnight: no boot plan for ${mac}: ${why}`);
      }
      keepPlan(p);
      fleet.seen(mac, { firmware: loaderFirmware });
      // Taking the loader phase takes the install slot, in the same turn as the decision above.
      fleet.phase(mac, 'loader', 'http', `iPXE (${platform} ${arch}) fetched its boot script: ${p.profile} on ${p.media}, ${firmware === 'uefi' ? 'GPT' : 'MBR'} layout`);
      return o.bootScriptFilter ? await o.bootScriptFilter(mac, p.plan.script, p) : p.plan.script;
    };

    const report = (mac: string, phase: string, detail: string): string | undefined => {
      if (!(PHASES as readonly string[]).includes(phase)) return `unknown phase "${phase}" (one of ${PHASES.join(', ')})`;
      if (!store.machine(mac)) return `${mac} is not a machine this server booted`;
      const text = detail.trim().slice(0, 1000);
      if (phase === 'failed') fleet.fail(mac, text || 'no reason given', 'report');
      else if (isPhase(phase)) fleet.phase(mac, phase, 'report', text || undefined);
      return undefined;
    };

    // ---- the network servers
    const onNet = (e: NetEvent) => {
      emit(e);
      if ((e.type === 'dhcp.offer' || e.type === 'dhcp.ack') && e.bootFile) {
        noteUnknown(e.mac);
        fleet.seen(e.mac, { firmware: e.arch });
        // The first DHCP of a boot starts it; the next ones of the same boot (the PXE ROM's, then
        // iPXE's) and an installed machine's only note it.
        const v = fleet.view(e.mac);
        const detail = `${e.arch ?? 'unknown'} firmware${e.ipxe ? ' (iPXE)' : ''}: ${e.bootFile}`;
        if ((v?.phase && (INSTALLED_PHASES.has(v.phase) || v.phase === 'discovered' || v.phase === 'loader') && v.state !== 'failed' && !v.redeploy)) fleet.note(e.mac, 'dhcp', detail);
        else fleet.phase(e.mac, 'discovered', 'dhcp', detail);
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
        machineFile: (mac, name) => planOf(mac)?.plan.files.get(name),
        report: (mac, phase, detail) => report(mac, phase, detail),
      },
      tftp: { root: bootDir, port: c.tftp.port, media: prepared.map((m) => ({ prefix: `media/${m.id}`, fs: m.media })) },
    });
    closers.push(() => servers.close());

    // ---- the dashboard and its API (this host only unless configured otherwise), while the
    // media are written
    let dashboard: ServeDashboard | undefined;
    if (c.dashboard.enabled) {
      const t = await loadOrCreateToken(o.dataDir);
      const secrets = () => [credentials?.password];
      const server: DashboardServer = await startDashboard({
        token: t.token,
        address: c.dashboard.address,
        port: c.dashboard.port,
        webRoot: webRoot(),
        api: {
          fleet,
          profiles: () => loaded.map((lp) => lp.name),
          state: () => ({
            version: VERSION,
            interface: { name: iface.name, address: iface.cidr },
            dhcp: c.dhcp.mode,
            http: base,
            share: { mode: c.share.mode, uncs: [...uncs.values()], user: credentials?.user ?? null },
            media: prepared.map((m) => ({ id: m.id, release: m.report.release, arch: m.arch, label: m.media.label, editions: m.report.editions.map((e) => ({ index: e.index, name: e.name, editionId: e.editionId })), folder: m.shareDir ?? null })),
            profiles: loaded.map((lp) => ({ name: lp.name, media: lp.media.id, edition: String(lp.profile.target.edition ?? '(the only one)'), lint: lints.get(lp.name) ?? { errors: 0, warnings: 0, diagnostics: [] } })),
            unknown: c.unknown,
          }),
          report: (format) => {
            const r = morningReport({ ...reportData(fleet), now: Date.now() });
            return { type: { json: 'application/json', csv: 'text/csv; charset=utf-8', html: 'text/html; charset=utf-8' }[format], body: formatReport(r, format) };
          },
          answer: (mac) => {
            const p = planOf(mac);
            return p && maskAnswerFile(p.answerXml);
          },
          script: (mac) => {
            const p = planOf(mac);
            if (!p) return undefined;
            const start = p.plan.files.get('overnight.cmd');
            return maskSecret(`${p.plan.script}\n\n:: ---- overnight.cmd (the start script in Windows PE)\n${start ? Buffer.from(start).toString('utf8') : ''}`, secrets());
          },
        },
      });
      closers.push(() => server.close());
      dashboard = { url: `${server.url}/#token=${t.token}`, token: t.token, tokenFile: t.file, created: t.created };
    }

    // DHCP, which sends machines here, starts once the share holds every file and smbd listens.
    try {
      await Promise.all(prepared.map((m) => m.extracted));
    } catch (e) {
      // An extraction ended by the share's failed start: that failure is the one to tell.
      await sambaStarted;
      throw e;
    }
    o.signal?.throwIfAborted();
    if (sambaStarted) {
      samba = await sambaStarted;
      for (const m of prepared) uncs.set(m.id, `\\\\${serverIp}\\${m.id}`);
      reportUnc = `\\\\${serverIp}\\${REPORT_SHARE}`;
    } else if (c.share.mode === 'external') {
      // An existing share holds the extracted media.
      uncs.set(prepared[0]!.id, c.share.unc);
      credentials = { user: c.share.user!, password: c.share.password! };
    }
    o.signal?.throwIfAborted();
    mediaReady = true;
    if (c.dhcp.mode !== 'off') {
      const dhcp = await startDhcpServer({
        events: onNet,
        mode: c.dhcp.mode,
        interface: iface.name,
        policy: ipxePolicy({ httpPort, loaders: loaders.ipxe, chainloadIpxe: c.chainloadIpxe, allow }),
        pool,
        // The leases live in the records (their lease table), beside the machines.
        leasesFile: pool ? store.path : undefined,
        probeMs: o.dhcpProbeMs,
        onMalformed: (err, from) => note(`ignored a bad DHCP packet from ${from}: ${err.message}`),
      });
      closers.push(() => dhcp.close());
    }

    // WinPE reports arrive as files in the report share; each becomes a record, then goes.
    let watcher: ReportWatcher | undefined;
    if (c.share.mode === 'managed') {
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
      dashboard,
      deployment: fleet.deployment() ? describeDeployment(fleet.deployment()!) : undefined,
    };
    let closing: Promise<void> | undefined;
    return {
      summary,
      store,
      fleet,
      close: () => (closing ??= closeAll()),
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/** The built dashboard (web/dist beside src/ or dist/), or undefined when it was not built. */
function webRoot(): string | undefined {
  const dir = resolve(import.meta.dirname, '..', '..', 'web', 'dist');
  return existsSync(join(dir, 'index.html')) ? dir : undefined;
}

/** Wake-on-LAN from the serving interface to its segment's broadcast address. */
function wakeOn(address: string, broadcast: string): (macs: string[]) => Promise<void> {
  return async (macs) => {
    await sendWake({ broadcast, bindAddress: address, macs });
  };
}

/** A machine's answer file, rendered and linted: one with errors is never served. */
function renderFor(lp: LoadedProfile, media: PreparedMedia, firmware: 'bios' | 'uefi', mac: string, inv: Pick<InventoryMachine, 'name' | 'overrides'> | undefined, n: number): { xml: string; profile: Profile; diagnostics: { code: string; severity: string; message: string }[] } {
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
  return { xml, profile: r.profile, diagnostics: ds.map((d) => ({ code: d.code, severity: d.severity, message: d.message })) };
}

interface LintSummary {
  errors: number;
  warnings: number;
  diagnostics: { code: string; severity: string; message: string }[];
}

/**
 * A profile that cannot install on its media fails at start, not on the first machine at night.
 * Returns what lint said of it (its warnings), for the dashboard.
 */
function checkProfile(lp: LoadedProfile): LintSummary {
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
  const seen = new Map<string, { code: string; severity: string; message: string }>();
  for (const fw of ['bios', 'uefi'] as const) {
    if (fw === 'uefi' && lp.media.arch === 'x86' && lp.profile.disk.layout === 'auto') continue; // 32-bit Windows before 8 has no UEFI Setup
    for (const d of renderFor(lp, lp.media, fw, probe, undefined, 1).diagnostics) seen.set(`${d.code} ${d.message}`, d);
  }
  const diagnostics = [...seen.values()];
  return { errors: 0, warnings: diagnostics.filter((d) => d.severity === 'warning').length, diagnostics };
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

/**
 * A machine that is not to install now boots its local disk (BIOS: the first disk; UEFI: the next
 * boot entry): its Windows is installed, or the night's schedule says not now.
 */
function localBootScript(mac: string, reason: string): string {
  return [
    '#!ipxe',
    `echo overnight: ${mac} boots its local disk: ${reason.replace(/[\r\n$]/g, ' ')}.`,
    `echo To install this machine now: overnight machines redeploy ${mac}`,
    'sleep 3',
    'iseq ${platform} pcbios && sanboot --no-describe --drive 0x80 ||',
    'exit',
    '',
  ].join('\n');
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

