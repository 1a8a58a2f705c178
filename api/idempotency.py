"""``Idempotency-Key`` on the POSTs that create work (a mailing, a word-count request).

The first request with a key is worked and its answer kept (table ``api_idempotency``, per API key);
a repeat with the same key and the same body gets that answer again, with ``Idempotent-Replayed:
true``; the same key with another body (or on another route) is refused with a 422 problem; a repeat
while the first is still being worked gets a 409. A request that fails keeps nothing, so it may be
retried with its key. The key (made unique per API key) is handed to the route's ``work``, which
passes it on to Prefect's ``run_deployment(idempotency_key=…)`` when it starts a run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.problems import ApiProblem
from db.api_keys import KeyInfo, find_answer, keep_answer, release_answer, reserve_answer
from db.engine import session_factory

REPLAYED = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[!-~]+$",
        description="repeat a request safely: the same key and body return the first answer",
    ),
]


def _request_hash(request: Request, payload: BaseModel) -> str:
    body = json.dumps(payload.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.url.path}\n{body}".encode()).hexdigest()


def run_once(
    *,
    caller: KeyInfo,
    key: str | None,
    request: Request,
    payload: BaseModel,
    status: int,
    work: Callable[[str | None], Any],
) -> JSONResponse:
    """``work(run_key)``'s answer with ``status``, or the first answer kept for ``key``."""
    if key is None:
        return JSONResponse(jsonable_encoder(work(None)), status_code=status)
    digest = _request_hash(request, payload)
    names = {"api_key_id": caller.id, "idempotency_key": key}
    with session_factory().begin() as session:
        found = find_answer(session, **names)
        claimed = found is None and reserve_answer(
            session, **names, method=request.method, path=request.url.path, request_hash=digest
        )
    if found is not None and found.request_hash != digest:
        raise ApiProblem(
            422,
            "this Idempotency-Key was used with another request (body or route); use a new key",
            kind="idempotency-key-reused",
        )
    if found is not None and found.response_status is not None:
        return JSONResponse(
            found.response_body, status_code=found.response_status, headers={REPLAYED: "true"}
        )
    if not claimed:
        raise ApiProblem(
            409, "a request with this Idempotency-Key is being worked now; retry shortly", kind="in-progress"
        )
    try:
        body = jsonable_encoder(work(f"api-key-{caller.id}:{key}"))
    except BaseException:
        with session_factory().begin() as session:
            release_answer(session, **names)
        raise
    with session_factory().begin() as session:
        keep_answer(session, **names, status=status, body=body)
    return JSONResponse(body, status_code=status)
