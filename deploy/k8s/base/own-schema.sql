-- Included by service-logins.sql, connected to a service's database, with :owner its login:
-- hands the public schema's objects that the migrations (or the superuser) made over to :owner
-- (an identity column's sequence follows its table; an extension's objects stay the
-- extension's), and lets
-- :owner use what later migrations make until the next run hands that over too.
SELECT format('ALTER %s %s OWNER TO %I', kind, name, :'owner')
FROM (
    SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
               WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
           c.oid::regclass::text, c.relowner
    FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace
        AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
        AND c.relname NOT IN ('_yoyo_migration', '_yoyo_log', '_yoyo_version', 'yoyo_lock',
                              'atriz_migration_checksums')
        AND NOT EXISTS (
            SELECT FROM pg_depend d
            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i')))
        )
    UNION ALL
    SELECT 'FUNCTION', p.oid::regprocedure::text, p.proowner
    FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace AND p.prokind = 'f'
        AND NOT EXISTS (
            SELECT FROM pg_depend d
            WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
        )
) AS made (kind, name, owner)
WHERE owner <> to_regrole(:'owner')
\gexec
-- CREATE: mextrack's daily partitions are tables of the schema.
GRANT USAGE, CREATE ON SCHEMA public TO :"owner";
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"owner";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO :"owner";
\ir migration-status.sql
