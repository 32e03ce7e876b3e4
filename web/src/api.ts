// The API of docs/api.md: reads without a token, changes with `Authorization: Bearer TOKEN`. URLs
// are relative to the page, so that a reverse proxy may serve the dashboard under a prefix.
import { useEffect, useSyncExternalStore } from 'react';
import type { DeploymentView, EventView, MachineView } from './fleet.ts';

const TOKEN_KEY = 'overnight-token';

export const TOKEN_HINT = 'the admin token is missing or wrong: open the URL overnight printed';

/**
 * Takes the token from `#token=…` (the URL overnight prints), keeps it for this tab and removes it
 * from the address bar, so that it is neither bookmarked nor shared with a copied link.
 */
export function takeTokenFromUrl(): void {
  const hash = location.hash.replace(/^#/, '');
  if (!hash) return;
  const params = new URLSearchParams(hash);
  const token = params.get('token');
  if (token == null) return;
  params.delete('token');
  if (token.trim()) setToken(token.trim());
  const rest = params.toString();
  history.replaceState(history.state, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
}

const tokenListeners = new Set<() => void>();

function readToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled: the token lives in memory only
  }
}

let memoryToken: string | null = readToken();

export function getToken(): string | null {
  return memoryToken;
}

export function setToken(token: string | null): void {
  memoryToken = token;
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // memory only
  }
  for (const l of tokenListeners) l();
}

export function useToken(): string | null {
  return useSyncExternalStore(
    (l) => {
      tokenListeners.add(l);
      return () => tokenListeners.delete(l);
    },
    getToken,
  );
}

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
    this.name = 'ApiError';
  }
}

async function failure(res: Response): Promise<ApiError> {
  if (res.status === 401) return new ApiError(401, TOKEN_HINT);
  let message = `${res.status} ${res.statusText}`.trim();
  try {
    const body: unknown = await res.json();
    if (body && typeof body === 'object' && 'error' in body && typeof body.error === 'string') message = body.error;
  } catch {
    // not JSON: the status line says enough
  }
  return new ApiError(res.status, message);
}

async function request(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (method !== 'GET') {
    const token = getToken();
    // Refused here rather than by the server: same message, no request.
    if (!token) throw new ApiError(401, TOKEN_HINT);
    headers.Authorization = `Bearer ${token}`;
  }
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, `overnight did not answer (${(e as Error).message}): is it still running?`);
  }
  if (!res.ok) throw await failure(res);
  return res;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await (await request('GET', path)).json()) as T;
}

/** A text resource, or null on 404 (an answer file before the machine's first boot). */
export async function getText(path: string): Promise<string | null> {
  try {
    return await (await request('GET', path)).text();
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

export async function send<T>(method: 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
  const res = await request(method, path, body);
  const text = await res.text();
  return (text ? JSON.parse(text) : null) as T;
}

export const machinePath = (mac: string, rest = ''): string => `api/machines/${encodeURIComponent(mac)}${rest}`;

export type MachineAction = 'redeploy' | 'approve' | 'deny' | 'done';

export const machineAction = (mac: string, action: MachineAction): Promise<MachineView> => send('POST', machinePath(mac, `/${action}`));

export const machineEvents = (mac: string): Promise<EventView[]> => getJson(machinePath(mac, '/events'));

export interface DeploymentEdit {
  window?: string | null;
  cap?: number | null;
  wake?: boolean;
  group?: string | null;
  machines?: string[];
}

export const putDeployment = (edit: DeploymentEdit): Promise<DeploymentView> => send('PUT', 'api/deployment', edit);
export const deploymentCommand = (cmd: 'start' | 'stop'): Promise<DeploymentView> => send('POST', `api/deployment/${cmd}`);
export const wake = (macs?: string[]): Promise<unknown> => send('POST', 'api/deployment/wake', macs ? { macs } : {});

export interface MediaInfo {
  id: string;
  release: string;
  arch: string;
  label: string;
  editions: { index: number; name: string; editionId: string }[];
  folder: string;
}

export interface ProfileInfo {
  name: string;
  media: string;
  edition: string;
  lint: { errors: number; warnings: number; diagnostics: { code: string; severity: string; message: string }[] };
}

/** GET /api/state; the fields beside media and profiles are shown as they come. */
export interface ServerState {
  version?: string;
  interface?: unknown;
  dhcp?: unknown;
  http?: unknown;
  share?: unknown;
  media?: MediaInfo[];
  profiles?: ProfileInfo[];
  deployment?: DeploymentView | null;
  counts?: Record<string, number>;
}

/** A success message goes after a while; a refusal stays until the next try. */
export function useClearOk(result: { ok: boolean } | null, set: (r: null) => void): void {
  useEffect(() => {
    if (!result?.ok) return;
    const t = setTimeout(() => set(null), 8000);
    return () => clearTimeout(t);
  }, [result, set]);
}
