-- Full-text search configurations that fold accents, one per language articles are written in.
-- requires: core 20261123_210000_create_identity
--
-- `unaccent()` cannot appear in a generated column (it is not immutable), but a text-search
-- configuration with the `unaccent` dictionary ahead of the stemmer can: `creme` then finds
-- `crème`, in documents and in queries alike, since both go through the same configuration.
-- unaccent is a trusted extension (PostgreSQL 13+): the database owner may create it.
CREATE EXTENSION IF NOT EXISTS unaccent;

CREATE TEXT SEARCH CONFIGURATION public.atriz_english (COPY = pg_catalog.english);
ALTER TEXT SEARCH CONFIGURATION public.atriz_english
    ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem;

CREATE TEXT SEARCH CONFIGURATION public.atriz_spanish (COPY = pg_catalog.spanish);
ALTER TEXT SEARCH CONFIGURATION public.atriz_spanish
    ALTER MAPPING FOR hword, hword_part, word WITH unaccent, spanish_stem;

CREATE TEXT SEARCH CONFIGURATION public.atriz_french (COPY = pg_catalog.french);
ALTER TEXT SEARCH CONFIGURATION public.atriz_french
    ALTER MAPPING FOR hword, hword_part, word WITH unaccent, french_stem;

CREATE TEXT SEARCH CONFIGURATION public.atriz_german (COPY = pg_catalog.german);
ALTER TEXT SEARCH CONFIGURATION public.atriz_german
    ALTER MAPPING FOR hword, hword_part, word WITH unaccent, german_stem;

-- Any other language (`und`): no stemming, accents and case folded.
CREATE TEXT SEARCH CONFIGURATION public.atriz_simple (COPY = pg_catalog.simple);
ALTER TEXT SEARCH CONFIGURATION public.atriz_simple
    ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;

-- The configuration of an article's language. Immutable as long as the configurations keep
-- their names, so that the generated search columns may call it; the application's queries
-- name the same configurations (atriz_website.articles.languages).
CREATE FUNCTION public.article_search_config(language text) RETURNS regconfig
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE language
    WHEN 'en' THEN 'public.atriz_english'::regconfig
    WHEN 'es' THEN 'public.atriz_spanish'::regconfig
    WHEN 'fr' THEN 'public.atriz_french'::regconfig
    WHEN 'de' THEN 'public.atriz_german'::regconfig
    ELSE 'public.atriz_simple'::regconfig
END;
