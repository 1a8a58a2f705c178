"""A lean HTTP/1.1 client for many small requests to one host: a pool of keep-alive connections,
each an asyncio protocol parsing its answers with httptools (llhttp, C).

Made for the mailing senders' gateway path, where aiohttp's ``ClientSession`` cost ~0.20 ms of CPU a
request on this machine and this client ~0.04–0.05 ms (bench/RESULTS.md, issue 11 fourth session).
It sends what it is given (a request head and body), one request at a time per connection, and
tells apart the failures that matter to a caller who must not send twice:

- `ConnectFailed` (and `ConnectTimeout`): the request was never written, the server cannot have it;
- `Disconnected`, `ReadTimeout`, `BadAnswer`, `BadContent`: written, answer missing or unreadable —
  the server may have acted on it.

Answers with ``Content-Length``, chunked, or read until the server closes; ``gzip``/``deflate``
content decoded. No redirects, cookies or proxies. Create it inside the running loop, close it with
``async with`` / `close`.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import cast
from urllib.parse import urlsplit

import httptools

from connectors.connect_pacing import HostPacer, paced_connect

IDLE_SECONDS = 4.0  # a connection idle longer is closed, not reused (servers close theirs at ~5 s)
MAX_ANSWER_BYTES = 1 << 20  # an answer larger than this is refused (BadContent)


class HTTPFailure(Exception):
    """A request that got no usable answer."""


class ConnectFailed(HTTPFailure):
    """No connection (refused, unreachable, no name): the request was not written."""


class ConnectTimeout(ConnectFailed, TimeoutError):
    """No connection in time (set-up, or waiting for a free one): the request was not written."""


class Disconnected(HTTPFailure):
    """The server closed the connection before its whole answer came."""


class ReadTimeout(HTTPFailure, TimeoutError):
    """No answer (or no more of it) within the read timeout."""


class BadAnswer(HTTPFailure):
    """The answer is not HTTP (its status line or headers could not be parsed)."""


class BadContent(HTTPFailure):
    """The answer's content could not be read (bad compression, too large)."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    reason: str
    headers: dict[str, str]  # names lower-cased; a repeated header keeps its last value
    content: bytes

    @property
    def charset(self) -> str | None:
        for part in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                return value.strip('"')
        return None


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer parsed as it arrives."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, read_timeout: float, lost: Callable[[_Connection], None]
    ) -> None:
        self.loop = loop
        self.lost = lost
        self.read_timeout = read_timeout
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Answer] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.last_data = 0.0
        self.idle_since = 0.0
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self.reason = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.size = 0
        self.headers_done = False
        self.framed = False  # Content-Length or chunked: the answer ends without a close

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass of it

    def data_received(self, data: bytes) -> None:
        self.last_data = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(BadAnswer(f"not an HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost(self)
        if self.waiter is not None and not self.waiter.done():
            if self.headers_done and not self.framed:  # an answer that ends when the server closes
                self.on_message_complete()
            else:
                self._fail(Disconnected("Server disconnected"))

    # --- httptools callbacks ---

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        self.headers[key] = value.decode("latin-1")
        if key in ("content-length", "transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > MAX_ANSWER_BYTES:
            self._fail(BadContent(f"the answer is over {MAX_ANSWER_BYTES} bytes"))
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            self.close()  # an answer nobody asked for: the connection is out of step
            return
        try:
            content = _decoded(b"".join(self.body), self.headers.get("content-encoding"))
        except BadContent as exc:
            self._fail(exc)
            return
        answer = Answer(self.parser.get_status_code(), self.reason.decode("latin-1"), self.headers, content)
        if not self.parser.should_keep_alive():
            self.close()
        self._stop_timer()
        self.waiter = None
        self._reset()
        waiter.set_result(answer)

    # --- used by the pool ---

    def send(self, data: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None
        self.waiter = self.loop.create_future()
        self.last_data = self.loop.time()
        self.timer = self.loop.call_at(self.last_data + self.read_timeout, self._check_timeout)
        self.transport.write(data)
        return self.waiter

    def _check_timeout(self) -> None:
        """Fail the request when nothing came for the read timeout; otherwise look again later."""
        due = self.last_data + self.read_timeout
        if self.loop.time() < due:
            self.timer = self.loop.call_at(due, self._check_timeout)
            return
        self.timer = None
        self._fail(ReadTimeout(f"no answer within {self.read_timeout} s"))

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _fail(self, error: HTTPFailure) -> None:
        """End the request in progress with ``error``; the connection is not used again."""
        self._stop_timer()
        self.close()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _decoded(content: bytes, encoding: str | None) -> bytes:
    if not encoding or encoding.lower() == "identity":
        return content
    kind = encoding.lower()
    if kind not in ("gzip", "x-gzip", "deflate"):
        raise BadContent(f"unsupported content encoding {encoding!r}")
    try:
        if kind == "deflate":
            try:
                return zlib.decompress(content)
            except zlib.error:
                return zlib.decompress(content, -zlib.MAX_WBITS)  # raw deflate, as some servers send
        return zlib.decompress(content, 16 + zlib.MAX_WBITS)
    except zlib.error as exc:
        raise BadContent(f"cannot decode {encoding} content: {exc}") from None


class HostClient:
    """Up to ``limit`` keep-alive connections to the host of ``base_url`` (http or https).

    ``request`` takes the path and returns the `Answer` or raises an `HTTPFailure`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        limit: int,
        connect_timeout: float,
        read_timeout: float,
        headers: dict[str, str],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = (tls or ssl.create_default_context()) if parts.scheme == "https" else None
        self.path = parts.path
        default_port = self.port == (443 if parts.scheme == "https" else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        authority = host if default_port else f"{host}:{self.port}"
        fixed = {"Host": authority, "Accept-Encoding": "identity"} | headers
        lines = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        self.fixed_headers = lines.encode("latin-1")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.slots = asyncio.Semaphore(limit)
        self.idle: list[_Connection] = []
        self.loop = asyncio.get_running_loop()
        self.live: set[_Connection] = set()
        self.pacer = HostPacer()  # new connections start paced once one stalls (connect_pacing)

    async def request(
        self,
        method: str,
        path: str,
        body: bytes,
        *,
        headers: str = "",
        connect_within: float | None = None,
    ) -> Answer:
        """``method`` ``self.path + path`` with ``body`` (and ``headers``: ``"Name: value\\r\\n"`` lines);
        ``connect_within`` bounds the wait for a free connection and its set-up together (seconds)."""
        start = f"{method} {self.path}{path} HTTP/1.1\r\n{headers}Content-Length: {len(body)}\r\n"
        head = start.encode("latin-1") + self.fixed_headers + b"\r\n"
        deadline = None if connect_within is None else self.loop.time() + max(connect_within, 0.001)
        await self._take_slot(deadline)
        connection: _Connection | None = None
        try:
            connection = await self._connection(deadline)
            answer = await connection.send(head + body)
        except BaseException:
            if connection is not None:
                connection.close()  # cancelled or failed mid-request: its state is unknown
            self.slots.release()
            raise
        if not connection.closed:
            connection.idle_since = self.loop.time()
            self.idle.append(connection)
        self.slots.release()
        return answer

    async def _take_slot(self, deadline: float | None) -> None:
        if not self.slots.locked():
            await self.slots.acquire()  # free: returns at once
            return
        try:
            async with asyncio.timeout_at(deadline):
                await self.slots.acquire()
        except TimeoutError:
            raise ConnectTimeout(f"Connection timeout to host {self.host}:{self.port}") from None

    async def _connection(self, deadline: float | None) -> _Connection:
        """An idle connection still open and fresh, or a new one."""
        now = self.loop.time()
        while self.idle:
            connection = self.idle.pop()
            if not connection.closed and now - connection.idle_since < IDLE_SECONDS:
                return connection
            connection.close()
        until = now + self.connect_timeout
        if deadline is not None and deadline < until:
            until = deadline
        try:
            async with asyncio.timeout_at(until):
                _, connection = await paced_connect(
                    self.pacer,
                    lambda: self.loop.create_connection(
                        lambda: _Connection(self.loop, self.read_timeout, self.live.discard),
                        self.host,
                        self.port,
                        ssl=self.tls,
                        server_hostname=self.host if self.tls else None,
                    ),
                )
        except TimeoutError:
            raise ConnectTimeout(f"Connection timeout to host {self.host}:{self.port}") from None
        except (OSError, ssl.SSLError) as exc:
            raise ConnectFailed(f"Cannot connect to host {self.host}:{self.port}: {exc}") from None
        self.live.add(connection)
        return connection

    async def close(self) -> None:
        for connection in list(self.live):
            connection.close()
        self.live.clear()
        self.idle.clear()

    async def __aenter__(self) -> HostClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()
