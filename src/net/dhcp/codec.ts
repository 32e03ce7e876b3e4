// DHCP message codec (RFC 2131 / RFC 2132), with option overload (RFC 2131 §4.1, option 52),
// long-option concatenation (RFC 3396) and the PXE options (RFC 4578, PXE 2.1): pure functions
// from bytes to a typed message and back. No I/O here; the server owns sockets.
//
//  0      op  htype hlen hops | 4 xid | 8 secs flags | 12 ciaddr | 16 yiaddr | 20 siaddr
//  24 giaddr | 28 chaddr[16] | 44 sname[64] | 108 file[128] | 236 magic cookie | 240 options

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
const MAGIC_COOKIE = 0x63825363;
const HEADER = 236;
/** RFC 2131: a client must accept 576-byte messages; BOOTP relays pad to 300. */
export const MIN_REPLY = 300;
/** Beyond an Ethernet frame nothing legitimate arrives; larger input is refused unread. */
export const MAX_MESSAGE = 1500;

/** Option codes used by name (RFC 2132 §3-9, RFC 4578, iPXE). */
export const Opt = {
  Pad: 0,
  SubnetMask: 1,
  Router: 3,
  DomainNameServer: 6,
  HostName: 12,
  DomainName: 15,
  BroadcastAddress: 28,
  VendorSpecific: 43,
  RequestedIpAddress: 50,
  IpAddressLeaseTime: 51,
  OptionOverload: 52,
  MessageType: 53,
  ServerIdentifier: 54,
  ParameterRequestList: 55,
  Message: 56,
  MaximumMessageSize: 57,
  RenewalTime: 58,
  RebindingTime: 59,
  VendorClassIdentifier: 60,
  ClientIdentifier: 61,
  TftpServerName: 66,
  BootfileName: 67,
  UserClass: 77,
  ClientSystemArchitecture: 93,
  ClientNetworkInterface: 94,
  ClientMachineIdentifier: 97,
  IpxeEncapsulated: 175,
  End: 255,
} as const;

/** DHCP message types (option 53). */
export const MessageTypes = ['', 'DISCOVER', 'OFFER', 'REQUEST', 'DECLINE', 'ACK', 'NAK', 'RELEASE', 'INFORM'] as const;
export type MessageType = Exclude<(typeof MessageTypes)[number], ''>;

export class DhcpCodecError extends Error {
  readonly offset: number | undefined;
  constructor(message: string, offset?: number) {
    super(offset === undefined ? message : `${message} (offset ${offset})`);
    this.name = 'DhcpCodecError';
    this.offset = offset;
  }
}

export interface DhcpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The 16-byte client hardware address field (hlen bytes of it are the address). */
  chaddr: Buffer;
  /** Server host name field (empty when the field carries options). */
  sname: string;
  /** Boot file name field (empty when the field carries options). */
  file: string;
  /** Options in the order first seen; repeated instances are concatenated (RFC 3396). */
  options: Map<number, Buffer>;
}

/** The broadcast bit of `flags` (RFC 2131 §2): the client cannot receive unicast before it has an address. */
export const FLAG_BROADCAST = 0x8000;

/**
 * Parses one message. chaddr and option values are views of `bytes`, not copies (the server gets
 * a fresh buffer per datagram): a caller that reuses its buffer must copy it first.
 */
export function parseMessage(bytes: Uint8Array): DhcpMessage {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length > MAX_MESSAGE) throw new DhcpCodecError(`message of ${b.length} bytes is larger than any DHCP message (${MAX_MESSAGE})`);
  if (b.length < HEADER + 4) throw new DhcpCodecError(`message of ${b.length} bytes is shorter than the fixed header and magic cookie (${HEADER + 4})`);
  const op = b[0]!;
  if (op !== BOOTREQUEST && op !== BOOTREPLY) throw new DhcpCodecError(`op ${op} is neither BOOTREQUEST (1) nor BOOTREPLY (2)`, 0);
  const hlen = b[2]!;
  if (hlen > 16) throw new DhcpCodecError(`hlen ${hlen} exceeds the 16-byte chaddr field`, 2);
  if (b.readUInt32BE(HEADER) !== MAGIC_COOKIE) throw new DhcpCodecError('no DHCP magic cookie (a plain BOOTP message?)', HEADER);

  const options = new Map<number, Buffer>();
  readOptions(b, HEADER + 4, b.length, options, 'options');
  let sname = cString(b, 44, 64);
  let file = cString(b, 108, 128);
  const overload = options.get(Opt.OptionOverload);
  if (overload !== undefined) {
    if (overload.length !== 1 || overload[0]! < 1 || overload[0]! > 3) throw new DhcpCodecError(`option 52 (overload) must be one byte 1-3`, HEADER + 4);
    // RFC 2131 §4.1: the 'file' field is read before 'sname'.
    if (overload[0]! & 1) {
      readOptions(b, 108, 108 + 128, options, 'file');
      file = '';
    }
    if (overload[0]! & 2) {
      readOptions(b, 44, 44 + 64, options, 'sname');
      sname = '';
    }
  }
  return {
    op,
    htype: b[1]!,
    hlen,
    hops: b[3]!,
    xid: b.readUInt32BE(4),
    secs: b.readUInt16BE(8),
    flags: b.readUInt16BE(10),
    ciaddr: ipAt(b, 12),
    yiaddr: ipAt(b, 16),
    siaddr: ipAt(b, 20),
    giaddr: ipAt(b, 24),
    chaddr: b.subarray(28, 44),
    sname,
    file,
    options,
  };
}

function readOptions(b: Buffer, start: number, end: number, into: Map<number, Buffer>, where: string): void {
  let i = start;
  while (i < end) {
    const code = b[i]!;
    if (code === Opt.Pad) {
      i++;
      continue;
    }
    if (code === Opt.End) return;
    if (i + 1 >= end) throw new DhcpCodecError(`option ${code} in ${where} has no length byte`, i);
    const len = b[i + 1]!;
    if (i + 2 + len > end) throw new DhcpCodecError(`option ${code} in ${where} runs ${i + 2 + len - end} bytes past the end`, i);
    const data = b.subarray(i + 2, i + 2 + len);
    const prev = into.get(code);
    into.set(code, prev ? Buffer.concat([prev, data]) : data);
    i += 2 + len;
  }
  // Some clients omit the End option (and some pad to the end of the frame): accept it.
}

function cString(b: Buffer, at: number, len: number): string {
  const field = b.subarray(at, at + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? len : nul).toString('latin1');
}

function ipAt(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

export function ipToBytes(ip: string): Buffer {
  const parts = ip.split('.');
  const out = Buffer.alloc(4);
  if (parts.length !== 4) throw new DhcpCodecError(`'${ip}' is not an IPv4 address`);
  parts.forEach((p, i) => {
    const n = Number(p);
    if (!/^\d{1,3}$/.test(p) || n > 255) throw new DhcpCodecError(`'${ip}' is not an IPv4 address`);
    out[i] = n;
  });
  return out;
}

export interface EncodeOptions {
  /** Largest message the client accepts (option 57), at least 576. */
  maxSize?: number | undefined;
}

/**
 * Encodes a message. Options are written in map order (option 53 first when present, as clients
 * expect); a value longer than 255 bytes is split into several instances (RFC 3396). Options that
 * do not fit in `maxSize` are refused with a clear error: a boot reply is a few hundred bytes, so
 * overloading file/sname (which a PXE ROM reads as names) is never worth the risk.
 */
export function encodeMessage(m: DhcpMessage, opts: EncodeOptions = {}): Buffer {
  const maxSize = Math.max(576, Math.min(opts.maxSize ?? 576, MAX_MESSAGE));
  const encoded = encodeOptions(m.options);
  // IP (20) + UDP (8) headers count against the client's maximum (RFC 2132 §9.10).
  const room = maxSize - 28 - HEADER - 4 - 1;
  const out = Buffer.alloc(Math.max(MIN_REPLY, HEADER + 4 + Math.min(encoded.length, room) + 1));
  out[0] = m.op;
  out[1] = m.htype;
  out[2] = m.hlen;
  out[3] = m.hops;
  out.writeUInt32BE(m.xid >>> 0, 4);
  out.writeUInt16BE(m.secs & 0xffff, 8);
  out.writeUInt16BE(m.flags & 0xffff, 10);
  ipToBytes(m.ciaddr).copy(out, 12);
  ipToBytes(m.yiaddr).copy(out, 16);
  ipToBytes(m.siaddr).copy(out, 20);
  ipToBytes(m.giaddr).copy(out, 24);
  m.chaddr.copy(out, 28, 0, 16);
  if (Buffer.byteLength(m.sname, 'latin1') > 63) throw new DhcpCodecError(`sname '${m.sname}' is longer than 63 bytes`);
  if (Buffer.byteLength(m.file, 'latin1') > 127) throw new DhcpCodecError(`file '${m.file}' is longer than 127 bytes: send it in option 67 instead`);
  out.write(m.sname, 44, 'latin1');
  out.write(m.file, 108, 'latin1');
  out.writeUInt32BE(MAGIC_COOKIE, HEADER);
  if (encoded.length <= room) {
    encoded.copy(out, HEADER + 4);
    out[HEADER + 4 + encoded.length] = Opt.End;
    return out;
  }
  throw new DhcpCodecError(`options take ${encoded.length} bytes; the client accepts ${room} (maximum message size ${maxSize})`);
}

function encodeOptions(options: Map<number, Buffer>): Buffer {
  const parts: Buffer[] = [];
  const order = [...options.keys()].sort((a, b) => (a === Opt.MessageType ? -1 : b === Opt.MessageType ? 1 : 0));
  for (const code of order) {
    if (code === Opt.Pad || code === Opt.End) continue;
    const value = options.get(code)!;
    if (value.length === 0) {
      parts.push(Buffer.from([code, 0]));
      continue;
    }
    for (let i = 0; i < value.length; i += 255) {
      const chunk = value.subarray(i, i + 255);
      parts.push(Buffer.from([code, chunk.length]), chunk);
    }
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Typed views of single options.

export function messageType(m: DhcpMessage): MessageType | undefined {
  const v = m.options.get(Opt.MessageType);
  if (v?.length !== 1) return undefined;
  const t = MessageTypes[v[0]!];
  return t ? (t as MessageType) : undefined;
}

export function messageTypeCode(t: MessageType): number {
  return MessageTypes.indexOf(t);
}

/** Client hardware address as lower-case, colon-separated hex (Ethernet: 6 bytes). */
export function macOf(m: DhcpMessage): string {
  return [...m.chaddr.subarray(0, Math.min(m.hlen || 6, 16))].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function optionIp(m: DhcpMessage, code: number): string | undefined {
  const v = m.options.get(code);
  return v?.length === 4 ? ipAt(v, 0) : undefined;
}

export function optionString(m: DhcpMessage, code: number): string | undefined {
  const v = m.options.get(code);
  return v === undefined ? undefined : v.toString('latin1').replace(/\0+$/, '');
}

export function optionU16(m: DhcpMessage, code: number): number | undefined {
  const v = m.options.get(code);
  return v?.length === 2 ? v.readUInt16BE(0) : undefined;
}

/** Option 93 (RFC 4578 §2.1): the client's pre-boot architecture types, a list of 16-bit values. */
export function clientArchitectures(m: DhcpMessage): number[] {
  const v = m.options.get(Opt.ClientSystemArchitecture);
  if (!v || v.length < 2 || v.length % 2) return [];
  const out: number[] = [];
  for (let i = 0; i < v.length; i += 2) out.push(v.readUInt16BE(i));
  return out;
}

/** Option 94 (RFC 4578 §2.2): network interface type (1 = UNDI) and version. */
export function clientNetworkInterface(m: DhcpMessage): { type: number; major: number; minor: number } | undefined {
  const v = m.options.get(Opt.ClientNetworkInterface);
  return v?.length === 3 ? { type: v[0]!, major: v[1]!, minor: v[2]! } : undefined;
}

/** Option 97 (RFC 4578 §2.3): type 0 followed by a 16-byte GUID; echoed by PXE servers. */
export function clientMachineId(m: DhcpMessage): Buffer | undefined {
  const v = m.options.get(Opt.ClientMachineIdentifier);
  return v && v.length === 17 && v[0] === 0 ? v : undefined;
}

/**
 * Option 77 (RFC 3004): a list of length-prefixed class names. iPXE and many others send one bare
 * string instead ("iPXE"), so a value that does not parse as the list is taken as one name.
 */
export function userClasses(m: DhcpMessage): string[] {
  const v = m.options.get(Opt.UserClass);
  if (!v || v.length === 0) return [];
  const out: string[] = [];
  let i = 0;
  while (i < v.length) {
    const len = v[i]!;
    if (len === 0 || i + 1 + len > v.length) return [v.toString('latin1')];
    out.push(v.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += 1 + len;
  }
  return out;
}

/** Encapsulated options (43 PXE vendor options, 175 iPXE): code/length/value with pad and end. */
export function parseEncapsulated(v: Buffer | undefined): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  if (!v) return out;
  try {
    readOptions(v, 0, v.length, out, 'encapsulated option');
  } catch {
    // A damaged sub-option list tells us nothing: treat it as empty rather than refuse the request.
  }
  return out;
}

export function encodeEncapsulated(sub: Iterable<[number, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [code, value] of sub) {
    if (value.length > 255) throw new DhcpCodecError(`sub-option ${code} is longer than 255 bytes`);
    parts.push(Buffer.from([code, value.length]), value);
  }
  parts.push(Buffer.from([Opt.End]));
  return Buffer.concat(parts);
}

/** PXE vendor sub-options in option 43 (PXE 2.1 §2.4). */
export const PxeSub = {
  DiscoveryControl: 6,
  BootServers: 8,
  BootMenu: 9,
  MenuPrompt: 10,
  BootItem: 71,
} as const;

/** A reply skeleton for a request: op, htype, hlen, xid, flags, giaddr and chaddr copied. */
export function replyTo(req: DhcpMessage, type: MessageType): DhcpMessage {
  const options = new Map<number, Buffer>([[Opt.MessageType, Buffer.from([messageTypeCode(type)])]]);
  return {
    op: BOOTREPLY,
    htype: req.htype,
    hlen: req.hlen,
    hops: 0,
    xid: req.xid,
    secs: 0,
    flags: req.flags,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: req.giaddr,
    chaddr: req.chaddr,
    sname: '',
    file: '',
    options,
  };
}

/** A request skeleton (used by the rogue-server probe and by tests). */
export function request(type: MessageType, mac: Buffer, xid: number): DhcpMessage {
  const chaddr = Buffer.alloc(16);
  mac.copy(chaddr, 0, 0, Math.min(mac.length, 16));
  return {
    op: BOOTREQUEST,
    htype: 1,
    hlen: mac.length,
    hops: 0,
    xid,
    secs: 0,
    flags: FLAG_BROADCAST,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr,
    sname: '',
    file: '',
    options: new Map([[Opt.MessageType, Buffer.from([messageTypeCode(type)])]]),
  };
}
