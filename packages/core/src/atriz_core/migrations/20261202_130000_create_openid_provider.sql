-- Core as an OpenID Connect provider: the registered clients (each app, and any other relying
-- party), the authorization codes they are handed, the browser sessions at core, and the
-- sessions a code's exchange opens for a client.

CREATE TABLE oauth_clients (
    id text PRIMARY KEY
        CONSTRAINT oauth_clients_id_format CHECK (id ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    name text NOT NULL CONSTRAINT oauth_clients_name_length CHECK (length(name) BETWEEN 1 AND 200),
    -- SHA-256 of the client secret; NULL for a public client, which has PKCE alone. Secrets are
    -- 256-bit random strings that core makes, so a fast hash is enough, as for tokens.
    secret_hash bytea,
    -- Compared exactly, character for character: no wildcards, no prefixes.
    redirect_uris text[] NOT NULL
        CONSTRAINT oauth_clients_redirect_uris CHECK (cardinality(redirect_uris) BETWEEN 1 AND 20),
    post_logout_redirect_uris text[] NOT NULL DEFAULT '{}'
        CONSTRAINT oauth_clients_post_logout_uris CHECK (cardinality(post_logout_redirect_uris) <= 20),
    -- Atriz's own apps: their users are not asked to consent.
    first_party boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A browser's session at core (one sign-in on core's sign-in page) is a row of `sessions`, its
-- cookie a token of `auth_tokens` (as SHA-256). A session a code's exchange opens for a client
-- holds the client's refresh tokens and belongs to the browser session that approved it: ending
-- that one (signing out at core) ends it too.
ALTER TABLE sessions
    ADD COLUMN client_id text REFERENCES oauth_clients (id) ON DELETE CASCADE,
    ADD COLUMN browser_session_id uuid REFERENCES sessions (id) ON DELETE CASCADE,
    -- What the client was granted (`openid profile email`): its access tokens carry it.
    ADD COLUMN scope text;
CREATE INDEX sessions_browser_session_id_idx ON sessions (browser_session_id)
    WHERE browser_session_id IS NOT NULL;

ALTER TABLE auth_tokens
    DROP CONSTRAINT auth_tokens_type,
    ADD CONSTRAINT auth_tokens_type CHECK (token_type IN (
        'refresh', 'email_verification', 'password_reset', 'browser_session'
    ));

CREATE TABLE oauth_codes (
    -- SHA-256 of the code, which is 256-bit random.
    code_hash bytea PRIMARY KEY,
    client_id text NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    browser_session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    redirect_uri text NOT NULL,
    scope text NOT NULL,
    nonce text CONSTRAINT oauth_codes_nonce_length CHECK (length(nonce) <= 512),
    -- PKCE, S256 only: BASE64URL(SHA-256(code_verifier)).
    code_challenge text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    -- The session the code's exchange opened: presenting the code again ends it.
    session_id uuid REFERENCES sessions (id) ON DELETE SET NULL
);
-- A nonce is accepted once per client (a replayed authorization request is refused), for as
-- long as its code is kept.
CREATE UNIQUE INDEX oauth_codes_client_nonce_key ON oauth_codes (client_id, nonce)
    WHERE nonce IS NOT NULL;
CREATE INDEX oauth_codes_expires_at_idx ON oauth_codes (expires_at);
