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

-- Sessions for the refresh tokens issued before this migration, numbered in issue order. A
-- session with any revoked token is revoked: the old code revoked whole families, so a live
-- token beside a revoked one is one minted while the revocation ran, the very survivor this
-- migration exists to end. Old sessions end 30 days after their sign-in (the default of
-- CORE_SESSION_MAX_SECONDS; a migration cannot read the settings).
INSERT INTO sessions (id, user_id, generation, created_at, expires_at, revoked_at)
SELECT family_id, (array_agg(user_id))[1], count(*), min(created_at),
       min(created_at) + interval '30 days', max(revoked_at)
FROM auth_tokens WHERE token_type = 'refresh' GROUP BY family_id;

UPDATE auth_tokens t SET generation = numbered.generation
FROM (
    SELECT id, row_number() OVER (PARTITION BY family_id ORDER BY created_at, id) AS generation
    FROM auth_tokens WHERE token_type = 'refresh'
) AS numbered
WHERE numbered.id = t.id;

-- The old code let two tabs fork a session: every token not yet used is current, so that no
-- signed-in browser is taken for a thief on its next refresh.
UPDATE auth_tokens t SET generation = s.generation
FROM sessions s
WHERE t.family_id = s.id AND t.used_at IS NULL AND t.revoked_at IS NULL;

ALTER TABLE auth_tokens
    ADD CONSTRAINT auth_tokens_session_fkey
        FOREIGN KEY (family_id) REFERENCES sessions (id) ON DELETE CASCADE,
    ADD CONSTRAINT auth_tokens_refresh_has_generation
        CHECK (token_type <> 'refresh' OR generation IS NOT NULL);

-- Every booked login attempt moves `login_bookings`, which never goes down: a success clears
-- the failure count and lifts the lock only if no attempt was booked after its own, a test
-- that the failure count alone cannot make (it also goes down, so a value can come back).
ALTER TABLE users ADD COLUMN login_bookings bigint NOT NULL DEFAULT 0;

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
