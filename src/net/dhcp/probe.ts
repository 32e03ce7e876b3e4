// Is another DHCP server on this segment? Full mode asks before it starts: it sends a
// DHCPDISCOVER from the client port, as a new machine would, and listens for offers. No
// vendor class is sent, so PXE/ProxyDHCP servers (which give no addresses) stay silent.
import { randomInt } from 'node:crypto';
import { Opt, encodeMessage, messageType, optionIp, parseMessage, request } from './codec.ts';
import { type Interface, openUdp } from '../iface.ts';

export interface ForeignServer {
  /** Its server identifier (option 54), or the source address when it sends none. */
  server: string;
  offered: string;
}

export async function probeDhcpServers(
  iface: Interface,
  opts: { timeoutMs: number; serverPort?: number | undefined; clientPort?: number | undefined },
): Promise<ForeignServer[]> {
  const sock = await openUdp({ port: opts.clientPort ?? 68, device: iface.name });
  const xid = randomInt(1, 0xffffffff);
  const found = new Map<string, ForeignServer>();
  sock.on('message', (bytes, rinfo) => {
    try {
      const m = parseMessage(bytes);
      if (m.xid !== xid || messageType(m) !== 'OFFER' || m.yiaddr === '0.0.0.0') return;
      const server = optionIp(m, Opt.ServerIdentifier) ?? rinfo.address;
      found.set(server, { server, offered: m.yiaddr });
    } catch {
      // Not a DHCP reply: not our concern here.
    }
  });
  const discover = request('DISCOVER', Buffer.from(iface.mac.split(':').map((h) => parseInt(h, 16))), xid);
  discover.options.set(Opt.ParameterRequestList, Buffer.from([Opt.SubnetMask, Opt.Router, Opt.DomainNameServer]));
  const bytes = encodeMessage(discover);
  const send = () => sock.send(bytes, opts.serverPort ?? 67, '255.255.255.255');
  // Three times: one lost broadcast must not make a busy segment look empty, and servers that
  // ping an address before offering it (dnsmasq waits 3 s, ISC dhcpd 1 s) answer a repeat at once.
  send();
  const repeats = [0.3, 0.7].map((f) => setTimeout(send, opts.timeoutMs * f));
  await new Promise((r) => setTimeout(r, opts.timeoutMs));
  repeats.forEach(clearTimeout);
  await new Promise<void>((r) => sock.close(() => r()));
  return [...found.values()];
}
