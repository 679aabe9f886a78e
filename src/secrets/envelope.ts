// Envelope encryption for the tenant secret store: each value is sealed with its own random AES-256-GCM
// data key, and that data key is wrapped by the operator's master key. Both seals are bound (GCM AAD) to
// tenant, name and version, so a ciphertext copied to another row, tenant or version does not open.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, GantryError } from '../core/errors.js';

/** The operator's master key: 32 random bytes; `id` (16 hex of its SHA-256) is stored with every row it wraps. */
export interface MasterKey {
  readonly id: string;
  readonly key: Buffer;
}

export interface SecretBinding {
  tenantId: string;
  name: string;
  version: number;
}

export interface Sealed {
  keyId: string;
  wrappedKey: Buffer;
  ciphertext: Buffer;
}

const IV = 12;
const TAG = 16;

/** A secret that exists but cannot be opened with this server's key; 422 names the key ids, never a value. */
export class SecretKeyMismatchError extends GantryError {
  constructor(message: string) {
    super('secret_key_mismatch', 422, message);
  }
}

export function masterKeyOf(key: Buffer): MasterKey {
  if (key.length !== 32) throw new ConfigError('A secret-store master key must be 32 bytes.');
  const id = createHash('sha256').update(key).digest('hex').slice(0, 16);
  // Keep the key bytes out of JSON.stringify/pino: a MasterKey that lands in a log shows only its id.
  return { id, key, toJSON: () => ({ id }) } as MasterKey;
}

/** A fresh in-memory key: tests. Never persisted. */
export function ephemeralMasterKey(): MasterKey {
  return masterKeyOf(randomBytes(32));
}

/** The key file holds the 32 bytes as base64 on one line. */
export function parseMasterKey(text: string, file: string): MasterKey {
  const bytes = Buffer.from(text.trim(), 'base64');
  if (bytes.length !== 32) {
    throw new ConfigError(`The secret-store key file ${file} must hold 32 random bytes in base64 (e.g. \`openssl rand -base64 32\`).`);
  }
  return masterKeyOf(bytes);
}

/**
 * Reads the master key file; with `create`, a missing file is created (32 random bytes, mode 0600).
 * Every replica must read the same file: a key one replica generated is unknown to the others.
 */
export async function loadMasterKey(file: string, create: boolean): Promise<{ key: MasterKey; created: boolean }> {
  try {
    return { key: parseMasterKey(await readFile(file, 'utf8'), file), created: false };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') {
      if (err instanceof GantryError) throw err;
      throw new ConfigError(`The secret-store key file ${file} cannot be read (${code ?? 'error'}).`);
    }
    if (!create) throw new ConfigError(`The secret-store key file ${file} does not exist.`);
  }
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    // wx: two processes starting on one data dir must not overwrite each other's fresh key.
    await writeFile(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadMasterKey(file, false);
    throw err;
  }
  await chmod(file, 0o600);
  return { key: parseMasterKey(await readFile(file, 'utf8'), file), created: true };
}

const aad = (kind: 'dek' | 'value', b: SecretBinding) => Buffer.from(`gantry-secret/${kind}/${b.tenantId}/${b.name}/${b.version}`, 'utf8');

function encrypt(key: Buffer, plain: Buffer, ad: Buffer): Buffer {
  const iv = randomBytes(IV);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(ad);
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]);
}

function decrypt(key: Buffer, blob: Buffer, ad: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, blob.subarray(0, IV));
  d.setAAD(ad);
  d.setAuthTag(blob.subarray(IV, IV + TAG));
  return Buffer.concat([d.update(blob.subarray(IV + TAG)), d.final()]);
}

export function seal(master: MasterKey, binding: SecretBinding, value: string): Sealed {
  const dataKey = randomBytes(32);
  try {
    return {
      keyId: master.id,
      wrappedKey: encrypt(master.key, dataKey, aad('dek', binding)),
      ciphertext: encrypt(dataKey, Buffer.from(value, 'utf8'), aad('value', binding)),
    };
  } finally {
    dataKey.fill(0);
  }
}

const what = (b: SecretBinding) => `Secret "${b.name}" (version ${b.version})`;

export function open(master: MasterKey, binding: SecretBinding, sealed: Sealed): string {
  if (sealed.keyId !== master.id) {
    throw new SecretKeyMismatchError(
      `${what(binding)} is wrapped with secret-store key ${sealed.keyId}, but this server holds key ${master.id}; ` +
        'give every replica the same GANTRY_SECRET_KEY_FILE, or finish `gantry admin rotate-secret-key`.',
    );
  }
  let dataKey: Buffer | undefined;
  try {
    dataKey = decrypt(master.key, sealed.wrappedKey, aad('dek', binding));
    return decrypt(dataKey, sealed.ciphertext, aad('value', binding)).toString('utf8');
  } catch {
    throw new SecretKeyMismatchError(`${what(binding)} does not decrypt with key ${master.id}: the stored row was altered or moved.`);
  } finally {
    dataKey?.fill(0);
  }
}

/** Re-wraps a data key under a new master key; the value's ciphertext is untouched. */
export function rewrap(from: MasterKey, to: MasterKey, binding: SecretBinding, wrappedKey: Buffer): Buffer {
  let dataKey: Buffer | undefined;
  try {
    dataKey = decrypt(from.key, wrappedKey, aad('dek', binding));
  } catch {
    throw new SecretKeyMismatchError(`${what(binding)}: its data key does not unwrap with key ${from.id}.`);
  }
  try {
    return encrypt(to.key, dataKey, aad('dek', binding));
  } finally {
    dataKey.fill(0);
  }
}
