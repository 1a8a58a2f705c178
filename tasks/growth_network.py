"""The network as the growth tasks use it: a client logged in as one account, reads retried with
back-off, and every server call counted against the account's daily calls quota."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from connectors.growth.backends import open_network
from connectors.growth.base import Network, NetworkError
from core.retry import backoff_delay
from core.settings import get_settings
from db import limits
from db.engine import session_factory
from db.growth.accounts import AccountLogin, account_settings, login_of
from db.growth.actions import limit_key, needs_attention
from db.growth.models import Account
from rules.growth import CALLS, ErrorKind

T = TypeVar("T")
RETRIED = (ErrorKind.TRANSIENT, ErrorKind.THROTTLED)
MAX_WAIT = 60.0  # the longest back-off of one read


class CallsSpent(Exception):
    """The account's daily calls quota is spent; ``retry_at`` (Unix seconds) says when it refills."""

    def __init__(self, retry_at: float) -> None:
        super().__init__("the account's daily calls quota is spent")
        self.retry_at = retry_at


def account_login(account_id: int) -> AccountLogin:
    """The account's identity and its decrypted session (kept in memory only). A session none of the
    secret keys decrypts puts the account in ``needs_attention`` (it must be logged in again) and
    raises ValueError."""
    try:
        with session_factory().begin() as session:
            return login_of(session, account_id=account_id)
    except ValueError as exc:
        with session_factory().begin() as session:
            if session.get(Account, account_id) is not None:
                needs_attention(session, account_id=account_id, reason=f"{exc}: log it in again")
        raise


@asynccontextmanager
async def account_network(login: AccountLogin) -> AsyncIterator[Network]:
    """A client of the network logged in as the account."""
    async with open_network(get_settings().network, login.session) as network:
        yield network


def spend_call(account_id: int) -> None:
    """Count one server call of the account; raises CallsSpent when its daily quota is used up."""
    settings = get_settings()
    if not settings.growth.enforce_quotas:
        return
    with session_factory().begin() as session:
        account = session.get(Account, account_id)
        windows = account_settings(account).calls_windows()
        reservation = limits.reserve(session, key=limit_key(account_id, CALLS), windows=windows, wanted=1)
    if not reservation.granted:
        raise CallsSpent(reservation.retry_at or reservation.valid_until)


async def read(account_id: int, call: Callable[[], Awaitable[T]], *, tries: int = 4, base: float = 0.5) -> T:
    """A read of the network, counted as a call and tried again after a transient error or a 429
    (its Retry-After honoured); any other NetworkError, or the last one, is raised."""
    for attempt in range(tries):
        await asyncio.to_thread(spend_call, account_id)
        try:
            return await call()
        except NetworkError as error:
            if error.kind not in RETRIED or attempt == tries - 1:
                raise
            await asyncio.sleep(
                backoff_delay(attempt, base=base, cap=MAX_WAIT, retry_after=error.retry_after)
            )
    raise AssertionError("unreachable")
