// Known official images. Checksums are community-collected and cross-checked in several public
// sources (see ../shared/docs/FACTS.md, section 1). `labels` lets verify pick candidates by the
// volume label when the exact size is not recorded, so an unknown image never costs a full hash.
import { readFile } from 'node:fs/promises';

export interface KnownImage {
  /** Microsoft's file name. */
  file: string;
  /** Windows family, release and edition as an administrator names them. */
  product: string;
  arch: 'x86' | 'amd64' | 'arm64';
  language: string;
  sha1?: string | undefined;
  sha256?: string | undefined;
  /** Exact size in bytes, when known: the cheapest way to rule an image out. */
  size?: number | undefined;
  /** Volume labels (UDF logical volume / ISO volume id) of this image. */
  labels: string[];
  /** Where the entry comes from. */
  source: string;
}

export const KNOWN_IMAGES: readonly KnownImage[] = [
  {
    file: 'en_windows_7_professional_with_sp1_x64_dvd_u_676939.iso',
    product: 'Windows 7 Professional with SP1',
    arch: 'amd64',
    language: 'en-US',
    sha1: '0bcfc54019ea175b1ee51f6d2b207a3d14dd2b58',
    sha256: '3dae1a531b90fa72e59b4a86b20216188d398c8c070da4a5c5a44fe08b1b6e55',
    labels: ['GSP1RMCPRXFRER_EN_DVD'],
    source: 'MSDN/VLSC listing, FACTS.md §1',
  },
  {
    file: 'en_windows_7_professional_with_sp1_x86_dvd_u_677056.iso',
    product: 'Windows 7 Professional with SP1',
    arch: 'x86',
    language: 'en-US',
    sha1: 'd89937df3a9bc2ec1a1486195fd308cd3dade928',
    sha256: 'fd4cdf56e0087ac4a76d6858046f3ee50977d47917ca96366322e271ddd4838e',
    labels: ['GSP1RMCPRFRER_EN_DVD'],
    source: 'MSDN/VLSC listing, FACTS.md §1',
  },
  {
    file: 'fr_windows_7_professional_with_sp1_x64_dvd_u_678724.iso',
    product: 'Windows 7 Professional with SP1',
    arch: 'amd64',
    language: 'fr-FR',
    sha1: 'f9f0512f7ca5e2cd1502a41f6e88d80f4655bbcd',
    labels: ['GSP1RMCPRXFRER_FR_DVD'],
    source: 'MSDN/VLSC listing, FACTS.md §1',
  },
  {
    file: 'en_windows_7_professional_x86_dvd_x15-65804.iso',
    product: 'Windows 7 Professional (RTM)',
    arch: 'x86',
    language: 'en-US',
    sha1: '697fa06554502fb21d30275273b25747299c020d',
    labels: ['GRMCPRFRER_EN_DVD'],
    source: 'MSDN/VLSC listing, FACTS.md §1',
  },
];

/**
 * Loads extra entries from a JSON file (an array of KnownImage-like objects), so that a site can
 * add the checksums its vendor publishes without a new release of overnight.
 */
export async function loadCatalog(path: string): Promise<KnownImage[]> {
  let data: unknown;
  try {
    data = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new Error(`catalog ${path}: ${(e as Error).message}`);
  }
  if (!Array.isArray(data)) throw new Error(`catalog ${path}: expected a JSON array of images`);
  return data.map((raw, i) => {
    const r = raw as Record<string, unknown>;
    const hex = (k: string, len: number) => {
      const v = r[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || !new RegExp(`^[0-9a-fA-F]{${len}}$`).test(v)) throw new Error(`catalog ${path}: entry ${i}: ${k} must be ${len} hex digits`);
      return v.toLowerCase();
    };
    if (typeof r['file'] !== 'string') throw new Error(`catalog ${path}: entry ${i}: "file" (a name) is required`);
    const sha1 = hex('sha1', 40);
    const sha256 = hex('sha256', 64);
    if (!sha1 && !sha256) throw new Error(`catalog ${path}: entry ${i}: needs sha1 or sha256`);
    const size = r['size'];
    if (size !== undefined && (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0)) throw new Error(`catalog ${path}: entry ${i}: size must be a positive integer`);
    return {
      file: r['file'],
      product: typeof r['product'] === 'string' ? r['product'] : r['file'],
      arch: (r['arch'] as KnownImage['arch']) ?? 'amd64',
      language: typeof r['language'] === 'string' ? r['language'] : '',
      sha1,
      sha256,
      size: size as number | undefined,
      labels: Array.isArray(r['labels']) ? r['labels'].map(String) : [],
      source: path,
    } satisfies KnownImage;
  });
}

/**
 * Entries that this image could be, judged by size (when recorded) or volume label: no hashing.
 * An entry with neither can only be ruled out by its hash.
 */
export function candidatesFor(catalog: readonly KnownImage[], size: number, labels: readonly string[]): KnownImage[] {
  const upper = labels.map((l) => l.toUpperCase());
  return catalog.filter((k) =>
    k.size !== undefined ? k.size === size : k.labels.length ? k.labels.some((l) => upper.includes(l.toUpperCase())) : true,
  );
}
