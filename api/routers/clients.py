"""``/clients``: list (filters, pages with totals), add, read, change in part, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.auth import authorize
from api.pagination import Page, PageParams, page_params
from api.problems import errors
from api.schemas.common import Id
from api.schemas.mailing import ClientIn, ClientOut, ClientPatch
from commands import mailing as commands
from db import mailing as mailing_db
from db.engine import session_factory
from db.mailing import Client
from db.mailing.models import get_row

router = APIRouter(prefix="/clients", tags=["clients"], dependencies=[Depends(authorize)])


@router.get("", response_model=Page[ClientOut], responses=errors(401, 403, 422, 429))
def list_clients(
    page: Annotated[PageParams, Depends(page_params)],
    operator_code: Annotated[str | None, Query(max_length=3, pattern=r"^[^\x00]*$")] = None,
    tag: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
) -> Page[ClientOut]:
    """Clients matching every filter given, in the order added."""
    with session_factory().begin() as session:
        found = mailing_db.find_clients(
            session, operator_code=operator_code, tag=tag, limit=page.limit, offset=page.offset
        )
        total = mailing_db.count_clients(session, operator_code=operator_code, tag=tag)
        items = [ClientOut.model_validate(client) for client in found]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("", status_code=201, response_model=ClientOut, responses=errors(400, 401, 403, 409, 422, 429))
def add_client(body: ClientIn) -> ClientOut:
    """Add a client; its operator code comes from the phone unless given."""
    client = commands.add_client(
        phone=body.phone, tag=body.tag, timezone=body.timezone, operator_code=body.operator_code
    )
    return ClientOut.model_validate(client)


@router.get("/{client_id}", response_model=ClientOut, responses=errors(401, 403, 404, 422, 429))
def get_client(client_id: Id) -> ClientOut:
    with session_factory().begin() as session:
        return ClientOut.model_validate(get_row(session, Client, client_id))


@router.patch("/{client_id}", response_model=ClientOut, responses=errors(400, 401, 403, 404, 409, 422, 429))
def change_client(client_id: Id, body: ClientPatch) -> ClientOut:
    """Change the fields given; a new phone derives the operator code again unless one is given."""
    client = commands.update_client(
        client_id=client_id, **body.model_dump(exclude_unset=True, exclude_none=True)
    )
    return ClientOut.model_validate(client)


@router.delete("/{client_id}", status_code=204, responses=errors(401, 403, 404, 422, 429))
def delete_client(client_id: Id) -> Response:
    """Delete a client and its messages."""
    commands.delete_client(client_id=client_id)
    return Response(status_code=204)
