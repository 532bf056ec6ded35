-- Included by service-logins.sql in each database: what `db-status --fail-on-pending` reads,
-- and the bookkeeping kept the migrator's alone (a table of it made again after the migrations
-- ran would have the groups' default privileges).
SET lock_timeout = '5s';
GRANT SELECT ON _yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock, atriz_migration_checksums
    TO atriz_migration_status;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE
    ON _yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock, atriz_migration_checksums
    FROM PUBLIC, core_writer, website_writer, mextrack_writer, pshop_writer;
