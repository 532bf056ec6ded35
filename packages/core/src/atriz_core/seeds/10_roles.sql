-- The global roles and each app's scoped roles. Idempotent: existing roles are left as they are.
INSERT INTO roles (name, description) VALUES
    ('admin', 'Administers users and roles across Atriz'),
    ('moderator', 'Moderates published content'),
    ('user', 'A signed-up user'),
    ('website.editor', 'Writes and publishes articles on the website'),
    ('mextrack.dispatcher', 'Manages vehicles and reads every position in mextrack'),
    ('pshop.manager', 'Manages products, stock and sales in pshop'),
    ('pshop.cashier', 'Records sales in pshop')
ON CONFLICT (name) DO NOTHING;
