// `overnight simulate`: N virtual PXE clients in one process, each a Machine (machine.ts) speaking
// real DHCP, TFTP and HTTP to a running `overnight serve`. They share one UDP socket on port 68
// (replies handed out by transaction id), one on port 9 for Wake-on-LAN, and one HTTP agent; each
// TFTP transfer has a socket of its own, as each PXE ROM has.
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { promisify } from 'node:util';
import { NetError } from '../net/errors.ts';
import { type Interface, listInterfaces, openUdp, pickInterface, sameSubnet } from '../net/iface.ts';
import { normaliseMac } from '../net/http/path.ts';
import { DhcpPort, type DhcpCounters, type SimFirmware } from './dhcp-client.ts';
import { HttpClient, type HttpCounters } from './http-client.ts';
import { FINAL_STATES, Machine, type MachineContext, SIM_STATES, type SimState, type SimStats } from './machine.ts';
import { machineTimings, prng } from './timings.ts';
import { type WolListener, listenWol } from './wol-listen.ts';

const pexec = promisify(execFile);

export type FirmwareMix = 'bios' | 'uefi' | 'mixed';

export interface SimulateOptions {
  macs: readonly string[];
  firmware: FirmwareMix;
  /** The interface to use; undefined picks the one on --server's subnet, else the only one. */
  interface?: string | undefined;
  /** The server's address: only its boot offers are taken. */
  server?: string | undefined;
  /** Every wait is divided by this (600: an install in about 3 s). */
  speed: number;
  seed: number;
  /** Share of machines that fail (0-1). */
  failRate: number;
  fetchMedia: boolean;
  /** Machines start powered off; only a magic packet starts one. */
  waitForWake: boolean;
  /**
   * Put each machine's leased address on the interface (ip addr add ADDR/32) while the run lasts, so
   * that its TFTP and HTTP come from it, as from a real PC. Needs root; for a lab namespace or a
   * test segment. Without it every machine uses this host's address.
   */
  ownAddresses?: boolean | undefined;
  /** Wall-clock milliseconds between two machines' power-on; undefined: 5 s of simulated time over all. */
  staggerMs?: number | undefined;
  /** Each event: a machine's state change, an error it met, a wake. */
  events?: ((e: SimEvent) => void) | undefined;
  /** UDP port for magic packets (9). */
  wolPort?: number | undefined;
}

export interface SimEvent {
  time: Date;
  mac: string;
  /** The state entered (SIM_STATES), or 'tftp.done', 'loaded', 'wake', 'error', 'note' (what DHCP offered, a NAK). */
  event: string;
  detail: string | undefined;
}

export interface SimSummary {
  machines: number;
  seconds: number;
  speed: number;
  seed: number;
  interface: string;
  address: string;
  states: Record<SimState, number>;
  dhcp: DhcpCounters;
  tftp: SimStats['tftp'];
  http: HttpCounters;
  reports: SimStats['reports'];
  wol: { received: number; bad: number; woke: number; ignored: number; unknown: number };
  /** --own-addresses: addresses put on the interface, and leases that could not be. */
  ownAddresses: { added: number; failed: number } | undefined;
  boots: number;
  failed: { mac: string; after: string; reason: string }[];
}

export interface Simulation {
  readonly machines: readonly Machine[];
  readonly interface: Interface;
  /** Resolves when every machine is done, failed or idle after a local boot. */
  readonly finished: Promise<void>;
  counts(): Record<SimState, number>;
  summary(): SimSummary;
  /** Stops every machine and closes the sockets; the summary stays readable. */
  stop(): Promise<void>;
}

/**
 * TFTP transfers at once while the machines share one address: a TFTP server caps transfers per
 * client address (overnight's at 16), and one address is one client to it.
 */
export const SHARED_ADDRESS_TFTP = 8;
/** A protocol timeout never falls below this, whatever --speed: a real server under load needs it. */
export const MIN_NET_TIMEOUT_MS = 1000;
/** The default power-on spread of all machines, in simulated time. */
const DEFAULT_SPREAD_MS = 5000;

/** Firmware of machine `index`: mixed alternates, BIOS first. */
export function firmwareFor(mix: FirmwareMix, index: number): SimFirmware {
  return mix === 'mixed' ? (index % 2 === 0 ? 'bios' : 'uefi') : mix;
}

/**
 * `count` MACs: the prefix (1 to 5 octets) then a counter from 1 in the remaining octets. A
 * locally administered prefix (02:...) cannot collide with a real card's.
 */
export function macsFromPrefix(prefix: string, count: number): string[] {
  const octets = prefix.trim().toLowerCase().split(/[:-]/);
  if (octets.length < 1 || octets.length > 5 || !octets.every((o) => /^[0-9a-f]{2}$/.test(o))) {
    throw new NetError('E_CONFIG', `--mac-prefix ${JSON.stringify(prefix)} is not 1 to 5 octets such as 02:00:5e`, { prefix });
  }
  if (Number.parseInt(octets[0]!, 16) & 1) throw new NetError('E_CONFIG', `--mac-prefix ${prefix} is a multicast prefix (the first octet is odd): no network card has such a MAC`, { prefix });
  const free = 6 - octets.length;
  const room = 2 ** (8 * free) - 1;
  if (count > room) throw new NetError('E_CONFIG', `--mac-prefix ${prefix} leaves room for ${room} machines, not ${count}: use a shorter prefix`, { prefix, count });
  const out: string[] = [];
  for (let n = 1; n <= count; n++) {
    const tail = n.toString(16).padStart(2 * free, '0').match(/../g)!;
    out.push([...octets, ...tail].join(':'));
  }
  return out;
}

/**
 * MACs from a file: one per line, or the first column of a CSV such as the inventory (a header
 * line and `#` comments are skipped). Duplicates and group addresses are refused with their line.
 */
export function parseMacList(text: string, file: string): string[] {
  const out: string[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const first = line.split(/[,;\t ]/)[0]!.trim().replace(/^"|"$/g, '');
    const mac = normaliseMac(first);
    if (!mac) {
      if (out.length === 0 && seen.size === 0 && /[a-z]/i.test(first) && !/^[0-9a-f:.-]+$/i.test(first)) return; // a header
      throw new NetError('E_CONFIG', `${file}:${i + 1}: ${JSON.stringify(first)} is not a MAC address`, { file, line: i + 1 });
    }
    if (Number.parseInt(mac.slice(0, 2), 16) & 1) throw new NetError('E_CONFIG', `${file}:${i + 1}: ${mac} is a group address, not a network card's`, { file, line: i + 1 });
    const prev = seen.get(mac);
    if (prev !== undefined) throw new NetError('E_CONFIG', `${file}:${i + 1}: ${mac} is already on line ${prev}`, { file, line: i + 1 });
    seen.set(mac, i + 1);
    out.push(mac);
  });
  if (out.length === 0) throw new NetError('E_CONFIG', `${file} holds no MAC addresses`, { file });
  return out;
}

/** The interface the machines are on: named, else the one on the server's subnet, else the only one. */
function chooseInterface(name: string | undefined, server: string | undefined): Interface {
  if (name || !server) return pickInterface(name);
  const on = listInterfaces().filter((i) => sameSubnet(i.address, server, i.netmask));
  if (on.length === 1) return on[0]!;
  if (on.length === 0) throw new NetError('E_NO_INTERFACE', `no interface here is on the subnet of --server ${server}; choose one with --interface`, { server });
  throw new NetError('E_AMBIGUOUS_INTERFACE', `several interfaces are on the subnet of ${server}: ${on.map((i) => i.name).join(', ')}; choose one with --interface`, { server });
}

export async function startSimulation(o: SimulateOptions): Promise<Simulation> {
  const iface = chooseInterface(o.interface, o.server);
  const started = performance.now();
  const stop = new AbortController();
  const signal = stop.signal;
  const scaled = (simMs: number) => simMs / o.speed;
  const sleep = (simMs: number) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        signal.removeEventListener('abort', abort);
        resolve();
      }, scaled(simMs));
      const abort = () => {
        clearTimeout(t);
        reject(signal.reason);
      };
      signal.addEventListener('abort', abort, { once: true });
    });

  const dhcpSocket = await openUdp({ port: 68, device: iface.name });
  const dhcp = new DhcpPort(dhcpSocket);
  const http = new HttpClient({ localAddress: iface.address });
  const stats: SimStats = { tftp: { transfers: 0, bytes: 0, errors: 0, retransmits: 0 }, reports: { sent: 0, errors: 0 }, boots: 0 };
  const wolStats = { woke: 0, ignored: 0, unknown: 0 };

  const owned = o.ownAddresses ? new AddressBook(iface.name) : undefined;
  const sharedTftp = limiter(SHARED_ADDRESS_TFTP, signal);
  const tftpSlot = async (source: string) => (source === iface.address ? sharedTftp() : () => {});

  const counts = Object.fromEntries(SIM_STATES.map((s) => [s, 0])) as Record<SimState, number>;
  counts.off = o.macs.length;
  let finalCount = 0;
  let resolveFinished!: () => void;
  const finished = new Promise<void>((r) => (resolveFinished = r));
  const previous = new Map<Machine, SimState>();
  const xidRng = prng(o.seed ^ 0x5eed);

  const ctx: MachineContext = {
    dhcp,
    http,
    stats,
    server: o.server,
    localAddress: iface.address,
    ownAddress: owned ? (address) => owned.add(address) : undefined,
    tftpSlot,
    fetchMedia: o.fetchMedia,
    signal,
    sleep,
    netTimeout: (simMs) => Math.max(MIN_NET_TIMEOUT_MS, scaled(simMs)),
    // Once a ProxyDHCP offer is in, a while for the site server's address offer (dnsmasq pings an
    // address before it offers it), until some site server is known to answer.
    collectMs: Math.max(MIN_NET_TIMEOUT_MS, scaled(2000)),
    // Transaction ids only; each machine's timings have a stream of their own.
    rng: xidRng,
    emit(m, event, detail) {
      const isState = (SIM_STATES as readonly string[]).includes(event);
      if (isState) {
        const from = previous.get(m) ?? 'off';
        const to = event as SimState;
        counts[from]--;
        counts[to]++;
        previous.set(m, to);
        if (FINAL_STATES.has(from)) finalCount--;
        if (FINAL_STATES.has(to)) finalCount++;
      }
      o.events?.({ time: new Date(), mac: m.mac, event, detail });
      if (isState && finalCount === machines.length) resolveFinished();
    },
  };

  const machines = o.macs.map((mac, i) => new Machine(mac, i, firmwareFor(o.firmware, i), machineTimings(o.seed, i, o.failRate), ctx));
  const byMac = new Map(machines.map((m) => [m.mac, m]));

  let wol: WolListener;
  try {
    wol = await listenWol({ device: iface.name, port: o.wolPort }, (mac) => {
      const m = byMac.get(mac);
      if (!m) {
        wolStats.unknown++;
        return;
      }
      if (m.wake()) {
        wolStats.woke++;
        o.events?.({ time: new Date(), mac, event: 'wake', detail: `magic packet while ${m.state}` });
      } else {
        wolStats.ignored++;
      }
    });
  } catch (e) {
    await dhcp.close();
    http.close();
    throw e;
  }

  const stagger = o.staggerMs ?? scaled(DEFAULT_SPREAD_MS) / Math.max(1, machines.length);
  const runs = machines.map((m, i) => m.run(o.waitForWake ? undefined : i * stagger));

  let stopping: Promise<void> | undefined;
  const summary = (): SimSummary => ({
    machines: machines.length,
    seconds: (performance.now() - started) / 1000,
    speed: o.speed,
    seed: o.seed,
    interface: iface.name,
    address: iface.address,
    states: { ...counts },
    dhcp: { ...dhcp.counters },
    tftp: { ...stats.tftp },
    http: { ...http.counters },
    reports: { ...stats.reports },
    wol: { ...wol.counters, ...wolStats },
    ownAddresses: owned ? { added: owned.count, failed: owned.failures } : undefined,
    boots: stats.boots,
    failed: machines.filter((m) => m.state === 'failed').map((m) => ({ mac: m.mac, after: m.failure?.after ?? m.lastPhase, reason: m.failure?.reason ?? '' })),
  });
  return {
    machines,
    interface: iface,
    finished,
    counts: () => ({ ...counts }),
    summary,
    stop: () =>
      (stopping ??= (async () => {
        stop.abort(new Error('simulation stopped'));
        await Promise.allSettled(runs);
        await Promise.all([dhcp.close(), wol.close()]);
        http.close();
        await owned?.removeAll();
      })()),
  };
}

/** A seed for a run that was given none (printed, so that the run can be repeated). */
export function randomSeed(): number {
  return randomInt(1, 2 ** 31);
}

/**
 * At most `n` holders at once, the rest queued in order; a stop rejects the queued ones (a machine
 * waiting for its turn must not keep the run from ending).
 */
function limiter(n: number, signal: AbortSignal): () => Promise<() => void> {
  let active = 0;
  const queue: (() => void)[] = [];
  const release = () => {
    active--;
    queue.shift()?.();
  };
  return () =>
    new Promise<() => void>((resolve, reject) => {
      signal.throwIfAborted();
      const grant = () => {
        signal.removeEventListener('abort', abort);
        active++;
        let released = false;
        resolve(() => {
          if (!released) release();
          released = true;
        });
      };
      const abort = () => {
        const i = queue.indexOf(grant);
        if (i >= 0) queue.splice(i, 1);
        reject(signal.reason);
      };
      if (active < n) return grant();
      queue.push(grant);
      signal.addEventListener('abort', abort, { once: true });
    });
}

/**
 * The machines' own addresses on the interface (--own-addresses): each added once as a /32 (the
 * subnet's route already reaches the server), and removed when the run ends. An address that is
 * already here (this host's, or left by an earlier run) is used but not removed.
 */
class AddressBook {
  readonly added = new Set<string>();
  /** Addresses added over the run (they are removed at its end). */
  count = 0;
  failures = 0;
  readonly #device: string;
  readonly #pending = new Map<string, Promise<boolean>>();

  constructor(device: string) {
    this.#device = device;
  }

  add(address: string): Promise<boolean> {
    let p = this.#pending.get(address);
    if (!p) {
      p = this.#add(address);
      this.#pending.set(address, p);
    }
    return p;
  }

  async #add(address: string): Promise<boolean> {
    try {
      await pexec('ip', ['-4', 'address', 'add', `${address}/32`, 'dev', this.#device]);
      this.added.add(address);
      this.count++;
      return true;
    } catch (e) {
      if (/File exists/.test((e as { stderr?: string }).stderr ?? '')) return true;
      this.failures++;
      // Not this time; the next boot of a machine with this lease tries again.
      this.#pending.delete(address);
      return false;
    }
  }

  async removeAll(): Promise<void> {
    for (const a of this.added) await pexec('ip', ['-4', 'address', 'del', `${a}/32`, 'dev', this.#device]).catch(() => {});
    this.added.clear();
  }
}
