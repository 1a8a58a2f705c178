"""Growth accounts (connected to the photo network), their jobs, stats and notices, as the API takes
and gives them. Settings are the rules module's own model (``rules.growth.AccountSettings``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from api.schemas.common import text
from rules.growth import AccountSettings, AccountState, FollowSource, JobKind

Name = Annotated[str, text(64, 1)]
Timezone = Annotated[str, text(64, 1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BlockOut(BaseModel):
    action: str
    until: datetime
    reason: str


class AccountOut(BaseModel):
    id: int
    owner: str
    username: str
    state: AccountState
    state_reason: str | None
    likes_on: bool
    follows_on: bool
    unfollows_on: bool
    timezone: str
    followers: int | None
    followings: int | None
    posts: int | None
    last_synced_at: datetime | None
    last_sync_error: str | None
    open_jobs: int
    blocks: list[BlockOut] = Field(description="actions blocked by the network now, until when")


class AccountDetail(AccountOut):
    settings: AccountSettings


class AccountIn(Strict):
    owner: Name
    username: Name = Field(description="the account on the network")
    password: SecretStr = Field(
        min_length=1, max_length=256, description="used once to log in; never stored, echoed nor logged"
    )
    timezone: Timezone = "UTC"
    likes_on: bool = False
    follows_on: bool = False
    unfollows_on: bool = False


class AccountAdded(BaseModel):
    id: int
    username: str
    user_id: str
    run: str = Field(description="what happened to its first sync run, in words")


class AccountPatch(Strict):
    """Only the fields given change; ``settings`` holds the settings to change (nested ones too)."""

    settings: dict[str, Any] | None = Field(
        None, description='changes to its settings, e.g. {"like_quota": {"per_hour": 5}}'
    )
    timezone: Timezone | None = None
    likes_on: bool | None = None
    follows_on: bool | None = None
    unfollows_on: bool | None = None


class ResumeIn(Strict):
    password: SecretStr | None = Field(
        None, max_length=256, description="for an account that needs attention: logs it in again"
    )


class AccountMoved(BaseModel):
    id: int
    state: AccountState
    changed: bool = Field(description="false when it was not in the state to move from")


class FollowJobIn(Strict):
    source: FollowSource = Field(description="account: its followers; hashtag or location: recent posters")
    target: Annotated[str, text(100, 1)] = Field(description="the account, hashtag or location id")
    count: int = Field(ge=1, le=10_000, description="how many candidates to follow")


class LikeJobIn(Strict):
    pass


class JobCreated(BaseModel):
    id: int
    account: str
    kind: JobKind
    description: str
    run: str = Field(description="what happened to the run that plans it, in words")


class DayStat(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    day: date
    action: str
    done: int
    failed: int
    skipped: int


class FollowerPoint(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    followers: int
    followings: int
    posts: int


class QuotaOut(BaseModel):
    action: str
    hour_used: int
    hour_limit: int
    day_used: int
    day_limit: int


class AccountStats(BaseModel):
    actions_per_day: list[DayStat] = Field(description="the last `days` days, oldest first")
    followers: list[FollowerPoint] = Field(description="follower counts, one per sync, oldest first")
    skip_reasons: dict[str, int] = Field(description="candidates skipped, by reason, most first")
    quota_use: list[QuotaOut] = Field(description="uses in the current hour and day, against the limits")


class NoticeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    owner: str
    account_id: int | None
    level: str
    text: str
    created_at: datetime
    read_at: datetime | None
