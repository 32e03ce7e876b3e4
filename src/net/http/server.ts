// The HTTP boot server: iPXE fetches its per-machine script from /boot/<mac>.ipxe, loaders from
// /files/, and wimboot pulls bootmgr, BCD, boot.sdi and boot.wim from /media/<id>/, streamed out
// of the ISO image by extent. /api/ gives health, counters and routes the caller adds.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { messageScript } from '../../boot/ipxe.ts';
import { ignoreEvents, type EventSink } from '../events.ts';
import { HttpError } from './errors.ts';
import { FileFolder } from './files.ts';
import { type HttpMedia, MediaStore } from './media.ts';
import { normaliseMac, pathSegments } from './path.ts';
import { contentRange, decideRange, ifRangeHolds, notModified, unsatisfiedRange } from './range.ts';
import type { Representation } from './representation.ts';
import { CHUNK, type ChunkReader, liveBuffers, type Piece, sendPieces } from './send.ts';

export type { HttpMedia } from './media.ts';

/** What a script or route handler is told about the request. */
export interface HttpRequestInfo {
  readonly path: string;
  readonly query: URLSearchParams;
  /** Client address and port, e.g. '10.0.0.5:50312'. */
  readonly remote: string;
}

export type BootScript = (mac: string, req: HttpRequestInfo) => string | undefined | Promise<string | undefined>;
/** A file of one machine's boot plan (/boot/<mac>/<name>), or undefined when it has none by that name. */
export type MachineFile = (mac: string, name: string, req: HttpRequestInfo) => Uint8Array | undefined | Promise<Uint8Array | undefined>;
/**
 * A machine's progress report (/report/<mac>/<phase>, POST with the detail as the body, or GET
 * for clients that can only fetch). Returns an error message to refuse it (400).
 */
export type MachineReport = (mac: string, phase: string, detail: string, req: HttpRequestInfo) => string | undefined | Promise<string | undefined>;
export type JsonRoute = (req: HttpRequestInfo) => unknown;

export interface HttpServerOptions {
  /** Default '0.0.0.0'. */
  address?: string | undefined;
  /** Default 80; 0 picks a free port. */
  port?: number | undefined;
  media?: readonly HttpMedia[] | undefined;
  /** Host folder served under /files/ (wimboot, ipxe.efi, ...). */
  files?: string | undefined;
  /** The iPXE script of a machine, or undefined when there is none (404 with a script that says so). */
  script?: BootScript | undefined;
  /** Files of a machine's boot plan (the files injected into Windows PE), at /boot/<mac>/<name>. */
  machineFile?: MachineFile | undefined;
  /** Progress reports from machines, at /report/<mac>/<phase>. */
  report?: MachineReport | undefined;
  /** Extra GET routes answering JSON, by path ('/api/machines'; a key without '/' goes under /api/). */
  routes?: Readonly<Record<string, JsonRoute>> | undefined;
  events?: EventSink | undefined;
  /** Time allowed for a request's headers (default 20 s) and whole request (default 60 s). */
  headersTimeoutMs?: number | undefined;
  requestTimeoutMs?: number | undefined;
  /** A connection with no traffic either way for this long is closed (default 120 s). */
  idleTimeoutMs?: number | undefined;
}

export interface HttpServer {
  /** e.g. 'http://127.0.0.1:8080' (an unspecified bind address is shown as 127.0.0.1). */
  readonly url: string;
  readonly port: number;
  readonly address: string;
  close(): Promise<void>;
}

const MAX_HEADER_BYTES = 16 * 1024;
/** A report's detail is a line or two of text (a reason): anything longer is refused. */
export const MAX_REPORT_BYTES = 4096;
const IPXE = 'text/plain; charset=utf-8';

/** Per-request bookkeeping for the http.served event. */
interface Exchange {
  readonly start: number;
  /** Taken when the request arrives: a closed socket no longer knows its peer. */
  readonly client: string;
  readonly path: string;
  bytes: number;
  mac?: string | undefined;
  /** Set when the response was an error the operator should see (http.error). */
  failure?: string | undefined;
}

export async function startHttpServer(options: HttpServerOptions = {}): Promise<HttpServer> {
  const emit = options.events ?? ignoreEvents;
  const started = Date.now();
  const counters = { requests: 0, bytes: 0, active: 0 };
  const media = await MediaStore.open(options.media ?? []);
  let files: FileFolder | undefined;
  try {
    files = options.files === undefined ? undefined : await FileFolder.open(options.files);
  } catch (e) {
    await media.close();
    throw e;
  }
  const routes = new Map<string, JsonRoute>();
  for (const [k, fn] of Object.entries(options.routes ?? {})) routes.set(k.startsWith('/') ? k : `/api/${k}`, fn);
  /** Streams in progress: close() waits for them before the image descriptors are closed. */
  const streams = new Set<Promise<void>>();

  const sendBody = (req: IncomingMessage, res: ServerResponse, x: Exchange, status: number, type: string, body: string, headers: Record<string, string> = {}): void => {
    const buf = Buffer.from(body);
    res.writeHead(status, { 'content-type': type, 'content-length': buf.length, 'cache-control': 'no-store', ...headers });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    res.end(buf, () => {
      x.bytes += buf.length;
    });
  };

  const sendJson = (req: IncomingMessage, res: ServerResponse, x: Exchange, status: number, value: unknown): void =>
    sendBody(req, res, x, status, 'application/json', JSON.stringify(value) + '\n');

  /** 200/206/304/416 for a file, by RFC 9110's conditional and range rules. */
  const serveBytes = async (req: IncomingMessage, res: ServerResponse, x: Exchange, rep: Representation): Promise<void> => {
    const h = req.headers;
    const validators = { etag: rep.etag, lastModified: rep.lastModified };
    const common: Record<string, string> = { 'accept-ranges': 'bytes', etag: rep.etag };
    if (rep.lastModified) common['last-modified'] = rep.lastModified.toUTCString();
    if (notModified(h['if-none-match'], h['if-modified-since'], validators)) {
      res.writeHead(304, common);
      res.end();
      return;
    }
    const decision = ifRangeHolds(one(h['if-range']), validators) ? decideRange(h.range, rep.length) : { kind: 'full' as const };
    if (decision.kind === 'unsatisfiable') {
      sendBody(req, res, x, 416, 'text/plain; charset=utf-8', `range not satisfiable: ${h.range} (length ${rep.length})\n`, { ...common, 'content-range': unsatisfiedRange(rep.length) });
      return;
    }
    const [first, end] = decision.kind === 'partial' ? [decision.range.first, decision.range.last + 1] : [0, rep.length];
    const headers: Record<string, string | number> = { ...common, 'content-type': 'application/octet-stream', 'content-length': end - first };
    if (decision.kind === 'partial') headers['content-range'] = contentRange(decision.range, rep.length);
    res.writeHead(decision.kind === 'partial' ? 206 : 200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    counters.active++;
    const p = sendPieces(res, rep.reader, rep.pieces(first, end), (n) => {
      x.bytes += n;
    });
    streams.add(p);
    try {
      await p;
    } catch (e) {
      // The length was promised: the only honest end is to cut the connection.
      x.failure = `read failed at ${x.bytes} of ${end - first} bytes: ${(e as Error).message}`;
      res.destroy();
    } finally {
      streams.delete(p);
      counters.active--;
    }
  };

  const bootScript = async (req: IncomingMessage, res: ServerResponse, x: Exchange, name: string, info: HttpRequestInfo): Promise<void> => {
    const m = /^(.+)\.ipxe$/i.exec(name);
    const mac = m ? normaliseMac(m[1]!) : undefined;
    if (!mac) {
      const msg = `overnight: ${JSON.stringify(name)} does not name a MAC address (expected /boot/aa:bb:cc:dd:ee:ff.ipxe)`;
      sendBody(req, res, x, 400, IPXE, messageScript(msg));
      return;
    }
    x.mac = mac;
    const script = options.script ? await options.script(mac, info) : undefined;
    if (script === undefined) {
      sendBody(req, res, x, 404, IPXE, messageScript(`overnight: no boot plan for ${mac}. Add this machine to the inventory, then retry.`));
      return;
    }
    sendBody(req, res, x, 200, IPXE, script);
  };

  const machineReport = async (req: IncomingMessage, res: ServerResponse, x: Exchange, rest: string, info: HttpRequestInfo): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'POST') throw new HttpError(405, 'a report is a POST (or a GET)', { method: req.method });
    const segs = pathSegments(rest);
    if (!segs.ok || segs.segments.length !== 2) throw new HttpError(400, segs.ok ? 'expected /report/<mac>/<phase>' : segs.reason, { path: info.path });
    const mac = normaliseMac(segs.segments[0]!);
    if (!mac) throw new HttpError(400, `${JSON.stringify(segs.segments[0])} is not a MAC address`, { path: info.path });
    x.mac = mac;
    const detail = req.method === 'POST' ? await readBody(req, MAX_REPORT_BYTES) : (info.query.get('detail') ?? '');
    const refused = await options.report!(mac, segs.segments[1]!, detail, info);
    if (refused) throw new HttpError(400, refused, { path: info.path });
    sendBody(req, res, x, 200, 'text/plain; charset=utf-8', 'ok\n');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, x: Exchange): Promise<void> => {
    const raw = req.url ?? '';
    const q = raw.indexOf('?');
    const rawPath = q < 0 ? raw : raw.slice(0, q);
    const info: HttpRequestInfo = { path: rawPath, query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)), remote: x.client };
    if (!rawPath.startsWith('/')) throw new HttpError(400, 'request target must be a path', { target: raw.slice(0, 200) });
    const top = /^\/([^/]+)\/?(.*)$/s.exec(rawPath);
    const area = top?.[1] ?? '';
    const rest = top?.[2] ?? '';
    if (area === 'report' && options.report) {
      await machineReport(req, res, x, rest, info);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'only GET and HEAD are served', { method: req.method });
    if (area === 'media') {
      const segs = pathSegments(rest);
      if (!segs.ok) throw new HttpError(400, segs.reason, { path: rawPath });
      const [id, ...inside] = segs.segments;
      if (inside.length === 0) throw new HttpError(404, 'not a file', { path: rawPath });
      await serveRep(req, res, x, media.find(id!, inside));
    } else if (area === 'files' && files) {
      const segs = pathSegments(rest);
      if (!segs.ok) throw new HttpError(400, segs.reason, { path: rawPath });
      await serveRep(req, res, x, files.find(segs.segments));
    } else if (area === 'boot') {
      const segs = pathSegments(rest);
      if (segs.ok && segs.segments.length === 2 && options.machineFile) {
        const mac = normaliseMac(segs.segments[0]!);
        if (!mac) throw new HttpError(400, `${JSON.stringify(segs.segments[0])} is not a MAC address`, { path: rawPath });
        x.mac = mac;
        const bytes = await options.machineFile(mac, segs.segments[1]!, info);
        if (!bytes) throw new HttpError(404, `no file ${JSON.stringify(segs.segments[1])} in the boot plan of ${mac}`, { path: rawPath });
        await serveBytes(req, res, x, bufferRepresentation(bytes));
        return;
      }
      if (!segs.ok || segs.segments.length !== 1) throw new HttpError(400, segs.ok ? 'one name expected after /boot/' : segs.reason, { path: rawPath });
      await bootScript(req, res, x, segs.segments[0]!, info);
    } else if (rawPath === '/api/health') {
      sendJson(req, res, x, 200, { ok: true, uptime: (Date.now() - started) / 1000 });
    } else if (rawPath === '/api/status') {
      sendJson(req, res, x, 200, { ...counters, bufferBytes: liveBuffers() * CHUNK, uptime: (Date.now() - started) / 1000, media: media.list() });
    } else if (routes.has(rawPath)) {
      const value = await routes.get(rawPath)!(info);
      if (value === undefined) throw new HttpError(404, 'not found', { path: rawPath });
      sendJson(req, res, x, 200, value);
    } else {
      throw new HttpError(404, 'not found', { path: rawPath });
    }
  };

  const serveRep = async (req: IncomingMessage, res: ServerResponse, x: Exchange, found: Promise<Representation>): Promise<void> => {
    const rep = await found;
    try {
      await serveBytes(req, res, x, rep);
    } finally {
      await rep.release?.();
    }
  };

  const server = createServer(
    { keepAlive: true, maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: options.headersTimeoutMs ?? 20_000, requestTimeout: options.requestTimeoutMs ?? 60_000, noDelay: true },
    (req, res) => {
      counters.requests++;
      const x: Exchange = { start: performance.now(), client: remoteOf(req.socket), path: (req.url ?? '').slice(0, 2048), bytes: 0 };
      res.once('close', () => {
        counters.bytes += x.bytes;
        const event = {
          time: new Date(),
          client: x.client,
          method: req.method ?? '',
          path: x.path,
          status: res.statusCode,
          bytes: x.bytes,
          durationMs: performance.now() - x.start,
          mac: x.mac,
          range: req.headers.range,
          aborted: !res.writableFinished,
        };
        emit({ type: 'http.served', ...event });
        if (x.failure) emit({ type: 'http.error', ...event, reason: x.failure });
      });
      handle(req, res, x).catch((e: unknown) => {
        const status = e instanceof HttpError ? e.status : 500;
        if (status >= 500) x.failure = (e as Error).message ?? String(e);
        if (res.headersSent) {
          res.destroy();
          return;
        }
        const headers: Record<string, string> = status === 405 ? { allow: 'GET, HEAD' } : {};
        const msg = status >= 500 ? 'internal error (see the server log)' : (e as Error).message;
        if (x.path.startsWith('/boot/')) sendBody(req, res, x, status, IPXE, messageScript(`overnight: ${msg}`), headers);
        else sendBody(req, res, x, status, 'text/plain; charset=utf-8', `${status} ${msg}\n`, headers);
      });
    },
  );
  server.keepAliveTimeout = 5_000;
  // A client that stops reading (or sending) for this long gives its connection back.
  server.timeout = options.idleTimeoutMs ?? 120_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    emit({ type: 'http.error', time: new Date(), client: remoteOf(socket), method: '', path: '', status, bytes: 0, durationMs: 0, reason: err.message });
    socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroySoon();
  });

  const address = options.address ?? '0.0.0.0';
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 80, address, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await media.close();
    throw e;
  }
  const port = (server.address() as AddressInfo).port;
  const shown = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address;
  const host = shown.includes(':') ? `[${shown}]` : shown;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    address,
    close: () => {
      closing ??= (async () => {
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await Promise.allSettled([...streams]);
        await done;
        await media.close();
      })();
      return closing;
    },
  };
}

/** A request body as text, refused (413) past `limit` bytes; a body that stops coming times out with the request. */
export function readBody(req: IncomingMessage, limit: number, what = 'report body'): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(new HttpError(413, `${what} over ${limit} bytes`, { length: declared }));
      req.resume();
      return;
    }
    const parts: Buffer[] = [];
    let n = 0;
    let over = false;
    req.on('data', (b: Buffer) => {
      n += b.length;
      if (over) return;
      if (n > limit) {
        // Refused, and the rest is read and dropped so that the 413 reaches the client (the
        // request timeout ends a body that never stops).
        over = true;
        parts.length = 0;
        reject(new HttpError(413, `${what} over ${limit} bytes`, { length: n }));
        return;
      }
      parts.push(b);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

/** An in-memory file (a machine's injected file) as a representation: ranges and ETags work as for any file. */
function bufferRepresentation(bytes: Uint8Array): Representation {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const reader: ChunkReader = { read: async (offset, length) => ({ data: data.subarray(offset, offset + length), release: () => {} }) };
  return {
    length: data.length,
    etag: `"${createHash('sha256').update(data).digest('base64url').slice(0, 22)}"`,
    lastModified: undefined,
    reader,
    pieces(first, end) {
      // Pieces of at most CHUNK bytes that never cross a CHUNK-aligned offset, as readers expect.
      const out: Piece[] = [];
      for (let at = first; at < end; ) {
        const stop = Math.min(end, (Math.floor(at / CHUNK) + 1) * CHUNK);
        out.push({ offset: at, length: stop - at });
        at = stop;
      }
      return out;
    },
  };
}

const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

function remoteOf(socket: Socket | null | undefined): string {
  if (!socket?.remoteAddress) return 'unknown';
  return socket.remoteAddress.includes(':') ? `[${socket.remoteAddress}]:${socket.remotePort}` : `${socket.remoteAddress}:${socket.remotePort}`;
}
