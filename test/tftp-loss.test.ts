// TFTP under packet loss: server and client in two network namespaces on a lab bridge, and
// nftables dropping 5% of the UDP packets that arrive on each side (this kernel has no netem). Real
// clients must still get the files byte for byte. Needs root for the namespaces.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pseudoRandom } from './helpers/iso.ts';
import { canUseNetns, Lab, type LabHost, waitForOutput } from './helpers/netns.ts';
import { sha256, sha256File, sizeOf } from './helpers/tftp.ts';
import { tempDir } from './helpers/tools.ts';

const usable = await canUseNetns();

// Both ways of running transfers: worker threads (the default) and the main thread.
for (const [label, workers, labName] of [['worker threads', '', 'tftp'], ['main thread', '0', 'tftpm']] as const) {
  describe(`TFTP server (${label}) under 5% packet loss in both directions (nftables)`, { skip: usable ? false : 'needs root and ip netns' }, () => {
    let lab: Lab;
    let srv: LabHost;
    let cli: LabHost;
    let work: string;
    let cleanup: () => Promise<void>;
    const big = pseudoRandom(4 * 1024 * 1024 + 777, 31);
    const small = pseudoRandom(1024 * 1024 + 5, 32);
    // busybox does not re-ACK a duplicate DATA; it recovers a lost ACK only by its own 100 ms
    // timeout, so it gets a smaller file to keep the test short.
    const tiny = pseudoRandom(256 * 1024 + 9, 33);
    let stderr = '';

    before(async () => {
      ({ dir: work, cleanup } = await tempDir('overnight-tftp-loss-'));
      await writeFile(join(work, 'big.bin'), big);
      await writeFile(join(work, 'small.bin'), small);
      await writeFile(join(work, 'tiny.bin'), tiny);
      lab = await Lab.create(labName);
      srv = await lab.addHost('srv', '10.77.0.1/24');
      cli = await lab.addHost('cli', '10.77.0.2/24');
      for (const host of [srv, cli]) {
        await lab.exec(host.ns, 'nft', ['add', 'table', 'inet', 'loss']);
        // On input, not output: a packet dropped on output fails the sender's sendto() with EPERM,
        // which some clients (busybox) treat as fatal. Dropped on arrival, it is simply lost.
        await lab.exec(host.ns, 'nft', ['add chain inet loss in { type filter hook input priority 0; }']);
        await lab.exec(host.ns, 'nft', ['add rule inet loss in udp dport != 69 numgen random mod 100 < 5 drop']);
      }
      const helper = join(import.meta.dirname, 'helpers', 'tftp-server.ts');
      const child = lab.spawn(srv.ns, process.execPath, [helper, '--root', work, '--address', srv.ip!, '--port', '69', '--min-rto', '20', '--events'], { env: { ...process.env, OVERNIGHT_TFTP_WORKERS: workers } });
      child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-20000)));
      await waitForOutput(child, /PORT 69/, 15000);
    });

    after(async () => {
      await lab?.destroy();
      await cleanup?.();
    });

    test('the drop rule is installed (RRQs to port 69 are spared; every other packet is lost with 5% chance)', async () => {
      const { stdout } = await lab.exec(srv.ns, 'nft', ['list', 'ruleset']);
      assert.match(stdout, /numgen random mod 100 < 5/);
    });

    // atftp gives up when a retransmitted OACK arrives after it acknowledged the first (the
    // server resends it when ACK 0 is lost, as RFC 2347 has it): a PXE ROM would boot again, so
    // the fetch is tried again then, and only then.
    const atftp = async (args: string[]) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await lab.exec(cli.ns, 'atftp', args);
        } catch (e) {
          if (attempt >= 3 || !/unexpected OACK/.test((e as Error).message)) throw e;
        }
      }
    };

    test('atftp windowsize 16, blksize 1468: 4 MiB byte-exact', async () => {
      const out = join(work, 'out-atftp');
      await atftp(['--option', 'blksize 1468', '--option', 'windowsize 16', '--tftp-timeout', '1', '-g', '-r', 'big.bin', '-l', out, srv.ip!, '69']);
      assert.equal(await sizeOf(out), big.length);
      assert.equal(await sha256File(out), sha256(big), stderr.slice(-2000));
    });

    test('atftp windowsize 64: 4 MiB byte-exact', async () => {
      const out = join(work, 'out-atftp64');
      await atftp(['--option', 'blksize 1468', '--option', 'windowsize 64', '--tftp-timeout', '1', '-g', '-r', 'big.bin', '-l', out, srv.ip!, '69']);
      assert.equal(await sha256File(out), sha256(big));
    });

    test('curl (windowsize 1), blksize 1468: 1 MiB byte-exact', async () => {
      const out = join(work, 'out-curl');
      await lab.exec(cli.ns, 'curl', ['-s', '--fail', '--tftp-blksize', '1468', `tftp://${srv.ip}/small.bin`, '-o', out]);
      assert.equal(await sha256File(out), sha256(small));
    });

    test('busybox tftp, blksize 1468: 256 KiB byte-exact', async () => {
      const out = join(work, 'out-busybox');
      await lab.exec(cli.ns, 'busybox', ['tftp', '-g', '-b', '1468', '-r', 'tiny.bin', '-l', out, srv.ip!]);
      assert.equal(await sha256File(out), sha256(tiny));
    });
  });
}
