"""Problem details in the OpenAPI document: every error response is documented as what it is.

Every error of a service is an RFC 9457 problem (`application/problem+json`, see
`kit.problems`), but Litestar documents the errors it knows of (the 400 of a request that does
not validate) with its own JSON shape. Two pieces put that right:

- `ProblemResponses()`, a plugin (`create_service` adds it), makes every operation document
  its error responses as problem details: Litestar's own 400 is rewritten, every operation
  behind the bearer token gains 401 and 403, every operation with a path parameter 404, and
  429 and 503 carry `Retry-After`.
- `problem_responses(404, 409)` declares the statuses a route itself answers, on its decorator:

      @post("/users/{user_id:uuid}/deactivate", responses=problem_responses(404, 409))

Schema fuzzing (`atriz_core.testing.fuzzing`) holds the document to it: a status, content type
or body the document does not describe is a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

import msgspec
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    Schema,
)
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute

from atriz_core.kit.problems import PROBLEM_JSON

__all__ = [
    "FieldIssue",
    "ProblemDetails",
    "ProblemDetailsOperation",
    "ProblemResponses",
    "problem_responses",
]

# What each status means in every Atriz service; a route may say more in its own description.
_MEANINGS = {
    400: "The request is malformed or does not validate; `errors` lists each field and reason.",
    401: "No access token, or one that is not valid (expired, forged, another audience).",
    403: "The access token is valid but does not allow this (role or ownership).",
    404: "No such resource.",
    409: "The request conflicts with the current state (a duplicate, a forbidden self-action).",
    412: "The resource changed since it was read (`If-Match`); the body says its current version.",
    413: "The request body is too large.",
    422: "The request is well-formed but breaks a rule; `errors` names the field.",
    428: "The request must be conditional: send `If-Match` with the version read.",
    429: "Too many requests; try again after `Retry-After` seconds.",
    503: "Busy or a dependency is out of reach; try again after `Retry-After` seconds.",
}
_RETRY_AFTER = {
    "Retry-After": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.INTEGER, minimum=1),
        description="Seconds to wait before trying again.",
    )
}


class FieldIssue(msgspec.Struct):
    """One problem with the input: which field, and what is wrong with it."""

    field: str
    reason: str


class ProblemDetails(msgspec.Struct):
    """An RFC 9457 problem: the body of every error response."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldIssue] | None = None


def _meaning(status: int) -> str:
    return _MEANINGS.get(status) or HTTPStatus(status).phrase


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The `responses=` of a route decorator: each status documented as a problem details
    body, with its usual meaning."""
    return {
        status: ResponseSpec(
            data_container=ProblemDetails,
            media_type=PROBLEM_JSON,
            description=_meaning(status),
            generate_examples=False,
        )
        for status in statuses
    }


_FIELD_ISSUE = Schema(
    type=OpenAPIType.OBJECT,
    required=["field", "reason"],
    properties={
        "field": Schema(type=OpenAPIType.STRING),
        "reason": Schema(type=OpenAPIType.STRING),
    },
)
_PROBLEM = Schema(
    type=OpenAPIType.OBJECT,
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING),
        "errors": Schema(type=OpenAPIType.ARRAY, items=_FIELD_ISSUE),
    },
    description="An RFC 9457 problem",
)


def _problem_response(status: int, description: str | None = None) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=description or _meaning(status),
        content={PROBLEM_JSON: OpenAPIMediaType(schema=_PROBLEM)},
        headers=dict(_RETRY_AFTER) if status in (429, 503) else None,
    )


def _is_error(code: str) -> bool:
    return code[:1] in ("4", "5")


@dataclass
class ProblemDetailsOperation(Operation):
    """An OpenAPI operation whose error responses are problem details (see the module)."""

    def __post_init__(self) -> None:
        responses: dict[str, OpenAPIResponse | Reference] = dict(self.responses or {})
        for code, response in list(responses.items()):
            if not _is_error(code) or not isinstance(response, OpenAPIResponse):
                continue
            if response.content and PROBLEM_JSON in response.content:
                if code in ("429", "503") and not response.headers:
                    response.headers = dict(_RETRY_AFTER)
                continue
            # Litestar's own error shape (`status_code`, `detail`): not what the service sends.
            responses[code] = _problem_response(int(code))
        if any(isinstance(p, Parameter) and p.param_in == "path" for p in self.parameters or ()):
            # Litestar's router answers 404 to a path value not of its type (`/users/abc` for a
            # uuid), as to an id that names nothing.
            responses.setdefault("404", _problem_response(404))
        if self.security:
            for status in (401, 403):
                responses.setdefault(str(status), _problem_response(status))
        self.responses = responses


class ProblemResponses(ReceiveRoutePlugin):
    """Documents every operation's errors as problem details (`ProblemDetailsOperation`)."""

    def receive_route(self, route: BaseRoute) -> None:
        """Give each HTTP handler of `route` the problem-details operation class."""
        if not isinstance(route, HTTPRoute):
            return
        for handler in route.route_handlers:
            if isinstance(handler, HTTPRouteHandler) and handler.operation_class is Operation:
                handler.operation_class = ProblemDetailsOperation
