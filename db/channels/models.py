"""The tables of the channels domain (migrations 0008, 0009)."""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, UTCDateTime, status_enum, utcnow
from db.jobs import JobColumns
from rules.channels import PostState


class ChannelState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"  # by a person
    UNAUTHORISED = "unauthorised"  # the platform refused its token (401): connect it again


class RepostStatus(StrEnum):
    """A timeline post judged for a channel: reposted once, never, or not yet (checked again)."""

    PENDING = "pending"  # written before the repost is sent
    REPOSTED = "reposted"
    WAITING = "waiting"  # "repost once it reaches N likes": judged again later
    SKIPPED = "skipped"  # no rule lets it through: the reason says why
    FAILED = "failed"


def _channel_fk() -> ForeignKey:
    return ForeignKey("channels.id", ondelete="CASCADE")


class Channel(Base):
    """A connected microblog account and what it does."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    screen_name: Mapped[str] = mapped_column(String(50), unique=True)
    platform_user_id: Mapped[str] = mapped_column(String(32), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    scheduling_on: Mapped[bool] = mapped_column(Boolean, default=True)
    reposting_on: Mapped[bool] = mapped_column(Boolean, default=False)
    hashtags_on: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[ChannelState] = mapped_column(status_enum(ChannelState), default=ChannelState.RUNNING)
    state_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ChannelToken(Base):
    """A channel's OAuth tokens, each encrypted with ``core.crypto`` (never stored in plain text)."""

    __tablename__ = "channel_tokens"

    channel_id: Mapped[int] = mapped_column(_channel_fk(), primary_key=True)
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    scope: Mapped[str] = mapped_column(String(200), default="")
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TimeSlot(Base):
    """A posting time of a channel, in its own time zone."""

    __tablename__ = "channel_slots"
    __table_args__ = (UniqueConstraint("channel_id", "local_time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(_channel_fk())
    local_time: Mapped[time] = mapped_column(Time)


class ScheduledPost(JobColumns, Base):
    """A post to publish at ``due_at`` (a slot's time, or one a person chose); ``platform_post_id`` is
    set once it is known to be out."""

    __tablename__ = "channel_posts"
    __table_args__ = (Index("ix_channel_posts_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(_channel_fk(), index=True)
    text: Mapped[str] = mapped_column(Text)
    published_text: Mapped[str | None] = mapped_column(Text)  # after hashtags
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    from_slot: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[PostState] = mapped_column(status_enum(PostState), default=PostState.QUEUED)
    platform_post_id: Mapped[str | None] = mapped_column(String(32))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RepostRule(Base):
    """One repost filter of a channel (its fields as the rules module validates them, as JSON)."""

    __tablename__ = "channel_repost_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(_channel_fk(), index=True)
    name: Mapped[str] = mapped_column(String(100))
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RepostRecord(Base):
    """What became of one timeline post for one channel: at most one row, so never two reposts."""

    __tablename__ = "channel_repost_log"
    __table_args__ = (
        UniqueConstraint("channel_id", "source_post_id"),
        Index("ix_channel_repost_log_status", "channel_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(_channel_fk())
    source_post_id: Mapped[str] = mapped_column(String(32))
    author: Mapped[str] = mapped_column(String(50))
    status: Mapped[RepostStatus] = mapped_column(status_enum(RepostStatus))
    reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reposted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HashtagRule(Base):
    """Hashtags a channel adds to its outgoing posts (tags, position, how many), as JSON."""

    __tablename__ = "channel_hashtag_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(_channel_fk(), index=True)
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class ChannelNotification(Base):
    """An in-app notification of a channel (a failure, unauthorised, a limit reached, a milestone)."""

    __tablename__ = "channel_notifications"
    __table_args__ = (Index("ix_channel_notifications_channel_read", "channel_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(_channel_fk())
    level: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TimelineWatermark(Base):
    """A channel's timeline polling: the newest post seen (the next poll's ``since_id``), and the
    lease of the run polling it now (migration 0010), so two runs never poll one channel at once."""

    __tablename__ = "channel_watermarks"

    channel_id: Mapped[int] = mapped_column(_channel_fk(), primary_key=True)
    since_id: Mapped[str | None] = mapped_column(String(32))
    polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(32))


class PendingConnect(Base):
    """An authorisation begun and not finished yet (migration 0009): found again by its ``state``
    (kept as its SHA-256) when the browser comes back, possibly to another process; the PKCE
    verifier encrypted; used once, good for ten minutes."""

    __tablename__ = "channel_connects"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_verifier: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(64))
    timezone: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
