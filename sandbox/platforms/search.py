"""The search endpoints: the key, the query checked, faults, the page served."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from core.settings import SandboxSettings
from sandbox.faults import injected_fault, past_the_end
from sandbox.platforms.catalogue import SandboxArticle, catalogue
from sandbox.platforms.shapes import STAND_INS, JsonObject, Paging, StandIn, _break

KEY_HEADER = "x-api-key"
DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True)
class Search:
    """A search request's parameters, checked."""

    keyword: str
    paging_start: int
    size: int
    since: float | None
    until: float | None


def _integer(request: Request, name: str, minimum: int) -> int | None:
    """An optional integer query parameter of at least `minimum`; ValueError otherwise."""
    raw = request.query_params.get(name, "")
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return value


def _search(request: Request, stand_in: StandIn, max_size: int) -> Search:
    """The checked parameters of `request`; ValueError says which one is wrong."""
    keyword = request.query_params.get(stand_in.keyword_param, "").strip()
    if not keyword:
        raise ValueError(f"{stand_in.keyword_param} is required")
    first = 0 if stand_in.offset_paging else 1
    start = _integer(request, stand_in.page_param, first)
    size = _integer(request, stand_in.size_param, 1) or DEFAULT_PAGE_SIZE
    since = _integer(request, stand_in.since_param, 0)
    until = _integer(request, stand_in.until_param, 0)
    return Search(
        keyword,
        first if start is None else start,
        min(size, max_size),
        None if since is None else since / stand_in.time_unit,
        None if until is None else until / stand_in.time_unit,
    )


def _paging(search: Search, total: int, offset_paging: bool) -> Paging:
    if offset_paging:
        return Paging(search.paging_start // search.size + 1, search.size, search.paging_start, total)
    return Paging(search.paging_start, search.size, (search.paging_start - 1) * search.size, total)


def _endpoint(platform: str, stand_in: StandIn) -> Callable[[Request], Awaitable[Response]]:
    """The search handler of one platform."""

    async def search(request: Request) -> Response:
        state = request.app.state
        config: SandboxSettings = state.config
        if config.platform_latency_ms:
            await asyncio.sleep(config.platform_latency_ms / 1000)
        if request.headers.get(KEY_HEADER) != config.platform_key:
            return JSONResponse(stand_in.error(401, "invalid or missing api key"), status_code=401)
        fault = await injected_fault(
            request, config, state.rng.random(), stand_in.error(429, "too many requests")
        )
        if fault is not None:
            return fault
        try:
            query = _search(request, stand_in, config.platform_max_page_size)
        except ValueError as exc:
            return JSONResponse(stand_in.error(400, str(exc)), status_code=400)
        matching = catalogue(config, platform, query.keyword).window(query.since, query.until)
        paging = _paging(query, len(matching), stand_in.offset_paging)
        if past_end := past_the_end(config, paging.offset, len(matching)):
            return past_end
        served = matching[paging.offset : paging.offset + paging.size]
        items = [_served_item(article, query.keyword, stand_in, config) for article in served]
        return JSONResponse(stand_in.page(items, paging))

    return search


def _served_item(
    article: SandboxArticle, keyword: str, stand_in: StandIn, config: SandboxSettings
) -> JsonObject:
    item = stand_in.item(article, keyword)
    return _break(item, article, stand_in) if article.malformed(config) else item


def create_router() -> Router:
    """The platforms router: ``/{name}{path}`` for each stand-in."""
    return Router(
        routes=[
            Route(f"/{platform}{stand_in.path}", _endpoint(platform, stand_in))
            for platform, stand_in in STAND_INS.items()
        ]
    )
