// The overnight dashboard: every machine's install, phase by phase, live.
//
// Stable selectors (for tests and scripts; keep them when changing the page):
//   grid            [role="grid"][aria-label="Machines"]: a header row, then one [role="row"] per
//                   machine, every machine rendered (no windowing), with data-mac="aa:bb:cc:dd:ee:ff",
//                   data-state=<MachineView.state>, data-category=installing|failed|stalled|done|
//                   waiting|approval; cells [role="gridcell"][data-col=0..9]: Name, MAC, Phase
//                   (icon + label, e.g. "Failed in Setup"), Progress ([role="progressbar"]
//                   aria-valuenow), In phase, Attempt, Firmware, Profile, Address, Note (the failure
//                   reason). Column headers are buttons that sort ("Name", "Phase", "In phase", ...).
//   search          input[aria-label="Search machines"] (name, MAC with or without separators, address)
//   state filters   group "Filter by state": buttons "All", "Installing", "Failed", "Stalled",
//                   "Done", "Waiting", "Pending approval" (accessible name = count + label), aria-pressed
//   other filters   selects "Profile", "Group", "Sort by"; buttons "Clear filters", "Retry N failed…"
//   detail          [role="dialog"][aria-label="Machine <name or MAC>"], opened by a click on a row
//                   or Enter on a cell, closed by Escape or button "Close details"; inside: list
//                   [aria-label="Timeline"] (li[data-phase], newest first), section "Phases", tabs
//                   "Timeline", "Answer file", "Boot script", buttons "Redeploy", "Approve", "Deny",
//                   "Mark done", "Wake" (match it exactly: "Wake now" is the deployment's); results
//                   in [role="status"], refusals in [role="alert"] (401: "the admin token is
//                   missing or wrong: open the URL overnight printed")
//   deployment      section "Deployment" (in the top bar): inputs "Window", "Cap", select "Machines",
//                   checkbox "Wake-on-LAN", buttons "Save", "Start", "Stop", "Wake now"
//   connection      [data-connection=connecting|live|reconnecting|offline]
//   announcements   #announcer[aria-live="polite"]: failures and stalls as they happen
// Without a token every action button is disabled (title and a hint say why).
// URL: ?state=&profile=&group=&q=&sort=&desc=&machine= reproduces the view; #token=… is taken
// into sessionStorage and removed from the address bar.
import { useCallback, useDeferredValue, useEffect, useMemo, useRef, useState } from 'react';
import { type ServerState, setToken, useToken } from './api.ts';
import { noteServerDate, serverNow } from './clock.tsx';
import { RetryFailed } from './Bulk.tsx';
import { Deployment } from './Deployment.tsx';
import { Detail } from './Detail.tsx';
import { CATEGORIES, type Category, type MachineView, category, compareText } from './fleet.ts';
import { Grid } from './Grid.tsx';
import { IconSprite } from './icons.tsx';
import { Setup } from './Setup.tsx';
import { type Connection, useFleet } from './store.ts';
import { type Counts, Summary } from './Summary.tsx';
import { SORT_KEYS, SORT_LABELS, type SortKey, type View, defaultDesc, filterMachines, formatView, parseView, sortMachines } from './view.ts';

const CONNECTION_TEXT: Readonly<Record<Connection, string>> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline: retrying',
};

function countOf(machines: readonly MachineView[]): Counts {
  const byCategory = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  let progress = 0;
  for (const m of machines) {
    byCategory[category(m)]++;
    progress += m.progress;
  }
  return { total: machines.length, byCategory, progress: machines.length ? progress / machines.length : 0 };
}

function useServerState(resyncs: number): { state: ServerState | null; error: string | null } {
  const [state, setState] = useState<ServerState | null>(null);
  const [error, setError] = useState<string | null>(null);
  // Read again after each (re)connection: media and profiles change only with a restart.
  useEffect(() => {
    let cancelled = false;
    const sent = Date.now();
    fetch('api/state', { cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(async (res) => {
        noteServerDate(res.headers.get('Date'), sent, Date.now());
        if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
        return (await res.json()) as ServerState;
      })
      .then(
        (s) => {
          if (cancelled) return;
          setState(s);
          setError(null);
        },
        (e: unknown) => !cancelled && setError(e instanceof Error ? e.message : String(e)),
      );
    return () => {
      cancelled = true;
    };
  }, [resyncs]);
  return { state, error };
}

function TokenControl() {
  const token = useToken();
  const [open, setOpen] = useState(false);
  const [value, setValue] = useState('');
  return (
    <div className="token">
      <span className={`chip ${token ? 'ok' : 'warn'}`} title={token ? 'actions are sent with the admin token' : 'open the URL overnight printed (…/#token=…)'}>
        {token ? 'Admin' : 'Read-only'}
      </span>
      <button type="button" className="link" aria-expanded={open} onClick={() => setOpen(!open)}>
        {token ? 'Token…' : 'Enter token…'}
      </button>
      {open ? (
        <form
          className="token-form"
          onSubmit={(e) => {
            e.preventDefault();
            setToken(value.trim() || null);
            setValue('');
            setOpen(false);
          }}
        >
          <label htmlFor="token-input">Admin token</label>
          <input id="token-input" type="password" autoComplete="off" value={value} onChange={(e) => setValue(e.target.value)} autoFocus />
          <button type="submit">Use</button>
          {token ? (
            <button
              type="button"
              onClick={() => {
                setToken(null);
                setOpen(false);
              }}
            >
              Forget
            </button>
          ) : null}
        </form>
      ) : null}
    </div>
  );
}

export function App() {
  const fleet = useFleet();
  const { machines, deployment, connection, loaded, resyncs, announcement } = fleet;
  const [view, setView] = useState<View>(() => parseView(location.search));
  const server = useServerState(resyncs);
  const searchRef = useRef<HTMLInputElement>(null);

  // The URL follows the view (replaced, not pushed: filtering is not navigation).
  useEffect(() => {
    const t = setTimeout(() => {
      const url = location.pathname + formatView(view) + location.hash;
      if (url !== location.pathname + location.search + location.hash) history.replaceState(history.state, '', url);
    }, 250);
    return () => clearTimeout(t);
  }, [view]);
  useEffect(() => {
    const onPop = () => setView(parseView(location.search));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const update = useCallback((change: Partial<View>) => setView((v) => ({ ...v, ...change })), []);

  // Typing stays responsive with 500 rows: the grid follows the search a moment later.
  const deferredView = useDeferredValue(view);
  const rows = useMemo(
    () => sortMachines(filterMachines(machines, deferredView), deferredView.sort, deferredView.desc, serverNow()),
    [machines, deferredView.state, deferredView.profile, deferredView.group, deferredView.q, deferredView.sort, deferredView.desc],
  );
  const counts = useMemo(() => countOf(machines), [machines]);
  const { profiles, groups } = useMemo(() => {
    const p = new Set<string>((server.state?.profiles ?? []).map((x) => x.name));
    const g = new Set<string>();
    for (const m of machines) {
      if (m.profile) p.add(m.profile);
      if (m.group) g.add(m.group);
    }
    return { profiles: [...p].sort(compareText), groups: [...g].sort(compareText) };
  }, [machines, server.state]);

  const onSort = useCallback((key: SortKey) => setView((v) => (v.sort === key ? { ...v, desc: !v.desc } : { ...v, sort: key, desc: defaultDesc(key) })), []);
  const onOpen = useCallback((mac: string) => update({ machine: mac }), [update]);
  const openMac = view.machine;
  const onClose = useCallback(() => {
    const mac = openMac;
    update({ machine: null });
    // Back to where the admin was: the machine's row.
    if (mac) {
      requestAnimationFrame(() => {
        const row = document.querySelector<HTMLElement>(`[role="grid"] [data-mac="${CSS.escape(mac)}"]`);
        (row?.querySelector<HTMLElement>('[tabindex="0"]') ?? row?.querySelector<HTMLElement>('[data-col]'))?.focus();
      });
    }
  }, [openMac, update]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      const typing = t.closest('input, textarea, select, [contenteditable="true"]') != null;
      if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        searchRef.current?.focus();
        searchRef.current?.select();
      } else if (e.key === 'Escape' && openMac && !e.defaultPrevented) {
        onClose();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [openMac, onClose]);

  // A tab in the background still says how the night goes.
  useEffect(() => {
    const failed = counts.byCategory.failed;
    document.title = `${failed ? `✕ ${failed} failed · ` : ''}${counts.byCategory.done}/${counts.total} done · overnight`;
  }, [counts]);

  const filtered = view.state !== 'all' || view.profile != null || view.group != null || view.q !== '';
  const clear = () => update({ state: 'all', profile: null, group: null, q: '' });

  const empty = !loaded ? (
    'Connecting to overnight…'
  ) : machines.length === 0 ? (
    'No machines yet: each one appears here at its first network boot.'
  ) : (
    <>
      No machine matches these filters.{' '}
      <button type="button" className="link" onClick={clear}>
        Clear filters
      </button>
    </>
  );

  return (
    <div className={`app${openMac ? ' with-detail' : ''}`}>
      <IconSprite />
      <button
        type="button"
        className="skip"
        onClick={() => document.querySelector<HTMLElement>('[role="grid"] [data-col][tabindex="0"]')?.focus()}
      >
        Skip to machines
      </button>
      <header className="top">
        <h1>overnight</h1>
        <Deployment deployment={deployment} members={machines.length} groups={groups} />
        <div className="top-right">
          <span className={`chip conn conn-${connection}`} data-connection={connection} role="status">
            <span className="dot" aria-hidden="true" />
            {CONNECTION_TEXT[connection]}
          </span>
          <TokenControl />
        </div>
      </header>
      <Setup state={server.state} error={server.error} />
      <Summary counts={counts} filter={view.state} onFilter={(state) => update({ state })} />
      <div className="toolbar" role="search">
        <input
          ref={searchRef}
          type="search"
          className="search"
          aria-label="Search machines"
          placeholder="Search name, MAC or address  ( / )"
          value={view.q}
          onChange={(e) => update({ q: e.target.value })}
          onKeyDown={(e) => {
            if (e.key === 'Escape' && view.q) {
              e.preventDefault();
              update({ q: '' });
            }
          }}
        />
        <label className="field">
          <span>Profile</span>
          <select aria-label="Profile" value={view.profile ?? ''} onChange={(e) => update({ profile: e.target.value || null })}>
            <option value="">All</option>
            {profiles.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Group</span>
          <select aria-label="Group" value={view.group ?? ''} onChange={(e) => update({ group: e.target.value || null })}>
            <option value="">All</option>
            {groups.map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Sort</span>
          <select aria-label="Sort by" value={view.sort} onChange={(e) => update({ sort: e.target.value as SortKey, desc: defaultDesc(e.target.value as SortKey) })}>
            {SORT_KEYS.map((k) => (
              <option key={k} value={k}>
                {SORT_LABELS[k]}
              </option>
            ))}
          </select>
        </label>
        <button type="button" className="dir" onClick={() => update({ desc: !view.desc })} aria-label={view.desc ? 'Descending order' : 'Ascending order'} title="Reverse the order">
          {view.desc ? '▼' : '▲'}
        </button>
        <button type="button" onClick={clear} disabled={!filtered}>
          Clear filters
        </button>
        <RetryFailed rows={rows} />
        <span className="shown" aria-live="off">
          {rows.length === machines.length ? `${machines.length} machines` : `${rows.length} of ${machines.length} shown`}
        </span>
      </div>
      <main className="main">
        <Grid rows={rows} selected={openMac} sort={deferredView.sort} desc={deferredView.desc} onSort={onSort} onOpen={onOpen} empty={empty} busy={!loaded} />
        {openMac ? <Detail mac={openMac} profiles={profiles} onClose={onClose} /> : null}
      </main>
      <div id="announcer" className="sr-only" aria-live="polite" aria-atomic="true">
        {announcement?.text ?? ''}
      </div>
    </div>
  );
}
