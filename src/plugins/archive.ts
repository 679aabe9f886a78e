// Plugin packages as .tgz archives: reads one in memory (node-tar's parser), refuses anything but plain
// files and directories inside the package, and writes the files into a cache directory.
import { createHash } from 'node:crypto';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ReadEntry } from 'tar';
import { ValidationError } from '../core/errors.js';

export const MAX_ARCHIVE_BYTES = 20 * 1024 * 1024;
const MAX_UNPACKED_BYTES = 100 * 1024 * 1024;
const MAX_ENTRIES = 5000;

export const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

const refuse = (message: string) => new ValidationError(message, [{ path: 'body.archive', message }], 'plugin_archive_invalid');

/** Normalises an entry path and refuses absolute paths and "..": an archive may only write inside its package. */
function safePath(p: string): string | undefined {
  const norm = path.posix.normalize(p.replace(/^\.\/+/, ''));
  if (norm === '.' || norm === '' || norm === './') return undefined;
  if (path.posix.isAbsolute(norm) || norm.split('/').includes('..')) throw refuse(`The archive entry "${p}" points outside the package.`);
  return norm.replace(/\/$/, '');
}

/** The files of a .tgz (or .tar), keyed by path; an npm-pack "package/" prefix is stripped. */
export async function readArchive(bytes: Buffer): Promise<Map<string, Buffer>> {
  if (bytes.length === 0) throw refuse('The plugin archive is empty.');
  if (bytes.length > MAX_ARCHIVE_BYTES) throw refuse(`The plugin archive is larger than ${MAX_ARCHIVE_BYTES} bytes.`);
  const files = new Map<string, Buffer>();
  let total = 0;
  let count = 0;
  let problem: Error | undefined;
  // Loaded here rather than at start: only installing a plugin (or reading one back) needs it.
  const { Parser } = await import('tar');
  await new Promise<void>((resolve, reject) => {
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        count++;
        try {
          if (count > MAX_ENTRIES) throw refuse(`The plugin archive has more than ${MAX_ENTRIES} entries.`);
          const p = safePath(entry.path);
          if (entry.type === 'Directory' || p === undefined) return entry.resume();
          if (entry.type !== 'File' && entry.type !== 'OldFile' && entry.type !== 'ContiguousFile') {
            // Links could point the host at files outside the package; devices and FIFOs have no place in one.
            throw refuse(`The archive entry "${entry.path}" is a ${entry.type}; a plugin package holds only files and directories.`);
          }
          total += entry.size;
          if (total > MAX_UNPACKED_BYTES) throw refuse(`The plugin archive unpacks to more than ${MAX_UNPACKED_BYTES} bytes.`);
          const chunks: Buffer[] = [];
          entry.on('data', (c: Buffer) => chunks.push(c));
          entry.on('end', () => files.set(p, Buffer.concat(chunks)));
        } catch (err) {
          problem ??= err as Error;
          entry.resume();
        }
      },
    });
    parser.on('error', (err: Error) => reject(refuse(`The plugin archive cannot be read as .tgz or .tar: ${err.message}`)));
    parser.on('close', () => resolve());
    parser.end(bytes);
  });
  if (problem) throw problem;
  if (files.size === 0) throw refuse('The plugin archive holds no files.');
  const paths = [...files.keys()];
  if (paths.every((p) => p.startsWith('package/'))) {
    return new Map([...files].map(([p, b]) => [p.slice('package/'.length), b]));
  }
  return files;
}

/**
 * Writes the files into dir atomically: into a sibling temp directory first, then renamed, so a
 * concurrent reader never sees half a package. An existing dir (same content hash) is kept. Files are
 * 0644 and directories 0755 whatever the umask: the plugin's unprivileged user reads them, never writes.
 */
export async function writePackage(files: Map<string, Buffer>, dir: string): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await rm(tmp, { recursive: true, force: true });
  const dirs = new Set<string>([tmp]);
  for (const [p, bytes] of files) {
    const target = path.join(tmp, p);
    // safePath already refused escapes; this double-checks the joined result.
    if (!target.startsWith(tmp + path.sep)) throw refuse(`The archive entry "${p}" points outside the package.`);
    await mkdir(path.dirname(target), { recursive: true });
    for (let d = path.dirname(target); d.startsWith(tmp); d = path.dirname(d)) dirs.add(d);
    await writeFile(target, bytes, { mode: 0o644 });
    await chmod(target, 0o644);
  }
  for (const d of dirs) await chmod(d, 0o755);
  await mkdir(path.dirname(dir), { recursive: true });
  try {
    await rename(tmp, dir);
  } catch (err) {
    // Another caller extracted the same archive first; its copy is identical.
    await rm(tmp, { recursive: true, force: true });
    if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}
