-- Case-insensitive text, for e-mail addresses that must be unique regardless of case.
-- citext is a trusted extension: the database owner may create it without superuser rights.
CREATE EXTENSION IF NOT EXISTS citext;
