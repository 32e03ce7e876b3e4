// Runs overnight's managed Samba in a separate process (started inside a test's network
// namespace with Lab.spawn). Options come as one JSON argument (SambaOptions without the event
// sink); every event is printed as one JSON line on stdout, then {"ready":{pid,port,confPath}}
// once smbd listens. An error at start is printed as {"error":{code,message}} and the process
// exits 3. SIGTERM or SIGINT closes the share, prints {"closed":true} and exits 0.
import { ShareError } from '../../src/share/errors.ts';
import { type SambaOptions, type SambaServer, startSamba } from '../../src/share/samba.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as Omit<SambaOptions, 'events'>;
const print = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
let server: SambaServer | undefined;

try {
  server = await startSamba({ ...options, events: print });
  print({ ready: { pid: server.pid, port: server.port, confPath: server.confPath, version: server.version } });
} catch (e) {
  print({ error: { code: e instanceof ShareError ? e.code : 'E_UNKNOWN', message: (e as Error).message, context: e instanceof ShareError ? e.context : undefined } });
  process.exit(3);
}

const stop = async () => {
  await server?.close();
  print({ closed: true });
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
