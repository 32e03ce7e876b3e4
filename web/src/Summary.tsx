// The counts per state, large enough to read across the room; each one filters the grid.
import { CATEGORIES, CATEGORY_LABELS, type Category } from './fleet.ts';
import { StateIcon } from './icons.tsx';

export interface Counts {
  total: number;
  byCategory: Readonly<Record<Category, number>>;
  /** Mean progress of every machine, 0-100. */
  progress: number;
}

export function Summary({ counts, filter, onFilter }: { counts: Counts; filter: Category | 'all'; onFilter: (c: Category | 'all') => void }) {
  const { total, byCategory } = counts;
  return (
    <section className="summary" aria-label="Summary">
      <div className="counts" role="group" aria-label="Filter by state">
        <button type="button" className="count cat-all" aria-pressed={filter === 'all'} onClick={() => onFilter('all')}>
          <span className="count-n">{total}</span>
          <span className="count-label">All</span>
        </button>
        {CATEGORIES.map((c) => (
          <button
            key={c}
            type="button"
            className={`count cat-${c}${byCategory[c] ? '' : ' zero'}`}
            aria-pressed={filter === c}
            onClick={() => onFilter(filter === c ? 'all' : c)}
          >
            <span className="count-n">{byCategory[c]}</span>
            <span className="count-label">
              <StateIcon category={c} />
              {CATEGORY_LABELS[c]}
            </span>
          </button>
        ))}
      </div>
      <div className="overall">
        <div className="stack" aria-hidden="true">
          {total
            ? (['done', 'installing', 'stalled', 'failed', 'approval', 'waiting'] as const).map((c) =>
                byCategory[c] ? <span key={c} className={`seg cat-${c}`} style={{ flexGrow: byCategory[c] }} /> : null,
              )
            : null}
        </div>
        <div className="overall-text">
          <strong>
            {byCategory.done} of {total}
          </strong>{' '}
          done · {Math.round(counts.progress)}% overall
          <span className="report">
            Report:{' '}
            <a href="api/report?format=html" target="_blank" rel="noreferrer">
              HTML
            </a>{' '}
            · <a href="api/report?format=csv">CSV</a>
          </span>
        </div>
      </div>
    </section>
  );
}
