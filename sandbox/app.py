"""The sandbox: a local ASGI stand-in for the outside world, with latency and fault knobs."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from core.settings import SandboxSettings, get_settings
from sandbox import gateway, microblog, network, platforms, smtp, webpages

ROUTERS: dict[str, Callable[[], Router]] = {
    "/pages": webpages.create_router,
    "/gateway": gateway.create_router,
    "/platforms": platforms.create_router,
    "/network": network.create_router,
    "/microblog": microblog.create_router,
    "/smtp": smtp.create_router,
}
UNAFFECTED_PATHS = frozenset({"/health", "/smtp/messages"})  # the tests' and the demo's readers


class LatencyAndFaults:
    """Delays every answer by ``config.latency_ms`` and replaces ``config.fault_rate`` of them with HTTP 500.

    Reads ``app.state.config`` on each request, so a test may change the knobs on a running app.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNAFFECTED_PATHS:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        config: SandboxSettings = state.config
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        if state.rng.random() < config.fault_rate:
            await PlainTextResponse("sandbox: injected fault", status_code=500)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


def create_app(config: SandboxSettings | None = None) -> Starlette:
    """The sandbox app; `config` defaults to the sandbox settings."""
    if config is None:
        config = get_settings().sandbox
    routes: list[BaseRoute] = [Route("/health", health)]
    routes += [Mount(prefix, app=make_router()) for prefix, make_router in ROUTERS.items()]
    app = Starlette(routes=routes, middleware=[Middleware(LatencyAndFaults)])
    app.state.config = config
    app.state.rng = random.Random(config.seed)
    app.state.gateway = gateway.GatewayRecord()
    app.state.mailbox = smtp.Mailbox(config.smtp_keep)  # the SMTP stand-in's (sandbox/smtp.py)
    return app
