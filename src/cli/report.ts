// `overnight report`: the morning report from serve's records, to the terminal or a file. The
// records are read by the `load` the caller gives (the store), so that this file only formats.
import { writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { Command, Option } from 'commander';
import type { DeploymentView, EventView, MachineView } from '../fleet/model.ts';
import { REPORT_FORMATS, type ReportFormat, formatReport, morningReport } from '../fleet/report.ts';
import { ServeError } from '../serve/errors.ts';
import type { Io } from './media.ts';

export interface ReportData {
  machines: MachineView[];
  events: EventView[];
  deployment: DeploymentView | null;
}

const BY_EXTENSION: Readonly<Record<string, ReportFormat>> = { '.json': 'json', '.csv': 'csv', '.html': 'html', '.htm': 'html', '.txt': 'text' };

export function reportCommand(io: Io, load: (dataDir: string | undefined) => Promise<ReportData>, now: () => number = Date.now): Command {
  return new Command('report')
    .description("the morning report: every machine's outcome and phase times, totals, failures by reason, the slowest phases")
    .option('--data <dir>', 'data folder of overnight serve')
    .addOption(new Option('--format <format>', 'output form (default: by the -o file extension, else text)').choices(REPORT_FORMATS))
    .option('--json', 'same as --format json')
    .option('--csv', 'same as --format csv')
    .option('--html', 'same as --format html')
    .option('-o, --output <file>', 'write the report to this file (.html, .csv, .json, .txt)')
    .option('--time-zone <zone>', 'IANA time zone for the times in text and HTML (default: this host\'s)')
    .action(async (o: { data?: string; format?: ReportFormat; json?: boolean; csv?: boolean; html?: boolean; output?: string; timeZone?: string }) => {
      const byExt = o.output ? BY_EXTENSION[extname(o.output).toLowerCase()] : undefined;
      const flagged = [o.json && 'json', o.csv && 'csv', o.html && 'html'].filter((f): f is ReportFormat => typeof f === 'string');
      if (flagged.length > 1 || (flagged.length && o.format && o.format !== flagged[0])) throw new ServeError('E_CONFIG', 'choose one form: --json, --csv, --html or --format');
      if (o.output && !o.format && !flagged.length && !byExt) throw new ServeError('E_CONFIG', `cannot tell the report's form from "${o.output}": name it .html, .csv, .json or .txt, or give --format`);
      const format: ReportFormat = flagged[0] ?? o.format ?? byExt ?? 'text';
      if (o.timeZone) {
        try {
          new Intl.DateTimeFormat('en', { timeZone: o.timeZone });
        } catch {
          throw new ServeError('E_CONFIG', `--time-zone "${o.timeZone}" is not an IANA time zone (e.g. Europe/Berlin, UTC)`);
        }
      }
      const data = await load(o.data);
      const report = morningReport({ ...data, now: now() });
      const text = formatReport(report, format, { timeZone: o.timeZone });
      if (!o.output) return io.out(text.trimEnd());
      await writeFile(o.output, text);
      io.out(`wrote ${o.output} (${format}, ${report.totals.machines} machine${report.totals.machines === 1 ? '' : 's'})`);
    });
}
