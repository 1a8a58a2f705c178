"""``/channels``: the connected microblog channels, their switches and state, their scheduled posts
(with the text's preview after hashtags), repost rules, hashtags, repost log and notifications.

Connecting a channel (OAuth in a browser) stays in the dashboard and the CLI."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from api.auth import Caller, authorize
from api.idempotency import IdempotencyKey, run_once
from api.pagination import Page, PageParams, page_params
from api.problems import errors
from api.schemas.channels import (
    ChannelDetail,
    ChannelOut,
    ChannelPatch,
    Marked,
    NotificationOut,
    NotificationsRead,
    PostIn,
    PostScheduled,
    Preview,
    RepostOut,
    RepostRuleIn,
    RepostRuleOut,
    RepostRulePatch,
    RetryIn,
)
from api.schemas.common import Id
from commands import channels as commands
from db.base import Conflict, NotFound
from db.channels import channels as channels_db
from db.channels import reports
from db.channels import reposts as reposts_db
from db.channels.posts import OPEN
from db.engine import session_factory
from rules.channels import HashtagRule, PostState

router = APIRouter(prefix="/channels", tags=["channels"], dependencies=[Depends(authorize)])


def _summary(session: Session, channel_id: int) -> reports.ChannelSummary:
    found = reports.channels(session, channel_ids=[channel_id])
    if not found:
        raise NotFound(f"no channel {channel_id}")
    return found[0]


def _exists(channel_id: int) -> None:
    with session_factory().begin() as session:
        _summary(session, channel_id)


def _post(channel_id: int, post_id: int) -> reports.QueuedPost:
    with session_factory().begin() as session:
        _summary(session, channel_id)
        found = reports.queue(session, channel_id=channel_id, states=tuple(PostState), post_ids=[post_id])
    if not found:
        raise NotFound(f"channel {channel_id} has no post {post_id}")
    return found[0]


def _detail(channel_id: int) -> ChannelDetail:
    with session_factory().begin() as session:
        summary = _summary(session, channel_id)
        slots = channels_db.slots_of(session, channel_id=channel_id)
        hashtags = reposts_db.hashtag_rule(session, channel_id=channel_id)
    return ChannelDetail(**vars(summary), slots=slots, hashtags=hashtags)


@router.get("", response_model=Page[ChannelOut], responses=errors(401, 403, 422, 429))
def list_channels(page: Annotated[PageParams, Depends(page_params)]) -> Page[ChannelOut]:
    """Every channel, by screen name, with its queue and unread counts."""
    with session_factory().begin() as session:
        found = reports.channels(session)
    items = [ChannelOut(**vars(summary)) for summary in found[page.offset : page.offset + page.limit]]
    return Page(items=items, total=len(found), limit=page.limit, offset=page.offset)


@router.get("/{channel_id}", response_model=ChannelDetail, responses=errors(401, 403, 404, 422, 429))
def get_channel(channel_id: Id) -> ChannelDetail:
    """One channel, with its posting times and hashtags."""
    return _detail(channel_id)


@router.patch("/{channel_id}", response_model=ChannelDetail, responses=errors(400, 401, 403, 404, 422, 429))
def change_channel(channel_id: Id, body: ChannelPatch) -> ChannelDetail:
    """Turn its switches on or off and start or stop it; only the fields given change."""
    _exists(channel_id)
    if body.state == "stopped":
        commands.stop_channel(channel_id)
    commands.set_switches(
        channel_id, scheduling=body.scheduling_on, reposting=body.reposting_on, hashtags=body.hashtags_on
    )
    if body.state == "running":
        commands.start_channel(channel_id)
    return _detail(channel_id)


@router.post(
    "/{channel_id}/posts",
    status_code=201,
    response_model=PostScheduled,
    responses=errors(400, 401, 403, 404, 409, 422, 429),
)
def schedule_post(
    channel_id: Id, body: PostIn, request: Request, caller: Caller, idempotency_key: IdempotencyKey = None
) -> Response:
    """Queue a post at ``due_at`` or in the channel's next free slot; the answer shows the text as it
    would go out now (hashtags added) and its weighted length. Repeat safely with Idempotency-Key:
    a repeat schedules nothing twice."""
    _exists(channel_id)

    def work(_: str | None) -> PostScheduled:
        scheduled = commands.schedule_post(channel_id, text=body.text, due_at=body.due_at)
        preview = scheduled.preview
        return PostScheduled(
            id=scheduled.id,
            channel=scheduled.channel,
            due_at=scheduled.due_at,
            from_slot=scheduled.from_slot,
            preview=Preview(text=preview.text, weighted=preview.weighted, added=list(preview.added)),
        )

    return run_once(caller=caller, key=idempotency_key, request=request, payload=body, status=201, work=work)


@router.get(
    "/{channel_id}/posts", response_model=Page[reports.QueuedPost], responses=errors(401, 403, 404, 422, 429)
)
def list_posts(
    channel_id: Id,
    page: Annotated[PageParams, Depends(page_params)],
    state: Annotated[
        list[PostState] | None, Query(description="only posts in these states; none: the open ones")
    ] = None,
) -> Page[reports.QueuedPost]:
    """The channel's posts, soonest due first: the open ones (draft, queued, publishing, error) unless
    ``state`` is given (repeat it for several)."""
    states = tuple(state) if state else OPEN
    with session_factory().begin() as session:
        _summary(session, channel_id)
        found = reports.queue(
            session, channel_id=channel_id, states=states, limit=page.limit, offset=page.offset
        )
        total = reports.count_queue(session, channel_id=channel_id, states=states)
    return Page(items=found, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/{channel_id}/posts/{post_id}/cancel",
    response_model=reports.QueuedPost,
    responses=errors(401, 403, 404, 409, 422, 429),
)
def cancel_post(channel_id: Id, post_id: Id) -> reports.QueuedPost:
    """Cancel a post not yet out; 409 for one published, being published, or cancelled already."""
    before = _post(channel_id, post_id)
    if not commands.cancel_post(post_id):
        raise Conflict(
            f"post {post_id} is {before.status.value}: only a draft, queued or error post is cancelled"
        )
    return _post(channel_id, post_id)


@router.post(
    "/{channel_id}/posts/{post_id}/retry",
    response_model=reports.QueuedPost,
    responses=errors(400, 401, 403, 404, 409, 422, 429),
)
def retry_post(channel_id: Id, post_id: Id, body: RetryIn | None = None) -> reports.QueuedPost:
    """Queue an errored (or draft) post again, now or at ``due_at``; 409 for a post in another state."""
    before = _post(channel_id, post_id)
    if not commands.retry_post(post_id, due_at=body.due_at if body else None):
        raise Conflict(f"post {post_id} is {before.status.value}: only an error or draft post is retried")
    return _post(channel_id, post_id)


@router.get(
    "/{channel_id}/repost-rules",
    response_model=list[RepostRuleOut],
    responses=errors(401, 403, 404, 422, 429),
)
def list_repost_rules(channel_id: Id) -> list[RepostRuleOut]:
    """The channel's repost rules, oldest first (the order they are tried in)."""
    with session_factory().begin() as session:
        _summary(session, channel_id)
        return [RepostRuleOut(**vars(rule)) for rule in reports.repost_rules(session, channel_id=channel_id)]


def _rule(channel_id: int, rule_id: int) -> RepostRuleOut:
    with session_factory().begin() as session:
        found = [rule for rule in reports.repost_rules(session, channel_id=channel_id) if rule.id == rule_id]
    if not found:
        raise NotFound(f"channel {channel_id} has no repost rule {rule_id}")
    return RepostRuleOut(**vars(found[0]))


@router.post(
    "/{channel_id}/repost-rules",
    status_code=201,
    response_model=RepostRuleOut,
    responses=errors(400, 401, 403, 404, 422, 429),
)
def add_repost_rule(channel_id: Id, body: RepostRuleIn) -> RepostRuleOut:
    """A repost rule for the channel (enabled)."""
    _exists(channel_id)
    rule_id = commands.add_repost_rule(channel_id, name=body.name, fields=body.rule.model_dump(mode="json"))
    return _rule(channel_id, rule_id)


@router.patch(
    "/{channel_id}/repost-rules/{rule_id}",
    response_model=RepostRuleOut,
    responses=errors(400, 401, 403, 404, 422, 429),
)
def enable_repost_rule(channel_id: Id, rule_id: Id, body: RepostRulePatch) -> RepostRuleOut:
    """Turn one of the channel's repost rules on or off."""
    _exists(channel_id)
    if not commands.enable_repost_rule(channel_id, rule_id, enabled=body.enabled):
        raise NotFound(f"channel {channel_id} has no repost rule {rule_id}")
    return _rule(channel_id, rule_id)


@router.delete(
    "/{channel_id}/repost-rules/{rule_id}", status_code=204, responses=errors(401, 403, 404, 422, 429)
)
def delete_repost_rule(channel_id: Id, rule_id: Id) -> Response:
    _exists(channel_id)
    if not commands.delete_repost_rule(channel_id, rule_id):
        raise NotFound(f"channel {channel_id} has no repost rule {rule_id}")
    return Response(status_code=204)


@router.put(
    "/{channel_id}/hashtags", response_model=HashtagRule, responses=errors(400, 401, 403, 404, 422, 429)
)
def set_hashtags(channel_id: Id, body: HashtagRule) -> HashtagRule:
    """Replace the hashtags the channel adds to its posts (added while ``hashtags_on``)."""
    _exists(channel_id)
    rule = commands.set_hashtag_rule(channel_id, body.model_dump(mode="json"))
    assert rule is not None
    return rule


@router.delete("/{channel_id}/hashtags", status_code=204, responses=errors(401, 403, 404, 422, 429))
def remove_hashtags(channel_id: Id) -> Response:
    """The channel adds no hashtags any more."""
    _exists(channel_id)
    commands.set_hashtag_rule(channel_id, None)
    return Response(status_code=204)


@router.get(
    "/{channel_id}/reposts", response_model=Page[RepostOut], responses=errors(401, 403, 404, 422, 429)
)
def repost_log(channel_id: Id, page: Annotated[PageParams, Depends(page_params)]) -> Page[RepostOut]:
    """What became of each timeline post judged for the channel, newest decision first."""
    with session_factory().begin() as session:
        _summary(session, channel_id)
        found = reposts_db.repost_log(session, channel_id=channel_id, limit=page.limit, offset=page.offset)
        items = [RepostOut.model_validate(record) for record in found]
        total = reposts_db.count_repost_log(session, channel_id=channel_id)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/{channel_id}/notifications",
    response_model=Page[NotificationOut],
    responses=errors(401, 403, 404, 422, 429),
)
def notifications(channel_id: Id, page: Annotated[PageParams, Depends(page_params)]) -> Page[NotificationOut]:
    """The channel's notifications, unread first, newest first within each."""
    with session_factory().begin() as session:
        _summary(session, channel_id)
        found = channels_db.notifications(
            session, channel_id=channel_id, limit=page.limit, offset=page.offset
        )
        items = [NotificationOut.model_validate(row) for row in found]
        total = channels_db.count_notifications(session, channel_id=channel_id)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/{channel_id}/notifications/read", response_model=Marked, responses=errors(400, 401, 403, 404, 422, 429)
)
def mark_read(channel_id: Id, body: NotificationsRead | None = None) -> Marked:
    """Mark the channel's unread notifications read (only ``ids`` when given)."""
    _exists(channel_id)
    ids = body.ids if body else None
    return Marked(marked=commands.mark_notifications_read(channel_id, ids=ids))
