// Identifies the Windows release on install media: family, build and service pack, architecture,
// languages, the editions in install.wim/.esd/.swm, the edition lock and what the media can boot.
import { MediaError } from '../media/errors.ts';
import type { Media } from '../media/open.ts';
import { readSplitSet, readWimInfo, type WimInfo, type WimImage } from '../media/wim/index.ts';
import { candidatesFor, KNOWN_IMAGES, type KnownImage } from './catalog.ts';

export type Family = 'Vista' | '7' | '8' | '8.1' | '10' | '11' | 'Server' | 'unknown';

export interface Edition {
  index: number;
  name: string;
  editionId: string | undefined;
  displayName: string | undefined;
  description: string | undefined;
  architecture: string;
  languages: string[];
  build: string | undefined;
  /** Installed size in bytes (<TOTALBYTES>). */
  size: number | undefined;
}

export interface BootSupport {
  bios: boolean;
  uefi: boolean;
  /** Files the El Torito entries load, when they match a file in the tree. */
  biosImage: string | undefined;
  efiImage: string | undefined;
  /** The removable-media UEFI loader (\efi\boot\bootx64.efi ...), when present. */
  usbEfiLoader: string | undefined;
  /**
   * Windows 7 x64 media have no \efi\boot\bootx64.efi: a UEFI USB stick needs
   * Windows\Boot\EFI\bootmgfw.efi from install.wim image 1 copied there.
   */
  usbUefiNeedsBootmgfwFix: boolean;
  notes: string[];
}

export interface WindowsReport {
  /** Stable schema version of this JSON form. */
  schema: 1;
  /** False when the image holds no Windows install or boot image (sources/install.*, sources/boot.wim). */
  windows: boolean;
  media: {
    path: string;
    size: number;
    fileSystem: string;
    udfRevision: string | undefined;
    volumeLabel: string;
    isoVolumeId: string | undefined;
    applicationId: string | undefined;
    publisher: string | undefined;
    created: string | undefined;
  };
  family: Family;
  /** Human name, e.g. "Windows 7 SP1" or "Windows Server 2008 R2 SP1". */
  release: string;
  version: string | undefined;
  build: number | undefined;
  servicePack: number | undefined;
  server: boolean;
  architecture: string;
  languages: string[];
  defaultLanguage: string | undefined;
  installImage: {
    path: string;
    format: 'wim' | 'esd' | 'swm';
    compression: string;
    size: number;
    parts: number;
    imageCount: number;
  } | undefined;
  editions: Edition[];
  editionLock: {
    /** sources/ei.cfg */
    eiCfg: { editionId: string | undefined; channel: string | undefined; volumeLicense: boolean | undefined } | undefined;
    /** sources/pid.txt: the key is masked but for its last group. */
    pidTxt: { productKey: string | undefined } | undefined;
  };
  boot: BootSupport;
  /** Known official images this one may be (by size or label); `media verify` confirms by hash. */
  catalogCandidates: { file: string; product: string }[];
  warnings: string[];
}

const ARCH_BY_BUILDARCH: Record<string, string> = { amd64: 'amd64', x86: 'x86', arm64: 'arm64', ia64: 'ia64', arm: 'arm' };

/** Family from the NT version (6.0 Vista ... 10.0 build 22000+ is Windows 11). */
export function familyOf(major: number | undefined, minor: number | undefined, build: number | undefined, server: boolean): Family {
  if (server) return 'Server';
  if (major === 6) return minor === 0 ? 'Vista' : minor === 1 ? '7' : minor === 2 ? '8' : minor === 3 ? '8.1' : 'unknown';
  if (major === 10) return build !== undefined && build >= 22000 ? '11' : '10';
  return 'unknown';
}

function serverName(major: number | undefined, minor: number | undefined, build: number | undefined): string {
  if (major === 6) return ['Windows Server 2008', 'Windows Server 2008 R2', 'Windows Server 2012', 'Windows Server 2012 R2'][minor ?? 0] ?? 'Windows Server';
  if (major === 10 && build !== undefined) {
    if (build >= 26100) return 'Windows Server 2025';
    if (build >= 20348) return 'Windows Server 2022';
    if (build >= 17763) return 'Windows Server 2019';
    if (build >= 14393) return 'Windows Server 2016';
  }
  return 'Windows Server';
}

/** Parses the INI files Windows media carry (ei.cfg, pid.txt, lang.ini, cversion.ini, idwbinfo.txt). */
export function parseIni(text: string): Map<string, Map<string, string> & { lines: string[] }> {
  const out = new Map<string, Map<string, string> & { lines: string[] }>();
  let cur: (Map<string, string> & { lines: string[] }) | undefined;
  for (const raw of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      cur = Object.assign(new Map<string, string>(), { lines: [] as string[] });
      out.set(sec[1]!.trim().toLowerCase(), cur);
      continue;
    }
    if (!cur) continue;
    cur.lines.push(line);
    const eq = line.indexOf('=');
    if (eq > 0) cur.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  }
  return out;
}

async function readText(media: Media, path: string, max = 64 * 1024): Promise<string | undefined> {
  const st = await media.exists(path);
  if (!st || st.type !== 'file' || st.size > max) return undefined;
  const buf = await media.read(path);
  // Some media write these files as UTF-16LE with a BOM.
  if (buf.length >= 2 && buf[0] === 0xff && buf[1] === 0xfe) return buf.subarray(2).toString('utf16le');
  return buf.toString('utf8');
}

async function readInstallImage(media: Media, warnings: string[]): Promise<{ path: string; info: WimInfo; format: 'wim' | 'esd' | 'swm'; parts: number; size: number } | undefined> {
  for (const [name, format] of [['install.wim', 'wim'], ['install.esd', 'esd'], ['install.swm', 'swm']] as const) {
    const path = `/sources/${name}`;
    const st = await media.exists(path);
    if (!st || st.type !== 'file') continue;
    try {
      if (format === 'swm') {
        const siblings = (await media.list('/sources')).filter((e) => /^install\d+\.swm$/i.test(e.name));
        const sources = [await media.fileSource(path), ...(await Promise.all(siblings.map((s) => media.fileSource(s.path))))];
        const set = await readSplitSet(sources);
        for (const w of set.info.warnings) warnings.push(`${path}: ${w}`);
        const size = st.size + siblings.reduce((a, s) => a + s.size, 0);
        return { path, info: set.info, format, parts: set.totalParts, size };
      }
      const info = await readWimInfo(await media.fileSource(path));
      for (const w of info.warnings) warnings.push(`${path}: ${w}`);
      return { path, info, format: info.header.kind === 'esd' ? 'esd' : format, parts: 1, size: st.size };
    } catch (e) {
      if (!(e instanceof MediaError)) throw e;
      warnings.push(`${path}: ${e.message}`);
    }
  }
  return undefined;
}


function editionOf(img: WimImage): Edition {
  const w = img.windows;
  const v = w?.version;
  return {
    index: img.index,
    name: img.name,
    editionId: w?.editionId ?? img.flags,
    displayName: img.displayName,
    description: img.description,
    architecture: w?.archName ?? 'unknown',
    languages: w?.languages ?? [],
    build: v?.major !== undefined ? `${v.major}.${v.minor ?? 0}.${v.build ?? 0}.${v.spBuild ?? 0}` : undefined,
    size: img.totalBytes,
  };
}

/** Everything an administrator needs to know about a Windows install medium. Reads metadata only. */
export async function identifyWindows(media: Media, catalog: readonly KnownImage[] = KNOWN_IMAGES): Promise<WindowsReport> {
  const warnings = [...media.warnings];
  const install = await readInstallImage(media, warnings);
  let images = install?.info.images ?? [];
  if (!install) {
    // WinPE-only or damaged media: boot.wim still tells the release.
    const boot = await media.exists('/sources/boot.wim');
    if (boot) {
      try {
        images = (await readWimInfo(await media.fileSource('/sources/boot.wim'))).images;
      } catch (e) {
        if (!(e instanceof MediaError)) throw e;
        warnings.push(`/sources/boot.wim: ${e.message}`);
      }
    }
    if (boot && images.length) warnings.push('no install.wim, install.esd or install.swm under /sources: a WinPE or boot-only medium');
  }
  const first = images.find((i) => i.windows?.version) ?? images[0];
  const ver = first?.windows?.version;
  const cversion = parseIni((await readText(media, '/sources/cversion.ini')) ?? '');
  const idwb = parseIni((await readText(media, '/sources/idwbinfo.txt')) ?? '');
  let build = ver?.build;
  let spBuild = ver?.spBuild;
  if (build === undefined) {
    // cversion.ini: MinServer=7601.17514 marks Windows 7 SP1 media.
    const m = /^(\d+)\.(\d+)/.exec(cversion.get('hostbuild')?.get('minserver') ?? '');
    if (m) [build, spBuild] = [Number(m[1]), Number(m[2])];
  }
  const installationType = first?.windows?.installationType ?? '';
  const server = /server/i.test(installationType) || images.some((i) => /^server/i.test(i.windows?.editionId ?? ''));
  let major = ver?.major;
  let minor = ver?.minor;
  if (major === undefined && build !== undefined) {
    // Without XML versions, the build number alone places the release.
    [major, minor] = build >= 10240 ? [10, 0] : build >= 9600 ? [6, 3] : build >= 9200 ? [6, 2] : build >= 7600 ? [6, 1] : build >= 6000 ? [6, 0] : [undefined, undefined];
  }
  const family = familyOf(major, minor, build, server);
  const sp = ver?.spLevel ?? (family === '7' && build === 7601 ? 1 : family === 'Vista' && build !== undefined ? build - 6000 : undefined);
  const spText = sp ? ` SP${sp}` : '';
  const release = family === 'Server' ? `${serverName(major, minor, build)}${spText}` : family === 'unknown' ? 'unknown' : `Windows ${family}${spText}`;

  const archs = [...new Set(images.map((i) => i.windows?.archName).filter((a): a is NonNullable<typeof a> => !!a && a !== 'unknown'))];
  const buildArch = idwb.get('buildinfo')?.get('buildarch')?.toLowerCase();
  const architecture = archs.length === 1 ? archs[0]! : archs.length > 1 ? archs.join('+') : (ARCH_BY_BUILDARCH[buildArch ?? ''] ?? 'unknown');

  const langSet = new Set<string>();
  for (const i of images) for (const l of i.windows?.languages ?? []) langSet.add(l);
  const langIni = parseIni((await readText(media, '/sources/lang.ini')) ?? '');
  for (const l of langIni.get('available ui languages')?.keys() ?? []) if (/^[a-z]{2,3}-[a-z0-9-]+$/i.test(l)) langSet.add(l.replace(/-(\w+)$/, (_, r: string) => `-${r.toUpperCase()}`));
  const languages = [...langSet];

  const ei = await readText(media, '/sources/ei.cfg');
  const eiIni = ei === undefined ? undefined : parseIni(ei);
  const pid = await readText(media, '/sources/pid.txt');
  const pidKey = pid === undefined ? undefined : parseIni(pid).get('pid')?.get('value');

  // Boot support: El Torito entries, matched against the files they load.
  const warningsBoot: string[] = [];
  let catalog_: Awaited<ReturnType<Media['bootCatalog']>> = null;
  try {
    catalog_ = await media.bootCatalog();
  } catch (e) {
    if (!(e instanceof MediaError)) throw e;
    warnings.push(`El Torito boot catalog: ${e.message}`);
  }
  const entries = catalog_?.entries ?? [];
  const biosEntry = entries.find((e) => e.platform === 'bios' && e.bootable);
  const efiEntry = entries.find((e) => e.platform === 'efi' && e.bootable);
  const bootFiles = catalog_ ? await media.bootFiles() : new Map<number, string>();
  const usbLoaderName = architecture === 'x86' ? 'bootia32.efi' : architecture === 'arm64' ? 'bootaa64.efi' : 'bootx64.efi';
  const usbEfiLoader = (await media.exists(`/efi/boot/${usbLoaderName}`))?.path;
  const needsFix = family === '7' && architecture === 'amd64' && !usbEfiLoader;
  if (needsFix) {
    warningsBoot.push('UEFI from USB: copy Windows/Boot/EFI/bootmgfw.efi from install.wim image 1 to efi/boot/bootx64.efi');
    warningsBoot.push('Windows 7 on UEFI needs CSM (or an Int10h shim) on most real hardware');
  }
  if ((family === '7' || family === 'Vista') && architecture === 'x86') warningsBoot.push('32-bit Windows 7 and earlier cannot boot on UEFI: BIOS/CSM only');

  const eiSection = (k: string) => eiIni?.get(k.toLowerCase())?.lines[0];
  const vl = eiSection('VL');
  return {
    schema: 1,
    windows: images.length > 0,
    media: {
      path: media.path,
      size: media.size,
      fileSystem: media.kind,
      udfRevision: media.udf?.udfRevision,
      volumeLabel: media.label,
      isoVolumeId: media.iso?.volumeId,
      applicationId: media.iso?.applicationId || undefined,
      publisher: media.iso?.publisherId || undefined,
      created: (media.udf?.recordingDate ?? media.iso?.creationDate)?.toISOString(),
    },
    family,
    release,
    version: major !== undefined ? `${major}.${minor ?? 0}` : undefined,
    build,
    servicePack: sp,
    server,
    architecture,
    languages,
    defaultLanguage: first?.windows?.defaultLanguage,
    installImage: install && {
      path: install.path,
      format: install.format,
      compression: install.info.header.compression,
      size: install.size,
      parts: install.parts,
      imageCount: install.info.images.length,
    },
    editions: install ? install.info.images.map(editionOf) : [],
    editionLock: {
      eiCfg: eiIni && { editionId: eiSection('EditionID'), channel: eiSection('Channel'), volumeLicense: vl === undefined ? undefined : vl === '1' },
      pidTxt: pid === undefined ? undefined : { productKey: pidKey?.replace(/^(.{5}-.{5}-.{5}-.{5}-)/, 'XXXXX-XXXXX-XXXXX-XXXXX-') },
    },
    boot: {
      bios: !!biosEntry,
      uefi: !!efiEntry,
      biosImage: biosEntry && bootFiles.get(biosEntry.imageOffset),
      efiImage: efiEntry && bootFiles.get(efiEntry.imageOffset),
      usbEfiLoader,
      usbUefiNeedsBootmgfwFix: needsFix,
      notes: warningsBoot,
    },
    catalogCandidates: candidatesFor(catalog, media.size, [media.label, media.iso?.volumeId ?? '']).map((k) => ({ file: k.file, product: k.product })),
    warnings,
  };
}
