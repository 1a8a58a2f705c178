"""The daily report: its figures against the database (the day's bounds in the report's time zone),
kept once per day, e-mailed through the sandbox's SMTP stand-in, a failed send recorded, and the flow
under the Prefect harness."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from commands.reports import build_daily_report, email_daily_report, last_reports
from core.settings import get_settings
from db.briefs.models import Brief, BriefStatus
from db.channels.models import Channel, RepostRecord, RepostStatus, ScheduledPost
from db.mailing.models import Client, Mailing, Message
from db.reports import DailyReport, get_report
from db.webpages import CountRequest, PageJob, PageStatus
from rules.channels import PostState
from rules.mailing import MessageStatus
from sandbox.smtp import Mailbox
from tests.conftest import set_env

DAY = date(2026, 12, 5)
ZONE = "Asia/Tokyo"  # UTC+9: the day runs from 2026-12-04 15:00 to 2026-12-05 15:00 UTC
NOW = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)  # 10:00 on the 6th in Tokyo
INSIDE = [datetime(2026, 12, 4, 15, 0, tzinfo=UTC), datetime(2026, 12, 5, 14, 59, 59, tzinfo=UTC)]
OUTSIDE = [datetime(2026, 12, 4, 14, 59, 59, tzinfo=UTC), datetime(2026, 12, 5, 15, 0, tzinfo=UTC)]


@pytest.fixture
def tokyo() -> Iterator[None]:
    saved = dict(os.environ)
    set_env({"SWITCHYARD_REPORT__TIMEZONE": ZONE})
    yield
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def seed(sessions: sessionmaker[Session]) -> None:
    """Two mailings, briefs, pages and channel posts on both sides of the day's bounds."""
    with sessions.begin() as session:
        clients = [Client(phone=f"7900000{n:04d}", operator_code="900") for n in range(12)]
        spring = Mailing(text="Spring | sale", starts_at=OUTSIDE[0], ends_at=NOW)
        autumn = Mailing(text="Autumn", starts_at=OUTSIDE[0], ends_at=NOW)
        session.add_all([*clients, spring, autumn])
        session.flush()
        rows = [
            # spring: 2 sent inside, 1 failed inside, 1 sent and 1 failed outside
            (spring, MessageStatus.SENT, INSIDE[0]),
            (spring, MessageStatus.SENT, INSIDE[1]),
            (spring, MessageStatus.FAILURE, INSIDE[1]),
            (spring, MessageStatus.SENT, OUTSIDE[0]),
            (spring, MessageStatus.FAILURE, OUTSIDE[1]),
            # autumn: 1 sent inside, 1 sent outside, one still new
            (autumn, MessageStatus.SENT, INSIDE[1]),
            (autumn, MessageStatus.SENT, OUTSIDE[1]),
            (autumn, MessageStatus.NEW, None),
        ]
        for client, (mailing, status, at) in zip(clients, rows, strict=False):
            session.add(
                Message(
                    mailing_id=mailing.id,
                    client_id=client.id,
                    status=status,
                    sent_at=at if status == MessageStatus.SENT else None,
                    finished_at=at,
                )
            )
        for created, finished, status in [
            (INSIDE[0] - timedelta(minutes=10), INSIDE[0], BriefStatus.FINISHED),  # 600 s
            (INSIDE[1] - timedelta(minutes=30), INSIDE[1], BriefStatus.FINISHED),  # 1800 s
            (INSIDE[1] - timedelta(minutes=50), INSIDE[1], BriefStatus.FINISHED),  # 3000 s
            (INSIDE[1] - timedelta(minutes=5), INSIDE[1], BriefStatus.FAILED),
            (OUTSIDE[0] - timedelta(hours=1), OUTSIDE[0], BriefStatus.FINISHED),
            (OUTSIDE[1] - timedelta(hours=1), OUTSIDE[1], BriefStatus.FINISHED),
        ]:
            session.add(
                Brief(
                    keywords=["k"],
                    platforms=["weibo"],
                    status=status,
                    created_at=created,
                    finished_at=finished,
                )
            )
        inside_request = CountRequest(word="python", created_at=INSIDE[0])
        outside_request = CountRequest(word="python", created_at=OUTSIDE[1])
        session.add_all([inside_request, outside_request])
        session.flush()
        for n, (status, at) in enumerate(
            [
                (PageStatus.FINISHED, INSIDE[0]),
                (PageStatus.FINISHED, INSIDE[1]),
                (PageStatus.FAILED, INSIDE[1]),
                (PageStatus.FINISHED, OUTSIDE[0]),
                (PageStatus.FAILED, OUTSIDE[1]),
            ]
        ):
            session.add(
                PageJob(request_id=inside_request.id, url=f"http://x.test/{n}", status=status, finished_at=at)
            )
        channel = Channel(owner="me", screen_name="cafe", platform_user_id="42")
        session.add(channel)
        session.flush()
        for status, at in [
            (PostState.PUBLISHED, INSIDE[0]),
            (PostState.PUBLISHED, OUTSIDE[1]),
            (PostState.ERROR, INSIDE[1]),
        ]:
            session.add(
                ScheduledPost(
                    channel_id=channel.id,
                    text="hi",
                    due_at=at,
                    status=status,
                    published_at=at if status == PostState.PUBLISHED else None,
                    finished_at=at,
                )
            )
        for n, at in enumerate([INSIDE[1], OUTSIDE[0]]):
            session.add(
                RepostRecord(
                    channel_id=channel.id,
                    source_post_id=str(n),
                    author="a",
                    status=RepostStatus.REPOSTED,
                    reposted_at=at,
                )
            )


@pytest.mark.usefixtures("tokyo")
def test_the_figures_are_the_day_in_the_report_time_zone(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    stored = build_daily_report(sessions=sessions, now=NOW)
    figures = stored.figures
    assert (stored.day, stored.timezone) == (DAY, ZONE)
    assert [(m.text, m.sent, m.failed) for m in figures.mailings] == [
        ("Spring | sale", 2, 1),
        ("Autumn", 1, 0),
    ]
    assert (figures.messages_sent, figures.messages_failed) == (3, 1)
    # the same sums straight from the database, by the bounds the report names
    with sessions.begin() as session:
        start, end = datetime(2026, 12, 4, 15, tzinfo=UTC), datetime(2026, 12, 5, 15, tzinfo=UTC)
        sent = session.scalar(
            select(func.count()).where(
                Message.status == MessageStatus.SENT, Message.sent_at >= start, Message.sent_at < end
            )
        )
    assert figures.messages_sent == sent
    assert figures.briefs_finished.count == 3 and figures.briefs_failed == 1
    assert figures.briefs_finished.median_seconds == 1800 and figures.briefs_finished.max_seconds == 3000
    assert (figures.requests, figures.pages_counted, figures.pages_failed) == (1, 2, 1)
    assert (figures.posts_published, figures.posts_failed, figures.reposts) == (1, 1, 1)
    assert (
        "| 1 | Spring \\| sale | 2 | 1 |" in stored.markdown or "Spring \\| sale | 2 | 1 |" in stored.markdown
    )
    assert "Messages sent: **3**, failed: **1**." in stored.markdown


@pytest.mark.usefixtures("tokyo")
def test_in_utc_the_same_rows_fall_on_other_days(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    set_env({"SWITCHYARD_REPORT__TIMEZONE": "UTC"})
    figures = build_daily_report(DAY, sessions=sessions, now=NOW).figures
    # UTC's 5 December holds INSIDE[1] and OUTSIDE[1] (15:00), not INSIDE[0] (the 4th)
    assert (figures.messages_sent, figures.messages_failed) == (3, 2)


@pytest.mark.usefixtures("tokyo")
def test_a_rerun_replaces_the_day_and_a_day_not_over_is_refused(sessions: sessionmaker[Session]) -> None:
    build_daily_report(sessions=sessions, now=NOW)
    seed(sessions)
    again = build_daily_report(DAY, sessions=sessions, now=NOW)
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(DailyReport)) == 1
    assert again.figures.messages_sent == 3
    with pytest.raises(ValueError, match="not over yet"):
        build_daily_report(date(2026, 12, 6), sessions=sessions, now=NOW)
    assert [r.day for r in last_reports(sessions=sessions)] == [DAY]


@pytest.mark.usefixtures("tokyo")
def test_the_email_is_read_back_from_the_smtp_stand_in(
    sessions: sessionmaker[Session], mailbox: Mailbox, sandbox_url: str
) -> None:
    seed(sessions)
    build_daily_report(sessions=sessions, now=NOW)
    outcome = email_daily_report(DAY, sessions=sessions)
    assert outcome.sent and outcome.recipients == ["ops@example.test"]
    (mail,) = httpx.get(f"{sandbox_url}/smtp/messages").json()["messages"]
    assert mail["from"] == "switchyard@example.test" and mail["to"] == ["ops@example.test"]
    assert mail["subject"].startswith(
        "Switchyard daily report 2026-12-05 (Asia/Tokyo): 3 messages sent, 1 failed"
    )
    assert "3 briefs, 2 pages counted" in mail["subject"]
    assert "Messages sent: **3**, failed: **1**." in mail["body"]
    assert "Finished: **3**" in mail["body"] and "pages counted: **2**" in mail["body"]
    with sessions.begin() as session:
        stored = get_report(session, day=DAY)
    assert stored is not None and stored.emailed_at is not None and stored.email_error is None
    assert mail["body"].replace("\r\n", "\n").strip() == stored.markdown.strip()  # no ">From" escape
    assert httpx.delete(f"{sandbox_url}/smtp/messages").json() == {"deleted": 1}


@pytest.mark.usefixtures("tokyo")
def test_a_failed_send_is_recorded_and_the_report_kept(
    sessions: sessionmaker[Session], mailbox: Mailbox
) -> None:
    build_daily_report(sessions=sessions, now=NOW)
    set_env({"SWITCHYARD_REPORT__SMTP_PORT": "9", "SWITCHYARD_REPORT__SMTP_TIMEOUT": "2"})  # nobody listens
    outcome = email_daily_report(DAY, sessions=sessions)
    assert not outcome.sent and "could not reach SMTP server 127.0.0.1:9" in (outcome.error or "")
    with sessions.begin() as session:
        stored = get_report(session, day=DAY)
    assert stored is not None and stored.emailed_at is None and stored.email_error == outcome.error
    assert "# Switchyard daily report: 2026-12-05" in stored.markdown
    assert mailbox.messages() == []


@pytest.mark.usefixtures("tokyo")
def test_a_login_the_server_refuses_names_the_user_not_the_password(
    sessions: sessionmaker[Session], sandbox_app: object, mailbox: Mailbox
) -> None:
    from sandbox.smtp import running_smtp

    config = sandbox_app.state.config.model_copy(update={"smtp_user": "dev", "smtp_password": "right-pass"})  # type: ignore[attr-defined]
    build_daily_report(sessions=sessions, now=NOW)
    with running_smtp(mailbox, config) as port:
        set_env(
            {
                "SWITCHYARD_REPORT__SMTP_PORT": str(port),
                "SWITCHYARD_REPORT__SMTP_USER": "dev",
                "SWITCHYARD_REPORT__SMTP_PASSWORD": "wrong-pass",
            }
        )
        refused = email_daily_report(DAY, sessions=sessions)
        set_env({"SWITCHYARD_REPORT__SMTP_PASSWORD": "right-pass"})
        accepted = email_daily_report(DAY, sessions=sessions)
    assert (
        refused.error and "refused the login of 'dev'" in refused.error and "wrong-pass" not in refused.error
    )
    assert accepted.sent and len(mailbox.messages()) == 1


@pytest.mark.usefixtures("tokyo", "prefect_harness")
def test_the_flow_keeps_publishes_and_emails_the_report(
    sessions: sessionmaker[Session], mailbox: Mailbox
) -> None:
    import asyncio

    from prefect import get_client

    from flows.reports import daily_report

    seed(sessions)
    state = asyncio.run(daily_report(day=DAY, return_state=True))
    assert state.is_completed(), state.message
    assert state.result()["messages_sent"] == 3
    (mail,) = mailbox.messages()
    assert "3 messages sent" in mail.subject and "Messages sent: **3**" in mail.body

    async def artifact_markdown() -> str:
        async with get_client() as client:
            artifact = await client.read_latest_artifacts()
            return next(a.data for a in artifact if a.key == "daily-report")

    assert "# Switchyard daily report: 2026-12-05" in asyncio.run(artifact_markdown())
    # a rerun of the same day replaces the row; a failed send ends the run Failed, the report kept
    set_env({"SWITCHYARD_REPORT__SMTP_PORT": "9", "SWITCHYARD_REPORT__SMTP_TIMEOUT": "2"})
    failed = asyncio.run(daily_report(day=DAY, return_state=True))
    assert failed.is_failed() and "e-mail failed: could not reach SMTP server" in (failed.message or "")
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(DailyReport)) == 1
        stored = get_report(session, day=DAY)
    assert stored is not None and stored.email_error and stored.emailed_at is None


@pytest.mark.usefixtures("tokyo", "prefect_harness")
def test_the_flow_refuses_a_day_not_over(sessions: sessionmaker[Session]) -> None:
    import asyncio

    from flows.reports import daily_report

    state = asyncio.run(daily_report(day=date(2999, 1, 1), send=False, return_state=True))
    assert state.is_failed() and "not over yet" in (state.message or "")
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(DailyReport)) == 0


def test_the_command_line_builds_sends_and_lists(sessions: sessionmaker[Session], mailbox: Mailbox) -> None:
    from typer.testing import CliRunner

    from cli.app import app

    seed(sessions)
    runner = CliRunner()
    sent = runner.invoke(app, ["reports", "daily", "--day", "2026-12-05"])
    assert sent.exit_code == 0, sent.output
    assert "# Switchyard daily report: 2026-12-05" in sent.output
    assert "e-mailed to ops@example.test via 127.0.0.1:" in sent.output
    assert len(mailbox.messages()) == 1
    kept = runner.invoke(app, ["reports", "daily", "--day", "2026-12-04", "--no-send"])
    assert kept.exit_code == 0 and "not e-mailed (--no-send)" in kept.output
    assert len(mailbox.messages()) == 1
    listed = runner.invoke(app, ["reports", "list"])
    assert listed.exit_code == 0
    assert listed.output.index("2026-12-05") < listed.output.index("2026-12-04")
    refused = runner.invoke(app, ["reports", "daily", "--day", "5.12.2026"])
    assert refused.exit_code == 2 and "is not a date as YYYY-MM-DD" in refused.output
    future = runner.invoke(app, ["reports", "daily", "--day", "2999-01-01"])
    assert future.exit_code == 2 and "not over yet" in future.output
    set_env({"SWITCHYARD_REPORT__SMTP_PORT": "9", "SWITCHYARD_REPORT__SMTP_TIMEOUT": "2"})
    failed = runner.invoke(app, ["reports", "daily", "--day", "2026-12-05"])
    assert failed.exit_code == 1 and "kept, but not e-mailed: could not reach" in failed.output
