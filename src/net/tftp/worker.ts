// A TFTP transfer worker thread: runs many read transfers at once in one blocking loop,
// poll(2) → recv(2) → send(2) through koffi, without libuv. The main thread keeps port 69, checks
// the request, opens the file and the connected transfer socket, and hands both over (see
// pool.ts); this thread only moves blocks. It owns none of the descriptors: when it reports a
// transfer's end, or when it dies, the main thread closes them.
//
// Protocol behaviour is the same as the in-process Session in server.ts: windows (RFC 7440) with
// partial ACKs, block numbers wrapping at 65535, duplicate ACKs ignored, an RTT-based timeout with
// exponential backoff and a retry cap (the poll timeout is the earliest retransmission due), the
// EDK2 tsize probe, and ERRORs to the client.
import { readvSync } from 'node:fs';
import { type MessagePort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { encodeError, ErrorCode, MAX_PACKET, parse, writeDataHeader } from './codec.ts';
import { unfilled } from './paths.ts';
import { ECONNREFUSED, EINTR, errnoName, MSG_DONTWAIT, O_CLOEXEC, O_NONBLOCK, POLLIN, type SocketSys, socketSys } from '../sys.ts';

/** A byte range of the source file at `offset` in the descriptor (zeros when sparse). */
export interface WorkerExtent {
  readonly offset: number;
  readonly length: number;
  readonly sparse?: boolean | undefined;
}

export interface StartMessage {
  readonly t: 'start';
  readonly id: number;
  /** Connected, non-blocking UDP socket (the transfer's TID). */
  readonly sock: number;
  /** Descriptor to read the file from, and where the file's bytes lie in it. */
  readonly fd: number;
  readonly extents: readonly WorkerExtent[];
  readonly size: number;
  readonly blksize: number;
  readonly windowsize: number;
  readonly chunkBlocks: number;
  /** OACK bytes to send first (undefined: no options, DATA 1 goes out at once). */
  readonly oack: Uint8Array | undefined;
  readonly oackHadTsize: boolean;
  readonly ceilingMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly retries: number;
}

export type ToWorker = StartMessage | { readonly t: 'quit' } | { readonly t: 'crash' };

export type FromWorker =
  | { readonly t: 'ready'; readonly wake: number; readonly wakeRead: number }
  | { readonly t: 'end'; readonly id: number; readonly ok: boolean; readonly reason: string; readonly bytes: number }
  | { readonly t: 'failed'; readonly reason: string };

interface Data {
  readonly port: MessagePort;
}

class Transfer {
  readonly id: number;
  readonly sock: number;
  readonly m: StartMessage;
  readonly lastBlock: number;
  readonly stride: number;
  readonly bufs: (Buffer | undefined)[] = [undefined, undefined];
  /** Addresses of bufs (for the iovecs of sendmmsg). */
  readonly addrs = [0, 0];
  readonly loaded = [-1, -1];
  base = 1;
  next = 1;
  oack: Uint8Array | undefined;
  lastActivity = performance.now();
  rto: number;
  backoff: number;
  retries = 0;
  srtt = 0;
  windowSentAt = 0;
  retransmitted = false;
  extentAt = 0;
  live = true;

  constructor(m: StartMessage) {
    this.m = m;
    this.id = m.id;
    this.sock = m.sock;
    this.lastBlock = Math.floor(m.size / m.blksize) + 1;
    this.stride = m.blksize + 4;
    this.rto = this.backoff = m.ceilingMs;
    this.oack = m.oack;
  }
}

function main(sys: SocketSys, port: MessagePort): void {
  const pipe = new Int32Array(2);
  if (sys.pipe2(pipe, O_NONBLOCK | O_CLOEXEC) !== 0) {
    port.postMessage({ t: 'failed', reason: `pipe2: ${errnoName(sys.errno())}` } satisfies FromWorker);
    return;
  }
  const wake = pipe[0]!;
  port.postMessage({ t: 'ready', wake: pipe[1]!, wakeRead: wake } satisfies FromWorker);

  const transfers: Transfer[] = [];
  let pollfds = Buffer.alloc(8 * 64);
  let pollDirty = true;
  const rbuf = Buffer.allocUnsafe(MAX_PACKET + 1);
  // A window goes out in one sendmmsg: struct mmsghdr[MAXV] (msg_iov → iovs[i], msg_iovlen 1,
  // no address: the socket is connected) and struct iovec[MAXV] (base, length) filled per window.
  const MAXV = 1024;
  const msgvec = Buffer.alloc(64 * MAXV);
  const iovs = Buffer.alloc(16 * MAXV);
  const iovsAt = sys.addressOf(iovs);
  for (let i = 0; i < MAXV; i++) {
    const a = iovsAt + 16 * i;
    msgvec.writeUInt32LE(a % 0x1_0000_0000, 64 * i + 16);
    msgvec.writeUInt32LE(Math.floor(a / 0x1_0000_0000), 64 * i + 20);
    msgvec.writeUInt32LE(1, 64 * i + 24);
  }
  const scratch = Buffer.allocUnsafe(256);

  const send = (t: Transfer, buf: Uint8Array): boolean => {
    const n = sys.send(t.sock, buf, buf.length, MSG_DONTWAIT);
    if (n >= 0) return true;
    const errno = sys.errno();
    // ICMP port unreachable: the client is gone. Anything else (ENOBUFS, EAGAIN, a firewall's
    // EPERM) is a lost packet, which the retransmission timeout recovers.
    if (errno === ECONNREFUSED) finish(t, false, `client unreachable: send: ${errnoName(errno)}`);
    return false;
  };

  const sentBytes = (t: Transfer): number => Math.min(t.m.size, (t.base - 1) * t.m.blksize);

  const finish = (t: Transfer, ok: boolean, reason: string): void => {
    if (!t.live) return;
    t.live = false;
    transfers.splice(transfers.indexOf(t), 1);
    pollDirty = true;
    port.postMessage({ t: 'end', id: t.id, ok, reason, bytes: ok ? t.m.size : sentBytes(t) } satisfies FromWorker);
  };

  const fail = (t: Transfer, reason: string, code: number | undefined): void => {
    if (code !== undefined) {
      const e = encodeError(code, reason);
      sys.send(t.sock, e, e.length, MSG_DONTWAIT);
    }
    finish(t, false, reason);
  };

  const lengthOf = (t: Transfer, block: number): number => (block === t.lastBlock ? t.m.size - (block - 1) * t.m.blksize : t.m.blksize);

  /** Reads chunk `chunk` into its slot (synchronously: the page cache answers in microseconds). */
  const load = (t: Transfer, chunk: number): void => {
    const slot = chunk & 1;
    const B = t.m.chunkBlocks;
    const firstBlock = chunk * B + 1;
    const count = Math.min(B, t.lastBlock - firstBlock + 1);
    let buf = t.bufs[slot];
    if (!buf) {
      buf = Buffer.allocUnsafeSlow(Math.min(B, t.lastBlock) * t.stride);
      t.bufs[slot] = buf;
      t.addrs[slot] = sys.addressOf(buf);
    }
    const targets: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const len = lengthOf(t, firstBlock + i);
      const off = i * t.stride;
      if (len > 0) targets.push(buf.subarray(off + 4, off + 4 + len));
    }
    t.loaded[slot] = -1;
    fill(t, (firstBlock - 1) * t.m.blksize, targets);
    t.loaded[slot] = chunk;
  };

  /** Fills `targets` back to back from file position `position`, through the extents. */
  const fill = (t: Transfer, position: number, targets: Buffer[]): void => {
    const ext = t.m.extents;
    // File position of extent t.extentAt's start; extents are walked forward, restarting when a
    // retransmission goes back.
    let k = 0;
    let start = 0;
    if (t.extentAt > 0 && t.extentAt < ext.length) {
      let s = 0;
      for (let j = 0; j < t.extentAt; j++) s += ext[j]!.length;
      if (s <= position) (k = t.extentAt), (start = s);
    }
    while (k < ext.length && start + ext[k]!.length <= position) start += ext[k++]!.length;
    t.extentAt = k;
    let run: Buffer[] = [];
    let runAt = -1;
    let runEnd = -1;
    const flush = () => {
      if (run.length > 0) readFully(t, run, runAt);
      run = [];
      runAt = runEnd = -1;
    };
    let pos = position;
    for (const target of targets) {
      let done = 0;
      while (done < target.length) {
        if (k >= ext.length) throw new Error(`read past the end of the file's extents at ${pos}`);
        const e = ext[k]!;
        const within = pos - start;
        const n = Math.min(target.length - done, e.length - within);
        const piece = n === target.length && done === 0 ? target : target.subarray(done, done + n);
        if (e.sparse) piece.fill(0);
        else {
          const at = e.offset + within;
          if (at !== runEnd || run.length >= 1024) {
            flush();
            runAt = at;
          }
          run.push(piece);
          runEnd = at + n;
        }
        done += n;
        pos += n;
        if (pos - start >= e.length) start += ext[k++]!.length;
      }
    }
    flush();
  };

  const readFully = (t: Transfer, list: Buffer[], at: number): void => {
    let pos = at;
    while (list.length > 0) {
      const got = readvSync(t.m.fd, list, pos);
      if (got === 0) throw new Error(`file shrank during the transfer (EOF at ${pos})`);
      pos += got;
      list = unfilled(list, got);
    }
  };

  const pump = (t: Transfer): void => {
    if (t.oack) return;
    const limit = Math.min(t.base + t.m.windowsize - 1, t.lastBlock);
    const B = t.m.chunkBlocks;
    if (t.next === t.base && t.next <= limit) t.windowSentAt = performance.now();
    // The window spans at most two chunks (windowsize ≤ chunkBlocks), so loading the next one
    // never overwrites blocks gathered for this sendmmsg.
    let n = 0;
    while (t.next <= limit && n < MAXV) {
      const index = t.next - 1;
      const chunk = Math.floor(index / B);
      const slot = chunk & 1;
      if (t.loaded[slot] !== chunk) load(t, chunk);
      const i = index - chunk * B;
      writeDataHeader(t.bufs[slot]!, i * t.stride, t.next & 0xffff);
      const a = t.addrs[slot]! + i * t.stride;
      iovs.writeUInt32LE(a % 0x1_0000_0000, 16 * n);
      iovs.writeUInt32LE(Math.floor(a / 0x1_0000_0000), 16 * n + 4);
      iovs.writeUInt32LE(4 + lengthOf(t, t.next), 16 * n + 8);
      n++;
      t.next++;
    }
    if (n === 0) return;
    if (sys.sendmmsg(t.sock, msgvec, n, MSG_DONTWAIT) < 0) {
      const errno = sys.errno();
      // As in send(): only ICMP port unreachable ends the transfer; the rest is loss.
      if (errno === ECONNREFUSED) finish(t, false, `client unreachable: send: ${errnoName(errno)}`);
    }
  };

  const progress = (t: Transfer, sampleMs: number): void => {
    t.lastActivity = performance.now();
    t.retries = 0;
    t.retransmitted = false;
    if (sampleMs >= 0) {
      t.srtt = t.srtt === 0 ? sampleMs : t.srtt * 0.875 + sampleMs * 0.125;
      t.rto = Math.min(t.m.ceilingMs, Math.max(t.m.minMs, 4 * t.srtt));
    }
    t.backoff = Math.max(1, t.rto); // never 0 (minMs 0 and an RTT under a millisecond): no busy loop
  };

  const onAck = (t: Transfer, n: number): void => {
    if (t.oack) {
      if (n !== 0) return;
      t.oack = undefined;
      progress(t, 0);
      pump(t);
      return;
    }
    const acked = t.base - 1;
    const ahead = (n - (acked & 0xffff)) & 0xffff;
    // A duplicate ACK (ahead 0) is never answered (Sorcerer's Apprentice); one past what was sent
    // is stale or nonsense.
    if (ahead === 0 || acked + ahead >= t.next) {
      // An ACK below the last one, after our retransmissions went unanswered: go back (see
      // server.ts: some clients acknowledge a window by count under loss).
      const behind = ((acked & 0xffff) - n) & 0xffff;
      if (t.retransmitted && behind > 0 && behind <= 2 * t.m.windowsize && behind <= acked) {
        t.base = acked - behind + 1;
        t.next = t.base;
        t.retransmitted = false;
        t.lastActivity = performance.now();
        pump(t);
      }
      return;
    }
    const block = acked + ahead;
    if (!t.retransmitted && block === t.next - 1) progress(t, performance.now() - t.windowSentAt);
    else progress(t, -1);
    t.base = block + 1;
    if (t.base > t.lastBlock) {
      finish(t, true, '');
      return;
    }
    if (block < t.next - 1) t.next = t.base; // partial ACK: the window restarts there
    pump(t);
  };

  const onMessage = (t: Transfer, msg: Buffer): void => {
    if (msg.length >= 4 && msg[0] === 0 && msg[1] === 4) {
      onAck(t, (msg[2]! << 8) | msg[3]!);
      return;
    }
    let packet;
    try {
      packet = parse(msg);
    } catch {
      return; // junk on a transfer port
    }
    if (packet.op === 'ERROR') {
      if (t.oack && t.m.oackHadTsize && t.next === 1) finish(t, false, `tsize probe: client ended after the OACK (ERROR ${packet.code} "${packet.message}")`);
      else finish(t, false, `client aborted: ERROR ${packet.code} "${packet.message}"`);
      return;
    }
    fail(t, `unexpected ${packet.op} from the client during a read transfer`, ErrorCode.ILLEGAL_OPERATION);
  };

  const onTimer = (t: Transfer, now: number): void => {
    const idle = now - t.lastActivity;
    if (++t.retries > t.m.retries) {
      finish(t, false, `no ACK after ${t.m.retries} retransmissions (block ${t.base}, ${Math.round(idle)} ms idle)`);
      return;
    }
    t.backoff = Math.min(t.backoff * 2, t.m.maxMs);
    t.lastActivity = now;
    t.retransmitted = true;
    if (t.oack) send(t, t.oack);
    else {
      t.next = t.base;
      pump(t);
    }
  };

  const guarded = (t: Transfer, f: () => void): void => {
    try {
      f();
    } catch (e) {
      fail(t, `internal error: ${(e as Error).message}`, ErrorCode.NOT_DEFINED);
    }
  };

  const start = (m: StartMessage): void => {
    const t = new Transfer(m);
    transfers.push(t);
    pollDirty = true;
    guarded(t, () => {
      if (t.oack) send(t, t.oack);
      else pump(t);
    });
  };

  let quit = false;
  const drainMessages = (): void => {
    while (sys.read(wake, scratch, scratch.length) > 0);
    for (;;) {
      const got = receiveMessageOnPort(port);
      if (!got) break;
      const m = got.message as ToWorker;
      if (m.t === 'start') start(m);
      else if (m.t === 'quit') quit = true;
      else if (m.t === 'crash') throw new Error('transfer worker: crash requested (test)');
    }
  };

  let polled: Transfer[] = [];
  while (!quit) {
    if (pollDirty) {
      if (pollfds.length < 8 * (transfers.length + 1)) pollfds = Buffer.alloc(16 * (transfers.length + 1));
      pollfds.writeInt32LE(wake, 0);
      pollfds.writeInt16LE(POLLIN, 4);
      polled = transfers.slice();
      for (let i = 0; i < polled.length; i++) {
        pollfds.writeInt32LE(polled[i]!.sock, 8 * (i + 1));
        pollfds.writeInt16LE(POLLIN, 8 * (i + 1) + 4);
      }
      pollDirty = false;
    }
    let timeout = -1;
    if (polled.length > 0) {
      const now = performance.now();
      let due = Infinity;
      for (const t of polled) due = Math.min(due, t.lastActivity + t.backoff);
      timeout = Math.max(0, Math.ceil(due - now));
    }
    for (let i = 0; i <= polled.length; i++) pollfds.writeInt16LE(0, 8 * i + 6);
    const r = sys.poll(pollfds, polled.length + 1, timeout);
    if (r < 0 && sys.errno() !== EINTR) throw new Error(`poll: ${errnoName(sys.errno())}`);
    if (r > 0) {
      if (pollfds.readInt16LE(6) !== 0) drainMessages();
      const list = polled;
      for (let i = 0; i < list.length; i++) {
        const revents = pollfds.readInt16LE(8 * (i + 1) + 6);
        if (revents === 0) continue;
        const t = list[i]!;
        if (!t.live) continue;
        guarded(t, () => {
          const n = sys.recv(t.sock, rbuf, rbuf.length, MSG_DONTWAIT);
          if (n >= 0) onMessage(t, rbuf.subarray(0, n));
          // ICMP port unreachable ends the transfer; EAGAIN and the like are nothing.
          else if (sys.errno() === ECONNREFUSED) finish(t, false, `client unreachable: recv: ${errnoName(ECONNREFUSED)}`);
        });
      }
    }
    // Retransmissions due.
    const now = performance.now();
    for (const t of polled) {
      if (now - t.lastActivity >= t.backoff && t.live) guarded(t, () => onTimer(t, now));
    }
  }
}

const sys = await socketSys();
const { port } = workerData as Data;
if (!sys) port.postMessage({ t: 'failed', reason: 'koffi or libc.so.6 unavailable' } satisfies FromWorker);
else setImmediate(() => main(sys, port));
