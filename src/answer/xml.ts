// Answer-file XML codec (pure): bytes → UnattendDocument with line:column positions, and
// UnattendDocument → deterministic XML in WSIM's layout. DTDs are refused outright (no entity is
// ever expanded), sizes are capped, and text that XML 1.0 cannot carry is refused when rendering.
import { SaxesParser, type SaxesAttributeNS } from 'saxes';
import { type ComponentNode, type PassNode, type Position, type SettingNode, type UnattendDocument, type WcmAction, UNATTEND_NS, WCM_NS, XSI_NS } from './document.ts';
import type { Diagnostic } from './diagnostics.ts';
import { AnswerError } from './errors.ts';

/** Real answer files are a few KiB to ~200 KiB (hundreds of commands); nothing needs more. */
export const MAX_ANSWER_FILE_BYTES = 8 * 1024 * 1024;
const MAX_DEPTH = 64;

export interface ParseResult {
  doc: UnattendDocument;
  /** Structural findings that did not stop reading (codes UA001-UA004). */
  diagnostics: Diagnostic[];
}

/** Text of an answer file's bytes: UTF-8 (with or without BOM) or UTF-16 with a BOM. */
export function decodeAnswerFile(bytes: Uint8Array, file?: string): string {
  if (bytes.length > MAX_ANSWER_FILE_BYTES) {
    throw new AnswerError('E_TOO_LARGE', `${bytes.length} bytes: larger than any answer file (limit ${MAX_ANSWER_FILE_BYTES})`, { file });
  }
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let text: string;
  if (b[0] === 0xff && b[1] === 0xfe) text = b.subarray(2).toString('utf16le');
  else if (b[0] === 0xfe && b[1] === 0xff) text = Buffer.from(b.subarray(2)).swap16().toString('utf16le');
  else {
    const body = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? b.subarray(3) : b;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    } catch {
      throw new AnswerError('E_ENCODING', 'not UTF-8 text (save the file as UTF-8, as WSIM does)', { file });
    }
  }
  // A declaration naming an encoding other than the one found is a file Setup would misread.
  const decl = /^\s*<\?xml[^>]*encoding\s*=\s*["']([^"']+)["']/.exec(text);
  const declared = decl?.[1]?.toLowerCase();
  if (declared && !['utf-8', 'utf8', 'utf-16', 'utf16', 'unicode'].includes(declared)) {
    throw new AnswerError('E_ENCODING', `declares encoding "${decl![1]}"; answer files must be UTF-8 or UTF-16`, { file });
  }
  return text;
}

interface RawElement {
  local: string;
  uri: string;
  name: string;
  attrs: Record<string, SaxesAttributeNS>;
  text: string;
  children: RawElement[];
  pos: Position;
  start: number;
  end: number;
}

/** Reads an answer file. Throws AnswerError when it is not a well-formed unattend document. */
export function parseUnattend(input: string | Uint8Array, file = 'autounattend.xml'): ParseResult {
  const text = typeof input === 'string' ? input : decodeAnswerFile(input, file);
  if (text.length > MAX_ANSWER_FILE_BYTES) throw new AnswerError('E_TOO_LARGE', 'larger than any answer file', { file });
  const root = readTree(text, file);
  const diagnostics: Diagnostic[] = [];
  if (root.local !== 'unattend') {
    throw new AnswerError('E_NOT_UNATTEND', `the root element is <${root.name}>, not <unattend>`, { file, pos: root.pos });
  }
  if (root.uri !== UNATTEND_NS) {
    diagnostics.push({
      code: 'UA001',
      severity: 'error',
      message: `<unattend> is in namespace "${root.uri}", so Setup ignores the whole file`,
      fix: `write <unattend xmlns="${UNATTEND_NS}">`,
      pos: root.pos,
    });
  }
  const doc: UnattendDocument = { passes: [], extra: [] };
  for (const el of root.children) {
    if (el.local === 'settings' && el.uri === root.uri) doc.passes.push(readPass(el, diagnostics));
    else if ((el.local === 'servicing' && el.uri === root.uri) || el.local === 'offlineImage') doc.extra.push({ name: el.name, xml: text.slice(el.start, el.end), pos: el.pos });
    else {
      diagnostics.push({ code: 'UA002', severity: 'error', message: `<${el.name}> is not an element of an answer file`, fix: 'remove it, or move it into a <settings pass="..."> component', pos: el.pos });
    }
  }
  return { doc, diagnostics };
}

function readTree(text: string, file: string): RawElement {
  const parser = new SaxesParser({ xmlns: true, position: true, fileName: file });
  const stack: RawElement[] = [];
  let root: RawElement | undefined;
  let startPos: Position = { line: 1, column: 1 };
  let startOffset = 0;
  const fail = (code: 'E_XML' | 'E_DTD', message: string): never => {
    throw new AnswerError(code, message, { file, pos: { line: parser.line, column: parser.column + 1 } });
  };
  parser.on('doctype', () => fail('E_DTD', 'a DOCTYPE is not allowed in an answer file (entities are never expanded); remove it'));
  parser.on('opentagstart', (t) => {
    // saxes has just read "<name" and the character after it (0-based column of the next one):
    // the '<' is name.length + 2 characters back, 1-based column = column - name.length - 1.
    startPos = { line: parser.line, column: parser.column - t.name.length - 1 };
    startOffset = parser.position - t.name.length - 1;
  });
  parser.on('opentag', (t) => {
    if (stack.length >= MAX_DEPTH) fail('E_XML', `elements nested deeper than ${MAX_DEPTH}: not an answer file`);
    const el: RawElement = { local: t.local, uri: t.uri, name: t.name, attrs: t.attributes as Record<string, SaxesAttributeNS>, text: '', children: [], pos: startPos, start: startOffset, end: startOffset };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    else root = el;
    stack.push(el);
  });
  parser.on('text', (s) => {
    const top = stack[stack.length - 1];
    if (top) top.text += s;
  });
  parser.on('cdata', (s) => {
    const top = stack[stack.length - 1];
    if (top) top.text += s;
  });
  parser.on('closetag', () => {
    const el = stack.pop();
    if (el) el.end = parser.position;
  });
  parser.on('error', (e) => fail('E_XML', e.message.replace(/^[^:]*:\d+:\d+: /, '')));
  try {
    parser.write(text).close();
  } catch (e) {
    if (e instanceof AnswerError) throw e;
    fail('E_XML', (e as Error).message.replace(/^[^:]*:\d+:\d+: /, ''));
  }
  if (!root) throw new AnswerError('E_XML', 'no root element', { file });
  return root;
}

function readPass(el: RawElement, diagnostics: Diagnostic[]): PassNode {
  // A missing pass attribute reads as '' (lint reports it as UA003).
  const out: PassNode = { pass: el.attrs['pass']?.value ?? '', components: [], pos: el.pos };
  for (const c of el.children) {
    if (c.local !== 'component') {
      diagnostics.push({ code: 'UA002', severity: 'error', message: `<${c.name}> directly in <settings>: only <component> belongs there`, fix: 'move it into the component it belongs to', pos: c.pos });
      continue;
    }
    out.components.push(readComponent(c));
  }
  return out;
}

function readComponent(el: RawElement): ComponentNode {
  const a = (n: string) => el.attrs[n]?.value ?? '';
  return {
    name: a('name'),
    processorArchitecture: a('processorArchitecture'),
    publicKeyToken: a('publicKeyToken'),
    language: a('language'),
    versionScope: a('versionScope'),
    settings: el.children.map(readSetting),
    pos: el.pos,
  };
}

function readSetting(el: RawElement): SettingNode {
  const out: SettingNode = { name: el.local, pos: el.pos };
  const extra: Record<string, string> = {};
  for (const at of Object.values(el.attrs)) {
    if (at.uri === WCM_NS && at.local === 'action') out.action = at.value as WcmAction;
    else if (at.uri === WCM_NS && at.local === 'keyValue') out.keyValue = at.value;
    else if (at.prefix !== 'xmlns' && at.name !== 'xmlns') extra[at.name] = at.value;
  }
  if (Object.keys(extra).length) out.attributes = extra;
  if (el.children.length) out.children = el.children.map(readSetting);
  else out.value = el.text;
  return out;
}

// ---------------------------------------------------------------- rendering

const INDENT = '    ';
// XML 1.0 Char: no C0 controls but tab, LF, CR; no lone surrogates; no U+FFFE/U+FFFF.
const NOT_XML = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function escapeText(s: string, where: string): string {
  if (NOT_XML.test(s)) throw new AnswerError('E_RENDER', `${where}: the value holds a character that XML cannot carry`);
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttr(s: string, where: string): string {
  return escapeText(s, where).replace(/"/g, '&quot;').replace(/\r/g, '&#13;').replace(/\n/g, '&#10;').replace(/\t/g, '&#9;');
}

/**
 * The document as XML, laid out as WSIM writes it: UTF-8 declaration, 4-space indentation, the
 * wcm and xsi namespaces declared on every component. Same document, same bytes.
 */
export function renderUnattend(doc: UnattendDocument): string {
  const out: string[] = ['<?xml version="1.0" encoding="utf-8"?>', `<unattend xmlns="${UNATTEND_NS}">`];
  for (const x of doc.extra.filter((e) => e.name === 'servicing')) out.push(INDENT + x.xml);
  for (const p of doc.passes) {
    out.push(p.pass === '' ? `${INDENT}<settings>` : `${INDENT}<settings pass="${escapeAttr(p.pass, 'pass')}">`);
    for (const c of p.components) {
      const attrs = [
        ['name', c.name],
        ['processorArchitecture', c.processorArchitecture],
        ['publicKeyToken', c.publicKeyToken],
        ['language', c.language],
        ['versionScope', c.versionScope],
      ]
        .map(([k, v]) => `${k}="${escapeAttr(v!, `${p.pass}/${c.name}`)}"`)
        .join(' ');
      out.push(`${INDENT.repeat(2)}<component ${attrs} xmlns:wcm="${WCM_NS}" xmlns:xsi="${XSI_NS}">`);
      for (const s of c.settings) renderSetting(out, s, 3, `${p.pass}/${c.name}`);
      out.push(`${INDENT.repeat(2)}</component>`);
    }
    out.push(`${INDENT}</settings>`);
  }
  for (const x of doc.extra.filter((e) => e.name !== 'servicing')) out.push(INDENT + x.xml);
  out.push('</unattend>', '');
  return out.join('\n');
}

function renderSetting(out: string[], s: SettingNode, depth: number, path: string): void {
  const where = `${path}/${s.name}`;
  if (!/^[A-Za-z_][\w.-]*$/.test(s.name)) throw new AnswerError('E_RENDER', `${where}: not a valid element name`);
  let open = s.name;
  if (s.action) open += ` wcm:action="${escapeAttr(s.action, where)}"`;
  if (s.keyValue !== undefined) open += ` wcm:keyValue="${escapeAttr(s.keyValue, where)}"`;
  for (const [k, v] of Object.entries(s.attributes ?? {})) open += ` ${k}="${escapeAttr(v, where)}"`;
  const pad = INDENT.repeat(depth);
  if (s.children?.length) {
    out.push(`${pad}<${open}>`);
    for (const c of s.children) renderSetting(out, c, depth + 1, where);
    out.push(`${pad}</${s.name}>`);
  } else if (s.value === undefined || s.value === '') out.push(`${pad}<${open} />`);
  else out.push(`${pad}<${open}>${escapeText(s.value, where)}</${s.name}>`);
}
