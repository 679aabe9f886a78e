// Where `gantry server|agent install-service` puts the unit: stdout by default, a file with --output, the
// system's unit directory with --install (then the next steps on stderr).
import { CliError, EXIT } from '../cli/output.js';

/** Renders a unit; a bad option value is a usage error (exit 2) naming it. */
export function unitOrUsageError(render: () => string): string {
  try {
    return render();
  } catch (err) {
    throw new CliError((err as Error).message, EXIT.invalid);
  }
}

export async function emitUnit(unit: string, o: { output?: string; install?: boolean }, systemFile: string, name: string): Promise<void> {
  if (o.output && o.install) throw new CliError('--output and --install exclude each other', EXIT.invalid);
  const file = o.install ? systemFile : o.output;
  if (!file) {
    process.stdout.write(unit);
    return;
  }
  const { writeUnit } = await import('./systemd.js');
  try {
    await writeUnit(file, unit);
  } catch (err) {
    throw new CliError(`cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.other);
  }
  process.stderr.write(
    `wrote ${file}\nnext: create the user (see the unit's first lines), then systemctl daemon-reload && systemctl enable --now ${name}\n`,
  );
}
