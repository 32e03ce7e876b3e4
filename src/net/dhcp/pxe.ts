// What kind of network boot client sent a request: firmware architecture (option 93, else the
// vendor class string), PXE or UEFI HTTP boot, and whether iPXE is already running.
import { type DhcpMessage, Opt, clientArchitectures, optionString, userClasses } from './codec.ts';

/** Firmware families that need different loaders. */
export type Firmware = 'bios' | 'efi-ia32' | 'efi-x64' | 'efi-arm32' | 'efi-arm64' | 'unknown';

export interface ClientKind {
  /** Option 60 starts with "PXEClient" or "HTTPClient": a network boot client at all. */
  netboot: boolean;
  /** UEFI HTTP boot (option 60 "HTTPClient", architectures 15/16/19/...): wants a URL. */
  httpBoot: boolean;
  /** Already running iPXE (user class "iPXE" or option 175): give it the script URL. */
  ipxe: boolean;
  firmware: Firmware;
  /** The raw option 93 value that decided, when there was one. */
  arch: number | undefined;
}

/**
 * RFC 4578 §2.1 and the IANA "Processor Architecture Types" registry. 7 and 9 are both x64 UEFI
 * in practice (9 was mislabelled EFI BC in RFC 4578; firmware sends either).
 */
const ARCH: Record<number, { firmware: Firmware; http: boolean }> = {
  0: { firmware: 'bios', http: false },
  6: { firmware: 'efi-ia32', http: false },
  7: { firmware: 'efi-x64', http: false },
  9: { firmware: 'efi-x64', http: false },
  10: { firmware: 'efi-arm32', http: false },
  11: { firmware: 'efi-arm64', http: false },
  15: { firmware: 'efi-ia32', http: true },
  16: { firmware: 'efi-x64', http: true },
  18: { firmware: 'efi-arm32', http: true },
  19: { firmware: 'efi-arm64', http: true },
};

export function classify(m: DhcpMessage): ClientKind {
  const vendor = optionString(m, Opt.VendorClassIdentifier) ?? '';
  const pxe = vendor.startsWith('PXEClient');
  const http = vendor.startsWith('HTTPClient');
  let arch = clientArchitectures(m)[0];
  // Without option 93, "PXEClient:Arch:00007:UNDI:003016" still names the architecture.
  if (arch === undefined) {
    const a = /^(?:PXE|HTTP)Client:Arch:(\d{5})/.exec(vendor);
    if (a) arch = Number(a[1]);
  }
  const known = arch === undefined ? undefined : ARCH[arch];
  const ipxe = userClasses(m).includes('iPXE') || m.options.has(Opt.IpxeEncapsulated);
  return {
    netboot: pxe || http,
    httpBoot: http || (known?.http ?? false),
    ipxe,
    // A PXE client without option 93 is a legacy BIOS ROM (option 93 came with UEFI).
    firmware: known?.firmware ?? (arch === undefined && pxe ? 'bios' : 'unknown'),
    arch,
  };
}
