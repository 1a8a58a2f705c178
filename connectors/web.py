"""Fetching user-given web pages safely: address guard, size cap, bounded redirects, transient retries."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult

from core.http import async_client, describe_transport_error
from core.settings import FetchSettings, IPNetwork
from core.urls import RefusedURL, check_address, check_parsed_url, check_url

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class FetchedPage:
    """A page read to the end (within the size cap)."""

    final_url: str
    status_code: int
    content_type: str | None
    body: bytes


class FetchError(Exception):
    """A page that could not be read; ``transient`` errors are worth another try."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool = False,
        status_code: int | None = None,
        final_url: str | None = None,
        content_type: str | None = None,
        bytes_read: int = 0,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.status_code = status_code
        self.final_url = final_url
        self.content_type = content_type
        self.bytes_read = bytes_read


class GuardedResolver(AbstractResolver):
    """Resolves host names and refuses any whose addresses are not public (nor explicitly allowed).

    Checking at connect time, on the addresses actually used, leaves no gap for DNS rebinding.
    """

    def __init__(self, allowed: Sequence[IPNetwork]) -> None:
        self._allowed = allowed
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            check_address(ipaddress.ip_address(result["host"]), self._allowed, host=host)
        return results

    async def close(self) -> None:
        await self._inner.close()


def page_client(settings: FetchSettings) -> httpx.AsyncClient:
    """One client for a batch of page fetches, every request and redirect hop guarded."""

    async def guard(request: httpx.Request) -> None:
        check_parsed_url(request.url, settings.allowed_networks)

    return async_client(
        max_connections=settings.concurrency,
        timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout, pool=None),
        headers={"User-Agent": settings.user_agent, "Accept": "text/html,text/plain;q=0.9,*/*;q=0.5"},
        resolver=GuardedResolver(settings.allowed_networks),
        follow_redirects=True,
        max_redirects=settings.max_redirects,
        event_hooks={"request": [guard]},
    )


async def fetch_page(client: httpx.AsyncClient, url: str, settings: FetchSettings) -> FetchedPage:
    """Fetch ``url``, retrying transient failures with backoff inside ``settings.page_deadline``."""
    delay = settings.backoff
    try:
        check_url(url, settings.allowed_networks)
    except RefusedURL as exc:
        raise FetchError(f"refused: {exc}") from exc
    try:
        async with asyncio.timeout(settings.page_deadline):
            for attempt in range(settings.retries + 1):
                try:
                    return await _fetch_once(client, url, settings)
                except FetchError as error:
                    if not error.transient or attempt == settings.retries:
                        raise
                await asyncio.sleep(delay)
                delay *= 2
    except TimeoutError:
        raise FetchError(f"no complete answer within {settings.page_deadline:g} s") from None
    raise AssertionError("unreachable: the loop returns or raises")


async def _fetch_once(client: httpx.AsyncClient, url: str, settings: FetchSettings) -> FetchedPage:
    try:
        async with client.stream("GET", url) as response:
            content_type = response.headers.get("content-type")
            final_url = str(response.url)
            if response.status_code >= 400:
                raise FetchError(
                    f"HTTP {response.status_code} {response.reason_phrase}".strip(),
                    transient=response.status_code in TRANSIENT_STATUS,
                    status_code=response.status_code,
                    final_url=final_url,
                    content_type=content_type,
                )
            body = await _read_capped(response, settings.max_bytes)
            return FetchedPage(
                final_url=final_url,
                status_code=response.status_code,
                content_type=content_type,
                body=body,
            )
    except RefusedURL as exc:
        raise FetchError(f"refused: {exc}") from exc
    except httpx.TooManyRedirects:
        raise FetchError(f"more than {settings.max_redirects} redirects (a redirect loop?)") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise FetchError(f"refused: {exc}") from exc
    except (httpx.TransportError, aiohttp.ClientError, OSError) as exc:
        refused = _refusal_in(exc)
        if refused is not None:
            raise FetchError(f"refused: {refused}") from exc
        raise FetchError(describe_transport_error(exc), transient=True) from exc


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(
            f"page too large: {int(declared):,} bytes declared, limit {max_bytes:,}",
            status_code=response.status_code,
            final_url=str(response.url),
            content_type=response.headers.get("content-type"),
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(
                f"page too large: more than {max_bytes:,} bytes; stopped reading",
                status_code=response.status_code,
                final_url=str(response.url),
                content_type=response.headers.get("content-type"),
                bytes_read=size,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _refusal_in(exc: BaseException) -> RefusedURL | None:
    """The address refusal behind a transport error, if that is what it was."""
    seen: set[int] = set()
    current: Any = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, RefusedURL):
            return current
        seen.add(id(current))
        current = getattr(current, "os_error", None) or current.__cause__ or current.__context__
    return None
