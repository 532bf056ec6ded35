-- Development data: profiles of the seeded users and a few articles (core's seeds made the
-- users, 5eed0000-0000-4000-8000-00000000000N: 4 editor, 5 ana, 6 ben). Idempotent: existing
-- rows stay as they are. `body_html` is what atriz_website.articles.rendering makes of `body`
-- (a test checks it).
INSERT INTO user_profiles (user_id, display_name, bio, locale, time_zone) VALUES
    ('5eed0000-0000-4000-8000-000000000004', 'Elena Editor', 'Edits the Atriz blog.', 'en', 'Europe/London'),
    ('5eed0000-0000-4000-8000-000000000005', 'Ana Alvarez', 'Cooks, writes, ships.', 'es-MX', 'America/Mexico_City'),
    ('5eed0000-0000-4000-8000-000000000006', 'Ben Brandt', '', 'de', 'Europe/Berlin')
ON CONFLICT (user_id) DO NOTHING;

INSERT INTO articles
    (id, author_id, slug, title, summary, body, body_html, language, tags, status, published_at)
VALUES
    ('5eed0a00-0000-4000-8000-000000000001', '5eed0000-0000-4000-8000-000000000004',
     'welcome-to-atriz', 'Welcome to Atriz', 'What this site is and how to find things on it.',
     $md$Atriz is one sign-in for every app: the **website**, fleet tracking and the point of sale.

This site publishes what the team writes. Search finds words in titles, summaries and bodies, with or without accents.$md$,
     $html$<p>Atriz is one sign-in for every app: the <strong>website</strong>, fleet tracking and the point of sale.</p>
<p>This site publishes what the team writes. Search finds words in titles, summaries and bodies, with or without accents.</p>
$html$,
     'en', '{news}', 'published', now() - interval '3 days'),
    ('5eed0a00-0000-4000-8000-000000000002', '5eed0000-0000-4000-8000-000000000005',
     'creme-brulee', 'Crème brûlée', 'The custard with the crackling top, in three steps.',
     $md$A *crème brûlée* needs four things: cream, egg yolks, sugar and patience.

1. Warm the cream with a vanilla pod.
2. Whisk the yolks with the sugar, pour the cream over them.
3. Bake in a water bath at 150 °C for 40 minutes.

Caramelise the sugar on top just before serving.$md$,
     $html$<p>A <em>crème brûlée</em> needs four things: cream, egg yolks, sugar and patience.</p>
<ol>
<li>Warm the cream with a vanilla pod.</li>
<li>Whisk the yolks with the sugar, pour the cream over them.</li>
<li>Bake in a water bath at 150 °C for 40 minutes.</li>
</ol>
<p>Caramelise the sugar on top just before serving.</p>
$html$,
     'en', '{recipes,desserts}', 'published', now() - interval '2 days'),
    ('5eed0a00-0000-4000-8000-000000000003', '5eed0000-0000-4000-8000-000000000005',
     'tortilla-de-patatas', 'Tortilla de patatas', 'La receta clásica, sin discusiones.',
     $md$La **tortilla de patatas** lleva patatas, huevos, aceite de oliva y, según a quién preguntes, cebolla.

Se fríen las patatas a fuego lento y se cuaja la tortilla por los dos lados.$md$,
     $html$<p>La <strong>tortilla de patatas</strong> lleva patatas, huevos, aceite de oliva y, según a quién preguntes, cebolla.</p>
<p>Se fríen las patatas a fuego lento y se cuaja la tortilla por los dos lados.</p>
$html$,
     'es', '{recipes}', 'published', now() - interval '1 day'),
    ('5eed0a00-0000-4000-8000-000000000004', '5eed0000-0000-4000-8000-000000000004',
     'how-editing-works', 'How editing works', 'Publishing, scheduling and edit conflicts.',
     $md$Editors can publish, schedule and archive any article. Every edit sends the version it read in `If-Match`, so two editors never overwrite each other silently.$md$,
     $html$<p>Editors can publish, schedule and archive any article. Every edit sends the version it read in <code>If-Match</code>, so two editors never overwrite each other silently.</p>
$html$,
     'en', '{news}', 'draft', NULL),
    ('5eed0a00-0000-4000-8000-000000000005', '5eed0000-0000-4000-8000-000000000006',
     'keeping-a-fleet-on-the-road', 'Keeping a fleet on the road', 'Draft: the checks that matter.',
     $md$Notes for a post about keeping a fleet on the road: tyres, brakes, and the *boring* checks that matter.$md$,
     $html$<p>Notes for a post about keeping a fleet on the road: tyres, brakes, and the <em>boring</em> checks that matter.</p>
$html$,
     'en', '{fleet}', 'draft', NULL)
ON CONFLICT DO NOTHING;
