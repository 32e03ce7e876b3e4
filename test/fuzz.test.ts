// Bounded, deterministic fuzzing of every media reader (UDF, ISO 9660 / Joliet / Rock Ridge,
// El Torito, WIM header + XML, Windows identification) on images built at test time by the real
// tools. The contract under test: for any input, every public operation ends in data or in a
// MediaError; never another exception, never a hang, never an unbounded allocation.
//
//   FUZZ_SEED=<n>        global seed (default below; printed with every failure)
//   FUZZ_CASES=<n>       total number of cases over all seed images (default 2000)
//   FUZZ_ONLY=<seed>[:<case>[-<case>]]   run one seed image, one case or a range of cases
//   FUZZ_CASE_MS=<n>     time budget per case (default 2000)
//
// Each seed image's cases run in a worker thread: the test stops a case that overruns its time
// budget even inside synchronous code, and the worker caps single allocations (test/helpers/fuzz.ts).
// Image cases are also written to a file, opened from it and extracted (in the suite's temporary
// folder): file reads and extraction take paths that an in-memory image does not.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { after, before, describe, it } from 'node:test';
import { MediaError } from '../src/media/errors.ts';
import { openMediaSource } from '../src/media/open.ts';
import { BufferSource, type ByteSource } from '../src/media/source.ts';
import { type CaseResult, type WorkerJob, type WorkerMessage, mapSeed, resealUdfTag } from './helpers/fuzz.ts';
import { makeTree as makeIsoTree, pseudoRandom } from './helpers/iso.ts';
import { buildWindowsIso } from './helpers/media.ts';
import { run, tempDir } from './helpers/tools.ts';
import { type UdfNodeSpec, writeUdfImage } from './helpers/udf-writer.ts';

const DEFAULT_SEED = 0x0c7e_2024;
const GLOBAL_SEED = process.env['FUZZ_SEED'] ? Number(process.env['FUZZ_SEED']) >>> 0 : DEFAULT_SEED;
const TOTAL_CASES = process.env['FUZZ_CASES'] ? Number(process.env['FUZZ_CASES']) : 2000;
const CASE_MS = process.env['FUZZ_CASE_MS'] ? Number(process.env['FUZZ_CASE_MS']) : 2000;
const ONLY = process.env['FUZZ_ONLY'];
/** Bound on the worker's heap and ArrayBuffer memory after any case, and on any single allocation. */
const MEMORY_BOUND = 512 * 1024 * 1024;
/** A fresh worker (module loading + structure scan of the seed) must be ready within this. */
const STARTUP_MS = 60_000;
const IPXE_ISO = '/usr/lib/ipxe/ipxe.iso';

interface Seed {
  name: string;
  kind: 'image' | 'wim';
  /** Share of the total case count. */
  weight: number;
  path?: string;
  skip?: string;
}

const SEEDS: Seed[] = [
  { name: 'win7-x64-udf-only', kind: 'image', weight: 20 },
  { name: 'win7-x86-bridge', kind: 'image', weight: 18 },
  { name: 'rockridge-joliet', kind: 'image', weight: 16 },
  { name: 'mkudffs-2.01', kind: 'image', weight: 10 },
  { name: 'udf-2.50-metadata', kind: 'image', weight: 10 },
  { name: 'ipxe', kind: 'image', weight: 10 },
  { name: 'wim-lzx', kind: 'wim', weight: 12 },
  { name: 'esd-solid', kind: 'wim', weight: 12 },
];

function casesFor(seed: Seed): number[] {
  const totalWeight = SEEDS.reduce((n, s) => n + s.weight, 0);
  const n = Math.max(1, Math.round((TOTAL_CASES * seed.weight) / totalWeight));
  let from = 0;
  let to = n - 1;
  if (ONLY) {
    const m = /^([^:]+)(?::(\d+)(?:-(\d+))?)?$/.exec(ONLY);
    if (!m || m[1] !== seed.name) return [];
    if (m[2] !== undefined) {
      from = Number(m[2]);
      to = m[3] !== undefined ? Number(m[3]) : from;
    }
  }
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

/** Where workers write image files and extract them (inside the suite's temporary folder). */
let scratchDir = '';

function reproduce(seed: string, index: number): string {
  return `FUZZ_SEED=${GLOBAL_SEED} FUZZ_ONLY=${seed}:${index} ./node_modules/.bin/node --test test/fuzz.test.ts`;
}

interface SeedReport {
  seed: string;
  results: CaseResult[];
  failures: string[];
  /** Cases that overran their time budget once and were run again. */
  retried: number[];
  targets: number;
  targetKinds: Record<string, number>;
  peakHeap: number;
  peakArrayBuffers: number;
  peakAlloc: number;
  ms: number;
}

/** Runs the cases of one seed image in worker threads, restarting after a case that hangs or crashes. */
async function runSeed(seed: Seed, cases: number[], retryTimeouts = true): Promise<SeedReport> {
  const report: SeedReport = { seed: seed.name, results: [], failures: [], retried: [], targets: 0, targetKinds: {}, peakHeap: 0, peakArrayBuffers: 0, peakAlloc: 0, ms: 0 };
  const t0 = performance.now();
  let remaining = cases;
  while (remaining.length) {
    const job: WorkerJob = {
      overnightFuzz: true,
      seedName: seed.name,
      seedPath: seed.path!,
      kind: seed.kind,
      globalSeed: GLOBAL_SEED,
      cases: remaining,
      maxAlloc: MEMORY_BOUND,
      ...(seed.kind === 'image' ? { scratchDir } : {}),
    };
    const stopped = await new Promise<{ index: number | undefined; reason: string; timeout?: boolean } | undefined>((resolve) => {
      const w = new Worker(new URL('./helpers/fuzz.ts', import.meta.url), {
        workerData: job,
        resourceLimits: { maxOldGenerationSizeMb: 1024 },
        stdout: false,
        stderr: false,
      });
      let current: number | undefined;
      let finished = false;
      let timer = setTimeout(() => finish({ index: undefined, reason: `worker not ready within ${STARTUP_MS} ms` }), STARTUP_MS);
      const finish = (r: { index: number | undefined; reason: string; timeout?: boolean } | undefined): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        void w.terminate();
        resolve(r);
      };
      w.on('message', (m: WorkerMessage) => {
        if (m.t === 'ready') {
          clearTimeout(timer);
          report.targets = m.targets;
          report.targetKinds = m.targetKinds;
        } else if (m.t === 'start') {
          current = m.index;
          clearTimeout(timer);
          // The per-case time budget, enforced from outside the worker.
          timer = setTimeout(() => finish({ index: m.index, reason: `case did not finish within ${CASE_MS} ms (hang?)`, timeout: true }), CASE_MS);
        } else if (m.t === 'done') {
          clearTimeout(timer);
          const r = m.result;
          report.results.push(r);
          report.peakHeap = Math.max(report.peakHeap, m.heapUsed);
          report.peakArrayBuffers = Math.max(report.peakArrayBuffers, m.arrayBuffers);
          report.peakAlloc = Math.max(report.peakAlloc, m.peakAlloc);
          const where = `seed=${GLOBAL_SEED} image=${seed.name} case=${r.index} [${r.desc}]`;
          for (const f of r.failures) report.failures.push(`${where}\n  ${f.op}: ${f.error.replace(/\n/g, '\n    ')}\n  reproduce: ${reproduce(seed.name, r.index)}`);
          if (m.heapUsed > MEMORY_BOUND || m.arrayBuffers > MEMORY_BOUND) {
            report.failures.push(`${where}\n  memory grew past ${MEMORY_BOUND} bytes (heap ${m.heapUsed}, array buffers ${m.arrayBuffers})\n  reproduce: ${reproduce(seed.name, r.index)}`);
          }
        } else if (m.t === 'end') {
          finish(undefined);
        }
      });
      w.on('error', (e) => finish({ index: current, reason: `worker error: ${(e as Error).stack ?? e}` }));
      w.on('exit', (code) => finish({ index: current, reason: `worker exited (code ${code})` }));
    });
    if (!stopped) break;
    if (stopped.timeout && stopped.index !== undefined && retryTimeouts) {
      // A busy machine can stall one case: a timeout counts once it repeats in a fresh worker.
      const again = await runSeed(seed, [stopped.index], false);
      report.retried.push(stopped.index);
      report.results.push(...again.results);
      report.failures.push(...again.failures);
      report.peakHeap = Math.max(report.peakHeap, again.peakHeap);
      report.peakArrayBuffers = Math.max(report.peakArrayBuffers, again.peakArrayBuffers);
      report.peakAlloc = Math.max(report.peakAlloc, again.peakAlloc);
      remaining = remaining.slice(remaining.indexOf(stopped.index) + 1);
      continue;
    }
    report.failures.push(
      `seed=${GLOBAL_SEED} image=${seed.name} case=${stopped.index ?? '(startup)'}: ${stopped.reason}` +
        (stopped.index !== undefined ? `\n  reproduce: ${reproduce(seed.name, stopped.index)}` : ''),
    );
    if (stopped.index === undefined) break;
    remaining = remaining.slice(remaining.indexOf(stopped.index) + 1);
    if (report.failures.length > 50) break;
  }
  report.ms = performance.now() - t0;
  return report;
}

/** An image followed by zeros up to `size`: room for huge (sparse) files without the memory. */
class ZeroTailSource implements ByteSource {
  readonly name = 'zero-tail';
  readonly size: number;
  readonly #buf: Buffer;
  constructor(buf: Buffer, size: number) {
    this.#buf = buf;
    this.size = size;
  }
  async read(offset: number, length: number): Promise<Buffer> {
    if (offset < 0 || length < 0 || offset + length > this.size) throw new MediaError('E_TRUNCATED', 'read past the end', { offset, length });
    const out = Buffer.alloc(length);
    await this.readInto(out, 0, length, offset);
    return out;
  }
  async readInto(buf: Buffer, bufOffset: number, length: number, offset: number): Promise<number> {
    const n = Math.max(0, Math.min(length, this.size - offset));
    buf.fill(0, bufOffset, bufOffset + n);
    if (offset < this.#buf.length) this.#buf.copy(buf, bufOffset, offset, Math.min(this.#buf.length, offset + n));
    return n;
  }
  async close(): Promise<void> {}
}

function countBy(results: readonly CaseResult[], key: (r: CaseResult) => Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(key(r))) out[k] = (out[k] ?? 0) + v;
  return out;
}

const fmt = (o: Record<string, number>): string =>
  Object.entries(o)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

describe(`media readers under fuzzing (seed ${GLOBAL_SEED}, ${TOTAL_CASES} cases)`, () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  const reports: SeedReport[] = [];

  before(async () => {
    work = await tempDir('overnight-fuzz-');
    scratchDir = join(work.dir, 'scratch');
    const seed = (name: string): Seed => SEEDS.find((s) => s.name === name)!;
    const win7 = await buildWindowsIso(join(work.dir, 'w64'), '7-x64', 'udf-only');
    seed('win7-x64-udf-only').path = win7.iso;
    seed('win7-x86-bridge').path = (await buildWindowsIso(join(work.dir, 'w86'), '7-x86', 'bridge')).iso;
    // Rock Ridge + Joliet: symlinks, a directory deeper than 8 levels (relocated under rr_moved).
    const rrTree = join(work.dir, 'rrtree');
    await makeIsoTree(rrTree);
    const rr = join(work.dir, 'rr.iso');
    await run('genisoimage', ['-quiet', '-R', '-J', '-joliet-long', '-o', rr, rrTree]);
    seed('rockridge-joliet').path = rr;
    const udf = join(work.dir, 'udf201.img');
    await run('truncate', ['-s', '8M', udf]);
    await run('mkudffs', ['--media-type=hd', '--udfrev=2.01', '--ad=long', '--lvid=FUZZ', udf]);
    seed('mkudffs-2.01').path = udf;
    // UDF 2.50 with what no tool here writes: a metadata partition whose file is split in three,
    // EFEs with extended attributes, embedded data, long_ad chains through AEDs, ext_ad with
    // unrecorded extents, a directory split over blocks, a deleted entry.
    const files: UdfNodeSpec[] = Array.from({ length: 24 }, (_, i) => ({ type: 'file', name: `file-with-a-longer-name-${i}.dat`, data: pseudoRandom(100 + i * 37, i + 1) }));
    const u250 = join(work.dir, 'udf250.img');
    await writeFile(
      u250,
      writeUdfImage({
        blockSize: 2048,
        revision: 0x0250,
        partitions: 'metadata',
        metadataPieces: 3,
        fileEntries: 'efe',
        extendedAttributes: true,
        children: [
          { type: 'file', name: 'readme.txt', data: Buffer.from('hello\n') },
          { type: 'file', name: 'embedded.ini', ad: 'embedded', data: Buffer.from('[x]\r\na=1\r\n') },
          {
            type: 'file',
            name: 'chain.bin',
            ad: 'long',
            adsPerDescriptor: 1,
            pieces: [{ kind: 'recorded', data: pseudoRandom(4096, 3) }, { kind: 'recorded', data: pseudoRandom(2048, 4) }, { kind: 'recorded', data: pseudoRandom(100, 5) }],
          },
          {
            type: 'file',
            name: 'sparse.bin',
            ad: 'extended',
            pieces: [{ kind: 'recorded', data: pseudoRandom(2048, 6) }, { kind: 'allocated', length: 4096 }, { kind: 'unallocated', length: 2048 }, { kind: 'recorded', data: pseudoRandom(10, 7) }],
          },
          { type: 'dir', name: 'sources', ad: 'short', adsPerDescriptor: 1, splitBlocks: 1, children: files },
          { type: 'file', name: 'deleted.txt', deleted: true, data: Buffer.from('x') },
          { type: 'dir', name: 'a', children: [{ type: 'dir', name: 'b', children: [{ type: 'file', name: 'c.txt', data: Buffer.from('c\n') }] }] },
        ],
      }).image,
    );
    seed('udf-2.50-metadata').path = u250;
    if (existsSync(IPXE_ISO)) seed('ipxe').path = IPXE_ISO;
    else seed('ipxe').skip = `${IPXE_ISO} not installed (Debian package ipxe)`;
    const wim = join(win7.tree, 'sources/install.wim');
    seed('wim-lzx').path = wim;
    const esd = join(work.dir, 'install.esd');
    await run('wimlib-imagex', ['export', wim, 'all', esd, '--solid']);
    seed('esd-solid').path = esd;
  });
  after(() => work?.cleanup());

  for (const seed of SEEDS) {
    const cases = casesFor(seed);
    it(`${seed.name}: ${cases.length} case(s)`, { skip: cases.length === 0 ? 'not selected by FUZZ_ONLY' : false }, async (t) => {
      if (seed.skip) return t.skip(seed.skip);
      const r = await runSeed(seed, cases);
      reports.push(r);
      const slowest = r.results.reduce<CaseResult | undefined>((a, b) => (!a || b.ms > a.ms ? b : a), undefined);
      t.diagnostic(
        `${seed.name}: ${r.results.length} cases in ${(r.ms / 1000).toFixed(1)} s` +
          (slowest ? `, slowest case ${slowest.index} ${slowest.ms.toFixed(0)} ms` : '') +
          `; ${r.targets} structures mapped (${fmt(r.targetKinds)})`,
      );
      t.diagnostic(`  first operation: ${fmt(countBy(r.results, (x) => ({ [x.outcome]: 1 })))}`);
      t.diagnostic(`  all operations: ${fmt(countBy(r.results, (x) => x.ops))}`);
      if (r.retried.length) t.diagnostic(`  retried after a timeout: case(s) ${r.retried.join(', ')}`);
      t.diagnostic(`  peak single allocation ${mib(r.peakAlloc)}, peak heap ${mib(r.peakHeap)}, peak array buffers ${mib(r.peakArrayBuffers)}`);
      const base = r.results.find((x) => x.index === 0);
      if (base) assert.equal(base.outcome, 'data', `the unmodified ${seed.name} seed must read without error (${JSON.stringify(base.ops)})`);
      if (r.failures.length) {
        assert.fail(`${r.failures.length} failure(s) on ${seed.name} (seed ${GLOBAL_SEED}):\n${r.failures.slice(0, 20).join('\n')}`);
      }
    });
  }

  // Cases the fuzzer found, kept as plain tests so that they stay fixed whatever the seed.
  describe('regressions', () => {
    /** The rock ridge seed with every record (primary and Joliet tree) of README.txt patched. */
    async function patchedReadme(patch: (img: Buffer, at: number) => void): Promise<Buffer> {
      const img = await readFile(SEEDS.find((s) => s.name === 'rockridge-joliet')!.path!);
      let n = 0;
      for (const t of mapSeed(img, 'image').targets) {
        if (t.kind !== 'iso-dirrec') continue;
        const id = img.subarray(t.at + 33, t.at + 33 + img[t.at + 32]!);
        const name = id.length % 2 === 0 && id.includes(0) ? Buffer.from(id).swap16().toString('utf16le') : id.toString('latin1');
        if (!/^readme\.txt(;1)?$/i.test(name)) continue;
        patch(img, t.at);
        n++;
      }
      assert.equal(n, 2, 'README.txt has one record in each tree');
      return img;
    }
    const setBoth32 = (img: Buffer, at: number, v: number): void => {
      img.writeUInt32LE(v, at);
      img.writeUInt32BE(v, at + 4);
    };

    it('fileSource().read of a file whose record claims 2 GiB is E_LIMIT, not a 2 GiB allocation', async () => {
      const img = await patchedReadme((b, at) => setBoth32(b, at + 10, 0x80000000));
      for (const view of ['rockridge', 'joliet', 'iso9660'] as const) {
        const media = await openMediaSource('r.iso', new BufferSource(img), { view });
        const src = await media.fileSource('/README.txt');
        assert.equal(src.size, 0x80000000);
        await assert.rejects(src.read(0, src.size), (e: unknown) => e instanceof MediaError && e.code === 'E_LIMIT');
        await assert.rejects(media.read('/README.txt'), (e: unknown) => e instanceof MediaError && e.code === 'E_LIMIT');
        await assert.rejects(src.read(src.size - 10, 10), (e: unknown) => e instanceof MediaError && e.code === 'E_TRUNCATED');
      }
    });

    it('an interleaved record whose file units run past the image is E_TRUNCATED at once', async () => {
      // 4 GiB in 2-block file units: a million extents, for data that is not in the image.
      const img = await patchedReadme((b, at) => {
        setBoth32(b, at + 10, 0xfffff800);
        b[at + 26] = 2;
        b[at + 27] = 0;
      });
      const media = await openMediaSource('r.iso', new BufferSource(img), { view: 'iso9660' });
      const t0 = performance.now();
      for (let i = 0; i < 10; i++) {
        await assert.rejects(media.extents('/README.txt'), (e: unknown) => e instanceof MediaError && e.code === 'E_TRUNCATED');
      }
      assert.ok(performance.now() - t0 < 500, 'ten refusals take milliseconds, not a second each');
    });

    it('interleaved multi-extent records share one extent cap (no out-of-memory from one directory sector)', async () => {
      // The root directory rewritten as '.', '..' and 40 records of one multi-extent file, each a
      // 4 GiB part in 2-block file units (40 million extents uncapped), on a source large enough
      // to hold them all.
      const img = await readFile(SEEDS.find((s) => s.name === 'rockridge-joliet')!.path!);
      const root = img.readUInt32LE(16 * 2048 + 158);
      const record = (id: number[], loc: number, len: number, flags: number, unit: number): Buffer => {
        const b = Buffer.alloc(33 + id.length + (id.length % 2 === 0 ? 1 : 0));
        b[0] = b.length;
        setBoth32(b, 2, loc);
        setBoth32(b, 10, len);
        b[25] = flags;
        b[26] = unit;
        b.writeUInt16LE(1, 28);
        b.writeUInt16BE(1, 30);
        b[32] = id.length;
        Buffer.from(id).copy(b, 33);
        return b;
      };
      const name = [...Buffer.from('HUGE.BIN;1', 'latin1')];
      const parts = [record([0], root, 2048, 2, 0), record([1], root, 2048, 2, 0)];
      for (let i = 0; i < 40; i++) parts.push(record(name, 100, 0xfffff800, i < 39 ? 0x80 : 0, 2));
      img.fill(0, root * 2048, root * 2048 + 2048);
      Buffer.concat(parts).copy(img, root * 2048);
      const media = await openMediaSource('r.iso', new ZeroTailSource(img, 2 ** 40), { view: 'iso9660' });
      assert.deepEqual((await media.list('/')).map((e) => [e.name, e.size]), [['HUGE.BIN', 40 * 0xfffff800]]);
      const heap = process.memoryUsage().heapUsed;
      await assert.rejects(media.extents('/HUGE.BIN'), (e: unknown) => e instanceof MediaError && e.code === 'E_LIMIT');
      await assert.rejects(media.read('/HUGE.BIN', 0, 10), (e: unknown) => e instanceof MediaError && e.code === 'E_LIMIT');
      assert.ok(process.memoryUsage().heapUsed - heap < 256 * 1024 * 1024, 'no more than one cap worth of extents was built');
    });

    it('UDF: a chain of directories that each link twice to the next does not walk 2^depth paths', async () => {
      // 24 nested directories, each holding the next one and a file; every file's FID is then
      // pointed at its sibling directory (a second hard link), re-sealed so that it verifies.
      const tree = join(work.dir, 'dag-tree');
      let dir = tree;
      for (let i = 1; i <= 24; i++) {
        dir = join(dir, `d${i}`);
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'f'), 'x');
      }
      const iso = join(work.dir, 'dag.iso');
      await run('genisoimage', ['-quiet', '-udf', '-D', '-o', iso, tree]);
      const img = await readFile(iso);
      const fids = mapSeed(img, 'image').targets.filter((t) => t.kind === 'udf-fid');
      const name = (at: number): string => img.toString('latin1', at + 39, at + 38 + img[at + 19]!);
      let linked = 0;
      for (const f of fids.filter((x) => name(x.at) === 'f')) {
        const sib = fids.find((x) => x !== f && x.meta['dirLbn'] === f.meta['dirLbn'] && /^d\d+$/.test(name(x.at)));
        if (!sib) continue;
        img.copy(img, f.at + 20, sib.at + 20, sib.at + 36);
        img[f.at + 18] = img[sib.at + 18]!;
        resealUdfTag(img, f.at);
        linked++;
      }
      assert.equal(linked, 23);
      const media = await openMediaSource('dag.iso', new BufferSource(img), { view: 'udf' });
      const t0 = performance.now();
      let n = 0;
      for await (const _ of media.walk()) {
        if (++n > 100_000) break;
      }
      assert.ok(n < 2000, `${n} entries: each directory listed under a bounded number of paths`);
      assert.ok(performance.now() - t0 < 2000);
      // Both links still lead somewhere near the top of the tree.
      assert.equal((await media.stat('/d1/f')).type, 'directory');
      assert.equal((await media.stat('/d1/d2/d3')).type, 'directory');
    });
  });

  it('summary', (t) => {
    const all = reports.flatMap((r) => r.results);
    t.diagnostic(`${all.length} cases over ${reports.length} seed images in ${(reports.reduce((n, r) => n + r.ms, 0) / 1000).toFixed(1)} s (seed ${GLOBAL_SEED})`);
    t.diagnostic(`  first operation: ${fmt(countBy(all, (x) => ({ [x.outcome]: 1 })))}`);
    t.diagnostic(`  all operations: ${fmt(countBy(all, (x) => x.ops))}`);
  });
});
