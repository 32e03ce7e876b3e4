// Whole-image hashing at disk speed: large reads, the next one in flight while the current chunk
// is hashed, and every requested algorithm fed from the same pass.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

export type HashAlgorithm = 'sha1' | 'sha256';

export interface HashProgress {
  done: number;
  total: number;
}

const CHUNK = 4 * 1024 * 1024;

export async function hashFile(
  path: string,
  algorithms: readonly HashAlgorithm[],
  onProgress?: (p: HashProgress) => void,
  signal?: AbortSignal,
): Promise<Partial<Record<HashAlgorithm, string>>> {
  const fh = await open(path, 'r');
  try {
    const total = (await fh.stat()).size;
    const hashes = algorithms.map((a) => [a, createHash(a)] as const);
    const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
    let pos = 0;
    let which = 0;
    let pending = fh.read(bufs[0]!, 0, CHUNK, 0);
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      const cur = bufs[which]!;
      pos += bytesRead;
      which ^= 1;
      // Start the next read before hashing: the disk and the CPU work at the same time.
      pending = fh.read(bufs[which]!, 0, CHUNK, pos);
      const view = bytesRead === CHUNK ? cur : cur.subarray(0, bytesRead);
      for (const [, h] of hashes) h.update(view);
      onProgress?.({ done: pos, total });
      signal?.throwIfAborted();
    }
    await pending.catch(() => undefined);
    return Object.fromEntries(hashes.map(([a, h]) => [a, h.digest('hex')]));
  } finally {
    await fh.close();
  }
}
