"""Every model, imported in one place so that Alembic and the tests see the whole schema."""

from db.api_keys import ApiKey, IdempotentAnswer
from db.briefs import Brief, BriefAccount, BriefArticle, BriefSearch
from db.channels.models import (
    Channel,
    ChannelNotification,
    ChannelToken,
    HashtagRule,
    PendingConnect,
    RepostRecord,
    RepostRule,
    ScheduledPost,
    TimelineWatermark,
    TimeSlot,
)
from db.growth.models import (
    Account,
    AccountDetails,
    ActionRecord,
    Cooldown,
    DailyStat,
    Edge,
    FollowerCount,
    Job,
    LogicConfig,
    NetworkUser,
    Notice,
    Target,
)
from db.limits import LimitWindow
from db.mailing import Client, Mailing, Message
from db.reports import DailyReport
from db.webpages import CountRequest, PageJob

__all__ = [
    "Account",
    "AccountDetails",
    "ActionRecord",
    "ApiKey",
    "Brief",
    "BriefAccount",
    "BriefArticle",
    "BriefSearch",
    "Channel",
    "ChannelNotification",
    "ChannelToken",
    "Client",
    "Cooldown",
    "CountRequest",
    "DailyReport",
    "DailyStat",
    "Edge",
    "FollowerCount",
    "HashtagRule",
    "IdempotentAnswer",
    "Job",
    "LimitWindow",
    "LogicConfig",
    "Mailing",
    "Message",
    "NetworkUser",
    "Notice",
    "PageJob",
    "PendingConnect",
    "RepostRecord",
    "RepostRule",
    "ScheduledPost",
    "Target",
    "TimeSlot",
    "TimelineWatermark",
]
