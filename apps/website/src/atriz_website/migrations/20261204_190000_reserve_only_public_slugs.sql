-- Only the slugs readers have seen or will see are reserved: those of published (scheduled
-- ones included), archived and formerly public articles, and the old ones in slug_history. A
-- draft's slug is provisional and may be another draft's too: were drafts reserved, a new
-- draft's `-2` would tell its author that someone else has an unpublished article with that
-- title. A draft's slug is settled when it is first published, with a suffix if taken by then.

ALTER TABLE articles DROP CONSTRAINT articles_slug_key;
CREATE UNIQUE INDEX articles_public_slug_key ON articles (slug) WHERE status <> 'draft';
