#!/usr/bin/env -S node --max-semi-space-size=4
// (V8's young generation may otherwise grow to 64 MB per semi-space under a burst of requests, and
// stay there: serve with 500 machines held 300 MB instead of under 200. bench/fleet measures it.)
// Launcher: a checkout runs the TypeScript sources through Node's type stripping;
// the published package runs the tsc build in dist/ (Node does not strip types under node_modules).
import { existsSync } from 'node:fs';
import module from 'node:module';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `overnight needs Node.js 22.18 or later (this is ${process.versions.node}).\n` +
      'In a checkout, run it through npm (npx overnight ...), which uses the pinned Node 24.\n',
  );
  process.exit(1);
}

// Keep compiled (and type-stripped) modules between runs, as tsc itself does: start-up falls from
// about 160 ms to 50 ms. The cache lives in the OS temporary folder; NODE_DISABLE_COMPILE_CACHE=1 turns it off.
module.enableCompileCache?.();

const dist = new URL('../dist/cli/main.js', import.meta.url);
const { main } = await import(existsSync(dist) ? dist.href : new URL('../src/cli/main.ts', import.meta.url).href);
process.exitCode = await main(process.argv.slice(2));
