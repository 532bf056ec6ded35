-- The old code knew revocation only on tokens: carry each session's end over to its tokens,
-- and revoke every token but the newest generation's, so that nothing revoked comes back.
UPDATE auth_tokens t SET revoked_at = s.revoked_at
FROM sessions s
WHERE t.family_id = s.id AND s.revoked_at IS NOT NULL AND t.revoked_at IS NULL;
UPDATE auth_tokens t SET revoked_at = now()
FROM sessions s
WHERE t.family_id = s.id AND t.generation < s.generation AND t.revoked_at IS NULL;

ALTER TABLE users DROP COLUMN login_bookings;
DROP INDEX login_throttle_window_idx;
DROP TABLE request_limits;
ALTER TABLE auth_tokens
    DROP CONSTRAINT auth_tokens_refresh_has_generation,
    DROP CONSTRAINT auth_tokens_session_fkey,
    DROP COLUMN generation;
DROP TABLE sessions;
