// Wake-on-LAN: the magic packet codec, and packets sent from one lab namespace captured by tcpdump
// in another and checked byte by byte, from the Ethernet header to the payload.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { broadcastOf, magicPacket, parseMagicPacket, sendWake, WakeError } from '../src/fleet/wol.ts';
import { Lab, canUseNetns, readPcap, startCapture, type PcapPacket } from './helpers/netns.ts';
import { run, tempDir } from './helpers/tools.ts';

const isWakeError = (code: string) => (e: unknown) => e instanceof WakeError && e.code === code;

describe('magic packet', () => {
  it('is 6 × 0xFF then the MAC 16 times, whatever way the MAC is written', () => {
    const want = Buffer.concat([Buffer.alloc(6, 0xff), ...Array.from({ length: 16 }, () => Buffer.from([0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]))]);
    for (const form of ['00:1a:2b:3c:4d:5e', '00-1A-2B-3C-4D-5E', '001a2b3c4d5e', ' 00:1A:2b:3C:4d:5E ']) {
      const p = magicPacket(form);
      assert.equal(p.length, 102);
      assert.deepEqual(p, want, form);
    }
    assert.equal(parseMagicPacket(want), '00:1a:2b:3c:4d:5e');
  });

  it('carries a SecureOn password of 6 bytes (MAC form or a buffer) or 4 (IPv4 form)', () => {
    const six = magicPacket('02:00:00:00:00:01', '01:02:03:04:05:06');
    assert.equal(six.length, 108);
    assert.deepEqual(six.subarray(102), Buffer.from([1, 2, 3, 4, 5, 6]));
    assert.deepEqual(magicPacket('02:00:00:00:00:01', Buffer.from([1, 2, 3, 4, 5, 6])), six);
    const four = magicPacket('02:00:00:00:00:01', '192.168.1.254');
    assert.equal(four.length, 106);
    assert.deepEqual(four.subarray(102), Buffer.from([192, 168, 1, 254]));
    assert.equal(parseMagicPacket(six), '02:00:00:00:00:01');
    assert.equal(parseMagicPacket(four), '02:00:00:00:00:01');
    for (const bad of ['01:02:03', '1.2.3.300', 'secret', Buffer.alloc(5)]) assert.throws(() => magicPacket('02:00:00:00:00:01', bad), isWakeError('E_WAKE_PASSWORD'), String(bad));
  });

  it('refuses what is no network card\'s MAC', () => {
    for (const mac of ['', 'not-a-mac', '00:1a:2b:3c:4d', '00:1a:2b:3c:4d:5e:6f', '00:1a-2b:3c:4d:5e', 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '00:00:00:00:00:00']) {
      assert.throws(() => magicPacket(mac), isWakeError('E_WAKE_MAC'), mac);
    }
  });

  it('parsing is strict: length, sync stream, all 16 copies, a unicast MAC', () => {
    const good = magicPacket('52:54:00:12:34:56');
    const flip = (at: number) => {
      const b = Buffer.from(good);
      b[at]! ^= 0x01;
      return b;
    };
    assert.equal(parseMagicPacket(good), '52:54:00:12:34:56');
    assert.equal(parseMagicPacket(good.subarray(0, 101)), undefined);
    assert.equal(parseMagicPacket(Buffer.concat([good, Buffer.alloc(1)])), undefined);
    assert.equal(parseMagicPacket(Buffer.concat([good, Buffer.alloc(8)])), undefined);
    assert.equal(parseMagicPacket(flip(0)), undefined, 'sync byte');
    assert.equal(parseMagicPacket(flip(5)), undefined, 'last sync byte');
    assert.equal(parseMagicPacket(flip(6 + 15 * 6 + 5)), undefined, 'last copy');
    assert.equal(parseMagicPacket(flip(6 + 7 * 6)), undefined, 'a middle copy');
    assert.equal(parseMagicPacket(Buffer.alloc(102, 0xff)), undefined, 'broadcast MAC');
    assert.equal(parseMagicPacket(Buffer.alloc(0)), undefined);
    // Every single-bit change of the sync stream or the copies is caught (a change in the first
    // copy changes the MAC, which the others then contradict).
    for (let i = 0; i < 102; i++) for (let bit = 0; bit < 8; bit++) {
      const b = Buffer.from(good);
      b[i]! ^= 1 << bit;
      assert.equal(parseMagicPacket(b), undefined, `byte ${i} bit ${bit}`);
    }
  });

  it('broadcastOf gives the subnet broadcast of an address with its prefix', () => {
    assert.equal(broadcastOf('10.77.0.1/24'), '10.77.0.255');
    assert.equal(broadcastOf('192.168.10.37/20'), '192.168.15.255');
    assert.equal(broadcastOf('172.16.5.4/16'), '172.16.255.255');
    assert.equal(broadcastOf('10.1.2.3/8'), '10.255.255.255');
    assert.equal(broadcastOf('10.1.2.3/0'), '255.255.255.255');
    assert.equal(broadcastOf('10.1.2.3/30'), '10.1.2.3');
    assert.equal(broadcastOf('10.1.2.3/31'), '255.255.255.255');
    assert.equal(broadcastOf('10.1.2.3/32'), '255.255.255.255');
    for (const bad of ['10.1.2.3', '10.1.2.3/33', '10.1.2.256/24', 'eth0', '10.1.2/24']) assert.throws(() => broadcastOf(bad), isWakeError('E_WAKE_ADDRESS'), bad);
  });

  it('a sender refuses bad options before it opens anything', async () => {
    await assert.rejects(sendWake({ broadcast: 'lan', macs: ['02:00:00:00:00:01'] }), isWakeError('E_WAKE_ADDRESS'));
    await assert.rejects(sendWake({ broadcast: '127.255.255.255', bindAddress: '127.0.0.1', port: 0, macs: [] }), isWakeError('E_WAKE_ADDRESS'));
    await assert.rejects(sendWake({ broadcast: '127.255.255.255', bindAddress: '127.0.0.1', repeat: 0, macs: [] }), isWakeError('E_WAKE_SEND'));
    await assert.rejects(sendWake({ broadcast: '127.255.255.255', bindAddress: '127.0.0.1', macs: ['02:00:00:00:00:01', 'nope'] }), isWakeError('E_WAKE_MAC'));
  });
});

// ---------------------------------------------------------------------------------------------

const root = await canUseNetns();
const WOL = pathToFileURL(join(import.meta.dirname, '..', 'src', 'fleet', 'wol.ts')).href;

interface Frame {
  time: number;
  ethDst: string;
  ethSrc: string;
  ipSrc: string;
  ipDst: string;
  ttl: number;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

/** Ethernet II / IPv4 / UDP, every header field this test relies on checked as it is read. */
function decodeFrame(p: PcapPacket): Frame {
  const f = p.frame;
  assert.ok(f.length >= 14 + 20 + 8, `frame of ${f.length} bytes`);
  assert.equal(f.readUInt16BE(12), 0x0800, 'EtherType IPv4');
  const ip = 14;
  assert.equal(f[ip]! >> 4, 4, 'IP version');
  const ihl = (f[ip]! & 0x0f) * 4;
  assert.equal(ihl, 20, 'no IP options');
  assert.equal(f[ip + 9], 17, 'protocol UDP');
  let sum = 0;
  for (let i = 0; i < ihl; i += 2) sum += f.readUInt16BE(ip + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  assert.equal(sum, 0xffff, 'IP header checksum');
  const total = f.readUInt16BE(ip + 2);
  const udp = ip + ihl;
  const udpLength = f.readUInt16BE(udp + 4);
  assert.equal(udpLength, total - ihl, 'UDP length fits the IP length');
  assert.ok(f.length >= udp + udpLength, 'frame holds the whole datagram');
  return {
    time: p.time,
    ethDst: hex(f.subarray(0, 6)),
    ethSrc: hex(f.subarray(6, 12)),
    ipSrc: [...f.subarray(ip + 12, ip + 16)].join('.'),
    ipDst: [...f.subarray(ip + 16, ip + 20)].join('.'),
    ttl: f[ip + 8]!,
    srcPort: f.readUInt16BE(udp),
    dstPort: f.readUInt16BE(udp + 2),
    payload: Buffer.from(f.subarray(udp + 8, udp + udpLength)),
  };
}

describe('Wake-on-LAN on a lab segment (network namespaces, tcpdump)', { concurrency: false }, () => {
  let lab: Lab;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    if (!root) return;
    tmp = await tempDir();
    lab = await Lab.create('wol');
  });
  after(async () => {
    await lab?.destroy();
    await tmp?.cleanup();
  });

  /** Runs sendWake in a namespace (a process of its own: sockets belong to the namespace they are made in). */
  const wakeFrom = async (ns: string, opts: Record<string, unknown>) => {
    const code = `import { sendWake } from ${JSON.stringify(WOL)}; process.stdout.write(JSON.stringify(await sendWake(${JSON.stringify(opts)})));`;
    const { stdout } = await lab.exec(ns, process.execPath, ['--input-type=module', '-e', code]);
    return JSON.parse(stdout) as { macs: string[]; packets: number };
  };

  it('3 MACs × 3 repeats reach the other host as broadcasts to port 9, each packet exact', { skip: !root && 'needs root for network namespaces' }, async () => {
    const sender = await lab.addHost('snd', '10.77.0.1/24', '02:77:00:00:00:01');
    const receiver = await lab.addHost('rcv', '10.77.0.2/24');
    const cap = await startCapture(lab, receiver.ns, 'eth0', join(tmp.dir, 'wake.pcap'), 'udp port 9');
    const macs = ['00:1a:2b:3c:4d:5e', '52-54-00-AB-CD-EF', '001122334455'];
    const want = ['00:1a:2b:3c:4d:5e', '52:54:00:ab:cd:ef', '00:11:22:33:44:55'];
    const started = Date.now() / 1000;
    const r = await wakeFrom(sender.ns, { broadcast: broadcastOf(sender.cidr!), bindAddress: sender.ip, macs, repeat: 3, intervalMs: 50 });
    assert.deepEqual(r, { macs: want, packets: 9 });
    await cap.stop();
    const frames = readPcap(await readFile(cap.file)).map(decodeFrame);
    assert.equal(frames.length, 9, 'every packet arrived, none more');
    for (const [i, f] of frames.entries()) {
      const mac = want[i % 3]!;
      assert.equal(f.ethDst, 'ff:ff:ff:ff:ff:ff', 'Ethernet broadcast');
      assert.equal(f.ethSrc, '02:77:00:00:00:01', 'from the sender\'s card');
      assert.equal(f.ipSrc, '10.77.0.1', 'from the bound address');
      assert.equal(f.ipDst, '10.77.0.255', 'to the subnet broadcast');
      assert.equal(f.dstPort, 9);
      assert.equal(f.payload.length, 102);
      assert.deepEqual([...f.payload.subarray(0, 6)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
      const macBytes = [...Buffer.from(mac.replaceAll(':', ''), 'hex')];
      for (let k = 0; k < 16; k++) assert.deepEqual([...f.payload.subarray(6 + k * 6, 12 + k * 6)], macBytes, `packet ${i} copy ${k}`);
      assert.equal(parseMagicPacket(f.payload), mac);
    }
    // Paced: the rounds are apart, the packets of one round together.
    for (const round of [1, 2]) {
      const gap = frames[round * 3]!.time - frames[round * 3 - 1]!.time;
      assert.ok(gap >= 0.04, `round ${round} follows ${gap.toFixed(3)} s after the previous one`);
    }
    assert.ok(frames[0]!.time >= started - 1, 'captured now');
  });

  it('bound to one interface\'s address, a limited broadcast leaves on that segment only', { skip: !root && 'needs root for network namespaces' }, async () => {
    // The sender has two segments: eth0 on the lab's bridge, eth1 straight to another namespace.
    const sender = await lab.addHost('two', '10.78.0.1/24');
    const onBridge = await lab.addHost('brg', '10.78.0.2/24');
    const other = await lab.addHost('oth', undefined);
    await run('ip', ['link', 'add', 'eth1', 'netns', sender.ns, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', other.ns]);
    await lab.exec(sender.ns, 'ip', ['addr', 'add', '10.78.1.1/24', 'dev', 'eth1']);
    await lab.exec(sender.ns, 'ip', ['link', 'set', 'eth1', 'up']);
    await lab.exec(other.ns, 'ip', ['link', 'set', 'eth1', 'up']);
    const capBridge = await startCapture(lab, onBridge.ns, 'eth0', join(tmp.dir, 'bridge.pcap'), 'udp port 9');
    const capOther = await startCapture(lab, other.ns, 'eth1', join(tmp.dir, 'other.pcap'), 'udp port 9');
    const r = await wakeFrom(sender.ns, { broadcast: '255.255.255.255', bindAddress: '10.78.1.1', macs: ['02:00:00:00:00:09'], repeat: 2, intervalMs: 10 });
    assert.equal(r.packets, 2);
    await capBridge.stop();
    await capOther.stop();
    const there = readPcap(await readFile(capOther.file)).map(decodeFrame);
    const notHere = readPcap(await readFile(capBridge.file));
    assert.equal(there.length, 2);
    assert.equal(notHere.length, 0, 'nothing on the other segment');
    for (const f of there) {
      assert.equal(f.ethDst, 'ff:ff:ff:ff:ff:ff');
      assert.equal(f.ipSrc, '10.78.1.1');
      assert.equal(f.ipDst, '255.255.255.255');
      assert.equal(parseMagicPacket(f.payload), '02:00:00:00:00:09');
    }
  });
});
