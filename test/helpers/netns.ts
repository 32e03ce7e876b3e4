// Network labs for tests: namespaces, a bridge, veth pairs and tap devices that the test creates
// and deletes itself. Traffic never leaves the lab. Processes started here are tracked and ended
// by PID (never by name) when the lab is destroyed.
import { type ChildProcess, spawn } from 'node:child_process';
import { run } from './tools.ts';

let counter = 0;

/** Whether this process can create namespaces (root with iproute2). Network tests skip otherwise. */
export async function canUseNetns(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  const name = `ovn-probe-${process.pid}-${counter++}`;
  try {
    await run('ip', ['netns', 'add', name]);
    await run('ip', ['netns', 'del', name]);
    return true;
  } catch {
    return false;
  }
}

export interface LabHost {
  /** Namespace name. */
  readonly ns: string;
  /** Interface name inside the namespace ('eth0'). */
  readonly ifname: string;
  /** Address with prefix, e.g. '10.77.0.1/24', or undefined for an unconfigured client. */
  readonly cidr: string | undefined;
  /** Address without prefix. */
  readonly ip: string | undefined;
  readonly mac: string;
}

/**
 * A switched segment: namespace `<id>-sw` holds bridge `br0`; each host namespace is joined to it
 * by a veth pair; QEMU guests join through tap devices in the switch namespace.
 */
export class Lab {
  readonly id: string;
  readonly switchNs: string;
  readonly hosts = new Map<string, LabHost>();
  readonly #namespaces: string[] = [];
  readonly #children = new Set<ChildProcess>();
  #taps = 0;

  private constructor(id: string) {
    this.id = id;
    this.switchNs = `${id}-sw`;
  }

  static async create(tag = 'lab'): Promise<Lab> {
    // Namespace and interface names stay short: interface names are capped at 15 characters.
    const lab = new Lab(`ovn${tag.slice(0, 4)}${process.pid % 100000}${counter++}`);
    await lab.#addNs(lab.switchNs);
    await lab.exec(lab.switchNs, 'ip', ['link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
    await lab.exec(lab.switchNs, 'ip', ['link', 'set', 'br0', 'up']);
    return lab;
  }

  async #addNs(name: string): Promise<void> {
    await run('ip', ['netns', 'add', name]);
    this.#namespaces.push(name);
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  }

  /** Adds a host namespace joined to the bridge. `cidr` undefined leaves eth0 without an address. */
  async addHost(name: string, cidr: string | undefined, mac?: string): Promise<LabHost> {
    const ns = `${this.id}-${name}`;
    await this.#addNs(ns);
    const n = this.hosts.size;
    const outer = `v${n}${this.id.slice(-6)}`.slice(0, 15);
    await run('ip', ['link', 'add', outer, 'netns', this.switchNs, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await this.exec(this.switchNs, 'ip', ['link', 'set', outer, 'master', 'br0', 'up']);
    if (mac) await this.exec(ns, 'ip', ['link', 'set', 'eth0', 'address', mac]);
    if (cidr) await this.exec(ns, 'ip', ['addr', 'add', cidr, 'dev', 'eth0']);
    await this.exec(ns, 'ip', ['link', 'set', 'eth0', 'up']);
    const { stdout } = await this.exec(ns, 'cat', ['/sys/class/net/eth0/address']);
    const host: LabHost = { ns, ifname: 'eth0', cidr, ip: cidr?.split('/')[0], mac: stdout.trim() };
    this.hosts.set(name, host);
    return host;
  }

  /** Creates a tap device on the bridge for a QEMU guest; QEMU must run in the switch namespace. */
  async addTap(): Promise<string> {
    const tap = `tap${this.#taps++}`;
    await this.exec(this.switchNs, 'ip', ['tuntap', 'add', tap, 'mode', 'tap']);
    await this.exec(this.switchNs, 'ip', ['link', 'set', tap, 'master', 'br0', 'up']);
    return tap;
  }

  /** Runs a command to completion inside a namespace. */
  exec(ns: string, cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
    return run('ip', ['netns', 'exec', ns, cmd, ...args]);
  }

  /** Starts a long-running process inside a namespace; it is ended by PID in destroy(). */
  spawn(ns: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** Ends one process started by spawn() and waits for it. */
  async stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Ends every process still running, then deletes every namespace (and with them the links). */
  async destroy(): Promise<void> {
    await Promise.all([...this.#children].map((c) => this.stop(c)));
    for (const ns of this.#namespaces.reverse()) {
      await run('ip', ['netns', 'del', ns]).catch(() => {});
    }
    this.#namespaces.length = 0;
  }
}

/** Collects a child's stdout+stderr and resolves when `pattern` appears (or rejects on timeout/exit). */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (b: Buffer) => {
      text += b.toString('utf8');
      if (pattern.test(text)) done(() => resolve(text));
    };
    const onExit = (code: number | null) => done(() => reject(new Error(`process exited (${code}) before ${pattern}:\n${text.slice(-4000)}`)));
    const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}:\n${text.slice(-4000)}`))), timeoutMs);
    function done(f: () => void) {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      f();
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

// ---------------------------------------------------------------------------------------------
// Packet capture (tcpdump in a namespace) and a minimal pcap reader for codec fixtures.

export interface Capture {
  /** The pcap file being written. */
  readonly file: string;
  /** Stops tcpdump (by PID) and waits until the file is complete. */
  stop(): Promise<void>;
}

/**
 * Starts `tcpdump -i IFACE -w FILE FILTER` in a namespace of the lab and resolves once tcpdump
 * listens. Default filter: DHCP and PXE boot-server traffic (UDP 67, 68, 4011).
 */
export async function startCapture(lab: Lab, ns: string, iface: string, file: string, filter = 'udp port 67 or udp port 68 or udp port 4011'): Promise<Capture> {
  const child = lab.spawn(ns, 'tcpdump', ['-i', iface, '-U', '--immediate-mode', '-n', '-s', '0', '-w', file, filter]);
  await waitForOutput(child, /listening on/, 10000);
  return { file, stop: () => lab.stop(child, 'SIGINT') };
}

export interface PcapPacket {
  /** Seconds since the epoch (with fraction). */
  time: number;
  /** Link-layer frame (Ethernet). */
  frame: Buffer;
}

/** Reads a classic pcap file (microsecond or nanosecond, either byte order; Ethernet frames). */
export function readPcap(data: Buffer): PcapPacket[] {
  const magic = data.readUInt32LE(0);
  let le: boolean;
  let nano = false;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new Error(`not a pcap file (magic ${magic.toString(16)})`);
  if (magic === 0xa1b23c4d || magic === 0x4d3cb2a1) nano = true;
  const u32 = (o: number) => (le ? data.readUInt32LE(o) : data.readUInt32BE(o));
  const linktype = u32(20);
  if (linktype !== 1) throw new Error(`pcap link type ${linktype}, expected 1 (Ethernet)`);
  const out: PcapPacket[] = [];
  let off = 24;
  while (off + 16 <= data.length) {
    const sec = u32(off);
    const frac = u32(off + 4);
    const incl = u32(off + 8);
    off += 16;
    if (off + incl > data.length) break; // truncated last record
    out.push({ time: sec + frac / (nano ? 1e9 : 1e6), frame: data.subarray(off, off + incl) });
    off += incl;
  }
  return out;
}

export interface UdpDatagram {
  time: number;
  srcMac: string;
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

/** The IPv4/UDP datagrams of Ethernet frames (802.1Q tags skipped), other frames dropped. */
export function udpDatagrams(packets: readonly PcapPacket[]): UdpDatagram[] {
  const out: UdpDatagram[] = [];
  for (const p of packets) {
    const f = p.frame;
    if (f.length < 14) continue;
    let off = 12;
    let type = f.readUInt16BE(off);
    while (type === 0x8100 && f.length >= off + 6) {
      off += 4;
      type = f.readUInt16BE(off);
    }
    off += 2;
    if (type !== 0x0800 || f.length < off + 20) continue;
    const ihl = (f[off]! & 0x0f) * 4;
    if (f[off + 9] !== 17) continue;
    const ip = (o: number) => [...f.subarray(o, o + 4)].join('.');
    const totalLength = f.readUInt16BE(off + 2);
    const udp = off + ihl;
    if (f.length < udp + 8) continue;
    const udpLength = f.readUInt16BE(udp + 4);
    const end = Math.min(udp + udpLength, off + totalLength, f.length);
    out.push({
      time: p.time,
      srcMac: [...f.subarray(6, 12)].map((b) => b.toString(16).padStart(2, '0')).join(':'),
      srcIp: ip(off + 12),
      dstIp: ip(off + 16),
      srcPort: f.readUInt16BE(udp),
      dstPort: f.readUInt16BE(udp + 2),
      payload: Buffer.from(f.subarray(udp + 8, end)),
    });
  }
  return out;
}
