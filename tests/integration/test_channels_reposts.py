"""Automatic reposts against the sandbox's microblog (issue 9), on SQLite and PostgreSQL: a poll
reposts what passes and says why the rest is skipped; the watermark; waiting for likes; two polls at
once and a lost run repost each post once (counted at the sandbox); a 429 holds every worker until the
reset, with one notification; a revoked token; the rule tester."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from commands import channels as commands
from connectors.microblog import microblog_client
from core.settings import get_settings
from db.channels import channels
from db.channels import reposts as reposts_db
from db.channels.models import Channel, ChannelNotification, ChannelState, RepostRecord, RepostStatus
from db.channels.reposts import Judged
from db.engine import session_factory
from rules.channels import Outcome
from tasks.channels_reposts import Tally, poll_claimed
from tests.conftest import ConfigureSandbox
from tests.integration import test_channels_publish as publishing
from tests.integration.test_channels_publish import _connect, counters

microblog = publishing.microblog  # the fixture: the sandbox's microblog, reset, in the settings
Sessions = sessionmaker[Session]
USER = "demo_brand"


def _reposting(rule: dict[str, Any] | None = None) -> int:
    """demo_brand connected, reposting on, with one rule (by default: English posts about zebras)."""
    channel_id = _connect(USER)
    with session_factory().begin() as session:
        session.get(Channel, channel_id).reposting_on = True
    commands.add_repost_rule(USER, name="zebras", fields=rule or {"keywords": ["zebra"], "languages": ["en"]})
    return channel_id


def _add(base: str, *posts: dict[str, Any]) -> list[str]:
    answer = httpx.post(f"{base}/_control/users/{USER}/timeline", json={"posts": list(posts)})
    answer.raise_for_status()
    return answer.json()["ids"]


def _poll() -> Tally:
    tallies = asyncio.run(poll_claimed(100))
    assert len(tallies) <= 1
    return tallies[0] if tallies else Tally(0)


def _log(channel_id: int) -> dict[str, RepostRecord]:
    with session_factory().begin() as session:
        rows = reposts_db.repost_log(session, channel_id=channel_id, limit=1000)
        session.expunge_all()
    return {row.source_post_id: row for row in rows}


def _notes(channel_id: int) -> list[str]:
    with session_factory().begin() as session:
        return list(
            session.scalars(
                select(ChannelNotification.text).where(ChannelNotification.channel_id == channel_id)
            )
        )


def test_a_poll_reposts_what_passes_and_records_why_the_rest_is_skipped(
    microblog: str, sessions: Sessions
) -> None:
    channel_id = _reposting()
    zebra, french, other = _add(
        microblog,
        {"text": "A zebra crossing downtown", "author": "tech_daily", "lang": "en"},
        {"text": "Un zebra au zoo", "author": "cinema_fr", "lang": "fr"},
        {"text": "Nothing about stripes", "author": "tech_daily", "lang": "en"},
    )
    tally = _poll()
    assert tally.reposted == 1 and tally.read >= 3 and tally.skipped == tally.read - 1
    log = _log(channel_id)
    assert log[zebra].status is RepostStatus.REPOSTED and log[zebra].reposted_at is not None
    assert log[french].status is RepostStatus.SKIPPED and "language 'fr'" in log[french].reason
    assert log[other].status is RepostStatus.SKIPPED and "required keywords" in log[other].reason
    count = counters(microblog)["reposts"]
    assert (count["received"], count["applied"], count["duplicates"]) == (1, 1, 0)


def test_the_watermark_moves_and_the_next_poll_reads_only_newer_posts(
    microblog: str, sessions: Sessions
) -> None:
    channel_id = _reposting()
    first = _poll()
    assert first.read > 0  # the newest page only, however long the timeline
    with session_factory().begin() as session:
        mark = reposts_db.watermark(session, channel_id=channel_id)
    assert mark is not None
    (new,) = _add(microblog, {"text": "zebra news", "author": "tech_daily", "lang": "en"})
    second = _poll()
    log = _log(channel_id)
    newer = [pid for pid in log if int(pid) > int(mark)]
    assert second.read == len(newer) and new in newer and second.reposted == 1
    with session_factory().begin() as session:
        assert reposts_db.watermark(session, channel_id=channel_id) == max(newer, key=int)
    third = _poll()  # the channel's own repost is newer (and any new seeded post): skipped, none sent again
    assert third.read >= 1 and third.reposted == 0
    own = [row for pid, row in _log(channel_id).items() if int(pid) > int(max(newer, key=int))]
    assert "the channel's own post" in [row.reason for row in own]
    assert counters(microblog)["reposts"]["applied"] == 1


def test_a_waiting_post_is_reposted_once_it_has_the_likes(microblog: str, sessions: Sessions) -> None:
    channel_id = _reposting({"keywords": ["zebra"], "wait_for_likes": 10})
    (post,) = _add(microblog, {"text": "zebra foal born", "author": "tech_daily", "lang": "en"})
    assert _poll().waiting >= 1
    assert _log(channel_id)[post].status is RepostStatus.WAITING
    assert _poll().reposted == 0  # judged again, still too few likes
    httpx.put(f"{microblog}/_control/posts/{post}/likes", json={"likes": 12}).raise_for_status()
    assert _poll().reposted == 1
    row = _log(channel_id)[post]
    assert row.status is RepostStatus.REPOSTED and row.reason == "reached 10 likes"
    assert _poll().reposted == 0 and counters(microblog)["reposts"]["applied"] == 1


def test_two_polls_at_once_repost_each_post_once(microblog: str, sessions: Sessions) -> None:
    channel_id = _reposting()
    _poll()  # the watermark
    ids = _add(microblog, *({"text": f"zebra {n}", "author": "tech_daily", "lang": "en"} for n in range(20)))

    async def both() -> list[list[Tally]]:
        return await asyncio.gather(poll_claimed(100), poll_claimed(100), poll_claimed(100))

    results = asyncio.run(both())
    assert sum(len(tallies) for tallies in results) == 1  # one run held the channel
    log = _log(channel_id)
    assert all(log[pid].status is RepostStatus.REPOSTED for pid in ids)
    count = counters(microblog)["reposts"]
    assert (count["received"], count["applied"], count["duplicates"]) == (20, 20, 0)
    assert httpx.get(f"{microblog}/_counters").json()["reposts_received_again"] == []


@pytest.mark.parametrize("again", ["ok", "forbidden"])
def test_a_repost_sent_by_a_lost_run_is_not_applied_twice(
    microblog: str, sessions: Sessions, configure_sandbox: ConfigureSandbox, again: str
) -> None:
    configure_sandbox(microblog_repost_again=again)
    channel_id = _reposting()
    _poll()
    (post,) = _add(microblog, {"text": "zebra lost", "author": "tech_daily", "lang": "en"})
    # the lost run: the intent written, the repost sent and applied, then the worker died
    with session_factory().begin() as session:
        judged = [Judged(post, "tech_daily", RepostStatus.PENDING, "passes every filter")]
        assert reposts_db.record_judgements(session, channel_id=channel_id, judged=judged) == [post]
        token = channels.tokens_of(session, channel_id=channel_id).access_token

    async def send() -> None:
        async with microblog_client(get_settings().microblog, token) as client:
            await client.repost("1001", post)

    asyncio.run(send())
    tally = _poll()
    assert tally.reposted == 1 and _log(channel_id)[post].status is RepostStatus.REPOSTED
    count = counters(microblog)["reposts"]
    assert (count["received"], count["applied"], count["duplicates"]) == (2, 1, 1)
    assert _poll().reposted == 0 and counters(microblog)["reposts"]["received"] == 2


def test_a_429_stops_the_channel_until_the_reset_for_every_worker(microblog: str, sessions: Sessions) -> None:
    channel_id = _reposting()
    _poll()
    httpx.put(f"{microblog}/_control/users/{USER}/limits", json={"reposts": 2}).raise_for_status()
    spent = _add(microblog, *({"text": f"other {n}", "author": "tech_daily"} for n in range(2)))
    with session_factory().begin() as session:
        token = channels.tokens_of(session, channel_id=channel_id).access_token

    async def elsewhere() -> None:  # another tool spends the window: our poll only learns it from a 429
        async with microblog_client(get_settings().microblog, token) as client:
            for post_id in spent:
                await client.repost("1001", post_id)

    asyncio.run(elsewhere())
    ids = _add(microblog, *({"text": f"zebra {n}", "author": "tech_daily", "lang": "en"} for n in range(3)))
    tally = _poll()
    assert tally.limited and tally.reposted == 0 and tally.left_pending == 3
    assert counters(microblog)["reposts"]["limited"] == 1
    again = _poll()  # another worker, another run: it waits for the reset without asking
    assert again.limited and again.reposted == 0
    count = counters(microblog)["reposts"]
    assert (count["received"], count["limited"]) == (3, 1)
    log = _log(channel_id)
    assert all(log[pid].status is RepostStatus.PENDING for pid in ids)
    notes = [text for text in _notes(channel_id) if "limit reached" in text]
    assert len(notes) == 1 and notes[0].startswith("reposts limit reached: 3 reposts wait until")


def test_a_revoked_token_makes_the_channel_unauthorised_with_a_notification(
    microblog: str, sessions: Sessions
) -> None:
    channel_id = _reposting()
    _add(microblog, {"text": "zebra never", "author": "tech_daily", "lang": "en"})
    httpx.post(f"{microblog}/_control/users/{USER}/revoke").raise_for_status()
    tally = _poll()
    assert tally.reposted == 0 and "unauthorised" in tally.detail
    with session_factory().begin() as session:
        assert session.get(Channel, channel_id).state is ChannelState.UNAUTHORISED
        assert channels.unread_count(session, channel_id=channel_id) == 1
    assert asyncio.run(poll_claimed(100)) == []  # an unauthorised channel is not polled
    assert counters(microblog)["reposts"]["received"] == 0


def test_try_rules_says_what_would_be_reposted_and_why_and_refuses_a_bad_rule(
    microblog: str, sessions: Sessions
) -> None:
    channel_id = _reposting()
    zebra, french = _add(
        microblog,
        {"text": "A zebra crossing", "author": "tech_daily", "lang": "en"},
        {"text": "Un zebra", "author": "cinema_fr", "lang": "fr"},
    )
    tried = {post.post_id: post for post in commands.try_rules(USER, limit=50)}
    assert len(tried) == 50
    assert tried[zebra].outcome is Outcome.REPOST and tried[zebra].author == "tech_daily"
    assert tried[french].outcome is Outcome.NEVER and "language 'fr'" in tried[french].reason
    unsaved = {
        post.post_id: post for post in commands.try_rules(channel_id, {"keywords": ["zebra"]}, limit=10)
    }
    assert unsaved[french].outcome is Outcome.REPOST and unsaved[french].lang == "fr"
    with pytest.raises(ValueError, match="languages") as bad:
        commands.try_rules(USER, {"languages": ["xx"]})
    assert "unknown language 'xx'" in str(bad.value)
    assert _log(channel_id) == {}  # trying stores nothing
    assert counters(microblog)["reposts"]["received"] == 0


def test_the_flow_polls_and_reports(microblog: str, sessions: Sessions, prefect_harness: None) -> None:
    from flows.channels import poll_and_repost

    _reposting()
    _add(microblog, {"text": "zebra flow", "author": "tech_daily", "lang": "en"})
    totals = asyncio.run(poll_and_repost())
    assert totals["channels"] == 1 and totals["reposted"] == 1 and totals["read"] >= 1
