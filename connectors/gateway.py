"""Sending mailing messages through the notification gateway, every answer classified.

``POST {base_url}/v1/send/{id}`` with ``{"id", "phone", "text"}``, a Bearer token and
``Idempotency-Key: <id>`` (a gateway that keeps keys answers a repeat without sending it again);
HTTP 200 with ``{"code": 0}`` means sent. Gateway and transport trouble never raises: it becomes a
`SendResult`. A send whose request went out and whose answer never came (a read timeout, a lost
connection) is ``unknown``: it is retried like any transient failure, but it may have arrived.

The client is `connectors.http1.HostClient`, a pool of keep-alive HTTP/1.1 connections parsed with
httptools: ~0.04–0.05 ms of CPU per request here against ~0.20 ms for aiohttp's ``ClientSession``
(bench/RESULTS.md, issue 11 fourth session); this is the one path that sends thousands a second.
"""

from __future__ import annotations

import json
import re
from types import TracebackType
from typing import Any

from connectors.http1 import Answer as HTTPAnswer
from connectors.http1 import BadContent, ConnectFailed, Disconnected, HostClient, HTTPFailure
from core.http import verified_tls
from core.retry import Answer, classify_status, parse_retry_after
from core.secrets import redact
from core.settings import GatewaySettings
from rules.mailing import SendResult

PHONE = re.compile(r"7[0-9]{10}")
MAX_ANSWER_CHARS = 500
MAX_DETAIL_CHARS = 200
RETRY_AFTER_STATUS = frozenset({429, 503})
REDACTED = "[token]"


class GatewayClient:
    """One connection pool for many sends: base URL, token, ``settings.concurrency`` connections.

    Create it inside the running event loop and close it with ``async with``.
    """

    def __init__(self, settings: GatewaySettings) -> None:
        self.token = settings.token.get_secret_value()
        base_url = settings.base_url.rstrip("/")
        self.http = HostClient(
            base_url,
            limit=settings.concurrency,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            tls=verified_tls() if base_url.startswith("https:") else None,
        )

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.http.close()


def gateway_http_client(settings: GatewaySettings) -> GatewayClient:
    """One client for a sender's whole life: base URL, token and ``settings.concurrency`` connections."""
    return GatewayClient(settings)


async def send_message(
    client: GatewayClient, message_id: int, phone: str, text: str, *, connect_within: float | None = None
) -> SendResult:
    """Send one message with a client from `gateway_http_client`; never raises for gateway trouble.

    ``connect_within`` bounds the wait for a pooled connection (and its set-up), in seconds: a send
    that cannot start by then is not sent (a retry) rather than started late.
    """
    if not PHONE.fullmatch(phone):
        return SendResult("failed", None, "invalid phone: expected 11 digits starting with 7")
    body = json.dumps({"id": message_id, "phone": int(phone), "text": text}).encode()
    try:
        response = await client.http.request(
            "POST",
            f"/v1/send/{message_id}",
            body,
            headers=f"Idempotency-Key: {message_id}\r\n",
            connect_within=connect_within,
        )
    except BadContent as exc:
        return SendResult("retry", None, f"malformed answer: {exc}", unknown=True)
    except ConnectFailed as exc:  # never written: the gateway cannot have taken the message
        return SendResult("retry", None, _describe(exc))
    except HTTPFailure as exc:
        return SendResult("retry", None, _describe(exc), unknown=True)
    return _classify(response.status, response.reason, response.headers, _text(response), client.token)


def _text(response: HTTPAnswer) -> str:
    try:
        return response.content.decode(response.charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return response.content.decode("utf-8", errors="replace")


def _describe(exc: HTTPFailure) -> str:
    """Name what went wrong in the transport."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        return f"timed out: {detail}"
    if isinstance(exc, Disconnected):
        return f"the server closed the connection: {detail}"
    return f"connection failed: {detail}"


def _classify(status: int, reason: str, headers: Any, raw: str, token: str) -> SendResult:
    """The outcome of one answer; read from its text with the token redacted, should it be echoed."""
    text = redact(raw, token, REDACTED)
    answer = text[:MAX_ANSWER_CHARS]
    body = _json_object(text)
    if status == 200:
        return _accepted(body, answer)
    reason = f"HTTP {status} {reason}".strip() + _message(body, ": ")
    answer_class = classify_status(status)
    if answer_class == Answer.AUTH:
        return SendResult("failed", answer, f"gateway refused the token (HTTP {status})")
    if answer_class == Answer.RETRY:
        retry_after = parse_retry_after(headers.get("retry-after")) if status in RETRY_AFTER_STATUS else None
        return SendResult("retry", answer, f"gateway unavailable: {reason}", retry_after)
    if answer_class == Answer.PERMANENT:
        return SendResult("failed", answer, f"gateway rejected the message: {reason}")
    return SendResult("retry", answer, f"unexpected answer: {reason}")


def _accepted(body: dict[str, Any] | None, answer: str) -> SendResult:
    """HTTP 200: sent only when the answer says ``"code": 0``."""
    code = body.get("code") if body is not None else None
    if type(code) is not int:  # bool is not a code
        return SendResult("retry", answer, f"malformed answer: {answer[:MAX_DETAIL_CHARS]!r}")
    if code != 0:
        return SendResult("retry", answer, f"gateway answered code {code}" + _message(body, ": "))
    return SendResult("sent", answer)


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def _message(body: dict[str, Any] | None, prefix: str) -> str:
    """The gateway's own ``message``, if it gave one, after `prefix`."""
    message = body.get("message") if body is not None else None
    return f"{prefix}{str(message)[:MAX_DETAIL_CHARS]}" if message else ""
