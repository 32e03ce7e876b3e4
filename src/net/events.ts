// Typed events that the network servers emit. Servers do not know about each other or about the
// fleet: each gets an EventSink and reports every decision and transfer through it.

export type NetEvent =
  | DhcpEvent
  | TftpEvent
  | HttpEvent;

/** A DHCP/ProxyDHCP decision: which client, what it is, what it was offered (or why not). */
export interface DhcpEvent {
  readonly type: 'dhcp.offer' | 'dhcp.ack' | 'dhcp.ignore' | 'dhcp.nak' | 'dhcp.release' | 'dhcp.decline';
  readonly time: Date;
  /** Client hardware address, lower case, colon separated. */
  readonly mac: string;
  readonly interface: string;
  /** DHCP message type of the request ('DISCOVER', 'REQUEST', ...). */
  readonly request: string;
  /** Firmware class from option 93: 'bios', 'efi-ia32', 'efi-x64', 'efi-arm64', ..., or 'unknown'. */
  readonly arch?: string | undefined;
  /** Whether the request came from iPXE (user class 'iPXE' or option 175). */
  readonly ipxe?: boolean | undefined;
  /** Address offered or acknowledged (full mode only; never set in proxy mode). */
  readonly address?: string | undefined;
  /** Boot file name or URL handed out. */
  readonly bootFile?: string | undefined;
  /** Why a request was ignored or refused. */
  readonly reason?: string | undefined;
  /** Port the request arrived on: 67 or 4011. */
  readonly port?: number | undefined;
}

export interface TftpEvent {
  readonly type: 'tftp.start' | 'tftp.done' | 'tftp.error';
  readonly time: Date;
  /** Client address and port, e.g. '10.0.0.5:2070'. */
  readonly client: string;
  /** The file as requested. */
  readonly file: string;
  /** Bytes sent so far (done: the whole file). */
  readonly bytes?: number | undefined;
  readonly durationMs?: number | undefined;
  /** Negotiated options (blksize, tsize, windowsize, timeout). */
  readonly options?: Readonly<Record<string, number>> | undefined;
  readonly reason?: string | undefined;
}

export interface HttpEvent {
  readonly type: 'http.served' | 'http.error';
  readonly time: Date;
  readonly client: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** Body bytes written. */
  readonly bytes: number;
  readonly durationMs: number;
  /** The MAC a per-machine request names (/boot/<mac>.ipxe), when there is one. */
  readonly mac?: string | undefined;
  /** The Range header, when the request had one. */
  readonly range?: string | undefined;
  /** Whether the client went away before the body was complete. */
  readonly aborted?: boolean | undefined;
  /** What went wrong (http.error). */
  readonly reason?: string | undefined;
}

export type EventSink = (event: NetEvent) => void;

/** A sink that drops everything, for servers started without one. */
export const ignoreEvents: EventSink = () => {};
