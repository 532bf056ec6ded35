-- Each service reaches its own database through a login of its own, never the superuser, whose
-- password stays in this Job: a flaw in one app then reaches that app's rows, not every
-- database, not atriz_shared's password hashes, not `COPY ... TO PROGRAM` on the server.
--
-- - core_app, website_app, mextrack_app and pshop_app join the group their service's
--   migrations grant to (core_writer, website_writer, mextrack_writer, pshop_writer): the rows
--   of its tables (pshop's stock ledger: append only), and mextrack's partition functions.
--   They own nothing, so they cannot add a trigger that would run as the superuser;
-- - atriz_migration_status reads the migration bookkeeping and nothing else: the services'
--   wait-for-migrations init containers log in with it;
-- - an app's database admits only its own login and atriz_migration_status (atriz_shared:
--   core's login and the readers, core's migrations see to it).
--
-- Runs after the migrations, every time the Job runs; what later migrations make, the groups
-- get through the migrations' default privileges.

\ir unrecorded-session.sql
-- Names of their own: a variable missing from the environment stays undefined, and the
-- statement that uses it fails, instead of taking another script's value.
\getenv core_app_password CORE_DATABASE_PASSWORD
\getenv website_app_password WEBSITE_DATABASE_PASSWORD
\getenv mextrack_app_password MEXTRACK_DATABASE_PASSWORD
\getenv pshop_app_password PSHOP_DATABASE_PASSWORD
\getenv status_password MIGRATION_STATUS_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', login)
FROM unnest(ARRAY['core_app', 'website_app', 'mextrack_app', 'pshop_app',
                  'atriz_migration_status']) AS login
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = login)
\gexec
-- Whatever a role of that name could do before, a plain login now.
ALTER ROLE core_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'core_app_password';
ALTER ROLE website_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'website_app_password';
ALTER ROLE mextrack_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'mextrack_app_password';
ALTER ROLE pshop_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'pshop_app_password';
ALTER ROLE atriz_migration_status LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
    NOBYPASSRLS PASSWORD :'status_password';
-- README.md, "Idle in a transaction": every login of the server holds back the apps' user
-- events while it idles in a transaction, so each gets the limit (the pools set it too).
ALTER ROLE core_app SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE website_app SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE mextrack_app SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE pshop_app SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE atriz_migration_status SET idle_in_transaction_session_timeout = '60s';
GRANT core_writer TO core_app;
GRANT website_writer TO website_app;
GRANT mextrack_writer TO mextrack_app;
GRANT pshop_writer TO pshop_app;
-- The roles of both scripts are what they say on every run, whatever anyone granted since: the
-- groups can do nothing of their own, each login is in its group only, no group is in any
-- role, and nobody else is in a group or a login (a member could SET ROLE to it). A revoke
-- takes back only its grantor's grant (GRANTED BY), and whatever was granted on from it
-- (CASCADE); the grants this script makes, kept, lose any ADMIN OPTION.
ALTER ROLE core_writer NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE website_writer NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE mextrack_writer NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE pshop_writer NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE atriz_app_reader NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
    NOBYPASSRLS;
WITH expected (member, role) AS (
    VALUES ('core_app', 'core_writer'), ('website_app', 'website_writer'),
           ('mextrack_app', 'mextrack_writer'), ('pshop_app', 'pshop_writer'),
           ('website_reader', 'atriz_app_reader'), ('mextrack_reader', 'atriz_app_reader'),
           ('pshop_reader', 'atriz_app_reader')
), ours (name) AS (
    SELECT member FROM expected UNION SELECT role FROM expected
    UNION SELECT 'atriz_migration_status'
)
SELECT format('REVOKE %I FROM %I GRANTED BY %I CASCADE', g.rolname, m.rolname, b.rolname)
FROM pg_auth_members a
JOIN pg_roles g ON g.oid = a.roleid
JOIN pg_roles m ON m.oid = a.member
JOIN pg_roles b ON b.oid = a.grantor
WHERE (g.rolname IN (SELECT name FROM ours) OR m.rolname IN (SELECT name FROM ours))
    AND NOT ((m.rolname, g.rolname) IN (SELECT member, role FROM expected)
             AND a.grantor = current_user::regrole)
\gexec
REVOKE ADMIN OPTION FOR core_writer FROM core_app CASCADE;
REVOKE ADMIN OPTION FOR website_writer FROM website_app CASCADE;
REVOKE ADMIN OPTION FOR mextrack_writer FROM mextrack_app CASCADE;
REVOKE ADMIN OPTION FOR pshop_writer FROM pshop_app CASCADE;
REVOKE ADMIN OPTION FOR atriz_app_reader FROM website_reader, mextrack_reader, pshop_reader
    CASCADE;
GRANT CONNECT ON DATABASE atriz_shared TO core_app, atriz_migration_status;
REVOKE CONNECT, TEMPORARY ON DATABASE atriz_db, mextrack_db, pshop_db FROM PUBLIC;
GRANT CONNECT ON DATABASE atriz_db TO website_app, atriz_migration_status;
GRANT CONNECT ON DATABASE mextrack_db TO mextrack_app, atriz_migration_status;
GRANT CONNECT ON DATABASE pshop_db TO pshop_app, atriz_migration_status;

\connect atriz_shared
\ir migration-status.sql
\connect atriz_db
\ir migration-status.sql
\connect mextrack_db
\ir migration-status.sql
\connect pshop_db
\ir migration-status.sql
