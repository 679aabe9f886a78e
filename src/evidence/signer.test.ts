// The signing key's life: created 0600 in the data dir on first start, reused after, or loaded from a
// file or a secret reference; never shown in logs or errors.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.js';
import { SecretUnavailableError } from '../integrations/secret-errors.js';
import { buildEnvelope, pae, parseEnvelope, publicKeyFromPem, verifyEnvelopeSignature } from '../protocol/evidence-format.js';
import { KEY_FILE_NAME, loadSigner } from './signer.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'gantry-key-'));
const pkcs8 = () => generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

describe('evidence signing key', () => {
  it('is created in the data dir with mode 0600 and reused on restart', async () => {
    const dir = tmp();
    const first = await loadSigner({ dataDir: dir, env: {} });
    expect(first.created).toBe(true);
    const file = path.join(dir, KEY_FILE_NAME);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = await loadSigner({ dataDir: dir, env: {} });
    expect(again.created).toBe(false);
    expect(again.signer.keyId).toBe(first.signer.keyId);
    expect(first.signer.keyId).toMatch(/^ed25519:[0-9a-f]{16}$/);
  });

  it('loads GANTRY_EVIDENCE_KEY_FILE, and refuses a configured file that is missing instead of generating one', async () => {
    const dir = tmp();
    const file = path.join(dir, 'k.pem');
    writeFileSync(file, pkcs8(), { mode: 0o600 });
    const s = await loadSigner({ dataDir: tmp(), env: { GANTRY_EVIDENCE_KEY_FILE: file } });
    expect(s.created).toBe(false);
    expect(s.source).toBe(file);
    await expect(loadSigner({ dataDir: dir, env: { GANTRY_EVIDENCE_KEY_FILE: path.join(dir, 'none.pem') } })).rejects.toBeInstanceOf(
      ConfigError,
    );
  });

  it('resolves GANTRY_EVIDENCE_KEY_REF through the secret resolver (env: and file:)', async () => {
    const pem = pkcs8();
    const viaEnv = await loadSigner({ dataDir: tmp(), env: { GANTRY_EVIDENCE_KEY_REF: 'env:EV_KEY', EV_KEY: pem } });
    const dir = tmp();
    writeFileSync(path.join(dir, 'k.pem'), pem);
    const viaFile = await loadSigner({ dataDir: tmp(), env: { GANTRY_EVIDENCE_KEY_REF: `file:${path.join(dir, 'k.pem')}` } });
    expect(viaFile.signer.keyId).toBe(viaEnv.signer.keyId);
    await expect(loadSigner({ dataDir: tmp(), env: { GANTRY_EVIDENCE_KEY_REF: 'env:MISSING' } })).rejects.toBeInstanceOf(
      SecretUnavailableError,
    );
  });

  it('never puts key material into errors or serialised signers', async () => {
    const secret = 'not-a-key-but-secret-text-123';
    const err = await loadSigner({ dataDir: tmp(), env: { GANTRY_EVIDENCE_KEY_REF: 'env:K', K: secret } }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).not.toContain(secret);
    const pem = pkcs8();
    const { signer } = await loadSigner({ dataDir: tmp(), env: { GANTRY_EVIDENCE_KEY_REF: 'env:K', K: pem } });
    const shown = JSON.stringify({ signer });
    expect(shown).toBe(JSON.stringify({ signer: { keyId: signer.keyId } }));
    expect(shown).not.toContain('PRIVATE');
  });

  it('signs a DSSE envelope that verifies against its public key, over the PAE', async () => {
    const { signer } = await loadSigner({ dataDir: tmp(), env: {} });
    expect(pae('t', Buffer.from('ab')).toString()).toBe('DSSEv1 1 t 2 ab');
    const env = buildEnvelope('{"a":1}', signer.keyId, (d) => signer.sign(d));
    const parsed = parseEnvelope(JSON.stringify(env))!;
    const { key, keyId } = publicKeyFromPem(signer.publicKeyPem);
    expect(keyId).toBe(signer.keyId);
    expect(verifyEnvelopeSignature(parsed, parsed.signatures[0]!, key)).toBe(true);
    expect(verifyEnvelopeSignature({ ...parsed, payload: Buffer.from('{"a":2}').toString('base64') }, parsed.signatures[0]!, key)).toBe(
      false,
    );
  });
});
