// The live-update stream over real HTTP: a ticket opens one stream, the stream carries the tenant's
// committed changes (and only its own), heartbeats, and ends when its token is revoked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/helpers.js';

interface Sse {
  events: { event: string; data: string }[];
  comments: string[];
  ended: Promise<void>;
  close(): void;
}

/** Opens the stream and collects what arrives until closed or ended by the server. */
async function open(url: string): Promise<{ status: number; sse: Sse | undefined; text?: string }> {
  const ac = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream' }, signal: ac.signal });
  if (res.status !== 200 || !res.body) return { status: res.status, sse: undefined, text: await res.text() };
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const sse: Sse = { events: [], comments: [], ended: Promise.resolve(), close: () => ac.abort() };
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  sse.ended = (async () => {
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += value;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) sse.comments.push(line.slice(1).trim());
            else if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).trim());
          }
          if (data.length) sse.events.push({ event, data: data.join('\n') });
        }
      }
    } catch {
      // aborted by the test
    }
  })();
  return { status: 200, sse };
}

async function until<T>(what: string, probe: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('event stream', () => {
  let t: TestApp;
  let base: string;
  const streams: Sse[] = [];
  const previousHeartbeat = process.env.GANTRY_EVENTS_HEARTBEAT_SECONDS;

  beforeAll(async () => {
    process.env.GANTRY_EVENTS_HEARTBEAT_SECONDS = '1';
    t = await createTestApp();
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(() => {
    for (const s of streams) s.close();
    if (previousHeartbeat === undefined) delete process.env.GANTRY_EVENTS_HEARTBEAT_SECONDS;
    else process.env.GANTRY_EVENTS_HEARTBEAT_SECONDS = previousHeartbeat;
  });

  const ticket = async (token?: string) => {
    const r = await t.call('POST', '/api/v1/events/ticket', undefined, token);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body as { ticket: string; streamUrl: string; expiresAt: string };
  };

  it('streams the tenant’s committed changes after a ready event, with heartbeats; never another tenant’s', async () => {
    const tk = await ticket();
    expect(tk.streamUrl).toBe(`/api/v1/events/stream?ticket=${encodeURIComponent(tk.ticket)}`);
    const { status, sse } = await open(`${base}${tk.streamUrl}`);
    expect(status).toBe(200);
    streams.push(sse!);
    await until('ready', () => sse!.events.find((e) => e.event === 'ready'));

    const env = await t.call('POST', '/api/v1/environments', { name: 'stream-dev' });
    expect(env.status).toBe(201);
    const change = await until('the environment change', () =>
      sse!.events.find((e) => e.event === 'change' && JSON.parse(e.data).id === env.body.id),
    );
    expect(JSON.parse(change.data)).toEqual({ kind: 'environment', id: env.body.id });

    // Another tenant's change is not in this stream.
    const b = await t.call('POST', '/api/v1/tenants', { name: 'stream-b', admin: { username: 'stream-b-admin' } });
    expect(b.status, JSON.stringify(b.body)).toBe(201);
    const other = await t.call('POST', '/api/v1/environments', { name: 'b-dev' }, b.body.adminToken);
    expect(other.status).toBe(201);
    // A later change of A arrives, so B's (committed before it) would have arrived by then.
    const env2 = await t.call('POST', '/api/v1/environments', { name: 'stream-qa' });
    await until('the second change', () => sse!.events.find((e) => e.event === 'change' && JSON.parse(e.data).id === env2.body.id));
    expect(sse!.events.some((e) => e.data.includes(other.body.id))).toBe(false);

    // A rolled-back change is never announced: a duplicate name fails inside its transaction.
    const before = sse!.events.length;
    expect((await t.call('POST', '/api/v1/environments', { name: 'stream-qa' })).status).toBe(409);
    await until('a heartbeat', () => sse!.comments.includes('heartbeat'), 5000);
    expect(sse!.events.slice(before).filter((e) => e.event === 'change')).toEqual([]);
  });

  it('opens only with a valid, unused, unexpired ticket; never with the bearer header', async () => {
    const viaHeader = await fetch(`${base}/api/v1/events/stream`, { headers: { authorization: `Bearer ${t.adminToken}` } });
    expect(viaHeader.status).toBe(401);
    await viaHeader.text();
    const tk = await ticket();
    const first = await open(`${base}${tk.streamUrl}`);
    expect(first.status).toBe(200);
    streams.push(first.sse!);
    const again = await open(`${base}${tk.streamUrl}`);
    expect(again.status).toBe(401);
    expect(again.text).toMatch(/needs a ticket/);
    const forged = `${tk.ticket.slice(0, -2)}${tk.ticket.endsWith('A') ? 'BB' : 'AA'}`;
    expect((await open(`${base}/api/v1/events/stream?ticket=${encodeURIComponent(forged)}`)).status).toBe(401);
    const late = await ticket();
    t.clock.advance(61_000);
    expect((await open(`${base}${late.streamUrl}`)).status).toBe(401);
    expect((await t.call('POST', '/api/v1/events/ticket', undefined, 'gty_unknown')).status).toBe(401);
  });

  it('ends the stream with `unauthorized` once its token is revoked', async () => {
    const created = await t.call('POST', '/api/v1/tokens', { name: 'stream-revoke' });
    expect(created.status).toBe(201);
    const tk = await ticket(created.body.secret);
    const { sse } = await open(`${base}${tk.streamUrl}`);
    streams.push(sse!);
    await until('ready', () => sse!.events.find((e) => e.event === 'ready'));
    expect((await t.call('DELETE', `/api/v1/tokens/${created.body.token.id}`)).status).toBe(200);
    await until('unauthorized', () => sse!.events.find((e) => e.event === 'unauthorized'), 5000);
    await sse!.ended;
  });
});
