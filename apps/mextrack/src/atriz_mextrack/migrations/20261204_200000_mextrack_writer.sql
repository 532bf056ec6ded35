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
-- A role of that name made before, by anyone, may hold more than rows: a login, an attribute,
-- or membership in another role (pg_execute_server_program, say), which the service's login
-- would then have too. Refused rather than handed on.
DO $$
BEGIN
    IF EXISTS (
        SELECT FROM pg_roles
        WHERE rolname = 'mextrack_writer'
            AND (rolcanlogin OR rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication
                 OR rolbypassrls)
    ) OR EXISTS (
        SELECT FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
        WHERE r.rolname = 'mextrack_writer'
    ) THEN
        RAISE EXCEPTION 'the role mextrack_writer exists with more than a group of rows may have'
            USING HINT = 'drop it, or take its LOGIN, attributes and memberships away, then'
                         ' migrate again';
    END IF;
END
$$;
-- Nobody else creates in the schema (PostgreSQL 15 and later already refuse it; older
-- clusters, and upgraded ones, let everyone): an object that PUBLIC planted there could shadow
-- a function that the migrator or a SECURITY DEFINER function calls.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO mextrack_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO mextrack_writer;
REVOKE ALL ON _yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock, atriz_migration_checksums
    FROM mextrack_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO mextrack_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO mextrack_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO mextrack_writer;

-- The daily partitions of `positions` are made and dropped by functions that run as their
-- owner, the migrator (only an owner of `positions` may attach or drop one), callable by
-- mextrack_writer alone. Their search_path holds pg_catalog alone (pg_temp last) and every
-- name of ours is written with its schema: nothing a caller made can stand in for them.
CREATE OR REPLACE FUNCTION ensure_positions_partition(day date) RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    partition text := format('positions_p%s', to_char(day::timestamp, 'YYYYMMDD'));
BEGIN
    -- The days the service stores (atriz_core.kit.times: 1970 to 9998).
    IF day < DATE '1970-01-01' OR day > DATE '9998-12-31' THEN
        RAISE EXCEPTION 'no partition for %: outside 1970 to 9998', day
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass(format('public.%I', partition)) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    -- Two creators of one day at once (two workers starting): the second waits for the first
    -- to commit, then fails to create it. Its catalog cache may not show the new table yet (an
    -- advisory lock does not refresh it), so the failure is caught rather than checked for.
    PERFORM pg_advisory_xact_lock(hashtext('mextrack.positions_partitions'));
    BEGIN
        EXECUTE format(
            'CREATE TABLE public.%I PARTITION OF public.positions FOR VALUES FROM (%L) TO (%L)',
            partition,
            to_char(day::timestamp, 'YYYY-MM-DD') || ' 00:00:00+00',
            to_char((day + 1)::timestamp, 'YYYY-MM-DD') || ' 00:00:00+00'
        );
    EXCEPTION WHEN duplicate_table OR unique_violation THEN
        RETURN NULL;
    END;
    RETURN partition;
END;
$$;
CREATE FUNCTION drop_positions_partition(partition text) RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'public.positions'::regclass
            AND c.relnamespace = 'public'::regnamespace AND c.relname = partition
    ) THEN
        RAISE EXCEPTION '% is not a partition of positions', partition
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('DROP TABLE public.%I', partition);
END
$$;
REVOKE EXECUTE ON FUNCTION ensure_positions_partition(date), drop_positions_partition(text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ensure_positions_partition(date), drop_positions_partition(text)
    TO mextrack_writer;
