-- A session (one sign-in) becomes a row of its own. Every refresh and every revocation locks it
-- (FOR UPDATE), so rotation and revocation of one session are serialised: once a revocation
-- commits, no token of the session works, not even one minted by a refresh running beside it.
-- `generation` counts rotations: only the current generation, and within the grace window the
-- one before it, are accepted. `expires_at` is the absolute end of the session, however often
-- it is refreshed (CORE_SESSION_MAX_SECONDS).
CREATE TABLE sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    generation integer NOT NULL DEFAULT 1,
    rotated_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id) WHERE revoked_at IS NULL;

ALTER TABLE auth_tokens ADD COLUMN generation integer;

-- Sessions for the refresh tokens issued before this migration, numbered in issue order.
INSERT INTO sessions (id, user_id, generation, created_at, expires_at, revoked_at)
SELECT family_id, (array_agg(user_id))[1], count(*), min(created_at),
       min(created_at) + interval '30 days',
       CASE WHEN bool_and(revoked_at IS NOT NULL) THEN max(revoked_at) END
FROM auth_tokens WHERE token_type = 'refresh' GROUP BY family_id;

UPDATE auth_tokens t SET generation = numbered.generation
FROM (
    SELECT id, row_number() OVER (PARTITION BY family_id ORDER BY created_at, id) AS generation
    FROM auth_tokens WHERE token_type = 'refresh'
) AS numbered
WHERE numbered.id = t.id;

ALTER TABLE auth_tokens
    ADD CONSTRAINT auth_tokens_session_fkey
        FOREIGN KEY (family_id) REFERENCES sessions (id) ON DELETE CASCADE,
    ADD CONSTRAINT auth_tokens_refresh_has_generation
        CHECK (token_type <> 'refresh' OR generation IS NOT NULL);

-- Requests that cost core something an attacker could exploit (an argon2 hash, a mail), counted
-- per client address and per target e-mail (as a SHA-256, so no address is kept in clear) in
-- fixed windows, shared by every core process.
CREATE TABLE request_limits (
    bucket text NOT NULL,
    subject text NOT NULL,
    hits integer NOT NULL,
    window_started_at timestamptz NOT NULL,
    PRIMARY KEY (bucket, subject)
);

-- Stale windows are purged in the background; these keep that cheap.
CREATE INDEX request_limits_window_idx ON request_limits (window_started_at);
CREATE INDEX login_throttle_window_idx ON login_throttle (window_started_at);
