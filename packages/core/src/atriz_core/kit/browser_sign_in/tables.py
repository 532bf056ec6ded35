"""The tables of browser sign-in, which each app's migration copies, and how long their rows
live."""

SIGN_IN_TABLES_SQL = """\
-- Browser sign-in (atriz_core.kit.browser_sign_in): an attempt waits here between /auth/login
-- and /auth/callback (at most 10 minutes, spent by the callback), then the session holds the
-- user's tokens server-side; the browser has only the session id, stored here as its hash.
CREATE TABLE web_sign_in_attempts (
    state_hash bytea PRIMARY KEY,
    nonce text NOT NULL,
    code_verifier text NOT NULL,
    next_path text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX web_sign_in_attempts_created_at_idx ON web_sign_in_attempts (created_at);

CREATE TABLE web_sessions (
    id_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL,
    access_token text NOT NULL,
    refresh_token text,
    id_token text NOT NULL,
    access_expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX web_sessions_last_seen_at_idx ON web_sessions (last_seen_at);
"""
"""The tables: copy them into one of the app's migrations (yoyo reads plain SQL files)."""
SIGN_IN_TABLES_ROLLBACK_SQL = "DROP TABLE web_sessions;\nDROP TABLE web_sign_in_attempts;\n"
"""The matching rollback."""

ATTEMPT_SECONDS = 600
IDLE_SECONDS = 12 * 3600
"""A session unused this long is purged (its refresh token will have lapsed at core)."""
