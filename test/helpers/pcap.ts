// Reads classic pcap files written by tcpdump (-w), Ethernet or Linux cooked (SLL) link types,
// and returns the UDP datagrams in them: what actually crossed the wire, for assertions.
import { readFile } from 'node:fs/promises';

export interface UdpPacket {
  time: number;
  srcMac: string | undefined;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

export async function readPcapUdp(file: string): Promise<UdpPacket[]> {
  const b = await readFile(file);
  if (b.length < 24) return [];
  const magic = b.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && b.readUInt32BE(0) !== 0xa1b2c3d4 && b.readUInt32BE(0) !== 0xa1b23c4d) throw new Error(`${file} is not a pcap file`);
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const linktype = u32(20);
  const out: UdpPacket[] = [];
  let o = 24;
  while (o + 16 <= b.length) {
    const caplen = u32(o + 8);
    const frame = b.subarray(o + 16, o + 16 + caplen);
    const time = u32(o) + u32(o + 4) / 1e6;
    o += 16 + caplen;
    let ip: Buffer;
    let srcMac: string | undefined;
    if (linktype === 1) {
      if (frame.length < 14 || frame.readUInt16BE(12) !== 0x0800) continue;
      srcMac = [...frame.subarray(6, 12)].map((x) => x.toString(16).padStart(2, '0')).join(':');
      ip = frame.subarray(14);
    } else if (linktype === 113) {
      if (frame.length < 16 || frame.readUInt16BE(14) !== 0x0800) continue;
      ip = frame.subarray(16);
    } else continue;
    if (ip.length < 20 || ip[9] !== 17) continue;
    const ihl = (ip[0]! & 15) * 4;
    const udp = ip.subarray(ihl);
    if (udp.length < 8) continue;
    const ipStr = (at: number) => `${ip[at]}.${ip[at + 1]}.${ip[at + 2]}.${ip[at + 3]}`;
    out.push({ time, srcMac, src: ipStr(12), dst: ipStr(16), srcPort: udp.readUInt16BE(0), dstPort: udp.readUInt16BE(2), payload: Buffer.from(udp.subarray(8, udp.readUInt16BE(4))) });
  }
  return out;
}
