-- Retry-safe API and durable notifications: idempotency keys for creating POSTs, the notification
-- outbox (one row per event and channel, written in the transaction of the change it announces) with
-- its delivery log, and one record per attempt of each deployment task.

-- Idempotency keys: the first answer to a creating POST, replayed for a retry with the same key and
-- body. status IS NULL while the first request still runs (locked_until bounds how long that claim holds).
CREATE TABLE idempotency_keys (
  tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id      uuid NOT NULL,
  key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  method       text NOT NULL,
  path         text NOT NULL,
  body_hash    text NOT NULL,
  status       integer CHECK (status BETWEEN 100 AND 599),
  content_type text,
  response     text,
  created_at   timestamptz NOT NULL,
  locked_until timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, user_id, key)
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);

-- The outbox. channel_key names the receiver ('webhook:<integration id>' or 'plugin:<plugin>/<channel>');
-- delivery order holds per (tenant, channel_key, subject) in seq order. next_attempt_at NULL = due now.
CREATE TABLE notifications (
  id              uuid PRIMARY KEY DEFAULT gantry_uuid_v7(),
  seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  event_id        uuid NOT NULL,
  event_type      text NOT NULL,
  subject         text NOT NULL,
  data            jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object'),
  occurred_at     timestamptz NOT NULL,
  channel_kind    text NOT NULL CHECK (channel_kind IN ('webhook', 'plugin')),
  integration_id  uuid REFERENCES integrations (id) ON DELETE CASCADE,
  channel_key     text NOT NULL,
  channel         text NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz,
  claimed_until   timestamptz,
  last_error      text,
  delivered_at    timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  CHECK ((channel_kind = 'webhook') = (integration_id IS NOT NULL))
);
CREATE INDEX notifications_due_idx ON notifications (seq) WHERE status = 'pending';
CREATE INDEX notifications_order_idx ON notifications (tenant_id, channel_key, subject, seq) WHERE status = 'pending';
CREATE INDEX notifications_tenant_idx ON notifications (tenant_id, seq DESC);

-- One row per delivery attempt (append-only): what was tried, when, and what came back.
CREATE TABLE notification_attempts (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  notification_id uuid NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
  attempt         integer NOT NULL CHECK (attempt >= 1),
  started_at      timestamptz NOT NULL,
  finished_at     timestamptz NOT NULL,
  ok              boolean NOT NULL,
  http_status     integer,
  error           text
);
CREATE INDEX notification_attempts_idx ON notification_attempts (notification_id, id);

-- True when a channel's `events` list (exact names, "*", or prefixes ending in "*") includes the event;
-- no list means every event. Mirrors wants() in src/integrations/notify.ts.
CREATE FUNCTION gantry_wants_event(events jsonb, event_type text) RETURNS boolean
  LANGUAGE sql IMMUTABLE AS
$$ SELECT events IS NULL OR jsonb_typeof(events) <> 'array' OR EXISTS (
     SELECT 1 FROM jsonb_array_elements_text(events) e
      WHERE e = event_type OR e = '*' OR (right(e, 1) = '*' AND starts_with(event_type, left(e, -1)))) $$;

-- Writes one outbox row per channel of the tenant that wants the event (notification webhooks, and the
-- notification channels of active plugins with an enabled instance). Called inside the transaction that
-- makes the change, so the announcement commits with it or not at all. Returns the rows written.
CREATE FUNCTION gantry_enqueue_notification(p_tenant uuid, p_type text, p_subject text, p_data jsonb, p_at timestamptz)
  RETURNS integer LANGUAGE plpgsql AS
$$ DECLARE
  ev uuid := gantry_uuid_v7();
  a integer;
  b integer;
BEGIN
  INSERT INTO notifications (tenant_id, event_id, event_type, subject, data, occurred_at, channel_kind, integration_id, channel_key, channel)
  SELECT p_tenant, ev, p_type, p_subject, p_data, p_at, 'webhook', i.id, 'webhook:' || i.id, i.name
    FROM integrations i
   WHERE i.tenant_id = p_tenant AND i.type_id = 'notification_webhook' AND gantry_wants_event(i.config -> 'events', p_type)
   ORDER BY i.id;
  GET DIAGNOSTICS a = ROW_COUNT;
  INSERT INTO notifications (tenant_id, event_id, event_type, subject, data, occurred_at, channel_kind, channel_key, channel)
  SELECT p_tenant, ev, p_type, p_subject, p_data, p_at, 'plugin', 'plugin:' || p.plugin_id || '/' || (c ->> 'name'), p.plugin_id || '/' || (c ->> 'name')
    FROM plugins p
    JOIN plugin_instances pi ON pi.plugin_id = p.id AND pi.tenant_id = p_tenant AND pi.enabled
   CROSS JOIN LATERAL jsonb_array_elements(coalesce(p.manifest -> 'contributes' -> 'notificationChannels', '[]')) c
   WHERE p.status = 'active'
   ORDER BY p.plugin_id, c ->> 'name';
  GET DIAGNOSTICS b = ROW_COUNT;
  RETURN a + b;
END $$;

-- A promotion that fails is announced in the transaction that fails it (whichever path does: the
-- workflow run's end, a failed verification…).
CREATE FUNCTION gantry_promotion_failed_notification() RETURNS trigger
  LANGUAGE plpgsql AS
$$ BEGIN
  PERFORM gantry_enqueue_notification(
    NEW.tenant_id, 'promotion.failed', 'promotion:' || NEW.id,
    jsonb_build_object(
      'promotionId', NEW.id,
      'release', (SELECT name FROM releases WHERE id = NEW.release_id),
      'environment', (SELECT name FROM environments WHERE id = NEW.target_environment_id),
      'reason', NEW.blocked_reason),
    now());
  RETURN NEW;
END $$;
CREATE TRIGGER promotions_failed_notification AFTER UPDATE OF status ON promotions
  FOR EACH ROW WHEN (NEW.status = 'failed' AND OLD.status IS DISTINCT FROM 'failed')
  EXECUTE FUNCTION gantry_promotion_failed_notification();

-- Per-attempt records of deployment tasks, kept by a trigger on the task row so every path that
-- leases, starts, reports or expires a task records it: who held the lease, when, and how it ended.
CREATE TABLE deployment_task_attempts (
  tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  task_id          uuid NOT NULL REFERENCES deployment_tasks (id) ON DELETE CASCADE,
  job_id           uuid NOT NULL,
  attempt          integer NOT NULL CHECK (attempt >= 1),
  agent_id         uuid,
  runner           text,
  leased_at        timestamptz NOT NULL,
  lease_expires_at timestamptz,
  started_at       timestamptz,
  finished_at      timestamptz,
  outcome          text NOT NULL DEFAULT 'running' CHECK (outcome IN ('running', 'succeeded', 'failed', 'skipped', 'lease_expired')),
  error            text,
  health           jsonb,
  PRIMARY KEY (task_id, attempt),
  FOREIGN KEY (tenant_id, job_id) REFERENCES deployment_jobs (tenant_id, id) ON DELETE CASCADE
);

CREATE FUNCTION gantry_task_attempt_record() RETURNS trigger
  LANGUAGE plpgsql AS
$$ BEGIN
  IF NEW.attempt > OLD.attempt AND NEW.status IN ('assigned', 'running') THEN
    INSERT INTO deployment_task_attempts (tenant_id, task_id, job_id, attempt, agent_id, runner, leased_at, lease_expires_at)
    VALUES (NEW.tenant_id, NEW.id, NEW.job_id, NEW.attempt, NEW.agent_id, NEW.lease_owner, now(), NEW.lease_expires_at)
    ON CONFLICT (task_id, attempt) DO NOTHING;
  ELSIF NEW.attempt = OLD.attempt AND NEW.attempt > 0 AND OLD.status IN ('assigned', 'running') THEN
    IF NEW.status IN ('assigned', 'running') THEN
      UPDATE deployment_task_attempts
         SET lease_expires_at = NEW.lease_expires_at,
             started_at = CASE WHEN NEW.status = 'running' THEN coalesce(started_at, now()) ELSE started_at END
       WHERE task_id = NEW.id AND attempt = NEW.attempt;
    ELSE
      UPDATE deployment_task_attempts
         SET finished_at = coalesce(NEW.completed_at, now()),
             outcome = CASE WHEN NEW.status = 'pending' THEN 'lease_expired'
                            WHEN NEW.status = 'failed' AND NEW.error LIKE 'lease expired%' THEN 'lease_expired'
                            ELSE NEW.status END,
             error = NEW.error,
             health = NEW.health
       WHERE task_id = NEW.id AND attempt = NEW.attempt;
    END IF;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER deployment_tasks_attempt_record AFTER UPDATE ON deployment_tasks
  FOR EACH ROW WHEN (NEW.attempt IS DISTINCT FROM OLD.attempt OR NEW.status IS DISTINCT FROM OLD.status
                     OR NEW.lease_expires_at IS DISTINCT FROM OLD.lease_expires_at)
  EXECUTE FUNCTION gantry_task_attempt_record();

-- Tasks attempted before this migration: one record for their last attempt, from what the task row kept.
INSERT INTO deployment_task_attempts (tenant_id, task_id, job_id, attempt, agent_id, runner, leased_at, lease_expires_at,
                                      started_at, finished_at, outcome, error, health)
SELECT tenant_id, id, job_id, attempt, agent_id, lease_owner, coalesce(started_at, updated_at), lease_expires_at, started_at,
       CASE WHEN status IN ('succeeded', 'failed', 'skipped') THEN coalesce(completed_at, updated_at) END,
       CASE WHEN status IN ('succeeded', 'failed', 'skipped') THEN status ELSE 'running' END, error, health
  FROM deployment_tasks WHERE attempt > 0;

CREATE INDEX deployment_jobs_promotion_idx ON deployment_jobs (promotion_id) WHERE promotion_id IS NOT NULL;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['idempotency_keys', 'notifications', 'notification_attempts', 'deployment_task_attempts'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I TO gantry_app USING (tenant_id = gantry_current_tenant()) WITH CHECK (tenant_id = gantry_current_tenant())', t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO gantry_app', t);
  END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION gantry_wants_event(jsonb, text), gantry_enqueue_notification(uuid, text, text, jsonb, timestamptz) TO gantry_app;
