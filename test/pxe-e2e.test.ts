// The network boot chain end to end, with overnight's own servers (DHCP, TFTP, HTTP) in a lab
// namespace and QEMU guests as the PXE clients:
// - ProxyDHCP beside a separate site DHCP server (dnsmasq): a BIOS guest whose NIC ROM is iPXE
//   gets its script URL straight away; a UEFI guest boots through OVMF's own PXE, asks port 4011,
//   loads ipxe.efi over TFTP, and then gets its script. A capture of the segment shows overnight
//   never offered an address.
// - Full DHCP: a BIOS guest chainloads undionly.kpxe over TFTP, then gets its script.
// The per-machine script (src/boot/ipxe.ts) loads Debian's kernel in wimboot's place, the checking
// initramfs, a manifest and two injected files; the guest prints OVERNIGHT-CHECK OK only when
// every file arrived byte-exact and the manifest names its own MAC.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bootScript } from '../src/boot/ipxe.ts';
import { parseMessage, messageType } from '../src/net/dhcp/codec.ts';
import { Lab, canUseNetns, readPcap, startCapture, udpDatagrams, waitForOutput, type LabHost } from './helpers/netns.ts';
import { haveQemu, startGuest, startRouterAdvertiser, waitForSerial, type GuestOptions } from './helpers/qemu.ts';
import { CHECK_LINE, buildCheckInitramfs, manifestArchiveFor, manifestFor, standinKernel, type InjectedFile } from './helpers/standin.ts';
import { tempDir } from './helpers/tools.ts';

const BOOT_TIMEOUT = 300_000;
const NODE = process.execPath;
const RUNNER = join(import.meta.dirname, 'helpers', 'net-server.ts');
const HTTP_PORT = 8080;

const skip = await (async (): Promise<string | false> => {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, tap devices)';
  if (!haveQemu('uefi')) return 'qemu-system-x86_64 or OVMF not installed';
  if (!(await canUseNetns())) return 'cannot create network namespaces';
  for (const f of ['/usr/sbin/dnsmasq', '/usr/lib/ipxe/undionly.kpxe', '/usr/lib/ipxe/ipxe.efi', '/usr/bin/tcpdump']) if (!existsSync(f)) return `${f} not installed`;
  return false;
})();

type Event = Record<string, unknown> & { type?: string };

interface Site {
  lab: Lab;
  srv: LabHost;
  subnet: string;
  server: string;
  www: string;
  scripts: string;
  tftp: string;
  events: Event[];
  log(): string;
}

const injected = (mac: string): InjectedFile[] => [
  { name: 'winpeshl.ini', data: '[LaunchApps]\r\n"%SYSTEMROOT%\\System32\\overnight.cmd"\r\n' },
  { name: 'unattend.xml', data: `<?xml version="1.0" encoding="utf-8"?>\r\n<unattend xmlns="urn:schemas-microsoft-com:unattend"><!-- ${mac} -->${'<!-- pad -->'.repeat(500)}</unattend>\r\n` },
];

/** Writes one machine's files and its iPXE script, made by overnight's script builder. */
async function publish(site: Site, firmware: 'bios' | 'uefi', mac: string): Promise<void> {
  const dir = mac.replaceAll(':', '-');
  await mkdir(join(site.www, 'm', dir), { recursive: true });
  const files = injected(mac);
  for (const f of files) await writeFile(join(site.www, 'm', dir, f.name), f.data);
  const manifestName = firmware === 'bios' ? 'manifest.txt' : 'manifest.cpio';
  await writeFile(join(site.www, 'm', dir, manifestName), firmware === 'bios' ? manifestFor(mac, files) : manifestArchiveFor(mac, files));
  const base = `http://${site.server}:${HTTP_PORT}/files`;
  const names = ['check.cpio', manifestName, ...files.map((f) => f.name)];
  const args = ['console=ttyS0', 'panic=-1', 'loglevel=4', 'overnight.mac=${net0/mac}'];
  // The kernel's EFI stub loads initrds by name from iPXE's file system.
  if (firmware === 'uefi') args.push(...names.map((n) => `initrd=${n}`));
  const script = bootScript({
    mac,
    title: 'stand-in for WinPE',
    server: `http://${site.server}:${HTTP_PORT}`,
    kernel: { url: `${base}/vmlinuz`, args: args.join(' ') },
    initrds: [
      { name: 'check.cpio', url: `${base}/check.cpio`, archive: true },
      { name: manifestName, url: `${base}/m/${dir}/${manifestName}` },
      ...files.map((f) => ({ name: f.name, url: `${base}/m/${dir}/${f.name}` })),
    ],
    cpioNames: firmware === 'bios',
    attempts: 3,
    delaySeconds: 2,
  });
  // The stand-in prints this line when the script runs (the check looks for it).
  await writeFile(join(site.scripts, `${mac}.ipxe`), script.replace('#!ipxe\n', '#!ipxe\necho overnight: stand-in boot ${net0/mac} ${platform}\n'));
}

async function startSite(tmp: string, subnet: string, dhcp: Record<string, unknown>, withSiteDhcp: boolean): Promise<Site & { stop(): Promise<Event[]> }> {
  const lab = await Lab.create('e2e');
  try {
    const srv = await lab.addHost('srv', `${subnet}.1/24`);
    const www = join(tmp, 'www');
    const scripts = join(tmp, 'scripts');
    const tftp = join(tmp, 'tftp');
    for (const d of [www, scripts, tftp]) await mkdir(d, { recursive: true });
    await copyFile('/usr/lib/ipxe/undionly.kpxe', join(tftp, 'undionly.kpxe'));
    await copyFile('/usr/lib/ipxe/ipxe.efi', join(tftp, 'ipxe.efi'));
    await copyFile(await standinKernel(), join(www, 'vmlinuz'));
    await buildCheckInitramfs(www);
    const capture = await startCapture(lab, lab.switchNs, 'br0', join(tmp, 'dhcp.pcap'));
    // IPv6 router advertisements from a host of their own: without a router, Debian's iPXE waits
    // ~13 s for one after DHCPv4 (a lab artifact, not part of what is tested).
    await startRouterAdvertiser(lab, await lab.addHost('ra', undefined), 'fd00:9a::');
    if (withSiteDhcp) {
      const site = await lab.addHost('site', `${subnet}.2/24`);
      const dnsmasq = lab.spawn(site.ns, 'dnsmasq', ['--keep-in-foreground', '--no-daemon', '--port=0', '--bind-interfaces', '--interface=eth0', '--user=root', `--dhcp-range=${subnet}.100,${subnet}.199,1h`, `--dhcp-leasefile=${join(tmp, 'site.leases')}`]);
      await waitForOutput(dnsmasq, /DHCP, IP range/, 10_000);
      dnsmasq.stdout!.resume();
      dnsmasq.stderr!.resume();
    }
    const config = { dhcp: { interface: 'eth0', httpPort: HTTP_PORT, ...dhcp }, tftp: { root: tftp }, http: { port: HTTP_PORT, files: www, scripts } };
    const child = lab.spawn(srv.ns, NODE, [RUNNER, JSON.stringify(config)]);
    let text = '';
    child.stdout!.on('data', (b: Buffer) => (text += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (text += b.toString()));
    await waitForOutput(child, /"ready":true/, 30_000);
    const events: Event[] = [];
    const site: Site = {
      lab,
      srv,
      subnet,
      server: `${subnet}.1`,
      www,
      scripts,
      tftp,
      get events() {
        events.length = 0;
        for (const l of text.split('\n')) if (l.startsWith('{') && l.includes('"type":')) events.push(JSON.parse(l) as Event);
        return events;
      },
      log: () => text,
    };
    return {
      ...site,
      get events() {
        return site.events;
      },
      async stop() {
        await capture.stop();
        await lab.destroy();
        return [];
      },
    };
  } catch (e) {
    await lab.destroy();
    throw e;
  }
}

async function boot(site: Site, o: GuestOptions): Promise<{ line: string; seconds: number }> {
  const guest = await startGuest(site.lab, o);
  try {
    const { match, elapsedMs } = await waitForSerial(guest, CHECK_LINE, BOOT_TIMEOUT);
    return { line: match[0], seconds: elapsedMs / 1000 };
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- server log ---\n${site.log().slice(-6000)}`);
  } finally {
    await guest.stop();
  }
}

describe('PXE end to end with overnight\'s DHCP, TFTP and HTTP servers', { skip, concurrency: false }, () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir('overnight-e2e-');
  });
  after(async () => {
    await tmp?.cleanup();
  });

  it('ProxyDHCP beside dnsmasq: BIOS (iPXE ROM) and UEFI (OVMF PXE, port 4011, ipxe.efi over TFTP) boot their scripts; no address from overnight', async () => {
    const dir = join(tmp.dir, 'proxy');
    const site = await startSite(dir, '10.92.0', { mode: 'proxy' }, true);
    const bios = '52:54:00:92:00:01';
    const uefi = '52:54:00:92:00:02';
    try {
      await publish(site, 'bios', bios);
      await publish(site, 'uefi', uefi);
      const b = await boot(site, { firmware: 'bios', nic: 'virtio', mac: bios });
      assert.equal(b.line.trim(), `OVERNIGHT-CHECK OK mac=${bios} files=2`);
      const u = await boot(site, { firmware: 'uefi', nic: 'virtio', mac: uefi, romfile: '' });
      assert.equal(u.line.trim(), `OVERNIGHT-CHECK OK mac=${uefi} files=2`);
      console.log(`# boot to check line under TCG: BIOS ${b.seconds.toFixed(1)} s, UEFI ${u.seconds.toFixed(1)} s`);

      const ev = site.events;
      const of = (mac: string) => ev.filter((e) => e['mac'] === mac);
      // BIOS: the ROM is iPXE, so its first answer is already the script.
      const biosOffer = of(bios).find((e) => e.type === 'dhcp.offer')!;
      assert.equal(biosOffer['bootFile'], `http://${site.server}:${HTTP_PORT}/boot/${bios}.ipxe`);
      assert.equal(biosOffer['arch'], 'bios');
      // UEFI: firmware PXE (arch 7) is offered ipxe.efi, asks port 4011, then iPXE gets the script.
      const uefiDhcp = of(uefi).filter((e) => e.type === 'dhcp.offer' || e.type === 'dhcp.ack');
      assert.ok(uefiDhcp.some((e) => e.type === 'dhcp.ack' && e['port'] === 4011 && e['bootFile'] === 'ipxe.efi' && e['arch'] === 'efi-x64' && e['ipxe'] === false), JSON.stringify(uefiDhcp));
      assert.ok(uefiDhcp.some((e) => e['ipxe'] === true && e['bootFile'] === `http://${site.server}:${HTTP_PORT}/boot/${uefi}.ipxe`));
      const efiSize = (await readFile('/usr/lib/ipxe/ipxe.efi')).length;
      assert.ok(ev.some((e) => e.type === 'tftp.done' && e['file'] === 'ipxe.efi' && e['bytes'] === efiSize), 'ipxe.efi went out whole over TFTP');
      for (const mac of [bios, uefi]) {
        const served = ev.filter((e) => e.type === 'http.served' && e['status'] === 200).map((e) => e['path']);
        assert.ok(ev.some((e) => e.type === 'http.served' && e['status'] === 200 && e['mac'] === mac && String(e['path']).startsWith('/boot/')), `script of ${mac} served: ${served.join(' ')}`);
        assert.ok(served.includes(`/files/m/${mac.replaceAll(':', '-')}/unattend.xml`));
      }
      assert.ok(ev.every((e) => !(String(e.type).startsWith('dhcp.') && e['address'] !== undefined)), 'no DHCP event carries an address');
    } finally {
      await site.stop();
    }
    // What went over the wire: every reply overnight sent has yiaddr 0.0.0.0; dnsmasq gave the addresses.
    const packets = udpDatagrams(readPcap(await readFile(join(dir, 'dhcp.pcap'))));
    const ours = packets.filter((p) => p.srcIp === '10.92.0.1');
    assert.ok(ours.length >= 4, `overnight's replies captured: ${ours.length}`);
    for (const p of ours) assert.equal(parseMessage(p.payload).yiaddr, '0.0.0.0');
    assert.ok(ours.some((p) => p.srcPort === 4011), 'a port-4011 reply went out');
    const acks = packets.filter((p) => p.srcIp === '10.92.0.2' && messageType(parseMessage(p.payload)) === 'ACK');
    assert.ok(acks.length >= 2, 'the site server acknowledged the addresses');
    const leases = await readFile(join(dir, 'site.leases'), 'utf8');
    assert.match(leases, new RegExp(bios));
    assert.match(leases, new RegExp(uefi));
  });

  it('a file missing on the server: the script says which one on screen, retries, and boots once it is there', async () => {
    const dir = join(tmp.dir, 'retry');
    const site = await startSite(dir, '10.94.0', { mode: 'full', pool: { start: '10.94.0.100', end: '10.94.0.150', netmask: '255.255.255.0' }, probeMs: 1000 }, false);
    const mac = '52:54:00:94:00:01';
    try {
      await publish(site, 'bios', mac);
      const file = join(site.www, 'm', mac.replaceAll(':', '-'), 'unattend.xml');
      const data = await readFile(file);
      const { rm } = await import('node:fs/promises');
      await rm(file);
      const guest = await startGuest(site.lab, { firmware: 'bios', nic: 'virtio', mac });
      try {
        await waitForSerial(guest, /overnight: retrying in 2 seconds/, BOOT_TIMEOUT);
        // The console wraps at 80 columns: compare without line breaks.
        const screen = guest.log().replace(/\r?\n/g, '');
        const url = `http://${site.server}:${HTTP_PORT}/files/m/${mac.replaceAll(':', '-')}/unattend.xml`;
        assert.ok(screen.includes(`overnight: could not load ${url} (attempt 1 of 3)`), screen.slice(-2000));
        await writeFile(file, data);
        const { match } = await waitForSerial(guest, CHECK_LINE, BOOT_TIMEOUT);
        assert.equal(match[0].trim(), `OVERNIGHT-CHECK OK mac=${mac} files=2`);
      } finally {
        await guest.stop();
      }
      assert.ok(site.events.some((e) => e.type === 'http.served' && e['status'] === 404 && String(e['path']).endsWith('/unattend.xml')), 'the failed fetch was logged as a 404');
    } finally {
      await site.stop();
    }
  });

  it('full DHCP: BIOS chainloads undionly.kpxe over TFTP, then boots its script', async () => {
    const dir = join(tmp.dir, 'full');
    const site = await startSite(dir, '10.93.0', { mode: 'full', chainloadIpxe: true, pool: { start: '10.93.0.100', end: '10.93.0.150', netmask: '255.255.255.0' }, leasesFile: join(tmp.dir, 'leases.sqlite'), probeMs: 1000 }, false);
    const mac = '52:54:00:93:00:01';
    try {
      await publish(site, 'bios', mac);
      const b = await boot(site, { firmware: 'bios', nic: 'e1000', mac });
      assert.equal(b.line.trim(), `OVERNIGHT-CHECK OK mac=${mac} files=2`);
      console.log(`# full mode chainload boot under TCG: ${b.seconds.toFixed(1)} s`);
      const ev = site.events.filter((e) => e['mac'] === mac || e.type?.startsWith('tftp'));
      const offers = ev.filter((e) => e.type === 'dhcp.offer');
      assert.equal(offers[0]!['bootFile'], 'undionly.kpxe');
      assert.match(String(offers[0]!['address']), /^10\.93\.0\.1\d\d$/);
      assert.ok(ev.some((e) => e.type === 'tftp.done' && e['file'] === 'undionly.kpxe'));
      assert.ok(offers.some((e) => e['bootFile'] === `http://10.93.0.1:${HTTP_PORT}/boot/${mac}.ipxe`), JSON.stringify(offers));
    } finally {
      await site.stop();
    }
  });
});
