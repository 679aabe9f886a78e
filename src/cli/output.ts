// CLI output: human tables by default, JSON with --json; errors to stderr with a non-zero exit code.
import Table from 'cli-table3';

/** Stable exit codes; scripts rely on them (docs/cli.md). */
export const EXIT = {
  other: 1,
  invalid: 2,
  auth: 3,
  notFound: 4,
  conflict: 5,
  unavailable: 6,
} as const;

/** An error the CLI explains itself: printed as `error: <message>` plus detail lines, never as a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.other,
    readonly details: string[] = [],
  ) {
    super(message);
  }
}

export function formatError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const details = err instanceof CliError ? err.details.map((d) => `  ${d}\n`).join('') : '';
  return `error: ${msg}\n${details}`;
}

export function exitWithError(err: unknown): never {
  process.stderr.write(formatError(err));
  process.exit(err instanceof CliError ? err.exitCode : EXIT.other);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export type Column<T> = [header: string, value: (row: T) => unknown];

export function printTable<T>(rows: T[], columns: Column<T>[]): void {
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const table = new Table({
    head: columns.map(([h]) => h),
    style: { head: [], border: [] },
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '  ',
    },
  });
  for (const row of rows) table.push(columns.map(([, f]) => cell(f(row))));
  process.stdout.write(
    `${table
      .toString()
      .split('\n')
      .map((l) => l.trimEnd().replace(/^ /, ''))
      .join('\n')}\n`,
  );
}

/** One resource as a two-column field/value listing, for `get` commands. */
export function printRecord(obj: Record<string, unknown>): void {
  printTable(
    Object.entries(obj).map(([field, value]) => ({ field, value })),
    [
      ['FIELD', (r) => r.field],
      ['VALUE', (r) => r.value],
    ],
  );
}

/** Shortens a cell for wide values (JSON objects) in list tables; `get` and --json show them whole. */
export function clip(v: unknown, max = 60): string {
  const s = cell(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
