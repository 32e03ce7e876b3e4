// Starts the TFTP server in a process of its own (for tests and benchmarks that run it inside a
// network namespace) and prints 'PORT <n>' once it listens. Ends on SIGTERM/SIGINT.
//   node test/helpers/tftp-server.ts --root DIR [--address A] [--port P] [--min-rto MS] [--max-per-client N]
import { parseArgs } from 'node:util';
import { startTftpServer } from '../../src/net/tftp/server.ts';

const { values } = parseArgs({
  options: {
    root: { type: 'string' },
    address: { type: 'string', default: '0.0.0.0' },
    port: { type: 'string', default: '0' },
    'min-rto': { type: 'string' },
    'max-per-client': { type: 'string' },
    events: { type: 'boolean', default: false },
  },
});
if (!values.root) throw new Error('--root is required');
const server = await startTftpServer({
  root: values.root,
  address: values.address,
  port: Number(values.port),
  retransmit: values['min-rto'] ? { minMs: Number(values['min-rto']) } : {},
  maxSessionsPerClient: values['max-per-client'] ? Number(values['max-per-client']) : undefined,
  events: values.events ? (e) => process.stderr.write(`${JSON.stringify(e)}\n`) : undefined,
});
process.stdout.write(`PORT ${server.port}\n`);
const stop = () => void server.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
