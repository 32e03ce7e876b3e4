// What the dashboard must not show or leak: the admin token that guards every change, and the
// passwords inside a machine's answer file and start script.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const MASK = '********';

/**
 * The admin token in `<data>/admin-token` (mode 0600), made on first start. Returns whether it was
 * made now, so that it is printed once in full and not on every start.
 */
export async function loadOrCreateToken(dataDir: string): Promise<{ token: string; file: string; created: boolean }> {
  const file = join(dataDir, 'admin-token');
  try {
    const token = (await readFile(file, 'utf8')).trim();
    if (/^[A-Za-z0-9_-]{32,}$/.test(token)) return { token, file, created: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(dataDir, { recursive: true });
  const token = randomBytes(24).toString('base64url');
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return { token, file, created: true };
}

/**
 * An answer file with its secrets masked: every *Password element's value (AdministratorPassword,
 * AutoLogon, LocalAccounts, DomainJoin Credentials) and product keys except their last group.
 */
export function maskAnswerFile(xml: string): string {
  return xml
    .replace(/(<((?:[\w.-]+:)?)(\w*Password)\b[^>]*>)([\s\S]*?)(<\/\2\3>)/g, (_m, open: string, _p, _n, inner: string, close: string) => {
      const masked = /<(?:[\w.-]+:)?Value\b/.test(inner) ? inner.replace(/(<((?:[\w.-]+:)?)Value\b[^>]*>)([\s\S]*?)(<\/\2Value>)/g, `$1${MASK}$4`) : inner.trim() === '' ? inner : MASK;
      return `${open}${masked}${close}`;
    })
    .replace(/(<((?:[\w.-]+:)?)(ProductKey|Key)\b[^>]*>)\s*([A-Za-z0-9]{5}(?:-[A-Za-z0-9]{5}){4})\s*(<\/\2\3>)/g, (_m, open: string, _p, _n, key: string, close: string) => `${open}XXXXX-XXXXX-XXXXX-XXXXX-${key.slice(-5)}${close}`);
}

/** Text with each secret replaced by the mask (the share password inside a start script). */
export function maskSecret(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join(MASK);
  return out;
}
