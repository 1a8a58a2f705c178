"""The microblog channels post to (X API v2 in shape): one interface (``base.Microblog``), an HTTP
client (``http.microblog_client``), OAuth 2.0 with PKCE (``oauth``) and the pure readers of its
answers (``answers``)."""

from connectors.microblog.base import (
    ErrorKind,
    Microblog,
    MicroblogError,
    PostMade,
    RateLimit,
    TimelinePage,
    TimelinePost,
    Tokens,
    User,
)
from connectors.microblog.http import HttpMicroblog, microblog_client

__all__ = [
    "ErrorKind",
    "HttpMicroblog",
    "Microblog",
    "MicroblogError",
    "PostMade",
    "RateLimit",
    "TimelinePage",
    "TimelinePost",
    "Tokens",
    "User",
    "microblog_client",
]
