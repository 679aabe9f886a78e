// The envelope: a value opens only with its master key and only as the tenant, name and version it was
// sealed for; re-wrapping changes the key, not the value's ciphertext; key files are created 0600.
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ephemeralMasterKey, loadMasterKey, open, rewrap, SecretKeyMismatchError, seal } from './envelope.js';

const A = { tenantId: '0190f7c2-0000-7000-8000-00000000000a', name: 'db', version: 1 };

describe('secret envelope', () => {
  it('opens with its key and binding only', () => {
    const k = ephemeralMasterKey();
    const sealed = seal(k, A, 'pa55-word');
    expect(sealed.ciphertext.toString('utf8')).not.toContain('pa55-word');
    expect(open(k, A, sealed)).toBe('pa55-word');
    for (const other of [
      { ...A, tenantId: '0190f7c2-0000-7000-8000-00000000000b' },
      { ...A, name: 'other' },
      { ...A, version: 2 },
    ]) {
      expect(() => open(k, other, sealed)).toThrow(SecretKeyMismatchError);
    }
    const other = ephemeralMasterKey();
    expect(() => open(other, A, sealed)).toThrow(/wrapped with secret-store key/);
    expect(JSON.stringify(k)).toBe(JSON.stringify({ id: k.id }));
  });

  it('re-wraps the data key under a new key; the old key no longer opens it', () => {
    const from = ephemeralMasterKey();
    const to = ephemeralMasterKey();
    const sealed = seal(from, A, 'v');
    const moved = { keyId: to.id, wrappedKey: rewrap(from, to, A, sealed.wrappedKey), ciphertext: sealed.ciphertext };
    expect(open(to, A, moved)).toBe('v');
    expect(() => open(from, A, { ...moved, keyId: from.id })).toThrow(SecretKeyMismatchError);
  });

  it('creates a key file with mode 0600 once, and refuses a malformed one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-key-'));
    try {
      const file = path.join(dir, 'sub', 'secrets.key');
      const first = await loadMasterKey(file, true);
      expect(first.created).toBe(true);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const again = await loadMasterKey(file, true);
      expect([again.created, again.key.id]).toEqual([false, first.key.id]);
      await writeFile(path.join(dir, 'bad.key'), 'not a key');
      await expect(loadMasterKey(path.join(dir, 'bad.key'), true)).rejects.toThrow(/32 random bytes in base64/);
      await expect(loadMasterKey(path.join(dir, 'missing.key'), false)).rejects.toThrow(/does not exist/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
