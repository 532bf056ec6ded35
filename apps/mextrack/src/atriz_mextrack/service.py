"""Mextrack's HTTP service, registered under the `atriz.services` entry points."""

from atriz_database.services import ServiceSpec

__all__ = ["service"]

service = ServiceSpec(
    name="mextrack",
    app_factory="atriz_mextrack.app:create_app_from_env",
    port_env="MEXTRACK_PORT",
    default_port=8002,
)
