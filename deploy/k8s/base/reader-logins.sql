-- Each app reads atriz_shared through a login of its own in atriz_app_reader (the group core's
-- migrations create), never core's: production refuses to start an app without one. Creates
-- the logins that are missing and sets their passwords (a changed password takes effect when
-- the migrate Job runs again); roles are cluster-wide, so this runs after the migrations made
-- the group. The passwords reach psql through \getenv and :'...' (quoted as literals), never a
-- command line; every login gets the idle-in-transaction limit that README.md's
-- atriz_app_reader section asks of each app login. (docker-compose.yml's logins job runs this
-- file too.)
\ir unrecorded-session.sql
\getenv website_reader_password WEBSITE_READER_PASSWORD
\getenv mextrack_reader_password MEXTRACK_READER_PASSWORD
\getenv pshop_reader_password PSHOP_READER_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', login)
FROM unnest(ARRAY['website_reader', 'mextrack_reader', 'pshop_reader']) AS login
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = login)
\gexec
GRANT atriz_app_reader TO website_reader, mextrack_reader, pshop_reader;
ALTER ROLE website_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'website_reader_password';
ALTER ROLE mextrack_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'mextrack_reader_password';
ALTER ROLE pshop_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'pshop_reader_password';
ALTER ROLE website_reader SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE mextrack_reader SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE pshop_reader SET idle_in_transaction_session_timeout = '60s';
