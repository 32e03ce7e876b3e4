// `overnight pxe`: the network boot servers on their own (DHCP or ProxyDHCP, TFTP, HTTP), booting
// every PXE client into the iPXE script of its MAC. `overnight serve` builds the Windows install
// on top of the same servers; this command is for booting anything else (a rescue image, a
// hand-written wimboot script) and for checking a network before the install night.
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { DEFAULT_LOADERS, httpBase, ipxePolicy } from '../boot/policy.ts';
import { type LoaderFirmware, LoaderError, defaultDataDir, findLoaders, loaderFor } from '../boot/loaders.ts';
import type { NetEvent } from '../net/events.ts';
import { pickInterface } from '../net/iface.ts';
import { NetError } from '../net/errors.ts';
import { parsePoolRange } from '../net/dhcp/leases.ts';
import { startBootServers } from '../net/servers.ts';
import { openMedia } from '../media/open.ts';
import { describeNetEvent } from './format.ts';
import type { Io } from './media.ts';

interface PxeOptions {
  interface?: string;
  dhcp: 'proxy' | 'full' | 'off';
  pool?: string;
  netmask?: string;
  router?: string;
  dns?: string;
  leaseTime: string;
  loaders?: string;
  data?: string;
  iso: string[];
  scripts?: string;
  httpPort: string;
  tftpPort: string;
  chainloadIpxe?: boolean;
  json?: boolean;
}

const FIRMWARE_NAMES: Record<LoaderFirmware, string> = { bios: 'BIOS', 'efi-x64': 'UEFI x64', 'efi-ia32': 'UEFI ia32' };

export function pxeCommand(io: Io, signal?: AbortSignal): Command {
  return new Command('pxe')
    .description('run the network boot servers (ProxyDHCP or DHCP, TFTP, HTTP): every PXE client boots the iPXE script of its MAC')
    .option('-i, --interface <name>', 'interface to serve on (default: the only one with an IPv4 address)')
    .addOption(new Option('--dhcp <mode>', 'proxy: boot answers beside the site DHCP server; full: also addresses (isolated networks); off').choices(['proxy', 'full', 'off']).default('proxy'))
    .option('--pool <start-end>', 'full mode: the addresses to hand out, e.g. 10.0.0.100-10.0.0.199')
    .option('--netmask <mask>', "full mode: subnet mask (default: the interface's)")
    .option('--router <ip>', 'full mode: default gateway to hand out')
    .option('--dns <ips>', 'full mode: DNS servers to hand out, comma separated')
    .option('--lease-time <seconds>', 'full mode: lease time', '3600')
    .option('--loaders <dir>', 'a folder with undionly.kpxe, ipxe.efi, ... (searched before the data folder and /usr/lib/ipxe)')
    .option('--data <dir>', "overnight's data folder: leases, the served loaders (default: $OVERNIGHT_DATA_DIR or ~/.local/share/overnight)")
    .option('--iso <file>', 'install media to serve over HTTP and TFTP at /media/<n>/ (repeatable)', (v: string, all: string[]) => [...all, v], [])
    .option('--scripts <dir>', 'iPXE scripts: <mac>.ipxe per machine (aa-bb-cc-dd-ee-ff.ipxe also works), default.ipxe for the rest; {{server}} and {{mac}} are filled in')
    .option('--http-port <port>', 'HTTP port', '80')
    .option('--tftp-port <port>', 'TFTP port', '69')
    .option('--chainload-ipxe', "also load overnight's iPXE on machines whose NIC ROM is iPXE (old ROM builds)")
    .option('--json', 'print events as JSON lines')
    .action(async (o: PxeOptions) => {
      const iface = pickInterface(o.interface);
      const dataDir = resolve(o.data ?? defaultDataDir());
      const httpPort = port(o.httpPort, '--http-port');
      const tftpPort = port(o.tftpPort, '--tftp-port');
      const pool = o.dhcp === 'full' ? parsePool(o, iface.netmask) : undefined;

      // The loaders are copied into one folder that TFTP and HTTP serve, under the names the
      // boot policy hands out; nothing else of the system folders is exposed.
      const set = await findLoaders({ dir: o.loaders, dataDir });
      const bootDir = join(dataDir, 'boot');
      await mkdir(bootDir, { recursive: true });
      const available: Partial<Record<LoaderFirmware, string>> = {};
      const missing: string[] = [];
      for (const fw of ['bios', 'efi-x64', 'efi-ia32'] as const) {
        const name = DEFAULT_LOADERS[fw]!;
        try {
          const entry = loaderFor(set, fw, 'ipxe');
          await copyFile(entry.path, join(bootDir, name));
          available[fw] = name;
        } catch (e) {
          if (!(e instanceof LoaderError)) throw e;
          missing.push(`${FIRMWARE_NAMES[fw]}: ${e.message}`);
        }
      }
      if (!available.bios && !available['efi-x64']) {
        throw new LoaderError('E_LOADER_MISSING', `no iPXE loader for BIOS or UEFI clients.\n${missing.join('\n')}`, { searched: set.searched.map((s) => s.dir) });
      }

      const media = await Promise.all(o.iso.map(async (path, i) => ({ id: String(i + 1), fs: await openMedia(path) })));
      const scriptsDir = o.scripts ? resolve(o.scripts) : undefined;
      const base = httpBase(iface.address, httpPort);
      const script = async (mac: string): Promise<string | undefined> => {
        if (!scriptsDir) return undefined;
        for (const name of [`${mac}.ipxe`, `${mac.replaceAll(':', '-')}.ipxe`, 'default.ipxe']) {
          const text = await readFile(join(scriptsDir, name), 'utf8').catch(() => undefined);
          if (text !== undefined) return text.replaceAll('{{server}}', base).replaceAll('{{mac}}', mac);
        }
        return undefined;
      };

      const events = (e: NetEvent) => io.out(o.json ? JSON.stringify(e) : describeNetEvent(e));
      const servers = await startBootServers({
        events,
        http: { port: httpPort, files: bootDir, media, script },
        tftp: { root: bootDir, port: tftpPort, media: media.map((m) => ({ prefix: `media/${m.id}`, fs: m.fs })) },
        dhcp:
          o.dhcp === 'off'
            ? undefined
            : {
                mode: o.dhcp,
                interface: iface.name,
                policy: ipxePolicy({ httpPort, loaders: available, chainloadIpxe: o.chainloadIpxe }),
                pool,
                leasesFile: pool ? join(dataDir, 'leases.sqlite') : undefined,
                onMalformed: (e, from) => io.err(`overnight: ignored a bad packet from ${from}: ${e.message}`),
              },
      });
      try {
        const summary = {
          interface: { name: iface.name, address: iface.cidr },
          dhcp: o.dhcp === 'full' ? { mode: 'full', pool: `${pool!.start}-${pool!.end}` } : { mode: o.dhcp },
          tftp: { port: tftpPort, root: bootDir },
          http: { url: base, scripts: scriptsDir ?? null },
          loaders: available,
          missing,
          media: media.map((m) => ({ path: `/media/${m.id}/`, label: m.fs.label, image: m.fs.path })),
        };
        if (o.json) io.out(JSON.stringify({ ready: summary }));
        else {
          io.out(`overnight pxe: serving network boot on ${iface.name} (${iface.cidr})`);
          io.out(`  DHCP     ${o.dhcp === 'proxy' ? 'proxy: boot answers only; addresses come from the site DHCP server' : o.dhcp === 'full' ? `full: addresses ${pool!.start}-${pool!.end}` : 'off: the site DHCP server must send the boot file'}`);
          io.out(`  TFTP     udp/${tftpPort}  ${Object.entries(available).map(([fw, n]) => `${n} (${FIRMWARE_NAMES[fw as LoaderFirmware]})`).join(', ')}`);
          io.out(`  HTTP     ${base}  scripts ${scriptsDir ?? '(none: machines are told so on screen)'}`);
          for (const m of summary.media) io.out(`  Media    ${base}${m.path}  ${m.label}  (${m.image})`);
          for (const m of missing) io.out(`  Missing  ${m}`);
          io.out('Press Ctrl-C to stop.');
        }
        await waitForStop(signal);
      } finally {
        await servers.close();
      }
    });
}

function port(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new NetError('E_CONFIG', `${flag} ${text} is not a port number`, { flag });
  return n;
}

function parsePool(o: PxeOptions, netmask: string) {
  return {
    ...parsePoolRange(o.pool),
    netmask: o.netmask ?? netmask,
    router: o.router,
    dns: o.dns ? o.dns.split(',').map((s) => s.trim()) : [],
    leaseSeconds: port(o.leaseTime, '--lease-time') || 3600,
  };
}

/** Resolves on SIGINT, SIGTERM or `signal`. */
export function waitForStop(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    signal?.addEventListener('abort', done, { once: true });
  });
}
