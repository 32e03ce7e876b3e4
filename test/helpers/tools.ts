// Test helpers: run the real third-party tools that act as oracles, in throwaway folders.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const pexec = promisify(execFile);

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a program and returns its output; throws with stderr on a non-zero exit. */
export async function run(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}): Promise<RunResult> {
  try {
    const r = await pexec(cmd, args, { cwd: opts.cwd, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' });
    return { stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as Error & { stderr?: string; stdout?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${err.stderr ?? ''}`);
  }
}

/** Runs a program and returns its stdout as raw bytes. */
export async function runBuffer(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<Buffer> {
  const r = await pexec(cmd, args, { cwd: opts.cwd, maxBuffer: 1024 * 1024 * 1024, encoding: 'buffer' });
  return r.stdout;
}

/** A fresh temporary folder; call the returned cleanup in an after() hook. */
export async function tempDir(prefix = 'overnight-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Parses `7z l -slt` output into path -> {size, folder, mtime}. 7z is the reference UDF/ISO reader.
 * Pass `type` ('udf' or 'iso') to force a handler, as `7z -t`.
 */
export async function sevenZipList(
  image: string,
  type?: 'udf' | 'iso',
): Promise<Map<string, { size: number; folder: boolean; modified: string | undefined }>> {
  const args = ['l', '-slt', '-ba'];
  if (type) args.push(`-t${type === 'udf' ? 'Udf' : 'Iso'}`);
  args.push(image);
  const { stdout } = await run('7z', args);
  const out = new Map<string, { size: number; folder: boolean; modified: string | undefined }>();
  for (const block of stdout.split(/\n\s*\n/)) {
    const f: Record<string, string> = {};
    for (const line of block.split('\n')) {
      const m = /^([A-Za-z ]+?) = (.*)$/.exec(line);
      if (m) f[m[1]!] = m[2]!;
    }
    if (f['Path'] === undefined) continue;
    out.set(f['Path'], {
      size: Number(f['Size'] ?? 0),
      folder: f['Folder'] === '+' || (f['Attributes'] ?? '').startsWith('D'),
      modified: f['Modified'],
    });
  }
  return out;
}
