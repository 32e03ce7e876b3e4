// Address leases for full DHCP mode (isolated or air-gapped networks): a pool, reservations from
// the machine inventory, and leases that survive a restart (node:sqlite in the data folder).
// ProxyDHCP mode never creates one of these: it has no addresses to give.
import { DatabaseSync } from 'node:sqlite';
import { NetError } from '../errors.ts';
import { intToIp, ipToInt, sameSubnet } from '../iface.ts';

export interface PoolConfig {
  /** First and last address handed out (inclusive). */
  start: string;
  end: string;
  netmask: string;
  router?: string | undefined;
  dns?: string[] | undefined;
  domain?: string | undefined;
  /** Lease time in seconds (default 1 hour: long enough for a Windows install's reboots). */
  leaseSeconds?: number | undefined;
}

/** The first and last address of a pool written START-END (--pool, overnight.yaml's dhcp.pool). */
export function parsePoolRange(text: string | undefined): { start: string; end: string } {
  const m = /^(\d+\.\d+\.\d+\.\d+)-(\d+\.\d+\.\d+\.\d+)$/.exec(text ?? '');
  if (!m) throw new NetError('E_CONFIG', `full DHCP mode needs --pool START-END (e.g. --pool 10.0.0.100-10.0.0.199)${text ? `, not '${text}'` : ''}`, { pool: text });
  return { start: m[1]!, end: m[2]! };
}

export interface Reservation {
  ip: string;
  hostname?: string | undefined;
}

export interface Lease {
  mac: string;
  ip: string;
  /** Expiry, ms since the epoch. */
  expires: number;
  hostname: string | undefined;
}

/** How long an offered address stays set aside for the client that was offered it. */
const OFFER_HOLD_MS = 30_000;
/** How long an address a client declined (ARP conflict) stays out of the pool. */
const DECLINE_HOLD_MS = 10 * 60_000;

export type AckResult = { ok: true; lease: Lease } | { ok: false; reason: string };

export class LeasePool {
  readonly config: Required<Omit<PoolConfig, 'router' | 'domain'>> & Pick<PoolConfig, 'router' | 'domain'>;
  readonly #db: DatabaseSync;
  readonly #reservations: Map<string, Reservation>;
  readonly #byMac = new Map<string, Lease>();
  readonly #byIp = new Map<string, Lease>();
  readonly #offers = new Map<string, { ip: string; until: number }>();
  readonly #offered = new Map<string, string>(); // ip → mac
  readonly #declined = new Map<string, number>(); // ip → until
  readonly #reservedIps = new Map<string, string>(); // ip → mac
  readonly #first: number;
  readonly #last: number;
  #cursor: number;
  readonly #put;
  readonly #del;

  /**
   * @param file the SQLite file (':memory:' for none)
   * @param serverIp the server's own address, never handed out
   */
  constructor(file: string, config: PoolConfig, serverIp: string, reservations: Map<string, Reservation> = new Map(), now = Date.now()) {
    this.config = { dns: [], leaseSeconds: 3600, ...config };
    this.#first = ipToInt(config.start);
    this.#last = ipToInt(config.end);
    if (this.#last < this.#first) throw new NetError('E_CONFIG', `DHCP pool ${config.start}-${config.end} ends before it starts`, { pool: `${config.start}-${config.end}` });
    if (!sameSubnet(config.start, serverIp, config.netmask) || !sameSubnet(config.end, serverIp, config.netmask)) {
      throw new NetError('E_CONFIG', `DHCP pool ${config.start}-${config.end} is not in the server's subnet (${serverIp} mask ${config.netmask})`, { pool: `${config.start}-${config.end}`, server: serverIp });
    }
    this.#cursor = this.#first;
    this.#reservations = new Map([...reservations].map(([mac, r]) => [mac.toLowerCase(), r]));
    for (const [mac, r] of this.#reservations) {
      const other = this.#reservedIps.get(r.ip);
      if (other) throw new NetError('E_CONFIG', `machines ${other} and ${mac} are both reserved ${r.ip}`, { ip: r.ip });
      if (!sameSubnet(r.ip, serverIp, config.netmask)) throw new NetError('E_CONFIG', `reservation ${r.ip} for ${mac} is not in the server's subnet`, { ip: r.ip, mac });
      this.#reservedIps.set(r.ip, mac);
    }
    this.#reservedIps.set(serverIp, 'server');
    this.#db = new DatabaseSync(file);
    this.#db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
      CREATE TABLE IF NOT EXISTS lease (mac TEXT PRIMARY KEY, ip TEXT NOT NULL UNIQUE, expires INTEGER NOT NULL, hostname TEXT);`);
    this.#put = this.#db.prepare('INSERT OR REPLACE INTO lease (mac, ip, expires, hostname) VALUES (?, ?, ?, ?)');
    this.#del = this.#db.prepare('DELETE FROM lease WHERE mac = ?');
    for (const row of this.#db.prepare('SELECT mac, ip, expires, hostname FROM lease').all()) {
      const lease: Lease = { mac: String(row['mac']), ip: String(row['ip']), expires: Number(row['expires']), hostname: row['hostname'] == null ? undefined : String(row['hostname']) };
      // A lease whose address a reservation now gives to another machine is dropped.
      const reservedFor = this.#reservedIps.get(lease.ip);
      if (reservedFor && reservedFor !== lease.mac) continue;
      if (lease.expires > now) this.#remember(lease);
    }
  }

  close(): void {
    this.#db.close();
  }

  leases(): Lease[] {
    return [...this.#byMac.values()];
  }

  #remember(lease: Lease): void {
    const old = this.#byMac.get(lease.mac);
    if (old) this.#byIp.delete(old.ip);
    this.#byMac.set(lease.mac, lease);
    this.#byIp.set(lease.ip, lease);
  }

  #inPool(ip: string): boolean {
    const n = ipToInt(ip);
    return n >= this.#first && n <= this.#last;
  }

  /** Whether `ip` may go to `mac` right now. */
  #availableTo(ip: string, mac: string, now: number): boolean {
    const reserved = this.#reservedIps.get(ip);
    if (reserved && reserved !== mac) return false;
    if (!reserved && !this.#inPool(ip)) return false;
    const lease = this.#byIp.get(ip);
    if (lease && lease.mac !== mac && lease.expires > now) return false;
    const offeredTo = this.#offered.get(ip);
    if (offeredTo && offeredTo !== mac && (this.#offers.get(offeredTo)?.until ?? 0) > now) return false;
    if ((this.#declined.get(ip) ?? 0) > now) return false;
    return true;
  }

  /**
   * The address to offer `mac`: its reservation, else its current lease, else the address it asks
   * for (option 50) when free, else the next free one. undefined when the pool is exhausted.
   */
  offer(mac: string, requested: string | undefined, now = Date.now()): string | undefined {
    const ip = this.#choose(mac, requested, now);
    if (ip === undefined) return undefined;
    const prev = this.#offers.get(mac);
    if (prev) this.#offered.delete(prev.ip);
    this.#offers.set(mac, { ip, until: now + OFFER_HOLD_MS });
    this.#offered.set(ip, mac);
    return ip;
  }

  #choose(mac: string, requested: string | undefined, now: number): string | undefined {
    const reservation = this.#reservations.get(mac);
    if (reservation) return reservation.ip;
    const leased = this.#byMac.get(mac);
    if (leased && this.#availableTo(leased.ip, mac, now)) return leased.ip;
    const pending = this.#offers.get(mac);
    if (pending && pending.until > now && this.#availableTo(pending.ip, mac, now)) return pending.ip;
    if (requested && this.#availableTo(requested, mac, now)) return requested;
    const size = this.#last - this.#first + 1;
    for (let i = 0; i < size; i++) {
      const n = this.#cursor;
      this.#cursor = n >= this.#last ? this.#first : n + 1;
      const ip = intToIp(n);
      if (this.#availableTo(ip, mac, now)) return ip;
    }
    // Exhausted: reclaim the address of the longest-expired lease.
    let oldest: Lease | undefined;
    for (const l of this.#byIp.values()) if (l.expires <= now && (!oldest || l.expires < oldest.expires)) oldest = l;
    return oldest && this.#availableTo(oldest.ip, mac, now) ? oldest.ip : undefined;
  }

  /** DHCPREQUEST for `ip`: the lease is granted (and stored) or refused with the reason for a NAK. */
  ack(mac: string, ip: string, hostname: string | undefined, now = Date.now()): AckResult {
    const reservation = this.#reservations.get(mac);
    if (reservation && reservation.ip !== ip) return { ok: false, reason: `${mac} is reserved ${reservation.ip}, not ${ip}` };
    if (!this.#availableTo(ip, mac, now)) {
      return { ok: false, reason: this.#inPool(ip) || this.#reservedIps.has(ip) ? `${ip} belongs to another client` : `${ip} is not in this server's pool` };
    }
    const lease: Lease = { mac, ip, expires: now + this.config.leaseSeconds * 1000, hostname: hostname ?? reservation?.hostname };
    this.#put.run(mac, ip, lease.expires, lease.hostname ?? null);
    this.#remember(lease);
    const offer = this.#offers.get(mac);
    if (offer) {
      this.#offers.delete(mac);
      this.#offered.delete(offer.ip);
    }
    return { ok: true, lease };
  }

  /** The lease `mac` holds on `ip`, when it holds one (renewals, INFORM). */
  leaseOf(mac: string): Lease | undefined {
    return this.#byMac.get(mac);
  }

  release(mac: string, ip: string): boolean {
    const lease = this.#byMac.get(mac);
    if (!lease || lease.ip !== ip) return false;
    this.#byMac.delete(mac);
    this.#byIp.delete(ip);
    this.#del.run(mac);
    return true;
  }

  /** The client found `ip` in use (ARP): keep it out of the pool for a while. */
  decline(mac: string, ip: string, now = Date.now()): void {
    this.#declined.set(ip, now + DECLINE_HOLD_MS);
    const lease = this.#byMac.get(mac);
    if (lease?.ip === ip) this.release(mac, ip);
  }
}
