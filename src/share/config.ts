// The managed Samba's configuration, as pure functions: smb.conf, the username map and the connect
// hook, from validated input. No I/O here: samba.ts writes what these return.
//
// Every value that reaches smb.conf is checked first. smb.conf is line based: a newline in a path
// would start a new parameter, a trailing backslash joins the next line to the value, and '%'
// starts a substitution. Such values are refused (E_SHARE_CONFIG), not escaped: smb.conf has no
// escaping, so a path with a newline could otherwise switch a read-only share to writable.
import type { Release } from '../answer/release.ts';
import { ShareError } from './errors.ts';

/** SMB dialects as smb.conf names them, oldest first. */
export const SMB_PROTOCOLS = ['NT1', 'SMB2_02', 'SMB2_10', 'SMB3_00', 'SMB3_02', 'SMB3_11'] as const;
export type SmbProtocol = (typeof SMB_PROTOCOLS)[number];

/**
 * The newest dialect the WinPE of a release speaks, used as the server's minimum: older dialects
 * (SMB1 above all) stay off unless older media are served.
 */
export function minProtocolFor(release: Release): SmbProtocol {
  switch (release) {
    case 'vista':
      return 'SMB2_02';
    case '7':
      return 'SMB2_10';
    case '8':
      return 'SMB3_00';
    case '8.1':
      return 'SMB3_02';
    case '10':
    case '11':
      return 'SMB3_11';
  }
}

/** The oldest of several dialects: the minimum when one share serves media of several releases. */
export function lowestProtocol(list: readonly SmbProtocol[]): SmbProtocol {
  if (list.length === 0) return 'SMB3_11';
  return list.reduce((a, b) => (SMB_PROTOCOLS.indexOf(b) < SMB_PROTOCOLS.indexOf(a) ? b : a));
}

export interface ShareSpec {
  /** Share name as clients type it (\\host\NAME): letters, digits, '-', '_', '.', '$'; at most 80. */
  name: string;
  /** Absolute folder path. */
  path: string;
  comment?: string;
  /**
   * Writable shares are only for the machines' report drop folder: files created there are 0600,
   * folders 0700. Media shares are read-only.
   */
  writable?: boolean;
}

export interface SmbConfigInput {
  /** Folder that holds every file Samba keeps (passdb, locks, caches, pid files, logs). */
  stateDir: string;
  /** Interfaces or addresses to listen on; all of them when absent or empty. */
  addresses?: string[];
  port: number;
  netbiosName: string;
  workgroup: string;
  minProtocol: SmbProtocol;
  shares: ShareSpec[];
  /** SMB login name the clients use (mapped to unixUser by the username map). */
  user: string;
  /** The Unix account the login maps to; Samba checks `valid users` against this name. */
  unixUser: string;
  usernameMapFile: string;
  hookScript: string;
  /** Samba's log level, 0-10; default 1. */
  logLevel?: number;
}

/** Where Samba's state lives inside stateDir. */
export function statePaths(stateDir: string) {
  const p = (s: string) => `${stateDir.replace(/\/+$/, '')}/${s}`;
  return {
    conf: p('smb.conf'),
    usernameMap: p('username.map'),
    hook: p('connect-hook.sh'),
    /** One line per connect, appended by the hook. */
    connects: p('connects.log'),
    private: p('private'),
    passdb: p('private/passdb.tdb'),
    smbpasswd: p('private/smbpasswd'),
    lock: p('lock'),
    state: p('state'),
    cache: p('cache'),
    pid: p('run'),
    ncalrpc: p('run/ncalrpc'),
    winbindd: p('run/winbindd'),
    ntpSignd: p('run/ntp_signd'),
    binddns: p('bind-dns'),
    usershares: p('usershares'),
    log: p('log'),
    logFile: p('log/smbd.log'),
  };
}

const SHARE_NAME = /^[A-Za-z0-9_.$-]{1,80}$/;
const RESERVED_SHARES = new Set(['global', 'homes', 'printers', 'print$', 'ipc$']);
const NETBIOS = /^[A-Za-z0-9][A-Za-z0-9-]{0,14}$/;
// Account names: no spaces, no '=' or '!' (username map syntax), no leading '@', '+', '&'
// (group syntax in valid users), no leading '-' (an option to pdbedit).
const ACCOUNT = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}$/;
const ADDRESS = /^[A-Za-z0-9_.:/-]{1,64}$/;

function bad(message: string, context: Record<string, unknown>): never {
  throw new ShareError('E_SHARE_CONFIG', message, context);
}

/**
 * A value that can stand after `name = ` in smb.conf and mean exactly itself: printable, no '%'
 * (substitutions), no backslash at the end (line continuation), no surrounding blanks (trimmed).
 */
export function checkValue(what: string, v: string): string {
  if (typeof v !== 'string' || v.length === 0) bad(`${what} is empty`, { what });
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) bad(`${what} contains a control character (newline, tab, ...): ${JSON.stringify(v)}; rename it`, { what, value: v });
  if (v.includes('%')) bad(`${what} contains '%', which Samba would read as a substitution: ${JSON.stringify(v)}; rename it`, { what, value: v });
  if (v.endsWith('\\')) bad(`${what} ends in a backslash, which Samba would join with the next line: ${JSON.stringify(v)}`, { what, value: v });
  if (v.trim() !== v) bad(`${what} starts or ends with a blank: ${JSON.stringify(v)}`, { what, value: v });
  return v;
}

export function checkPath(what: string, v: string): string {
  checkValue(what, v);
  if (!v.startsWith('/')) bad(`${what} must be an absolute path: ${JSON.stringify(v)}`, { what, value: v });
  return v;
}

export function checkShareName(name: string): string {
  if (typeof name !== 'string' || !SHARE_NAME.test(name)) {
    bad(`share name ${JSON.stringify(name)} is not allowed: use letters, digits, '-', '_', '.', '$' (at most 80)`, { share: name });
  }
  if (RESERVED_SHARES.has(name.toLowerCase())) bad(`share name ${name} is reserved by Samba`, { share: name });
  return name;
}

export function checkAccount(what: string, name: string): string {
  if (typeof name !== 'string' || !ACCOUNT.test(name)) {
    bad(`${what} ${JSON.stringify(name)} is not allowed: letters, digits, '.', '_', '-' (at most 32, not starting with '-')`, { what, value: name });
  }
  return name;
}

/** Single-quotes a word for /bin/sh. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** smb.conf's input without its shares: what the [global] section is written from. */
export type SmbGlobalsInput = Omit<SmbConfigInput, 'shares'>;

/** Validates the whole input; smbConf calls it, and samba.ts calls it before touching anything. */
export function checkConfigInput(i: SmbConfigInput): void {
  checkGlobalsInput(i);
  checkShares(i.shares);
}

/** Validates everything but the shares. */
export function checkGlobalsInput(i: SmbGlobalsInput): void {
  checkPath('state folder', i.stateDir);
  checkPath('username map', i.usernameMapFile);
  checkPath('hook script', i.hookScript);
  if (!Number.isInteger(i.port) || i.port < 1 || i.port > 65535) bad(`SMB port ${i.port} is not a port number`, { port: i.port });
  if (!NETBIOS.test(i.netbiosName)) bad(`NetBIOS name ${JSON.stringify(i.netbiosName)} is not allowed: letters, digits and '-', at most 15`, { netbiosName: i.netbiosName });
  if (!NETBIOS.test(i.workgroup)) bad(`workgroup ${JSON.stringify(i.workgroup)} is not allowed: letters, digits and '-', at most 15`, { workgroup: i.workgroup });
  if (!SMB_PROTOCOLS.includes(i.minProtocol)) bad(`unknown SMB protocol ${JSON.stringify(i.minProtocol)}`, { minProtocol: i.minProtocol });
  checkAccount('SMB user name', i.user);
  checkAccount('Unix account', i.unixUser);
  if (i.unixUser === 'root') bad('the share cannot be served as root: pick an unprivileged account', { unixUser: i.unixUser });
  for (const a of i.addresses ?? []) {
    if (!ADDRESS.test(a)) bad(`address or interface ${JSON.stringify(a)} is not allowed`, { address: a });
  }
  if (i.logLevel !== undefined && (!Number.isInteger(i.logLevel) || i.logLevel < 0 || i.logLevel > 10)) bad(`log level ${i.logLevel} is not 0-10`, { logLevel: i.logLevel });
}

/** Validates the share list: at least one, unique names, safe paths and comments. */
export function checkShares(shares: readonly ShareSpec[]): void {
  if (shares.length === 0) bad('no share to serve', {});
  const seen = new Set<string>();
  for (const s of shares) {
    checkShareName(s.name);
    if (seen.has(s.name.toLowerCase())) bad(`share ${s.name} is listed twice`, { share: s.name });
    seen.add(s.name.toLowerCase());
    checkPath(`path of share ${s.name}`, s.path);
    if (s.comment !== undefined) checkValue(`comment of share ${s.name}`, s.comment);
  }
}

/** The root preexec line: quoted so that what Samba substitutes (it drops quotes from it) stays one word. */
export function connectHookCommand(hookScript: string): string {
  return `${shellQuote(hookScript)} connect '%I' '%U' '%S' '%m'`;
}

/** A complete standalone smb.conf. Throws ShareError E_SHARE_CONFIG on any unsafe input. */
export function smbConf(i: SmbConfigInput): string {
  checkConfigInput(i);
  const lines = globalSection(i);
  const preexec = connectHookCommand(i.hookScript);
  for (const s of i.shares) {
    lines.push('', `[${s.name}]`, `  path = ${s.path}`);
    if (s.comment !== undefined) lines.push(`  comment = ${s.comment}`);
    // Samba compares valid users with the Unix name the login was mapped to, not the login.
    lines.push(`  valid users = ${i.unixUser}`, '  guest ok = no', '  browseable = yes');
    if (s.writable) {
      lines.push(
        '  # Report drop folder: clients create files here, readable only by the share account and root.',
        '  read only = no',
        '  create mask = 0600',
        '  directory mask = 0700',
        '  force create mode = 0600',
        '  force directory mode = 0700',
        '  inherit permissions = no',
      );
    } else {
      lines.push('  read only = yes');
    }
    lines.push('  # Tells overnight that a machine connected (client IP, login, share, machine name).', `  root preexec = ${preexec}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * smb.conf with its [global] section alone: what pdbedit reads to set the share account's password
 * before the shares are known (the media's folders are named once they are identified). smbd is
 * started on the whole file (smbConf).
 */
export function smbConfGlobals(i: SmbGlobalsInput): string {
  checkGlobalsInput(i);
  return globalSection(i).join('\n') + '\n';
}

function globalSection(i: SmbGlobalsInput): string[] {
  const p = statePaths(i.stateDir);
  const lines: string[] = [
    '# Written by overnight at every start of its share; edits are lost. A standalone server that',
    '# shares install media read-only to one account; every file it keeps lives under',
    `# ${i.stateDir}.`,
    '[global]',
    '  server role = standalone server',
    `  netbios name = ${i.netbiosName}`,
    `  workgroup = ${i.workgroup}`,
    '  server string = overnight install share',
    '  # Users: one login, mapped to an unprivileged Unix account by the username map. No guests,',
    '  # no anonymous access, no home shares, no printers, no user shares, no registry shares.',
    '  security = user',
    `  passdb backend = tdbsam:${p.passdb}`,
    `  username map = ${i.usernameMapFile}`,
    '  map to guest = Never',
    '  restrict anonymous = 2',
    '  usershare max shares = 0',
    '  registry shares = no',
    '  load printers = no',
    '  printing = bsd',
    '  printcap name = /dev/null',
    '  disable spoolss = yes',
    '  show add printer wizard = no',
    '  host msdfs = no',
    '  # Network: SMB over TCP only (no NetBIOS), on the given port and addresses.',
    '  disable netbios = yes',
    `  smb ports = ${i.port}`,
  ];
  const addresses = i.addresses ?? [];
  if (addresses.length > 0) {
    lines.push(`  interfaces = ${addresses.join(' ')}`, '  bind interfaces only = yes');
  }
  lines.push(
    `  server min protocol = ${i.minProtocol}`,
    '  # Signing is offered, and used whenever the client asks: Windows 10/11 clients that require',
    '  # signing (11 24H2 does by default) get it; WinPE of Windows 7 does not ask and is not slowed.',
    '  server signing = auto',
    '  # Files: no symlinks out of a share, no Unix extensions.',
    '  unix extensions = no',
    '  wide links = no',
    '  follow symlinks = no',
    '  # Reads (bench/install/smb.ts; about twice a default Samba unsigned, a third more signed):',
    '  # sendfile straight from the page cache when the session is not signed; reads done in the',
    '  # client\'s own smbd process rather than handed to a thread (each client has its own process,',
    '  # so clients still read in parallel); at most 1 MiB a read (clients adapt to the size the',
    '  # server offers), so that a blocking sendfile never holds a client\'s next request for long.',
    '  use sendfile = yes',
    '  aio read size = 0',
    '  smb2 max read = 1048576',
    '  # State: nothing outside the state folder.',
    `  private dir = ${p.private}`,
    `  smb passwd file = ${p.smbpasswd}`,
    `  lock directory = ${p.lock}`,
    `  state directory = ${p.state}`,
    `  cache directory = ${p.cache}`,
    `  pid directory = ${p.pid}`,
    `  ncalrpc dir = ${p.ncalrpc}`,
    `  winbindd socket directory = ${p.winbindd}`,
    `  ntp signd socket directory = ${p.ntpSignd}`,
    `  binddns dir = ${p.binddns}`,
    `  usershare path = ${p.usershares}`,
    `  log file = ${p.logFile}`,
    '  max log size = 1000',
    `  log level = ${i.logLevel ?? 1}`,
    '  # Unix IDs of Windows SIDs (owners, ACLs shown to clients): a private range, no winbind.',
    '  idmap config * : backend = tdb',
    '  idmap config * : range = 3000000-3999999',
  );
  return lines;
}

/** The username map: the SMB login becomes the Unix account ('!': stop at the first match). */
export function usernameMap(user: string, unixUser: string): string {
  checkAccount('SMB user name', user);
  checkAccount('Unix account', unixUser);
  return `# Written by overnight: the share's one login and the Unix account it is served as.\n!${unixUser} = ${user}\n`;
}

/**
 * The connect hook, run by smbd as root before each tree connect. It appends one tab-separated
 * line (event, client IP, login, share, machine) and exits 0 at once: it never blocks a connect
 * and never fails one (root preexec close is off).
 */
export function connectHookScript(connectsFile: string): string {
  checkPath('connect log', connectsFile);
  return [
    '#!/bin/sh',
    '# Written by overnight: Samba runs this at each connect to a share (root preexec); overnight reads the lines.',
    `printf '%s\\t%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$3" "$4" "$5" >> ${shellQuote(connectsFile)} 2>/dev/null`,
    'exit 0',
    '',
  ].join('\n');
}
