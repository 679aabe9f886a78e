-- Releases pinned by digest: the immutability of a release once ready (enforced here as well as in the
-- API), registry-sync bookkeeping on components, and indexes for version lookups.

-- Sync bookkeeping. The scheduler claims due components by next_sync_at with FOR UPDATE SKIP LOCKED.
ALTER TABLE components
  ADD COLUMN last_synced_at timestamptz,
  ADD COLUMN sync_error     text,
  ADD COLUMN next_sync_at   timestamptz;
CREATE INDEX components_next_sync_idx ON components (next_sync_at NULLS FIRST) WHERE registry_integration_id IS NOT NULL;

-- Bookkeeping writes must not look like an operator's change: touch updated_at only when a
-- described column changes.
DROP TRIGGER components_touch_updated_at ON components;
CREATE TRIGGER components_touch_updated_at BEFORE UPDATE ON components FOR EACH ROW
  WHEN ((OLD.name, OLD.display_name, OLD.image_repository, OLD.registry_integration_id, OLD.versioning_strategy, OLD.default_channel)
        IS DISTINCT FROM
        (NEW.name, NEW.display_name, NEW.image_repository, NEW.registry_integration_id, NEW.versioning_strategy, NEW.default_channel))
  EXECUTE FUNCTION gantry_touch_updated_at();

-- "history" lists every mapping of a component newest first; "current" filters on superseded_at.
CREATE INDEX version_maps_component_idx ON version_maps (component_id, id DESC);
CREATE INDEX version_maps_digest_idx ON version_maps (component_id, digest);
CREATE INDEX releases_status_idx ON releases (tenant_id, status, id DESC);

-- A release is editable only as a draft. From ready on its name, components, source and creator are
-- fixed, every component carries a digest, and status only moves forward:
-- draft → ready → deployed → deprecated (ready → deprecated too).
CREATE FUNCTION gantry_release_guard() RETURNS trigger
  LANGUAGE plpgsql AS
$$ BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'draft' THEN
      RAISE EXCEPTION 'release %: a release is created as a draft and made ready with POST /releases/{id}/ready', NEW.name
        USING ERRCODE = 'GT002';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD.status <> 'draft' AND (NEW.components IS DISTINCT FROM OLD.components OR NEW.name IS DISTINCT FROM OLD.name
      OR NEW.source_ref IS DISTINCT FROM OLD.source_ref OR NEW.created_by IS DISTINCT FROM OLD.created_by
      OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id) THEN
    RAISE EXCEPTION 'release % is % and immutable: its name, components and source cannot change', OLD.name, OLD.status
      USING ERRCODE = 'GT002';
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
      (OLD.status = 'draft' AND NEW.status = 'ready') OR
      (OLD.status = 'ready' AND NEW.status IN ('deployed', 'deprecated')) OR
      (OLD.status = 'deployed' AND NEW.status = 'deprecated')) THEN
    RAISE EXCEPTION 'release %: status cannot go from % to %', OLD.name, OLD.status, NEW.status USING ERRCODE = 'GT002';
  END IF;
  IF NEW.status <> 'draft' AND (jsonb_array_length(NEW.components) = 0 OR EXISTS (
      SELECT 1 FROM jsonb_array_elements(NEW.components) c
       WHERE jsonb_typeof(c) <> 'object' OR coalesce(c->>'digest', '') !~ '^sha256:[0-9a-f]{64}$')) THEN
    RAISE EXCEPTION 'release %: every component of a % release must be pinned to a sha256 digest', NEW.name, NEW.status
      USING ERRCODE = 'GT002';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER releases_guard BEFORE INSERT OR UPDATE ON releases FOR EACH ROW EXECUTE FUNCTION gantry_release_guard();

GRANT EXECUTE ON FUNCTION gantry_release_guard() TO gantry_app;
