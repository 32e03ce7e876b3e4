// Windows PE has no HTTP client (no PowerShell, no curl), but it has `net use` and `echo > file`:
// its start script reports each phase by writing a small file into the writable report share
// (<mac>.<seq>.<phase>.txt, written as .tmp and then renamed). This watcher turns each file into a
// report, in sequence order per machine, and removes it. Setup's logs sent the same way
// (<mac>.<seq>.setupact.log.txt) are kept under logs/<mac>/. Anything else is removed and said so:
// the folder never fills up.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { type Phase, parseLogName, parseReportBody, parseReportName } from '../boot/winpe.ts';

export interface ReportFile {
  file: string;
  mac: string;
  seq: number;
  phase: Phase;
  reason: string | undefined;
}

export interface ReportWatcherOptions {
  dir: string;
  /** Where Setup logs sent by machines are kept (logs/<mac>/...). */
  logsDir: string;
  onReport: (r: ReportFile) => void;
  onJunk?: ((file: string, why: string) => void) | undefined;
  /** Scan period (ms); changes also wake it at once. */
  intervalMs?: number | undefined;
}

export interface ReportWatcher {
  /** Processes what is there now (also called on a timer and on changes). */
  scan(): void;
  /** A last scan, then stops: reports written before close are not lost. */
  close(): void;
}

/** A report is a line or two; a log is capped so a machine cannot fill the server's disk. */
const MAX_REPORT = 4096;
const MAX_LOG = 4 * 1024 * 1024;
/** A .tmp file is a report being written; one this old was abandoned. */
const STALE_TMP_MS = 10 * 60_000;

export function startReportWatcher(o: ReportWatcherOptions): ReportWatcher {
  mkdirSync(o.dir, { recursive: true });
  /** Size last seen per file: a file is read once its size held still for one scan (the writer closed it). */
  const sizes = new Map<string, number>();
  let closed = false;
  const scan = () => {
    let names: string[];
    try {
      names = readdirSync(o.dir);
    } catch {
      return;
    }
    const ready: ReportFile[] = [];
    for (const file of names) {
      const path = join(o.dir, file);
      let size: number;
      try {
        const st = statSync(path);
        if (!st.isFile()) {
          rmSync(path, { recursive: true, force: true });
          o.onJunk?.(file, 'not a file');
          continue;
        }
        size = st.size;
        if (/\.tmp$/i.test(file)) {
          if (Date.now() - st.mtimeMs > STALE_TMP_MS && size <= MAX_LOG) rmSync(path, { force: true });
          continue;
        }
      } catch {
        continue;
      }
      const log = parseLogName(file);
      if (!log && size > MAX_REPORT) {
        rmSync(path, { force: true });
        o.onJunk?.(file, `${size} bytes is not a report`);
        continue;
      }
      if (sizes.get(file) !== size && !closed) {
        sizes.set(file, size);
        continue;
      }
      sizes.delete(file);
      if (log) {
        keepLog(o.logsDir, path, log.mac, file, size);
        continue;
      }
      const name = parseReportName(file);
      if (!name) {
        rmSync(path, { force: true });
        o.onJunk?.(file, 'not a report name (<mac>.<seq>.<phase>.txt)');
        continue;
      }
      let text = '';
      try {
        text = readFileSync(path, 'latin1');
      } catch {
        continue;
      }
      rmSync(path, { force: true });
      ready.push({ file, ...name, reason: parseReportBody(text).reason });
    }
    ready.sort((a, b) => (a.mac === b.mac ? a.seq - b.seq : a.mac < b.mac ? -1 : 1));
    for (const r of ready) o.onReport(r);
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(o.dir, () => {
      if (!closed) setTimeout(scan, 150).unref();
    });
  } catch {
    watcher = undefined; // the timer alone still finds every file
  }
  const timer = setInterval(scan, o.intervalMs ?? 500);
  timer.unref();
  return {
    scan,
    close() {
      if (closed) return;
      clearInterval(timer);
      watcher?.close();
      closed = true;
      scan();
    },
  };
}

function keepLog(logsDir: string, path: string, mac: string, file: string, size: number): void {
  if (size > MAX_LOG) {
    rmSync(path, { force: true });
    return;
  }
  const dir = join(logsDir, mac.replaceAll(':', '-'));
  mkdirSync(dir, { recursive: true });
  try {
    renameSync(path, join(dir, file));
  } catch {
    rmSync(path, { force: true });
  }
}
