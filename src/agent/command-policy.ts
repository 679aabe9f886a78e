// Which programs an agent runs for a router. Router configs come from the server, that is from a tenant's
// users (a deployer sets a deployment's strategy config, a rollout's router): the validate, reload and
// exec-router commands would otherwise be any program on the agent's host. The host's operator decides
// instead, with GANTRY_AGENT_ROUTER_COMMANDS (the agent's --router-command): program names (found in the
// system directories) or absolute paths. Without it, the proxies' own tools are allowed (nginx, haproxy,
// traefik, systemctl, kill); a third-party router program must always be listed.
import path from 'node:path';

export const ROUTER_COMMANDS_SETTING = 'GANTRY_AGENT_ROUTER_COMMANDS';
export const DEFAULT_ROUTER_PROGRAMS = ['nginx', 'haproxy', 'traefik', 'systemctl', 'kill'] as const;
/** Where a program named without a path may live (what PATH holds on a Debian host). */
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export class RouterCommandRefused extends Error {}

/** The allowed entries: the setting's comma-separated list, or the defaults when it is unset. */
export function allowedRouterPrograms(env: NodeJS.ProcessEnv = process.env): { entries: string[]; explicit: boolean } {
  const raw = env[ROUTER_COMMANDS_SETTING];
  if (raw === undefined || raw.trim() === '') return { entries: [...DEFAULT_ROUTER_PROGRAMS], explicit: false };
  return {
    entries: raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    explicit: true,
  };
}

/** Whether `program` (argv[0]) is one of `entries`: the same absolute path, or a listed name run bare or from a system directory. */
export function programAllowed(program: string, entries: readonly string[]): boolean {
  const normalized = path.isAbsolute(program) ? path.normalize(program) : program;
  for (const e of entries) {
    if (path.isAbsolute(e)) {
      if (path.normalize(e) === normalized) return true;
    } else if (normalized === e || SYSTEM_DIRS.some((d) => path.join(d, e) === normalized)) {
      return true;
    }
  }
  return false;
}

/**
 * Throws RouterCommandRefused, saying how to allow it, unless the agent's operator allows the program.
 * `thirdParty`: an exec router's program, which the defaults never cover.
 */
export function checkRouterCommand(
  command: readonly string[],
  what: string,
  thirdParty = false,
  env: NodeJS.ProcessEnv = process.env,
): void {
  const program = command[0] ?? '';
  const { entries, explicit } = allowedRouterPrograms(env);
  if ((thirdParty && !explicit) || !programAllowed(program, entries)) {
    throw new RouterCommandRefused(
      `this agent does not run "${program}" for a router (${what}): the host's operator allows router programs with ${ROUTER_COMMANDS_SETTING} ` +
        `(agent option --router-command), now ${explicit ? `"${entries.join(',')}"` : `unset (allowed: ${entries.join(', ')}${thirdParty ? '; a third-party router program must be listed' : ''})`}`,
    );
  }
}
