// What a simulated iPXE makes of a script: the few commands that decide where a boot goes. Real
// iPXE runs the script line by line; a simulated PC only needs to know which of four things the
// server told it: chain to another script, load a kernel and its initrds (wimboot), boot the local
// disk, or show a message and restart. Pure: text in, decision out.

export interface IpxeFileRef {
  /** The image name (`initrd -n NAME`, else the URL's last path component). */
  name: string;
  url: string;
}

export type ScriptDecision =
  | { kind: 'chain'; url: string }
  | { kind: 'boot'; kernel: IpxeFileRef & { args: string }; initrds: IpxeFileRef[] }
  | { kind: 'local'; how: 'sanboot' | 'exit' }
  | { kind: 'message'; text: string }
  | { kind: 'invalid'; reason: string };

/** iPXE's settings a script may use: ${platform}, ${buildarch}, ${mac}, ${net0/mac}, ... */
export type IpxeVars = Readonly<Record<string, string>>;

/** The settings a simulated iPXE has, as iPXE names them (platform pcbios|efi, buildarch i386|x86_64). */
export function ipxeVars(mac: string, firmware: 'bios' | 'uefi', uuid: string, ip: string): IpxeVars {
  const platform = firmware === 'bios' ? 'pcbios' : 'efi';
  // undionly.kpxe is a 32-bit build; the ipxe.efi served to x64 UEFI is x86_64.
  const buildarch = firmware === 'bios' ? 'i386' : 'x86_64';
  return {
    platform,
    buildarch,
    mac,
    'net0/mac': mac,
    'mac:hexhyp': mac.replaceAll(':', '-'),
    'net0/mac:hexhyp': mac.replaceAll(':', '-'),
    'mac:hexraw': mac.replaceAll(':', ''),
    uuid,
    ip,
    'net0/ip': ip,
  };
}

/**
 * Expands ${name} and ${name:type} as iPXE does: a setting it does not have expands to nothing.
 * `${name:int32}`-style typed references fall back to the bare name.
 */
export function expandVars(text: string, vars: IpxeVars): string {
  return text.replace(/\$\{([^}]*)\}/g, (_m, ref: string) => vars[ref] ?? vars[ref.replace(/:[a-z0-9]+$/i, '')] ?? '');
}

/** The first command of a line: iPXE's `&&` and `||` chain further commands the decision ignores. */
function firstCommand(line: string): string[] {
  const cut = line.search(/\s(\|\||&&)(\s|$)/);
  return (cut < 0 ? line : line.slice(0, cut)).trim().split(/\s+/).filter(Boolean);
}

/** The commands of a line in order (`a && b || c` → a, b, c): a local boot hides behind `iseq ... &&`. */
function commands(line: string): string[][] {
  return line
    .split(/\s(?:\|\||&&)(?:\s|$)/)
    .map((c) => c.trim().split(/\s+/).filter(Boolean))
    .filter((c) => c.length > 0);
}

function nameOf(url: string): string {
  const path = url.replace(/[?#].*$/, '');
  return path.slice(path.lastIndexOf('/') + 1) || path;
}

/** `kernel|initrd|imgfetch|module [--name NAME|-n NAME] [--other] URL [args...]` → name, url, args. */
function imageArgs(words: string[]): { name: string | undefined; url: string | undefined; args: string[] } {
  let name: string | undefined;
  let i = 1;
  while (i < words.length && words[i]!.startsWith('-')) {
    const w = words[i]!;
    if (w === '-n' || w === '--name') {
      name = words[i + 1];
      i += 2;
    } else if (w.startsWith('--name=')) {
      name = w.slice(7);
      i++;
    } else {
      i++;
    }
  }
  return { name, url: words[i], args: words.slice(i + 1) };
}

/**
 * Decides what `text` tells a machine to do. A script that loads a kernel is a boot; else one that
 * chains is followed; else `sanboot`, or `exit` (back to the firmware, which boots the next device:
 * the disk), is a local boot; anything else (echo, prompt, reboot, shell) is a message.
 */
export function parseIpxeScript(text: string, vars: IpxeVars): ScriptDecision {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (!/^#!ipxe\s*$/.test(lines[0]?.trim() ?? '')) return { kind: 'invalid', reason: `not an iPXE script (first line ${JSON.stringify((lines[0] ?? '').slice(0, 40))}, expected #!ipxe)` };
  let kernel: (IpxeFileRef & { args: string }) | undefined;
  const initrds: IpxeFileRef[] = [];
  let chain: string | undefined;
  let sanboot = false;
  let exit = false;
  const echoes: string[] = [];
  for (const raw of lines.slice(1)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(':')) continue;
    const first = firstCommand(line);
    const cmd = first[0]!;
    if (cmd === 'kernel' || cmd === 'initrd' || cmd === 'imgfetch' || cmd === 'module') {
      const a = imageArgs(first.map((w) => expandVars(w, vars)));
      if (!a.url) return { kind: 'invalid', reason: `${cmd} without a URL: ${line}` };
      if (cmd === 'kernel') kernel = { name: a.name ?? nameOf(a.url), url: a.url, args: a.args.join(' ') };
      else initrds.push({ name: a.name ?? nameOf(a.url), url: a.url });
      continue;
    }
    if ((cmd === 'chain' || cmd === 'chainload') && chain === undefined) {
      const a = imageArgs(first.map((w) => expandVars(w, vars)));
      if (a.url) chain = a.url;
      continue;
    }
    if (cmd === 'echo') echoes.push(expandVars(first.slice(1).join(' '), vars));
    for (const c of commands(line)) {
      if (c[0] === 'sanboot') sanboot = true;
      if (c[0] === 'exit') exit = true;
    }
  }
  if (kernel) return { kind: 'boot', kernel, initrds };
  if (initrds.length) return { kind: 'invalid', reason: 'initrd lines without a kernel' };
  if (chain !== undefined) return { kind: 'chain', url: chain };
  if (sanboot) return { kind: 'local', how: 'sanboot' };
  if (exit) return { kind: 'local', how: 'exit' };
  return { kind: 'message', text: echoes.filter((e) => e !== '').join(' ').trim() };
}
