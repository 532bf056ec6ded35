"""Mextrack's page for browsers: the signed-in user's vehicles and where each was last seen."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from atriz_core.client.litestar import PUBLIC
from atriz_core.kit.browser_sign_in import app_page, sign_in_redirect, signed_in_user
from atriz_core.kit.database import DbConnection
from atriz_core.kit.html import escape
from atriz_core.kit.pagination_params import cursors_of
from atriz_mextrack.positions import services as positions
from atriz_mextrack.vehicles import services as vehicles

PAGE_SIZE = 50


@get("/", opt=PUBLIC, include_in_schema=False)
async def home(request: Request[Any, Any, Any], conn: DbConnection) -> Response[Any]:
    """Your vehicles with their latest positions (every vehicle for a dispatcher)."""
    user = await signed_in_user(request, conn)
    if user is None:
        return sign_in_redirect(request)
    cursors = cursors_of(request)
    fleet = await vehicles.list_vehicles(conn, cursors, user, PAGE_SIZE, None)
    latest = await positions.latest_positions(conn, conn, cursors, user, PAGE_SIZE, None)
    seen = {position.vehicle_id: position for position in latest.items}
    rows = []
    for vehicle in fleet.items:
        position = seen.get(vehicle.id)
        where = (
            f"{position.latitude:.5f}, {position.longitude:.5f} at "
            f"{position.recorded_at:%Y-%m-%d %H:%M} UTC ({position.speed_kmh:.0f} km/h)"
            if position
            else "no position yet"
        )
        rows.append(
            f"<tr><td>{escape(vehicle.name)}</td><td>{escape(vehicle.plate)}</td>"
            f"<td>{escape(vehicle.status)}</td><td>{escape(where)}</td></tr>"
        )
    content = "<h2>Your vehicles</h2>\n" + (
        "<table><tr><th>Vehicle</th><th>Plate</th><th>Status</th><th>Last seen</th></tr>\n"
        + "\n".join(rows)
        + "</table>"
        if rows
        else "<p>No vehicles yet.</p>"
    )
    return app_page(request, user, "Atriz mextrack", content)
