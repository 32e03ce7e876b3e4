// Request paths to path components, refusing anything that could name a place outside the folder
// or image being served. Components are decoded one by one, after splitting on '/', so that an
// encoded '/' (%2F) can never join or split components, and '..' is refused however it is spelt.

export type PathResult = { readonly ok: true; readonly segments: string[] } | { readonly ok: false; readonly reason: string };

/**
 * Decodes the part of a request path after a prefix ('/files/', '/media/w7/') into components.
 * Refused: empty components ('//'), '.', '..', and components holding '/', '\', NUL or control
 * characters once decoded, or malformed percent-encoding.
 */
export function pathSegments(raw: string): PathResult {
  if (raw === '') return { ok: false, reason: 'empty path' };
  const out: string[] = [];
  for (const part of raw.split('/')) {
    let s: string;
    try {
      s = decodeURIComponent(part);
    } catch {
      return { ok: false, reason: `malformed percent-encoding in ${JSON.stringify(part)}` };
    }
    if (s === '') return { ok: false, reason: 'empty path component' };
    if (s === '.' || s === '..') return { ok: false, reason: `path component ${JSON.stringify(s)}` };
    // eslint-disable-next-line no-control-regex
    if (/[/\\\u0000-\u001f\u007f]/.test(s)) return { ok: false, reason: `forbidden character in path component ${JSON.stringify(s)}` };
    out.push(s);
  }
  return { ok: true, segments: out };
}

/** A MAC address in any of the forms iPXE's ${mac}/${mac:hexhyp}/${mac:hexraw} give, as 'aa:bb:cc:dd:ee:ff'. */
export function normaliseMac(s: string): string | undefined {
  const hex = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.test(s) ? s.replace(/[:-]/g, '') : s;
  if (!/^[0-9a-f]{12}$/i.test(hex)) return undefined;
  return hex.toLowerCase().match(/../g)!.join(':');
}
