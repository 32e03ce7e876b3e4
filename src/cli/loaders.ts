// `overnight loaders ...`: which boot loaders this host has (iPXE for BIOS and UEFI, wimboot),
// and fetching pinned official builds of the missing ones.
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { fetchLoaders, parsePinArg, parsePinFile, parseTable, pinRows, type Progress } from '../boot/loaders-fetch.ts';
import { defaultDataDir, defaultLoaderDir, findLoaders, type LoaderEntry } from '../boot/loaders.ts';
import { bytes, json, table } from './format.ts';
import type { Io } from './media.ts';
import { ProgressBar } from './progress.ts';

const FIRMWARE_TEXT: Record<string, string> = { bios: 'BIOS', 'efi-x64': 'UEFI x64', 'efi-ia32': 'UEFI ia32' };
const firmwareText = (f: readonly string[]) => f.map((x) => FIRMWARE_TEXT[x] ?? x).join(' + ');

function listRow(e: LoaderEntry): string[] {
  return [
    e.name,
    firmwareText(e.firmware),
    e.path ?? '-',
    e.source ?? '-',
    e.size !== undefined ? bytes(e.size) : '-',
    e.sha256 ? e.sha256.slice(0, 12) : '-',
    e.status === 'ok' ? 'ok' : e.status === 'missing' ? 'MISSING' : 'INVALID',
  ];
}

export function loadersCommand(io: Io): Command {
  const loaders = new Command('loaders').description('the network boot loaders (iPXE, wimboot): where they are, and fetching pinned builds');

  loaders
    .command('list')
    .description('show each loader by firmware: where it was found, size, SHA-256 and whether it checks out')
    .option('--dir <dir>', 'a loaders folder of your own, searched first (as --loaders DIR elsewhere)')
    .option('--data-dir <dir>', "overnight's data folder (its loaders/ is searched second)")
    .option('--json', 'machine-readable output')
    .action(async (o: { dir?: string; dataDir?: string; json?: boolean }) => {
      const set = await findLoaders({ dir: o.dir, dataDir: o.dataDir });
      if (o.json) {
        io.out(json({ schema: 1, ...set }));
      } else {
        io.out(table([['Loader', 'Firmware', 'Found at', 'Source', 'Size', 'SHA-256', 'Status'], ...set.entries.map(listRow)], [4]));
        const notes: string[] = [];
        for (const e of set.entries) if (e.status === 'invalid') notes.push(`${e.name}: ${e.problem}`);
        for (const e of set.entries) if (e.version) notes.push(`${e.name} is wimboot ${e.version}`);
        if (set.missing.length) {
          notes.push(`missing: ${set.missing.join(', ')} — \`overnight loaders fetch\` downloads pinned official builds; iPXE also comes with \`apt-get install ipxe\``);
        }
        io.out(['', `Searched: ${set.searched.map((s) => `${s.dir} (${s.source})`).join(', ')}`, ...notes.map((n) => `  - ${n}`)].join('\n'));
      }
      // Missing optional loaders (ia32, fallbacks) are normal; a file that fails its check is not.
      if (set.invalid.length) io.exitCode = 1;
    });

  loaders
    .command('fetch')
    .description('download pinned official iPXE and wimboot builds, check their SHA-256, install them')
    .argument('[names...]', 'loaders to fetch (default: every pinned one)')
    .option('--dir <dir>', 'where to install the loaders (default: <data dir>/loaders)')
    .option('--data-dir <dir>', "overnight's data folder")
    .option('--from <dir-or-url>', 'a mirror (folder or URL) holding the published files by name, e.g. a copied loaders folder')
    .option('--base-url <url>', 'base URL of the pinned paths instead of https://github.com/ (env OVERNIGHT_LOADERS_BASE_URL)')
    .option('--sha256 <name=hex>', 'a SHA-256 for a download without a built-in pin (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--pins <file>', 'SHA-256 pins in sha256sum format ("HEX  NAME") or NAME=HEX lines')
    .option('--table <file>', 'a download table of your own (JSON, see docs/loaders.md) instead of the built-in pins')
    .option('--timeout <seconds>', 'give up on a connection idle this long (default 30)', (v) => Number(v))
    .option('--json', 'machine-readable output')
    .action(
      async (
        names: string[],
        o: { dir?: string; dataDir?: string; from?: string; baseUrl?: string; sha256?: string[]; pins?: string; table?: string; timeout?: number; json?: boolean },
      ) => {
        const pins: Record<string, string> = {};
        if (o.pins) Object.assign(pins, parsePinFile(await readFile(o.pins, 'utf8'), o.pins));
        for (const s of o.sha256 ?? []) {
          const [n, h] = parsePinArg(s);
          pins[n] = h;
        }
        const dir = o.dir ?? defaultLoaderDir(o.dataDir ?? defaultDataDir());
        const bars = new Map<string, ProgressBar>();
        const onProgress = (p: Progress) => {
          let bar = bars.get(p.file);
          if (!bar) bars.set(p.file, (bar = new ProgressBar(p.file)));
          bar.update(p.done, p.total);
        };
        let report;
        try {
          report = await fetchLoaders({
            dir,
            names,
            from: o.from,
            baseUrl: o.baseUrl,
            pins,
            table: o.table ? parseTable(await readFile(o.table, 'utf8'), o.table) : undefined,
            timeoutMs: o.timeout !== undefined && Number.isFinite(o.timeout) && o.timeout > 0 ? o.timeout * 1000 : undefined,
            onProgress,
            onNote: (m) => {
              for (const b of bars.values()) b.done();
              if (!o.json) io.err(m);
            },
          });
        } finally {
          for (const b of bars.values()) b.done();
        }
        if (o.json) {
          io.out(json(report));
          return;
        }
        io.out(
          table([
            ['Loader', 'Version', 'Status', 'Path', 'Size', 'SHA-256'],
            ...report.results.map((r) => [r.name, r.version, r.status, r.path ?? '-', r.size !== undefined ? bytes(r.size) : '-', r.sha256 ? r.sha256.slice(0, 12) : '-']),
          ]),
        );
        for (const r of report.results) if (r.note) io.out(`  - ${r.name}: ${r.note}`);
      },
    );

  loaders
    .command('pins')
    .description('the built-in download table: URL, SHA-256 and where each pin comes from')
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => {
      const rows = pinRows();
      if (o.json) {
        io.out(json({ schema: 1, pins: rows }));
        return;
      }
      io.out(
        table([
          ['Loader', 'Firmware', 'From', 'SHA-256', 'Pin'],
          ...rows.map((r) => [r.loader, firmwareText(r.firmware), `${r.project} ${r.version}${r.member ? ` (${r.member})` : ''}`, r.sha256 ? `${r.sha256.slice(0, 12)}…` : '-', r.pinned ? 'pinned' : 'needs --sha256']),
        ]),
      );
      const seen = new Set<string>();
      for (const r of rows) {
        if (seen.has(r.url)) continue;
        seen.add(r.url);
        io.out(`\n${r.url}\n  sha256 ${r.sha256 ?? '(none: pass --sha256)'}\n  ${r.provenance}`);
      }
    });

  return loaders;
}
