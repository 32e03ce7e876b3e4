// The end-to-end PXE harness, proven with third-party servers (dnsmasq for DHCP + TFTP, busybox
// httpd for HTTP) before overnight's own servers take their place. A QEMU guest boots from its
// NIC in a lab namespace: BIOS through QEMU's iPXE ROM (or the ROM chainloading Debian's
// undionly.kpxe over TFTP), UEFI through OVMF's own PXE and then ipxe.efi over TFTP. The iPXE
// script loads the stand-in kernel (Debian's, in place of wimboot), the checking initramfs, a
// per-machine manifest and two injected files; the guest prints `OVERNIGHT-CHECK OK mac=<its MAC>`
// only when every file arrived intact and the manifest names its own NIC's MAC. A corrupted file,
// or a manifest made for another MAC, makes it print FAIL.
//
// tcpdump records the DHCP traffic of every boot (and of udhcpc and dhclient). With
// OVERNIGHT_CAPTURE_FIXTURES=1 the client requests and dnsmasq's ProxyDHCP replies are written to
// test/fixtures/dhcp/*.hex for the DHCP codec tests.
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Lab, canUseNetns, readPcap, startCapture, udpDatagrams, waitForOutput, type Capture, type LabHost, type UdpDatagram } from './helpers/netns.ts';
import { type Guest, type GuestOptions, haveQemu, startGuest, startRouterAdvertiser, waitForSerial } from './helpers/qemu.ts';
import { CHECK_LINE, buildCheckInitramfs, checkScript, manifestArchiveFor, manifestFor, standinKernel, type InjectedFile } from './helpers/standin.ts';
import { tempDir } from './helpers/tools.ts';

const BOOT_TIMEOUT = 300_000;
const SUBNET = '10.91.0';
const SERVER = `${SUBNET}.1`;
const FIXTURES = join(import.meta.dirname, 'fixtures', 'dhcp');
const CAPTURE = process.env['OVERNIGHT_CAPTURE_FIXTURES'] === '1';
const HOW = 'captured with tcpdump on the lab bridge by test/lab-harness.test.ts (OVERNIGHT_CAPTURE_FIXTURES=1)';

const skip = await (async (): Promise<string | false> => {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, tap devices)';
  if (!haveQemu('bios')) return 'qemu-system-x86_64 not installed';
  if (!(await canUseNetns())) return 'cannot create network namespaces';
  for (const f of ['/usr/sbin/dnsmasq', '/bin/busybox', '/usr/lib/ipxe/undionly.kpxe', '/usr/lib/ipxe/ipxe.efi', '/usr/bin/tcpdump']) {
    if (!existsSync(f)) return `${f} not installed`;
  }
  return false;
})();

// ---------------------------------------------------------------------------------------------
// Servers: dnsmasq (DHCP + TFTP) and busybox httpd, all in one lab namespace.

interface Served {
  lab: Lab;
  server: LabHost;
  dir: string;
  www: string;
  capture: Capture;
  dnsmasq: ChildProcess;
  /** Restarts dnsmasq with the configuration of another mode (same leases). */
  restart(mode: DnsmasqMode): Promise<void>;
}

/**
 * 'full': DHCP with addresses; BIOS PXE gets undionly.kpxe, UEFI PXE ipxe.efi, iPXE the script.
 * 'chain': like full, but every BIOS client gets undionly.kpxe, iPXE or not (the iPXE ROM then
 *   acts as a plain PXE ROM); the test switches to 'full' once undionly.kpxe was sent.
 * 'proxy': ProxyDHCP (boot information only, with pxe-service); addresses come from a second
 *   dnsmasq on 10.91.0.2.
 */
type DnsmasqMode = 'full' | 'chain' | 'proxy';

function dnsmasqConf(dir: string, mode: DnsmasqMode): string {
  const conf = [
    'port=0',
    'interface=eth0',
    'bind-interfaces',
    'user=root',
    `dhcp-leasefile=${join(dir, 'leases')}`,
    'log-dhcp',
    'enable-tftp',
    `tftp-root=${join(dir, 'tftp')}`,
    // Already in iPXE: user class "iPXE" (option 77) or iPXE's own option 175.
    'dhcp-userclass=set:ipxe,iPXE',
    'dhcp-match=set:ipxe,175',
    'dhcp-match=set:efi64,option:client-arch,7',
    'dhcp-match=set:efi64,option:client-arch,9',
  ];
  if (mode === 'proxy') {
    conf.push(
      `dhcp-range=${SUBNET}.0,proxy`,
      // iPXE ignores a ProxyDHCPACK that has neither a boot menu nor next-server + filename
      // (dhcp_has_pxeopts), so the next-server (siaddr) must be set even for an HTTP URL.
      `dhcp-boot=tag:ipxe,http://${SERVER}/boot.ipxe,,${SERVER}`,
      'pxe-service=tag:!ipxe,x86PC,"overnight BIOS",undionly.kpxe',
      'pxe-service=tag:!ipxe,X86-64_EFI,"overnight UEFI",ipxe.efi',
    );
  } else {
    conf.push(`dhcp-range=${SUBNET}.100,${SUBNET}.199,255.255.255.0,1h`);
    if (mode === 'chain') conf.push('dhcp-boot=tag:efi64,ipxe.efi', 'dhcp-boot=tag:!efi64,undionly.kpxe');
    else conf.push(`dhcp-boot=tag:ipxe,http://${SERVER}/boot.ipxe`, 'dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi', 'dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe');
  }
  return conf.join('\n') + '\n';
}

async function serve(dir: string, mode: DnsmasqMode = 'full'): Promise<Served> {
  const lab = await Lab.create('pxe');
  try {
    const server = await lab.addHost('srv', `${SERVER}/24`);
    // Without an IPv6 router advertisement iPXE waits ~13 s more at "Configuring"; see qemu.ts.
    if (process.env['OVERNIGHT_LAB_NO_RA'] !== '1') await startRouterAdvertiser(lab, server);
    const www = join(dir, 'www');
    await mkdir(join(dir, 'tftp'), { recursive: true });
    await mkdir(www, { recursive: true });
    await copyFile('/usr/lib/ipxe/undionly.kpxe', join(dir, 'tftp', 'undionly.kpxe'));
    await copyFile('/usr/lib/ipxe/ipxe.efi', join(dir, 'tftp', 'ipxe.efi'));
    const capture = await startCapture(lab, lab.switchNs, 'br0', join(dir, 'dhcp.pcap'));
    if (mode === 'proxy') {
      // The site's DHCP server: addresses only, knows nothing of PXE.
      const site = await lab.addHost('dhcp', `${SUBNET}.2/24`);
      const conf = ['port=0', 'interface=eth0', 'bind-interfaces', 'user=root', `dhcp-leasefile=${join(dir, 'site.leases')}`, `dhcp-range=${SUBNET}.100,${SUBNET}.199,255.255.255.0,1h`];
      await writeFile(join(dir, 'site.conf'), conf.join('\n') + '\n');
      drain(lab.spawn(site.ns, 'dnsmasq', ['-k', '--log-facility=-', `--conf-file=${join(dir, 'site.conf')}`, '--pid-file=']));
    }
    const startDnsmasq = async (m: DnsmasqMode) => {
      const file = join(dir, `dnsmasq-${m}.conf`);
      await writeFile(file, dnsmasqConf(dir, m));
      const child = lab.spawn(server.ns, 'dnsmasq', ['-k', '--log-facility=-', `--conf-file=${file}`, '--pid-file=']);
      drain(child);
      await waitForOutput(child, /started, version/, 10000);
      return child;
    };
    const served: Served = {
      lab,
      server,
      dir,
      www,
      capture,
      dnsmasq: await startDnsmasq(mode),
      async restart(m) {
        await lab.stop(served.dnsmasq);
        served.dnsmasq = await startDnsmasq(m);
      },
    };
    drain(lab.spawn(server.ns, '/bin/busybox', ['httpd', '-f', '-p', `${SERVER}:80`, '-h', www]));
    return served;
  } catch (e) {
    await lab.destroy();
    throw e;
  }
}

/** Keeps a server's output flowing (a full pipe would block it); the text is kept for failures. */
const logs = new Map<ChildProcess, string>();
function drain(child: ChildProcess): void {
  logs.set(child, '');
  const add = (b: Buffer) => logs.set(child, (logs.get(child)! + b.toString('utf8')).slice(-100_000));
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
}

async function shutdown(s: Served): Promise<UdpDatagram[]> {
  await s.capture.stop();
  await s.lab.destroy();
  return udpDatagrams(readPcap(await readFile(s.capture.file)));
}

/** Publishes the stand-in, check.cpio, manifest and files for one machine, and its iPXE script. */
async function publish(s: Served, firmware: 'bios' | 'uefi', mac: string, files: InjectedFile[], o: { corrupt?: string; manifestMac?: string } = {}): Promise<void> {
  await copyFile(await standinKernel(), join(s.www, 'vmlinuz'));
  await buildCheckInitramfs(s.www);
  const manifestMac = o.manifestMac ?? mac;
  const manifest = firmware === 'bios' ? manifestFor(manifestMac, files) : manifestArchiveFor(manifestMac, files);
  await writeFile(join(s.www, 'manifest'), manifest);
  for (const f of files) {
    const data = Buffer.from(f.data);
    if (f.name === o.corrupt) data[data.length >> 1] ^= 0x20;
    await writeFile(join(s.www, f.name), data);
  }
  const url = (n: string) => `http://${SERVER}/${n}`;
  const script = checkScript({
    firmware,
    kernelUrl: url('vmlinuz'),
    checkUrl: url('check.cpio'),
    manifestUrl: url('manifest'),
    files: files.map((f) => ({ name: f.name, url: url(f.name) })),
  });
  await writeFile(join(s.www, 'boot.ipxe'), script);
}

const injected = (): InjectedFile[] => [
  { name: 'winpeshl.ini', data: '[LaunchApps]\r\n"%SYSTEMROOT%\\System32\\overnight.cmd"\r\n' },
  { name: 'unattend.xml', data: Buffer.from(`<?xml version="1.0" encoding="utf-8"?>\r\n<unattend xmlns="urn:schemas-microsoft-com:unattend">${'<!-- pad -->'.repeat(700)}</unattend>\r\n`) },
];

const timings: string[] = [];

/** Boots a guest to its check line; notes when the iPXE script ran and when the kernel's /init started. */
async function bootAndCheck(s: Served, o: GuestOptions, label: string, during?: (g: Guest) => Promise<void>): Promise<{ line: string; guest: Guest; ms: number }> {
  const guest = await startGuest(s.lab, o);
  try {
    return await boot(guest);
  } catch (e) {
    (e as Error).message += `\n--- dnsmasq (last 6000 characters):\n${(logs.get(s.dnsmasq) ?? '').slice(-6000)}`;
    throw e;
  } finally {
    await guest.stop();
  }
  async function boot(guest: Guest): Promise<{ line: string; guest: Guest; ms: number }> {
    if (during) await during(guest);
    // Firmware that gave up fails the test at once instead of at the timeout.
    const first = await waitForSerial(guest, /overnight: stand-in boot|Nothing to boot|No bootable device|BdsDxe: failed to load[^\n]*|PXE-E\w+[^\n]*/, BOOT_TIMEOUT);
    if (!first.match[0].startsWith('overnight')) throw new Error(`${label}: firmware gave up: ${first.match[0]}\n${guest.log().slice(-3000)}`);
    const script = first;
    const init = await waitForSerial(guest, /overnight-check: init started/, BOOT_TIMEOUT);
    const { match, elapsedMs } = await waitForSerial(guest, CHECK_LINE, BOOT_TIMEOUT);
    await Promise.race([guest.exited, new Promise((r) => setTimeout(r, 20000))]);
    const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    timings.push(`${label}: iPXE script at ${sec(script.elapsedMs)}, /init at ${sec(init.elapsedMs)}, check line at ${sec(elapsedMs)}`);
    return { line: match[0], guest, ms: elapsedMs };
  }
}

// ---------------------------------------------------------------------------------------------
// DHCP packets: a small option reader to label captured packets, and the fixture writer.

interface Dhcp {
  op: number;
  type: number | undefined;
  xid: number;
  options: Map<number, Buffer>;
  d: UdpDatagram;
}

function parseDhcp(d: UdpDatagram): Dhcp | undefined {
  const p = d.payload;
  if (p.length < 240 || p.readUInt32BE(236) !== 0x63825363) return undefined;
  const options = new Map<number, Buffer>();
  for (let o = 240; o < p.length; ) {
    const code = p[o]!;
    if (code === 255) break;
    if (code === 0) {
      o++;
      continue;
    }
    const len = p[o + 1] ?? 0;
    options.set(code, p.subarray(o + 2, o + 2 + len));
    o += 2 + len;
  }
  return { op: p[0]!, type: options.get(53)?.[0], xid: p.readUInt32BE(4), options, d };
}

const TYPE_NAMES: Record<number, string> = { 1: 'discover', 2: 'offer', 3: 'request', 4: 'decline', 5: 'ack', 6: 'nak', 7: 'release', 8: 'inform' };
const isIpxe = (m: Dhcp) => m.options.has(175) || m.options.get(77)?.toString('latin1') === 'iPXE';
const arch = (m: Dhcp) => m.options.get(93)?.readUInt16BE(0);

function dhcpOf(datagrams: readonly UdpDatagram[]): Dhcp[] {
  return datagrams.map(parseDhcp).filter((m): m is Dhcp => m !== undefined);
}

/** Writes `<label>.hex` (first packet per label) when OVERNIGHT_CAPTURE_FIXTURES=1. */
async function saveFixtures(packets: readonly { label: string; m: Dhcp }[], source: string): Promise<void> {
  if (!CAPTURE) return;
  await mkdir(FIXTURES, { recursive: true });
  const seen = new Set<string>();
  for (const { label, m } of packets) {
    if (seen.has(label)) continue;
    seen.add(label);
    const hex = m.d.payload.toString('hex').match(/.{1,64}/g)!.join('\n');
    const where = `${m.d.srcIp}:${m.d.srcPort} -> ${m.d.dstIp}:${m.d.dstPort}`;
    await writeFile(join(FIXTURES, `${label}.hex`), `# source: ${source}; ${where}; UDP payload, ${m.d.payload.length} bytes; ${HOW}\n${hex}\n`);
  }
}

const clientMessages = (ms: readonly Dhcp[]) => ms.filter((m) => m.op === 1 && m.type !== undefined);
const named = (m: Dhcp) => TYPE_NAMES[m.type ?? 0] ?? `type${m.type}`;

// ---------------------------------------------------------------------------------------------

describe('PXE lab harness (dnsmasq + busybox httpd)', { skip }, () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir('overnight-lab-');
    await standinKernel(); // downloaded once per machine, before the timed boots
  });
  after(async () => {
    if (process.env['OVERNIGHT_KEEP_LAB'] === '1') console.log(`# lab files (pcaps, dnsmasq configs) kept in ${tmp.dir}`);
    else await tmp?.cleanup();
    if (timings.length) console.log(`# boot timings under TCG, from QEMU start:\n${timings.map((t) => `#   ${t}`).join('\n')}`);
  });

  it('BIOS, virtio, iPXE ROM: the stand-in gets every file for its MAC', async () => {
    const s = await serve(join(tmp.dir, 'bios'));
    const mac = '52:54:00:91:00:01';
    let ok: string | undefined;
    try {
      const files = injected();
      await publish(s, 'bios', mac, files);
      const r = await bootAndCheck(s, { firmware: 'bios', nic: 'virtio', mac }, 'BIOS virtio (iPXE ROM)');
      ok = r.line;
      assert.equal(r.line, `OVERNIGHT-CHECK OK mac=${mac} files=${files.length}`, r.guest.log().slice(-3000));
    } finally {
      const ms = clientMessages(dhcpOf(await shutdown(s)));
      if (ok) {
        const rom = ms.filter(isIpxe);
        assert.ok(rom.length >= 2, 'the iPXE ROM sent DISCOVER and REQUEST');
        assert.equal(arch(rom[0]!), 0);
        await saveFixtures(rom.map((m) => ({ label: `ipxe-bios-rom-${named(m)}`, m })), 'QEMU 7.2 pxe-virtio.rom (Debian ipxe-qemu 1.0.0+git-20190125) under SeaBIOS 1.16.2, full-mode dnsmasq 2.90');
      }
    }
  });

  it('BIOS, e1000, iPXE ROM chainloads undionly.kpxe over TFTP', async () => {
    const s = await serve(join(tmp.dir, 'chain'), 'chain');
    const mac = '52:54:00:91:00:03';
    let ok: string | undefined;
    try {
      const files = injected();
      await publish(s, 'bios', mac, files);
      // The ROM and undionly.kpxe send identical DHCP requests (same iPXE build, same option 175),
      // so dnsmasq cannot tell them apart: hand out undionly.kpxe until it was sent, then the script.
      const r = await bootAndCheck(s, { firmware: 'bios', nic: 'e1000', mac }, 'BIOS e1000 (iPXE ROM -> undionly.kpxe)', async () => {
        await waitForOutput(s.dnsmasq, /sent \S*undionly\.kpxe/, BOOT_TIMEOUT);
        await s.restart('full');
      });
      ok = r.line;
      assert.match(r.guest.log(), /using undionly on/);
      assert.equal(r.line, `OVERNIGHT-CHECK OK mac=${mac} files=${files.length}`, r.guest.log().slice(-3000));
    } finally {
      const ms = clientMessages(dhcpOf(await shutdown(s)));
      if (ok) {
        const xids = [...new Set(ms.map((m) => m.xid))];
        assert.ok(xids.length >= 2, 'two DHCP sessions: the ROM, then undionly.kpxe');
        await saveFixtures(
          ms.filter((m) => m.xid === xids[1]).map((m) => ({ label: `ipxe-bios-undionly-${named(m)}`, m })),
          'Debian ipxe undionly.kpxe (1.0.0+git-20190125) chainloaded by QEMU 7.2 pxe-e1000.rom under SeaBIOS 1.16.2, full-mode dnsmasq 2.90',
        );
      }
    }
  });

  it('UEFI, virtio, OVMF PXE -> ipxe.efi: the stand-in gets every file for its MAC', { skip: !haveQemu('uefi') && 'OVMF not installed' }, async () => {
    const s = await serve(join(tmp.dir, 'uefi'));
    const mac = '52:54:00:91:00:02';
    let ok: string | undefined;
    try {
      const files = injected();
      await publish(s, 'uefi', mac, files);
      const r = await bootAndCheck(s, { firmware: 'uefi', nic: 'virtio', mac, romfile: '' }, 'UEFI virtio (OVMF PXE -> ipxe.efi)');
      ok = r.line;
      assert.equal(r.line, `OVERNIGHT-CHECK OK mac=${mac} files=${files.length}`, r.guest.log().slice(-3000));
    } finally {
      const ms = clientMessages(dhcpOf(await shutdown(s)));
      if (ok) {
        const ovmf = ms.filter((m) => !isIpxe(m));
        assert.ok(ovmf.length >= 2, 'OVMF sent DISCOVER and REQUEST');
        assert.equal(arch(ovmf[0]!), 7, 'OVMF x64 sends client architecture 7');
        assert.match(ovmf[0]!.options.get(60)!.toString('latin1'), /^PXEClient:Arch:00007:UNDI:003000$/);
        const ipxe = ms.filter(isIpxe);
        await saveFixtures(ovmf.map((m) => ({ label: `ovmf-pxe-${named(m)}`, m })), 'OVMF 2022.11 (Debian ovmf 2022.11-6+deb12u2) PXE over virtio-net without option ROM, QEMU 7.2, full-mode dnsmasq 2.90');
        await saveFixtures(ipxe.map((m) => ({ label: `ipxe-efi-${named(m)}`, m })), 'Debian ipxe ipxe.efi (1.0.0+git-20190125) loaded by OVMF 2022.11 over TFTP, QEMU 7.2 virtio-net, full-mode dnsmasq 2.90');
      }
    }
  });

  it('a corrupted injected file makes the check FAIL', async () => {
    const s = await serve(join(tmp.dir, 'corrupt'));
    try {
      const mac = '52:54:00:91:00:04';
      await publish(s, 'bios', mac, injected(), { corrupt: 'unattend.xml' });
      const r = await bootAndCheck(s, { firmware: 'bios', nic: 'virtio', mac }, 'BIOS virtio, corrupted file (FAIL expected)');
      assert.match(r.line, /^OVERNIGHT-CHECK FAIL sha256 unattend\.xml /);
    } finally {
      await shutdown(s);
    }
  });

  it("a manifest made for another machine's MAC makes the check FAIL", async () => {
    const s = await serve(join(tmp.dir, 'mac'));
    try {
      const mac = '52:54:00:91:00:05';
      await publish(s, 'bios', mac, injected(), { manifestMac: '52:54:00:91:00:99' });
      const r = await bootAndCheck(s, { firmware: 'bios', nic: 'virtio', mac }, 'BIOS virtio, manifest for another MAC (FAIL expected)');
      assert.equal(r.line, `OVERNIGHT-CHECK FAIL mac mismatch manifest=52:54:00:91:00:99 nic=${mac}`);
    } finally {
      await shutdown(s);
    }
  });

  for (const firmware of ['uefi', 'bios'] as const) {
    const what = firmware === 'uefi' ? 'UEFI OVMF PXE -> ipxe.efi' : 'BIOS iPXE ROM';
    it(`ProxyDHCP beside a site DHCP server: ${what} boots`, { skip: firmware === 'uefi' && !haveQemu('uefi') && 'OVMF not installed' }, async () => {
      const s = await serve(join(tmp.dir, `proxy-${firmware}`), 'proxy');
      const mac = firmware === 'uefi' ? '52:54:00:91:00:06' : '52:54:00:91:00:07';
      let ok: string | undefined;
      try {
        const files = injected();
        await publish(s, firmware, mac, files);
        const r = await bootAndCheck(
          s,
          firmware === 'uefi' ? { firmware, nic: 'virtio', mac, romfile: '' } : { firmware, nic: 'virtio', mac },
          `${firmware.toUpperCase()} virtio via ProxyDHCP`,
        );
        ok = r.line;
        assert.equal(r.line, `OVERNIGHT-CHECK OK mac=${mac} files=${files.length}`, r.guest.log().slice(-3000));
      } finally {
        const ms = dhcpOf(await shutdown(s));
        if (ok) {
          // dnsmasq's ProxyDHCP answers come from 10.91.0.1 (port 67, and 4011 for boot-server requests).
          const proxy = ms.filter((m) => m.op === 2 && m.d.srcIp === SERVER);
          const client = ms.filter((m) => m.op === 1 && m.d.dstPort === 4011);
          const fw = firmware === 'uefi' ? 'efi' : 'bios';
          const src = `dnsmasq 2.90 in proxy mode (dhcp-range=...,proxy + pxe-service) beside a second dnsmasq giving addresses; client ${firmware === 'uefi' ? 'OVMF 2022.11 PXE, virtio-net, no option ROM' : 'QEMU 7.2 pxe-virtio.rom (iPXE 1.0.0+git-20190125)'}`;
          await saveFixtures(
            [
              ...proxy.filter((m) => m.d.srcPort === 67).map((m) => ({ label: `dnsmasq-proxy-${named(m)}-${fw}${isIpxeReply(m, ms) ? '-ipxe' : ''}`, m })),
              ...proxy.filter((m) => m.d.srcPort === 4011).map((m) => ({ label: `dnsmasq-proxy-4011-${named(m)}-${fw}${isIpxeReply(m, ms) ? '-ipxe' : ''}`, m })),
              ...client.map((m) => ({ label: `${firmware === 'uefi' && !isIpxe(m) ? 'ovmf-pxe' : `ipxe-${fw}`}-4011-${named(m)}`, m })),
            ],
            src,
          );
        }
      }
    });
  }

  it('udhcpc and dhclient get leases in the lab (their requests are captured)', async () => {
    const s = await serve(join(tmp.dir, 'clients'));
    try {
      const a = await s.lab.addHost('udhcpc', undefined, '52:54:00:91:00:0a');
      const u = await s.lab.exec(a.ns, '/bin/busybox', ['udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-s', '/bin/true', '-t', '5', '-T', '2']);
      assert.match(u.stdout + u.stderr, /lease of 10\.91\.0\.\d+ obtained/);
      const b = await s.lab.addHost('dhclient', undefined, '52:54:00:91:00:0b');
      const dir = join(s.dir, 'dhclient');
      await mkdir(dir, { recursive: true });
      const dh = s.lab.spawn(b.ns, 'dhclient', ['-1', '-d', '-v', '-sf', '/bin/true', '-lf', join(dir, 'leases'), '-pf', join(dir, 'pid'), 'eth0']);
      await waitForOutput(dh, /bound to 10\.91\.0\.\d+/, 60000);
      await s.lab.stop(dh);
    } finally {
      const ms = clientMessages(dhcpOf(await shutdown(s)));
      const by = (mac: string) => ms.filter((m) => m.d.srcMac === mac);
      await saveFixtures(by('52:54:00:91:00:0a').map((m) => ({ label: `udhcpc-${named(m)}`, m })), 'busybox 1.35.0 udhcpc -i eth0 -n -q, full-mode dnsmasq 2.90');
      await saveFixtures(by('52:54:00:91:00:0b').map((m) => ({ label: `dhclient-${named(m)}`, m })), 'isc-dhcp-client 4.4.3 dhclient -1 -d, full-mode dnsmasq 2.90');
      assert.ok(by('52:54:00:91:00:0a').some((m) => m.type === 1) && by('52:54:00:91:00:0b').some((m) => m.type === 1), 'both clients were captured');
    }
  });
});

/** Whether a server reply answers an iPXE request (same xid as a request carrying iPXE's options). */
function isIpxeReply(reply: Dhcp, all: readonly Dhcp[]): boolean {
  return all.some((m) => m.op === 1 && m.xid === reply.xid && isIpxe(m));
}
