// The machine grid: one fixed-height row per machine (ARIA grid: arrow keys move between cells,
// Home/End, Page Up/Down, Ctrl+Home/End; Enter or a click opens the machine). Rows are memoized
// by their MachineView object, so an update renders only the machines that changed; clocks tick
// outside React (clock.tsx); off-screen rows are skipped by the browser (content-visibility).
// Every row is in the DOM (no windowing, so no aria-rowindex): tests and find-in-page see them all.
import { memo, useCallback, useRef, useState, type FocusEvent, type KeyboardEvent, type MouseEvent, type ReactNode } from 'react';
import { Elapsed } from './clock.tsx';
import { type MachineView, PHASE_ENDS, category, firmwareLabel, isRunning, noteText, stateLabel } from './fleet.ts';
import { StateIcon } from './icons.tsx';
import { SORT_LABELS, type SortKey } from './view.ts';

interface Column {
  label: string;
  sort: SortKey | null;
  className: string;
}

export const COLUMNS: readonly Column[] = [
  { label: 'Name', sort: 'name', className: 'c-name' },
  { label: 'MAC', sort: 'mac', className: 'c-mac' },
  { label: 'Phase', sort: 'state', className: 'c-state' },
  { label: 'Progress', sort: 'progress', className: 'c-progress' },
  { label: 'In phase', sort: 'phaseTime', className: 'c-time' },
  { label: 'Attempt', sort: 'attemptTime', className: 'c-time c-attempt' },
  { label: 'Firmware', sort: 'firmware', className: 'c-fw' },
  { label: 'Profile', sort: 'profile', className: 'c-profile' },
  { label: 'Address', sort: 'address', className: 'c-addr' },
  { label: 'Note', sort: null, className: 'c-note' },
];

const LAST_COL = COLUMNS.length - 1;

/** Tick marks where each phase ends, drawn on every progress bar by one CSS background. */
export const PHASE_TICKS = `linear-gradient(to right, ${PHASE_ENDS.filter((e) => e > 1 && e < 100)
  .map((e) => `transparent ${e}%, var(--tick) ${e}%, var(--tick) calc(${e}% + 1px), transparent calc(${e}% + 1px)`)
  .join(', ')})`;

interface RowProps {
  m: MachineView;
  /** The column holding the grid's one tab stop, or -1. */
  activeCol: number;
  selected: boolean;
}

const Row = memo(function Row({ m, activeCol, selected }: RowProps) {
  const cat = category(m);
  const running = isRunning(m);
  const ended = m.finishedAt ?? m.lastSeen;
  const tab = (c: number) => (activeCol === c ? 0 : -1);
  const note = noteText(m);
  const label = stateLabel(m);
  return (
    <div
      role="row"
      className={`row cat-${cat}${selected ? ' selected' : ''}`}
      data-mac={m.mac}
      data-state={m.state}
      data-category={cat}
    >
      <div role="gridcell" data-col={0} tabIndex={tab(0)} className="cell c-name" title={m.name ?? undefined}>
        {m.name ?? <span className="muted" title="no name yet: it gets one from the inventory or the profile">—</span>}
      </div>
      <div role="gridcell" data-col={1} tabIndex={tab(1)} className="cell c-mac">
        {m.mac}
      </div>
      <div role="gridcell" data-col={2} tabIndex={tab(2)} className="cell c-state" title={label}>
        <StateIcon category={cat} />
        <span className="state-text">{label}</span>
      </div>
      <div role="gridcell" data-col={3} tabIndex={tab(3)} className="cell c-progress">
        <div className="bar" role="progressbar" aria-label="Progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={m.progress}>
          <div className="fill" style={{ transform: `scaleX(${Math.min(100, Math.max(0, m.progress)) / 100})` }} />
        </div>
        <span className="pct">{m.progress}%</span>
      </div>
      <div role="gridcell" data-col={4} tabIndex={tab(4)} className="cell c-time">
        <Elapsed from={m.state === 'idle' || m.state === 'done' ? null : m.phaseSince} until={running ? null : ended} />
      </div>
      <div role="gridcell" data-col={5} tabIndex={tab(5)} className="cell c-time c-attempt">
        <Elapsed from={m.state === 'idle' ? null : m.startedAt} until={running ? null : ended} />
        <span className="attempt-no" title={`attempt ${m.attempt}`}>
          {m.attempt > 1 ? `#${m.attempt}` : ''}
        </span>
      </div>
      <div role="gridcell" data-col={6} tabIndex={tab(6)} className="cell c-fw">
        {firmwareLabel(m.firmware)}
      </div>
      <div role="gridcell" data-col={7} tabIndex={tab(7)} className="cell c-profile" title={[m.profile, m.group].filter(Boolean).join(' · ') || undefined}>
        {m.profile ?? <span className="muted">—</span>}
        {m.group ? <span className="group"> · {m.group}</span> : null}
      </div>
      <div role="gridcell" data-col={8} tabIndex={tab(8)} className="cell c-addr">
        {m.address ?? <span className="muted">—</span>}
      </div>
      <div role="gridcell" data-col={9} tabIndex={tab(9)} className="cell c-note" title={note || undefined}>
        {note}
      </div>
    </div>
  );
});

export interface GridProps {
  rows: readonly MachineView[];
  selected: string | null;
  sort: SortKey;
  desc: boolean;
  onSort: (key: SortKey) => void;
  onOpen: (mac: string) => void;
  empty: ReactNode;
  busy: boolean;
}

export function Grid({ rows, selected, sort, desc, onSort, onOpen, empty, busy }: GridProps) {
  const [active, setActive] = useState<{ mac: string; col: number } | null>(null);
  const ref = useRef<HTMLDivElement>(null);
  // The tab stop stays on a row that is still shown, else the first.
  const activeMac = active && rows.some((m) => m.mac === active.mac) ? active.mac : (rows[0]?.mac ?? null);
  const activeCol = active && active.mac === activeMac ? active.col : 0;

  const focusCell = useCallback((mac: string, col: number) => {
    setActive({ mac, col });
    const el = ref.current?.querySelector<HTMLElement>(`[data-mac="${CSS.escape(mac)}"] [data-col="${col}"]`);
    el?.focus();
  }, []);

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const cell = (e.target as HTMLElement).closest<HTMLElement>('[data-col]');
    const row = cell?.closest<HTMLElement>('[data-mac]');
    if (!cell || !row) return;
    const mac = row.dataset.mac!;
    let r = rows.findIndex((m) => m.mac === mac);
    let c = Number(cell.dataset.col);
    const page = Math.max(1, Math.floor((ref.current?.clientHeight ?? 400) / (row.offsetHeight || 40)) - 2);
    switch (e.key) {
      case 'ArrowDown':
        r++;
        break;
      case 'ArrowUp':
        r--;
        break;
      case 'ArrowLeft':
        c--;
        break;
      case 'ArrowRight':
        c++;
        break;
      case 'PageDown':
        r += page;
        break;
      case 'PageUp':
        r -= page;
        break;
      case 'Home':
        if (e.ctrlKey) r = 0;
        else c = 0;
        break;
      case 'End':
        if (e.ctrlKey) r = rows.length - 1;
        else c = LAST_COL;
        break;
      case 'Enter':
      case ' ':
        e.preventDefault();
        onOpen(mac);
        return;
      default:
        return;
    }
    e.preventDefault();
    r = Math.max(0, Math.min(rows.length - 1, r));
    c = Math.max(0, Math.min(LAST_COL, c));
    const target = rows[r];
    if (target) focusCell(target.mac, c);
  };

  const onFocus = (e: FocusEvent<HTMLDivElement>) => {
    const cell = (e.target as HTMLElement).closest<HTMLElement>('[data-col]');
    const mac = cell?.closest<HTMLElement>('[data-mac]')?.dataset.mac;
    if (cell && mac && (active?.mac !== mac || active.col !== Number(cell.dataset.col))) setActive({ mac, col: Number(cell.dataset.col) });
  };

  const onClick = (e: MouseEvent<HTMLDivElement>) => {
    const row = (e.target as HTMLElement).closest<HTMLElement>('[data-mac]');
    // Selecting text in a row (a MAC to copy) is not a click on it.
    if (row && !window.getSelection()?.toString()) onOpen(row.dataset.mac!);
  };

  return (
    <div
      ref={ref}
      role="grid"
      aria-label="Machines"
      aria-colcount={COLUMNS.length}
      aria-busy={busy || undefined}
      className="grid"
      style={{ ['--ticks' as string]: PHASE_TICKS }}
      onKeyDown={onKeyDown}
      onFocus={onFocus}
      onClick={onClick}
    >
      <div role="row" className="row head">
        {COLUMNS.map((col) => {
          const sorted = col.sort === sort;
          return (
            <div
              key={col.label}
              role="columnheader"
              className={`cell ${col.className}`}
              aria-sort={col.sort == null ? undefined : sorted ? (desc ? 'descending' : 'ascending') : 'none'}
            >
              {col.sort ? (
                <button type="button" className="sort" onClick={() => onSort(col.sort!)} title={`Sort by ${SORT_LABELS[col.sort].toLowerCase()}`}>
                  {col.label}
                  <span className="sort-mark" aria-hidden="true">
                    {sorted ? (desc ? '▼' : '▲') : ''}
                  </span>
                </button>
              ) : (
                col.label
              )}
            </div>
          );
        })}
      </div>
      {rows.map((m) => (
        <Row key={m.mac} m={m} activeCol={m.mac === activeMac ? activeCol : -1} selected={m.mac === selected} />
      ))}
      {rows.length === 0 ? (
        <div role="row" className="row empty-row">
          <div role="gridcell" aria-colspan={COLUMNS.length} className="empty">
            {empty}
          </div>
        </div>
      ) : null}
    </div>
  );
}
