-- Undoes 20261202_130000_create_openid_provider: browser sessions and the sessions of clients
-- go with their tables (their refresh tokens cascade with them).
DROP TABLE oauth_codes;
DELETE FROM sessions WHERE client_id IS NOT NULL OR browser_session_id IS NOT NULL;
DELETE FROM sessions s
WHERE EXISTS (
    SELECT FROM auth_tokens t WHERE t.family_id = s.id AND t.token_type = 'browser_session'
);
DELETE FROM auth_tokens WHERE token_type = 'browser_session';
ALTER TABLE auth_tokens
    DROP CONSTRAINT auth_tokens_type,
    ADD CONSTRAINT auth_tokens_type CHECK (token_type IN (
        'refresh', 'email_verification', 'password_reset'
    ));
DROP INDEX sessions_browser_session_id_idx;
ALTER TABLE sessions DROP COLUMN scope, DROP COLUMN browser_session_id, DROP COLUMN client_id;
DROP TABLE oauth_clients;
