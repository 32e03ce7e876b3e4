// The end-to-end PXE harness, proven with third-party servers (dnsmasq for DHCP + TFTP, busybox
// httpd for HTTP) before overnight's own servers take their place. A QEMU guest boots from its
// NIC in a lab namespace: BIOS through QEMU's iPXE ROM, UEFI through OVMF's own PXE and then
// ipxe.efi over TFTP. The iPXE script loads the stand-in kernel (Debian's, in place of wimboot),
// the checking initramfs, a per-machine manifest and two injected files; the guest prints
// `OVERNIGHT-CHECK OK mac=<its MAC>` only when every file arrived intact and the manifest names
// its own NIC's MAC. A corrupted file makes it print FAIL.
//
// While the guests boot, tcpdump records the DHCP traffic. With OVERNIGHT_CAPTURE_FIXTURES=1 the
// client requests (and dnsmasq's ProxyDHCP replies) are written to test/fixtures/dhcp/*.hex for the
// DHCP codec tests.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Lab, canUseNetns, readPcap, startCapture, udpDatagrams, type Capture, type LabHost, type UdpDatagram } from './helpers/netns.ts';
import { type Guest, type GuestOptions, haveQemu, startGuest, waitForSerial } from './helpers/qemu.ts';
import { CHECK_LINE, buildCheckInitramfs, checkScript, manifestArchiveFor, manifestFor, standinKernel, type InjectedFile } from './helpers/standin.ts';
import { tempDir } from './helpers/tools.ts';

const BOOT_TIMEOUT = 300_000;
const SUBNET = '10.91.0';
const SERVER = `${SUBNET}.1`;
const FIXTURES = join(import.meta.dirname, 'fixtures', 'dhcp');
const CAPTURE = process.env['OVERNIGHT_CAPTURE_FIXTURES'] === '1';

const skip = await (async (): Promise<string | false> => {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, tap devices)';
  if (!haveQemu('bios')) return 'qemu-system-x86_64 not installed';
  if (!(await canUseNetns())) return 'cannot create network namespaces';
  for (const f of ['/usr/sbin/dnsmasq', '/bin/busybox', '/usr/lib/ipxe/undionly.kpxe', '/usr/lib/ipxe/ipxe.efi']) {
    if (!existsSync(f)) return `${f} not installed`;
  }
  return false;
})();

interface Served {
  lab: Lab;
  server: LabHost;
  dir: string;
  www: string;
  capture: Capture;
}

/** A lab with dnsmasq (full DHCP + TFTP, or ProxyDHCP) and busybox httpd on 10.91.0.1. */
async function serve(dir: string, mode: 'full' | 'proxy' = 'full'): Promise<Served> {
  const lab = await Lab.create('pxe');
  try {
    const server = await lab.addHost('srv', `${SERVER}/24`);
    const tftp = join(dir, 'tftp');
    const www = join(dir, 'www');
    await mkdir(tftp, { recursive: true });
    await mkdir(www, { recursive: true });
    await copyFile('/usr/lib/ipxe/undionly.kpxe', join(tftp, 'undionly.kpxe'));
    await copyFile('/usr/lib/ipxe/ipxe.efi', join(tftp, 'ipxe.efi'));
    const conf = [
      'port=0',
      'interface=eth0',
      'bind-interfaces',
      'user=root',
      `dhcp-leasefile=${join(dir, 'leases')}`,
      'log-dhcp',
      'enable-tftp',
      `tftp-root=${tftp}`,
      // Already in iPXE: user class "iPXE" (option 77) or iPXE's option 175.
      'dhcp-userclass=set:ipxe,iPXE',
      'dhcp-match=set:ipxe,175',
      'dhcp-match=set:efi64,option:client-arch,7',
      'dhcp-match=set:efi64,option:client-arch,9',
    ];
    if (mode === 'full') {
      conf.push(
        `dhcp-range=${SUBNET}.100,${SUBNET}.199,255.255.255.0,1h`,
        `dhcp-boot=tag:ipxe,http://${SERVER}/boot.ipxe`,
        'dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi',
        'dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe',
      );
    } else {
      conf.push(
        `dhcp-range=${SUBNET}.0,proxy`,
        `dhcp-boot=tag:ipxe,http://${SERVER}/boot.ipxe`,
        'pxe-service=tag:!ipxe,x86PC,"overnight BIOS",undionly',
        'pxe-service=tag:!ipxe,X86-64_EFI,"overnight UEFI",ipxe.efi',
      );
    }
    await writeFile(join(dir, 'dnsmasq.conf'), conf.join('\n') + '\n');
    const capture = await startCapture(lab, lab.switchNs, 'br0', join(dir, 'dhcp.pcap'));
    lab.spawn(server.ns, 'dnsmasq', ['-k', '--log-facility=-', `--conf-file=${join(dir, 'dnsmasq.conf')}`, '--pid-file=']);
    lab.spawn(server.ns, '/bin/busybox', ['httpd', '-f', '-p', `${SERVER}:80`, '-h', www]);
    await new Promise((r) => setTimeout(r, 300));
    return { lab, server, dir, www, capture };
  } catch (e) {
    await lab.destroy();
    throw e;
  }
}

/** Publishes the stand-in, check.cpio, manifest and files for one machine, and its iPXE script. */
async function publish(s: Served, firmware: 'bios' | 'uefi', mac: string, files: InjectedFile[], corrupt?: string): Promise<void> {
  await copyFile(await standinKernel(), join(s.www, 'vmlinuz'));
  await buildCheckInitramfs(s.www);
  const manifest = firmware === 'bios' ? manifestFor(mac, files) : manifestArchiveFor(mac, files);
  await writeFile(join(s.www, 'manifest'), manifest);
  for (const f of files) {
    const data = Buffer.from(f.data);
    if (f.name === corrupt) data[data.length >> 1] ^= 0x20;
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
async function bootAndCheck(s: Served, o: GuestOptions, label: string): Promise<{ line: string; guest: Guest; ms: number }> {
  const guest = await startGuest(s.lab, o);
  try {
    const script = await waitForSerial(guest, /overnight: stand-in boot/, BOOT_TIMEOUT);
    const init = await waitForSerial(guest, /overnight-check: init started/, BOOT_TIMEOUT);
    const { match, elapsedMs } = await waitForSerial(guest, CHECK_LINE, BOOT_TIMEOUT);
    await Promise.race([guest.exited, new Promise((r) => setTimeout(r, 20000))]);
    const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    timings.push(`${label}: iPXE script at ${sec(script.elapsedMs)}, /init at ${sec(init.elapsedMs)}, check line at ${sec(elapsedMs)}`);
    return { line: match[0], guest, ms: elapsedMs };
  } finally {
    await guest.stop();
  }
}

describe('PXE lab harness (dnsmasq + busybox httpd)', { skip }, () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir('overnight-lab-');
    await standinKernel(); // download once before the timed boots
  });
  after(async () => {
    await tmp?.cleanup();
    if (timings.length) console.log(`# boot timings (tcg):\n${timings.map((t) => `#   ${t}`).join('\n')}`);
  });

  it('BIOS, virtio, iPXE ROM: the stand-in gets every file for its MAC', async () => {
    const dir = join(tmp.dir, 'bios');
    const s = await serve(dir);
    try {
      const mac = '52:54:00:91:00:01';
      const files = injected();
      await publish(s, 'bios', mac, files);
      const r = await bootAndCheck(s, { firmware: 'bios', nic: 'virtio', mac }, 'BIOS virtio (iPXE ROM)');
      assert.equal(r.line, `OVERNIGHT-CHECK OK mac=${mac} files=${files.length}`, r.guest.log().slice(-3000));
    } finally {
      await s.capture.stop();
      await s.lab.destroy();
    }
  });

  it('UEFI, virtio, OVMF PXE -> ipxe.efi: the stand-in gets every file for its MAC', { skip: !haveQemu('uefi') && 'OVMF not installed' }, async () => {
    const dir = join(tmp.dir, 'uefi');
    const s = await serve(dir);
    try {
      const mac = '52:54:00:91:00:02';
      const files = injected();
      await publish(s, 'uefi', mac, files);
      const r = await bootAndCheck(s, { firmware: 'uefi', nic: 'virtio', mac, romfile: '' }, 'UEFI virtio (OVMF PXE, ipxe.efi)');
      assert.equal(r.line, `OVERNIGHT-CHECK OK mac=${mac} files=${files.length}`, r.guest.log().slice(-3000));
    } finally {
      await s.capture.stop();
      await s.lab.destroy();
    }
  });
});
