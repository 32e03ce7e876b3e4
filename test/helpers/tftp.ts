// Test helpers for the TFTP server: a raw UDP client that sends hand-made packets and records
// what comes back (for what no real client can be made to do: probes, duplicate or withheld
// ACKs, bad names), and fixture files.
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { readFile, stat } from 'node:fs/promises';
import { encodeAck, encodeRequest, type Packet, parse } from '../../src/net/tftp/codec.ts';

export interface Received {
  readonly packet: Packet;
  /** Source port: the server's transfer TID. */
  readonly port: number;
  readonly address: string;
  /** performance.now() at arrival. */
  readonly at: number;
}

/** A UDP socket on loopback that keeps every packet it receives in arrival order. */
export class RawClient {
  readonly socket: dgram.Socket;
  readonly #queue: Received[] = [];
  #waiter: (() => void) | undefined;

  private constructor(socket: dgram.Socket) {
    this.socket = socket;
    socket.on('message', (msg, rinfo) => {
      this.#queue.push({ packet: parse(msg), port: rinfo.port, address: rinfo.address, at: performance.now() });
      this.#waiter?.();
    });
  }

  static async open(address = '127.0.0.1'): Promise<RawClient> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, address, resolve));
    return new RawClient(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(bytes: Buffer, port: number, address = '127.0.0.1'): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(bytes, port, address, (e) => (e ? reject(e) : resolve())));
  }

  ack(block: number, port: number): Promise<void> {
    return this.send(encodeAck(block & 0xffff), port);
  }

  /** The next packet, or throws after `timeoutMs`. */
  async next(timeoutMs = 3000): Promise<Received> {
    const deadline = performance.now() + timeoutMs;
    while (this.#queue.length === 0) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no packet within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#waiter = undefined;
    }
    return this.#queue.shift()!;
  }

  /** Every packet that arrives within `ms`. */
  async collect(ms: number): Promise<Received[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.#queue.splice(0);
  }

  close(): void {
    this.socket.close();
  }
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  return sha256(await readFile(path));
}

/** Size of a file, or -1 when it does not exist (curl writes nothing for an empty transfer). */
export async function sizeOf(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => -1);
}

/**
 * Reads a whole file with the raw client: RRQ with `options`, ACK of the OACK if one comes, then
 * every block (windowsize 1 unless negotiated), checking block numbers modulo 2^16.
 */
export async function rawGet(client: RawClient, serverPort: number, file: string, options: Record<string, number> = {}): Promise<{ data: Buffer; oack?: ReadonlyMap<string, string> }> {
  await client.send(encodeRequest('RRQ', file, 'octet', options), serverPort);
  const chunks: Buffer[] = [];
  let blksize = 512;
  let windowsize = 1;
  let expected = 1;
  let oack: ReadonlyMap<string, string> | undefined;
  for (;;) {
    const r = await client.next();
    const p = r.packet;
    if (p.op === 'ERROR') throw new Error(`server sent ERROR ${p.code}: ${p.message}`);
    if (p.op === 'OACK') {
      oack = p.options;
      blksize = Number(p.options.get('blksize') ?? 512);
      windowsize = Number(p.options.get('windowsize') ?? 1);
      await client.ack(0, r.port);
      continue;
    }
    if (p.op !== 'DATA') throw new Error(`unexpected ${p.op}`);
    if (p.block !== (expected & 0xffff)) continue;
    chunks.push(Buffer.from(p.data));
    const last = p.data.length < blksize;
    if (last || expected % windowsize === 0) await client.ack(expected, r.port);
    expected++;
    if (last) return { data: Buffer.concat(chunks), oack };
  }
}
