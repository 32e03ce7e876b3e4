// Runs `overnight serve` (startServe, the same code the CLI runs) in a separate process, started
// inside a test's network namespace with Lab.spawn, with the wimboot stand-in of the network boot
// tests (standin.ts): a Debian kernel served as `wimboot` plus a checking initramfs.
//
// Configuration comes as one JSON argument (RunnerConfig). Every serve event is printed as one JSON
// line on stdout; {"ready": <summary>} once everything listens; {"error": {code, message}} and exit
// 3 when the start fails. SIGTERM/SIGINT close the servers (Samba included) and exit 0.
//
// The bootScriptFilter changes the product's iPXE script as little as a Linux kernel needs:
// - The product script is parsed (kernel URL and arguments, every `initrd -n NAME URL NAME`) and
//   rebuilt with bootScript(); the rebuild must equal the product script byte for byte, so the
//   parse provably lost nothing.
// - The stand-in script is built from the same parts: the same kernel URL (the stand-in kernel
//   IS the file served as wimboot) with the product's arguments kept and console/check arguments
//   added, the same initrds with the same names and URLs in the same order, and only two
//   additions at the end: check.cpio and this machine's manifest (served from <data>/boot/standin/,
//   i.e. /files/standin/). On UEFI the kernel's EFI stub loads initrds named by `initrd=` on its
//   command line, in that order: check.cpio, the manifest archive, then the product's files.
// - The manifest lists every initrd of the product script with the sha256 and size of the bytes
//   this server serves for its URL (fetched here over HTTP), and the machine's MAC.
// Each filtered script is also printed: {"type":"standin.script", mac, firmware, product, script, manifest}.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bootScript, type IpxeFile } from '../../src/boot/ipxe.ts';
import { type MachinePlan, type ServeHandle, startServe } from '../../src/serve/serve.ts';
import { validateConfig } from '../../src/serve/config.ts';
import { manifestArchiveFor, manifestFor } from './standin.ts';

export interface RunnerConfig {
  /** overnight.yaml content (validated with validateConfig). */
  config: unknown;
  dataDir: string;
  /** check.cpio built by buildCheckInitramfs(). */
  checkCpio: string;
}

export interface ManifestEntry {
  name: string;
  url: string;
  sha256: string;
  size: number;
}

/** The parts of a product script: what bootScript() was given. */
export interface ParsedScript {
  mac: string;
  title: string;
  server: string;
  kernel: { url: string; args: string | undefined };
  initrds: IpxeFile[];
}

/** Reads a script written by bootScript() (default attempts and delay) back into its input. */
function parseProductScript(script: string): ParsedScript {
  const head = /^echo overnight: (.*) for (\S+) from (\S+)$/m.exec(script);
  const kernel = /^kernel (\S+)(?: (.+?))? \|\| goto failed$/m.exec(script);
  if (!head || !kernel) throw new Error(`not an overnight boot script:\n${script}`);
  const initrds: IpxeFile[] = [];
  for (const m of script.matchAll(/^initrd -n (\S+) (\S+)(?: (\S+))? \|\| goto failed$/gm)) {
    if (m[3] !== undefined && m[3] !== m[1]) throw new Error(`initrd ${m[1]} has cpio name ${m[3]}`);
    initrds.push({ name: m[1]!, url: m[2]!, archive: m[3] === undefined ? true : undefined });
  }
  const parsed: ParsedScript = { mac: head[2]!, title: head[1]!, server: head[3]!, kernel: { url: kernel[1]!, args: kernel[2] }, initrds };
  const again = bootScript(parsed);
  if (again !== script) throw new Error(`the product script is not what bootScript() makes of its parts:\n--- product\n${script}\n--- rebuilt\n${again}`);
  return parsed;
}

const config = JSON.parse(process.argv[2] ?? '{}') as RunnerConfig;
const print = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
const standinDir = join(config.dataDir, 'boot', 'standin');

async function fetchBytes(url: string): Promise<Buffer> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

async function filter(mac: string, script: string, plan: MachinePlan): Promise<string> {
  try {
    const p = parseProductScript(script);
    const base = new URL(p.kernel.url).origin;
    const files = await Promise.all(p.initrds.map(async (f) => ({ name: f.name, url: f.url, data: await fetchBytes(f.url) })));
    const dir = mac.replaceAll(':', '-');
    await mkdir(join(standinDir, dir), { recursive: true });
    const uefi = plan.firmware === 'uefi';
    const manifestName = uefi ? 'manifest.cpio' : 'manifest.txt';
    await writeFile(join(standinDir, dir, manifestName), uefi ? manifestArchiveFor(plan.mac, files) : manifestFor(plan.mac, files));
    const args = [p.kernel.args, 'console=ttyS0', 'panic=-1', 'loglevel=4', 'overnight.mac=${net0/mac}'].filter((a) => a !== undefined);
    if (uefi) args.push('initrd=check.cpio', `initrd=${manifestName}`, ...p.initrds.map((f) => `initrd=${f.name}`));
    const standin = bootScript({
      ...p,
      kernel: { url: p.kernel.url, args: args.join(' ') },
      initrds: [
        ...p.initrds,
        { name: 'check.cpio', url: `${base}/files/standin/check.cpio`, archive: true },
        { name: manifestName, url: `${base}/files/standin/${dir}/${manifestName}` },
      ],
    }).replace('#!ipxe\n', '#!ipxe\necho overnight: stand-in boot ${net0/mac} ${platform}\n');
    const manifest: ManifestEntry[] = files.map((f) => ({ name: f.name, url: f.url, sha256: createHash('sha256').update(f.data).digest('hex'), size: f.data.length }));
    print({ type: 'standin.script', mac, firmware: plan.firmware, product: script, script: standin, manifest });
    return standin;
  } catch (e) {
    print({ type: 'standin.error', mac, message: (e as Error).message });
    throw e;
  }
}

let handle: ServeHandle | undefined;
try {
  const c = validateConfig(config.config, 'serve-runner config');
  handle = await startServe({ config: c, dataDir: config.dataDir, events: print, bootScriptFilter: filter });
  await mkdir(standinDir, { recursive: true });
  await copyFile(config.checkCpio, join(standinDir, 'check.cpio'));
  print({ ready: handle.summary });
} catch (e) {
  print({ error: { code: (e as { code?: string }).code ?? 'E_UNKNOWN', message: (e as Error).message } });
  await handle?.close();
  process.exit(3);
}

const stop = async () => {
  await handle?.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
