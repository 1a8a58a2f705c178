"""connectors.gateway against the sandbox's gateway stand-in, and its classification of odd answers."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from aiohttp import web
from starlette.applications import Starlette

from connectors.gateway import gateway_http_client, send_message
from core.http import parse_retry_after
from core.settings import GatewaySettings, SandboxSettings
from rules.mailing import SendResult
from sandbox.app import create_app
from sandbox.gateway import GatewayRecord
from sandbox.server import running_sandbox

TOKEN = "test-gateway-secret"
PHONE = "79001234567"
OK_ANSWER = {"code": 0, "message": "OK"}


@pytest.fixture(scope="module")
def app() -> Starlette:
    return create_app(SandboxSettings(port=0, gateway_token=TOKEN))


@pytest.fixture(scope="module")
def base_url(app: Starlette) -> Iterator[str]:
    with running_sandbox(app=app) as url:
        yield url


@pytest.fixture
def record(app: Starlette) -> Iterator[GatewayRecord]:
    """The app's delivery record, empty for each test."""
    app.state.gateway.reset()
    yield app.state.gateway
    app.state.gateway.reset()


@pytest.fixture
def set_faults(app: Starlette) -> Iterator[Callable[..., None]]:
    """Change the running app's gateway fault rates; restored after the test."""
    saved: SandboxSettings = app.state.config

    def apply(**rates: float) -> None:
        app.state.config = saved.model_copy(update={f"gateway_{name}_rate": r for name, r in rates.items()})

    yield apply
    app.state.config = saved


def send_many(base_url: str, messages: list[tuple[int, str, str]], **settings: object) -> list[SendResult]:
    """Send (id, phone, text) messages at once through one real gateway client."""
    config = GatewaySettings(**({"base_url": f"{base_url}/gateway", "token": TOKEN} | settings))

    async def run() -> list[SendResult]:
        async with gateway_http_client(config) as client:
            return await asyncio.gather(*(send_message(client, *message) for message in messages))

    return asyncio.run(run())


def send(base_url: str, message_id: int, text: str = "hello", **settings: object) -> SendResult:
    return send_many(base_url, [(message_id, PHONE, text)], **settings)[0]


def test_sent_and_recorded(base_url: str, record: GatewayRecord) -> None:
    before = datetime.now(UTC)
    result = send(base_url, 1, text="привет, мир")
    assert (result.outcome, result.error, result.retry_after) == ("sent", None, None)
    assert json.loads(result.answer or "") == OK_ANSWER
    assert record.delivered_ids() == {1}
    assert record.duplicates() == {}
    first = record.first_accepted(1)
    assert first is not None
    assert before <= first <= datetime.now(UTC)
    assert record.first_accepted(2) is None


def test_wrong_token_fails_the_message_and_is_never_shown(base_url: str, record: GatewayRecord) -> None:
    result = send(base_url, 1, token="wrong-secret-123")
    assert result.outcome == "failed"  # retrying cannot help until a person fixes the token
    assert result.error == "gateway refused the token (HTTP 401)"
    for secret in ("wrong-secret-123", TOKEN):
        assert secret not in f"{result.error} {result.answer}"
    assert record.delivered_ids() == set()


def test_message_rejected_by_the_gateway_fails(base_url: str, record: GatewayRecord) -> None:
    result = send(base_url, 1, text="")
    assert result.outcome == "failed"
    assert (
        result.error == "gateway rejected the message: HTTP 400 Bad Request: text must be a non-empty string"
    )
    assert record.delivered_ids() == set()


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ("not json", "JSON object"),
        ([1, 2], "JSON object"),
        ({"id": 2, "phone": 79001234567, "text": "hi"}, "id must"),
        ({"id": True, "phone": 79001234567, "text": "hi"}, "id must"),
        ({"id": 1, "phone": "79001234567", "text": "hi"}, "phone must"),
        ({"id": 1, "phone": 89001234567, "text": "hi"}, "phone must"),
        ({"id": 1, "phone": 7900123456, "text": "hi"}, "phone must"),
        ({"id": 1, "phone": 79001234567}, "text must"),
        ({"id": 1, "phone": 79001234567, "text": 5}, "text must"),
    ],
)
def test_stand_in_validates_the_body(
    base_url: str, record: GatewayRecord, payload: object, problem: str
) -> None:
    content = payload if isinstance(payload, str) else json.dumps(payload)
    response = httpx.post(
        f"{base_url}/gateway/v1/send/1", content=content, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == 1
    assert problem in response.json()["message"]
    assert record.accepted == 0


def test_stand_in_requires_the_token(base_url: str) -> None:
    body = {"id": 1, "phone": 79001234567, "text": "hi"}
    for headers in ({}, {"Authorization": TOKEN}, {"Authorization": "Bearer nope"}):
        response = httpx.post(f"{base_url}/gateway/v1/send/1", json=body, headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] != 0


@pytest.mark.parametrize(
    ("fault", "error", "retry_after"),
    [
        ("error", "gateway unavailable: HTTP 500 Internal Server Error", None),
        ("throttle", "gateway unavailable: HTTP 429 Too Many Requests: too many requests", 1.0),
    ],
)
def test_error_answers_are_retried(
    base_url: str,
    record: GatewayRecord,
    set_faults: Callable[..., None],
    fault: str,
    error: str,
    retry_after: float | None,
) -> None:
    set_faults(**{fault: 1.0})
    result = send(base_url, 1)
    assert (result.outcome, result.error, result.retry_after) == ("retry", error, retry_after)
    assert record.delivered_ids() == set()


def test_malformed_answers_are_retried(
    base_url: str, record: GatewayRecord, set_faults: Callable[..., None]
) -> None:
    set_faults(malformed=1.0)
    results = [send(base_url, message_id) for message_id in range(3)]
    assert {result.outcome for result in results} == {"retry"}
    assert all((result.error or "").startswith("malformed answer: ") for result in results)
    assert len({result.answer for result in results}) == 3  # text, truncated JSON, JSON without a code
    assert record.accepted == 0


def test_no_answer_times_out(base_url: str, record: GatewayRecord, set_faults: Callable[..., None]) -> None:
    set_faults(timeout=1.0)
    result = send(base_url, 1, read_timeout=0.5)
    assert (result.outcome, result.answer) == ("retry", None)
    assert (result.error or "").startswith("timed out")
    assert record.accepted == 0


def test_only_unfaulted_sends_are_delivered(
    base_url: str, record: GatewayRecord, set_faults: Callable[..., None]
) -> None:
    set_faults(error=0.2, throttle=0.2, malformed=0.2)
    results = send_many(base_url, [(message_id, PHONE, "hi") for message_id in range(100)])
    sent = {message_id for message_id, result in enumerate(results) if result.outcome == "sent"}
    assert {kind(result) for result in results} == {"sent", "HTTP 500", "HTTP 429", "malformed"}
    assert record.delivered_ids() == sent
    assert record.accepted == len(sent)


def kind(result: SendResult) -> str:
    """ "sent", or what went wrong: "HTTP 500", "malformed", ..."""
    if result.error is None:
        return result.outcome
    found = re.search(r"HTTP \d{3}|malformed", result.error)
    return found[0] if found else result.error


def test_duplicates_and_the_record_endpoints(base_url: str, record: GatewayRecord) -> None:
    assert [send(base_url, message_id).outcome for message_id in (7, 8)] == ["sent", "sent"]
    first = record.first_accepted(7)
    assert send(base_url, 7, text="again").outcome == "sent"
    assert record.duplicates() == {7: 2}
    assert record.first_accepted(7) == first
    with httpx.Client(base_url=f"{base_url}/gateway/_sandbox") as client:
        assert client.get("/deliveries").json() == {
            "delivered": 2,
            "accepted": 3,
            "duplicates": {"7": 2},
            "deduplicated": {},
        }
        one = client.get("/deliveries/7").json()
        assert one["id"] == 7
        assert (one["count"], one["phone"], one["text_length"]) == (2, int(PHONE), len("hello"))
        assert datetime.fromisoformat(one["first_accepted"]) == first
        assert datetime.fromisoformat(one["last_accepted"]) > first
        assert client.get("/deliveries/9").status_code == 404
        assert client.delete("/deliveries").status_code == 204
        assert client.get("/deliveries").json() == {
            "delivered": 0,
            "accepted": 0,
            "duplicates": {},
            "deduplicated": {},
        }
    assert record.delivered_ids() == set()


def test_a_gateway_that_keeps_idempotency_keys_answers_a_repeat_without_sending_it_again(
    base_url: str, record: GatewayRecord, app: Starlette
) -> None:
    saved: SandboxSettings = app.state.config
    app.state.config = saved.model_copy(update={"gateway_idempotency": True})
    try:
        results = [send(base_url, 7), send(base_url, 7, text="again"), send(base_url, 8)]
    finally:
        app.state.config = saved
    assert [result.outcome for result in results] == ["sent", "sent", "sent"]
    assert record.duplicates() == {}
    assert record.deduplicated == {7: 1}
    assert record.delivered_ids() == {7, 8}


def test_gateway_down() -> None:
    result = send("http://127.0.0.1:1", 1, connect_timeout=1)
    assert (result.outcome, result.answer) == ("retry", None)
    assert (result.error or "").startswith("connection failed: ")


def on_a_server(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]], **options: object
) -> SendResult:
    """One send to a raw TCP server on loopback that handles the connection with ``handle``."""

    async def run() -> SendResult:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        config = GatewaySettings(base_url=f"http://127.0.0.1:{port}", token=TOKEN, **options)
        async with server, gateway_http_client(config) as client:
            return await send_message(client, 1, PHONE, "hello")

    return asyncio.run(run())


def test_a_connection_closed_by_the_gateway_is_not_called_a_timeout() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    result = on_a_server(hang_up)
    assert (result.outcome, result.error) == (
        "retry",
        "the server closed the connection: Server disconnected",
    )


def test_a_send_that_cannot_connect_before_its_deadline_is_not_sent() -> None:
    async def run() -> SendResult:
        connected = asyncio.Event()

        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connected.set()
            await reader.read()

        server = await asyncio.start_server(hold, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        config = GatewaySettings(
            base_url=f"http://127.0.0.1:{port}", token=TOKEN, concurrency=1, read_timeout=30
        )
        async with server, gateway_http_client(config) as client:
            holding = asyncio.create_task(send_message(client, 1, PHONE, "holds the one connection"))
            await connected.wait()
            waiting = await send_message(client, 2, PHONE, "waits for it", connect_within=0.2)
            holding.cancel()
            return waiting

    result = asyncio.run(run())
    assert (result.outcome, result.answer) == ("retry", None)
    assert (result.error or "").startswith("timed out: Connection timeout")


# --- classification of odd answers, from a small aiohttp server answering what a test says ---


def send_to(handler: Callable[[httpx.Request], httpx.Response], phone: str = PHONE) -> SendResult:
    """One send to a loopback aiohttp server whose answers ``handler`` makes (an httpx.Request of
    what arrived, an httpx.Response of what to answer)."""

    async def answer(request: web.Request) -> web.Response:
        seen = httpx.Request(
            request.method, str(request.url), headers=dict(request.headers), content=await request.read()
        )
        made = handler(seen)
        headers = {
            k: v for k, v in made.headers.items() if k.lower() not in {"content-length", "content-type"}
        }
        return web.Response(status=made.status_code, body=made.content, headers=headers)

    async def run() -> SendResult:
        server = web.Application()
        server.router.add_route("*", "/{tail:.*}", answer)
        runner = web.AppRunner(server)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            config = GatewaySettings(base_url=f"http://127.0.0.1:{port}/api", token=TOKEN)
            async with gateway_http_client(config) as client:
                return await send_message(client, 42, phone, "hi")
        finally:
            await runner.cleanup()

    return asyncio.run(run())


def answering(status: int, content: bytes = b"", headers: dict[str, str] | None = None) -> SendResult:
    return send_to(lambda request: httpx.Response(status, content=content, headers=headers))


def test_request_shape() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK_ANSWER)

    assert send_to(handler).outcome == "sent"
    [request] = seen
    assert (request.method, request.url.path) == ("POST", "/api/v1/send/42")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["idempotency-key"] == "42"
    assert json.loads(request.content) == {"id": 42, "phone": 79001234567, "text": "hi"}


@pytest.mark.parametrize(
    ("status", "content", "outcome", "error"),
    [
        (200, b'{"code": 0}', "sent", None),
        (200, b'{"code": 3, "message": "no route"}', "retry", "gateway answered code 3: no route"),
        (200, b'{"code": false}', "retry", "malformed answer: '{\"code\": false}'"),
        (200, b'{"code": "0"}', "retry", 'malformed answer: \'{"code": "0"}\''),
        (200, b"[0]", "retry", "malformed answer: '[0]'"),
        (200, b"", "retry", "malformed answer: ''"),
        (200, b"[" * 100_000, "retry", "malformed answer: '" + "[" * 200 + "'"),
        (401, b"who?", "failed", "gateway refused the token (HTTP 401)"),
        (403, b"forbidden", "failed", "gateway refused the token (HTTP 403)"),
        (404, b'{"message": "gone"}', "failed", "gateway rejected the message: HTTP 404 Not Found: gone"),
        (422, b"bad phone", "failed", "gateway rejected the message: HTTP 422 Unprocessable Entity"),
        (502, b"<html>", "retry", "gateway unavailable: HTTP 502 Bad Gateway"),
        (501, b"", "failed", "gateway rejected the message: HTTP 501 Not Implemented"),
        (302, b"", "retry", "unexpected answer: HTTP 302 Found"),
        (204, b"", "retry", "unexpected answer: HTTP 204 No Content"),
    ],
)
def test_odd_answers(status: int, content: bytes, outcome: str, error: str | None) -> None:
    result = answering(status, content)
    assert (result.outcome, result.error) == (outcome, error)
    assert result.answer == content.decode()[:500]


def test_answer_is_truncated_and_the_token_redacted() -> None:
    result = answering(400, f"echo: Bearer {TOKEN} ".encode() + b"x" * 1000)
    assert result.outcome == "failed"
    assert result.answer is not None
    assert len(result.answer) == 500
    assert result.answer.startswith("echo: Bearer [token] xxx")
    assert TOKEN not in f"{result.answer} {result.error}"


@pytest.mark.parametrize(("status", "expected"), [(429, 120.0), (503, 120.0), (500, None)])
def test_retry_after_is_read_on_429_and_503(status: int, expected: float | None) -> None:
    assert answering(status, headers={"Retry-After": "120"}).retry_after == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5.0), ("0.5", 0.5), ("-3", 0.0), ("86400", 3600.0), ("soon", None), ("nan", None), (None, None)],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_dates() -> None:
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= (parse_retry_after(soon) or 0) <= 30
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2099 07:28:00 GMT") == 3600.0


@pytest.mark.parametrize(
    ("raw", "error", "unknown"),
    [
        (b"HTTP/1.1 garbled\r\n\r\n", "connection failed: ", True),
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 8\r\n\r\nnot gzip",
            "malformed answer: ",
            True,
        ),
        (b"", "the server closed the connection: ", True),
    ],
)
def test_transport_errors_are_retried_and_their_outcome_unknown(
    raw: bytes, error: str, unknown: bool
) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(raw)
        await writer.drain()
        writer.close()

    result = on_a_server(answer)
    assert (result.outcome, result.answer, result.unknown) == ("retry", None, unknown)
    assert (result.error or "").startswith(error)


def test_a_send_never_made_is_not_unknown_and_one_unanswered_is(
    base_url: str, record: GatewayRecord, set_faults: Callable[..., None]
) -> None:
    assert send("http://127.0.0.1:1", 1, connect_timeout=1).unknown is False
    set_faults(timeout=1.0)
    assert send(base_url, 1, read_timeout=0.3).unknown is True


@pytest.mark.parametrize("phone", ["+79001234567", "7900123456", "89001234567", "٧9001234567", ""])
def test_invalid_phone_fails_without_a_request(phone: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    result = send_to(handler, phone)
    assert (result.outcome, result.answer) == ("failed", None)
    assert (result.error or "").startswith("invalid phone")
