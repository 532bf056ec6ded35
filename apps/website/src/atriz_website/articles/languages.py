"""The languages articles are written in, each with its text-search configuration (created by
the migration `create_search_configurations`, which folds accents in each)."""

from __future__ import annotations

from typing import Literal

__all__ = ["CONFIGURATIONS", "Language"]

Language = Literal["en", "es", "fr", "de", "und"]
"""ISO 639-1 codes; `und` (undetermined) for any other: no stemming, accents still folded."""

CONFIGURATIONS: dict[str, str] = {
    "en": "public.atriz_english",
    "es": "public.atriz_spanish",
    "fr": "public.atriz_french",
    "de": "public.atriz_german",
    "und": "public.atriz_simple",
}
"""Language -> configuration; code-owned constants, the only names put into SQL text."""
