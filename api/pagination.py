"""limit/offset pagination with totals: ``PageParams`` (the query parameters, bounded) and ``Page[T]``
(the answer: ``items``, ``total``, ``limit``, ``offset``)."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

T = TypeVar("T")

MAX_LIMIT = 500
MAX_OFFSET = 1_000_000_000


class PageParams(BaseModel):
    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="at most this many items")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="skip this many items first")] = 0,
) -> PageParams:
    """The page asked for (a dependency)."""
    return PageParams(limit=limit, offset=offset)


class Page(BaseModel, Generic[T]):
    """One page of a list: its items, how many there are in all, and which page this is."""

    items: list[T]
    total: int
    limit: int
    offset: int
