// Tonight's run: its window and cap, Wake-on-LAN, start and stop, and waking machines now.
import { useEffect, useId, useState, type FormEvent } from 'react';
import { ApiError, type DeploymentEdit, TOKEN_HINT, deploymentCommand, putDeployment, useClearOk, useToken, wake } from './api.ts';
import { type DeploymentView, formatWhen } from './fleet.ts';
import { fleet } from './store.ts';

const WINDOW_RE = /^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/;

const STATE_TEXT: Readonly<Record<DeploymentView['state'], string>> = {
  planned: 'Planned',
  running: 'Running',
  stopped: 'Stopped',
  finished: 'Finished',
};

function deploymentSummary(d: DeploymentView | null): string {
  if (!d) return 'No deployment';
  const parts = [STATE_TEXT[d.state]];
  if (d.state === 'running' && d.window && !d.inWindow) parts.push(`waiting for ${d.window}`);
  return parts.join(' · ');
}

interface Form {
  window: string;
  cap: string;
  wake: boolean;
  /** '' for every machine. */
  group: string;
}

const formOf = (d: DeploymentView | null): Form => ({ window: d?.window ?? '', cap: d?.cap == null ? '' : String(d.cap), wake: d?.wake ?? false, group: d?.group ?? '' });

export function Deployment({ deployment: d, members, groups }: { deployment: DeploymentView | null; members: number; groups: readonly string[] }) {
  const token = useToken();
  const id = useId();
  const [form, setForm] = useState<Form>(() => formOf(d));
  const [dirty, setDirty] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  useClearOk(result, setResult);

  // The server's values show until the admin starts editing; a save takes them back.
  useEffect(() => {
    if (!dirty) setForm(formOf(d));
  }, [d, dirty]);

  const windowError = form.window.trim() && !WINDOW_RE.test(form.window.trim()) ? 'HH:MM-HH:MM, e.g. 22:00-06:00' : null;
  const capNum = form.cap.trim() === '' ? null : Number(form.cap);
  const capError = capNum != null && (!Number.isInteger(capNum) || capNum < 1) ? 'a whole number, 1 or more' : null;

  const edit = (): DeploymentEdit => ({ window: form.window.trim() || null, cap: capNum, wake: form.wake, group: form.group || null });

  const run = async (label: string, f: () => Promise<string>) => {
    setBusy(label);
    setResult(null);
    try {
      setResult({ ok: true, text: await f() });
    } catch (e) {
      setResult({ ok: false, text: `${label} refused: ${e instanceof ApiError ? e.message : String(e)}` });
    } finally {
      setBusy(null);
    }
  };

  const save = async (): Promise<void> => {
    const saved = await putDeployment(edit());
    fleet.applyDeployment(saved);
    setDirty(false);
  };

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    if (windowError || capError) return;
    void run('Save', async () => {
      await save();
      return 'Saved.';
    });
  };

  const start = () =>
    run('Start', async () => {
      // Starting with edits not yet saved would run the old window and cap.
      if (dirty || !d) await save();
      fleet.applyDeployment(await deploymentCommand('start'));
      return 'Started: machines install inside the window, up to the cap.';
    });
  const stop = () =>
    run('Stop', async () => {
      fleet.applyDeployment(await deploymentCommand('stop'));
      return 'Stopped: no new installs start; running ones finish.';
    });
  const wakeNow = () =>
    run('Wake now', async () => {
      await wake();
      return 'Wake-on-LAN sent to the machines that have not started.';
    });

  const invalid = windowError != null || capError != null;
  const disabled = !token || busy != null;
  const change = (f: Partial<Form>) => {
    setForm((old) => ({ ...old, ...f }));
    setDirty(true);
  };

  return (
    <section className="deployment" aria-labelledby={`${id}-h`}>
      <div className="dep-status">
        <h2 id={`${id}-h`}>Deployment</h2>
        <span className={`dep-state dep-${d?.state ?? 'none'}`}>{deploymentSummary(d)}</span>
        {d ? (
          <span className="dep-facts">
            <span title="machines holding an install slot now, of the cap">
              {d.installing}
              {d.cap != null ? `/${d.cap}` : ''} installing
            </span>
            <span title="the window, in the server's local time">{d.window ? `${d.window} (${d.inWindow ? 'open' : 'closed'})` : 'any time'}</span>
            {d.machines.length || d.group ? <span>{d.machines.length ? `${d.machines.length} of ${members} machines` : `group ${d.group}`}</span> : null}
            {d.startedAt && d.state === 'running' ? <span>since {formatWhen(d.startedAt)}</span> : null}
          </span>
        ) : (
          <span className="dep-facts muted">Set a window and a cap, then Start.</span>
        )}
      </div>
      <form className="dep-form" onSubmit={onSubmit} noValidate>
        <label htmlFor={`${id}-window`}>Window</label>
        <input
          id={`${id}-window`}
          className="w-window"
          value={form.window}
          placeholder="any time"
          inputMode="numeric"
          aria-invalid={windowError ? true : undefined}
          aria-describedby={`${id}-msg`}
          title="HH:MM-HH:MM in the server's local time; may cross midnight; empty: any time"
          onChange={(e) => change({ window: e.target.value })}
        />
        <label htmlFor={`${id}-cap`}>Cap</label>
        <input
          id={`${id}-cap`}
          className="w-cap"
          value={form.cap}
          placeholder="none"
          inputMode="numeric"
          aria-invalid={capError ? true : undefined}
          aria-describedby={`${id}-msg`}
          title="at most this many machines install at once; empty: no cap"
          onChange={(e) => change({ cap: e.target.value })}
        />
        <label htmlFor={`${id}-group`}>Machines</label>
        <select id={`${id}-group`} value={form.group} onChange={(e) => change({ group: e.target.value })} title="which machines this deployment installs">
          <option value="">all</option>
          {[...new Set([...(form.group ? [form.group] : []), ...groups])].map((g) => (
            <option key={g} value={g}>
              group {g}
            </option>
          ))}
        </select>
        <label className="check">
          <input type="checkbox" checked={form.wake} onChange={(e) => change({ wake: e.target.checked })} /> Wake-on-LAN
        </label>
        <button type="submit" disabled={disabled || invalid || !dirty} title={token ? undefined : TOKEN_HINT}>
          Save
        </button>
        <span className="sep" aria-hidden="true" />
        <button type="button" className="primary" disabled={disabled || invalid || d?.state === 'running'} onClick={start} title={token ? undefined : TOKEN_HINT}>
          {busy === 'Start' ? 'Start…' : 'Start'}
        </button>
        <button type="button" disabled={disabled || d?.state !== 'running'} onClick={stop} title={token ? undefined : TOKEN_HINT}>
          {busy === 'Stop' ? 'Stop…' : 'Stop'}
        </button>
        <button type="button" disabled={disabled} onClick={wakeNow} title={token ? 'Wake-on-LAN to every member that has not started' : TOKEN_HINT}>
          {busy === 'Wake now' ? 'Wake now…' : 'Wake now'}
        </button>
      </form>
      <div id={`${id}-msg`} className={`dep-msg ${windowError || capError || result?.ok === false ? 'error' : 'ok'}`} role={result?.ok === false ? 'alert' : 'status'}>
        {windowError ? `Window: ${windowError}` : capError ? `Cap: ${capError}` : (result?.text ?? '')}
      </div>
    </section>
  );
}
