// `overnight simulate`: virtual PXE clients against the real `overnight serve`.
// - Pure parts: iPXE script decisions (on the scripts overnight itself writes), the timings and
//   failures (repeatable per seed, medians as documented), magic packets, MAC lists, and the DHCP
//   requests, read by overnight's own DHCP decision code as a PXE ROM's and iPXE's.
// - In network namespaces: `overnight serve` (ProxyDHCP beside a dnsmasq site server) in one,
//   `overnight simulate` in another. Every machine goes dhcp → loader → every phase → done in the
//   server's records, with its firmware; --fail-rate makes exactly the machines the seed says fail,
//   with their reasons; a machine already installed is sent to its disk and goes idle.
// - Full DHCP mode and Wake-on-LAN: machines started with --wait-for-wake stay silent until a magic
//   packet for one of them, sent from the server's namespace, and then exactly that one installs.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { serveFixture } from './helpers/fleet-lab.ts';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bootScript, messageScript } from '../src/boot/ipxe.ts';
import { ipxePolicy } from '../src/boot/policy.ts';
import { main } from '../src/cli/main.ts';
import { encodeMessage, parseMessage } from '../src/net/dhcp/codec.ts';
import { classify } from '../src/net/dhcp/pxe.ts';
import { respond } from '../src/net/dhcp/respond.ts';
import { clientMessage, offerInfo, uuidFor } from '../src/simulate/dhcp-client.ts';
import { ipxeVars, parseIpxeScript } from '../src/simulate/ipxe-script.ts';
import { SIM_STATES } from '../src/simulate/machine.ts';
import { firmwareFor, macsFromPrefix, parseMacList } from '../src/simulate/simulator.ts';
import { FAILURES, PHASE_TIMINGS, REPORTED_PHASES, machineTimings } from '../src/simulate/timings.ts';
import { parseMagicPacket } from '../src/fleet/wol.ts';
import { Store } from '../src/store/store.ts';
import { Lab, type LabHost, canUseNetns, waitForOutput } from './helpers/netns.ts';
import { tempDir } from './helpers/tools.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'overnight.js');
const INSTALL = ['winpe', 'share', 'setup', 'applied', 'specialize', 'oobe', 'firstlogon', 'apps', 'done'];

// Found before the suites are declared: a describe() that awaits before it declares its tests can
// end before they start.
const root = await canUseNetns();

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s + '\n'), err: (s) => (err += s + '\n') });
  return { code, out, err };
}


describe('simulate: iPXE scripts', () => {
  const vars = ipxeVars('02:00:5e:00:00:01', 'uefi', '00000000-0000-4000-8000-000000000000', '10.0.0.5');

  it("follows serve's platform stub with ${platform} and ${buildarch} filled in as iPXE does", () => {
    const stub = `#!ipxe\nchain http://10.0.0.1/boot/02:00:5e:00:00:01.ipxe?platform=\${platform}&buildarch=\${buildarch} || goto failed\nexit\n:failed\necho overnight: could not fetch the boot script from http://10.0.0.1\nprompt --timeout 60000 Press a key for the iPXE shell || reboot\nshell\n`;
    assert.deepEqual(parseIpxeScript(stub, vars), { kind: 'chain', url: 'http://10.0.0.1/boot/02:00:5e:00:00:01.ipxe?platform=efi&buildarch=x86_64' });
    const bios = ipxeVars('02:00:5e:00:00:02', 'bios', '', '10.0.0.5');
    assert.equal((parseIpxeScript(stub, bios) as { url: string }).url, 'http://10.0.0.1/boot/02:00:5e:00:00:01.ipxe?platform=pcbios&buildarch=i386');
  });

  it('reads the kernel and every initrd of the wimboot script bootScript() writes', () => {
    const initrds = [
      { name: 'bootmgr', url: 'http://10.0.0.1/media/win7/bootmgr' },
      { name: 'BCD', url: 'http://10.0.0.1/media/win7/boot/bcd' },
      { name: 'boot.wim', url: 'http://10.0.0.1/media/win7/sources/boot.wim' },
      { name: 'overnight.cmd', url: 'http://10.0.0.1/boot/02:00:5e:00:00:01/overnight.cmd' },
    ];
    const script = bootScript({ mac: '02:00:5e:00:00:01', title: 'Windows 7 PE', kernel: { url: 'http://10.0.0.1/files/wimboot', args: 'index=2' }, initrds, server: 'http://10.0.0.1' });
    assert.deepEqual(parseIpxeScript(script, vars), { kind: 'boot', kernel: { name: 'wimboot', url: 'http://10.0.0.1/files/wimboot', args: 'index=2' }, initrds });
  });

  it("takes serve's local-boot script as a boot from the disk, and a message script as a message", () => {
    const local = ['#!ipxe', 'echo overnight: Windows is installed on 02:00:5e:00:00:01 (done); starting it from the local disk.', 'sleep 3', 'iseq ${platform} pcbios && sanboot --no-describe --drive 0x80 ||', 'exit', ''].join('\n');
    assert.deepEqual(parseIpxeScript(local, vars), { kind: 'local', how: 'sanboot' });
    assert.deepEqual(parseIpxeScript('#!ipxe\necho bye\nexit\n', vars), { kind: 'local', how: 'exit' });
    const msg = parseIpxeScript(messageScript('overnight: 02:00:5e:00:00:01 waits for approval: overnight machines approve 02:00:5e:00:00:01'), vars);
    assert.equal(msg.kind, 'message');
    assert.match((msg as { text: string }).text, /waits for approval/);
    assert.equal(parseIpxeScript('<html>404</html>', vars).kind, 'invalid');
    assert.equal(parseIpxeScript('#!ipxe\ninitrd http://x/a\nboot\n', vars).kind, 'invalid');
  });
});

describe('simulate: timings and failures', () => {
  it('are the same for the same seed and machine, and differ between machines and seeds', () => {
    assert.deepEqual(machineTimings(7, 3, 0.5), machineTimings(7, 3, 0.5));
    assert.notDeepEqual(machineTimings(7, 3, 0).delays, machineTimings(7, 4, 0).delays);
    assert.notDeepEqual(machineTimings(7, 3, 0).delays, machineTimings(8, 3, 0).delays);
    // --fail-rate changes who fails, never how long the others take.
    assert.deepEqual(machineTimings(7, 3, 0).delays, machineTimings(7, 3, 1).delays);
  });

  it('center on the documented medians with a log-normal spread', () => {
    const n = 4000;
    for (const p of REPORTED_PHASES) {
      const v = Array.from({ length: n }, (_, i) => machineTimings(1, i, 0).delays[p] / 1000).sort((a, b) => a - b);
      const median = v[n / 2]!;
      assert.ok(Math.abs(median / PHASE_TIMINGS[p].median - 1) < 0.06, `${p}: median ${median.toFixed(1)} s, documented ${PHASE_TIMINGS[p].median} s`);
      assert.ok(v[0]! > 0, `${p}: positive`);
      // ±3 sigma at most, of the phase and of the hardware factor together.
      assert.ok(v[n - 1]! < PHASE_TIMINGS[p].median * Math.exp(3 * (PHASE_TIMINGS[p].sigma + 0.1)) + 1, `${p}: no absurd tail`);
    }
    // Applying the image: 8-12 minutes for most machines.
    const applied = Array.from({ length: n }, (_, i) => machineTimings(2, i, 0).delays.applied / 60_000);
    const inRange = applied.filter((m) => m >= 8 && m <= 12).length / n;
    assert.ok(inRange > 0.75, `${(inRange * 100).toFixed(0)}% of installs apply the image in 8-12 min`);
  });

  it('fail the share of machines --fail-rate says, with a reason from the catalogue, part way into a phase', () => {
    const n = 4000;
    assert.equal(Array.from({ length: n }, (_, i) => machineTimings(3, i, 0).failure).filter(Boolean).length, 0);
    assert.equal(Array.from({ length: 200 }, (_, i) => machineTimings(3, i, 1).failure).filter(Boolean).length, 200);
    const failures = Array.from({ length: n }, (_, i) => machineTimings(3, i, 0.05)).filter((t) => t.failure);
    assert.ok(failures.length > n * 0.04 && failures.length < n * 0.06, `${failures.length} of ${n} failed at 5%`);
    for (const t of failures) {
      const f = t.failure!;
      assert.ok(FAILURES.some((x) => x.after === f.after && x.reason === f.reason));
      const next = f.after === 'loader' ? 'winpe' : REPORTED_PHASES[REPORTED_PHASES.indexOf(f.after) + 1]!;
      assert.ok(f.delay > 0 && f.delay < t.delays[next], 'within the phase it fails in');
    }
    const reasons = new Set(failures.map((t) => t.failure!.reason));
    assert.equal(reasons.size, FAILURES.length, 'every kind of failure occurs');
    assert.ok(failures.filter((t) => t.failure!.reason.startsWith('setup.exe')).length > failures.length / 3, 'Setup failures are the most common');
  });
});

describe('simulate: magic packets, MACs', () => {
  const packet = (mac: string) => Buffer.concat([Buffer.alloc(6, 0xff), ...Array.from({ length: 16 }, () => Buffer.from(mac.replaceAll(':', ''), 'hex'))]);

  it('reads exactly a magic packet, with or without a SecureOn password', () => {
    const good = packet('02:00:5e:00:00:07');
    assert.equal(parseMagicPacket(good), '02:00:5e:00:00:07');
    assert.equal(parseMagicPacket(Buffer.concat([good, Buffer.from([1, 2, 3, 4])])), '02:00:5e:00:00:07');
    assert.equal(parseMagicPacket(Buffer.concat([good, Buffer.alloc(6, 9)])), '02:00:5e:00:00:07');
    assert.equal(parseMagicPacket(Buffer.concat([good, Buffer.alloc(1)])), undefined, 'length');
    assert.equal(parseMagicPacket(good.subarray(0, 101)), undefined, 'short');
    for (const at of [0, 5, 6 + 8 * 6, 101]) {
      const b = Buffer.from(good);
      b[at]! ^= 0x10;
      assert.equal(parseMagicPacket(b), undefined, `byte ${at} changed`);
    }
    assert.equal(parseMagicPacket(packet('ff:ff:ff:ff:ff:ff')), undefined, 'broadcast');
    assert.equal(parseMagicPacket(packet('01:00:5e:00:00:01')), undefined, 'multicast');
    assert.equal(parseMagicPacket(packet('00:00:00:00:00:00')), undefined, 'zero');
  });

  it('generates MACs from a prefix and reads them from a list or an inventory', () => {
    assert.deepEqual(macsFromPrefix('02:00:5e', 3), ['02:00:5e:00:00:01', '02:00:5e:00:00:02', '02:00:5e:00:00:03']);
    assert.equal(macsFromPrefix('02-AA-bb-cc-dd', 255).at(-1), '02:aa:bb:cc:dd:ff');
    assert.throws(() => macsFromPrefix('02-AA-bb-cc-dd', 256), /room for 255 machines, not 256/);
    assert.throws(() => macsFromPrefix('03:00', 1), /multicast/);
    assert.throws(() => macsFromPrefix('zz', 1), /not 1 to 5 octets/);
    assert.deepEqual(parseMacList('mac,name\n52:54:00:00:00:01,PC-1\n# spare\n52-54-00-00-00-02,PC-2\n\n525400000003\n', 'm.csv'), ['52:54:00:00:00:01', '52:54:00:00:00:02', '52:54:00:00:00:03']);
    assert.throws(() => parseMacList('52:54:00:00:00:01\n52:54:00:00:00:01\n', 'm.txt'), /m\.txt:2: 52:54:00:00:00:01 is already on line 1/);
    assert.throws(() => parseMacList('52:54:00:00:00:01\nnonsense\n', 'm.txt'), /m\.txt:2: "nonsense" is not a MAC address/);
    assert.deepEqual([0, 1, 2, 3].map((i) => firmwareFor('mixed', i)), ['bios', 'uefi', 'bios', 'uefi']);
  });
});

describe("simulate: DHCP requests, as overnight's own DHCP decisions read them", () => {
  const policy = ipxePolicy({ httpPort: 8080 });
  const ctx = { mode: 'proxy' as const, interface: 'eth0', serverIp: '10.0.0.1', netmask: '255.255.255.0', policy };
  for (const firmware of ['bios', 'uefi'] as const) {
    it(`${firmware}: the ROM gets its loader (BIOS in the offer, UEFI from port 4011), iPXE its script`, () => {
      const id = { mac: '02:00:5e:00:00:09', firmware, uuid: uuidFor('02:00:5e:00:00:09') };
      const rom = parseMessage(encodeMessage(clientMessage(id, 'rom', 'DISCOVER', { xid: 0x1234, secs: 0 })));
      const kind = classify(rom);
      assert.equal(kind.firmware, firmware === 'bios' ? 'bios' : 'efi-x64');
      assert.equal(kind.ipxe, false);
      assert.equal(kind.netboot, true);
      const offer = respond(rom, { ...ctx, port: 67 });
      assert.equal(offer.event.type, 'dhcp.offer');
      const info = offerInfo(parseMessage(encodeMessage(offer.reply!)));
      assert.equal(info.yiaddr, '0.0.0.0');
      assert.equal(info.boot, true);
      assert.equal(info.bootFile, firmware === 'bios' ? 'undionly.kpxe' : 'ipxe.efi');
      assert.equal(info.bootNow, firmware === 'bios', 'BIOS ROMs boot the offer; UEFI asks port 4011');
      const ask = parseMessage(encodeMessage(clientMessage(id, 'rom', 'REQUEST', { xid: 0x1234, secs: 1, ciaddr: '10.0.0.50' })));
      const ack = respond(ask, { ...ctx, port: 4011 });
      assert.equal(ack.to, 'source');
      assert.equal(offerInfo(ack.reply!).bootFile, info.bootFile);

      const ipxe = parseMessage(encodeMessage(clientMessage(id, 'ipxe', 'DISCOVER', { xid: 0x5678, secs: 0 })));
      assert.equal(classify(ipxe).ipxe, true);
      assert.equal(classify(ipxe).firmware, firmware === 'bios' ? 'bios' : 'efi-x64');
      assert.equal(offerInfo(respond(ipxe, { ...ctx, port: 67 }).reply!).bootFile, 'http://10.0.0.1:8080/boot/02:00:5e:00:00:09.ipxe');
    });
  }
});

describe('simulate: flags', () => {
  it('refuses bad flags with one clear message each', async () => {
    const cases: [string[], RegExp][] = [
      [['simulate'], /say how many machines: --machines N/],
      [['simulate', '--machines', '0'], /--machines "0": must be at least 1/],
      [['simulate', '--machines', '2.5'], /--machines "2.5": not a whole number/],
      [['simulate', '--machines', '3', '--speed', '0'], /--speed "0": must be at least 0\.01/],
      [['simulate', '--machines', '3', '--fail-rate', '1.5'], /--fail-rate "1.5": must be at most 1/],
      [['simulate', '--machines', '3', '--fail-rate', 'lots'], /--fail-rate "lots": not a number/],
      [['simulate', '--machines', '3', '--server', '10.0.0.300'], /--server "10.0.0.300": not an IPv4 address/],
      [['simulate', '--machines', '3', '--mac-prefix', '01:00:5e'], /multicast prefix/],
      [['simulate', '--machines', '3', '--duration', '-1'], /--duration "-1": must be above 0/],
      [['simulate', '--machines', '3', '--macs', '/nonexistent/macs.txt'], /cannot read --macs \/nonexistent\/macs\.txt: ENOENT/],
      [['simulate', '--machines', '3', '--firmware', 'arm'], /argument 'arm' is invalid/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, re, args.join(' '));
    }
  });
});

interface Line {
  time?: string;
  mac?: string;
  event?: string;
  detail?: string | null;
  summary?: {
    machines: number;
    states: Record<string, number>;
    dhcp: { sent: number; received: number; bad: number; timeouts: number };
    tftp: { transfers: number; bytes: number; errors: number };
    http: { requests: number; errors: number };
    reports: { sent: number; errors: number };
    wol: { woke: number; ignored: number; unknown: number };
    ownAddresses?: { added: number; failed: number };
    failed: { mac: string; after: string; reason: string }[];
  };
}

/** Starts `overnight serve` in `ns`, resolves once it is ready; its output is kept (and drained) in `log`. */
async function startServe(lab: Lab, ns: string, args: string[]): Promise<{ child: ChildProcess; log: { text: string } }> {
  const child = lab.spawn(ns, process.execPath, [BIN, 'serve', ...args, '--json']);
  const log = { text: '' };
  await waitForOutput(child, /"ready"/, 60_000);
  child.stdout!.on('data', (b: Buffer) => (log.text = (log.text + b.toString('utf8')).slice(-200_000)));
  child.stderr!.on('data', (b: Buffer) => (log.text = (log.text + b.toString('utf8')).slice(-200_000)));
  return { child, log };
}

/** Runs `overnight simulate` in `ns` to its end; its JSON lines and its exit code. */
function simulate(lab: Lab, ns: string, args: string[]): Promise<{ code: number | null; lines: Line[]; stderr: string; seconds: number }> {
  const t0 = performance.now();
  const child = lab.spawn(ns, process.execPath, [BIN, 'simulate', ...args, '--json']);
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString('utf8')));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString('utf8')));
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
      resolve({ code, lines, stderr: err, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

interface Record_ {
  mac: string;
  /** MachineView: the address of its last HTTP request. */
  address?: string | null;
  /** MachineView: where it stands ('failed', 'done', ...); older records only had phase. */
  state?: string | null;
  phase?: string | null;
  firmware?: string | null;
  failure?: string | { reason: string } | null;
}

async function records(data: string): Promise<Map<string, Record_>> {
  const r = await cli('machines', 'list', '--json', '--data', data);
  assert.equal(r.code, 0, r.err);
  return new Map((JSON.parse(r.out) as Record_[]).map((m) => [m.mac, m]));
}

/** A machine's recorded phases in order: notes (and other non-phase events) left out. */
async function phasesOf(data: string, mac: string): Promise<string[]> {
  const r = await cli('machines', 'events', mac, '--json', '--data', data);
  assert.equal(r.code, 0, r.err);
  const known = new Set(['dhcp', 'discovered', 'loader', 'failed', ...INSTALL]);
  return (JSON.parse(r.out) as { phase: string }[]).map((e) => e.phase).filter((p) => known.has(p));
}

const stateOf = (m: Record_ | undefined) => m?.state ?? m?.phase;
const reasonOf = (m: Record_ | undefined) => (typeof m?.failure === 'string' ? m.failure : (m?.failure?.reason ?? ''));

describe('simulate against overnight serve (ProxyDHCP beside a site DHCP server)', { skip: !root && 'needs root for network namespaces', concurrency: false }, () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let lab: Lab | undefined;
  let sim: LabHost;
  let serve: { child: ChildProcess; log: { text: string } } | undefined;
  let data: string;
  const SERVER = '10.98.0.1';

  before(async () => {
    tmp = await tempDir('overnight-simulate-');
    // Samba serves the share as an unprivileged account: it must be able to reach the data folder.
    await chmod(tmp.dir, 0o755);
    const { iso, profile, loaders } = await serveFixture(tmp.dir);
    data = join(tmp.dir, 'data');

    lab = await Lab.create('sim');
    const srv = await lab.addHost('srv', `${SERVER}/24`);
    sim = await lab.addHost('sim', '10.98.0.50/24');
    const site = await lab.addHost('site', '10.98.0.2/24');
    // --no-ping: dnsmasq otherwise pings each new address for 3 s before offering it, one at a time.
    const dnsmasq = lab.spawn(site.ns, 'dnsmasq', ['--keep-in-foreground', '--no-daemon', '--port=0', '--bind-interfaces', '--interface=eth0', '--user=root', '--no-ping', '--dhcp-range=10.98.0.100,10.98.0.199,1h', `--dhcp-leasefile=${join(tmp.dir, 'site.leases')}`]);
    await waitForOutput(dnsmasq, /DHCP, IP range/, 10_000);
    dnsmasq.stdout!.resume();
    dnsmasq.stderr!.resume();
    serve = await startServe(lab, srv.ns, ['--iso', iso, '--profile', profile, '--interface', 'eth0', '--data', data, '--loaders', loaders, '--http-port', '8080']);
  });

  after(async () => {
    if (lab && serve) await lab.stop(serve.child);
    await lab?.destroy();
    await tmp?.cleanup();
  });

  it('20 machines, BIOS and UEFI alternately: dhcp, loader and every phase to done in the records', { timeout: 60_000 }, async () => {
    const r = await simulate(lab!, sim.ns, ['--machines', '20', '--speed', '600', '--seed', '11', '--server', SERVER, '--own-addresses', '--duration', '45']);
    assert.equal(r.code, 0, r.stderr);
    const s = r.lines.at(-1)!.summary!;
    assert.ok(s, 'a summary last');
    assert.equal(s.states['done'], 20, `${JSON.stringify(s.states)}\n${r.stderr.slice(-3000)}`);
    const trouble = r.lines.filter((l) => l.event === 'waiting' || l.event === 'error').map((l) => `${l.mac} ${l.event}: ${l.detail}`).join('\n');
    assert.equal(s.tftp.transfers, 20);
    assert.equal(s.tftp.errors, 0, trouble);
    assert.equal(s.http.errors, 0);
    assert.equal(s.reports.sent, 20 * INSTALL.length);
    assert.equal(s.reports.errors, 0);
    assert.equal(s.dhcp.bad, 0);
    const macs = macsFromPrefix('02:00:5e', 20);
    // Each machine's own transitions, in order, in the simulator's log.
    for (const mac of macs) {
      const states = r.lines.filter((l) => l.mac === mac && (SIM_STATES as readonly string[]).includes(l.event!)).map((l) => l.event);
      assert.deepEqual(states, ['dhcp', 'tftp', 'ipxe', 'loading', 'booting', ...INSTALL], mac);
    }
    // --own-addresses: each machine's TFTP and HTTP came from the address the site server leased it.
    assert.equal(s.ownAddresses?.added, 20);
    assert.deepEqual((await lab!.exec(sim.ns, 'ip', ['-4', '-o', 'address', 'show', 'dev', 'eth0'])).stdout.match(/inet \S+/g), ['inet 10.98.0.50/24'], 'removed again');
    const recs = await records(data);
    const addresses = new Set(macs.map((mac) => recs.get(mac)?.address));
    assert.equal(addresses.size, 20, 'one address per machine');
    for (const a of addresses) assert.match(String(a), /^10\.98\.0\.1\d\d$/, 'from the site pool');
    for (const [i, mac] of macs.entries()) {
      const m = recs.get(mac);
      assert.ok(m, `${mac} recorded`);
      assert.equal(stateOf(m), 'done', mac);
      assert.equal(m.firmware, i % 2 === 0 ? 'bios' : 'efi-x64', `${mac}: firmware`);
      const phases = await phasesOf(data, mac);
      assert.ok(phases[0] === 'dhcp' || phases[0] === 'discovered', `${mac} starts with its DHCP exchange: ${phases.join(' ')}`);
      assert.deepEqual(phases.slice(1), ['loader', ...INSTALL], `${mac}: ${phases.join(' ')}`);
    }
    // UEFI machines asked port 4011, BIOS ones booted the offer.
    const tftpLine = (mac: string) => r.lines.find((l) => l.mac === mac && l.event === 'tftp')!.detail!;
    assert.match(tftpLine(macs[0]!), /^undionly\.kpxe from 10\.98\.0\.1 \(ProxyDHCP via offer; address 10\.98\.0\.1\d\d\)$/);
    assert.match(tftpLine(macs[1]!), /^ipxe\.efi from 10\.98\.0\.1 \(ProxyDHCP via port 4011; address 10\.98\.0\.1\d\d\)$/);
    console.log(`# 20 machines installed in ${r.seconds.toFixed(1)} s (speed 600)`);
  });

  it('--fail-rate: exactly the machines the seed says fail, each with its reason, after the phases before it', { timeout: 60_000 }, async () => {
    const seed = 5;
    const expected = Array.from({ length: 20 }, (_, i) => machineTimings(seed, i, 0.3).failure);
    assert.ok(expected.filter(Boolean).length >= 3, 'the seed makes several fail');
    const r = await simulate(lab!, sim.ns, ['--machines', '20', '--speed', '600', '--seed', String(seed), '--fail-rate', '0.3', '--firmware', 'bios', '--mac-prefix', '02:00:5f', '--duration', '45']);
    assert.equal(r.code, 0, r.stderr);
    const s = r.lines.at(-1)!.summary!;
    // One shared address: the simulator keeps its transfers under the server's per-client cap.
    assert.equal(s.tftp.errors, 0);
    assert.equal(s.states['failed'], expected.filter(Boolean).length);
    assert.equal(s.states['done'], expected.filter((f) => !f).length);
    const recs = await records(data);
    for (const [i, mac] of macsFromPrefix('02:00:5f', 20).entries()) {
      const f = expected[i];
      const phases = await phasesOf(data, mac);
      assert.equal(recs.get(mac)?.firmware, 'bios');
      if (!f) {
        assert.equal(stateOf(recs.get(mac)), 'done', mac);
        continue;
      }
      assert.equal(stateOf(recs.get(mac)), 'failed', mac);
      assert.ok(reasonOf(recs.get(mac)).includes(f.reason), `${mac}: ${reasonOf(recs.get(mac))}`);
      const upTo = f.after === 'loader' ? [] : INSTALL.slice(0, INSTALL.indexOf(f.after) + 1);
      assert.deepEqual(phases.slice(1), ['loader', ...upTo, 'failed'], `${mac}: ${phases.join(' ')}`);
      assert.ok(s.failed.some((x) => x.mac === mac && x.reason === f.reason));
    }
  });

  it('a machine already installed is sent to its local disk and goes idle', { timeout: 60_000 }, async () => {
    const r = await simulate(lab!, sim.ns, ['--machines', '3', '--speed', '600', '--seed', '11', '--server', SERVER, '--duration', '30']);
    assert.equal(r.code, 0, r.stderr);
    const s = r.lines.at(-1)!.summary!;
    assert.equal(s.states['idle'], 3, JSON.stringify(s.states));
    assert.equal(s.reports.sent, 0);
    for (const mac of macsFromPrefix('02:00:5e', 3)) {
      assert.match(r.lines.find((l) => l.mac === mac && l.event === 'idle')!.detail!, /local disk \(sanboot\)/);
      assert.equal(stateOf((await records(data)).get(mac)), 'done', 'still done: not installed again');
    }
  });
});

describe('simulate: full DHCP mode and Wake-on-LAN', { skip: !root && 'needs root for network namespaces', concurrency: false }, () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let lab: Lab | undefined;
  let serve: { child: ChildProcess; log: { text: string } } | undefined;
  let srv: LabHost;
  let sim: LabHost;
  let data: string;

  before(async () => {
    tmp = await tempDir('overnight-simulate-wol-');
    await chmod(tmp.dir, 0o755);
    const { iso, profile, loaders } = await serveFixture(tmp.dir);
    data = join(tmp.dir, 'data');
    lab = await Lab.create('simw');
    srv = await lab.addHost('srv', '10.99.0.1/24');
    sim = await lab.addHost('sim', '10.99.0.50/24');
    serve = await startServe(lab, srv.ns, ['--iso', iso, '--profile', profile, '--interface', 'eth0', '--data', data, '--loaders', loaders, '--http-port', '8080', '--dhcp', 'full', '--pool', '10.99.0.100-10.99.0.150']);
  });

  after(async () => {
    if (lab && serve) await lab.stop(serve.child);
    await lab?.destroy();
    await tmp?.cleanup();
  });

  it('--wait-for-wake: silent until a magic packet, then exactly that machine installs', { timeout: 60_000 }, async () => {
    const macs = macsFromPrefix('02:00:60', 3);
    const child = lab!.spawn(sim.ns, process.execPath, [BIN, 'simulate', '--machines', '3', '--mac-prefix', '02:00:60', '--speed', '600', '--seed', '3', '--wait-for-wake', '--json']);
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString('utf8')));
    await waitForOutput(child, /powered off until a magic packet/, 20_000);
    // A while with every machine off: nothing reaches the server.
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal(out, '', 'no events before a magic packet');
    let recs = await records(data);
    for (const mac of macs) assert.equal(recs.has(mac), false, `${mac} silent`);

    // Magic packets, broadcast from the server's namespace.
    const send = `const s=require('node:dgram').createSocket('udp4');s.bind(()=>{s.setBroadcast(true);const m=Buffer.from(process.argv[1].replaceAll(':',''),'hex');s.send(Buffer.concat([Buffer.alloc(6,255),...Array(16).fill(m)]),9,'10.99.0.255',(e)=>{if(e)throw e;s.close()})})`;
    // One for a MAC that is not simulated changes nothing; then the one for the second machine.
    await lab!.exec(srv.ns, process.execPath, ['-e', send, '02:00:60:00:00:09']);
    await lab!.exec(srv.ns, process.execPath, ['-e', send, macs[1]!]);
    await waitForOutput(child, /"event":"done"/, 30_000);
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
    const s = lines.at(-1)!.summary!;
    assert.equal(s.wol.woke, 1);
    assert.equal(s.wol.unknown, 1);
    assert.deepEqual(s.states['done'], 1);
    assert.equal(s.states['off'], 2);
    assert.deepEqual([...new Set(lines.filter((l) => l.mac).map((l) => l.mac))], [macs[1]], 'only the woken machine did anything');
    const tftp = lines.find((l) => l.event === 'tftp')!.detail!;
    assert.match(tftp, /via ack; address 10\.99\.0\.1\d\d, sent from 10\.99\.0\.50\)$/, `full DHCP: an address from the pool (${tftp})`);
    recs = await records(data);
    assert.equal(stateOf(recs.get(macs[1]!)), 'done');
    assert.equal(recs.has(macs[0]!), false);
    assert.equal(recs.has(macs[2]!), false);
    // The lease is in the records, beside the machine.
    const store = Store.open(join(data, 'overnight.sqlite'));
    try {
      assert.deepEqual(
        store.leases().map((l) => l.mac),
        [macs[1]],
      );
      assert.match(store.leases()[0]!.ip, /^10\.99\.0\.1\d\d$/);
    } finally {
      store.close();
    }
  });
});

describe('simulate against overnight pxe: what a message or a local-boot script does', { skip: !root && 'needs root for network namespaces' }, () => {
  it('a local boot goes idle; a message restarts the PC a minute later, again and again; --duration ends the run with exit code 1', { timeout: 60_000 }, async () => {
    const tmp = await tempDir('overnight-simulate-pxe-');
    const lab = await Lab.create('simp');
    try {
      const srv = await lab.addHost('srv', '10.100.0.1/24');
      const sim = await lab.addHost('sim', '10.100.0.50/24');
      const scripts = join(tmp.dir, 'scripts');
      await mkdir(scripts);
      await writeFile(join(scripts, '02-00-64-00-00-01.ipxe'), '#!ipxe\necho booting the disk\nsanboot --no-describe --drive 0x80\n');
      await writeFile(join(scripts, 'default.ipxe'), '#!ipxe\necho\necho {{mac}} waits for approval\nprompt --timeout 60000 Press any key || reboot\nreboot\n');
      const macs = join(tmp.dir, 'macs.csv');
      await writeFile(macs, 'mac,name\n02:00:64:00:00:01,DISK\n02-00-64-00-00-02,WAIT\n');
      const pxe = lab.spawn(srv.ns, process.execPath, [BIN, 'pxe', '--interface', 'eth0', '--data', join(tmp.dir, 'data'), '--scripts', scripts, '--http-port', '8080', '--json']);
      await waitForOutput(pxe, /"ready"/, 30_000);
      pxe.stdout!.resume();
      const r = await simulate(lab, sim.ns, ['--macs', macs, '--speed', '600', '--seed', '1', '--firmware', 'uefi', '--duration', '6']);
      assert.equal(r.code, 1, `--duration ended it with a machine unfinished\n${r.stderr}`);
      const s = r.lines.at(-1)!.summary!;
      assert.equal(s.machines, 2);
      assert.equal(s.states['idle'], 1);
      assert.match(r.lines.find((l) => l.mac === '02:00:64:00:00:01' && l.event === 'idle')!.detail!, /local disk \(sanboot\)/);
      const waits = r.lines.filter((l) => l.mac === '02:00:64:00:00:02' && l.event === 'waiting');
      assert.ok(waits.length >= 2, `restarted and was told again (${waits.length} times)`);
      for (const w of waits) assert.match(w.detail!, /the server says: 02:00:64:00:00:02 waits for approval; the PC restarts in a minute/);
      assert.equal(s.reports.sent, 0);
      assert.match(r.stderr, /stopped by --duration/);
      await lab.stop(pxe);
    } finally {
      await lab.destroy();
      await tmp.cleanup();
    }
  });
});
