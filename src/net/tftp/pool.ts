// The main thread's side of the transfer workers (worker.ts): a few worker threads, each running
// many transfers in a blocking poll loop. The main thread opens each transfer's connected UDP
// socket (through koffi, so that a worker can use it without libuv) and owns every descriptor:
// it closes them when the worker reports the transfer's end, or when the worker dies (then it
// also tells the client, with an ERROR from the transfer's own port).
import { closeSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { encodeError, ErrorCode } from './codec.ts';
import { AF_INET, errnoName, MSG_DONTWAIT, SO_RCVBUF, SO_SNDBUF, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, sockaddrIn, type SocketSys, SOL_SOCKET, socketSys } from '../sys.ts';
import type { FromWorker, StartMessage, ToWorker } from './worker.ts';

export type Handoff = Omit<StartMessage, 't' | 'id' | 'sock'>;

/** What the pool tells about a transfer it runs (on the main thread). */
export interface RemoteOwner {
  /** The worker finished the transfer: `ok`, or why not (the worker told the client when needed). */
  ended(ok: boolean, reason: string, bytes: number): void;
  /** The worker died; the client was sent an ERROR. */
  died(reason: string): void;
}

interface Active {
  readonly owner: RemoteOwner;
  readonly sock: number;
  readonly release: () => void;
}

interface Slot {
  readonly worker: Worker;
  readonly port: MessagePort;
  wake: number;
  wakeRead: number;
  readonly active: Map<number, Active>;
  ready: boolean;
  dead: boolean;
  exited: Promise<void>;
}

const ONE = Buffer.from([1]);
/**
 * A worker only moves blocks between descriptors: small heaps. V8's defaults (a young generation
 * of up to 32 MB per isolate) would let each worker hold tens of megabytes it never needs.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 };
/** The worker's module: worker.ts in a checkout, worker.js in the published build (dist/). */
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);

export class TransferPool {
  readonly #sys: SocketSys;
  readonly #size: number;
  readonly #slots: Slot[] = [];
  #nextId = 1;
  #closed = false;

  private constructor(sys: SocketSys, size: number) {
    this.#sys = sys;
    this.#size = size;
  }

  /**
   * A pool of `size` workers, or undefined when the workers cannot run here (not Linux, no koffi,
   * OVERNIGHT_TFTP_WORKERS=0, or size 0). By default one worker per CPU beyond the main thread's,
   * at most two: one already carries more than a 1 GbE link (BENCHMARKS.md), and each costs its
   * own V8 heap (bench/fleet: the server's memory with 500 machines).
   */
  static async create(size?: number): Promise<TransferPool | undefined> {
    const env = process.env['OVERNIGHT_TFTP_WORKERS'];
    const n = size ?? (env !== undefined && env !== '' ? Number(env) : Math.min(2, Math.max(1, availableParallelism() - 1)));
    if (!(n > 0)) return undefined;
    const sys = await socketSys();
    if (!sys) return undefined;
    const pool = new TransferPool(sys, Math.floor(n));
    const started = await Promise.all(Array.from({ length: pool.#size }, () => pool.#spawn().catch(() => undefined)));
    if (started.some((s) => s === undefined)) {
      await pool.close();
      return undefined;
    }
    return pool;
  }

  #spawn(): Promise<Slot> {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(WORKER_URL, { workerData: { port: port2 }, transferList: [port2], resourceLimits: WORKER_LIMITS });
    let exitResolve: () => void = () => {};
    const slot: Slot = { worker, port: port1, wake: -1, wakeRead: -1, active: new Map(), ready: false, dead: false, exited: new Promise<void>((r) => (exitResolve = r)) };
    return new Promise<Slot>((resolve, reject) => {
      port1.on('message', (m: FromWorker) => {
        if (m.t === 'ready') {
          slot.wake = m.wake;
          slot.wakeRead = m.wakeRead;
          slot.ready = true;
          // From now on the listeners keep the process alive, not the workers.
          worker.unref();
          port1.unref();
          if (this.#closed) {
            this.#post(slot, { t: 'quit' });
            reject(new Error('pool closed'));
            return;
          }
          this.#slots.push(slot);
          resolve(slot);
        } else if (m.t === 'failed') {
          reject(new Error(m.reason));
          void worker.terminate();
        } else if (m.t === 'end') {
          const a = slot.active.get(m.id);
          if (!a) return;
          slot.active.delete(m.id);
          this.#release(a);
          a.owner.ended(m.ok, m.reason, m.bytes);
        }
      });
      worker.on('error', () => {}); // the exit handler below deals with it
      worker.on('exit', (code) => {
        exitResolve();
        port1.close();
        if (!slot.ready) reject(new Error(`transfer worker exited (${code}) before it was ready`));
        this.#died(slot, `transfer worker stopped (exit code ${code})`);
      });
    });
  }

  #release(a: Active): void {
    this.#sys.close(a.sock);
    try {
      a.release();
    } catch {
      // Already closed: nothing to do.
    }
  }

  #died(slot: Slot, reason: string): void {
    if (slot.dead) return;
    slot.dead = true;
    const i = this.#slots.indexOf(slot);
    if (i >= 0) this.#slots.splice(i, 1);
    for (const fd of [slot.wake, slot.wakeRead]) if (fd >= 0) this.#sys.close(fd);
    if (this.#closed) return;
    for (const a of slot.active.values()) {
      const e = encodeError(ErrorCode.NOT_DEFINED, `server error: ${reason}`);
      this.#sys.send(a.sock, e, e.length, MSG_DONTWAIT);
      this.#release(a);
      a.owner.died(reason);
    }
    slot.active.clear();
    // A replacement, so that the pool keeps its size; until it is ready the others serve. Not for
    // a worker that never got ready: its replacement would fail the same way, again and again.
    if (slot.ready) this.#spawn().catch(() => {});
  }

  /** Workers ready to take a transfer. */
  get available(): boolean {
    return !this.#closed && this.#slots.length > 0;
  }

  /**
   * A non-blocking UDP socket bound to `localAddress` (any when undefined) on an ephemeral port
   * and connected to the client. Throws with the errno name when a step fails.
   */
  openSocket(localAddress: string | undefined, clientAddress: string, clientPort: number, bufferBytes: number): number {
    const sys = this.#sys;
    const fd = sys.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error(`socket: ${errnoName(sys.errno())}`);
    const step = (what: string, r: number): void => {
      if (r === 0) return;
      const code = errnoName(sys.errno());
      sys.close(fd);
      throw new Error(`${what}: ${code}`);
    };
    if (bufferBytes > 0) {
      const v = Buffer.alloc(4);
      v.writeInt32LE(bufferBytes);
      // Best effort: the kernel clamps to net.core.[rw]mem_max.
      sys.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, v, 4);
      sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, v, 4);
    }
    step('bind', sys.bind(fd, sockaddrIn(localAddress ?? '0.0.0.0', 0), 16));
    step('connect', sys.connect(fd, sockaddrIn(clientAddress, clientPort), 16));
    return fd;
  }

  /** Hands a transfer to the least-loaded worker. The pool owns `sock` and calls `release` at the end. */
  handOff(sock: number, h: Handoff, release: () => void, owner: RemoteOwner): void {
    let best: Slot | undefined;
    for (const s of this.#slots) if (!best || s.active.size < best.active.size) best = s;
    if (!best) throw new Error('no transfer worker');
    const id = this.#nextId++;
    best.active.set(id, { owner, sock, release });
    this.#post(best, { t: 'start', id, sock, ...h });
  }

  #post(slot: Slot, m: ToWorker): void {
    slot.port.postMessage(m);
    try {
      writeSync(slot.wake, ONE);
    } catch {
      // EAGAIN: the pipe is full, so the worker is about to wake anyway.
    }
  }

  /** For tests: makes every worker throw, as a bug would. */
  crashWorkers(): void {
    for (const s of this.#slots) this.#post(s, { t: 'crash' });
  }

  /** Stops the workers, then closes every descriptor they were using. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const slots = this.#slots.splice(0);
    for (const s of slots) this.#post(s, { t: 'quit' });
    await Promise.all(
      slots.map(async (s) => {
        const t = setTimeout(() => void s.worker.terminate(), 2000);
        await s.exited;
        clearTimeout(t);
        for (const a of s.active.values()) this.#release(a);
        s.active.clear();
      }),
    );
  }
}

/** Closes a descriptor, ignoring errors (for release callbacks). */
export function closeFd(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
