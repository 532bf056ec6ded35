"""The catalogue's routes: anyone signed in reads it, managers change it."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter

from atriz_core.client import requires_role
from atriz_core.client.verifier import Principal
from atriz_core.kit.database import DbConnection
from atriz_core.kit.openapi import problem_responses
from atriz_core.kit.pagination import Page
from atriz_core.kit.pagination_params import (
    DEFAULT_LIMIT,
    PageCursor,
    PageLimit,
    cursors_of,
    schema_name,
)
from atriz_core.kit.replica import REPLICA_READS
from atriz_core.kit.text import END, NO_NUL
from atriz_pshop.products import services
from atriz_pshop.products.schemas import Product, ProductCreate, ProductUpdate
from atriz_pshop.roles import STAFF

__all__ = ["ProductController"]

ProductPage = Annotated[Page[Product], schema_name("ProductPage")]
Search = Annotated[
    str | None,
    QueryParameter(
        min_length=1,
        max_length=200,
        pattern=NO_NUL,
        description="Part of the name (any case), or an exact SKU or barcode.",
    ),
]
ActiveFilter = Annotated[
    bool | None, QueryParameter(description="Only active (true) or inactive (false) products.")
]
BarcodePath = Annotated[str, PathParameter(pattern=r"^[!-~]{1,64}" + END)]


class ProductController(Controller):
    path = "/products"
    tags = ["products"]

    @get("/", opt=REPLICA_READS)
    async def list_products(
        self,
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        q: Search = None,
        active: ActiveFilter = None,
        limit: PageLimit = DEFAULT_LIMIT,
        cursor: PageCursor = None,
    ) -> ProductPage:
        """The catalogue by name, a page at a time; `q` searches names, SKUs and barcodes."""
        return await services.list_products(
            conn, cursors_of(request), search=q, active=active, limit=limit, cursor=cursor
        )

    @get("/{product_id:uuid}", opt=REPLICA_READS)
    async def get_product(self, product_id: FromPath[uuid.UUID], conn: DbConnection) -> Product:
        """One product, with its barcodes and stock."""
        return await services.get_product(conn, product_id)

    @get("/barcodes/{barcode:str}", opt=REPLICA_READS, responses=problem_responses(404))
    async def get_product_by_barcode(
        self, barcode: FromPath[BarcodePath], conn: DbConnection
    ) -> Product:
        """The product a scanned barcode belongs to."""
        return await services.get_product_by_barcode(conn, barcode)

    @post("/", guards=[requires_role(*STAFF)], responses=problem_responses(409, 422))
    async def create_product(
        self,
        data: JSONBody[ProductCreate],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
    ) -> Product:
        """A new product (managers); 409 naming a SKU or barcode already in use, 422 for a
        currency that is not ISO 4217."""
        return await services.create_product(conn, request.user.id, data)

    @patch(
        "/{product_id:uuid}",
        guards=[requires_role(*STAFF)],
        responses=problem_responses(409, 422),
    )
    async def update_product(
        self, product_id: FromPath[uuid.UUID], data: JSONBody[ProductUpdate], conn: DbConnection
    ) -> Product:
        """Change a product's name, description, price, currency, reorder level or barcodes
        (managers); past sales keep the price they were made at."""
        return await services.update_product(conn, product_id, data)

    @post("/{product_id:uuid}/deactivate", guards=[requires_role(*STAFF)], status_code=200)
    async def deactivate_product(
        self, product_id: FromPath[uuid.UUID], conn: DbConnection
    ) -> Product:
        """Stop selling a product (managers): sales of it are refused with 422; its history
        and stock stay."""
        return await services.set_active(conn, product_id, False)

    @post("/{product_id:uuid}/activate", guards=[requires_role(*STAFF)], status_code=200)
    async def activate_product(
        self, product_id: FromPath[uuid.UUID], conn: DbConnection
    ) -> Product:
        """Sell a deactivated product again (managers)."""
        return await services.set_active(conn, product_id, True)
