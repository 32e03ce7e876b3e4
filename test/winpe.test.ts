// The WinPE boot plan: the iPXE script's file list, the cmd.exe scripts WinPE and the installed
// Windows run (checked by a small static checker, since no Windows runs here), the phase report
// names and bodies the server parses, and the input checks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  PHASES,
  type WinpePlanInput,
  parseLogName,
  parseReportBody,
  parseReportName,
  reportCommands,
  reportFileName,
  reportPath,
  winpePlan,
} from '../src/boot/winpe.ts';

const MAC = '52:54:00:12:34:56';
const SERVER = 'http://10.0.0.1:8080';

function input(over: Partial<WinpePlanInput> = {}): WinpePlanInput {
  return {
    mac: MAC,
    server: SERVER,
    serverIp: '10.0.0.1',
    wimbootUrl: `${SERVER}/files/wimboot`,
    media: { id: 'w7x64', bootmgr: 'bootmgr', bcd: 'boot/bcd', bootSdi: 'boot/boot.sdi', bootWim: 'sources/boot.wim' },
    share: { unc: '\\\\10.0.0.1\\win7-ab12cd34', user: 'overnight', password: 'Pa55-w0rd!', reportUnc: '\\\\10.0.0.1\\overnight-report$' },
    answerXml: '<?xml version="1.0"?><unattend xmlns="urn:schemas-microsoft-com:unattend"/>',
    drivers: [
      { name: 'e1g6032e.inf', bytes: '[Version]\r\n' },
      { name: 'e1g6032e.sys', bytes: Buffer.from([0x4d, 0x5a]) },
      { name: 'e1g6032e.cat', bytes: Buffer.from([0x30]) },
      { name: 'iaStor.inf', bytes: '[Version]\r\n' },
    ],
    ...over,
  };
}

const text = (b: Buffer | undefined) => {
  assert.ok(b, 'file missing from the plan');
  return b.toString('ascii');
};
const lines = (b: Buffer | undefined) => text(b).split('\r\n');

// ---------------------------------------------------------------------------------------------
// A static checker for the cmd.exe scripts.

const BUILTIN_VARS = new Set(['windir', 'date', 'time', 'temp', 'errorlevel']);

/** Problems in a batch script: missing labels, unbalanced parentheses, variables never set, stray %. */
function checkCmd(script: string): string[] {
  const problems: string[] = [];
  const ls = script.split('\r\n');
  const labels = new Set<string>();
  const setVars = new Set(BUILTIN_VARS);
  for (const l of ls) {
    const label = /^:([A-Za-z_]\w*)\s*$/.exec(l);
    if (label) labels.add(label[1]!.toLowerCase());
    for (const m of l.matchAll(/\bset\s+(?:\/a\s+)?"?([A-Za-z_]\w*)\s*[-+*/]?=/gi)) setVars.add(m[1]!.toLowerCase());
    if (/!\w+!/.test(l)) problems.push(`delayed expansion used: ${l}`);
  }
  ls.forEach((l, n) => {
    const at = `line ${n + 1}`;
    if (/^\s*rem\b/i.test(l) || /^:/.test(l)) return;
    for (const m of l.matchAll(/\b(?:goto\s+:?|call\s+:)([A-Za-z_]\w*)/gi)) {
      const target = m[1]!.toLowerCase();
      if (target !== 'eof' && !labels.has(target)) problems.push(`${at}: no label :${m[1]}`);
    }
    // Parentheses outside double quotes must balance on each line: the scripts use no multi-line blocks.
    let depth = 0;
    let quoted = false;
    for (const c of l) {
      if (c === '"') quoted = !quoted;
      else if (!quoted && c === '(') depth++;
      else if (!quoted && c === ')' && --depth < 0) break;
    }
    if (depth !== 0) problems.push(`${at}: unbalanced parentheses: ${l}`);
    for (let i = 0; i < l.length; i++) {
      if (l[i] !== '%') continue;
      const rest = l.slice(i);
      const skip = /^%%~?[a-z]*[a-z]/i.exec(rest) ?? /^%~[a-z]*[0-9]/i.exec(rest) ?? /^%[0-9*]/.exec(rest);
      if (skip) {
        i += skip[0].length - 1;
        continue;
      }
      const v = /^%([A-Za-z_]\w*)(?::[^%]*)?%/.exec(rest);
      if (!v) {
        problems.push(`${at}: stray %: ${l}`);
        break;
      }
      if (!setVars.has(v[1]!.toLowerCase())) problems.push(`${at}: %${v[1]}% is never set`);
      i += v[0].length - 1;
    }
  });
  return problems;
}

function assertCmdFile(name: string, b: Buffer | undefined): void {
  assert.ok(b, `${name} missing`);
  for (const [i, byte] of b.entries()) assert.ok(byte < 0x80 && (byte >= 0x20 || byte === 0x0d || byte === 0x0a), `${name}: byte ${byte} at ${i}`);
  const s = b.toString('ascii');
  assert.ok(s.endsWith('\r\n'), `${name} does not end with CRLF`);
  assert.doesNotMatch(s.replace(/\r\n/g, ''), /[\r\n]/, `${name} has a bare CR or LF`);
  for (const l of s.split('\r\n')) assert.ok(l.length < 250, `${name}: line of ${l.length} characters: ${l}`);
}

describe('cmd static checker', () => {
  it('finds the mistakes it is meant to find', () => {
    const ok = ['@echo off', 'set "A=1"', 'set /a N+=1', 'if %N%==1 goto done', 'call :sub x', 'for %%d in (C D) do echo %%d', ':done', 'echo %A% %~1', 'goto :eof', ':sub', 'goto :eof', ''].join('\r\n');
    assert.deepEqual(checkCmd(ok), []);
    assert.match(checkCmd('goto nowhere\r\n').join(), /no label :nowhere/);
    assert.match(checkCmd('call :gone\r\n').join(), /no label :gone/);
    assert.match(checkCmd('if 1==1 (\r\necho x\r\n').join(), /unbalanced/);
    assert.match(checkCmd('echo %UNSET%\r\n').join(), /%UNSET% is never set/);
    assert.match(checkCmd('echo 100% sure\r\n').join(), /stray %/);
    assert.match(checkCmd('echo !X!\r\n').join(), /delayed expansion/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('WinPE plan: iPXE script', () => {
  it('loads wimboot, then bootmgr, BCD, boot.sdi, boot.wim from the media, then every injected file once, in plan order', () => {
    const plan = winpePlan(input());
    const initrds = [...plan.script.matchAll(/^initrd -n (\S+) (\S+) (\S+) \|\| goto failed$/gm)].map((m) => ({ name: m[1]!, url: m[2]!, cpio: m[3]! }));
    assert.equal(initrds.length, plan.script.split('\n').filter((l) => l.startsWith('initrd')).length, 'every initrd line has the form initrd -n NAME URL NAME');
    for (const f of initrds) assert.equal(f.cpio, f.name);
    assert.deepEqual(
      initrds.slice(0, 4).map((f) => [f.name, f.url]),
      [
        ['bootmgr', `${SERVER}/media/w7x64/bootmgr`],
        ['BCD', `${SERVER}/media/w7x64/boot/bcd`],
        ['boot.sdi', `${SERVER}/media/w7x64/boot/boot.sdi`],
        ['boot.wim', `${SERVER}/media/w7x64/sources/boot.wim`],
      ],
    );
    const injected = initrds.slice(4);
    assert.deepEqual(
      injected.map((f) => f.name),
      [...plan.files.keys()],
    );
    for (const f of injected) assert.equal(f.url, `${SERVER}/boot/${MAC}/${f.name}`);
    assert.deepEqual(injected.map((f) => f.name).slice(0, 6), ['winpeshl.ini', 'overnight.cmd', 'unattend.xml', 'overnight-report.cmd', 'overnight-done.cmd', 'SetupComplete.cmd']);
    assert.deepEqual(injected.map((f) => f.name).slice(6), ['e1g6032e.inf', 'e1g6032e.sys', 'e1g6032e.cat', 'iaStor.inf']);
    const lower = initrds.map((f) => f.name.toLowerCase());
    assert.equal(new Set(lower).size, lower.length, 'names are unique case-insensitively');
    assert.match(plan.script, /^kernel http:\/\/10\.0\.0\.1:8080\/files\/wimboot \|\| goto failed$/m);
    assert.ok(plan.script.indexOf('kernel ') < plan.script.indexOf('initrd '));
  });

  it('passes index= to wimboot when the media names a boot image', () => {
    const plan = winpePlan(input({ media: { ...input().media, bootIndex: 2 } }));
    assert.match(plan.script, /^kernel http:\/\/10\.0\.0\.1:8080\/files\/wimboot index=2 \|\| goto failed$/m);
  });

  it('normalises the MAC and serves the injected files under it; the answer file and drivers are served as given', () => {
    const plan = winpePlan(input({ mac: '52-54-00-12-34-56'.toUpperCase(), server: `${SERVER}/` }));
    assert.match(plan.script, /\/boot\/52:54:00:12:34:56\/winpeshl\.ini /);
    assert.doesNotMatch(plan.script, /8080\/\//);
    assert.equal(plan.files.get('unattend.xml')!.toString('utf8'), input().answerXml);
    assert.deepEqual(plan.files.get('e1g6032e.sys'), Buffer.from([0x4d, 0x5a]));
    assert.equal(plan.files.get('iaStor.inf')!.toString(), '[Version]\r\n');
  });
});

describe('WinPE plan: scripts', () => {
  const variants: [string, WinpePlanInput][] = [
    ['with drivers', input()],
    ['without drivers', input({ drivers: [] })],
    ['without a first logon', input({ firstLogon: false, title: 'Windows 7 Professional', language: 'de-DE' })],
  ];

  for (const [what, i] of variants) {
    it(`every .cmd and .ini is ASCII with CRLF, lines under 250 characters, and passes the static checker (${what})`, () => {
      const plan = winpePlan(i);
      const scripts = [...plan.files.keys()].filter((n) => /\.(cmd|ini)$/i.test(n));
      assert.deepEqual(scripts.sort(), ['SetupComplete.cmd', 'overnight-done.cmd', 'overnight-report.cmd', 'overnight.cmd', 'winpeshl.ini']);
      for (const n of scripts) assertCmdFile(n, plan.files.get(n));
      for (const n of scripts.filter((s) => s.endsWith('.cmd'))) assert.deepEqual(checkCmd(text(plan.files.get(n))), [], n);
    });
  }

  it('winpeshl.ini starts the script in a cmd /k shell, which stays open when the script stops', () => {
    assert.deepEqual(lines(winpePlan(input()).files.get('winpeshl.ini')), ['[LaunchApps]', '%WINDIR%\\System32\\cmd.exe, /k %WINDIR%\\System32\\overnight.cmd', '']);
  });

  it('the start script connects, reports and runs Setup in the right order, with the plan\'s addresses and credentials', () => {
    const s = text(winpePlan(input()).files.get('overnight.cmd'));
    const ls = s.split('\r\n');
    assert.equal(ls[0], '@echo off');
    assert.match(s, /^title overnight: .*52:54:00:12:34:56$/m);
    assert.ok(ls.includes('set "SERVER=10.0.0.1"'));
    assert.ok(ls.includes('set "SHARE=\\\\10.0.0.1\\win7-ab12cd34"'));
    assert.ok(ls.includes('set "REPORT=\\\\10.0.0.1\\overnight-report$"'));
    assert.ok(ls.includes('set "NETUSER=10.0.0.1\\overnight"'));
    assert.ok(ls.includes('set "NETPASS=Pa55-w0rd!"'));
    assert.doesNotMatch(s, /EnableDelayedExpansion/, 'a ! in the password must stay literal');
    const order = [
      /^wpeinit$/m,
      /^drvload "%SYS%\\e1g6032e\.inf"$/m,
      /^drvload "%SYS%\\iaStor\.inf"$/m,
      /^ping -n 1 -w 1000 %SERVER% \| find "TTL=" >nul$/m,
      /^net use "%SHARE%" "%NETPASS%" \/user:%NETUSER%$/m,
      /^net use "%REPORT%" "%NETPASS%" \/user:%NETUSER%$/m,
      /^call :report winpe$/m,
      /^call :report share$/m,
      /^call :report setup$/m,
      /^"%SHARE%\\setup\.exe" \/unattend:%SYS%\\unattend\.xml \/noreboot$/m,
      /^copy \/y "%SYS%\\SetupComplete\.cmd" "%DEST%\\SetupComplete\.cmd"/m,
      /^call :report applied$/m,
      /^wpeutil reboot$/m,
      /^:fail$/m,
      /^call :report failed$/m,
    ];
    let at = -1;
    for (const re of order) {
      const m = re.exec(s);
      assert.ok(m, `missing ${re}`);
      assert.ok(m.index > at, `${re} out of order`);
      at = m.index;
    }
    // Each .inf loads with a warning on failure, and never one for the other driver files.
    assert.equal((s.match(/^drvload /gm) ?? []).length, 2);
    assert.match(s, /^if errorlevel 1 echo {3}WARNING: drvload e1g6032e\.inf failed/m);
    // The winpe report carries the script's start time.
    assert.match(s, /^set "STARTED=%DATE% %TIME%"$/m);
    assert.match(s, /^set "RTIME=%STARTED%"\r\ncall :report winpe$/m);
    // Setup's result: the exit code right after it; the logs before the failed report.
    assert.match(s, /\/noreboot\r\nset "CODE=%errorlevel%"\r\nif "%CODE%"=="0" goto setup_ok\r\n/);
    assert.match(s, /^set "REASON=setup\.exe exited with code %CODE%; see X:\\Windows\\Panther\\setupact\.log"$/m);
    assert.match(s, /^call :sendlog setupact "%WINDIR%\\Panther\\setupact\.log"$/m);
    // The installed Windows is found by the answer file Setup cached, never on WinPE's X:.
    assert.match(s, /for %%d in \(C D E F G H I J K L M N O P Q R S T U V W Y Z\) do if not defined TARGET if exist "%%d:\\Windows\\Panther\\unattend\.xml" set "TARGET=%%d:"/);
    // The failure path: a message, a report, and no reboot after it.
    const fail = s.slice(s.indexOf('\r\n:fail\r\n'), s.indexOf('\r\n:report\r\n'));
    assert.doesNotMatch(fail, /wpeutil reboot\r\n/);
    assert.match(fail, /could NOT be reported: the report share %REPORT% is not connected/);
    assert.match(fail, /^exit \/b 1$/m);
  });

  it('retries the network with a countdown, re-initialises it, and explains a missing address; net use retries with a pause', () => {
    const s = text(winpePlan(input()).files.get('overnight.cmd'));
    const loop = s.slice(s.indexOf(':net_wait\r\n'), s.indexOf(':net_timeout\r\n'));
    assert.match(loop, /^set \/a TRY\+=1$/m);
    assert.match(loop, /^if %TRY% GEQ 60 goto net_timeout$/m);
    assert.match(loop, /^if %TRY%==10 wpeutil InitializeNetwork$/m);
    assert.match(loop, /^echo {3}waiting for the network \(%TRY%\/60\) \.\.\.$/m);
    assert.match(loop, /^ping -n 3 127\.0\.0\.1 >nul$/m);
    assert.match(loop, /^goto net_wait$/m);
    assert.match(s, /:net_timeout\r\n(.*\r\n){2}ipconfig\r\n/);
    assert.match(s, /^set "REASON=no network: no IP address - no driver for this network card in WinPE, or no cable"$/m);
    const share = s.slice(s.indexOf(':share_try\r\n'), s.indexOf(':share_fail\r\n'));
    assert.match(share, /^if %TRY% GEQ 5 goto share_fail$/m);
    assert.match(share, /^ping -n 11 127\.0\.0\.1 >nul$/m);
    assert.match(share, /^goto share_try$/m);
  });

  it('loads no drivers when there are none', () => {
    const s = text(winpePlan(input({ drivers: undefined })).files.get('overnight.cmd'));
    assert.doesNotMatch(s, /^drvload/m);
    assert.match(s, /No extra drivers/);
  });

  it('the installed system reports over HTTP with PowerShell, falls back to bitsadmin, and never fails its caller', () => {
    const plan = winpePlan(input());
    const r = text(plan.files.get('overnight-report.cmd'));
    assert.match(r, /^set "URL=http:\/\/10\.0\.0\.1:8080\/report\/52:54:00:12:34:56\/%PHASE%"$/m);
    assert.match(r, /^set "PS=%WINDIR%\\System32\\WindowsPowerShell\\v1\.0\\powershell\.exe"$/m);
    assert.match(r, /^"%PS%" -NoProfile -NonInteractive -ExecutionPolicy Bypass -Command "\(New-Object Net\.WebClient\)\.UploadString\('%URL%','%REASON%'\)"/m);
    assert.match(r, /^bitsadmin \/transfer overnight \/download \/priority FOREGROUND "%URL%" "%TEMP%\\overnight-report\.txt"/m);
    assert.match(r, /^if %TRY% GEQ 3 goto log$/m);
    const exits = r.match(/^.*exit \/b.*$/gm) ?? [];
    assert.ok(exits.length > 0 && exits.every((l) => /exit \/b 0$/.test(l)), exits.join('\n'));
    assert.equal(reportPath(MAC, 'oobe'), '/report/52:54:00:12:34:56/oobe');
  });

  it('SetupComplete.cmd reports oobe, and runs the final step itself only without a first logon', () => {
    const withLogon = text(winpePlan(input()).files.get('SetupComplete.cmd'));
    assert.match(withLogon, /^call "%DIR%\\overnight-report\.cmd" oobe$/m);
    assert.doesNotMatch(withLogon, /overnight-done/);
    const without = text(winpePlan(input({ firstLogon: false })).files.get('SetupComplete.cmd'));
    assert.match(without, /^call "%DIR%\\overnight-report\.cmd" oobe\r\n"%DIR%\\overnight-done\.cmd"\r\n/m);
  });

  it('the final step reports done, then removes the answer file copies and the scripts, itself last', () => {
    const d = lines(winpePlan(input()).files.get('overnight-done.cmd')).filter((l) => l);
    const report = d.indexOf('call "%DIR%\\overnight-report.cmd" done');
    assert.ok(report > 0);
    for (const f of ['%WINDIR%\\Panther\\unattend.xml', '%WINDIR%\\Panther\\Unattend\\unattend.xml', '%WINDIR%\\System32\\sysprep\\unattend.xml', '%DIR%\\overnight-report.cmd', '%DIR%\\SetupComplete.cmd']) {
      const at = d.indexOf(`del /f /q "${f}" >nul 2>&1`);
      assert.ok(at > report, `${f} not deleted after the report`);
    }
    assert.equal(d.at(-1), '(goto) 2>nul & del /f /q "%~f0"');
  });
});

describe('answer-file report commands', () => {
  it('report specialize, firstlogon and apps, and end with the final step; each line fits an answer file', () => {
    const c = reportCommands({ firstLogon: true });
    assert.deepEqual(c.specialize, ['cmd /c %WINDIR%\\Setup\\Scripts\\overnight-report.cmd specialize']);
    assert.deepEqual(c.firstLogonStart, ['cmd /c %WINDIR%\\Setup\\Scripts\\overnight-report.cmd firstlogon', 'cmd /c %WINDIR%\\Setup\\Scripts\\overnight-report.cmd apps']);
    assert.deepEqual(c.firstLogonEnd, ['cmd /c %WINDIR%\\Setup\\Scripts\\overnight-done.cmd']);
    const none = reportCommands({ firstLogon: false });
    assert.deepEqual(none, { specialize: c.specialize, firstLogonStart: [], firstLogonEnd: [] });
    for (const l of [...c.specialize, ...c.firstLogonStart, ...c.firstLogonEnd]) assert.ok(l.length <= 255, l);
  });

  it('name only phases the report helper accepts', () => {
    const helper = text(winpePlan(input()).files.get('overnight-report.cmd'));
    const accepted = /for %%p in \(([^)]*)\)/.exec(helper)![1]!.split(' ');
    const c = reportCommands({ firstLogon: true });
    for (const l of [...c.specialize, ...c.firstLogonStart]) assert.ok(accepted.includes(l.split(' ').at(-1)!), l);
    for (const p of accepted) assert.ok((PHASES as readonly string[]).includes(p), p);
  });
});

describe('phase reports', () => {
  it('parses every report and log name the start script writes, in order', () => {
    const s = text(winpePlan(input()).files.get('overnight.cmd'));
    const macId = /^set "MACID=(.*)"$/m.exec(s)![1]!;
    const template = /^set "RNAME=(.*)"$/m.exec(s)![1]!;
    const logTemplate = /"%REPORT%\\(%MACID%\.%SEQ%\.%~1\.log\.txt)"/.exec(s)![1]!;
    const expand = (t: string, seq: number, what: string) => t.replace('%MACID%', macId).replace('%SEQ%', String(seq)).replace('%~1', what);
    const phases = [...s.matchAll(/^call :report (\w+)$/gm)].map((m) => m[1]!);
    assert.deepEqual(phases, ['winpe', 'share', 'setup', 'applied', 'failed']);
    phases.forEach((phase, n) => {
      const name = expand(template, n + 1, phase);
      assert.equal(name, reportFileName(MAC, n + 1, phase as (typeof PHASES)[number]));
      assert.deepEqual(parseReportName(name), { mac: MAC, seq: n + 1, phase });
      assert.equal(parseLogName(name), undefined);
      assert.equal(parseReportName(`${name}.tmp`), undefined, 'the in-flight name is not a report');
    });
    const logs = [...s.matchAll(/^call :sendlog (\w+) /gm)].map((m) => m[1]!);
    assert.deepEqual([...new Set(logs)], ['setupact', 'setuperr']);
    for (const log of logs) {
      const name = expand(logTemplate, 7, log);
      assert.deepEqual(parseLogName(name), { mac: MAC, seq: 7, log });
      assert.equal(parseReportName(name), undefined);
    }
  });

  it('parses the body the start script writes', () => {
    const s = text(winpePlan(input()).files.get('overnight.cmd'));
    const sub = s.slice(s.indexOf('\r\n:report\r\n'), s.indexOf('\r\n:report_err\r\n'));
    const echoes = [...sub.matchAll(/echo ((?:phase|time|reason)=.*)$/gm)].map((m) => m[1]!);
    assert.deepEqual(echoes, ['phase=%~1', 'time=%RTIME%', 'reason=%RNOTE%']);
    const values: Record<string, string> = { '%~1': 'failed', '%RTIME%': 'Tue 03/04/2025 21:07:45.12', '%RNOTE%': 'setup.exe exited with code 31; see X:\\Windows\\Panther\\setupact.log' };
    const body = echoes.map((e) => e.replace(/%~1|%RTIME%|%RNOTE%/, (v) => values[v]!)).join('\r\n') + '\r\n';
    assert.deepEqual(parseReportBody(body), { phase: 'failed', time: 'Tue 03/04/2025 21:07:45.12', reason: values['%RNOTE%'] });
    assert.deepEqual(parseReportBody('phase=winpe\r\ntime=Mon 01/02/2012  9:01:02.03\r\n'), { phase: 'winpe', time: 'Mon 01/02/2012  9:01:02.03' });
    assert.deepEqual(parseReportBody(''), {});
  });

  it('rejects names that are not reports', () => {
    const junk = [
      '',
      '..',
      '.',
      '../52-54-00-12-34-56.1.winpe.txt',
      'x/52-54-00-12-34-56.1.winpe.txt',
      'x\\52-54-00-12-34-56.1.winpe.txt',
      '52-54-00-12-34-56.1.bogus.txt',
      '52-54-00-12-34-56.1.constructor.txt',
      '52-54-00-12-34-56.1.winpe',
      '52-54-00-12-34-56.1.winpe.txt.tmp',
      '52-54-00-12-34-56.1.winpe.txt ',
      '52-54-00-12-34-56.1.winpe.txt\n',
      '52-54-00-12-34.1.winpe.txt',
      '52-54-00-12-34-56-78.1.winpe.txt',
      '52:54:00:12:34:56.1.winpe.txt',
      '5g-54-00-12-34-56.1.winpe.txt',
      '52-54-00-12-34-56.0.winpe.txt',
      '52-54-00-12-34-56.01.winpe.txt',
      '52-54-00-12-34-56.-1.winpe.txt',
      '52-54-00-12-34-56.1e3.winpe.txt',
      '52-54-00-12-34-56.100000.winpe.txt',
      '52-54-00-12-34-56.99999999999999999999.winpe.txt',
      '52-54-00-12-34-56..winpe.txt',
      '52-54-00-12-34-56.1.setupact.log.txt',
      `52-54-00-12-34-56.1.${'a'.repeat(200)}.txt`,
      'x'.repeat(100_000),
    ];
    for (const j of junk) assert.equal(parseReportName(j), undefined, JSON.stringify(j.slice(0, 80)));
    for (const j of ['52-54-00-12-34-56.1.winpe.log.txt', '52-54-00-12-34-56.1.setupapi.log.txt', '../52-54-00-12-34-56.1.setupact.log.txt']) assert.equal(parseLogName(j), undefined, j);
    assert.deepEqual(parseReportName('52-54-00-12-34-56.99999.done.txt'), { mac: MAC, seq: 99999, phase: 'done' });
    assert.deepEqual(parseReportName('52-54-00-AB-CD-EF.2.SHARE.TXT'), { mac: '52:54:00:ab:cd:ef', seq: 2, phase: 'share' }, 'Windows names are case-insensitive');
  });

  it('rejects bodies that are not ours', () => {
    const odd = [
      'phase=winpe\r\nfoo=bar\r\n',
      'phase=winpe\r\nphase=done\r\n',
      'phase=nothing\r\n',
      'hello',
      'reason=a\u0000b',
      'reason=a\u001bb',
      `reason=${'x'.repeat(301)}`,
      `time=${'1'.repeat(65)}`,
      `phase=winpe\r\n${' '.repeat(3000)}`,
    ];
    for (const b of odd) assert.deepEqual(parseReportBody(b), {}, JSON.stringify(b.slice(0, 60)));
  });

  it('never throws on random names and bodies, and returns only valid values', () => {
    let seed = 0x5eed_1234;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return seed % n;
    };
    const alphabet = '0123456789abcdefABCDEF-.:/\\ \r\n\t=%\u0000\u00e9\ufffdtxlogwinpedonefailedsetupact';
    const valid = [reportFileName(MAC, 3, 'setup'), '52-54-00-12-34-56.4.setuperr.log.txt', 'phase=done\r\ntime=now\r\nreason=ok\r\n'];
    for (let n = 0; n < 20_000; n++) {
      let s: string;
      if (n % 2 === 0) {
        s = '';
        const len = rand(70);
        for (let k = 0; k < len; k++) s += alphabet[rand(alphabet.length)];
      } else {
        // Mutations of valid strings find the edges better than noise.
        const chars = [...valid[rand(valid.length)]!];
        for (let k = rand(4); k >= 0; k--) {
          const at = rand(chars.length + 1);
          const op = rand(3);
          if (op === 0) chars.splice(at, 1);
          else if (op === 1) chars.splice(at, 0, alphabet[rand(alphabet.length)]!);
          else chars[at] = alphabet[rand(alphabet.length)]!;
        }
        s = chars.join('');
      }
      const name = parseReportName(s);
      if (name) {
        assert.match(name.mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, s);
        assert.ok(Number.isSafeInteger(name.seq) && name.seq >= 1 && name.seq <= 99_999, s);
        assert.ok((PHASES as readonly string[]).includes(name.phase), s);
        assert.equal(parseReportName(reportFileName(name.mac, name.seq, name.phase)) !== undefined, true);
      }
      const log = parseLogName(s);
      if (log) assert.ok(['setupact', 'setuperr'].includes(log.log) && log.seq >= 1 && log.seq <= 99_999, s);
      const body = parseReportBody(s);
      assert.deepEqual(Object.keys(body).filter((k) => !['phase', 'time', 'reason'].includes(k)), [], s);
      if (body.phase !== undefined) assert.ok((PHASES as readonly string[]).includes(body.phase), s);
      if (body.time !== undefined) assert.ok(body.time.length > 0 && body.time.length <= 64, s);
      if (body.reason !== undefined) assert.ok(body.reason.length > 0 && body.reason.length <= 300 && !/[\u0000-\u001f]/.test(body.reason), s);
    }
  });
});

describe('WinPE plan: input checks', () => {
  const bad: [string, Partial<WinpePlanInput>, RegExp][] = [
    ['a bad MAC', { mac: '52:54:00:12:34' }, /MAC address '52:54:00:12:34'/],
    ['a password with %', { share: { ...input().share, password: 'p%USERNAME%' } }, /share password contains "%"/],
    ['a password with &', { share: { ...input().share, password: 'a&b' } }, /share password contains "&"/],
    ['a password with a line break', { share: { ...input().share, password: 'a\nb' } }, /share password contains "\\n"/],
    ['a password net use would prompt for', { share: { ...input().share, password: '*' } }, /share password must not be empty or "\*"/],
    ['a share with ^', { share: { ...input().share, unc: '\\\\10.0.0.1\\a^b' } }, /share UNC contains "\^"/],
    ['a report share that is not a UNC', { share: { ...input().share, reportUnc: '10.0.0.1\\report' } }, /report share UNC '10\.0\.0\.1\\report' is not of the form/],
    ['a user with a space', { share: { ...input().share, user: 'over night' } }, /share user 'over night'/],
    ['a server with a path', { server: 'http://10.0.0.1/x' }, /server 'http:\/\/10\.0\.0\.1\/x' is not an http:\/\/ base URL/],
    ['a server address that is not IPv4', { serverIp: '10.0.0.300' }, /serverIp '10\.0\.0\.300'/],
    ['a driver named setup.exe', { drivers: [{ name: 'setup.exe', bytes: '' }] }, /driver file 'setup\.exe' clashes with setup\.exe \(a WinPE system file\)/],
    ['a driver named CMD.EXE', { drivers: [{ name: 'CMD.EXE', bytes: '' }] }, /driver file 'CMD\.EXE' clashes with cmd\.exe/],
    ['a driver named like the start script', { drivers: [{ name: 'WinPEshl.ini', bytes: '' }] }, /driver file 'WinPEshl\.ini' clashes with winpeshl\.ini \(an overnight boot file\)/],
    ['a driver named like boot.wim', { drivers: [{ name: 'BOOT.WIM', bytes: '' }] }, /driver file 'BOOT\.WIM' clashes with boot\.wim/],
    ['duplicate drivers differing in case', { drivers: [{ name: 'e1000.inf', bytes: '' }, { name: 'E1000.INF', bytes: '' }] }, /driver file 'E1000\.INF' clashes with driver file 'e1000\.inf'/],
    ['a driver in a folder', { drivers: [{ name: 'nic/e1000.inf', bytes: '' }] }, /driver file 'nic\/e1000\.inf' must be a flat file name/],
    ['a driver with .. ', { drivers: [{ name: '..', bytes: '' }] }, /driver file '\.\.' must be a flat file name/],
    ['a driver that is not a driver file', { drivers: [{ name: 'tool.exe', bytes: '' }] }, /driver file 'tool\.exe' is not a \.inf, \.sys, \.cat or \.dll file/],
    ['a driver name longer than wimboot takes', { drivers: [{ name: `${'a'.repeat(30)}.inf`, bytes: '' }] }, /longer than 31 characters/],
    ['a DOS device name', { drivers: [{ name: 'con.inf', bytes: '' }] }, /DOS device name/],
    ['too many drivers', { drivers: Array.from({ length: 50 }, (_, n) => ({ name: `d${n}.sys`, bytes: '' })) }, /wimboot takes at most 48/],
    ['a media path with ..', { media: { ...input().media, bootWim: 'sources/../x.wim' } }, /media boot\.wim path 'sources\/\.\.\/x\.wim'/],
    ['a media path with a space', { media: { ...input().media, bcd: 'boot/b cd' } }, /media BCD path/],
    ['boot index 0', { media: { ...input().media, bootIndex: 0 } }, /boot index 0/],
    ['no answer file', { answerXml: '' }, /answerXml does not look like an answer file/],
  ];
  for (const [what, over, message] of bad) {
    it(`refuses ${what}`, () => {
      assert.throws(() => winpePlan(input(over)), message);
    });
  }

  it('takes passwords with characters cmd.exe leaves alone inside quotes', () => {
    for (const password of ['a b', 'x!y', "it's", 'p(1)', 'a;b,c=d', 'tab\\x']) {
      const s = text(winpePlan(input({ share: { ...input().share, password } })).files.get('overnight.cmd'));
      assert.ok(s.includes(`set "NETPASS=${password}"\r\n`), password);
    }
    assert.throws(() => winpePlan(input({ share: { ...input().share, password: 'ends\\' } })), /backslash/);
  });
});
