// iPXE script generation: explicit server addresses, a retry on every fetch, a message on every
// failure path, and names that cannot break out of their argument. The scripts run for real in
// test/pxe-e2e.test.ts (QEMU's iPXE ROM and Debian's ipxe.efi).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bootScript, messageScript } from '../src/boot/ipxe.ts';

const base = {
  mac: '52:54:00:12:34:56',
  title: 'Windows 7 PE',
  server: 'http://10.0.0.1:8080',
  kernel: { url: 'http://10.0.0.1:8080/files/wimboot', args: 'gui' },
  initrds: [
    { name: 'bootmgr', url: 'http://10.0.0.1:8080/media/1/bootmgr' },
    { name: 'BCD', url: 'http://10.0.0.1:8080/media/1/boot/bcd' },
    { name: 'boot.wim', url: 'http://10.0.0.1:8080/media/1/sources/boot.wim' },
  ],
};

describe('iPXE scripts', () => {
  it('loads wimboot and each file by its full URL, names each file twice (image name and cpio name), and retries', () => {
    const s = bootScript(base);
    assert.ok(s.startsWith('#!ipxe\n'));
    assert.doesNotMatch(s, /next-server|filename\}/);
    assert.match(s, /^kernel http:\/\/10\.0\.0\.1:8080\/files\/wimboot gui \|\| goto failed$/m);
    assert.match(s, /^initrd -n bootmgr http:\/\/10\.0\.0\.1:8080\/media\/1\/bootmgr bootmgr \|\| goto failed$/m);
    assert.match(s, /^initrd -n boot\.wim http:\/\/10\.0\.0\.1:8080\/media\/1\/sources\/boot\.wim boot\.wim \|\| goto failed$/m);
    assert.match(s, /^boot \|\| goto failed$/m);
    // Every command that can fail has a way out that ends on screen.
    for (const line of s.split('\n').filter((l) => /^(kernel|initrd|boot)\b/.test(l))) assert.match(line, /\|\| goto failed$/, line);
    assert.match(s, /echo overnight: could not load \$\{what\} \(attempt \$\{attempt\} of 5\)/);
    assert.match(s, /iseq \$\{attempt\} 5 && goto give_up/);
    assert.match(s, /echo Check that the overnight server at http:\/\/10\.0\.0\.1:8080 is running/);
  });

  it('omits the cpio name for archives and for kernels that take initrds raw', () => {
    const s = bootScript({ ...base, initrds: [{ name: 'check.cpio', url: 'http://10.0.0.1/c.cpio', archive: true }, { name: 'a.txt', url: 'http://10.0.0.1/a.txt' }], cpioNames: false });
    assert.match(s, /^initrd -n check\.cpio http:\/\/10\.0\.0\.1\/c\.cpio \|\| goto failed$/m);
    assert.match(s, /^initrd -n a\.txt http:\/\/10\.0\.0\.1\/a\.txt \|\| goto failed$/m);
  });

  it('refuses names and URLs that would split or expand an iPXE argument', () => {
    for (const name of ['two words', 'a${x}', 'quote"', 'back\\slash', '']) {
      assert.throws(() => bootScript({ ...base, initrds: [{ name, url: 'http://10.0.0.1/x' }] }), /cannot carry/, JSON.stringify(name));
    }
    assert.throws(() => bootScript({ ...base, kernel: { url: 'http://10.0.0.1/${net0/mac}' } }), /kernel URL/);
  });

  it('a message script shows the message on one line, with nothing iPXE would expand or act on', () => {
    const s = messageScript('no plan for ${net0/mac} && reboot\nnow || shell');
    assert.match(s, /^echo no plan for net0\/mac  reboot now  shell$/m);
    assert.match(s, /^prompt --timeout 60000 .* && shell \|\|$/m);
    assert.ok(s.endsWith('reboot\n'));
  });
});
