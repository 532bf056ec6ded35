-- Development-only roles, on top of the built-in ones that migration
-- 20261202_100000_insert_builtin_roles creates in every environment. Idempotent.
INSERT INTO roles (name, description) VALUES
    ('moderator', 'Moderates published content')
ON CONFLICT (name) DO NOTHING;
