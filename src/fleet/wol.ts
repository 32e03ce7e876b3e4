// Wake-on-LAN: the magic packet (pure) and a sender over UDP broadcast.
//
// A magic packet is 6 bytes of 0xFF then the target's MAC 16 times (102 bytes), optionally followed
// by a SecureOn password of 4 or 6 bytes. A sleeping NIC scans every frame for that pattern, so the
// transport hardly matters; UDP to the segment's broadcast address, port 9 (discard), is what
// firmware and switches expect, and the Ethernet destination is then ff:ff:ff:ff:ff:ff.
import dgram from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { normaliseMac } from '../net/http/path.ts';
import { intToIp, ipToInt, openUdp } from '../net/iface.ts';

export const WAKE_PORT = 9;
export const MAGIC_PACKET_BYTES = 102;
const SYNC = 6;
const REPEATS = 16;

export type WakeErrorCode =
  | 'E_WAKE_MAC' // not a MAC address a NIC can have
  | 'E_WAKE_PASSWORD' // a SecureOn password that is not 4 or 6 bytes
  | 'E_WAKE_ADDRESS' // a broadcast or bind address that is not IPv4, or a bad prefix
  | 'E_WAKE_SEND'; // the socket could not be opened or a send failed

export class WakeError extends Error {
  readonly code: WakeErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: WakeErrorCode, message: string, context: Record<string, unknown> = {}) {
    super(message);
    this.name = 'WakeError';
    this.code = code;
    this.context = context;
  }
}

/** The 6 bytes of a MAC in any of the forms the API accepts (colons, dashes, bare hex). */
function macBytes(mac: string): Buffer {
  const norm = normaliseMac(mac.trim());
  if (!norm) throw new WakeError('E_WAKE_MAC', `"${mac}" is not a MAC address (e.g. 00:1a:2b:3c:4d:5e)`, { mac });
  const b = Buffer.from(norm.replaceAll(':', ''), 'hex');
  // A group address (broadcast, multicast) or all zeros is no NIC's own: no card would wake.
  if (b[0]! & 1) throw new WakeError('E_WAKE_MAC', `${norm} is a group (multicast or broadcast) address, not a network card's`, { mac });
  if (b.every((x) => x === 0)) throw new WakeError('E_WAKE_MAC', `${norm} is all zeros, not a network card's address`, { mac });
  return b;
}

/**
 * A SecureOn password: a Buffer of 4 or 6 bytes, 6 bytes written like a MAC (as ether-wake takes
 * it), or 4 bytes written like an IPv4 address.
 */
function passwordBytes(password: string | Uint8Array): Buffer {
  let b: Buffer | undefined;
  if (typeof password !== 'string') b = Buffer.from(password);
  else if (/^\d{1,3}(\.\d{1,3}){3}$/.test(password)) {
    const parts = password.split('.').map(Number);
    if (parts.every((p) => p <= 255)) b = Buffer.from(parts);
  } else if (/^[0-9a-f]{2}([:-]?[0-9a-f]{2}){3}(([:-]?[0-9a-f]{2}){2})?$/i.test(password)) {
    b = Buffer.from(password.replace(/[:-]/g, ''), 'hex');
  }
  if (!b || (b.length !== 4 && b.length !== 6)) {
    throw new WakeError('E_WAKE_PASSWORD', `a SecureOn password is 4 or 6 bytes (e.g. 01:02:03:04:05:06 or 192.168.1.1), not ${typeof password === 'string' ? `"${password}"` : `${password.length} bytes`}`, {});
  }
  return b;
}

/** The magic packet for `mac`: 102 bytes, or 106/108 with a SecureOn password. */
export function magicPacket(mac: string, password?: string | Uint8Array): Buffer {
  const m = macBytes(mac);
  const pw = password === undefined ? Buffer.alloc(0) : passwordBytes(password);
  const out = Buffer.alloc(MAGIC_PACKET_BYTES + pw.length, 0xff);
  for (let i = 0; i < REPEATS; i++) m.copy(out, SYNC + i * 6);
  pw.copy(out, MAGIC_PACKET_BYTES);
  return out;
}

/**
 * The MAC a magic packet wakes, or undefined for anything that is not exactly one: wrong length
 * (102, or 106/108 with a password), a sync stream other than 6 × 0xFF, the 16 copies differing,
 * or a MAC no card can have.
 */
export function parseMagicPacket(buf: Uint8Array): string | undefined {
  if (buf.length !== MAGIC_PACKET_BYTES && buf.length !== MAGIC_PACKET_BYTES + 4 && buf.length !== MAGIC_PACKET_BYTES + 6) return undefined;
  for (let i = 0; i < SYNC; i++) if (buf[i] !== 0xff) return undefined;
  for (let i = 1; i < REPEATS; i++) {
    for (let j = 0; j < 6; j++) if (buf[SYNC + i * 6 + j] !== buf[SYNC + j]) return undefined;
  }
  const m = buf.subarray(SYNC, SYNC + 6);
  if (m[0]! & 1 || m.every((x) => x === 0)) return undefined;
  return [...m].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The broadcast address of a subnet: '10.77.0.1/24' → '10.77.0.255'. */
export function broadcastOf(cidr: string): string {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr.trim());
  const prefix = m ? Number(m[2]) : -1;
  if (!m || !isIpv4(m[1]!) || prefix > 32) throw new WakeError('E_WAKE_ADDRESS', `"${cidr}" is not an IPv4 address with a prefix length (e.g. 10.77.0.1/24)`, { cidr });
  // A /31 or /32 has no broadcast address of its own: the limited broadcast still reaches the link.
  if (prefix >= 31) return '255.255.255.255';
  const host = prefix === 0 ? 0xffffffff : (1 << (32 - prefix)) - 1;
  return intToIp((ipToInt(m[1]!) | host) >>> 0);
}

function isIpv4(s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s) && s.split('.').every((p) => Number(p) <= 255);
}

export interface WakeOptions {
  /** Destination: the segment's broadcast address (broadcastOf(cidr)) or 255.255.255.255. */
  broadcast: string;
  /** UDP port; 9 (discard) unless the site's firmware listens on another (7 is also common). */
  port?: number | undefined;
  /** Send from this address (the interface's own), so that the packets leave on its segment. */
  bindAddress?: string | undefined;
  /** Also tie the socket to this interface (Linux), for hosts with several on one subnet. */
  device?: string | undefined;
  /** Each packet is sent this many times: NICs in deep sleep miss single packets. */
  repeat?: number | undefined;
  /** Pause between the rounds of `repeat`, in milliseconds. */
  intervalMs?: number | undefined;
  /** SecureOn password, for NICs that are configured with one. */
  password?: string | Uint8Array | undefined;
}

export interface WakeResult {
  /** The MACs woken, normalised (aa:bb:cc:dd:ee:ff), in the order given, duplicates removed. */
  macs: string[];
  /** Datagrams sent: macs × repeat. */
  packets: number;
}

type SenderSettings = { broadcast: string; port: number; repeat: number; intervalMs: number; password: string | Uint8Array | undefined };

/** A broadcast socket that stays open for a deployment's waves of wake-ups. */
export class WakeSender {
  readonly #sock: dgram.Socket;
  readonly #opts: SenderSettings;
  #closed = false;

  private constructor(sock: dgram.Socket, opts: SenderSettings) {
    this.#sock = sock;
    this.#opts = opts;
  }

  static async open(o: WakeOptions): Promise<WakeSender> {
    if (!isIpv4(o.broadcast)) throw new WakeError('E_WAKE_ADDRESS', `"${o.broadcast}" is not an IPv4 broadcast address`, { broadcast: o.broadcast });
    if (o.bindAddress !== undefined && !isIpv4(o.bindAddress)) throw new WakeError('E_WAKE_ADDRESS', `"${o.bindAddress}" is not an IPv4 address to send from`, { bindAddress: o.bindAddress });
    const port = o.port ?? WAKE_PORT;
    const repeat = o.repeat ?? 3;
    const intervalMs = o.intervalMs ?? 100;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new WakeError('E_WAKE_ADDRESS', `UDP port ${port} is not 1-65535`, { port });
    if (!Number.isInteger(repeat) || repeat < 1) throw new WakeError('E_WAKE_SEND', `repeat ${repeat} is not a whole number of 1 or more`, { repeat });
    if (o.password !== undefined) passwordBytes(o.password); // refused now, not at the first wake
    let sock: dgram.Socket;
    try {
      if (o.device) sock = await openUdp({ port: 0, address: o.bindAddress, device: o.device });
      else {
        sock = dgram.createSocket('udp4');
        await new Promise<void>((resolve, reject) => {
          sock.once('error', reject);
          sock.bind({ port: 0, address: o.bindAddress ?? '0.0.0.0' }, () => {
            sock.off('error', reject);
            resolve();
          });
        });
        sock.setBroadcast(true);
      }
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'EADDRNOTAVAIL' ? ' (no interface here has that address)' : '';
      throw new WakeError('E_WAKE_SEND', `cannot open a UDP socket for Wake-on-LAN from ${o.bindAddress ?? 'any address'}${o.device ? ` on ${o.device}` : ''}: ${err.code ?? err.message}${why}`, {
        bindAddress: o.bindAddress,
        device: o.device,
      });
    }
    return new WakeSender(sock, { broadcast: o.broadcast, port, repeat, intervalMs, password: o.password });
  }

  /** Sends every MAC's packet `repeat` times, in rounds `intervalMs` apart. */
  async wake(macs: readonly string[]): Promise<WakeResult> {
    if (this.#closed) throw new WakeError('E_WAKE_SEND', 'the Wake-on-LAN sender is closed', {});
    // Every packet is built before the first is sent: one bad MAC wakes nothing rather than some.
    const packets = new Map<string, Buffer>();
    for (const mac of macs) {
      const p = magicPacket(mac, this.#opts.password);
      packets.set(parseMagicPacket(p)!, p);
    }
    const { broadcast, port, repeat, intervalMs } = this.#opts;
    let sent = 0;
    for (let round = 0; round < repeat; round++) {
      if (round > 0 && intervalMs > 0) await sleep(intervalMs);
      for (const [mac, p] of packets) {
        await new Promise<void>((resolve, reject) =>
          this.#sock.send(p, port, broadcast, (e) =>
            e ? reject(new WakeError('E_WAKE_SEND', `Wake-on-LAN for ${mac} to ${broadcast}:${port} failed: ${(e as NodeJS.ErrnoException).code ?? e.message}`, { mac, broadcast, port })) : resolve(),
          ),
        );
        sent++;
      }
    }
    return { macs: [...packets.keys()], packets: sent };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await new Promise<void>((resolve) => this.#sock.close(() => resolve()));
  }
}

/** Opens a sender, wakes `macs`, and closes it. */
export async function sendWake(o: WakeOptions & { macs: readonly string[] }): Promise<WakeResult> {
  const s = await WakeSender.open(o);
  try {
    return await s.wake(o.macs);
  } finally {
    await s.close();
  }
}
