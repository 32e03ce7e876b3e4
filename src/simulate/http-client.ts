// HTTP as the simulated machines use it: iPXE fetching scripts, wimboot and its files (whole, or the
// first 64 KiB of the large media files), and the installed system POSTing its phase reports. Bodies
// are counted as they stream and dropped, so hundreds of machines cost no memory per byte.
import http from 'node:http';

export interface HttpCounters {
  requests: number;
  bytes: number;
  errors: number;
}

export interface HttpResult {
  status: number;
  /** Body bytes received. */
  bytes: number;
  /** The body as text, when asked for. */
  text: string | undefined;
  contentLength: number | undefined;
  contentRange: string | undefined;
}

export interface HttpGetOptions {
  /** Only these bytes (`Range: bytes=first-last`). */
  range?: readonly [number, number] | undefined;
  /** Keep the body as text (scripts); at most this many bytes of it. */
  text?: number | undefined;
  /** Address to connect from (the machine's own); default the client's. */
  from?: string | undefined;
  signal: AbortSignal;
}

/** A failed request, with the URL and what went wrong. */
export class HttpFetchError extends Error {
  readonly url: string;
  readonly status: number | undefined;
  constructor(url: string, message: string, status?: number) {
    super(`${url}: ${message}`);
    this.name = 'HttpFetchError';
    this.url = url;
    this.status = status;
  }
}

// iPXE's own User-Agent, so that server logs read as they would for real machines.
const USER_AGENT = 'iPXE/1.0.0+ (overnight simulate)';

export class HttpClient {
  readonly counters: HttpCounters = { requests: 0, bytes: 0, errors: 0 };
  readonly #agent: http.Agent;
  readonly #localAddress: string | undefined;
  readonly #timeoutMs: number;

  /** `timeoutMs`: a request with no traffic for this long fails (network time: not scaled). */
  constructor(o: { localAddress?: string | undefined; timeoutMs?: number | undefined } = {}) {
    this.#agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 5000, maxFreeSockets: 64 });
    this.#localAddress = o.localAddress;
    this.#timeoutMs = o.timeoutMs ?? 30_000;
  }

  get(url: string, o: HttpGetOptions): Promise<HttpResult> {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT };
    if (o.range) headers['range'] = `bytes=${o.range[0]}-${o.range[1]}`;
    const limit = o.range ? o.range[1] - o.range[0] + 1 : undefined;
    return this.#request(url, 'GET', headers, undefined, o.text, limit, o.from, o.signal);
  }

  post(url: string, body: string, o: { from?: string | undefined; signal: AbortSignal }): Promise<HttpResult> {
    const bytes = Buffer.from(body, 'utf8');
    return this.#request(url, 'POST', { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(bytes.length) }, bytes, 4096, undefined, o.from, o.signal);
  }

  close(): void {
    this.#agent.destroy();
  }

  #request(
    url: string,
    method: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    textLimit: number | undefined,
    byteLimit: number | undefined,
    from: string | undefined,
    signal: AbortSignal,
  ): Promise<HttpResult> {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      this.counters.errors++;
      return Promise.reject(new HttpFetchError(url, 'not a URL'));
    }
    if (target.protocol !== 'http:') {
      this.counters.errors++;
      return Promise.reject(new HttpFetchError(url, `${target.protocol} is not served to PXE clients here (http: only)`));
    }
    this.counters.requests++;
    return new Promise<HttpResult>((resolve, reject) => {
      let settled = false;
      const fail = (e: Error, status?: number) => {
        if (settled) return;
        settled = true;
        this.counters.errors++;
        reject(e instanceof HttpFetchError || signal.aborted ? e : new HttpFetchError(url, (e as NodeJS.ErrnoException).code ?? e.message, status));
      };
      const req = http.request(
        target,
        { method, headers, agent: this.#agent, localAddress: from ?? this.#localAddress, signal },
        (res) => {
          const parts: Buffer[] = [];
          let kept = 0;
          let n = 0;
          const done = () => {
            if (settled) return;
            settled = true;
            const length = res.headers['content-length'];
            resolve({
              status: res.statusCode ?? 0,
              bytes: n,
              text: textLimit === undefined ? undefined : Buffer.concat(parts).toString('utf8'),
              contentLength: length === undefined ? undefined : Number(length),
              contentRange: res.headers['content-range'],
            });
          };
          res.on('data', (chunk: Buffer) => {
            n += chunk.length;
            this.counters.bytes += chunk.length;
            if (textLimit !== undefined && kept < textLimit) {
              parts.push(chunk.subarray(0, textLimit - kept));
              kept += Math.min(chunk.length, textLimit - kept);
            }
            // A server that ignores Range sends the whole file: stop at what was asked for.
            if (byteLimit !== undefined && n >= byteLimit && res.statusCode === 200) {
              done();
              res.destroy();
            }
          });
          res.on('end', done);
          res.on('error', (e) => fail(e, res.statusCode));
          res.on('close', () => {
            if (!res.complete) fail(new HttpFetchError(url, `connection closed after ${n} bytes of the body`, res.statusCode), res.statusCode);
          });
        },
      );
      req.setTimeout(this.#timeoutMs, () => req.destroy(new HttpFetchError(url, `no answer for ${this.#timeoutMs / 1000} s`)));
      req.on('error', (e) => fail(e));
      req.end(body);
    });
  }
}
