// `overnight serve` end to end: the real serve stack (startServe: media extracted into a managed
// Samba share, ProxyDHCP beside a site DHCP server, TFTP, HTTP, per-machine WinPE plans, records)
// runs in a lab namespace, and two QEMU guests network-boot from it at the same time:
// - a BIOS guest (iPXE NIC ROM) whose MAC is in the inventory, with a name;
// - a UEFI guest (OVMF's own PXE → port 4011 → ipxe.efi over TFTP) that is unknown, booted under
//   the policy `all`.
// wimboot is the Linux stand-in of the PXE tests (standin.ts): the file served as /files/wimboot is
// a Debian kernel, and test/helpers/serve-runner.ts turns each machine's iPXE script into the
// stand-in's by adding only the checking initramfs and a manifest: the kernel URL and every initrd
// (name, URL, order) stay the product's. The guest prints OVERNIGHT-CHECK OK only when every file
// of the product's script arrived byte-exact and the manifest names its own MAC.
// For each guest the test shows: the right files arrived (the manifest's hashes are the ISO's files
// and the plan's injected files); its start script names this server, the share and the deployment
// credentials; its answer file lints clean and has the partition layout of its firmware; the
// records say dhcp, then loader, with its firmware; overnight never handed out an address.
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lintDocument } from '../src/answer/lint.ts';
import { parseUnattend } from '../src/answer/xml.ts';
import { WINPE_FILES } from '../src/boot/winpe.ts';
import { messageType, parseMessage } from '../src/net/dhcp/codec.ts';
import { buildWindowsIso, type WindowsMedia } from './helpers/media.ts';
import { type Capture, Lab, type LabHost, canUseNetns, readPcap, startCapture, udpDatagrams, waitForOutput } from './helpers/netns.ts';
import { haveQemu, startGuest, startRouterAdvertiser, waitForSerial, type GuestOptions } from './helpers/qemu.ts';
import type { ManifestEntry, RunnerConfig } from './helpers/serve-runner.ts';
import { CHECK_LINE, buildCheckInitramfs, standinKernel } from './helpers/standin.ts';
import { tempDir } from './helpers/tools.ts';
import { WIN7_PROFILE } from './helpers/serve.ts';

const BOOT_TIMEOUT = 240_000;
const RUNNER = join(import.meta.dirname, 'helpers', 'serve-runner.ts');
const SUBNET = '10.97.0';
const SERVER = `${SUBNET}.1`;
const BASE = `http://${SERVER}:8080`;
const BIOS_MAC = '52:54:00:97:00:01';
const UEFI_MAC = '52:54:00:97:00:02';
const BIOS_NAME = 'LAB-BIOS-01';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const PROFILE = WIN7_PROFILE;

const skip = await (async (): Promise<string | false> => {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, tap devices, DHCP and TFTP ports)';
  if (!haveQemu('uefi')) return 'qemu-system-x86_64 or OVMF not installed';
  if (!(await canUseNetns())) return 'cannot create network namespaces';
  const tools = ['/usr/sbin/dnsmasq', '/usr/sbin/smbd', '/usr/lib/ipxe/undionly.kpxe', '/usr/lib/ipxe/ipxe.efi', '/usr/bin/tcpdump', '/usr/bin/curl', '/bin/busybox', '/usr/bin/genisoimage', '/usr/bin/wimlib-imagex'];
  for (const f of tools) if (!existsSync(f)) return `${f} not installed`;
  return false;
})();

type Line = Record<string, unknown> & { type?: string };
interface StandinScript {
  type: 'standin.script';
  mac: string;
  firmware: 'bios' | 'uefi';
  product: string;
  script: string;
  manifest: ManifestEntry[];
}
interface Booted {
  firmware: 'bios' | 'uefi';
  mac: string;
  line?: string;
  seconds?: number;
  error?: Error;
}

describe('overnight serve end to end: a BIOS and a UEFI guest boot the stand-in for wimboot', { skip, concurrency: false }, () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let win7: WindowsMedia;
  let lab: Lab | undefined;
  let cli: LabHost;
  let srvNs = '';
  let runner: ChildProcess;
  let capture: Capture | undefined;
  let log = '';
  let summary: { share: { uncs: string[]; user: string }; http: string; dhcp: string };
  let creds: { user: string; password: string };
  const booted = new Map<string, Booted>();
  const timings: string[] = [];
  const lines = (): Line[] => log.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
  const standin = (mac: string): StandinScript => {
    const all = lines().filter((l): l is Line & StandinScript => l.type === 'standin.script' && l['mac'] === mac);
    assert.ok(all.length > 0, `the runner filtered a script for ${mac}:\n${log.slice(-3000)}`);
    return all.at(-1)!;
  };
  const curl = async (url: string): Promise<Buffer> => {
    const out = join(tmp.dir, `dl-${Math.random().toString(36).slice(2)}`);
    await lab!.exec(cli.ns, 'curl', ['-sS', '--fail', '-o', out, url]);
    return readFile(out);
  };
  // The dashboard's API listens on the server's own loopback only.
  const api = async <T>(path: string): Promise<T> => JSON.parse((await lab!.exec(srvNs, 'curl', ['-sS', '--fail', `http://127.0.0.1:7780${path}`])).stdout) as T;
  const guests: [GuestOptions['firmware'], string][] = [
    ['bios', BIOS_MAC],
    ['uefi', UEFI_MAC],
  ];

  before(async () => {
    const t0 = performance.now();
    tmp = await tempDir('overnight-serve-e2e-');
    // Samba serves the share as an unprivileged account: it must be able to reach the data folder.
    await chmod(tmp.dir, 0o755);
    win7 = await buildWindowsIso(join(tmp.dir, 'iso'), '7-x64');
    const profile = join(tmp.dir, 'profile.yaml');
    await writeFile(profile, PROFILE);
    const inventory = join(tmp.dir, 'machines.csv');
    await writeFile(inventory, `mac,name\n${BIOS_MAC},${BIOS_NAME}\n`);
    const loaders = join(tmp.dir, 'loaders');
    await mkdir(loaders);
    await copyFile(await standinKernel(), join(loaders, 'wimboot'));
    const checkDir = join(tmp.dir, 'check');
    await mkdir(checkDir);
    const checkCpio = await buildCheckInitramfs(checkDir);
    const data = join(tmp.dir, 'data');

    lab = await Lab.create('srve');
    const srv = await lab.addHost('srv', `${SERVER}/24`);
    srvNs = srv.ns;
    cli = await lab.addHost('cli', `${SUBNET}.50/24`);
    capture = await startCapture(lab, lab.switchNs, 'br0', join(tmp.dir, 'dhcp.pcap'));
    // Without an IPv6 router iPXE waits ~13 s after DHCPv4 (a lab artifact, see qemu.ts).
    await startRouterAdvertiser(lab, await lab.addHost('ra', undefined), 'fd00:97::');
    // The site's own DHCP server hands out the addresses; overnight answers as ProxyDHCP beside it.
    const site = await lab.addHost('site', `${SUBNET}.2/24`);
    const dnsmasq = lab.spawn(site.ns, 'dnsmasq', ['--keep-in-foreground', '--no-daemon', '--port=0', '--bind-interfaces', '--interface=eth0', '--user=root', `--dhcp-range=${SUBNET}.100,${SUBNET}.199,1h`, `--dhcp-leasefile=${join(tmp.dir, 'site.leases')}`]);
    await waitForOutput(dnsmasq, /DHCP, IP range/, 10_000);
    dnsmasq.stdout!.resume();
    dnsmasq.stderr!.resume();

    const rc: RunnerConfig = {
      config: {
        interface: 'eth0',
        dhcp: { mode: 'proxy' },
        media: [{ iso: win7.iso }],
        profiles: [{ name: 'win7', file: profile }],
        inventory,
        unknown: 'all',
        share: { mode: 'managed' },
        http: { port: 8080 },
        tftp: { port: 69 },
        loaders,
      },
      dataDir: data,
      checkCpio,
    };
    const t1 = performance.now();
    runner = lab.spawn(srv.ns, process.execPath, [RUNNER, JSON.stringify(rc)]);
    runner.stdout!.on('data', (b: Buffer) => (log += b.toString()));
    runner.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    const out = await waitForOutput(runner, /^\{"(ready|error)":/m, 120_000);
    const readyLine = out.split('\n').find((l) => l.startsWith('{"ready"'));
    assert.ok(readyLine, `serve did not start:\n${out.slice(-4000)}`);
    summary = (JSON.parse(readyLine) as { ready: typeof summary }).ready;
    creds = JSON.parse(await readFile(join(data, 'samba', 'credentials.json'), 'utf8')) as typeof creds;
    timings.push(`fixtures and lab ${((t1 - t0) / 1000).toFixed(1)} s; serve ready ${((performance.now() - t1) / 1000).toFixed(1)} s later (media extracted, Samba up)`);

    // Both guests at once; each result is kept for the tests below.
    await Promise.all(
      guests.map(async ([firmware, mac]) => {
        const r: Booted = { firmware, mac };
        booted.set(mac, r);
        const guest = await startGuest(lab!, { firmware, nic: 'virtio', mac, ...(firmware === 'uefi' ? { romfile: '' } : {}) });
        try {
          const { match, elapsedMs } = await waitForSerial(guest, CHECK_LINE, BOOT_TIMEOUT);
          r.line = match[0].trim();
          r.seconds = elapsedMs / 1000;
        } catch (e) {
          r.error = new Error(`${(e as Error).message}\n--- server log ---\n${log.slice(-6000)}`);
        } finally {
          await guest.stop();
        }
      }),
    );
    timings.push(`boot to check line under TCG, concurrently: ${guests.map(([fw, mac]) => `${fw} ${booted.get(mac)!.seconds?.toFixed(1) ?? 'failed'} s`).join(', ')}`);
    await capture.stop();
    capture = undefined;
  });

  after(async () => {
    if (timings.length) console.log(timings.map((t) => `# ${t}`).join('\n'));
    // OVERNIGHT_E2E_LOG=file keeps the server's event log (one JSON line each) for a look afterwards.
    if (process.env['OVERNIGHT_E2E_LOG']) await writeFile(process.env['OVERNIGHT_E2E_LOG'], log);
    await capture?.stop();
    if (lab && runner) await lab.stop(runner);
    await lab?.destroy();
    await tmp?.cleanup();
  });

  it('each guest got every file of its boot plan byte-exact (OVERNIGHT-CHECK OK with its MAC)', async () => {
    const failed = guests.map(([, mac]) => booted.get(mac)!).filter((b) => b.error);
    if (failed.length) throw new Error(failed.map((b) => `${b.firmware}: ${b.error!.message}`).join('\n\n'));
    assert.deepEqual(
      guests.map(([firmware, mac]) => `${firmware} ${booted.get(mac)!.line}`),
      guests.map(([firmware, mac]) => `${firmware} OVERNIGHT-CHECK OK mac=${mac} files=10`),
    );
    for (const [firmware, mac] of guests) {
      const b = booted.get(mac)!;
      const s = standin(mac);
      assert.equal(s.firmware, firmware);
      // The files the product's script names: the media's boot files, then every injected file.
      const names = s.manifest.map((m) => m.name);
      assert.deepEqual(names.slice(0, 4), ['bootmgr', 'BCD', 'boot.sdi', 'boot.wim']);
      assert.deepEqual(new Set(names.slice(4)), new Set(Object.values(WINPE_FILES)), `${firmware}: injected ${names.slice(4).join(' ')}`);
      assert.equal(b.line, `OVERNIGHT-CHECK OK mac=${mac} files=${names.length}`, `${firmware} guest`);
      assert.equal(names.length, 4 + Object.values(WINPE_FILES).length);

      // The stand-in script loads what the product's does: the same kernel URL (the stand-in
      // kernel is the file served as wimboot), the same initrd lines in the same order; only
      // check.cpio and the manifest come after them.
      const initrdLines = (t: string) => t.split('\n').filter((l) => l.startsWith('initrd '));
      const kernelUrl = (t: string) => /^kernel (\S+)/m.exec(t)?.[1];
      assert.equal(kernelUrl(s.script), `${BASE}/files/wimboot`);
      assert.equal(kernelUrl(s.product), kernelUrl(s.script));
      assert.match(s.product, /^kernel \S+ index=2 \|\| goto failed$/m);
      const product = initrdLines(s.product);
      const served = initrdLines(s.script);
      assert.equal(product.length, names.length);
      assert.deepEqual(served.slice(0, product.length), product);
      assert.equal(served.length, product.length + 2);
      assert.match(served.at(-2)!, /^initrd -n check\.cpio \S+\/files\/standin\/check\.cpio \|\| goto failed$/);
      assert.match(served.at(-1)!, /^initrd -n manifest\.(txt|cpio) /);

      // The manifest's hashes are the ISO's own files and the machine's plan, as fetched here.
      const tree: Record<string, string> = { bootmgr: 'bootmgr', BCD: 'boot/bcd', 'boot.sdi': 'boot/boot.sdi', 'boot.wim': 'sources/boot.wim' };
      for (const m of s.manifest) {
        if (tree[m.name]) {
          assert.match(m.url, new RegExp(`^${BASE}/media/[^/]+/${tree[m.name]}$`));
          assert.equal(m.sha256, sha(await readFile(join(win7.tree, tree[m.name]!))), `${firmware}: ${m.name} is the ISO's`);
        } else {
          assert.equal(m.url, `${BASE}/boot/${mac}/${m.name}`);
          const bytes = await curl(m.url);
          assert.equal(m.sha256, sha(bytes), `${firmware}: ${m.name}`);
          assert.equal(m.size, bytes.length);
        }
      }
      // Each file went out whole to the guest's address (dnsmasq's lease): HTTP 200, full size.
      const ip = (await readFile(join(tmp.dir, 'site.leases'), 'utf8')).split('\n').map((l) => l.split(' ')).find((f) => f[1] === mac)?.[2];
      assert.ok(ip, `${firmware}: a lease for ${mac}`);
      const http = lines().filter((l) => l.type === 'http.served' && l['status'] === 200 && String(l['client']).startsWith(`${ip}:`));
      for (const m of s.manifest) {
        const path = new URL(m.url).pathname;
        // iPXE sends the MAC's colons percent-encoded.
        assert.ok(http.some((l) => decodeURIComponent(String(l['path'])) === path && l['bytes'] === m.size), `${firmware}: ${path} served whole to ${ip}: ${JSON.stringify(http.map((l) => l['path']))}`);
      }
    }
  });

  it('each start script names this server, the share and the deployment credentials', async () => {
    const unc = summary.share.uncs[0]!;
    assert.match(unc, new RegExp(`^\\\\\\\\${SERVER.replaceAll('.', '\\.')}\\\\`));
    assert.equal(summary.share.user, creds.user);
    assert.equal(summary.http, BASE);
    assert.equal(summary.dhcp, 'proxy');
    for (const [firmware, mac] of guests) {
      const cmd = (await curl(`${BASE}/boot/${mac}/${WINPE_FILES.start}`)).toString('latin1');
      assert.ok(cmd.includes(SERVER), `${firmware}: names the server`);
      assert.ok(cmd.includes(unc), `${firmware}: names the share ${unc}`);
      assert.ok(cmd.includes(`${SERVER}\\overnight-report$`), `${firmware}: names the report share`);
      assert.ok(cmd.includes(creds.user), `${firmware}: carries the user`);
      assert.ok(cmd.includes(creds.password), `${firmware}: carries the password`);
      assert.match(cmd, /setup\.exe"? \/unattend:/);
      assert.match((await curl(`${BASE}/boot/${mac}/${WINPE_FILES.shell}`)).toString('latin1'), /overnight\.cmd/);
    }
  });

  it('each answer file lints clean and has its firmware\'s partition layout', async () => {
    for (const [firmware, mac] of guests) {
      const xml = (await curl(`${BASE}/boot/${mac}/${WINPE_FILES.answer}`)).toString('utf8');
      const ds = lintDocument(parseUnattend(xml).doc, { release: '7', arch: 'amd64', unattendedInstall: true });
      assert.deepEqual(ds.filter((d) => d.severity === 'error'), [], `${firmware}: answer file lints clean`);
      if (firmware === 'bios') {
        assert.match(xml, /<Active>true<\/Active>/);
        assert.doesNotMatch(xml, /<Type>MSR<\/Type>/);
        assert.doesNotMatch(xml, /<Type>EFI<\/Type>/);
        assert.match(xml, new RegExp(`<ComputerName>${BIOS_NAME}</ComputerName>`), 'the inventory names the BIOS machine');
      } else {
        assert.match(xml, /<Type>EFI<\/Type>/);
        assert.match(xml, /<Type>MSR<\/Type>/);
        assert.doesNotMatch(xml, /<Active>true<\/Active>/);
        // Unknown machines are numbered after the inventory.
        assert.match(xml, /<ComputerName>PC-002<\/ComputerName>/, 'the unknown UEFI machine gets the profile\'s name pattern');
      }
      // The answer file served is the one the manifest hashed, the one the guest received.
      const entry = standin(mac).manifest.find((m) => m.name === WINPE_FILES.answer)!;
      assert.equal(entry.sha256, sha(Buffer.from(xml, 'utf8')));
    }
  });

  it('the records show discovered (DHCP) then loader for each guest, with its firmware, known or not', async () => {
    const machines = await api<{ mac: string; firmware?: string; known: boolean; name?: string; phase?: string }[]>(`/api/machines`);
    for (const [firmware, mac] of guests) {
      const events = await api<{ phase: string; source: string; detail?: string }[]>(`/api/events?mac=${mac}`);
      const phases = events.map((e) => e.phase).filter((p) => p !== 'note');
      assert.deepEqual(phases.slice(0, 2), ['discovered', 'loader'], `${firmware}: ${JSON.stringify(events)}`);
      assert.equal(events.find((e) => e.phase === 'loader')!.source, 'http');
      assert.match(events.find((e) => e.phase === 'loader')!.detail ?? '', firmware === 'bios' ? /MBR layout/ : /GPT layout/);
      const m = machines.find((x) => x.mac === mac);
      assert.ok(m, `${mac} recorded`);
      assert.equal(m.firmware, firmware === 'bios' ? 'bios' : 'efi-x64');
      assert.equal(m.phase, 'loader');
      if (firmware === 'bios') {
        assert.equal(m.known, true);
        assert.equal(m.name, BIOS_NAME);
      } else {
        assert.equal(m.known, false, 'the UEFI guest is not in the inventory');
      }
    }
  });

  it('ProxyDHCP: overnight never set an address; UEFI went through port 4011 and ipxe.efi over TFTP', async () => {
    const ev = lines();
    const dhcp = (mac: string) => ev.filter((e) => (e.type === 'dhcp.offer' || e.type === 'dhcp.ack') && e['mac'] === mac);
    assert.ok(dhcp(BIOS_MAC).some((e) => e['bootFile'] === `${BASE}/boot/${BIOS_MAC}.ipxe` && e['arch'] === 'bios'), JSON.stringify(dhcp(BIOS_MAC)));
    assert.ok(dhcp(UEFI_MAC).some((e) => e.type === 'dhcp.ack' && e['port'] === 4011 && e['bootFile'] === 'ipxe.efi' && e['arch'] === 'efi-x64'), JSON.stringify(dhcp(UEFI_MAC)));
    assert.ok(dhcp(UEFI_MAC).some((e) => e['ipxe'] === true && e['bootFile'] === `${BASE}/boot/${UEFI_MAC}.ipxe`));
    const efiSize = (await readFile('/usr/lib/ipxe/ipxe.efi')).length;
    assert.ok(ev.some((e) => e.type === 'tftp.done' && e['file'] === 'ipxe.efi' && e['bytes'] === efiSize), 'ipxe.efi went out whole over TFTP');
    assert.ok(ev.every((e) => !(String(e.type).startsWith('dhcp.') && e['address'] !== undefined)), 'no DHCP event carries an address');

    const packets = udpDatagrams(readPcap(await readFile(join(tmp.dir, 'dhcp.pcap'))));
    const ours = packets.filter((p) => p.srcIp === SERVER);
    assert.ok(ours.length >= 4, `overnight's replies captured: ${ours.length}`);
    for (const p of ours) assert.equal(parseMessage(p.payload).yiaddr, '0.0.0.0', 'a ProxyDHCP reply never sets yiaddr');
    assert.ok(ours.some((p) => p.srcPort === 4011), 'a port-4011 reply went out');
    const acks = packets.filter((p) => p.srcIp === `${SUBNET}.2` && messageType(parseMessage(p.payload)) === 'ACK');
    assert.ok(acks.length >= 2, 'the site server acknowledged the addresses');
    const leases = await readFile(join(tmp.dir, 'site.leases'), 'utf8');
    for (const [, mac] of guests) assert.match(leases, new RegExp(mac));
  });
});
