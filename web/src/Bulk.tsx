// Retrying every failed machine in view at once (a redeploy each), after a confirmation: at 3 a.m.
// forty machines that failed on one missing driver are fixed once, not forty times.
import { useState } from 'react';
import { ApiError, TOKEN_HINT, machineAction, useClearOk, useToken } from './api.ts';
import type { MachineView } from './fleet.ts';

const PARALLEL = 4;

export function RetryFailed({ rows }: { rows: readonly MachineView[] }) {
  const token = useToken();
  const [confirming, setConfirming] = useState(false);
  const [progress, setProgress] = useState<string | null>(null);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  useClearOk(result, setResult);
  const failed = rows.filter((m) => m.state === 'failed' && !m.redeploy);
  if (!failed.length && !progress && !result) return null;

  const run = async () => {
    setConfirming(false);
    setResult(null);
    const todo = failed.map((m) => m.mac);
    let done = 0;
    const errors: string[] = [];
    setProgress(`Retrying 0/${todo.length}…`);
    const worker = async () => {
      for (let mac = todo.shift(); mac; mac = todo.shift()) {
        try {
          await machineAction(mac, 'redeploy');
        } catch (e) {
          errors.push(`${mac}: ${e instanceof ApiError ? e.message : String(e)}`);
          // One refusal for the token is the same for all: stop there.
          if (e instanceof ApiError && e.status === 401) todo.length = 0;
        }
        setProgress(`Retrying ${++done}/${failed.length}…`);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    setProgress(null);
    setResult(
      errors.length
        ? { ok: false, text: `${done - errors.length} of ${failed.length} marked; refused: ${errors.slice(0, 3).join('; ')}${errors.length > 3 ? ` (+${errors.length - 3})` : ''}` }
        : { ok: true, text: `${done} machines reinstall at their next network boot.` },
    );
  };

  return (
    <span className="bulk">
      {confirming ? (
        <>
          <span>Redeploy {failed.length} failed machines at their next network boot?</span>
          <button type="button" className="primary" onClick={run}>
            Yes, retry {failed.length}
          </button>
          <button type="button" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </>
      ) : failed.length ? (
        <button type="button" disabled={!token || progress != null} title={token ? 'redeploy every failed machine shown' : TOKEN_HINT} onClick={() => setConfirming(true)}>
          Retry {failed.length} failed…
        </button>
      ) : null}
      <span className={result?.ok === false ? 'error' : 'ok'} role={result?.ok === false ? 'alert' : 'status'}>
        {progress ?? result?.text ?? ''}
      </span>
    </span>
  );
}
