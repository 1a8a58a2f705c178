"""Growth commands: connect an account, change what it does, pause and resume it, start follow and
like jobs, pause and resume jobs, read notices, change the job logic, rotate the stored secrets.

One function per user action, each in its own transaction, called alike by the dashboard, the CLI,
the demo and the benchmark. Bad input raises ValueError and stores nothing; a target is checked on
the network before a job is stored for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.orm import Session

from connectors.growth.backends import log_in, open_network
from connectors.growth.base import Network, NetworkError
from core.settings import JobLogic, field_errors, get_settings
from db.engine import session_factory
from db.growth import accounts as growth_accounts
from db.growth import actions as growth_actions
from db.growth import jobs as growth_jobs
from db.growth.config import change_job_logic, job_logic
from db.growth.models import Job
from rules.growth import (
    AccountSettings,
    AccountState,
    Action,
    ErrorKind,
    FollowSource,
    JobKind,
    JobStatus,
    check_timezone,
    normalise_hashtag,
    normalise_username,
)

T = TypeVar("T")
MAX_JOB_SIZE = 10_000


@dataclass(frozen=True)
class AddedAccount:
    id: int
    username: str
    user_id: str


@dataclass(frozen=True)
class CreatedJob:
    id: int
    account: str
    kind: JobKind
    description: str


def _settings_of(
    values: AccountSettings | dict[str, Any] | None, base: AccountSettings | None = None
) -> AccountSettings:
    """Account settings from a mapping of changes over ``base`` (nested ones too: ``{"like_quota":
    {"per_hour": 5}}`` keeps the daily bound); ValueError names each bad field."""
    if isinstance(values, AccountSettings):
        return values
    merged = (base or AccountSettings()).model_dump()
    for name, value in (values or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = merged[name] | value
        else:
            merged[name] = value
    try:
        return AccountSettings.model_validate(merged)
    except ValidationError as exc:
        raise ValueError("; ".join(field_errors(exc))) from None


def _on_network(call: Callable[[], Awaitable[T]]) -> T:
    """Run one network call from synchronous code; its NetworkError becomes a clear ValueError."""
    try:
        return asyncio.run(call())
    except NetworkError as exc:
        raise ValueError(f"the network said: {exc}") from None


def add_account(
    *,
    owner: str,
    username: str,
    password: str,
    timezone: str = "UTC",
    settings: AccountSettings | dict[str, Any] | None = None,
    likes_on: bool = False,
    follows_on: bool = False,
    unfollows_on: bool = False,
) -> AddedAccount:
    """Log in to the network as the account and store it with its session (encrypted), nothing on a
    refusal. The caller starts its first sync (``core.names.SYNC_ACCOUNT``)."""
    username = normalise_username(username)
    check_timezone(timezone)
    account_settings = _settings_of(settings)
    if not owner.strip():
        raise ValueError("the owner is empty")
    if not password:
        raise ValueError("the password is empty")
    logged_in = _on_network(lambda: log_in(get_settings().network, username, password))
    with session_factory().begin() as session:
        account = growth_accounts.add_account(
            session,
            owner=owner,
            username=username,
            user_id=logged_in.user_id,
            session_secret=logged_in.session,
            timezone=timezone,
            settings=account_settings,
        )
        growth_accounts.change_account(
            session, account=account, likes_on=likes_on, follows_on=follows_on, unfollows_on=unfollows_on
        )
        return AddedAccount(account.id, account.username, account.user_id)


def change_account(
    account: int | str,
    *,
    settings: dict[str, Any] | None = None,
    timezone: str | None = None,
    likes_on: bool | None = None,
    follows_on: bool | None = None,
    unfollows_on: bool | None = None,
) -> AccountSettings:
    """Change an account's settings (a mapping of the fields to change), time zone or switches;
    running jobs use the change from their next action. Returns the settings now."""
    with session_factory().begin() as session:
        found = growth_accounts.find_account(session, account)
        changed = _settings_of(settings, growth_accounts.account_settings(found)) if settings else None
        growth_accounts.change_account(
            session,
            account=found,
            settings=changed,
            timezone=timezone,
            likes_on=likes_on,
            follows_on=follows_on,
            unfollows_on=unfollows_on,
        )
        return growth_accounts.account_settings(found)


def pause_account(account: int | str) -> bool:
    """Stop all work of an active account (its running batches stop before their next action);
    False if it was not active. One that needs attention stays so: it needs a new login first."""
    with session_factory().begin() as session:
        found = growth_accounts.find_account(session, account)
        return growth_accounts.set_state(
            session,
            account_id=found.id,
            state=AccountState.PAUSED,
            reason="paused by its owner",
            from_=(AccountState.ACTIVE,),
        )


def resume_account(account: int | str, *, password: str | None = None) -> bool:
    """Let a paused account work again; False if it was not paused. One that needs attention (a
    challenge, a login required) is logged in again with ``password`` first; without it, ValueError."""
    with session_factory().begin() as session:
        found = growth_accounts.find_account(session, account)
        state, username, account_id = found.state, found.username, found.id
    if state is AccountState.NEEDS_ATTENTION:
        if not password:
            raise ValueError(f"@{username} needs attention: give its password to log it in again")
        logged_in = _on_network(lambda: log_in(get_settings().network, username, password))
    with session_factory().begin() as session:
        if state is AccountState.NEEDS_ATTENTION:
            growth_accounts.replace_session(session, account_id=account_id, secret=logged_in.session)
        moved = growth_accounts.set_state(
            session, account_id=account_id, state=AccountState.ACTIVE, reason=None
        )
        if moved:
            growth_accounts.notify(session, account_id=account_id, level="info", text=f"@{username} resumed")
        return moved


def lift_block(account: int | str, action: Action) -> bool:
    """End a block of one action early."""
    with session_factory().begin() as session:
        found = growth_accounts.find_account(session, account)
        return growth_actions.lift(session, account_id=found.id, action=Action(action))


async def _check_target(network: Network, source: FollowSource, target: str) -> str:
    """The target as stored, after the network confirmed it can be used."""
    if source is FollowSource.ACCOUNT:
        profile = await network.profile(target)
        if profile.is_private:
            friendship = await network.friendship(profile.user_id)
            if not friendship.following:
                raise ValueError(f"@{target} is private: its followers cannot be listed")
        return profile.username
    if source is FollowSource.HASHTAG:
        await network.hashtag_posts(target, 1)
    else:
        await network.location_posts(target, 1)
    return target


def _target_of(source: FollowSource, target: str) -> str:
    if source is FollowSource.ACCOUNT:
        return normalise_username(target)
    if source is FollowSource.HASHTAG:
        return normalise_hashtag(target)
    location = target.strip()
    if not location.isdigit():
        raise ValueError(f"a location is its numeric id: {target!r}")
    return location


def create_follow_job(
    account: int | str, *, source: FollowSource | str, target: str, count: int
) -> CreatedJob:
    """A follow job of ``count`` candidates from ``source`` (a target account's followers, a
    hashtag's or a location's recent posts). The target is checked on the network first: one that
    does not exist, or a private account, is refused."""
    try:
        source = FollowSource(source)
    except ValueError:
        raise ValueError(f"unknown source {source!r}: one of {', '.join(FollowSource)}") from None
    if not 1 <= count <= MAX_JOB_SIZE:
        raise ValueError(f"count must be 1–{MAX_JOB_SIZE}")
    target = _target_of(source, target)
    with session_factory().begin() as session:
        found = growth_accounts.find_account(session, account)
        login_ = growth_accounts.login_of(session, account_id=found.id)

    async def check() -> str:
        async with open_network(get_settings().network, login_.session) as network:
            try:
                return await _check_target(network, source, target)
            except NetworkError as exc:
                if exc.kind is ErrorKind.NOT_FOUND:
                    raise ValueError(f"there is no {source} {target!r} on the network") from None
                raise

    checked = _on_network(check)
    with session_factory().begin() as session:
        job = growth_jobs.create_job(
            session,
            account_id=login_.account_id,
            kind=JobKind.FOLLOW,
            wanted=count,
            source=source,
            target=checked,
        )
        return CreatedJob(job.id, login_.username, JobKind.FOLLOW, f"follow {count} from {source} {checked}")


def create_like_job(account: int | str) -> CreatedJob:
    """A like job now (the plan-likes sweep opens them on its own when likes are on)."""
    with session_factory().begin() as session:
        found = growth_accounts.find_account(session, account)
        if not found.likes_on:
            raise ValueError(f"likes are off for @{found.username}: switch them on first")
        if found.state is not AccountState.ACTIVE:
            raise ValueError(f"@{found.username} is {found.state.value.replace('_', ' ')}: resume it first")
        if growth_jobs.open_job(session, account_id=found.id, kind=JobKind.LIKE) is not None:
            raise ValueError(f"@{found.username} has an open like job already")
        wanted = job_logic(session).followers_per_like_job
        job = growth_jobs.create_job(session, account_id=found.id, kind=JobKind.LIKE, wanted=wanted)
        return CreatedJob(job.id, found.username, JobKind.LIKE, f"like posts of {wanted} followers")


def pause_job(job_id: int) -> bool:
    with session_factory().begin() as session:
        _job_exists(session, job_id)
        return growth_jobs.pause_job(session, job_id=job_id)


def resume_job(job_id: int) -> JobStatus | None:
    """Resume a paused job where it was; the status it resumed to (``follows``: acting, ``added``:
    planning again), None if it was not paused."""
    with session_factory().begin() as session:
        _job_exists(session, job_id)
        if not growth_jobs.resume_job(session, job_id=job_id):
            return None
        return session.get(Job, job_id).status


def _job_exists(session: Session, job_id: int) -> None:
    if session.get(Job, job_id) is None:
        raise ValueError(f"there is no growth job {job_id}")


def mark_notices_read(*, notice_ids: list[int] | None = None, owner: str | None = None) -> int:
    with session_factory().begin() as session:
        return growth_accounts.mark_read(session, notice_ids=notice_ids, owner=owner)


def change_logic(**changes: Any) -> JobLogic:
    """Change knobs of the job logic; ValueError names the bad ones and stores nothing."""
    unknown = set(changes) - set(JobLogic.model_fields)
    if unknown:
        raise ValueError(f"unknown job logic settings: {', '.join(sorted(unknown))}")
    with session_factory().begin() as session:
        try:
            return change_job_logic(session, **changes)
        except ValidationError as exc:
            raise ValueError("; ".join(field_errors(exc))) from None


def current_logic() -> JobLogic:
    with session_factory().begin() as session:
        return job_logic(session)
