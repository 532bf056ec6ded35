GRANT EXECUTE ON FUNCTION ensure_positions_partition(date) TO PUBLIC;
REVOKE EXECUTE ON FUNCTION ensure_positions_partition(date) FROM mextrack_writer;
DROP FUNCTION drop_positions_partition(text);
ALTER FUNCTION ensure_positions_partition(date) SECURITY INVOKER RESET search_path;
-- The role stays: roles are cluster-wide, and other databases of the server may grant to it.
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM mextrack_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM mextrack_writer;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM mextrack_writer;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM mextrack_writer;
REVOKE USAGE ON SCHEMA public FROM mextrack_writer;
