// `overnight simulate`: virtual PXE clients against a running `overnight serve`, for load tests,
// the dashboard demo and tests. The flags are checked here, the machines live in src/simulate/.
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { NetError } from '../net/errors.ts';
import { type FirmwareMix, type SimEvent, type SimSummary, macsFromPrefix, parseMacList, randomSeed, startSimulation } from '../simulate/simulator.ts';
import { SIM_STATES } from '../simulate/machine.ts';
import { medianInstallSeconds } from '../simulate/timings.ts';
import { bytes, duration } from './format.ts';
import type { Io } from './media.ts';

interface SimulateFlags {
  machines?: string;
  server?: string;
  interface?: string;
  speed: string;
  seed?: string;
  failRate: string;
  firmware: FirmwareMix;
  macPrefix: string;
  macs?: string;
  waitForWake?: boolean;
  stagger?: string;
  fetchMedia?: boolean;
  ownAddresses?: boolean;
  json?: boolean;
  duration?: string;
}

/** Most machines one process runs: each holds sockets while it boots (a TFTP socket, HTTP connections). */
const MAX_MACHINES = 10_000;

const bad = (flag: string, value: string, why: string) => new NetError('E_CONFIG', `${flag} ${JSON.stringify(value)}: ${why}`, { flag });

function number(flag: string, value: string, o: { min: number; max: number; integer?: boolean; above?: boolean }): number {
  const n = Number(value.trim());
  if (value.trim() === '' || !Number.isFinite(n)) throw bad(flag, value, 'not a number');
  if (o.integer && !Number.isInteger(n)) throw bad(flag, value, 'not a whole number');
  if (o.above ? n <= o.min : n < o.min) throw bad(flag, value, `must be ${o.above ? 'above' : 'at least'} ${o.min}`);
  if (n > o.max) throw bad(flag, value, `must be at most ${o.max}`);
  return n;
}

function ipv4(flag: string, value: string): string {
  const parts = value.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) throw bad(flag, value, 'not an IPv4 address');
  return value;
}

/** --fail-rate as a share: 0.05 or 5%. */
function rate(value: string): number {
  const pct = value.trim().endsWith('%');
  const n = number('--fail-rate', pct ? value.trim().slice(0, -1) : value, { min: 0, max: pct ? 100 : 1 });
  return pct ? n / 100 : n;
}

export function simulateCommand(io: Io, signal?: AbortSignal): Command {
  return new Command('simulate')
    // addCommand() does not pass the program's output settings down: a refused choice goes to io too.
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .description('run virtual PXE clients against a running overnight serve: real DHCP, TFTP and HTTP, then phase reports with the timings of real Windows 7 installs (load tests, demos, tests)')
    .option('-n, --machines <n>', `how many machines (1-${MAX_MACHINES}; default with --macs: one per MAC in the file)`)
    .option('--server <ip>', "the overnight server's address on the segment: only its boot offers are taken, and the interface on its subnet is used (DHCP is broadcast; TFTP and HTTP go where DHCP points)")
    .option('-i, --interface <name>', 'interface the machines are on (default: the one on --server\'s subnet, else the only one with an IPv4 address)')
    .option('--speed <x>', `divide every wait by this: an install takes ${Math.round(medianInstallSeconds() / 60)} min at 1, about 3 s at 600 (network timeouts never go below 1 s)`, '1')
    .option('--seed <n>', 'seed of the timings and failures (default: random, printed in the summary to repeat a run)')
    .option('--fail-rate <r>', 'share of machines that fail in a random phase with a real reason (0-1, or a percentage: 5%)', '0')
    .addOption(new Option('--firmware <kind>', 'BIOS or UEFI PXE clients, or both alternately').choices(['bios', 'uefi', 'mixed']).default('mixed'))
    .option('--mac-prefix <octets>', 'first octets of the generated MACs; a counter from 1 fills the rest', '02:00:5e')
    .option('--macs <file>', 'the MACs to use instead, one per line (or the first column of a CSV such as the inventory)')
    .option('--wait-for-wake', 'start every machine powered off: only a Wake-on-LAN magic packet (UDP port 9) starts one')
    .option('--stagger <ms>', 'milliseconds between two machines powering on (default: 5 s divided by --speed, spread over all)')
    .option('--own-addresses', "put each machine's DHCP address on the interface while the run lasts, so that its TFTP and HTTP come from it (in a lab namespace or on a test segment; without it all machines share this host's address and the server sees one client)")
    .option('--fetch-media', 'fetch the install media files (boot.wim, ...) whole; by default only their first 64 KiB, so hundreds of machines do not pull gigabytes')
    .option('--json', 'one JSON line per event on stdout ({time, mac, event, detail}), then {"summary": ...}')
    .option('--duration <s>', 'stop after this many seconds (wall clock) even if machines are still installing')
    .addHelpText(
      'after',
      `
Each machine: DHCP DISCOVER with PXE options (ProxyDHCP or full DHCP, port 4011 for UEFI) → the
loader over TFTP → a second DHCP as iPXE → its script over HTTP → wimboot's files → reports
winpe, share, setup, applied, specialize, oobe, firstlogon, apps, done to /report/<mac>/<phase>.
A machine the server sends to its local disk goes idle until a magic packet; one shown a message
(waiting for approval, media not ready) restarts a minute later. After applied a machine boots
its disk, not the network. Needs root (UDP ports 68 and 9), on a segment or in a namespace of its
own: the machines share this host's address.

The run ends when every machine is done, failed or idle, after --duration, or on Ctrl-C; exit
code 1 when --duration ended it before then.

Examples:
  overnight simulate --machines 20 --speed 600
  overnight simulate --machines 500 --speed 60 --fail-rate 0.05 --seed 7 --server 10.0.0.1
  overnight simulate --macs machines.csv --wait-for-wake --json`,
    )
    .action(async (o: SimulateFlags) => {
      // Timers hold at most 24.8 days: slower than 0.01 the longest phase would not fit.
      const speed = number('--speed', o.speed, { min: 0.01, max: 100_000 });
      const seed = o.seed === undefined ? randomSeed() : number('--seed', o.seed, { min: 0, max: 2 ** 32 - 1, integer: true });
      const failRate = rate(o.failRate);
      const server = o.server === undefined ? undefined : ipv4('--server', o.server);
      const staggerMs = o.stagger === undefined ? undefined : number('--stagger', o.stagger, { min: 0, max: 3_600_000 });
      const durationS = o.duration === undefined ? undefined : number('--duration', o.duration, { min: 0, max: 7 * 86_400, above: true });
      let count = o.machines === undefined ? undefined : number('--machines', o.machines, { min: 1, max: MAX_MACHINES, integer: true });
      let macs: string[];
      if (o.macs) {
        let text: string;
        try {
          text = await readFile(o.macs, 'utf8');
        } catch (e) {
          throw new NetError('E_CONFIG', `cannot read --macs ${o.macs}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: o.macs });
        }
        const all = parseMacList(text, o.macs);
        count ??= Math.min(all.length, MAX_MACHINES);
        if (all.length < count) throw new NetError('E_CONFIG', `--machines ${count}, but ${o.macs} holds ${all.length} MAC addresses`, { file: o.macs });
        macs = all.slice(0, count);
      } else {
        if (count === undefined) throw new NetError('E_CONFIG', 'say how many machines: --machines N (or --macs FILE)');
        macs = macsFromPrefix(o.macPrefix, count);
      }

      const emit = o.json
        ? (e: SimEvent) => io.out(JSON.stringify({ time: e.time.toISOString(), mac: e.mac, event: e.event, detail: e.detail ?? null }))
        : (e: SimEvent) => {
            if (e.event === 'failed') io.err(`${e.time.toISOString().slice(11, 19)} ${e.mac} failed: ${e.detail ?? ''}`);
          };
      const sim = await startSimulation({ macs, firmware: o.firmware, interface: o.interface, server, speed, seed, failRate, fetchMedia: !!o.fetchMedia, ownAddresses: !!o.ownAddresses, waitForWake: !!o.waitForWake, staggerMs, events: emit });

      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      signal?.addEventListener('abort', onSignal, { once: true });
      const started = performance.now();
      const progress = setInterval(() => io.err(progressLine(sim.counts(), (performance.now() - started) / 1000)), 1000);
      let timedOut = false;
      let timer: NodeJS.Timeout | undefined;
      try {
        io.err(`overnight simulate: ${macs.length} machines on ${sim.interface.name} (${sim.interface.address}), ${o.firmware} firmware, speed ${speed}, seed ${seed}${o.waitForWake ? ', powered off until a magic packet' : ''}`);
        await Promise.race([
          sim.finished,
          new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true })),
          ...(durationS === undefined
            ? []
            : [
                new Promise<void>((resolve) => {
                  timer = setTimeout(() => {
                    timedOut = true;
                    resolve();
                  }, durationS * 1000);
                }),
              ]),
        ]);
      } finally {
        clearInterval(progress);
        clearTimeout(timer);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        signal?.removeEventListener('abort', onSignal);
        await sim.stop();
      }
      const s = sim.summary();
      const unfinished = s.machines - s.states.done - s.states.failed - s.states.idle;
      if (o.json) io.out(JSON.stringify({ summary: s }));
      for (const line of summaryLines(s, timedOut, stop.signal.aborted)) (o.json ? io.err : io.out)(line);
      if (timedOut && unfinished > 0) io.exitCode = 1;
    });
}

/** Machines per state, the empty states left out: "12 s: dhcp 2, setup 5, done 8 (20 machines)". */
export function progressLine(counts: Record<string, number>, seconds: number): string {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const parts = SIM_STATES.filter((s) => counts[s]! > 0).map((s) => `${s} ${counts[s]}`);
  return `${duration(seconds)}  ${parts.join(', ')}  (${total} machines)`;
}

function summaryLines(s: SimSummary, timedOut: boolean, stopped: boolean): string[] {
  const ended = timedOut ? ', stopped by --duration' : stopped ? ', stopped' : '';
  const states = SIM_STATES.filter((k) => s.states[k] > 0).map((k) => `${k} ${s.states[k]}`).join(', ');
  const lines = [
    `overnight simulate: ${s.machines} machines in ${s.seconds.toFixed(1)} s${ended} (speed ${s.speed}: ${duration(s.seconds * s.speed)} simulated; seed ${s.seed})`,
    `  Machines  ${states}`,
    `  DHCP      ${s.dhcp.sent} sent, ${s.dhcp.received} received, ${s.dhcp.timeouts} timeouts, ${s.dhcp.naks} NAKs, ${s.dhcp.bad} bad, ${s.dhcp.errors} errors`,
    `  TFTP      ${s.tftp.transfers} transfers, ${bytes(s.tftp.bytes)}, ${s.tftp.retransmits} retransmits, ${s.tftp.errors} errors`,
    `  HTTP      ${s.http.requests} requests, ${bytes(s.http.bytes)}, ${s.http.errors} errors`,
    `  Reports   ${s.reports.sent} sent, ${s.reports.errors} failed`,
    `  Boots     ${s.boots} network boots`,
    `  WoL       ${s.wol.received} packets: ${s.wol.woke} woke a machine, ${s.wol.ignored} for running machines, ${s.wol.unknown} for other MACs, ${s.wol.bad} not magic packets`,
  ];
  if (s.ownAddresses) lines.push(`  Addresses ${s.ownAddresses.added} put on ${s.interface}${s.ownAddresses.failed ? `, ${s.ownAddresses.failed} could not be (those machines used ${s.address})` : ''}; removed again`);
  for (const f of s.failed) lines.push(`  Failed    ${f.mac} after ${f.after}: ${f.reason}`);
  return lines;
}
