// The DHCP server: ProxyDHCP (the default: boot answers only, beside the site's own DHCP server)
// or full DHCP with a pool (isolated networks), on UDP 67 and the PXE boot server port 4011.
// Each interface served gets its own sockets tied to it (iface.ts), so every reply carries the
// address of the interface its request arrived on. Decisions are made in respond.ts.
import type dgram from 'node:dgram';
import type { BootPolicy } from '../../boot/policy.ts';
import { NetError } from '../errors.ts';
import { type EventSink, ignoreEvents } from '../events.ts';
import { assertUdpPortFree, type Interface, openUdp, pickInterface } from '../iface.ts';
import { DhcpCodecError, Opt, encodeMessage, optionU16, parseMessage } from './codec.ts';
import { LeasePool, type PoolConfig, type Reservation } from './leases.ts';
import { probeDhcpServers } from './probe.ts';
import { type DhcpMode, respond } from './respond.ts';

export interface DhcpServerOptions {
  mode: DhcpMode;
  /** Interface to serve on; undefined serves on the single detected one. */
  interface?: string | undefined;
  policy: BootPolicy;
  events?: EventSink | undefined;
  /** UDP ports (67 and 4011 unless changed, e.g. by tests); pxePort false disables 4011. */
  port?: number | undefined;
  pxePort?: number | false | undefined;
  /** Full mode: the pool, reservations by MAC, and the SQLite file that keeps leases. */
  pool?: PoolConfig | undefined;
  reservations?: Map<string, Reservation> | undefined;
  leasesFile?: string | undefined;
  /**
   * Full mode: how long to listen for another DHCP server before starting (ms; 0 skips the check,
   * which only a test that knows the segment is empty should do).
   */
  probeMs?: number | undefined;
  /** Called for packets that are not DHCP at all (bad bytes); the server carries on. */
  onMalformed?: ((error: Error, from: string) => void) | undefined;
}

export interface DhcpServer {
  readonly mode: DhcpMode;
  readonly interface: Interface;
  readonly pool: LeasePool | undefined;
  /** Counters since start. */
  readonly stats: { received: number; replied: number; ignored: number; malformed: number };
  close(): Promise<void>;
}

export async function startDhcpServer(opts: DhcpServerOptions): Promise<DhcpServer> {
  const iface = pickInterface(opts.interface);
  const events = opts.events ?? ignoreEvents;
  const port = opts.port ?? 67;
  const pxePort = opts.pxePort ?? 4011;
  // A DHCP server already on this host (with SO_REUSEADDR, as ours) would share the port silently.
  for (const p of [port, ...(pxePort === false ? [] : [pxePort])]) assertUdpPortFree(p, 'let it serve and use --dhcp off');
  let pool: LeasePool | undefined;
  if (opts.mode === 'full') {
    if (!opts.pool) throw new NetError('E_CONFIG', 'full DHCP mode needs an address pool (start, end, netmask)', { interface: iface.name });
    // Refuse before opening anything: two DHCP servers on one segment hand out conflicting
    // addresses, and the machines that lose are the ones being installed.
    const probeMs = opts.probeMs ?? 5000;
    if (probeMs > 0) {
      const others = await probeDhcpServers(iface, { timeoutMs: probeMs, serverPort: port });
      if (others.length) {
        const list = others.map((o) => `${o.server} (offered ${o.offered})`).join(', ');
        throw new NetError(
          'E_DHCP_CONFLICT',
          `another DHCP server answers on ${iface.name}: ${list}. Full DHCP mode would conflict with it; use --dhcp proxy (the default) on this network, or isolate the segment`,
          { interface: iface.name, servers: others.map((o) => o.server) },
        );
      }
    }
    pool = new LeasePool(opts.leasesFile ?? ':memory:', opts.pool, iface.address, opts.reservations);
  }

  const stats = { received: 0, replied: 0, ignored: 0, malformed: 0 };
  const sockets: dgram.Socket[] = [];
  const listen = async (p: number) => {
    const sock = await openUdp({ port: p, device: iface.name });
    sockets.push(sock);
    sock.on('message', (bytes, rinfo) => {
      stats.received++;
      let req;
      try {
        req = parseMessage(bytes);
      } catch (e) {
        stats.malformed++;
        if (e instanceof DhcpCodecError) opts.onMalformed?.(e, `${rinfo.address}:${rinfo.port}`);
        else opts.onMalformed?.(e as Error, `${rinfo.address}:${rinfo.port}`);
        return;
      }
      let out;
      try {
        out = respond(req, { mode: opts.mode, interface: iface.name, serverIp: iface.address, netmask: iface.netmask, port: p, policy: opts.policy, pool });
      } catch (e) {
        // A decision that throws (e.g. a lease store error) costs one reply, never the server.
        stats.malformed++;
        opts.onMalformed?.(e as Error, `${rinfo.address}:${rinfo.port}`);
        return;
      }
      events({ time: new Date(), ...out.event });
      if (!out.reply) {
        stats.ignored++;
        return;
      }
      let bytesOut: Buffer;
      try {
        bytesOut = encodeMessage(out.reply, { maxSize: optionU16(req, Opt.MaximumMessageSize) });
      } catch (e) {
        opts.onMalformed?.(e as Error, `${rinfo.address}:${rinfo.port}`);
        return;
      }
      // Replies go to the port the request came from (68 for clients, 67 for relays).
      const dest = out.to === 'source' ? rinfo.address : out.to === 'broadcast' ? '255.255.255.255' : out.to.address;
      stats.replied++;
      sock.send(bytesOut, rinfo.port, dest);
    });
    sock.on('error', (e) => opts.onMalformed?.(e, 'socket'));
  };
  try {
    await listen(port);
    if (pxePort !== false) await listen(pxePort);
  } catch (e) {
    for (const s of sockets) s.close();
    pool?.close();
    throw e;
  }
  return {
    mode: opts.mode,
    interface: iface,
    pool,
    stats,
    async close() {
      await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
      pool?.close();
    },
  };
}
