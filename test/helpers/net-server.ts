// Runs overnight's network boot servers in a separate process (started inside a test's network
// namespace with Lab.spawn). Configuration comes as one JSON argument; every event is printed as
// one JSON line on stdout, and a line {"ready":true} once everything listens. Errors at start are
// printed as {"error":{code,message}} and the process exits 3.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ipxePolicy } from '../../src/boot/policy.ts';
import { NetError } from '../../src/net/errors.ts';
import type { DhcpServerOptions } from '../../src/net/dhcp/server.ts';
import { startBootServers } from '../../src/net/servers.ts';
import { openMedia } from '../../src/media/open.ts';

interface Config {
  /** Count events instead of printing them (benchmarks: the sink is not what is measured). */
  quiet?: boolean;
  dhcp?: Omit<DhcpServerOptions, 'policy' | 'events' | 'reservations'> & {
    httpPort?: number;
    chainloadIpxe?: boolean;
    reservations?: Record<string, { ip: string }>;
  };
  tftp?: { root: string; port?: number; media?: { prefix: string; iso: string }[] };
  /** scripts: folder of <mac>.ipxe files, read per request. */
  http?: { port: number; files?: string; scripts?: string; media?: { id: string; iso: string }[] };
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const print = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
let counted = 0;
const sink = config.quiet ? () => void counted++ : print;
let close = async () => {};

try {
  const h = config.http;
  const t = config.tftp;
  const d = config.dhcp;
  const servers = await startBootServers({
    events: sink,
    http: h && {
      port: h.port,
      files: h.files,
      media: await Promise.all((h.media ?? []).map(async (m) => ({ id: m.id, fs: await openMedia(m.iso) }))),
      script: h.scripts ? (mac) => readFile(join(h.scripts!, `${mac}.ipxe`), 'utf8').catch(() => undefined) : undefined,
    },
    tftp: t && {
      root: t.root,
      port: t.port ?? 69,
      media: await Promise.all((t.media ?? []).map(async (m) => ({ prefix: m.prefix, fs: await openMedia(m.iso) }))),
    },
    dhcp: d && {
      ...d,
      reservations: d.reservations ? new Map(Object.entries(d.reservations)) : undefined,
      policy: ipxePolicy({ httpPort: d.httpPort ?? 80, chainloadIpxe: d.chainloadIpxe }),
      onMalformed: (e, from) => print({ malformed: e.message, from }),
    },
  });
  close = servers.close;
  if (servers.dhcp) print({ ready: 'dhcp', interface: servers.dhcp.interface });
  print({ ready: true });
} catch (e) {
  print({ error: { code: e instanceof NetError ? e.code : ((e as { code?: string }).code ?? 'E_UNKNOWN'), message: (e as Error).message } });
  process.exit(3);
}

const stop = async () => {
  await close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
