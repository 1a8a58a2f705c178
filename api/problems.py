"""RFC 9457 problem details: every error the API gives is ``application/problem+json``.

``Problem`` is the body (``type``, ``title``, ``status``, ``detail``; ``errors`` names each bad field
of a 422); ``problem`` raises one from a route or dependency; ``install`` makes FastAPI's own errors
(validation, 404 of an unknown path, 405) and the domain's exceptions answer the same way: a
ValueError from a command is a 422 with its message, a LookupError (``db.base.NotFound``) a 404, a
``db.base.Conflict`` or an integrity error a 409, anything else a 500 that says nothing of its cause.
``errors(401, 403, …)`` is the ``responses=`` of a route, so that /openapi.json describes every answer.
No problem ever echoes a request's input (an API key could be in it).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from db.base import Conflict

logger = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:switchyard:problem:"


class FieldError(BaseModel):
    """One bad field: where it is (``body.phone``, ``query.limit``), as a JSON pointer too, and why."""

    field: str
    pointer: str
    message: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    type: str = Field("about:blank", description="a URI naming the kind of problem")
    title: str = Field(description="the kind of problem, in words")
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="this occurrence, in words")
    errors: list[FieldError] | None = Field(None, description="each bad field (validation problems)")


class ApiProblem(Exception):
    """Raised to answer with a problem."""

    def __init__(
        self, status: int, detail: str, *, kind: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.kind, self.headers = status, detail, kind, headers


def problem_response(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
    field_errors: list[FieldError] | None = None,
) -> JSONResponse:
    body = Problem(
        type=f"{TYPE_BASE}{kind}" if kind else "about:blank",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        errors=field_errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, headers=headers, media_type=MEDIA_TYPE
    )


def _field_errors(exc: RequestValidationError) -> list[FieldError]:
    found = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        if error.get("type") == "json_invalid":  # its "location" is a character position
            location = location[:1]
        found.append(
            FieldError(
                field=".".join(location) or "request",
                pointer="/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in location[1:]),
                message=str(error.get("msg", "invalid")),
            )
        )
    return found


async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = _field_errors(exc)
    names = ", ".join(dict.fromkeys(error.field for error in errors))
    return problem_response(422, f"invalid request: {names}", kind="validation", field_errors=errors)


async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return problem_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


async def _on_problem(request: Request, exc: ApiProblem) -> JSONResponse:
    return problem_response(exc.status, exc.detail, kind=exc.kind, headers=exc.headers)


async def _on_not_found(request: Request, exc: LookupError) -> JSONResponse:
    return problem_response(404, str(exc) or "not found", kind="not-found")


async def _on_conflict(request: Request, exc: Exception) -> JSONResponse:
    detail = str(exc) if isinstance(exc, Conflict) else "the request conflicts with stored data"
    return problem_response(409, detail, kind="conflict")


async def _on_refused(request: Request, exc: ValueError) -> JSONResponse:
    return problem_response(422, str(exc) or "refused", kind="refused")


async def _on_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
    return problem_response(500, "internal error; the details are in the server's log", kind="internal")


def install(app: FastAPI) -> None:
    """Answer every error with a problem (the most specific handler wins, by the exception's MRO).

    Validation errors are left to the app, which checks the key first (see ``api.app``)."""
    app.add_exception_handler(StarletteHTTPException, on_http)  # type: ignore[arg-type]
    app.add_exception_handler(ApiProblem, _on_problem)  # type: ignore[arg-type]
    app.add_exception_handler(LookupError, _on_not_found)  # type: ignore[arg-type]
    app.add_exception_handler(Conflict, _on_conflict)
    app.add_exception_handler(IntegrityError, _on_conflict)
    app.add_exception_handler(ValueError, _on_refused)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_error)


DESCRIPTIONS = {
    400: "Bad request",
    401: "No API key, or an unknown or revoked one (see WWW-Authenticate)",
    403: "The key's scope does not allow this",
    404: "No such resource",
    409: "Conflicts with stored data, or the same Idempotency-Key is being worked now",
    422: "Invalid input: each bad field is named in `errors`",
    429: "Over the key's rate limit (see Retry-After)",
    500: "Internal error",
    503: "Not ready",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route for these error statuses (500 always), all problem bodies."""
    return {
        status: {"model": Problem, "description": DESCRIPTIONS[status]} for status in sorted({*statuses, 500})
    }


def problem_media_types(schema: dict[str, Any]) -> dict[str, Any]:
    """Describe every 4xx/5xx answer of an OpenAPI document as application/problem+json."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content")
                if status[0] in "45" and content and "application/json" in content:
                    content[MEDIA_TYPE] = content.pop("application/json")
    return schema
