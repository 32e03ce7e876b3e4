// Which network interface to serve on, and UDP sockets tied to one interface.
//
// A DHCP server must know which interface a broadcast arrived on (to put that interface's address
// in the reply, and to answer on the same segment). Node's dgram cannot tell, so on Linux each
// interface gets its own socket bound to the device with SO_BINDTODEVICE: the kernel then hands
// a socket only what arrived on its device, and broadcasts it sends leave through that device.
// The socket is made through koffi (prebuilt FFI) and handed to dgram with bind({ fd }).
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { NetError } from './errors.ts';
import { AF_INET, SO_BINDTODEVICE, SO_BROADCAST, SO_RCVBUFFORCE, SO_REUSEADDR, SOCK_CLOEXEC, SOCK_DGRAM, SOL_SOCKET, errnoName, sockaddrIn, socketSys } from './sys.ts';

export interface Interface {
  name: string;
  /** IPv4 address. */
  address: string;
  netmask: string;
  /** Address with prefix length, e.g. '10.0.0.1/24'. */
  cidr: string;
  mac: string;
  broadcast: string;
}

export function listInterfaces(): Interface[] {
  const out: Interface[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    const v4 = addrs?.find((a) => a.family === 'IPv4' && !a.internal);
    if (!v4 || !v4.cidr) continue;
    out.push({ name, address: v4.address, netmask: v4.netmask, cidr: v4.cidr, mac: v4.mac, broadcast: broadcastOf(v4.address, v4.netmask) });
  }
  return out;
}

/** The named interface, or the only candidate when none is named. */
export function pickInterface(name?: string): Interface {
  const all = listInterfaces();
  if (name) {
    const found = all.find((i) => i.name === name);
    if (found) return found;
    const exists = Object.keys(networkInterfaces()).includes(name);
    throw new NetError(
      'E_NO_INTERFACE',
      exists
        ? `interface ${name} has no IPv4 address: give it a static address on the boot segment first`
        : `no interface named ${name}; interfaces with an IPv4 address: ${all.map((i) => `${i.name} (${i.cidr})`).join(', ') || 'none'}`,
      { interface: name },
    );
  }
  if (all.length === 1) return all[0]!;
  if (all.length === 0) throw new NetError('E_NO_INTERFACE', 'no network interface with an IPv4 address (besides loopback) to serve on', {});
  throw new NetError(
    'E_AMBIGUOUS_INTERFACE',
    `several interfaces could serve network boot: ${all.map((i) => `${i.name} (${i.cidr})`).join(', ')}; choose one with --interface`,
    { candidates: all.map((i) => i.name) },
  );
}

export function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

export function intToIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function broadcastOf(address: string, netmask: string): string {
  return intToIp((ipToInt(address) | ~ipToInt(netmask)) >>> 0);
}

export function sameSubnet(a: string, b: string, netmask: string): boolean {
  const m = ipToInt(netmask);
  return ((ipToInt(a) & m) >>> 0) === ((ipToInt(b) & m) >>> 0);
}

// ---------------------------------------------------------------------------------------------

/**
 * Receive buffer for server sockets: a thousand machines powered on together (Wake-on-LAN) send
 * their DISCOVERs within milliseconds, and the default buffer (~200 KiB) holds about a hundred.
 */
const RECEIVE_BUFFER = 4 * 1024 * 1024;

export interface UdpOptions {
  port: number;
  /** Interface to tie the socket to (Linux); undefined listens on every interface. */
  device?: string | undefined;
  /** Address to bind; '0.0.0.0' (the default) is needed to receive broadcasts. */
  address?: string | undefined;
}

/** A dgram socket bound to `port`, tied to `device` where the platform allows it. */
export async function openUdp(opts: UdpOptions): Promise<dgram.Socket> {
  const address = opts.address ?? '0.0.0.0';
  const sys = opts.device ? await socketSys() : undefined;
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const fail = (e: unknown): never => {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'EACCES' ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)' : err.code === 'EADDRINUSE' ? ' (another server is using it)' : '';
    throw new NetError('E_BIND', `cannot open UDP port ${opts.port}${opts.device ? ` on ${opts.device}` : ''}: ${err.code ?? err.message}${why}`, {
      port: opts.port,
      interface: opts.device,
    });
  };
  if (!sys || !opts.device) {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ port: opts.port, address, exclusive: true }, () => {
        sock.off('error', reject);
        resolve();
      });
    }).catch(fail);
    sock.setBroadcast(true);
    return sock;
  }
  const fd = sys.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(Object.assign(new Error('socket'), { code: errnoName(sys.errno()) }));
  const one = Buffer.alloc(4);
  one.writeInt32LE(1);
  const dev = Buffer.from(opts.device + '\0', 'utf8');
  const sa = sockaddrIn(address, opts.port);
  const steps: [string, () => number][] = [
    ['SO_REUSEADDR', () => sys.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one, 4)],
    ['SO_BROADCAST', () => sys.setsockopt(fd, SOL_SOCKET, SO_BROADCAST, one, 4)],
    ['SO_BINDTODEVICE', () => sys.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, dev.length)],
    ['bind', () => sys.bind(fd, sa, 16)],
  ];
  // Above net.core.rmem_max only with CAP_NET_ADMIN; without it the kernel's cap is used below.
  const size = Buffer.alloc(4);
  size.writeInt32LE(RECEIVE_BUFFER);
  const forced = sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4) === 0;
  for (const [what, step] of steps) {
    if (step() !== 0) {
      const code = errnoName(sys.errno());
      sys.close(fd);
      fail(Object.assign(new Error(what), { code: what === 'bind' ? code : `${what}: ${code}` }));
    }
  }
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ fd }, () => {
      sock.off('error', reject);
      resolve();
    });
  }).catch(fail);
  if (!forced) sock.setRecvBufferSize(RECEIVE_BUFFER);
  return sock;
}

/**
 * Other programs' UDP sockets on `port` in this network namespace (Linux; empty elsewhere). Sockets
 * with SO_REUSEADDR can share a port without an error, so a second DHCP server on this host would
 * otherwise start silently and answer beside the first.
 */
export function udpPortHolders(port: number): { pid: number | undefined; command: string | undefined }[] {
  let table: string;
  try {
    table = readFileSync('/proc/net/udp', 'latin1');
  } catch {
    return [];
  }
  const inodes = new Set<string>();
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    if (Number.parseInt(f[1]!.split(':')[1] ?? '', 16) === port) inodes.add(f[9]!);
  }
  const own = socketsOf('self');
  const others = [...inodes].filter((i) => !own.has(i));
  if (!others.length) return [];
  const out: { pid: number | undefined; command: string | undefined }[] = [];
  const found = new Set<string>();
  for (const d of readdirSafe('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    const mine = socketsOf(d);
    const hit = others.find((i) => mine.has(i) && !found.has(i));
    if (!hit) continue;
    found.add(hit);
    let command: string | undefined;
    try {
      // argv[0]'s name: comm is a thread's name for some programs (Node's is "MainThread").
      const argv0 = readFileSync(`/proc/${d}/cmdline`, 'latin1').split('\0')[0] ?? '';
      command = argv0.split('/').pop() || readFileSync(`/proc/${d}/comm`, 'latin1').trim();
    } catch {
      command = undefined;
    }
    out.push({ pid: Number(d), command });
  }
  for (const i of others) if (!found.has(i)) out.push({ pid: undefined, command: undefined });
  return out;
}

/** Throws E_BIND naming the programs that hold UDP `port` here; `instead` says what else to do. */
export function assertUdpPortFree(port: number, instead: string): void {
  const holders = udpPortHolders(port);
  if (!holders.length) return;
  const who = holders.map((h) => (h.pid ? `${h.command ?? 'a process'} (pid ${h.pid})` : 'another program')).join(', ');
  throw new NetError('E_BIND', `UDP port ${port} is already in use on this host by ${who}: stop it, or ${instead}`, { port, holders });
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function socketsOf(pid: string): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSafe(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(m[1]!);
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

