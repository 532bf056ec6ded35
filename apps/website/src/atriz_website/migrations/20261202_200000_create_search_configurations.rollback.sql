DROP FUNCTION public.article_search_config(text);
DROP TEXT SEARCH CONFIGURATION public.atriz_simple;
DROP TEXT SEARCH CONFIGURATION public.atriz_german;
DROP TEXT SEARCH CONFIGURATION public.atriz_french;
DROP TEXT SEARCH CONFIGURATION public.atriz_spanish;
DROP TEXT SEARCH CONFIGURATION public.atriz_english;
DROP EXTENSION IF EXISTS unaccent;
