"""The positions batch in OpenAPI: its route reads the body itself (to name a bad point's index
in a 422), so the request body is described here."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    RequestBody,
    Schema,
)

from atriz_core.kit.openapi import ProblemDetailsOperation
from atriz_mextrack.positions.schemas import MAX_POINTS

__all__ = ["PositionsBatchOperation"]


def _number(low: float, high: float, description: str, *, exclusive_high: bool = False) -> Schema:
    return Schema(
        type=OpenAPIType.NUMBER,
        minimum=low,
        maximum=None if exclusive_high else high,
        exclusive_maximum=high if exclusive_high else None,
        description=description,
    )


_POINT = Schema(
    type=OpenAPIType.OBJECT,
    required=["recorded_at", "latitude", "longitude", "speed_kmh", "heading"],
    additional_properties=False,
    properties={
        "recorded_at": Schema(
            type=OpenAPIType.STRING,
            format=OpenAPIFormat.DATE_TIME,
            description="The fix time with its UTC offset; at most 5 minutes in the future.",
        ),
        "latitude": _number(-90, 90, "Degrees."),
        "longitude": _number(-180, 180, "Degrees."),
        "speed_kmh": _number(0, 5000, "km/h."),
        "heading": _number(0, 360, "Degrees from north.", exclusive_high=True),
        "altitude_m": Schema(
            one_of=[_number(-1000, 100_000, "Metres."), Schema(type=OpenAPIType.NULL)]
        ),
        "accuracy_m": Schema(
            one_of=[_number(0, 100_000, "Metres."), Schema(type=OpenAPIType.NULL)]
        ),
    },
)
_BATCH = RequestBody(
    required=True,
    description=f"1 to {MAX_POINTS:,} points, in any order.",
    content={
        "application/json": OpenAPIMediaType(
            schema=Schema(type=OpenAPIType.ARRAY, items=_POINT, min_items=1, max_items=MAX_POINTS)
        )
    },
)


@dataclass
class PositionsBatchOperation(ProblemDetailsOperation):
    """The kit's problem-details operation, with the batch as its request body."""

    def __post_init__(self) -> None:
        self.request_body = _BATCH
        super().__post_init__()
