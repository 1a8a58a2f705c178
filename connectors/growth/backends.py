"""The backend settings choose (``SWITCHYARD_NETWORK__BACKEND``): the network's HTTP API (``http``, the
default, which the sandbox stands in for) or instagrapi (``instagrapi``: an optional install, at the
account owner's risk and bound by the network's terms)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from connectors.growth import http
from connectors.growth.base import LoggedIn, Network
from core.settings import NetworkSettings


async def log_in(settings: NetworkSettings, username: str, password: str) -> LoggedIn:
    """Log an account in with the chosen backend; its session is what later calls need."""
    if settings.backend == "instagrapi":
        from connectors.growth import instagrapi_backend  # optional: imported only when chosen

        return await instagrapi_backend.login(username, password)
    return await http.login(settings, username, password)


@asynccontextmanager
async def open_network(settings: NetworkSettings, session: str) -> AsyncIterator[Network]:
    """The network as the account of ``session``, with the chosen backend."""
    if settings.backend == "instagrapi":
        from connectors.growth import instagrapi_backend

        yield instagrapi_backend.instagrapi_network(session, page_size=settings.page_size)
        return
    async with http.network_client(settings, session) as network:
        yield network
