-- mextrack_writer: what mextrack's login needs in production, and nothing more: the rows of every
-- table (deploy/k8s/base/service-logins.sql makes `mextrack_app` a member). It owns nothing: the
-- owner of a table may add a trigger to it, which then runs with the rights of whoever writes
-- there next, the superuser who migrates included. Tables that later migrations make are
-- covered by the default privileges below; the migration bookkeeping stays the migrator's.
DO $$
BEGIN
    CREATE ROLE mextrack_writer NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- roles are cluster-wide: another database of the server made it already
END
$$;
GRANT USAGE ON SCHEMA public TO mextrack_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO mextrack_writer;
REVOKE ALL ON _yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock, atriz_migration_checksums
    FROM mextrack_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO mextrack_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO mextrack_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO mextrack_writer;

-- The daily partitions of `positions` are made and dropped by functions that run as their
-- owner, the migrator (only an owner of `positions` may attach or drop one), with a fixed
-- search_path, callable by mextrack_writer alone.
ALTER FUNCTION ensure_positions_partition(date)
    SECURITY DEFINER SET search_path = public, pg_temp;
CREATE FUNCTION drop_positions_partition(partition text) RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'positions'::regclass AND c.relname = partition
    ) THEN
        RAISE EXCEPTION '% is not a partition of positions', partition
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('DROP TABLE %I', partition);
END
$$;
REVOKE EXECUTE ON FUNCTION ensure_positions_partition(date), drop_positions_partition(text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ensure_positions_partition(date), drop_positions_partition(text)
    TO mextrack_writer;
