"""The website's HTTP service, registered under the `atriz.services` entry points."""

from atriz_database.services import ServiceSpec

__all__ = ["service"]

service = ServiceSpec(
    name="website",
    app_factory="atriz_website.app:create_app_from_env",
    port_env="WEBSITE_PORT",
    default_port=8001,
)
