// Unit tests: where the CLI takes its server and token from, and how the config file is kept.
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configPath, readConfig, resolveConnection, writeConfig } from './config.js';
import { CliError } from './output.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'gantry-cli-cfg-'));

describe('server and token resolution', () => {
  const cfg = { server: 'https://saved.example.com', token: 'tok-config' };

  it('prefers flag, then environment, then config file, then the local default', () => {
    const env = { GANTRY_SERVER: 'http://env.example.com:9000/', GANTRY_TOKEN: 'tok-env' };
    expect(resolveConnection({ server: 'http://flag:1', token: 'tok-flag' }, env, cfg, '/')).toMatchObject({
      server: 'http://flag:1',
      serverSource: '--server',
      token: 'tok-flag',
      tokenSource: '--token',
    });
    expect(resolveConnection({}, env, cfg, '/')).toMatchObject({ server: 'http://env.example.com:9000', token: 'tok-env' });
    expect(resolveConnection({}, {}, cfg, '/', '/c.json')).toMatchObject({
      server: 'https://saved.example.com',
      token: 'tok-config',
      tokenSource: 'config file /c.json',
    });
    expect(resolveConnection({}, { GANTRY_PORT: '9123' }, {}, '/nonexistent')).toMatchObject({
      server: 'http://127.0.0.1:9123',
      token: undefined,
    });
    expect(resolveConnection({}, {}, {}, '/nonexistent').server).toBe('http://127.0.0.1:8080');
  });

  it('falls back to <data-dir>/admin.token, with the data dir resolved from the working directory', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'admin.token'), 'tok-admin\n');
    const viaEnv = resolveConnection({}, { GANTRY_DATA_DIR: dir }, {}, '/');
    expect(viaEnv).toMatchObject({ token: 'tok-admin', tokenSource: path.join(dir, 'admin.token') });
    const cwd = tmp();
    const defaultDir = path.join(cwd, '.gantry');
    mkdirSync(defaultDir);
    writeFileSync(path.join(defaultDir, 'admin.token'), 'tok-cwd');
    expect(resolveConnection({}, {}, {}, cwd).token).toBe('tok-cwd');
    // The config token wins over admin.token.
    expect(resolveConnection({}, { GANTRY_DATA_DIR: dir }, { token: 'tok-config' }, '/').token).toBe('tok-config');
  });

  it('never sends a saved token to a server it was not saved for, nor the local admin token to a remote server', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'admin.token'), 'tok-admin');
    const other = resolveConnection({ server: 'https://other.example.com' }, { GANTRY_DATA_DIR: dir }, cfg, '/');
    expect(other.token).toBeUndefined();
    expect(other.tokenSource).toMatch(/^none \(tried --token, GANTRY_TOKEN/);
    const local = resolveConnection({ server: 'http://localhost:8080' }, { GANTRY_DATA_DIR: dir }, cfg, '/');
    expect(local.token).toBe('tok-admin');
  });

  it('rejects a server that is not an http(s) URL with the invalid-input exit code', () => {
    expect(() => resolveConnection({ server: 'ftp://x' }, {}, {}, '/')).toThrow(CliError);
    try {
      resolveConnection({}, { GANTRY_SERVER: 'not a url' }, {}, '/');
    } catch (err) {
      expect((err as CliError).exitCode).toBe(2);
      expect((err as CliError).message).toMatch(/GANTRY_SERVER/);
    }
  });
});

describe('config file', () => {
  it('lives at $GANTRY_CONFIG or ~/.config/gantry/config.json', () => {
    expect(configPath({ GANTRY_CONFIG: '/x/y.json' })).toBe('/x/y.json');
    expect(configPath({})).toBe(path.join(os.homedir(), '.config', 'gantry', 'config.json'));
  });

  it('is written with mode 0600, also over an existing world-readable file, and read back', () => {
    const file = path.join(tmp(), 'nested', 'config.json');
    writeConfig(file, { server: 'http://a:1', token: 't' });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    writeFileSync(file, '{}', { mode: 0o644 });
    writeConfig(file, { server: 'http://b:2', token: 'u' });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readConfig(file)).toEqual({ server: 'http://b:2', token: 'u' });
  });

  it('reads a missing file as empty and explains a broken one', () => {
    const dir = tmp();
    expect(readConfig(path.join(dir, 'missing.json'))).toEqual({});
    writeFileSync(path.join(dir, 'bad.json'), '{oops');
    expect(() => readConfig(path.join(dir, 'bad.json'))).toThrow(/not valid JSON/);
  });
});
