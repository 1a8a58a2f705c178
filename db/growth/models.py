"""The tables of growth automation: connected accounts and what they know of the network, their jobs
and candidates, the log of every action taken, and what a person reads (stats, follower counts,
blocks, notices)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, status_enum, utcnow
from db.jobs import JobColumns
from rules.growth import AccountState, Action, ActionStatus, FollowSource, JobKind, JobStatus, TargetStatus

USER_ID = String(32)
USERNAME = String(30)
TARGET = String(64)


def _account_fk() -> ForeignKey:
    return ForeignKey("growth_accounts.id", ondelete="CASCADE")


class Account(Base):
    """A connected account: its owner, its login (the session secret encrypted at rest), what it does
    (switches and ``settings``, see ``rules.growth.AccountSettings``) and its state."""

    __tablename__ = "growth_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    username: Mapped[str] = mapped_column(USERNAME, unique=True)
    user_id: Mapped[str] = mapped_column(USER_ID)
    state: Mapped[AccountState] = mapped_column(status_enum(AccountState), default=AccountState.ACTIVE)
    state_reason: Mapped[str | None] = mapped_column(Text)
    likes_on: Mapped[bool] = mapped_column(Boolean, default=False)
    follows_on: Mapped[bool] = mapped_column(Boolean, default=False)
    unfollows_on: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    session_secret: Mapped[str] = mapped_column(Text)  # core.crypto.Cipher token, never the plain secret
    next_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # pacing across workers
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sync_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AccountDetails(Base):
    """The latest profile snapshot of a connected account."""

    __tablename__ = "growth_account_details"

    account_id: Mapped[int] = mapped_column(_account_fk(), primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    bio: Mapped[str] = mapped_column(Text, default="")
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    is_business: Mapped[bool] = mapped_column(Boolean, default=False)
    followers: Mapped[int] = mapped_column(Integer, default=0)
    followings: Mapped[int] = mapped_column(Integer, default=0)
    posts: Mapped[int] = mapped_column(Integer, default=0)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FollowerCount(Base):
    """A connected account's counts at one sync: followers over time."""

    __tablename__ = "growth_follower_counts"
    __table_args__ = (Index("ix_growth_follower_counts_account_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(_account_fk())
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    followers: Mapped[int] = mapped_column(Integer)
    followings: Mapped[int] = mapped_column(Integer)
    posts: Mapped[int] = mapped_column(Integer)


class NetworkUser(Base):
    """A user of the network we know of: from lists (name, private) and, once fetched, its profile."""

    __tablename__ = "growth_users"

    user_id: Mapped[str] = mapped_column(USER_ID, primary_key=True)
    username: Mapped[str] = mapped_column(USERNAME, index=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    is_business: Mapped[bool | None] = mapped_column(Boolean)
    followers: Mapped[int | None] = mapped_column(Integer)
    followings: Mapped[int | None] = mapped_column(Integer)
    posts: Mapped[int | None] = mapped_column(Integer)
    bio: Mapped[str | None] = mapped_column(Text)
    profile_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the profile was fetched
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Edge(Base):
    """A follower (``kind`` "follower") or following of a connected account, first and last seen by a
    sync; ``removed_at`` is set when a complete sync no longer saw it."""

    __tablename__ = "growth_edges"
    __table_args__ = (Index("ix_growth_edges_account_kind_removed", "account_id", "kind", "removed_at"),)

    account_id: Mapped[int] = mapped_column(_account_fk(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(9), primary_key=True)
    user_id: Mapped[str] = mapped_column(USER_ID, primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Job(JobColumns, Base):
    """A like, follow or unfollow job of one account; ``wake_at`` keeps it unclaimed until then
    (outside working hours, quota spent, a block, back-off)."""

    __tablename__ = "growth_jobs"
    __table_args__ = (Index("ix_growth_jobs_kind_status", "kind", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(_account_fk(), index=True)
    kind: Mapped[JobKind] = mapped_column(status_enum(JobKind))
    source: Mapped[FollowSource | None] = mapped_column(status_enum(FollowSource))
    target: Mapped[str | None] = mapped_column(String(200))  # username, hashtag or location id
    status: Mapped[JobStatus] = mapped_column(status_enum(JobStatus), default=JobStatus.ADDED)
    wanted: Mapped[int] = mapped_column(Integer)  # followers to like, candidates to follow, users to unfollow
    done: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    batches: Mapped[int] = mapped_column(Integer, default=0)
    wake_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waiting_for: Mapped[str | None] = mapped_column(Text)  # why it sleeps until wake_at


class Target(Base):
    """One candidate of a job: a user to follow or unfollow, or a post to like (``target`` is the
    post or user id). Skipped candidates keep the reason: the skip records."""

    __tablename__ = "growth_targets"
    __table_args__ = (
        UniqueConstraint("job_id", "target"),
        Index("ix_growth_targets_job_status_position", "job_id", "status", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("growth_jobs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    target: Mapped[str] = mapped_column(TARGET)
    user_id: Mapped[str] = mapped_column(USER_ID)
    username: Mapped[str] = mapped_column(USERNAME)
    status: Mapped[TargetStatus] = mapped_column(status_enum(TargetStatus), default=TargetStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(Text)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ActionRecord(Base):
    """The log of actions: one row per (account, action, target) ever, written ``pending`` before the
    call, so a re-run, a second worker or a restart after a crash never repeats one."""

    __tablename__ = "growth_actions"
    __table_args__ = (
        UniqueConstraint("account_id", "action", "target"),
        Index("ix_growth_actions_account_user", "account_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(_account_fk())
    action: Mapped[Action] = mapped_column(status_enum(Action))
    target: Mapped[str] = mapped_column(TARGET)
    user_id: Mapped[str] = mapped_column(USER_ID)
    username: Mapped[str] = mapped_column(USERNAME)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("growth_jobs.id", ondelete="SET NULL"))
    status: Mapped[ActionStatus] = mapped_column(status_enum(ActionStatus), default=ActionStatus.PENDING)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DailyStat(Base):
    """Work of one account on one day (in its time zone), per action."""

    __tablename__ = "growth_daily_stats"

    account_id: Mapped[int] = mapped_column(_account_fk(), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    action: Mapped[str] = mapped_column(String(16), primary_key=True)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)


class Cooldown(Base):
    """An action of an account frozen until ``until`` (an "action blocked" answer), seen by every worker."""

    __tablename__ = "growth_cooldowns"

    account_id: Mapped[int] = mapped_column(_account_fk(), primary_key=True)
    action: Mapped[Action] = mapped_column(status_enum(Action), primary_key=True)
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notice(Base):
    """A message to an account's owner (a block, a challenge, a finished job), read or unread."""

    __tablename__ = "growth_notices"
    __table_args__ = (Index("ix_growth_notices_owner_read", "owner", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("growth_accounts.id", ondelete="SET NULL"))
    level: Mapped[str] = mapped_column(String(8))  # info, warning, error
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LogicConfig(Base):
    """The job logic as changed in the dashboard (one row; settings give what it does not hold)."""

    __tablename__ = "growth_config"

    id: Mapped[int] = mapped_column(primary_key=True)
    logic: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
