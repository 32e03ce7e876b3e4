// Typed errors of the network servers: a stable code, a message that says what to do, and the
// context (interface, address, port, file) that pins the problem down.

export type NetErrorCode =
  | 'E_NO_INTERFACE' // no usable interface, or the named one does not exist / has no IPv4 address
  | 'E_AMBIGUOUS_INTERFACE' // several candidate interfaces and none chosen
  | 'E_BIND' // a port could not be opened (in use, or no permission)
  | 'E_DHCP_CONFLICT' // full DHCP mode refused: another DHCP server answers on the segment
  | 'E_CONFIG'; // inconsistent options (a pool outside the interface's subnet, ...)

export class NetError extends Error {
  readonly code: NetErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: NetErrorCode, message: string, context: Record<string, unknown> = {}) {
    super(message);
    this.name = 'NetError';
    this.code = code;
    this.context = context;
  }
}
