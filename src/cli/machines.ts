// `overnight machines`: the records overnight serve keeps (list, approve or deny unknown machines,
// send one back to install again, import and export the inventory), and the morning report's data.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { Store } from '../store/store.ts';
import { Fleet, machineView, reportData } from '../fleet/fleet.ts';
import { inventoryToCsv, inventoryToYaml, parseInventoryFile } from '../fleet/inventory.ts';
import { ServeError } from '../serve/errors.ts';
import type { Io } from './media.ts';
import type { ReportData } from './report.ts';
import { serveDataDir } from './serve.ts';

/** The records of serve's data folder; E_CONFIG when serve has not run there. */
function openRecords(data: string | undefined): Store {
  const dir = serveDataDir(data, undefined);
  const path = join(dir, 'overnight.sqlite');
  if (!existsSync(path)) throw new ServeError('E_CONFIG', `no records in ${dir} (overnight serve has not run with this --data)`);
  return Store.open(path);
}

/** The records as the morning report reads them. */
export async function loadReportData(data: string | undefined): Promise<ReportData> {
  const store = openRecords(data);
  const fleet = new Fleet({ store });
  try {
    return reportData(fleet);
  } finally {
    fleet.close();
    store.close();
  }
}

export function machinesCommand(io: Io): Command {
  const machines = new Command('machines').description('the machines overnight serve knows: list them, their events, approve or deny unknown ones, install one again, mark one done, import and export the inventory');
  const macArg = (mac: string) => {
    const m = /^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.exec(mac);
    if (!m) throw new ServeError('E_CONFIG', `"${mac}" is not a MAC address`);
    return mac.toLowerCase().replace(/[:-]/g, '').match(/../g)!.join(':');
  };
  machines
    .command('list')
    .description('every machine, its state and phase, and when it was last seen')
    .option('--data <dir>', 'data folder of overnight serve')
    .option('--json', 'as JSON (the API\'s MachineView)')
    .action((o: { data?: string; json?: boolean }) => {
      const store = openRecords(o.data);
      try {
        const list = store.machines().map(machineView);
        if (o.json) return io.out(JSON.stringify(list, null, 2));
        for (const m of list) {
          const state = m.state === 'failed' ? `failed in ${m.failure?.phase ?? '?'}` : m.state === 'stalled' ? `stalled in ${m.stalledIn}` : m.state;
          io.out(`${m.mac}  ${(m.name ?? '-').padEnd(15)} ${state.padEnd(18)} ${m.known ? 'inventory' : `unknown${m.approval ? ` (${m.approval})` : ''}`}  ${new Date(m.lastSeen).toISOString()}${m.redeploy ? '  redeploy' : ''}${m.failure ? `  ${m.failure.reason}` : ''}`);
        }
      } finally {
        store.close();
      }
    });
  const act = (name: string, what: string, fn: (fleet: Fleet, mac: string) => string) =>
    machines
      .command(name)
      .description(what)
      .argument('<mac>')
      .option('--data <dir>', 'data folder of overnight serve')
      .action((mac: string, o: { data?: string }) => {
        const store = openRecords(o.data);
        // A running serve sees the change within a second: it watches the records.
        const fleet = new Fleet({ store });
        try {
          if (!store.machine(macArg(mac))) throw new ServeError('E_CONFIG', `no machine ${macArg(mac)} in ${store.path}`);
          io.err(`${macArg(mac)}: ${fn(fleet, macArg(mac))}`);
        } finally {
          fleet.close();
          store.close();
        }
      });
  act('approve', 'let an unknown machine install (unknown policy: approve)', (f, mac) => (f.setApproval(mac, 'approved', 'cli'), 'approved'));
  act('deny', 'never install this unknown machine', (f, mac) => (f.setApproval(mac, 'denied', 'cli'), 'denied'));
  act('redeploy', 'install Windows on this machine again at its next network boot (a finished machine otherwise boots its disk)', (f, mac) => (f.redeploy(mac, 'cli'), 'installs again at its next network boot'));
  act('done', 'mark this machine done by hand (it boots its disk from now on)', (f, mac) => (f.markDone(mac, 'cli'), 'marked done'));
  machines
    .command('events')
    .description("a machine's recorded phases, in order, with their times")
    .argument('<mac>')
    .option('--data <dir>', 'data folder of overnight serve')
    .option('--json', 'as JSON')
    .action((mac: string, o: { data?: string; json?: boolean }) => {
      const store = openRecords(o.data);
      try {
        const evs = store.events({ mac: macArg(mac) });
        if (o.json) return io.out(JSON.stringify(evs, null, 2));
        for (const e of evs) io.out(`${e.time.toISOString()}  ${e.phase.padEnd(10)} ${e.source.padEnd(6)} ${e.detail ?? ''}`.trimEnd());
      } finally {
        store.close();
      }
    });
  machines
    .command('import')
    .description('add or update machines from an inventory file (CSV: mac,name,profile,media,group and profile fields; or YAML)')
    .argument('<file>')
    .option('--data <dir>', 'data folder of overnight serve')
    .action(async (file: string, o: { data?: string }) => {
      const list = await parseInventoryFile(file);
      const store = Store.open(join(serveDataDir(o.data, undefined), 'overnight.sqlite'));
      try {
        for (const m of list) store.seen(m.mac, { name: m.name, profile: m.profile, media: m.media, group: m.group, overrides: m.overrides, known: true });
        io.err(`${list.length} machine(s) imported into ${store.path}`);
      } finally {
        store.close();
      }
    });
  machines
    .command('export')
    .description('the inventory as CSV (default) or YAML, to edit and import again')
    .option('--data <dir>', 'data folder of overnight serve')
    .option('--yaml', 'as YAML')
    .option('--all', 'also the unknown machines serve has seen')
    .action((o: { data?: string; yaml?: boolean; all?: boolean }) => {
      const store = openRecords(o.data);
      try {
        const list = store
          .machines()
          .filter((m) => o.all || m.known)
          .map((m) => ({ mac: m.mac, name: m.name, profile: m.profile, media: m.media, group: m.group, overrides: m.overrides }));
        io.out((o.yaml ? inventoryToYaml(list) : inventoryToCsv(list)).trimEnd());
      } finally {
        store.close();
      }
    });
  return machines;
}
