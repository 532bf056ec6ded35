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
-- A role of that name made before, by anyone, may hold more than rows: a login, an attribute,
-- or membership in another role (pg_execute_server_program, say), which the service's login
-- would then have too. Refused rather than handed on.
DO $$
BEGIN
    IF EXISTS (
        SELECT FROM pg_roles
        WHERE rolname = 'website_writer'
            AND (rolcanlogin OR rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication
                 OR rolbypassrls)
    ) OR EXISTS (
        SELECT FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
        WHERE r.rolname = 'website_writer'
    ) THEN
        RAISE EXCEPTION 'the role website_writer exists with more than a group of rows may have'
            USING HINT = 'drop it, or take its LOGIN, attributes and memberships away, then'
                         ' migrate again';
    END IF;
END
$$;
-- Nobody else creates in the schema (PostgreSQL 15 and later already refuse it; older
-- clusters, and upgraded ones, let everyone): an object that PUBLIC planted there could shadow
-- a function that the migrator or a SECURITY DEFINER function calls.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO website_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO website_writer;
REVOKE ALL ON _yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock, atriz_migration_checksums
    FROM website_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO website_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO website_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO website_writer;
