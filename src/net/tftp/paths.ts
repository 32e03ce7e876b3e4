// Turning a requested TFTP name into something to read: a regular file under the root folder, or
// a file inside install media mounted at a prefix. Everything is checked by whole path
// components, never by string prefix, so '/srv/tftp2' is not inside '/srv/tftp'.
import { constants, type Stats } from 'node:fs';
import { type FileHandle, lstat, open, readlink, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { Extent, MediaFS } from '../../media/types.ts';
import { ErrorCode, TftpError } from './codec.ts';

export interface MediaMount {
  /** Where the media appears in the TFTP name space, e.g. '/media/win7'. */
  readonly prefix: string;
  readonly fs: MediaFS;
}

/** A file opened for a transfer: its size, and a way to fill block buffers from it. */
export interface TransferSource {
  readonly size: number;
  /** What was opened, for events and errors ('/srv/tftp/pxelinux.0', 'media:/media/win7/bootmgr'). */
  readonly where: string;
  /** Fills `targets` back to back with the bytes starting at `position` (all of them, or throws). */
  fill(position: number, targets: readonly Uint8Array[]): Promise<void>;
  close(): Promise<void>;
  /**
   * A descriptor the file can be read from directly by offset, and where its bytes lie in it
   * (for transfer worker threads). Valid until close(); absent when there is none.
   */
  readonly direct?: { readonly fd: number; readonly extents: readonly Extent[] } | undefined;
}

function refuse(message: string, name: string): TftpError {
  return new TftpError('E_ACCESS', message, { file: name }, ErrorCode.ACCESS_VIOLATION);
}

/**
 * Splits a requested name into path components.
 *
 * Backslashes are separators: Windows boot loaders (wdsnbp, bootmgr) ask for 'boot\x86\...', and
 * treating '\' as an ordinary character would both break them and let '..\..\etc' through any
 * check that only looks at '/'. After the conversion, one leading '/' is stripped (the root is
 * '/'), empty and '.' components are dropped, and any '..' is refused outright rather than
 * resolved: a client has no business climbing, so there is nothing to normalise.
 */
export function splitName(name: string): string[] {
  if (name.includes('\0')) throw refuse('NUL byte in file name', name);
  if (/[\x00-\x1f\x7f]/.test(name)) throw refuse('control character in file name', name);
  const parts: string[] = [];
  for (const part of name.replaceAll('\\', '/').split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw refuse("'..' in file name: names cannot leave the TFTP root", name);
    parts.push(part);
  }
  if (parts.length === 0) throw refuse('empty file name (the root is a folder)', name);
  return parts;
}

function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** Components of a mount prefix ('/media/win7' → ['media', 'win7']). */
export function prefixParts(prefix: string): string[] {
  return prefix.replaceAll('\\', '/').split('/').filter((p) => p !== '' && p !== '.');
}

/**
 * Opens the file a client asked for. `realRoot` is the root after realpath. Throws TftpError
 * with tftpCode 1 (not found) or 2 (access violation); other errors are unexpected I/O failures.
 */
export async function openRequested(name: string, realRoot: string, mounts: readonly MediaMount[]): Promise<TransferSource> {
  const parts = splitName(name);

  // Media mounts first: the longest prefix whose components all match (case-insensitively, as
  // Windows clients are not careful about case).
  let best: { mount: MediaMount; depth: number } | undefined;
  for (const mount of mounts) {
    const pp = prefixParts(mount.prefix);
    if (pp.length === 0 || pp.length > parts.length) continue;
    if (!pp.every((p, i) => p.toLowerCase() === parts[i]!.toLowerCase())) continue;
    if (!best || pp.length > best.depth) best = { mount, depth: pp.length };
  }
  if (best) return openMedia(name, best.mount, '/' + parts.slice(best.depth).join('/'));

  const joined = join(realRoot, ...parts);
  let real: string;
  try {
    real = await realpath(joined);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new TftpError('E_NOT_FOUND', 'file not found', { file: name }, ErrorCode.FILE_NOT_FOUND);
    if (code === 'EACCES' || code === 'ELOOP' || code === 'ENAMETOOLONG') throw refuse(`cannot resolve file name (${code})`, name);
    throw e;
  }
  // realpath resolved every symlink: a link inside the root that points out of it ends here.
  if (!isInside(realRoot, real)) throw refuse('file name resolves outside the TFTP root (symlink?)', name);
  const st = await lstat(real);
  if (!st.isFile()) throw refuse(st.isDirectory() ? 'is a folder, not a file' : 'not a regular file', name);

  let fh: FileHandle;
  try {
    // O_NOFOLLOW: the last component cannot have been swapped for a symlink since realpath;
    // O_NONBLOCK: had it been swapped for a FIFO, open would not hang.
    fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TftpError('E_NOT_FOUND', 'file not found', { file: name }, ErrorCode.FILE_NOT_FOUND);
    if (code === 'EACCES' || code === 'ELOOP' || code === 'EPERM') throw refuse(`cannot open file (${code})`, name);
    throw e;
  }
  let fst: Stats;
  try {
    fst = await fh.stat();
    if (!fst.isFile() || fst.ino !== st.ino || fst.dev !== st.dev) throw refuse('file changed while it was opened', name);
    // A folder on the way could have been swapped for a symlink between realpath and open: ask
    // the kernel where the open file really is (Linux; elsewhere the checks above stand).
    const opened = await readlink(`/proc/self/fd/${fh.fd}`).catch(() => undefined);
    if (opened !== undefined && !isInside(realRoot, opened)) throw refuse('file name resolves outside the TFTP root (changed while opening)', name);
  } catch (e) {
    await fh.close();
    throw e;
  }
  return hostSource(fh, fst.size, real);
}

function hostSource(fh: FileHandle, size: number, where: string): TransferSource {
  return {
    size,
    where,
    direct: { fd: fh.fd, extents: [{ offset: 0, length: size }] },
    async fill(position, targets) {
      // One readv per chunk straight into the block slots; loop only for short reads.
      let list = targets.filter((t) => t.length > 0);
      let pos = position;
      while (list.length > 0) {
        const { bytesRead } = await fh.readv(list, pos);
        if (bytesRead === 0) throw new Error(`${where}: file shrank during the transfer (EOF at ${pos}, size was ${size})`);
        pos += bytesRead;
        list = unfilled(list, bytesRead);
      }
    },
    close: () => fh.close(),
  };
}

async function openMedia(name: string, mount: MediaMount, path: string): Promise<TransferSource> {
  const entry = await mount.fs.exists(path).catch(() => undefined);
  if (!entry) throw new TftpError('E_NOT_FOUND', 'file not found on the media', { file: name, media: mount.prefix }, ErrorCode.FILE_NOT_FOUND);
  if (entry.type !== 'file') throw refuse(entry.type === 'directory' ? 'is a folder on the media, not a file' : 'not a regular file on the media', name);
  const fs = mount.fs;
  const where = `media:${mount.prefix}${entry.path}`;
  // An image read from a plain file (not one inside another image): workers read it by offset.
  const imageFd = (fs as { source?: { fd?: unknown } }).source?.fd;
  const direct = typeof imageFd === 'number' ? { fd: imageFd, extents: await fs.extents(entry.path).catch(() => undefined) } : undefined;
  return {
    size: entry.size,
    where,
    direct: direct?.extents ? { fd: direct.fd, extents: direct.extents } : undefined,
    async fill(position, targets) {
      let total = 0;
      for (const t of targets) total += t.length;
      if (total === 0) return;
      // One large read per chunk (the server asks for ~1 MiB at a time), then copied to slots.
      const data = await fs.read(entry.path, position, position + total);
      if (data.length !== total) throw new Error(`${where}: short read at ${position} (${data.length} of ${total} bytes)`);
      let off = 0;
      for (const t of targets) {
        t.set(data.subarray(off, off + t.length));
        off += t.length;
      }
    },
    close: async () => {},
  };
}

/** What is left of readv `targets` after a read of `n` bytes: the ones not (or not wholly) filled. */
export function unfilled<T extends Uint8Array>(targets: T[], n: number): T[] {
  let left = n;
  let i = 0;
  while (i < targets.length && left >= targets[i]!.length) left -= targets[i++]!.length;
  const rest = targets.slice(i);
  if (left > 0) rest[0] = rest[0]!.subarray(left) as T;
  return rest;
}
