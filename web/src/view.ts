// What the grid shows: filters, search, sort and the open machine, kept in the URL query so that a
// copied link opens the same view (`?state=failed&profile=lab&q=pc-1&sort=phaseTime&desc=1`).
import { CATEGORIES, type Category, type MachineView, attemptElapsed, category, compareText, phaseElapsed, phaseIndex } from './fleet.ts';

export const SORT_KEYS = ['name', 'mac', 'state', 'progress', 'phaseTime', 'attemptTime', 'firmware', 'profile', 'address'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export const SORT_LABELS: Readonly<Record<SortKey, string>> = {
  name: 'Name',
  mac: 'MAC',
  state: 'Phase',
  progress: 'Progress',
  phaseTime: 'Time in phase',
  attemptTime: 'Time in attempt',
  firmware: 'Firmware',
  profile: 'Profile',
  address: 'Address',
};

/** Time sorts start with the longest: the machines to look at first. */
const DEFAULT_DESC: ReadonlySet<SortKey> = new Set(['phaseTime', 'attemptTime', 'progress']);

export interface View {
  state: Category | 'all';
  profile: string | null;
  group: string | null;
  q: string;
  sort: SortKey;
  desc: boolean;
  /** MAC of the machine whose detail is open. */
  machine: string | null;
}

export const DEFAULT_VIEW: View = { state: 'all', profile: null, group: null, q: '', sort: 'name', desc: false, machine: null };

export function defaultDesc(sort: SortKey): boolean {
  return DEFAULT_DESC.has(sort);
}

export function parseView(search: string): View {
  const p = new URLSearchParams(search);
  const state = p.get('state');
  const sort = p.get('sort');
  const s: SortKey = (SORT_KEYS as readonly string[]).includes(sort ?? '') ? (sort as SortKey) : 'name';
  const desc = p.get('desc');
  return {
    state: (CATEGORIES as readonly string[]).includes(state ?? '') ? (state as Category) : 'all',
    profile: p.get('profile') || null,
    group: p.get('group') || null,
    q: p.get('q') ?? '',
    sort: s,
    desc: desc == null ? defaultDesc(s) : desc === '1',
    machine: p.get('machine') || null,
  };
}

export function formatView(v: View): string {
  const p = new URLSearchParams();
  if (v.state !== 'all') p.set('state', v.state);
  if (v.profile) p.set('profile', v.profile);
  if (v.group) p.set('group', v.group);
  if (v.q) p.set('q', v.q);
  if (v.sort !== 'name') p.set('sort', v.sort);
  if (v.desc !== defaultDesc(v.sort)) p.set('desc', v.desc ? '1' : '0');
  if (v.machine) p.set('machine', v.machine);
  // Colons are legal in a query: MACs stay readable in a copied link.
  const s = p.toString().replace(/%3A/gi, ':');
  return s ? `?${s}` : '';
}

/** Search terms all have to match: name, MAC (with or without separators) or address. */
export function matchesSearch(m: MachineView, q: string): boolean {
  const terms = q.toLowerCase().split(/\s+/).filter(Boolean);
  if (!terms.length) return true;
  const bare = m.mac.replace(/:/g, '');
  const hay = `${m.name ?? ''} ${m.mac} ${bare} ${m.mac.replace(/:/g, '-')} ${m.address ?? ''}`.toLowerCase();
  return terms.every((t) => hay.includes(t) || (/^[0-9a-f:.-]+$/.test(t) && bare.includes(t.replace(/[:.-]/g, ''))));
}

export function filterMachines(all: readonly MachineView[], v: View): MachineView[] {
  return all.filter(
    (m) =>
      (v.state === 'all' || category(m) === v.state) &&
      (v.profile == null || m.profile === v.profile) &&
      (v.group == null || m.group === v.group) &&
      matchesSearch(m, v.q),
  );
}

/** Where a machine stands for the phase sort: its phase, failures and stalls at theirs. */
function stateRank(m: MachineView): number {
  const p = m.state === 'failed' ? (m.failure?.phase ?? m.phase) : m.state === 'stalled' ? (m.stalledIn ?? m.phase) : m.state === 'idle' ? null : m.state;
  // Failed before stalled before running at the same phase: trouble sorts together.
  const extra = m.state === 'failed' ? 0.2 : m.state === 'stalled' ? 0.1 : 0;
  return phaseIndex(p) + extra;
}

const nullsLast = (a: number | null, b: number | null, desc: boolean): number | null => {
  if (a == null && b == null) return 0;
  if (a == null) return desc ? -1 : 1;
  if (b == null) return desc ? 1 : -1;
  return null;
};

/**
 * Sorts a copy. Time sorts use `now` once per sort: running clocks all advance together, so the
 * order holds between sorts and rows do not move with every tick.
 */
export function sortMachines(list: MachineView[], sort: SortKey, desc: boolean, now: number): MachineView[] {
  const byName = (a: MachineView, b: MachineView) => compareText(a.name ?? '\uffff', b.name ?? '\uffff') || compareText(a.mac, b.mac);
  let key: (a: MachineView, b: MachineView) => number;
  const num = (f: (m: MachineView) => number | null) => (a: MachineView, b: MachineView) => {
    const x = f(a);
    const y = f(b);
    const n = nullsLast(x, y, desc);
    return n ?? x! - y!;
  };
  const text = (f: (m: MachineView) => string | null) => (a: MachineView, b: MachineView) => {
    const x = f(a);
    const y = f(b);
    const n = nullsLast(x == null ? null : 0, y == null ? null : 0, desc);
    return n ?? compareText(x!, y!);
  };
  switch (sort) {
    case 'name':
      key = byName;
      break;
    case 'mac':
      key = (a, b) => compareText(a.mac, b.mac);
      break;
    case 'state':
      key = num(stateRank);
      break;
    case 'progress':
      key = num((m) => m.progress);
      break;
    case 'phaseTime':
      key = num((m) => phaseElapsed(m, now));
      break;
    case 'attemptTime':
      key = num((m) => attemptElapsed(m, now));
      break;
    case 'firmware':
      key = text((m) => m.firmware);
      break;
    case 'profile':
      key = text((m) => (m.profile == null ? null : `${m.profile} ${m.group ?? ''}`));
      break;
    case 'address':
      key = text((m) => m.address);
      break;
  }
  const dir = desc ? -1 : 1;
  return list.sort((a, b) => dir * key(a, b) || byName(a, b));
}
