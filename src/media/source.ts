// Random access to the bytes of an image. Codecs never touch files: they get Buffers from here,
// and every read is bounds-checked so that a corrupt length can never read past the image.
import { open, type FileHandle } from 'node:fs/promises';
import { MediaError } from './errors.ts';

export interface ByteSource {
  /** Size of the image in bytes. */
  readonly size: number;
  /** Human-readable origin, used in error messages. */
  readonly name: string;
  /** Exactly `length` bytes at `offset`, or E_TRUNCATED. */
  read(offset: number, length: number): Promise<Buffer>;
  /** Reads into `buf` and returns the number of bytes read (short only at the end of the image). */
  readInto(buf: Buffer, bufOffset: number, length: number, offset: number): Promise<number>;
  /** The descriptor of the image when it is a regular file: extraction copies from it in the kernel. */
  readonly fd?: number | undefined;
  close(): Promise<void>;
}

/** Reads larger than this are refused: no single descriptor or directory is anywhere near it. */
export const MAX_SINGLE_READ = 256 * 1024 * 1024;

function checkRange(src: ByteSource, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new MediaError('E_FORMAT', 'invalid read range', { source: src.name, offset, length });
  }
  if (length > MAX_SINGLE_READ) {
    throw new MediaError('E_LIMIT', 'read larger than any structure on real media', { source: src.name, offset, length });
  }
  if (offset + length > src.size) {
    throw new MediaError('E_TRUNCATED', 'read past the end of the image', {
      source: src.name,
      offset,
      length,
      size: src.size,
    });
  }
}

// Small reads (descriptors, File Entries, directory records) are served from WINDOW-byte blocks
// of the image read once: a UDF tree's File Entries lie side by side, so one read brings dozens.
// Walking a Windows ISO's 1,200 entries then takes tens of reads instead of over a thousand.
const WINDOW = 64 * 1024;
const MAX_WINDOWS = 64;

export class FileSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  readonly fd: number | undefined;
  readonly #fh: FileHandle;
  /** Window index → its bytes (in insertion order, oldest first, for eviction). */
  readonly #windows = new Map<number, Promise<Buffer>>();

  private constructor(fh: FileHandle, size: number, name: string, regular: boolean) {
    this.#fh = fh;
    this.size = size;
    this.name = name;
    // A block device has no copy_file_range; its bytes are always read through buffers.
    this.fd = regular ? fh.fd : undefined;
  }

  static async open(path: string): Promise<FileSource> {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile() && !st.isBlockDevice()) {
        throw new MediaError('E_FORMAT', 'not a regular file or block device', { path });
      }
      return new FileSource(fh, st.size, path, st.isFile());
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    checkRange(this, offset, length);
    const w = Math.floor(offset / WINDOW);
    if (length <= WINDOW && Math.floor((offset + length - 1) / WINDOW) === w) {
      const win = await this.#window(w);
      const at = offset - w * WINDOW;
      if (at + length > win.length) {
        throw new MediaError('E_TRUNCATED', 'image shrank while reading', { source: this.name, offset: w * WINDOW + win.length });
      }
      // A copy: callers may keep or change it, and the window stays as read.
      const out = Buffer.allocUnsafe(length);
      win.copy(out, 0, at, at + length);
      return out;
    }
    return this.#readExact(offset, length);
  }

  #window(w: number): Promise<Buffer> {
    let p = this.#windows.get(w);
    if (!p) {
      if (this.#windows.size >= MAX_WINDOWS) this.#windows.delete(this.#windows.keys().next().value!);
      const start = w * WINDOW;
      const buf = Buffer.allocUnsafe(Math.min(WINDOW, this.size - start));
      // Short only if the image shrank since it was opened; read() then names the missing part.
      p = this.readInto(buf, 0, buf.length, start).then((n) => buf.subarray(0, n));
      this.#windows.set(w, p);
      p.catch(() => this.#windows.delete(w));
    }
    return p;
  }

  async #readExact(offset: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.#fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) {
        throw new MediaError('E_TRUNCATED', 'image shrank while reading', { source: this.name, offset: offset + done });
      }
      done += bytesRead;
    }
    return buf;
  }

  async readInto(buf: Buffer, bufOffset: number, length: number, offset: number): Promise<number> {
    const n = Math.max(0, Math.min(length, this.size - offset));
    let done = 0;
    while (done < n) {
      const { bytesRead } = await this.#fh.read(buf, bufOffset + done, n - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  async close(): Promise<void> {
    await this.#fh.close();
  }
}

/** An image held in memory: used by fuzz tests and for nested images (e.g. a floppy image inside an ISO). */
export class BufferSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  readonly #buf: Buffer;

  constructor(buf: Buffer, name = 'buffer') {
    this.#buf = buf;
    this.size = buf.length;
    this.name = name;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    checkRange(this, offset, length);
    const out = Buffer.allocUnsafe(length);
    this.#buf.copy(out, 0, offset, offset + length);
    return out;
  }

  async readInto(buf: Buffer, bufOffset: number, length: number, offset: number): Promise<number> {
    const n = Math.max(0, Math.min(length, this.size - offset));
    if (n > 0) this.#buf.copy(buf, bufOffset, offset, offset + n);
    return n;
  }

  async close(): Promise<void> {}
}
