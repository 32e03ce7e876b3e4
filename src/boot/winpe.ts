// The per-machine WinPE boot plan: the iPXE script that boots the media's boot.wim through
// wimboot, and the files wimboot injects into X:\Windows\System32: winpeshl.ini, the start script,
// the answer file, NIC/storage drivers, and the scripts the installed Windows runs to report its
// progress. Pure functions: no I/O. The scripts are for cmd.exe in WinPE 3.x (Windows 7's WinPE has
// no PowerShell, curl or WSH) and in the installed system (Windows 7 has PowerShell 2.0; Vista has
// none, so bitsadmin stands in). docs/winpe.md describes the scripts and the phase reports.
import { bootScript } from './ipxe.ts';
import type { IpxeFile } from './ipxe.ts';

export interface WinpeMedia {
  /** Media id in URLs: `${server}/media/<id>/<path>`. */
  id: string;
  /** Paths inside the ISO: 'bootmgr', 'boot/bcd', 'boot/boot.sdi', 'sources/boot.wim'. */
  bootmgr: string;
  bcd: string;
  bootSdi: string;
  bootWim: string;
  /** wimboot `index=`: when the WIM's boot index is 0/absent or is not the Setup image. */
  bootIndex?: number | undefined;
}

export interface WinpePlanInput {
  mac: string;
  /** HTTP base of overnight's server: http://10.0.0.1 or http://10.0.0.1:8080. */
  server: string;
  /** The address WinPE pings to know that the network is up. */
  serverIp: string;
  wimbootUrl: string;
  media: WinpeMedia;
  share: {
    /** The media share, \\10.0.0.1\win7-ab12cd34. */
    unc: string;
    user: string;
    password: string;
    /**
     * Writable drop folder for WinPE's phase reports, \\10.0.0.1\overnight-report$; empty when
     * there is none (an external share): WinPE then reports nothing, the installed system still does.
     */
    reportUnc: string;
  };
  answerXml: string;
  /** Flat driver files (.inf/.sys/.cat/.dll) injected into WinPE; each .inf is loaded with drvload. */
  drivers?: { name: string; bytes: Buffer | string }[] | undefined;
  /** Shown by iPXE and in the WinPE window title. */
  title?: string | undefined;
  /** Shown in the WinPE banner only; the answer file decides Setup's languages. */
  language?: string | undefined;
  /**
   * Whether the answer file has a first-logon stage (default true). Without one, SetupComplete.cmd
   * runs the final step (report done, remove the answer file copies) itself.
   */
  firstLogon?: boolean | undefined;
}

export interface WinpePlan {
  /** The iPXE script. */
  script: string;
  /** Injected file name → bytes; served by HTTP at `${server}/boot/${mac}/${name}`, in boot order. */
  files: Map<string, Buffer>;
}

/** Names of the files overnight injects (besides drivers). */
export const WINPE_FILES = {
  shell: 'winpeshl.ini',
  start: 'overnight.cmd',
  answer: 'unattend.xml',
  report: 'overnight-report.cmd',
  done: 'overnight-done.cmd',
  setupComplete: 'SetupComplete.cmd',
} as const;

/** Phases of an install, in order; `failed` can follow any of them. */
export const PHASES = ['winpe', 'share', 'setup', 'applied', 'specialize', 'oobe', 'firstlogon', 'apps', 'done', 'failed'] as const;
export type Phase = (typeof PHASES)[number];

/** Setup's logs that WinPE copies to the report share when setup.exe fails. */
export const SETUP_LOGS = ['setupact', 'setuperr'] as const;
export type SetupLog = (typeof SETUP_LOGS)[number];

/** cmd.exe reads script lines of any length, but answer-file commands stop at 255 characters; stay well under. */
const MAX_LINE = 249;
/** Windows Setup's limit on a RunSynchronous/FirstLogonCommands command line. */
export const MAX_ANSWER_COMMAND = 255;

/** Where the start script puts the injected drivers for Setup (the answer file's windowsPE DriverPaths). */
export const WINPE_DRIVER_DIR = 'X:\\overnight\\drivers';
/** wimboot keeps at most 63 virtual files (media files and what it extracts itself included) with names of at most 31 characters. */
const MAX_INJECTED = 48;
const MAX_NAME = 31;
/** Seconds-ish tries for the network (ping 1 s + sleep 2 s each), net use tries, report share tries. */
const NET_TRIES = 60;
const SHARE_TRIES = 5;
const REPORT_SHARE_TRIES = 3;
/** Setup logs larger than this stay in WinPE (bytes). */
const MAX_LOG_COPY = 4_000_000;
/** Largest seq a WinPE run can write (it counts reports and logs of one run). */
const MAX_SEQ = 99_999;
const MAX_BODY = 2048;
const MAX_REASON = 300;
const MAX_TIME = 64;

const MEDIA_NAMES = ['bootmgr', 'BCD', 'boot.sdi', 'boot.wim'] as const;
const SCRIPT_DIR = '%WINDIR%\\Setup\\Scripts';
/** System32 files of WinPE that the scripts run or that wimboot/WinPE treat specially. */
const SYSTEM_NAMES = [
  'bootmgr.exe', 'cmd.exe', 'setup.exe', 'wpeinit.exe', 'wpeutil.exe', 'drvload.exe', 'net.exe', 'net1.exe', 'ping.exe',
  'ipconfig.exe', 'find.exe', 'findstr.exe', 'xcopy.exe', 'reg.exe', 'winpeshl.exe', 'startnet.cmd', 'autounattend.xml',
  'bitsadmin.exe', 'notepad.exe',
];
const DRIVER_EXTENSIONS = ['inf', 'sys', 'cat', 'dll'];

// ---------------------------------------------------------------------------------------------
// Validation

function normaliseMac(s: string): string {
  const hex = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.test(s) ? s.replace(/[:-]/g, '') : s;
  if (!/^[0-9a-f]{12}$/i.test(hex)) throw new Error(`MAC address '${s}' is not of the form aa:bb:cc:dd:ee:ff`);
  return hex.toLowerCase().match(/../g)!.join(':');
}

/** cmd.exe expands % (and ! under delayed expansion), and acts on ^ & | < > " and line breaks: no value may carry them. */
function cmdSafe(value: string, what: string, max: number): string {
  const bad = /[%^&|<>"\r\n]/.exec(value);
  if (bad) throw new Error(`${what} contains ${JSON.stringify(bad[0])}, which cmd.exe would act on in WinPE's start script`);
  // eslint-disable-next-line no-control-regex
  if (/[^\x20-\x7e]/.test(value)) throw new Error(`${what} must be printable ASCII: the scripts are ASCII and WinPE's code page would change anything else`);
  if (value.length > max) throw new Error(`${what} is longer than ${max} characters`);
  return value;
}

function uncPath(unc: string, what: string): { unc: string; host: string } {
  cmdSafe(unc, what, 100);
  const m = /^\\\\([A-Za-z0-9][A-Za-z0-9.-]*)\\([A-Za-z0-9_][A-Za-z0-9._-]*\$?)$/.exec(unc);
  if (!m) throw new Error(`${what} '${unc}' is not of the form \\\\server\\share (letters, digits, . _ - and a final $ only)`);
  return { unc, host: m[1]! };
}

/** A path inside the ISO as URL segments that iPXE carries as they are. */
function mediaPath(p: string, what: string): string {
  const parts = p.replace(/^\/+/, '').split('/');
  for (const s of parts) {
    if (!/^[A-Za-z0-9._~-]+$/.test(s) || s === '.' || s === '..') throw new Error(`media ${what} path '${p}' has a segment that is empty, '.', '..' or not URL-safe`);
  }
  return parts.join('/');
}

function checkFileName(name: string, what: string): void {
  if (name.length > MAX_NAME) throw new Error(`${what} '${name}' is longer than ${MAX_NAME} characters (wimboot's limit)`);
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(name) || name.endsWith('.')) {
    throw new Error(`${what} '${name}' must be a flat file name of letters, digits, '.', '_' and '-'`);
  }
  if (/^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\.|$)/i.test(name)) throw new Error(`${what} '${name}' is a DOS device name`);
}

// ---------------------------------------------------------------------------------------------
// Text helpers

/** CRLF text, ASCII only, every line under the length cmd.exe scripts and answer files cope with. */
function crlf(lines: string[], file: string): Buffer {
  for (const l of lines) {
    if (l.length > MAX_LINE) throw new Error(`${file}: line longer than ${MAX_LINE} characters: ${l.slice(0, 60)}...`);
    // eslint-disable-next-line no-control-regex
    if (/[^\x20-\x7e]/.test(l)) throw new Error(`${file}: non-ASCII or control character in line: ${l.slice(0, 60)}`);
  }
  return Buffer.from(lines.join('\r\n') + '\r\n', 'ascii');
}

/** Text for titles and banners: letters, digits and harmless punctuation only. */
function plain(text: string, max = 60): string {
  return text.replace(/[^A-Za-z0-9 .,:/+_-]/g, '').replace(/\s+/g, ' ').trim().slice(0, max);
}

// ---------------------------------------------------------------------------------------------
// Report names and bodies (the server reads these; WinPE writes them)

/** The name WinPE gives a phase report in the report share: `52-54-00-12-34-56.3.setup.txt`. */
export function reportFileName(mac: string, seq: number, phase: Phase): string {
  if (!Number.isSafeInteger(seq) || seq < 1 || seq > MAX_SEQ) throw new RangeError(`report seq ${seq} is not in 1..${MAX_SEQ}`);
  if (!(PHASES as readonly string[]).includes(phase)) throw new RangeError(`unknown phase '${phase}'`);
  return `${normaliseMac(mac).replace(/:/g, '-')}.${seq}.${phase}.txt`;
}

/** The HTTP path the installed system reports to (POST, body = reason; GET from Vista's bitsadmin). */
export function reportPath(mac: string, phase: Phase): string {
  return `/report/${normaliseMac(mac)}/${phase}`;
}

const NAME_RE = /^([0-9a-f]{2}(?:-[0-9a-f]{2}){5})\.([1-9][0-9]{0,4})\.([a-z]{2,12})\.txt$/i;
const LOG_RE = /^([0-9a-f]{2}(?:-[0-9a-f]{2}){5})\.([1-9][0-9]{0,4})\.([a-z]{2,12})\.log\.txt$/i;

function macFromDashes(s: string): string {
  return s.toLowerCase().replace(/-/g, ':');
}

/**
 * A report file's name → which machine, which report of its WinPE run (seq counts from 1 per run)
 * and which phase. Anything else (in-flight `.tmp` files, logs, junk) → undefined.
 */
export function parseReportName(fileName: string): { mac: string; seq: number; phase: Phase } | undefined {
  if (typeof fileName !== 'string' || fileName.length > 64) return undefined;
  const m = NAME_RE.exec(fileName);
  if (!m) return undefined;
  const phase = m[3]!.toLowerCase();
  if (!(PHASES as readonly string[]).includes(phase)) return undefined;
  const seq = Number(m[2]);
  if (!Number.isSafeInteger(seq) || seq < 1 || seq > MAX_SEQ) return undefined;
  return { mac: macFromDashes(m[1]!), seq, phase: phase as Phase };
}

/** A copied Setup log's name (`52-54-00-12-34-56.5.setupact.log.txt`) → machine, seq and which log. */
export function parseLogName(fileName: string): { mac: string; seq: number; log: SetupLog } | undefined {
  if (typeof fileName !== 'string' || fileName.length > 64) return undefined;
  const m = LOG_RE.exec(fileName);
  if (!m) return undefined;
  const log = m[3]!.toLowerCase();
  if (!(SETUP_LOGS as readonly string[]).includes(log)) return undefined;
  const seq = Number(m[2]);
  if (!Number.isSafeInteger(seq) || seq < 1 || seq > MAX_SEQ) return undefined;
  return { mac: macFromDashes(m[1]!), seq, log: log as SetupLog };
}

export interface ReportBody {
  phase?: Phase;
  /** WinPE's %DATE% %TIME% when the report was written (the script's start for `winpe`); locale format. */
  time?: string;
  reason?: string;
}

/**
 * A report file's text: `phase=...`, `time=...` and optionally `reason=...` lines. A body that is
 * too large, has other lines, repeated keys, control characters or overlong values gives {}:
 * the name alone then carries the report.
 */
export function parseReportBody(text: string): ReportBody {
  if (typeof text !== 'string' || text.length > MAX_BODY) return {};
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(text)) return {};
  const out: ReportBody = {};
  const seen = new Set<string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/[ \t]+$/, '');
    if (line === '') continue;
    const m = /^(phase|time|reason)=(.*)$/.exec(line);
    if (!m || seen.has(m[1]!)) return {};
    seen.add(m[1]!);
    const value = m[2]!.replace(/\t/g, ' ').trim();
    if (m[1] === 'phase') {
      if (!(PHASES as readonly string[]).includes(value)) return {};
      out.phase = value as Phase;
    } else if (m[1] === 'time') {
      if (value.length > MAX_TIME) return {};
      if (value) out.time = value;
    } else {
      if (value.length > MAX_REASON) return {};
      if (value) out.reason = value;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Answer-file commands

/**
 * The answer-file command lines that report the installed system's progress: specialize
 * (RunSynchronous), the start of first logon (before the profile's own commands and apps) and its
 * end (after them: report done and remove the answer file copies). Without a first-logon stage
 * SetupComplete.cmd does the final step and the first-logon lists are empty.
 */
export function reportCommands(i: { firstLogon: boolean }): { specialize: string[]; firstLogonStart: string[]; firstLogonEnd: string[] } {
  const report = (phase: Phase) => `cmd /c ${SCRIPT_DIR}\\${WINPE_FILES.report} ${phase}`;
  const out = {
    specialize: [report('specialize')],
    firstLogonStart: i.firstLogon ? [report('firstlogon'), report('apps')] : [],
    firstLogonEnd: i.firstLogon ? [`cmd /c ${SCRIPT_DIR}\\${WINPE_FILES.done}`] : [],
  };
  for (const l of [...out.specialize, ...out.firstLogonStart, ...out.firstLogonEnd]) {
    if (l.length > MAX_ANSWER_COMMAND) throw new Error(`answer-file command longer than ${MAX_ANSWER_COMMAND} characters: ${l}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The scripts

function winpeshlIni(): Buffer {
  // cmd /k: when the script stops on a failure the admin keeps a shell with the message; winpeshl
  // would restart WinPE as soon as its app exits. On success the script reboots by itself.
  return crlf(['[LaunchApps]', `%WINDIR%\\System32\\cmd.exe, /k %WINDIR%\\System32\\${WINPE_FILES.start}`], WINPE_FILES.shell);
}

interface StartScript {
  mac: string;
  serverIp: string;
  share: string;
  shareHost: string;
  report: string;
  user: string;
  password: string;
  infs: string[];
  /** Every injected driver file, copied to WINPE_DRIVER_DIR for Setup. */
  driverFiles: string[];
  title: string;
}

/**
 * WinPE's start script. Goto-style flow only (no multi-line ( ) blocks), so every %VAR% is
 * expanded when its own line runs and %errorlevel% is the previous command's.
 */
function startScript(s: StartScript): Buffer {
  const macId = s.mac.replace(/:/g, '-');
  const steps = 7;
  const L: string[] = [
    '@echo off',
    `rem overnight: WinPE start script for ${s.mac} (generated by overnight; do not edit)`,
    'setlocal EnableExtensions',
    `title overnight: ${s.title} for ${s.mac}`,
    'set "STARTED=%DATE% %TIME%"',
    `set "MAC=${s.mac}"`,
    `set "MACID=${macId}"`,
    `set "SERVER=${s.serverIp}"`,
    `set "SHARE=${s.share}"`,
    `set "REPORT=${s.report}"`,
    `set "NETUSER=${s.shareHost}\\${s.user}"`,
    `set "NETPASS=${s.password}"`,
    'set "SYS=%WINDIR%\\System32"',
    'set "SEQ=0"',
    'set "TRY=0"',
    'set "FOUND=0"',
    'set "CODE=0"',
    'set "REPORTING="',
    'set "REASON="',
    'set "HINT="',
    'set "TARGET="',
    'set "RNOTE="',
    'set "RTIME="',
    'echo.',
    'echo ======================================================================',
    `echo  overnight: unattended install of ${s.title} on %MAC%`,
    'echo  server %SERVER%, media share %SHARE%',
    'echo ======================================================================',
    'echo.',
    `echo [1/${steps}] Starting the network and devices: wpeinit ...`,
    'wpeinit',
  ];
  if (s.infs.length > 0) {
    L.push(`echo [2/${steps}] Loading ${s.infs.length} injected driver(s) ...`);
    for (const inf of s.infs) {
      L.push(`echo   drvload ${inf}`, `drvload "%SYS%\\${inf}"`, `if errorlevel 1 echo   WARNING: drvload ${inf} failed; going on without it.`);
    }
    // Setup is offered the same drivers (the answer file's DriverPaths name this folder): it adds
    // them to the installed Windows, which otherwise starts without its NIC or storage driver.
    L.push(`mkdir ${WINPE_DRIVER_DIR} 2>nul`);
    for (const f of s.driverFiles) L.push(`copy /y "%SYS%\\${f}" ${WINPE_DRIVER_DIR}\\ >nul`);
    // A NIC that only now has a driver needs the network stack to look again.
    L.push('wpeutil InitializeNetwork');
  } else {
    L.push(`echo [2/${steps}] No extra drivers to load.`);
  }
  L.push(
    `echo [3/${steps}] Waiting for the network: %SERVER% must answer ping ...`,
    'set "TRY=0"',
    ':net_wait',
    'set /a TRY+=1',
    'ping -n 1 -w 1000 %SERVER% | find "TTL=" >nul',
    'if not errorlevel 1 goto net_ok',
    `if %TRY% GEQ ${NET_TRIES} goto net_timeout`,
    'if %TRY%==10 wpeutil InitializeNetwork',
    'if %TRY%==30 wpeutil InitializeNetwork',
    `echo   waiting for the network (%TRY%/${NET_TRIES}) ...`,
    'ping -n 3 127.0.0.1 >nul',
    'goto net_wait',
    ':net_timeout',
    'echo.',
    `echo   %SERVER% did not answer ${NET_TRIES} pings. This machine's network settings:`,
    'ipconfig',
    'set "REASON=no network: the server %SERVER% does not answer ping"',
    'ipconfig | findstr /r /c:"IPv4.*: [0-9]" >nul',
    'if errorlevel 1 goto net_noaddr',
    'ipconfig | find "169.254." >nul',
    'if not errorlevel 1 goto net_apipa',
    // An address but no ping answer: a firewall may drop ping only, so the share decides.
    'echo   This machine has an address but %SERVER% does not answer ping; trying the share anyway.',
    'set "HINT=This machine has an address but cannot reach %SERVER%: check the server address, its firewall, and that both are on the same network."',
    'goto net_ok',
    ':net_noaddr',
    'set "REASON=no network: no IP address - no driver for this network card in WinPE, or no cable"',
    'set "HINT=No network address: add this network card\'s WinPE driver (.inf .sys .cat) to the profile\'s WinPE drivers, and check the cable and link lights."',
    'goto fail',
    ':net_apipa',
    'set "REASON=no network: only a 169.254 address - no DHCP server answered"',
    'set "HINT=No DHCP lease: check the cable, the switch port, and that a DHCP server (or overnight in full DHCP mode) serves this network."',
    'goto fail',
    '',
    ':net_ok',
    `echo [4/${steps}] Connecting to the media share %SHARE% as %NETUSER% ...`,
    'set "TRY=0"',
    ':share_try',
    'set /a TRY+=1',
    'net use "%SHARE%" "%NETPASS%" /user:%NETUSER%',
    'if not errorlevel 1 goto share_ok',
    `if %TRY% GEQ ${SHARE_TRIES} goto share_fail`,
    `echo   net use failed (attempt %TRY%/${SHARE_TRIES}); retrying in 10 seconds ...`,
    'net use "%SHARE%" /delete /y >nul 2>&1',
    'ping -n 11 127.0.0.1 >nul',
    'goto share_try',
    ':share_fail',
    'if defined HINT set "REASON=%REASON%; could not connect to %SHARE% either"',
    'if defined HINT goto fail',
    `set "REASON=could not connect to %SHARE% as %NETUSER%: net use failed ${SHARE_TRIES} times"`,
    'set "HINT=Check that the overnight server runs and shares %SHARE%, and the user and password. System error 86 or 1326: wrong password; 53 or 67: server or share not found."',
    'goto fail',
    '',
    ':share_ok',
    'set "HINT="',
    ...(s.report ? [] : ['echo   No report share on this server: WinPE reports nothing; Windows reports over HTTP once it runs.', 'goto setup']),
    `echo [5/${steps}] Connecting to the report share %REPORT% ...`,
    'set "TRY=0"',
    ':rshare_try',
    'set /a TRY+=1',
    'net use "%REPORT%" "%NETPASS%" /user:%NETUSER%',
    'if not errorlevel 1 goto rshare_ok',
    `if %TRY% GEQ ${REPORT_SHARE_TRIES} goto rshare_skip`,
    `echo   net use failed (attempt %TRY%/${REPORT_SHARE_TRIES}); retrying in 5 seconds ...`,
    'net use "%REPORT%" /delete /y >nul 2>&1',
    'ping -n 6 127.0.0.1 >nul',
    'goto rshare_try',
    ':rshare_skip',
    // Progress reports are for watching; the install itself goes on without them.
    'echo   WARNING: no report share; the install goes on, but the server sees no progress until Windows reports over HTTP.',
    'goto setup',
    ':rshare_ok',
    'set "REPORTING=1"',
    'set "RTIME=%STARTED%"',
    'call :report winpe',
    'call :report share',
    '',
    ':setup',
    `echo [6/${steps}] Running Windows Setup from %SHARE% ...`,
    'if exist "%SHARE%\\setup.exe" goto setup_run',
    'set "REASON=there is no setup.exe in %SHARE%"',
    'set "HINT=The share does not hold the installation media: check the media the server shares as %SHARE%."',
    'goto fail',
    ':setup_run',
    'call :report setup',
    '"%SHARE%\\setup.exe" /unattend:%SYS%\\unattend.xml /noreboot',
    'set "CODE=%errorlevel%"',
    'if "%CODE%"=="0" goto setup_ok',
    'echo   Windows Setup exited with code %CODE%.',
    'set "REASON=setup.exe exited with code %CODE%; see X:\\Windows\\Panther\\setupact.log"',
    'set "HINT=Setup\'s logs say why: X:\\Windows\\Panther\\setupact.log and setuperr.log. Common causes: no disk seen (storage driver), answer file errors, product key."',
    'call :sendlog setupact "%WINDIR%\\Panther\\setupact.log"',
    'call :sendlog setuperr "%WINDIR%\\Panther\\setuperr.log"',
    'goto fail',
    '',
    ':setup_ok',
    `echo [7/${steps}] Setup has applied the image; preparing the installed system ...`,
    // Setup caches the answer file in the new system's Panther folder; X: is WinPE itself.
    'for %%d in (C D E F G H I J K L M N O P Q R S T U V W Y Z) do if exist "%%d:\\Windows\\Panther\\unattend.xml" set /a FOUND+=1',
    'for %%d in (C D E F G H I J K L M N O P Q R S T U V W Y Z) do if not defined TARGET if exist "%%d:\\Windows\\Panther\\unattend.xml" set "TARGET=%%d:"',
    'if not defined TARGET goto target_fail',
    'if %FOUND% GTR 1 echo   WARNING: %FOUND% drives hold a Windows\\Panther\\unattend.xml; using the first, %TARGET%',
    'echo   The new Windows is on %TARGET%',
    `set "DEST=%TARGET%\\Windows\\Setup\\Scripts"`,
    'if not exist "%DEST%" mkdir "%DEST%"',
    // A SetupComplete.cmd from the media ($OEM$) still runs: ours calls it first.
    'if exist "%DEST%\\SetupComplete.cmd" if not exist "%DEST%\\oem-setupcomplete.cmd" move /y "%DEST%\\SetupComplete.cmd" "%DEST%\\oem-setupcomplete.cmd" >nul',
    `copy /y "%SYS%\\${WINPE_FILES.report}" "%DEST%\\${WINPE_FILES.report}" >nul || goto copy_fail`,
    `copy /y "%SYS%\\${WINPE_FILES.done}" "%DEST%\\${WINPE_FILES.done}" >nul || goto copy_fail`,
    `copy /y "%SYS%\\${WINPE_FILES.setupComplete}" "%DEST%\\${WINPE_FILES.setupComplete}" >nul || goto copy_fail`,
    'call :report applied',
    'echo.',
    'echo   Done in WinPE. Restarting into the new Windows ...',
    'wpeutil reboot',
    'echo   wpeutil reboot failed: restart this machine yourself.',
    'exit /b 0',
    '',
    ':target_fail',
    'set "REASON=setup.exe returned 0 but no drive holds Windows\\Panther\\unattend.xml"',
    'set "HINT=Setup stopped early or did not apply the image: see X:\\Windows\\Panther\\setupact.log."',
    'call :sendlog setupact "%WINDIR%\\Panther\\setupact.log"',
    'goto fail',
    ':copy_fail',
    'set "REASON=could not copy the overnight scripts to %DEST%"',
    'set "HINT=The new system\'s disk refused a write: check the disk, then start again."',
    'goto fail',
    '',
    ':fail',
    'echo.',
    'echo **********************************************************************',
    'echo  overnight: THE INSTALLATION STOPPED on %MAC%',
    'echo.',
    'echo  What failed: %REASON%',
    'echo.',
    'echo  Hint: %HINT%',
    'echo.',
    'echo  Also check: the network cable; that WinPE has a driver for this network card;',
    'echo  that the server %SERVER% is the right one and overnight runs there; the share user and password.',
    'echo **********************************************************************',
    'set "RNOTE=%REASON%"',
    'call :report failed',
    'if defined REPORTING echo  The failure was reported to the server.',
    'if not defined REPORTING echo  The failure could NOT be reported: the report share %REPORT% is not connected.',
    'echo.',
    'echo  This machine does not restart by itself. Fix the cause, then type  wpeutil reboot  to start over.',
    'echo  Setup logs: X:\\Windows\\Panther\\setupact.log and setuperr.log - notepad works here.',
    'exit /b 1',
    '',
    // Writes `<mac>.<seq>.<phase>.txt` through a .tmp name and a rename, so that the server never
    // reads a half-written report. RTIME (default now) and RNOTE (the reason) are optional.
    ':report',
    'if not defined REPORTING goto :eof',
    'set /a SEQ+=1',
    'set "RNAME=%MACID%.%SEQ%.%~1.txt"',
    'if not defined RTIME set "RTIME=%DATE% %TIME%"',
    '> "%TEMP%\\overnight.rpt" echo phase=%~1',
    '>> "%TEMP%\\overnight.rpt" echo time=%RTIME%',
    'if defined RNOTE >> "%TEMP%\\overnight.rpt" echo reason=%RNOTE%',
    'copy /y "%TEMP%\\overnight.rpt" "%REPORT%\\%RNAME%.tmp" >nul || goto report_err',
    'if exist "%REPORT%\\%RNAME%" del /f /q "%REPORT%\\%RNAME%" >nul 2>&1',
    'ren "%REPORT%\\%RNAME%.tmp" "%RNAME%" || goto report_err',
    'echo   reported: %~1',
    'goto report_end',
    ':report_err',
    'echo   WARNING: could not write the %~1 report to %REPORT%',
    ':report_end',
    'set "RTIME="',
    'set "RNOTE="',
    'goto :eof',
    '',
    // Best effort: a Setup log as `<mac>.<seq>.<log>.log.txt`, written before the failed report.
    ':sendlog',
    'if not defined REPORTING goto :eof',
    'if not exist "%~2" goto :eof',
    `if %~z2 GTR ${MAX_LOG_COPY} goto sendlog_big`,
    'set /a SEQ+=1',
    'copy /y "%~2" "%REPORT%\\%MACID%.%SEQ%.%~1.log.txt" >nul || echo   WARNING: could not copy %~nx2 to %REPORT%',
    'goto :eof',
    ':sendlog_big',
    `echo   %~nx2 is larger than ${MAX_LOG_COPY} bytes; not copied.`,
    'goto :eof',
  );
  return crlf(L, WINPE_FILES.start);
}

/** `overnight-report.cmd PHASE [reason...]`: one HTTP report; never fails its caller. */
function reportScript(server: string, mac: string): Buffer {
  const phases = PHASES.filter((p) => !['winpe', 'share', 'setup', 'applied'].includes(p));
  const L = [
    '@echo off',
    `rem overnight: report an install phase of ${mac} to the overnight server (generated by overnight; do not edit)`,
    'rem usage: overnight-report.cmd PHASE [reason...]   Always exits 0: reports never stop an install.',
    'setlocal EnableExtensions',
    'set "PHASE="',
    `for %%p in (${phases.join(' ')}) do if /i "%~1"=="%%p" set "PHASE=%%p"`,
    'if not defined PHASE exit /b 0',
    `set "URL=${server}/report/${mac}/%PHASE%"`,
    'set "REASON="',
    ':args',
    'shift',
    'if "%~1"=="" goto args_done',
    'set "REASON=%REASON% %~1"',
    'goto args',
    ':args_done',
    // Modifiers on an undefined variable expand to junk even on a line whose `if` is false.
    'if not defined REASON goto reason_done',
    'set "REASON=%REASON:~1%"',
    // PowerShell single-quoted string: a quote is written twice.
    "set \"REASON=%REASON:'=''%\"",
    ':reason_done',
    'set "PS=%WINDIR%\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"',
    'set "TRY=0"',
    'set "RESULT=not sent"',
    'if not exist "%PS%" goto bits',
    ':ps_try',
    'set /a TRY+=1',
    "\"%PS%\" -NoProfile -NonInteractive -ExecutionPolicy Bypass -Command \"(New-Object Net.WebClient).UploadString('%URL%','%REASON%')\" >nul 2>&1",
    'if not errorlevel 1 goto sent',
    'if %TRY% GEQ 3 goto log',
    'ping -n 6 127.0.0.1 >nul',
    'goto ps_try',
    // Vista has no PowerShell; bitsadmin can only GET, which the server takes too (no reason).
    ':bits',
    'if not exist "%WINDIR%\\System32\\bitsadmin.exe" goto log',
    ':bits_try',
    'set /a TRY+=1',
    'del /f /q "%TEMP%\\overnight-report.txt" >nul 2>&1',
    'bitsadmin /transfer overnight /download /priority FOREGROUND "%URL%" "%TEMP%\\overnight-report.txt" >nul 2>&1',
    'if exist "%TEMP%\\overnight-report.txt" goto sent',
    'if %TRY% GEQ 3 goto log',
    'ping -n 6 127.0.0.1 >nul',
    'goto bits_try',
    ':sent',
    'set "RESULT=sent"',
    ':log',
    '>> "%WINDIR%\\Temp\\overnight-report.log" echo %DATE% %TIME% %PHASE% %RESULT% after %TRY% tries',
    'exit /b 0',
  ];
  return crlf(L, WINPE_FILES.report);
}

/** The final step: report done, remove the answer file copies (they hold passwords) and these scripts. */
function doneScript(): Buffer {
  return crlf(
    [
      '@echo off',
      'rem overnight: the last step (generated by overnight; do not edit): report done, then remove the answer',
      'rem file copies Setup leaves on disk, which hold passwords, and the overnight scripts themselves.',
      'setlocal EnableExtensions',
      `set "DIR=${SCRIPT_DIR}"`,
      `call "%DIR%\\${WINPE_FILES.report}" done`,
      'del /f /q "%WINDIR%\\Panther\\unattend.xml" >nul 2>&1',
      'del /f /q "%WINDIR%\\Panther\\Unattend\\unattend.xml" >nul 2>&1',
      'del /f /q "%WINDIR%\\System32\\sysprep\\unattend.xml" >nul 2>&1',
      `del /f /q "%DIR%\\${WINPE_FILES.report}" >nul 2>&1`,
      `del /f /q "%DIR%\\${WINPE_FILES.setupComplete}" >nul 2>&1`,
      // Ends this batch first, then deletes it: cmd never reads a deleted script's next line.
      '(goto) 2>nul & del /f /q "%~f0"',
    ],
    WINPE_FILES.done,
  );
}

function setupCompleteScript(firstLogon: boolean): Buffer {
  const L = [
    '@echo off',
    'rem overnight: Windows runs this as SYSTEM after Setup, before the first logon (generated by overnight; do not edit)',
    'setlocal EnableExtensions',
    `set "DIR=${SCRIPT_DIR}"`,
    'if exist "%DIR%\\oem-setupcomplete.cmd" call "%DIR%\\oem-setupcomplete.cmd"',
    `call "%DIR%\\${WINPE_FILES.report}" oobe`,
  ];
  // No `call`: control moves to the done script for good, so cmd never returns into this file
  // after the done script has deleted it.
  if (!firstLogon) L.push(`"%DIR%\\${WINPE_FILES.done}"`);
  L.push('exit /b 0');
  return crlf(L, WINPE_FILES.setupComplete);
}

// ---------------------------------------------------------------------------------------------
// The plan

export function winpePlan(i: WinpePlanInput): WinpePlan {
  const mac = normaliseMac(i.mac);
  const server = i.server.replace(/\/$/, '');
  if (!/^http:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?$/.test(server)) throw new Error(`server '${i.server}' is not an http:// base URL (http://host or http://host:port)`);
  cmdSafe(server, 'server', 100);
  const ip = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(i.serverIp);
  if (!ip || ip.slice(1).some((o) => Number(o) > 255)) throw new Error(`serverIp '${i.serverIp}' is not an IPv4 address`);
  if (!/^https?:\/\//.test(i.wimbootUrl)) throw new Error(`wimbootUrl '${i.wimbootUrl}' is not an http(s) URL`);

  const share = uncPath(i.share.unc, 'share UNC');
  const report = i.share.reportUnc === '' ? { unc: '' } : uncPath(i.share.reportUnc, 'report share UNC');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/.test(i.share.user)) throw new Error(`share user '${i.share.user}' must be 1-32 letters, digits, '.', '_' or '-'`);
  const password = cmdSafe(i.share.password, 'share password', 127);
  // net use asks at the console for '*' and for an empty password; a final backslash would escape the closing quote.
  if (password === '' || password === '*') throw new Error('share password must not be empty or "*" (net use would prompt for it)');
  if (password.endsWith('\\')) throw new Error('share password must not end with a backslash (it would escape the closing quote for net use)');
  if (!i.answerXml.includes('<unattend')) throw new Error('answerXml does not look like an answer file (no <unattend> element)');
  if (i.language !== undefined && !/^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$/i.test(i.language)) throw new Error(`language '${i.language}' is not a language tag such as en-US`);

  const media = i.media;
  if (!/^[A-Za-z0-9._-]+$/.test(media.id)) throw new Error(`media id '${media.id}' must be letters, digits, '.', '_' or '-'`);
  const bootIndex = media.bootIndex;
  if (bootIndex !== undefined && (!Number.isInteger(bootIndex) || bootIndex < 1 || bootIndex > 999)) throw new Error(`media boot index ${bootIndex} is not a WIM image number`);

  // Injected names share X:\Windows\System32 with WinPE's own files, case-insensitively.
  const taken = new Map<string, string>();
  for (const n of [...MEDIA_NAMES, ...Object.values(WINPE_FILES)]) taken.set(n.toLowerCase(), `${n} (an overnight boot file)`);
  for (const n of SYSTEM_NAMES) taken.set(n.toLowerCase(), `${n} (a WinPE system file)`);
  const drivers: { name: string; bytes: Buffer }[] = [];
  for (const d of i.drivers ?? []) {
    checkFileName(d.name, 'driver file');
    const other = taken.get(d.name.toLowerCase());
    if (other) throw new Error(`driver file '${d.name}' clashes with ${other} in X:\\Windows\\System32 (names are case-insensitive there)`);
    const ext = d.name.toLowerCase().split('.').pop()!;
    if (!d.name.includes('.') || !DRIVER_EXTENSIONS.includes(ext)) throw new Error(`driver file '${d.name}' is not a .inf, .sys, .cat or .dll file`);
    taken.set(d.name.toLowerCase(), `driver file '${d.name}'`);
    drivers.push({ name: d.name, bytes: typeof d.bytes === 'string' ? Buffer.from(d.bytes, 'utf8') : d.bytes });
  }
  const injectedCount = Object.keys(WINPE_FILES).length + drivers.length;
  if (injectedCount > MAX_INJECTED) throw new Error(`${injectedCount} files to inject into WinPE; wimboot takes at most ${MAX_INJECTED} besides the media files`);

  const title = plain(i.title ?? 'Windows Setup') || 'Windows Setup';
  const shown = i.language ? `${title} (${i.language})` : title;
  const infs = drivers.filter((d) => /\.inf$/i.test(d.name)).map((d) => d.name);
  const firstLogon = i.firstLogon ?? true;

  const files = new Map<string, Buffer>();
  files.set(WINPE_FILES.shell, winpeshlIni());
  files.set(
    WINPE_FILES.start,
    startScript({ mac, serverIp: i.serverIp, share: share.unc, shareHost: share.host, report: report.unc, user: i.share.user, password, infs, driverFiles: drivers.map((d) => d.name), title: shown }),
  );
  files.set(WINPE_FILES.answer, Buffer.from(i.answerXml, 'utf8'));
  files.set(WINPE_FILES.report, reportScript(server, mac));
  files.set(WINPE_FILES.done, doneScript());
  files.set(WINPE_FILES.setupComplete, setupCompleteScript(firstLogon));
  for (const d of drivers) files.set(d.name, d.bytes);

  const mediaUrl = (p: string, what: string) => `${server}/media/${media.id}/${mediaPath(p, what)}`;
  const initrds: IpxeFile[] = [
    { name: 'bootmgr', url: mediaUrl(media.bootmgr, 'bootmgr') },
    { name: 'BCD', url: mediaUrl(media.bcd, 'BCD') },
    { name: 'boot.sdi', url: mediaUrl(media.bootSdi, 'boot.sdi') },
    { name: 'boot.wim', url: mediaUrl(media.bootWim, 'boot.wim') },
    ...[...files.keys()].map((name) => ({ name, url: `${server}/boot/${mac}/${name}` })),
  ];
  const script = bootScript({
    mac,
    title: `${title} PE (overnight)`,
    kernel: { url: i.wimbootUrl, args: bootIndex !== undefined ? `index=${bootIndex}` : undefined },
    initrds,
    server,
  });
  return { script, files };
}
