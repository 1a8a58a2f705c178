"""Refreshing channels' OAuth tokens before they expire; a refusal stops the channel with a
notification (it must be connected again)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from prefect import task

from connectors.microblog import oauth
from connectors.microblog.base import ErrorKind, MicroblogError
from core.settings import get_settings
from db.channels import channels as channels_db
from db.engine import session_factory

AHEAD = timedelta(minutes=20)  # tokens ending within this are refreshed (the sweep runs every 10 min)


@dataclass(frozen=True)
class Refreshed:
    channel_id: int
    ok: bool
    detail: str = ""


def expiring() -> list[int]:
    with session_factory().begin() as session:
        return channels_db.expiring(session, within=AHEAD)


async def refresh_channel(channel_id: int) -> Refreshed:
    """New tokens for one channel, stored encrypted; a refusal marks the channel unauthorised (a
    passing failure leaves it for the next run)."""

    def current() -> str | None:
        with session_factory().begin() as session:
            return channels_db.tokens_of(session, channel_id=channel_id).refresh_token

    refresh_token = await asyncio.to_thread(current)
    if refresh_token is None:
        return Refreshed(channel_id, False, "no refresh token")
    try:
        tokens = await oauth.refresh(get_settings().microblog, refresh_token)
    except MicroblogError as error:
        if error.kind is ErrorKind.UNAUTHORISED:
            await asyncio.to_thread(_unauthorised, channel_id, str(error))
        return Refreshed(channel_id, False, str(error))

    def store() -> None:
        with session_factory().begin() as session:
            channels_db.store_tokens(
                session,
                channel_id=channel_id,
                access_token=tokens.access_token,
                refresh_token=tokens.refresh_token,
                expires_at=tokens.expires_at,
                scope=tokens.scope,
            )

    await asyncio.to_thread(store)
    return Refreshed(channel_id, True)


def _unauthorised(channel_id: int, reason: str) -> None:
    with session_factory().begin() as session:
        channels_db.unauthorised(
            session, channel_id=channel_id, reason=f"its token could not be refreshed ({reason})"
        )


@task(task_run_name="refresh expiring tokens")
async def refresh_expiring() -> list[Refreshed]:
    """Refresh every running channel's token that ends within ``AHEAD``."""
    ids = await asyncio.to_thread(expiring)
    return list(await asyncio.gather(*(refresh_channel(channel_id) for channel_id in ids)))
