// Target connection shapes per target type, and target labels: what an agent needs to reach a Docker engine.
import { isIP } from 'node:net';
import { z } from 'zod';
import { credentialRef } from '../integrations/model.js';

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const isHost = (h: string): boolean => HOSTNAME_RE.test(h) || isIP(h) !== 0;
const isPort = (p: string): boolean => /^[0-9]{1,5}$/.test(p) && Number(p) >= 1 && Number(p) <= 65535;
const hasDotDot = (p: string): boolean => p.split('/').includes('..');

/** unix:///absolute/path.sock or tcp://host:port (IPv6 in brackets), as DOCKER_HOST accepts them. */
function isDockerHost(s: string): boolean {
  const unix = /^unix:\/\/(\/[^\s\0]+)$/.exec(s);
  if (unix) return !hasDotDot(unix[1]!);
  const tcp = /^tcp:\/\/(\[[0-9A-Fa-f:.]+\]|[^:/\s[\]]+):([0-9]+)$/.exec(s);
  if (!tcp) return false;
  const host = tcp[1]!.startsWith('[') ? tcp[1]!.slice(1, -1) : tcp[1]!;
  return (tcp[1]!.startsWith('[') ? isIP(host) === 6 : isHost(host)) && isPort(tcp[2]!);
}

const dockerHost = z
  .string()
  .max(1000)
  .refine(isDockerHost, 'must be "unix:///absolute/path.sock" or "tcp://host:port" (port 1–65535)')
  .describe('The Docker engine endpoint, e.g. unix:///var/run/docker.sock or tcp://10.0.0.5:2376');

const absolutePath = z
  .string()
  .max(4096)
  .refine((p) => p.startsWith('/') && !p.includes('\0') && !hasDotDot(p), 'must be an absolute path without ".." segments');

const tls = z
  .strictObject({
    caRef: credentialRef.optional().describe('CA certificate to verify the engine.'),
    certRef: credentialRef.optional().describe('Client certificate.'),
    keyRef: credentialRef.optional().describe('Client private key.'),
  })
  .describe('TLS material for tcp:// endpoints, as secret references.');

export const dockerConnection = z.strictObject({ dockerHost, tls: tls.optional() });

export const composeConnection = z.strictObject({
  dockerHost,
  projectDir: absolutePath.describe('Directory on the host holding the Compose project.'),
  // The agent runs this command, so it is kept to a plain program name and arguments (no shell syntax).
  composeCommand: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[A-Za-z0-9_./-]+( [A-Za-z0-9_./=-]+)*$/, 'must be a program and plain arguments, e.g. "docker compose" or "docker-compose"')
    .default('docker compose'),
  projectName: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, "_" or "-", starting with a letter or digit')
    .optional(),
});

export const sshConnection = z.strictObject({
  host: z.string().max(253).refine(isHost, 'must be a hostname or an IP address'),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}$/i, 'must be a login name (letters, digits, "_", "." or "-", ≤ 32 characters)'),
  credentialRef: credentialRef.describe('The SSH private key, as a secret reference.'),
  dockerHost: dockerHost.optional().describe('The engine endpoint on the remote host (default: its unix socket).'),
  hostKeyFingerprint: z
    .string()
    .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'must be an OpenSSH fingerprint such as "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8"')
    .optional()
    .describe('Pins the host key; strongly recommended.'),
});

export const TARGET_TYPES = ['docker_host', 'compose_host', 'ssh_host'] as const;
export type TargetType = (typeof TARGET_TYPES)[number];

export const CONNECTIONS = {
  docker_host: dockerConnection,
  compose_host: composeConnection,
  ssh_host: sshConnection,
} as const satisfies Record<TargetType, z.ZodType>;

const LABEL_KEY_RE = /^[a-z0-9][a-z0-9._/-]{0,62}$/;

export const labels = z
  .record(z.string(), z.string().max(256))
  .superRefine((obj, ctx) => {
    for (const key of Object.keys(obj)) {
      if (!LABEL_KEY_RE.test(key)) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: 'label keys are lowercase letters, digits, ".", "_", "/" or "-", 1–63 characters, starting with a letter or digit',
        });
      }
    }
    if (Object.keys(obj).length > 64) ctx.addIssue({ code: 'custom', message: 'at most 64 labels' });
  })
  .describe('Free-form key/value labels; environments select targets by them.');
