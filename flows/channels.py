"""Channels (issue 9, in progress): publish the scheduled posts of every channel, each at its due time.

``publish_due_posts`` runs every minute on the ``actions`` pool: it claims the posts due within the
next minute and publishes each when it is due (not at the next tick), exactly once.

Settings used: ``SWITCHYARD_DATABASE_URL``, ``SWITCHYARD_SECRET_KEYS`` (the channels' tokens are
encrypted with them), ``SWITCHYARD_MICROBLOG__*`` (the platform's base URL, client, timeouts).
"""

from __future__ import annotations

from collections import Counter

from prefect import flow, get_run_logger

from tasks.channels_publish import PostOutcome, publish_due


@flow(flow_run_name="publish due posts")
async def publish_due_posts() -> dict[str, int]:
    """Publish every post due within the next minute at its time; say what became of them."""
    outcomes: list[PostOutcome] = await publish_due()
    totals = dict(Counter(str(outcome.result) for outcome in outcomes))
    get_run_logger().info("posts: %s", totals or "none due")
    return totals
