// The DHCP decisions, as a pure function from a request (and where it arrived) to a reply and an
// event. ProxyDHCP (PXE 2.1 §2.2.3) answers boot questions only and never sets yiaddr; full mode
// adds addresses from a LeasePool. The server (server.ts) does the sending.
import type { BootPolicy } from '../../boot/policy.ts';
import type { DhcpEvent } from '../events.ts';
import {
  type DhcpMessage,
  BOOTREQUEST,
  FLAG_BROADCAST,
  Opt,
  PxeSub,
  clientMachineId,
  encodeEncapsulated,
  ipToBytes,
  macOf,
  messageType,
  optionIp,
  optionString,
  parseEncapsulated,
  replyTo,
} from './codec.ts';
import type { LeasePool } from './leases.ts';
import { type ClientKind, classify } from './pxe.ts';

export type DhcpMode = 'proxy' | 'full';

export interface RespondContext {
  mode: DhcpMode;
  /** The interface the request arrived on and its address. */
  interface: string;
  serverIp: string;
  netmask: string;
  /** 67 (DHCP/ProxyDHCP) or 4011 (PXE boot server requests). */
  port: number;
  policy: BootPolicy;
  pool?: LeasePool | undefined;
  now?: number | undefined;
}

export interface Response {
  reply: DhcpMessage | undefined;
  /** Where to send it: 'broadcast', or a unicast address. The port is the request's source port. */
  to: 'broadcast' | 'source' | { address: string };
  event: Omit<DhcpEvent, 'time'>;
}

export function respond(req: DhcpMessage, ctx: RespondContext): Response {
  const mac = macOf(req);
  const type = messageType(req);
  const kind = classify(req);
  const base = {
    mac,
    interface: ctx.interface,
    request: type ?? 'BOOTP',
    arch: kind.firmware === 'unknown' && kind.arch !== undefined ? `arch ${kind.arch}` : kind.firmware,
    ipxe: kind.ipxe,
    port: ctx.port,
  };
  const ignore = (reason: string): Response => ({ reply: undefined, to: 'broadcast', event: { type: 'dhcp.ignore', ...base, reason } });
  if (req.op !== BOOTREQUEST) return ignore('not a BOOTREQUEST');
  if (req.htype !== 1 || req.hlen !== 6) return ignore(`hardware type ${req.htype} length ${req.hlen} is not Ethernet`);
  if (!type) return ignore('BOOTP request without a DHCP message type');

  // Port 4011: a PXE client asking the boot server directly (UEFI firmware after a ProxyDHCP
  // offer without PXE options, iPXE after any ProxyDHCP offer). Answer with boot data only,
  // to the address and port it came from.
  if (ctx.port !== 67) {
    if (type !== 'REQUEST' && type !== 'INFORM') return ignore(`${type} on the boot server port`);
    const boot = ctx.policy.decide({ mac, xid: req.xid, kind, serverIp: ctx.serverIp });
    if ('ignore' in boot) return ignore(boot.ignore);
    const reply = replyTo(req, 'ACK');
    reply.ciaddr = req.ciaddr;
    addBootInfo(reply, req, kind, boot, ctx, true);
    return { reply, to: 'source', event: { type: 'dhcp.ack', ...base, bootFile: boot.bootFile } };
  }

  if (req.giaddr !== '0.0.0.0' && ctx.mode === 'full') return ignore(`relayed from ${req.giaddr}: full mode serves only its own segment`);

  if (ctx.mode === 'proxy') {
    if (type === 'DISCOVER' || (type === 'REQUEST' && optionIp(req, Opt.ServerIdentifier) === ctx.serverIp)) {
      if (!kind.netboot && !kind.ipxe) return ignore('not a network boot client (no PXEClient/HTTPClient vendor class)');
      const boot = ctx.policy.decide({ mac, xid: req.xid, kind, serverIp: ctx.serverIp });
      if ('ignore' in boot) return ignore(boot.ignore);
      const reply = replyTo(req, type === 'DISCOVER' ? 'OFFER' : 'ACK');
      addBootInfo(reply, req, kind, boot, ctx, false);
      return { reply, to: destination(req), event: { type: type === 'DISCOVER' ? 'dhcp.offer' : 'dhcp.ack', ...base, bootFile: boot.bootFile } };
    }
    return ignore(type === 'REQUEST' ? 'a REQUEST for the site DHCP server' : `${type}: a ProxyDHCP server has no addresses`);
  }

  // Full mode.
  const pool = ctx.pool;
  if (!pool) return ignore('full mode without an address pool');
  const now = ctx.now ?? Date.now();
  // Boot data for network boot clients, decided only for a reply that carries it (the policy
  // keeps per-machine state, so RELEASE or a refused REQUEST must not consult it).
  const withBoot = (reply: DhcpMessage): string | undefined => {
    if (!kind.netboot && !kind.ipxe) return undefined;
    const boot = ctx.policy.decide({ mac, xid: req.xid, kind, serverIp: ctx.serverIp });
    if ('ignore' in boot) return undefined;
    addBootInfo(reply, req, kind, boot, ctx, false);
    return boot.bootFile;
  };
  const hostname = optionString(req, Opt.HostName);
  switch (type) {
    case 'DISCOVER': {
      const ip = pool.offer(mac, optionIp(req, Opt.RequestedIpAddress), now);
      if (!ip) return ignore('address pool exhausted');
      const reply = replyTo(req, 'OFFER');
      reply.yiaddr = ip;
      addLeaseOptions(reply, ctx, pool);
      const bootFile = withBoot(reply);
      return { reply, to: destination(req), event: { type: 'dhcp.offer', ...base, address: ip, bootFile } };
    }
    case 'REQUEST': {
      const server = optionIp(req, Opt.ServerIdentifier);
      if (server && server !== ctx.serverIp) return ignore(`the client chose server ${server}`);
      // SELECTING/INIT-REBOOT name the address in option 50; RENEWING/REBINDING in ciaddr.
      const ip = optionIp(req, Opt.RequestedIpAddress) ?? (req.ciaddr !== '0.0.0.0' ? req.ciaddr : undefined);
      if (!ip) return ignore('REQUEST names no address');
      const result = pool.ack(mac, ip, hostname, now);
      if (!result.ok) {
        // INIT-REBOOT for an address this server knows nothing about: stay silent (RFC 2131 §4.3.2).
        if (!server && req.ciaddr === '0.0.0.0' && !pool.leaseOf(mac) && result.reason.includes('not in this')) return ignore(result.reason);
        const nak = replyTo(req, 'NAK');
        nak.options.set(Opt.ServerIdentifier, ipToBytes(ctx.serverIp));
        nak.options.set(Opt.Message, Buffer.from(result.reason, 'latin1'));
        nak.flags |= FLAG_BROADCAST;
        return { reply: nak, to: 'broadcast', event: { type: 'dhcp.nak', ...base, address: ip, reason: result.reason } };
      }
      const reply = replyTo(req, 'ACK');
      reply.yiaddr = ip;
      reply.ciaddr = req.ciaddr;
      addLeaseOptions(reply, ctx, pool);
      const bootFile = withBoot(reply);
      return { reply, to: destination(req), event: { type: 'dhcp.ack', ...base, address: ip, bootFile } };
    }
    case 'INFORM': {
      const reply = replyTo(req, 'ACK');
      reply.ciaddr = req.ciaddr;
      addLeaseOptions(reply, ctx, pool, false);
      const bootFile = withBoot(reply);
      return { reply, to: destination(req), event: { type: 'dhcp.ack', ...base, address: req.ciaddr, bootFile } };
    }
    case 'RELEASE':
      pool.release(mac, req.ciaddr);
      return { reply: undefined, to: 'broadcast', event: { type: 'dhcp.release', ...base, address: req.ciaddr } };
    case 'DECLINE': {
      const ip = optionIp(req, Opt.RequestedIpAddress) ?? req.ciaddr;
      pool.decline(mac, ip, now);
      return { reply: undefined, to: 'broadcast', event: { type: 'dhcp.decline', ...base, address: ip } };
    }
    default:
      return ignore(`${type} is not a client message`);
  }
}

/** RFC 2131 §4.1: relay → giaddr; client with an address → unicast; otherwise broadcast. */
function destination(req: DhcpMessage): Response['to'] {
  if (req.giaddr !== '0.0.0.0') return { address: req.giaddr };
  if (req.ciaddr !== '0.0.0.0') return { address: req.ciaddr };
  return 'broadcast';
}

function addLeaseOptions(reply: DhcpMessage, ctx: RespondContext, pool: LeasePool, lease = true): void {
  const c = pool.config;
  reply.options.set(Opt.ServerIdentifier, ipToBytes(ctx.serverIp));
  if (lease) {
    const t = c.leaseSeconds;
    reply.options.set(Opt.IpAddressLeaseTime, u32(t));
    reply.options.set(Opt.RenewalTime, u32(Math.floor(t / 2)));
    reply.options.set(Opt.RebindingTime, u32(Math.floor((t * 7) / 8)));
  }
  reply.options.set(Opt.SubnetMask, ipToBytes(c.netmask));
  if (c.router) reply.options.set(Opt.Router, ipToBytes(c.router));
  if (c.dns.length) reply.options.set(Opt.DomainNameServer, Buffer.concat(c.dns.map(ipToBytes)));
  if (c.domain) reply.options.set(Opt.DomainName, Buffer.from(c.domain, 'latin1'));
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/**
 * The boot part of a reply. siaddr is always this server: iPXE ignores a ProxyDHCP offer whose
 * siaddr is zero, and explicit addresses keep a second PXE server from being used by accident.
 */
function addBootInfo(
  reply: DhcpMessage,
  req: DhcpMessage,
  kind: ClientKind,
  boot: { bootFile: string; vendorClass: string },
  ctx: RespondContext,
  bootServerReply: boolean,
): void {
  reply.siaddr = ctx.serverIp;
  reply.options.set(Opt.ServerIdentifier, ipToBytes(ctx.serverIp));
  reply.options.set(Opt.VendorClassIdentifier, Buffer.from(boot.vendorClass, 'latin1'));
  const uuid = clientMachineId(req);
  if (uuid) reply.options.set(Opt.ClientMachineIdentifier, uuid);
  // The file field holds 127 bytes; longer names (long URLs) go in option 67 only.
  if (Buffer.byteLength(boot.bootFile, 'latin1') <= 127) reply.file = boot.bootFile;
  else reply.options.set(Opt.BootfileName, Buffer.from(boot.bootFile, 'latin1'));
  if (kind.httpBoot || kind.ipxe) return;
  const requested = parseEncapsulated(req.options.get(Opt.VendorSpecific));
  const item = requested.get(PxeSub.BootItem);
  if (bootServerReply) {
    // PXE 2.1 §2.2.4: a boot server ACK echoes the boot item (type and layer) it answers.
    if (item?.length === 4) reply.options.set(Opt.VendorSpecific, encodeEncapsulated([[PxeSub.BootItem, item]]));
    return;
  }
  // BIOS PXE ROMs: discovery control bit 3, "boot the file in this offer, skip boot server
  // discovery". UEFI firmware gets no PXE options, which makes EDK2 ask port 4011 for the file
  // (its BINL path): that is the flow UEFI firmware handles most consistently.
  if (kind.firmware === 'bios') reply.options.set(Opt.VendorSpecific, encodeEncapsulated([[PxeSub.DiscoveryControl, Buffer.from([8])]]));
}
