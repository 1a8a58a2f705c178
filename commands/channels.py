"""Channels commands (issue 9): connecting a channel (OAuth 2.0 with PKCE, begun and finished in
two calls, possibly in two processes), time slots, composing and scheduling a post (its text after
hashtags must fit), cancelling and retrying posts, repost and hashtag rules and trying them on the
channel's timeline, switches, starting and stopping a channel, reading notifications.

One function per user action, each in its own transaction; bad input raises ValueError and stores
nothing. No token or verifier is ever in a return value or a message.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from connectors.microblog import MicroblogError, Tokens, User, microblog_client, oauth
from connectors.microblog.base import ErrorKind
from connectors.microblog.timeline import read_home_timeline
from core.settings import field_errors, get_settings
from core.timezones import check_timezone
from db.base import utcnow
from db.channels import channels as channels_db
from db.channels import connects as connects_db
from db.channels import posts as posts_db
from db.channels import reposts as reposts_db
from db.channels.models import ChannelState
from db.engine import session_factory
from rules.channels import (
    MAX_WEIGHTED_LENGTH,
    HashtagRule,
    Outcome,
    RepostRule,
    apply_hashtags,
    check_due,
    judge_for_channel,
    next_free_slot,
    weighted_length,
)

NOW_GRACE = timedelta(minutes=1)


@dataclass(frozen=True)
class Preview:
    """A post's text as it would go out (hashtags added) and its weighted length."""

    text: str
    weighted: int
    added: tuple[str, ...]

    @property
    def fits(self) -> bool:
        return 0 < self.weighted <= MAX_WEIGHTED_LENGTH


@dataclass(frozen=True)
class Scheduled:
    id: int
    channel: str
    due_at: datetime
    from_slot: bool
    preview: Preview


@dataclass(frozen=True)
class ConnectedChannel:
    id: int
    screen_name: str
    platform_user_id: str
    owner: str
    timezone: str
    reconnected: bool  # the account was connected before: its tokens replaced, it runs again


@dataclass(frozen=True)
class TriedPost:
    """What the rules would do with one timeline post, and why."""

    post_id: str
    author: str
    text: str
    likes: int
    reposts: int
    lang: str | None
    outcome: Outcome  # repost, not_yet (waits for likes: judged again later) or never
    reason: str


def _validated(model: type[Any], fields: dict[str, Any]) -> Any:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise ValueError("; ".join(field_errors(exc))) from None


def preview(channel: int | str, text: str, *, seed: int | None = None) -> Preview:
    """The text as it would go out now: with the channel's hashtags when they are on."""
    with session_factory().begin() as session:
        found = channels_db.find_channel(session, channel)
        rule = reposts_db.hashtag_rule(session, channel_id=found.id) if found.hashtags_on else None
    return _preview(text, rule, seed)


def _preview(text: str, rule: HashtagRule | None, seed: int | None) -> Preview:
    if rule is None:
        return Preview(text, weighted_length(text), ())
    result = apply_hashtags(text, rule, random.Random(seed) if seed is not None else None)
    return Preview(result.text, weighted_length(result.text), result.added)


def schedule_post(
    channel: int | str, *, text: str, due_at: datetime | None = None, now: datetime | None = None
) -> Scheduled:
    """Queue a post at ``due_at``, or in the channel's next free slot. Refused, storing nothing: an
    empty text, one over 280 weighted (hashtags are added only as far as they fit), a due time in the
    past, no slot to take."""
    now = now or utcnow()
    text = text.strip()
    if not text:
        raise ValueError("the post is empty")
    if weighted_length(text) > MAX_WEIGHTED_LENGTH:
        raise ValueError(f"the post is {weighted_length(text)} long, weighted: at most {MAX_WEIGHTED_LENGTH}")
    with session_factory().begin() as session:
        found = channels_db.find_channel(session, channel)
        if due_at is None:
            slots = channels_db.slots_of(session, channel_id=found.id)
            if not slots:
                raise ValueError(f"@{found.screen_name} has no time slots: give a due time or set its slots")
            taken = posts_db.taken_times(session, channel_id=found.id, after=now)
            due_at, from_slot = next_free_slot(slots, found.timezone, taken, now), True
        else:  # a time under a minute ago is "now" (the moment a person pressed the button)
            due_at, from_slot = max(check_due(due_at, now - NOW_GRACE), now), False
        rule = reposts_db.hashtag_rule(session, channel_id=found.id) if found.hashtags_on else None
        post = posts_db.schedule_post(
            session, channel_id=found.id, text=text, due_at=due_at, from_slot=from_slot, now=now
        )
        return Scheduled(post.id, found.screen_name, due_at, from_slot, _preview(text, rule, None))


def set_slots(channel: int | str, times: Sequence[time]) -> list[time]:
    """Replace the channel's posting times (local, in its time zone)."""
    with session_factory().begin() as session:
        found = channels_db.find_channel(session, channel)
        return channels_db.set_slots(session, channel_id=found.id, times=times)


def cancel_post(post_id: int) -> bool:
    with session_factory().begin() as session:
        return posts_db.cancel(session, post_id=post_id)


def retry_post(post_id: int, *, due_at: datetime | None = None) -> bool:
    """Queue an errored post again (a person decided so), now or at ``due_at``."""
    with session_factory().begin() as session:
        return posts_db.requeue(
            session, post_id=post_id, due_at=check_due(due_at, utcnow()) if due_at else utcnow()
        )


def add_repost_rule(channel: int | str, *, name: str, fields: dict[str, Any]) -> int:
    """A repost rule for the channel; its fields are validated (an unknown language is named)."""
    rule = _validated(RepostRule, fields)
    with session_factory().begin() as session:
        found = channels_db.find_channel(session, channel)
        return reposts_db.save_repost_rule(session, channel_id=found.id, name=name, rule=rule)


def set_hashtag_rule(channel: int | str, fields: dict[str, Any] | None) -> HashtagRule | None:
    """The channel's hashtags (tags, position, how many), or none."""
    rule = _validated(HashtagRule, fields) if fields is not None else None
    with session_factory().begin() as session:
        found = channels_db.find_channel(session, channel)
        reposts_db.set_hashtag_rule(session, channel_id=found.id, rule=rule)
    return rule


def start_channel(channel: int | str) -> bool:
    """Let a stopped channel work again (an unauthorised one must be connected again)."""
    with session_factory().begin() as session:
        found = channels_db.find_channel(session, channel)
        if found.state is ChannelState.UNAUTHORISED:
            raise ValueError(f"@{found.screen_name} is unauthorised: connect it again")
        return channels_db.set_state(
            session,
            channel_id=found.id,
            state=ChannelState.RUNNING,
            reason=None,
            from_=(ChannelState.STOPPED,),
        )


def stop_channel(channel: int | str) -> bool:
    """Stop a channel's work: no posts, no reposts, until it is started."""
    with session_factory().begin() as session:
        found = channels_db.find_channel(session, channel)
        return channels_db.set_state(
            session,
            channel_id=found.id,
            state=ChannelState.STOPPED,
            reason="stopped by its owner",
            from_=(ChannelState.RUNNING,),
        )


def mark_notifications_read(channel: int | str | None = None, *, ids: Sequence[int] | None = None) -> int:
    """Mark unread notifications read: the channel's (or every channel's), only ``ids`` if given."""
    with session_factory().begin() as session:
        channel_id = channels_db.find_channel(session, channel).id if channel is not None else None
        return channels_db.mark_read(session, ids=ids, channel_id=channel_id)


def _owner(owner: str) -> str:
    owner = owner.strip()
    if not owner or len(owner) > 64:
        raise ValueError("the owner must be 1–64 characters")
    return owner


def _redirect_uri(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not a redirect URI (http or https with a host): {uri!r}")
    return uri


def begin_connect(owner: str, timezone: str, redirect_uri: str, *, login_hint: str | None = None) -> str:
    """The authorize URL to send the channel's owner to; what its callback needs is kept (ten
    minutes, used once) for `finish_connect`. ``login_hint`` picks the account on the sandbox."""
    owner, timezone = _owner(owner), check_timezone(timezone.strip())
    redirect_uri = _redirect_uri(redirect_uri)
    url, state, verifier = oauth.authorize_url(get_settings().microblog, redirect_uri, login_hint=login_hint)
    with session_factory().begin() as session:
        connects_db.begin(
            session,
            state=state,
            code_verifier=verifier,
            owner=owner,
            timezone=timezone,
            redirect_uri=redirect_uri,
        )
    return url


def finish_connect(callback_url: str) -> ConnectedChannel:
    """Finish the authorisation the callback answers (by its ``state``): the code exchanged for
    tokens, the account looked up, the channel stored (or its tokens replaced, and it runs again).
    ValueError, nothing stored: an unknown, used or expired authorisation, a refusal, a failed
    exchange."""
    state = parse_qs(urlsplit(callback_url).query).get("state", [""])[0]
    if not state:
        raise ValueError("the callback has no state: it answers no authorisation begun here")
    with session_factory().begin() as session:
        pending = connects_db.take(session, state=state)
    settings = get_settings().microblog
    try:
        code = oauth.code_of(callback_url, state)
    except MicroblogError:
        error = parse_qs(urlsplit(callback_url).query).get("error", ["no code"])[0][:100]
        raise ValueError(f"the authorisation was refused ({error}): nothing was connected") from None

    async def authorise() -> tuple[Tokens, User]:
        tokens = await oauth.exchange_code(settings, code, pending.code_verifier, pending.redirect_uri)
        async with microblog_client(settings, tokens.access_token) as client:
            return tokens, await client.me()

    try:
        tokens, user = asyncio.run(authorise())
    except MicroblogError as exc:  # its message never holds a token, code or verifier
        raise ValueError(f"the microblog said: {exc}; nothing was connected") from None
    with session_factory().begin() as session:
        before = channels_db.channel_of_user(session, platform_user_id=user.id)
        channel = channels_db.connect_channel(
            session,
            owner=pending.owner,
            screen_name=user.username,
            platform_user_id=user.id,
            timezone=pending.timezone,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_at=tokens.expires_at,
            scope=tokens.scope,
        )
        return ConnectedChannel(
            channel.id,
            channel.screen_name,
            channel.platform_user_id,
            channel.owner,
            channel.timezone,
            before is not None,
        )


def set_switches(
    channel: int | str,
    *,
    scheduling: bool | None = None,
    reposting: bool | None = None,
    hashtags: bool | None = None,
) -> tuple[bool, bool, bool]:
    """Turn a channel's scheduled posts, reposts or hashtags on or off (None: as it is); the
    switches now (scheduling, reposting, hashtags)."""
    with session_factory().begin() as session:
        found = channels_db.find_channel(session, channel)
        channels_db.set_switches(
            session, channel_id=found.id, scheduling=scheduling, reposting=reposting, hashtags=hashtags
        )
        session.refresh(found)
        return found.scheduling_on, found.reposting_on, found.hashtags_on


def enable_repost_rule(channel: int | str, rule_id: int, *, enabled: bool = True) -> bool:
    """Turn one of the channel's repost rules on (or off); whether the channel has that rule."""
    with session_factory().begin() as session:
        found = channels_db.find_channel(session, channel)
        return reposts_db.enable_repost_rule(session, channel_id=found.id, rule_id=rule_id, enabled=enabled)


def delete_repost_rule(channel: int | str, rule_id: int) -> bool:
    """Delete one of the channel's repost rules; whether it had that rule."""
    with session_factory().begin() as session:
        found = channels_db.find_channel(session, channel)
        return reposts_db.delete_repost_rule(session, channel_id=found.id, rule_id=rule_id)


def try_rules(
    channel: int | str, rule_fields: dict[str, Any] | None = None, *, limit: int = 200
) -> list[TriedPost]:
    """What the channel's rules (or the unsaved rule ``rule_fields``, validated first) would do with
    each of its last ``limit`` home-timeline posts, newest first, and why. Reads the platform through
    the channel's token; stores nothing. ValueError: a bad rule field (named), an unknown channel, a
    refused token."""
    if not 1 <= limit <= 1000:
        raise ValueError("limit: between 1 and 1000 posts")
    given = _validated(RepostRule, rule_fields) if rule_fields is not None else None
    with session_factory().begin() as session:
        found = channels_db.find_channel(session, channel)
        user_id, name = found.platform_user_id, found.screen_name
        token = channels_db.tokens_of(session, channel_id=found.id).access_token
        rules = (
            [given]
            if given
            else [rule for _, _, rule in reposts_db.repost_rules(session, channel_id=found.id)]
        )

    async def read() -> Any:
        async with microblog_client(get_settings().microblog, token) as client:
            return await read_home_timeline(client, user_id, limit=limit)

    try:
        timeline = asyncio.run(read())
    except MicroblogError as error:
        if error.kind is ErrorKind.UNAUTHORISED:
            raise ValueError(f"@{name}: the platform refused its token; connect it again") from None
        raise ValueError(f"@{name}: the timeline could not be read ({error})") from None
    tried = []
    for post in timeline.posts:
        verdict = judge_for_channel(post, rules, user_id)
        tried.append(
            TriedPost(
                post.post_id,
                post.author_username,
                post.text,
                post.like_count,
                post.repost_count,
                post.language,
                verdict.outcome,
                verdict.reason,
            )
        )
    return tried
