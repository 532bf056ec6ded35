-- Every slug unique again: a draft sharing its slug with another article takes a suffix of its
-- id first (the other article, public or the older draft, keeps it).

UPDATE articles a
SET slug = rtrim(left(a.slug, 87), '-') || '-' || left(replace(a.id::text, '-', ''), 12)
WHERE a.status = 'draft'
    AND EXISTS (
        SELECT FROM articles b
        WHERE b.slug = a.slug AND b.id <> a.id
            AND (b.status <> 'draft' OR (b.created_at, b.id) < (a.created_at, a.id))
    );
DROP INDEX articles_public_slug_key;
ALTER TABLE articles ADD CONSTRAINT articles_slug_key UNIQUE (slug);
