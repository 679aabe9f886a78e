// The file format of `gantry apply`: the published JSON Schema is the generated one, and the defaults the
// plan assumes for fields a file leaves out are the ones the server fills in (else a second apply would
// never be a no-op).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { templateBody } from '../engine/index.js';
import { environmentConfig } from '../environments/model.js';
import { INTEGRATION_TYPES } from '../integrations/types.js';
import { CONNECTIONS } from '../targets/connection.js';
import { configJsonSchema, SPECS } from './apply-format.js';
import { canonical, withDefaults } from './apply-plan.js';

describe('the configuration file format', () => {
  it('is published as schemas/gantry-config.schema.json, up to date (npm run config-schema)', () => {
    const file = path.resolve(import.meta.dirname, '../../schemas/gantry-config.schema.json');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(configJsonSchema());
  });

  it('is a JSON Schema an editor can use: the examples pass it, a mistake does not', () => {
    const validate = new Ajv({ strict: false, validateFormats: false }).compile(configJsonSchema());
    const dir = path.resolve(import.meta.dirname, '../../examples/config');
    const docs = readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .flatMap((f) => parseAllDocuments(readFileSync(path.join(dir, f), 'utf8')) as { toJS(): unknown }[]);
    expect(docs.length).toBeGreaterThan(5);
    for (const d of docs) expect(validate(d.toJS()), JSON.stringify(validate.errors)).toBe(true);
    const env = { apiVersion: 'gantry/v1', kind: 'Environment', metadata: { name: 'prod' }, spec: { requiredApprovals: 2 } };
    expect(validate(env)).toBe(true);
    expect(validate({ ...env, spec: { requiredApprovals: 'two' } })).toBe(false);
    expect(validate({ ...env, spec: { requireSOD: true } })).toBe(false);
    expect(validate({ ...env, kind: 'Environmnt' })).toBe(false);
  });

  it('assumes the defaults the server fills in', () => {
    const compose = { dockerHost: 'unix:///var/run/docker.sock', projectDir: '/srv/app' };
    const target = (targetType: string, connection: object) =>
      withDefaults({ kind: 'Target', name: 't', spec: { environment: 'e', targetType, connection } }).connection;
    expect(target('compose_host', compose)).toEqual(CONNECTIONS.compose_host.parse(compose));
    const ssh = { host: 'h.example.com', user: 'deploy', credentialRef: 'secret:k' };
    expect(target('ssh_host', ssh)).toEqual(CONNECTIONS.ssh_host.parse(ssh));

    const vault = { address: 'https://vault.example.com' };
    expect(withDefaults({ kind: 'Integration', name: 'v', spec: { typeId: 'secret_store_vault', config: vault } }).config).toEqual(
      INTEGRATION_TYPES.secret_store_vault.parse(vault),
    );
    const { credentialRef: _, ...channel } = withDefaults({
      kind: 'NotificationChannel',
      name: 'n',
      spec: { url: 'https://x.example.com' },
    });
    expect(channel).toEqual(INTEGRATION_TYPES.notification_webhook.parse({ url: 'https://x.example.com' }));

    const body = {
      nodes: [
        { id: 'a', type: 'noop', retry: { maxAttempts: 2, backoff: { factor: 3 } } },
        { id: 'b', type: 'noop', retry: {} },
      ],
    };
    const t = withDefaults({ kind: 'WorkflowTemplate', name: 'w', spec: body });
    expect(canonical(t)).toBe(canonical(templateBody.parse(body)));

    // Nested defaults of an environment's deployment settings come from the same protocol schema.
    const config = { deployment: { strategy: 'rolling', batchSize: 1 } };
    expect(SPECS.Environment.parse({ config }).config).toEqual(environmentConfig.parse(config));
  });
});
