-- website_writer: what the website's login needs in production, and nothing more: the rows of every
-- table (deploy/k8s/base/service-logins.sql makes `website_app` a member). It owns nothing: the
-- owner of a table may add a trigger to it, which then runs with the rights of whoever writes
-- there next, the superuser who migrates included. Tables that later migrations make are
-- covered by the default privileges below; the migration bookkeeping stays the migrator's.
DO $$
BEGIN
    CREATE ROLE website_writer NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- roles are cluster-wide: another database of the server made it already
END
$$;
GRANT USAGE ON SCHEMA public TO website_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO website_writer;
REVOKE ALL ON _yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock, atriz_migration_checksums
    FROM website_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO website_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO website_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO website_writer;
