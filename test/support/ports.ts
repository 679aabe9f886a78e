// Ports for test processes that bind later (a server, a container, nginx, a registry). A port picked by
// binding port 0 and closing again is free only for the moment: until its owner binds it, the kernel may
// hand it to another test file running at the same time, and then two tests talk to each other's
// processes. Inside vitest each worker (VITEST_POOL_ID 1..maxWorkers) takes ports from its own slice of
// 20000–32767, which lies below Linux's ephemeral range (32768+), so neither the other worker nor any
// bind(0)/outgoing connection can be handed the same number. Every candidate is still checked by binding it.
import net from 'node:net';

const LOW = 20_000;
const HIGH = 32_767;
const SLICE = 1_500;

function tryBind(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : undefined));
    });
  });
}

const pool = Number(process.env.VITEST_POOL_ID ?? '0');
const sliceStart = LOW + (pool - 1) * SLICE;
const sliced = Number.isInteger(pool) && pool >= 1 && sliceStart + SLICE - 1 <= HIGH;
// A fresh worker process starts at a random place in its slice, so a file does not reuse the ports of
// the file the same worker ran just before (a container of it may still be going away).
let next = Math.floor(Math.random() * SLICE);

/** A port nobody listens on right now (127.0.0.1), and that no other test worker will be given. */
export async function freePort(): Promise<number> {
  if (sliced) {
    for (let i = 0; i < SLICE; i++) {
      const port = sliceStart + (next++ % SLICE);
      if ((await tryBind(port)) !== undefined) return port;
    }
    throw new Error(`no free port in ${sliceStart}–${sliceStart + SLICE - 1} (test worker ${pool})`);
  }
  const port = await tryBind(0);
  if (port === undefined) throw new Error('could not bind 127.0.0.1:0');
  return port;
}
