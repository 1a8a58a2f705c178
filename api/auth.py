"""API keys on every request: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.

``authorize`` is the dependency of every protected router: an unknown, revoked or missing key is a
401 (with WWW-Authenticate), a key whose scope does not cover the method a 403 (GET needs read;
POST, PATCH and DELETE write; admin covers all), and a key over ``api.rate_limit_per_minute`` a 429
with Retry-After, counted by the kit's limiter in the database so the limit holds across workers
(reserved a block at a time: ``api/allowance.py``).
The key is never logged nor echoed: problems name the key's id at most.
"""

from __future__ import annotations

import math
import time
from typing import Annotated

from fastapi import Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.allowance import ALLOWANCES
from api.problems import ApiProblem
from core.settings import get_settings
from db.api_keys import KeyInfo, Scope, authenticate
from db.engine import session_factory

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="switchyard"'}

bearer = HTTPBearer(
    auto_error=False, description="`Authorization: Bearer sy_…` (from `python -m cli api-keys create`)"
)
key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the same key in `X-API-Key`")


def authorize(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    header_key: Annotated[str | None, Security(key_header)],
) -> KeyInfo:
    """The caller's key, checked for scope and rate; raises the 401/403/429 problem otherwise."""
    key = credentials.credentials if credentials else header_key
    if not key:
        raise ApiProblem(
            401,
            "an API key is needed: Authorization: Bearer <key>, or X-API-Key",
            kind="unauthorized",
            headers=CHALLENGE,
        )
    needed = Scope.READ if request.method in READ_METHODS else Scope.WRITE
    limit = get_settings().api.rate_limit_per_minute
    with session_factory().begin() as session:
        caller = authenticate(session, key=key)
    if caller is None:
        raise ApiProblem(401, "unknown or revoked API key", kind="unauthorized", headers=CHALLENGE)
    if not caller.scope.allows(needed):
        raise ApiProblem(
            403,
            f"API key {caller.id} has scope {caller.scope.value}; {request.method} needs {needed.value}",
            kind="forbidden",
        )
    decision = ALLOWANCES.take(caller.id, limit)
    if not decision.granted:
        wait = max(1, math.ceil((decision.retry_at or 0) - time.time()))
        raise ApiProblem(
            429,
            f"API key {caller.id} is over its limit of {limit} requests a minute; retry in {wait} s",
            kind="rate-limited",
            headers={"Retry-After": str(wait)},
        )
    request.state.api_key_id = caller.id
    return caller


Caller = Annotated[KeyInfo, Security(authorize)]


async def authorize_headers(request: Request) -> KeyInfo:
    """``authorize`` from the request's headers alone: for a request refused before its route's
    dependencies ran (a body that is not JSON), so that a caller without a good key learns only that."""
    credentials = await bearer(request)
    header_key = await key_header(request)
    return await run_in_threadpool(authorize, request, credentials, header_key)
