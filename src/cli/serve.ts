// `overnight serve`: the unattended network install in one command.
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { defaultDataDir } from '../boot/loaders.ts';
import { type ServeConfig, type ServeConfigInput, loadConfig, mediaIdFromPath, validateConfig } from '../serve/config.ts';
import { ServeError } from '../serve/errors.ts';
import type { ServeEvent, ServeHandle, ServeSummary } from '../serve/serve.ts';
import type { Io } from './media.ts';
import { describeNetEvent } from './format.ts';

interface ServeFlags {
  config?: string;
  iso: string[];
  profile: string[];
  inventory?: string;
  interface?: string;
  dhcp?: 'proxy' | 'full' | 'off';
  pool?: string;
  netmask?: string;
  router?: string;
  dns?: string;
  data?: string;
  unknown?: 'all' | 'known-only' | 'approve';
  share?: 'managed' | 'external';
  shareUnc?: string;
  shareUser?: string;
  sharePassword?: string;
  smbPort?: string;
  smbd?: string;
  httpPort?: string;
  tftpPort?: string;
  loaders?: string;
  chainloadIpxe?: boolean;
  dashboard?: string | false;
  window?: string;
  cap?: string;
  group?: string;
  wake?: boolean;
  json?: boolean;
}

/** The data folder: --data, the config's, $OVERNIGHT_DATA_DIR, /var/lib/overnight as root, else the user's. */
export function serveDataDir(flag: string | undefined, config: string | undefined): string {
  if (flag) return resolve(flag);
  if (config) return config;
  if (process.env['OVERNIGHT_DATA_DIR']) return resolve(process.env['OVERNIGHT_DATA_DIR']);
  return process.getuid?.() === 0 ? '/var/lib/overnight' : defaultDataDir();
}

const num = (v: string | undefined, flag: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ServeError('E_CONFIG', `${flag} ${v} is not a port number`, { flag });
  return n;
};

/** The configuration from overnight.yaml (when given) with the flags laid over it. */
async function configFrom(o: ServeFlags): Promise<ServeConfig> {
  const base: ServeConfig | undefined = o.config ? await loadConfig(o.config) : undefined;
  if (!base && (!o.iso.length || !o.profile.length)) {
    throw new ServeError('E_CONFIG', 'say what to install: --iso Win7.iso --profile profile.yaml, or --config overnight.yaml');
  }
  const share: ServeConfigInput['share'] =
    o.share === 'external' || (o.share === undefined && o.shareUnc)
      ? { mode: 'external', unc: o.shareUnc ?? '', user: o.shareUser, password: o.sharePassword }
      : o.share === 'managed' || o.smbPort || o.smbd
        ? { mode: 'managed', port: num(o.smbPort, '--smb-port') ?? 445, smbd: o.smbd }
        : base?.share;
  if (share?.mode === 'external' && !share.unc) throw new ServeError('E_CONFIG', '--share external needs --share-unc \\\\host\\share (a share holding the extracted media)');
  const input: ServeConfigInput = {
    ...base,
    interface: o.interface ?? base?.interface,
    dhcp: {
      ...base?.dhcp,
      ...(o.dhcp ? { mode: o.dhcp } : {}),
      ...(o.pool ? { pool: o.pool } : {}),
      ...(o.netmask ? { netmask: o.netmask } : {}),
      ...(o.router ? { router: o.router } : {}),
      ...(o.dns ? { dns: o.dns.split(',').map((s) => s.trim()) } : {}),
    },
    media: o.iso.length ? o.iso.map((iso) => ({ iso: resolve(iso) })) : base!.media,
    profiles: o.profile.length ? profileNames(o.profile) : base!.profiles,
    inventory: o.inventory ? resolve(o.inventory) : base?.inventory,
    unknown: o.unknown ?? base?.unknown,
    share,
    http: { port: num(o.httpPort, '--http-port') ?? base?.http.port ?? 80 },
    tftp: { port: num(o.tftpPort, '--tftp-port') ?? base?.tftp.port ?? 69 },
    loaders: o.loaders ? resolve(o.loaders) : base?.loaders,
    chainloadIpxe: o.chainloadIpxe ?? base?.chainloadIpxe,
    dashboard: o.dashboard === false ? { ...base?.dashboard, enabled: false } : o.dashboard ? { ...base?.dashboard, ...listenAddress(o.dashboard) } : base?.dashboard,
    deployment:
      o.window || o.cap || o.group || o.wake
        ? {
            ...base?.deployment,
            ...(o.window ? { window: o.window } : {}),
            ...(o.cap ? { cap: count(o.cap, '--cap') } : {}),
            ...(o.group ? { group: o.group } : {}),
            ...(o.wake ? { wake: true } : {}),
          }
        : base?.deployment,
  };
  // --profile with a config: the profiles keep their names only when the config's are replaced whole.
  if (o.profile.length && base) input.defaultProfile = undefined;
  return validateConfig(input, o.config ?? 'flags');
}

/** '127.0.0.1:7780', ':7780' or '0.0.0.0' → address and port. */
function listenAddress(v: string): { address?: string; port?: number } {
  const m = /^(?:\[([0-9a-f:]+)\]|([^:]*))(?::(\d{1,5}))?$/i.exec(v.trim());
  if (!m) throw new ServeError('E_CONFIG', `--dashboard ${v} is not ADDRESS:PORT (e.g. 127.0.0.1:7780)`, { flag: '--dashboard' });
  const address = m[1] ?? (m[2] || undefined);
  return { ...(address ? { address } : {}), ...(m[3] ? { port: num(m[3], '--dashboard') } : {}) };
}

const count = (v: string, flag: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ServeError('E_CONFIG', `${flag} ${v} is not a whole number of 1 or more`, { flag });
  return n;
};

/** Profiles from --profile files, named by their file names (lab.yaml → lab) for the inventory's profile column. */
function profileNames(files: readonly string[]): { name: string; file: string }[] {
  const used = new Set<string>();
  return files.map((file, i) => {
    let name = mediaIdFromPath(file.replace(/\.ya?ml$/i, ''), i).replace(/^media(?=\d+$)/, 'profile');
    for (let n = 2; used.has(name); n++) name = `${name.replace(/-\d+$/, '')}-${n}`;
    used.add(name);
    return { name, file: resolve(file) };
  });
}

export function serveCommand(io: Io, signal?: AbortSignal): Command {
  return new Command('serve')
    .description('install Windows on every machine that boots from the network: ISO → share (Samba) → PXE → WinPE → Setup, with a record of every phase')
    .option('-c, --config <file>', 'overnight.yaml: several media and profiles, the inventory and the options below')
    .option('--iso <file>', 'install media (repeatable)', (v: string, all: string[]) => [...all, v], [])
    .option('--profile <file>', 'the profile (overnight answer init writes one); repeatable, the first is the default; the inventory names them by file name (lab.yaml: lab)', (v: string, all: string[]) => [...all, v], [])
    .option('--inventory <file>', 'machines: CSV (mac,name,profile,media,group and profile fields to override) or YAML')
    .option('-i, --interface <name>', 'interface to serve on (default: the only one with an IPv4 address)')
    .addOption(new Option('--dhcp <mode>', 'proxy: boot answers beside the site DHCP server (default); full: also addresses (isolated networks); off').choices(['proxy', 'full', 'off']))
    .option('--pool <start-end>', 'full DHCP mode: addresses to hand out')
    .option('--netmask <mask>', 'full DHCP mode: subnet mask (default: the interface\'s)')
    .option('--router <ip>', 'full DHCP mode: default gateway')
    .option('--dns <ips>', 'full DHCP mode: DNS servers, comma separated')
    .option('--data <dir>', 'data folder: extracted media, records, Samba state (default: $OVERNIGHT_DATA_DIR, /var/lib/overnight as root)')
    .addOption(new Option('--unknown <policy>', 'machines not in the inventory: install (all), ignore (known-only), or wait for `overnight machines approve`').choices(['all', 'known-only', 'approve']))
    .addOption(new Option('--share <mode>', 'managed: overnight runs Samba (default); external: use --share-unc').choices(['managed', 'external']))
    .option('--share-unc <unc>', 'external share holding the extracted media, e.g. \\\\fileserver\\win7')
    .option('--share-user <user>', 'external share: user name')
    .option('--share-password <password>', 'external share: password')
    .option('--smb-port <port>', 'managed share: SMB port (Windows only connects to 445)')
    .option('--smbd <path>', 'managed share: the smbd to run (default: on PATH or in /usr/sbin)')
    .option('--http-port <port>', 'HTTP port (default 80)')
    .option('--tftp-port <port>', 'TFTP port (default 69)')
    .option('--loaders <dir>', 'folder with undionly.kpxe, ipxe.efi and wimboot (`overnight loaders fetch` gets them)')
    .option('--chainload-ipxe', "also load overnight's iPXE on NICs whose ROM is an old iPXE")
    .option('--dashboard <address:port>', 'where the dashboard and its API listen (default 127.0.0.1:7780: this host only)')
    .option('--no-dashboard', 'no dashboard or API')
    .option('--window <HH:MM-HH:MM>', "the night's deployment: install only inside this local time window, e.g. 22:00-05:00 (others boot their disk)")
    .option('--cap <n>', "the night's deployment: at most n machines install at once")
    .option('--group <name>', "the night's deployment: only the inventory's machines of this group")
    .option('--wake', "the night's deployment: wake its machines with Wake-on-LAN, paced by --cap")
    .option('--json', 'print the summary and events as JSON lines')
    .action(async (o: ServeFlags) => {
      const config = await configFrom(o);
      const dataDir = serveDataDir(o.data, config.data);
      const print = (e: ServeEvent) => io.out(o.json ? JSON.stringify(e) : describe(e));
      let lastProgress = 0;
      // Ctrl-C or SIGTERM at any moment, also during the start (an extraction of minutes), stops
      // cleanly: what was started is stopped, and what was extracted is kept for the next start.
      const stop = new AbortController();
      const onSignal = () => stop.abort(new Error('stopped by a signal'));
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      signal?.addEventListener('abort', onSignal, { once: true });
      try {
        let serve: ServeHandle;
        try {
          // The copy of the media is most of a first start: it begins, after the checks that need
          // nothing started, before the servers' code has loaded (serve --help loads neither).
          const { beginServe } = await import('../serve/begin.ts');
          const begun = await beginServe(config, dataDir, { signal: stop.signal });
          const { startServe } = await import('../serve/serve.ts').catch(async (e: unknown) => {
            await begun.abandon();
            throw e;
          });
          serve = await startServe({
            config,
            dataDir,
            begun,
            events: print,
            signal: stop.signal,
            onProgress: (step, p) => {
              const now = Date.now();
              if (p && now - lastProgress < 1000 && p.bytesDone < p.bytesTotal) return;
              lastProgress = now;
              if (o.json) return;
              io.err(p ? `${step}: ${Math.floor((100 * p.bytesDone) / Math.max(1, p.bytesTotal))}% (${p.filesDone}/${p.filesTotal} files)` : step);
            },
          });
        } catch (e) {
          if (!stop.signal.aborted) throw e;
          io.err('overnight serve: stopped before it was ready; what was extracted is kept for the next start');
          return;
        }
        try {
          printSummary(io, serve.summary, o.json);
          if (!stop.signal.aborted) await new Promise((resolve) => stop.signal.addEventListener('abort', resolve, { once: true }));
        } finally {
          await serve.close();
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        signal?.removeEventListener('abort', onSignal);
      }
    });
}

function printSummary(io: Io, s: ServeSummary, json: boolean | undefined): void {
  if (json) {
    io.out(JSON.stringify({ ready: s }));
    return;
  }
  io.out(`overnight serve: ready on ${s.interface.name} (${s.interface.address})`);
  io.out(`  DHCP      ${s.dhcp === 'proxy' ? 'proxy: boot answers only; addresses come from the site DHCP server' : s.dhcp === 'full' ? 'full: this server hands out addresses' : 'off: the site DHCP server must send the boot file'}`);
  for (const m of s.media) io.out(`  Media     ${m.id}: ${m.release} ${m.arch}, ${m.editions} edition(s), "${m.label}"${m.folder ? `, ${m.reused ? 'share folder reused' : `extracted in ${m.seconds?.toFixed(1)} s`}` : ''}`);
  io.out(`  Share     ${s.share.uncs.join(', ')}  user ${s.share.user}${s.share.mode === 'managed' ? `  (Samba, min protocol ${s.share.protocol}, port ${s.share.port})` : '  (external)'}`);
  for (const p of s.profiles) io.out(`  Profile   ${p.name} → ${p.media}, edition ${p.edition}`);
  io.out(`  Loaders   ${Object.keys(s.loaders).join(', ')}`);
  for (const m of s.missingLoaders) io.out(`  Missing   ${m}`);
  io.out(`  Machines  ${s.inventory} in the inventory; unknown machines: ${s.unknown}`);
  if (s.deployment) io.out(`  Night     ${s.deployment}`);
  io.out(`  Records   ${s.store}`);
  if (s.dashboard) {
    // The fragment carries the admin token to the page without it reaching any server log.
    io.out(`  Dashboard ${s.dashboard.url}`);
    io.out(`            admin token ${s.dashboard.created ? 'made now, ' : ''}kept in ${s.dashboard.tokenFile}; every change through the API needs it`);
  }
  io.out('Press Ctrl-C to stop.');
}

function describe(e: ServeEvent): string {
  const t = e.time.toISOString().slice(11, 19);
  switch (e.type) {
    case 'machine.phase':
      return `${t} ${e.mac} ${e.phase.padEnd(10)} ${e.detail ?? ''}`.trimEnd();
    case 'serve.note':
      return `${t} note: ${e.message}`;
    case 'share.start':
      return `${t} samba      started (pid ${e.pid}, port ${e.port})`;
    case 'share.exit':
      return `${t} samba      exited (${e.signal ?? `code ${e.code}`})${e.restarting ? ', restarting' : ''}`;
    case 'share.log':
      return `${t} samba      ${e.line}`;
    case 'share.connect':
      return `${t} samba      ${e.client} connected to ${e.share} as ${e.user}`;
    default:
      return describeNetEvent(e);
  }
}
