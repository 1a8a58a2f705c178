"""A stand-in for the photo network the growth domain acts on, shaped like its private v1 API.

Mounted at ``/network``. ``POST /api/v1/accounts/login`` with ``{"username", "password"}`` (any user,
password ``config.network_password``) answers a session; every other ``/api/v1`` call needs
``Authorization: Bearer <session>`` (else 403 ``login_required``). Users, followers, followings,
posts and the hashtag and location feeds are computed from ``config.seed`` (`graph`); follows, likes,
removed followers, challenges and block budgets are an overlay on the app (`world`, at
``app.state.network``). Every answer is JSON with ``"status": "ok" | "fail"``, except injected 5xx.

Knobs, read on each request: ``network_latency_ms`` delays every call; one draw of ``app.state.rng``
per call answers HTTP 500, 429 (``Retry-After: 1``) or 400 ``challenge_required`` by the
``network_error_rate``, ``network_throttle_rate`` and ``network_challenge_rate`` shares in that order,
and for a like, follow or unfollow the next ``network_timeout_rate`` share applies the action and never
answers. After ``network_block_after`` likes (follows, unfollows) an account's every further one
answers 400 ``feedback_required`` (0: off; per account: ``PUT _control/accounts/{username}/block_budget``).

Control, no session needed: ``POST _control/reset``; ``POST _control/accounts/{username}/``
``remove_followers`` or ``add_followers`` with ``{"count": N}``; ``POST|DELETE …/challenge``;
``POST …/revoke``; ``PUT …/block_budget`` ``{"budget": N | null}``. Counters: ``GET _counters``
(per-account totals of received, applied and duplicate actions, and every target with duplicates),
``DELETE _counters``, ``GET _counters/{username}/{action}/{target}``.
"""

from sandbox.network.api import create_router
from sandbox.network.graph import CATALOG, HASHTAGS, LOCATIONS, Graph, Location, User, graph

__all__ = ["CATALOG", "HASHTAGS", "LOCATIONS", "Graph", "Location", "User", "create_router", "graph"]
