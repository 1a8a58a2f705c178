"""A burst of connections to Python's http.server (listen backlog 5): without pacing, the connects it
drops wait out the kernel's resends (1 s, 3 s, 7 s…), and requests written on a handshake it
dropped ran into the 10 s read timeout (both tests fail so); with it, every request is answered
within a few seconds (1–2 s measured, with two busy processes on the machine's two cores). Both
clients that open many connections to one host: the page client (aiohttp) and the mailing senders'
HostClient."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager as AsyncContextManager
from contextlib import asynccontextmanager

from connectors.http1 import HostClient
from connectors.web import fetch_page, page_client
from core.settings import FetchSettings
from tests.integration.plain_pages import WORD, page_count, running_plain_server

BURST = 300
SLOWEST = 5.0  # seconds: well below the read timeout (10 s), above the 1–2 s measured


def check_burst(request_for: Callable[[str], AsyncContextManager[Callable[[int], Awaitable[int]]]]) -> None:
    """BURST requests at once through the client ``request_for(server_url)`` opens, each for a page
    (the answer: how often the word is on it): all right, none slower than ``SLOWEST``."""

    async def burst(url: str) -> tuple[list[int], float]:
        async with request_for(url) as request:

            async def timed(n: int) -> tuple[int, float]:
                started = time.perf_counter()
                answer = await request(n)
                return answer, time.perf_counter() - started

            results = await asyncio.gather(*(timed(n) for n in range(BURST)))
        return [answer for answer, _ in results], max(seconds for _, seconds in results)

    with running_plain_server() as server:
        counts, slowest = asyncio.run(burst(server.url))
    assert counts == [page_count(n) for n in range(BURST)]
    assert slowest < SLOWEST


def test_the_page_client_opens_a_burst_of_connections_to_http_server() -> None:
    settings = FetchSettings(
        allowed_networks=[ipaddress.ip_network("127.0.0.1/32")], concurrency=BURST, retries=0
    )

    @asynccontextmanager
    async def pages(url: str) -> AsyncIterator[Callable[[int], Awaitable[int]]]:
        async with page_client(settings) as client:

            async def request(n: int) -> int:
                page = await fetch_page(client, f"{url}/page/{n}", settings)
                return page.body.count(WORD.encode())

            yield request

    check_burst(pages)


def test_the_senders_client_opens_a_burst_of_connections_to_http_server() -> None:
    @asynccontextmanager
    async def host(url: str) -> AsyncIterator[Callable[[int], Awaitable[int]]]:
        async with HostClient(url, limit=BURST, connect_timeout=10, read_timeout=10, headers={}) as client:

            async def request(n: int) -> int:
                answer = await client.request("GET", f"/page/{n}", b"")
                return answer.content.count(WORD.encode())

            yield request

    check_burst(host)
