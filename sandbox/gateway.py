"""The notification gateway stand-in: token check, body validation, injected faults, a delivery record.

``POST /v1/send/{id}`` (mounted at ``/gateway``) accepts ``{"id", "phone", "text"}`` with
``Authorization: Bearer <config.gateway_token>``. A valid request may be faulted — HTTP 500, HTTP 429,
a malformed 200 or no answer at all, in that order of ``config.gateway_*_rate`` shares of one draw of
``app.state.rng`` — and a faulted request is not delivered. Otherwise it is recorded in the app's
`GatewayRecord` (``app.state.gateway``) and answered ``{"code": 0, "message": "OK"}``. With
``config.gateway_idempotency`` on, a request whose ``Idempotency-Key`` was accepted before is answered
the same without being delivered again, and counted as deduplicated (a duplicate it prevented).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, Router

from core.settings import SandboxSettings
from sandbox.webpages import _wait_unless_disconnected

PHONE_RANGE = range(70_000_000_000, 80_000_000_000)  # 11 digits starting with 7
TIMEOUT_SECONDS = 600.0
MALFORMED_BODIES = (
    ("sandbox: not JSON at all", "text/plain"),
    ('{"code": 0, "mess', "application/json"),
    ('{"status": "ok"}', "application/json"),
)


@dataclass(slots=True)
class Delivery:
    """One message id as the gateway saw it: accepted `count` times."""

    count: int
    first_accepted: datetime
    last_accepted: datetime
    phone: int
    text_length: int


class GatewayRecord:
    """Messages the stand-in accepted, by id: a plain dict, cheap at thousands of sends a second."""

    def __init__(self) -> None:
        self.deliveries: dict[int, Delivery] = {}
        self.accepted = 0
        self.keys: set[str] = set()  # Idempotency-Keys of accepted requests
        self.deduplicated: dict[int, int] = {}  # ids whose repeats were answered without delivery

    def seen(self, key: str | None, msg_id: int) -> bool:
        """Whether ``key`` was accepted before; counts the repeat if so."""
        if key is None or key not in self.keys:
            return False
        self.deduplicated[msg_id] = self.deduplicated.get(msg_id, 0) + 1
        return True

    def accept(self, msg_id: int, phone: int, text_length: int, key: str | None = None) -> None:
        now = datetime.now(UTC)
        self.accepted += 1
        if key is not None:
            self.keys.add(key)
        delivery = self.deliveries.get(msg_id)
        if delivery is None:
            self.deliveries[msg_id] = Delivery(1, now, now, phone, text_length)
        else:
            delivery.count += 1
            delivery.last_accepted = now

    def delivered_ids(self) -> set[int]:
        return set(self.deliveries)

    def duplicates(self) -> dict[int, int]:
        """Ids accepted more than once, with their counts."""
        return {msg_id: d.count for msg_id, d in self.deliveries.items() if d.count > 1}

    def first_accepted(self, msg_id: int) -> datetime | None:
        delivery = self.deliveries.get(msg_id)
        return delivery.first_accepted if delivery else None

    def reset(self) -> None:
        self.deliveries.clear()
        self.accepted = 0
        self.keys.clear()
        self.deduplicated.clear()


def _answer(status_code: int, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"code": code, "message": message}, status_code=status_code, headers=headers)


def _invalid(payload: Any, msg_id: int) -> str | None:
    """What is wrong with a send request's JSON body, if anything."""
    if not isinstance(payload, dict):
        return "body must be a JSON object"
    if type(payload.get("id")) is not int or payload["id"] != msg_id:
        return "id must be the integer in the path"
    if type(payload.get("phone")) is not int or payload["phone"] not in PHONE_RANGE:
        return "phone must be an integer of 11 digits starting with 7"
    if not isinstance(payload.get("text"), str) or not payload["text"]:
        return "text must be a non-empty string"
    return None


class Gateway:
    """The send endpoint; malformed answers cycle through `MALFORMED_BODIES`."""

    def __init__(self) -> None:
        self._malformed = itertools.cycle(MALFORMED_BODIES)

    async def send(self, request: Request) -> Response:
        state = request.app.state
        config: SandboxSettings = state.config
        if request.headers.get("authorization") != f"Bearer {config.gateway_token}":
            return _answer(401, 2, "invalid or missing token")
        msg_id: int = request.path_params["msg_id"]
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        problem = _invalid(payload, msg_id)
        if problem:
            return _answer(400, 1, problem)
        fault = await self._fault(request, config, state.rng.random())
        if fault is not None:
            return fault
        record: GatewayRecord = state.gateway
        key = request.headers.get("idempotency-key") if config.gateway_idempotency else None
        if not record.seen(key, msg_id):
            record.accept(msg_id, payload["phone"], len(payload["text"]), key)
        return _answer(200, 0, "OK")

    async def _fault(self, request: Request, config: SandboxSettings, roll: float) -> Response | None:
        """The injected fault `roll` falls on, each rate taking its share of [0, 1) in turn."""
        roll -= config.gateway_error_rate
        if roll < 0:
            return PlainTextResponse("sandbox: injected gateway error", status_code=500)
        roll -= config.gateway_throttle_rate
        if roll < 0:
            return _answer(429, 3, "too many requests", headers={"Retry-After": "1"})
        roll -= config.gateway_malformed_rate
        if roll < 0:
            body, media_type = next(self._malformed)
            return Response(body, media_type=media_type)
        roll -= config.gateway_timeout_rate
        if roll < 0:
            await _wait_unless_disconnected(request, TIMEOUT_SECONDS)
            return _answer(504, 4, "sandbox: gave up")
        return None


async def deliveries(request: Request) -> Response:
    """``GET``: counts and duplicates; ``DELETE``: forget every delivery."""
    record: GatewayRecord = request.app.state.gateway
    if request.method == "DELETE":
        record.reset()
        return Response(status_code=204)
    return JSONResponse(
        {
            "delivered": len(record.deliveries),
            "accepted": record.accepted,
            "duplicates": record.duplicates(),
            "deduplicated": record.deduplicated,
        }
    )


async def delivery(request: Request) -> Response:
    """One id's delivery, or 404."""
    msg_id: int = request.path_params["msg_id"]
    found = request.app.state.gateway.deliveries.get(msg_id)
    if found is None:
        return _answer(404, 5, "not delivered")
    times = {
        "first_accepted": found.first_accepted.isoformat(),
        "last_accepted": found.last_accepted.isoformat(),
    }
    return JSONResponse({"id": msg_id} | asdict(found) | times)


def create_router() -> Router:
    """The gateway router; its delivery record lives on the app (``app.state.gateway``)."""
    return Router(
        routes=[
            Route("/v1/send/{msg_id:int}", Gateway().send, methods=["POST"]),
            Route("/_sandbox/deliveries", deliveries, methods=["GET", "DELETE"]),
            Route("/_sandbox/deliveries/{msg_id:int}", delivery),
        ]
    )
