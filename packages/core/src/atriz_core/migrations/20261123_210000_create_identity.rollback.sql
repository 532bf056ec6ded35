REVOKE SELECT ON roles, user_roles, user_events FROM atriz_app_reader;
REVOKE SELECT (id, email, name, is_active, email_verified_at, deleted_at, created_at)
    ON users FROM atriz_app_reader;
REVOKE USAGE ON SCHEMA public FROM atriz_app_reader;

DO $$
BEGIN
    EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM atriz_app_reader', current_database());
END
$$;

DROP TABLE login_throttle;
DROP TABLE user_events;
DROP TABLE auth_events;
DROP TABLE auth_tokens;
DROP TABLE user_roles;
DROP TABLE roles;
DROP TABLE users;
