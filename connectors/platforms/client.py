"""One page of a platform's search over HTTP: the client, the request, the answer's classes."""

from __future__ import annotations

import json
from datetime import datetime

import aiohttp
import httpx

from connectors.platforms.apis import api_of
from connectors.platforms.base import PlatformError, SearchPage, SearchQuery, _message
from core.http import async_client, describe_transport_error, parse_retry_after
from core.secrets import redact
from core.settings import BriefSettings, PlatformSettings

KEY_HEADER = "X-API-Key"


USER_AGENT = "Switchyard/0.1 (+briefs)"


REDACTED = "[api key]"


MAX_RETRY_AFTER = 60.0


def platform_client(platform: str, settings: PlatformSettings, brief: BriefSettings) -> httpx.AsyncClient:
    """A client for `platform`: base URL, API key header, timeouts, ``settings.concurrency`` connections."""
    api_of(platform)
    return async_client(
        max_connections=settings.concurrency,
        timeout=httpx.Timeout(brief.read_timeout, connect=brief.connect_timeout, pool=None),
        base_url=settings.base_url,
        headers={KEY_HEADER: settings.api_key.get_secret_value(), "User-Agent": USER_AGENT},
    )


async def search(
    client: httpx.AsyncClient,
    platform: str,
    keyword: str,
    page: int,
    *,
    page_size: int,
    since: datetime | None = None,
    until: datetime | None = None,
) -> SearchPage:
    """One page (from 1) of `platform`'s search for `keyword`, posted in ``[since, until)``.

    Raises PlatformError when the page cannot be had; ValueError for a bad query.
    """
    api = api_of(platform)
    query = SearchQuery(keyword, page, page_size, since, until)
    try:
        response = await client.get(api.path, params=api.params(query))
    except (httpx.RequestError, aiohttp.ClientError, OSError) as exc:
        raise PlatformError(f"{platform}: {describe_transport_error(exc)}", transient=True) from exc
    return api.parse(_answer(platform, response, client.headers.get(KEY_HEADER, "")), query)


def _answer(platform: str, response: httpx.Response, key: str) -> object:
    """The JSON of a successful answer (None if it is not JSON), else the PlatformError it means."""
    text = redact(response.text, key, REDACTED)
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        body = None
    status = response.status_code
    if status < 300:
        return body
    reason = f"HTTP {status}{_message(body)}"
    if status in (401, 403):
        raise PlatformError(f"{platform} refused the API key ({reason})", transient=False)
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        capped = None if retry_after is None else min(retry_after, MAX_RETRY_AFTER)
        raise PlatformError(f"{platform} is unavailable ({reason})", transient=True, retry_after=capped)
    raise PlatformError(f"{platform} rejected the search ({reason})", transient=False)
