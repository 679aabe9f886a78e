-- Membership: every user has a home tenant (the one whose admins manage the user's identity and may mint
-- tokens for them), and tokens say whether they carry platform powers. Usernames stay globally unique, so
-- a token names one person, but a tenant admin can no longer reach a user of another tenant or a platform
-- admin by naming them.

ALTER TABLE users ADD COLUMN home_tenant_id uuid REFERENCES tenants (id) ON DELETE SET NULL;

-- Existing users: the tenant of their first role binding is their home; other bindings stay memberships.
UPDATE users u SET home_tenant_id = (
  SELECT rb.tenant_id FROM role_bindings rb WHERE rb.user_id = u.id ORDER BY rb.created_at, rb.id LIMIT 1);

CREATE INDEX users_home_tenant ON users (home_tenant_id);

-- A token has platform powers only if it was minted as such (bootstrap, `gantry admin`, a platform route,
-- or the platform admin themselves with a platform token) and its user is still a platform admin.
ALTER TABLE api_tokens ADD COLUMN platform boolean NOT NULL DEFAULT false;
UPDATE api_tokens k SET platform = true FROM users u WHERE u.id = k.user_id AND u.is_platform_admin AND k.name = 'bootstrap' AND k.tenant_id = u.home_tenant_id;

-- The app role sees the members of its tenant and the users it is home to (so a removed user can be re-added).
DROP POLICY tenant_members ON users;
CREATE POLICY tenant_members ON users FOR SELECT TO gantry_app
  USING (home_tenant_id = gantry_current_tenant()
         OR EXISTS (SELECT 1 FROM role_bindings rb WHERE rb.user_id = users.id AND rb.tenant_id = gantry_current_tenant()));
-- It changes only the identity fields of users its tenant is home to; it never creates users, deletes them
-- or changes who is a platform admin or which tenant a user belongs to (that runs as the schema owner).
CREATE POLICY tenant_home_update ON users FOR UPDATE TO gantry_app
  USING (home_tenant_id = gantry_current_tenant() AND NOT is_platform_admin)
  WITH CHECK (home_tenant_id = gantry_current_tenant() AND NOT is_platform_admin);
REVOKE INSERT, UPDATE, DELETE ON users FROM gantry_app;
GRANT UPDATE (display_name, email, disabled_at) ON users TO gantry_app;

-- Tokens: the app role may not mint platform tokens or turn a token into one.
REVOKE INSERT, UPDATE ON api_tokens FROM gantry_app;
GRANT INSERT (tenant_id, user_id, name, token_hash, token_prefix, expires_at) ON api_tokens TO gantry_app;
GRANT UPDATE (revoked_at, last_used_at) ON api_tokens TO gantry_app;
