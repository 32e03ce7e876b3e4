// Wake-on-LAN as a powered-off network card sees it: a UDP datagram to port 9 whose payload is a
// magic packet (AMD's Magic Packet Technology white paper: six 0xFF bytes, then the card's MAC
// sixteen times, optionally a 4- or 6-byte SecureOn password). A real card matches the frame in
// hardware; the simulator listens on one UDP socket for every machine and reads the MAC out.
import type dgram from 'node:dgram';
import { openUdp } from '../net/iface.ts';

const SYNC = 6;
const REPEATS = 16;
export const MAGIC_PACKET_BYTES = SYNC + REPEATS * 6;

/**
 * The MAC a magic packet wakes, or undefined when the payload is not exactly one: the length must
 * be 102 (or 106/108 with a SecureOn password), the sync stream whole, all sixteen copies equal,
 * and the MAC a unicast one that is not all zeros.
 */
export function parseMagicPacket(buf: Uint8Array): string | undefined {
  if (buf.length !== MAGIC_PACKET_BYTES && buf.length !== MAGIC_PACKET_BYTES + 4 && buf.length !== MAGIC_PACKET_BYTES + 6) return undefined;
  for (let i = 0; i < SYNC; i++) if (buf[i] !== 0xff) return undefined;
  for (let copy = 1; copy < REPEATS; copy++) {
    for (let j = 0; j < 6; j++) if (buf[SYNC + copy * 6 + j] !== buf[SYNC + j]) return undefined;
  }
  const mac = buf.subarray(SYNC, SYNC + 6);
  // A group address (broadcast, multicast) is no card's own; neither is all zeros.
  if (mac[0]! & 1 || mac.every((b) => b === 0)) return undefined;
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export interface WolListener {
  readonly counters: { received: number; bad: number };
  close(): Promise<void>;
}

/**
 * Listens on UDP `port` (9, the discard port WoL senders use) on `device`, broadcasts included, and
 * calls `onWake` with the MAC of each valid magic packet and where it came from.
 */
export async function listenWol(o: { device: string; port?: number | undefined }, onWake: (mac: string, from: string) => void): Promise<WolListener> {
  const socket: dgram.Socket = await openUdp({ port: o.port ?? 9, device: o.device });
  const counters = { received: 0, bad: 0 };
  socket.on('message', (msg, rinfo) => {
    counters.received++;
    const mac = parseMagicPacket(msg);
    if (!mac) {
      counters.bad++;
      return;
    }
    onWake(mac, `${rinfo.address}:${rinfo.port}`);
  });
  socket.on('error', () => {
    counters.bad++;
  });
  return {
    counters,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
