// Row-level security: as the app role, a query that forgets its tenant filter still sees and changes only its own tenant.
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../../test/helpers.js';
import { withTenant } from './db.js';

let t: TestDb;
let a: string;
let b: string;
let envB: string;

beforeAll(async () => {
  t = await createTestDb();
  a = (await t.db.query<{ id: string }>(`INSERT INTO tenants (name) VALUES ('rls-a') RETURNING id`)).rows[0]!.id;
  b = (await t.db.query<{ id: string }>(`INSERT INTO tenants (name) VALUES ('rls-b') RETURNING id`)).rows[0]!.id;
  await t.db.query(`INSERT INTO environments (tenant_id, name, order_index) VALUES ($1, 'dev', 0), ($1, 'prod', 1)`, [a]);
  envB = (
    await t.db.query<{ id: string }>(`INSERT INTO environments (tenant_id, name, order_index) VALUES ($1, 'dev', 0) RETURNING id`, [b])
  ).rows[0]!.id;
});

describe('row-level security', () => {
  it('is enabled on every table that carries tenant_id', async () => {
    const r = await t.db.query<{ relname: string; relrowsecurity: boolean }>(
      `SELECT c.relname, c.relrowsecurity FROM pg_class c
        WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)`,
    );
    expect(r.rows.length).toBeGreaterThanOrEqual(19);
    expect(r.rows.filter((x) => !x.relrowsecurity).map((x) => x.relname)).toEqual([]);
  });

  it('uses a role that cannot bypass it', async () => {
    const r = await t.db.query(`SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'gantry_app'`);
    expect(r.rows[0]).toEqual({ rolsuper: false, rolbypassrls: false });
  });

  it('opens a tenant transaction as the app role with the tenant set, and refuses a tenant id that is not a UUID', async () => {
    const r = await withTenant(t.db, a, (tx) =>
      tx.query<{ role: string; tenant: string }>(`SELECT current_user AS role, current_setting('gantry.tenant_id') AS tenant`),
    );
    expect(r.rows[0]).toEqual({ role: 'gantry_app', tenant: a });
    await expect(withTenant(t.db, `${a}', true); SELECT ('x`, (tx) => tx.query('SELECT 1'))).rejects.toThrow(/not a tenant id/);
    await expect(withTenant(t.db, 'default', (tx) => tx.query('SELECT 1'))).rejects.toThrow(/not a tenant id/);
  });

  it('hides other tenants’ rows from a query without a tenant filter', async () => {
    const rows = await withTenant(t.db, a, (tx) => tx.query<{ tenant_id: string }>('SELECT tenant_id FROM environments'));
    expect(rows.rowCount).toBe(2);
    expect(rows.rows.every((r) => r.tenant_id === a)).toBe(true);
    const byId = await withTenant(t.db, a, (tx) => tx.query('SELECT * FROM environments WHERE id = $1', [envB]));
    expect(byId.rowCount).toBe(0);
    const tenants = await withTenant(t.db, a, (tx) => tx.query<{ id: string }>('SELECT id FROM tenants'));
    expect(tenants.rows.map((r) => r.id)).toEqual([a]);
  });

  it('refuses to change or delete another tenant’s rows', async () => {
    const upd = await withTenant(t.db, a, (tx) => tx.query(`UPDATE environments SET display_name = 'pwned'`));
    expect(upd.rowCount).toBe(2);
    const del = await withTenant(t.db, a, (tx) => tx.query('DELETE FROM environments WHERE id = $1', [envB]));
    expect(del.rowCount).toBe(0);
    const still = await t.db.query(`SELECT display_name FROM environments WHERE id = $1`, [envB]);
    expect(still.rows[0]).toEqual({ display_name: '' });
  });

  it('refuses to insert a row into another tenant', async () => {
    await expect(
      withTenant(t.db, a, (tx) => tx.query(`INSERT INTO environments (tenant_id, name, order_index) VALUES ($1, 'sneaky', 5)`, [b])),
    ).rejects.toThrow(/row-level security/);
    await expect(withTenant(t.db, a, (tx) => tx.query(`UPDATE environments SET tenant_id = $1 WHERE name = 'prod'`, [b]))).rejects.toThrow(
      /row-level security/,
    );
  });

  it('does not let the app role create users, make platform admins, rename other tenants’ users or mint platform tokens', async () => {
    const userA = (await t.db.query<{ id: string }>(`INSERT INTO users (username, home_tenant_id) VALUES ('rls-ua', $1) RETURNING id`, [a]))
      .rows[0]!.id;
    const userB = (await t.db.query<{ id: string }>(`INSERT INTO users (username, home_tenant_id) VALUES ('rls-ub', $1) RETURNING id`, [b]))
      .rows[0]!.id;
    await t.db.query(`INSERT INTO role_bindings (tenant_id, user_id, role) VALUES ($1, $2, 'admin'), ($3, $4, 'admin')`, [
      a,
      userA,
      b,
      userB,
    ]);
    const denied = /permission denied/;
    await expect(withTenant(t.db, a, (tx) => tx.query('UPDATE users SET is_platform_admin = true WHERE id = $1', [userA]))).rejects.toThrow(
      denied,
    );
    await expect(withTenant(t.db, a, (tx) => tx.query(`INSERT INTO users (username) VALUES ('rls-new')`))).rejects.toThrow(denied);
    await expect(withTenant(t.db, a, (tx) => tx.query('UPDATE users SET home_tenant_id = $1 WHERE id = $2', [a, userB]))).rejects.toThrow(
      denied,
    );
    const renamed = await withTenant(t.db, a, (tx) => tx.query(`UPDATE users SET display_name = 'pwned' WHERE id = $1`, [userB]));
    expect(renamed.rowCount).toBe(0);
    await expect(
      withTenant(t.db, a, (tx) =>
        tx.query(
          `INSERT INTO api_tokens (tenant_id, user_id, name, token_hash, token_prefix, platform) VALUES ($1, $2, 'p', $3, 'gty_x', true)`,
          [a, userA, 'a'.repeat(64)],
        ),
      ),
    ).rejects.toThrow(denied);
    await expect(withTenant(t.db, a, (tx) => tx.query('UPDATE api_tokens SET platform = true'))).rejects.toThrow(denied);
  });

  it('sees nothing at all when no tenant is set', async () => {
    const client = await t.db.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE gantry_app');
      const r = await client.query('SELECT count(*)::int AS n FROM environments');
      expect(r.rows[0]).toEqual({ n: 0 });
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });
});
