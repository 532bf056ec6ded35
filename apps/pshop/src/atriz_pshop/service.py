"""PShop's HTTP service, registered under the `atriz.services` entry points."""

from atriz_database.services import ServiceSpec

__all__ = ["service"]

service = ServiceSpec(
    name="pshop",
    app_factory="atriz_pshop.app:create_app_from_env",
    port_env="PSHOP_PORT",
    default_port=8003,
)
