// /files/<path>: the loaders folder (wimboot, ipxe.efi, ...). The path is resolved with
// realpath and must stay inside the folder's own realpath, so a symlink leading out is refused;
// the file is then opened with O_NOFOLLOW, so a link swapped in after the check is refused too.
import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { HttpError } from './errors.ts';
import { makeEtag, type Representation } from './representation.ts';
import { DirectReader } from './send.ts';

const MISSING = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG', 'EISDIR']);

export class FileFolder {
  readonly root: string;

  private constructor(root: string) {
    this.root = root;
  }

  static async open(dir: string): Promise<FileFolder> {
    return new FileFolder(await realpath(dir));
  }

  /** The regular file at `segments` (already free of '..', '/', '\\', NUL), or HttpError 404. */
  async find(segments: readonly string[]): Promise<Representation> {
    const asked = join(this.root, ...segments);
    let real: string;
    try {
      real = await realpath(asked);
    } catch (e) {
      if (MISSING.has((e as NodeJS.ErrnoException).code ?? '')) throw new HttpError(404, 'no such file', { path: segments.join('/') });
      throw e;
    }
    if (!real.startsWith(this.root + sep)) throw new HttpError(404, 'path leads outside the files folder', { path: segments.join('/') });
    let fh;
    try {
      fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      if (MISSING.has((e as NodeJS.ErrnoException).code ?? '')) throw new HttpError(404, 'no such file', { path: segments.join('/') });
      throw e;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new HttpError(404, 'not a regular file', { path: segments.join('/') });
      const length = st.size;
      return {
        length,
        etag: makeEtag(st.dev, st.ino, st.size, st.mtimeMs),
        lastModified: st.mtime,
        reader: new DirectReader(fh.fd),
        pieces: (start, end) => (end > start ? [{ offset: start, length: end - start }] : []),
        release: () => fh.close(),
      };
    } catch (e) {
      await fh.close();
      throw e;
    }
  }
}
