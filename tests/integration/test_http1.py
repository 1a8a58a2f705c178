"""connectors.http1 against raw loopback servers: answer framing, keep-alive, failures told apart,
on asyncio's loop and on uvloop (the senders' loop)."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
import uvloop

from connectors import http1
from connectors.http1 import Answer, HostClient

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
LOOPS = ["asyncio", "uvloop"]


def run(loop: str, coroutine: Coroutine[Any, Any, Any]) -> Any:
    return uvloop.run(coroutine) if loop == "uvloop" else asyncio.run(coroutine)


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request's head and body (by its Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return head, await reader.readexactly(length)


async def with_server(handle: Handler, use: Callable[[HostClient], Awaitable[Any]], **options: Any) -> Any:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = {
        "limit": 4,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "headers": {"X-Fixed": "1"},
    } | options
    async with server, HostClient(f"http://127.0.0.1:{port}/base", **settings) as client:
        return await use(client)


def answering(raw: bytes) -> Handler:
    """A server that answers every request on a connection with ``raw``, then waits for the next."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await read_request(reader)
                writer.write(raw)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return handle


def one(loop: str, handle: Handler, **options: Any) -> Answer:
    return run(loop, with_server(handle, lambda client: client.request("POST", "/x", b"{}"), **options))


@pytest.mark.parametrize("loop", LOOPS)
def test_the_request_as_sent(loop: str) -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    async def use(client: HostClient) -> Answer:
        return await client.request("POST", "/v1/send/7", b'{"id": 7}', headers="Idempotency-Key: 7\r\n")

    answer = run(loop, with_server(handle, use))
    [(head, body)] = seen
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /base/v1/send/7 HTTP/1.1"
    assert {"Idempotency-Key: 7", "Content-Length: 9", "X-Fixed: 1", "Accept-Encoding: identity"} <= set(
        lines
    )
    assert any(line.startswith("Host: 127.0.0.1:") for line in lines)
    assert body == b'{"id": 7}'
    assert (answer.status, answer.reason, answer.content) == (200, "OK", b"ok")


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize(
    ("raw", "content"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n", b"hello"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 25\r\n\r\n"
            + gzip.compress(b"hello", mtime=0),
            b"hello",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: 13\r\n\r\n"
            + zlib.compress(b"hello"),
            b"hello",
        ),
    ],
)
def test_answers_framed_and_decoded(loop: str, raw: bytes, content: bytes) -> None:
    assert one(loop, answering(raw)).content == content


@pytest.mark.parametrize("loop", LOOPS)
def test_an_answer_read_until_the_server_closes(loop: str) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=cp1251\r\n\r\nall of it")
        await writer.drain()
        writer.close()

    answer = one(loop, handle)
    assert (answer.content, answer.charset) == (b"all of it", "cp1251")


@pytest.mark.parametrize("loop", LOOPS)
def test_connections_are_kept_and_reused(loop: str) -> None:
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")(reader, writer)

    async def use(client: HostClient) -> list[int]:
        statuses = []
        for _ in range(3):  # one after another: one connection
            statuses += [(await client.request("POST", "/x", b"")).status]
        many = await asyncio.gather(*(client.request("POST", "/x", b"") for _ in range(10)))  # limit 4
        return statuses + [answer.status for answer in many]

    assert run(loop, with_server(handle, use)) == [200] * 13
    assert connections <= 4


@pytest.mark.parametrize("loop", LOOPS)
def test_connection_close_and_idle_connections_are_not_reused(loop: str, monkeypatch: Any) -> None:
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await answering(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")(reader, writer)

    async def use(client: HostClient) -> None:
        for _ in range(3):
            await client.request("POST", "/x", b"")

    run(loop, with_server(handle, use))
    assert connections == 3

    connections = 0
    monkeypatch.setattr(http1, "IDLE_SECONDS", 0.0)  # every connection counts as idle too long

    async def kept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await answering(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")(reader, writer)

    run(loop, with_server(kept, use))
    assert connections == 3


@pytest.mark.parametrize("loop", LOOPS)
def test_failures_before_and_after_the_request_was_written(loop: str) -> None:
    async def refused() -> None:
        async with HostClient(
            "http://127.0.0.1:1", limit=1, connect_timeout=1, read_timeout=1, headers={}
        ) as c:
            await c.request("POST", "/x", b"")

    with pytest.raises(http1.ConnectFailed, match=r"Cannot connect to host 127\.0\.0\.1:1"):
        run(loop, refused())

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    with pytest.raises(http1.Disconnected):
        one(loop, hang_up)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    with pytest.raises(http1.ReadTimeout):
        one(loop, silent, read_timeout=0.2)
    with pytest.raises(http1.BadAnswer):
        one(loop, answering(b"SMTP ready\r\n\r\n"))
    with pytest.raises(http1.BadContent):
        one(loop, answering(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc"))
    with pytest.raises(http1.BadContent):
        one(loop, answering(b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 3\r\n\r\nabc"))


@pytest.mark.parametrize("loop", LOOPS)
def test_a_slow_answer_that_keeps_coming_is_not_timed_out(loop: str) -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
        for byte in b"slow":
            await asyncio.sleep(0.15)  # each part within the read timeout, the whole beyond it
            writer.write(bytes([byte]))
            await writer.drain()

    assert one(loop, trickle, read_timeout=0.3).content == b"slow"


@pytest.mark.parametrize("loop", LOOPS)
def test_waiting_for_a_connection_is_bounded_and_a_cancelled_request_frees_its_slot(loop: str) -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await read_request(reader)
                await asyncio.sleep(0.5)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def use(client: HostClient) -> int:
        holding = asyncio.create_task(client.request("POST", "/x", b""))
        await asyncio.sleep(0.1)
        with pytest.raises(http1.ConnectTimeout, match="Connection timeout"):
            await client.request("POST", "/x", b"", connect_within=0.1)
        holding.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holding
        return (await client.request("POST", "/x", b"", connect_within=0.1)).status

    assert run(loop, with_server(slow, use, limit=1)) == 200
