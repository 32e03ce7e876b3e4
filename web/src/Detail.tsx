// One machine: what it is, where it stands, how long each phase took, its timeline (fetched, then
// kept live from the stream), its answer file and boot script (masked by the server), and the
// admin's actions on it.
import { memo, useEffect, useId, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent, type ReactNode } from 'react';
import { ApiError, type MachineAction, TOKEN_HINT, getText, useClearOk, machineAction, machineEvents, machinePath, send, useToken, wake } from './api.ts';
import { Elapsed, serverNow, useSecond } from './clock.tsx';
import {
  type EventView,
  type MachineView,
  PHASES,
  category,
  displayName,
  firmwareLabel,
  formatDuration,
  formatTime,
  formatWhen,
  isPhase,
  isRunning,
  phaseIndex,
  phaseLabel,
  stateLabel,
} from './fleet.ts';
import { StateIcon } from './icons.tsx';
import { fleet, useFleet } from './store.ts';

type Tab = 'timeline' | 'answer' | 'script';

export interface DetailProps {
  mac: string;
  profiles: readonly string[];
  onClose: () => void;
}

export function Detail({ mac, profiles, onClose }: DetailProps) {
  const { byMac, resyncs, loaded } = useFleet();
  const m = byMac.get(mac);
  const [tab, setTab] = useState<Tab>('timeline');
  const closeRef = useRef<HTMLButtonElement>(null);
  const tabsId = useId();

  useLayoutEffect(() => {
    closeRef.current?.focus();
  }, [mac]);
  useEffect(() => setTab('timeline'), [mac]);

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      onClose();
    }
  };

  const name = m ? displayName(m) : mac;
  const tabs: { id: Tab; label: string }[] = [
    { id: 'timeline', label: 'Timeline' },
    { id: 'answer', label: 'Answer file' },
    { id: 'script', label: 'Boot script' },
  ];
  const onTabKey = (e: KeyboardEvent) => {
    const i = tabs.findIndex((t) => t.id === tab);
    const next = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? tabs.length - 1 : null;
    if (next == null) return;
    e.preventDefault();
    const t = tabs[(next + tabs.length) % tabs.length]!;
    setTab(t.id);
    document.getElementById(`${tabsId}-${t.id}`)?.focus();
  };

  return (
    <div role="dialog" aria-modal="false" aria-label={`Machine ${name}`} className="detail" onKeyDown={onKeyDown}>
      <header className="detail-head">
        <div className="detail-title">
          <h2>{name}</h2>
          {m ? (
            <span className={`badge cat-${category(m)}`}>
              <StateIcon category={category(m)} />
              {stateLabel(m)}
            </span>
          ) : null}
        </div>
        <button ref={closeRef} type="button" className="close" onClick={onClose} aria-label="Close details" title="Close (Escape)">
          ×
        </button>
      </header>
      {!m ? (
        <p className="detail-body muted">{loaded ? `No machine ${mac} in this fleet.` : 'Loading…'}</p>
      ) : (
        <div className="detail-body">
          <Facts m={m} />
          {m.state === 'failed' ? (
            <div className="problem cat-failed" role="note">
              <StateIcon category="failed" />
              <div>
                <strong>Failed{m.failure?.phase ? ` in ${phaseLabel(m.failure.phase)}` : ''}</strong>
                <p>{m.failure?.reason ?? 'no reason reported'}</p>
              </div>
            </div>
          ) : m.state === 'stalled' ? (
            <div className="problem cat-stalled" role="note">
              <StateIcon category="stalled" />
              <div>
                <strong>Stalled in {phaseLabel(m.stalledIn ?? m.phase)}</strong>
                <p>
                  No report for longer than this phase takes; last heard from at {formatTime(m.lastSeen)}. Check its screen, or redeploy it.
                </p>
              </div>
            </div>
          ) : null}
          <Actions m={m} />
          <Phases m={m} />
          <EditRecord m={m} profiles={profiles} />
          <div role="tablist" aria-label="Machine records" className="tabs" onKeyDown={onTabKey}>
            {tabs.map((t) => (
              <button
                key={t.id}
                id={`${tabsId}-${t.id}`}
                type="button"
                role="tab"
                aria-selected={tab === t.id}
                aria-controls={`${tabsId}-panel`}
                tabIndex={tab === t.id ? 0 : -1}
                onClick={() => setTab(t.id)}
              >
                {t.label}
              </button>
            ))}
          </div>
          <div role="tabpanel" id={`${tabsId}-panel`} aria-labelledby={`${tabsId}-${tab}`} className="tabpanel">
            {tab === 'timeline' ? (
              <Timeline mac={mac} resyncs={resyncs} />
            ) : (
              <TextFile key={`${mac}-${tab}`} path={machinePath(mac, tab === 'answer' ? '/answer' : '/script')} kind={tab} />
            )}
          </div>
        </div>
      )}
    </div>
  );
}

function Facts({ m }: { m: MachineView }) {
  const running = isRunning(m);
  const ended = m.finishedAt ?? m.lastSeen;
  return (
    <dl className="facts">
      <div>
        <dt>MAC</dt>
        <dd className="mono">{m.mac}</dd>
      </div>
      <div>
        <dt>Address</dt>
        <dd className="mono">{m.address ?? '—'}</dd>
      </div>
      <div>
        <dt>Firmware</dt>
        <dd>{firmwareLabel(m.firmware)}</dd>
      </div>
      <div>
        <dt>Profile</dt>
        <dd>
          {m.profile ?? '—'}
          {m.media ? <span className="muted"> ({m.media})</span> : null}
        </dd>
      </div>
      <div>
        <dt>Group</dt>
        <dd>{m.group ?? '—'}</dd>
      </div>
      <div>
        <dt>Inventory</dt>
        <dd>{m.known ? 'known' : 'unknown'}{m.approval ? ` · ${m.approval}` : ''}</dd>
      </div>
      <div>
        <dt>Attempt</dt>
        <dd>
          #{m.attempt}
          {m.redeploy ? <span className="tag">redeploy at next boot</span> : null}
          {m.installing ? <span className="tag">holds a slot</span> : null}
        </dd>
      </div>
      <div>
        <dt>Started</dt>
        <dd>{formatWhen(m.startedAt)}</dd>
      </div>
      <div>
        <dt>{m.state === 'done' ? 'Finished' : m.state === 'failed' ? 'Failed at' : 'Last seen'}</dt>
        <dd>{formatWhen(m.finishedAt ?? m.lastSeen)}</dd>
      </div>
      <div>
        <dt>In phase</dt>
        <dd className="num">
          <Elapsed from={m.state === 'idle' || m.state === 'done' ? null : m.phaseSince} until={running ? null : ended} />
        </dd>
      </div>
      <div>
        <dt>Total</dt>
        <dd className="num">
          <Elapsed from={m.state === 'idle' ? null : m.startedAt} until={running ? null : ended} />
        </dd>
      </div>
    </dl>
  );
}

const ACTIONS: { action: MachineAction; label: string; done: string; why: (m: MachineView) => string | null }[] = [
  { action: 'redeploy', label: 'Redeploy', done: 'Marked for redeploy: it installs again at its next network boot.', why: () => null },
  {
    action: 'approve',
    label: 'Approve',
    done: 'Approved: it installs at its next network boot.',
    why: (m) => (m.approval === 'approved' ? 'already approved' : m.approval == null ? 'this machine needs no approval' : null),
  },
  {
    action: 'deny',
    label: 'Deny',
    done: 'Denied: it never installs.',
    why: (m) => (m.approval === 'denied' ? 'already denied' : m.approval == null ? 'this machine needs no approval' : null),
  },
  { action: 'done', label: 'Mark done', done: 'Marked done.', why: (m) => (m.state === 'done' ? 'already done' : null) },
];

function Actions({ m }: { m: MachineView }) {
  const token = useToken();
  const [busy, setBusy] = useState<string | null>(null);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const hintId = useId();
  useEffect(() => setResult(null), [m.mac]);
  useClearOk(result, setResult);

  const run = async (label: string, done: string, f: () => Promise<unknown>) => {
    setBusy(label);
    setResult(null);
    try {
      const answer = await f();
      if (answer && typeof answer === 'object' && 'mac' in answer) fleet.applyMachine(answer as MachineView);
      setResult({ ok: true, text: done });
    } catch (e) {
      const text = e instanceof ApiError ? e.message : String(e);
      setResult({ ok: false, text: `${label} refused: ${text}` });
    } finally {
      setBusy(null);
    }
  };

  const started = m.startedAt != null && m.state !== 'idle';
  return (
    <div className="actions">
      <div className="buttons" role="group" aria-label="Actions" aria-describedby={token ? undefined : hintId}>
        {ACTIONS.map((a) => {
          const why = a.why(m);
          return (
            <button
              key={a.action}
              type="button"
              className={a.action === 'deny' ? 'danger' : a.action === 'approve' ? 'primary' : undefined}
              disabled={!token || busy != null || why != null}
              title={!token ? TOKEN_HINT : (why ?? undefined)}
              onClick={() => run(a.label, a.done, () => machineAction(m.mac, a.action))}
            >
              {busy === a.label ? `${a.label}…` : a.label}
            </button>
          );
        })}
        <button
          type="button"
          disabled={!token || busy != null || started}
          title={!token ? TOKEN_HINT : started ? 'it is already up' : 'send Wake-on-LAN to this machine'}
          onClick={() => run('Wake', 'Wake-on-LAN sent.', () => wake([m.mac]))}
        >
          {busy === 'Wake' ? 'Wake…' : 'Wake'}
        </button>
      </div>
      {!token ? (
        <p id={hintId} className="hint">
          Read-only: {TOKEN_HINT} (…/#token=…).
        </p>
      ) : null}
      <div className={`result ${result?.ok === false ? 'error' : 'ok'}`} role={result?.ok === false ? 'alert' : 'status'}>
        {result?.text ?? ''}
      </div>
    </div>
  );
}

/** How long each phase took this attempt; the current one ticks. */
function Phases({ m }: { m: MachineView }) {
  useSecond();
  const now = serverNow();
  const running = isRunning(m);
  const current = m.state === 'failed' ? (m.failure?.phase ?? m.phase) : m.state === 'stalled' ? (m.stalledIn ?? m.phase) : m.phase;
  const reached = phaseIndex(m.phase);
  const times = PHASES.map((p) => {
    let ms = m.durations[p] ?? null;
    if (p === m.phase && m.phaseSince != null && m.state !== 'done' && m.state !== 'idle') ms = (running ? now : (m.finishedAt ?? m.lastSeen)) - m.phaseSince;
    return ms;
  });
  const max = Math.max(1, ...times.map((t) => t ?? 0));
  return (
    <section className="phases" aria-label="Phases">
      <h3>Phases</h3>
      <ol>
        {PHASES.map((p, i) => {
          const ms = times[i];
          const isCurrent = p === current && m.state !== 'done' && m.state !== 'idle';
          const status =
            isCurrent && m.state === 'failed'
              ? 'failed'
              : isCurrent && m.state === 'stalled'
                ? 'stalled'
                : isCurrent
                  ? 'current'
                  : i <= reached || ms != null
                    ? 'past'
                    : 'future';
          const statusText = { failed: 'failed here', stalled: 'stalled here', current: 'now', past: 'done', future: 'not reached' }[status];
          return (
            <li key={p} className={`phase ph-${status}`} aria-current={isCurrent ? 'step' : undefined}>
              <span className="ph-mark" aria-hidden="true">
                {{ failed: '✕', stalled: '!', current: '▶', past: '✓', future: '·' }[status]}
              </span>
              <span className="ph-name">{phaseLabel(p)}</span>
              <span className="ph-bar" aria-hidden="true">
                <span style={{ transform: `scaleX(${ms == null ? 0 : Math.max(0.01, ms / max)})` }} />
              </span>
              <span className="ph-time num">{ms == null ? '' : formatDuration(ms)}</span>
              <span className="sr-only">{statusText}</span>
            </li>
          );
        })}
      </ol>
    </section>
  );
}

const NAME_RE = /^(?!\d+$)[A-Za-z0-9-]{1,15}$/;

/** PUT /api/machines/:mac: name, profile, group of its inventory record. */
function EditRecord({ m, profiles }: { m: MachineView; profiles: readonly string[] }) {
  const token = useToken();
  const [name, setName] = useState(m.name ?? '');
  const [profile, setProfile] = useState(m.profile ?? '');
  const [group, setGroup] = useState(m.group ?? '');
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  useEffect(() => {
    setName(m.name ?? '');
    setProfile(m.profile ?? '');
    setGroup(m.group ?? '');
    setResult(null);
  }, [m.mac, m.name, m.profile, m.group]);

  const nameError = name && !NAME_RE.test(name) ? 'a computer name is 1-15 letters, digits or hyphens, not all digits' : null;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (nameError) return;
    const body: Record<string, string> = {};
    if (name && name !== (m.name ?? '')) body.name = name;
    if (profile && profile !== (m.profile ?? '')) body.profile = profile;
    if (group !== (m.group ?? '')) body.group = group;
    if (!Object.keys(body).length) return setResult({ ok: true, text: 'Nothing changed.' });
    setBusy(true);
    try {
      fleet.applyMachine(await send<MachineView>('PUT', machinePath(m.mac), body));
      setResult({ ok: true, text: 'Saved.' });
    } catch (err) {
      setResult({ ok: false, text: `Not saved: ${err instanceof ApiError ? err.message : String(err)}` });
    } finally {
      setBusy(false);
    }
  };

  const options = profiles.includes(profile) || !profile ? profiles : [profile, ...profiles];
  return (
    <details className="edit">
      <summary>Inventory record</summary>
      <form onSubmit={submit} className="edit-form">
        <label htmlFor={`${id}-name`}>Computer name</label>
        <input
          id={`${id}-name`}
          value={name}
          maxLength={15}
          onChange={(e) => setName(e.target.value)}
          aria-invalid={nameError ? true : undefined}
          aria-describedby={nameError ? `${id}-err` : undefined}
        />
        <label htmlFor={`${id}-profile`}>Profile</label>
        <select id={`${id}-profile`} value={profile} onChange={(e) => setProfile(e.target.value)}>
          {!profile ? <option value="">(default)</option> : null}
          {options.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
        <label htmlFor={`${id}-group`}>Group</label>
        <input id={`${id}-group`} value={group} onChange={(e) => setGroup(e.target.value)} />
        <div className="edit-foot">
          <button type="submit" disabled={!token || busy || nameError != null} title={token ? undefined : TOKEN_HINT}>
            Update record
          </button>
          <span id={`${id}-err`} className={nameError || result?.ok === false ? 'error' : 'ok'} role={result?.ok === false ? 'alert' : 'status'}>
            {nameError ?? result?.text ?? ''}
          </span>
        </div>
      </form>
    </details>
  );
}

function mergeEvents(a: readonly EventView[], b: readonly EventView[]): EventView[] {
  const byId = new Map<number, EventView>();
  for (const e of a) byId.set(e.id, e);
  for (const e of b) byId.set(e.id, e);
  return [...byId.values()].sort((x, y) => x.id - y.id);
}

const MAX_SHOWN = 1000;

/** The machine's events: fetched once (and after each reconnect), then appended from the stream. */
const Timeline = memo(function Timeline({ mac, resyncs }: { mac: string; resyncs: number }) {
  const [events, setEvents] = useState<EventView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let fetched: EventView[] | null = null;
    let live: EventView[] = [];
    let cancelled = false;
    setError(null);
    // Listen before fetching: an event appended meanwhile is in one list or the other.
    const off = fleet.onEvents((batch) => {
      const mine = batch.filter((e) => e.mac === mac);
      if (!mine.length) return;
      live = live.concat(mine);
      if (fetched) setEvents(mergeEvents(fetched, live));
    });
    machineEvents(mac).then(
      (list) => {
        if (cancelled) return;
        fetched = list;
        setEvents(mergeEvents(list, live));
      },
      (e: unknown) => {
        if (!cancelled) setError(e instanceof Error ? e.message : String(e));
      },
    );
    return () => {
      cancelled = true;
      off();
    };
  }, [mac, resyncs]);
  useEffect(() => setEvents(null), [mac]);

  if (error) return <p className="error" role="alert">Could not read its events: {error}</p>;
  if (!events) return <p className="muted">Loading events…</p>;
  // Newest first: the latest step is what the admin looks for.
  const shown = events.slice(-MAX_SHOWN).reverse();
  return (
    <>
      <ol className="timeline" aria-label="Timeline">
        {shown.map((e, i) => {
          const older = shown[i + 1];
          const cat = e.phase === 'failed' ? 'failed' : e.phase === 'stalled' ? 'stalled' : e.phase === 'done' ? 'done' : '';
          return (
            <li key={e.id} className={`ev ${cat ? `cat-${cat}` : ''}`} data-phase={e.phase}>
              <time dateTime={new Date(e.time).toISOString()} title={new Date(e.time).toLocaleString()}>
                {formatTime(e.time)}
              </time>
              <span className="ev-delta num" title="time since the event before">
                {older ? `+${formatDuration(e.time - older.time)}` : ''}
              </span>
              <span className={`ev-phase${isPhase(e.phase) ? ' is-phase' : ''}`}>{isPhase(e.phase) ? phaseLabel(e.phase) : e.phase}</span>
              <span className="ev-source">{e.source}</span>
              <span className="ev-detail">{e.detail ?? ''}</span>
            </li>
          );
        })}
      </ol>
      {events.length === 0 ? <p className="muted">No events yet.</p> : null}
      {events.length > MAX_SHOWN ? <p className="muted">The {events.length - MAX_SHOWN} oldest events are not shown.</p> : null}
    </>
  );
});

/** The answer file or boot script, as the server renders them (passwords masked there). */
function TextFile({ path, kind }: { path: string; kind: 'answer' | 'script' }) {
  const [text, setText] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [copied, setCopied] = useState<string>('');
  const [reload, setReload] = useState(0);
  const preRef = useRef<HTMLPreElement>(null);
  useEffect(() => {
    let cancelled = false;
    setError(null);
    getText(path).then(
      (t) => !cancelled && setText(t),
      (e: unknown) => !cancelled && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      cancelled = true;
    };
  }, [path, reload]);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text ?? '');
      setCopied('Copied.');
    } catch {
      // No clipboard outside a secure context: select the text for Ctrl+C instead.
      const sel = window.getSelection();
      if (preRef.current && sel) {
        sel.selectAllChildren(preRef.current);
        setCopied('Selected: press Ctrl+C.');
      }
    }
  };

  const what = kind === 'answer' ? 'answer file' : 'boot script';
  const lines = text ? text.replace(/\n$/, '').split('\n').length : 0;
  if (error) return <p className="error" role="alert">Could not read its {what}: {error}</p>;
  if (text === undefined) return <p className="muted">Loading {what}…</p>;
  if (text === null)
    return <p className="muted">{kind === 'answer' ? 'No answer file yet: it is rendered at the machine’s first network boot.' : 'No boot script yet: it is made at the machine’s first network boot.'}</p>;
  return (
    <div className="file">
      <div className="file-bar">
        <span className="muted">
          {lines} line{lines === 1 ? '' : 's'} · passwords masked
        </span>
        <button type="button" onClick={copy}>
          Copy
        </button>
        <button type="button" onClick={() => setReload((r) => r + 1)}>
          Reload
        </button>
        <a href={path} target="_blank" rel="noreferrer">
          Raw
        </a>
        <span role="status" className="ok">
          {copied}
        </span>
      </div>
      <pre ref={preRef} tabIndex={0} aria-label={kind === 'answer' ? 'Answer file' : 'Boot script'}>
        {kind === 'answer' ? <Xml text={text} /> : text}
      </pre>
    </div>
  );
}

/** Light XML colouring: tags, attribute names, values and comments, as text nodes (no HTML). */
function Xml({ text }: { text: string }) {
  const parts: ReactNode[] = [];
  const re = /(<!--[\s\S]*?-->)|(<\/?[\w:.-]+)|([\w:.-]+)(=)("[^"]*"|'[^']*')|(\/?>)/g;
  let last = 0;
  let k = 0;
  for (let match = re.exec(text); match; match = re.exec(text)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    if (match[1]) parts.push(<span key={k++} className="x-comment">{match[1]}</span>);
    else if (match[2]) parts.push(<span key={k++} className="x-tag">{match[2]}</span>);
    else if (match[3]) {
      parts.push(<span key={k++} className="x-attr">{match[3]}</span>, match[4], <span key={k++} className="x-value">{match[5]}</span>);
    } else if (match[6]) parts.push(<span key={k++} className="x-tag">{match[6]}</span>);
    last = re.lastIndex;
  }
  parts.push(text.slice(last));
  return <>{parts}</>;
}
