// Typed errors of the managed SMB share: a stable code, a message that says what to do, and the
// context (port, path, log lines) that pins the problem down.

export type ShareErrorCode =
  | 'E_NO_SMBD' // smbd or pdbedit is not installed
  | 'E_SMBD_START' // smbd exited, or did not listen, at start
  | 'E_SHARE_CONFIG' // a share name, path or option that cannot go into smb.conf safely
  | 'E_PORT'; // the SMB port is taken (usually by the system's own smbd)

export class ShareError extends Error {
  readonly code: ShareErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: ShareErrorCode, message: string, context: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ShareError';
    this.code = code;
    this.context = context;
  }
}
