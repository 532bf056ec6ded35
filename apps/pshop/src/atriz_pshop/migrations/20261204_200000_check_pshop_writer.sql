-- pshop_writer, which 20261202_140000_create_pshop made or found: the group of pshop's
-- production login (deploy/k8s/base/service-logins.sql makes `pshop_app` a member).
-- A role of that name made before, by anyone, may hold more than rows: a login, an attribute,
-- or membership in another role (pg_execute_server_program, say), which the service's login
-- would then have too. Refused rather than handed on.
DO $$
BEGIN
    IF EXISTS (
        SELECT FROM pg_roles
        WHERE rolname = 'pshop_writer'
            AND (rolcanlogin OR rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication
                 OR rolbypassrls)
    ) OR EXISTS (
        SELECT FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
        WHERE r.rolname = 'pshop_writer'
    ) THEN
        RAISE EXCEPTION 'the role pshop_writer exists with more than a group of rows may have'
            USING HINT = 'drop it, or take its LOGIN, attributes and memberships away, then'
                         ' migrate again';
    END IF;
END
$$;
-- Nobody else creates in the schema (PostgreSQL 15 and later already refuse it; older
-- clusters, and upgraded ones, let everyone): an object that PUBLIC planted there could shadow
-- a function that the migrator or a SECURITY DEFINER function calls.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
