// `overnight media ...`: read, list, extract, verify and inspect install media without mounting.
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Command, Option } from 'commander';
import { readBootImage } from '../media/eltorito.ts';
import { extract } from '../media/extract.ts';
import { openMedia, type Media } from '../media/open.ts';
import type { FsKind, MediaEntry } from '../media/types.ts';
import { KNOWN_IMAGES, loadCatalog } from '../windows/catalog.ts';
import { identifyWindows, type WindowsReport } from '../windows/identify.ts';
import { verifyImage } from '../windows/verify.ts';
import { bytes, json, table } from './format.ts';
import { ProgressBar } from './progress.ts';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Exit code a command sets when it finishes without an exception (verify: 1 on a mismatch). */
  exitCode?: number;
}

const viewOption = () =>
  new Option('--view <fs>', 'read this file system instead of the preferred one').choices(['udf', 'rockridge', 'joliet', 'iso9660']);

export async function withMedia<T>(iso: string, view: string | undefined, fn: (m: Media) => Promise<T>): Promise<T> {
  const m = await openMedia(iso, { view: view as FsKind | undefined });
  try {
    return await fn(m);
  } finally {
    await m.close();
  }
}

export function renderReport(r: WindowsReport): string {
  const lines: string[] = [];
  if (r.windows) {
    const head = [r.release];
    if (r.version) head.push(`(${r.version} build ${r.build ?? '?'})`);
    lines.push(`${head.join(' ')}  ·  ${r.architecture}  ·  ${r.languages.join(', ') || 'language unknown'}`);
  } else {
    lines.push('Not a Windows installation medium (no sources/install.wim, .esd, .swm or boot.wim)');
  }
  lines.push('');
  const m = r.media;
  const rows: string[][] = [
    ['Media', `${m.path}  ${bytes(m.size)}`],
    ['File system', `${m.fileSystem === 'udf' ? `UDF ${m.udfRevision ?? ''}`.trim() : m.fileSystem}${m.isoVolumeId !== undefined && m.fileSystem === 'udf' ? ' (+ ISO 9660)' : ''}`],
    ['Volume label', m.volumeLabel || '-'],
  ];
  if (m.applicationId || m.publisher) rows.push(['Made by', [m.applicationId, m.publisher].filter(Boolean).join(', ')]);
  if (m.created) rows.push(['Created', m.created]);
  if (r.installImage) {
    const i = r.installImage;
    rows.push(['Install image', `${i.path.slice(1)}  ${i.format.toUpperCase()}, ${i.compression}${i.parts > 1 ? `, ${i.parts} parts` : ''}, ${bytes(i.size)}`]);
  }
  const lock = r.editionLock;
  const lockText: string[] = [];
  if (lock.eiCfg) lockText.push(`ei.cfg: ${lock.eiCfg.editionId ?? 'any edition'}${lock.eiCfg.channel ? ` (${lock.eiCfg.channel}${lock.eiCfg.volumeLicense ? ', volume licence' : ''})` : ''}`);
  if (lock.pidTxt) lockText.push(`PID.txt: ${lock.pidTxt.productKey ?? 'present'}`);
  if (r.windows) rows.push(['Edition lock', lockText.join('; ') || 'none (Setup offers every edition)']);
  const b = r.boot;
  rows.push(['BIOS boot', b.bios ? `yes${b.biosImage ? ` (${b.biosImage.slice(1)})` : ''}` : 'no']);
  rows.push(['UEFI boot', b.uefi ? `yes${b.efiImage ? ` (${b.efiImage.slice(1)})` : ''}` : 'no']);
  rows.push([
    'UEFI from USB',
    b.usbEfiLoader ? `yes (${b.usbEfiLoader.slice(1)})` : b.usbUefiNeedsBootmgfwFix ? 'needs the bootmgfw.efi fix-up (no efi/boot/bootx64.efi)' : 'no',
  ]);
  lines.push(table(rows));
  if (r.editions.length) {
    lines.push('', 'Editions');
    lines.push(
      table(
        [['#', 'Name', 'Edition ID', 'Arch', 'Build', 'Size'], ...r.editions.map((e) => [String(e.index), e.name, e.editionId ?? '-', e.architecture, e.build ?? '-', bytes(e.size)])].map((row) => ['  ' + row[0]!, ...row.slice(1)]),
        [0, 5],
      ),
    );
  }
  if (r.catalogCandidates.length) {
    lines.push('', `Known image?  ${r.catalogCandidates.map((c) => c.file).join(', ')}  (by size/label; \`overnight media verify\` confirms)`);
  }
  const notes = [...b.notes, ...r.warnings];
  if (notes.length) lines.push('', 'Notes', ...notes.map((n) => `  - ${n}`));
  return lines.join('\n');
}

function lsRow(e: MediaEntry, long: boolean): string[] {
  const name = e.type === 'directory' ? `${e.name}/` : e.type === 'symlink' && e.target ? `${e.name} -> ${e.target}` : e.name;
  if (!long) return [name];
  const t = e.type === 'directory' ? 'd' : e.type === 'symlink' ? 'l' : e.type === 'file' ? '-' : '?';
  const mode = e.mode !== undefined ? modeString(e.mode) : '---------';
  const date = e.mtime ? e.mtime.toISOString().replace('T', ' ').slice(0, 19) : '-';
  return [`${t}${mode}${e.hidden ? 'h' : ' '}`, e.type === 'directory' ? '' : String(e.size), date, name];
}

function modeString(mode: number): string {
  const s = 'rwxrwxrwx';
  let out = '';
  for (let i = 0; i < 9; i++) out += mode & (1 << (8 - i)) ? s[i] : '-';
  return out;
}

function entryJson(e: MediaEntry) {
  return { name: e.name, path: e.path, type: e.type, size: e.size, mtime: e.mtime?.toISOString(), mode: e.mode, hidden: e.hidden, ...(e.target ? { target: e.target } : {}) };
}

export function mediaCommand(io: Io): Command {
  const media = new Command('media').description('read Windows install media (ISO) without mounting it');

  media
    .command('info')
    .description('identify the Windows release, editions, edition lock and boot support of an image')
    .argument('<iso>', 'the image file')
    .option('--json', 'machine-readable output (schema: docs/media-info.md)')
    .option('--catalog <file>', 'extra known images (JSON array) for the known-image match')
    .action(async (iso: string, o: { json?: boolean; catalog?: string }) => {
      const catalog = o.catalog ? [...KNOWN_IMAGES, ...(await loadCatalog(o.catalog))] : KNOWN_IMAGES;
      const report = await withMedia(iso, undefined, (m) => identifyWindows(m, catalog));
      io.out(o.json ? json(report) : renderReport(report));
    });

  media
    .command('ls')
    .description('list a folder of the image')
    .argument('<iso>', 'the image file')
    .argument('[path]', 'folder (or file) inside the image', '/')
    .option('-l, --long', 'type, permissions, size and date')
    .option('-R, --recursive', 'list every folder below')
    .option('--json', 'machine-readable output')
    .addOption(viewOption())
    .action(async (iso: string, path: string, o: { long?: boolean; recursive?: boolean; json?: boolean; view?: string }) => {
      await withMedia(iso, o.view, async (m) => {
        const st = await m.stat(path);
        let entries: MediaEntry[];
        if (st.type !== 'directory') entries = [st];
        else if (o.recursive) {
          entries = [];
          for await (const e of m.walk(st.path)) entries.push(e);
        } else entries = await m.list(st.path);
        if (o.json) {
          io.out(json({ schema: 1, fileSystem: m.kind, path: st.path, entries: entries.map(entryJson) }));
          return;
        }
        const rows = entries.map((e) => {
          const row = lsRow(e, !!o.long);
          if (o.recursive) row[row.length - 1] = e.path.slice(st.path === '/' ? 1 : st.path.length + 1) + (e.type === 'directory' ? '/' : '');
          return row;
        });
        if (rows.length) io.out(table(rows, o.long ? [1] : []));
      });
    });

  media
    .command('extract')
    .description('copy files out of the image; re-running resumes (complete files are skipped)')
    .argument('<iso>', 'the image file')
    .argument('<dest>', 'destination folder')
    .argument('[paths...]', 'files or folders inside the image (default: everything)')
    .option('--json', 'print a JSON summary')
    .addOption(viewOption())
    .action(async (iso: string, dest: string, paths: string[], o: { json?: boolean; view?: string }) => {
      await withMedia(iso, o.view, async (m) => {
        const bar = new ProgressBar('extract');
        const t0 = performance.now();
        const ac = new AbortController();
        const onSig = () => ac.abort(new Error('interrupted; run the same command again to resume'));
        process.once('SIGINT', onSig);
        try {
          const r = await extract(m, dest, { paths, signal: ac.signal, onProgress: (p) => bar.update(p.bytesDone, p.bytesTotal, `${p.filesDone}/${p.filesTotal} files`) });
          bar.done();
          const secs = (performance.now() - t0) / 1000;
          if (o.json) io.out(json({ schema: 1, dest, ...r, seconds: Number(secs.toFixed(3)) }));
          else {
            const what = r.files || !r.skippedFiles ? `${r.files} files (${bytes(r.bytesWritten)}) written to ${dest} in ${secs.toFixed(1)} s` + (r.bytesWritten ? ` (${bytes(r.bytesWritten / Math.max(secs, 0.001))}/s)` : '') : `nothing to write in ${dest}`;
            io.out(what + (r.skippedFiles ? `; ${r.skippedFiles} files (${bytes(r.skippedBytes)}) already complete` : ''));
            for (const n of r.notExtracted) io.err(`not extracted: ${n.path} (${n.reason})`);
          }
        } finally {
          bar.done();
          process.off('SIGINT', onSig);
        }
      });
    });

  media
    .command('verify')
    .description('hash the image and match it against known official images')
    .argument('<iso>', 'the image file')
    .option('--json', 'machine-readable output')
    .option('--expect <checksum>', 'a SHA-1 or SHA-256 the image must have (e.g. the vendor\'s)')
    .option('--hash', 'compute SHA-1 and SHA-256 even when no known image has this size or label')
    .option('--catalog <file>', 'extra known images (JSON array of {file, sha1|sha256, size?, labels?})')
    .action(async (iso: string, o: { json?: boolean; expect?: string; hash?: boolean; catalog?: string }) => {
      const catalog = o.catalog ? [...KNOWN_IMAGES, ...(await loadCatalog(o.catalog))] : KNOWN_IMAGES;
      const bar = new ProgressBar('verify');
      const r = await verifyImage(iso, { catalog, alwaysHash: !!o.hash, expect: o.expect, onProgress: (p) => bar.update(p.done, p.total) });
      bar.done();
      if (o.json) io.out(json(r));
      else {
        const rows: string[][] = [['Image', `${r.path}  ${bytes(r.size)}`]];
        if (r.volumeLabel) rows.push(['Volume label', r.volumeLabel]);
        for (const [a, h] of Object.entries(r.hashes)) rows.push([a.toUpperCase(), h!]);
        rows.push(['Result', r.message]);
        io.out(table(rows));
      }
      if (r.status === 'mismatch' || r.expected?.matches === false) io.exitCode = 1;
    });

  media
    .command('boot')
    .description('show the El Torito boot entries (BIOS, EFI) and optionally extract their images')
    .argument('<iso>', 'the image file')
    .option('--extract <dir>', 'write each boot image to this folder')
    .option('--json', 'machine-readable output')
    .action(async (iso: string, o: { extract?: string; json?: boolean }) => {
      await withMedia(iso, undefined, async (m) => {
        const cat = await m.bootCatalog();
        if (!cat) {
          if (o.json) io.out(json({ schema: 1, bootable: false, entries: [] }));
          else io.out('not bootable: no El Torito boot record');
          return;
        }
        // Name each image after the file it is, when the tree holds it (etfsboot.com, efisys.bin).
        const fileAt = await m.bootFiles();
        const written: string[] = [];
        if (o.extract) {
          await mkdir(o.extract, { recursive: true });
          for (const e of cat.entries) {
            const file = fileAt.get(e.imageOffset);
            const name = `${e.index}-${typeof e.platform === 'number' ? `platform-${e.platform}` : e.platform}-${file ? basename(file) : `${e.mediaType}.img`}`;
            const path = join(o.extract, name);
            await writeFile(path, await readBootImage(m.source, e));
            written.push(path);
          }
        }
        if (o.json) {
          io.out(json({ schema: 1, bootable: true, catalogSector: cat.catalogSector, validation: cat.validation, entries: cat.entries.map((e, i) => ({ ...e, file: fileAt.get(e.imageOffset), extractedTo: written[i] })) }));
          return;
        }
        io.out(
          table(
            [
              ['#', 'Platform', 'Boot', 'Media', 'Segment', 'Sectors', 'LBA', 'Size', 'File'],
              ...cat.entries.map((e) => [
                String(e.index),
                typeof e.platform === 'number' ? `0x${e.platform.toString(16)}` : e.platform.toUpperCase(),
                e.bootable ? 'yes' : 'no',
                e.mediaType,
                `0x${e.loadSegment.toString(16).toUpperCase().padStart(4, '0')}`,
                String(e.sectorCount),
                String(e.loadRba),
                bytes(e.imageSize),
                fileAt.get(e.imageOffset)?.slice(1) ?? '-',
              ]),
            ],
            [5, 6],
          ),
        );
        for (const w of written) io.out(`wrote ${w}`);
      });
    });

  return media;
}
