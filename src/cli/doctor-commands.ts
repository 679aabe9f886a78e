// `gantry doctor`: runs the checks of doctor.ts and prints each with what to do; exit 1 when any is a problem.
import type { Command } from 'commander';
import { type ApiOpts, apiCommand, clientFor } from './api-command.js';
import { fetchFor } from './client.js';
import { type Check, problems, runDoctor } from './doctor.js';
import { printJson } from './output.js';

const MARK: Record<Check['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

export function registerDoctorCommands(program: Command): void {
  apiCommand(
    program,
    'doctor',
    'Check the server, its database, the clocks, the token, the agents and the registries; say what to do about each problem',
    ['gantry doctor', 'gantry doctor --server https://gantry.example.com --json'],
  ).action(async (opts: ApiOpts) => {
    const client = clientFor(opts);
    let root = program;
    while (root.parent) root = root.parent;
    const checks = await runDoctor({ conn: client.conn, client, fetch: fetchFor(client.conn), cliVersion: root.version() ?? 'unknown' });
    const n = problems(checks);
    if (opts.json) {
      printJson({ ok: n === 0, problems: n, checks });
    } else {
      const width = Math.max(...checks.map((c) => c.name.length));
      for (const c of checks) {
        process.stdout.write(`${MARK[c.status]}  ${c.name.padEnd(width)}  ${c.detail}\n`);
        if (c.fix) process.stdout.write(`      ${' '.repeat(width)}  → ${c.fix}\n`);
      }
      process.stdout.write(n === 0 ? '\nNo problems found.\n' : `\n${n} problem${n === 1 ? '' : 's'} found.\n`);
    }
    if (n > 0) process.exitCode = 1;
  });
}
