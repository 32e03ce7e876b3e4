// TFTP packet codec: bytes ⇄ typed packets, no I/O.
//
//   RFC 1350  TFTP revision 2: RRQ, WRQ, DATA, ACK, ERROR
//   RFC 2347  option extension: options after the mode in RRQ/WRQ, OACK (opcode 6)
//   RFC 2348  blksize   8..65464
//   RFC 2349  timeout   1..255 seconds; tsize (transfer size, 0 in an RRQ asks for it)
//   RFC 7440  windowsize 1..65535
//
// parse() returns a typed packet or throws a TftpError that names the problem and says which
// ERROR code a server should answer with. It reads only inside the buffer it is given.

/** RFC 1350 §5 opcodes, plus OACK from RFC 2347. */
export const Opcode = {
  RRQ: 1,
  WRQ: 2,
  DATA: 3,
  ACK: 4,
  ERROR: 5,
  OACK: 6,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** RFC 1350 appendix error codes, plus 8 from RFC 2347. */
export const ErrorCode = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_NEGOTIATION: 8,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const BLKSIZE_MIN = 8;
export const BLKSIZE_MAX = 65464;
export const BLKSIZE_DEFAULT = 512;
export const TIMEOUT_MIN = 1;
export const TIMEOUT_MAX = 255;
export const WINDOWSIZE_MIN = 1;
export const WINDOWSIZE_MAX = 65535;
/** Largest UDP payload; nothing longer can arrive, and nothing longer is a TFTP packet. */
export const MAX_PACKET = 65535 - 8 - 20;

export type TftpErrorCode =
  | 'E_TRUNCATED' // the packet ends before a field it must have
  | 'E_OPCODE' // an opcode outside 1..6
  | 'E_FORMAT' // a field that is present but malformed (no NUL, empty name, bad mode, trailing bytes)
  | 'E_OPTION' // an option value outside its RFC range, or a repeated option
  | 'E_ACCESS' // a name the server refuses to serve (outside the root, not a regular file)
  | 'E_NOT_FOUND'; // no such file

export class TftpError extends Error {
  readonly code: TftpErrorCode;
  /** The ERROR code a server should send back for this problem. */
  readonly tftpCode: ErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: TftpErrorCode, message: string, context: Record<string, unknown> = {}, tftpCode: ErrorCode = ErrorCode.ILLEGAL_OPERATION) {
    const where = Object.entries(context)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'number' ? v : JSON.stringify(v)}`)
      .join(' ');
    super(where ? `${message} (${where})` : message);
    this.name = 'TftpError';
    this.code = code;
    this.tftpCode = tftpCode;
    this.context = context;
  }
}

export function isTftpError(e: unknown): e is TftpError {
  return e instanceof TftpError;
}

/** RFC 2349 / 2348 / 7440 options this codec understands, already range-checked. */
export interface TftpOptions {
  blksize?: number;
  timeout?: number;
  tsize?: number;
  windowsize?: number;
}

/**
 * Transfer mode. 'netascii' is accepted; the server sends files unchanged (as octet) because
 * everything a PXE client fetches is binary, and converting line ends would change tsize.
 */
export type TransferMode = 'netascii' | 'octet';

export interface RequestPacket {
  readonly op: 'RRQ' | 'WRQ';
  readonly filename: string;
  readonly mode: TransferMode;
  /** Known options, range-checked. */
  readonly options: TftpOptions;
  /** Every option as sent, names lower-cased (RFC 2347: case-insensitive), unknown ones too. */
  readonly rawOptions: ReadonlyMap<string, string>;
}
export interface DataPacket {
  readonly op: 'DATA';
  readonly block: number;
  readonly data: Buffer;
}
export interface AckPacket {
  readonly op: 'ACK';
  readonly block: number;
}
export interface ErrorPacket {
  readonly op: 'ERROR';
  readonly code: number;
  readonly message: string;
}
export interface OackPacket {
  readonly op: 'OACK';
  readonly options: ReadonlyMap<string, string>;
}
export type Packet = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket;

// ---------------------------------------------------------------------------------------------
// parse

/** Reads a NUL-terminated string at `pos`; returns it and the position after the NUL. */
function cstring(buf: Uint8Array, pos: number, field: string): [string, number] {
  const end = buf.indexOf(0, pos);
  if (end < 0) {
    if (pos >= buf.length) throw new TftpError('E_TRUNCATED', `packet ends before the ${field}`, { field, offset: pos, length: buf.length });
    throw new TftpError('E_FORMAT', `${field} is not NUL-terminated`, { field, offset: pos, length: buf.length });
  }
  // latin1: one char per byte, so no byte sequence is rejected or merged (names are compared later).
  return [Buffer.from(buf.buffer, buf.byteOffset + pos, end - pos).toString('latin1'), end + 1];
}

function integerOption(name: string, value: string, min: number, max: number): number {
  // Decimal digits only: RFC 2347 values are ASCII numbers; no signs, spaces, hex or exponents.
  if (!/^[0-9]{1,10}$/.test(value)) {
    throw new TftpError('E_OPTION', `option ${name} must be a decimal number`, { option: name, value }, ErrorCode.OPTION_NEGOTIATION);
  }
  const n = Number(value);
  if (n < min || n > max) {
    throw new TftpError('E_OPTION', `option ${name} must be in ${min}..${max}`, { option: name, value: n }, ErrorCode.OPTION_NEGOTIATION);
  }
  return n;
}

function parseRequest(buf: Uint8Array, op: 'RRQ' | 'WRQ'): RequestPacket {
  let pos = 2;
  let filename: string;
  let modeText: string;
  [filename, pos] = cstring(buf, pos, 'filename');
  if (filename.length === 0) throw new TftpError('E_FORMAT', `${op} has an empty filename`, { op });
  [modeText, pos] = cstring(buf, pos, 'mode');
  const modeLower = modeText.toLowerCase();
  if (modeLower !== 'octet' && modeLower !== 'netascii') {
    throw new TftpError('E_FORMAT', modeLower === 'mail' ? 'mode "mail" is obsolete and not supported' : `unknown transfer mode`, { op, filename, mode: modeText });
  }
  const rawOptions = new Map<string, string>();
  while (pos < buf.length) {
    let name: string;
    let value: string;
    [name, pos] = cstring(buf, pos, 'option name');
    if (name.length === 0) throw new TftpError('E_FORMAT', 'empty option name', { op, filename, offset: pos - 1 });
    if (pos >= buf.length) throw new TftpError('E_FORMAT', `option ${name} has no value`, { op, filename, option: name });
    [value, pos] = cstring(buf, pos, `value of option ${name}`);
    const key = name.toLowerCase();
    if (rawOptions.has(key)) throw new TftpError('E_OPTION', `option ${key} given twice`, { op, filename, option: key }, ErrorCode.OPTION_NEGOTIATION);
    rawOptions.set(key, value);
  }
  const options: TftpOptions = {};
  for (const [key, value] of rawOptions) {
    switch (key) {
      case 'blksize':
        options.blksize = integerOption(key, value, BLKSIZE_MIN, BLKSIZE_MAX);
        break;
      case 'timeout':
        options.timeout = integerOption(key, value, TIMEOUT_MIN, TIMEOUT_MAX);
        break;
      case 'tsize':
        options.tsize = integerOption(key, value, 0, Number.MAX_SAFE_INTEGER);
        break;
      case 'windowsize':
        options.windowsize = integerOption(key, value, WINDOWSIZE_MIN, WINDOWSIZE_MAX);
        break;
      default:
        break; // RFC 2347: options the server does not know are ignored (left out of the OACK).
    }
  }
  return { op, filename, mode: modeLower as TransferMode, options, rawOptions };
}

/** Parses one TFTP packet. Throws TftpError (and nothing else) when the bytes are not one. */
export function parse(buf: Uint8Array): Packet {
  if (buf.length < 2) throw new TftpError('E_TRUNCATED', 'packet shorter than its 2-byte opcode', { length: buf.length });
  if (buf.length > MAX_PACKET) throw new TftpError('E_FORMAT', 'packet longer than any UDP payload', { length: buf.length });
  const opcode = (buf[0]! << 8) | buf[1]!;
  switch (opcode) {
    case Opcode.RRQ:
      return parseRequest(buf, 'RRQ');
    case Opcode.WRQ:
      return parseRequest(buf, 'WRQ');
    case Opcode.DATA: {
      if (buf.length < 4) throw new TftpError('E_TRUNCATED', 'DATA shorter than its 4-byte header', { length: buf.length });
      const data = Buffer.from(buf.buffer, buf.byteOffset + 4, buf.length - 4);
      return { op: 'DATA', block: (buf[2]! << 8) | buf[3]!, data };
    }
    case Opcode.ACK:
      if (buf.length < 4) throw new TftpError('E_TRUNCATED', 'ACK shorter than 4 bytes', { length: buf.length });
      // Trailing bytes after an ACK are tolerated: some PXE ROMs pad short frames.
      return { op: 'ACK', block: (buf[2]! << 8) | buf[3]! };
    case Opcode.ERROR: {
      if (buf.length < 4) throw new TftpError('E_TRUNCATED', 'ERROR shorter than its 4-byte header', { length: buf.length });
      const code = (buf[2]! << 8) | buf[3]!;
      // A missing NUL after the message is common enough (and harmless) to accept.
      const end = buf.indexOf(0, 4);
      const message = Buffer.from(buf.buffer, buf.byteOffset + 4, (end < 0 ? buf.length : end) - 4).toString('latin1');
      return { op: 'ERROR', code, message };
    }
    case Opcode.OACK: {
      const options = new Map<string, string>();
      let pos = 2;
      while (pos < buf.length) {
        let name: string;
        let value: string;
        [name, pos] = cstring(buf, pos, 'option name');
        if (pos >= buf.length) throw new TftpError('E_FORMAT', `OACK option ${name} has no value`, { option: name });
        [value, pos] = cstring(buf, pos, `value of option ${name}`);
        options.set(name.toLowerCase(), value);
      }
      return { op: 'OACK', options };
    }
    default:
      throw new TftpError('E_OPCODE', 'unknown opcode', { opcode });
  }
}

// ---------------------------------------------------------------------------------------------
// encode

/** Writes a DATA header (opcode 3, block number mod 2^16) at `offset`; the payload follows it. */
export function writeDataHeader(buf: Uint8Array, offset: number, block: number): void {
  buf[offset] = 0;
  buf[offset + 1] = Opcode.DATA;
  buf[offset + 2] = (block >>> 8) & 0xff;
  buf[offset + 3] = block & 0xff;
}

export function encodeData(block: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + data.length);
  writeDataHeader(out, 0, block);
  out.set(data, 4);
  return out;
}

export function encodeAck(block: number): Buffer {
  return Buffer.from([0, Opcode.ACK, (block >>> 8) & 0xff, block & 0xff]);
}

function strings(parts: string[]): Buffer {
  return Buffer.concat(parts.map((p) => Buffer.from(`${p}\0`, 'latin1')));
}

export function encodeError(code: number, message: string): Buffer {
  // Messages stay short so that an ERROR always fits the smallest datagram a client accepts.
  return Buffer.concat([Buffer.from([0, Opcode.ERROR, (code >>> 8) & 0xff, code & 0xff]), strings([message.slice(0, 400).replaceAll('\0', ' ')])]);
}

export function encodeOack(options: Readonly<Record<string, number | string>> | ReadonlyMap<string, string>): Buffer {
  const entries = options instanceof Map ? [...options] : Object.entries(options);
  return Buffer.concat([Buffer.from([0, Opcode.OACK]), strings(entries.flatMap(([k, v]) => [k, String(v)]))]);
}

/** RRQ/WRQ, for clients and tests. Option values are sent as given (no range check). */
export function encodeRequest(op: 'RRQ' | 'WRQ', filename: string, mode = 'octet', options: Readonly<Record<string, number | string>> = {}): Buffer {
  const head = Buffer.from([0, op === 'RRQ' ? Opcode.RRQ : Opcode.WRQ]);
  return Buffer.concat([head, strings([filename, mode, ...Object.entries(options).flatMap(([k, v]) => [k, String(v)])])]);
}
