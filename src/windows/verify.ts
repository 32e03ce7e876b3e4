// `media verify`: is this the official image it claims to be? Candidates are chosen by size or
// volume label first, so an image that matches nothing known is reported without a full hash.
import { stat } from 'node:fs/promises';
import { hashFile, type HashAlgorithm, type HashProgress } from '../media/hash.ts';
import { openMedia } from '../media/open.ts';
import { candidatesFor, KNOWN_IMAGES, type KnownImage } from './catalog.ts';

export interface VerifyOptions {
  catalog?: readonly KnownImage[];
  /** Hash even when no known image fits (to compare with a vendor's published checksum). */
  alwaysHash?: boolean;
  /** A checksum the administrator expects (40 hex digits: SHA-1, 64: SHA-256). */
  expect?: string | undefined;
  onProgress?: (p: HashProgress) => void;
}

export type VerifyStatus = 'match' | 'mismatch' | 'unknown';

export interface VerifyResult {
  schema: 1;
  path: string;
  size: number;
  volumeLabel: string | undefined;
  status: VerifyStatus;
  /** The known image this one is (status match). */
  image: KnownImage | undefined;
  /** Known images with this size or label (status mismatch: same size, other checksum, so damaged). */
  candidates: KnownImage[];
  hashes: Partial<Record<HashAlgorithm, string>>;
  /** Result of --expect, when given. */
  expected: { value: string; algorithm: HashAlgorithm; matches: boolean } | undefined;
  message: string;
}

export async function verifyImage(path: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const catalog = opts.catalog ?? KNOWN_IMAGES;
  const size = (await stat(path)).size;
  // The label is read cheaply from the volume descriptors; a file that is not an image at all
  // can still be hashed against --expect.
  let labels: string[] = [];
  let volumeLabel: string | undefined;
  try {
    const m = await openMedia(path);
    volumeLabel = m.label;
    labels = [m.label, m.iso?.volumeId ?? ''].filter(Boolean);
    await m.close();
  } catch {
    // not readable as media: only --expect or --hash can say anything
  }
  const expect = opts.expect?.trim().toLowerCase();
  let expectAlgo: HashAlgorithm | undefined;
  if (expect !== undefined) {
    if (/^[0-9a-f]{40}$/.test(expect)) expectAlgo = 'sha1';
    else if (/^[0-9a-f]{64}$/.test(expect)) expectAlgo = 'sha256';
    else throw new Error(`--expect: "${opts.expect}" is neither a SHA-1 (40 hex digits) nor a SHA-256 (64 hex digits)`);
  }
  const candidates = candidatesFor(catalog, size, labels);
  const algos = new Set<HashAlgorithm>();
  // One algorithm per candidate: SHA-256 where the catalog has it, else SHA-1.
  for (const c of candidates) algos.add(c.sha256 ? 'sha256' : 'sha1');
  if (expectAlgo) algos.add(expectAlgo);
  if (opts.alwaysHash && algos.size === 0) {
    algos.add('sha1');
    algos.add('sha256');
  }
  const hashes = algos.size ? await hashFile(path, [...algos], opts.onProgress) : {};
  const image = candidates.find((c) => (c.sha256 && hashes.sha256 ? c.sha256 === hashes.sha256 : c.sha1 !== undefined && c.sha1 === hashes.sha1));
  const expected = expect && expectAlgo ? { value: expect, algorithm: expectAlgo, matches: hashes[expectAlgo] === expect } : undefined;
  let status: VerifyStatus;
  let message: string;
  if (image) {
    status = 'match';
    message = `known image: ${image.file} (${image.product}, ${image.arch}, ${image.language})`;
  } else if (candidates.some((c) => c.size !== undefined)) {
    // Same exact size as a known image but another checksum: a damaged copy.
    status = 'mismatch';
    message = `has the exact size of ${candidates.filter((c) => c.size !== undefined).map((c) => c.file).join(' or ')} but not its checksum: the image is damaged`;
  } else if (candidates.length) {
    // A label match alone is weak evidence: rebuilt and slipstreamed images keep the label.
    status = 'unknown';
    message = `not a known official image: it has the volume label of ${candidates.map((c) => c.file).join(' or ')} but not its checksum (rebuilt, modified or damaged)`;
  } else {
    status = 'unknown';
    message = `unknown image: no known official image has this size (${size} bytes) or volume label (${volumeLabel ?? 'none'})`;
  }
  if (expected) message += expected.matches ? `; matches the expected ${expected.algorithm.toUpperCase()}` : `; does NOT match the expected ${expected.algorithm.toUpperCase()}`;
  return { schema: 1, path, size, volumeLabel, status, image, candidates, hashes, expected, message };
}
