-- The role stays: roles are cluster-wide, and other databases of the server may grant to it.
-- CREATE on the schema stays revoked from PUBLIC (granting it back would let anyone plant
-- objects there).
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM website_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM website_writer;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM website_writer;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM website_writer;
REVOKE USAGE ON SCHEMA public FROM website_writer;
