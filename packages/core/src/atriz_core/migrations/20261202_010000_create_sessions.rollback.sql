DROP INDEX login_throttle_window_idx;
DROP TABLE request_limits;
ALTER TABLE auth_tokens
    DROP CONSTRAINT auth_tokens_refresh_has_generation,
    DROP CONSTRAINT auth_tokens_session_fkey,
    DROP COLUMN generation;
DROP TABLE sessions;
