// DHCP benchmark: a burst of simulated PXE clients (DISCOVER → OFFER), overnight against dnsmasq,
// in ProxyDHCP and in full mode, on the same lab segment (network namespaces made and deleted
// here). Reports per-request latency (p50, p99), burst throughput and the server's memory.
//
//   node bench/net/dhcp.ts [--clients 1000] [--rounds 5] [--rate 0,2000]      (as root)
//
// --rate: offered load in DISCOVERs per second; 0 sends the whole burst at once (every request
// then queues behind the others, so latency there is mostly queueing: see BENCHMARKS.md).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openUdp } from '../../src/net/iface.ts';
import { Lab, waitForOutput } from '../../test/helpers/netns.ts';
import { tempDir } from '../../test/helpers/tools.ts';

const { values } = parseArgs({ options: { clients: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '5' }, client: { type: 'boolean', default: false }, rate: { type: 'string', default: '0,2000' } } });
const CLIENTS = Number(values.clients);

// ---------------------------------------------------------------------------------------------
// The load generator (runs inside the client namespace: `--client`). Each simulated client has
// its own MAC and xid, sends one PXE DISCOVER (BIOS or UEFI x64 alternately) and waits for the
// OFFER. All are sent as one burst; it prints one JSON line with the latencies in ms.
if (values.client) {
  // Tied to eth0: the namespace has no default route, and 255.255.255.255 needs one otherwise.
  const sock = await openUdp({ port: 68, device: 'eth0' });
  sock.setRecvBufferSize(4 * 1024 * 1024);
  sock.setSendBufferSize(4 * 1024 * 1024);
  const sent = new Float64Array(CLIENTS);
  const got = new Float64Array(CLIENTS);
  let answered = 0;
  let base = 0x10000000;
  let done: () => void;
  const finished = new Promise<void>((r) => (done = r));
  sock.on('message', (m) => {
    if (m.length < 240 || m[0] !== 2) return;
    const i = m.readUInt32BE(4) - base;
    if (i < 0 || i >= CLIENTS || got[i]) return;
    got[i] = performance.now();
    if (++answered === CLIENTS) done();
  });
  const packet = (i: number) => {
    const b = Buffer.alloc(400);
    b[0] = 1;
    b[1] = 1;
    b[2] = 6;
    b.writeUInt32BE(base + i, 4);
    b.writeUInt16BE(0x8000, 10);
    Buffer.from([0x02, 0x00, (i >> 16) & 255, (i >> 8) & 255, i & 255, 0x01]).copy(b, 28);
    b.writeUInt32BE(0x63825363, 236);
    const arch = i % 2 ? 7 : 0;
    const vc = Buffer.from(`PXEClient:Arch:0000${arch}:UNDI:002001`);
    const opts = Buffer.concat([
      Buffer.from([53, 1, 1]),
      Buffer.from([55, 4, 1, 3, 43, 60]),
      Buffer.from([60, vc.length]), vc,
      Buffer.from([93, 2, 0, arch]),
      Buffer.from([94, 3, 1, 2, 1]),
      Buffer.from([97, 17, 0]), Buffer.alloc(16, i & 255),
      Buffer.from([255]),
    ]);
    opts.copy(b, 240);
    return b;
  };
  // A warm-up burst first (other MACs and xids, results dropped): a boot server runs for hours,
  // and what is measured is its steady state, not the JIT compiling the first packets.
  base = 0x20000000;
  const warm = Array.from({ length: CLIENTS }, (_, i) => packet(i + CLIENTS));
  for (let i = 0; i < warm.length; i++) {
    sock.send(warm[i]!, 67, '255.255.255.255');
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 1));
  }
  await new Promise((r) => setTimeout(r, 1500));
  base = 0x10000000;
  answered = 0;
  const packets = Array.from({ length: CLIENTS }, (_, i) => packet(i));
  const t0 = performance.now();
  const rate = Number(values.rate);
  // Sent from timer ticks, never a busy loop: the replies must be read (and timed) as they come.
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = rate > 0 ? Math.min(CLIENTS, Math.floor(((performance.now() - t0) * rate) / 1000) + 1) : Math.min(CLIENTS, next + 50);
      for (; next < due; next++) {
        sent[next] = performance.now();
        sock.send(packets[next]!, 67, '255.255.255.255');
      }
      if (next < CLIENTS) {
        if (rate > 0) setTimeout(tick, 1);
        else setImmediate(tick);
      } else resolve();
    };
    tick();
  });
  await Promise.race([finished, new Promise((r) => setTimeout(r, 10_000))]);
  const lat: number[] = [];
  let last = 0;
  for (let i = 0; i < CLIENTS; i++) if (got[i]) {
    lat.push(got[i]! - sent[i]!);
    last = Math.max(last, got[i]!);
  }
  process.stdout.write(JSON.stringify({ answered, lat, elapsed: last - t0 }) + '\n');
  sock.close();
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------

interface Sample { answered: number; p50: number; p99: number; max: number; perSecond: number; rssMiB: number }

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};
const median = (xs: number[]) => pct(xs, 50);

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)![1]) / 1024;
}

const { dir, cleanup } = await tempDir('overnight-bench-dhcp-');
const lab = await Lab.create('bdhc');
try {
  const srv = await lab.addHost('srv', '10.83.0.1/20');
  const cli = await lab.addHost('cli', '10.83.0.2/20');
  const node = process.execPath;
  const runner = join(import.meta.dirname, '..', '..', 'test', 'helpers', 'net-server.ts');
  const pool = { start: '10.83.1.1', end: '10.83.12.250', netmask: '255.255.240.0' };
  const servers: Record<string, (mode: 'proxy' | 'full') => string[]> = {
    overnight: (mode) => [node, runner, JSON.stringify({ quiet: true, dhcp: { mode, interface: 'eth0', httpPort: 8080, pool, probeMs: 0, leasesFile: join(dir, 'leases.sqlite') } })],
    dnsmasq: (mode) => [
      'dnsmasq', '--keep-in-foreground', '--no-daemon', '--port=0', '--bind-interfaces', '--interface=eth0', '--no-ping', '--log-facility=/dev/null',
      `--dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`, `--dhcp-lease-max=${CLIENTS * 2}`,
      ...(mode === 'proxy'
        ? ['--dhcp-range=10.83.0.0,proxy,255.255.240.0', '--pxe-service=x86PC,overnight,undionly', '--pxe-service=x86-64_EFI,overnight,ipxe', '--dhcp-no-override']
        : [`--dhcp-range=${pool.start},${pool.end},255.255.240.0,1h`, '--dhcp-match=set:efi64,option:client-arch,7', '--dhcp-boot=tag:efi64,ipxe.efi', '--dhcp-boot=tag:!efi64,undionly.kpxe']),
    ],
  };
  const rounds = Number(values.rounds);
  const results: Record<string, Sample[]> = {};
  const rates = String(values.rate).split(',').map(Number);
  for (const rate of rates)
  for (const mode of ['proxy', 'full'] as const) {
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 ? ['dnsmasq', 'overnight'] : ['overnight', 'dnsmasq'];
      for (const name of order) {
        await writeFile(join(dir, 'dnsmasq.leases'), '');
        await rmLeases(dir);
        const [cmd, ...args] = servers[name]!(mode);
        const server = lab.spawn(srv.ns, cmd!, args);
        if (name === 'overnight') await waitForOutput(server, /"ready":true/, 20_000);
        else await new Promise((r) => setTimeout(r, 700));
        server.stdout?.resume();
        server.stderr?.resume();
        const { stdout } = await lab.exec(cli.ns, node, [import.meta.filename, '--client', '--clients', String(CLIENTS), '--rate', String(rate)]);
        const r = JSON.parse(stdout) as { answered: number; lat: number[]; elapsed: number };
        const rss = await rssOf(server.pid!);
        await lab.stop(server);
        const key = `${name} ${mode} ${rate ? `${rate}/s` : 'burst'}`;
        (results[key] ??= []).push({ answered: r.answered, p50: pct(r.lat, 50), p99: pct(r.lat, 99), max: pct(r.lat, 100), perSecond: (r.answered / r.elapsed) * 1000, rssMiB: rss });
        process.stderr.write(`${key} round ${round + 1}: ${r.answered}/${CLIENTS} answered, p99 ${pct(r.lat, 99).toFixed(2)} ms, ${((r.answered / r.elapsed) * 1000).toFixed(0)}/s\n`);
      }
    }
  }
  console.log(`\n${CLIENTS} simulated PXE clients per burst (half BIOS, half UEFI x64), ${rounds} rounds, medians\n`);
  console.log('| server | mode | offered load | answered | p50 ms | p99 ms | max ms | offers/s | peak RSS MiB |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const [key, s] of Object.entries(results)) {
    const [name, mode, load] = key.split(' ');
    console.log(`| ${name} | ${mode} | ${load} | ${median(s.map((x) => x.answered))} | ${median(s.map((x) => x.p50)).toFixed(2)} | ${median(s.map((x) => x.p99)).toFixed(2)} | ${median(s.map((x) => x.max)).toFixed(2)} | ${median(s.map((x) => x.perSecond)).toFixed(0)} | ${median(s.map((x) => x.rssMiB)).toFixed(1)} |`);
  }
  for (const key of Object.keys(results).filter((k) => k.startsWith('overnight '))) {
    const o = results[key]!;
    const d = results[key.replace('overnight', 'dnsmasq')]!;
    const ratios = o.map((x, i) => x.perSecond / d[i]!.perSecond);
    console.log(`\n${key.slice(10)}: throughput overnight/dnsmasq = ${(median(o.map((x) => x.perSecond)) / median(d.map((x) => x.perSecond))).toFixed(2)} (paired ${median(ratios).toFixed(2)})`);
  }
} finally {
  await lab.destroy();
  await cleanup();
}

async function rmLeases(d: string) {
  const { rm } = await import('node:fs/promises');
  for (const f of ['leases.sqlite', 'leases.sqlite-wal', 'leases.sqlite-shm']) await rm(join(d, f), { force: true });
}
