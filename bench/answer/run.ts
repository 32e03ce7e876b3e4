// Answer-file speed: render + lint of a full profile, and lint of a ~200 KB answer file, against
// the 20 ms median target (issue #3), measured in-process after a warm-up; and, side by side as
// whole processes, `overnight answer lint` against `xmllint --noout` (libxml2 only checks that the
// file is well-formed; lint also parses, checks every setting against the release and the rules).
//
//   npm run bench:answer -- [--runs 200] [--process-runs 15]
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { compileProfile } from '../../src/answer/compile.ts';
import { lintDocument } from '../../src/answer/lint.ts';
import { parseProfile } from '../../src/answer/profile.ts';
import { parseUnattend, renderUnattend } from '../../src/answer/xml.ts';

const pexec = promisify(execFile);
const { values: argv } = parseArgs({ options: { runs: { type: 'string' }, 'process-runs': { type: 'string' } } });
const RUNS = Number(argv.runs ?? 200);
const PROCESS_RUNS = Number(argv['process-runs'] ?? 15);
const CLI = fileURLToPath(new URL('../../bin/overnight.js', import.meta.url));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)]!;

/** A profile with every section used: 20 users, 40 commands, 15 apps, extra settings, 50 machines. */
function fullProfile(): string {
  const users = Array.from({ length: 20 }, (_, i) => `    - { name: user${i}, password: 'pw-${i}', groups: [Users${i % 2 ? ', Administrators' : ''}] }`).join('\n');
  const cmds = Array.from({ length: 20 }, (_, i) => `    - 'cmd /c reg add HKLM\\Software\\Lab /v Value${i} /d ${i} /f'`).join('\n');
  const apps = Array.from({ length: 15 }, (_, i) => `  - { name: App${i}, run: 'apps\\app${i}.msi' }`).join('\n');
  const machines = Array.from({ length: 50 }, (_, i) => `  LAB-${String(i).padStart(3, '0')}: { computerName: ROOM-${i}, join: { domain: corp.example.com, user: deploy, password: pw, ou: 'OU=Room${i},DC=corp,DC=example,DC=com' } }`).join('\n');
  return `target: { release: '7', arch: amd64, edition: 'Windows 7 PROFESSIONAL', language: en-US }
disk: { layout: auto, recoverySize: 500 }
productKey: kms
locale: { input: de-DE, system: de-DE, user: de-DE }
timeZone: W. Europe Standard Time
computerName: LAB-{n:3}
accounts:
  administrator: { password: 'S3cret!' }
  users:
${users}
  autologon: { user: Administrator, count: 3 }
join: { workgroup: LAB }
oobe: { networkLocation: work, protectYourPC: 3, registeredOrganization: Example Lab }
commands:
  specialize:
${cmds}
  firstLogon:
${cmds}
share: \\\\deploy\\share
apps:
${apps}
drivers: { winpe: [ 'D:\\drivers\\net' ], system: [ '\\\\deploy\\share\\drivers' ] }
settings:
  - pass: specialize
    component: Microsoft-Windows-TerminalServices-LocalSessionManager
    values: { fDenyTSConnections: false }
machines:
${machines}
`;
}

/** An answer file of about `bytes` bytes: a full profile's, with first-logon commands added until it is that large. */
function bigAnswerFile(bytes: number): string {
  const base = parseProfile(fullProfile());
  let n = 100;
  for (;;) {
    const p = { ...base, commands: { ...base.commands, firstLogon: Array.from({ length: n }, (_, i) => `cmd /c echo step ${i} of the lab setup >> C:\\Windows\\Temp\\setup-steps.log`) } };
    const xml = renderUnattend(compileProfile(p, { firmware: 'uefi', machine: { n: 1 } }).doc);
    if (xml.length >= bytes) return xml;
    n = Math.ceil((n * bytes) / xml.length) + 1;
  }
}

function time(fn: () => void, runs: number): number[] {
  for (let i = 0; i < Math.min(20, runs); i++) fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    out.push(performance.now() - t0);
  }
  return out;
}

async function processTimes(cmd: string, args: string[], runs: number, okCodes: number[]): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const t0 = performance.now();
    await pexec(cmd, args).catch((e: { code?: number }) => {
      if (!okCodes.includes(e.code ?? -1)) throw e;
    });
    if (i > 0) out.push(performance.now() - t0);
  }
  return out;
}

const work = await mkdtemp(join(tmpdir(), 'overnight-bench-answer-'));
try {
  const profileText = fullProfile();
  const renderLint = time(() => {
    const p = parseProfile(profileText);
    const r = compileProfile(p, { firmware: 'uefi', machine: { name: 'LAB-007', n: 7 } });
    const xml = renderUnattend(r.doc);
    const ds = lintDocument(parseUnattend(xml).doc, { release: '7', arch: 'amd64' });
    if (ds.some((d) => d.severity === 'error')) throw new Error(`rendered file has errors: ${ds.map((d) => d.code).join(' ')}`);
  }, RUNS);
  const big = bigAnswerFile(200 * 1024);
  const bigFile = join(work, 'big.xml');
  await writeFile(bigFile, big);
  const lintBig = time(() => {
    lintDocument(parseUnattend(big, 'big.xml').doc, { release: '7', arch: 'amd64' });
  }, RUNS);
  const ours = await processTimes(process.execPath, [CLI, 'answer', 'lint', bigFile, '--release', '7', '--arch', 'amd64'], PROCESS_RUNS, [0, 1]);
  const xmllint = await processTimes('xmllint', ['--noout', bigFile], PROCESS_RUNS, [0]);
  const f = (x: number) => x.toFixed(2);
  const rows = [
    ['measure', 'median ms', 'p95 ms', 'target', 'result'],
    ['parse profile + render + lint (full profile)', f(median(renderLint)), f(p95(renderLint)), '< 20 ms', median(renderLint) < 20 ? 'met' : 'NOT MET'],
    [`parse + lint of a ${(big.length / 1024).toFixed(0)} KB answer file`, f(median(lintBig)), f(p95(lintBig)), '< 20 ms', median(lintBig) < 20 ? 'met' : 'NOT MET'],
    ['overnight answer lint (whole process)', f(median(ours)), f(p95(ours)), '', ''],
    ['xmllint --noout (whole process)', f(median(xmllint)), f(p95(xmllint)), '', ''],
  ];
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  process.stdout.write(`Answer-file benchmark, ${new Date().toISOString()}, node ${process.version}, ${RUNS} in-process runs, ${PROCESS_RUNS} process runs\n`);
  process.stdout.write(rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd()).join('\n') + '\n');
  process.stdout.write(`whole-process ratio overnight / xmllint: ${(median(ours) / median(xmllint)).toFixed(1)}× the time (Node start-up included)\n`);
  process.exitCode = median(renderLint) < 20 && median(lintBig) < 20 ? 0 : 1;
} finally {
  await rm(work, { recursive: true, force: true });
}
