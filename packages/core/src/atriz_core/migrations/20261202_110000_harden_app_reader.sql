-- Holds the apps' reader role and atriz_shared to least privilege.
--
-- 20261123_210000 created atriz_app_reader, or went on quietly when a role of that name existed
-- (roles are cluster-wide). One made by someone else with LOGIN, SUPERUSER, CREATEROLE or
-- another role's rights would pass all of that to every app that joins it, so the role is now
-- checked, and a migration that finds it wrong fails naming the role and what is wrong.
-- `check_app_reader_role(name)` stays in the schema, so the check can be run on its own.
CREATE FUNCTION check_app_reader_role(role_name text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog
AS $$
DECLARE
    reader record;
    wrong text[] := '{}';
    groups text;
BEGIN
    SELECT r.oid, r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication,
           r.rolbypassrls
    INTO reader
    FROM pg_roles r
    WHERE r.rolname = role_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role % does not exist', quote_ident(role_name);
    END IF;
    IF reader.rolcanlogin THEN wrong := wrong || 'LOGIN'::text; END IF;
    IF reader.rolsuper THEN wrong := wrong || 'SUPERUSER'::text; END IF;
    IF reader.rolcreatedb THEN wrong := wrong || 'CREATEDB'::text; END IF;
    IF reader.rolcreaterole THEN wrong := wrong || 'CREATEROLE'::text; END IF;
    IF reader.rolreplication THEN wrong := wrong || 'REPLICATION'::text; END IF;
    IF reader.rolbypassrls THEN wrong := wrong || 'BYPASSRLS'::text; END IF;
    -- Any role it belongs to lends it that role's rights (pg_read_all_data, another app's
    -- owner...): the reader's rights must be exactly the grants of core's migrations.
    SELECT string_agg(quote_ident(g.rolname), ', ' ORDER BY g.rolname)
    INTO groups
    FROM pg_auth_members m
    JOIN pg_roles g ON g.oid = m.roleid
    WHERE m.member = reader.oid;
    IF groups IS NOT NULL THEN
        wrong := wrong || ('member of ' || groups);
    END IF;
    IF cardinality(wrong) > 0 THEN
        RAISE EXCEPTION 'role % exists with rights an app reader must not have (%): make it '
            'NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS and a member '
            'of no role, or drop it, then migrate again',
            quote_ident(role_name), array_to_string(wrong, ', ');
    END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION check_app_reader_role(text) FROM PUBLIC;

SELECT check_app_reader_role('atriz_app_reader');

-- A database's default grants let every role on the server connect and create temporary
-- tables. atriz_shared admits only its owner (core, which migrates it with the same URL it runs
-- with), superusers and atriz_app_reader's members, which 20261123_210000 granted CONNECT.
DO $$
DECLARE
    database_name text := current_database();
    owner_name text;
BEGIN
    EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', database_name);
    -- REVOKE by a role that did not grant the privilege warns and changes nothing.
    IF has_database_privilege('public', database_name, 'CONNECT, TEMPORARY') THEN
        RAISE EXCEPTION 'could not revoke CONNECT and TEMPORARY on % from PUBLIC: migrate as the '
            'owner of the database', quote_ident(database_name);
    END IF;
    SELECT pg_get_userbyid(d.datdba) INTO owner_name
    FROM pg_database d
    WHERE d.datname = database_name;
    IF NOT (has_database_privilege(owner_name, database_name, 'CONNECT')
            AND has_database_privilege(session_user, database_name, 'CONNECT')
            AND has_database_privilege('atriz_app_reader', database_name, 'CONNECT')) THEN
        RAISE EXCEPTION 'without PUBLIC''s CONNECT on %, its owner %, the migrating role % or '
            'atriz_app_reader could not connect: grant CONNECT to the one that lacks it',
            quote_ident(database_name), quote_ident(owner_name), quote_ident(session_user);
    END IF;
END
$$;

-- Apps read user_events only up to the oldest transaction still running anywhere on the server
-- (pg_snapshot_xmin), so one session left idle in a write transaction, in any database, holds
-- every app's events back for as long as it stays open. The app roles get a limit: after 60 s
-- idle in a transaction the server ends the session.
--
-- PostgreSQL applies a role's settings only to sessions that log in as that very role, never
-- through membership: on this NOLOGIN group the setting states the apps' limit, and it takes
-- effect where each app's login role gets it too or its connections set it (README). Not
-- ALTER DATABASE: the write transactions that matter run mostly in the apps' own databases,
-- which a setting on atriz_shared would miss, and it would end operators' sessions here too.
--
-- The role and its settings are shared by every database on the server: a value already there
-- (another database's migration, or an operator's own) is left as it is, and another
-- database's migration setting it at the same moment is not an error.
DO $$
BEGIN
    FOR attempt IN 1..2 LOOP
        IF EXISTS (
            SELECT FROM pg_roles r, unnest(r.rolconfig) AS c(setting)
            WHERE r.rolname = 'atriz_app_reader'
                AND c.setting LIKE 'idle\_in\_transaction\_session\_timeout=%'
        ) THEN
            RETURN;
        END IF;
        BEGIN
            ALTER ROLE atriz_app_reader SET idle_in_transaction_session_timeout = '60s';
            RETURN;
        EXCEPTION WHEN unique_violation OR internal_error THEN
            -- A duplicate pg_db_role_setting row or "tuple concurrently updated": another
            -- migration wrote the setting first, which the second look finds.
            IF attempt = 2 THEN
                RAISE;
            END IF;
        END;
    END LOOP;
END
$$;
