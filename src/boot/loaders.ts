// The boot loaders a network install needs, by client firmware, and where this host has them:
// a folder the user configured (--loaders DIR), the data folder that `overnight loaders fetch`
// fills, Debian/Ubuntu's `ipxe` package (/usr/lib/ipxe) and Fedora/Arch's (/usr/share/ipxe).
// Each file found is checked cheaply (PE machine type, PXE size, wimboot's bzImage header), so a
// wrong file fails here, with its path, rather than as a silent hang on a client.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export type LoaderErrorCode =
  | 'E_LOADER_MISSING' // no folder searched holds the file
  | 'E_LOADER_INVALID' // the file is there but is not what its name says
  | 'E_FETCH_HTTP' // the server answered with an error status
  | 'E_FETCH_NETWORK' // connection refused, reset, closed mid-body, or timed out
  | 'E_HASH_MISMATCH' // downloaded or copied bytes differ from the pinned SHA-256
  | 'E_NO_PIN' // no SHA-256 to check a file against (neither built in nor given)
  | 'E_PIN_FORMAT' // a --sha256 / --pins entry that is not NAME=64 hex digits
  | 'E_PIN_CONFLICT' // a user hash that contradicts a built-in pin
  | 'E_ARCHIVE' // the pinned archive lacks a member, or is not a tar.gz
  | 'E_UNKNOWN_LOADER'; // a name that is not in the loader table

/** A typed error with a stable code; the message says what to do. */
export class LoaderError extends Error {
  readonly code: LoaderErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: LoaderErrorCode, message: string, context: Record<string, unknown> = {}) {
    super(message);
    this.name = 'LoaderError';
    this.code = code;
    this.context = context;
  }
}

/** Client firmware, named as the boot policy names it (DHCP option 93). */
export type LoaderFirmware = 'bios' | 'efi-x64' | 'efi-ia32';

/** What a file must look like: a PXE network boot program, an EFI application, or wimboot. */
export type LoaderKind = 'pxe' | 'efi-x64' | 'efi-ia32' | 'wimboot-x64' | 'wimboot-ia32';

export interface LoaderSpec {
  name: string;
  /** Firmware the loader runs on. wimboot x86_64 runs on BIOS and x64 UEFI. */
  firmware: readonly LoaderFirmware[];
  kind: LoaderKind;
  /** 'ipxe' loaders are TFTP stage 1; 'wimboot' is loaded by iPXE's `kernel` over HTTP. */
  stage: 'ipxe' | 'wimboot';
  /** Primary or fallback for its firmware and stage. */
  role: 'primary' | 'fallback';
  /** File names to look for in a system folder (Debian, Fedora and Arch name them differently). */
  systemNames: readonly string[];
  /** How to get it when it is missing, first the packaged way. */
  howToGet: string;
}

const IPXE_APT = 'apt-get install ipxe (Debian/Ubuntu), dnf install ipxe-bootimgs-x86 (Fedora)';

/** Every loader overnight knows, in the order `loaders list` shows them. */
export const LOADERS: readonly LoaderSpec[] = [
  { name: 'undionly.kpxe', firmware: ['bios'], kind: 'pxe', stage: 'ipxe', role: 'primary', systemNames: ['undionly.kpxe'], howToGet: IPXE_APT },
  { name: 'ipxe.pxe', firmware: ['bios'], kind: 'pxe', stage: 'ipxe', role: 'fallback', systemNames: ['ipxe.pxe'], howToGet: IPXE_APT },
  { name: 'ipxe.efi', firmware: ['efi-x64'], kind: 'efi-x64', stage: 'ipxe', role: 'primary', systemNames: ['ipxe.efi', 'ipxe-x86_64.efi', 'x86_64/ipxe.efi'], howToGet: IPXE_APT },
  { name: 'snponly.efi', firmware: ['efi-x64'], kind: 'efi-x64', stage: 'ipxe', role: 'fallback', systemNames: ['snponly.efi', 'ipxe-snponly-x86_64.efi', 'x86_64/snponly.efi'], howToGet: IPXE_APT },
  {
    name: 'ipxe-i386.efi',
    firmware: ['efi-ia32'],
    kind: 'efi-ia32',
    stage: 'ipxe',
    role: 'primary',
    // Debian's ipxe package builds no 32-bit EFI loader; Fedora's ipxe-bootimgs-x86 does.
    systemNames: ['ipxe-i386.efi', 'i386/ipxe.efi'],
    howToGet: "not in Debian's ipxe package (it ships x64 EFI only); dnf install ipxe-bootimgs-x86 (Fedora)",
  },
  { name: 'wimboot', firmware: ['bios', 'efi-x64'], kind: 'wimboot-x64', stage: 'wimboot', role: 'primary', systemNames: ['wimboot'], howToGet: 'not packaged by Debian' },
  { name: 'wimboot.i386', firmware: ['efi-ia32'], kind: 'wimboot-ia32', stage: 'wimboot', role: 'primary', systemNames: ['wimboot.i386'], howToGet: 'not packaged by Debian' },
];

export function loaderSpec(name: string): LoaderSpec {
  const spec = LOADERS.find((l) => l.name === name);
  if (!spec) throw new LoaderError('E_UNKNOWN_LOADER', `unknown loader ${JSON.stringify(name)}; known: ${LOADERS.map((l) => l.name).join(', ')}`, { name });
  return spec;
}

export type LoaderSource = 'configured' | 'data' | 'system';

export interface SearchFolder {
  source: LoaderSource;
  dir: string;
}

export interface LoaderEntry {
  name: string;
  firmware: readonly LoaderFirmware[];
  kind: LoaderKind;
  status: 'ok' | 'missing' | 'invalid';
  /** Absolute path of the file used (the first folder in search order that holds it). */
  path?: string;
  source?: LoaderSource;
  size?: number;
  sha256?: string;
  /** What the check found wrong (status 'invalid'). */
  problem?: string;
  /** wimboot's version string from its header ("v2.9.0"). */
  version?: string;
}

export interface LoaderSet {
  /** Folders in search order; a file in an earlier one wins. */
  searched: SearchFolder[];
  /** One entry per known loader, in LOADERS order. */
  entries: LoaderEntry[];
  missing: string[];
  invalid: string[];
}

/** System folders that distribution packages fill. /usr/lib/ipxe/qemu holds NIC option ROMs, not loaders. */
export const SYSTEM_DIRS: readonly string[] = ['/usr/lib/ipxe', '/usr/share/ipxe'];

/** overnight's data folder: $OVERNIGHT_DATA_DIR, else $XDG_DATA_HOME/overnight, else ~/.local/share/overnight. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OVERNIGHT_DATA_DIR) return resolve(env.OVERNIGHT_DATA_DIR);
  if (env.XDG_DATA_HOME) return join(resolve(env.XDG_DATA_HOME), 'overnight');
  return join(homedir(), '.local', 'share', 'overnight');
}

/** The folder `overnight loaders fetch` writes to by default. */
export function defaultLoaderDir(dataDir = defaultDataDir()): string {
  return join(dataDir, 'loaders');
}

export interface FindLoadersOptions {
  /** A folder the user configured (--loaders DIR); searched first. */
  dir?: string | undefined;
  /** overnight's data folder; its `loaders/` sub-folder is searched second. */
  dataDir?: string | undefined;
  /** System folders, searched last (default SYSTEM_DIRS); tests replace them. */
  systemDirs?: readonly string[] | undefined;
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const st = await stat(path);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Looks up every known loader in the folders, in order, and checks each file found. */
export async function findLoaders(opts: FindLoadersOptions = {}): Promise<LoaderSet> {
  const searched: SearchFolder[] = [];
  if (opts.dir) searched.push({ source: 'configured', dir: resolve(opts.dir) });
  searched.push({ source: 'data', dir: defaultLoaderDir(opts.dataDir ? resolve(opts.dataDir) : defaultDataDir()) });
  for (const d of opts.systemDirs ?? SYSTEM_DIRS) searched.push({ source: 'system', dir: resolve(d) });

  const entries: LoaderEntry[] = [];
  for (const spec of LOADERS) {
    let entry: LoaderEntry = { name: spec.name, firmware: spec.firmware, kind: spec.kind, status: 'missing' };
    search: for (const folder of searched) {
      // overnight's own folders use overnight's names; system folders use the package's names.
      const names = folder.source === 'system' ? spec.systemNames : [spec.name];
      for (const n of names) {
        const path = join(folder.dir, n);
        if ((await fileSize(path)) === undefined) continue;
        const data = await readFile(path);
        const check = checkLoader(data, spec.kind);
        entry = {
          ...entry,
          status: check.ok ? 'ok' : 'invalid',
          path,
          source: folder.source,
          size: data.length,
          sha256: sha256(data),
          ...(check.ok ? {} : { problem: check.problem }),
          ...(check.version ? { version: check.version } : {}),
        };
        break search;
      }
    }
    entries.push(entry);
  }
  return {
    searched,
    entries,
    missing: entries.filter((e) => e.status === 'missing').map((e) => e.name),
    invalid: entries.filter((e) => e.status === 'invalid').map((e) => e.name),
  };
}

function howToGetText(spec: LoaderSpec, searched: readonly SearchFolder[]): string {
  const configured = searched.find((s) => s.source === 'configured');
  const data = searched.find((s) => s.source === 'data');
  const ways = [
    spec.howToGet.startsWith('not ') ? undefined : spec.howToGet,
    `\`overnight loaders fetch\` (downloads pinned official builds${data ? ` into ${data.dir}` : ''})`,
    configured ? `put ${spec.name} in ${configured.dir}` : `\`--loaders DIR\` with a folder holding ${spec.name}`,
  ].filter(Boolean);
  return ways.join('; or ');
}

/**
 * The loader's entry when it is present and valid; otherwise a LoaderError that names the file,
 * the folders searched, and how to get it.
 */
export function requireLoader(set: LoaderSet, name: string): LoaderEntry & { path: string } {
  const spec = loaderSpec(name);
  const entry = set.entries.find((e) => e.name === name);
  const folders = set.searched.map((s) => `${s.dir} (${s.source})`).join(', ');
  if (!entry || entry.status === 'missing') {
    const note = spec.howToGet.startsWith('not ') ? ` (${spec.howToGet})` : '';
    throw new LoaderError(
      'E_LOADER_MISSING',
      `boot loader ${name} not found${note}; searched ${folders}. Get it with: ${howToGetText(spec, set.searched)}`,
      { name, searched: set.searched.map((s) => s.dir) },
    );
  }
  if (entry.status === 'invalid') {
    throw new LoaderError(
      'E_LOADER_INVALID',
      `boot loader ${entry.path} is not a valid ${name}: ${entry.problem}. Replace it: ${howToGetText(spec, set.searched)}`,
      { name, path: entry.path },
    );
  }
  return entry as LoaderEntry & { path: string };
}

/** The stage-1 (iPXE) or wimboot loader for a firmware: the primary one, else the fallback. */
export function loaderFor(set: LoaderSet, firmware: LoaderFirmware, stage: 'ipxe' | 'wimboot'): LoaderEntry & { path: string } {
  const candidates = LOADERS.filter((l) => l.stage === stage && l.firmware.includes(firmware));
  // x64 wimboot also runs on BIOS; ia32 UEFI needs the i386 build.
  const ordered = [...candidates.filter((c) => c.role === 'primary'), ...candidates.filter((c) => c.role === 'fallback')];
  let first: unknown;
  for (const c of ordered) {
    try {
      return requireLoader(set, c.name);
    } catch (e) {
      first ??= e;
    }
  }
  throw first ?? new LoaderError('E_LOADER_MISSING', `no ${stage} loader is known for ${firmware} firmware`, { firmware, stage });
}

// ---- cheap format checks -------------------------------------------------------------------

export interface LoaderCheck {
  ok: boolean;
  problem?: string;
  version?: string;
}

/** PE/COFF machine types (Microsoft PE format, "Machine Types"). */
export const PE_MACHINE = { x64: 0x8664, ia32: 0x014c, arm64: 0xaa64 } as const;

/** Reads the PE header: 'MZ', e_lfanew at 0x3c, 'PE\0\0', Machine, and the optional header's Subsystem. */
export function peInfo(b: Uint8Array): { machine: number; subsystem: number | undefined } | { problem: string } {
  if (b.length < 0x40 || b[0] !== 0x4d || b[1] !== 0x5a) return { problem: "no 'MZ' signature (not a PE/EFI file)" };
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const lfanew = dv.getUint32(0x3c, true);
  if (lfanew + 24 > b.length) return { problem: `PE header offset 0x${lfanew.toString(16)} is past the end of the file` };
  if (dv.getUint32(lfanew, true) !== 0x00004550) return { problem: `no 'PE' signature at 0x${lfanew.toString(16)}` };
  const machine = dv.getUint16(lfanew + 4, true);
  const optSize = dv.getUint16(lfanew + 20, true);
  const opt = lfanew + 24;
  // Subsystem sits at offset 68 of the optional header in both PE32 and PE32+.
  const subsystem = optSize >= 70 && opt + 70 <= b.length ? dv.getUint16(opt + 68, true) : undefined;
  return { machine, subsystem };
}

function machineName(m: number): string {
  const known = Object.entries(PE_MACHINE).find(([, v]) => v === m);
  return known ? `${known[0]} (0x${m.toString(16)})` : `0x${m.toString(16)}`;
}

/** Highest byte count a PXE NBP can have: it is loaded at 0:7C00 and must end below 0xA0000. */
export const PXE_MAX_SIZE = 0xa0000 - 0x7c00;

/** Checks that a file is plausibly the kind of loader its name says. Cheap: headers and sizes only. */
export function checkLoader(b: Uint8Array, kind: LoaderKind): LoaderCheck {
  if (b.length === 0) return { ok: false, problem: 'empty file' };
  switch (kind) {
    case 'pxe': {
      if (b[0] === 0x4d && b[1] === 0x5a) return { ok: false, problem: 'an EFI/PE file, not a BIOS PXE boot program' };
      if (b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46) return { ok: false, problem: 'an ELF file, not a PXE boot program' };
      if (b.length < 1024) return { ok: false, problem: `${b.length} bytes is too small for a PXE boot program` };
      if (b.length > PXE_MAX_SIZE) return { ok: false, problem: `${b.length} bytes is more than a PXE boot program can have (${PXE_MAX_SIZE}, loaded at 0:7C00 below 640 KiB)` };
      return { ok: true };
    }
    case 'efi-x64':
    case 'efi-ia32': {
      const want = kind === 'efi-x64' ? PE_MACHINE.x64 : PE_MACHINE.ia32;
      const pe = peInfo(b);
      if ('problem' in pe) return { ok: false, problem: pe.problem };
      if (pe.machine !== want) return { ok: false, problem: `PE machine ${machineName(pe.machine)}, expected ${machineName(want)}` };
      // 10 = EFI application; iPXE's .efi files are applications (11/12 would be drivers).
      if (pe.subsystem !== undefined && pe.subsystem !== 10) return { ok: false, problem: `PE subsystem ${pe.subsystem}, expected 10 (EFI application)` };
      return { ok: true };
    }
    case 'wimboot-x64':
    case 'wimboot-ia32': {
      // wimboot's prefix.S: a PE header (the EFI entry) and a Linux bzImage setup header (what
      // iPXE's `kernel` runs on BIOS) in one file: 'MZ', 'PE' at 0x40, 0xAA55 at 0x1FE, 'HdrS' at 0x202.
      const want = kind === 'wimboot-x64' ? PE_MACHINE.x64 : PE_MACHINE.ia32;
      const pe = peInfo(b);
      if ('problem' in pe) return { ok: false, problem: pe.problem };
      if (pe.machine !== want) return { ok: false, problem: `PE machine ${machineName(pe.machine)}, expected ${machineName(want)}` };
      if (b.length < 0x230) return { ok: false, problem: 'too short for a bzImage setup header' };
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      if (dv.getUint16(0x1fe, true) !== 0xaa55) return { ok: false, problem: 'no 0xAA55 boot flag at 0x1FE (not a bzImage)' };
      if (dv.getUint32(0x202, true) !== 0x53726448) return { ok: false, problem: "no 'HdrS' bzImage signature at 0x202" };
      // kernel_version (0x20E) points at a NUL-terminated string, relative to 0x200.
      const at = dv.getUint16(0x20e, true) + 0x200;
      let version: string | undefined;
      if (at < b.length) {
        const end = b.indexOf(0, at);
        const s = Buffer.from(b.subarray(at, end < 0 ? Math.min(b.length, at + 32) : Math.min(end, at + 32))).toString('latin1');
        if (/^[\x20-\x7e]+$/.test(s)) version = s;
      }
      return version ? { ok: true, version } : { ok: true };
    }
  }
}
