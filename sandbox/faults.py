"""The platform stand-ins' fault knobs (``SWITCHYARD_SANDBOX__PLATFORM_*``), read on each request.

One draw of ``app.state.rng`` per search answers HTTP 500, HTTP 429 (``Retry-After: 1``) or never,
by the ``platform_error_rate``, ``platform_throttle_rate`` and ``platform_timeout_rate`` shares in
that order; ``platform_fail_past_end`` answers HTTP 500 for every page past a search's end.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from core.settings import SandboxSettings
from sandbox.webpages import _wait_unless_disconnected

TIMEOUT_SECONDS = 600.0


async def injected_fault(
    request: Request, config: SandboxSettings, roll: float, throttled: dict[str, Any]
) -> Response | None:
    """The fault `roll` (in [0, 1)) falls on, each rate taking its share in turn; ``throttled`` is the
    platform's own 429 answer."""
    roll -= config.platform_error_rate
    if roll < 0:
        return PlainTextResponse("sandbox: injected platform error", status_code=500)
    roll -= config.platform_throttle_rate
    if roll < 0:
        return JSONResponse(throttled, status_code=429, headers={"Retry-After": "1"})
    roll -= config.platform_timeout_rate
    if roll < 0:
        await _wait_unless_disconnected(request, TIMEOUT_SECONDS)
        return PlainTextResponse("sandbox: gave up", status_code=504)
    return None


def past_the_end(config: SandboxSettings, offset: int, total: int) -> Response | None:
    """HTTP 500 for a page past a search's end (beyond its first), when ``platform_fail_past_end`` is on."""
    if config.platform_fail_past_end and offset > 0 and total <= offset:
        return PlainTextResponse("sandbox: injected error past the end", status_code=500)
    return None
