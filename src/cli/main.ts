// Entry point of the `overnight` command line.
import { Command, CommanderError } from 'commander';
import { AnswerError } from '../answer/errors.ts';
import { LoaderError } from '../boot/loaders.ts';
import { MediaError } from '../media/errors.ts';
import { NetError } from '../net/errors.ts';
import type { Io } from './media.ts';
import { ServeError } from '../serve/errors.ts';
import { ShareError } from '../share/errors.ts';
import { VERSION } from '../version.ts';


/** Each command's module, loaded when the command is run (in the order help lists them). */
const COMMANDS: Record<string, (io: Io) => Promise<Command>> = {
  media: async (io) => (await import('./media.ts')).mediaCommand(io),
  answer: async (io) => (await import('./answer.ts')).answerCommand(io),
  loaders: async (io) => (await import('./loaders.ts')).loadersCommand(io),
  machines: async (io) => (await import('./machines.ts')).machinesCommand(io),
  pxe: async (io) => (await import('./pxe.ts')).pxeCommand(io),
  serve: async (io) => (await import('./serve.ts')).serveCommand(io),
  report: async (io) => (await import('./report.ts')).reportCommand(io, async (dir) => (await import('./machines.ts')).loadReportData(dir)),
  simulate: async (io) => (await import('./simulate.ts')).simulateCommand(io),
};

export async function main(argv: string[], io: Io = { out: (s) => process.stdout.write(s + '\n'), err: (s) => process.stderr.write(s + '\n') }): Promise<number> {
  const program = new Command('overnight')
    .description('Unattended Windows installs from an ISO onto many PCs at once.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError();
  // Only the command being run is loaded: `serve` starts copying the media sooner, and `--version`
  // answers in a tenth of a second. Help and unknown commands load them all.
  const named = argv.find((a) => !a.startsWith('-'));
  const versionOnly = named === undefined && argv.some((a) => a === '-V' || a === '--version') && !argv.some((a) => a === '-h' || a === '--help');
  const wanted = named !== undefined && named in COMMANDS ? [named] : versionOnly ? [] : Object.keys(COMMANDS);
  for (const name of wanted) {
    const command = await COMMANDS[name]!(io);
    program.addCommand(command.exitOverride());
    for (const c of command.commands) c.exitOverride();
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return io.exitCode ?? 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof MediaError || e instanceof AnswerError || e instanceof LoaderError || e instanceof NetError || e instanceof ServeError || e instanceof ShareError) {
      io.err(`overnight: ${e.message} [${e.code}]`);
      return 2;
    }
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' || err.code === 'EACCES' || err.code === 'EISDIR' || err.code === 'ENOSPC') {
      io.err(`overnight: ${err.message}`);
      return 2;
    }
    if (err instanceof Error && !err.stack?.includes('node:internal')) {
      io.err(`overnight: ${err.message}`);
      return 2;
    }
    throw e;
  }
}
