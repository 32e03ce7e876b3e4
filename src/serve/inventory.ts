// The inventory: which machines exist, what each is called, and what it gets. A CSV file (what a
// spreadsheet or an asset database exports) with a header row:
//
//   mac,name,profile,media,join.ou,productKey
//   00:1a:2b:3c:4d:5e,LAB-PC-01,lab,win7,"OU=Lab,DC=corp,DC=example,DC=com",
//
// mac is required; name, profile and media are optional; every other column is a profile field
// (dotted for nested ones) that overrides the profile for that machine. Empty cells override nothing.
import { parse as parseYamlScalar } from 'yaml';
import { normaliseMac } from '../net/http/path.ts';
import { ServeError } from './errors.ts';

export interface InventoryMachine {
  mac: string;
  name: string | undefined;
  profile: string | undefined;
  media: string | undefined;
  /** Profile overrides from the other columns, as a nested object. */
  overrides: Record<string, unknown>;
  /** 1-based position in the file, for {n} in computer names. */
  n: number;
  /** Line in the file, for messages. */
  line: number;
}

export const MAX_INVENTORY_BYTES = 16 * 1024 * 1024;
const FIXED = new Set(['mac', 'name', 'profile', 'media']);

/** RFC 4180 fields: quoted fields may hold commas, quotes ("") and line breaks. */
export function parseCsv(text: string, file: string): { fields: string[]; line: number }[] {
  const rows: { fields: string[]; line: number }[] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a BOM, as Excel writes
  let fieldStarted = false;
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"' && !fieldStarted) {
      quoted = true;
      fieldStarted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
      fieldStarted = false;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      if (row.length > 1 || row[0] !== '') rows.push({ fields: row, line: rowLine });
      row = [];
      field = '';
      fieldStarted = false;
      line++;
      rowLine = line;
    } else {
      field += c;
      fieldStarted = true;
    }
  }
  if (quoted) throw new ServeError('E_INVENTORY', `${file}:${rowLine}: a quoted field is not closed`, { file, line: rowLine });
  if (fieldStarted || row.length) {
    row.push(field);
    rows.push({ fields: row, line: rowLine });
  }
  return rows;
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let o = obj;
  for (const k of path.slice(0, -1)) {
    const next = o[k];
    if (next === undefined) o = o[k] = {} as Record<string, unknown>;
    else o = next as Record<string, unknown>;
  }
  o[path[path.length - 1]!] = value;
}

export function parseInventory(text: string, file = 'machines.csv'): InventoryMachine[] {
  if (text.length > MAX_INVENTORY_BYTES) throw new ServeError('E_INVENTORY', `${file}: larger than any inventory (limit ${MAX_INVENTORY_BYTES} bytes)`, { file });
  const rows = parseCsv(text, file);
  if (!rows.length) return [];
  const header = rows[0]!.fields.map((h) => h.trim());
  const macCol = header.findIndex((h) => h.toLowerCase() === 'mac');
  if (macCol < 0) throw new ServeError('E_INVENTORY', `${file}:1: the header row has no "mac" column (columns: ${header.join(', ')})`, { file, line: 1 });
  for (const [i, h] of header.entries()) {
    if (!h) throw new ServeError('E_INVENTORY', `${file}:1: column ${i + 1} has no name`, { file, line: 1 });
    if (!FIXED.has(h.toLowerCase()) && !/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/.test(h)) {
      throw new ServeError('E_INVENTORY', `${file}:1: column "${h}" is neither mac, name, profile, media nor a profile field (e.g. computerName, join.ou)`, { file, line: 1 });
    }
    if (header.indexOf(h) !== i) throw new ServeError('E_INVENTORY', `${file}:1: column "${h}" appears twice`, { file, line: 1 });
  }
  const seen = new Map<string, number>();
  const out: InventoryMachine[] = [];
  for (const { fields, line } of rows.slice(1)) {
    if (fields.length > header.length) throw new ServeError('E_INVENTORY', `${file}:${line}: ${fields.length} fields, the header has ${header.length}`, { file, line });
    const cell = (name: string) => {
      const i = header.findIndex((h) => h.toLowerCase() === name);
      const v = i < 0 ? undefined : fields[i]?.trim();
      return v ? v : undefined;
    };
    const rawMac = fields[macCol]?.trim() ?? '';
    const mac = normaliseMac(rawMac);
    if (!mac) throw new ServeError('E_INVENTORY', `${file}:${line}: "${rawMac}" is not a MAC address (e.g. 00:1a:2b:3c:4d:5e)`, { file, line });
    const prev = seen.get(mac);
    if (prev) throw new ServeError('E_INVENTORY', `${file}:${line}: ${mac} is already on line ${prev}`, { file, line });
    seen.set(mac, line);
    const overrides: Record<string, unknown> = {};
    for (const [i, h] of header.entries()) {
      if (FIXED.has(h.toLowerCase())) continue;
      const v = fields[i]?.trim();
      if (!v) continue;
      let value: unknown;
      try {
        value = parseYamlScalar(v);
      } catch {
        value = v;
      }
      // Values that read as something else in YAML (a date, a list) stay the text that was written.
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') value = v;
      setPath(overrides, h.split('.'), value);
    }
    out.push({ mac, name: cell('name'), profile: cell('profile'), media: cell('media'), overrides, n: out.length + 1, line });
  }
  return out;
}
