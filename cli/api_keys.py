"""The ``api-keys`` command group: create, list and revoke the keys of the service API."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import echo_table, refusing, utc
from commands import api_keys as commands
from db.api_keys import Scope

api_keys_app = typer.Typer(
    help="Keys for the service API (api/): create, list, revoke.", no_args_is_help=True
)


@api_keys_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="who or what uses the key")],
    scope: Annotated[
        Scope, typer.Option(help="read: GET; write: also POST/PATCH/DELETE; admin: all")
    ] = Scope.READ,
) -> None:
    """Create a key and print it once: only its hash is kept, so copy it now."""
    with refusing():
        info, key = commands.create_key(name=name, scope=scope)
    typer.echo(f"API key {info.id} ({info.name}, scope {info.scope.value}); shown once, keep it now:")
    typer.echo(key)


@api_keys_app.command("list")
def list_keys() -> None:
    """Every key: its id, name, scope, prefix and when it was created, last used and revoked."""
    rows = [
        (
            key.id,
            key.name,
            key.scope.value,
            f"sy_{key.prefix}_…",
            utc(key.created_at),
            utc(key.last_used_at) if key.last_used_at else "never",
            utc(key.revoked_at) if key.revoked_at else "",
        )
        for key in commands.list_keys()
    ]
    echo_table(("id", "name", "scope", "key", "created", "last used", "revoked"), rows)


@api_keys_app.command("revoke")
def revoke(key_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Revoke a key: its next request is refused with 401. Revoking again changes nothing."""
    with refusing():
        info = commands.revoke_key(key_id=key_id)
    typer.echo(f"API key {info.id} ({info.name}) revoked at {utc(info.revoked_at or info.created_at)}")
