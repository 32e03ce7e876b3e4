// The DHCP side of a simulated PXE client: the requests a PXE ROM and then iPXE send (options as
// captured from real ones in test/fixtures/dhcp), what their replies mean, and one UDP socket on
// port 68 shared by every simulated machine, its replies handed out by transaction id.
//
// The exchange follows the PXE 2.1 spec and what EDK2 and iPXE do:
// - DISCOVER (broadcast), retransmitted after 4, 8, 16 and 32 s; offers are collected: an address
//   offer (yiaddr set, from the site's DHCP server or overnight in full mode) and a boot offer
//   (option 60 "PXEClient", from overnight; in full mode the same offer).
// - The address is REQUESTed from the server that offered it (ACK, or NAK and start again).
// - A ProxyDHCP boot offer (yiaddr 0) names the boot file at once when its PXE options say so
//   (option 43, discovery control bit 3: what overnight sends BIOS ROMs); otherwise the client asks
//   the boot server on port 4011 (UEFI firmware; iPXE always does) and boots the file in its ACK.
import { createHash } from 'node:crypto';
import type dgram from 'node:dgram';
import {
  BOOTREPLY,
  type DhcpMessage,
  encodeMessage,
  FLAG_BROADCAST,
  Opt,
  PxeSub,
  ipToBytes,
  messageType,
  messageTypeCode,
  optionIp,
  optionString,
  parseEncapsulated,
  parseMessage,
  request,
  type MessageType,
} from '../net/dhcp/codec.ts';

export type SimFirmware = 'bios' | 'uefi';
/** Which program is asking: the NIC's PXE ROM (first round) or the iPXE it loaded (second round). */
export type DhcpRound = 'rom' | 'ipxe';

export interface DhcpIdentity {
  /** 'aa:bb:cc:dd:ee:ff' */
  mac: string;
  firmware: SimFirmware;
  /** Option 97's value: type 0 and the SMBIOS UUID. */
  uuid: Buffer;
}

/** The SMBIOS UUID of a simulated machine, derived from its MAC (RFC 4122 version 4 bits set). */
export function uuidFor(mac: string): Buffer {
  const u = createHash('sha256').update(`overnight-simulate ${mac}`).digest().subarray(0, 16);
  u[6] = (u[6]! & 0x0f) | 0x40;
  u[8] = (u[8]! & 0x3f) | 0x80;
  return Buffer.concat([Buffer.from([0]), u]);
}

export function uuidText(opt97: Buffer): string {
  const h = opt97.subarray(1).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function macBytes(mac: string): Buffer {
  return Buffer.from(mac.replaceAll(':', ''), 'hex');
}

const hex = (s: string) => Buffer.from(s, 'hex');
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);

/**
 * Options per client, in the order each sends them. PXE ROMs: an Intel-style BIOS ROM (UNDI 2.1)
 * and EDK2's PXE (ovmf-pxe-discover.hex). iPXE: undionly.kpxe and ipxe.efi as captured
 * (ipxe-bios-undionly-discover.hex, ipxe-efi-discover.hex), option 175 included (it names iPXE's
 * features and the NIC's bus id).
 */
function clientOptions(id: DhcpIdentity, round: DhcpRound): [number, Buffer][] {
  const bios = id.firmware === 'bios';
  if (round === 'rom') {
    if (bios) {
      return [
        [Opt.MaximumMessageSize, u16(1260)],
        [Opt.ParameterRequestList, hex('0102030405060b0c0d0f1011122b363c438081828384858687')],
        [Opt.ClientMachineIdentifier, id.uuid],
        [Opt.ClientNetworkInterface, hex('010201')],
        [Opt.ClientSystemArchitecture, u16(0)],
        [Opt.VendorClassIdentifier, Buffer.from('PXEClient:Arch:00000:UNDI:002001', 'latin1')],
      ];
    }
    return [
      [Opt.MaximumMessageSize, u16(1472)],
      [Opt.ParameterRequestList, hex('0102030405060c0d0f111216171c28292a2b3233363a3b3c4243618081828384858687')],
      [Opt.ClientMachineIdentifier, id.uuid],
      [Opt.ClientNetworkInterface, hex('010300')],
      [Opt.ClientSystemArchitecture, u16(7)],
      [Opt.VendorClassIdentifier, Buffer.from('PXEClient:Arch:00007:UNDI:003000', 'latin1')],
    ];
  }
  return [
    [Opt.MaximumMessageSize, u16(1472)],
    [Opt.ClientSystemArchitecture, u16(bios ? 0 : 7)],
    [Opt.ClientNetworkInterface, hex(bios ? '010201' : '01030a')],
    [Opt.VendorClassIdentifier, Buffer.from(bios ? 'PXEClient:Arch:00000:UNDI:002001' : 'PXEClient:Arch:00007:UNDI:003010', 'latin1')],
    [Opt.UserClass, Buffer.from('iPXE', 'latin1')],
    [Opt.ParameterRequestList, hex('010306070c0f111a2b3c4243778081828384858687afcb')],
    [
      Opt.IpxeEncapsulated,
      hex(bios ? 'b105018086100eeb03010000170101220101130101110101270101190101290101100102210101150101180101120101' : 'b105011af41000eb030100001701012401011301011101012701012901011501011b0101120101'),
    ],
    [Opt.ClientIdentifier, Buffer.concat([Buffer.from([1]), macBytes(id.mac)])],
    [Opt.ClientMachineIdentifier, id.uuid],
  ];
}

export interface RequestParams {
  xid: number;
  /** Seconds since the client began (the `secs` field). */
  secs: number;
  /** REQUEST to a DHCP server: its identifier and the address it offered. */
  server?: string | undefined;
  address?: string | undefined;
  /** A request to the boot server on port 4011: the client's own address. */
  ciaddr?: string | undefined;
}

/**
 * A DISCOVER, REQUEST or boot-server REQUEST (port 4011) of one simulated client. The broadcast
 * flag is always set (iPXE on UEFI leaves it clear): replies to a MAC that is not the simulator's
 * own network card only reach it as broadcasts.
 */
export function clientMessage(id: DhcpIdentity, round: DhcpRound, type: MessageType, p: RequestParams): DhcpMessage {
  const m = request(type, macBytes(id.mac), p.xid);
  m.secs = Math.min(0xffff, Math.max(0, Math.floor(p.secs)));
  m.flags = p.ciaddr ? 0 : FLAG_BROADCAST;
  if (p.ciaddr) m.ciaddr = p.ciaddr;
  const opts = new Map<number, Buffer>([[Opt.MessageType, Buffer.from([messageTypeCode(type)])]]);
  for (const [k, v] of clientOptions(id, round)) opts.set(k, v);
  if (p.server) opts.set(Opt.ServerIdentifier, ipToBytes(p.server));
  if (p.address) opts.set(Opt.RequestedIpAddress, ipToBytes(p.address));
  m.options = opts;
  return m;
}

// ---------------------------------------------------------------------------------------------
// Replies

/** What a reply offers, in the terms a PXE client decides by. */
export interface OfferInfo {
  type: MessageType | undefined;
  /** Who sent it: option 54, else siaddr. */
  server: string;
  /** The address offered ('0.0.0.0' for ProxyDHCP). */
  yiaddr: string;
  /** A PXE boot offer: option 60 "PXEClient" (or a boot file). */
  boot: boolean;
  /** The boot file: the file field, else option 67. */
  bootFile: string;
  /** Where to fetch it: siaddr, else option 66, else the server. */
  nextServer: string;
  /** PXE option 43 discovery control bit 3: boot the file in this offer, skip boot server discovery. */
  bootNow: boolean;
}

export function offerInfo(m: DhcpMessage): OfferInfo {
  const server = optionIp(m, Opt.ServerIdentifier) ?? m.siaddr;
  const bootFile = m.file || optionString(m, Opt.BootfileName) || '';
  const vendor = optionString(m, Opt.VendorClassIdentifier) ?? '';
  const pxe = parseEncapsulated(m.options.get(Opt.VendorSpecific));
  const control = pxe.get(PxeSub.DiscoveryControl);
  const tftpName = optionString(m, Opt.TftpServerName);
  return {
    type: messageType(m),
    server,
    yiaddr: m.yiaddr,
    boot: vendor.startsWith('PXEClient') || bootFile !== '',
    bootFile,
    nextServer: m.siaddr !== '0.0.0.0' ? m.siaddr : tftpName && /^\d+\.\d+\.\d+\.\d+$/.test(tftpName) ? tftpName : server,
    bootNow: control?.length === 1 && (control[0]! & 0x08) !== 0 && bootFile !== '',
  };
}

/**
 * Whether a reply belongs to this exchange: a BOOTREPLY with our xid and MAC. A DHCP server that
 * copies chaddr wrongly is not ours to trust.
 */
export function replyMatches(m: DhcpMessage, xid: number, mac: string): boolean {
  return m.op === BOOTREPLY && m.xid === xid >>> 0 && m.hlen === 6 && m.chaddr.subarray(0, 6).equals(macBytes(mac));
}

// ---------------------------------------------------------------------------------------------
// The shared port-68 socket

export interface DhcpCounters {
  sent: number;
  received: number;
  /** Not DHCP at all, or a reply that makes no sense for its exchange. */
  bad: number;
  /** Replies for no exchange in progress (other clients' traffic, late answers). */
  unclaimed: number;
  timeouts: number;
  naks: number;
  errors: number;
}

export type ReplyHandler = (m: DhcpMessage, from: { address: string; port: number }) => void;

/**
 * Port 68 for every simulated machine at once: replies are broadcast (or sent to this host's
 * address), so one socket hears all of them and hands each to the exchange its xid names.
 */
export class DhcpPort {
  readonly counters: DhcpCounters = { sent: 0, received: 0, bad: 0, unclaimed: 0, timeouts: 0, naks: 0, errors: 0 };
  /**
   * A DHCP server that hands out addresses answers on this segment (seen in some exchange): a
   * ProxyDHCP boot offer then waits for its address offer, as a PXE ROM must; without one the
   * machines go on with this host's address at once.
   */
  addressServerSeen = false;
  readonly #socket: dgram.Socket;
  readonly #handlers = new Map<number, ReplyHandler>();

  constructor(socket: dgram.Socket) {
    this.#socket = socket;
    socket.on('message', (bytes, rinfo) => {
      this.counters.received++;
      let m: DhcpMessage;
      try {
        // parseMessage keeps views of the buffer: dgram hands each datagram its own.
        m = parseMessage(bytes);
      } catch {
        this.counters.bad++;
        return;
      }
      // Our own broadcasts come back to port 68 only from relays; requests are never replies.
      if (m.op !== BOOTREPLY) return;
      const h = this.#handlers.get(m.xid);
      if (!h) {
        this.counters.unclaimed++;
        return;
      }
      try {
        h(m, { address: rinfo.address, port: rinfo.port });
      } catch {
        // A reply the exchange cannot make sense of costs that reply, never the run.
        this.counters.bad++;
      }
    });
    socket.on('error', () => {
      this.counters.errors++;
    });
  }

  /** Hands replies with this xid to `handler` until the returned function is called. */
  claim(xid: number, handler: ReplyHandler): () => void {
    const key = xid >>> 0;
    this.#handlers.set(key, handler);
    return () => {
      if (this.#handlers.get(key) === handler) this.#handlers.delete(key);
    };
  }

  /** A fresh transaction id that no exchange in progress uses. */
  newXid(rng: () => number): number {
    for (;;) {
      const x = Math.floor(rng() * 0x100000000) >>> 0;
      if (x !== 0 && !this.#handlers.has(x)) return x;
    }
  }

  send(bytes: Buffer, address: string, port: number): Promise<void> {
    this.counters.sent++;
    return new Promise((resolve) => {
      this.#socket.send(bytes, port, address, (e) => {
        if (e) this.counters.errors++;
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------
// One PXE DHCP exchange

/** Why a client got no boot file; the codes and words are the PXE ROM's own. */
export class DhcpFailure extends Error {
  readonly code: 'PXE-E51' | 'PXE-E53' | 'PXE-E55';
  constructor(code: DhcpFailure['code'], message: string) {
    super(`${code}: ${message}`);
    this.name = 'DhcpFailure';
    this.code = code;
  }
}

export interface ExchangeContext {
  port: DhcpPort;
  rng: () => number;
  /** Wall-clock milliseconds for a protocol timeout of `simMs` (scaled by --speed, with a floor). */
  timeout(simMs: number): number;
  /** Wall-clock milliseconds to wait for more offers once a ProxyDHCP boot offer is in. */
  collectMs: number;
  /** Boot offers only from this server (--server); undefined takes the first. */
  server: string | undefined;
  /** This host's address: every simulated machine's traffic leaves from it. */
  localAddress: string;
  signal: AbortSignal;
  /** Each message sent and each reply taken, for the event log. */
  note?: ((what: string) => void) | undefined;
}

export interface DhcpOutcome {
  /** The machine's address: leased when a DHCP server gave one, else this host's. */
  address: string;
  leasedFrom: string | undefined;
  /** The server that answered the boot question. */
  bootServer: string;
  bootFile: string;
  /** Where the boot file is fetched from (TFTP). */
  nextServer: string;
  /** ProxyDHCP (yiaddr 0) or full DHCP. */
  mode: 'proxy' | 'full';
  /** Where the boot file name came from. */
  via: 'offer' | 'ack' | 'port 4011';
}

/** PXE 2.1 §2.2.1: DISCOVER timeouts 4, 8, 16 and 32 s; REQUESTs get the first three. */
const DISCOVER_TIMEOUTS = [4000, 8000, 16000, 32000];
const REQUEST_TIMEOUTS = [4000, 8000, 16000];

/** Sleeps until `deadline` (performance.now() ms) or until notify(), whichever is first. */
class Waiter {
  #wake: (() => void) | undefined;
  notify(): void {
    this.#wake?.();
  }
  until(deadline: number, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', abort);
        this.#wake = undefined;
      };
      const t = setTimeout(() => {
        done();
        resolve();
      }, Math.max(0, deadline - performance.now()));
      const abort = () => {
        done();
        reject(signal.reason);
      };
      signal.addEventListener('abort', abort, { once: true });
      this.#wake = () => {
        done();
        resolve();
      };
    });
  }
}

/**
 * Sends `bytes` and waits for a reply `accept` takes (returning true), retransmitting after each
 * timeout; resolves with the reply, or undefined when every attempt timed out.
 */
async function exchange(ctx: ExchangeContext, xid: number, mac: string, bytes: Buffer, to: { address: string; port: number }, timeouts: readonly number[], accept: (m: DhcpMessage) => boolean): Promise<DhcpMessage | undefined> {
  const waiter = new Waiter();
  let got: DhcpMessage | undefined;
  const release = ctx.port.claim(xid, (m) => {
    if (got) return;
    if (!replyMatches(m, xid, mac)) {
      ctx.port.counters.bad++;
      return;
    }
    if (accept(m)) {
      got = m;
      waiter.notify();
    }
  });
  try {
    for (const t of timeouts) {
      await ctx.port.send(bytes, to.address, to.port);
      const end = performance.now() + ctx.timeout(t);
      while (!got && performance.now() < end) await waiter.until(end, ctx.signal);
      if (got) return got;
      ctx.port.counters.timeouts++;
    }
    return undefined;
  } finally {
    release();
  }
}

/**
 * One PXE DHCP exchange of one machine (the ROM's, or iPXE's): DISCOVER until a boot offer comes,
 * REQUEST the address offered, and ask port 4011 when the boot offer leaves the file to the boot
 * server. Throws DhcpFailure as the ROM would show it.
 */
export async function pxeDhcp(id: DhcpIdentity, round: DhcpRound, ctx: ExchangeContext): Promise<DhcpOutcome> {
  const started = performance.now();
  const secs = () => (performance.now() - started) / 1000;
  for (let attempt = 0; ; attempt++) {
    const xid = ctx.port.newXid(ctx.rng);
    let boot: OfferInfo | undefined;
    let lease: OfferInfo | undefined;
    let bootAt = 0;
    const waiter = new Waiter();
    const release = ctx.port.claim(xid, (m) => {
      if (!replyMatches(m, xid, id.mac)) {
        ctx.port.counters.bad++;
        return;
      }
      const o = offerInfo(m);
      if (o.type !== 'OFFER') return;
      if (o.boot && !boot && (ctx.server === undefined || o.server === ctx.server || o.nextServer === ctx.server)) {
        boot = o;
        bootAt = performance.now();
        ctx.note?.(`offer from ${o.server}: ${o.yiaddr === '0.0.0.0' ? 'ProxyDHCP' : o.yiaddr}${o.bootFile ? ` ${o.bootFile}` : ''}`);
      }
      if (o.yiaddr !== '0.0.0.0') {
        ctx.port.addressServerSeen = true;
        lease ??= o;
      }
      waiter.notify();
    });
    // A full-mode boot offer carries its own address. A ProxyDHCP one waits for the site server's
    // offer where there is a site server, else only a moment (the machines have this host's address).
    const patient = () => ctx.port.addressServerSeen;
    const decided = () => boot !== undefined && (boot.yiaddr !== '0.0.0.0' || lease !== undefined || (!patient() && performance.now() >= bootAt + ctx.collectMs));
    try {
      for (const t of DISCOVER_TIMEOUTS) {
        await ctx.port.send(encodeMessage(clientMessage(id, round, 'DISCOVER', { xid, secs: secs() })), '255.255.255.255', 67);
        const end = performance.now() + ctx.timeout(t);
        while (!decided() && performance.now() < end) await waiter.until(boot && !patient() ? Math.min(end, bootAt + ctx.collectMs) : end, ctx.signal);
        if (decided()) break;
        ctx.port.counters.timeouts++;
      }
    } finally {
      release();
    }
    // The site server never offered this machine an address (pool exhausted?): a real ROM would
    // stop here; the simulated one goes on with this host's address.
    if (!boot) {
      if (lease) throw new DhcpFailure('PXE-E53', `No boot filename received (an address offer from ${lease.server}, no PXE boot offer)`);
      throw new DhcpFailure('PXE-E51', 'No DHCP or proxyDHCP offers were received');
    }
    const full = boot.yiaddr !== '0.0.0.0';
    const leaseOffer = full ? boot : lease;
    let address = ctx.localAddress;
    let ack: DhcpMessage | undefined;
    if (leaseOffer) {
      const req = encodeMessage(clientMessage(id, round, 'REQUEST', { xid, secs: secs(), server: leaseOffer.server, address: leaseOffer.yiaddr }));
      const reply = await exchange(ctx, xid, id.mac, req, { address: '255.255.255.255', port: 67 }, REQUEST_TIMEOUTS, (m) => {
        const t = messageType(m);
        return (t === 'ACK' || t === 'NAK') && (optionIp(m, Opt.ServerIdentifier) ?? m.siaddr) === leaseOffer.server;
      });
      if (!reply || messageType(reply) === 'NAK') {
        // A NAK or silence: the ROM starts over with a new DISCOVER.
        if (reply) ctx.port.counters.naks++;
        ctx.note?.(`${reply ? 'NAK' : 'no ACK'} from ${leaseOffer.server} for ${leaseOffer.yiaddr}; discovering again`);
        if (attempt >= 3) throw new DhcpFailure('PXE-E51', `No DHCP ACK for ${leaseOffer.yiaddr} from ${leaseOffer.server} after ${attempt + 1} tries`);
        continue;
      }
      ack = reply;
      address = reply.yiaddr !== '0.0.0.0' ? reply.yiaddr : leaseOffer.yiaddr;
    }
    const result = { address, leasedFrom: leaseOffer?.server, bootServer: boot.server, mode: full ? ('full' as const) : ('proxy' as const) };
    if (full) {
      const a = ack ? offerInfo(ack) : boot;
      const bootFile = a.bootFile || boot.bootFile;
      if (!bootFile) throw new DhcpFailure('PXE-E53', `No boot filename received from ${boot.server}`);
      return { ...result, bootFile, nextServer: a.bootFile ? a.nextServer : boot.nextServer, via: 'ack' };
    }
    if (round === 'rom' && boot.bootNow) return { ...result, bootFile: boot.bootFile, nextServer: boot.nextServer, via: 'offer' };
    // The boot server answers on 4011 (EDK2 after an offer without PXE options; iPXE always).
    const bootServer = boot.server;
    const req = encodeMessage(clientMessage(id, round, 'REQUEST', { xid, secs: secs(), ciaddr: address, server: round === 'ipxe' ? bootServer : undefined }));
    const reply = await exchange(ctx, xid, id.mac, req, { address: bootServer, port: 4011 }, REQUEST_TIMEOUTS, (m) => messageType(m) === 'ACK');
    const info = reply ? offerInfo(reply) : undefined;
    if (info?.bootFile) return { ...result, bootFile: info.bootFile, nextServer: info.nextServer, via: 'port 4011' };
    // iPXE goes on with the ProxyDHCP offer when the boot server stays silent; a PXE ROM cannot.
    if (round === 'ipxe' && boot.bootFile) return { ...result, bootFile: boot.bootFile, nextServer: boot.nextServer, via: 'offer' };
    throw new DhcpFailure(reply ? 'PXE-E53' : 'PXE-E55', reply ? `No boot filename received from ${bootServer}:4011` : `ProxyDHCP service did not reply to request on port 4011 (${bootServer})`);
  }
}
