// One simulated PC, as a state machine: powered off → PXE ROM (DHCP, TFTP) → iPXE (DHCP, the
// script over HTTP) → wimboot's files → Windows PE and Setup → the installed Windows, reporting each
// phase over HTTP with the timings of timings.ts. What the server answers decides the way: a wimboot
// script installs, a local-boot script makes the PC boot its disk and sit idle until Wake-on-LAN,
// a message (refused, waiting) makes it restart a minute later, as a real PC's iPXE does. Network
// failures are counted and retried like the firmware would; nothing a server sends stops the run.
import { reportPath } from '../boot/winpe.ts';
import { type DhcpIdentity, type DhcpOutcome, DhcpFailure, type DhcpPort, type ExchangeContext, type SimFirmware, pxeDhcp, uuidFor, uuidText } from './dhcp-client.ts';
import { type HttpClient, HttpFetchError } from './http-client.ts';
import { type IpxeFileRef, type ScriptDecision, ipxeVars, parseIpxeScript } from './ipxe-script.ts';
import { TftpFetchError, tftpGet } from './tftp-client.ts';
import { type MachineTimings, MESSAGE_REBOOT_SECONDS, REPORTED_PHASES, type ReportedPhase } from './timings.ts';

/** Where a machine is. `booting`: wimboot has its files and Windows PE is starting. */
export const SIM_STATES = ['off', 'dhcp', 'tftp', 'ipxe', 'loading', 'booting', ...REPORTED_PHASES, 'failed', 'idle', 'waiting'] as const;
export type SimState = (typeof SIM_STATES)[number];

/** States a machine stays in: the run ends when every machine is in one. */
export const FINAL_STATES: ReadonlySet<SimState> = new Set(['done', 'failed', 'idle']);

export interface SimStats {
  tftp: { transfers: number; bytes: number; errors: number; retransmits: number };
  reports: { sent: number; errors: number };
  /** Network boots started (power-ons and restarts). */
  boots: number;
}

/** What a machine needs from the simulation around it. */
export interface MachineContext {
  dhcp: DhcpPort;
  http: HttpClient;
  stats: SimStats;
  /** Accept boot offers only from this server. */
  server: string | undefined;
  localAddress: string;
  /**
   * --own-addresses: puts the address DHCP leased this machine on the interface, so that its TFTP
   * and HTTP come from it; false when it could not (the machine then uses this host's). Undefined:
   * every machine shares this host's address.
   */
  ownAddress: ((address: string) => Promise<boolean>) | undefined;
  /** A TFTP transfer from `source` may start (machines sharing this host's address are held under the server's per-client cap). */
  tftpSlot(source: string): Promise<() => void>;
  fetchMedia: boolean;
  signal: AbortSignal;
  /** Sleeps `simMs` of simulated time (divided by --speed). */
  sleep(simMs: number): Promise<void>;
  /** A protocol timeout of `simMs` in wall-clock milliseconds (scaled, with a floor). */
  netTimeout(simMs: number): number;
  collectMs: number;
  rng: () => number;
  /** A state change or another event of this machine. */
  emit(m: Machine, event: string, detail?: string): void;
}

/** What a network boot ended in. */
type BootEnd = { kind: 'install'; server: string } | { kind: 'local'; detail: string } | { kind: 'restart'; detail: string };

/** Attempts per file and per report, as overnight's scripts make them. */
const FETCH_ATTEMPTS = 5;
const FETCH_DELAY_MS = 5000;
const REPORT_ATTEMPTS = 3;
const REPORT_DELAY_MS = 5000;
/** How much of a large media file is fetched without --fetch-media: enough to see it is served. */
export const MEDIA_PROBE_BYTES = 65536;
const MAX_CHAIN = 8;
const SCRIPT_LIMIT = 256 * 1024;

export class Machine {
  readonly mac: string;
  readonly index: number;
  readonly firmware: SimFirmware;
  readonly timings: MachineTimings;
  readonly #id: DhcpIdentity;
  readonly #ctx: MachineContext;
  #state: SimState = 'off';
  #wake: (() => void) | undefined;
  #wakeRequested = false;
  /** The last phase of the order it reported ('loader' before any). */
  lastPhase: 'loader' | ReportedPhase = 'loader';
  failure: { after: string; reason: string } | undefined;
  /** Its address as DHCP gave it (or this host's, in ProxyDHCP mode). */
  address: string | undefined;
  /** Where its TFTP and HTTP come from: its own address with --own-addresses, else this host's. */
  #source: string | undefined;

  constructor(mac: string, index: number, firmware: SimFirmware, timings: MachineTimings, ctx: MachineContext) {
    this.mac = mac;
    this.index = index;
    this.firmware = firmware;
    this.timings = timings;
    this.#ctx = ctx;
    this.#id = { mac, firmware, uuid: uuidFor(mac) };
  }

  get state(): SimState {
    return this.#state;
  }

  #set(state: SimState, detail?: string): void {
    this.#state = state;
    this.#ctx.emit(this, state, detail);
  }

  /** A magic packet: powers the machine on when it is off or idle; false when it is running. */
  wake(): boolean {
    if (this.#state !== 'off' && this.#state !== 'idle') return false;
    this.#wakeRequested = true;
    this.#wake?.();
    return true;
  }

  /** Waits for a magic packet (or, with `autoMs`, powers on by itself after that long). */
  #poweredOn(autoMs?: number): Promise<void> {
    if (this.#wakeRequested) {
      this.#wakeRequested = false;
      return Promise.resolve();
    }
    const signal = this.#ctx.signal;
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', abort);
        this.#wake = undefined;
        this.#wakeRequested = false;
        resolve();
      };
      const timer = autoMs === undefined ? undefined : setTimeout(done, autoMs);
      const abort = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        reject(signal.reason);
      };
      if (signal.aborted) return abort();
      signal.addEventListener('abort', abort, { once: true });
      this.#wake = done;
    });
  }

  /**
   * The machine's life: powered on after `startMs` (wall clock) or by a magic packet, network boots
   * until the server gives it an install, then the install. Ends when it is done or failed, or
   * when the simulation stops.
   */
  async run(startMs: number | undefined): Promise<void> {
    try {
      await this.#poweredOn(startMs);
      for (;;) {
        const end = await this.#networkBoot();
        if (end.kind === 'install') {
          await this.#install(end.server);
          return;
        }
        if (end.kind === 'local') {
          this.#set('idle', end.detail);
          await this.#poweredOn();
          continue;
        }
        this.#set('waiting', end.detail);
        await this.#ctx.sleep(MESSAGE_REBOOT_SECONDS * 1000);
      }
    } catch (e) {
      if (this.#ctx.signal.aborted) return;
      // Nothing from the network should get here; if something does, this machine stops, not the run.
      this.failure = { after: this.lastPhase, reason: `simulator error: ${(e as Error).message}` };
      this.#set('failed', this.failure.reason);
    }
  }

  #exchange(): ExchangeContext {
    const c = this.#ctx;
    return {
      port: c.dhcp,
      rng: c.rng,
      timeout: (ms) => c.netTimeout(ms),
      collectMs: c.collectMs,
      server: c.server,
      localAddress: c.localAddress,
      signal: c.signal,
      note: (what) => c.emit(this, 'note', what),
    };
  }

  /** The address DHCP gave: its own with --own-addresses (when it can be put on the interface), else this host's. */
  async #takeAddress(d: DhcpOutcome): Promise<void> {
    const c = this.#ctx;
    this.address = d.address;
    this.#source = c.localAddress;
    if (c.ownAddress && d.leasedFrom && d.address !== c.localAddress && (await c.ownAddress(d.address))) this.#source = d.address;
  }

  async #networkBoot(): Promise<BootEnd> {
    const c = this.#ctx;
    c.stats.boots++;
    // A second magic packet that came while it was starting does not power it on again later.
    this.#wakeRequested = false;
    this.#set('dhcp', `${this.firmware === 'bios' ? 'BIOS' : 'UEFI'} PXE ROM`);
    let rom: DhcpOutcome;
    try {
      rom = await pxeDhcp(this.#id, 'rom', this.#exchange());
    } catch (e) {
      if (!(e instanceof DhcpFailure)) throw e;
      return { kind: 'restart', detail: `${e.message}; the PC restarts` };
    }
    await this.#takeAddress(rom);
    if (/^[a-z]+:\/\//i.test(rom.bootFile)) return { kind: 'restart', detail: `the PXE ROM was offered a URL (${rom.bootFile}), not a TFTP file` };
    this.#set('tftp', `${rom.bootFile} from ${rom.nextServer} (${rom.mode === 'proxy' ? 'ProxyDHCP' : 'DHCP'} via ${rom.via}; address ${rom.address}${this.#source === rom.address ? '' : `, sent from ${this.#source}`})`);
    const release = await c.tftpSlot(this.#source!);
    try {
      const t = await tftpGet({
        server: rom.nextServer,
        file: rom.bootFile,
        // EDK2 asks for 1468 (an Ethernet frame's worth), BIOS ROMs for 1456.
        blksize: this.firmware === 'uefi' ? 1468 : 1456,
        timeoutMs: c.netTimeout(4000),
        retries: 5,
        localAddress: this.#source,
        signal: c.signal,
      });
      c.stats.tftp.transfers++;
      c.stats.tftp.bytes += t.bytes;
      c.stats.tftp.retransmits += t.retransmits;
      c.emit(this, 'tftp.done', `${rom.bootFile}: ${t.bytes} bytes${t.tsize === undefined ? ' (no tsize)' : ''}, blksize ${t.blksize}`);
    } catch (e) {
      if (!(e instanceof TftpFetchError)) throw e;
      c.stats.tftp.errors++;
      c.stats.tftp.bytes += e.partial.bytes;
      c.stats.tftp.retransmits += e.partial.retransmits;
      return { kind: 'restart', detail: `${e.code}: ${e.message}; the PC restarts` };
    } finally {
      release();
    }

    this.#set('ipxe', 'iPXE started');
    let ipxe: DhcpOutcome;
    try {
      ipxe = await pxeDhcp(this.#id, 'ipxe', this.#exchange());
    } catch (e) {
      if (!(e instanceof DhcpFailure)) throw e;
      return { kind: 'restart', detail: `iPXE: ${e.message.replace(/^PXE-E\d\w: /, '')}; iPXE reboots` };
    }
    await this.#takeAddress(ipxe);
    if (!/^http:\/\//i.test(ipxe.bootFile)) return { kind: 'restart', detail: `iPXE was offered ${ipxe.bootFile}, not a script URL (a chainload loop); it reboots` };

    const vars = ipxeVars(this.mac, this.firmware, uuidText(this.#id.uuid), ipxe.address);
    let url = ipxe.bootFile;
    for (let depth = 0; depth < MAX_CHAIN; depth++) {
      let text: string;
      try {
        const r = await c.http.get(url, { text: SCRIPT_LIMIT, from: this.#source, signal: c.signal });
        text = r.text ?? '';
        // iPXE runs a script whatever the status (overnight's 404 is a message script); a body that is no script fails.
      } catch (e) {
        if (!(e instanceof HttpFetchError)) throw e;
        return { kind: 'restart', detail: `iPXE could not fetch ${url}: ${e.message}; it reboots` };
      }
      const d: ScriptDecision = parseIpxeScript(text, vars);
      switch (d.kind) {
        case 'chain':
          url = new URL(d.url, url).href;
          continue;
        case 'boot':
          return this.#load(d, url);
        case 'local':
          return { kind: 'local', detail: `the server sent it to its local disk (${d.how}): it boots Windows from the disk` };
        case 'message':
          return { kind: 'restart', detail: `the server says: ${d.text || '(nothing)'}; the PC restarts in a minute` };
        case 'invalid':
          return { kind: 'restart', detail: `${url}: ${d.reason}; iPXE reboots` };
      }
    }
    return { kind: 'restart', detail: `more than ${MAX_CHAIN} chained scripts from ${ipxe.bootFile}; iPXE reboots` };
  }

  /** iPXE's `kernel` and `initrd` lines: each file fetched in order, retried as the script retries. */
  async #load(d: Extract<ScriptDecision, { kind: 'boot' }>, scriptUrl: string): Promise<BootEnd> {
    const c = this.#ctx;
    const files: IpxeFileRef[] = [d.kernel, ...d.initrds];
    this.#set('loading', `wimboot script: ${d.initrds.length} files for ${d.kernel.name}`);
    let total = 0;
    for (const f of files) {
      const url = new URL(f.url, scriptUrl);
      const probe = !c.fetchMedia && url.pathname.startsWith('/media/');
      for (let attempt = 1; ; attempt++) {
        let why: string;
        try {
          const r = await c.http.get(url.href, { range: probe ? [0, MEDIA_PROBE_BYTES - 1] : undefined, from: this.#source, signal: c.signal });
          const problem = checkFile(r, probe);
          if (!problem) {
            total += r.bytes;
            break;
          }
          // Delivered, but not what iPXE would take: an error as much as a failed request.
          c.http.counters.errors++;
          why = `${url.href}: ${problem}`;
        } catch (e) {
          if (!(e instanceof HttpFetchError)) throw e;
          why = e.message;
        }
        c.emit(this, 'error', `${f.name}: ${why} (attempt ${attempt} of ${FETCH_ATTEMPTS})`);
        if (attempt >= FETCH_ATTEMPTS) return { kind: 'restart', detail: `could not load ${f.name} after ${FETCH_ATTEMPTS} attempts; the PC restarts` };
        await c.sleep(FETCH_DELAY_MS);
      }
    }
    c.emit(this, 'loaded', `${files.length} files, ${total} bytes${c.fetchMedia ? '' : ` (media files: first ${MEDIA_PROBE_BYTES / 1024} KiB)`}`);
    return { kind: 'install', server: new URL(scriptUrl).origin };
  }

  /** Windows PE, Setup and the installed system: a report per phase, after its drawn duration. */
  async #install(server: string): Promise<void> {
    const c = this.#ctx;
    const t = this.timings;
    this.#set('booting', 'wimboot starts Windows PE');
    for (const phase of REPORTED_PHASES) {
      if (t.failure && t.failure.after === this.lastPhase) {
        await c.sleep(t.failure.delay);
        await this.#report(server, 'failed', t.failure.reason);
        this.failure = { after: this.lastPhase, reason: t.failure.reason };
        this.#set('failed', t.failure.reason);
        return;
      }
      await c.sleep(t.delays[phase]);
      await this.#report(server, phase, '');
      this.lastPhase = phase;
      // After `applied` the PC restarts from its disk, not the network: no PXE boot again.
      this.#set(phase, phase === 'applied' ? 'Setup applied the image; restarting from the disk' : undefined);
    }
  }

  /** POST /report/<mac>/<phase> with the reason as the body, tried as overnight-report.cmd tries. */
  async #report(server: string, phase: ReportedPhase | 'failed', detail: string): Promise<void> {
    const c = this.#ctx;
    const url = `${server}${reportPath(this.mac, phase)}`;
    for (let attempt = 1; attempt <= REPORT_ATTEMPTS; attempt++) {
      try {
        const r = await c.http.post(url, detail, { from: this.#source, signal: c.signal });
        if (r.status === 200) {
          c.stats.reports.sent++;
          return;
        }
        c.stats.reports.errors++;
        c.emit(this, 'error', `report ${phase}: HTTP ${r.status} ${(r.text ?? '').trim().slice(0, 200)}`);
      } catch (e) {
        if (!(e instanceof HttpFetchError)) throw e;
        c.stats.reports.errors++;
        c.emit(this, 'error', `report ${phase}: ${e.message}`);
      }
      // Reports never stop an install: after the last attempt it goes on unreported.
      if (attempt < REPORT_ATTEMPTS) await c.sleep(REPORT_DELAY_MS);
    }
  }
}

/** Why a fetched file is not what iPXE would accept, or undefined. */
function checkFile(r: { status: number; bytes: number; contentLength: number | undefined; contentRange: string | undefined }, probe: boolean): string | undefined {
  if (probe) {
    if (r.status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(r.contentRange ?? '');
      if (!m || Number(m[1]) !== 0) return `HTTP 206 with Content-Range ${JSON.stringify(r.contentRange)} for bytes 0-${MEDIA_PROBE_BYTES - 1}`;
      if (r.bytes !== Number(m[2]) + 1) return `HTTP 206 body of ${r.bytes} bytes for Content-Range ${r.contentRange}`;
      return undefined;
    }
    if (r.status === 200) return undefined; // a server without ranges; the body was cut at the probe's size
    return `HTTP ${r.status}`;
  }
  if (r.status !== 200) return `HTTP ${r.status}`;
  if (r.contentLength !== undefined && r.contentLength !== r.bytes) return `HTTP body of ${r.bytes} bytes, Content-Length ${r.contentLength}`;
  return undefined;
}
