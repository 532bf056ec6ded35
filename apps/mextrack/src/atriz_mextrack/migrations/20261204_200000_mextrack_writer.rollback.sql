GRANT EXECUTE ON FUNCTION ensure_positions_partition(date) TO PUBLIC;
REVOKE EXECUTE ON FUNCTION ensure_positions_partition(date) FROM mextrack_writer;
DROP FUNCTION drop_positions_partition(text);
-- The function as 20261202_140000_create_fleet made it (a replacement takes every attribute
-- from the new definition: SECURITY INVOKER, no search_path of its own).
CREATE OR REPLACE FUNCTION ensure_positions_partition(day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    partition text := format('positions_p%s', to_char(day, 'YYYYMMDD'));
BEGIN
    IF to_regclass(partition) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    -- Two creators of one day at once (two workers starting): the second waits for the first
    -- to commit, then fails to create it. Its catalog cache may not show the new table yet (an
    -- advisory lock does not refresh it), so the failure is caught rather than checked for.
    PERFORM pg_advisory_xact_lock(hashtext('mextrack.positions_partitions'));
    BEGIN
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF positions FOR VALUES FROM (%L) TO (%L)',
            partition,
            to_char(day, 'YYYY-MM-DD') || ' 00:00:00+00',
            to_char(day + 1, 'YYYY-MM-DD') || ' 00:00:00+00'
        );
    EXCEPTION WHEN duplicate_table OR unique_violation THEN
        RETURN NULL;
    END;
    RETURN partition;
END;
$$;
-- The role stays: roles are cluster-wide, and other databases of the server may grant to it.
-- CREATE on the schema stays revoked from PUBLIC (granting it back would let anyone plant
-- objects there).
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM mextrack_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM mextrack_writer;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM mextrack_writer;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM mextrack_writer;
REVOKE USAGE ON SCHEMA public FROM mextrack_writer;
