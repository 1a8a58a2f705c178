"""Sending mailing messages through the notification gateway, every answer classified.

``POST {base_url}/v1/send/{id}`` with ``{"id", "phone", "text"}`` and a Bearer token; HTTP 200 with
``{"code": 0}`` means sent. Gateway and transport trouble never raises: it becomes a `SendResult`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import httpx

from core.http import async_client, describe_transport_error, parse_retry_after
from core.retry import Answer, classify_status
from core.secrets import redact
from core.settings import GatewaySettings
from rules.mailing import SendResult

PHONE = re.compile(r"7[0-9]{10}")
MAX_ANSWER_CHARS = 500
MAX_DETAIL_CHARS = 200
RETRY_AFTER_STATUS = frozenset({429, 503})
REDACTED = "[token]"


def gateway_http_client(settings: GatewaySettings) -> httpx.AsyncClient:
    """One client for a batch of sends: base URL, token and ``settings.concurrency`` connections."""
    return async_client(
        max_connections=settings.concurrency,
        timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout, pool=None),
        base_url=settings.base_url,
        headers={"Authorization": f"Bearer {settings.token.get_secret_value()}"},
    )


async def send_message(
    client: httpx.AsyncClient, message_id: int, phone: str, text: str, *, connect_within: float | None = None
) -> SendResult:
    """Send one message with a client from `gateway_http_client`; never raises for gateway trouble.

    ``connect_within`` bounds the wait for a pooled connection (and its set-up), in seconds: a send
    that cannot start by then is not sent (a retry) rather than started late.
    """
    if not PHONE.fullmatch(phone):
        return SendResult("failed", None, "invalid phone: expected 11 digits starting with 7")
    payload = {"id": message_id, "phone": int(phone), "text": text}
    timeout = client.timeout if connect_within is None else _bounded(client.timeout, connect_within)
    try:
        response = await client.post(f"/v1/send/{message_id}", json=payload, timeout=timeout)
    except httpx.DecodingError as exc:
        return SendResult("retry", None, f"malformed answer: {exc}")
    except (httpx.RequestError, aiohttp.ClientError, OSError) as exc:
        return SendResult("retry", None, describe_transport_error(exc))
    return _classify(response, _token(client))


def _bounded(timeout: httpx.Timeout, pool: float) -> httpx.Timeout:
    """``timeout`` with its pool wait at most ``pool`` seconds (aiohttp: pool wait and connect together)."""
    return httpx.Timeout(timeout.read, connect=timeout.connect, write=timeout.write, pool=max(pool, 0.001))


def _token(client: httpx.AsyncClient) -> str:
    return client.headers.get("authorization", "").removeprefix("Bearer ")


def _classify(response: httpx.Response, token: str) -> SendResult:
    """The outcome of one answer; read from its text with the token redacted, should it be echoed."""
    text = redact(response.text, token, REDACTED)
    answer = text[:MAX_ANSWER_CHARS]
    body = _json_object(text)
    status = response.status_code
    if status == 200:
        return _accepted(body, answer)
    reason = f"HTTP {status} {response.reason_phrase}".strip() + _message(body, ": ")
    answer_class = classify_status(status)
    if answer_class == Answer.AUTH:
        return SendResult("failed", answer, f"gateway refused the token (HTTP {status})")
    if answer_class == Answer.RETRY:
        retry_after = (
            parse_retry_after(response.headers.get("retry-after")) if status in RETRY_AFTER_STATUS else None
        )
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
