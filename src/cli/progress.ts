// A progress line for long work (extraction, hashing): bytes, rate and ETA, redrawn on a TTY at
// most a few times a second; silent when stderr is not a terminal (logs and pipes stay clean).
import { bytes, duration } from './format.ts';

export class ProgressBar {
  readonly #stream: NodeJS.WriteStream;
  readonly #label: string;
  readonly #start = performance.now();
  #last = 0;
  #active: boolean;

  constructor(label: string, stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream;
    this.#label = label;
    this.#active = !!stream.isTTY;
  }

  update(done: number, total: number, note = ''): void {
    if (!this.#active) return;
    const now = performance.now();
    if (now - this.#last < 150 && done < total) return;
    this.#last = now;
    const secs = (now - this.#start) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const eta = rate > 0 ? (total - done) / rate : NaN;
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    // A pseudo-terminal without a size reports 0 columns.
    const cols = this.#stream.columns || 80;
    const width = Math.max(10, Math.min(30, cols - 60));
    const fill = Math.round(frac * width);
    const bar = '█'.repeat(fill) + '░'.repeat(width - fill);
    let line = `${this.#label} ${bar} ${(frac * 100).toFixed(0).padStart(3)}%  ${bytes(done)}/${bytes(total)}  ${bytes(rate)}/s  ETA ${duration(eta)}`;
    // The note (file counts) is the first thing dropped on a narrow terminal.
    if (note && [...line].length + 2 + [...note].length <= cols - 1) line += `  ${note}`;
    if ([...line].length > cols - 1) line = [...line].slice(0, cols - 2).join('') + '…';
    this.#stream.write(`\r\x1b[2K${line}`);
  }

  done(): void {
    if (this.#active) this.#stream.write('\r\x1b[2K');
    this.#active = false;
  }
}
