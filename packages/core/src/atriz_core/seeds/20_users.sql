-- Development users with fixed ids, so that the apps' seeds can give them vehicles, articles
-- and sales. Every one signs in with the password `atriz-dev-password` (seeds are refused in
-- production). The administrator is not here: `atriz dev` creates it with its own password.
-- Idempotent: an existing email keeps its account as it is.
INSERT INTO users (id, email, password_hash, name, email_verified_at) VALUES
    ('5eed0000-0000-4000-8000-000000000001', 'dispatcher@atriz.localhost',
     '$argon2id$v=19$m=19456,t=2,p=1$qiQs+NfecrcRkjSj9kZ3lw$MX5ZXMvI0vA0RJJ1q4qgtvP0jogja+btoLFxJ8PFMuM',
     'Dana Dispatcher', now()),
    ('5eed0000-0000-4000-8000-000000000002', 'cashier@atriz.localhost',
     '$argon2id$v=19$m=19456,t=2,p=1$qiQs+NfecrcRkjSj9kZ3lw$MX5ZXMvI0vA0RJJ1q4qgtvP0jogja+btoLFxJ8PFMuM',
     'Carlos Cashier', now()),
    ('5eed0000-0000-4000-8000-000000000003', 'manager@atriz.localhost',
     '$argon2id$v=19$m=19456,t=2,p=1$qiQs+NfecrcRkjSj9kZ3lw$MX5ZXMvI0vA0RJJ1q4qgtvP0jogja+btoLFxJ8PFMuM',
     'Mara Manager', now()),
    ('5eed0000-0000-4000-8000-000000000004', 'editor@atriz.localhost',
     '$argon2id$v=19$m=19456,t=2,p=1$qiQs+NfecrcRkjSj9kZ3lw$MX5ZXMvI0vA0RJJ1q4qgtvP0jogja+btoLFxJ8PFMuM',
     'Elena Editor', now()),
    ('5eed0000-0000-4000-8000-000000000005', 'ana@atriz.localhost',
     '$argon2id$v=19$m=19456,t=2,p=1$qiQs+NfecrcRkjSj9kZ3lw$MX5ZXMvI0vA0RJJ1q4qgtvP0jogja+btoLFxJ8PFMuM',
     'Ana Alvarez', now()),
    ('5eed0000-0000-4000-8000-000000000006', 'ben@atriz.localhost',
     '$argon2id$v=19$m=19456,t=2,p=1$qiQs+NfecrcRkjSj9kZ3lw$MX5ZXMvI0vA0RJJ1q4qgtvP0jogja+btoLFxJ8PFMuM',
     'Ben Brandt', now())
ON CONFLICT (email) DO NOTHING;

-- Each seeded user's app role.
INSERT INTO user_roles (user_id, role_id)
SELECT seeded.user_id::uuid, roles.id
FROM (VALUES
    ('5eed0000-0000-4000-8000-000000000001', 'mextrack.dispatcher'),
    ('5eed0000-0000-4000-8000-000000000002', 'pshop.cashier'),
    ('5eed0000-0000-4000-8000-000000000003', 'pshop.manager'),
    ('5eed0000-0000-4000-8000-000000000004', 'website.editor')
) AS seeded (user_id, role_name)
JOIN roles ON roles.name = seeded.role_name
JOIN users ON users.id = seeded.user_id::uuid
ON CONFLICT DO NOTHING;
