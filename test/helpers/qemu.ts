// QEMU guests for network boot tests. A guest runs in the lab's switch namespace on a tap device
// of its own (Lab.addTap()), boots from its NIC, and writes its serial console to stdout, which
// the Guest collects; waitForSerial() waits for a line on it.
//
// Firmware:
// - 'bios': SeaBIOS + the NIC's option ROM. Debian's QEMU ROMs (ipxe-qemu) are iPXE; there is no
//   non-iPXE PXE ROM in Debian, so a "plain PXE" BIOS client is this iPXE ROM. It sends the PXE
//   options (60 PXEClient:Arch:00000, 93=0) plus iPXE's user class and option 175, and a ProxyDHCP
//   or DHCP server that tells iPXE apart gives it the script directly; otherwise it fetches
//   undionly.kpxe over TFTP as a PXE ROM would. SeaBIOS' text console is copied to the serial
//   port (etc/sercon-port), so iPXE's messages show up in the log.
// - 'uefi': OVMF (pflash code + a per-guest copy of the VARS file). With `romfile: ''` the NIC has
//   no option ROM and OVMF's own network stack does PXE (virtio only: OVMF has no e1000 driver);
//   with the default ROM (QEMU's efi-*.rom, iPXE with an EFI image) iPXE's EFI driver runs instead.
import { type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Lab, type LabHost, waitForOutput } from './netns.ts';

export const QEMU = 'qemu-system-x86_64';
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

export interface GuestOptions {
  firmware: 'bios' | 'uefi';
  nic: 'virtio' | 'e1000';
  /** Guest MAC, e.g. '52:54:00:12:34:56'. */
  mac: string;
  /** NIC option ROM: undefined = QEMU's default (iPXE), '' = none, or a path. */
  romfile?: string;
  /** 'tcg' (default; needed whenever a Linux kernel runs here) or 'kvm'. */
  accel?: 'tcg' | 'kvm';
  /** MiB, default 512. */
  memory?: number;
  /** Extra QEMU arguments. */
  extraArgs?: string[];
}

export interface Guest {
  readonly child: ChildProcess;
  readonly tap: string;
  readonly mac: string;
  readonly options: GuestOptions;
  /** Date.now() when QEMU was started. */
  readonly startedAt: number;
  /** Everything the serial console (and QEMU's stderr) printed so far. */
  log(): string;
  /** Each completed console line (escape sequences removed) with ms since QEMU's start. */
  timeline(): readonly { ms: number; line: string }[];
  /** Resolves with QEMU's exit code once it has ended. */
  readonly exited: Promise<number | null>;
  /** Stops QEMU (by PID, through the lab) and removes the guest's temp folder. */
  stop(): Promise<void>;
}

/** Whether QEMU and the firmware a test needs are installed. */
export function haveQemu(firmware: 'bios' | 'uefi' = 'bios'): boolean {
  const onPath = (process.env['PATH'] ?? '').split(':').some((d) => existsSync(join(d, QEMU)));
  if (!onPath) return false;
  return firmware === 'bios' || (existsSync(OVMF_CODE) && existsSync(OVMF_VARS));
}

/** Starts a guest that boots from the network on a new tap of `lab`. */
export async function startGuest(lab: Lab, o: GuestOptions): Promise<Guest> {
  const tap = await lab.addTap();
  const dir = await mkdtemp(join(tmpdir(), 'overnight-guest-'));
  const device = o.nic === 'virtio' ? 'virtio-net-pci' : 'e1000';
  let dev = `${device},netdev=n0,mac=${o.mac},bootindex=1`;
  if (o.romfile !== undefined) dev += `,romfile=${o.romfile}`;
  const args = [
    '-accel', o.accel ?? 'tcg',
    '-m', String(o.memory ?? 512),
    '-nodefaults', '-display', 'none', '-vga', 'none',
    '-serial', 'stdio', '-monitor', 'none',
    '-no-reboot',
    '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`,
    '-device', dev,
  ];
  if (o.firmware === 'bios') {
    // SeaBIOS mirrors its text console (int 10h, where iPXE prints) to COM1 (0x3f8).
    const sercon = join(dir, 'sercon-port');
    await writeFile(sercon, Buffer.from([0xf8, 0x03]));
    args.push('-fw_cfg', `name=etc/sercon-port,file=${sercon}`, '-boot', 'n');
  } else {
    const vars = join(dir, 'OVMF_VARS.fd');
    await copyFile(OVMF_VARS, vars);
    args.push(
      '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`,
      '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
    );
  }
  if (o.extraArgs) args.push(...o.extraArgs);

  const child = lab.spawn(lab.switchNs, QEMU, args);
  let text = '';
  let partial = '';
  const lines: { ms: number; line: string }[] = [];
  const startedAt = Date.now();
  const listeners = new Set<() => void>();
  const onData = (b: Buffer) => {
    const chunk = b.toString('latin1');
    text += chunk;
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const p of parts) {
      const line = clean(p).trim();
      if (line) lines.push({ ms: Date.now() - startedAt, line });
    }
    for (const l of listeners) l();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const guest: Guest & { listeners: Set<() => void> } = {
    child,
    tap,
    mac: o.mac,
    options: o,
    startedAt,
    log: () => text,
    timeline: () => lines,
    exited,
    listeners,
    async stop() {
      await lab.stop(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
  void exited.then(() => rm(dir, { recursive: true, force: true }));
  return guest;
}

export interface SerialMatch {
  /** The match of the pattern. */
  match: RegExpExecArray;
  /** Milliseconds from QEMU's start to the match (measured when the text arrived). */
  elapsedMs: number;
}

/**
 * Waits until the guest's serial output matches `pattern` (text already printed counts).
 * Rejects on timeout or when QEMU exits first, with the tail of the log.
 */
export function waitForSerial(guest: Guest, pattern: RegExp, timeoutMs: number): Promise<SerialMatch> {
  const g = guest as Guest & { listeners: Set<() => void> };
  const re = new RegExp(pattern.source, pattern.flags.replace('g', ''));
  return new Promise((resolve, reject) => {
    let finished = false;
    const finish = (f: () => void) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      g.listeners.delete(check);
      f();
    };
    const check = () => {
      const m = re.exec(clean(guest.log()));
      if (m) finish(() => resolve({ match: m, elapsedMs: Date.now() - guest.startedAt }));
    };
    const timer = setTimeout(
      () => finish(() => reject(new Error(`guest ${guest.mac}: timed out after ${timeoutMs} ms waiting for ${pattern}\n${tail(guest)}`))),
      timeoutMs,
    );
    g.listeners.add(check);
    void guest.exited.then((code) => {
      // Let the last chunk of output be seen first.
      setImmediate(() => {
        check();
        finish(() => reject(new Error(`guest ${guest.mac}: QEMU exited (${code}) before ${pattern}\n${tail(guest)}`)));
      });
    });
    check();
  });
}

/** The serial log without terminal escape sequences (SeaBIOS' sercon and OVMF draw with them). */
export function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b[()][0-9A-Za-z]/g, '').replace(/\x1bc/g, '').replace(/\r/g, '');
}

function tail(guest: Guest): string {
  return clean(guest.log()).slice(-4000);
}

/**
 * Answers IPv6 router solicitations on a lab segment (dnsmasq, RA only: no DHCPv4, no DNS).
 *
 * iPXE's "Configuring (net0 ...)" waits for every configurator, IPv6 included: on a segment with
 * no IPv6 router it waits about 13 s for an advertisement that never comes, after DHCPv4 has long
 * finished. With an advertisement (a ULA prefix, SLAAC only) the 2019 iPXE ROM reaches its script
 * in about 5 s instead of 18 s under TCG, and ipxe.efi saves the same 13 s.
 * Adds `${prefix}1/64` to the host's interface. The process is ended by Lab.destroy().
 */
export async function startRouterAdvertiser(lab: Lab, host: LabHost, prefix = 'fd00:91::'): Promise<ChildProcess> {
  await lab.exec(host.ns, 'ip', ['-6', 'addr', 'add', `${prefix}1/64`, 'dev', host.ifname, 'nodad']);
  const dir = await mkdtemp(join(tmpdir(), 'overnight-ra-'));
  const child = lab.spawn(host.ns, 'dnsmasq', [
    '-k', '-C', '/dev/null', '--port=0', `--interface=${host.ifname}`, '--bind-interfaces', '--user=root',
    '--enable-ra', `--dhcp-range=::,constructor:${host.ifname},ra-only`,
    `--dhcp-leasefile=${join(dir, 'leases')}`, '--log-facility=-', '--pid-file=',
  ]);
  child.stdout?.resume();
  const started = waitForOutput(child, /started, version/, 10000);
  child.once('exit', () => void rm(dir, { recursive: true, force: true }));
  await started;
  child.stderr?.resume();
  return child;
}
