CREATE INDEX articles_search_idx ON articles USING gin (search)
    WHERE status = 'published' AND deleted_at IS NULL;
DROP INDEX articles_search_und_idx;
DROP INDEX articles_search_de_idx;
DROP INDEX articles_search_fr_idx;
DROP INDEX articles_search_es_idx;
DROP INDEX articles_search_en_idx;
