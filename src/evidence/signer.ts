// The server's evidence signing key: generated once in the data dir, or loaded from a file or a secret
// reference; exposed as a Signer that never reveals the private key (not to logs, not to callers).
import { createPrivateKey, createPublicKey, sign as edSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../core/errors.js';
import { resolveOperatorSecret } from '../integrations/secrets.js';
import { keyIdOf } from '../protocol/evidence-format.js';

/** Signs evidence. Created once per process (runServer) and passed to routes and services through Deps. */
export interface Signer {
  /** "ed25519:<16 hex>", the packets' signer_key_ref and the DSSE keyid. */
  readonly keyId: string;
  readonly publicKeyPem: string;
  /** Ed25519 signature of data (64 bytes). */
  sign(data: Uint8Array): Buffer;
}

export const KEY_FILE_NAME = 'evidence-signing.key';

function signerOf(privateKey: KeyObject): Signer {
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError(`The evidence signing key must be an Ed25519 private key, not ${privateKey.asymmetricKeyType}.`);
  }
  const publicKey = createPublicKey(privateKey);
  const keyId = keyIdOf(publicKey);
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return {
    keyId,
    publicKeyPem,
    sign: (data) => edSign(null, data, privateKey),
    // Keep the key out of JSON.stringify/pino: a Signer that lands in a log shows only its id.
    toJSON: () => ({ keyId }),
  } as Signer;
}

/** A fresh in-memory key: tests, and benches. Never persisted. */
export function ephemeralSigner(): Signer {
  return signerOf(generateKeyPairSync('ed25519').privateKey);
}

/** A signer from PEM text (PKCS#8 private key). The error never quotes the text. */
export function signerFromPem(pem: string, source: string): Signer {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new ConfigError(`The evidence signing key from ${source} is not a PEM private key.`);
  }
  return signerOf(key);
}

export interface SignerSource {
  dataDir: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Where the key comes from, first match wins: GANTRY_EVIDENCE_KEY_REF (a secret reference, env:NAME or
 * file:/path), GANTRY_EVIDENCE_KEY_FILE, else <data-dir>/evidence-signing.key, created (mode 0600) on
 * first start and reused after. Replicas may each have their own key: every key is registered.
 */
export async function loadSigner({
  dataDir,
  env = process.env,
}: SignerSource): Promise<{ signer: Signer; created: boolean; source: string }> {
  const ref = env.GANTRY_EVIDENCE_KEY_REF;
  if (ref) return { signer: signerFromPem(await resolveOperatorSecret(ref, env), ref), created: false, source: ref };
  const given = env.GANTRY_EVIDENCE_KEY_FILE;
  const file = given ? path.resolve(given) : path.join(dataDir, KEY_FILE_NAME);
  let pem: string | undefined;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A configured file must exist: silently generating a different key would fork the operator's trust.
    if (code !== 'ENOENT' || given) throw new ConfigError(`The evidence signing key file ${file} cannot be read (${code ?? 'error'}).`);
  }
  if (pem !== undefined) return { signer: signerFromPem(pem, file), created: false, source: file };
  const { privateKey } = generateKeyPairSync('ed25519');
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  // wx: two processes sharing a data dir must not overwrite each other's fresh key.
  try {
    await writeFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadSigner({ dataDir, env });
    throw err;
  }
  await chmod(file, 0o600);
  return { signer: signerOf(privateKey), created: true, source: file };
}
