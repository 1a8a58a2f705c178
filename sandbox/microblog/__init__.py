"""A stand-in for the microblog channels post to, shaped like X API v2 and its OAuth 2.0 with PKCE.

Mounted at ``/microblog``. OAuth: ``GET oauth2/authorize`` (``response_type=code``, ``client_id``,
``redirect_uri``, ``scope``, ``state``, ``code_challenge``, ``code_challenge_method=S256|plain``) needs
no login page: it answers 302 to ``redirect_uri?state=…&code=…`` for the channel ``login_hint``
(default ``demo_brand``; ``decision=deny`` answers ``error=access_denied``); codes last 30 s.
``POST oauth2/token`` (form; the client in a Basic header, or a public client by ``client_id``):
``grant_type=authorization_code`` with ``code``, ``redirect_uri``, ``code_verifier`` (checked against
the challenge), or ``grant_type=refresh_token``: ``{"token_type": "bearer", "access_token",
"refresh_token" (with offline.access only), "expires_in", "scope"}``; every refresh rotates the refresh
token (the old one is refused). ``POST oauth2/revoke`` (``token``) ends the token's whole grant.
Refusals are OAuth errors: 400 ``{"error": "invalid_request", "error_description"}``, 401
``unauthorized_client``.

API (``Authorization: Bearer <access token>``, else 401 problem): ``GET 2/users/me``,
``2/users/by/username/{username}``, ``2/users/{id}`` (an unknown user: HTTP 200 with an ``errors``
list, as X answers); ``GET 2/users/{id}/timelines/reverse_chronological`` (``since_id``, ``until_id``,
``max_results`` 1–100, ``pagination_token``, ``tweet.fields``, ``expansions=author_id``): the followed
authors' posts (`catalog`), the channel's own posts and reposts and posts control added, newest
first, a day back; ``GET 2/users/{id}/tweets`` (``start_time``, ``max_results`` 5–100): the channel's
own; ``POST 2/tweets`` ``{"text"}`` → 201 (the same text as one of the channel's posts of the last
day: 403 problem "…duplicate content."; over 280 weighted characters: 400); ``POST
2/users/{id}/retweets`` ``{"tweet_id"}`` → ``{"data": {"retweeted": true}}``, also for a post already
reposted (X's v2 answer; knob ``microblog_repost_again=forbidden``: 403 "You have already retweeted
this Tweet."); a repost of a repost reposts the original; an unknown post: 404 ``errors`` list.
``GET 2/tweets?ids=…`` (1–100 ids, ``tweet.fields``, ``expansions=author_id``): the posts found in
``data``, one resource-not-found item in ``errors`` per id that is not there (group ``lookup``).

Rate limits per user and group, fixed windows of ``microblog_window_seconds`` from the first call:
``posts`` (``microblog_post_limit``), ``reposts`` (``microblog_repost_limit``), and each read group
``timeline``, ``users``, ``own_posts``, ``lookup`` (``microblog_read_limit``); posts and reposts
together also count against ``shared`` (``microblog_shared_limit`` per
``microblog_shared_window_seconds``). Every authenticated answer carries ``x-rate-limit-limit``,
``-remaining`` and ``-reset`` (Unix seconds) of its group, or of the shared window when that has
fewer left; past a limit: 429 problem until the reset.

Knobs, read on each request: ``microblog_latency_ms``; one draw of ``app.state.rng`` per call after the
limits: ``microblog_error_rate`` → 503 and ``microblog_timeout_rate`` → no answer (neither applied),
then for posts and reposts ``microblog_applied_error_rate`` → applied, then 503, and
``microblog_applied_timeout_rate`` → applied, never answered; ``microblog_token_seconds``,
``microblog_posts_per_minute`` (of a home timeline; the authors' streams follow from it and the seed),
``microblog_client_id`` / ``_secret``. The token endpoint draws ``microblog_error_rate`` only. The
sandbox clock (`World.now`, moved by control) drives timelines, tokens, codes and windows, so a
``x-rate-limit-reset`` is in its Unix seconds. A 401 carries no rate-limit headers.

Control, no token: ``POST _control/reset`` (posts, reposts, windows, limits, counters, clock; grants
stay), ``GET|POST _control/clock`` ``{"advance": seconds}``, ``POST _control/users/{username}/revoke``,
``POST _control/users/{username}/timeline`` ``{"count": N}`` or ``{"posts": [{"text", "author",
"lang"}]}``, ``PUT _control/users/{username}/limits`` ``{"posts": N | null, …}``, ``PUT
_control/posts/{id}/likes`` ``{"likes": N}`` (added to what a seeded post's age gives it). Counters: ``GET
_counters`` (per user: posts and reposts received, applied, duplicates, limited; every post reposted
more than once), ``DELETE _counters``, ``GET _counters/{username}``.
"""

from sandbox.microblog.api import create_router
from sandbox.microblog.catalog import AUTHORS, CHANNELS, User, streams, user_by_username

__all__ = ["AUTHORS", "CHANNELS", "User", "create_router", "streams", "user_by_username"]
