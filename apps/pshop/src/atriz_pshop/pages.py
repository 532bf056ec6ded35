"""PShop's page for browsers: the catalogue, and today's summary for cashiers and managers."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from atriz_core.client.litestar import PUBLIC
from atriz_core.kit.browser_sign_in import app_page, sign_in_redirect, signed_in_user
from atriz_core.kit.database import DbConnection
from atriz_core.kit.html import escape
from atriz_core.kit.pagination_params import cursors_of
from atriz_pshop.products import services as products
from atriz_pshop.products.currencies import format_amount
from atriz_pshop.roles import SELLERS
from atriz_pshop.sales import services as sales
from atriz_pshop.settings import settings_of

PAGE_SIZE = 50


@get("/", opt=PUBLIC, include_in_schema=False)
async def home(request: Request[Any, Any, Any], conn: DbConnection) -> Response[Any]:
    """The catalogue with stock, and for cashiers and managers today's sales."""
    user = await signed_in_user(request, conn)
    if user is None:
        return sign_in_redirect(request)
    catalogue = await products.list_products(
        conn, cursors_of(request), search=None, active=True, limit=PAGE_SIZE, cursor=None
    )
    rows = "\n".join(
        f"<tr><td>{escape(product.name)}</td><td>{escape(product.sku)}</td>"
        f"<td>{escape(format_amount(product.price_minor, product.currency))}</td>"
        f"<td>{product.on_hand}</td></tr>"
        for product in catalogue.items
    )
    content = (
        "<h2>Catalogue</h2>\n<table><tr><th>Product</th><th>SKU</th><th>Price</th>"
        f"<th>On hand</th></tr>\n{rows}</table>\n"
    )
    if user.has_role(*SELLERS):
        summary = await sales.day_summary(conn, None, settings_of(request.app.state).timezone)
        totals = ", ".join(
            escape(format_amount(total.revenue_minor, total.currency)) for total in summary.totals
        )
        content += (
            f"<h2>Today ({summary.business_day:%Y-%m-%d}, {escape(summary.timezone)})</h2>\n"
            f"<p>{summary.sales} sales, {summary.voided} voided, {summary.refunds} refunds."
            f" Revenue: {totals or 'none yet'}.</p>\n"
        )
    return app_page(request, user, "Atriz pshop", content)
