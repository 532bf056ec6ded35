-- The example app's one table, and the cursor of its user-event consumer.
-- requires: core 20261123_210000_create_identity
CREATE TABLE notes (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- A user in atriz_shared: checked on write, kept true by the user-event policy.
    owner_id uuid NOT NULL,
    body text NOT NULL CONSTRAINT notes_body_length CHECK (length(body) BETWEEN 1 AND 2000),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notes_owner_created_idx ON notes (owner_id, created_at, id);

CREATE TABLE user_event_cursor (
    consumer text PRIMARY KEY,
    txid bigint NOT NULL DEFAULT 0,
    event_id bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
