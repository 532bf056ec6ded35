-- Profiles, articles with their search columns, old slugs, and the user-event cursor.
-- requires: core 20261123_210000_create_identity

-- One per user of atriz_shared (no foreign key across databases: checked on write, kept true
-- by the user-event policy, audited by `db-check-refs`). Created on the user's first access.
CREATE TABLE user_profiles (
    user_id uuid PRIMARY KEY,
    display_name text NOT NULL
        CONSTRAINT user_profiles_display_name_length CHECK (length(display_name) BETWEEN 1 AND 100),
    bio text NOT NULL DEFAULT ''
        CONSTRAINT user_profiles_bio_length CHECK (length(bio) <= 2000),
    avatar_url text
        CONSTRAINT user_profiles_avatar_url_https
        CHECK (avatar_url ~ '^https://[^/?#]+' AND length(avatar_url) <= 2048),
    locale text NOT NULL DEFAULT 'en'
        CONSTRAINT user_profiles_locale_length CHECK (length(locale) BETWEEN 2 AND 35),
    time_zone text NOT NULL DEFAULT 'UTC'
        CONSTRAINT user_profiles_time_zone_length CHECK (length(time_zone) BETWEEN 1 AND 64),
    preferences jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT user_profiles_preferences_object CHECK (
            jsonb_typeof(preferences) = 'object' AND octet_length(preferences::text) <= 8192
        ),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE articles (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- A user of atriz_shared; NULL once that account is deleted (the article stays, its
    -- author shown as removed: `author_removed_at`).
    author_id uuid,
    author_removed_at timestamptz,
    slug text NOT NULL CONSTRAINT articles_slug_key UNIQUE
        CONSTRAINT articles_slug_format CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 100),
    title text NOT NULL CONSTRAINT articles_title_length CHECK (length(title) BETWEEN 1 AND 200),
    summary text NOT NULL DEFAULT ''
        CONSTRAINT articles_summary_length CHECK (length(summary) <= 500),
    body text NOT NULL DEFAULT '' CONSTRAINT articles_body_length CHECK (length(body) <= 100000),
    -- The body rendered and sanitised when it is written (atriz_website.articles.rendering).
    body_html text NOT NULL DEFAULT '',
    language text NOT NULL DEFAULT 'en'
        CONSTRAINT articles_language_known CHECK (language IN ('en', 'es', 'fr', 'de', 'und')),
    tags text[] NOT NULL DEFAULT '{}'
        CONSTRAINT articles_tags_count CHECK (cardinality(tags) <= 10),
    status text NOT NULL DEFAULT 'draft'
        CONSTRAINT articles_status_known CHECK (status IN ('draft', 'published', 'archived')),
    -- Published articles are live from this time on; a future one is scheduled. Readers' queries
    -- compare it with now(): no timer publishes anything, so a restart loses nothing.
    published_at timestamptz,
    -- Raised by every change; clients send it back in If-Match (a stale one is a 412).
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    -- Weighted title A, summary B, body C, through the article's language's configuration
    -- (accents folded by its unaccent dictionary).
    search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector(article_search_config(language), title), 'A')
        || setweight(to_tsvector(article_search_config(language), summary), 'B')
        || setweight(to_tsvector(article_search_config(language), body), 'C')
    ) STORED,
    -- The title alone, small and never toasted: a hit in it ranks first.
    title_search tsvector GENERATED ALWAYS AS (
        to_tsvector(article_search_config(language), title)
    ) STORED,
    CONSTRAINT articles_published_has_time CHECK (status = 'draft' OR published_at IS NOT NULL),
    CONSTRAINT articles_author_known CHECK (author_id IS NOT NULL OR author_removed_at IS NOT NULL)
);

-- Readers' lists: newest published first, everyone's or one author's; tags; search.
CREATE INDEX articles_published_idx ON articles (published_at DESC, id DESC)
    WHERE status = 'published' AND deleted_at IS NULL;
CREATE INDEX articles_author_published_idx ON articles (author_id, published_at DESC, id DESC)
    WHERE status = 'published' AND deleted_at IS NULL;
CREATE INDEX articles_tags_idx ON articles USING gin (tags)
    WHERE status = 'published' AND deleted_at IS NULL;
CREATE INDEX articles_search_idx ON articles USING gin (search)
    WHERE status = 'published' AND deleted_at IS NULL;
-- Writers' and editors' lists of their articles in every state.
CREATE INDEX articles_created_idx ON articles (created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX articles_author_created_idx ON articles (author_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

-- An article's former slugs: an old link answers 301 to the current one. A slug is never
-- handed to another article while it is here (checked when slugs are chosen).
CREATE TABLE slug_history (
    slug text PRIMARY KEY,
    article_id uuid NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    replaced_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX slug_history_article_idx ON slug_history (article_id);

-- Where this app is in atriz_shared.user_events (atriz_core.kit.events): one row per consumer,
-- written in the transaction that applies the events, so the two commit or roll back together.
-- `txid` is an xid8 of atriz_shared, kept as bigint (far below 2^63 in practice).
CREATE TABLE user_event_cursor (
    consumer text PRIMARY KEY,
    txid bigint NOT NULL DEFAULT 0,
    event_id bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
