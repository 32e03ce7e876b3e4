// Findings as SARIF 2.1.0, the format code-scanning tools (GitHub, GitLab, VS Code) read.
import type { Diagnostic } from './diagnostics.ts';
import { CODES } from './codes.ts';

export function toSarif(ds: readonly Diagnostic[], file: string): unknown {
  const ids = [...new Set(ds.map((d) => d.code))].sort();
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'overnight answer lint',
            informationUri: 'https://github.com/overnight-deploy/overnight/blob/main/docs/answer-lint.md',
            rules: ids.map((id) => ({ id, shortDescription: { text: CODES[id]?.title ?? id }, defaultConfiguration: { level: level(CODES[id]?.severity ?? 'warning') } })),
          },
        },
        results: ds.map((d) => ({
          ruleId: d.code,
          level: level(d.severity),
          message: { text: d.fix ? `${d.message} (fix: ${d.fix})` : d.message },
          locations: [{ physicalLocation: { artifactLocation: { uri: file }, ...(d.pos ? { region: { startLine: d.pos.line, startColumn: d.pos.column } } : {}) } }],
        })),
      },
    ],
  };
}

const level = (s: string) => (s === 'error' ? 'error' : s === 'warning' ? 'warning' : 'note');
