"""The ``secrets`` command group: a new key for ``SWITCHYARD_SECRET_KEYS``, and re-encrypting every
stored secret (account sessions, channel tokens) with the first key."""

from __future__ import annotations

import typer

from cli.common import refusing
from commands.secrets import rotate_secrets
from core.crypto import new_key

secrets_app = typer.Typer(help="The keys that encrypt stored secrets.", no_args_is_help=True)


@secrets_app.command("new-key")
def make_key() -> None:
    """Print a fresh key: put it first in SWITCHYARD_SECRET_KEYS, then run `secrets rotate`."""
    typer.echo(new_key())


@secrets_app.command("rotate")
def rotate() -> None:
    """Re-encrypt every stored secret with the first key of SWITCHYARD_SECRET_KEYS."""
    with refusing():
        count = rotate_secrets()
    typer.echo(f"{count} stored secrets re-encrypted with the first key")
