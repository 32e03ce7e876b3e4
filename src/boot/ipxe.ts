// iPXE scripts. Every URL is written out in full with the server's address (never
// ${next-server} or a relative name: a second DHCP or PXE server on the segment must not be able
// to redirect a machine halfway). Every fetch is retried, and every way the script can fail ends
// on screen with a message that says what failed, from where, and what to check.

export interface IpxeFile {
  /** Name the file gets in the boot image (wimboot: the WinPE file name; Linux: the cpio name). */
  name: string;
  /** Full http:// URL. */
  url: string;
  /** The file is itself a cpio archive to hand over as it is (a Linux initramfs): no name is added. */
  archive?: boolean | undefined;
}

export interface IpxeBootScript {
  mac: string;
  /** What is being booted, shown on screen ('Windows 7 PE (overnight)'). */
  title: string;
  /** The kernel: wimboot, or a Linux kernel standing in for it in tests. */
  kernel: { url: string; args?: string | undefined };
  /** Files handed to the kernel in order: bootmgr, BCD, boot.sdi, boot.wim, injected files. */
  initrds: IpxeFile[];
  /** Attempts per file before giving up (default 5), and seconds between them (default 5). */
  attempts?: number | undefined;
  delaySeconds?: number | undefined;
  /** Server base URL, named in error messages. */
  server: string;
  /**
   * Write the name after the URL too (default true): on BIOS, iPXE wraps each named initrd in a cpio
   * header with that name for a Linux kernel. A Linux kernel's EFI stub takes initrds raw instead.
   */
  cpioNames?: boolean | undefined;
}

/** iPXE takes a quoted argument as-is; characters that would split or expand it are refused. */
function safe(text: string, what: string): string {
  if (/[\s"'$\\{}]/.test(text) || text === '') throw new Error(`${what} '${text}' contains characters an iPXE script cannot carry`);
  return text;
}

/**
 * Text for `echo`, on one line: iPXE would expand ${...} and act on && and || in it, and has no
 * escape for them, so those characters go.
 */
function say(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[${}&|]/g, '');
}

export function bootScript(s: IpxeBootScript): string {
  const attempts = s.attempts ?? 5;
  const delay = s.delaySeconds ?? 5;
  const lines: string[] = [
    '#!ipxe',
    `# overnight boot script for ${s.mac}`,
    `echo overnight: ${say(s.title)} for ${s.mac} from ${say(s.server)}`,
    'set attempt:int32 0',
    ':fetch',
    // Each fetch names itself first, so that the failure message can say which one failed.
    'imgfree',
    `set what ${safe(s.kernel.url, 'kernel URL')}`,
    `kernel ${s.kernel.url}${s.kernel.args ? ` ${s.kernel.args}` : ''} || goto failed`,
  ];
  for (const f of s.initrds) {
    const name = safe(f.name, 'file name');
    lines.push(`set what ${safe(f.url, 'URL')}`);
    // `-n NAME` names the image; the text after the URL is what iPXE uses as the cpio file name
    // when it hands initrds to a Linux kernel on BIOS (wimboot reads either).
    const after = f.archive || s.cpioNames === false ? '' : ` ${name}`;
    lines.push(`initrd -n ${name} ${f.url}${after} || goto failed`);
  }
  lines.push(
    'set what boot',
    'boot || goto failed',
    '',
    ':failed',
    'inc attempt',
    `echo overnight: could not load \${what} (attempt \${attempt} of ${attempts})`,
    `iseq \${attempt} ${attempts} && goto give_up ||`,
    `echo overnight: retrying in ${delay} seconds...`,
    `sleep ${delay}`,
    'goto fetch',
    '',
    ':give_up',
    `echo overnight: giving up on ${s.mac} after ${attempts} attempts.`,
    `echo Check that the overnight server at ${say(s.server)} is running and reachable from this network,`,
    'echo and look at its log for this machine.',
    'prompt --timeout 300000 Press a key to try again (or wait 5 minutes) && set attempt:int32 0 && goto fetch ||',
    'set attempt:int32 0',
    'goto fetch',
    '',
  );
  return lines.join('\n');
}

/**
 * A script that only shows `message` (iPXE runs whatever it is given, error status or not), then
 * offers the iPXE shell and otherwise restarts the machine.
 */
export function messageScript(message: string): string {
  return `#!ipxe\necho\necho ${say(message)}\necho\nprompt --timeout 60000 Press any key for the iPXE shell (the machine restarts in a minute otherwise) && shell ||\nreboot\n`;
}
