// Wake-on-LAN as a powered-off network card sees it: a UDP datagram to port 9 whose payload is a
// magic packet (AMD's Magic Packet Technology white paper: six 0xFF bytes, then the card's MAC
// sixteen times, optionally a 4- or 6-byte SecureOn password). A real card matches the frame in
// hardware; the simulator listens on one UDP socket for every machine and reads the MAC out.
import type dgram from 'node:dgram';
import { parseMagicPacket } from '../fleet/wol.ts';
import { openUdp } from '../net/iface.ts';

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
