// The share's one login: made once per state folder, kept in credentials.json (mode 0600), reused
// at every start so that answer files and start scripts already handed out stay valid.
import { randomInt } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ShareCredentials {
  user: string;
  password: string;
}

export const SHARE_USER = 'overnight';
const PASSWORD_LENGTH = 20;
// Letters and digits only: the password goes onto a `net use` command line and into .cmd files,
// where cmd.exe gives meaning to % ^ & | < > " and more.
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function generatePassword(length = PASSWORD_LENGTH): string {
  let s = '';
  for (let k = 0; k < length; k++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

function valid(c: unknown): c is ShareCredentials {
  const o = c as Partial<ShareCredentials> | null;
  return typeof o?.user === 'string' && /^[A-Za-z0-9_.-]{1,32}$/.test(o.user) && typeof o.password === 'string' && /^[A-Za-z0-9]{12,128}$/.test(o.password);
}

/** Reads <stateDir>/credentials.json, or makes and stores new credentials when it is missing or unusable. */
export async function loadOrCreateCredentials(stateDir: string): Promise<ShareCredentials> {
  const file = join(stateDir, 'credentials.json');
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (text !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (valid(parsed)) {
      await chmod(file, 0o600);
      return { user: parsed.user, password: parsed.password };
    }
  }
  await mkdir(stateDir, { recursive: true });
  const creds: ShareCredentials = { user: SHARE_USER, password: generatePassword() };
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(creds, null, 2) + '\n', { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
  return creds;
}
