"""Connecting a channel against the sandbox's microblog (OAuth 2.0 with PKCE), on SQLite and
PostgreSQL: begun in one call and finished in another from the callback URL alone; an unknown, used,
expired or refused authorisation stores nothing; a reconnect replaces the tokens and runs the channel
again; no token or verifier ever shows."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from commands import channels as commands
from db.base import utcnow
from db.channels import channels, reposts
from db.channels.models import Channel, ChannelState, ChannelToken, PendingConnect, ScheduledPost
from tests.conftest import consent

Sessions = sessionmaker[Session]
CALLBACK = "http://127.0.0.1:9/callback"  # never fetched: the test reads the sandbox's redirect


def count(sessions: Sessions, model: type) -> int:
    with sessions.begin() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_channel_connects_in_two_steps_and_no_secret_shows(microblog: str, sessions: Sessions) -> None:
    url = commands.begin_connect(" ann ", "Europe/Moscow", CALLBACK, login_hint="demo_cafe")
    assert count(sessions, PendingConnect) == 1
    with sessions.begin() as session:
        row = session.scalars(select(PendingConnect)).one()
        state = parse_qs(urlsplit(url).query)["state"][0]
        assert state not in (row.state_hash, row.code_verifier)  # hashed, encrypted
    connected = commands.finish_connect(consent(url))
    assert connected == commands.ConnectedChannel(
        connected.id, "demo_cafe", "1002", "ann", "Europe/Moscow", reconnected=False
    )
    assert count(sessions, PendingConnect) == 0
    with sessions.begin() as session:
        tokens = channels.tokens_of(session, channel_id=connected.id)
        stored = session.get(ChannelToken, connected.id)
        assert tokens.access_token not in (stored.access_token, stored.refresh_token)
    for secret in (tokens.access_token, tokens.refresh_token):
        assert secret and secret not in repr(connected) and secret not in repr(tokens)


def test_unknown_used_and_expired_authorisations_are_refused(microblog: str, sessions: Sessions) -> None:
    with pytest.raises(ValueError, match="no state"):
        commands.finish_connect(f"{CALLBACK}?code=abc")
    with pytest.raises(ValueError, match="unknown or was used"):
        commands.finish_connect(f"{CALLBACK}?code=abc&state=made-up")
    url = commands.begin_connect("ann", "UTC", CALLBACK)
    callback = consent(url)
    commands.finish_connect(callback)
    with pytest.raises(ValueError, match="unknown or was used"):
        commands.finish_connect(callback)  # the same callback again
    late = commands.begin_connect("ann", "UTC", CALLBACK, login_hint="demo_books")
    with sessions.begin() as session:
        session.execute(update(PendingConnect).values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(ValueError, match="expired"):
        commands.finish_connect(consent(late))
    assert count(sessions, Channel) == 1


def test_a_wrong_state_or_a_refusal_stores_nothing(microblog: str, sessions: Sessions) -> None:
    url = commands.begin_connect("ann", "UTC", CALLBACK)
    callback = consent(url)
    wrong = callback.replace("state=", "state=x")
    with pytest.raises(ValueError, match="unknown or was used"):
        commands.finish_connect(wrong)
    refused = commands.begin_connect("ann", "UTC", CALLBACK)
    with pytest.raises(ValueError, match=r"refused \(access_denied\)"):
        commands.finish_connect(consent(refused, deny=True))
    assert count(sessions, Channel) == 0
    with pytest.raises(ValueError, match="unknown or was used"):  # a refusal uses it up too
        commands.finish_connect(consent(refused))
    assert count(sessions, PendingConnect) == 1  # the first one, still waiting for its callback


def test_bad_input_is_refused_before_anything_is_stored(microblog: str, sessions: Sessions) -> None:
    for args, message in (
        (("ann", "Mars/Olympus", CALLBACK), "unknown time zone"),
        (("  ", "UTC", CALLBACK), "owner"),
        (("x" * 65, "UTC", CALLBACK), "owner"),
        (("ann", "UTC", "ftp://127.0.0.1/cb"), "redirect URI"),
    ):
        with pytest.raises(ValueError, match=message):
            commands.begin_connect(*args)
    assert count(sessions, PendingConnect) == 0


def test_a_reconnect_replaces_the_tokens_and_runs_the_channel_again(
    microblog: str, sessions: Sessions
) -> None:
    first = commands.finish_connect(consent(commands.begin_connect("ann", "UTC", CALLBACK)))
    with sessions.begin() as session:
        old = channels.tokens_of(session, channel_id=first.id).access_token
        channels.unauthorised(session, channel_id=first.id, reason="401 from the platform")
    again = commands.finish_connect(
        consent(commands.begin_connect("bob", "Asia/Tokyo", CALLBACK, login_hint="demo_brand"))
    )
    assert (again.id, again.reconnected, again.owner, again.timezone) == (first.id, True, "ann", "Asia/Tokyo")
    with sessions.begin() as session:
        assert session.get(Channel, first.id).state is ChannelState.RUNNING
        assert channels.tokens_of(session, channel_id=first.id).access_token != old
    assert count(sessions, Channel) == 1


def test_the_demo_connects_two_channels_with_slots_rules_and_posts(
    microblog: str, sessions: Sessions
) -> None:
    from deployments.demo import submit_demo_channels  # imports Prefect: only here

    said = submit_demo_channels()
    assert said.startswith("@demo_brand connected (channel ") and said.endswith("5 posts queued")
    with sessions.begin() as session:
        brand = channels.find_channel(session, "demo_brand")
        cafe = channels.find_channel(session, "demo_cafe")
        assert (brand.hashtags_on, brand.timezone, cafe.reposting_on) == (True, "Europe/Moscow", True)
        assert len(channels.slots_of(session, channel_id=brand.id)) == 5
        assert reposts.hashtag_rule(session, channel_id=brand.id).tags == ("coffee", "morning", "switchyard")
        assert [name for _, name, _ in reposts.repost_rules(session, channel_id=cafe.id)] == [
            "English coffee and food news"
        ]
    assert count(sessions, ScheduledPost) == 5 and count(sessions, PendingConnect) == 0
