"""Generated requests against the app's own /openapi.json (schemathesis): with a write key no answer
is a 5xx and every answer matches the schema (status, content type, headers, body); without a key
every protected route answers 401."""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from tests.api.conftest import bearer

schema = schemathesis.openapi.from_asgi("/openapi.json", create_app())
UNPROTECTED = {"/healthz", "/readyz"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
BOUNDED = settings(
    max_examples=int(os.environ.get("API_FUZZ_EXAMPLES", "20")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@schema.parametrize()
@BOUNDED
def test_generated_requests_with_a_write_key(case, sessions: sessionmaker[Session], write_key: str) -> None:
    case.call_and_validate(headers=bearer(write_key), checks=CHECKS)


@schema.parametrize()
@BOUNDED
def test_generated_requests_without_a_key(case, sessions: sessionmaker[Session]) -> None:
    headers = {name: value for name, value in (case.headers or {}).items() if name.lower() != "authorization"}
    case.headers = headers
    response = case.call()
    if case.method.upper() != case.operation.method.upper():  # a method the route lacks, unless another
        assert response.status_code in (401, 405)  # route of that path has it (/mailings/stats PATCH)
    elif case.path in UNPROTECTED:
        assert response.status_code < 500
    else:
        assert response.status_code == 401, (case.method, case.path, response.text)
        assert response.headers["content-type"][0].startswith("application/problem+json")
