// The dashboard's listener: the built web page (web/dist), its JSON API and the live stream
// (server-sent events), on an address of its own, 127.0.0.1 unless configured otherwise. The boot
// server faces every PXE client on the segment; this one faces the administrator. docs/api.md is
// the reference.
//
// Reads are open to whoever reaches the listener; every change needs the admin token as a bearer
// token. A header token cannot be sent by another site's page (no cookies here), and the Host check
// keeps a DNS-rebinding page from reading a loopback dashboard.
import { timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { extname, join } from 'node:path';
import { z } from 'zod';
import { type Fleet, type FleetChange, toEventView } from '../../fleet/fleet.ts';
import type { MachineView } from '../../fleet/model.ts';
import { parseWindow } from '../../fleet/schedule.ts';
import { HttpError } from './errors.ts';
import { normaliseMac, pathSegments } from './path.ts';
import { readBody } from './server.ts';

/** What the dashboard needs from the server around it. */
export interface DashboardApi {
  fleet: Fleet;
  /** GET /api/state: the server, its media and profiles. */
  state(): Record<string, unknown>;
  /** A machine's rendered answer file with its secrets masked, or undefined. */
  answer(mac: string): string | undefined;
  /** A machine's boot script and start script with secrets masked, or undefined. */
  script(mac: string): string | undefined;
  /** The morning report in a format. */
  report?: ((format: 'json' | 'csv' | 'html') => { type: string; body: string }) | undefined;
  /** Validates a profile name (PUT /api/machines/:mac). */
  profiles(): string[];
}

export interface DashboardOptions {
  api: DashboardApi;
  token: string;
  /** Default 127.0.0.1. */
  address?: string | undefined;
  /** Default 7780; 0 picks a free port. */
  port?: number | undefined;
  /** The built page (index.html and assets/); undefined: a page saying how to build it. */
  webRoot?: string | undefined;
  /** How often the stream flushes batched changes (ms, default 100). */
  flushMs?: number | undefined;
}

export interface DashboardServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export const MAX_BODY_BYTES = 16 * 1024;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

/** A Windows computer name: NetBIOS rules (15 characters, letters, digits, hyphen; not all digits). */
const ComputerName = z
  .string()
  .regex(/^[A-Za-z0-9-]{1,15}$/, 'a computer name is 1-15 letters, digits or hyphens')
  .refine((s) => !/^\d+$/.test(s), 'a computer name cannot be all digits');
const Label = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, _ . - (at most 64)');

const MachinePatch = z.strictObject({ name: ComputerName.optional(), profile: Label.optional(), group: Label.nullable().optional() });
const DeploymentPatch = z.strictObject({
  name: z.string().min(1).max(64).optional(),
  window: z
    .string()
    .nullable()
    .optional()
    .refine((w) => w == null || isWindow(w), 'window is HH:MM-HH:MM, e.g. 22:00-05:00'),
  cap: z.number().int().min(1).max(10000).nullable().optional(),
  machines: z.array(z.string()).max(10000).optional(),
  group: Label.nullable().optional(),
  wake: z.boolean().optional(),
});
const WakeBody = z.strictObject({ macs: z.array(z.string()).max(10000).optional() });

function isWindow(w: string): boolean {
  try {
    parseWindow(w);
    return true;
  } catch {
    return false;
  }
}

export async function startDashboard(o: DashboardOptions): Promise<DashboardServer> {
  const { api } = o;
  const fleet = api.fleet;
  const token = Buffer.from(o.token);
  const flushMs = o.flushMs ?? 100;
  const streams = new Set<Stream>();
  let boundPort = 0;
  const address = o.address ?? '127.0.0.1';
  const loopback = address === '127.0.0.1' || address === '::1' || address === 'localhost';

  const authorised = (req: IncomingMessage): boolean => {
    const h = req.headers['authorization'] ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    if (!m) return false;
    const given = Buffer.from(m[1]!);
    return given.length === token.length && timingSafeEqual(given, token);
  };

  const hostAllowed = (req: IncomingMessage): boolean => {
    if (!loopback) return true;
    const host = (req.headers.host ?? '').toLowerCase();
    return [`127.0.0.1:${boundPort}`, `localhost:${boundPort}`, `[::1]:${boundPort}`, '127.0.0.1', 'localhost'].includes(host);
  };

  const macParam = (raw: string): string => {
    const segs = pathSegments(raw);
    if (!segs.ok || segs.segments.length !== 1) throw new HttpError(400, `not a MAC address: ${JSON.stringify(raw)}`);
    const mac = normaliseMac(segs.segments[0]!);
    if (!mac) throw new HttpError(400, `not a MAC address: ${JSON.stringify(segs.segments[0])}`);
    return mac;
  };

  const known = (mac: string): MachineView => {
    const v = fleet.view(mac);
    if (!v) throw new HttpError(404, `no machine ${mac}`);
    return v;
  };

  const jsonBody = async <T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T> => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const text = await readBody(req, MAX_BODY_BYTES, 'request body');
    if (text.trim() === '') return schema.parse({});
    if (type !== 'application/json') throw new HttpError(415, `send JSON (Content-Type: application/json), not ${type || 'nothing'}`);
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new HttpError(400, `malformed JSON: ${(e as Error).message}`);
    }
    const r = schema.safeParse(data);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new HttpError(400, `${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`);
    }
    return r.data;
  };

  const macs = (list: readonly string[]): string[] =>
    list.map((s) => {
      const m = normaliseMac(s);
      if (!m) throw new HttpError(400, `machines: not a MAC address: ${JSON.stringify(s)}`);
      return m;
    });

  async function handleApi(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    const method = req.method ?? 'GET';
    const changes = method !== 'GET' && method !== 'HEAD';
    if (changes && !authorised(req)) {
      req.resume();
      throw new HttpError(401, 'the admin token is missing or wrong: send Authorization: Bearer TOKEN (printed by overnight serve, kept in DATA/admin-token)');
    }
    if (changes && Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
      req.resume();
      throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`);
    }
    const parts = path.slice('/api/'.length).split('/');
    const route = `${method} ${parts[0]}${parts.length > 1 ? '/:mac' : ''}${parts.length > 2 ? `/${parts.slice(2).join('/')}` : ''}`;
    switch (route) {
      case 'GET state':
        return json(res, { ...api.state(), deployment: fleet.deployment(), counts: counts(fleet.views()), timings: fleet.timings.summary(), memory: process.memoryUsage() });
      case 'GET machines':
        return json(res, fleet.views());
      case 'GET machines/:mac':
        return json(res, known(macParam(parts[1]!)));
      case 'GET machines/:mac/events':
        return json(res, fleet.store.events({ mac: known(macParam(parts[1]!)).mac }).map(toEventView));
      case 'GET machines/:mac/answer': {
        const xml = api.answer(known(macParam(parts[1]!)).mac);
        if (xml === undefined) throw new HttpError(404, 'no answer file for this machine yet: it is rendered when the machine first boots from the network');
        return text(res, xml, 'text/xml; charset=utf-8');
      }
      case 'GET machines/:mac/script': {
        const s = api.script(known(macParam(parts[1]!)).mac);
        if (s === undefined) throw new HttpError(404, 'no boot script for this machine yet: it is made when the machine first boots from the network');
        return text(res, s, 'text/plain; charset=utf-8');
      }
      case 'GET events': {
        const mac = query.get('mac');
        const after = query.get('after');
        const limit = query.get('limit');
        const num = (v: string | null, name: string) => {
          if (v === null) return undefined;
          if (!/^\d{1,12}$/.test(v)) throw new HttpError(400, `${name} is a whole number`);
          return Number(v);
        };
        const m = mac === null ? undefined : normaliseMac(mac);
        if (mac !== null && !m) throw new HttpError(400, `not a MAC address: ${JSON.stringify(mac)}`);
        return json(res, fleet.store.events({ mac: m, after: num(after, 'after'), limit: Math.min(num(limit, 'limit') ?? 10000, 10000) }).map(toEventView));
      }
      case 'GET deployment':
        return json(res, fleet.deployment());
      case 'GET report': {
        const format = query.get('format') ?? 'json';
        if (format !== 'json' && format !== 'csv' && format !== 'html') throw new HttpError(400, 'format is json, csv or html');
        if (!api.report) throw new HttpError(404, 'no report here');
        const r = api.report(format);
        return text(res, r.body, r.type);
      }
      case 'GET stream':
        return openStream(req, res);
      case 'POST machines/:mac/redeploy':
        return json(res, fleet.redeploy(known(macParam(parts[1]!)).mac));
      case 'POST machines/:mac/approve':
        return json(res, fleet.setApproval(known(macParam(parts[1]!)).mac, 'approved'));
      case 'POST machines/:mac/deny':
        return json(res, fleet.setApproval(known(macParam(parts[1]!)).mac, 'denied'));
      case 'POST machines/:mac/done':
        return json(res, fleet.markDone(known(macParam(parts[1]!)).mac));
      case 'PUT machines/:mac': {
        const mac = macParam(parts[1]!);
        const patch = await jsonBody(req, MachinePatch);
        if (patch.profile !== undefined && !api.profiles().includes(patch.profile)) throw new HttpError(400, `profile: "${patch.profile}" is not one of ${api.profiles().join(', ')}`);
        fleet.seen(mac, { name: patch.name, profile: patch.profile, group: patch.group ?? undefined, known: true });
        fleet.note(mac, 'admin', `inventory record edited: ${JSON.stringify(patch)}`);
        return json(res, fleet.view(mac));
      }
      case 'PUT deployment': {
        const p = await jsonBody(req, DeploymentPatch);
        return json(
          res,
          fleet.setDeployment({
            ...(p.name !== undefined ? { name: p.name } : {}),
            ...(p.window !== undefined ? { window: p.window === null ? null : parseWindow(p.window).text } : {}),
            ...(p.cap !== undefined ? { cap: p.cap } : {}),
            ...(p.machines !== undefined ? { machines: macs(p.machines) } : {}),
            ...(p.group !== undefined ? { group: p.group } : {}),
            ...(p.wake !== undefined ? { wake: p.wake } : {}),
          }),
        );
      }
      case 'POST deployment/:mac': {
        // /api/deployment/start|stop|wake: the second part is an action, not a MAC.
        const action = parts[1];
        if (action === 'start') {
          req.resume();
          return json(res, fleet.startDeployment());
        }
        if (action === 'stop') {
          req.resume();
          return json(res, fleet.stopDeployment());
        }
        if (action === 'wake') {
          const b = await jsonBody(req, WakeBody);
          try {
            const woken = await fleet.wakeNow(b.macs ? macs(b.macs) : undefined);
            return json(res, { woken });
          } catch (e) {
            if (e instanceof HttpError) throw e;
            throw new HttpError(409, (e as Error).message);
          }
        }
        throw new HttpError(404, `no action ${JSON.stringify(action)}: start, stop or wake`);
      }
    }
    req.resume();
    const known405 = ['state', 'machines', 'events', 'deployment', 'report', 'stream'].includes(parts[0] ?? '');
    throw new HttpError(known405 ? 405 : 404, known405 ? `${method} is not allowed on ${path}` : `no API ${path}`);
  }

  function openStream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no', ...SECURITY_HEADERS });
    const s = new Stream(res, flushMs);
    streams.add(s);
    s.send('snapshot', { machines: fleet.views(), deployment: fleet.deployment(), seq: 0 });
    const off = fleet.subscribe((c) => s.queue(c));
    const end = () => {
      off();
      s.close();
      streams.delete(s);
    };
    req.on('close', end);
    res.on('error', end);
  }

  async function handleStatic(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} is not allowed here`);
    if (!o.webRoot) return text(res, 'The dashboard is not built here: run `npm run build:web`, then restart overnight serve. The API is at /api/.', 'text/plain; charset=utf-8', 503);
    let file: string;
    if (path === '/' || path === '/index.html') file = join(o.webRoot, 'index.html');
    else {
      const segs = pathSegments(path.slice(1));
      if (!segs.ok) throw new HttpError(400, segs.reason);
      file = join(o.webRoot, ...segs.segments);
    }
    let body: Buffer;
    try {
      const st = await stat(file);
      if (!st.isFile()) throw new Error('not a file');
      body = await readFile(file);
    } catch {
      // The page routes on the client: unknown paths without an extension get the page.
      if (extname(path) === '') {
        file = join(o.webRoot, 'index.html');
        body = await readFile(file);
      } else throw new HttpError(404, `no file ${path}`);
    }
    const hashed = /\/assets\//.test(file);
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': body.length,
      'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
      ...SECURITY_HEADERS,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  const server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 60_000, headersTimeout: 20_000 }, (req, res) => {
    void (async () => {
      try {
        if (!hostAllowed(req)) throw new HttpError(421, `this dashboard answers to 127.0.0.1:${boundPort} or localhost:${boundPort}, not ${JSON.stringify(req.headers.host ?? '')}`);
        // The path as sent: WHATWG URL parsing would resolve '..' and '%2e%2e' before we could refuse them.
        const raw = req.url ?? '/';
        const q = raw.indexOf('?');
        const pathname = q < 0 ? raw : raw.slice(0, q);
        const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
        if (!pathname.startsWith('/')) throw new HttpError(400, 'a request path starts with /');
        if (pathname.startsWith('/api/')) await handleApi(req, res, pathname, query);
        else await handleStatic(req, res, pathname);
      } catch (e) {
        const status = e instanceof HttpError ? e.status : 500;
        const message = e instanceof HttpError ? e.message : `internal error: ${(e as Error).message}`;
        req.resume();
        if (res.headersSent) res.destroy();
        else {
          // A body refused for its size may still be arriving: answer, then close the connection.
          if (status === 413) res.setHeader('connection', 'close');
          json(res, { error: message }, status);
        }
      }
    })();
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'EADDRINUSE' ? new HttpError(500, `the dashboard's port ${address}:${o.port ?? 7780} is in use: choose another with --dashboard ADDRESS:PORT`) : e),
    );
    server.listen(o.port ?? 7780, address, () => resolve());
  });
  boundPort = (server.address() as AddressInfo).port;
  const host = address.includes(':') ? `[${address}]` : address === '0.0.0.0' ? '127.0.0.1' : address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${boundPort}`,
    port: boundPort,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        for (const s of streams) s.close();
        streams.clear();
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      })),
  };
}

/**
 * One open stream. Machine changes are coalesced per machine and flushed every `flushMs`: five
 * hundred machines moving at once cost a page one message batch, not thousands of renders.
 */
class Stream {
  readonly #res: ServerResponse;
  readonly #machines = new Map<string, MachineView>();
  readonly #events: unknown[] = [];
  #deployment: { value: unknown } | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #keepAlive: NodeJS.Timeout;
  #seq = 0;
  #closed = false;
  readonly #flushMs: number;

  constructor(res: ServerResponse, flushMs: number) {
    this.#res = res;
    this.#flushMs = flushMs;
    this.#keepAlive = setInterval(() => this.#write(': keep-alive\n\n'), 15_000);
    this.#keepAlive.unref();
  }

  send(event: string, data: unknown): void {
    this.#write(`id: ${++this.#seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  queue(c: FleetChange): void {
    if (this.#closed) return;
    if (c.type === 'machine') this.#machines.set(c.machine.mac, c.machine);
    else if (c.type === 'event') this.#events.push(c.event);
    else this.#deployment = { value: c.deployment };
    this.#timer ??= setTimeout(() => this.#flush(), this.#flushMs);
  }

  #flush(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    let out = '';
    for (const m of this.#machines.values()) out += `id: ${++this.#seq}\nevent: machine\ndata: ${JSON.stringify(m)}\n\n`;
    for (const e of this.#events) out += `id: ${++this.#seq}\nevent: event\ndata: ${JSON.stringify(e)}\n\n`;
    if (this.#deployment) out += `id: ${++this.#seq}\nevent: deployment\ndata: ${JSON.stringify(this.#deployment.value)}\n\n`;
    this.#machines.clear();
    this.#events.length = 0;
    this.#deployment = undefined;
    if (out) this.#write(out);
  }

  #write(s: string): void {
    if (this.#closed || this.#res.destroyed) return;
    this.#res.write(s);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#keepAlive);
    this.#res.end();
  }
}

function counts(vs: readonly MachineView[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of vs) out[v.state] = (out[v.state] ?? 0) + 1;
  return out;
}

function json(res: ServerResponse, value: unknown, status = 200): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store', ...SECURITY_HEADERS });
  res.end(body);
}

function text(res: ServerResponse, s: string, type: string, status = 200): void {
  const body = Buffer.from(s);
  res.writeHead(status, { 'content-type': type, 'content-length': body.length, 'cache-control': 'no-store', ...SECURITY_HEADERS });
  res.end(body);
}
