// Errors that stop reading an answer file or a profile (not well-formed XML, a DTD, bad YAML):
// a stable code, the file and the position, and what to do. Findings that do not stop reading
// are Diagnostics (diagnostics.ts).
import type { Position } from './document.ts';

export type AnswerErrorCode =
  | 'E_XML' // not well-formed XML (or not namespace-well-formed)
  | 'E_DTD' // a DOCTYPE: refused, so that no entity is ever expanded
  | 'E_ENCODING' // bytes that are not UTF-8 / UTF-16 text, or a declared encoding we do not read
  | 'E_TOO_LARGE' // far larger than any real answer file or profile
  | 'E_NOT_UNATTEND' // well-formed XML whose root is not <unattend>
  | 'E_YAML' // a profile that is not valid YAML
  | 'E_PROFILE' // a profile whose content does not match the schema
  | 'E_RENDER' // a profile that cannot be turned into an answer file (e.g. an unknown machine)
  | 'E_USAGE'; // a command that cannot be carried out as asked (a file that exists, an unknown name)

export class AnswerError extends Error {
  readonly code: AnswerErrorCode;
  readonly file: string | undefined;
  readonly pos: Position | undefined;

  constructor(code: AnswerErrorCode, message: string, where: { file?: string | undefined; pos?: Position | undefined } = {}) {
    const at = where.file ? `${where.file}${where.pos ? `:${where.pos.line}:${where.pos.column}` : ''}: ` : '';
    super(`${at}${message}`);
    this.name = 'AnswerError';
    this.code = code;
    this.file = where.file;
    this.pos = where.pos;
  }
}
