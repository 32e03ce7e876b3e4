// Entry point of the `overnight` command line.
import { Command, CommanderError } from 'commander';
import { AnswerError } from '../answer/errors.ts';
import { LoaderError } from '../boot/loaders.ts';
import { MediaError } from '../media/errors.ts';
import { NetError } from '../net/errors.ts';
import { answerCommand } from './answer.ts';
import { loadersCommand } from './loaders.ts';
import { mediaCommand, type Io } from './media.ts';
import { pxeCommand } from './pxe.ts';
import { simulateCommand } from './simulate.ts';
import { loadReportData, machinesCommand, serveCommand } from './serve.ts';
import { reportCommand } from './report.ts';
import { ServeError } from '../serve/errors.ts';
import { ShareError } from '../share/errors.ts';
import { VERSION } from '../version.ts';


export async function main(argv: string[], io: Io = { out: (s) => process.stdout.write(s + '\n'), err: (s) => process.stderr.write(s + '\n') }): Promise<number> {
  const program = new Command('overnight')
    .description('Unattended Windows installs from an ISO onto many PCs at once.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError();
  for (const group of [mediaCommand(io), answerCommand(io), loadersCommand(io), machinesCommand(io)]) {
    program.addCommand(group);
    for (const c of group.commands) c.exitOverride();
  }
  program.addCommand(pxeCommand(io).exitOverride());
  program.addCommand(serveCommand(io).exitOverride());
  program.addCommand(reportCommand(io, loadReportData).exitOverride());
  program.addCommand(simulateCommand(io).exitOverride());
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
