"""``python -m cli channels …`` against the sandbox's microblog and a real database (SQLite, and
PostgreSQL when set): connecting through the loopback callback (the browser is an httpx client that
follows the authorize link), listing, posting with the preview, the queue by slot, rules, switches,
start/stop, notifications; bad input exits 2 with one line and stores nothing."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

import cli.channels
from cli.app import app
from db.channels import channels as channels_db
from db.channels.models import Channel, PendingConnect, RepostRule, ScheduledPost

Sessions = sessionmaker[Session]
Run = Callable[..., Result]


@pytest.fixture
def pages(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The browser: follows the authorize link through the sandbox's redirect to the loopback
    callback, as a person's browser would; the pages it showed."""
    shown: list[str] = []

    def open_in_browser(url: str, *args: object, **kwargs: object) -> bool:
        answer = httpx.get(url, follow_redirects=True, timeout=10)
        shown.append(answer.text)
        return True

    monkeypatch.setattr(cli.channels.webbrowser, "open", open_in_browser)
    return shown


@pytest.fixture
def run(microblog: str) -> Run:
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def refused(result: Result, message: str) -> None:
    """Exit 2 with a one-line message."""
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output


def count(sessions: Sessions, model: type) -> int:
    with sessions.begin() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def cafe(run: Run, pages: list[str], sessions: Sessions) -> int:
    """demo_cafe connected through the CLI."""
    result = run("channels", "connect", "--owner", "ann", "--timezone", "Europe/Moscow", "--as", "demo_cafe")
    assert result.exit_code == 0, result.output
    with sessions.begin() as session:
        return session.scalars(select(Channel.id)).one()


def test_connect_receives_the_callback_on_loopback_and_never_prints_a_token(
    run: Run, pages: list[str], sessions: Sessions
) -> None:
    result = run("channels", "connect", "--owner", "ann", "--timezone", "Europe/Moscow", "--as", "demo_cafe")
    assert result.exit_code == 0, result.output
    assert (
        "/oauth2/authorize?" in result.output
        and "Waiting for the browser on http://127.0.0.1:" in result.output
    )
    assert "@demo_cafe connected (user id 1002, owner ann, timezone Europe/Moscow)" in result.output
    assert "authorisation arrived" in pages[0]
    again = run("channels", "connect", "--owner", "ann", "--as", "demo_cafe")
    assert "@demo_cafe connected again (new tokens; it runs)" in again.output, again.output
    with sessions.begin() as session:
        (channel,) = session.scalars(select(Channel))
        tokens = channels_db.tokens_of(session, channel_id=channel.id)
    assert channel.timezone == "UTC" and count(sessions, PendingConnect) == 0
    for output in (result.output, again.output):
        assert tokens.access_token not in output and tokens.refresh_token not in output
    listed = run("channels", "list")
    assert listed.exit_code == 0, listed.output
    header, row = listed.output.splitlines()
    assert header.split()[:4] == ["id", "channel", "owner", "state"]
    assert row.split()[:6] == [str(channel.id), "@demo_cafe", "ann", "running", "scheduling", "UTC"]


def test_connect_refused_or_never_answered_stores_nothing(
    run: Run, monkeypatch: pytest.MonkeyPatch, sessions: Sessions
) -> None:
    def deny(url: str, *args: object, **kwargs: object) -> bool:
        httpx.get(url + "&decision=deny", follow_redirects=True, timeout=10)
        return True

    monkeypatch.setattr(cli.channels.webbrowser, "open", deny)
    denied = run("channels", "connect", "--owner", "ann")
    assert denied.exit_code == 2 and "refused (access_denied): nothing was connected" in denied.output
    waited = run("channels", "connect", "--owner", "ann", "--no-browser", "--timeout", "1")
    assert waited.exit_code == 2 and "did not come back within 1 s" in waited.output
    refused(run("channels", "connect", "--owner", "ann", "--timezone", "Mars/Base"), "unknown time zone")
    assert count(sessions, Channel) == 0


def test_post_shows_the_preview_and_the_queue_groups_by_slot(run: Run, cafe: int, sessions: Sessions) -> None:
    refused(run("channels", "post", "demo_cafe", "hello"), "no time slots")
    assert (
        "@demo_cafe (Europe/Moscow): 09:00, 18:30"
        in run("channels", "slots", "demo_cafe", "18:30,09:00").output
    )
    assert (
        "hashtags (off): #coffee"
        in run("channels", "rules", "hashtags", "demo_cafe", "--tags", "coffee").output
    )
    assert "hashtags on" in run("channels", "switches", "demo_cafe", "--hashtags").output
    made = run("channels", "post", "@demo_cafe", "Fresh beans today")
    assert made.exit_code == 0, made.output
    assert "its next free slot" in made.output and "MSK" in made.output
    assert "(25 of 280 weighted; hashtags added: #coffee):\n  Fresh beans today #coffee" in made.output
    at = run("channels", "post", "demo_cafe", "At a time", "--at", "+2h")
    assert at.exit_code == 0 and "the time given" in at.output, at.output
    shown = run("channels", "post", "demo_cafe", "Only a look", "--preview")
    assert "Only a look #coffee" in shown.output and count(sessions, ScheduledPost) == 2
    queue = run("channels", "queue", "demo_cafe")
    assert queue.exit_code == 0, queue.output
    assert "other times (Europe/Moscow)" in queue.output and "At a time" in queue.output
    assert any(line.startswith("@demo_cafe, slot ") for line in queue.output.splitlines())
    post_id = int(made.output.split()[1].rstrip(":"))
    assert f"post {post_id} cancelled" in run("channels", "cancel", str(post_id)).output
    assert "is not in error: nothing to retry" in run("channels", "retry", str(post_id)).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["post", "demo_cafe", "字" * 141, "--at", "+1h"], "the post is 282 long, weighted: at most 280"),
        (["post", "demo_cafe", "late", "--at", "2020-01-01T09:00:00+03:00"], "is in the past"),
        (["post", "demo_cafe", "naive", "--at", "2030-01-01T09:00"], "has no UTC offset"),
        (["post", "nobody", "hello", "--at", "+1h"], "there is no channel 'nobody'"),
        (["slots", "demo_cafe", "25:00"], "not a time of day"),
        (["slots", "demo_cafe", "09:00", "09:00"], "09:00"),
        (["rules", "add", "demo_cafe", "--name", "x", "--language", "xx"], "unknown language 'xx'"),
        (
            ["rules", "add", "demo_cafe", "--name", "x", "--json", '{"langs": ["en"]}'],
            "unknown rule field 'langs'",
        ),
        (["rules", "add", "demo_cafe", "--name", "x", "--json", "[1]"], "must be an object"),
        (["rules", "add", "demo_cafe", "--name", "x", "--min-likes", "-1"], "min_likes"),
        (["rules", "hashtags", "demo_cafe", "--tags", "not a tag!"], "not a hashtag"),
        (["rules", "delete", "demo_cafe", "99"], "has no repost rule 99"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_stores_nothing(
    run: Run, cafe: int, sessions: Sessions, args: list[str], message: str
) -> None:
    refused(run("channels", *args), message)
    assert count(sessions, ScheduledPost) == count(sessions, RepostRule) == 0
    with sessions.begin() as session:
        assert channels_db.slots_of(session, channel_id=cafe) == []


def test_rules_add_list_delete(run: Run, cafe: int, sessions: Sessions) -> None:
    added = run(
        "channels", "rules", "add", "demo_cafe", "--name", "coffee news", "--json", '{"min_likes": 3}',
        "--language", "en,ru", "--keyword", "coffee", "--no-replies",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    rule_id = int(added.output.split()[1])
    listed = run("channels", "rules", "list", "demo_cafe")
    assert "@demo_cafe: reposting off" in listed.output
    rows = [" ".join(line.split()) for line in listed.output.splitlines()]  # columns fit the widest id
    assert f"{rule_id} coffee news languages=en,ru; keywords=coffee; min_likes=3" in rows
    assert "hashtags (off): none" in listed.output
    assert f"rule {rule_id} deleted" in run("channels", "rules", "delete", "demo_cafe", str(rule_id)).output
    assert count(sessions, RepostRule) == 0
    assert run("channels", "reposts", "demo_cafe").output.split() == [
        "post",
        "author",
        "status",
        "decided",
        "why",
    ]


def test_start_stop_and_notifications_read(run: Run, cafe: int, sessions: Sessions) -> None:
    assert "demo_cafe stopped" in run("channels", "stop", "demo_cafe").output
    assert "was not running" in run("channels", "stop", "demo_cafe").output
    assert "demo_cafe started" in run("channels", "start", "demo_cafe").output
    with sessions.begin() as session:
        channels_db.notify(session, channel_id=cafe, level="error", text="a post failed")
        channels_db.notify(session, channel_id=cafe, level="info", text="100 reposts")
    shown = run("channels", "notifications", "demo_cafe", "--read")
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("2 unread") and "2 marked read" in shown.output
    assert "unread" in shown.output.splitlines()[2] and "@demo_cafe" in shown.output
    assert run("channels", "notifications").output.startswith("0 unread")
    with sessions.begin() as session:
        channels_db.unauthorised(session, channel_id=cafe, reason="401")
    refused(run("channels", "start", "demo_cafe"), "unauthorised: connect it again")
