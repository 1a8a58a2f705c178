"""Database access for the Channels page: plain data and frames from db/channels/reports.py (and the
repost log and notifications), and the channels commands the page's forms and buttons call. No token
ever reaches a frame."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pandas as pd

from commands import channels as commands
from core.display import moment
from core.settings import get_settings
from dashboard.data import sessions
from db.base import utcnow
from db.channels import channels as channels_db
from db.channels import reports
from db.channels import reposts as reposts_db
from db.channels.models import ChannelState
from db.channels.reports import ChannelSummary, QueuedPost, RuleSummary
from rules.channels import HashtagRule, RepostRule

PAGE_PATH = "channels"  # the page's url_path in dashboard/app.py: the microblog sends people back there
SOON = timedelta(minutes=2)  # a post due this soon (or overdue) keeps the page refreshing
QUEUE_ROWS = 200
LOG_ROWS = 200
NOTIFICATION_ROWS = 200
TRY_LIMIT = 200
SLOT = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
SWITCHES = {"scheduling": "Scheduling", "reposting": "Reposting", "hashtags": "Hashtags"}


# --- reads ----------------------------------------------------------------------------------------


def channel_summaries() -> list[ChannelSummary]:
    """Every connected channel, by screen name."""
    with sessions().begin() as session:
        return reports.channels(session)


def state_label(channel: ChannelSummary) -> str:
    """``running``, ``stopped: <why>`` or ``unauthorised: <why>``."""
    if channel.state is not ChannelState.RUNNING and channel.state_reason:
        return f"{channel.state.value}: {channel.state_reason}"
    return channel.state.value


def zone(channel: ChannelSummary) -> ZoneInfo:
    return ZoneInfo(channel.timezone)


def token_label(channel: ChannelSummary, now: datetime | None = None) -> str:
    if channel.token_expires_at is None:
        return "no token: connect it"
    expires = moment(channel.token_expires_at, zone(channel))
    return f"expired {expires}" if channel.token_expires_at <= (now or utcnow()) else expires


def channels_frame(channels: list[ChannelSummary]) -> pd.DataFrame:
    """One row per channel: state, switches, queue, errors, unread notifications, token expiry."""
    return pd.DataFrame(
        [
            {
                "id": channel.id,
                "channel": f"@{channel.screen_name}",
                "owner": channel.owner,
                "state": state_label(channel),
                "scheduling": channel.scheduling_on,
                "reposting": channel.reposting_on,
                "hashtags": channel.hashtags_on,
                "queued": channel.queued,
                "errors": channel.errors,
                "next post": moment(channel.next_due, zone(channel)) if channel.next_due else "",
                "unread": channel.unread,
                "token expires": token_label(channel),
                "timezone": channel.timezone,
            }
            for channel in channels
        ],
        columns=[
            "id", "channel", "owner", "state", "scheduling", "reposting", "hashtags", "queued", "errors",
            "next post", "unread", "token expires", "timezone",
        ],
    )  # fmt: skip


def any_due_soon(now: datetime | None = None) -> bool:
    """Whether a post is due within two minutes (or overdue): the page refreshes meanwhile."""
    limit = (now or utcnow()) + SOON
    return any(channel.next_due and channel.next_due <= limit for channel in channel_summaries())


def slots_of(channel_id: int) -> list[time]:
    with sessions().begin() as session:
        return channels_db.slots_of(session, channel_id=channel_id)


def queue_by_slot(channel: ChannelSummary) -> dict[str, list[QueuedPost]]:
    """The channel's open posts (queued, publishing, errored), grouped by the slot each takes."""
    with sessions().begin() as session:
        posts = reports.queue(session, channel_id=channel.id, limit=QUEUE_ROWS)
        slots = channels_db.slots_of(session, channel_id=channel.id)
    return reports.by_slot(posts, slots, channel.timezone)


def queue_frame(posts: list[QueuedPost], channel: ChannelSummary) -> pd.DataFrame:
    """The posts of one slot, soonest first, due times in the channel's time zone."""
    return pd.DataFrame(
        [
            {
                "id": post.id,
                "due": moment(post.due_at, zone(channel)),
                "status": post.status.value,
                "text": post.text,
                "attempts": post.attempts,
                "last error": post.last_error or "",
            }
            for post in posts
        ],
        columns=["id", "due", "status", "text", "attempts", "last error"],
    )


def repost_rules(channel_id: int) -> list[RuleSummary]:
    with sessions().begin() as session:
        return reports.repost_rules(session, channel_id=channel_id)


def describe_rule(rule: RepostRule) -> str:
    """The rule's fields that differ from the defaults, as ``field: value; …`` (``any post`` if none)."""
    parts = []
    for name, field in RepostRule.model_fields.items():
        value = getattr(rule, name)
        if value == field.default:
            continue
        if isinstance(value, tuple):
            value = ", ".join(value)
        parts.append(f"{name.replace('_', ' ')}: {value}")
    return "; ".join(parts) or "any post (replies and reposts of reposts refused)"


def rules_frame(rules: list[RuleSummary]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "id": rule.id,
                "name": rule.name,
                "enabled": rule.enabled,
                "filters": describe_rule(rule.rule),
                "added": moment(rule.created_at),
            }
            for rule in rules
        ],
        columns=["id", "name", "enabled", "filters", "added"],
    )


def hashtag_rule(channel_id: int) -> HashtagRule | None:
    with sessions().begin() as session:
        return reposts_db.hashtag_rule(session, channel_id=channel_id)


def repost_log_frame(channel: ChannelSummary) -> pd.DataFrame:
    """What became of each timeline post judged for the channel, newest decision first."""
    with sessions().begin() as session:
        rows = [
            {
                "decided": moment(record.decided_at, zone(channel)),
                "post": record.source_post_id,
                "author": f"@{record.author}",
                "status": record.status.value,
                "why": record.reason or "",
                "reposted": moment(record.reposted_at, zone(channel)) if record.reposted_at else "",
            }
            for record in reposts_db.repost_log(session, channel_id=channel.id, limit=LOG_ROWS)
        ]
    return pd.DataFrame(rows, columns=["decided", "post", "author", "status", "why", "reposted"])


def unread_count(channel_id: int | None = None) -> int:
    with sessions().begin() as session:
        return channels_db.unread_count(session, channel_id=channel_id)


def notifications_frame(channel_id: int | None, names: dict[int, str]) -> pd.DataFrame:
    """Notifications (of one channel or all), unread first, newest first within each."""
    with sessions().begin() as session:
        rows = [
            {
                "id": notice.id,
                "read": notice.read_at is not None,
                "at": moment(notice.created_at),
                "channel": f"@{names[notice.channel_id]}" if notice.channel_id in names else "",
                "level": notice.level,
                "text": notice.text,
            }
            for notice in channels_db.notifications(session, channel_id=channel_id, limit=NOTIFICATION_ROWS)
        ]
    return pd.DataFrame(rows, columns=["id", "read", "at", "channel", "level", "text"])


def tried_frame(tried: list[commands.TriedPost]) -> pd.DataFrame:
    """What the rules would do with each timeline post tried."""
    return pd.DataFrame(
        [
            {
                "outcome": post.outcome,
                "why": post.reason,
                "author": f"@{post.author}",
                "text": post.text,
                "likes": post.likes,
                "reposts": post.reposts,
                "lang": post.lang or "",
                "post": post.post_id,
            }
            for post in tried
        ],
        columns=["outcome", "why", "author", "text", "likes", "reposts", "lang", "post"],
    )


# --- form input -----------------------------------------------------------------------------------


def parse_slots(text: str) -> list[time]:
    """``HH:MM`` times separated by commas, spaces or lines; ValueError naming the first bad one."""
    slots = []
    for part in re.split(r"[\s,;]+", text.strip()):
        if not part:
            continue
        match = SLOT.fullmatch(part)
        if match is None:
            raise ValueError(f"not a time of day (HH:MM): {part!r}")
        slots.append(time(int(match[1]), int(match[2])))
    return slots


def due_at(day: date, at: time, channel: ChannelSummary) -> datetime:
    """A date and wall time in the channel's time zone, as an aware instant."""
    return datetime.combine(day, at, tzinfo=zone(channel))


def default_due(channel: ChannelSummary, now: datetime | None = None) -> datetime:
    """The next full hour after an hour from now, in the channel's time zone: a time picker's start."""
    local = (now or utcnow()).astimezone(zone(channel)) + timedelta(hours=2)
    return local.replace(minute=0, second=0, microsecond=0)


def callback_url(params: dict[str, str]) -> str:
    """The address the microblog sent the browser back to, as finish_connect reads it."""
    return f"{redirect_uri()}?{urlencode(params)}"


def redirect_uri() -> str:
    """This page's own address (settings: ``dashboard.public_url``)."""
    return f"{get_settings().dashboard.public_url}/{PAGE_PATH}"


# --- writes (the channels commands: ValueError for bad input, nothing stored then) -----------------


def set_switch(channel_id: int, name: str, on: bool) -> None:
    """Turn ``scheduling``, ``reposting`` or ``hashtags`` on or off."""
    commands.set_switches(channel_id, **{name: on})


def start(channel_id: int) -> bool:
    return commands.start_channel(channel_id)


def stop(channel_id: int) -> bool:
    return commands.stop_channel(channel_id)


def preview(channel_id: int, text: str) -> commands.Preview:
    return commands.preview(channel_id, text)


def schedule(channel_id: int, text: str, due: datetime | None) -> commands.Scheduled:
    return commands.schedule_post(channel_id, text=text, due_at=due)


def set_slots(channel_id: int, text: str) -> list[time]:
    return commands.set_slots(channel_id, parse_slots(text))


def cancel(post_id: int) -> bool:
    return commands.cancel_post(post_id)


def retry(post_id: int) -> bool:
    return commands.retry_post(post_id)


def add_rule(channel_id: int, name: str, fields: dict[str, Any]) -> int:
    return commands.add_repost_rule(channel_id, name=name, fields=fields)


def enable_rule(channel_id: int, rule_id: int, enabled: bool) -> bool:
    return commands.enable_repost_rule(channel_id, rule_id, enabled=enabled)


def delete_rule(channel_id: int, rule_id: int) -> bool:
    return commands.delete_repost_rule(channel_id, rule_id)


def set_hashtags(channel_id: int, fields: dict[str, Any] | None) -> HashtagRule | None:
    return commands.set_hashtag_rule(channel_id, fields)


def try_rules(channel_id: int, fields: dict[str, Any] | None) -> list[commands.TriedPost]:
    """What the rule (or, with None, the channel's enabled rules) would do with the last 200 posts of
    the channel's home timeline; ValueError when that cannot be tried."""
    return commands.try_rules(channel_id, fields, limit=TRY_LIMIT)


def begin_connect(owner: str, timezone: str, login_hint: str) -> str:
    """The microblog's authorize link for a new channel (the pending state is kept in the database)."""
    return commands.begin_connect(
        owner.strip(), timezone.strip(), redirect_uri(), login_hint=login_hint.strip() or None
    )


def finish_connect(params: dict[str, str]) -> commands.ConnectedChannel:
    """Store the channel the microblog sent back; ValueError if it refused or the link is stale."""
    return commands.finish_connect(callback_url(params))


def mark_read(channel_id: int | None) -> int:
    return commands.mark_notifications_read(channel_id)
