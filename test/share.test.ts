// overnight's managed Samba: smb.conf as testparm reads it, refused unsafe values, the share's
// credentials, and the running share in a lab: smbd in one namespace (through
// test/helpers/samba.ts), smbclient in another reading the media byte-exact, refused where it must
// be (writes, wrong password, guests, old dialects), dropping reports, killed and restarted, and
// gone with every process it forked after close.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lowestProtocol, minProtocolFor, smbConf, smbConfGlobals, statePaths, type SmbConfigInput } from '../src/share/config.ts';
import { loadOrCreateCredentials } from '../src/share/credentials.ts';
import { ShareError } from '../src/share/errors.ts';
import { findSamba, groupMembers, startSamba } from '../src/share/samba.ts';
import { Lab, canUseNetns, waitForOutput } from './helpers/netns.ts';
import { tempDir } from './helpers/tools.ts';

const RUNNER = join(import.meta.dirname, 'helpers', 'samba.ts');

/** Runs a program; never throws on a non-zero exit (smbclient's failures are what some tests want). */
function runAny(cmd: string, args: string[]): Promise<{ code: number; out: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 127) : 0;
      resolve({ code, out: stdout + stderr, stdout });
    });
  });
}

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

const hasTool = async (name: string) => (await runAny('sh', ['-c', `command -v ${name}`])).code === 0;

function expectShareError(code: string, re?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof ShareError, `expected a ShareError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  };
}

function baseInput(stateDir: string, over: Partial<SmbConfigInput> = {}): SmbConfigInput {
  const p = statePaths(stateDir);
  return {
    stateDir,
    port: 445,
    netbiosName: 'OVERNIGHT',
    workgroup: 'WORKGROUP',
    minProtocol: 'SMB2_10',
    shares: [
      { name: 'media', path: '/srv/media', comment: 'Windows 7 SP1 x64' },
      { name: 'reports', path: '/srv/reports', writable: true },
    ],
    user: 'overnight',
    unixUser: 'nobody',
    usernameMapFile: p.usernameMap,
    hookScript: p.hook,
    ...over,
  };
}

describe('share: configuration', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir();
  });
  after(async () => {
    await tmp?.cleanup();
  });

  it('picks the dialect each release needs, and the oldest for several', () => {
    assert.equal(minProtocolFor('vista'), 'SMB2_02');
    assert.equal(minProtocolFor('7'), 'SMB2_10');
    assert.equal(minProtocolFor('8'), 'SMB3_00');
    assert.equal(minProtocolFor('8.1'), 'SMB3_02');
    assert.equal(minProtocolFor('10'), 'SMB3_11');
    assert.equal(minProtocolFor('11'), 'SMB3_11');
    assert.equal(lowestProtocol(['SMB3_11', 'SMB2_10', 'SMB3_00']), 'SMB2_10');
    assert.equal(lowestProtocol([minProtocolFor('11')]), 'SMB3_11');
  });

  it('refuses values that would change smb.conf: newline, trailing backslash, %, bad names', () => {
    const d = '/var/lib/overnight/share';
    const cases: [Partial<SmbConfigInput>, RegExp][] = [
      [{ shares: [{ name: 'media', path: '/srv/x\n[evil]\npath = /' }] }, /control character/],
      [{ shares: [{ name: 'media', path: '/srv/x\r\nread only = no' }] }, /control character/],
      [{ shares: [{ name: 'media', path: '/srv/x\\' }] }, /backslash/],
      [{ shares: [{ name: 'media', path: '/srv/%u' }] }, /'%'/],
      [{ shares: [{ name: 'media', path: 'relative/path' }] }, /absolute/],
      [{ shares: [{ name: 'media', path: '/srv/x', comment: 'a\nb' }] }, /control character/],
      [{ shares: [{ name: 'me]dia', path: '/srv/x' }] }, /not allowed/],
      [{ shares: [{ name: 'x'.repeat(81), path: '/srv/x' }] }, /not allowed/],
      [{ shares: [{ name: 'IPC$', path: '/srv/x' }] }, /reserved/],
      [{ shares: [{ name: 'global', path: '/srv/x' }] }, /reserved/],
      [{ shares: [{ name: 'm', path: '/a' }, { name: 'M', path: '/b' }] }, /twice/],
      [{ shares: [] }, /no share/],
      [{ stateDir: '/var/lib/over\nnight' }, /control character/],
      [{ unixUser: 'root' }, /root/],
      [{ unixUser: '@wheel' }, /not allowed/],
      [{ user: 'a b' }, /not allowed/],
      [{ netbiosName: 'A-NAME-LONGER-THAN-15' }, /NetBIOS/],
      [{ addresses: ['10.0.0.1\n'] }, /not allowed/],
      [{ port: 0 }, /port/],
    ];
    for (const [over, re] of cases) {
      assert.throws(() => smbConf(baseInput(d, over)), expectShareError('E_SHARE_CONFIG', re), JSON.stringify(over));
    }
  });

  it('writes the [global] section alone for pdbedit, before the shares are known, with the same checks', () => {
    const d = join(tmp.dir, 'globals');
    const whole = smbConf(baseInput(d));
    const globals = smbConfGlobals(baseInput(d));
    // The same [global] section, and no share section after it.
    assert.ok(whole.startsWith(globals.trimEnd()), 'the whole file starts with the globals');
    assert.equal(globals.match(/^\[/gm)?.join(','), '[');
    assert.match(globals, /passdb backend = tdbsam:/);
    assert.throws(() => smbConfGlobals(baseInput(d, { unixUser: 'root' })), expectShareError('E_SHARE_CONFIG', /root/));
    assert.throws(() => smbConfGlobals(baseInput(d, { port: 0 })), expectShareError('E_SHARE_CONFIG', /port/));
  });

  it('writes an smb.conf that testparm accepts, with every state path in the state folder', { skip: !(process.platform === 'linux') && 'Linux only' }, async (t) => {
    if (!(await hasTool('testparm'))) return t.skip('testparm not installed (apt-get install samba-common-bin)');
    const state = join(tmp.dir, 'state');
    const p = statePaths(state);
    for (const d of [p.private, p.lock, p.state, p.cache, p.pid, p.ncalrpc, p.winbindd, p.binddns, p.usershares, p.log]) await mkdir(d, { recursive: true });
    const conf = smbConf(baseInput(state, { minProtocol: 'SMB3_11', addresses: ['10.0.0.1', 'eth0'], port: 4450, logLevel: 2 }));
    await writeFile(p.conf, conf);
    const r = await runAny('testparm', ['-s', p.conf]);
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /Unknown parameter|Ignoring unknown|ERROR/i, r.out);
    const param = async (name: string, section?: string) => {
      const x = await runAny('testparm', ['-s', `--parameter-name=${name}`, ...(section ? [`--section-name=${section}`] : []), p.conf]);
      assert.equal(x.code, 0, x.out);
      return x.stdout.trim().split('\n').at(-1)!.trim();
    };
    // testparm names SMB3_11 by its alias SMB3 (the newest SMB3 dialect).
    assert.match(await param('server min protocol'), /^SMB3(_11)?$/);
    assert.equal(await param('server role'), 'standalone server');
    assert.equal(await param('map to guest'), 'Never');
    assert.equal(await param('restrict anonymous'), '2');
    assert.equal(await param('smb ports'), '4450');
    assert.equal(await param('bind interfaces only'), 'Yes');
    assert.equal(await param('interfaces'), '10.0.0.1 eth0');
    assert.equal(await param('disable netbios'), 'Yes');
    assert.equal(await param('load printers'), 'No');
    assert.equal(await param('wide links'), 'No');
    assert.equal(await param('follow symlinks', 'media'), 'No');
    assert.equal(await param('passdb backend'), `tdbsam:${p.passdb}`);
    assert.equal(await param('read only', 'media'), 'Yes');
    assert.equal(await param('read only', 'reports'), 'No');
    assert.equal(await param('create mask', 'reports'), '0600');
    assert.equal(await param('directory mask', 'reports'), '0700');
    assert.equal(await param('valid users', 'media'), 'nobody');
    assert.equal(await param('guest ok', 'media'), 'No');
    assert.equal(await param('path', 'media'), '/srv/media');
    assert.match(await param('root preexec', 'media'), /^'.*connect-hook\.sh' connect '%I' '%U' '%S' '%m'$/);
    for (const name of ['private dir', 'lock directory', 'state directory', 'cache directory', 'pid directory', 'ncalrpc dir', 'binddns dir', 'log file', 'usershare path', 'smb passwd file', 'winbindd socket directory']) {
      assert.ok((await param(name)).startsWith(state + '/'), `${name} is inside the state folder`);
    }
  });

  it('makes the share login once and reuses it, in a 0600 file', async () => {
    const dir = join(tmp.dir, 'creds');
    const a = await loadOrCreateCredentials(dir);
    assert.equal(a.user, 'overnight');
    assert.match(a.password, /^[A-Za-z0-9]{20}$/);
    assert.equal((await stat(join(dir, 'credentials.json'))).mode & 0o777, 0o600);
    const b = await loadOrCreateCredentials(dir);
    assert.deepEqual(b, a);
    const c = await loadOrCreateCredentials(join(tmp.dir, 'creds2'));
    assert.notEqual(c.password, a.password);
  });

  it('says how to install Samba when smbd is missing', async () => {
    await assert.rejects(
      startSamba({ stateDir: join(tmp.dir, 'nosmbd'), minProtocol: 'SMB3_11', shares: [{ name: 'media', path: '/srv' }], credentials: { user: 'overnight', password: 'abcdefABCDEF1234' }, smbd: '/nonexistent/smbd' }),
      expectShareError('E_NO_SMBD', /apt-get install samba.*--share external --share-unc \\\\host\\share/s),
    );
  });
});

// What the lab suites need, found before any suite is declared: a describe() that awaits before it
// declares its tests can end before they start.
const IS_ROOT = process.getuid?.() === 0;
const NETNS = await canUseNetns();
const SAMBA = IS_ROOT ? await findSamba().then(() => true, () => false) : false;
const SMBCLIENT = await hasTool('smbclient');

describe('share: managed Samba in a lab', { concurrency: false }, () => {
  const skip = !NETNS ? 'needs root (network namespaces, smbd)' : !SAMBA ? 'smbd not installed (apt-get install samba)' : !SMBCLIENT ? 'smbclient not installed (apt-get install smbclient)' : false;

  let tmp: { dir: string; cleanup: () => Promise<void> };
  let lab: Lab;
  let media: string;
  let reports: string;
  let stateDir: string;
  let password: string;
  let srvIp: string;
  let cliNs: string;
  let runner: ReturnType<Lab['spawn']> | undefined;
  const events: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();

  const options = () => ({
    stateDir,
    minProtocol: 'SMB3_11',
    shares: [
      { name: 'media', path: media, comment: 'test media' },
      { name: 'reports', path: reports, writable: true },
    ],
    credentials: { user: 'overnight', password },
  });

  /** Starts the runner in the server namespace; resolves with its ready line. */
  async function startRunner(opts: object): Promise<{ pid: number; ms: number }> {
    const t0 = Date.now();
    const child = lab.spawn(lab.hosts.get('srv')!.ns, process.execPath, [RUNNER, JSON.stringify(opts)]);
    let buf = '';
    child.stdout!.on('data', (b: Buffer) => {
      buf += b.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('{')) events.push(JSON.parse(line));
        for (const w of waiters) w();
      }
    });
    const text = await waitForOutput(child, /"ready"|"error"/, 30_000);
    const line = text.split('\n').find((l) => l.includes('"ready"') || l.includes('"error"'))!;
    const o = JSON.parse(line);
    if (o.error) throw new Error(`runner: ${o.error.code}: ${o.error.message}`);
    runner = child;
    return { pid: o.ready.pid, ms: Date.now() - t0 };
  }

  function waitEvent(pred: (e: Record<string, unknown>) => boolean, ms = 15_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const e = events.find(pred);
        if (e) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(e);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no matching event within ${ms} ms; last events:\n${events.slice(-15).map((e) => JSON.stringify(e)).join('\n')}`));
      }, ms);
      waiters.add(check);
      check();
    });
  }

  async function stopRunner(): Promise<number | null> {
    const child = runner!;
    runner = undefined;
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    return exited;
  }

  /** smbclient from the client namespace. */
  const smb = (share: string, auth: string[], cmd: string, extra: string[] = []) =>
    runAny('ip', ['netns', 'exec', cliNs, 'smbclient', '--configfile=/dev/null', `//${srvIp}/${share}`, ...auth, '-m', 'SMB3', ...extra, '-c', cmd]);
  const login = () => ['-U', `overnight%${password}`];

  before(async () => {
    if (skip) return;
    tmp = await tempDir();
    // smbd serves as nobody, who must get through every parent folder.
    await chmod(tmp.dir, 0o755);
    media = join(tmp.dir, 'media');
    reports = join(tmp.dir, 'drop', 'reports');
    stateDir = join(tmp.dir, 'state');
    await mkdir(join(media, 'sources'), { recursive: true });
    await mkdir(join(media, 'boot', 'fonts'), { recursive: true });
    await mkdir(join(media, 'Mein Ordner'), { recursive: true });
    await mkdir(join(tmp.dir, 'drop'), { recursive: true });
    await writeFile(join(media, 'sources', 'install.wim'), randomBytes(20 * 1024 * 1024));
    await writeFile(join(media, 'setup.exe'), randomBytes(300_000));
    await writeFile(join(media, 'boot', 'fonts', 'segmono_boot.ttf'), randomBytes(40_000));
    await writeFile(join(media, 'Mein Ordner', 'Grüße ü.txt'), 'non-ASCII name with a space\n');
    password = (await loadOrCreateCredentials(stateDir)).password;
    lab = await Lab.create('smb');
    srvIp = (await lab.addHost('srv', '10.96.0.1/24')).ip!;
    cliNs = (await lab.addHost('cli', '10.96.0.2/24')).ns;
    await startRunner(options());
  });

  after(async () => {
    if (skip) return;
    await lab?.destroy();
    await tmp?.cleanup();
  });

  it('serves the media byte-exact to the right login (SMB3, and signed as Windows 11 asks)', { skip }, async () => {
    const out = join(tmp.dir, 'got');
    await mkdir(out);
    const r = await smb('media', login(), `get setup.exe ${out}/setup.exe; get sources\\install.wim ${out}/install.wim; get "Mein Ordner\\Grüße ü.txt" ${out}/g.txt; get boot\\fonts\\segmono_boot.ttf ${out}/f.ttf`);
    assert.equal(r.code, 0, r.out);
    assert.equal(await sha256(join(out, 'setup.exe')), await sha256(join(media, 'setup.exe')));
    assert.equal(await sha256(join(out, 'install.wim')), await sha256(join(media, 'sources', 'install.wim')));
    assert.equal(await sha256(join(out, 'g.txt')), await sha256(join(media, 'Mein Ordner', 'Grüße ü.txt')));
    assert.equal(await sha256(join(out, 'f.ttf')), await sha256(join(media, 'boot', 'fonts', 'segmono_boot.ttf')));
    // A client that requires signing gets a signed session: the login is a user, not a guest.
    const signed = await smb('media', login(), `get setup.exe ${out}/signed.exe`, ['--client-protection=sign']);
    assert.equal(signed.code, 0, signed.out);
    assert.equal(await sha256(join(out, 'signed.exe')), await sha256(join(media, 'setup.exe')));
    // Case-insensitive names, as Windows asks for them.
    const ci = await smb('media', login(), `get SOURCES\\INSTALL.WIM /dev/null`);
    assert.equal(ci.code, 0, ci.out);
  });

  it('tells which machine connected to which share', { skip }, async () => {
    const e = await waitEvent((e) => e['type'] === 'share.connect' && e['share'] === 'media');
    assert.equal(e['client'], '10.96.0.2');
    assert.equal(e['user'], 'overnight');
    assert.equal(typeof e['machine'], 'string');
  });

  it('refuses writes to the media share', { skip }, async () => {
    const src = join(tmp.dir, 'x.txt');
    await writeFile(src, 'should not land\n');
    const r = await smb('media', login(), `put ${src} x.txt; mkdir newdir; del setup.exe`);
    assert.match(r.out, /NT_STATUS_ACCESS_DENIED|NT_STATUS_MEDIA_WRITE_PROTECTED/);
    assert.deepEqual((await readdir(media)).sort(), ['Mein Ordner', 'boot', 'setup.exe', 'sources']);
  });

  it('refuses a wrong password, guests and anonymous logins', { skip }, async () => {
    const wrong = await smb('media', ['-U', 'overnight%wrongpassword'], 'ls');
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.out, /NT_STATUS_LOGON_FAILURE/);
    const guest = await smb('media', ['-U', 'guest%'], 'ls');
    assert.notEqual(guest.code, 0);
    assert.match(guest.out, /NT_STATUS_LOGON_FAILURE|NT_STATUS_ACCESS_DENIED/);
    const anon = await smb('media', ['-N'], 'ls');
    assert.notEqual(anon.code, 0);
    assert.match(anon.out, /NT_STATUS_ACCESS_DENIED|NT_STATUS_LOGON_FAILURE/);
    // The account's own name with an empty password does not get in either.
    const blank = await smb('media', ['-U', 'nobody%'], 'ls');
    assert.notEqual(blank.code, 0);
  });

  it('refuses clients below the minimum dialect', { skip }, async () => {
    const old = await smb('media', login(), 'ls', ['--option=client max protocol=SMB2_10']);
    assert.notEqual(old.code, 0, old.out);
    assert.match(old.out, /protocol negotiation failed: NT_STATUS_NOT_SUPPORTED/);
    const cur = await smb('media', login(), 'ls');
    assert.equal(cur.code, 0, cur.out);
  });

  it('takes reports only inside the report folder', { skip }, async () => {
    const src = join(tmp.dir, 'report.txt');
    await writeFile(src, 'machine 1 done\n');
    // smbclient cleans '..' out of names before sending them (so do Windows clients), and smbd
    // refuses '..' in a path: these land inside the share, or nowhere.
    const r = await smb('reports', login(), `put ${src} m1.txt; mkdir sub; put ${src} sub\\m2.txt; put ${src} ..\\..\\evil1; put ${src} ../../evil2; put ${src} \\..\\evil3`);
    assert.match(r.out, /putting file .* as \\m1\.txt/);
    const st = await stat(join(reports, 'm1.txt'));
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, 65534);
    assert.equal(await readFile(join(reports, 'sub', 'm2.txt'), 'utf8'), 'machine 1 done\n');
    for (const dir of [join(tmp.dir, 'drop'), tmp.dir, media]) {
      assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('evil')), [], dir);
    }
    // The way out that smbd could be asked for: a symlink in the folder pointing elsewhere.
    const outside = join(tmp.dir, 'outside');
    await mkdir(outside, { recursive: true });
    await chmod(outside, 0o777);
    await symlink(outside, join(reports, 'out'));
    const viaLink = await smb('reports', login(), `put ${src} out\\evil4`);
    assert.match(viaLink.out, /NT_STATUS_(OBJECT_PATH_NOT_FOUND|ACCESS_DENIED|OBJECT_NAME_NOT_FOUND|STOPPED_ON_SYMLINK)/);
    assert.deepEqual(await readdir(outside), []);
  });

  it('does not follow symlinks out of the media share', { skip }, async () => {
    const secret = join(tmp.dir, 'secret');
    await mkdir(secret, { recursive: true });
    await writeFile(join(secret, 'key.txt'), 'not for clients\n');
    await chmod(join(secret, 'key.txt'), 0o644);
    await symlink(secret, join(media, 'escape'));
    await symlink(join(secret, 'key.txt'), join(media, 'key.txt'));
    try {
      const dirLink = await smb('media', login(), 'get escape\\key.txt /dev/null');
      assert.match(dirLink.out, /NT_STATUS_(OBJECT_PATH_NOT_FOUND|ACCESS_DENIED|OBJECT_NAME_NOT_FOUND|STOPPED_ON_SYMLINK)/);
      const fileLink = await smb('media', login(), 'get key.txt /dev/null');
      assert.match(fileLink.out, /NT_STATUS_(OBJECT_PATH_NOT_FOUND|ACCESS_DENIED|OBJECT_NAME_NOT_FOUND|STOPPED_ON_SYMLINK)/);
    } finally {
      await rm(join(media, 'escape'));
      await rm(join(media, 'key.txt'));
    }
  });

  it('refuses a second share on a port that is taken', { skip }, async () => {
    await assert.rejects(startRunner({ ...options(), stateDir: join(tmp.dir, 'state2') }), /E_PORT: SMB port 445 is already in use.*--smb-port/);
  });

  it('restarts smbd killed with SIGKILL, and serves again', { skip }, async () => {
    const start = (await waitEvent((e) => e['type'] === 'share.start')) as { pid: number };
    process.kill(start.pid, 'SIGKILL');
    const exit = await waitEvent((e) => e['type'] === 'share.exit' && e['pid'] === start.pid);
    assert.equal(exit['restarting'], true);
    assert.equal(exit['signal'], 'SIGKILL');
    const again = (await waitEvent((e) => e['type'] === 'share.start' && e['pid'] !== start.pid)) as { pid: number };
    assert.notEqual(again.pid, start.pid);
    // The killed smbd's forks went with it.
    assert.deepEqual(await groupMembers(start.pid), []);
    const r = await smb('media', login(), 'get setup.exe /dev/null');
    assert.equal(r.code, 0, r.out);
  });

  it('leaves no process behind on close, and starts again quickly', { skip }, async () => {
    // Share enumeration makes smbd start samba-dcerpcd, which leaves smbd's process group.
    const list = await runAny('ip', ['netns', 'exec', cliNs, 'smbclient', '--configfile=/dev/null', '-L', `//${srvIp}`, '-U', `overnight%${password}`, '-m', 'SMB3']);
    assert.match(list.out, /media\s+Disk/);
    const dcerpcd = Number((await readFile(join(stateDir, 'run', 'samba-dcerpcd.pid'), 'utf8').catch(() => '0')).trim());
    const pid = events.filter((e) => e['type'] === 'share.start').at(-1)!['pid'] as number;
    assert.ok((await groupMembers(pid)).length >= 1);
    assert.equal(await stopRunner(), 0);
    assert.ok(events.some((e) => e['closed'] === true));
    assert.ok(events.some((e) => e['type'] === 'share.exit' && e['pid'] === pid && e['restarting'] === false));
    assert.deepEqual(await groupMembers(pid), []);
    if (dcerpcd > 0) {
      assert.deepEqual(await groupMembers(dcerpcd), []);
      assert.equal(await readFile(`/proc/${dcerpcd}/cmdline`, 'utf8').then((t) => t.includes(stateDir), () => false), false);
    }
    // A restart of serve: same state folder, password already set once.
    const again = await startRunner(options());
    assert.ok(again.ms < 3000, `ready after ${again.ms} ms`);
    const r = await smb('media', login(), 'get setup.exe /dev/null');
    assert.equal(r.code, 0, r.out);
    assert.equal(await stopRunner(), 0);
    assert.deepEqual(await groupMembers(again.pid), []);
  });
});

describe('share: refusals before smbd starts', { concurrency: false }, () => {
  const skip = !IS_ROOT ? 'needs root' : !SAMBA ? 'smbd not installed (apt-get install samba)' : false;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir();
    await chmod(tmp.dir, 0o755);
  });
  after(async () => {
    await tmp?.cleanup();
  });

  it('refuses a port that is in use, naming it', { skip }, async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen({ port: 0, host: '127.0.0.1' }, r));
    const port = (holder.address() as { port: number }).port;
    await mkdir(join(tmp.dir, 'm1'));
    try {
      await assert.rejects(
        startSamba({ stateDir: join(tmp.dir, 's1'), port, addresses: ['127.0.0.1'], minProtocol: 'SMB3_11', shares: [{ name: 'media', path: join(tmp.dir, 'm1') }], credentials: { user: 'overnight', password: 'abcdefABCDEF1234' } }),
        expectShareError('E_PORT', new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use.*--smb-port`)),
      );
    } finally {
      holder.close();
    }
  });

  it('reports an smbd that exits at start, or never listens, with its last lines, and leaves nothing running', { skip }, async () => {
    await mkdir(join(tmp.dir, 'm3'), { recursive: true });
    const fake = join(tmp.dir, 'fake-smbd');
    const pids = join(tmp.dir, 'fake.pid');
    await writeFile(fake, `#!/bin/sh\ncase "$1" in --version) echo 'Version 4.17.99-fake'; exit 0;; esac\necho $$ > '${pids}'\necho 'fake smbd: something broke'\n[ -e '${pids}.hang' ] && exec sleep 60\nexit 1\n`);
    await chmod(fake, 0o755);
    const opts = { stateDir: join(tmp.dir, 's3'), port: 14451, addresses: ['127.0.0.1'], minProtocol: 'SMB3_11' as const, shares: [{ name: 'media', path: join(tmp.dir, 'm3') }], credentials: { user: 'overnight', password: 'abcdefABCDEF1234' }, smbd: fake };
    await assert.rejects(startSamba(opts), expectShareError('E_SMBD_START', /exited at start \(code 1\).*fake smbd: something broke/s));
    await writeFile(`${pids}.hang`, '');
    await assert.rejects(startSamba({ ...opts, startTimeoutMs: 500 }), expectShareError('E_SMBD_START', /did not listen on port 14451 within 500 ms.*something broke/s));
    const pid = Number((await readFile(pids, 'utf8')).trim());
    assert.deepEqual(await groupMembers(pid), []);
  });

  it('refuses media the share account cannot read', { skip }, async () => {
    const hidden = join(tmp.dir, 'private');
    await mkdir(join(hidden, 'media'), { recursive: true });
    await chmod(hidden, 0o700);
    await assert.rejects(
      startSamba({ stateDir: join(tmp.dir, 's2'), port: 14450, addresses: ['127.0.0.1'], minProtocol: 'SMB3_11', shares: [{ name: 'media', path: join(hidden, 'media') }], credentials: { user: 'overnight', password: 'abcdefABCDEF1234' } }),
      expectShareError('E_SHARE_CONFIG', /serves it as nobody.*does not let uid 65534 through/),
    );
  });
});
