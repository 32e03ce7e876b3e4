// Linux system calls that Node does not expose, for extraction: copy_file_range(2), the in-kernel
// copy `cp` itself uses (the bytes never enter this process, and file systems with reflinks share
// them instead of copying), and fallocate(2), which reserves a large file's blocks before it is
// written (no per-block delayed-allocation bookkeeping while copying, one contiguous allocation,
// and a full disk reported before gigabytes are copied rather than after).
// They are called through koffi (a prebuilt FFI, nothing compiled at install time), on koffi's
// worker threads. Elsewhere, or when a call is refused, callers copy through buffers instead.
import { constants as osConstants } from 'node:os';

export interface KernelIO {
  /**
   * Copies up to `length` bytes from `fdIn` at `offIn` to `fdOut` at `offOut` and returns the
   * number copied (short counts happen; 0 means `offIn` is at or past the end of the input).
   */
  copyRange(fdIn: number, offIn: number, fdOut: number, offOut: number, length: number): Promise<number>;
  /** The same on this thread, for small files (no hand-off to a worker thread and back). */
  copyRangeSync(fdIn: number, offIn: number, fdOut: number, offOut: number, length: number): number;
  /** Allocates blocks for `length` bytes at `offset` (the file grows to cover them). */
  allocate(fd: number, offset: number, length: number): Promise<void>;
}

/**
 * errno names that mean "not on this pair of files or this file system": the caller copies
 * through buffers instead (EXDEV: image and destination on different file systems).
 */
export const UNSUPPORTED = new Set(['EXDEV', 'EINVAL', 'ENOSYS', 'EOPNOTSUPP', 'ENOTSUP', 'EBADF', 'EPERM', 'ETXTBSY']);

/** A failed call: `code` is the errno name, as in Node's own fs errors. */
export interface SyscallError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

const errnoName = new Map<number, string>(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));

let loading: Promise<KernelIO | undefined> | undefined;

/** The calls, or undefined where there are none (not Linux, koffi cannot load, OVERNIGHT_KERNEL_IO=0). */
export function kernelIO(): Promise<KernelIO | undefined> {
  loading ??= load();
  return loading;
}

async function load(): Promise<KernelIO | undefined> {
  if (process.platform !== 'linux' || process.env['OVERNIGHT_KERNEL_IO'] === '0') return undefined;
  try {
    const koffi = (await import('koffi')).default;
    const libc = koffi.load('libc.so.6');
    const cfr = libc.func('intptr_t copy_file_range(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, size_t len, unsigned int flags)');
    const falloc = libc.func('int fallocate64(int fd, int mode, int64_t offset, int64_t len)');
    const failure = (syscall: string, errno: number): SyscallError => {
      const code = errnoName.get(errno) ?? `errno ${errno}`;
      return Object.assign(new Error(`${syscall} failed: ${code}`), { code, errno, syscall });
    };
    // Runs `fn` on a koffi worker thread; a negative result becomes a SyscallError.
    const call = (syscall: string, fn: { async: (...a: unknown[]) => void }, args: unknown[]): Promise<number> =>
      new Promise((resolve, reject) => {
        fn.async(...args, (err: unknown, r: number | bigint) => {
          // koffi hands the worker thread's errno to this thread before the callback runs.
          const errno = koffi.errno();
          if (err) return reject(err as Error);
          const n = Number(r);
          if (n >= 0) resolve(n);
          else reject(failure(syscall, errno));
        });
      });
    // The kernel advances the offsets it is given; fresh arrays keep concurrent calls apart.
    const offsets = (offIn: number, offOut: number) => [new BigInt64Array([BigInt(offIn)]), new BigInt64Array([BigInt(offOut)])] as const;
    return {
      copyRange: (fdIn, offIn, fdOut, offOut, length) => {
        const [i, o] = offsets(offIn, offOut);
        return call('copy_file_range', cfr, [fdIn, i, fdOut, o, length, 0]);
      },
      copyRangeSync: (fdIn, offIn, fdOut, offOut, length) => {
        const [i, o] = offsets(offIn, offOut);
        const n = Number(cfr(fdIn, i, fdOut, o, length, 0));
        if (n < 0) throw failure('copy_file_range', koffi.errno());
        return n;
      },
      allocate: async (fd, offset, length) => {
        await call('fallocate', falloc, [fd, 0, offset, length]);
      },
    };
  } catch {
    // No prebuilt koffi binary for this platform, or no libc.so.6 (musl): copy through buffers.
    return undefined;
  }
}
