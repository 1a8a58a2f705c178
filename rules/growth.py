"""The rules of growth automation as plain records and functions: what an account may do, to whom, how
often and when.

No Prefect, no database and no HTTP here. The connector maps the network's answers to the records
below; the database layer stores them; the tasks ask these functions whom to skip, whom to unfollow,
whether the account is inside its working hours and which quota windows apply.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.pacing import Window
from core.timezones import check_timezone as check_timezone  # moved to core (channels use it too)

T = TypeVar("T")
USERNAME = re.compile(r"[A-Za-z0-9._]{1,30}")
HASHTAG = re.compile(r"\w{1,100}")
HOUR, DAY = 3600, 86400
CALLS = "calls"  # the limiter's action name for every server call of an account


class Action(StrEnum):
    """A side effect on the network, done by one connected account."""

    LIKE = "like"
    FOLLOW = "follow"
    UNFOLLOW = "unfollow"


class JobKind(StrEnum):
    LIKE = "like"  # like recent posts of some of the account's followers
    FOLLOW = "follow"  # follow candidates found by a source (a target account, a location, a hashtag)
    UNFOLLOW = "unfollow"  # unfollow users the account followed, by its unfollow policy


class FollowSource(StrEnum):
    """Where a follow job finds its candidates (the old ``mass_follow_acc|geo|tag``)."""

    ACCOUNT = "account"  # the followers of a target account
    LOCATION = "location"  # authors of recent posts at a location
    HASHTAG = "hashtag"  # authors of recent posts with a hashtag


class JobStatus(StrEnum):
    """``added`` → ``processing`` (collecting candidates) → ``follows`` (acting in batches) →
    ``processed``; or ``failed``, or ``paused`` by a person."""

    ADDED = "added"
    PROCESSING = "processing"
    FOLLOWS = "follows"
    PROCESSED = "processed"
    FAILED = "failed"
    PAUSED = "paused"


OPEN_JOB_STATUSES = (JobStatus.ADDED, JobStatus.PROCESSING, JobStatus.FOLLOWS, JobStatus.PAUSED)


class AccountState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # by its owner
    NEEDS_ATTENTION = "needs_attention"  # challenge or login required: a person must act


class ActionStatus(StrEnum):
    """One row of the action log: written ``pending`` before the call, so a crash leaves a trace."""

    PENDING = "pending"  # about to be sent, or sent and not yet recorded (a crash): check before again
    DONE = "done"
    UNKNOWN = "unknown"  # sent and no answer (a timeout): check the network's state before again
    FAILED = "failed"  # refused for this target for good (gone, private, …)


class TargetStatus(StrEnum):
    """A job's candidate (a user to follow or unfollow, a post to like)."""

    PENDING = "pending"  # to act on
    ACTING = "acting"  # in the batch that holds the job now
    DONE = "done"
    SKIPPED = "skipped"  # a skip rule, the blacklist, a recent interaction: the reason says which
    FAILED = "failed"  # the network refused this target for good (gone, …)


class ErrorKind(StrEnum):
    """What a failed call to the network means for the work that made it."""

    TRANSIENT = "transient"  # 5xx, connection trouble: try again later
    THROTTLED = "throttled"  # 429: back off (``retry_after``)
    BLOCKED = "blocked"  # "feedback required / action blocked": freeze that action for the account
    CHALLENGE = "challenge"  # challenge or login required: pause the account until a person acts
    NOT_FOUND = "not_found"  # the user, post, hashtag or location does not exist
    PERMANENT = "permanent"  # any other refusal of this request
    UNKNOWN_OUTCOME = "unknown_outcome"  # an action timed out: it may or may not have been applied


@dataclass(frozen=True)
class UserRef:
    """A user as lists show one (followers, followings, post authors)."""

    user_id: str
    username: str
    full_name: str = ""
    is_private: bool = False


@dataclass(frozen=True)
class Profile:
    """A user's profile snapshot."""

    user_id: str
    username: str
    full_name: str = ""
    bio: str = ""
    is_private: bool = False
    is_business: bool = False
    followers: int = 0
    followings: int = 0
    posts: int = 0

    @property
    def ref(self) -> UserRef:
        return UserRef(self.user_id, self.username, self.full_name, self.is_private)


@dataclass(frozen=True)
class Post:
    post_id: str
    owner: UserRef
    taken_at: datetime
    like_count: int = 0
    caption: str = ""
    hashtags: tuple[str, ...] = ()
    location_id: str | None = None
    has_liked: bool = False


@dataclass(frozen=True)
class Friendship:
    """The connected account's relation to another user."""

    following: bool = False
    followed_by: bool = False
    outgoing_request: bool = False  # a follow request to a private user, not yet accepted

    @property
    def follow_applied(self) -> bool:
        """A follow that took effect: followed, or requested from a private user."""
        return self.following or self.outgoing_request


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a cursor-paged list; ``next_cursor`` is None on the last."""

    items: list[T] = field(default_factory=list)
    next_cursor: str | None = None


def normalise_username(raw: str) -> str:
    """A username without a leading "@", lower-cased; ValueError if it cannot be one."""
    name = raw.strip().removeprefix("@").lower()
    if not USERNAME.fullmatch(name):
        raise ValueError(f"not a username (1–30 letters, digits, '.' or '_'): {raw!r}")
    return name


def normalise_hashtag(raw: str) -> str:
    """A hashtag without its "#", lower-cased; ValueError if it cannot be one."""
    tag = raw.strip().removeprefix("#").lower()
    if not HASHTAG.fullmatch(tag):
        raise ValueError(f"not a hashtag (letters, digits and '_'): {raw!r}")
    return tag


class Quota(BaseModel):
    """At most ``per_hour`` and ``per_day`` uses (0: none at all)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_hour: int = Field(ge=0, le=100_000)
    per_day: int = Field(ge=0, le=1_000_000)

    def windows(self) -> list[Window]:
        return [Window(self.per_hour, HOUR), Window(self.per_day, DAY)]


class SkipRules(BaseModel):
    """Whom an account never acts on (InstaPy's and GramAddict's usual filters). A bound of None is off."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    skip_private: bool = True
    skip_business: bool = False
    skip_no_posts: bool = True
    min_followers: int = Field(0, ge=0)
    max_followers: int | None = Field(10_000, ge=0)
    min_followings: int = Field(0, ge=0)
    max_followings: int | None = Field(7_500, ge=0)
    max_ratio: float | None = Field(
        5.0, gt=0, description="skip users with more than this many followers per following"
    )
    bio_keywords: tuple[str, ...] = Field((), description="skip users whose bio holds one of these words")

    @field_validator("bio_keywords", mode="before")
    @classmethod
    def _clean_keywords(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return tuple(dict.fromkeys(str(word).strip().lower() for word in value if str(word).strip()))
        return value

    @model_validator(mode="after")
    def _bounds_in_order(self) -> SkipRules:
        for low, high, name in (
            (self.min_followers, self.max_followers, "followers"),
            (self.min_followings, self.max_followings, "followings"),
        ):
            if high is not None and high < low:
                raise ValueError(f"max_{name} ({high}) is below min_{name} ({low})")
        return self


def skip_reason(profile: Profile, rules: SkipRules) -> str | None:
    """Why ``profile`` is skipped under ``rules``, or None to act on it."""
    if rules.skip_private and profile.is_private:
        return "private"
    if rules.skip_business and profile.is_business:
        return "business account"
    if rules.skip_no_posts and profile.posts == 0:
        return "no posts"
    if profile.followers < rules.min_followers:
        return f"followers {profile.followers} < {rules.min_followers}"
    if rules.max_followers is not None and profile.followers > rules.max_followers:
        return f"followers {profile.followers} > {rules.max_followers}"
    if profile.followings < rules.min_followings:
        return f"followings {profile.followings} < {rules.min_followings}"
    if rules.max_followings is not None and profile.followings > rules.max_followings:
        return f"followings {profile.followings} > {rules.max_followings}"
    if rules.max_ratio is not None and profile.followers > rules.max_ratio * max(profile.followings, 1):
        return f"follower/following ratio above {rules.max_ratio:g}"
    bio = profile.bio.lower()
    for word in rules.bio_keywords:
        if word in bio:
            return f"bio mentions {word!r}"
    return None


class UnfollowPolicy(StrEnum):
    AFTER_DAYS = "after_days"  # everyone this account followed, once ``unfollow_after_days`` have passed
    NOT_FOLLOWING_BACK = "not_following_back"  # of those, only who does not follow the account back


def unfollow_reason(
    *,
    followed_at: datetime,
    now: datetime,
    after_days: int,
    policy: UnfollowPolicy,
    follows_back: bool,
    whitelisted: bool,
) -> str | None:
    """Why a user this account followed (at ``followed_at``) is unfollowed now, or None to keep them.

    Only users the account followed through Switchyard are ever passed here: others are never unfollowed.
    """
    if whitelisted or now - followed_at < timedelta(days=after_days):
        return None
    if policy is UnfollowPolicy.NOT_FOLLOWING_BACK:
        return None if follows_back else f"not following back after {after_days} days"
    return f"followed {after_days}+ days ago"


@dataclass(frozen=True)
class WorkingHours:
    """Local hours (in ``timezone``) an account acts in: ``start`` to ``end``, overnight if ``end`` is
    earlier; equal bounds mean all day."""

    start: time
    end: time
    timezone: str = "UTC"

    def _local(self, now: datetime) -> datetime:
        return now.astimezone(ZoneInfo(self.timezone))

    def contains(self, now: datetime) -> bool:
        if self.start == self.end:
            return True
        clock = self._local(now).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end

    def next_start(self, now: datetime) -> datetime:
        """``now`` if inside the hours, else when they next begin (aware, in UTC's terms of ``now``)."""
        if self.contains(now):
            return now
        local = self._local(now)
        today = local.replace(hour=self.start.hour, minute=self.start.minute, second=0, microsecond=0)
        begins = today if today > local else today + timedelta(days=1)
        # built as wall time: re-attach the zone so a DST change on the way is honoured
        wall = datetime.combine(begins.date(), self.start, tzinfo=ZoneInfo(self.timezone))
        return wall.astimezone(now.tzinfo)


class AccountSettings(BaseModel):
    """What each connected account does, how much and when; stored as JSON on the account, changed
    at any time (running jobs read it before each action)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    like_quota: Quota = Quota(per_hour=57, per_day=585)
    follow_quota: Quota = Quota(per_hour=48, per_day=300)
    unfollow_quota: Quota = Quota(per_hour=35, per_day=402)
    calls_per_day: int = Field(4_700, ge=0, le=1_000_000, description="every server call of the account")
    min_delay: float = Field(30.0, ge=0, le=3600, description="least seconds between two actions")
    max_delay: float = Field(70.0, ge=0, le=3600, description="most seconds between two actions")
    work_from: time = time(0, 0)
    work_until: time = time(0, 0)  # equal to work_from: all day
    skip: SkipRules = SkipRules()
    blacklist: tuple[str, ...] = Field((), description="usernames never acted on")
    whitelist: tuple[str, ...] = Field((), description="usernames never unfollowed")
    recent_days: int = Field(30, ge=0, le=3650, description="never act on the same user again within this")
    unfollow_after_days: int = Field(7, ge=0, le=3650)
    unfollow_policy: UnfollowPolicy = UnfollowPolicy.NOT_FOLLOWING_BACK

    @field_validator("blacklist", "whitelist", mode="before")
    @classmethod
    def _usernames(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.replace("\n", ",").split(",")
        if isinstance(value, list | tuple):
            return tuple(dict.fromkeys(normalise_username(str(name)) for name in value if str(name).strip()))
        return value

    @model_validator(mode="after")
    def _delays_in_order(self) -> AccountSettings:
        if self.max_delay < self.min_delay:
            raise ValueError(f"max_delay ({self.max_delay:g} s) is below min_delay ({self.min_delay:g} s)")
        return self

    def quota(self, action: Action) -> Quota:
        quotas = {Action.LIKE: self.like_quota, Action.FOLLOW: self.follow_quota}
        return quotas.get(action, self.unfollow_quota)

    def calls_windows(self) -> list[Window]:
        return [Window(self.calls_per_day, DAY)]

    def hours(self, timezone: str) -> WorkingHours:
        return WorkingHours(self.work_from, self.work_until, timezone)

    def delay(self, rng: random.Random) -> float:
        """A random pause between two actions, within the account's bounds."""
        return rng.uniform(self.min_delay, self.max_delay)
