// Transaction scopes: afterCommit hooks run after COMMIT and never after a rollback.
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../../test/helpers.js';
import { afterCommit, withSystem } from './db.js';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});

describe('afterCommit', () => {
  it('runs hooks once the transaction has committed, in order', async () => {
    const seen: string[] = [];
    await withSystem(t.db, async (tx) => {
      await tx.query(`INSERT INTO tenants (name) VALUES ('hooked')`);
      afterCommit(tx, () => seen.push('first'));
      afterCommit(tx, () => seen.push('second'));
      expect(seen).toEqual([]);
    });
    expect(seen).toEqual(['first', 'second']);
  });

  it('drops hooks of a transaction that rolls back, and does not carry them to the next one on that connection', async () => {
    const seen: string[] = [];
    await expect(
      withSystem(t.db, async (tx) => {
        afterCommit(tx, () => seen.push('never'));
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await withSystem(t.db, async () => {});
    expect(seen).toEqual([]);
  });
});
