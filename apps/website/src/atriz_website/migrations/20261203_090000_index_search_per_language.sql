-- One GIN index on `search` per language instead of one for all: a search matches each
-- language's articles with the query parsed in that language (one OR branch each), and a
-- branch served by an index whose predicate holds its language proves the branch whole, so
-- PostgreSQL no longer rechecks `search @@ query` on every hit (a second read of each hit's
-- vector, about 7 kB from TOAST, besides the one the rank needs). The languages are those of
-- `articles_language_known` (atriz_website.articles.languages).

CREATE INDEX articles_search_en_idx ON articles USING gin (search)
    WHERE language = 'en' AND status = 'published' AND deleted_at IS NULL;
CREATE INDEX articles_search_es_idx ON articles USING gin (search)
    WHERE language = 'es' AND status = 'published' AND deleted_at IS NULL;
CREATE INDEX articles_search_fr_idx ON articles USING gin (search)
    WHERE language = 'fr' AND status = 'published' AND deleted_at IS NULL;
CREATE INDEX articles_search_de_idx ON articles USING gin (search)
    WHERE language = 'de' AND status = 'published' AND deleted_at IS NULL;
CREATE INDEX articles_search_und_idx ON articles USING gin (search)
    WHERE language = 'und' AND status = 'published' AND deleted_at IS NULL;
DROP INDEX articles_search_idx;
