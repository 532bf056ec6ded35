"""Core's HTTP service, registered under the `atriz.services` entry points."""

from atriz_database.services import ServiceSpec

__all__ = ["service"]

service = ServiceSpec(
    name="core",
    app_factory="atriz_core.app:create_app_from_env",
    port_env="CORE_PORT",
    default_port=8000,
)
