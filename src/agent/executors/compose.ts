// compose_host executor: generates a lock file (every image repo@sha256:…, gantry.* labels), applies it with
// the configured compose command (default `docker compose`; e.g. docker-compose v1), verifies health through
// the engine API and writes gantry.version.json in the project directory. With a router and per-colour
// ports the new release runs as its own colour project beside the old one, takes traffic only once healthy,
// and the old project is drained and stopped; otherwise the project is updated in place.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { AgentTask, Observation, ObservedComponent } from '../../protocol/deployment.js';
import { containerName, stickerFor } from '../../protocol/deployment-values.js';
import { zeroDowntimeBlocker } from '../../protocol/zero-downtime.js';
import { deployColored, servingFirst } from './compose-colors.js';
import {
  COLORS,
  type ComposeConnection,
  clearInterrupted,
  composeUp,
  DEFAULT_STOP_GRACE_SECONDS,
  keepUnchanged,
  LOCK_FILE,
  lockFile,
  orphanPid,
  PID_FILE,
  projectName,
  STICKER_FILE,
  waitForOrphan,
} from './compose-project.js';
import { readSticker, runsAsPlanned, stickerToKeep, verifyAll, writeAtomic } from './docker.js';
import { connectEngine, observeContainer, pull } from './engine.js';
import { removeComposeTarget } from './remove.js';
import { planComponents } from './spec.js';
import type { ExecResult, Executor, ObserveTarget, TaskLog } from './types.js';

export { LOCK_FILE, STICKER_FILE } from './compose-project.js';

/** Why this task cannot update its target without downtime (then it updates in place), or null. */
const blockerOf = (task: AgentTask) =>
  zeroDowntimeBlocker(
    'compose_host',
    task.config,
    task.components.map((c) => c.name),
  );

export class ComposeExecutor implements Executor {
  async info(): Promise<Record<string, string>> {
    return {};
  }

  async execute(task: AgentTask, log: TaskLog, signal: AbortSignal): Promise<ExecResult> {
    const conn = task.target.connection as ComposeConnection;
    if (task.action === 'remove') return removeComposeTarget(task, log, signal);
    const docker = connectEngine(conn.dockerHost);
    const blocker = blockerOf(task);
    if (blocker === null) return deployColored(task, conn, docker, log, signal);
    log(`not zero-downtime: ${blocker}`);
    const grace = task.config.stopGraceSeconds ?? DEFAULT_STOP_GRACE_SECONDS;
    const sticker = stickerFor(task, new Date());
    const file = path.join(conn.projectDir, LOCK_FILE);
    const { plans, kept } = keepUnchanged(
      await readFile(file, 'utf8').catch(() => null),
      planComponents(task, sticker.contentHash, String(sticker.content.writtenAt)),
    );
    if (kept.length) log(`unchanged (image and settings), left running: ${kept.join(', ')}`);
    const content = lockFile(task, plans, grace);
    await writeAtomic(file, content);
    log(`wrote ${file}`);
    // Pull through the engine API first: compose v1 would otherwise pull by itself with less useful errors.
    for (const p of plans) await pull(docker, p.ref, log);
    if (task.attempt > 1) {
      await waitForOrphan(path.join(conn.projectDir, PID_FILE), file, log);
      await clearInterrupted(docker, task, plans, log);
    }
    await composeUp(
      conn,
      projectName({ name: task.target.name, connection: conn }),
      file,
      path.join(conn.projectDir, PID_FILE),
      grace,
      log,
      signal,
    );
    const verdict = await verifyAll(docker, conn.dockerHost, plans, log, signal);
    const observed = await Promise.all(plans.map((p) => observeContainer(docker, p.component.name, p.component.image, [p.containerName])));
    const artifacts = [{ name: LOCK_FILE, mediaType: 'application/yaml', content }];
    if (!verdict.ok) return { status: 'failed', error: verdict.error, artifacts, observed, health: verdict.health };
    await writeAtomic(path.join(conn.projectDir, STICKER_FILE), `${JSON.stringify(sticker.content, null, 2)}\n`);
    log(`sticker ${sticker.contentHash} written`);
    return { status: 'succeeded', sticker, artifacts, observed, health: verdict.health };
  }

  async alreadyDone(task: AgentTask, log: TaskLog, signal: AbortSignal): Promise<ExecResult | null> {
    // Colour projects: a retry takes its job's colour again and finishes what is left (execute, newColor).
    if (blockerOf(task) === null) return null;
    const conn = task.target.connection as ComposeConnection;
    const docker = connectEngine(conn.dockerHost);
    const lock = await readFile(path.join(conn.projectDir, LOCK_FILE), 'utf8').catch(() => null);
    if (lock === null) return null;
    // compose v1 starts the new container before it stops and removes the old one (renamed "<id>_<name>"):
    // while the interrupted attempt's compose still runs, nothing is done yet; the task runs again.
    if ((await orphanPid(path.join(conn.projectDir, PID_FILE), path.join(conn.projectDir, LOCK_FILE))) !== null) {
      log("the interrupted attempt's compose run is still going: running the task again");
      return null;
    }
    const stickerFile = path.join(conn.projectDir, STICKER_FILE);
    const existing = await readSticker(stickerFile);
    const sticker = stickerToKeep(task, existing);
    const plans = planComponents(task, sticker.contentHash, String(sticker.content.writtenAt));
    const seen = await runsAsPlanned(docker, conn.dockerHost, plans, log, signal);
    if (!seen) return null;
    if (sticker !== existing) await writeAtomic(stickerFile, `${JSON.stringify(sticker.content, null, 2)}\n`);
    return {
      status: 'succeeded',
      sticker,
      artifacts: [{ name: LOCK_FILE, mediaType: 'application/yaml', content: lock }],
      observed: seen.observed,
      health: seen.health,
    };
  }

  async observe(t: ObserveTarget): Promise<Observation> {
    try {
      const conn = t.connection as ComposeConnection;
      const docker = connectEngine(conn.dockerHost);
      const sticker = await readSticker(path.join(conn.projectDir, STICKER_FILE));
      const components: ObservedComponent[] = [];
      for (const c of t.components) {
        // In-place or either colour's project: what runs is the container the sticker names, else a running one.
        const names = ['', ...COLORS].map((color) => containerName(t.name, c.name, color || undefined));
        components.push(await observeContainer(docker, c.name, c.image, await servingFirst(docker, names, sticker?.contentHash ?? null)));
      }
      return { targetId: t.targetId, components, sticker };
    } catch (err) {
      return { targetId: t.targetId, components: [], sticker: null, error: `cannot observe: ${(err as Error).message}` };
    }
  }
}
