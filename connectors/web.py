"""Fetching user-given web pages safely: address guard, size cap, bounded redirects, transient retries.

Pages are fetched with aiohttp directly: at a few hundred pages in flight, httpx over the aiohttp
transport spent about three times the CPU of aiohttp alone per request (../shared/FINDINGS.md).
Redirects are followed here, each hop a fresh GET without a body, its target resolved as httpx
resolves a Location and checked before it is fetched. (httpx following redirects itself sent each
hop with an empty chunked body, which a server that does not read GET bodies, such as Python's
http.server, takes for the next request.)
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_proto import ResponseHandler
from aiohttp.http_exceptions import ContentEncodingError

from connectors.connect_pacing import HostPacer, paced_connect
from core.http import parse_retry_after, verified_tls
from core.retry import Answer, backoff_delay, classify_status
from core.settings import FetchSettings, IPNetwork
from core.urls import RefusedURL, check_address, check_parsed_url, check_url

REDIRECT_BODY_LIMIT = 64 * 1024  # read to keep the connection for the next hop; beyond it, closed
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})  # those httpx follows
READ_CHUNK = 64 * 1024


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
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.status_code = status_code
        self.final_url = final_url
        self.content_type = content_type
        self.bytes_read = bytes_read
        self.retry_after = retry_after


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


class PacedConnector(aiohttp.TCPConnector):
    """aiohttp's connector, opening each host's connections through a ``HostPacer``, so a burst of
    them does not overflow a short listen queue (``connectors/connect_pacing.py``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pacers: dict[tuple[str, int | None], HostPacer] = {}

    async def _create_connection(
        self, req: aiohttp.ClientRequest, traces: list[Any], timeout: aiohttp.ClientTimeout
    ) -> ResponseHandler:  # aiohttp's hook for a new connection (pinned version, tested)
        create = super()._create_connection
        pacer = self._pacers.setdefault((req.host, req.port), HostPacer())
        return await paced_connect(pacer, lambda: create(req, traces, timeout))


def page_client(settings: FetchSettings, *, batches: int = 1) -> aiohttp.ClientSession:
    """One client for page fetches, shared by ``batches`` batches at once (each with up to
    ``settings.concurrency`` pages in flight); ``fetch_page`` follows and guards the redirects.

    Create it inside the running event loop and close it with ``async with``. Cookies a page sets are
    kept for the client's life (as a browser would, also for hosts written as an IP address), so a
    page that sets a cookie and redirects to itself is read on the second hop.
    """
    connector = PacedConnector(
        limit=settings.concurrency * batches,
        resolver=GuardedResolver(settings.allowed_networks),
        ssl=verified_tls(),
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": settings.user_agent, "Accept": "text/html,text/plain;q=0.9,*/*;q=0.5"},
        timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
        ),
        cookie_jar=aiohttp.CookieJar(unsafe=True),
    )


async def fetch_page(client: aiohttp.ClientSession, url: str, settings: FetchSettings) -> FetchedPage:
    """Fetch ``url``, retrying transient failures with backoff inside ``settings.page_deadline``.

    A retry whose wait (the server's Retry-After, or doubling backoff) would end past the deadline
    is not made: the last error is the answer.
    """
    try:
        url = check_url(url, settings.allowed_networks)
    except RefusedURL as exc:
        raise FetchError(f"refused: {exc}") from exc
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.page_deadline
    try:
        async with asyncio.timeout_at(deadline):
            for attempt in range(settings.retries + 1):
                try:
                    return await _fetch_once(client, url, settings)
                except FetchError as error:
                    delay = backoff_delay(
                        attempt,
                        base=settings.backoff,
                        cap=settings.page_deadline,
                        retry_after=error.retry_after,
                    )
                    last_try = attempt == settings.retries or loop.time() + delay > deadline
                    if not error.transient or last_try:
                        raise
                await asyncio.sleep(delay)
    except TimeoutError:
        raise FetchError(f"no complete answer within {settings.page_deadline:g} s") from None
    raise AssertionError("unreachable: the loop returns or raises")


async def _fetch_once(client: aiohttp.ClientSession, url: str, settings: FetchSettings) -> FetchedPage:
    """One try: GET ``url`` and each redirect target in turn (a fresh GET each), then read the page."""
    hops = [url]
    seen: set[tuple[str, str]] = set()
    try:
        while True:
            async with client.get(hops[-1], allow_redirects=False) as response:
                location = _header(response, "location")
                if response.status not in REDIRECT_STATUSES or location is None:
                    return await _read_page(response, hops[-1], settings)
                target = redirect_target(hops[-1], location)
                _check_redirect(hops, str(target), seen, settings)
                hops.append(str(target))
                check_parsed_url(target, settings.allowed_networks)
                await _drain(response)
    except RefusedURL as exc:
        raise _refused(exc, hops) from exc
    except (httpx.HTTPError, aiohttp.ClientError, OSError, ValueError) as exc:
        refused = _refusal_in(exc)
        if refused is not None:
            raise _refused(refused, hops) from exc
        message, transient = describe_failure(exc, hops[-1], settings)
        if len(hops) > 1:
            message = f"{message} (redirect target {hops[-1]}, from {hops[-2]})"
        raise FetchError(message, transient=transient, final_url=hops[-1]) from exc


def _header(response: aiohttp.ClientResponse, name: str) -> str | None:
    """A header's value, repeated headers joined with ", " (as httpx reads them), or None."""
    values = response.headers.getall(name, ())
    return ", ".join(values) if values else None


def redirect_target(source: str, location: str) -> httpx.URL:
    """Where a redirect from ``source`` points, resolved exactly as httpx resolves a Location: relative
    and host-less targets against the source, the source's fragment kept when the target has none.

    Raises ``httpx.RemoteProtocolError`` for a Location that is not a URL, as httpx does.
    """
    request_url = httpx.URL(source)
    try:
        url = httpx.URL(location)
    except httpx.InvalidURL as exc:
        raise httpx.RemoteProtocolError(f"Invalid URL in location header: {exc}.") from None
    if url.scheme and not url.host:
        url = url.copy_with(host=request_url.host)
    if url.is_relative_url:
        url = request_url.join(url)
    if request_url.fragment and not url.fragment:
        url = url.copy_with(fragment=request_url.fragment)
    return url


def _check_redirect(
    hops: list[str], target: str, seen: set[tuple[str, str]], settings: FetchSettings
) -> None:
    """Raise unless the redirect from ``hops[-1]`` to ``target`` may be followed: within the limit, and
    not one already taken (the same page redirecting to the same target twice is a loop; once is
    not, as with a cookie check that redirects a page to itself)."""
    source = hops[-1]
    if len(hops) > settings.max_redirects:
        raise FetchError(
            f"more than {settings.max_redirects} redirects (a redirect loop?); the last pointed to {target}",
            final_url=source,
        )
    if (source, target) in seen:
        raise FetchError(f"redirect loop: {source} redirects to {target} again", final_url=source)
    seen.add((source, target))


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read a redirect's (small) body, so its connection can serve the next hop."""
    size = 0
    async for chunk in response.content.iter_chunked(READ_CHUNK):
        size += len(chunk)
        if size > REDIRECT_BODY_LIMIT:
            return


def _refused(exc: RefusedURL, hops: list[str]) -> FetchError:
    if len(hops) == 1:
        return FetchError(f"refused: {exc}")
    return FetchError(
        f"refused redirect target {hops[-1]} (redirected from {hops[-2]}): {exc}", final_url=hops[-1]
    )


async def _read_page(response: aiohttp.ClientResponse, url: str, settings: FetchSettings) -> FetchedPage:
    content_type = _header(response, "content-type")
    answer = classify_status(response.status)
    if answer is not Answer.OK:
        reason = response.reason or httpx.codes.get_reason_phrase(response.status)
        raise FetchError(
            f"HTTP {response.status} {reason}".strip(),
            transient=answer is Answer.RETRY,
            status_code=response.status,
            final_url=url,
            content_type=content_type,
            retry_after=parse_retry_after(_header(response, "retry-after")),
        )
    body = await _read_capped(response, url, content_type, settings.max_bytes)
    return FetchedPage(final_url=url, status_code=response.status, content_type=content_type, body=body)


async def _read_capped(
    response: aiohttp.ClientResponse, url: str, content_type: str | None, max_bytes: int
) -> bytes:
    """The (decompressed) body, refused as soon as it is known to be over ``max_bytes``."""
    declared = _header(response, "content-length") or ""
    too_large = {"status_code": response.status, "final_url": url, "content_type": content_type}
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(
            f"page too large: {int(declared):,} bytes declared, limit {max_bytes:,}", **too_large
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(READ_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(
                f"page too large: more than {max_bytes:,} bytes; stopped reading",
                bytes_read=size,
                **too_large,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def describe_failure(exc: BaseException, url: str, settings: FetchSettings) -> tuple[str, bool]:
    """A sentence a person understands for a failed fetch of ``url``, and whether to try again.

    Never the library's own text: aiohttp's messages carry raw bytes of the answer, connector
    internals (``ssl:default``) or parser details.
    """
    where = _host_and_port(url)
    chain = list(_causes(exc))

    def first(kind: type[BaseException] | tuple[type[BaseException], ...]) -> Any:
        return next((error for error in chain if isinstance(error, kind)), None)

    if (cert := first(aiohttp.ClientConnectorCertificateError)) is not None:
        reason = getattr(cert.certificate_error, "verify_message", "") or "it is not valid"
        return f"the TLS certificate of {where} was not accepted: {reason}", False
    if first((aiohttp.ClientSSLError, ssl.SSLError)) is not None:
        return f"no secure (TLS) connection could be made to {where}", False
    if (dns := first(aiohttp.ClientConnectorDNSError)) is not None:
        return f"the host name {dns.host} was not found (DNS)", dns.os_error.errno == socket.EAI_AGAIN
    if (timeout := first(aiohttp.ServerTimeoutError)) is not None:
        if isinstance(timeout, aiohttp.ConnectionTimeoutError):
            return f"could not connect to {where} within {settings.connect_timeout:g} s", True
        return f"{where} sent nothing for {settings.read_timeout:g} s", True
    if (connect := first(aiohttp.ClientConnectorError)) is not None:
        return f"could not connect to {where}: {_os_reason(connect.os_error)}", True
    if first(aiohttp.ServerDisconnectedError) is not None:
        return f"{where} closed the connection without answering", True
    if first((httpx.DecodingError, ContentEncodingError)) is not None:
        return "the page's compressed content could not be decoded", False
    if first(aiohttp.ClientPayloadError) is not None:
        return f"the connection to {where} broke off while the page was being read", True
    if first((aiohttp.ClientResponseError, httpx.RemoteProtocolError, httpx.LocalProtocolError)) is not None:
        return f"the answer from {where} is not valid HTTP", False
    if first((httpx.InvalidURL, httpx.UnsupportedProtocol, aiohttp.InvalidURL, ValueError)) is not None:
        return f"refused: {url} is not an address that can be fetched", False
    if first((httpx.TimeoutException, TimeoutError)) is not None:
        return f"{where} did not answer in time", True
    if (os_error := first(OSError)) is not None:
        return f"the connection to {where} failed: {_os_reason(os_error)}", True
    return f"the page could not be fetched ({type(exc).__name__})", True


def _host_and_port(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return "the server"
    return f"{parsed.host} port {parsed.port or (443 if parsed.scheme == 'https' else 80)}"


def _os_reason(error: OSError) -> str:
    """'connection refused', 'network is unreachable' …: the operating system's word, not Python's."""
    if error.errno and error.errno in errno.errorcode:
        return os.strerror(error.errno).lower()
    return "the connection failed"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the errors behind it (causes, contexts, a connector's OS error), each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        yield current
        seen.add(id(current))
        current = getattr(current, "os_error", None) or current.__cause__ or current.__context__


def _refusal_in(exc: BaseException) -> RefusedURL | None:
    """The address refusal behind a transport error, if that is what it was."""
    return next((error for error in _causes(exc) if isinstance(error, RefusedURL)), None)
