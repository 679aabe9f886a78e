import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from './ports.js';

describe('freePort', () => {
  it("gives each test worker ports from its own slice below the kernel's ephemeral range, never one in use", async () => {
    const pool = Number(process.env.VITEST_POOL_ID);
    expect(pool).toBeGreaterThanOrEqual(1);
    const low = 20_000 + (pool - 1) * 1_500;
    const held: net.Server[] = [];
    try {
      const seen = new Set<number>();
      for (let i = 0; i < 20; i++) {
        const port = await freePort();
        expect(port).toBeGreaterThanOrEqual(low);
        expect(port).toBeLessThan(low + 1_500);
        expect(seen.has(port)).toBe(false);
        seen.add(port);
        // keep it bound: a later call must step over it
        const srv = net.createServer();
        await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
        held.push(srv);
      }
    } finally {
      await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    }
  });
});
