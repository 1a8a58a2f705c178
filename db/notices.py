"""Notices and notifications of any domain: written, listed unread first, marked read. Each domain has
its own table (a model with ``id``, ``created_at`` and ``read_at``) and passes it in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, true, update
from sqlalchemy.orm import Session

from db.base import utcnow


def unread_first(
    session: Session,
    model: type[Any],
    *,
    where: ColumnElement[bool] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Any]:
    """Rows of ``model`` matching ``where``, unread first, newest first within each."""
    query = select(model).where(where if where is not None else true())
    order = (model.read_at.is_not(None), model.created_at.desc(), model.id.desc())
    return list(session.scalars(query.order_by(*order).limit(limit).offset(offset)))


def count_all(session: Session, model: type[Any], *, where: ColumnElement[bool] | None = None) -> int:
    """How many rows of ``model`` match ``where``, read or not."""
    query = select(func.count()).select_from(model)
    return session.scalar(query.where(where) if where is not None else query) or 0


def count_unread(session: Session, model: type[Any], *, where: ColumnElement[bool] | None = None) -> int:
    query = select(func.count()).select_from(model).where(model.read_at.is_(None))
    return session.scalar(query.where(where) if where is not None else query) or 0


def mark_read(
    session: Session,
    model: type[Any],
    *,
    ids: Sequence[int] | None = None,
    where: ColumnElement[bool] | None = None,
    now: datetime | None = None,
) -> int:
    """Mark unread rows read: those of ``ids`` (or all) matching ``where``; returns how many."""
    query = update(model).where(model.read_at.is_(None))
    if ids is not None:
        query = query.where(model.id.in_(list(ids)))
    if where is not None:
        query = query.where(where)
    query = query.values(read_at=now or utcnow()).execution_options(synchronize_session=False)
    return session.execute(query).rowcount
