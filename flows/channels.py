"""Channels: publish the scheduled posts of every channel, each at its due time,
and repost what passes each channel's filters.

``publish_due_posts`` runs every minute on the ``actions`` pool: it claims the posts due within the
next minute and publishes each when it is due (not at the next tick), exactly once.
``poll_and_repost`` runs every minute on ``actions``: each reposting channel's home timeline is read
since its watermark, judged by its rules, and what passes is reposted once, within the limits
(``SWITCHYARD_CHANNELS__POLLS_AT_ONCE`` channels side by side, ``__POSTS_PER_POLL`` posts each).
``refresh_tokens`` runs every ten minutes: tokens ending within 20 minutes are refreshed; a refused
refresh stops the channel with a notification.

Settings used: ``SWITCHYARD_DATABASE_URL``, ``SWITCHYARD_SECRET_KEYS`` (the channels' tokens are
encrypted with them), ``SWITCHYARD_MICROBLOG__*`` (the platform's base URL, client, timeouts).
"""

from __future__ import annotations

from collections import Counter

from prefect import flow, get_run_logger

from tasks.channels_publish import PostOutcome, publish_due
from tasks.channels_reposts import Tally, poll_and_repost_channels
from tasks.channels_tokens import Refreshed, refresh_expiring


@flow(flow_run_name="publish due posts")
async def publish_due_posts() -> dict[str, int]:
    """Publish every post due within the next minute at its time; say what became of them."""
    outcomes: list[PostOutcome] = await publish_due()
    totals = dict(Counter(str(outcome.result) for outcome in outcomes))
    get_run_logger().info("posts: %s", totals or "none due")
    return totals


@flow(flow_run_name="refresh channel tokens")
async def refresh_tokens() -> dict[str, int]:
    """Refresh the channels' tokens before they expire."""
    results: list[Refreshed] = await refresh_expiring()
    for result in results:
        if not result.ok:
            get_run_logger().warning("channel %s: %s", result.channel_id, result.detail)
    return {"refreshed": sum(r.ok for r in results), "failed": sum(not r.ok for r in results)}


@flow(flow_run_name="poll timelines and repost")
async def poll_and_repost() -> dict[str, int]:
    """Poll every reposting channel's timeline and repost what its rules let through, once each."""
    tallies: list[Tally] = await poll_and_repost_channels()
    totals = {
        "channels": len(tallies),
        "read": sum(t.read for t in tallies),
        "reposted": sum(t.reposted for t in tallies),
        "waiting": sum(t.waiting for t in tallies),
        "skipped": sum(t.skipped for t in tallies),
        "failed": sum(t.failed for t in tallies),
        "limited": sum(t.limited for t in tallies),
    }
    get_run_logger().info("reposts: %s", totals if tallies else "no channel to poll")
    for tally in tallies:
        if tally.detail:
            get_run_logger().warning("channel %s: %s", tally.screen_name or tally.channel_id, tally.detail)
    return totals
