// A TFTP read client as PXE ROMs are (RFC 1350 with the RFC 2347 options blksize and tsize): one
// RRQ, an ACK of the server's OACK, then lock-step DATA/ACK; a timeout retransmits the last packet
// sent, a duplicate DATA is acknowledged again, a packet from another port gets ERROR 5 and is
// otherwise ignored. The file's bytes are counted, not kept, and must add up to the tsize the server
// announced.
import dgram from 'node:dgram';
import { ErrorCode, TftpError, encodeAck, encodeError, encodeRequest, parse } from '../net/tftp/codec.ts';

export interface TftpGetOptions {
  server: string;
  /** Default 69. */
  port?: number | undefined;
  file: string;
  /** Asked for in the RRQ (the server may answer a smaller one); 0 asks for none (512). */
  blksize: number;
  /** Wall-clock milliseconds before a retransmission. */
  timeoutMs: number;
  /** Retransmissions of one packet before giving up (PXE ROMs: about 6). */
  retries: number;
  /** Address to send from (this host's on the chosen interface); undefined lets the kernel choose. */
  localAddress?: string | undefined;
  signal: AbortSignal;
}

export interface TftpResult {
  bytes: number;
  /** What the server's OACK said, when it sent one. */
  tsize: number | undefined;
  blksize: number;
  blocks: number;
  retransmits: number;
  /** Packets that were not what the transfer needed (other ports, unparsable, out of order). */
  stray: number;
}

/** A failed transfer, with the PXE ROM's code where it has one (PXE-E32: TFTP open timeout). */
export class TftpFetchError extends Error {
  readonly code: string;
  /** Counted up to the failure. */
  readonly partial: Pick<TftpResult, 'bytes' | 'retransmits' | 'stray'>;
  constructor(code: string, message: string, partial: TftpFetchError['partial']) {
    super(message);
    this.name = 'TftpFetchError';
    this.code = code;
    this.partial = partial;
  }
}

export async function tftpGet(o: TftpGetOptions): Promise<TftpResult> {
  o.signal.throwIfAborted();
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port: 0, address: o.localAddress }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const serverPort = o.port ?? 69;
  const r: TftpResult = { bytes: 0, tsize: undefined, blksize: 512, blocks: 0, retransmits: 0, stray: 0 };
  const where = `tftp://${o.server}${serverPort === 69 ? '' : `:${serverPort}`}/${o.file}`;
  const fail = (code: string, message: string) => new TftpFetchError(code, `${where}: ${message}`, { bytes: r.bytes, retransmits: r.retransmits, stray: r.stray });
  try {
    return await new Promise<TftpResult>((resolve, reject) => {
      let tid: number | undefined;
      let last: { bytes: Buffer; port: number } = {
        bytes: encodeRequest('RRQ', o.file, 'octet', o.blksize ? { tsize: 0, blksize: o.blksize } : { tsize: 0 }),
        port: serverPort,
      };
      let expected = 1;
      let tries = 0;
      let timer: NodeJS.Timeout | undefined;
      let finished = false;
      const finish = (e?: Error) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        o.signal.removeEventListener('abort', onAbort);
        socket.removeAllListeners('message');
        if (e) reject(e);
        else resolve(r);
      };
      const onAbort = () => finish(o.signal.reason as Error);
      o.signal.addEventListener('abort', onAbort, { once: true });
      const send = (bytes: Buffer, port: number) => {
        last = { bytes, port };
        tries = 0;
        transmit();
      };
      const transmit = () => {
        socket.send(last.bytes, last.port, o.server);
        clearTimeout(timer);
        const t: NodeJS.Timeout = setTimeout(() => {
          if (++tries > o.retries) {
            finish(tid === undefined ? fail('PXE-E32', `TFTP open timeout: no answer to the read request after ${o.retries + 1} tries`) : fail('PXE-E35', `TFTP read timeout: block ${expected} did not come after ${o.retries + 1} tries`));
            return;
          }
          r.retransmits++;
          socket.send(last.bytes, last.port, o.server);
          t.refresh();
        }, o.timeoutMs);
        timer = t;
      };
      socket.on('message', (msg, rinfo) => {
        if (rinfo.address !== o.server) {
          r.stray++;
          return;
        }
        if (tid !== undefined && rinfo.port !== tid) {
          // RFC 1350 §4: a packet from a port other than the transfer's gets ERROR 5, and the transfer goes on.
          r.stray++;
          socket.send(encodeError(ErrorCode.UNKNOWN_TID, 'unknown transfer ID'), rinfo.port, rinfo.address);
          return;
        }
        let p;
        try {
          p = parse(msg);
        } catch (e) {
          if (!(e instanceof TftpError)) throw e;
          r.stray++;
          return;
        }
        if (p.op === 'ERROR') {
          finish(fail(p.code === ErrorCode.FILE_NOT_FOUND ? 'PXE-E3B' : 'PXE-E36', `the server sent ERROR ${p.code}: ${p.message}`));
          return;
        }
        if (tid === undefined) {
          if (p.op === 'OACK') {
            tid = rinfo.port;
            const bs = Number(p.options.get('blksize') ?? 512);
            const ts = p.options.get('tsize');
            // RFC 2347: the server may only lower what was asked, and only answer what was asked.
            if (!Number.isInteger(bs) || bs < 8 || (o.blksize && bs > o.blksize)) {
              socket.send(encodeError(ErrorCode.OPTION_NEGOTIATION, `blksize ${p.options.get('blksize')} was not asked for`), rinfo.port, rinfo.address);
              finish(fail('PXE-E36', `the OACK gives blksize ${p.options.get('blksize')} (asked ${o.blksize})`));
              return;
            }
            r.blksize = bs;
            if (ts !== undefined) r.tsize = /^\d+$/.test(ts) ? Number(ts) : undefined;
            send(encodeAck(0), tid);
            return;
          }
          if (p.op === 'DATA') {
            // No OACK: the server ignored the options; the transfer is plain RFC 1350.
            tid = rinfo.port;
            r.blksize = 512;
          } else {
            r.stray++;
            return;
          }
        }
        if (p.op === 'OACK') {
          // Our ACK 0 was lost and the server sent its OACK again.
          if (expected === 1) socket.send(encodeAck(0), rinfo.port, rinfo.address);
          return;
        }
        if (p.op !== 'DATA') {
          r.stray++;
          return;
        }
        if (p.block === ((expected - 1) & 0xffff)) {
          // A retransmission: our last ACK was lost.
          socket.send(encodeAck(p.block), rinfo.port, rinfo.address);
          return;
        }
        if (p.block !== (expected & 0xffff)) {
          r.stray++;
          return;
        }
        if (p.data.length > r.blksize) {
          finish(fail('PXE-E36', `block ${expected} holds ${p.data.length} bytes, more than blksize ${r.blksize}`));
          return;
        }
        r.bytes += p.data.length;
        r.blocks++;
        const ack = encodeAck(expected);
        expected++;
        if (p.data.length < r.blksize) {
          // The last block: acknowledged once; a lost final ACK only makes the server retransmit.
          clearTimeout(timer);
          const error = r.tsize !== undefined && r.tsize !== r.bytes ? fail('PXE-E36', `received ${r.bytes} bytes, the server announced tsize ${r.tsize}`) : undefined;
          // Closed only once the ACK has left, or the server would send the block again and again.
          socket.send(ack, rinfo.port, rinfo.address, () => finish(error));
          return;
        }
        send(ack, rinfo.port);
      });
      transmit();
    });
  } finally {
    socket.close();
  }
}
