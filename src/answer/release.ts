// Windows releases overnight targets, in order: comparisons by index answer "does this release
// have that setting" (settings carry their first and last release).
export const RELEASES = ['vista', '7', '8', '8.1', '10', '11'] as const;
export type Release = (typeof RELEASES)[number];

export const releaseIndex = (r: Release): number => RELEASES.indexOf(r);
export const atLeast = (r: Release, than: Release): boolean => releaseIndex(r) >= releaseIndex(than);

/** Whether a release lies in [since, until] (either bound optional). */
export function inRange(r: Release, since?: Release, until?: Release): boolean {
  return (since === undefined || atLeast(r, since)) && (until === undefined || atLeast(until, r));
}

/** Display names as Microsoft writes them. */
export const RELEASE_NAMES: Record<Release, string> = { vista: 'Windows Vista', '7': 'Windows 7', '8': 'Windows 8', '8.1': 'Windows 8.1', '10': 'Windows 10', '11': 'Windows 11' };

/** Architectures Setup ships for each release (arm64 media exist from Windows 10; 11 has no x86). */
export function archesOf(r: Release): readonly ('x86' | 'amd64' | 'arm64')[] {
  if (r === '11') return ['amd64', 'arm64'];
  if (r === '10') return ['x86', 'amd64', 'arm64'];
  return ['x86', 'amd64'];
}
