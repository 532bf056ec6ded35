-- Development OpenID Connect clients: the three apps, first-party and confidential, each with
-- the secret `atriz-dev-client-secret-<app>` (seeds are refused in production; there,
-- `atriz clients add` makes a random secret). `atriz dev` also registers each app's callback on
-- the port it serves on, when that is not the default. Idempotent: an existing client is left
-- as it is.
INSERT INTO oauth_clients (id, name, secret_hash, redirect_uris, post_logout_redirect_uris,
                           first_party)
SELECT app.id, app.name, sha256(convert_to('atriz-dev-client-secret-' || app.id, 'UTF8')),
       ARRAY['http://127.0.0.1:' || app.port || '/auth/callback'],
       ARRAY['http://127.0.0.1:' || app.port || '/'],
       true
FROM (VALUES
    ('website', 'Atriz website', 8001),
    ('mextrack', 'Mextrack', 8002),
    ('pshop', 'PShop', 8003)
) AS app (id, name, port)
ON CONFLICT (id) DO NOTHING;
