// A lab for the fleet's tests and benchmark: `overnight serve` (ProxyDHCP, TFTP, HTTP, Samba, the
// dashboard on its loopback) in one namespace, and `overnight simulate` in another on the same
// segment. Everything runs as the administrator would run it: the real CLI, real sockets.
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildWindowsIso } from './media.ts';
import { Lab, type LabHost, waitForOutput } from './netns.ts';
import { WIN7_PROFILE } from './serve.ts';
import { tempDir } from './tools.ts';

export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'overnight.js');
export const DASHBOARD = 'http://127.0.0.1:7780';

export interface FleetLab {
  lab: Lab;
  srv: LabHost;
  sim: LabHost;
  serverIp: string;
  data: string;
  dir: string;
  token: string;
  serve: ChildProcess;
  /** serve's output so far. */
  serveLog(): string;
  /** The dashboard's API from the server's namespace (curl). */
  api<T>(path: string, ...curlArgs: string[]): Promise<T>;
  /** Starts `overnight simulate` in the client namespace with these flags (--server added). */
  simulate(args: string[]): ChildProcess;
  close(): Promise<void>;
}

/**
 * A wimboot-shaped file (MZ, PE at 0x40, 0xAA55 at 0x1FE, HdrS at 0x202): serve checks no more,
 * and nothing boots it here. Simulated machines fetch it; real wimboot is about 60 KiB.
 */
export function fakeWimboot(size = 4096): Buffer {
  const b = Buffer.alloc(size);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x40, 0x3c);
  b.write('PE\0\0', 0x40, 'latin1');
  b.writeUInt16LE(0x8664, 0x44);
  b.writeUInt16LE(0xf0, 0x40 + 20);
  b.writeUInt16LE(10, 0x40 + 24 + 68);
  b.writeUInt8(4, 0x1f1);
  b.writeUInt16LE(0xaa55, 0x1fe);
  b.write('HdrS', 0x202, 'latin1');
  b.writeUInt16LE(0x203, 0x206);
  b.writeUInt16LE(0x30, 0x20e);
  b.write('v2.9.0\0', 0x230, 'latin1');
  return b;
}

/**
 * What serve needs in a lab, under `dir`: a Windows 7 SP1 x64-like ISO, the test profile, and a
 * loaders folder whose wimboot is wimboot-shaped (Debian's ipxe package gives the rest).
 */
export async function serveFixture(dir: string): Promise<{ iso: string; profile: string; loaders: string }> {
  const win7 = await buildWindowsIso(join(dir, 'iso'), '7-x64');
  const profile = join(dir, 'lab.yaml');
  await writeFile(profile, WIN7_PROFILE);
  const loaders = join(dir, 'loaders');
  await mkdir(loaders);
  await writeFile(join(loaders, 'wimboot'), fakeWimboot(60 * 1024));
  return { iso: win7.iso, profile, loaders };
}

/** n MACs of the simulator's default form (02:00:5e and a counter from 1). */
export function simulatedMacs(n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const k = i + 1;
    return `02:00:5e:${((k >> 16) & 255).toString(16).padStart(2, '0')}:${((k >> 8) & 255).toString(16).padStart(2, '0')}:${(k & 255).toString(16).padStart(2, '0')}`;
  });
}

/**
 * `bin` is the overnight to run (default this checkout's bin/overnight.js), started as an
 * administrator starts it: the file itself, through its #! line (node from PATH).
 */
export async function startFleetLab(o: { tag: string; subnet: string; serveArgs?: string[]; inventory?: string[]; bin?: string }): Promise<FleetLab> {
  const bin = o.bin ?? BIN;
  const tmp = await tempDir();
  let lab: Lab | undefined;
  try {
    await chmod(tmp.dir, 0o755);
    const { iso, profile, loaders } = await serveFixture(tmp.dir);
    const extra: string[] = [];
    if (o.inventory) {
      const inv = join(tmp.dir, 'machines.csv');
      await writeFile(inv, `mac,name\n${o.inventory.map((m, i) => `${m},PC-${String(i + 1).padStart(4, '0')}`).join('\n')}\n`);
      extra.push('--inventory', inv);
    }
    lab = await Lab.create(o.tag);
    const serverIp = `${o.subnet}.1`;
    const srv = await lab.addHost('srv', `${serverIp}/24`);
    const sim = await lab.addHost('sim', `${o.subnet}.250/24`);
    const data = join(tmp.dir, 'data');
    const serve = lab.spawn(srv.ns, bin, ['serve', '--iso', iso, '--profile', profile, '--interface', 'eth0', '--data', data, '--loaders', loaders, '--http-port', '8080', '--json', ...extra, ...(o.serveArgs ?? [])]);
    let log = '';
    serve.stdout!.on('data', (b: Buffer) => (log += b.toString('utf8')));
    serve.stderr!.on('data', (b: Buffer) => (log += b.toString('utf8')));
    await waitForOutput(serve, /"ready"/, 120_000);
    const token = (await readFile(join(data, 'admin-token'), 'utf8')).trim();
    const l = lab;
    return {
      lab: l,
      srv,
      sim,
      serverIp,
      data,
      dir: tmp.dir,
      token,
      serve,
      serveLog: () => log,
      api: async <T>(path: string, ...curlArgs: string[]) => JSON.parse((await l.exec(srv.ns, 'curl', ['-sS', '--fail-with-body', ...curlArgs, `${DASHBOARD}${path}`])).stdout) as T,
      simulate: (args) => l.spawn(sim.ns, bin, ['simulate', '--server', serverIp, ...args]),
      close: async () => {
        await l.destroy();
        await tmp.cleanup();
      },
    };
  } catch (e) {
    await lab?.destroy();
    await tmp.cleanup();
    throw e;
  }
}
