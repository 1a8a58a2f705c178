"""Stand-ins for the five content platforms' keyword search APIs, each in its own answer shape.

Mounted at ``/platforms``; ``GET /platforms/{name}{path}`` with the key ``config.platform_key`` in the
``X-API-Key`` header (else HTTP 401 in the platform's own error envelope). Every keyword finds
``config.platform_articles`` articles per platform, newest first, generated deterministically from
(``config.seed``, platform, keyword, index) with post times over the 30 days before today (UTC). Pages
hold at most 50 items; an optional time window (``since <= post_time < until``) is honoured.

Knobs, read on each request: ``platform_latency_ms`` delays every answer; one draw of ``app.state.rng``
per search answers HTTP 500, HTTP 429 (``Retry-After: 1``) or never, by the ``platform_error_rate``,
``platform_throttle_rate`` and ``platform_timeout_rate`` shares in that order;
``platform_malformed_rate`` of the items (always the same ones) come with a missing id, an unreadable
count or an unreadable post time. `expected_articles` and `expected_counts` say what a search finds.

Fault knobs: see `sandbox/faults.py`. `catalogue` (the generated articles), `shapes` (each
platform's answer shapes), `search` (the endpoints); `create_router`, `expected_articles` and
`expected_counts` are importable from ``sandbox.platforms``.
"""

from sandbox.platforms.catalogue import catalogue, expected_articles, expected_counts
from sandbox.platforms.search import create_router

__all__ = ["catalogue", "create_router", "expected_articles", "expected_counts"]
