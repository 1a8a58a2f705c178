"""``/messages``: the messages of mailings, filtered by mailing, client and status, paginated."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import authorize
from api.pagination import Page, PageParams, page_params
from api.problems import errors
from api.schemas.common import MAX_ID
from api.schemas.mailing import MessageOut
from db import mailing as mailing_db
from db.engine import session_factory
from rules.mailing import MessageStatus

router = APIRouter(prefix="/messages", tags=["messages"], dependencies=[Depends(authorize)])
FilterId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


@router.get("", response_model=Page[MessageOut], responses=errors(401, 403, 422, 429))
def list_messages(
    page: Annotated[PageParams, Depends(page_params)],
    mailing_id: FilterId = None,
    client_id: FilterId = None,
    status: MessageStatus | None = None,
) -> Page[MessageOut]:
    """Messages matching every filter given, in the order created."""
    filters = {"mailing_id": mailing_id, "client_id": client_id, "status": status}
    with session_factory().begin() as session:
        found = mailing_db.find_messages(session, **filters, limit=page.limit, offset=page.offset)
        total = mailing_db.count_messages(session, **filters)
        items = [MessageOut.model_validate(message) for message in found]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)
