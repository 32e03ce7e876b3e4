// Child process of the media benchmark (--memory touch): fills N GiB of anonymous memory, then
// exits and so frees it. On a VM with free page reporting, the next program to need that much
// memory then gets pages the host still backs, as on bare metal, instead of pages it must fault
// back in one by one. Usage: node bench/media/touch-memory.ts <GiB>
const gib = Number(process.argv[2]);
if (!(gib > 0)) {
  process.stderr.write('usage: touch-memory.ts <GiB>\n');
  process.exit(2);
}
const keep: Buffer[] = [];
for (let left = gib * 2 ** 30; left > 0; left -= 2 ** 28) {
  const b = Buffer.allocUnsafeSlow(Math.min(left, 2 ** 28));
  b.fill(0x55);
  keep.push(b);
}
process.stdout.write(`${keep.length}\n`);
