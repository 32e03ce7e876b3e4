// Read-only TFTP server for PXE boot files (RFC 1350, options per RFC 2347/2348/2349/7440).
//
// - One listening socket per local address (so that replies leave from the address the request
//   was sent to), plus a wildcard one when bound to 0.0.0.0 for broadcast and late interfaces.
// - One connected UDP socket per transfer on an ephemeral port (the RFC 1350 TID). Being connected,
//   the kernel drops datagrams from any other address or port, so stray TIDs never reach a session.
// - Files are read ~1 MiB at a time (readv straight into per-block slots that have room for the
//   4-byte DATA header), double buffered: the next chunk is read while the current one is sent.
// - Windows (RFC 7440) are sent in a tight loop; an ACK of block n slides the window to n+1, a
//   duplicate ACK is ignored (Sorcerer's Apprentice), lost packets are recovered by one timer per
//   session, with an RTT-based timeout, exponential backoff and a retry cap. A client's timeout
//   option (RFC 2349) is granted and caps that timeout; on a fast link the server retransmits
//   sooner, which costs at most one window and recovers losses much faster.
// - Block numbers wrap from 65535 to 0 (what curl, busybox, atftp, iPXE and EDK2 expect), so files
//   of any size can be sent at any block size.
// - Mode netascii is served as octet: PXE clients only fetch binaries, and a CRLF conversion would
//   make the tsize in the OACK disagree with the bytes sent.
// - EDK2 (UEFI PXE) first sends an RRQ with tsize=0 only to learn the size, then ends it with
//   ERROR 8 (or 0) right after the OACK, and asks again. That ends the session quietly: a
//   tftp.error event whose reason starts with 'tsize probe:', no ERROR back to the client.
// - Names: backslashes are separators, '..' is refused, symlinks must resolve inside the root,
//   only regular files are served (see paths.ts). WRQ is refused: the server is read-only.
// - Transfers run on worker threads (pool.ts, worker.ts; Linux with koffi): the main thread keeps
//   the listeners, checks and opens the file, makes the transfer's connected socket, and hands
//   both to the least-loaded worker, which runs its transfers in a blocking poll/recv/sendmmsg
//   loop with the same protocol behaviour as Session below. Elsewhere, for IPv6, with
//   `workers: 0` or OVERNIGHT_TFTP_WORKERS=0, Session runs the transfer here through dgram.
import dgram from 'node:dgram';
import { realpath } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { EventSink, TftpEvent } from '../events.ts';
import { ignoreEvents } from '../events.ts';
import type { MediaFS } from '../../media/types.ts';
import {
  BLKSIZE_DEFAULT,
  BLKSIZE_MAX,
  encodeError,
  encodeOack,
  ErrorCode,
  isTftpError,
  parse,
  type RequestPacket,
  writeDataHeader,
} from './codec.ts';
import { type MediaMount, openRequested, type TransferSource } from './paths.ts';
import { TransferPool } from './pool.ts';

export interface RetransmitOptions {
  /** Timeout before the first RTT sample, and the ceiling when the client sent no timeout option. */
  readonly initialMs?: number;
  /** Floor of the RTT-based timeout. */
  readonly minMs?: number;
  /** Ceiling of the exponential backoff. */
  readonly maxMs?: number;
  /** Retransmissions without progress before the transfer is abandoned. */
  readonly retries?: number;
}

export interface TftpServerOptions {
  /** Address to listen on; '0.0.0.0' (default) listens on every IPv4 address. */
  readonly address?: string;
  /** UDP port; 69 by default, 0 for any free port. */
  readonly port?: number;
  /** Host folder served at '/'. */
  readonly root: string;
  /** Install media served under a prefix, read straight out of the image. */
  readonly media?: readonly { prefix: string; fs: MediaFS }[];
  readonly events?: EventSink;
  /** Concurrent transfers in total (default 256). */
  readonly maxSessions?: number;
  /** Concurrent transfers per client IP address (default 16). */
  readonly maxSessionsPerClient?: number;
  readonly retransmit?: RetransmitOptions;
  /** Largest block size granted (default 65464; clients ask for what their path MTU allows). */
  readonly maxBlksize?: number;
  /** Largest window granted (default 512; also capped to one read chunk). */
  readonly maxWindowsize?: number;
  /** Socket buffer sizes for transfer sockets (default 4 MiB, so that a whole window fits; the
   * kernel clamps it to net.core.[rw]mem_max; 0 leaves the kernel default). */
  readonly socketBufferBytes?: number;
  /**
   * Worker threads that run the transfers (Linux, through koffi): default
   * os.availableParallelism(), at least 2; 0 runs them on the main thread, as does the
   * environment variable OVERNIGHT_TFTP_WORKERS=0 (which also sets the default otherwise).
   */
  readonly workers?: number;
}

export interface TftpServer {
  /** The address and port the server listens on (port resolved when 0 was asked). */
  readonly address: string;
  readonly port: number;
  /** Transfers in progress. */
  sessions(): number;
  /** Stops listening and ends every transfer. */
  close(): Promise<void>;
}

/** Bytes of file data read at once; also bounds the window (a window spans at most two chunks). */
const CHUNK_BYTES = 1024 * 1024;
/** readv takes at most IOV_MAX (1024 on Linux) buffers. */
const MAX_CHUNK_BLOCKS = 1024;
const MIN_CHUNK_BLOCKS = 16;

function chunkBlocksFor(blksize: number): number {
  return Math.min(MAX_CHUNK_BLOCKS, Math.max(MIN_CHUNK_BLOCKS, Math.floor(CHUNK_BYTES / blksize)));
}

interface Resolved {
  readonly initialMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly retries: number;
}

interface Context {
  readonly realRoot: string;
  readonly mounts: readonly MediaMount[];
  readonly emit: EventSink;
  readonly retransmit: Resolved;
  readonly maxBlksize: number;
  readonly maxWindowsize: number;
  readonly socketBufferBytes: number;
  readonly type: 'udp4' | 'udp6';
  readonly sessions: Map<string, Session>;
  readonly perClient: Map<string, number>;
  readonly pool: TransferPool | undefined;
}

const pools = new WeakMap<TftpServer, TransferPool>();

/** For tests: whether `server` runs transfers on worker threads, and a way to make them crash. */
export const tftpTestHooks = {
  usesWorkers: (server: TftpServer): boolean => pools.get(server)?.available ?? false,
  crashWorkers: (server: TftpServer): void => pools.get(server)?.crashWorkers(),
};

export async function startTftpServer(options: TftpServerOptions): Promise<TftpServer> {
  const address = options.address ?? '0.0.0.0';
  const type = isIPv6(address) ? 'udp6' : 'udp4';
  const forcedOff = process.env['OVERNIGHT_TFTP_WORKERS'] === '0';
  // Workers serve IPv4 only (the sockets they get are made for it); IPv6 stays in-process.
  const pool = forcedOff || options.workers === 0 || type !== 'udp4' ? undefined : await TransferPool.create(options.workers);
  const ctx: Context = {
    realRoot: await realpath(options.root),
    mounts: options.media ?? [],
    emit: options.events ?? ignoreEvents,
    retransmit: {
      initialMs: options.retransmit?.initialMs ?? 1000,
      minMs: options.retransmit?.minMs ?? 50,
      maxMs: options.retransmit?.maxMs ?? 8000,
      retries: options.retransmit?.retries ?? 6,
    },
    maxBlksize: Math.min(options.maxBlksize ?? BLKSIZE_MAX, BLKSIZE_MAX),
    maxWindowsize: options.maxWindowsize ?? 512,
    socketBufferBytes: options.socketBufferBytes ?? 4 * 1024 * 1024,
    type,
    sessions: new Map(),
    perClient: new Map(),
    pool,
  };
  const maxSessions = options.maxSessions ?? 256;
  const maxPerClient = options.maxSessionsPerClient ?? 16;

  const listeners: dgram.Socket[] = [];
  const wildcard = address === '0.0.0.0' || address === '::';
  const bindOne = (addr: string, port: number): Promise<dgram.Socket> =>
    new Promise((resolve, reject) => {
      const sock = dgram.createSocket({ type, reuseAddr: wildcard });
      sock.once('error', reject);
      sock.bind({ address: addr, port, exclusive: true }, () => {
        sock.off('error', reject);
        sock.on('error', () => {}); // ICMP errors on a listener are not fatal
        // Replies to a wildcard listener go out of a wildcard socket: the kernel picks the source.
        sock.on('message', (msg, rinfo) => onRequest(sock, addr, msg, rinfo));
        resolve(sock);
      });
    });

  const first = await bindOne(address, options.port ?? 69);
  listeners.push(first);
  const port = first.address().port;
  if (wildcard) {
    // A listener per local address, so that a session's replies come from the address the
    // client sent its request to (Node exposes no IP_PKTINFO). The most specific bind wins.
    for (const list of Object.values(networkInterfaces())) {
      for (const ni of list ?? []) {
        if ((type === 'udp4') !== (ni.family === 'IPv4') || ni.scopeid) continue;
        try {
          listeners.push(await bindOne(ni.address, port));
        } catch {
          // Address in use by someone else or gone meanwhile: the wildcard listener still answers.
        }
      }
    }
  }

  function replyError(sock: dgram.Socket, rinfo: dgram.RemoteInfo, code: number, message: string): void {
    sock.send(encodeError(code, message), rinfo.port, rinfo.address, () => {});
  }

  function onRequest(sock: dgram.Socket, localAddress: string, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const client = `${rinfo.address}:${rinfo.port}`;
    let packet;
    try {
      packet = parse(msg);
    } catch (e) {
      // Never answer what might be an ERROR packet: two servers must not ping-pong errors.
      if (msg.length >= 2 && msg[0] === 0 && msg[1] === 5) return;
      const err = isTftpError(e) ? e : undefined;
      const message = err?.message ?? 'malformed packet';
      ctx.emit(event('tftp.error', client, '', { reason: `malformed request: ${message}` }));
      replyError(sock, rinfo, err?.tftpCode ?? ErrorCode.ILLEGAL_OPERATION, message);
      return;
    }
    if (packet.op === 'ERROR') return;
    if (packet.op === 'WRQ') {
      ctx.emit(event('tftp.error', client, packet.filename, { reason: 'write request refused: read-only server' }));
      replyError(sock, rinfo, ErrorCode.ACCESS_VIOLATION, 'read-only server: write requests are refused');
      return;
    }
    if (packet.op !== 'RRQ') {
      replyError(sock, rinfo, ErrorCode.ILLEGAL_OPERATION, `expected RRQ on the server port, got ${packet.op}`);
      return;
    }
    // A retransmitted RRQ while its transfer runs: the session's own timer handles loss.
    if (ctx.sessions.has(client)) return;
    const ip = rinfo.address;
    const mine = ctx.perClient.get(ip) ?? 0;
    if (ctx.sessions.size >= maxSessions || mine >= maxPerClient) {
      const why = mine >= maxPerClient ? `too many transfers from ${ip} (limit ${maxPerClient})` : `server busy (limit ${maxSessions} transfers)`;
      ctx.emit(event('tftp.error', client, packet.filename, { reason: why }));
      replyError(sock, rinfo, ErrorCode.NOT_DEFINED, `${why}; try again later`);
      return;
    }
    const session = new Session(ctx, client, rinfo, packet, wildcard && localAddress === address ? undefined : localAddress);
    ctx.sessions.set(client, session);
    ctx.perClient.set(ip, mine + 1);
    session.start(sock).catch((e: unknown) => session.fail(`internal error: ${(e as Error).message}`, ErrorCode.NOT_DEFINED));
  }

  let closed = false;
  const server: TftpServer = {
    address: first.address().address,
    port,
    sessions: () => ctx.sessions.size,
    async close() {
      if (closed) return;
      closed = true;
      for (const s of [...ctx.sessions.values()]) s.end('server closing');
      await Promise.all(listeners.map((l) => new Promise<void>((r) => l.close(() => r()))));
      await pool?.close();
    },
  };
  if (pool) pools.set(server, pool);
  return server;
}

function event(type: TftpEvent['type'], client: string, file: string, extra: Partial<TftpEvent> = {}): TftpEvent {
  return { type, time: new Date(), client, file, ...extra };
}

/** One read transfer: from the RRQ to the last ACK (or an error, or giving up). */
class Session {
  readonly #ctx: Context;
  readonly #key: string;
  readonly #rinfo: dgram.RemoteInfo;
  readonly #request: RequestPacket;
  readonly #localAddress: string | undefined;
  #socket: dgram.Socket | undefined;
  #source: TransferSource | undefined;
  #closed = false;
  /** The transfer runs on a worker thread; the pool owns its socket and closes the source. */
  #remote = false;
  #startedAt = performance.now();

  // Negotiated transfer parameters.
  #blksize = BLKSIZE_DEFAULT;
  #windowsize = 1;
  #negotiated: Record<string, number> = {};
  #size = 0;
  /** Number of DATA blocks: the last one is shorter than blksize (possibly empty). */
  #lastBlock = 1;
  #chunkBlocks = MIN_CHUNK_BLOCKS;
  #stride = BLKSIZE_DEFAULT + 4;

  // Double buffer: slot s holds chunk #loaded[s]; each block has a 4-byte header slot before it.
  readonly #bufs: (Buffer | undefined)[] = [undefined, undefined];
  readonly #views: Buffer[][] = [[], []];
  readonly #loaded = [-1, -1];
  readonly #loading = [-1, -1];

  // Window state, in absolute block numbers (1-based, never wrapped).
  #base = 1; // first block not yet acknowledged
  #next = 1; // next block to send
  #oack: Buffer | undefined; // OACK sent and not yet acknowledged (ACK 0)
  #oackHadTsize = false;

  // Retransmission: one timer per session, re-armed lazily from #lastActivity.
  #timer: NodeJS.Timeout | undefined;
  #timerDue = 0;
  #lastActivity = 0;
  #rto = 1000;
  #ceiling = 1000;
  #backoff = 1000;
  #retries = 0;
  #srtt = 0;
  #windowSentAt = 0;
  #retransmitted = false;

  constructor(ctx: Context, key: string, rinfo: dgram.RemoteInfo, request: RequestPacket, localAddress: string | undefined) {
    this.#ctx = ctx;
    this.#key = key;
    this.#rinfo = rinfo;
    this.#request = request;
    this.#localAddress = localAddress;
  }

  get #file(): string {
    return this.#request.filename;
  }

  async start(listener: dgram.Socket): Promise<void> {
    const ctx = this.#ctx;
    let source: TransferSource;
    try {
      source = await openRequested(this.#file, ctx.realRoot, ctx.mounts);
    } catch (e) {
      // Refusals (TftpError) say why; other failures (EIO, ENAMETOOLONG, a media read error)
      // still get an answer rather than silence.
      const code = isTftpError(e) ? e.tftpCode : ErrorCode.NOT_DEFINED;
      const reason = isTftpError(e) ? e.message : `cannot open file: ${(e as Error).message}`;
      this.#finish();
      ctx.emit(event('tftp.error', this.#key, this.#file, { reason }));
      listener.send(encodeError(code, reason), this.#rinfo.port, this.#rinfo.address, () => {});
      return;
    }
    if (this.#closed) {
      await source.close();
      return;
    }
    this.#source = source;
    this.#size = source.size;

    const req = this.#request.options;
    const neg: Record<string, number> = {};
    if (req.blksize !== undefined) this.#blksize = neg['blksize'] = Math.min(req.blksize, ctx.maxBlksize);
    this.#chunkBlocks = chunkBlocksFor(this.#blksize);
    if (req.windowsize !== undefined) this.#windowsize = neg['windowsize'] = Math.min(req.windowsize, ctx.maxWindowsize, this.#chunkBlocks);
    if (req.timeout !== undefined) neg['timeout'] = req.timeout;
    if (req.tsize !== undefined) neg['tsize'] = this.#size;
    this.#negotiated = neg;
    this.#stride = this.#blksize + 4;
    this.#lastBlock = Math.floor(this.#size / this.#blksize) + 1;
    this.#ceiling = req.timeout !== undefined ? req.timeout * 1000 : ctx.retransmit.initialMs;
    this.#rto = this.#backoff = this.#ceiling;

    if (ctx.pool?.available && source.direct) {
      this.#handOff(ctx.pool, listener, source, source.direct, neg);
      return;
    }

    const sock = ctx.socketBufferBytes > 0 ? dgram.createSocket({ type: ctx.type, recvBufferSize: ctx.socketBufferBytes, sendBufferSize: ctx.socketBufferBytes }) : dgram.createSocket({ type: ctx.type });
    this.#socket = sock;
    sock.on('error', (e: NodeJS.ErrnoException) => {
      // ICMP port unreachable: the client is gone. Anything else (a send refused by a local
      // firewall, ENOBUFS) is treated as a lost packet, which the retransmit timer recovers.
      if (e.code === 'ECONNREFUSED') this.fail(`client unreachable: ${e.message}`, undefined);
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ address: this.#localAddress, port: 0 }, () => {
        sock.connect(this.#rinfo.port, this.#rinfo.address, () => {
          sock.off('error', reject);
          resolve();
        });
      });
    });
    if (this.#closed) return;
    sock.on('message', (msg) => this.#onMessage(msg));

    ctx.emit(event('tftp.start', this.#key, this.#file, { options: { ...neg, tsize: this.#size } }));
    this.#lastActivity = performance.now();
    this.#armTimer(this.#rto);
    this.#ensure(0);
    if (this.#lastBlock > this.#chunkBlocks) this.#ensure(1);
    if (Object.keys(neg).length > 0) {
      this.#oack = encodeOack(neg);
      this.#oackHadTsize = req.tsize !== undefined;
      sock.send(this.#oack);
    } else {
      this.#pump();
    }
  }

  /** Runs the transfer on a worker thread: the socket is made here, the worker sends and receives. */
  #handOff(pool: TransferPool, listener: dgram.Socket, source: TransferSource, direct: NonNullable<TransferSource['direct']>, neg: Record<string, number>): void {
    const ctx = this.#ctx;
    let sock: number;
    try {
      sock = pool.openSocket(this.#localAddress, this.#rinfo.address, this.#rinfo.port, ctx.socketBufferBytes);
    } catch (e) {
      const reason = `cannot open a transfer socket: ${(e as Error).message}`;
      listener.send(encodeError(ErrorCode.NOT_DEFINED, reason), this.#rinfo.port, this.#rinfo.address, () => {});
      this.fail(reason, undefined);
      return;
    }
    this.#remote = true;
    const options = Object.keys(neg).length > 0;
    ctx.emit(event('tftp.start', this.#key, this.#file, { options: { ...neg, tsize: this.#size } }));
    pool.handOff(
      sock,
      {
        fd: direct.fd,
        extents: direct.extents,
        size: this.#size,
        blksize: this.#blksize,
        windowsize: this.#windowsize,
        chunkBlocks: this.#chunkBlocks,
        oack: options ? encodeOack(neg) : undefined,
        oackHadTsize: this.#request.options.tsize !== undefined,
        ceilingMs: this.#ceiling,
        minMs: ctx.retransmit.minMs,
        maxMs: ctx.retransmit.maxMs,
        retries: ctx.retransmit.retries,
      },
      () => void source.close().catch(() => {}),
      {
        ended: (ok, reason, bytes) => {
          if (this.#closed) return;
          const durationMs = performance.now() - this.#startedAt;
          this.#finish();
          if (ok) ctx.emit(event('tftp.done', this.#key, this.#file, { bytes, durationMs, options: { ...this.#negotiated, tsize: this.#size } }));
          else ctx.emit(event('tftp.error', this.#key, this.#file, { reason, bytes, durationMs }));
        },
        died: (reason) => {
          if (this.#closed) return;
          this.#finish();
          ctx.emit(event('tftp.error', this.#key, this.#file, { reason: `internal error: ${reason}`, durationMs: performance.now() - this.#startedAt }));
        },
      },
    );
  }

  // --- file chunks -----------------------------------------------------------------------

  #ensure(chunk: number): void {
    const slot = chunk & 1;
    if (this.#loaded[slot] === chunk || this.#loading[slot] === chunk) return;
    if (this.#loading[slot] !== -1) return; // the slot is busy; #pump asks again when it is done
    const B = this.#chunkBlocks;
    const firstBlock = chunk * B + 1;
    const count = Math.min(B, this.#lastBlock - firstBlock + 1);
    if (count <= 0) return;
    let buf = this.#bufs[slot];
    if (!buf) {
      // Small files get small buffers; big ones two full chunks, allocated once per transfer.
      buf = Buffer.allocUnsafeSlow(Math.min(B, this.#lastBlock) * this.#stride);
      this.#bufs[slot] = buf;
    }
    const targets: Buffer[] = [];
    const views: Buffer[] = this.#views[slot]!;
    views.length = 0;
    for (let i = 0; i < count; i++) {
      const block = firstBlock + i;
      const len = this.#lengthOf(block);
      const off = i * this.#stride;
      targets.push(buf.subarray(off + 4, off + 4 + len));
      views.push(buf.subarray(off, off + 4 + len));
    }
    this.#loaded[slot] = -1;
    this.#loading[slot] = chunk;
    this.#source!.fill((firstBlock - 1) * this.#blksize, targets).then(
      () => {
        this.#loading[slot] = -1;
        this.#loaded[slot] = chunk;
        this.#pump();
      },
      (e: unknown) => this.fail(`read error: ${(e as Error).message}`, ErrorCode.NOT_DEFINED),
    );
  }

  #lengthOf(block: number): number {
    return block === this.#lastBlock ? this.#size - (block - 1) * this.#blksize : this.#blksize;
  }

  // --- sending ---------------------------------------------------------------------------

  /** Sends every block of the current window that has not been sent yet and is in memory. */
  #pump(): void {
    if (this.#closed || this.#oack) return;
    const sock = this.#socket;
    if (!sock) return;
    const limit = Math.min(this.#base + this.#windowsize - 1, this.#lastBlock);
    const B = this.#chunkBlocks;
    if (this.#next === this.#base && this.#next <= limit) this.#windowSentAt = performance.now();
    while (this.#next <= limit) {
      const index = this.#next - 1;
      const chunk = Math.floor(index / B);
      const slot = chunk & 1;
      if (this.#loaded[slot] !== chunk) {
        this.#ensure(chunk);
        return;
      }
      const i = index - chunk * B;
      const buf = this.#bufs[slot]!;
      writeDataHeader(buf, i * this.#stride, this.#next & 0xffff);
      sock.send(this.#views[slot]![i]!);
      this.#next++;
    }
  }

  #onMessage(msg: Buffer): void {
    if (this.#closed) return;
    // Hot path: ACK, read in place.
    if (msg.length >= 4 && msg[0] === 0 && msg[1] === 4) {
      this.#onAck((msg[2]! << 8) | msg[3]!);
      return;
    }
    let packet;
    try {
      packet = parse(msg);
    } catch {
      return; // junk on a transfer port: ignore, the transfer goes on
    }
    if (packet.op === 'ERROR') {
      if (this.#oack && this.#oackHadTsize && this.#next === 1) {
        // EDK2 and other UEFI PXE clients ask for tsize, read it from the OACK, and end the
        // transfer with ERROR 8 (or 0) before asking again for real. Not a failure.
        this.end(`tsize probe: client ended after the OACK (ERROR ${packet.code} "${packet.message}")`);
      } else {
        this.end(`client aborted: ERROR ${packet.code} "${packet.message}"`);
      }
      return;
    }
    // DATA/RRQ/WRQ/OACK from the client on a read transfer: tell it, and end.
    this.fail(`unexpected ${packet.op} from the client during a read transfer`, ErrorCode.ILLEGAL_OPERATION);
  }

  #onAck(n: number): void {
    if (this.#oack) {
      if (n !== 0) return;
      this.#oack = undefined;
      this.#progress(0);
      this.#pump();
      return;
    }
    const acked = this.#base - 1;
    const ahead = (n - (acked & 0xffff)) & 0xffff; // distance past the last ACK, modulo 2^16
    // ahead 0: a duplicate ACK. Resending on it is the Sorcerer's Apprentice bug; only the timer
    // retransmits. ahead beyond what was sent: a stale ACK from before a wrap, or nonsense.
    if (ahead === 0 || acked + ahead >= this.#next) {
      // An ACK below the last one: the client holds less than it acknowledged before (under loss
      // some clients acknowledge a window by what they counted, not by the blocks they hold). Once
      // our own retransmissions have gone unanswered, believe it and go back, so the transfer
      // cannot stall until it gives up. Never on the first sign, so no duplicate multiplies traffic.
      const behind = ((acked & 0xffff) - n) & 0xffff;
      if (this.#retransmitted && behind > 0 && behind <= 2 * this.#windowsize && behind <= acked) {
        this.#base = acked - behind + 1;
        this.#next = this.#base;
        this.#retransmitted = false;
        this.#lastActivity = performance.now();
        this.#pump();
      }
      return;
    }
    const block = acked + ahead;
    if (!this.#retransmitted && block === this.#next - 1) this.#progress(performance.now() - this.#windowSentAt);
    else this.#progress(-1);
    this.#base = block + 1;
    if (this.#base > this.#lastBlock) {
      this.#done();
      return;
    }
    // A partial ACK (RFC 7440 §4): the client lost block n+1; the window restarts there.
    if (block < this.#next - 1) this.#next = this.#base;
    const chunk = Math.floor((this.#base - 1) / this.#chunkBlocks);
    if ((chunk + 1) * this.#chunkBlocks < this.#lastBlock) this.#ensure(chunk + 1);
    this.#pump();
  }

  /** Progress was made: reset the backoff, and update the RTT estimate when `sampleMs` ≥ 0. */
  #progress(sampleMs: number): void {
    this.#lastActivity = performance.now();
    this.#retries = 0;
    this.#retransmitted = false;
    if (sampleMs >= 0) {
      this.#srtt = this.#srtt === 0 ? sampleMs : this.#srtt * 0.875 + sampleMs * 0.125;
      this.#rto = Math.min(this.#ceiling, Math.max(this.#ctx.retransmit.minMs, 4 * this.#srtt));
    }
    this.#backoff = this.#rto;
    // The timer is re-armed lazily from #lastActivity, but never left due later than the
    // (possibly just shortened) timeout: else the first loss after the RTT estimate shrank
    // would wait for the initial timeout.
    if (this.#timerDue > this.#lastActivity + this.#backoff + 1) {
      clearTimeout(this.#timer);
      this.#armTimer(this.#backoff);
    }
  }

  // --- timer -----------------------------------------------------------------------------

  #armTimer(ms: number): void {
    const delay = Math.max(1, Math.ceil(ms));
    this.#timerDue = performance.now() + delay;
    this.#timer = setTimeout(this.#onTimer, delay);
    this.#timer.unref?.();
  }

  readonly #onTimer = (): void => {
    if (this.#closed) return;
    const idle = performance.now() - this.#lastActivity;
    if (idle < this.#backoff) {
      this.#armTimer(this.#backoff - idle);
      return;
    }
    if (!this.#oack && this.#next === this.#base && idle < this.#ctx.retransmit.maxMs * (this.#ctx.retransmit.retries + 1)) {
      // Nothing of the window is out yet: the wait is on our own disk read, not on the client,
      // so it costs no retransmission (a slow read under load would else use up the budget).
      // A read that never ends still ends the transfer, after the whole budget's time.
      this.#armTimer(this.#backoff);
      return;
    }
    if (++this.#retries > this.#ctx.retransmit.retries) {
      this.fail(`no ACK after ${this.#ctx.retransmit.retries} retransmissions (block ${this.#base}, ${Math.round(idle)} ms idle)`, undefined);
      return;
    }
    this.#backoff = Math.min(this.#backoff * 2, this.#ctx.retransmit.maxMs);
    this.#lastActivity = performance.now();
    this.#retransmitted = true;
    if (this.#oack) this.#socket?.send(this.#oack);
    else {
      this.#next = this.#base; // go back: resend the whole window from the first unacknowledged block
      this.#pump();
    }
    this.#armTimer(this.#backoff);
  };

  // --- ending ----------------------------------------------------------------------------

  #done(): void {
    const durationMs = performance.now() - this.#startedAt;
    this.#finish();
    this.#ctx.emit(event('tftp.done', this.#key, this.#file, { bytes: this.#size, durationMs, options: { ...this.#negotiated, tsize: this.#size } }));
  }

  /** Ends the transfer without telling the client (it ended it, or the server is closing). */
  end(reason: string): void {
    if (this.#closed) return;
    this.#finish();
    this.#ctx.emit(event('tftp.error', this.#key, this.#file, { reason, bytes: this.#sentBytes(), durationMs: performance.now() - this.#startedAt }));
  }

  /** Ends the transfer; sends ERROR `code` to the client unless code is undefined. */
  fail(reason: string, code: number | undefined): void {
    if (this.#closed) return;
    if (code !== undefined && this.#socket) {
      try {
        this.#socket.send(encodeError(code, reason), () => {});
      } catch {
        // Not connected yet (the failure came while setting the socket up): nobody to tell.
      }
    }
    this.#finish();
    this.#ctx.emit(event('tftp.error', this.#key, this.#file, { reason, bytes: this.#sentBytes(), durationMs: performance.now() - this.#startedAt }));
  }

  #sentBytes(): number {
    return Math.min(this.#size, (this.#base - 1) * this.#blksize);
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    const ctx = this.#ctx;
    ctx.sessions.delete(this.#key);
    const ip = this.#rinfo.address;
    const n = (ctx.perClient.get(ip) ?? 1) - 1;
    if (n <= 0) ctx.perClient.delete(ip);
    else ctx.perClient.set(ip, n);
    const sock = this.#socket;
    // Close after the send queue drains (an ERROR may still be queued).
    if (sock) setImmediate(() => sock.close());
    if (!this.#remote) this.#source?.close().catch(() => {});
  }
}
