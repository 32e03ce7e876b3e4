// State icons: drawn once in a sprite and referenced by every row (`<use>`), so that 500 rows do
// not carry 500 copies of each path. Icons repeat what the text says (never colour alone).
import type { Category } from './fleet.ts';

export function IconSprite() {
  return (
    <svg width="0" height="0" style={{ position: 'absolute' }} aria-hidden="true" focusable="false">
      <defs>
        <symbol id="i-installing" viewBox="0 0 16 16">
          <circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" strokeWidth="1.6" />
          <path d="M6.3 5v6l5-3z" fill="currentColor" />
        </symbol>
        <symbol id="i-failed" viewBox="0 0 16 16">
          <circle cx="8" cy="8" r="7.5" fill="currentColor" />
          <path d="M5.2 5.2l5.6 5.6M10.8 5.2l-5.6 5.6" stroke="var(--icon-on, #fff)" strokeWidth="2" strokeLinecap="round" />
        </symbol>
        <symbol id="i-stalled" viewBox="0 0 16 16">
          <path d="M8 1.2l7.2 13.3H.8z" fill="currentColor" />
          <path d="M8 6v4.2" stroke="var(--icon-on, #000)" strokeWidth="1.8" strokeLinecap="round" />
          <circle cx="8" cy="12.4" r="1" fill="var(--icon-on, #000)" />
        </symbol>
        <symbol id="i-done" viewBox="0 0 16 16">
          <circle cx="8" cy="8" r="7.5" fill="currentColor" />
          <path d="M4.5 8.3l2.4 2.4 4.7-5" fill="none" stroke="var(--icon-on, #fff)" strokeWidth="1.9" strokeLinecap="round" strokeLinejoin="round" />
        </symbol>
        <symbol id="i-waiting" viewBox="0 0 16 16">
          <circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" strokeWidth="1.6" />
          <path d="M8 4.5V8l2.4 1.6" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" />
        </symbol>
        <symbol id="i-approval" viewBox="0 0 16 16">
          <circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" strokeWidth="1.6" />
          <path d="M6 6.2a2 2 0 1 1 2.6 1.9c-.5.2-.6.5-.6 1v.5" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" />
          <circle cx="8" cy="11.8" r="0.95" fill="currentColor" />
        </symbol>
      </defs>
    </svg>
  );
}

export function StateIcon(props: { category: Category; className?: string }) {
  return (
    <svg className={`icon ${props.className ?? ''}`} aria-hidden="true" focusable="false" width="16" height="16">
      <use href={`#i-${props.category}`} />
    </svg>
  );
}
