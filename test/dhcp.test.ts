// DHCP: the codec on bytes from real clients and on malformed input; the ProxyDHCP and full-mode
// decisions; and the server in network namespaces against real clients (udhcpc, dhclient), beside
// a real site DHCP server (dnsmasq), with a capture of what went over the wire.
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ipxePolicy } from '../src/boot/policy.ts';
import {
  type DhcpMessage,
  DhcpCodecError,
  Opt,
  encodeMessage,
  macOf,
  messageType,
  parseEncapsulated,
  parseMessage,
  request,
  userClasses,
} from '../src/net/dhcp/codec.ts';
import { LeasePool } from '../src/net/dhcp/leases.ts';
import { classify } from '../src/net/dhcp/pxe.ts';
import { type RespondContext, respond } from '../src/net/dhcp/respond.ts';
import { Lab, canUseNetns, readPcap, startCapture, udpDatagrams, waitForOutput } from './helpers/netns.ts';
import { run, tempDir } from './helpers/tools.ts';

const MAC = Buffer.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
const policy = ipxePolicy({ httpPort: 8080 });
const proxy = (port = 67): RespondContext => ({ mode: 'proxy', interface: 'eth0', serverIp: '10.0.0.1', netmask: '255.255.255.0', port, policy });

function pxeDiscover(arch: number | undefined, extra: [number, Buffer][] = []): DhcpMessage {
  const m = request('DISCOVER', MAC, 0x1234abcd);
  m.options.set(Opt.VendorClassIdentifier, Buffer.from(`PXEClient:Arch:${String(arch ?? 0).padStart(5, '0')}:UNDI:002001`));
  if (arch !== undefined) m.options.set(Opt.ClientSystemArchitecture, Buffer.from([arch >> 8, arch & 255]));
  m.options.set(Opt.ClientNetworkInterface, Buffer.from([1, 2, 1]));
  m.options.set(Opt.ClientMachineIdentifier, Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 0xab)]));
  for (const [k, v] of extra) m.options.set(k, v);
  return parseMessage(encodeMessage(m));
}

/** Captured client packets (test/fixtures/dhcp/*.hex: comment lines start with '#'). */
async function fixtures(): Promise<{ name: string; bytes: Buffer }[]> {
  const dir = join(import.meta.dirname, 'fixtures', 'dhcp');
  const names = await readdir(dir).catch(() => [] as string[]);
  const out = [];
  for (const name of names.filter((n) => n.endsWith('.hex')).sort()) {
    const text = await readFile(join(dir, name), 'utf8');
    out.push({ name, bytes: Buffer.from(text.split('\n').filter((l) => !l.startsWith('#')).join('').replace(/\s+/g, ''), 'hex') });
  }
  return out;
}

describe('DHCP codec', () => {
  it('round-trips a PXE DISCOVER and reads its PXE options', () => {
    const m = pxeDiscover(7);
    assert.equal(messageType(m), 'DISCOVER');
    assert.equal(macOf(m), '52:54:00:12:34:56');
    const kind = classify(m);
    assert.deepEqual({ firmware: kind.firmware, arch: kind.arch, netboot: kind.netboot, ipxe: kind.ipxe, http: kind.httpBoot }, { firmware: 'efi-x64', arch: 7, netboot: true, ipxe: false, http: false });
    assert.deepEqual(parseMessage(encodeMessage(m)), m);
  });

  it('reads option overload (52): options in file and sname, file first (RFC 2131 §4.1)', () => {
    const b = encodeMessage(request('DISCOVER', MAC, 1));
    b.fill(0, 44, 236);
    // file: option 12 "a"; sname: option 12 "b" (concatenated after file, RFC 3396), option 60.
    Buffer.from([12, 1, 0x61, 255]).copy(b, 108);
    Buffer.from([12, 1, 0x62, 60, 4, 0x50, 0x58, 0x45, 0x43, 255]).copy(b, 44);
    const opts = b.subarray(240);
    const at = opts.indexOf(255);
    const withOverload = Buffer.concat([b.subarray(0, 240 + at), Buffer.from([52, 1, 3, 255])]);
    const m = parseMessage(withOverload);
    assert.equal(m.options.get(Opt.HostName)?.toString(), 'ab');
    assert.equal(m.options.get(Opt.VendorClassIdentifier)?.toString(), 'PXEC');
    assert.equal(m.file, '');
    assert.equal(m.sname, '');
  });

  it('concatenates split options and splits long ones (RFC 3396)', () => {
    const m = request('DISCOVER', MAC, 2);
    m.options.set(Opt.UserClass, Buffer.alloc(300, 0x41));
    const bytes = encodeMessage(m, { maxSize: 1500 });
    assert.equal(parseMessage(bytes).options.get(Opt.UserClass)?.length, 300);
  });

  it('takes iPXE\'s bare user class and RFC 3004 lists', () => {
    const m = request('DISCOVER', MAC, 3);
    m.options.set(Opt.UserClass, Buffer.from('iPXE'));
    assert.deepEqual(userClasses(m), ['iPXE']);
    m.options.set(Opt.UserClass, Buffer.from([4, ...Buffer.from('iPXE'), 3, ...Buffer.from('abc')]));
    assert.deepEqual(userClasses(m), ['iPXE', 'abc']);
  });

  it('refuses malformed messages with a DhcpCodecError naming the problem', () => {
    const good = encodeMessage(pxeDiscover(0));
    const cases: [string, Buffer, RegExp][] = [
      ['empty', Buffer.alloc(0), /shorter than the fixed header/],
      ['truncated header', good.subarray(0, 200), /shorter/],
      ['bad op', Buffer.concat([Buffer.from([7]), good.subarray(1)]), /op 7/],
      ['no cookie', Buffer.concat([good.subarray(0, 236), Buffer.alloc(4), good.subarray(240)]), /magic cookie/],
      ['hlen > 16', Buffer.concat([good.subarray(0, 2), Buffer.from([17]), good.subarray(3)]), /hlen 17/],
      ['option past end', Buffer.concat([good.subarray(0, 240), Buffer.from([60, 50, 1, 2])]), /runs .* past the end/],
      ['no length byte', Buffer.concat([good.subarray(0, 240), Buffer.from([60])]), /no length byte/],
      ['bad overload', Buffer.concat([good.subarray(0, 240), Buffer.from([52, 1, 9, 255])]), /option 52/],
      ['jumbo', Buffer.alloc(9000, 1), /larger than any DHCP message/],
    ];
    for (const [name, bytes, re] of cases) {
      assert.throws(() => parseMessage(bytes), (e: unknown) => e instanceof DhcpCodecError && re.test(e.message), name);
    }
  });

  it('fuzz: mutated client packets never throw anything but DhcpCodecError, and proxy replies never carry an address', async () => {
    const seeds = [...(await fixtures()).map((f) => f.bytes), encodeMessage(pxeDiscover(0)), encodeMessage(pxeDiscover(7, [[Opt.UserClass, Buffer.from('iPXE')]]))];
    let x = 0x9e3779b9;
    const rnd = (n: number) => {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      return x % n;
    };
    const pool = new LeasePool(':memory:', { start: '10.0.0.100', end: '10.0.0.120', netmask: '255.255.255.0' }, '10.0.0.1');
    let parsed = 0;
    for (let i = 0; i < 20000; i++) {
      const b = Buffer.from(seeds[rnd(seeds.length)]!);
      const n = 1 + rnd(8);
      for (let j = 0; j < n; j++) {
        const at = 236 + rnd(Math.max(1, b.length - 236));
        const r = rnd(4);
        if (r === 0) b[at] = rnd(256);
        else if (r === 1) b[at] = [0, 255, 52, 43, 93, 60, 77][rnd(7)]!;
        else if (r === 2) b[Math.min(at + 1, b.length - 1)] = rnd(256);
        else b[rnd(236)] = rnd(256);
      }
      const cut = rnd(10) === 0 ? b.subarray(0, rnd(b.length)) : b;
      let m: DhcpMessage;
      try {
        m = parseMessage(cut);
      } catch (e) {
        assert.ok(e instanceof DhcpCodecError, `case ${i}: ${(e as Error).stack}`);
        continue;
      }
      parsed++;
      for (const port of [67, 4011]) {
        const out = respond(m, proxy(port));
        if (out.reply) {
          assert.equal(out.reply.yiaddr, '0.0.0.0', `case ${i}: a ProxyDHCP reply with an address`);
          encodeMessage(out.reply);
        }
        const full = respond(m, { ...proxy(port), mode: 'full', pool });
        if (full.reply) encodeMessage(full.reply);
      }
    }
    pool.close();
    assert.ok(parsed > 1000, `only ${parsed} mutated packets parsed: the fuzzer is not reaching the decisions`);
  });

  it('parses every captured client packet, and classifies it', async () => {
    const all = (await fixtures()).filter((f) => !f.name.startsWith('dnsmasq-'));
    assert.ok(all.length >= 10, 'captured client packets are present');
    for (const f of all) {
      const m = parseMessage(f.bytes);
      assert.equal(m.op, 1, f.name);
      assert.ok(messageType(m), f.name);
      assert.deepEqual(parseMessage(encodeMessage(m, { maxSize: 1500 })).options, m.options, `${f.name} re-encodes to the same options`);
      const kind = classify(m);
      if (f.name.startsWith('ipxe-')) assert.equal(kind.ipxe, true, f.name);
      if (f.name.startsWith('ipxe-bios')) assert.equal(kind.firmware, 'bios', f.name);
      if (f.name.startsWith('ipxe-efi') || f.name.startsWith('ovmf')) assert.equal(kind.firmware, 'efi-x64', f.name);
      if (f.name.startsWith('ovmf')) assert.equal(kind.ipxe, false, f.name);
      if (/udhcpc|dhclient/.test(f.name)) assert.equal(kind.netboot, false, f.name);
    }
  });

  it('answers each captured request as dnsmasq\'s ProxyDHCP did: same xid, no address, PXEClient, option 97 echoed', async () => {
    const all = await fixtures();
    const requests = all.filter((f) => !f.name.startsWith('dnsmasq-')).map((f) => ({ name: f.name, m: parseMessage(f.bytes) }));
    const references = all.filter((f) => f.name.startsWith('dnsmasq-proxy-'));
    assert.ok(references.length >= 2);
    let compared = 0;
    for (const ref of references) {
      const theirs = parseMessage(ref.bytes);
      const req = requests.find((r) => r.m.xid === theirs.xid && (ref.name.includes('4011') ? r.name.includes('4011') : !r.name.includes('4011')));
      if (!req) continue;
      const port = ref.name.includes('4011') ? 4011 : 67;
      const ours = respond(req.m, { ...proxy(port), serverIp: theirs.siaddr !== '0.0.0.0' ? theirs.siaddr : '10.0.0.1' }).reply;
      assert.ok(ours, `${req.name}: overnight answers what dnsmasq answered (${ref.name})`);
      assert.equal(messageType(ours), messageType(theirs), ref.name);
      assert.equal(ours.xid, theirs.xid);
      assert.equal(ours.yiaddr, '0.0.0.0');
      assert.equal(theirs.yiaddr, '0.0.0.0');
      assert.equal(ours.options.get(Opt.VendorClassIdentifier)?.toString(), 'PXEClient');
      assert.deepEqual(ours.options.get(Opt.ClientMachineIdentifier), theirs.options.get(Opt.ClientMachineIdentifier), `${ref.name}: option 97`);
      assert.ok(ours.siaddr !== '0.0.0.0' && ours.options.has(Opt.ServerIdentifier));
      compared++;
    }
    assert.ok(compared >= 1, "no reference reply matched a captured request");
  });
});

describe('ProxyDHCP decisions', () => {
  it('BIOS PXE: loader over TFTP, skip discovery (43.6=8), siaddr set, option 97 echoed, no address', () => {
    const req = pxeDiscover(0);
    const { reply, to, event } = respond(req, proxy());
    assert.ok(reply);
    assert.equal(messageType(reply), 'OFFER');
    assert.equal(reply.yiaddr, '0.0.0.0');
    assert.equal(reply.siaddr, '10.0.0.1');
    assert.equal(reply.file, 'undionly.kpxe');
    assert.equal(reply.options.get(Opt.VendorClassIdentifier)?.toString(), 'PXEClient');
    assert.deepEqual(reply.options.get(Opt.ClientMachineIdentifier), req.options.get(Opt.ClientMachineIdentifier));
    assert.deepEqual([...parseEncapsulated(reply.options.get(Opt.VendorSpecific))], [[6, Buffer.from([8])]]);
    assert.equal(reply.xid, req.xid);
    assert.equal(to, 'broadcast');
    assert.equal(event.type, 'dhcp.offer');
    assert.equal(event.arch, 'bios');
    assert.equal(event.address, undefined);
  });

  it('chooses the loader by option 93: 6 → i386 ipxe.efi, 7 and 9 → x64 ipxe.efi; UEFI gets no PXE options (port-4011 flow)', () => {
    for (const [arch, file] of [[6, 'ipxe-i386.efi'], [7, 'ipxe.efi'], [9, 'ipxe.efi']] as const) {
      const { reply } = respond(pxeDiscover(arch), proxy());
      assert.equal(reply?.file, file, `arch ${arch}`);
      assert.equal(reply?.options.has(Opt.VendorSpecific), false);
    }
  });

  it('UEFI HTTP boot gets an http:// URL and HTTPClient', () => {
    const req = pxeDiscover(16, [[Opt.VendorClassIdentifier, Buffer.from('HTTPClient:Arch:00016:UNDI:003001')]]);
    const { reply } = respond(req, proxy());
    assert.equal(reply?.file, 'http://10.0.0.1:8080/files/ipxe.efi');
    assert.equal(reply?.options.get(Opt.VendorClassIdentifier)?.toString(), 'HTTPClient');
  });

  it('a client already in iPXE (user class or option 175) gets its script URL, never a loader again', () => {
    for (const extra of [[Opt.UserClass, Buffer.from('iPXE')], [Opt.IpxeEncapsulated, Buffer.from([0xb1, 1, 1])]] as [number, Buffer][]) {
      const { reply, event } = respond(pxeDiscover(0, [extra]), proxy());
      assert.equal(reply?.file, 'http://10.0.0.1:8080/boot/52:54:00:12:34:56.ipxe');
      assert.equal(event.ipxe, true);
    }
  });

  it('ignores what is not a PXE client, and REQUESTs meant for the site server', () => {
    const plain = request('DISCOVER', MAC, 9);
    assert.equal(respond(plain, proxy()).reply, undefined);
    assert.match(respond(plain, proxy()).event.reason ?? '', /not a network boot client/);
    const req = pxeDiscover(0);
    req.options.set(Opt.MessageType, Buffer.from([3]));
    req.options.set(Opt.ServerIdentifier, Buffer.from([10, 0, 0, 254]));
    assert.equal(respond(req, proxy()).reply, undefined);
  });

  it('port 4011: ACK with the boot file to the source, echoing the boot item', () => {
    const req = pxeDiscover(7, [[Opt.VendorSpecific, Buffer.from([71, 4, 0x80, 0x00, 0x00, 0x00, 255])]]);
    req.options.set(Opt.MessageType, Buffer.from([3]));
    req.ciaddr = '10.0.0.57';
    const { reply, to } = respond(req, proxy(4011));
    assert.equal(to, 'source');
    assert.equal(messageType(reply!), 'ACK');
    assert.equal(reply!.yiaddr, '0.0.0.0');
    assert.equal(reply!.file, 'ipxe.efi');
    assert.deepEqual(parseEncapsulated(reply!.options.get(Opt.VendorSpecific)).get(71), Buffer.from([0x80, 0, 0, 0]));
  });

  it('an approval policy can hold a machine back, with the reason in the event', () => {
    const held = ipxePolicy({ httpPort: 80, allow: (mac) => (mac.endsWith('56') ? 'unknown machine: waiting for approval' : undefined) });
    const out = respond(pxeDiscover(0), { ...proxy(), policy: held });
    assert.equal(out.reply, undefined);
    assert.equal(out.event.type, 'dhcp.ignore');
    assert.match(out.event.reason!, /approval/);
  });
});

describe('full DHCP decisions and leases', () => {
  it('offers, acknowledges, keeps reservations, NAKs a foreign address, and remembers leases across restarts', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const file = join(dir, 'leases.sqlite');
      const cfg = { start: '10.0.0.100', end: '10.0.0.101', netmask: '255.255.255.0', router: '10.0.0.1', dns: ['10.0.0.1'] };
      const reserved = new Map([['aa:bb:cc:00:00:01', { ip: '10.0.0.50' }]]);
      let pool = new LeasePool(file, cfg, '10.0.0.1', reserved);
      const ctx = (): RespondContext => ({ ...proxy(), mode: 'full', pool });
      const discover = pxeDiscover(0);
      const offer = respond(discover, ctx());
      assert.equal(offer.reply?.yiaddr, '10.0.0.100');
      assert.equal(offer.reply?.file, 'undionly.kpxe', 'PXE clients get boot data in full mode too');
      assert.deepEqual(offer.reply?.options.get(Opt.SubnetMask), Buffer.from([255, 255, 255, 0]));
      const req = request('REQUEST', MAC, 5);
      req.options.set(Opt.RequestedIpAddress, Buffer.from([10, 0, 0, 100]));
      req.options.set(Opt.ServerIdentifier, Buffer.from([10, 0, 0, 1]));
      assert.equal(respond(req, ctx()).event.type, 'dhcp.ack');
      // The reserved machine gets its address; another machine asking for it gets a NAK.
      const r = request('DISCOVER', Buffer.from([0xaa, 0xbb, 0xcc, 0, 0, 1]), 6);
      assert.equal(respond(r, ctx()).reply?.yiaddr, '10.0.0.50');
      const thief = request('REQUEST', Buffer.from([0xaa, 0xbb, 0xcc, 0, 0, 2]), 7);
      thief.options.set(Opt.RequestedIpAddress, Buffer.from([10, 0, 0, 50]));
      thief.options.set(Opt.ServerIdentifier, Buffer.from([10, 0, 0, 1]));
      assert.equal(respond(thief, ctx()).event.type, 'dhcp.nak');
      // Pool of two: the second new machine gets .101, the third nothing.
      assert.equal(respond(request('DISCOVER', Buffer.from([2, 0, 0, 0, 0, 2]), 8), ctx()).reply?.yiaddr, '10.0.0.101');
      const none = respond(request('DISCOVER', Buffer.from([2, 0, 0, 0, 0, 3]), 9), ctx());
      assert.equal(none.reply, undefined);
      assert.match(none.event.reason!, /exhausted/);
      pool.close();
      // Restart: the lease is read back, so the machine keeps its address.
      pool = new LeasePool(file, cfg, '10.0.0.1', reserved);
      assert.equal(respond(request('DISCOVER', MAC, 10), ctx()).reply?.yiaddr, '10.0.0.100');
      assert.equal(pool.leases().length, 1);
      pool.close();
    } finally {
      await cleanup();
    }
  });

  it('refuses a pool outside the server\'s subnet', () => {
    assert.throws(() => new LeasePool(':memory:', { start: '10.9.0.1', end: '10.9.0.9', netmask: '255.255.255.0' }, '10.0.0.1'), /not in the server's subnet/);
  });
});

// ---------------------------------------------------------------------------------------------
// Real clients in network namespaces.

const NODE = process.execPath;
const SERVER = join(import.meta.dirname, 'helpers', 'net-server.ts');

// Found before the suite is declared: a describe() that awaits before it declares its tests can
// end before they start.
const root = await canUseNetns();

describe('DHCP server with real clients (network namespaces)', { concurrency: false }, () => {
  let lab: Lab;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    if (!root) return;
    tmp = await tempDir();
    lab = await Lab.create('dhcp');
  });
  after(async () => {
    await lab?.destroy();
    await tmp?.cleanup();
  });

  const startServer = async (ns: string, dhcp: Record<string, unknown>) => {
    const child = lab.spawn(ns, NODE, [SERVER, JSON.stringify({ dhcp })]);
    const out = await waitForOutput(child, /"ready":true|"error"/, 20_000);
    if (/"error"/.test(out)) throw new Error(out);
    let events = '';
    child.stdout!.on('data', (b: Buffer) => (events += b.toString()));
    return { child, events: () => events.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
  };

  it('serves only the chosen interface, with that interface\'s address; several candidates and none chosen is refused', { skip: !root && 'needs root for network namespaces' }, async () => {
    const lab3 = await Lab.create('ifc');
    try {
      const srv = await lab3.addHost('srv', '10.84.0.1/24');
      const cli = await lab3.addHost('cli', undefined);
      // A second segment: a veth pair straight from the server's eth1 to another namespace.
      const other = await lab3.addHost('oth', undefined);
      await run('ip', ['link', 'add', 'eth1', 'netns', srv.ns, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', other.ns]);
      await lab3.exec(srv.ns, 'ip', ['addr', 'add', '10.84.1.1/24', 'dev', 'eth1']);
      await lab3.exec(srv.ns, 'ip', ['link', 'set', 'eth1', 'up']);
      await lab3.exec(other.ns, 'ip', ['link', 'set', 'eth1', 'up']);
      const script = join(tmp.dir, 'udhcpc-ifc.sh');
      await writeFile(script, '#!/bin/sh\n[ "$1" = bound ] && echo "BOUND siaddr=$siaddr boot_file=$boot_file"\nexit 0\n');
      await chmod(script, 0o755);
      const pxe = (ns: string, ifname: string) =>
        lab3.exec(ns, 'busybox', ['udhcpc', '-i', ifname, '-n', '-q', '-t', '2', '-T', '1', '-s', script, '-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000']).then(
          (r) => r.stdout,
          (e: Error) => `no lease: ${e.message.split('\n')[0]}`,
        );
      const ambiguous = lab3.spawn(srv.ns, NODE, [SERVER, JSON.stringify({ dhcp: { mode: 'proxy' } })]);
      const refused = await waitForOutput(ambiguous, /"error"/, 20_000);
      assert.match(refused, /E_AMBIGUOUS_INTERFACE/);
      assert.match(refused, /eth0 \(10\.84\.0\.1\/24\), eth1 \(10\.84\.1\.1\/24\); choose one with --interface/);

      for (const [ifname, address] of [['eth0', '10.84.0.1'], ['eth1', '10.84.1.1']] as const) {
        const child = lab3.spawn(srv.ns, NODE, [SERVER, JSON.stringify({ dhcp: { mode: 'proxy', interface: ifname, httpPort: 8080 } })]);
        await waitForOutput(child, /"ready":true/, 20_000);
        const onBridge = await pxe(cli.ns, 'eth0');
        const onOther = await pxe(other.ns, 'eth1');
        if (ifname === 'eth0') {
          assert.match(onBridge, new RegExp(`BOUND siaddr=${address.replaceAll('.', '\\.')} boot_file=undionly\\.kpxe`));
          assert.match(onOther, /no lease/);
        } else {
          assert.match(onOther, new RegExp(`BOUND siaddr=${address.replaceAll('.', '\\.')} boot_file=undionly\\.kpxe`));
          assert.match(onBridge, /no lease/);
        }
        await lab3.stop(child);
      }
    } finally {
      await lab3.destroy();
    }
  });

  it('full mode: udhcpc and dhclient get addresses, a reservation holds, leases survive a restart', { skip: !root && 'needs root for network namespaces' }, async () => {
    const srv = await lab.addHost('fsrv', '10.81.0.1/24');
    const a = await lab.addHost('fa', undefined);
    const b = await lab.addHost('fb', undefined);
    const leasesFile = join(tmp.dir, 'leases.sqlite');
    const dhcp = {
      mode: 'full',
      interface: 'eth0',
      pool: { start: '10.81.0.100', end: '10.81.0.120', netmask: '255.255.255.0', router: '10.81.0.1', dns: ['10.81.0.1'] },
      reservations: { [b.mac]: { ip: '10.81.0.50' } },
      leasesFile,
      probeMs: 1500,
    };
    let server = await startServer(srv.ns, dhcp);
    const script = join(tmp.dir, 'udhcpc.sh');
    await writeFile(script, '#!/bin/sh\n[ "$1" = bound ] && echo "BOUND ip=$ip mask=$subnet router=$router dns=$dns serverid=$serverid"\nexit 0\n');
    await chmod(script, 0o755);
    const udhcpc = () => lab.exec(a.ns, 'busybox', ['udhcpc', '-i', 'eth0', '-n', '-q', '-t', '4', '-T', '1', '-s', script]);
    const first = (await udhcpc()).stdout;
    const m = /BOUND ip=(\S+) mask=(\S+) router=(\S+) dns=(\S+) serverid=(\S+)/.exec(first);
    assert.ok(m, first);
    assert.match(m[1]!, /^10\.81\.0\.1(0\d|1\d|20)$/);
    assert.deepEqual(m.slice(2), ['255.255.255.0', '10.81.0.1', '10.81.0.1', '10.81.0.1']);

    const lf = join(tmp.dir, 'dhclient.leases');
    const dh = await lab.exec(b.ns, 'dhclient', ['-1', '-v', '-sf', '/bin/true', '-lf', lf, '-pf', join(tmp.dir, 'dhclient.pid'), 'eth0']);
    assert.match(dh.stderr + dh.stdout, /DHCPACK of 10\.81\.0\.50 from 10\.81\.0\.1/);
    await lab.exec(b.ns, 'dhclient', ['-x', '-pf', join(tmp.dir, 'dhclient.pid')]).catch(() => {});

    const events = server.events();
    assert.ok(events.some((e) => e['type'] === 'dhcp.ack' && e['mac'] === a.mac && e['address'] === m[1]));
    assert.ok(events.some((e) => e['type'] === 'dhcp.ack' && e['mac'] === b.mac && e['address'] === '10.81.0.50'));

    await lab.stop(server.child);
    server = await startServer(srv.ns, { ...dhcp, probeMs: 1500 });
    const again = (await udhcpc()).stdout;
    assert.match(again, new RegExp(`BOUND ip=${m[1]!.replaceAll('.', '\\.')} `), 'the lease was kept across the restart');
    await lab.stop(server.child);
  });

  it('full mode refuses to start while another DHCP server answers', { skip: !root && 'needs root for network namespaces' }, async () => {
    const site = await lab.addHost('site', '10.81.0.2/24');
    const srv = lab.hosts.get('fsrv') ?? (await lab.addHost('fsrv', '10.81.0.1/24'));
    const dnsmasq = lab.spawn(site.ns, 'dnsmasq', ['--keep-in-foreground', '--no-daemon', '--port=0', '--bind-interfaces', '--interface=eth0', '--dhcp-range=10.81.0.200,10.81.0.220,1h', `--dhcp-leasefile=${join(tmp.dir, 'site.leases')}`, '--log-dhcp']);
    await waitForOutput(dnsmasq, /DHCP, IP range/, 10_000);
    const child = lab.spawn(srv.ns, NODE, [SERVER, JSON.stringify({ dhcp: { mode: 'full', interface: 'eth0', pool: { start: '10.81.0.100', end: '10.81.0.120', netmask: '255.255.255.0' }, probeMs: 5000 } })]);
    const out = await waitForOutput(child, /"error"|"ready":true/, 20_000);
    const err = JSON.parse(out.split('\n').find((l) => l.includes('"error"'))!).error;
    assert.equal(err.code, 'E_DHCP_CONFLICT');
    assert.match(err.message, /another DHCP server answers on eth0: 10\.81\.0\.2 \(offered 10\.81\.0\.2\d\d\)/);
    assert.match(err.message, /--dhcp proxy/);
    await lab.stop(dnsmasq);
  });

  it('proxy mode beside dnsmasq: the client gets its address from dnsmasq and its boot file from overnight, which never offers an address', { skip: !root && 'needs root for network namespaces' }, async () => {
    const lab2 = await Lab.create('prox');
    try {
      const site = await lab2.addHost('site', '10.82.0.2/24');
      const srv = await lab2.addHost('srv', '10.82.0.1/24');
      const cli = await lab2.addHost('cli', undefined);
      const pcap = join(tmp.dir, 'proxy.pcap');
      const capture = await startCapture(lab2, lab2.switchNs, 'br0', pcap);
      const siteLeases = join(tmp.dir, 'proxy-site.leases');
      const dnsmasq = lab2.spawn(site.ns, 'dnsmasq', ['--keep-in-foreground', '--no-daemon', '--port=0', '--bind-interfaces', '--interface=eth0', '--dhcp-range=10.82.0.100,10.82.0.150,1h', '--no-ping', `--dhcp-leasefile=${siteLeases}`]);
      await waitForOutput(dnsmasq, /DHCP, IP range/, 10_000);
      const child = lab2.spawn(srv.ns, NODE, [SERVER, JSON.stringify({ dhcp: { mode: 'proxy', interface: 'eth0', httpPort: 8080 } })]);
      await waitForOutput(child, /"ready":true/, 20_000);
      let events = '';
      child.stdout!.on('data', (b: Buffer) => (events += b.toString()));
      const script = join(tmp.dir, 'udhcpc-proxy.sh');
      await writeFile(script, '#!/bin/sh\n[ "$1" = bound ] && echo "BOUND ip=$ip serverid=$serverid"\nexit 0\n');
      await chmod(script, 0o755);
      // A machine that is not a PXE client: dnsmasq gives it an address, overnight stays silent.
      const plain = await lab2.exec(cli.ns, 'busybox', ['udhcpc', '-i', 'eth0', '-n', '-q', '-t', '4', '-T', '1', '-s', script]);
      assert.match(plain.stdout, /BOUND ip=10\.82\.0\.1\d\d serverid=10\.82\.0\.2/);
      // udhcpc posing as a BIOS PXE ROM (vendor class PXEClient, option 93 = 0): both answer,
      // dnsmasq with an address, overnight with boot data only. (udhcpc is no PXE client: it takes
      // whichever offer comes first, so its own result is not the point here; the capture is.)
      await lab2.exec(cli.ns, 'busybox', ['udhcpc', '-i', 'eth0', '-n', '-q', '-t', '2', '-T', '1', '-s', script, '-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000']);
      await new Promise((res) => setTimeout(res, 500));
      await capture.stop();
      const packets = udpDatagrams(readPcap(await readFile(pcap)));
      const fromUs = packets.filter((p) => p.srcIp === '10.82.0.1');
      assert.ok(fromUs.length >= 1, 'overnight answered the PXE client');
      for (const p of fromUs) {
        const m = parseMessage(p.payload);
        assert.equal(m.yiaddr, '0.0.0.0', 'ProxyDHCP never offers an address');
        assert.equal(m.siaddr, '10.82.0.1');
        assert.equal(m.file, 'undionly.kpxe');
        assert.equal(p.dstPort, 68);
        assert.equal(macOf(m), cli.mac);
      }
      const siteOffers = packets.filter((p) => p.srcIp === '10.82.0.2' && messageType(parseMessage(p.payload)) === 'OFFER');
      assert.ok(siteOffers.length >= 2 && siteOffers.every((p) => parseMessage(p.payload).yiaddr !== '0.0.0.0'), 'dnsmasq offered addresses to both');
      const leases = await readFile(siteLeases, 'utf8');
      assert.match(leases, new RegExp(cli.mac));
      const offers = events.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.type === 'dhcp.offer');
      assert.ok(offers.length >= 1);
      assert.ok(offers.every((e) => e.address === undefined && e.arch === 'bios' && e.mac === cli.mac && e.interface === 'eth0'));
      const ignored = events.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.type === 'dhcp.ignore');
      assert.ok(ignored.some((e) => /not a network boot client/.test(e.reason)), 'the plain client was ignored, with the reason');
    } finally {
      await lab2.destroy();
    }
  });
});
