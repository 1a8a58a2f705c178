"""Channels (connected microblog accounts), their scheduled posts, repost and hashtag rules, repost
log and notifications, as the API takes and gives them. The rule bodies are the rules module's own
models (``rules.channels``), validated again by the commands."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.schemas.common import UtcDatetime, text
from db.channels.models import ChannelState, RepostStatus
from rules.channels import MAX_WEIGHTED_LENGTH, HashtagRule, RepostRule, weighted_length

PostText = Annotated[str, text(2000, 1)]
RuleName = Annotated[str, text(100, 1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChannelOut(BaseModel):
    id: int
    owner: str
    screen_name: str
    platform_user_id: str
    timezone: str
    state: ChannelState
    state_reason: str | None
    scheduling_on: bool
    reposting_on: bool
    hashtags_on: bool
    queued: int = Field(description="posts waiting for their time")
    errors: int = Field(description="posts that failed, a person may retry them")
    next_due: datetime | None
    unread: int = Field(description="unread notifications")
    token_expires_at: datetime | None


class ChannelDetail(ChannelOut):
    slots: list[time] = Field(description="posting times, in the channel's time zone")
    hashtags: HashtagRule | None = Field(description="the hashtags added to its posts (when hashtags_on)")


class ChannelPatch(Strict):
    """Only the fields given change."""

    scheduling_on: bool | None = Field(None, description="publish scheduled posts")
    reposting_on: bool | None = Field(None, description="repost timeline posts its rules let through")
    hashtags_on: bool | None = Field(None, description="add its hashtags to outgoing posts")
    state: Literal["running", "stopped"] | None = Field(
        None, description="stop all its work, or start it again (an unauthorised one must be connected again)"
    )


class PostIn(Strict):
    text: PostText = Field(
        description=f"at most {MAX_WEIGHTED_LENGTH} weighted (hashtags are added only as far as they fit)"
    )
    due_at: UtcDatetime | None = Field(
        None, description="when to publish; none: the channel's next free slot"
    )

    @field_validator("text")
    @classmethod
    def _fits(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the post is empty")
        length = weighted_length(value.strip())
        if length > MAX_WEIGHTED_LENGTH:
            raise ValueError(f"the post is {length} long, weighted: at most {MAX_WEIGHTED_LENGTH}")
        return value


class Preview(BaseModel):
    text: str = Field(description="the text as it would go out now, hashtags added")
    weighted: int = Field(description="its weighted length")
    added: list[str] = Field(description="the hashtags added")


class PostScheduled(BaseModel):
    id: int
    channel: str
    due_at: datetime
    from_slot: bool
    preview: Preview


class RetryIn(Strict):
    due_at: UtcDatetime | None = Field(None, description="when to try again; none: now")


class RepostRuleIn(Strict):
    name: RuleName
    rule: RepostRule


class RepostRuleOut(BaseModel):
    id: int
    name: str
    enabled: bool
    rule: RepostRule
    created_at: datetime


class RepostRulePatch(Strict):
    enabled: bool


class RepostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source_post_id: str
    author: str
    status: RepostStatus
    reason: str | None
    decided_at: datetime
    reposted_at: datetime | None


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    level: str
    text: str
    created_at: datetime
    read_at: datetime | None


class NotificationsRead(Strict):
    ids: list[Annotated[int, Field(ge=1, le=2_147_483_647)]] | None = Field(
        None, max_length=1000, description="only these; none: all the channel's unread ones"
    )


class Marked(BaseModel):
    marked: int = Field(description="notifications marked read now")
