// `gantry evidence …`: list/get/export talk to the API; `verify` checks a bundle OFFLINE, with no server
// and no network. It imports src/protocol/evidence-format.ts, the pure format shared with the
// server, so the verifier is the same code that defines the format.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { type Bundle, BundleFormatError, publicKeyFromPem, type VerifyReport, verifyBundleText } from '../protocol/evidence-format.js';
import { type ApiOpts, apiCommand, clientFor, emit } from './api-command.js';
import { ref } from './client.js';
import { CliError, EXIT, printJson, printRecord, printTable } from './output.js';

interface Packet {
  id: string;
  packetType: string;
  sequence: number;
  promotionId: string | null;
  content: Record<string, unknown>;
  contentHash: string;
  signerKeyRef: string;
  previousHash: string | null;
  createdAt: string;
}

interface FilterOpts extends ApiOpts {
  promotion?: string;
  environment?: string;
  type?: string;
  since?: string;
}

function filterQuery(o: FilterOpts) {
  return { promotion: o.promotion, environment: o.environment, type: o.type, since: o.since };
}

function envName(p: Packet): string {
  const e = p.content.environment as { name?: unknown } | undefined;
  return typeof e?.name === 'string' ? e.name : '';
}

function withFilters(cmd: Command): Command {
  return cmd
    .option('--promotion <id>', 'only packets of this promotion')
    .option('--environment <env>', 'only packets about promotions into this environment (id or name)')
    .option('--since <time>', 'only packets created at or after this ISO 8601 time');
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.invalid);
  }
}

/**
 * Verifies a bundle file's text (verifyBundleText: packet by packet, without holding the whole tree);
 * anything that is not a bundle is exit 2 (unreadable input), not a verification failure.
 */
export function verifyBundleFile(file: string, text: string, trustedKeys?: string[]): VerifyReport {
  try {
    return verifyBundleText(text, trustedKeys);
  } catch (err) {
    if (err instanceof SyntaxError) throw new CliError(`${file} is not JSON: ${err.message}`, EXIT.invalid);
    if (err instanceof BundleFormatError) throw new CliError(`${file}: ${err.message}`, EXIT.invalid);
    throw err;
  }
}

function printReport(file: string, r: VerifyReport): void {
  if (r.ok) {
    process.stdout.write(
      `OK ${file}: ${r.packets} packet(s) verified — content hashes, signed headers, signatures (${r.keysUsed.join(', ') || 'no keys needed'}), chain continuity\n`,
    );
    return;
  }
  process.stdout.write(`FAILED ${file}: ${r.failures.length} problem(s) in ${r.packets} packet(s)\n`);
  for (const f of r.failures) {
    const who = f.index < 0 ? 'bundle' : `packet #${f.index} ${f.id} (${f.packetType}, sequence ${f.sequence})`;
    process.stdout.write(`  ${who}: ${f.check}: ${f.message}\n`);
  }
}

export function registerEvidenceCommands(program: Command): void {
  const ev = program.command('evidence').description('Signed, chained evidence packets: list, show, export, verify offline');

  withFilters(apiCommand(ev, 'list', 'List evidence packets in chain order (oldest first)', ['gantry evidence list --environment prod']))
    .option('--type <type>', 'release_decision | deployment | rollback | gate_override | ab_promotion')
    .action(async (opts: FilterOpts) => {
      const items = await clientFor(opts).listAll<Packet>('/evidence', filterQuery(opts));
      emit(opts, items, (rows) =>
        printTable(rows, [
          ['SEQ', (p) => p.sequence],
          ['TYPE', (p) => p.packetType],
          ['ENVIRONMENT', envName],
          ['PROMOTION', (p) => p.promotionId ?? ''],
          ['CREATED', (p) => p.createdAt],
          ['ID', (p) => p.id],
        ]),
      );
    });

  apiCommand(ev, 'get <id>', 'Show one packet with its content', ['gantry evidence get 0190…']).action(
    async (id: string, opts: ApiOpts) => {
      const p = await clientFor(opts).get<Packet>(`/evidence/${ref(id)}`);
      emit(opts, p, () => {
        const { content, ...rest } = p;
        printRecord({ ...rest });
        process.stdout.write(`\n${JSON.stringify(content, null, 2)}\n`);
      });
    },
  );

  withFilters(
    apiCommand(ev, 'export', 'Write a self-contained bundle (packets, public keys, chain facts) for offline verification', [
      'gantry evidence export --environment prod --since 2026-01-01T00:00:00Z -o prod.bundle.json',
      'gantry evidence export --promotion 0190… -o promotion.bundle.json',
    ]),
  )
    .option('-o, --output <file>', 'write the bundle here (default: stdout)')
    .action(async (opts: FilterOpts & { output?: string }) => {
      const bundle = await clientFor(opts).get<Bundle>('/evidence/export', filterQuery(opts));
      // Compact, as the API serves it: each packet's content is then its signed payload's exact text, which
      // `verify` compares as one string (an indented file verifies too, member by member and slower).
      const text = `${JSON.stringify(bundle)}\n`;
      if (!opts.output) {
        process.stdout.write(text);
        return;
      }
      writeFileSync(opts.output, text);
      process.stderr.write(`wrote ${bundle.packets.length} packet(s) and ${bundle.keys.length} key(s) to ${opts.output}\n`);
    });

  ev.command('verify <bundle>')
    .description('Verify a bundle offline: content hashes, signatures, chain continuity. Exit 0 ok, 1 failed, 2 unreadable')
    .option(
      '--key <pem>',
      "trust only this public key (PEM file) instead of the bundle's keys; repeatable",
      (v: string, p: string[] = []) => [...p, v],
    )
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  gantry evidence verify prod.bundle.json\n  gantry evidence verify prod.bundle.json --key gantry-evidence.pub.pem\n',
    )
    .action((file: string, opts: { key?: string[]; json?: boolean }) => {
      const text = readText(file, 'bundle');
      const keys = opts.key?.map((k) => {
        const pem = readText(k, 'public key');
        try {
          publicKeyFromPem(pem);
        } catch (err) {
          throw new CliError(`${k} is not an Ed25519 public key in PEM: ${(err as Error).message}`, EXIT.invalid);
        }
        return pem;
      });
      const report = verifyBundleFile(file, text, keys);
      if (opts.json) printJson(report);
      else printReport(file, report);
      if (!report.ok) process.exitCode = EXIT.other;
    });
}
