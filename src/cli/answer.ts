// `overnight answer ...`: write a profile, render it to autounattend.xml, lint any answer file,
// import one into a profile, and explain a setting.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Command, Option } from 'commander';
import type { CompileContext } from '../answer/compile.ts';
import { AnswerError } from '../answer/errors.ts';
import { type Diagnostic, formatDiagnostic } from '../answer/diagnostics.ts';
import type { SettingSpec } from '../answer/knowledge.ts';
import type { LintMedia, LintOptions } from '../answer/lint.ts';
import type { Firmware } from '../answer/profile.ts';
import { RELEASE_NAMES, RELEASES, type Release } from '../answer/release.ts';
import { identifyWindows, type WindowsReport } from '../windows/identify.ts';
import { json } from './format.ts';
import { type Io, withMedia } from './media.ts';

// The answer modules load when an answer command runs, and only those it needs (lint needs no
// zod or yaml), so that every command starts fast.
const loadLint = async () => ({ ...(await import('../answer/xml.ts')), ...(await import('../answer/lint.ts')), ...(await import('../answer/sarif.ts')) });
const loadProfile = async () => ({
  ...(await loadLint()),
  ...(await import('../answer/profile.ts')),
  ...(await import('../answer/compile.ts')),
  ...(await import('../answer/import.ts')),
  ...(await import('../answer/starter.ts')),
  stringify: (await import('yaml')).stringify,
});

/** The release and images of an ISO, for render and lint. */
async function mediaFacts(iso: string): Promise<{ report: WindowsReport; release: Release | undefined; media: LintMedia }> {
  const report = await withMedia(iso, undefined, (m) => identifyWindows(m));
  const fam = report.family.toLowerCase();
  const release = (RELEASES as readonly string[]).includes(fam) ? (fam as Release) : undefined;
  const arch = report.architecture === 'x64' ? 'amd64' : report.architecture;
  return { report, release, media: { images: report.editions.map((e) => ({ index: e.index, name: e.name, editionId: e.editionId, arch: e.architecture })), languages: report.languages, arch } };
}

function printDiagnostics(io: Io, ds: readonly Diagnostic[], file: string): void {
  for (const d of ds) io.err(formatDiagnostic(d, file));
  const n = (s: string) => ds.filter((d) => d.severity === s).length;
  if (ds.length) io.err(`${n('error')} error(s), ${n('warning')} warning(s), ${n('info')} note(s)`);
}

export function answerCommand(io: Io): Command {
  const answer = new Command('answer').description('answer files: profile → autounattend.xml, lint, import, explain');

  answer
    .command('init')
    .description('write a commented starter profile')
    .addOption(new Option('--release <r>', 'Windows release').choices([...RELEASES]).default('7'))
    .addOption(new Option('--arch <a>', 'architecture').choices(['x86', 'amd64', 'arm64']).default('amd64'))
    .option('-o, --output <file>', 'write here instead of standard output')
    .option('--force', 'overwrite an existing file')
    .action(async (o: { release: Release; arch: 'x86' | 'amd64' | 'arm64'; output?: string; force?: boolean }) => {
      const { starterProfile } = await import('../answer/starter.ts');
      const text = starterProfile(o.release, o.arch);
      if (!o.output) return io.out(text.trimEnd());
      if (existsSync(o.output) && !o.force) throw new AnswerError('E_USAGE', `${o.output} exists; use --force to overwrite it`);
      await writeFile(o.output, text);
      io.err(`wrote ${o.output}`);
    });

  answer
    .command('render')
    .description('compile a profile into an answer file, checked by lint before it is written')
    .argument('<profile>', 'profile.yaml')
    .option('--machine <name>', 'render for this machine (its overrides and name)')
    .option('--mac <mac>', 'render for the machine with this MAC address')
    .option('--serial <serial>', 'serial number, for {serial} in computer names')
    .option('--n <n>', 'machine number, for {n} in computer names', (v) => Number(v))
    .addOption(new Option('--firmware <fw>', 'the machine\'s firmware (resolves disk.layout auto)').choices(['bios', 'uefi']))
    .option('--media <iso>', 'check the edition, language and architecture against this ISO')
    .option('-o, --output <file>', 'write here instead of standard output (scripts for long commands go beside it)')
    .action(async (file: string, o: { machine?: string; mac?: string; serial?: string; n?: number; firmware?: Firmware; media?: string; output?: string }) => {
      const { parseProfile, compileProfile, renderUnattend, lintDocument, parseUnattend } = await loadProfile();
      const profile = parseProfile(await readFile(file, 'utf8'), file);
      const facts = o.media ? await mediaFacts(o.media) : undefined;
      const ctx: CompileContext = {
        firmware: o.firmware,
        ...(o.machine || o.mac || o.serial || o.n !== undefined ? { machine: { name: o.machine, mac: o.mac, serial: o.serial, n: o.n } } : {}),
        ...(facts ? { media: { images: facts.media.images } } : {}),
      };
      const r = compileProfile(profile, ctx);
      if (facts?.release && facts.release !== r.profile.target.release) {
        throw new AnswerError('E_USAGE', `the profile targets ${RELEASE_NAMES[r.profile.target.release]}, the media is ${facts.report.release}`);
      }
      const xml = renderUnattend(r.doc);
      // Every rendered file is linted: an error here is a bug to report, never a file to ship.
      const ds = lintDocument(parseUnattend(xml).doc, { release: r.profile.target.release, arch: r.profile.target.arch, media: facts?.media });
      const errors = ds.filter((d) => d.severity === 'error');
      printDiagnostics(io, ds.filter((d) => d.severity !== 'info'), o.output ?? 'autounattend.xml');
      if (errors.length) {
        io.exitCode = 1;
        return;
      }
      for (const n of r.notes) io.err(n);
      if (!o.output) {
        io.out(xml.trimEnd());
        for (const f of Object.keys(r.files)) io.err(`not written (no --output): ${f}`);
        return;
      }
      await writeFile(o.output, xml);
      for (const [rel, content] of Object.entries(r.files)) {
        const path = join(dirname(o.output), rel);
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, content);
        io.err(`wrote ${path} (copy it to the deployment share)`);
      }
      io.err(`wrote ${o.output}`);
    });

  answer
    .command('lint')
    .description('check an answer file against the release it installs')
    .argument('<file>', 'autounattend.xml / unattend.xml')
    .addOption(new Option('--release <r>', 'Windows release the file installs').choices([...RELEASES]))
    .addOption(new Option('--arch <a>', 'architecture of the media').choices(['x86', 'amd64', 'arm64']))
    .option('--media <iso>', 'check images, language, architecture and keys against this ISO')
    .option('--no-install', 'the file is not for an install from Windows PE (skip the "Setup will ask" checks)')
    .option('--json', 'findings as JSON')
    .option('--sarif', 'findings as SARIF 2.1.0 (code scanning)')
    .action(async (file: string, o: { release?: Release; arch?: LintOptions['arch']; media?: string; install: boolean; json?: boolean; sarif?: boolean }) => {
      const { parseUnattend, lintDocument, toSarif } = await loadLint();
      const bytes = await readFile(file);
      const { doc, diagnostics } = parseUnattend(bytes, file);
      const facts = o.media ? await mediaFacts(o.media) : undefined;
      const release = o.release ?? facts?.release;
      const ds = [...diagnostics, ...lintDocument(doc, { release, arch: o.arch ?? (facts?.media.arch as LintOptions['arch']), media: facts?.media, unattendedInstall: o.install })];
      if (o.sarif) io.out(json(toSarif(ds, file)));
      else if (o.json) io.out(json({ schema: 1, file, release: release ?? null, diagnostics: ds }));
      else {
        printDiagnostics(io, ds, file);
        if (!ds.length) io.err(`${file}: no findings${release ? ` for ${RELEASE_NAMES[release]}` : ''}`);
      }
      if (ds.some((d) => d.severity === 'error')) io.exitCode = 1;
    });

  answer
    .command('import')
    .description('turn an answer file into a profile; lists what a profile cannot hold')
    .argument('<file>', 'autounattend.xml')
    .option('-o, --output <file>', 'write the profile here instead of standard output')
    .option('--json', 'the result as JSON (profile, notCarried, notes)')
    .action(async (file: string, o: { output?: string; json?: boolean }) => {
      const { parseUnattend, importDocument, stringify } = await loadProfile();
      const { doc } = parseUnattend(await readFile(file), file);
      const r = importDocument(doc);
      if (o.json) return io.out(json(r));
      const head = [`# Imported from ${file} by overnight answer import.`, ...r.notes.map((n) => `# ${n}`)];
      if (r.notCarried.length) {
        head.push('# Not carried over (no profile field):');
        for (const x of r.notCarried) head.push(`#   ${x.pos ? `line ${x.pos.line}: ` : ''}${x.path}${x.value !== undefined ? ` = ${x.value.length > 60 ? x.value.slice(0, 57) + '...' : x.value}` : ''}`);
      }
      const text = `${head.join('\n')}\n${stringify(r.profile, { lineWidth: 0 })}`;
      if (o.output) {
        await writeFile(o.output, text);
        io.err(`wrote ${o.output}; ${r.notCarried.length} setting(s) not carried over (listed at its top)`);
      } else io.out(text.trimEnd());
    });

  answer
    .command('explain')
    .description('what a component or setting is, its passes and its releases')
    .argument('<name>', 'Component or Component/Setting/..., e.g. Microsoft-Windows-Shell-Setup/OOBE/HideEULAPage')
    .option('--json', 'as JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const { COMPONENT_BY_NAME } = await import('../answer/knowledge.ts');
      const [compName, ...path] = name.split(/[/|]/).map((s) => s.trim()).filter(Boolean);
      const comp = COMPONENT_BY_NAME.get(compName ?? '') ?? [...COMPONENT_BY_NAME.values()].find((c) => c.name.toLowerCase() === compName?.toLowerCase());
      if (!comp) throw new AnswerError('E_USAGE', `no component "${compName}" in the unattend reference table`);
      let spec: SettingSpec | undefined;
      let list = comp.settings;
      for (const p of path) {
        spec = list?.find((s) => s.name.toLowerCase() === p.toLowerCase());
        if (!spec) throw new AnswerError('E_USAGE', `${comp.name} has no setting "${path.join('/')}"`);
        list = spec.children;
      }
      const since = spec?.since ?? comp.since;
      const until = spec?.until ?? comp.until;
      const info = {
        name: [comp.name, ...(spec ? path : [])].join('/'),
        passes: spec?.passes ?? comp.passes,
        releases: `${RELEASE_NAMES[since]}${until ? ` to ${RELEASE_NAMES[until]}` : ' and later'}`,
        ...(spec?.deprecatedSince ? { deprecatedSince: RELEASE_NAMES[spec.deprecatedSince] } : {}),
        ...(spec?.type ? { type: spec.type } : {}),
        ...(spec?.list ? { list: spec.list } : {}),
        ...((spec?.note ?? comp.note) ? { note: spec?.note ?? comp.note } : {}),
        ...(spec ? {} : { architectures: comp.arches }),
        children: (spec ? spec.children : comp.settings)?.map((s) => s.name) ?? [],
        source: comp.source,
      };
      if (o.json) return io.out(json(info));
      const lines = [info.name, `  passes    ${info.passes.join(', ')}`, `  releases  ${info.releases}`];
      if (info.deprecatedSince) lines.push(`  deprecated from ${info.deprecatedSince}`);
      if (spec?.type) lines.push(`  value     ${describeType(spec)}`);
      if (spec?.list) lines.push(`  list of   ${spec.list.item} (wcm:action="add"), keyed by ${spec.list.key}`);
      if (info.note) lines.push(`  note      ${info.note}`);
      if (info.children.length) lines.push(`  contains  ${info.children.join(', ')}`);
      lines.push(`  source    ${info.source}`);
      io.out(lines.join('\n'));
    });

  answer
    .command('schema')
    .description('print the JSON Schema of profiles (for editors)')
    .action(async () => io.out(json((await import('../answer/profile.ts')).profileJsonSchema())));

  return answer;
}

function describeType(s: SettingSpec): string {
  const t = s.type!;
  if (t.kind === 'enum') return `one of ${t.values.join(', ')}`;
  if (t.kind === 'integer') return `whole number${t.min !== undefined || t.max !== undefined ? ` ${t.min ?? ''}..${t.max ?? ''}` : ''}`;
  if (t.kind === 'string' && t.maxLength) return `text, at most ${t.maxLength} characters`;
  return t.kind === 'boolean' ? 'true or false' : t.kind;
}
