-- Undoes 20261202_120000_revocation_events. The older CHECK cannot hold the new kinds of event,
-- so they are deleted: they matter only for the 15 minutes an access token lives.
DROP TRIGGER user_events_notify ON user_events;
DROP FUNCTION notify_user_events();
DROP INDEX user_events_created_at_idx;
DELETE FROM user_events WHERE event_type IN ('sessions_revoked', 'roles_changed');
ALTER TABLE user_events
    DROP CONSTRAINT user_events_type,
    ADD CONSTRAINT user_events_type CHECK (event_type IN ('deactivated', 'reactivated', 'deleted'));
