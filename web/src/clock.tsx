// Ticking clocks without rendering: 500 rows × 2 clocks would re-render a thousand components a
// second through React; instead one timer rewrites the text of the spans that tick. React never
// renders children into these spans, so the two never fight over the same text node.
import { useLayoutEffect, useRef, useSyncExternalStore } from 'react';
import { formatDuration } from './fleet.ts';

let offset = 0;

/** The server's clock as this page sees it (machines' times are the server's). */
export function serverNow(): number {
  return Date.now() + offset;
}

/**
 * Corrects for a dashboard opened on another computer whose clock is off: the HTTP Date header
 * has a resolution of a second, so only larger differences are worth correcting.
 */
export function noteServerDate(header: string | null, sentAt: number, receivedAt: number): void {
  const server = header ? Date.parse(header) : NaN;
  if (!Number.isFinite(server)) return;
  const diff = server + 500 - (sentAt + receivedAt) / 2;
  offset = Math.abs(diff) > 3000 ? diff : 0;
}

interface Tick {
  from: number;
  render: (ms: number) => string;
}

const ticking = new Map<HTMLElement, Tick>();
let timer: ReturnType<typeof setInterval> | null = null;
const secondListeners = new Set<() => void>();
let second = Math.floor(serverNow() / 1000);

function tick(): void {
  const now = serverNow();
  second = Math.floor(now / 1000);
  for (const [el, t] of ticking) {
    const text = t.render(now - t.from);
    if (el.textContent !== text) el.textContent = text;
  }
  for (const l of secondListeners) l();
}

function ensureTimer(): void {
  if (timer || (ticking.size === 0 && secondListeners.size === 0)) return;
  timer = setInterval(tick, 1000);
}

function maybeStop(): void {
  if (timer && ticking.size === 0 && secondListeners.size === 0) {
    clearInterval(timer);
    timer = null;
  }
}

/**
 * A duration: `from` to `until`, or to now, ticking each second, when `until` is null. `from`
 * null shows a dash. Fixed width comes from the cell's CSS (tabular numerals).
 */
export function Elapsed(props: { from: number | null; until: number | null; render?: (ms: number) => string; className?: string }) {
  const ref = useRef<HTMLSpanElement>(null);
  const { from, until, render = formatDuration } = props;
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (from == null) {
      el.textContent = '—';
      return;
    }
    if (until != null) {
      el.textContent = render(Math.max(0, until - from));
      return;
    }
    const t: Tick = { from, render: (ms) => render(Math.max(0, ms)) };
    el.textContent = t.render(serverNow() - from);
    ticking.set(el, t);
    ensureTimer();
    return () => {
      ticking.delete(el);
      maybeStop();
    };
  }, [from, until, render]);
  return <span ref={ref} className={props.className} />;
}

/** The current second, for the few components that compute with the time (the detail panel). */
export function useSecond(): number {
  return useSyncExternalStore(
    (l) => {
      secondListeners.add(l);
      ensureTimer();
      return () => {
        secondListeners.delete(l);
        maybeStop();
      };
    },
    () => second,
  );
}
