"""The service API: ``create_app()`` builds it; ``uvicorn api.app:create_app --factory`` serves it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import UVICORN_LOGGING, docs, logs, problems
from api.auth import authorize_headers
from api.metrics import MetricsMiddleware, metrics_route
from api.routers import briefs, channels, clients, growth, health, mailings, messages, webpages

VERSION = "1.0.0"
DESCRIPTION = """Switchyard's service API: clients, mailings with their statistics, messages, and
web-page word counts, over the same domain commands as the dashboard and the CLI.

**Auth**: every route but `/healthz`, `/readyz`, `/docs` and `/openapi.json` needs an API key
(`python -m cli api-keys create --name N --scope read|write|admin`), sent as
`Authorization: Bearer <key>` or `X-API-Key: <key>`. GET needs read; POST, PATCH and DELETE need
write; admin allows everything. Each key has a rate limit per minute (429 with Retry-After).

**Errors** are RFC 9457 `application/problem+json`; a 422 names each bad field in `errors`.
**Lists** take `limit` (1–500, default 50) and `offset`, and answer `items`, `total`, `limit`, `offset`.
**Idempotency-Key** on the POSTs that create work: a repeat with the same key and body returns the
first answer (`Idempotent-Replayed: true`); the same key with another body is refused (422).
"""


PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/openapi.json", "/metrics"})


async def _key_problem(request: Request) -> JSONResponse | None:
    """The 401/403/429 a protected route's request earns, checked here when FastAPI refused its body
    (400 unparsable, 422 invalid) before the route's dependencies ran: a caller without a good key
    learns only that."""
    checked = getattr(request.state, "api_key_id", None) is not None  # the route's dependency ran
    if request.url.path in PUBLIC_PATHS or checked:
        return None
    try:
        await authorize_headers(request)
    except problems.ApiProblem as problem:
        return problems.problem_response(
            problem.status, problem.detail, kind=problem.kind, headers=problem.headers
        )
    return None


async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    return await _key_problem(request) or await problems.on_validation(request, exc)


async def _on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    refused_body = exc.status_code == 400
    return (refused_body and await _key_problem(request)) or await problems.on_http(request, exc)


def create_app() -> FastAPI:
    """The API with every router and problem+json for every error."""
    logs.restore(UVICORN_LOGGING)  # Prefect, imported since, reconfigured uvicorn's loggers
    app = FastAPI(
        title="Switchyard API", version=VERSION, description=DESCRIPTION, docs_url=None, redoc_url=None
    )
    docs.install(app)
    problems.install(app)
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http)  # type: ignore[arg-type]
    app.include_router(health.router)
    app.add_middleware(MetricsMiddleware)
    app.router.routes.append(metrics_route())  # unprotected, like the health routes
    for domain in (clients, mailings, messages, webpages, briefs, channels, growth):
        app.include_router(domain.router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = problems.problem_media_types(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
