// `overnight serve` as an administrator runs it, in a lab namespace: it identifies and extracts a
// Windows 7 image, starts Samba and the boot servers, and then, from a second namespace:
// - a machine's iPXE script names wimboot and the media files, and each file it names is served
//   byte for byte as the ISO holds it; the injected start script names this server, its share and
//   the deployment credentials; the answer file lints clean with the layout of the firmware;
// - smbclient logs in with the injected credentials, reads setup.exe and install.wim byte-exact,
//   cannot write, and cannot log in with a wrong password;
// - a simulated client reports every phase exactly as the scripts do (files into the report share
//   over SMB in Windows PE, HTTP POSTs from the installed system), and the server records each in
//   order with its time; after "applied" the machine is sent to its local disk;
// - SIGTERM stops everything (no smbd of ours survives), and a restart on the same data folder
//   reuses the extracted share and is ready in under 3 seconds with the records intact;
// - unknown machines follow the policy (known-only, approve);
// - bad input stops it with one clear message each.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lintDocument } from '../src/answer/lint.ts';
import { parseUnattend } from '../src/answer/xml.ts';
import { PHASES, reportFileName } from '../src/boot/winpe.ts';
import { main } from '../src/cli/main.ts';
import { buildWindowsIso, type WindowsMedia } from './helpers/media.ts';
import { Lab, canUseNetns, waitForOutput } from './helpers/netns.ts';
import { standinKernel } from './helpers/standin.ts';
import { run, tempDir } from './helpers/tools.ts';
import { WIN7_PROFILE } from './helpers/serve.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'overnight.js');
const MAC = '52:54:00:5e:00:01';
const STRANGER = '52:54:00:5e:00:99';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const PROFILE = WIN7_PROFILE;

function smbclient(lab: Lab, ns: string, share: string, user: string, password: string, cmd: string): Promise<{ code: number; out: string }> {
  // smbclient prints NT_STATUS_... on standard output, also when it fails: keep both streams.
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns, 'smbclient', share, '-U', `${user}%${password}`, '-m', 'SMB3', '-c', cmd], (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

// Found before the suite is declared: a describe() that awaits before it declares its tests can
// end before they start.
const root = await canUseNetns();

describe('overnight serve', { concurrency: false }, () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let win7: WindowsMedia;
  let loaders: string;
  let profile: string;
  let inventory: string;
  before(async () => {
    tmp = await tempDir();
    // Samba serves the share as an unprivileged account: it must be able to reach the data folder.
    await chmod(tmp.dir, 0o755);
    win7 = await buildWindowsIso(join(tmp.dir, 'iso'), '7-x64');
    profile = join(tmp.dir, 'profile.yaml');
    await writeFile(profile, PROFILE);
    inventory = join(tmp.dir, 'machines.csv');
    await writeFile(inventory, `mac,name\n${MAC},LAB-PC-01\n`);
    // wimboot is not packaged by Debian: the stand-in kernel passes its header checks.
    loaders = join(tmp.dir, 'loaders');
    await mkdir(loaders);
    await copyFile(await standinKernel(), join(loaders, 'wimboot'));
  });
  after(async () => {
    await tmp?.cleanup();
  });

  it('stops with one clear message for each kind of bad input', async () => {
    const notWin = join(tmp.dir, 'linux-tree');
    await mkdir(notWin, { recursive: true });
    await writeFile(join(notWin, 'vmlinuz'), 'x');
    const linuxIso = join(tmp.dir, 'linux.iso');
    await run('genisoimage', ['-quiet', '-J', '-R', '-o', linuxIso, notWin]);
    const corrupt = join(tmp.dir, 'corrupt.iso');
    await writeFile(corrupt, Buffer.alloc(200_000, 0x5a));
    const wrongEdition = join(tmp.dir, 'enterprise.yaml');
    await writeFile(wrongEdition, PROFILE.replace('Windows 7 PROFESSIONAL', 'Windows 7 ENTERPRISE'));
    // Each case with a data folder of its own: what a failed start leaves there is checked too.
    const common = (data: string) => ['--loaders', loaders, '--data', data, '--http-port', '0', '--tftp-port', '0', '--dhcp', 'off'];
    // [arguments, message, whether the copy began: a wrong edition is found while the media are
    // copied (the copy is kept, to resume); every other case stops before a byte is copied.]
    const cases: [string[], RegExp, boolean][] = [
      [['serve', '--iso', corrupt, '--profile', profile], /corrupt\.iso/, false],
      [['serve', '--iso', linuxIso, '--profile', profile], /linux\.iso is not Windows Setup media/, false],
      [['serve', '--iso', win7.iso, '--profile', wrongEdition], /edition "Windows 7 ENTERPRISE" is not on media .*; it has .*"Windows 7 PROFESSIONAL"/, true],
      [['serve', '--iso', win7.iso, '--profile', profile, '--interface', 'nosuch0'], /no interface named nosuch0/, false],
      [['serve', '--iso', win7.iso, '--profile', profile, '--smbd', '/nonexistent/smbd'], /smbd.*apt-get install samba/s, false],
      [['serve', '--iso', win7.iso, '--profile', profile, '--inventory', join(tmp.dir, 'none.csv')], /none\.csv: cannot read the inventory: no such file/, false],
      [['serve', '--profile', profile], /say what to install: --iso/, false],
    ];
    for (const [i, [args, re, copied]] of cases.entries()) {
      const data = join(tmp.dir, `bad-data-${i}`);
      const err: string[] = [];
      const code = await main([...args, ...common(data)], { out: () => {}, err: (s) => err.push(s) });
      assert.equal(code, 2, args.join(' '));
      const text = err.join('\n');
      assert.match(text, re);
      assert.equal(err.filter((l) => l.startsWith('overnight:')).length, 1, `one message, got:\n${text}`);
      const folders = (await readdir(join(data, 'media')).catch(() => [])).filter((n) => n !== 'identities.json');
      if (copied) {
        assert.equal(folders.length, 1, `${args.join(' ')}: the copy begun is kept`);
        // Its record names the media, so the next start resumes it rather than starting over.
        assert.equal(JSON.parse(await readFile(join(data, 'media', folders[0]!, '.overnight-media.json'), 'utf8')).iso, win7.iso);
      } else {
        assert.deepEqual(folders, [], `${args.join(' ')}: nothing copied`);
      }
    }
  });

  it('installs from the share: files, scripts, answer files, SMB, phase reports, restart', { skip: !root && 'needs root for network namespaces', timeout: 240_000 }, async () => {
    const lab = await Lab.create('serve');
    let child: ChildProcess | undefined;
    try {
      const srv = await lab.addHost('srv', '10.96.0.1/24');
      const cli = await lab.addHost('cli', '10.96.0.50/24');
      const data = join(tmp.dir, 'data');
      const args = [BIN, 'serve', '--iso', win7.iso, '--profile', profile, '--inventory', inventory, '--interface', 'eth0', '--data', data, '--loaders', loaders, '--http-port', '8080', '--json'];
      const start = async (extra: string[] = []) => {
        const t0 = performance.now();
        const c = lab.spawn(srv.ns, process.execPath, [...args, ...extra]);
        const out = await waitForOutput(c, /"ready"/, 120_000);
        const ready = JSON.parse(out.split('\n').find((l) => l.includes('"ready"'))!).ready;
        return { child: c, ready, seconds: (performance.now() - t0) / 1000 };
      };
      const first = await start();
      child = first.child;
      const s = first.ready;
      assert.equal(s.interface.name, 'eth0');
      assert.equal(s.dhcp, 'proxy');
      assert.equal(s.media[0].release, 'Windows 7 SP1');
      assert.equal(s.media[0].reused, false);
      assert.equal(s.share.protocol, 'SMB2_10');
      const unc = s.share.uncs[0] as string;
      assert.match(unc, /^\\\\10\.96\.0\.1\\/);
      const shareName = unc.split('\\').pop()!;
      const creds = JSON.parse(await readFile(join(data, 'samba', 'credentials.json'), 'utf8')) as { user: string; password: string };
      const base = 'http://10.96.0.1:8080';
      const injected = { user: '', password: '' };
      const curl = async (url: string, ...more: string[]) => (await lab.exec(cli.ns, 'curl', ['-sS', '--fail-with-body', ...more, url])).stdout;
      // The dashboard's API listens on the server's own loopback only.
      const api = async (path: string) => (await lab.exec(srv.ns, 'curl', ['-sS', '--fail-with-body', `http://127.0.0.1:7780${path}`])).stdout;
      assert.equal((await lab.exec(cli.ns, 'curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `${base}/api/machines`])).stdout, '404', 'the boot server answers no API');
      const curlBytes = async (url: string) => {
        const out = join(tmp.dir, 'dl.bin');
        await lab.exec(cli.ns, 'curl', ['-sS', '--fail', '-o', out, url]);
        return readFile(out);
      };

      // ---- the boot plan, per firmware
      const stub = await curl(`${base}/boot/${MAC}.ipxe`);
      assert.match(stub, /chain http:\/\/10\.96\.0\.1:8080\/boot\/52:54:00:5e:00:01\.ipxe\?platform=\$\{platform\}&buildarch=\$\{buildarch\}/);
      for (const [platform, buildarch, layout] of [['pcbios', 'i386', 'MBR'], ['efi', 'x86_64', 'GPT']] as const) {
        const script = await curl(`${base}/boot/${MAC}.ipxe?platform=${platform}&buildarch=${buildarch}`);
        assert.match(script, /^kernel http:\/\/10\.96\.0\.1:8080\/files\/wimboot index=2 \|\| goto failed$/m);
        const initrds = [...script.matchAll(/^initrd -n (\S+) (\S+) (\S+) \|\| goto failed$/gm)].map((m) => ({ name: m[1]!, url: m[2]!, after: m[3]! }));
        assert.deepEqual(initrds.slice(0, 4).map((i) => i.name), ['bootmgr', 'BCD', 'boot.sdi', 'boot.wim']);
        for (const i of initrds) assert.equal(i.after, i.name, 'initrd -n NAME URL NAME');
        const names = initrds.map((i) => i.name);
        for (const f of ['winpeshl.ini', 'overnight.cmd', 'unattend.xml']) assert.ok(names.includes(f), `${f} injected`);
        // The media files are the ISO's bytes; the wimboot kernel is the loader given.
        for (const [name, rel] of [['bootmgr', 'bootmgr'], ['BCD', 'boot/bcd'], ['boot.sdi', 'boot/boot.sdi'], ['boot.wim', 'sources/boot.wim']]) {
          assert.equal(sha(await curlBytes(initrds.find((i) => i.name === name)!.url)), sha(await readFile(join(win7.tree, rel))), name);
        }
        assert.equal(sha(await curlBytes(`${base}/files/wimboot`)), sha(await readFile(join(loaders, 'wimboot'))));
        const file = async (name: string) => (await curlBytes(initrds.find((i) => i.name === name)!.url)).toString('latin1');
        const cmd = await file('overnight.cmd');
        assert.ok(cmd.includes('10.96.0.1'), 'names the server');
        assert.ok(cmd.includes(unc), 'names the share');
        assert.ok(cmd.includes(creds.password) && cmd.includes(creds.user), 'carries the deployment credentials');
        // The exact account the script's net use gives (SERVER\user), for smbclient below.
        injected.user = /^set "NETUSER=(.+)"\r?$/m.exec(cmd)![1]!;
        injected.password = /^set "NETPASS=(.+)"\r?$/m.exec(cmd)![1]!;
        assert.match(cmd, /setup\.exe" \/unattend:|setup\.exe \/unattend:/);
        assert.match(await file('winpeshl.ini'), /overnight\.cmd/);
        const xml = await file('unattend.xml');
        const ds = lintDocument(parseUnattend(xml).doc, { release: '7', arch: 'amd64', unattendedInstall: true });
        assert.deepEqual(ds.filter((d) => d.severity === 'error'), [], `answer file lints clean (${platform})`);
        assert.match(xml, /<ComputerName>LAB-PC-01<\/ComputerName>/);
        if (layout === 'MBR') {
          assert.match(xml, /<Active>true<\/Active>/);
          assert.doesNotMatch(xml, /<Type>MSR<\/Type>/);
        } else {
          assert.match(xml, /<Type>EFI<\/Type>/);
          assert.match(xml, /<Type>MSR<\/Type>/);
        }
        assert.match(xml, /overnight-report\.cmd specialize/);
      }

      // ---- the share, from the second namespace
      assert.equal(injected.user, `10.96.0.1\\${creds.user}`);
      const smbUnc = `//10.96.0.1/${shareName}`;
      const dl = join(tmp.dir, 'smb');
      await mkdir(dl, { recursive: true });
      const got = await smbclient(lab, cli.ns, smbUnc, injected.user, injected.password, `lcd ${dl}; get setup.exe; cd sources; get install.wim`);
      assert.equal(got.code, 0, got.out);
      assert.equal(sha(await readFile(join(dl, 'setup.exe'))), sha(await readFile(join(win7.tree, 'setup.exe'))));
      assert.equal(sha(await readFile(join(dl, 'install.wim'))), sha(await readFile(join(win7.tree, 'sources/install.wim'))));
      await writeFile(join(dl, 'evil.txt'), 'x');
      const put = await smbclient(lab, cli.ns, smbUnc, injected.user, injected.password, `lcd ${dl}; put evil.txt`);
      assert.match(put.out, /NT_STATUS_(ACCESS_DENIED|MEDIA_WRITE_PROTECTED)/);
      assert.ok(!(await readdir(s.media[0].folder)).includes('evil.txt'));
      const wrong = await smbclient(lab, cli.ns, smbUnc, injected.user, `${injected.password}x`, 'ls');
      assert.match(wrong.out, /NT_STATUS_LOGON_FAILURE/);

      // ---- a simulated client reports every phase as the scripts do
      const reportUnc = '//10.96.0.1/overnight-report$';
      const winpePhases = ['winpe', 'share', 'setup', 'applied'] as const;
      for (const [i, phase] of winpePhases.entries()) {
        const name = reportFileName(MAC, i + 1, phase);
        const local = join(dl, name);
        await writeFile(local, `phase=${phase}\r\ntime=Wed 12/02/2026 22:0${i}:00.00\r\n`);
        // As overnight.cmd does: write NAME.tmp, then rename it to NAME.
        const r = await smbclient(lab, cli.ns, reportUnc, injected.user, injected.password, `lcd ${dl}; put ${name} ${name}.tmp; rename ${name}.tmp ${name}`);
        assert.equal(r.code, 0, r.out);
        await new Promise((res) => setTimeout(res, 50));
      }
      const waitPhase = async (phase: string) => {
        for (let i = 0; i < 100; i++) {
          const ms = JSON.parse(await api(`/api/machines`)) as { mac: string; phase: string }[];
          if (ms.find((m) => m.mac === MAC)?.phase === phase) return;
          await new Promise((res) => setTimeout(res, 100));
        }
        assert.fail(`machine never reached ${phase}`);
      };
      await waitPhase('applied');
      // A network boot after the image is on the disk starts the disk, never a new install.
      const local = await curl(`${base}/boot/${MAC}.ipxe?platform=pcbios&buildarch=i386`);
      assert.match(local, /sanboot --no-describe --drive 0x80/);
      assert.doesNotMatch(local, /wimboot/);
      // The installed system: PowerShell's WebClient.UploadString is a POST with the reason as body.
      for (const phase of ['specialize', 'oobe', 'firstlogon', 'apps', 'done'] as const) {
        await curl(`${base}/report/${MAC}/${phase}`, '-X', 'POST', '-H', 'content-type: application/x-www-form-urlencoded', '--data-binary', phase === 'done' ? 'answer file removed' : '');
      }
      const events = JSON.parse(await api(`/api/events?mac=${MAC}`)) as { phase: string; time: number; source: string }[];
      const phases = events.map((e) => e.phase).filter((p) => p !== 'note');
      assert.deepEqual(phases.slice(-9), ['winpe', 'share', 'setup', 'applied', 'specialize', 'oobe', 'firstlogon', 'apps', 'done']);
      assert.ok(phases.includes('loader'));
      const times = events.map((e) => e.time);
      assert.deepEqual(times, [...times].sort((a, b) => a - b), 'in order with timestamps');
      for (const p of phases) assert.ok(p === 'loader' || (PHASES as readonly string[]).includes(p), p);
      // A report for a phase that does not exist, or from a machine never seen, is refused.
      await assert.rejects(curl(`${base}/report/${MAC}/bogus`, '-X', 'POST', '-d', 'x'), /400/);
      await assert.rejects(curl(`${base}/report/${STRANGER}/done`, '-X', 'POST', '-d', 'x'), /400/);

      // ---- unknown machines (policy all): recorded, and booted
      assert.match(await curl(`${base}/boot/${STRANGER}.ipxe?platform=pcbios&buildarch=i386`), /wimboot/);

      // ---- stop: exit 0, no smbd of ours left, and a report that arrived just before is kept
      const lastName = reportFileName(STRANGER, 1, 'winpe');
      await writeFile(join(dl, lastName), 'phase=winpe\r\ntime=now\r\n');
      const last = await smbclient(lab, cli.ns, reportUnc, injected.user, injected.password, `lcd ${dl}; put ${lastName}`);
      assert.equal(last.code, 0, last.out);
      const confPath = join(data, 'samba', 'smb.conf');
      const exited = new Promise<number | null>((res) => child!.once('exit', (code) => res(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.deepEqual(await processesWith(confPath), [], 'no smbd of ours survives');

      // ---- restart: the share is reused, ready in under 3 s, records intact; policy known-only
      const second = await start(['--unknown', 'known-only']);
      child = second.child;
      assert.equal(second.ready.media[0].reused, true);
      assert.ok(second.seconds < 3, `second start took ${second.seconds.toFixed(2)} s`);
      const after = JSON.parse(await api(`/api/events?mac=${MAC}`)) as unknown[];
      assert.ok(after.length >= events.length, 'records survive the restart');
      const strangerEvents = JSON.parse(await api(`/api/events?mac=${STRANGER}`)) as { phase: string }[];
      assert.ok(strangerEvents.some((e) => e.phase === 'winpe'), 'the report written just before SIGTERM was recorded');
      const refused = await lab.exec(cli.ns, 'curl', ['-sS', `${base}/boot/52:54:00:5e:00:77.ipxe?platform=pcbios&buildarch=i386`]);
      assert.match(refused.stdout, /not in the inventory \(unknown machines: known-only\)/);
      const known = JSON.parse(await api(`/api/machines`)) as { mac: string; known: boolean }[];
      assert.equal(known.find((m) => m.mac === '52:54:00:5e:00:77')?.known, false, 'unknown machines are recorded either way');
      await lab.stop(child);

      // ---- approve: waits until `overnight machines approve`
      const third = await start(['--unknown', 'approve']);
      child = third.child;
      const pending = '52:54:00:5e:00:88';
      assert.match((await lab.exec(cli.ns, 'curl', ['-sS', `${base}/boot/${pending}.ipxe?platform=pcbios`])).stdout, /waits for approval: overnight machines approve 52:54:00:5e:00:88/);
      const err: string[] = [];
      assert.equal(await main(['machines', 'approve', pending, '--data', data], { out: () => {}, err: (t) => err.push(t) }), 0, err.join('\n'));
      assert.match(await curl(`${base}/boot/${pending}.ipxe?platform=pcbios&buildarch=i386`), /wimboot/);
      await lab.stop(child);
    } finally {
      if (child) await lab.stop(child);
      await lab.destroy();
    }
  });

  it('refuses a port 67 another program holds; an external share; WinPE drivers', { skip: !root && 'needs root for network namespaces', timeout: 120_000 }, async () => {
    const lab = await Lab.create('serve2');
    try {
      const srv = await lab.addHost('srv', '10.97.0.1/24');
      const cli = await lab.addHost('cli', '10.97.0.50/24');
      // A DHCP server already on the host (here a plain UDP listener, as dnsmasq would hold it).
      const holder = lab.spawn(srv.ns, process.execPath, ['-e', "require('node:dgram').createSocket({type:'udp4',reuseAddr:true}).bind(67,()=>console.log('bound'))"]);
      await waitForOutput(holder, /bound/, 10_000);
      const data = join(tmp.dir, 'data2');
      const common = [BIN, 'serve', '--iso', win7.iso, '--interface', 'eth0', '--data', data, '--loaders', loaders, '--http-port', '8080', '--tftp-port', '6969'];
      const refused = lab.spawn(srv.ns, process.execPath, [...common, '--profile', profile, '--share', 'external', '--share-unc', '\\\\files\\win7']);
      const msg = await waitForOutput(refused, /UDP port 67 is already in use on this host by node \(pid \d+\)/, 30_000).catch((e: Error) => e.message);
      assert.match(msg, /UDP port 67 is already in use on this host by node \(pid \d+\): stop it/);
      await lab.stop(holder);

      // External share (no Samba): the start script names it; WinPE drivers from a folder beside the profile.
      const drv = join(tmp.dir, 'drivers', 'nic');
      await mkdir(drv, { recursive: true });
      await writeFile(join(drv, 'netlab.inf'), '[Version]\r\nSignature="$Windows NT$"\r\n');
      await writeFile(join(drv, 'netlab.sys'), Buffer.alloc(4096, 7));
      await writeFile(join(drv, 'netlab.cat'), Buffer.alloc(512, 3));
      const withDrivers = join(tmp.dir, 'drivers.yaml');
      await writeFile(withDrivers, `${PROFILE}drivers:\n  winpe: [drivers/nic]\n`);
      const child = lab.spawn(srv.ns, process.execPath, [...common, '--profile', withDrivers, '--dhcp', 'off', '--share', 'external', '--share-unc', '\\\\files\\win7', '--share-user', 'deploy', '--share-password', 'Secret123', '--json']);
      await waitForOutput(child, /"ready"/, 60_000);
      const base = 'http://10.97.0.1:8080';
      const curl = async (url: string) => (await lab.exec(cli.ns, 'curl', ['-sS', '--fail-with-body', url])).stdout;
      const script = await curl(`${base}/boot/${MAC}.ipxe?platform=efi&buildarch=x86_64`);
      for (const f of ['netlab.inf', 'netlab.sys', 'netlab.cat']) assert.match(script, new RegExp(`^initrd -n ${f.replace('.', '\\.')} \\S+ ${f.replace('.', '\\.')} \\|\\| goto failed$`, 'm'));
      const cmd = await curl(`${base}/boot/${MAC}/overnight.cmd`);
      assert.ok(cmd.includes('\\\\files\\win7'), 'names the external share');
      assert.ok(cmd.includes('Secret123') && cmd.includes('deploy'));
      assert.match(cmd, /drvload "%SYS%\\netlab\.inf"/);
      assert.match(cmd, /copy \/y "%SYS%\\netlab\.sys" X:\\overnight\\drivers\\/);
      assert.equal(sha(Buffer.from(await curl(`${base}/boot/${MAC}/netlab.sys`), 'latin1')), sha(Buffer.alloc(4096, 7)));
      const xml = await curl(`${base}/boot/${MAC}/unattend.xml`);
      assert.match(xml, /<Path>X:\\overnight\\drivers<\/Path>/);
      await lab.stop(child);

      // SIGTERM during the start (here as the media are opened): exit 0, nothing of ours left running.
      const early = join(tmp.dir, 'data3');
      const starting = lab.spawn(srv.ns, process.execPath, [BIN, 'serve', '--iso', win7.iso, '--profile', profile, '--interface', 'eth0', '--data', early, '--loaders', loaders, '--http-port', '8081', '--tftp-port', '6970', '--dhcp', 'off']);
      await waitForOutput(starting, /media /, 30_000);
      const code = new Promise<number | null>((res) => starting.once('exit', (c) => res(c)));
      starting.kill('SIGTERM');
      assert.equal(await code, 0);
      assert.deepEqual(await processesWith(join(early, 'samba', 'smb.conf')), [], 'no smbd of ours survives a stop during the start');
    } finally {
      await lab.destroy();
    }
  });
});

/** PIDs of processes whose command line names `needle` (read from /proc; nothing is signalled). */
async function processesWith(needle: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const cmd = await readFile(`/proc/${d}/cmdline`, 'latin1').catch(() => '');
    if (cmd.includes(needle)) out.push(Number(d));
  }
  return out;
}
