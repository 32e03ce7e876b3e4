// Errors of `overnight serve` that are not a server's or a reader's own: configuration, inventory,
// media that cannot be installed from, a profile that does not fit its media.

export type ServeErrorCode =
  | 'E_CONFIG' // overnight.yaml or the flags do not make a deployment
  | 'E_INVENTORY' // the inventory file is malformed
  | 'E_NOT_WINDOWS' // the image holds no Windows Setup
  | 'E_PROFILE_MEDIA' // a profile does not fit its media (release, edition, architecture, language)
  | 'E_PERMISSIONS'; // the share folder cannot be read by the account Samba serves it as

export class ServeError extends Error {
  readonly code: ServeErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: ServeErrorCode, message: string, context: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ServeError';
    this.code = code;
    this.context = context;
  }
}
