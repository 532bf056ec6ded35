-- Included by service-logins.sql in each database: what `db-status --fail-on-pending` reads.
SET lock_timeout = '5s';
GRANT SELECT ON _yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock, atriz_migration_checksums
    TO atriz_migration_status;
