// The schema holds every entity and column of docs/spec/entities.md with the specified types,
// and every enum-like status column is guarded by a CHECK constraint.
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../../test/helpers.js';

interface SpecField {
  table: string;
  column: string;
  type: string;
}

/** Parses the spec's entity tables: an entity name, a description line, then "| Field | Type | Description |". */
function parseSpec(text: string): SpecField[] {
  const lines = text.split('\n').map((l) => l.trim());
  const fields: SpecField[] = [];
  let table: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('| Field | Type |')) {
      const entity = lines[i - 2]!;
      table = `${entity.toLowerCase().replace(/\s+/g, '_')}s`;
      continue;
    }
    const field = line.match(/^([a-z_]+) \|$/);
    const typeLine = lines[i + 1]?.match(/^([A-Za-z]+) \|/);
    if (table && field?.[1] && typeLine?.[1]) fields.push({ table, column: field[1], type: typeLine[1] });
  }
  return fields;
}

const PG_TYPES: Record<string, string[]> = {
  UUID: ['uuid'],
  string: ['text'],
  text: ['text'],
  integer: ['integer'],
  JSONB: ['jsonb'],
  boolean: ['boolean'],
  timestamp: ['timestamp with time zone'],
};

let t: TestDb;
let spec: SpecField[];
beforeAll(async () => {
  t = await createTestDb();
  spec = parseSpec(await readFile(new URL('../../docs/spec/entities.md', import.meta.url), 'utf8'));
});

describe('schema against spec/entities.md', () => {
  it('parses all 18 entities of the spec', () => {
    const tables = new Set(spec.map((f) => f.table));
    expect([...tables].sort()).toEqual(
      [
        'agents',
        'approvals',
        'components',
        'deployment_jobs',
        'deployment_tasks',
        'environments',
        'evidence_packets',
        'integrations',
        'plugin_instances',
        'plugins',
        'promotions',
        'releases',
        'step_runs',
        'targets',
        'version_maps',
        'version_stickers',
        'workflow_runs',
        'workflow_templates',
      ].sort(),
    );
    expect(spec.length).toBeGreaterThan(130);
  });

  it('has every table and column with the specified type', async () => {
    const cols = await t.db.query<{ table_name: string; column_name: string; data_type: string }>(
      `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public'`,
    );
    const actual = new Map(cols.rows.map((r) => [`${r.table_name}.${r.column_name}`, r.data_type]));
    const problems: string[] = [];
    for (const f of spec) {
      const type = actual.get(`${f.table}.${f.column}`);
      if (!type) problems.push(`missing ${f.table}.${f.column}`);
      else if (!PG_TYPES[f.type]?.includes(type)) problems.push(`${f.table}.${f.column} is ${type}, spec says ${f.type}`);
    }
    expect(problems).toEqual([]);
  });

  it('guards every status/enum column with a CHECK constraint', async () => {
    const enumColumns = [
      'agents.status',
      'approvals.action',
      'deployment_jobs.status',
      'deployment_jobs.strategy',
      'deployment_tasks.status',
      'evidence_packets.packet_type',
      'integrations.health_status',
      'plugins.status',
      'promotions.status',
      'releases.status',
      'role_bindings.role',
      'step_runs.status',
      'targets.health_status',
      'targets.target_type',
      'workflow_runs.status',
    ];
    const r = await t.db.query<{ col: string }>(
      `SELECT c.relname || '.' || a.attname AS col
         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (k.conkey)
        WHERE k.contype = 'c'`,
    );
    const checked = new Set(r.rows.map((x) => x.col));
    expect(enumColumns.filter((c) => !checked.has(c))).toEqual([]);
  });

  it('refuses an unknown status value and a malformed digest', async () => {
    const tenant = await t.db.query<{ id: string }>(`INSERT INTO tenants (name) VALUES ('schema-check') RETURNING id`);
    const tid = tenant.rows[0]!.id;
    await expect(t.db.query(`INSERT INTO agents (tenant_id, name, status) VALUES ($1, 'a1', 'sleeping')`, [tid])).rejects.toThrow(
      /check constraint/,
    );
    const env = await t.db.query<{ id: string }>(
      `INSERT INTO environments (tenant_id, name, order_index) VALUES ($1, 'dev', 0) RETURNING id`,
      [tid],
    );
    await expect(
      t.db.query(
        `INSERT INTO targets (tenant_id, environment_id, name, target_type, connection, current_digest) VALUES ($1, $2, 'h1', 'docker_host', '{}', 'latest')`,
        [tid, env.rows[0]!.id],
      ),
    ).rejects.toThrow(/violates check constraint/);
  });

  it('keeps names unique per tenant but not across tenants', async () => {
    const a = await t.db.query<{ id: string }>(`INSERT INTO tenants (name) VALUES ('uniq-a') RETURNING id`);
    const b = await t.db.query<{ id: string }>(`INSERT INTO tenants (name) VALUES ('uniq-b') RETURNING id`);
    await t.db.query(`INSERT INTO environments (tenant_id, name, order_index) VALUES ($1, 'prod', 0)`, [a.rows[0]!.id]);
    await t.db.query(`INSERT INTO environments (tenant_id, name, order_index) VALUES ($1, 'prod', 0)`, [b.rows[0]!.id]);
    await expect(
      t.db.query(`INSERT INTO environments (tenant_id, name, order_index) VALUES ($1, 'prod', 1)`, [a.rows[0]!.id]),
    ).rejects.toThrow(/duplicate key/);
  });

  it('makes evidence packets append-only', async () => {
    const tenant = await t.db.query<{ id: string }>(`INSERT INTO tenants (name) VALUES ('evidence-check') RETURNING id`);
    const hash = `sha256:${'a'.repeat(64)}`;
    await t.db.query(`INSERT INTO signing_keys (key_id, public_key_pem) VALUES ('ed25519:0123456789abcdef', 'pem')`);
    const p = await t.db.query<{ id: string }>(
      `INSERT INTO evidence_packets (tenant_id, packet_type, seq, content, content_hash, signature, signer_key_ref)
       VALUES ($1, 'deployment', 1, '{}', $2, 'sig', 'ed25519:0123456789abcdef') RETURNING id`,
      [tenant.rows[0]!.id, hash],
    );
    await expect(t.db.query(`UPDATE evidence_packets SET signature = 'x' WHERE id = $1`, [p.rows[0]!.id])).rejects.toThrow(/append-only/);
    await expect(t.db.query(`DELETE FROM evidence_packets WHERE id = $1`, [p.rows[0]!.id])).rejects.toThrow(/append-only/);
  });
});
