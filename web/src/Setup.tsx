// What overnight serves: the media with their editions, the profiles with their lint results, and
// the servers (from GET /api/state). Folded by default; open when a profile has lint errors.
import type { ServerState } from './api.ts';

/** A server field as it comes: a string, or an object's most telling values. */
function show(v: unknown): string {
  if (v == null) return '—';
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.map(show).join(', ');
  if (typeof v === 'object') {
    return Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x != null && typeof x !== 'object')
      .map(([k, x]) => `${k} ${String(x)}`)
      .join(', ');
  }
  return String(v);
}

export function Setup({ state, error }: { state: ServerState | null; error: string | null }) {
  const media = state?.media ?? [];
  const profiles = state?.profiles ?? [];
  const withErrors = profiles.filter((p) => p.lint.errors > 0).length;
  const withWarnings = profiles.filter((p) => p.lint.errors === 0 && p.lint.warnings > 0).length;
  const lintText = withErrors ? `${withErrors} with lint errors` : withWarnings ? `${withWarnings} with warnings` : 'lint clean';
  return (
    <section aria-label="Media and profiles">
      <details className="setup" open={withErrors > 0 || undefined}>
        <summary>
          <span className="setup-h">Media and profiles</span>
          <span className="muted">
            {error
              ? `could not read the server's state: ${error}`
              : state
                ? `${media.length} media · ${profiles.length} profile${profiles.length === 1 ? '' : 's'}, `
                : 'loading…'}
          </span>
          {state && !error ? <span className={withErrors ? 'error' : withWarnings ? 'warn' : 'ok'}>{lintText}</span> : null}
        </summary>
        {state ? (
          <div className="setup-body">
            <table className="plain">
              <caption>Media</caption>
              <thead>
                <tr>
                  <th scope="col">Id</th>
                  <th scope="col">Release</th>
                  <th scope="col">Arch</th>
                  <th scope="col">Label</th>
                  <th scope="col">Editions</th>
                </tr>
              </thead>
              <tbody>
                {media.map((m) => (
                  <tr key={m.id}>
                    <td>{m.id}</td>
                    <td>{m.release}</td>
                    <td>{m.arch}</td>
                    <td className="mono">{m.label}</td>
                    <td>
                      {m.editions.map((e) => (
                        <span key={e.index} className="tag" title={`index ${e.index}: ${e.editionId}`}>
                          {e.index}. {e.name}
                        </span>
                      ))}
                    </td>
                  </tr>
                ))}
                {media.length === 0 ? (
                  <tr>
                    <td colSpan={5} className="muted">
                      No media.
                    </td>
                  </tr>
                ) : null}
              </tbody>
            </table>
            <table className="plain">
              <caption>Profiles</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Media</th>
                  <th scope="col">Edition</th>
                  <th scope="col">Lint</th>
                </tr>
              </thead>
              <tbody>
                {profiles.map((p) => (
                  <tr key={p.name}>
                    <td>{p.name}</td>
                    <td>{p.media}</td>
                    <td>{p.edition}</td>
                    <td>
                      <span className={p.lint.errors ? 'error' : p.lint.warnings ? 'warn' : 'ok'}>
                        {p.lint.errors ? `✕ ${p.lint.errors} error${p.lint.errors === 1 ? '' : 's'}` : p.lint.warnings ? '' : '✓ clean'}
                        {p.lint.warnings ? `${p.lint.errors ? ', ' : '! '}${p.lint.warnings} warning${p.lint.warnings === 1 ? '' : 's'}` : ''}
                      </span>
                      {p.lint.diagnostics.length ? (
                        <ul className="diags">
                          {p.lint.diagnostics.map((d, i) => (
                            <li key={i} className={d.severity === 'error' ? 'error' : d.severity === 'warning' ? 'warn' : 'muted'}>
                              <code>{d.code}</code> {d.severity}: {d.message}
                            </li>
                          ))}
                        </ul>
                      ) : null}
                    </td>
                  </tr>
                ))}
                {profiles.length === 0 ? (
                  <tr>
                    <td colSpan={4} className="muted">
                      No profiles.
                    </td>
                  </tr>
                ) : null}
              </tbody>
            </table>
            <dl className="servers">
              <div>
                <dt>Version</dt>
                <dd>{show(state.version)}</dd>
              </div>
              <div>
                <dt>Interface</dt>
                <dd>{show(state.interface)}</dd>
              </div>
              <div>
                <dt>DHCP</dt>
                <dd>{show(state.dhcp)}</dd>
              </div>
              <div>
                <dt>HTTP</dt>
                <dd>{show(state.http)}</dd>
              </div>
              <div>
                <dt>Share</dt>
                <dd>{show(state.share)}</dd>
              </div>
            </dl>
          </div>
        ) : null}
      </details>
    </section>
  );
}
