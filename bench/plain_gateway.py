"""A plain gateway of our own for the mailing benchmark: the sandbox's gateway contract on a bare
aiohttp.web server, so a result does not depend on the sandbox (Starlette behind uvicorn).

``POST /gateway/v1/send/{id}`` with ``Authorization: Bearer <token>`` and ``{"id", "phone", "text"}``
waits ``--latency-ms``, counts the id as delivered and answers ``{"code": 0, "message": "OK"}`` (401
for a wrong token, 400 for a bad body); ``GET /gateway/_sandbox/deliveries`` gives ``delivered``,
``accepted`` and ``duplicates`` as the sandbox does, ``DELETE`` forgets them; ``GET /health``.

    python -m bench.plain_gateway --port PORT [--latency-ms 50] [--token TOKEN]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter

import uvloop
from aiohttp import web

from core.settings import DEV_GATEWAY_TOKEN

OK = json.dumps({"code": 0, "message": "OK"})


class Deliveries:
    """The gateway contract both benchmark gateways keep (this one and ``bench.http_server``): which
    sends are valid, and what was delivered, as the sandbox counts it."""

    def __init__(self, token: str) -> None:
        self.counts: Counter[int] = Counter()
        self.expected = f"Bearer {token}"

    def check(self, authorization: str | None, body: bytes, message_id: int) -> tuple[int, str] | None:
        """The error answer (status, JSON) for a send that is refused, None for a valid one."""
        if authorization != self.expected:
            return 401, json.dumps({"code": 2, "message": "invalid or missing token"})
        try:
            payload = json.loads(body)
            valid = payload["id"] == message_id and str(payload["phone"]).startswith("7") and payload["text"]
        except (ValueError, KeyError, TypeError):
            valid = False
        return None if valid else (400, json.dumps({"code": 1, "message": "bad body"}))

    def report(self) -> dict[str, object]:
        duplicates = {key: count for key, count in self.counts.items() if count > 1}
        return {"delivered": len(self.counts), "accepted": self.counts.total(), "duplicates": duplicates}


def create_app(latency: float, token: str) -> web.Application:
    deliveries = Deliveries(token)

    async def send(request: web.Request) -> web.Response:
        try:
            message_id = int(request.match_info["id"])
        except ValueError:
            return web.json_response({"code": 1, "message": "bad id"}, status=400)
        refused = deliveries.check(request.headers.get("Authorization"), await request.read(), message_id)
        if refused:
            return web.Response(text=refused[1], status=refused[0], content_type="application/json")
        await asyncio.sleep(latency)
        deliveries.counts[message_id] += 1
        return web.Response(text=OK, content_type="application/json")

    async def report(request: web.Request) -> web.Response:
        if request.method == "DELETE":
            deliveries.counts.clear()
            return web.Response(status=204)
        return web.json_response(deliveries.report())

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/gateway/v1/send/{id}", send)
    app.router.add_route("*", "/gateway/_sandbox/deliveries", report)
    app.router.add_get("/health", health)
    return app


def server_args(description: str, latency_ms: int) -> argparse.Namespace:
    """``--port``, ``--latency-ms`` (default ``latency_ms``) and ``--token`` of a benchmark server."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=int, default=latency_ms)
    parser.add_argument("--token", default=DEV_GATEWAY_TOKEN)
    return parser.parse_args()


def main() -> None:
    args = server_args(__doc__ or "", latency_ms=50)
    app = create_app(args.latency_ms / 1000, args.token)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
