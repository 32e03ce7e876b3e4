// The boot servers started together: HTTP and TFTP first, DHCP last (no client is sent to a
// server that is not listening yet), all of them or none (a failure closes what had started),
// and one close() for all.
import { type DhcpServer, type DhcpServerOptions, startDhcpServer } from './dhcp/server.ts';
import type { EventSink } from './events.ts';
import { type HttpServer, type HttpServerOptions, startHttpServer } from './http/server.ts';
import { type TftpServer, type TftpServerOptions, startTftpServer } from './tftp/server.ts';

export interface BootServersOptions {
  events: EventSink;
  http?: Omit<HttpServerOptions, 'events'> | undefined;
  tftp?: Omit<TftpServerOptions, 'events'> | undefined;
  dhcp?: Omit<DhcpServerOptions, 'events'> | undefined;
}

export interface BootServers {
  readonly http: HttpServer | undefined;
  readonly tftp: TftpServer | undefined;
  readonly dhcp: DhcpServer | undefined;
  /** Stops the servers in the reverse order of their start. */
  close(): Promise<void>;
}

export async function startBootServers(o: BootServersOptions): Promise<BootServers> {
  const started: { close(): Promise<void> }[] = [];
  const close = async () => {
    for (const s of started.splice(0).reverse()) await s.close().catch(() => {});
  };
  const add = <T extends { close(): Promise<void> }>(server: T): T => {
    started.push(server);
    return server;
  };
  try {
    const http = o.http ? add(await startHttpServer({ ...o.http, events: o.events })) : undefined;
    const tftp = o.tftp ? add(await startTftpServer({ ...o.tftp, events: o.events })) : undefined;
    const dhcp = o.dhcp ? add(await startDhcpServer({ ...o.dhcp, events: o.events })) : undefined;
    return { http, tftp, dhcp, close };
  } catch (e) {
    await close();
    throw e;
  }
}
