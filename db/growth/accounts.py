"""Connected accounts: adding one, its settings, switches and state, and its notices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, and_, select, true, update
from sqlalchemy.orm import Session

from db import notices
from db.base import utcnow
from db.growth.models import Account, Notice
from db.secrets import cipher
from rules.growth import AccountSettings, AccountState, check_timezone, normalise_username

Level = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class AccountLogin:
    """An account's identity and its decrypted session, for a client of the network (memory only)."""

    account_id: int
    username: str
    user_id: str
    session: str

    def __repr__(self) -> str:  # never the session
        return f"AccountLogin({self.account_id}, @{self.username})"


def login_of(session: Session, *, account_id: int) -> AccountLogin:
    """The account's login with its session decrypted; ValueError if there is no such account."""
    account = session.get(Account, account_id)
    if account is None:
        raise ValueError(f"there is no connected account {account_id}")
    return AccountLogin(
        account.id, account.username, account.user_id, cipher().decrypt(account.session_secret)
    )


def replace_session(session: Session, *, account_id: int, secret: str) -> None:
    """Store a new session for the account (encrypted), after a person logged it in again."""
    session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(session_secret=cipher().encrypt(secret), updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def rotate_secrets(session: Session) -> int:
    """Encrypt every stored session with the first of the secret keys; returns how many."""
    keys = cipher()
    accounts = session.scalars(select(Account)).all()
    for account in accounts:
        account.session_secret = keys.rotate(account.session_secret)
    session.flush()
    return len(accounts)


def find_account(session: Session, account: int | str) -> Account:
    """The account by id or username (with or without "@"; digits are a username first, then an
    id); ValueError if there is none."""
    found = None
    if isinstance(account, str):
        found = session.scalar(select(Account).where(Account.username == normalise_username(account)))
    if found is None and str(account).isdigit():
        found = session.get(Account, int(account))
    if found is None:
        raise ValueError(f"there is no connected account {account!r}")
    return found


def add_account(
    session: Session,
    *,
    owner: str,
    username: str,
    user_id: str,
    session_secret: str,
    timezone: str,
    settings: AccountSettings,
) -> Account:
    """Store a connected account, its session encrypted; ValueError if it is connected already."""
    owner = owner.strip()
    if not owner or len(owner) > 64:
        raise ValueError("the owner must be 1–64 characters")
    username = normalise_username(username)
    if session.scalar(select(Account.id).where(Account.username == username)) is not None:
        raise ValueError(f"@{username} is connected already")
    account = Account(
        owner=owner,
        username=username,
        user_id=user_id,
        session_secret=cipher().encrypt(session_secret),
        timezone=check_timezone(timezone),
        settings=settings.model_dump(mode="json"),
    )
    session.add(account)
    session.flush()
    return account


def account_settings(account: Account) -> AccountSettings:
    return AccountSettings.model_validate(account.settings)


def change_account(
    session: Session,
    *,
    account: Account,
    settings: AccountSettings | None = None,
    timezone: str | None = None,
    likes_on: bool | None = None,
    follows_on: bool | None = None,
    unfollows_on: bool | None = None,
) -> Account:
    """Change what an account does (None: unchanged); running jobs see it at their next action."""
    if settings is not None:
        account.settings = settings.model_dump(mode="json")
    if timezone is not None:
        account.timezone = check_timezone(timezone)
    for name, value in (("likes_on", likes_on), ("follows_on", follows_on), ("unfollows_on", unfollows_on)):
        if value is not None:
            setattr(account, name, value)
    session.flush()
    return account


def set_state(
    session: Session,
    *,
    account_id: int,
    state: AccountState,
    reason: str | None,
    from_: tuple[AccountState, ...] = tuple(AccountState),
) -> bool:
    """Move the account to ``state`` if it is in one of ``from_``; whether it moved."""
    moved = session.execute(
        update(Account)
        .where(Account.id == account_id, Account.state.in_(list(from_)))
        .values(state=state, state_reason=reason, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(moved)


def notify(session: Session, *, account_id: int, level: Level, text: str) -> None:
    """A notice for the account's owner."""
    owner = session.scalar(select(Account.owner).where(Account.id == account_id))
    session.add(Notice(owner=owner or "", account_id=account_id, level=level, text=text))


def list_notices(
    session: Session,
    *,
    owner: str | None = None,
    account_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Notice]:
    """Notices, unread first, newest first within each."""
    where = _notices_of(owner, account_id)
    return notices.unread_first(session, Notice, where=where, limit=limit, offset=offset)


def count_notices(session: Session, *, owner: str | None = None, account_id: int | None = None) -> int:
    """How many notices, read or not."""
    return notices.count_all(session, Notice, where=_notices_of(owner, account_id))


def mark_read(
    session: Session,
    *,
    notice_ids: list[int] | None = None,
    owner: str | None = None,
    now: datetime | None = None,
) -> int:
    """Mark the given notices (or every unread one of ``owner``, or all) read; returns how many."""
    return notices.mark_read(session, Notice, ids=notice_ids, where=_notices_of(owner, None), now=now)


def _notices_of(owner: str | None, account_id: int | None) -> ColumnElement[bool]:
    return and_(
        Notice.owner == owner if owner else true(),
        Notice.account_id == account_id if account_id is not None else true(),
    )
