// The sandbox's layers one at a time, with real plugin processes: the permission model and the runner's
// network guard hold on their own (no uid change, no network namespace: what a non-root server without
// user namespaces gets), and host.fetch's address check refuses internal targets unless allowed.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refuseInternal } from './net.js';
import { PluginProcess } from './process.js';
import type { Refusal } from './rpc.js';
import { installRunner, sandboxCommand } from './sandbox.js';

let tmp: string;
let server: net.Server;
let port: number;
let connections = 0;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'gantry-sandbox-test-'));
  server = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** A plugin process with the permission model and the runner's guard only, and the refusals it reported. */
async function start(code: string) {
  const cacheDir = path.join(tmp, 'cache');
  const packageDir = await mkdtemp(path.join(tmp, 'pkg-'));
  const workDir = path.join(packageDir, '..', `${path.basename(packageDir)}-work`);
  await mkdir(workDir);
  await writeFile(path.join(packageDir, 'index.mjs'), code);
  const runnerFile = await installRunner(cacheDir);
  const command = sandboxCommand(
    { user: undefined, netns: 'none' },
    { runnerFile, packageDir, workDir, entry: path.join(packageDir, 'index.mjs') },
    64,
  );
  const refusals: Refusal[] = [];
  const logger = {
    warn: (o: { permission: string; resource: string; api: string }) =>
      refusals.push({ permission: o.permission, resource: o.resource, api: o.api }),
    info: () => {},
  };
  const proc = new PluginProcess({
    pluginId: 'layers',
    command,
    cwd: workDir,
    env: { GANTRY_PLUGIN_WORK_DIR: workDir },
    logger: logger as never, // only warn/info are used
  });
  await proc.start();
  const step = (name: string) => proc.call({ kind: 'step', name, input: {}, instanceConfig: {}, context: {} as never }, 5_000);
  return { proc, step, refusals, workDir };
}

describe('the plugin sandbox without root', () => {
  it('refuses reads and writes outside the package and work directory, processes, and every kind of connection', async () => {
    const { proc, step, refusals } = await start(`
      import { readFileSync, writeFileSync } from 'node:fs';
      import net from 'node:net';
      import dgram from 'node:dgram';
      import dns from 'node:dns/promises';
      import http from 'node:http';
      import { execSync } from 'node:child_process';
      export const stepTypes = {
        shadow: () => readFileSync('/etc/shadow', 'utf8'),
        tmp: () => writeFileSync(${JSON.stringify(path.join(tmp, 'outside'))}, 'x'),
        exec: () => execSync('id'),
        tcp: () => new Promise((ok, fail) => net.connect(${port}, '127.0.0.1').on('connect', ok).on('error', fail)),
        http: () => new Promise((ok, fail) => http.get('http://127.0.0.1:${port}/', ok).on('error', fail)),
        listen: () => new Promise((ok, fail) => net.createServer().listen(0, ok).on('error', fail)),
        udp: () => dgram.createSocket('udp4').send('x', ${port}, '127.0.0.1'),
        dns: () => dns.lookup('example.com'),
        mine: () => { writeFileSync(process.env.GANTRY_PLUGIN_WORK_DIR + '/ok', 'fine'); return { status: 'succeeded', outputs: { read: readFileSync(process.env.GANTRY_PLUGIN_WORK_DIR + '/ok', 'utf8') } }; },
      };
    `);
    try {
      await expect(step('shadow')).rejects.toThrow('sandbox refused fs.readFileSync: reading /etc/shadow is refused');
      await expect(step('tmp')).rejects.toThrow(`sandbox refused fs.writeFileSync: writing ${path.join(tmp, 'outside')} is refused`);
      await expect(step('exec')).rejects.toThrow('sandbox refused child_process.execSync: starting a process is refused');
      await expect(step('tcp')).rejects.toThrow(`sandbox refused net.Socket.connect: a connection to 127.0.0.1:${port} is refused`);
      await expect(step('http')).rejects.toThrow('sandbox refused net.Socket.connect: a connection to 127.0.0.1');
      await expect(step('listen')).rejects.toThrow('sandbox refused net.Server.listen: listening on a port is refused');
      await expect(step('udp')).rejects.toThrow('sandbox refused dgram.Socket.send');
      await expect(step('dns')).rejects.toThrow('sandbox refused dns.lookup: resolving example.com is refused');
      expect(await step('mine')).toEqual({ status: 'succeeded', outputs: { read: 'fine' } });
      expect(connections).toBe(0);
      expect(refusals.map((r) => [r.permission, r.api])).toEqual([
        ['FileSystemRead', 'fs.readFileSync'],
        ['FileSystemWrite', 'fs.writeFileSync'],
        ['ChildProcess', 'child_process.execSync'],
        ['Network', 'net.Socket.connect'],
        ['Network', 'net.Socket.connect'],
        ['Network', 'net.Server.listen'],
        ['Network', 'dgram.Socket.send'],
        ['Network', 'dns.lookup'],
      ]);
    } finally {
      await proc.stop();
    }
  });

  it('refuses a plugin that reads outside its directory while loading: it fails to load, with the reason', async () => {
    const p = start(`import { readFileSync } from 'node:fs'; readFileSync('/etc/hostname'); export const stepTypes = {};`);
    await expect(p).rejects.toThrow(
      /plugin layers failed to load its entrypoint: Error: sandbox refused fs.readFileSync: reading \/etc\/hostname/,
    );
  });
});

describe('host.fetch address check', () => {
  const refused = (u: string, env: NodeJS.ProcessEnv = {}) => {
    try {
      refuseInternal(new URL(u), env);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  };

  it('refuses loopback, link-local, private and unique-local literals and localhost, and other schemes', () => {
    expect(refused('http://127.0.0.1:8080/')).toBe(
      'host.fetch refused 127.0.0.1:8080: it is a loopback address, which plugins may not reach; an operator allows it with GANTRY_OUTBOUND_ALLOW=127.0.0.1:8080',
    );
    expect(refused('http://169.254.169.254/latest/meta-data/')).toMatch(/169.254.169.254: it is a link-local address/);
    for (const u of ['http://10.1.2.3/', 'http://172.20.0.1/', 'http://192.168.1.1/', 'http://[fd00::1]/', 'http://[::ffff:127.0.0.1]/']) {
      expect(refused(u), u).toMatch(/private|unique-local|loopback/);
    }
    expect(refused('http://localhost:3000/')).toMatch(/loopback/);
    expect(refused('http://[::1]/')).toMatch(/loopback/);
    expect(refused('http://0.0.0.0/')).toMatch(/unspecified/);
    expect(refused('file:///etc/passwd')).toBe('host.fetch refused file: URL: only http: and https: are fetched');
  });

  it('lets public addresses and names through, and internal ones the operator allows', () => {
    expect(refused('https://example.com/hook')).toBeUndefined();
    expect(refused('http://192.0.2.10/')).toBeUndefined();
    expect(refused('http://127.0.0.1:8080/', { GANTRY_OUTBOUND_ALLOW: 'chat.internal, 127.0.0.1:8080' })).toBeUndefined();
    expect(refused('http://127.0.0.1:9090/', { GANTRY_OUTBOUND_ALLOW: '127.0.0.1:8080' })).toMatch(/loopback/);
  });
});
