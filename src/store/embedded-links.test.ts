// The embedded PostgreSQL's library links, made at start when the install ran no install scripts.
import { mkdir, mkdtemp, readlink, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { linkEmbeddedLibraries } from './embedded.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function fakePackage(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-pglinks-'));
  dirs.push(dir);
  await mkdir(path.join(dir, 'native', 'lib'), { recursive: true });
  await writeFile(path.join(dir, 'native', 'lib', 'libicuuc.so.60.2'), 'library');
  await writeFile(
    path.join(dir, 'native', 'pg-symlinks.json'),
    JSON.stringify([
      { source: 'native/lib/libicuuc.so.60.2', target: 'native/lib/libicuuc.so.60' },
      { source: 'native/lib/libicuuc.so.60.2', target: 'native/lib/libicuuc.so' },
    ]),
  );
  return dir;
}

describe('embedded PostgreSQL library links', () => {
  it('makes the missing links relative to their directory, and leaves existing ones', async () => {
    const dir = await fakePackage();
    expect(await linkEmbeddedLibraries(dir)).toBeUndefined();
    expect(await readlink(path.join(dir, 'native', 'lib', 'libicuuc.so.60'))).toBe('libicuuc.so.60.2');
    expect(await readlink(path.join(dir, 'native', 'lib', 'libicuuc.so'))).toBe('libicuuc.so.60.2');
    expect(await linkEmbeddedLibraries(dir)).toBeUndefined();
  });

  it('finds this installation’s binaries package (its links are all there)', async () => {
    expect(await linkEmbeddedLibraries()).toBeUndefined();
  });
});
