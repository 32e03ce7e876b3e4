// The wimboot stand-in for network boot tests. wimboot is not packaged by Debian, so a Debian
// Linux kernel takes its place: iPXE loads it with `kernel`, then the checking initramfs and the
// files a machine's boot plan injects (`initrd -n NAME URL NAME`). The initramfs' /init checks the
// files against a per-machine manifest (sha256, size, the machine's MAC), prints one line on the
// serial console and powers off:
//
//   OVERNIGHT-CHECK OK mac=52:54:00:12:34:56 files=3
//   OVERNIGHT-CHECK FAIL <reason>
//
// How the files reach the initramfs depends on the firmware:
// - BIOS (iPXE's bzImage loader): each initrd with a name after its URL is wrapped by iPXE in a
//   cpio header, so /NAME exists in the initramfs root. This is the same naming wimboot relies on.
//   The manifest is a text file, manifestFor().
// - UEFI (iPXE starts the kernel's EFI stub): Debian bookworm's iPXE (2019) has neither
//   `initrd.magic` nor the LoadFile2 initrd protocol, so the stub loads the files named by
//   `initrd=NAME` on the kernel command line and concatenates them raw, with no padding, after
//   check.cpio (padded to 512 bytes). There the manifest is manifestArchiveFor(): a cpio archive
//   holding manifest.txt, that ends with the header of one more entry, payload.bin, whose size is
//   the sum of the files. The kernel's unpacker takes the raw files that follow as that entry's
//   body, and /init cuts them apart by the sizes in the manifest. checkScript() writes the right
//   form for each firmware.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { run } from './tools.ts';

const pexec = promisify(execFile);

/** The whole line /init prints (matched once its end arrived); group 1 is OK or FAIL. */
export const CHECK_LINE = /OVERNIGHT-CHECK (OK|FAIL)(?: [^\r\n]*)?(?=\r?\n)/;

/** Kernel modules the stand-in loads so /sys/class/net has the guest NIC (Debian builds them as modules). */
export const STANDIN_MODULES = ['virtio_pci', 'virtio_net', 'e1000', 'e1000e'] as const;

export interface StandinKernel {
  /** Path to the bzImage (also an EFI application through its stub). */
  vmlinuz: string;
  /** Kernel release, e.g. '6.1.0-57-amd64'. */
  release: string;
  /** Debian package the kernel came from. */
  pkg: string;
  /** Folder with the needed .ko files (flat) and `order`, the load order one name a line. */
  modulesDir: string;
}

/** Cache root: $OVERNIGHT_TEST_CACHE, else /var/cache/overnight-test when writable, else the temp folder. */
export function cacheRoot(): string {
  if (process.env['OVERNIGHT_TEST_CACHE']) return process.env['OVERNIGHT_TEST_CACHE'];
  return process.getuid?.() === 0 ? '/var/cache/overnight-test' : join(tmpdir(), 'overnight-test-cache');
}

/** Debian's current amd64 kernel image package, unsigned when the archive has it. */
async function kernelPackage(): Promise<string> {
  const { stdout } = await run('apt-cache', ['depends', 'linux-image-amd64']);
  const m = /Depends:\s*(linux-image-\S+-amd64)\b/.exec(stdout);
  if (!m) throw new Error(`apt-cache depends linux-image-amd64 named no kernel image (run apt-get update first):\n${stdout}`);
  const unsigned = `${m[1]}-unsigned`;
  const probe = await run('apt-cache', ['show', '--no-all-versions', unsigned]).catch(() => undefined);
  return probe && probe.stdout.includes('Package:') ? unsigned : m[1]!;
}

/** `depends=` of a module, read from its .modinfo strings. */
function moduleDepends(ko: Buffer): string[] {
  const at = ko.indexOf('\0depends=');
  if (at < 0) return [];
  const end = ko.indexOf(0, at + 1);
  const v = ko.subarray(at + 9, end).toString('latin1');
  return v ? v.split(',') : [];
}

async function indexModules(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.ko')) out.set(e.name.slice(0, -3).replace(/-/g, '_'), p);
    }
  };
  await walk(root);
  return out;
}

let pending: Promise<StandinKernel> | undefined;

/**
 * Downloads (once per machine; kept under cacheRoot()) Debian's kernel image package with
 * `apt-get download`, extracts it with `dpkg -x`, and keeps the kernel plus the NIC modules.
 */
export function standinKernelInfo(): Promise<StandinKernel> {
  pending ??= fetchKernel().catch((e: unknown) => {
    pending = undefined;
    throw e;
  });
  return pending;
}

/** Path to the stand-in kernel (vmlinuz). */
export async function standinKernel(): Promise<string> {
  return (await standinKernelInfo()).vmlinuz;
}

async function fetchKernel(): Promise<StandinKernel> {
  const base = join(cacheRoot(), 'kernel');
  const infoFile = join(base, 'current.json');
  if (existsSync(infoFile)) {
    const info = JSON.parse(await readFile(infoFile, 'utf8')) as StandinKernel;
    if (existsSync(info.vmlinuz) && existsSync(join(info.modulesDir, 'order'))) return info;
  }
  const pkg = await kernelPackage();
  await mkdir(base, { recursive: true });
  const work = await mkdtemp(join(base, 'tmp-'));
  try {
    await pexec('apt-get', ['download', pkg], { cwd: work, maxBuffer: 16 * 1024 * 1024 });
    const deb = (await readdir(work)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${work}`);
    await run('dpkg', ['-x', join(work, deb), join(work, 'x')]);
    const bootFiles = await readdir(join(work, 'x', 'boot'));
    const vmlinuzName = bootFiles.find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuzName) throw new Error(`${deb} has no /boot/vmlinuz-*`);
    const release = vmlinuzName.slice('vmlinuz-'.length);
    const dest = join(base, release);
    const staging = join(work, 'keep');
    await mkdir(join(staging, 'modules'), { recursive: true });
    await copyFile(join(work, 'x', 'boot', vmlinuzName), join(staging, 'vmlinuz'));

    // The NIC drivers and what they depend on, in load order (dependencies first).
    const index = await indexModules(join(work, 'x', 'lib', 'modules', release));
    const order: string[] = [];
    const visit = async (name: string): Promise<void> => {
      if (order.includes(name)) return;
      const path = index.get(name);
      if (!path) return; // built in
      for (const d of moduleDepends(await readFile(path))) await visit(d);
      order.push(name);
      await copyFile(path, join(staging, 'modules', `${name}.ko`));
    };
    for (const m of STANDIN_MODULES) await visit(m);
    await writeFile(join(staging, 'modules', 'order'), order.join('\n') + '\n');

    // Another test process may have finished the same download first: keep a complete copy.
    const complete = existsSync(join(dest, 'vmlinuz')) && existsSync(join(dest, 'modules', 'order'));
    if (!complete) {
      await rm(dest, { recursive: true, force: true });
      await rename(staging, dest).catch(async (e: unknown) => {
        if (!(existsSync(join(dest, 'vmlinuz')) && existsSync(join(dest, 'modules', 'order')))) throw e;
      });
    }
    const info: StandinKernel = { vmlinuz: join(dest, 'vmlinuz'), release, pkg, modulesDir: join(dest, 'modules') };
    await writeFile(`${infoFile}.${process.pid}`, JSON.stringify(info, null, 2));
    await rename(`${infoFile}.${process.pid}`, infoFile);
    return info;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// cpio (newc) writer

export interface CpioEntry {
  /** Path without a leading slash. */
  name: string;
  /** Full st_mode (type bits included), e.g. 0o100755, 0o40755, 0o120777, 0o20600. */
  mode: number;
  /** File content, or the target of a symlink. */
  data?: Buffer | string;
  /** Device number of a character or block device. */
  rdev?: { major: number; minor: number };
  /** Declared size when `data` is absent: the body follows outside the archive (see `open`). */
  size?: number;
}

/**
 * A newc ("070701") archive, as the kernel's initramfs unpacker and iPXE write it. With `open`,
 * the archive stops right after the last entry's header and name: no body, no trailer, no padding.
 */
export function cpioNewc(entries: readonly CpioEntry[], opts: { open?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  let ino = 1;
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const pad4 = () => {
    const n = (4 - (size % 4)) % 4;
    if (n) {
      parts.push(Buffer.alloc(n));
      size += n;
    }
  };
  const push = (b: Buffer) => {
    parts.push(b);
    size += b.length;
  };
  const all = opts.open ? [...entries] : [...entries, { name: 'TRAILER!!!', mode: 0 } as CpioEntry];
  for (const [i, e] of all.entries()) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data);
    const name = Buffer.from(`${e.name}\0`);
    const header =
      '070701' +
      hex(e.name === 'TRAILER!!!' ? 0 : ino++) +
      hex(e.mode) +
      hex(0) + // uid
      hex(0) + // gid
      hex((e.mode & 0o170000) === 0o40000 ? 2 : 1) + // nlink
      hex(0) + // mtime
      hex(e.data === undefined ? (e.size ?? 0) : data.length) +
      hex(0) + // devmajor
      hex(0) + // devminor
      hex(e.rdev?.major ?? 0) +
      hex(e.rdev?.minor ?? 0) +
      hex(name.length) +
      hex(0); // check
    push(Buffer.from(header, 'latin1'));
    push(name);
    pad4();
    if (opts.open && i === all.length - 1) return Buffer.concat(parts);
    push(data);
    pad4();
  }
  // Pad the archive to 512 bytes, as cpio(1) does.
  const tail = (512 - (size % 512)) % 512;
  if (tail) parts.push(Buffer.alloc(tail));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// The checking initramfs

/** The checking initramfs' /init (busybox sh), kept as a file of its own beside this one. */
const INIT_SCRIPT = join(import.meta.dirname, 'standin-init.sh');

/**
 * Writes `check.cpio` (gzip-compressed newc) into `dir`: static busybox, the NIC modules and the
 * checking /init. Returns its path.
 */
export async function buildCheckInitramfs(dir: string, opts: { busybox?: string } = {}): Promise<string> {
  const kernel = await standinKernelInfo();
  const busybox = await readFile(opts.busybox ?? '/bin/busybox');
  const order = (await readFile(join(kernel.modulesDir, 'order'), 'utf8')).split('\n').filter(Boolean);
  const entries: CpioEntry[] = [];
  for (const d of ['bin', 'dev', 'proc', 'sys', 'tmp', 'modules']) entries.push({ name: d, mode: 0o40755 });
  entries.push({ name: 'dev/console', mode: 0o20600, rdev: { major: 5, minor: 1 } });
  entries.push({ name: 'dev/null', mode: 0o20666, rdev: { major: 1, minor: 3 } });
  entries.push({ name: 'bin/busybox', mode: 0o100755, data: busybox });
  entries.push({ name: 'bin/sh', mode: 0o120777, data: 'busybox' });
  entries.push({ name: 'init', mode: 0o100755, data: await readFile(INIT_SCRIPT) });
  entries.push({ name: 'modules/order', mode: 0o100644, data: order.join('\n') + '\n' });
  for (const m of order) {
    entries.push({ name: `modules/${m}.ko`, mode: 0o100644, data: await readFile(join(kernel.modulesDir, `${m}.ko`)) });
  }
  const path = join(dir, 'check.cpio');
  // Zero padding to 512 bytes: what follows starts 4-byte aligned, as the unpacker requires.
  const gz = gzipSync(cpioNewc(entries), { level: 9 });
  await writeFile(path, Buffer.concat([gz, Buffer.alloc((512 - (gz.length % 512)) % 512)]));
  return path;
}

export interface InjectedFile {
  name: string;
  data: Buffer | string;
}

/**
 * The manifest a server would generate for one machine: `mac`, then one `file SHA256 SIZE NAME`
 * line per injected file, then `end`. Names are plain (no slashes, no spaces).
 */
export function manifestFor(mac: string, files: readonly InjectedFile[]): string {
  const lines = ['# overnight check manifest v1', `mac ${mac.toLowerCase()}`];
  for (const f of files) {
    if (!/^[A-Za-z0-9._-]+$/.test(f.name)) throw new Error(`manifest: unsupported file name ${JSON.stringify(f.name)}`);
    const data = Buffer.isBuffer(f.data) ? f.data : Buffer.from(f.data);
    lines.push(`file ${createHash('sha256').update(data).digest('hex')} ${data.length} ${f.name}`);
  }
  lines.push('end');
  return lines.join('\n') + '\n';
}

/**
 * The UEFI form of the manifest (see the top of this file): a cpio archive with manifest.txt and
 * the open header of payload.bin, whose body is the files the EFI stub appends raw, in order.
 */
export function manifestArchiveFor(mac: string, files: readonly InjectedFile[]): Buffer {
  const total = files.reduce((n, f) => n + (Buffer.isBuffer(f.data) ? f.data.length : Buffer.byteLength(f.data)), 0);
  return cpioNewc(
    [
      { name: 'manifest.txt', mode: 0o100644, data: manifestFor(mac, files) },
      { name: 'payload.bin', mode: 0o100644, size: total },
    ],
    { open: true },
  );
}

export interface CheckScriptOptions {
  firmware: 'bios' | 'uefi';
  /** URL of the stand-in kernel. */
  kernelUrl: string;
  /** URL of check.cpio. */
  checkUrl: string;
  /** URL of the manifest: manifestFor() text for BIOS, manifestArchiveFor() for UEFI. */
  manifestUrl: string;
  /** The injected files, in manifest order. */
  files: readonly { name: string; url: string }[];
  /** Extra kernel arguments. */
  append?: string;
}

/** An iPXE script that boots the stand-in with check.cpio, the manifest and the named files. */
export function checkScript(o: CheckScriptOptions): string {
  const args = ['console=ttyS0', 'panic=-1', 'loglevel=4', 'overnight.mac=${net0/mac}'];
  const lines = ['#!ipxe', 'echo overnight: stand-in boot ${net0/mac} ${platform}'];
  if (o.firmware === 'uefi') args.push('initrd=check.cpio', 'initrd=manifest.cpio', ...o.files.map((f) => `initrd=${f.name}`));
  if (o.append) args.push(o.append);
  lines.push(`kernel ${o.kernelUrl} ${args.join(' ')}`);
  if (o.firmware === 'uefi') {
    // Images are found by name through iPXE's EFI file system.
    lines.push(`initrd -n check.cpio ${o.checkUrl}`, `initrd -n manifest.cpio ${o.manifestUrl}`);
    for (const f of o.files) lines.push(`initrd -n ${f.name} ${f.url}`);
  } else {
    // No name after the URL: iPXE passes check.cpio through as an archive to unpack; a name makes
    // iPXE wrap the file in a cpio header with that name.
    lines.push(`initrd ${o.checkUrl}`, `initrd -n manifest.txt ${o.manifestUrl} manifest.txt`);
    for (const f of o.files) lines.push(`initrd -n ${f.name} ${f.url} ${f.name}`);
  }
  lines.push('boot');
  return lines.join('\n') + '\n';
}
