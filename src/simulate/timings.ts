// How long a simulated machine spends in each phase of a Windows 7 install, and whether (and
// where, and why) it fails. Pure: every number comes from a seeded PRNG, one stream per machine,
// so a run is repeatable with --seed whatever order the network answers in.

/** The phases a machine reports over HTTP, in order (src/boot/winpe.ts PHASES without `failed`). */
export const REPORTED_PHASES = ['winpe', 'share', 'setup', 'applied', 'specialize', 'oobe', 'firstlogon', 'apps', 'done'] as const;
export type ReportedPhase = (typeof REPORTED_PHASES)[number];

export interface PhaseTiming {
  /** Median seconds from the previous report (for winpe: from the moment wimboot starts). */
  median: number;
  /** Spread of the log-normal: e^sigma is the factor one standard deviation away (0.2 ≈ ±22%). */
  sigma: number;
  /** Where the number comes from. */
  why: string;
}

/**
 * A Windows 7 SP1 x64 install on a 2010s desktop (Core i5, 7200 rpm disk or a SATA SSD) over 1 GbE,
 * from overnight's WinPE start script and answer file. The medians are what lab installs of that
 * era take (Microsoft's deployment guides give 20-40 min for a Windows 7 wipe-and-load, most of it
 * applying the image); the spread is wider where the work depends on the machine (drivers, disk)
 * or on what the profile installs (applications).
 */
export const PHASE_TIMINGS: Readonly<Record<ReportedPhase, PhaseTiming>> = {
  winpe: { median: 60, sigma: 0.2, why: 'wimboot loads boot.wim (~170 MB, 2 s at 1 GbE), WinPE 3.1 boots, wpeinit and the wait for the network (DHCP inside WinPE): about a minute' },
  share: { median: 10, sigma: 0.3, why: 'net use to the media share, then the report share; the start script reports winpe and share together once connected' },
  setup: { median: 5, sigma: 0.3, why: 'injected drivers copied for Setup, setup.exe starts from the share' },
  applied: { median: 600, sigma: 0.12, why: 'Setup partitions the disk and applies install.wim (~3 GB over SMB 2.1): 8-12 min on 1 GbE with a 7200 rpm disk' },
  specialize: { median: 120, sigma: 0.2, why: 'reboot from WinPE into the installed system, boot-critical driver and device detection until the specialize pass runs its commands' },
  oobe: { median: 180, sigma: 0.2, why: 'the specialize pass (computer name, domain join, drivers), a reboot, then OOBE runs SetupComplete.cmd' },
  firstlogon: { median: 120, sigma: 0.2, why: 'unattended OOBE finishes, a reboot, then the autologon' },
  apps: { median: 60, sigma: 0.3, why: 'the first logon: the profile is created, then the first-logon commands start' },
  done: { median: 300, sigma: 0.4, why: "the profile's applications install from the first-logon commands: minutes, varying with the list" },
};

/** A PC that shows a message (refused, waiting) restarts after this long (messageScript: "in a minute"). */
export const MESSAGE_REBOOT_SECONDS = 60;

/** One machine's whole install, in simulated milliseconds (divide by --speed for wall time). */
export interface MachineTimings {
  /** Delay before each report, from the previous one. */
  delays: Record<ReportedPhase, number>;
  /** This machine fails, and where; undefined when it installs cleanly. */
  failure: PlannedFailure | undefined;
  /** How much slower than the median machine this one is (1 = median). */
  hardware: number;
}

export interface PlannedFailure {
  /** The last phase it reports before failing ('loader': it fails before reporting anything). */
  after: 'loader' | ReportedPhase;
  /** Milliseconds after that report when the failure is reported. */
  delay: number;
  /** The reason it reports, worded as overnight's scripts word it. */
  reason: string;
}

/**
 * How installs really fail, with the wording of the start script (src/boot/winpe.ts) where it
 * has one, and rough shares among failures (Setup's own failures are the most common). WinPE
 * reports winpe and share only once both shares are connected, so a network or share failure
 * comes after `loader`.
 */
export const FAILURES: readonly { after: PlannedFailure['after']; reason: string; weight: number }[] = [
  { after: 'loader', reason: 'no network: no IP address - no driver for this network card in WinPE, or no cable', weight: 2 },
  { after: 'loader', reason: 'could not connect to the media share: net use failed 10 times (System error 53: the network path was not found)', weight: 1 },
  { after: 'setup', reason: 'setup.exe exited with code 31; see X:\\Windows\\Panther\\setupact.log', weight: 3 },
  { after: 'setup', reason: 'setup.exe exited with code 1: Windows could not find a disk to install to (no storage driver in WinPE); see X:\\Windows\\Panther\\setupact.log', weight: 2 },
  { after: 'setup', reason: 'setup.exe returned 0 but no drive holds Windows\\Panther\\unattend.xml', weight: 1 },
  { after: 'applied', reason: 'specialize: Windows could not complete the installation (Microsoft-Windows-UnattendedJoin: the domain join failed, 0x54b)', weight: 1 },
  { after: 'firstlogon', reason: 'firstlogon: an application install exited with code 1603', weight: 1 },
];

// ---------------------------------------------------------------------------------------------
// PRNG

/** A 32-bit hash (splitmix32's finaliser) to derive independent seeds from (seed, machine). */
function mix32(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** mulberry32: small, fast and good enough for timings; returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The stream of machine `index` under `seed`: the same whatever the other machines draw. */
export function machineRng(seed: number, index: number): () => number {
  return prng(mix32(mix32(seed >>> 0) ^ Math.imul(index + 1, 0x27d4eb2d)));
}

/** A standard normal draw (Box-Muller), kept within ±3 so that no machine takes absurdly long. */
export function normal(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  const v = rng();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  return Math.max(-3, Math.min(3, z));
}

/** A log-normal draw with this median: e^(sigma·z) spreads it multiplicatively, never below zero. */
export function logNormal(rng: () => number, median: number, sigma: number): number {
  return median * Math.exp(sigma * normal(rng));
}

/**
 * Timings of machine `index`: each phase's delay drawn around its median, all scaled by one
 * per-machine hardware factor (a slow disk is slow in every phase); with `failRate`, that share of
 * machines fails at a point drawn from FAILURES, part way into the phase after `after`.
 */
export function machineTimings(seed: number, index: number, failRate: number): MachineTimings {
  const rng = machineRng(seed, index);
  const hardware = logNormal(rng, 1, 0.1);
  const delays = {} as Record<ReportedPhase, number>;
  for (const p of REPORTED_PHASES) {
    const t = PHASE_TIMINGS[p];
    delays[p] = Math.round(logNormal(rng, t.median, t.sigma) * hardware * 1000);
  }
  // Drawn whether used or not, so that --fail-rate does not change the other draws.
  const failDraw = rng();
  const pick = rng();
  const part = 0.2 + 0.7 * rng();
  let failure: PlannedFailure | undefined;
  if (failDraw < failRate) {
    const total = FAILURES.reduce((s, f) => s + f.weight, 0);
    let at = pick * total;
    const f = FAILURES.find((x) => (at -= x.weight) < 0) ?? FAILURES[FAILURES.length - 1]!;
    const next = f.after === 'loader' ? 'winpe' : REPORTED_PHASES[REPORTED_PHASES.indexOf(f.after) + 1]!;
    failure = { after: f.after, delay: Math.round(delays[next] * part), reason: f.reason };
  }
  return { delays, failure, hardware };
}

/** Median wall time of a whole install from wimboot to done, in seconds (for --help and the summary). */
export function medianInstallSeconds(): number {
  return REPORTED_PHASES.reduce((s, p) => s + PHASE_TIMINGS[p].median, 0);
}
