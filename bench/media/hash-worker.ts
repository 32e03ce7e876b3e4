// Child process of the media benchmark: hashes one file with src/media/hash.ts and prints the
// digest and the time the hashFile() call took (without Node's start-up), as JSON on stdout.
// Usage: node bench/media/hash-worker.ts <file> <sha1|sha256>
import { hashFile, type HashAlgorithm } from '../../src/media/hash.ts';

const [path, algo] = process.argv.slice(2);
if (!path || (algo !== 'sha1' && algo !== 'sha256')) {
  process.stderr.write('usage: hash-worker.ts <file> <sha1|sha256>\n');
  process.exit(2);
}
const t0 = performance.now();
const r = await hashFile(path, [algo as HashAlgorithm]);
const seconds = (performance.now() - t0) / 1000;
process.stdout.write(JSON.stringify({ algorithm: algo, hex: r[algo as HashAlgorithm], seconds }) + '\n');
