// The plugin process: imports the plugin's entrypoint, says what it provides, then answers calls from
// the server over IPC. It runs in its own process so a crash, a hang or a leak ends here, not in the server.
import { pathToFileURL } from 'node:url';
import { clip, type PluginCall, type Provides, type RpcRequest, type RunnerMessage } from './rpc.js';

type Handler = (args: Record<string, unknown>) => unknown;
type Table = Record<string, Handler>;

const send = (m: RunnerMessage) => process.send?.(m);

function table(api: Record<string, unknown>, key: string): Table {
  const t = api[key];
  if (t === undefined) return {};
  if (typeof t !== 'object' || t === null) throw new Error(`export "${key}" must be an object of functions`);
  for (const [name, fn] of Object.entries(t)) {
    if (typeof fn !== 'function') throw new Error(`${key}.${name} must be a function`);
  }
  return t as Table;
}

async function main(): Promise<void> {
  const entry = process.argv[2];
  if (!entry || !process.send) throw new Error('the plugin runner is started by the Gantry server, not by hand');
  let handlers: Record<PluginCall['kind'], Table>;
  try {
    const mod = (await import(pathToFileURL(entry).href)) as Record<string, unknown>;
    const api = (typeof mod.default === 'object' && mod.default !== null ? mod.default : mod) as Record<string, unknown>;
    handlers = { gate: table(api, 'gates'), step: table(api, 'stepTypes'), notify: table(api, 'notificationChannels') };
  } catch (err) {
    send({ type: 'load_failed', error: clip(err instanceof Error ? `${err.name}: ${err.message}` : String(err)) });
    // Let the message flush before exiting.
    setTimeout(() => process.exit(1), 50);
    return;
  }
  const provides: Provides = {
    gates: Object.keys(handlers.gate),
    stepTypes: Object.keys(handlers.step),
    notificationChannels: Object.keys(handlers.notify),
  };
  process.on('message', (raw: unknown) => {
    const req = raw as RpcRequest;
    const { kind, name, ...args } = req.call;
    const fn = handlers[kind]?.[name];
    void (async () => {
      try {
        if (!fn) throw new Error(`this plugin provides no ${kind} named "${name}"`);
        const result = await fn(args as Record<string, unknown>);
        send({ type: 'response', id: req.id, ok: true, result: result === undefined ? null : result });
      } catch (err) {
        send({ type: 'response', id: req.id, ok: false, error: clip(err instanceof Error ? err.message : String(err)) });
      }
    })();
  });
  // The server going away closes the channel; a plugin process never outlives it.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', provides });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
