// Typed errors for everything that reads install media. Each carries a stable code and the
// context (sector, offset, path, ...) that lets an administrator or a bug report pin it down.

export type MediaErrorCode =
  | 'E_TRUNCATED' // a structure runs past the end of the image or of its container
  | 'E_BAD_TAG' // UDF descriptor tag: wrong identifier, checksum or location
  | 'E_CRC' // UDF descriptor CRC mismatch
  | 'E_FORMAT' // a field holds a value the specification does not allow
  | 'E_UNSUPPORTED' // valid, but not something this reader handles
  | 'E_NOT_FOUND' // no such path in the image
  | 'E_NOT_DIR' // a path component is not a directory
  | 'E_IS_DIR' // a file operation on a directory
  | 'E_LOOP' // a directory or allocation chain refers back to itself
  | 'E_LIMIT' // a count or length beyond what any real medium has
  | 'E_NO_FS' // no file system this reader recognises
  | 'E_UNSAFE_NAME' // a name that must not be written to the host (.., device names, ...)
  | 'E_NO_SPACE'; // the destination has too little free space for what is to be written

export class MediaError extends Error {
  readonly code: MediaErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: MediaErrorCode, message: string, context: Record<string, unknown> = {}) {
    const where = Object.entries(context)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'number' && k !== 'length' && k !== 'size' ? v : JSON.stringify(v)}`)
      .join(' ');
    super(where ? `${message} (${where})` : message);
    this.name = 'MediaError';
    this.code = code;
    this.context = context;
  }
}

export function isMediaError(e: unknown): e is MediaError {
  return e instanceof MediaError;
}
