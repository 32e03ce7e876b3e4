// `overnight loaders fetch`: download pinned official builds of iPXE and wimboot, check each
// against its SHA-256 before it gets its final name, and install the loaders. A file is written
// under a temporary name, hashed as it arrives, and renamed only after the hash matched, so an
// unverified file never sits where findLoaders looks.
//
// The pins and where they come from are in docs/loaders.md. An entry without a pin is fetched
// only with a SHA-256 from the user (--sha256 NAME=HEX or a sha256sum-style pin file).
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { basename, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import { checkLoader, LoaderError, loaderSpec, LOADERS, sha256 } from './loaders.ts';

/** A member of a pinned archive and the loader it becomes. */
export interface ArchiveMember {
  loader: string;
  /** Path inside the archive, without the archive's top folder ("i386/undionly.kpxe"). */
  member: string;
  /** The member's own SHA-256 when a public source gives it (checked on top of the archive's). */
  sha256?: string;
}

/** A file as its project publishes it. */
export interface Artifact {
  /** Its published file name; a mirror (--from) holds it under this name. */
  file: string;
  project: 'iPXE' | 'wimboot';
  version: string;
  /** URL path below the base URL (https://github.com/ by default). */
  path: string;
  /** SHA-256 of the published file; null when no trustworthy public source gives one. */
  sha256: string | null;
  size?: number;
  /** Where the pin comes from, to check it by hand. */
  provenance: string;
  /** A plain file: the loader it is. */
  loader?: string;
  /** An archive (tar.gz): the loaders taken out of it. */
  members?: readonly ArchiveMember[];
}

export const DEFAULT_BASE_URL = 'https://github.com/';

/**
 * Built-in pins. Each SHA-256 was taken from public files that download the same URL and check
 * it (sources in docs/loaders.md); none was computed here, as this project's build machines cannot
 * reach GitHub. The archive's hash covers every member; member hashes, where public, add a check.
 */
export const PINS: readonly Artifact[] = [
  {
    file: 'ipxeboot.tar.gz',
    project: 'iPXE',
    version: '2.0.0',
    path: 'ipxe/ipxe/releases/download/v2.0.0/ipxeboot.tar.gz',
    sha256: '01a526d4cc791fc30362259c609d6c506cc64a7bdff51b9a5eb788354e17eee1',
    size: 12_002_760,
    provenance: 'iPXE v2.0.0 release asset; the same SHA-256 is pinned by two unrelated public projects (a Go netboot add-on and a Rust fetch test), member hashes by the Go add-on and a WinPE boot report',
    members: [
      // BIOS: the i386 builds, which run on every x86 CPU (Debian's undionly.kpxe is i386 too).
      { loader: 'undionly.kpxe', member: 'i386/undionly.kpxe' },
      { loader: 'ipxe.pxe', member: 'i386/ipxe.pxe' },
      { loader: 'ipxe.efi', member: 'x86_64/ipxe.efi', sha256: '868aa34057ff416ebf2fdfb5781de035e2c540477c04039198a9f8a9c6130034' },
      { loader: 'snponly.efi', member: 'x86_64/snponly.efi', sha256: 'f61c2ce34e05d7d857633df2e512d547df75b6aa18b2da152a7c9af222cfe28f' },
      { loader: 'ipxe-i386.efi', member: 'i386/ipxe.efi' },
    ],
  },
  {
    file: 'wimboot',
    project: 'wimboot',
    version: '2.9.0',
    path: 'ipxe/wimboot/releases/download/v2.9.0/wimboot',
    sha256: '5f067ccdc4d084d5bf77b6c853bd0f8402dfc2b4cd1b103d358993ae97fae8e3',
    size: 76_064,
    provenance: 'wimboot v2.9.0 release asset; the same SHA-256 is pinned by several unrelated public scripts and provenance notes that download this URL',
    loader: 'wimboot',
  },
  {
    file: 'wimboot.i386',
    project: 'wimboot',
    version: '2.8.0',
    path: 'ipxe/wimboot/releases/download/v2.8.0/wimboot.i386',
    sha256: '3cdb8b2415f166366df111e507a2151bb3652a90291cc8e824c57c0374bdd54e',
    provenance: "wimboot v2.8.0 release asset; SHA-256 from the Arch User Repository's wimboot-bin 2.8.0 PKGBUILD (one source; no public hash of v2.9.0's wimboot.i386 was found)",
    loader: 'wimboot.i386',
  },
];

const HEX64 = /^[0-9a-f]{64}$/;

function artifactLoaders(a: Artifact): string[] {
  return a.members ? a.members.map((m) => m.loader) : a.loader ? [a.loader] : [];
}

/** Parses `NAME=HEX` (a --sha256 value). */
export function parsePinArg(s: string): [string, string] {
  const m = /^([^=\s]+)=([0-9a-fA-F]{64})$/.exec(s.trim());
  if (!m) throw new LoaderError('E_PIN_FORMAT', `--sha256 takes NAME=HEX with 64 hex digits (e.g. wimboot=5f06…e8e3), not ${JSON.stringify(s)}`, { value: s });
  return [m[1]!, m[2]!.toLowerCase()];
}

/** Parses a pin file: sha256sum lines (`HEX  NAME` or `HEX *NAME`) or `NAME=HEX` lines; # comments. */
export function parsePinFile(text: string, file = 'pin file'): Record<string, string> {
  const pins: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const sum = /^([0-9a-fA-F]{64})\s+\*?(\S+)$/.exec(line);
    if (sum) {
      pins[basename(sum[2]!)] = sum[1]!.toLowerCase();
      return;
    }
    try {
      const [n, h] = parsePinArg(line);
      pins[n] = h;
    } catch {
      throw new LoaderError('E_PIN_FORMAT', `${file} line ${i + 1}: expected "HEX  NAME" (sha256sum) or NAME=HEX, found ${JSON.stringify(raw)}`, { file, line: i + 1 });
    }
  });
  return pins;
}

/**
 * Reads a pin table of one's own (JSON array of Artifact), which replaces the built-in one: a
 * site that checked a newer release, or serves its own builds, pins them here.
 */
export function parseTable(text: string, file = 'pin table'): Artifact[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new LoaderError('E_PIN_FORMAT', `${file}: not JSON (${(e as Error).message})`, { file });
  }
  if (!Array.isArray(raw)) throw new LoaderError('E_PIN_FORMAT', `${file}: expected a JSON array of downloads`, { file });
  return raw.map((x: Record<string, unknown>, i) => {
    const bad = (what: string) => new LoaderError('E_PIN_FORMAT', `${file} entry ${i}: ${what}`, { file, entry: i });
    if (typeof x !== 'object' || x === null) throw bad('not an object');
    for (const k of ['file', 'version', 'path'] as const) if (typeof x[k] !== 'string' || !x[k]) throw bad(`"${k}" must be a non-empty string`);
    if (x.sha256 !== null && (typeof x.sha256 !== 'string' || !HEX64.test(x.sha256))) throw bad('"sha256" must be 64 lowercase hex digits or null');
    const members = x.members as ArchiveMember[] | undefined;
    if (!x.loader === !members) throw bad('give either "loader" (a plain file) or "members" (a tar.gz)');
    if (typeof x.loader === 'string') loaderSpec(x.loader);
    if (members !== undefined) {
      if (!Array.isArray(members)) throw bad('"members" must be an array');
      for (const m of members) {
        if (typeof m?.loader !== 'string' || typeof m.member !== 'string') throw bad('each member needs "loader" and "member"');
        loaderSpec(m.loader);
        if (m.sha256 !== undefined && !HEX64.test(m.sha256)) throw bad(`member ${m.member}: "sha256" must be 64 lowercase hex digits`);
      }
    }
    return {
      file: x.file as string,
      project: x.project === 'iPXE' ? 'iPXE' : 'wimboot',
      version: x.version as string,
      path: x.path as string,
      sha256: x.sha256 as string | null,
      ...(typeof x.size === 'number' ? { size: x.size } : {}),
      provenance: typeof x.provenance === 'string' ? x.provenance : `${file}`,
      ...(typeof x.loader === 'string' ? { loader: x.loader } : { members }),
    };
  });
}

// ---- transfer -------------------------------------------------------------------------------

export interface Progress {
  file: string;
  done: number;
  total: number;
}

interface TransferOptions {
  timeoutMs: number;
  expectedSize?: number | undefined;
  onProgress?: ((p: Progress) => void) | undefined;
  file: string;
}

const SOCKET_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host name not found (DNS)',
  EAI_AGAIN: 'host name lookup failed (DNS)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
};

function netError(url: string, what: string, cause?: unknown): LoaderError {
  const e = new LoaderError('E_FETCH_NETWORK', `download of ${url} failed: ${what}`, { url });
  if (cause) (e as { cause?: unknown }).cause = cause;
  return e;
}

/** Streams a source into `tmp`, hashing as bytes arrive. Returns the SHA-256 and byte count. */
async function streamTo(src: Readable, tmp: string, o: TransferOptions, total: number): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let done = 0;
  await pipeline(
    src,
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const c of chunks) {
        hash.update(c);
        done += c.length;
        o.onProgress?.({ file: o.file, done, total: Math.max(total, done) });
        yield c;
      }
    },
    createWriteStream(tmp),
  );
  return { sha256: hash.digest('hex'), size: done };
}

function httpGet(url: string, tmp: string, o: TransferOptions, redirects = 0): Promise<{ sha256: string; size: number }> {
  return new Promise((resolvePromise, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      reject(new LoaderError('E_FETCH_NETWORK', `not a URL: ${url}`, { url }));
      return;
    }
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined;
    if (!mod) {
      reject(new LoaderError('E_FETCH_NETWORK', `unsupported URL scheme ${u.protocol} in ${url} (http: and https: only)`, { url }));
      return;
    }
    const req = mod.get(u, { headers: { 'user-agent': 'overnight-loaders-fetch', accept: '*/*' }, timeout: o.timeoutMs }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects >= 5) {
          reject(new LoaderError('E_FETCH_HTTP', `too many redirects from ${url}`, { url }));
          return;
        }
        resolvePromise(httpGet(new URL(res.headers.location, u).href, tmp, o, redirects + 1));
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new LoaderError('E_FETCH_HTTP', `download of ${url} failed: HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`, { url, status }));
        return;
      }
      const length = Number(res.headers['content-length']);
      const declared = Number.isFinite(length) && length >= 0 ? length : undefined;
      streamTo(res, tmp, o, declared ?? o.expectedSize ?? 0).then(
        (r) => {
          if (declared !== undefined && r.size !== declared) reject(netError(url, `connection closed after ${r.size} of ${declared} bytes`));
          else resolvePromise(r);
        },
        (e: Error & { code?: string }) => {
          const what = e.message === 'timeout' ? `no data for ${o.timeoutMs / 1000} s (timeout)` : `connection closed mid-body (${e.code ?? e.message})`;
          reject(netError(url, what, e));
        },
      );
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: Error & { code?: string }) => {
      if (e instanceof LoaderError) reject(e);
      else if (e.message === 'timeout') reject(netError(url, `no answer for ${o.timeoutMs / 1000} s (timeout)`, e));
      else reject(netError(url, e.code && SOCKET_ERRORS[e.code] ? `${SOCKET_ERRORS[e.code]} (${e.code})` : (e.code ?? e.message), e));
    });
  });
}

async function withRetry<T>(what: () => Promise<T>, retries: number, onRetry?: (e: LoaderError) => void): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await what();
    } catch (e) {
      const retriable = e instanceof LoaderError && (e.code === 'E_FETCH_NETWORK' || (e.code === 'E_FETCH_HTTP' && Number(e.context.status) >= 500));
      if (!retriable || attempt >= retries) throw e;
      onRetry?.(e);
    }
  }
}

// ---- tar ------------------------------------------------------------------------------------

/** Regular files of a POSIX/GNU tar (ustar prefix, GNU long names, pax `path`); links are skipped. */
export function readTar(tar: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const text = (o: number, n: number) => {
    const s = Buffer.from(tar.subarray(o, o + n)).toString('utf8');
    const z = s.indexOf('\0');
    return z < 0 ? s : s.slice(0, z);
  };
  let off = 0;
  let longName: string | undefined;
  while (off + 512 <= tar.length) {
    if (tar.subarray(off, off + 512).every((b) => b === 0)) break;
    const sizeField = text(off + 124, 12).trim();
    const size = parseInt(sizeField || '0', 8);
    if (!Number.isFinite(size) || size < 0) throw new LoaderError('E_ARCHIVE', `bad tar header at offset ${off} (size field ${JSON.stringify(sizeField)})`, { offset: off });
    const type = String.fromCharCode(tar[off + 156]!);
    const body = tar.subarray(off + 512, off + 512 + size);
    if (body.length < size) throw new LoaderError('E_ARCHIVE', `tar member at offset ${off} runs past the end of the archive`, { offset: off });
    const magic = text(off + 257, 6);
    const prefix = magic.startsWith('ustar') ? text(off + 345, 155) : '';
    let name = longName ?? (prefix ? `${prefix}/${text(off, 100)}` : text(off, 100));
    longName = undefined;
    if (type === 'L') longName = Buffer.from(body).toString('utf8').replace(/\0.*$/s, '');
    else if (type === 'x') {
      const m = /\d+ path=([^\n]*)\n/.exec(Buffer.from(body).toString('utf8'));
      if (m) longName = m[1];
    } else if (type === '0' || type === '\0' || type === '7') {
      name = name.replace(/^\.\//, '');
      files.set(name, body);
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

function findMember(files: Map<string, Uint8Array>, member: string): Uint8Array | undefined {
  for (const [name, data] of files) {
    // The release archive has one top folder (ipxeboot/); match below it.
    if (name === member || name.endsWith(`/${member}`)) return data;
  }
  return undefined;
}

// ---- fetch ----------------------------------------------------------------------------------

export type FetchStatus = 'fetched' | 'present' | 'unpinned';

export interface FetchResult {
  /** Loader name (the file written in the loaders folder). */
  name: string;
  artifact: string;
  version: string;
  status: FetchStatus;
  path?: string;
  size?: number;
  sha256?: string;
  /** The URL or file the artifact was read from ('present': not read). */
  from?: string;
  /** Which hash the artifact was checked against. */
  pin?: 'built-in' | 'user';
  note?: string;
}

export interface FetchReport {
  schema: 1;
  dir: string;
  results: FetchResult[];
}

export interface FetchOptions {
  /** Where the loaders go (default: the data folder's loaders/). */
  dir: string;
  /** Loader or artifact names to fetch; default every entry that has a pin. */
  names?: readonly string[] | undefined;
  /** A mirror: a folder or http(s) URL holding the published files under their names. */
  from?: string | undefined;
  /** Base URL for the pinned paths (default https://github.com/, or $OVERNIGHT_LOADERS_BASE_URL). */
  baseUrl?: string | undefined;
  /** SHA-256 by artifact or loader name, from --sha256 / --pins. */
  pins?: Readonly<Record<string, string>> | undefined;
  /** The pin table (tests replace it). */
  table?: readonly Artifact[] | undefined;
  /** Idle timeout per request (default 30 s). */
  timeoutMs?: number | undefined;
  /** Retries after a network error or HTTP 5xx (default 1). */
  retries?: number | undefined;
  onProgress?: ((p: Progress) => void) | undefined;
  /** Called when a transfer starts or finishes, and before a retry (messages for stderr). */
  onNote?: ((message: string) => void) | undefined;
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function hashFile(path: string): Promise<string> {
  return sha256(await readFile(path));
}

let tmpCounter = 0;
function tmpName(dir: string, name: string): string {
  return join(dir, `.${name}.part-${process.pid}-${++tmpCounter}`);
}

/** Writes bytes under a temporary name, then renames: the final name only ever holds whole files. */
async function installBytes(dir: string, name: string, data: Uint8Array): Promise<string> {
  const final = join(dir, name);
  const tmp = tmpName(dir, name);
  try {
    await writeFile(tmp, data);
    await rename(tmp, final);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return final;
}

function resolvePin(a: Artifact, user: Readonly<Record<string, string>>): { sha256: string; pin: 'built-in' | 'user' } | undefined {
  const mine = user[a.file] ?? (a.loader ? user[a.loader] : undefined);
  if (mine && a.sha256 && mine !== a.sha256) {
    throw new LoaderError(
      'E_PIN_CONFLICT',
      `the SHA-256 given for ${a.file} (${mine}) differs from the built-in pin for ${a.project} ${a.version} (${a.sha256}); the built-in pin names a fixed release, so a different hash means a different file`,
      { file: a.file },
    );
  }
  if (a.sha256) return { sha256: a.sha256, pin: 'built-in' };
  if (mine) return { sha256: mine, pin: 'user' };
  return undefined;
}

/** Selects the artifacts to fetch for the names asked for (loader or artifact names). */
function select(table: readonly Artifact[], names: readonly string[] | undefined): { artifact: Artifact; explicit: boolean }[] {
  if (!names?.length) return table.map((artifact) => ({ artifact, explicit: false }));
  const out = new Map<Artifact, boolean>();
  for (const n of names) {
    const a = table.find((t) => t.file === n || artifactLoaders(t).includes(n));
    if (!a) {
      loaderSpec(n); // throws E_UNKNOWN_LOADER for a name that is not a loader at all
      throw new LoaderError('E_NO_PIN', `no download is known for ${n}; put the file in a folder and pass --loaders DIR`, { name: n });
    }
    out.set(a, true);
  }
  return [...out].map(([artifact, explicit]) => ({ artifact, explicit }));
}

/**
 * Fetches the pinned artifacts (from the base URL or a mirror), verifies each SHA-256 before
 * anything gets a final name, and installs the loaders into `dir`. Archives are kept, verified, in
 * `dir/downloads/` so that copying `dir` makes a mirror for `--from`.
 */
export async function fetchLoaders(opts: FetchOptions): Promise<FetchReport> {
  const dir = resolve(opts.dir);
  const table = opts.table ?? PINS;
  const user = opts.pins ?? {};
  for (const [k, v] of Object.entries(user)) {
    if (!HEX64.test(v)) throw new LoaderError('E_PIN_FORMAT', `SHA-256 for ${k} must be 64 hex digits, not ${JSON.stringify(v)}`, { name: k });
    if (!table.some((a) => a.file === k || artifactLoaders(a).includes(k))) {
      throw new LoaderError('E_PIN_FORMAT', `a SHA-256 was given for ${k}, which is not a loader or download overnight knows (${table.map((a) => a.file).join(', ')})`, { name: k });
    }
  }
  const baseUrl = opts.baseUrl ?? process.env.OVERNIGHT_LOADERS_BASE_URL ?? DEFAULT_BASE_URL;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const retries = opts.retries ?? 1;
  const results: FetchResult[] = [];
  await mkdir(dir, { recursive: true });

  for (const { artifact: a, explicit } of select(table, opts.names)) {
    const pin = resolvePin(a, user);
    if (!pin) {
      if (explicit) {
        throw new LoaderError(
          'E_NO_PIN',
          `${a.file} (${a.project} ${a.version}) has no built-in SHA-256; check the file yourself and pass --sha256 ${a.file}=HEX (or --pins FILE)`,
          { file: a.file },
        );
      }
      for (const name of artifactLoaders(a)) {
        results.push({ name, artifact: a.file, version: a.version, status: 'unpinned', note: `no built-in SHA-256: pass --sha256 ${a.file}=HEX to fetch it` });
      }
      continue;
    }
    // User member pins (by loader name) for archives.
    const memberPin = (m: ArchiveMember) => m.sha256 ?? user[m.loader];

    if (!a.members) {
      const name = a.loader!;
      const final = join(dir, name);
      if ((await exists(final)) && (await hashFile(final)) === pin.sha256) {
        results.push({ name, artifact: a.file, version: a.version, status: 'present', path: final, size: (await stat(final)).size, sha256: pin.sha256, pin: pin.pin });
        continue;
      }
      const got = await obtain(a, pin.sha256, dir, baseUrl, opts, timeoutMs, retries);
      try {
        const data = await readFile(got.tmp);
        const check = checkLoader(data, loaderSpec(name).kind);
        if (!check.ok) throw new LoaderError('E_LOADER_INVALID', `${got.from} matches its pin but is not a valid ${name}: ${check.problem}`, { name });
        await rename(got.tmp, final);
        results.push({ name, artifact: a.file, version: a.version, status: 'fetched', path: final, size: data.length, sha256: pin.sha256, from: got.from, pin: pin.pin });
      } finally {
        await rm(got.tmp, { force: true });
      }
      continue;
    }

    // An archive: reuse a verified copy in downloads/, else obtain one.
    const downloads = join(dir, 'downloads');
    await mkdir(downloads, { recursive: true });
    const kept = join(downloads, a.file);
    let from = kept;
    let fresh = false;
    if (!((await exists(kept)) && (await hashFile(kept)) === pin.sha256)) {
      const got = await obtain(a, pin.sha256, downloads, baseUrl, opts, timeoutMs, retries);
      try {
        await rename(got.tmp, kept);
      } finally {
        await rm(got.tmp, { force: true });
      }
      from = got.from;
      fresh = true;
    }
    let files: Map<string, Uint8Array>;
    try {
      files = readTar(gunzipSync(await readFile(kept)));
    } catch (e) {
      if (e instanceof LoaderError) throw e;
      throw new LoaderError('E_ARCHIVE', `${kept} matches its pin but is not a readable tar.gz: ${(e as Error).message}`, { file: kept });
    }
    const wanted = opts.names?.length ? a.members.filter((m) => opts.names!.includes(m.loader) || opts.names!.includes(a.file)) : a.members;
    for (const m of wanted) {
      const data = findMember(files, m.member);
      if (!data) throw new LoaderError('E_ARCHIVE', `${a.file} (${a.project} ${a.version}) has no member ${m.member}`, { file: a.file, member: m.member });
      const digest = sha256(data);
      const expect = memberPin(m);
      if (expect && digest !== expect) {
        throw new LoaderError('E_HASH_MISMATCH', `SHA-256 mismatch for ${m.member} in ${a.file}: expected ${expect}, got ${digest}; ${m.loader} was not installed`, { file: a.file, member: m.member, expected: expect, actual: digest });
      }
      const check = checkLoader(data, loaderSpec(m.loader).kind);
      if (!check.ok) throw new LoaderError('E_LOADER_INVALID', `${m.member} in ${a.file} is not a valid ${m.loader}: ${check.problem}`, { member: m.member });
      const final = join(dir, m.loader);
      const same = (await exists(final)) && (await hashFile(final)) === digest;
      if (!same) await installBytes(dir, m.loader, data);
      results.push({
        name: m.loader,
        artifact: a.file,
        version: a.version,
        status: same && !fresh ? 'present' : 'fetched',
        path: final,
        size: data.length,
        sha256: digest,
        ...(fresh ? { from } : {}),
        pin: pin.pin,
      });
    }
  }
  return { schema: 1, dir, results };
}

/** Gets one artifact into a temporary file in `dir` and verifies it; the caller renames or removes it. */
async function obtain(
  a: Artifact,
  expected: string,
  dir: string,
  baseUrl: string,
  opts: FetchOptions,
  timeoutMs: number,
  retries: number,
): Promise<{ tmp: string; from: string }> {
  const tmp = tmpName(dir, a.file);
  const t: TransferOptions = { timeoutMs, expectedSize: a.size, onProgress: opts.onProgress, file: a.file };
  let from: string;
  let got: { sha256: string; size: number };
  try {
    if (opts.from && !/^https?:\/\//i.test(opts.from)) {
      // A mirror folder: the published file by name, or a copied loaders folder's downloads/.
      const candidates = [join(opts.from, a.file), join(opts.from, 'downloads', a.file)];
      const src = (await Promise.all(candidates.map(async (c) => ((await exists(c)) ? c : undefined)))).find(Boolean);
      if (!src) throw new LoaderError('E_LOADER_MISSING', `${a.file} (${a.project} ${a.version}) is not in ${resolve(opts.from)}; looked for ${candidates.join(' and ')}. Copy it there from ${new URL(a.path, DEFAULT_BASE_URL).href}`, { file: a.file });
      from = resolve(src);
      const size = (await stat(src)).size;
      opts.onNote?.(`copying ${a.file} from ${from}`);
      got = await streamTo(createReadStream(src), tmp, t, size);
    } else {
      from = opts.from ? new URL(a.file, opts.from.endsWith('/') ? opts.from : `${opts.from}/`).href : new URL(a.path, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).href;
      opts.onNote?.(`downloading ${a.file} (${a.project} ${a.version}) from ${from}`);
      got = await withRetry(
        () => httpGet(from, tmp, t),
        retries,
        (e) => opts.onNote?.(`${e.message}; retrying once`),
      );
    }
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  if (got.sha256 !== expected) {
    await rm(tmp, { force: true });
    throw new LoaderError(
      'E_HASH_MISMATCH',
      `SHA-256 mismatch for ${a.file} from ${from}: expected ${expected}, got ${got.sha256} (${got.size} bytes); the file was not kept`,
      { file: a.file, from, expected, actual: got.sha256 },
    );
  }
  return { tmp, from };
}

/** The pin table as `loaders pins` shows it: one row per loader. */
export function pinRows(table: readonly Artifact[] = PINS, baseUrl = DEFAULT_BASE_URL) {
  return table.flatMap((a) =>
    artifactLoaders(a).map((loader) => {
      const m = a.members?.find((x) => x.loader === loader);
      return {
        loader,
        firmware: LOADERS.find((l) => l.name === loader)?.firmware ?? [],
        project: a.project,
        version: a.version,
        url: new URL(a.path, baseUrl).href,
        ...(m ? { member: m.member } : {}),
        sha256: a.sha256,
        ...(m?.sha256 ? { memberSha256: m.sha256 } : {}),
        pinned: a.sha256 !== null,
        provenance: a.provenance,
      };
    }),
  );
}
