-- A user's events, newest last. Issuing an access token reads the user's newest revocation
-- here, to issue it after that revocation (one index probe per login or refresh); deleting a
-- user deletes their events (ON DELETE CASCADE) without scanning the table.
CREATE INDEX user_events_user_id_created_at_idx ON user_events (user_id, created_at);
