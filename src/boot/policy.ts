// Which first-stage loader or script a network boot client gets, decided from what its DHCP
// request says about it (option 93 architecture, option 60 PXEClient/HTTPClient, iPXE's user
// class). One small interface, as pixiecore's Booter: the DHCP server asks, the policy answers.
import type { ClientKind, Firmware } from '../net/dhcp/pxe.ts';

export interface BootClient {
  mac: string;
  /** Transaction id: one DHCP exchange (DISCOVER, REQUEST, the 4011 request) shares it. */
  xid: number;
  kind: ClientKind;
  /** The server address on the interface the request arrived on. */
  serverIp: string;
}

export type BootDecision =
  | {
      /** A TFTP path (relative to the TFTP root) or an http:// URL. */
      bootFile: string;
      /** Option 60 in the reply: PXE ROMs want "PXEClient", UEFI HTTP boot "HTTPClient". */
      vendorClass: 'PXEClient' | 'HTTPClient';
      /** What was chosen, for the event log: 'undionly.kpxe', 'script', ... */
      what: string;
    }
  | { ignore: string };

export interface BootPolicy {
  decide(client: BootClient): BootDecision;
}

/** TFTP names of the first-stage loaders by firmware (files in the loaders folder). */
export const DEFAULT_LOADERS: Readonly<Partial<Record<Firmware, string>>> = {
  bios: 'undionly.kpxe',
  'efi-x64': 'ipxe.efi',
  'efi-ia32': 'ipxe-i386.efi',
};

export interface IpxePolicyOptions {
  /** HTTP port of overnight's server (scripts and, for UEFI HTTP boot, loaders). */
  httpPort: number;
  loaders?: Partial<Record<Firmware, string>> | undefined;
  /** Decides per MAC whether to boot it at all (unknown machines under an approval policy). */
  allow?: ((mac: string) => string | undefined) | undefined;
  /**
   * Also load overnight's iPXE on machines whose NIC ROM is itself iPXE (old or cut-down ROM
   * builds, e.g. without HTTPS or wimboot support). The ROM's own DHCP exchange gets the loader;
   * the loader's exchange (a new transaction id, within CHAINLOAD_WINDOW_MS) gets the script.
   */
  chainloadIpxe?: boolean | undefined;
}

/** The base URL of overnight's HTTP server at `ip` (no port when it is 80). */
export function httpBase(ip: string, port: number): string {
  return `http://${ip}${port === 80 ? '' : `:${port}`}`;
}

/** How long after handing a machine's iPXE ROM the loader its next iPXE exchange counts as the loader's. */
export const CHAINLOAD_WINDOW_MS = 120_000;

/**
 * The chain overnight uses: PXE firmware → iPXE loader over TFTP → per-machine iPXE script over
 * HTTP. A client already in iPXE gets the script URL straight away, which is what stops iPXE
 * from loading itself again and again. Server addresses are always explicit.
 */
export function ipxePolicy(opts: IpxePolicyOptions): BootPolicy {
  const loaders = { ...DEFAULT_LOADERS, ...opts.loaders };
  const http = (ip: string) => httpBase(ip, opts.httpPort);
  // MAC → the ROM exchange that was given the loader, and when.
  const chained = new Map<string, { xid: number; at: number }>();
  return {
    decide({ mac, xid, kind, serverIp }) {
      const refused = opts.allow?.(mac);
      if (refused) return { ignore: refused };
      if (kind.ipxe && opts.chainloadIpxe && kind.firmware !== 'unknown') {
        const now = Date.now();
        const seen = chained.get(mac);
        if (!seen || seen.xid === xid || now - seen.at > CHAINLOAD_WINDOW_MS) {
          if (!seen || seen.xid !== xid) chained.set(mac, { xid, at: now });
          if (chained.size > 100_000) chained.delete(chained.keys().next().value!);
          const loader = loaders[kind.firmware];
          if (loader) return { bootFile: loader, vendorClass: 'PXEClient', what: `${loader} (chainload from the iPXE ROM)` };
        }
      }
      if (kind.ipxe) return { bootFile: `${http(serverIp)}/boot/${mac}.ipxe`, vendorClass: 'PXEClient', what: 'script' };
      if (!kind.netboot) return { ignore: 'not a network boot client (no PXEClient/HTTPClient vendor class)' };
      const loader = loaders[kind.firmware];
      if (!loader) return { ignore: `no loader for ${kind.firmware} firmware (architecture ${kind.arch ?? 'not given'})` };
      if (kind.httpBoot) return { bootFile: `${http(serverIp)}/files/${loader}`, vendorClass: 'HTTPClient', what: loader };
      return { bootFile: loader, vendorClass: 'PXEClient', what: loader };
    },
  };
}
