-- Tables and sequences that later migrations create are pshop_writer's too, as each other app's
-- are its writer group's: a table added with db-new was otherwise out of reach of pshop_app,
-- pshop's production login, which only production (its own login, not the superuser) showed.
-- A table that must not be changed at will (as the ledger) revokes what it must not allow in
-- the migration that creates it.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO pshop_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO pshop_writer;
