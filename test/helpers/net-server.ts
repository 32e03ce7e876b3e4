// Runs overnight's network boot servers in a separate process (started inside a test's network
// namespace with Lab.spawn). Configuration comes as one JSON argument; every event is printed as
// one JSON line on stdout, and a line {"ready":...} once everything listens. Errors at start are
// printed as {"error":{code,message}} and the process exits 3.
import { ipxePolicy } from '../../src/boot/policy.ts';
import { NetError } from '../../src/net/errors.ts';
import { startDhcpServer, type DhcpServerOptions } from '../../src/net/dhcp/server.ts';

interface Config {
  /** Count events instead of printing them (benchmarks: the sink is not what is measured). */
  quiet?: boolean;
  dhcp?: Omit<DhcpServerOptions, 'policy' | 'events' | 'reservations'> & { httpPort?: number; reservations?: Record<string, { ip: string }> };
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const print = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
let counted = 0;
const sink = config.quiet ? () => void counted++ : print;
const closers: (() => Promise<void>)[] = [];

try {
  if (config.dhcp) {
    const d = config.dhcp;
    const server = await startDhcpServer({
      ...d,
      reservations: d.reservations ? new Map(Object.entries(d.reservations)) : undefined,
      policy: ipxePolicy({ httpPort: d.httpPort ?? 80 }),
      events: sink,
      onMalformed: (e, from) => print({ malformed: e.message, from }),
    });
    closers.push(() => server.close());
    print({ ready: 'dhcp', interface: server.interface });
  }
  print({ ready: true });
} catch (e) {
  print({ error: { code: e instanceof NetError ? e.code : 'E_UNKNOWN', message: (e as Error).message } });
  process.exit(3);
}

const stop = async () => {
  for (const c of closers) await c();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
