-- The events apps need to refuse a revoked user's access tokens within seconds, not at expiry:
-- `sessions_revoked` (logout everywhere, a password change or reset) and `roles_changed` (a role
-- granted or taken away: the tokens in hand carry the old roles). Apps keep, per user, the time
-- of the newest such event (and of `deactivated` and `deleted`) and refuse tokens issued before.
ALTER TABLE user_events
    DROP CONSTRAINT user_events_type,
    ADD CONSTRAINT user_events_type CHECK (event_type IN (
        'deactivated', 'reactivated', 'deleted', 'sessions_revoked', 'roles_changed'
    ));

-- Each app worker starts with the last 15 minutes of events (an access token's longest life).
CREATE INDEX user_events_created_at_idx ON user_events (created_at);

-- Apps LISTEN on `atriz_user_events` and read the table when woken (they also poll, in case a
-- notification is missed). NOTIFY is delivered when the transaction commits, and not at all if
-- it rolls back; the payload is empty, so no user's id travels beside the table's grants.
-- One notification per statement: a listener only needs waking, not counting.
CREATE FUNCTION notify_user_events() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
    PERFORM pg_notify('atriz_user_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER user_events_notify
    AFTER INSERT ON user_events
    FOR EACH STATEMENT
    EXECUTE FUNCTION notify_user_events();
