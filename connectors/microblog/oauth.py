"""The client side of the microblog's OAuth 2.0 authorization code flow with PKCE (S256).

authlib builds the protocol's pieces (the verifier and state, the S256 challenge, the authorization
URL, the token request bodies, the client's Basic authentication); the requests go through
``core.http.async_client`` like every other call, and every failure is a MicroblogError. Settings:
``microblog.base_url`` (``oauth2/authorize``, ``oauth2/token`` and ``oauth2/revoke`` under it),
``client_id``, ``client_secret``, ``scopes`` and the timeouts.

A refresh rotates the refresh token: the old one is refused from then on, so a refresh whose answer is
lost (TRANSIENT) may have used the grant up; a later refusal (UNAUTHORISED) means authorising again.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import aiohttp
import httpx
from authlib.common.security import generate_token
from authlib.common.urls import url_encode
from authlib.oauth2.rfc6749.parameters import (
    parse_authorization_code_response,
    prepare_grant_uri,
    prepare_token_request,
)
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from connectors.microblog import answers
from connectors.microblog.base import ErrorKind, MicroblogError, Tokens
from core.http import async_client, describe_transport_error
from core.secrets import redact
from core.settings import MicroblogSettings

VERIFIER_LENGTH = 64  # RFC 7636: 43 to 128 characters
FORM = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "Switchyard/0.1 (+channels)"}


def _url(settings: MicroblogSettings, endpoint: str) -> str:
    return f"{settings.base_url.rstrip('/')}/oauth2/{endpoint}"


def authorize_url(
    settings: MicroblogSettings, redirect_uri: str, *, login_hint: str | None = None
) -> tuple[str, str, str]:
    """(the URL to send the channel's owner to, its ``state``, the ``code_verifier``): keep both
    until the callback; `login_hint` picks the channel on the sandbox (no login page there)."""
    state = generate_token(32)
    code_verifier = generate_token(VERIFIER_LENGTH)
    extra = {"code_challenge": create_s256_code_challenge(code_verifier), "code_challenge_method": "S256"}
    if login_hint:
        extra["login_hint"] = login_hint
    url = prepare_grant_uri(
        _url(settings, "authorize"),
        client_id=settings.client_id,
        response_type="code",
        redirect_uri=redirect_uri,
        scope=settings.scopes,
        state=state,
        **extra,
    )
    return url, state, code_verifier


def code_of(callback_url: str, state: str) -> str:
    """The authorization code in the callback URL, its ``state`` checked; a refusal
    (``error=access_denied``) or a wrong state is UNAUTHORISED."""
    refused = parse_qs(urlsplit(callback_url).query).get("error")
    if refused:
        raise MicroblogError(f"authorisation callback: refused ({refused[0][:100]})", ErrorKind.UNAUTHORISED)
    try:
        return parse_authorization_code_response(callback_url, state)["code"]
    except Exception as exc:  # authlib raises its own OAuth2Error subclasses (and KeyError)
        error = getattr(exc, "error", None) or type(exc).__name__
        raise MicroblogError(f"authorisation callback: refused ({error})", ErrorKind.UNAUTHORISED) from None


def _basic(settings: MicroblogSettings) -> str:
    secret = settings.client_secret.get_secret_value()
    return "Basic " + base64.b64encode(f"{settings.client_id}:{secret}".encode()).decode()


async def _post(
    settings: MicroblogSettings, endpoint: str, what: str, body: str, secrets: list[str]
) -> object:
    """POST the form `body` with the client's Basic authentication; the decoded answer, or the
    MicroblogError it means (nothing of `secrets` in a message)."""

    def clean(text: str) -> str:
        for secret in [*secrets, settings.client_secret.get_secret_value()]:
            text = redact(text, secret, "[secret]")
        return text

    client = async_client(
        max_connections=1,
        timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout, pool=None),
        headers=FORM | {"Authorization": _basic(settings)},
    )
    async with client:
        try:
            response = await client.post(_url(settings, endpoint), content=body)
        except (httpx.RequestError, aiohttp.ClientError, OSError) as exc:
            detail = clean(describe_transport_error(exc))
            raise MicroblogError(f"{what}: {detail}", ErrorKind.TRANSIENT) from None
    text = clean(response.text)
    try:
        decoded = json.loads(text)
    except (ValueError, RecursionError):
        decoded = None
    error = answers.token_error_of(what, response.status_code, decoded)
    if error is not None:
        raise MicroblogError(clean(str(error)), error.kind) from None
    return decoded


async def exchange_code(
    settings: MicroblogSettings, code: str, code_verifier: str, redirect_uri: str
) -> Tokens:
    """The channel's tokens for the authorization `code` (UNAUTHORISED when refused)."""
    what = "authorisation code exchange"
    body = prepare_token_request(
        "authorization_code",
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=code_verifier,
        client_id=settings.client_id,
    )
    now = datetime.now(UTC)
    answer = await _post(settings, "token", what, body, [code, code_verifier])
    return answers.read_tokens(what, answer, now)


async def refresh(settings: MicroblogSettings, refresh_token: str) -> Tokens:
    """New tokens (a new refresh token too: the old one is spent) for `refresh_token`."""
    what = "token refresh"
    body = prepare_token_request("refresh_token", refresh_token=refresh_token, client_id=settings.client_id)
    now = datetime.now(UTC)
    answer = await _post(settings, "token", what, body, [refresh_token])
    return answers.read_tokens(what, answer, now)


async def revoke(settings: MicroblogSettings, token: str, *, hint: str = "access_token") -> None:
    """Revoke `token` (an access or a refresh token: `hint` says which); the grant ends with it."""
    what = "token revocation"
    body = url_encode([("token", token), ("token_type_hint", hint), ("client_id", settings.client_id)])
    await _post(settings, "revoke", what, body, [token])
