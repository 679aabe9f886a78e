// Wires the domains into one Fastify app, and runs the server process (store, migrations, bootstrap, HTTP).
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { agentProtocolRoutes } from './agents/protocol-routes.js';
import { agentRoutes } from './agents/routes.js';
import { configApplyRoutes } from './applies/routes.js';
import { componentRoutes } from './components/routes.js';
import { SyncScheduler } from './components/scheduler.js';
import { componentVersionRoutes } from './components/sync-routes.js';
import { type Clock, systemClock } from './core/clock.js';
import { type HttpsOptions, loadHttpsOptions, loadServerConfig, type ServerFlags, tlsReloadSeconds } from './core/config.js';
import { NotFoundError } from './core/errors.js';
import { createLogger, type Logger } from './core/logger.js';
import { deploymentHandoff } from './deployments/handoff.js';
import { deploymentRoutes } from './deployments/routes.js';
import { DeploymentScheduler } from './deployments/scheduler.js';
import { type DeploymentSettings, loadDeploymentSettings } from './deployments/settings.js';
import { SshRunner } from './deployments/ssh-runner.js';
import { driftRoutes } from './drift/routes.js';
import { builtinRegistry, Engine, type StepRegistry } from './engine/index.js';
import { environmentRoutes } from './environments/routes.js';
import { ChangeHub } from './events/hub.js';
import { eventRoutes } from './events/routes.js';
import { evidenceRoutes } from './evidence/routes.js';
import { ephemeralSigner, loadSigner, type Signer } from './evidence/signer.js';
import { builtinGates, type GateRegistry } from './gates/registry.js';
import { historyRoutes } from './history/routes.js';
import { CertificateReloader } from './http/cert-reload.js';
import { registerIdempotency } from './http/idempotency.js';
import { checkRequestInput } from './http/input-hygiene.js';
import { observabilityRoutes, ProbeQuietLogController } from './http/observability.js';
import { Outbound } from './http/outbound.js';
import { clientErrorHandler, errorHandler, sendProblem, toProblem } from './http/problem.js';
import { uiRoutes } from './http/static.js';
import type { App, Deps } from './http/types.js';
import { integrationHealthRoutes } from './integrations/health-routes.js';
import { IntegrationHealthScheduler, integrationCheckSeconds } from './integrations/health-scheduler.js';
import { integrationRoutes } from './integrations/routes.js';
import { type SecretAccess, secretAccess, useSecretAccess } from './integrations/secrets.js';
import { NotificationDispatcher } from './notifications/dispatcher.js';
import { notificationRoutes } from './notifications/routes.js';
import { loadNotificationSettings } from './notifications/settings.js';
import { attachPluginGates } from './plugins/gates.js';
import { PluginHost } from './plugins/host.js';
import { pluginRoutes } from './plugins/routes.js';
import { attachPluginSteps } from './plugins/steps.js';
import { progressiveRoutes } from './progressive/routes.js';
import { RolloutTicker } from './progressive/ticker.js';
import { promotionRoutes } from './promotions/routes.js';
import { type PromotionStepDeps, promotionRecheckSeconds, registerPromotionSteps } from './promotions/steps.js';
import { releaseRoutes } from './releases/routes.js';
import { ephemeralMasterKey, loadMasterKey } from './secrets/envelope.js';
import { secretRoutes } from './secrets/routes.js';
import { countForeignKeyRows } from './secrets/service.js';
import { createPool, type Db, retryTransient, withSystem } from './store/db.js';
import type { PendingStore } from './store/embedded.js';
import { migrate } from './store/migrate.js';
import { targetRoutes } from './targets/routes.js';
import { registerAuth } from './tenancy/auth.js';
import { platformRoutes } from './tenancy/platform-routes.js';
import { tenancyRoutes } from './tenancy/routes.js';
import { bootstrap } from './tenancy/service.js';
import { workflowRoutes } from './workflows/routes.js';

export const VERSION = '0.1.0';
export const BODY_LIMIT = 1024 * 1024;

export interface BuildOptions {
  db: Db;
  clock?: Clock;
  logger?: Logger | false;
  registry?: StepRegistry;
  /** Agent protocol and scheduler timings (default: from the environment). */
  deploymentSettings?: DeploymentSettings;
  /** Evidence signing key; an ephemeral one when absent (tests). */
  signer?: Signer;
  gates?: GateRegistry;
  /** The plugin host; one without a cache directory of its own when absent (tests). */
  plugins?: PluginHost;
  /** Serve HTTPS (Fastify's `https`); with requestCert the agent protocol requires a verified client certificate. */
  https?: HttpsOptions;
  /** What tenants' secret references may reach and the secret store's key; none and an ephemeral key when absent (tests). */
  secrets?: SecretAccess;
  /** The door for requests made on a tenant's behalf; one with no allow list (private and loopback refused) when absent. */
  outbound?: Outbound;
}

export async function buildApp(opts: BuildOptions): Promise<App> {
  // pino's Logger is a FastifyBaseLogger; typing it as the base keeps App one type for all route modules.
  const logging = opts.logger
    ? { loggerInstance: opts.logger as FastifyBaseLogger, logController: new ProbeQuietLogController() }
    : { logger: false };
  const app = Fastify({
    ...logging,
    // Typed as plain HTTP: the routes see the same request objects either way.
    ...((opts.https ? { https: opts.https } : {}) as object),
    bodyLimit: BODY_LIMIT,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    ajv: { customOptions: { coerceTypes: false } },
    // A URL that is not valid percent-encoded UTF-8 gets a problem document like every other 400.
    frameworkErrors: (err, req, reply) => sendProblem(req, reply, toProblem(err)),
    clientErrorHandler,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });

  const secrets = opts.secrets ?? secretAccess({ envPrefix: undefined, dirs: [], keyFile: '', protectedPaths: [] }, ephemeralMasterKey());
  // Schedulers, gates and steps resolve references through (db, tenant); they find this configuration by the pool.
  useSecretAccess(opts.db, secrets);
  const outbound = opts.outbound ?? new Outbound();
  if (!opts.outbound) app.addHook('onClose', () => outbound.close());
  const deps: Deps = {
    db: opts.db,
    clock: opts.clock ?? systemClock,
    signer: opts.signer ?? ephemeralSigner(),
    secrets,
    outbound,
  };
  // Before any route (and before swagger collects them): adds the Idempotency-Key header to creating POSTs.
  registerIdempotency(app, deps);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Gantry API', version: VERSION, description: 'Release orchestration for Docker and Compose estates.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) =>
    sendProblem(req, reply, toProblem(new NotFoundError('Route', `${req.method} ${req.url.split('?')[0]}`))),
  );
  registerAuth(app, deps);
  // After authentication (strangers learn nothing), before schema validation and every handler.
  app.addHook('preValidation', async (req) => checkRequestInput(req));

  observabilityRoutes(app, deps);
  tenancyRoutes(app, deps);
  platformRoutes(app, deps);
  environmentRoutes(app, deps);
  targetRoutes(app, deps);
  historyRoutes(app, deps);
  progressiveRoutes(app, deps);
  agentRoutes(app, deps);
  componentRoutes(app, deps);
  integrationRoutes(app, deps);
  componentVersionRoutes(app, deps);
  integrationHealthRoutes(app, deps);
  releaseRoutes(app, deps);
  // One LISTEN connection per server: the UI's change feed and the agents' work wake-ups.
  const changes = new ChangeHub({ connectionString: opts.db.options?.connectionString, logger: app.log as Logger });
  app.addHook('onClose', () => changes.close());
  agentProtocolRoutes(app, deps, opts.deploymentSettings ?? loadDeploymentSettings(), {
    requireClientCert: Boolean(opts.https?.requestCert),
    work: changes,
  });
  deploymentRoutes(app, deps);
  driftRoutes(app, deps);
  const gates = opts.gates ?? builtinGates();
  workflowRoutes(app, deps, opts.registry ?? buildRegistry({ db: deps.db, clock: deps.clock, signer: deps.signer!, gates, outbound }));
  evidenceRoutes(app, deps);
  secretRoutes(app, deps);
  promotionRoutes(app, deps, gates);
  notificationRoutes(app, deps);
  configApplyRoutes(app, deps);
  eventRoutes(app, deps, changes);
  const plugins = opts.plugins ?? new PluginHost({ db: opts.db, outbound });
  attachPluginGates(gates, plugins);
  if (!opts.plugins) {
    await plugins.refresh();
    app.addHook('onClose', () => plugins.close());
  }
  pluginRoutes(app, deps, plugins);

  app.get('/api/v1/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () => app.swagger());
  await uiRoutes(app);
  return app;
}

/** The step types of this server: built-ins plus the promotion steps (which need the store, signer and gates). */
export function buildRegistry(deps: PromotionStepDeps): StepRegistry {
  const registry = builtinRegistry({ deploy: deploymentHandoff(deps.db), ...(deps.outbound ? { outbound: deps.outbound } : {}) });
  registerPromotionSteps(registry, deps);
  return registry;
}

export interface RunningServer {
  app: App;
  url: string;
  close(): Promise<void>;
}

export interface RunOptions {
  /**
   * The embedded PostgreSQL, already starting (`gantry server` starts it before loading this module, so the
   * two overlap); without it, and without DATABASE_URL, runServer starts it.
   */
  store?: PendingStore;
}

/** Starts the store (embedded unless DATABASE_URL), migrates, bootstraps and listens. */
export async function runServer(flags: ServerFlags = {}, run: RunOptions = {}): Promise<RunningServer> {
  const cfg = loadServerConfig(flags);
  const log = createLogger(cfg.logLevel, cfg.logFormat);
  let outbound: Outbound;
  let https: HttpsOptions | undefined;
  try {
    // Built first, so a bad GANTRY_OUTBOUND_ALLOW entry stops the server at once, naming the entry.
    outbound = new Outbound({ allow: cfg.outboundAllow });
    // Read before anything else starts, so a missing or bad file fails at once, naming the file.
    https = cfg.tls ? loadHttpsOptions(cfg.tls) : undefined;
  } catch (err) {
    await run.store?.ready.then((s) => s.stop()).catch(() => {});
    throw err;
  }
  if (cfg.outboundAllow.length) log.info({ allow: cfg.outboundAllow }, 'outbound requests may reach these private hosts and ranges');
  const reloadMs = cfg.tls ? tlsReloadSeconds() * 1000 : 0;
  let connectionString = cfg.databaseUrl;
  let embedded: { stop(): Promise<void> } | undefined;
  if (!connectionString) {
    // Loaded only when used: the package installs process exit hooks as soon as it is imported.
    const pending =
      run.store ?? (await import('./store/embedded.js')).startEmbeddedInBackground({ dataDir: cfg.dataDir, port: cfg.embeddedPgPort });
    pending.logTo((line) => log.debug({ component: 'postgres' }, line));
    const store = await pending.ready;
    embedded = store;
    connectionString = store.connectionString;
    log.info({ dataDir: cfg.dataDir, ms: Date.now() - pending.startedAt }, 'embedded PostgreSQL started');
  }
  const stopEmbedded = async () => {
    if (embedded) await embedded.stop().catch((err: unknown) => log.error({ err }, 'stopping embedded PostgreSQL failed'));
  };
  try {
    const waitForDb = (err: Error, delayMs: number) =>
      log.warn({ err: err.message, retryInMs: delayMs }, 'database not available yet; retrying');
    const result = await retryTransient(() => migrate(connectionString), waitForDb);
    log.info({ applied: result.applied, schemaVersion: result.current }, 'database migrated');
  } catch (err) {
    await stopEmbedded();
    throw err;
  }
  // A broken connection is logged and replaced, never fatal: see createPool.
  const db = createPool(connectionString, 20, (err) => log.warn({ err: err.message }, 'database connection lost; it will be replaced'));
  const boot = await retryTransient(
    () => bootstrap(db, cfg.bootstrapToken),
    (err, delayMs) => log.warn({ err: err.message, retryInMs: delayMs }, 'database not available yet; retrying'),
  );
  if (boot.created && boot.token) {
    const tokenFile = path.join(cfg.dataDir, 'admin.token');
    await mkdir(cfg.dataDir, { recursive: true, mode: 0o700 });
    await writeFile(tokenFile, `${boot.token}\n`, { mode: 0o600 });
    await chmod(tokenFile, 0o600);
    // Printed once, on first start only, so the operator can copy it.
    process.stderr.write(
      `\nGantry bootstrapped tenant "default" and user "admin".\nAdmin token (also in ${tokenFile}, mode 0600):\n  ${boot.token}\n\n`,
    );
  }
  const { signer, created: keyCreated, source: keySource } = await loadSigner({ dataDir: cfg.dataDir });
  log.info({ keyId: signer.keyId, source: keySource, created: keyCreated }, 'evidence signing key loaded');
  const { key: masterKey, created: secretKeyCreated } = await loadMasterKey(cfg.secrets.keyFile, true);
  const foreign = await withSystem(db, (tx) => countForeignKeyRows(tx, masterKey));
  log.info({ keyId: masterKey.id, file: cfg.secrets.keyFile, created: secretKeyCreated }, 'secret-store key loaded');
  if (foreign > 0) {
    log.warn(
      { keyId: masterKey.id, secrets: foreign },
      'some tenant secrets are wrapped with another secret-store key: give every replica the same GANTRY_SECRET_KEY_FILE or finish `gantry admin rotate-secret-key`',
    );
  }
  const secrets = secretAccess(cfg.secrets, masterKey);
  const gates = builtinGates();
  const registry = buildRegistry({ db, clock: systemClock, signer, gates, outbound, recheckSeconds: promotionRecheckSeconds() });
  const plugins = new PluginHost({
    db,
    cacheDir: path.join(cfg.dataDir, 'plugins'),
    logger: log.child({ component: 'plugins' }),
    outbound,
  });
  attachPluginSteps(registry, plugins);
  const app = await buildApp({ db, logger: log, registry, signer, gates, plugins, secrets, outbound, ...(https ? { https } : {}) });
  plugins.startRefreshing();
  const healthChecks = new IntegrationHealthScheduler({
    db,
    clock: systemClock,
    intervalSeconds: integrationCheckSeconds(),
    outbound,
    logger: log.child({ component: 'integration-health' }),
  });
  healthChecks.start();
  const engine = cfg.engine
    ? new Engine({
        db,
        connectionString,
        registry,
        logger: log.child({ component: 'engine' }),
        concurrency: cfg.engineConcurrency,
        leaseSeconds: cfg.engineLeaseSeconds,
      })
    : undefined;
  await (engine
    ? retryTransient(
        () => engine.start(),
        (err) => log.warn({ err: err.message }, 'engine: database not available yet; retrying'),
      )
    : undefined);
  const syncer = new SyncScheduler({
    db,
    clock: systemClock,
    intervalSeconds: cfg.syncIntervalSeconds,
    outbound,
    logger: log.child({ component: 'sync' }),
  });
  syncer.start();
  const deploymentSettings = loadDeploymentSettings();
  const sshRunner = new SshRunner({
    db,
    clock: systemClock,
    settings: deploymentSettings,
    progress: { signer, db },
    logger: log.child({ component: 'ssh-runner' }),
  });
  const deployments = new DeploymentScheduler({
    db,
    clock: systemClock,
    settings: deploymentSettings,
    progress: { signer, db },
    logger: log.child({ component: 'deployments' }),
    hooks: [
      sshRunner,
      new RolloutTicker({ db, deps: { signer, clock: systemClock, outbound }, logger: log.child({ component: 'rollouts' }) }),
    ],
  });
  deployments.start();
  const notifications = new NotificationDispatcher({
    db,
    clock: systemClock,
    settings: loadNotificationSettings(),
    plugins,
    outbound,
    logger: log.child({ component: 'notifications' }),
  });
  notifications.start();
  const address = await app.listen({ host: cfg.host, port: cfg.port });
  // Renewed certificate files are picked up without a restart (new connections get them).
  const reloader =
    cfg.tls && https
      ? new CertificateReloader({
          files: cfg.tls,
          // The server Fastify created with `https`: a tls.Server, which has setSecureContext.
          server: app.server as unknown as TlsServer,
          logger: log.child({ component: 'tls' }),
          pollMs: reloadMs,
        })
      : undefined;
  await reloader?.start();
  log.info(
    { address, version: VERSION, engine: engine?.instanceId ?? 'off', tls: https ? (https.requestCert ? 'mutual (agents)' : 'on') : 'off' },
    'gantry server listening',
  );
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      reloader?.stop();
      await app.close();
      await syncer.stop();
      await deployments.stop();
      await healthChecks.stop();
      await notifications.stop();
      await outbound.close();
      await plugins.close();
      await engine?.stop();
      await db.end();
      await stopEmbedded();
    })();
    return closing;
  };
  return { app, url: address, close };
}
