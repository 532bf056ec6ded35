-- Users, roles, tokens and the audit and outbox tables of the shared identity database.

CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email citext NOT NULL CONSTRAINT users_email_key UNIQUE
        CONSTRAINT users_email_length CHECK (length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    name text NOT NULL CONSTRAINT users_name_length CHECK (length(name) BETWEEN 1 AND 200),
    email_verified_at timestamptz,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz,
    deleted_at timestamptz,
    -- Brute-force protection lives here so that it holds across every core process.
    failed_login_count integer NOT NULL DEFAULT 0,
    locked_until timestamptz
);

CREATE TABLE roles (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Global (`admin`) or scoped to one app (`pshop.manager`).
    name text NOT NULL CONSTRAINT roles_name_key UNIQUE
        CONSTRAINT roles_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,39}(\.[a-z][a-z0-9_]{0,39})?$'),
    description text NOT NULL DEFAULT '' CONSTRAINT roles_description_length
        CHECK (length(description) <= 500),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_roles (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id bigint NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    granted_at timestamptz NOT NULL DEFAULT now(),
    granted_by uuid REFERENCES users (id) ON DELETE SET NULL,
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_role_id_idx ON user_roles (role_id);

CREATE TABLE auth_tokens (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_type text NOT NULL
        CONSTRAINT auth_tokens_type CHECK (token_type IN ('refresh', 'email_verification', 'password_reset')),
    -- SHA-256 of the token: tokens are 256-bit random, so a fast hash is enough and the
    -- database never holds a usable token.
    token_hash bytea NOT NULL CONSTRAINT auth_tokens_token_hash_key UNIQUE,
    -- The session: every refresh token rotated from one login shares it.
    family_id uuid,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    user_agent text CONSTRAINT auth_tokens_user_agent_length CHECK (length(user_agent) <= 512),
    client_address text,
    CONSTRAINT auth_tokens_refresh_has_family CHECK (token_type <> 'refresh' OR family_id IS NOT NULL)
);
CREATE INDEX auth_tokens_user_id_idx ON auth_tokens (user_id, token_type);
CREATE INDEX auth_tokens_family_id_idx ON auth_tokens (family_id) WHERE family_id IS NOT NULL;

CREATE TABLE auth_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type text NOT NULL,
    user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    actor_id uuid REFERENCES users (id) ON DELETE SET NULL,
    client_address text,
    user_agent text,
    details jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_events_user_id_idx ON auth_events (user_id, created_at);

CREATE TABLE user_events (
    -- Apps read events in id order and keep the last id they applied as their cursor.
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_type text NOT NULL
        CONSTRAINT user_events_type CHECK (event_type IN ('deactivated', 'reactivated', 'deleted')),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Failed logins per client address, shared by every core process.
CREATE TABLE login_throttle (
    client_address text PRIMARY KEY,
    failures integer NOT NULL,
    window_started_at timestamptz NOT NULL
);

-- The least-privilege group role that apps use to read atriz_shared: the user columns they need,
-- roles, grants and the user event outbox; never a password hash, a token or the audit log.
-- Roles are cluster-wide, so another database on the server may have created it already.
DO $$
BEGIN
    CREATE ROLE atriz_app_reader NOLOGIN;
EXCEPTION WHEN duplicate_object THEN
    NULL;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO atriz_app_reader', current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO atriz_app_reader;
GRANT SELECT (id, email, name, is_active, email_verified_at, deleted_at, created_at)
    ON users TO atriz_app_reader;
GRANT SELECT ON roles, user_roles, user_events TO atriz_app_reader;
