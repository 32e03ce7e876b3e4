// Passwords as Setup stores them with <PlainText>false</PlainText>: base64 of the UTF-16LE bytes
// of the password followed by the name of the element that holds it ("AdministratorPassword" for
// UserAccounts/AdministratorPassword, "Password" for LocalAccount, AutoLogon and OfflineUserAccounts
// passwords). This hides a password from a glance; it is not encryption.

export type PasswordElement = 'AdministratorPassword' | 'Password';

export function encodePassword(password: string, element: PasswordElement): string {
  return Buffer.from(password + element, 'utf16le').toString('base64');
}

export type Decoded = { ok: true; password: string } | { ok: false; reason: string };

/** Reverses encodePassword. Unpadded base64 is accepted, as Setup accepts it. */
export function decodePassword(value: string, element: PasswordElement): Decoded {
  const v = value.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v)) return { ok: false, reason: 'not base64' };
  const body = v.replace(/=+$/, '');
  if (body.length % 4 === 1) return { ok: false, reason: 'not base64 (impossible length)' };
  const bytes = Buffer.from(body, 'base64');
  if (bytes.length % 2) return { ok: false, reason: 'an odd number of bytes: not UTF-16 text' };
  const text = bytes.toString('utf16le');
  if (!text.endsWith(element)) {
    const other: PasswordElement = element === 'Password' ? 'AdministratorPassword' : 'Password';
    if (text.endsWith(other)) return { ok: false, reason: `encoded for <${other}>, not <${element}>: Setup will set a different password` };
    return { ok: false, reason: `does not end in "${element}" once decoded: Setup will not read it back` };
  }
  return { ok: true, password: text.slice(0, -element.length) };
}
