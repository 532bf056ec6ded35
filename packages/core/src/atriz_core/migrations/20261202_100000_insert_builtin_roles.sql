-- The roles core and the apps rely on, for every environment. They used to live only in a seed,
-- and production refuses seeds: a database migrated there had no `user` role for new accounts
-- and no `admin` role for `atriz users create-admin`. Roles that exist already (from that seed,
-- or made by an administrator) keep their description.
INSERT INTO roles (name, description) VALUES
    ('admin', 'Administers users and roles across Atriz'),
    ('user', 'A signed-up user'),
    ('website.editor', 'Writes and publishes articles on the website'),
    ('mextrack.dispatcher', 'Manages vehicles and reads every position in mextrack'),
    ('pshop.manager', 'Manages products, stock and sales in pshop'),
    ('pshop.cashier', 'Records sales in pshop')
ON CONFLICT (name) DO NOTHING;
