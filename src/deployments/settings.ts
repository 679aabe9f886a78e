// Timings of the agent protocol and the deployment schedulers, from the environment (docs/operations.md).

export interface DeploymentSettings {
  /** Seconds between agent heartbeats; an agent is degraded after 2 missed ones. */
  heartbeatSeconds: number;
  /** Seconds between task polls of an idle agent. */
  pollSeconds: number;
  /** Seconds without a heartbeat after which an agent is offline. */
  offlineSeconds: number;
  /** Seconds a task lease lasts; agents renew it while they work. An expired lease re-queues the task. */
  leaseSeconds: number;
  /** Seconds between drift checks of each target. */
  driftSeconds: number;
  /** Seconds between scheduler sweeps (lease expiry, liveness, drift, ssh targets). */
  sweepSeconds: number;
  /** Seconds a task may wait with no online agent able to serve it before it fails (strategyConfig.waitTimeoutSeconds overrides). */
  waitTimeoutSeconds: number;
}

function seconds(env: NodeJS.ProcessEnv, name: string, dflt: number, min = 0.1, max = 86_400): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`${name} must be a number of seconds from ${min} to ${max}, got "${raw}".`);
  return n;
}

export function loadDeploymentSettings(env: NodeJS.ProcessEnv = process.env): DeploymentSettings {
  const heartbeatSeconds = seconds(env, 'GANTRY_AGENT_HEARTBEAT_SECONDS', 10);
  return {
    heartbeatSeconds,
    pollSeconds: seconds(env, 'GANTRY_AGENT_POLL_SECONDS', 2),
    offlineSeconds: seconds(env, 'GANTRY_AGENT_OFFLINE_SECONDS', heartbeatSeconds * 6),
    leaseSeconds: seconds(env, 'GANTRY_TASK_LEASE_SECONDS', 60, 1, 3600),
    driftSeconds: seconds(env, 'GANTRY_DRIFT_INTERVAL_SECONDS', 300, 0.5),
    sweepSeconds: seconds(env, 'GANTRY_DEPLOY_SWEEP_SECONDS', 1),
    waitTimeoutSeconds: seconds(env, 'GANTRY_TASK_WAIT_TIMEOUT_SECONDS', 600, 1, 604_800),
  };
}

export const DEFAULT_SETTINGS: DeploymentSettings = loadDeploymentSettings({});
