"""The website service: profiles and published articles, built with the kit."""

from __future__ import annotations

from litestar import Litestar

from atriz_core.client.verifier import TokenVerifier
from atriz_core.kit.service import app_service
from atriz_database.settings import load_env_file
from atriz_website.articles.controllers import ArticleController
from atriz_website.pages import home
from atriz_website.profiles.controllers import ProfileController
from atriz_website.settings import WebsiteSettings
from atriz_website.users import apply_user_event

__all__ = ["create_app", "create_app_from_env"]


def create_app(settings: WebsiteSettings, *, verifier: TokenVerifier | None = None) -> Litestar:
    """The whole service: its controllers and its user-event policy."""
    return app_service(
        settings,
        description="User profiles and published articles with full-text search.",
        route_handlers=[ProfileController, ArticleController, home],
        user_events=apply_user_event,
        verifier=verifier,
    )


def create_app_from_env() -> Litestar:
    """Entry point `atriz.services` (`atriz serve website`): settings from the environment."""
    load_env_file()
    return create_app(WebsiteSettings.from_env())
