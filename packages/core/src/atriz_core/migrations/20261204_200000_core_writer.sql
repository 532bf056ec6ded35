-- core_writer: what core's own login needs in production, and nothing more: the rows of every
-- table (deploy/k8s/base/service-logins.sql makes `core_app` a member). It owns nothing: the
-- owner of a table may add a trigger to it, which then runs with the rights of whoever writes
-- there next, the superuser who migrates included. Tables that later migrations make are
-- covered by the default privileges below; the migration bookkeeping stays the migrator's.
DO $$
BEGIN
    CREATE ROLE core_writer NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- roles are cluster-wide: another database of the server made it already
END
$$;
GRANT USAGE ON SCHEMA public TO core_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO core_writer;
REVOKE ALL ON _yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock, atriz_migration_checksums
    FROM core_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO core_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO core_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO core_writer;
