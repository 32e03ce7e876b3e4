// `overnight pxe` as an administrator runs it: started in a lab namespace, it serves a PXE client
// (udhcpc posing as a BIOS ROM) an address and its loader, the loader over TFTP byte-exact, and
// the machine's script over HTTP with the server filled in; it stops cleanly on SIGTERM.
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../src/cli/main.ts';
import { Lab, canUseNetns, waitForOutput } from './helpers/netns.ts';
import { tempDir } from './helpers/tools.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'overnight.js');

// Found before the suite is declared: a describe() that awaits before it declares its tests can
// end before they start.
const root = await canUseNetns();

describe('overnight pxe', { concurrency: false }, () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    tmp = await tempDir();
  });
  after(async () => {
    await tmp?.cleanup();
  });

  it('refuses full mode without a pool, and a bad port, with one clear line each', async () => {
    for (const [args, re] of [
      [['pxe', '--dhcp', 'full', '--data', tmp.dir], /full DHCP mode needs --pool START-END/],
      [['pxe', '--http-port', '99999', '--data', tmp.dir], /--http-port 99999 is not a port number/],
      [['pxe', '--interface', 'nosuch0', '--data', tmp.dir], /no interface named nosuch0/],
    ] as const) {
      const err: string[] = [];
      const code = await main([...args], { out: () => {}, err: (s) => err.push(s) });
      assert.equal(code, 2);
      assert.match(err.join('\n'), re);
    }
  });

  it('serves address, loader and script to a PXE client, then stops on SIGTERM', { skip: !root && 'needs root for network namespaces' }, async () => {
    const lab = await Lab.create('pcli');
    try {
      const srv = await lab.addHost('srv', '10.95.0.1/24');
      const cli = await lab.addHost('cli', undefined);
      const scripts = join(tmp.dir, 'scripts');
      await mkdir(scripts);
      await writeFile(join(scripts, 'default.ipxe'), '#!ipxe\necho {{mac}}\nchain {{server}}/files/next.ipxe\n');
      const child = lab.spawn(srv.ns, process.execPath, [BIN, 'pxe', '--interface', 'eth0', '--dhcp', 'full', '--pool', '10.95.0.100-10.95.0.120', '--data', join(tmp.dir, 'data'), '--scripts', scripts, '--http-port', '8080', '--json']);
      const ready = await waitForOutput(child, /"ready"/, 30_000);
      const summary = JSON.parse(ready.split('\n').find((l) => l.includes('"ready"'))!).ready;
      assert.equal(summary.loaders.bios, 'undionly.kpxe');
      assert.equal(summary.loaders['efi-x64'], 'ipxe.efi');
      let out = '';
      child.stdout!.on('data', (b: Buffer) => (out += b.toString()));

      const script = join(tmp.dir, 'bound.sh');
      await writeFile(script, '#!/bin/sh\n[ "$1" = bound ] || exit 0\nip addr add "$ip/24" dev "$interface"\necho "BOUND ip=$ip siaddr=$siaddr boot_file=$boot_file"\n');
      await chmod(script, 0o755);
      const r = await lab.exec(cli.ns, 'busybox', ['udhcpc', '-i', 'eth0', '-n', '-q', '-t', '4', '-T', '1', '-s', script, '-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000']);
      assert.match(r.stdout, /BOUND ip=10\.95\.0\.1\d\d siaddr=10\.95\.0\.1 boot_file=undionly\.kpxe/);

      const tftp = await lab.exec(cli.ns, 'curl', ['-sS', '--tftp-blksize', '1468', 'tftp://10.95.0.1/undionly.kpxe', '-o', join(tmp.dir, 'undionly.kpxe')]);
      assert.equal(tftp.stderr, '');
      assert.deepEqual(await readFile(join(tmp.dir, 'undionly.kpxe')), await readFile('/usr/lib/ipxe/undionly.kpxe'));
      const http = await lab.exec(cli.ns, 'curl', ['-sS', `http://10.95.0.1:8080/boot/${cli.mac}.ipxe`]);
      assert.equal(http.stdout, `#!ipxe\necho ${cli.mac}\nchain http://10.95.0.1:8080/files/next.ipxe\n`);

      const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      const events = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      assert.ok(events.some((e) => e.type === 'dhcp.ack' && e.mac === cli.mac && e.bootFile === 'undionly.kpxe'));
      assert.ok(events.some((e) => e.type === 'tftp.done' && e.file === 'undionly.kpxe'));
      assert.ok(events.some((e) => e.type === 'http.served' && e.mac === cli.mac && e.status === 200));
    } finally {
      await lab.destroy();
    }
  });
});
