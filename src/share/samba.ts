// The managed Samba: overnight writes smb.conf, the username map and the connect hook into its
// own state folder, sets the share login's password, runs smbd in the foreground as its own
// process group, restarts it when it dies, and ends it (and every process it forked) on close.
//
// Processes are only ever signalled by the PIDs this module started, or by PIDs read from the pid
// files in its own state folder after checking that the process runs with its smb.conf:
//  - smbd is spawned detached (setsid), so it leads a process group that holds its forks
//    (notifyd, cleanupd, one smbd per client); kill(-pid) ends them all.
//  - samba-dcerpcd, which smbd starts on demand for RPC over named pipes (share enumeration),
//    calls setsid itself and leaves the group: it is found through <state>/run/samba-dcerpcd.pid.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { constants, type FSWatcher, readFileSync, watch } from 'node:fs';
import { access, chmod, chown, mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect, createServer, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { checkConfigInput, checkGlobalsInput, checkShares, connectHookScript, type ShareSpec, smbConf, smbConfGlobals, type SmbGlobalsInput, type SmbProtocol, statePaths, usernameMap } from './config.ts';
import type { ShareCredentials } from './credentials.ts';
import { ShareError } from './errors.ts';

export type ShareEvent =
  | { type: 'share.start'; time: Date; pid: number; port: number }
  | { type: 'share.exit'; time: Date; pid: number; code: number | null; signal: string | null; restarting: boolean }
  | { type: 'share.log'; time: Date; line: string }
  | { type: 'share.connect'; time: Date; client: string; user: string; share: string; machine: string };

export interface SambaOptions {
  /** Folder for smb.conf, passdb, locks, logs; created when missing. */
  stateDir: string;
  /** Default 445. */
  port?: number;
  /** Interfaces or addresses to listen on (default: all). */
  addresses?: string[];
  /** Default 'OVERNIGHT'. */
  netbiosName?: string;
  /** Default 'WORKGROUP'. */
  workgroup?: string;
  minProtocol: SmbProtocol;
  shares: ShareSpec[];
  credentials: ShareCredentials;
  /**
   * The unprivileged Unix account the login is served as (default 'nobody'). Media must be
   * readable by it; writable shares are given to it (chown, 0700).
   */
  unixUser?: string;
  /** Samba log level 0-10 (default 1); the lines arrive as share.log events. */
  logLevel?: number;
  events?: (e: ShareEvent) => void;
  /** Path of smbd (default: found on PATH or in /usr/sbin). */
  smbd?: string;
  /** How long smbd may take to listen (default 15 s). */
  startTimeoutMs?: number;
}

export interface SambaServer {
  readonly port: number;
  /** smbd's PID (changes when it is restarted; undefined while it is down). */
  readonly pid: number | undefined;
  readonly confPath: string;
  /** Samba's version, e.g. '4.17.12-Debian'. */
  readonly version: string;
  /** \\host\share. */
  unc(share: string, host: string): string;
  /** Ends smbd and everything it started; idempotent. */
  close(): Promise<void>;
}

export interface SambaInstall {
  smbd: string;
  pdbedit: string;
  version: string;
}

const SEARCH_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/bin', '/usr/local/bin'];
/** RID of the share account in the private passdb: a fixed ordinary user RID, see setPassword. */
const SHARE_RID = 3000;
const LOG_KEEP = 50;
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
const BACKOFF_RESET_MS = 60_000;
const KILL_AFTER_MS = 5000;

function noSamba(what: string, looked: string[]): ShareError {
  return new ShareError(
    'E_NO_SMBD',
    `Samba's ${what} is not installed (looked in ${looked.join(', ')}). Install it with ` +
      '`apt-get install samba` (Debian, Ubuntu; `dnf install samba` on Fedora), or serve the media from a share of your own: ' +
      '--share external --share-unc \\\\host\\share',
    { program: what, looked },
  );
}

async function executable(p: string): Promise<boolean> {
  try {
    await access(p, constants.X_OK);
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

async function which(name: string, first: string[] = []): Promise<{ path: string | undefined; looked: string[] }> {
  const dirs = [...first, ...(process.env['PATH'] ?? '').split(delimiter).filter((d) => d.startsWith('/')), ...SEARCH_DIRS];
  const looked = [...new Set(dirs)];
  for (const d of looked) {
    if (await executable(join(d, name))) return { path: join(d, name), looked };
  }
  return { path: undefined, looked };
}

function exec(cmd: string, args: string[], input?: string, env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8', maxBuffer: 4 * 1024 * 1024, ...(env ? { env } : {}) }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: unknown }) | null;
      if (e && typeof e.code === 'string') reject(e); // could not run it at all (ENOENT, EACCES)
      else resolve({ code: e ? Number(e.code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Installs found, by the smbd asked for: a start looks once, not once per caller. */
const found = new Map<string, Promise<SambaInstall>>();

/** Finds smbd and pdbedit (PATH, then the sbin folders) and smbd's version; throws E_NO_SMBD. */
export function findSamba(o: { smbd?: string } = {}): Promise<SambaInstall> {
  const key = o.smbd ?? '';
  let p = found.get(key);
  if (!p) {
    p = lookForSamba(o);
    found.set(key, p);
    p.catch(() => found.delete(key));
  }
  return p;
}

/**
 * Finds smbd and pdbedit without running them (E_NO_SMBD when one is missing): a check cheap enough
 * to make before anything else starts. findSamba also asks smbd for its version.
 */
export async function locateSamba(o: { smbd?: string } = {}): Promise<{ smbd: string; pdbedit: string }> {
  let smbd: string | undefined;
  if (o.smbd !== undefined) {
    if (!(await executable(o.smbd))) throw noSamba('smbd', [o.smbd]);
    smbd = o.smbd;
  } else {
    const f = await which('smbd');
    if (!f.path) throw noSamba('smbd', f.looked);
    smbd = f.path;
  }
  const p = await which('pdbedit', [dirname(smbd)]);
  if (!p.path) throw noSamba('pdbedit', p.looked);
  return { smbd, pdbedit: p.path };
}

async function lookForSamba(o: { smbd?: string }): Promise<SambaInstall> {
  const { smbd, pdbedit } = await locateSamba(o);
  const v = await exec(smbd, ['--version']).catch(() => ({ code: 1, stdout: '', stderr: '' }));
  const version = /Version\s+(\S+)/.exec(v.stdout)?.[1];
  if (v.code !== 0 || !version) throw new ShareError('E_NO_SMBD', `${smbd} --version failed: is it Samba's smbd? Reinstall with \`apt-get install samba\`.`, { smbd, output: v.stdout + v.stderr });
  return { smbd, pdbedit, version };
}

/** uid and gid of a Unix account (NSS through getent, else /etc/passwd). */
async function account(name: string): Promise<{ uid: number; gid: number }> {
  let line: string | undefined;
  try {
    const r = await exec('getent', ['passwd', name]);
    if (r.code === 0) line = r.stdout.split('\n')[0];
  } catch {
    const text = await readFile('/etc/passwd', 'utf8').catch(() => '');
    line = text.split('\n').find((l) => l.startsWith(`${name}:`));
  }
  const f = line?.split(':');
  if (!f || f.length < 4) throw new ShareError('E_SHARE_CONFIG', `there is no Unix account ${name} to serve the share as`, { unixUser: name });
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (uid === 0) throw new ShareError('E_SHARE_CONFIG', `Unix account ${name} is root: the share must be served as an unprivileged account`, { unixUser: name });
  return { uid, gid };
}

/** Whether uid/gid may search every parent of `path` and read (and write) it, by mode bits. */
async function reachable(path: string, uid: number, gid: number, write: boolean): Promise<string | undefined> {
  const parts = path.split('/').filter(Boolean);
  for (let k = 0; k <= parts.length; k++) {
    const p = '/' + parts.slice(0, k).join('/');
    let st;
    try {
      st = await stat(p);
    } catch {
      return `${p} does not exist`;
    }
    const bits = st.uid === uid ? (st.mode >> 6) & 7 : st.gid === gid ? (st.mode >> 3) & 7 : st.mode & 7;
    const last = k === parts.length;
    if (last && !st.isDirectory()) return `${p} is not a folder`;
    const need = last ? (write ? 7 : 5) : 1;
    if ((bits & need) !== need) return `${p} (mode ${(st.mode & 0o7777).toString(8)}, owner ${st.uid}) does not let uid ${uid} ${last ? (write ? 'write' : 'read') : 'through'}`;
  }
  return undefined;
}

/** A second opinion when the mode bits say no (ACLs, groups): test(1) run as the account. */
async function reachableAs(path: string, uid: number, gid: number, write: boolean): Promise<boolean> {
  const f = await which('setpriv');
  if (!f.path) return false;
  const r = await exec(f.path, [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', 'test', '-r', path, '-a', '-x', path, ...(write ? ['-a', '-w', path] : [])]).catch(() => ({ code: 1 }));
  return r.code === 0;
}

async function cmdline(pid: number): Promise<string[] | undefined> {
  const t = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  return t?.split('\0');
}

async function processGroup(pid: number): Promise<number | undefined> {
  const t = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!t) return undefined;
  // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
  const rest = t.slice(t.lastIndexOf(')') + 2).split(' ');
  return Number(rest[2]);
}

/** Whether `pid` runs a Samba program with our smb.conf (`-s CONF` or `--configfile=CONF`). */
async function runsWith(pid: number, conf: string): Promise<boolean> {
  const args = await cmdline(pid);
  if (!args) return false;
  return args.some((a, k) => a === `--configfile=${conf}` || ((a === '-s' || a === '--configfile') && args[k + 1] === conf));
}

function signal(target: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(target, sig);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The live (not zombie) processes of a process group, from /proc. A zombie still counts for
 * kill(-pgid, 0) until init reaps it, which can take a while in containers.
 */
export async function groupMembers(pgid: number): Promise<number[]> {
  if (!signal(-pgid, 0)) return [];
  const out: number[] = [];
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const t = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => undefined);
    if (!t) continue;
    const rest = t.slice(t.lastIndexOf(')') + 2).split(' ');
    if (Number(rest[2]) === pgid && rest[0] !== 'Z' && rest[0] !== 'X') out.push(Number(name));
  }
  return out;
}

/** Waits until a PID (target > 0) or a process group (target = -PGID) has no live process, at most `ms`. */
async function gone(target: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  const alive = async () => (target < 0 ? (await groupMembers(-target)).length > 0 : signal(target, 0) && (await processState(target)) !== 'Z');
  while (await alive()) {
    if (Date.now() > end) return false;
    await sleep(20);
  }
  return true;
}

async function processState(pid: number): Promise<string | undefined> {
  const t = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return t?.slice(t.lastIndexOf(')') + 2).split(' ')[0];
}

/**
 * Ends a process of ours found through a pid file in our state folder (a previous run's smbd, or
 * the samba-dcerpcd that smbd started): only when it runs with our smb.conf. Its group goes too
 * when it leads one.
 */
async function endPidFile(file: string, conf: string): Promise<void> {
  const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 1 || !(await runsWith(pid, conf))) return;
  const target = (await processGroup(pid)) === pid ? -pid : pid;
  signal(target, 'SIGTERM');
  if (!(await gone(target, KILL_AFTER_MS))) {
    signal(target, 'SIGKILL');
    await gone(target, 1000);
  }
}

function hostsFor(addresses: string[] | undefined): string[] {
  if (!addresses || addresses.length === 0) return [];
  const ifs = networkInterfaces();
  const out: string[] = [];
  for (const a of addresses) {
    const ip = a.split('/')[0]!;
    if (isIP(ip)) out.push(ip);
    else for (const i of ifs[a] ?? []) if (i.family === 'IPv4' || !i.address.startsWith('fe80')) out.push(i.address);
  }
  return [...new Set(out)];
}

/** Binds and frees the port on each address (all addresses when none): E_PORT when it is taken. */
async function probePort(port: number, hosts: string[]): Promise<void> {
  const tryListen = (host: string) =>
    new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const s = createServer();
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e));
      s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(undefined)));
    });
  const list = hosts.length > 0 ? hosts : ['::'];
  for (const host of list) {
    let e = await tryListen(host);
    if (e && host === '::' && (e.code === 'EAFNOSUPPORT' || e.code === 'EADDRNOTAVAIL')) e = await tryListen('0.0.0.0');
    // An IPv6 address still in duplicate address detection cannot be bound yet (the probe now runs
    // within a second of start); nobody else holds its port either, and smbd binds it later.
    if (e?.code === 'EADDRNOTAVAIL' && host !== '::') continue;
    if (e?.code === 'EADDRINUSE') throw portInUse(port, host);
    if (e?.code === 'EACCES') throw new ShareError('E_PORT', `cannot open port ${port} on ${host}: ports below 1024 need root`, { port, host });
    if (e) throw new ShareError('E_PORT', `cannot open port ${port} on ${host}: ${e.message}`, { port, host });
  }
}

function portInUse(port: number, host?: string): ShareError {
  return new ShareError(
    'E_PORT',
    `SMB port ${port}${host && host !== '::' ? ` on ${host}` : ''} is already in use, most likely by the system's own Samba: ` +
      'stop it (`systemctl stop smbd`), or run overnight\'s share on another port with --smb-port',
    { port, host },
  );
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Follows the connect log the hook appends to, from a byte offset, as share.connect events. */
class ConnectTail {
  readonly #file: string;
  readonly #emit: (e: ShareEvent) => void;
  #offset = 0;
  #rest = '';
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #busy: Promise<void> | undefined;
  #again = false;

  constructor(file: string, emit: (e: ShareEvent) => void) {
    this.#file = file;
    this.#emit = emit;
  }

  async start(): Promise<void> {
    // The log only signals connects of this run: it starts empty. Root runs the hook, so 0600.
    await writeFile(this.#file, '', { mode: 0o600 });
    this.#watcher = watch(this.#file, () => void this.poke());
    this.#watcher.on('error', () => {});
    // inotify misses nothing on a local disk; the timer covers file systems where it does.
    this.#timer = setInterval(() => void this.poke(), 2000);
    this.#timer.unref();
  }

  poke(): Promise<void> {
    if (this.#busy) {
      this.#again = true;
      return this.#busy;
    }
    this.#busy = (async () => {
      do {
        this.#again = false;
        await this.#read();
      } while (this.#again);
    })().finally(() => (this.#busy = undefined));
    return this.#busy;
  }

  async #read(): Promise<void> {
    const fh = await open(this.#file, 'r').catch(() => undefined);
    if (!fh) return;
    try {
      const { size } = await fh.stat();
      if (size < this.#offset) this.#offset = 0;
      while (this.#offset < size) {
        const buf = Buffer.alloc(Math.min(size - this.#offset, 64 * 1024));
        const { bytesRead } = await fh.read(buf, 0, buf.length, this.#offset);
        if (bytesRead === 0) break;
        this.#offset += bytesRead;
        this.#rest += buf.subarray(0, bytesRead).toString('utf8');
      }
    } finally {
      await fh.close();
    }
    const lines = this.#rest.split('\n');
    this.#rest = lines.pop()!;
    for (const line of lines) {
      const [kind, ip, user, share, machine] = line.split('\t');
      if (kind !== 'connect' || ip === undefined) continue;
      this.#emit({ type: 'share.connect', time: new Date(), client: ip.replace(/^::ffff:/i, ''), user: user ?? '', share: share ?? '', machine: machine ?? '' });
    }
  }

  async close(): Promise<void> {
    this.#watcher?.close();
    clearInterval(this.#timer);
    await this.poke();
  }
}

/**
 * The environment of pdbedit and smbd. Their databases (the passdb, secrets, the registry, locks)
 * hold nothing of overnight's own: the account comes from overnight's credentials file and smbd
 * makes the rest again. So they are made afresh at every start (prepareSamba) and written without
 * fsync (TDB_NO_FSYNC, which Samba's own test suite uses): a file torn by a power cut is never read
 * again, and Samba does not stall for a second on every transaction behind the gigabytes an
 * extraction is writing beside it.
 */
const SAMBA_ENV = (): NodeJS.ProcessEnv => ({ ...process.env, TDB_NO_FSYNC: '1' });

/**
 * Adds the share account to the passdb, made afresh at every start (so no delete first). The entry
 * gets a fixed ordinary RID: pdbedit would otherwise give the guest account's name (nobody, by
 * default) the domain Guest RID 501, and a session as RID 501 carries BUILTIN\Guests.
 */
async function setPassword(pdbedit: string, conf: string, unixUser: string, password: string): Promise<void> {
  const r = await exec(pdbedit, ['-s', conf, '-a', '-t', '-u', unixUser, '-U', String(SHARE_RID)], `${password}\n${password}\n`, SAMBA_ENV());
  if (r.code !== 0) {
    throw new ShareError('E_SMBD_START', `pdbedit could not set the share password for ${unixUser}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`, { unixUser, output: r.stdout + r.stderr });
  }
}

/** Sets the share up and starts smbd (prepareSamba, then start). */
export async function startSamba(o: SambaOptions): Promise<SambaServer> {
  // Bad share input is refused before anything is written.
  checkShares(o.shares);
  return (await prepareSamba(o)).start(o);
}

/** What prepareSamba needs: all but the shares and their protocol, which may not be known yet. */
export type SambaSetUp = Omit<SambaOptions, 'shares' | 'minProtocol'>;

export interface PreparedSamba {
  /**
   * Checks the shares, writes the whole smb.conf, starts smbd on it and supervises it; settles
   * once smbd accepts connections. A share's folder must exist, and may still be filling.
   */
  start(s: Pick<SambaOptions, 'shares' | 'minProtocol'>): Promise<SambaServer>;
}

/**
 * Everything before smbd runs that does not depend on the shares: the checks, the state folder,
 * the account in the passdb, the port probe. A caller can run this before its media are even
 * identified (pdbedit takes up to seconds on some hosts), and start smbd as soon as the share
 * folders are named.
 */
export async function prepareSamba(o: SambaSetUp): Promise<PreparedSamba> {
  const emit = (e: ShareEvent) => {
    try {
      o.events?.(e);
    } catch {
      // a failing sink must not take the share down
    }
  };
  const paths = statePaths(o.stateDir);
  const port = o.port ?? 445;
  const unixUser = o.unixUser ?? 'nobody';
  const input: SmbGlobalsInput = {
    stateDir: o.stateDir,
    addresses: o.addresses,
    port,
    netbiosName: o.netbiosName ?? 'OVERNIGHT',
    workgroup: o.workgroup ?? 'WORKGROUP',
    // pdbedit reads no protocol setting; start() writes the one the shares need.
    minProtocol: 'SMB2_02',
    user: o.credentials.user,
    unixUser,
    usernameMapFile: paths.usernameMap,
    hookScript: paths.hook,
    logLevel: o.logLevel,
  };
  checkGlobalsInput(input);
  if (!/^[A-Za-z0-9]{1,128}$/.test(o.credentials.password)) {
    throw new ShareError('E_SHARE_CONFIG', 'the share password must be letters and digits (see loadOrCreateCredentials)', {});
  }
  const samba = await findSamba({ smbd: o.smbd });
  if (process.getuid?.() !== 0) throw new ShareError('E_SMBD_START', 'the managed Samba share needs root (smbd serves each client as the share account)', {});
  const { uid, gid } = await account(unixUser);

  // State folder and files. A previous run that ended without close() (a crash, SIGKILL) may
  // still hold the port, and its databases: it is ended first, then they are made afresh.
  await mkdir(o.stateDir, { recursive: true, mode: 0o755 });
  await endPidFile(join(paths.pid, 'smbd.pid'), paths.conf);
  await endPidFile(join(paths.pid, 'samba-dcerpcd.pid'), paths.conf);
  for (const d of [paths.private, paths.lock, paths.state, paths.cache]) await rm(d, { recursive: true, force: true });
  for (const d of [paths.lock, paths.state, paths.cache, paths.pid, paths.ncalrpc, paths.winbindd, paths.binddns, paths.usershares, paths.log]) {
    await mkdir(d, { recursive: true, mode: 0o755 });
  }
  await mkdir(paths.private, { recursive: true, mode: 0o700 });
  await chmod(paths.private, 0o700);

  await writeFile(paths.usernameMap, usernameMap(o.credentials.user, unixUser), { mode: 0o644 });
  await writeFile(paths.hook, connectHookScript(paths.connects), { mode: 0o755 });
  await chmod(paths.hook, 0o755);
  await writeFile(paths.conf, smbConfGlobals(input), { mode: 0o644 });
  const hosts = hostsFor(o.addresses);
  await Promise.all([setPassword(samba.pdbedit, paths.conf, unixUser, o.credentials.password), probePort(port, hosts)]);

  return {
    start: async ({ shares, minProtocol }): Promise<SambaServer> => {
      const whole = { ...input, minProtocol, shares };
      checkConfigInput(whole);
      for (const s of shares) {
        if (s.writable) {
          await mkdir(s.path, { recursive: true, mode: 0o700 });
          await chown(s.path, uid, gid);
          await chmod(s.path, 0o700);
        }
        const why = await reachable(s.path, uid, gid, s.writable === true);
        if (why && !(await reachableAs(s.path, uid, gid, s.writable === true))) {
          throw new ShareError('E_SHARE_CONFIG', `share ${s.name}: Samba serves it as ${unixUser}, and ${why}`, { share: s.name, path: s.path, unixUser });
        }
      }
      await writeFile(paths.conf, smbConf(whole), { mode: 0o644 });
      const tail = new ConnectTail(paths.connects, emit);
      await tail.start();

      const readyHost = hosts.find((h) => isIP(h) === 4) ?? hosts[0] ?? '127.0.0.1';
      const startTimeout = o.startTimeoutMs ?? 15_000;
      const logTail: string[] = [];
      let child: ChildProcess | undefined;
      let closing = false;
      let restartTimer: NodeJS.Timeout | undefined;
      let backoff = BACKOFF_MIN_MS;

      const endStrays = async (pgid: number) => {
        // The leader is gone; its forks (one smbd per client, notifyd, cleanupd) may not be.
        signal(-pgid, 'SIGKILL');
        await gone(-pgid, 2000);
        await endPidFile(join(paths.pid, 'samba-dcerpcd.pid'), paths.conf);
      };

      // Starts smbd once and waits until it accepts connections; on failure nothing of it is left.
      const launch = async (): Promise<ChildProcess> => {
        const c = spawn(samba.smbd, ['--foreground', '--no-process-group', '--debug-stdout', '-s', paths.conf], {
          env: SAMBA_ENV(),
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        child = c;
        let portTaken = false;
        const onLine = (line: string) => {
          if (line.trim() === '') return;
          logTail.push(line);
          if (logTail.length > LOG_KEEP) logTail.shift();
          if (/Address already in use/i.test(line)) portTaken = true;
          emit({ type: 'share.log', time: new Date(), line });
        };
        createInterface({ input: c.stdout! }).on('line', onLine);
        createInterface({ input: c.stderr! }).on('line', onLine);
        const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
          c.once('exit', (code, sig) => resolve({ code, signal: sig }));
          c.once('error', () => resolve({ code: null, signal: null }));
        });
        let ended = false;
        void exited.then(() => (ended = true));
        const pid = c.pid;
        const lastLines = () => logTail.slice(-20);
        const fail = async (err: ShareError): Promise<never> => {
          if (pid !== undefined) {
            signal(-pid, 'SIGTERM');
            const t = setTimeout(() => signal(-pid, 'SIGKILL'), 2000);
            await exited;
            clearTimeout(t);
            await endStrays(pid);
          }
          throw err;
        };
        if (pid === undefined) {
          await exited;
          throw new ShareError('E_SMBD_START', `could not start ${samba.smbd}`, { smbd: samba.smbd });
        }
        const deadline = Date.now() + startTimeout;
        for (;;) {
          if (ended) {
            const x = await exited;
            await endStrays(pid);
            if (portTaken) throw portInUse(port);
            throw new ShareError('E_SMBD_START', `smbd exited at start (${x.signal ?? `code ${x.code}`}); its last lines:\n${lastLines().join('\n')}`, { lines: lastLines(), code: x.code, signal: x.signal });
          }
          if (portTaken) return fail(portInUse(port));
          if (await canConnect(readyHost, port)) break;
          if (Date.now() > deadline) {
            return fail(new ShareError('E_SMBD_START', `smbd did not listen on port ${port} within ${startTimeout >= 1000 ? `${Math.round(startTimeout / 1000)} s` : `${startTimeout} ms`}; its last lines:\n${lastLines().join('\n')}`, { lines: lastLines(), port }));
          }
          await sleep(25);
        }
        return c;
      };

      const supervise = (c: ChildProcess) => {
        const startedAt = Date.now();
        const pid = c.pid!;
        emit({ type: 'share.start', time: new Date(), pid, port });
        c.once('exit', (code, sig) => {
          if (child === c) child = undefined;
          if (closing) return;
          emit({ type: 'share.exit', time: new Date(), pid, code, signal: sig, restarting: true });
          if (Date.now() - startedAt >= BACKOFF_RESET_MS) backoff = BACKOFF_MIN_MS;
          void endStrays(pid).then(() => scheduleRestart());
        });
      };

      const scheduleRestart = () => {
        if (closing) return;
        const delay = backoff;
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
        emit({ type: 'share.log', time: new Date(), line: `overnight: restarting smbd in ${delay / 1000} s` });
        restartTimer = setTimeout(() => {
          restartTimer = undefined;
          if (closing) return;
          launch().then(
            (c) => {
              if (closing) return void signal(-c.pid!, 'SIGTERM');
              supervise(c);
            },
            (e: Error) => {
              emit({ type: 'share.log', time: new Date(), line: `overnight: smbd restart failed: ${e.message.split('\n')[0]}` });
              scheduleRestart();
            },
          );
        }, delay);
      };

      // If this process ends without close(), smbd must not outlive it holding the port (and a later
      // start ends whatever survives through the pid files).
      const onProcessExit = () => {
        if (child?.pid !== undefined) signal(-child.pid, 'SIGTERM');
        try {
          const pid = Number(readFileSync(join(paths.pid, 'samba-dcerpcd.pid'), 'utf8').trim());
          if (pid > 1 && readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(`--configfile=${paths.conf}`)) signal(-pid, 'SIGTERM');
        } catch {
          // no samba-dcerpcd of ours
        }
      };
      process.once('exit', onProcessExit);

      let first: ChildProcess;
      try {
        first = await launch();
      } catch (e) {
        process.off('exit', onProcessExit);
        await tail.close();
        throw e;
      }
      supervise(first);

      let closed: Promise<void> | undefined;
      const close = () =>
        (closed ??= (async () => {
          closing = true;
          clearTimeout(restartTimer);
          const c = child;
          if (c?.pid !== undefined && c.exitCode === null && c.signalCode === null) {
            const pid = c.pid;
            const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => c.once('exit', (code, sig) => r({ code, signal: sig })));
            signal(-pid, 'SIGTERM');
            const t = setTimeout(() => signal(-pid, 'SIGKILL'), KILL_AFTER_MS);
            const x = await exited;
            clearTimeout(t);
            emit({ type: 'share.exit', time: new Date(), pid, code: x.code, signal: x.signal, restarting: false });
            // SIGTERM reaches the whole group at once; stragglers get SIGKILL.
            if (!(await gone(-pid, 2000))) signal(-pid, 'SIGKILL');
            await gone(-pid, 2000);
          }
          await endPidFile(join(paths.pid, 'samba-dcerpcd.pid'), paths.conf);
          process.off('exit', onProcessExit);
          await tail.close();
        })());

      return {
        port,
        get pid() {
          return child?.pid;
        },
        confPath: paths.conf,
        version: samba.version,
        unc: (share: string, host: string) => `\\\\${host}\\${share}`,
        close,
      };
    },
  };
}
