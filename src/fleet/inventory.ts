// The inventory: which machines exist, what each is called, what it gets, and which group it is
// in (a deployment installs "a list or group of machines"). Two forms, read and written alike:
//
// CSV (what a spreadsheet or an asset database exports), with a header row:
//
//   mac,name,profile,media,group,join.ou,productKey
//   00:1a:2b:3c:4d:5e,LAB-PC-01,lab,win7,room-101,"OU=Lab,DC=corp,DC=example,DC=com",
//
//   mac is required; name, profile, media and group are optional; every other column is a profile
//   field (dotted for nested ones) that overrides the profile for that machine. Empty cells
//   override nothing.
//
// YAML, where overrides may also be lists (extra commands, apps):
//
//   machines:
//     - mac: 00:1a:2b:3c:4d:5e
//       name: LAB-PC-01
//       group: room-101
//       overrides: { join: { ou: "OU=Lab,DC=corp,DC=example,DC=com" } }
import { readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { Document, LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, parse as parseYamlScalar, type Node as YamlNode } from 'yaml';
import { normaliseMac } from '../net/http/path.ts';
import { ServeError } from '../serve/errors.ts';

export interface InventoryMachine {
  mac: string;
  name: string | undefined;
  profile: string | undefined;
  media: string | undefined;
  /** The machine's group, for deployments of a group. */
  group: string | undefined;
  /** Profile overrides from the other columns, as a nested object. */
  overrides: Record<string, unknown>;
  /** 1-based position in the file, for {n} in computer names. */
  n: number;
  /** Line in the file, for messages. */
  line: number;
}

export const MAX_INVENTORY_BYTES = 16 * 1024 * 1024;
/** The reserved columns (CSV) and keys (YAML); everything else is a profile field. */
const FIXED = ['mac', 'name', 'profile', 'media', 'group'] as const;
const FIXED_SET: ReadonlySet<string> = new Set(FIXED);
/** One segment of a profile field's path, as in a dotted column name. */
const FIELD = /^[A-Za-z][A-Za-z0-9]*$/;

const fail = (file: string, line: number | undefined, message: string): never => {
  throw new ServeError('E_INVENTORY', `${file}${line ? `:${line}` : ''}: ${message}`, { file, line });
};

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
  if (quoted) fail(file, rowLine, 'a quoted field is not closed');
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

/** Why a computer name is refused (the API's rule: 1-15 of A-Z a-z 0-9 -, not all digits). */
export function inventoryNameProblem(name: string): string | undefined {
  if (name.length > 15) return `${name.length} characters; at most 15`;
  const bad = /[^A-Za-z0-9-]/.exec(name);
  if (bad) return `"${bad[0]}" is not a letter, digit or hyphen`;
  if (/^\d+$/.test(name)) return 'only digits (Windows refuses those)';
  return undefined;
}

/** Why a group name is refused: it is shown in the dashboard and chosen in deployments. */
function groupProblem(group: string): string | undefined {
  if (group.length > 64) return `${group.length} characters; at most 64`;
  if (!/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/.test(group)) return 'letters, digits, spaces, dots, hyphens and underscores, starting with a letter or digit';
  return undefined;
}

/**
 * The checks both forms share, in file order: a MAC, each once; a valid name and group. `seen`
 * maps MACs to the line they were first seen on.
 */
function checkMachine(m: Omit<InventoryMachine, 'mac' | 'n'> & { rawMac: string }, file: string, seen: Map<string, number>, at: { mac: number; name: number; group: number }): string {
  const mac = normaliseMac(m.rawMac);
  if (!mac) fail(file, at.mac, `"${m.rawMac}" is not a MAC address (e.g. 00:1a:2b:3c:4d:5e)`);
  const prev = seen.get(mac!);
  if (prev) fail(file, at.mac, `${mac} is already on line ${prev}`);
  seen.set(mac!, at.mac);
  const nameWhy = m.name === undefined ? undefined : inventoryNameProblem(m.name);
  if (nameWhy) fail(file, at.name, `computer name "${m.name}": ${nameWhy}`);
  const groupWhy = m.group === undefined ? undefined : groupProblem(m.group);
  if (groupWhy) fail(file, at.group, `group "${m.group}": ${groupWhy}`);
  return mac!;
}

/** A CSV cell as a profile value: a YAML scalar (1, true, "quoted"), or the text as written. */
function readCell(v: string): unknown {
  let value: unknown;
  try {
    value = parseYamlScalar(v);
  } catch {
    return v;
  }
  // Values that read as something else in YAML (a date, a list) stay the text that was written.
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : v;
}

export function parseInventory(text: string, file = 'machines.csv'): InventoryMachine[] {
  if (text.length > MAX_INVENTORY_BYTES) fail(file, undefined, `larger than any inventory (limit ${MAX_INVENTORY_BYTES} bytes)`);
  const rows = parseCsv(text, file);
  if (!rows.length) return [];
  const header = rows[0]!.fields.map((h) => h.trim());
  const macCol = header.findIndex((h) => h.toLowerCase() === 'mac');
  if (macCol < 0) fail(file, 1, `the header row has no "mac" column (columns: ${header.join(', ')})`);
  for (const [i, h] of header.entries()) {
    if (!h) fail(file, 1, `column ${i + 1} has no name`);
    if (!FIXED_SET.has(h.toLowerCase()) && !h.split('.').every((s) => FIELD.test(s))) {
      fail(file, 1, `column "${h}" is neither mac, name, profile, media, group nor a profile field (e.g. computerName, join.ou)`);
    }
    if (header.findIndex((o) => o.toLowerCase() === h.toLowerCase()) !== i) fail(file, 1, `column "${h}" appears twice`);
  }
  const col = (name: string) => header.findIndex((h) => h.toLowerCase() === name);
  const seen = new Map<string, number>();
  const out: InventoryMachine[] = [];
  for (const { fields, line } of rows.slice(1)) {
    if (fields.length > header.length) fail(file, line, `${fields.length} fields, the header has ${header.length}`);
    const cell = (name: string) => {
      const i = col(name);
      const v = i < 0 ? undefined : fields[i]?.trim();
      return v ? v : undefined;
    };
    const base = { rawMac: fields[macCol]?.trim() ?? '', name: cell('name'), profile: cell('profile'), media: cell('media'), group: cell('group'), overrides: {}, line };
    const mac = checkMachine(base, file, seen, { mac: line, name: line, group: line });
    const overrides: Record<string, unknown> = {};
    for (const [i, h] of header.entries()) {
      if (FIXED_SET.has(h.toLowerCase())) continue;
      const v = fields[i]?.trim();
      if (v) setPath(overrides, h.split('.'), readCell(v));
    }
    out.push({ mac, name: base.name, profile: base.profile, media: base.media, group: base.group, overrides, n: out.length + 1, line });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// YAML

/**
 * Reads a YAML inventory: `machines:` with a list of { mac, name, profile, media, group, overrides },
 * or that list alone. Every error names the file and line.
 */
export function parseInventoryYaml(text: string, file = 'machines.yaml'): InventoryMachine[] {
  if (text.length > MAX_INVENTORY_BYTES) fail(file, undefined, `larger than any inventory (limit ${MAX_INVENTORY_BYTES} bytes)`);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) fail(file, lc.linePos(err.pos[0]).line, err.message.split('\n')[0]!);
  const lineOf = (n: unknown, fallback = 1) => {
    const r = (n as { range?: [number, number, number] } | null)?.range;
    return r ? lc.linePos(r[0]).line : fallback;
  };
  const deref = (n: unknown): unknown => (isAlias(n) ? n.resolve(doc) : n);

  let list: unknown = deref(doc.contents);
  if (list === null || (isScalar(list) && list.value === null)) return []; // an empty file
  if (isMap(list)) {
    for (const pair of list.items) {
      const k = isScalar(pair.key) ? pair.key.value : undefined;
      if (k !== 'machines') fail(file, lineOf(pair.key), `"${String(k)}" is not a key of an inventory (it has one: machines)`);
    }
    list = deref(list.get('machines', true));
    if (list === undefined || (isScalar(list) && list.value === null)) return [];
  }
  if (!isSeq(list)) fail(file, lineOf(list), 'an inventory is a list of machines (machines: [{ mac: ..., name: ... }])');

  const seen = new Map<string, number>();
  const out: InventoryMachine[] = [];
  for (const rawItem of (list as { items: unknown[] }).items) {
    const item = deref(rawItem);
    const line = lineOf(item);
    if (!isMap(item)) fail(file, line, 'a machine is a map with mac and optionally name, profile, media, group, overrides');
    const fields = new Map<string, { node: unknown; line: number }>();
    for (const pair of (item as { items: { key: unknown; value: unknown }[] }).items) {
      const k = isScalar(pair.key) ? pair.key.value : undefined;
      if (typeof k !== 'string' || (!FIXED_SET.has(k) && k !== 'overrides')) {
        fail(file, lineOf(pair.key, line), `"${String(k)}" is not a machine's key (mac, name, profile, media, group, overrides; profile fields go under overrides)`);
      }
      fields.set(k as string, { node: deref(pair.value), line: lineOf(pair.value, lineOf(pair.key, line)) });
    }
    /** A reserved key's value as text: numbers and booleans as written (001122334455 keeps its zeros). */
    const text = (key: string): string | undefined => {
      const f = fields.get(key);
      if (!f || f.node === null || f.node === undefined) return undefined;
      if (!isScalar(f.node)) fail(file, f.line, `${key} is a single value, not a list or map`);
      const s = f.node as { value: unknown; source?: string };
      if (s.value === null) return undefined;
      const v = typeof s.value === 'string' ? s.value : (s.source ?? String(s.value));
      return v.trim() || undefined;
    };
    if (!fields.has('mac')) fail(file, line, 'this machine has no mac');
    const base = { rawMac: text('mac') ?? '', name: text('name'), profile: text('profile'), media: text('media'), group: text('group'), overrides: {}, line };
    const at = (k: string) => fields.get(k)?.line ?? line;
    const mac = checkMachine(base, file, seen, { mac: at('mac'), name: at('name'), group: at('group') });
    let overrides: Record<string, unknown> = {};
    const o = fields.get('overrides');
    if (o && o.node !== null && !(isScalar(o.node) && o.node.value === null)) {
      if (!isMap(o.node)) fail(file, o.line, 'overrides is a map of profile fields (e.g. { computerName: PC-01, join: { ou: ... } })');
      checkOverrideKeys(o.node as YamlNode, [], (p, n) => fail(file, lineOf(n, o.line), `overrides.${p}: ${FIXED_SET.has(p) ? `"${p}" is a machine's own key, not an override` : 'not a profile field name (letters and digits, starting with a letter)'}`));
      overrides = (o.node as YamlNode).toJS(doc, { maxAliasCount: 100 }) as Record<string, unknown>;
    }
    out.push({ mac, name: base.name, profile: base.profile, media: base.media, group: base.group, overrides, n: out.length + 1, line });
  }
  return out;
}

/** Keys of nested maps are profile fields (lists hold values, whose keys are not checked). */
function checkOverrideKeys(node: YamlNode, path: string[], bad: (path: string, node: unknown) => void): void {
  if (!isMap(node)) return;
  for (const pair of node.items) {
    const k = isScalar(pair.key) ? pair.key.value : undefined;
    const p = [...path, String(k)];
    if (typeof k !== 'string' || !FIELD.test(k) || (path.length === 0 && FIXED_SET.has(k))) bad(p.join('.'), pair.key);
    checkOverrideKeys(pair.value as YamlNode, p, bad);
  }
}

/** Reads an inventory file, CSV or YAML by its extension. */
export async function parseInventoryFile(path: string): Promise<InventoryMachine[]> {
  const ext = extname(path).toLowerCase();
  if (ext !== '.csv' && ext !== '.yaml' && ext !== '.yml') fail(path, undefined, `an inventory is a .csv, .yaml or .yml file, not "${ext || 'no extension'}"`);
  let text: string;
  try {
    if ((await stat(path)).size > MAX_INVENTORY_BYTES) fail(path, undefined, `larger than any inventory (limit ${MAX_INVENTORY_BYTES} bytes)`);
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof ServeError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    return fail(path, undefined, `cannot read the inventory: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? (e as Error).message)}`);
  }
  return ext === '.csv' ? parseInventory(text, path) : parseInventoryYaml(text, path);
}

// ---------------------------------------------------------------------------------------------
// Export

/** The fields of an inventory machine that an export writes (n and line come from the position). */
export type InventoryRecord = Pick<InventoryMachine, 'mac' | 'name' | 'profile' | 'media' | 'group' | 'overrides'>;

/** RFC 4180: a field is quoted when it holds a comma, a quote or a line break. */
function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** A profile value as a CSV cell that readCell gives back unchanged. */
function cellOf(v: unknown, where: () => string): string {
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') return Number.isNaN(v) ? '.nan' : v === Infinity ? '.inf' : v === -Infinity ? '-.inf' : String(v);
  // Text a spreadsheet would run as a formula (= + - @) is quoted YAML-style: the cell then starts
  // with a quote, which spreadsheets show as text, and parseInventory reads back the same string.
  if (typeof v === 'string') return v !== '' && v === v.trim() && !/^[=+\-@]/.test(v) && readCell(v) === v ? v : JSON.stringify(v);
  return fail(where(), undefined, `${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v} cannot be a CSV cell: export to YAML instead`);
}

/** Dotted paths to the non-map values of an override object. */
function flatten(o: Record<string, unknown>, prefix = ''): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(o)) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...flatten(v as Record<string, unknown>, p));
    else out.push([p, v]);
  }
  return out;
}

/**
 * The inventory as CSV that parseInventory reads back the same: mac, name, profile, media, group,
 * then a column per override field (dotted) in order of first appearance. Overrides that a cell
 * cannot hold (lists, null) are refused: YAML keeps them.
 */
export function inventoryToCsv(machines: readonly InventoryRecord[]): string {
  const flat = machines.map((m) => new Map(flatten(m.overrides)));
  const columns: string[] = [];
  for (const f of flat) for (const k of f.keys()) if (!columns.includes(k)) columns.push(k);
  for (const c of columns) {
    if (!c.split('.').every((s) => FIELD.test(s)) || FIXED_SET.has(c.toLowerCase())) fail('inventory', undefined, `override "${c}" cannot be a CSV column (profile fields are letters and digits, and not ${FIXED.join(', ')})`);
  }
  const lines = [[...FIXED, ...columns].join(',')];
  for (const [i, m] of machines.entries()) {
    const cells = [m.mac, m.name ?? '', m.profile ?? '', m.media ?? '', m.group ?? ''].map(csvField);
    for (const c of columns) {
      const has = flat[i]!.has(c);
      cells.push(has ? csvField(cellOf(flat[i]!.get(c), () => `inventory: ${m.mac} ${c}`)) : '');
    }
    lines.push(cells.join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

/** The inventory as YAML that parseInventoryYaml reads back the same. */
export function inventoryToYaml(machines: readonly InventoryRecord[]): string {
  const list = machines.map((m) => {
    const o: Record<string, unknown> = { mac: m.mac };
    for (const k of ['name', 'profile', 'media', 'group'] as const) if (m[k] !== undefined) o[k] = m[k];
    if (Object.keys(m.overrides).length) o['overrides'] = m.overrides;
    return o;
  });
  // Strings that would read as numbers (an all-digit MAC) are quoted by the YAML writer itself.
  return new Document({ machines: list }).toString({ lineWidth: 0 });
}
