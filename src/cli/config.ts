// Where the CLI finds its server and token: flag, then environment, then config file, then local defaults.
// Pure functions over (flags, env, config, cwd) so the resolution order is testable without a process.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliError, EXIT } from './output.js';

/** The saved login: one server and the token for it. */
export interface CliConfig {
  server?: string;
  token?: string;
}

export interface ConnectionFlags {
  server?: string | undefined;
  token?: string | undefined;
}

export interface Connection {
  server: string;
  serverSource: string;
  token: string | undefined;
  /** Where the token came from, or what was tried when there is none (shown with 401s). */
  tokenSource: string;
  /** PEM CA bundle to trust for an https server with a private certificate (GANTRY_CA_FILE), besides the usual roots. */
  caFile?: string | undefined;
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.GANTRY_CONFIG || path.join(os.homedir(), '.config', 'gantry', 'config.json');
}

export function readConfig(file: string): CliConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`cannot read the config file ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`the config file ${file} is not valid JSON; fix it or run \`gantry login\` again`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CliError(`the config file ${file} must hold a JSON object like {"server": "...", "token": "..."}`);
  }
  const { server, token } = parsed as Record<string, unknown>;
  return {
    ...(typeof server === 'string' && server ? { server } : {}),
    ...(typeof token === 'string' && token ? { token } : {}),
  };
}

/** Writes the config with mode 0600 (it holds a bearer token), creating its directory 0700. */
export function writeConfig(file: string, cfg: CliConfig): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
  // writeFileSync keeps the mode of an existing file; enforce it for files created by older versions or by hand.
  chmodSync(file, 0o600);
}

export function normalizeServer(url: string, source: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CliError(`${source}: "${url}" is not a URL; use e.g. http://127.0.0.1:8080`, EXIT.invalid);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new CliError(`${source}: "${url}" must start with http:// or https://`, EXIT.invalid);
  }
  return u.toString().replace(/\/+$/, '');
}

export function isLoopback(server: string): boolean {
  const host = new URL(server).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function adminTokenFile(env: NodeJS.ProcessEnv, cwd: string): string {
  return path.join(path.resolve(cwd, env.GANTRY_DATA_DIR || '.gantry'), 'admin.token');
}

function readAdminToken(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Resolves server and token. The saved token is only sent to the server it was saved for, and the local
 * admin.token only to a loopback server: a token must never leak to a server it does not belong to.
 */
export function resolveConnection(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv,
  cfg: CliConfig,
  cwd: string,
  cfgFile = configPath(env),
): Connection {
  const conn = resolveServerAndToken(flags, env, cfg, cwd, cfgFile);
  return env.GANTRY_CA_FILE ? { ...conn, caFile: path.resolve(cwd, env.GANTRY_CA_FILE) } : conn;
}

function resolveServerAndToken(flags: ConnectionFlags, env: NodeJS.ProcessEnv, cfg: CliConfig, cwd: string, cfgFile: string): Connection {
  let server: string;
  let serverSource: string;
  if (flags.server) [server, serverSource] = [normalizeServer(flags.server, '--server'), '--server'];
  else if (env.GANTRY_SERVER) [server, serverSource] = [normalizeServer(env.GANTRY_SERVER, 'GANTRY_SERVER'), 'GANTRY_SERVER'];
  else if (cfg.server) [server, serverSource] = [normalizeServer(cfg.server, cfgFile), `config file ${cfgFile}`];
  else [server, serverSource] = [`http://127.0.0.1:${env.GANTRY_PORT || 8080}`, 'default (local server)'];

  if (flags.token) return { server, serverSource, token: flags.token, tokenSource: '--token' };
  if (env.GANTRY_TOKEN) return { server, serverSource, token: env.GANTRY_TOKEN, tokenSource: 'GANTRY_TOKEN' };
  const savedFor = cfg.server ? safeNormalize(cfg.server) : undefined;
  if (cfg.token && (savedFor === undefined || savedFor === server)) {
    return { server, serverSource, token: cfg.token, tokenSource: `config file ${cfgFile}` };
  }
  const file = adminTokenFile(env, cwd);
  if (isLoopback(server)) {
    const token = readAdminToken(file);
    if (token) return { server, serverSource, token, tokenSource: file };
  }
  return {
    server,
    serverSource,
    token: undefined,
    tokenSource: `none (tried --token, GANTRY_TOKEN, ${cfgFile}${isLoopback(server) ? `, ${file}` : ''})`,
  };
}

function safeNormalize(url: string): string | undefined {
  try {
    return normalizeServer(url, 'config');
  } catch {
    return undefined;
  }
}
