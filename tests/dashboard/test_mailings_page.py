"""The Mailings page under AppTest, on a real database (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block, Button, Node

from core.settings import get_settings
from dashboard import data
from db.base import utcnow
from db.mailing import (
    Client,
    Mailing,
    Message,
    add_client,
    create_mailing,
    mailing_stats,
)
from rules.mailing import MessageStatus

Sessions = sessionmaker[Session]
VIEWS = Path(__file__).resolve().parents[2] / "dashboard" / "views"
MOSCOW = ZoneInfo("Europe/Moscow")
HOUR = timedelta(hours=1)
RETRY_AT = datetime(2026, 12, 1, 9, 30, 15, tzinfo=ZoneInfo("UTC"))
# phone → tag
CLIENTS = {
    "79120000001": "vip",
    "79120000002": "vip",
    "79120000003": "",
    "79260000004": "vip",
    "79260000005": "new",
}


def seed_clients(sessions: Sessions) -> None:
    with sessions.begin() as session:
        for phone, tag in CLIENTS.items():
            add_client(session, phone=phone, tag=tag)


def seed_mailing(sessions: Sessions, starts_in: timedelta, **filters: str) -> int:
    """A two-hour mailing starting ``starts_in`` from now (negative: it has started)."""
    starts_at = utcnow() + starts_in
    with sessions.begin() as session:
        return create_mailing(
            session, text="Hello", starts_at=starts_at, ends_at=starts_at + 2 * HOUR, **filters
        ).id


def set_status(
    sessions: Sessions, mailing_id: int, phone: str, status: MessageStatus, **values: object
) -> None:
    """Put the message of one client in a status, as a dispatch run would."""
    with sessions.begin() as session:
        client_id = select(Client.id).where(Client.phone == phone).scalar_subquery()
        session.execute(
            update(Message)
            .where(Message.mailing_id == mailing_id, Message.client_id == client_id)
            .values(status=status, **values)
        )


@pytest.fixture
def progressed(sessions: Sessions) -> tuple[int, int]:
    """Two mailings: one sending (sent, failed, being sent, new, and a failure echoing the token),
    and a newer one scheduled for the vip clients."""
    seed_clients(sessions)
    sending = seed_mailing(sessions, -HOUR)
    sent_at = utcnow() - timedelta(minutes=3)
    set_status(sessions, sending, "79120000001", MessageStatus.SENT, sent_at=sent_at, attempts=1)
    set_status(  # sent after a timeout: no problem any more, but its first try's outcome was unknown
        sessions,
        sending,
        "79120000002",
        MessageStatus.SENT,
        sent_at=sent_at,
        attempts=2,
        last_error="timed out",
        unknown_outcomes=1,
    )
    set_status(
        sessions,
        sending,
        "79120000003",
        MessageStatus.FAILURE,
        attempts=3,
        last_error=f"gateway rejected the message: Bearer {get_settings().gateway.token.get_secret_value()}",
        gateway_answer='{"code": 7}',
    )
    set_status(sessions, sending, "79260000004", MessageStatus.SENDING, attempts=1)
    set_status(  # deferred: tried again at RETRY_AT
        sessions,
        sending,
        "79260000005",
        MessageStatus.NEW,
        attempts=1,
        last_error="gateway unavailable: HTTP 503",
        next_attempt_at=RETRY_AT,
    )
    scheduled = seed_mailing(sessions, HOUR, filter_tag="vip")
    return sending, scheduled


def open_page() -> AppTest:
    return AppTest.from_file(VIEWS / "mailings.py", default_timeout=30).run()


def button(at: AppTest, label: str) -> Button:
    return next(widget for widget in at.button if widget.label == label)


def frame_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first dataframe on the page with this column."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def nodes(block: Block) -> Iterator[Node]:
    for node in block.children.values():
        yield node
        if isinstance(node, Block):
            yield from nodes(node)


def stored_mailings(sessions: Sessions) -> list[Mailing]:
    with sessions.begin() as session:
        session.expire_on_commit = False
        return list(session.scalars(select(Mailing).order_by(Mailing.id)))


def test_the_page_runs_on_an_empty_database(sessions: Sessions) -> None:
    at = open_page()

    assert not at.exception
    assert [tab.label for tab in at.tabs] == ["Mailings", "New mailing", "Clients"]
    assert "No mailings yet" in at.info[0].value
    assert "No client matches this filter" in at.warning[0].value
    assert frame_with(at, "phone").empty


def test_the_client_form_stores_a_client(sessions: Sessions) -> None:
    at = open_page()
    at.text_input(key="client-phone").input("8 (912) 345-67-89")
    at.text_input(key="client-tag").input("vip")
    button(at, "Add client").click().run()

    assert not at.exception
    assert at.success[0].value == "Client 79123456789 added (operator code 912)."
    with sessions.begin() as session:
        (client,) = session.scalars(select(Client))
        assert (client.phone, client.tag, client.timezone) == ("79123456789", "vip", "Europe/Moscow")
    assert list(frame_with(at, "phone")["phone"]) == ["79123456789"]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("client-phone", "12345", "not a valid +7 number"),
        ("client-timezone", "Mars/Base", "unknown timezone"),
    ],
)
def test_a_bad_client_shows_an_error_and_stores_nothing(
    sessions: Sessions, field: str, value: str, reason: str
) -> None:
    at = open_page()
    at.text_input(key="client-phone").input("79123456789")
    at.text_input(key=field).input(value)
    button(at, "Add client").click().run()

    assert not at.exception
    assert at.error[0].value.startswith("Not added: ") and reason in at.error[0].value and not at.success
    with sessions.begin() as session:
        assert session.scalars(select(Client)).all() == []


def test_an_uploaded_csv_is_imported_with_its_bad_rows_reported(sessions: Sessions) -> None:
    at = open_page()
    rows = "phone;tag\n+7 912 000-00-01;vip\n12345;x\n\n79120000001;again\n79260000004;\n"
    at.file_uploader[0].set_value(("clients.csv", rows.encode(), "text/csv"))
    button(at, "Import").click().run()

    assert not at.exception
    assert at.success[0].value == "2 added, 0 updated, 0 unchanged."
    assert at.warning[0].value == "2 rows skipped:"
    errors = at.table[0].value
    assert list(errors["line"]) == [3, 5]
    assert "not a valid +7 number" in errors["message"][0] and "is on line 2 already" in errors["message"][1]
    assert sorted(frame_with(at, "phone")["phone"]) == ["79120000001", "79260000004"]


def test_an_unreadable_upload_imports_nothing() -> None:
    with pytest.raises(ValueError, match="not UTF-8"):
        data.import_clients("phone\n7912000000\xff".encode("latin-1"))


def test_the_filter_counts_its_clients_as_it_is_typed(sessions: Sessions) -> None:
    seed_clients(sessions)
    at = open_page()
    counts = {}
    for operator_code, tag in [("", ""), ("912", ""), ("912", "vip"), ("", "vip")]:
        at.text_input(key="new-operator").input(operator_code)
        at.text_input(key="new-tag").input(tag).run()
        counts[operator_code, tag] = next(
            markdown.value for markdown in at.markdown if "clients match" in markdown.value
        )
    assert {key: count.split("**")[1] for key, count in counts.items()} == {
        ("", ""): "5",
        ("912", ""): "3",
        ("912", "vip"): "2",
        ("", "vip"): "3",
    }
    at.text_input(key="new-operator").input("999").run()
    assert [warning.value for warning in at.warning] == [
        "No client matches this filter: a mailing to it would have no messages."
    ]


def test_a_mailing_to_no_client_is_refused(sessions: Sessions) -> None:
    seed_clients(sessions)
    at = open_page()
    at.text_input(key="new-tag").input("nobody").run()
    start = datetime.now(MOSCOW) + HOUR
    fill_mailing(at, "Hi", start, start + HOUR)

    assert not at.exception
    assert at.error[0].value == "Nothing stored: no client matches the filter (tag nobody)."
    with sessions.begin() as session:
        assert session.scalars(select(Mailing)).all() == []


def fill_mailing(at: AppTest, text: str, start: datetime, end: datetime) -> AppTest:
    """Type a mailing into the form (times in Moscow, the page's timezone) and submit it."""
    at.text_area(key="new-text").input(text)
    for name, moment in (("start", start), ("end", end)):
        at.date_input(key=f"new-{name}-day").set_value(moment.date())
        at.time_input(key=f"new-{name}-time").set_value(moment.time())
    return button(at, "Create mailing").click().run()


def test_a_future_mailing_is_stored_with_a_message_per_matching_client(sessions: Sessions) -> None:
    seed_clients(sessions)
    tomorrow = datetime.now(MOSCOW).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(10), tzinfo=MOSCOW)
    at = open_page()
    at.text_input(key="new-tag").input("vip").run()
    at.checkbox(key="new-daily").check()
    fill_mailing(at, "Sale!", start, start + 2 * HOUR)

    assert not at.exception
    (mailing,) = stored_mailings(sessions)
    assert (mailing.text, mailing.filter_tag, mailing.filter_operator_code) == ("Sale!", "vip", None)
    assert (mailing.starts_at, mailing.ends_at) == (start, start + 2 * HOUR)
    assert (mailing.daily_from, mailing.daily_until) == (time(9), time(21))
    assert at.success[0].value == f"Mailing {mailing.id} created with 3 messages."
    assert not [info for info in at.info if "Prefect" in info.value]
    assert at.selectbox(key="selected_mailing").value == mailing.id

    button(at, "Create mailing").click().run()  # the same form a second time
    assert not at.exception and len(stored_mailings(sessions)) == 1
    assert "Already stored" in at.info[0].value

    fill_mailing(at, "Sale, again!", start, start + 2 * HOUR)  # another text: another mailing
    assert len(stored_mailings(sessions)) == 2


def test_a_mailing_whose_window_is_open_is_started_at_once(sessions: Sessions) -> None:
    seed_clients(sessions)
    at = open_page()
    at.text_area(key="new-text").input("Now")
    button(at, "Create mailing").click().run()  # the form's start is now, its end a day later

    assert not at.exception
    (mailing,) = stored_mailings(sessions)
    assert at.success[0].value == f"Mailing {mailing.id} created with 5 messages."
    assert "no Prefect server is configured" in at.info[0].value
    assert f"Mailing {mailing.id}" in at.info[0].value


def test_an_end_before_the_start_shows_an_error_and_stores_nothing(sessions: Sessions) -> None:
    seed_clients(sessions)
    start = datetime.now(MOSCOW).replace(second=0, microsecond=0) + 2 * HOUR
    at = fill_mailing(open_page(), "Late", start, start - HOUR)

    assert not at.exception
    assert at.error[0].value.startswith("Nothing stored: the end time") and "is not after the start" in (
        at.error[0].value
    )
    assert stored_mailings(sessions) == []


def test_the_list_shows_every_mailing_counted_by_status(progressed: tuple[int, int]) -> None:
    sending, scheduled = progressed
    at = open_page()

    assert not at.exception
    rows = frame_with(at, "state").set_index("id").to_dict("index")
    assert list(rows) == [scheduled, sending]
    counts = [
        "state",
        "filter",
        "total",
        "new",
        "sending",
        "sent",
        "failure",
        "cancelled",
        "unknown outcomes",
    ]
    assert [rows[sending][column] for column in counts] == ["sending", "all clients", 5, 1, 1, 2, 1, 0, 1]
    assert [rows[scheduled][column] for column in counts] == ["scheduled", "tag vip", 3, 3, 0, 0, 0, 0, 0]
    assert rows[sending]["done"] == pytest.approx(3 / 5) and rows[scheduled]["done"] == 0


def test_the_detail_shows_counts_progress_sends_and_problems(progressed: tuple[int, int]) -> None:
    sending, scheduled = progressed
    at = open_page()
    assert at.selectbox(key="selected_mailing").value == scheduled
    at.selectbox(key="selected_mailing").select(sending).run()

    assert not at.exception
    assert {metric.label: metric.value for metric in at.metric} == {
        "New": "1",
        "Sending": "1",
        "Sent": "2",
        "Failure": "1",
        "Cancelled": "0",
        "Unknown outcomes": "1",
    }
    assert at.get("progress")[0].proto.text == "3 of 5 messages done"
    assert len(at.get("vega_lite_chart")) == 1
    problem, deferred = at.table[0].value.to_dict("records")
    assert (problem["phone"], problem["status"], problem["attempts"]) == ("79120000003", "failure", 3)
    assert problem["last error"] == "gateway rejected the message: Bearer [token]"
    assert problem["gateway answer"] == '{"code": 7}'
    assert (deferred["phone"], deferred["status"], deferred["next attempt"]) == (
        "79260000005",
        "new",
        "2026-12-01 12:30:15",  # to the second, in the page's timezone (Moscow)
    )
    shown = "\n".join(str(getattr(node, "proto", "")) for node in nodes(at.main))
    assert "79120000003" in shown and get_settings().gateway.token.get_secret_value() not in shown


def test_cancelling_cancels_the_unsent_messages(sessions: Sessions, progressed: tuple[int, int]) -> None:
    sending, _ = progressed
    at = open_page()
    at.selectbox(key="selected_mailing").select(sending).run()
    at.button(key="cancel").click().run()

    assert not at.exception
    assert at.success[0].value == f"Mailing {sending} cancelled: 2 unsent messages cancelled."
    rows = frame_with(at, "state").set_index("id").to_dict("index")
    assert (rows[sending]["state"], rows[sending]["cancelled"], rows[sending]["sent"]) == ("cancelled", 2, 2)
    assert at.button(key="cancel").disabled and not at.expander
    with sessions.begin() as session:
        (stats,) = mailing_stats(session, mailing_ids=[sending])
    assert (stats.new, stats.sending, stats.cancelled) == (0, 0, 2)


def test_a_scheduled_mailing_can_change_its_filter_and_text(
    sessions: Sessions, progressed: tuple[int, int]
) -> None:
    _, scheduled = progressed
    at = open_page()
    at.text_area(key=f"edit-{scheduled}-text").input("Hello again")
    at.text_input(key=f"edit-{scheduled}-operator").input("912")
    button(at, "Save changes").click().run()

    assert not at.exception
    assert at.success[0].value == f"Mailing {scheduled} saved: 2 messages."
    mailing = next(mailing for mailing in stored_mailings(sessions) if mailing.id == scheduled)
    assert (mailing.text, mailing.filter_operator_code, mailing.filter_tag) == ("Hello again", "912", "vip")


def test_a_started_mailing_changes_only_its_text_and_end(
    sessions: Sessions, progressed: tuple[int, int]
) -> None:
    sending, _ = progressed
    at = open_page()
    at.selectbox(key="selected_mailing").select(sending).run()
    assert f"edit-{sending}-start-day" not in [widget.key for widget in at.date_input]

    past = datetime.now(MOSCOW) - HOUR / 2  # after its start
    at.date_input(key=f"edit-{sending}-end-day").set_value(past.date())
    at.time_input(key=f"edit-{sending}-end-time").set_value(past.time())
    button(at, "Save changes").click().run()

    assert not at.exception
    assert at.error[0].value.startswith("Not changed: the end time") and "has passed" in at.error[0].value
    tomorrow = past.date() + timedelta(days=1)
    at.date_input(key=f"edit-{sending}-end-day").set_value(tomorrow)
    at.text_area(key=f"edit-{sending}-text").input("Still hello")
    button(at, "Save changes").click().run()

    assert at.success[0].value == f"Mailing {sending} saved: 5 messages." and not at.error
    mailing = next(mailing for mailing in stored_mailings(sessions) if mailing.id == sending)
    assert mailing.text == "Still hello" and mailing.ends_at.astimezone(MOSCOW).date() == tomorrow


def test_an_unknown_page_timezone_stops_the_page(sessions: Sessions) -> None:
    at = open_page()
    at.text_input[0].input("Mars/Base").run()

    assert not at.exception
    assert "unknown timezone: 'Mars/Base'" in at.error[0].value and not at.tabs


def test_the_overview_shows_mailing_totals(progressed: tuple[int, int]) -> None:
    at = AppTest.from_file(VIEWS.parent / "app.py", default_timeout=30).run()

    assert not at.exception
    line = "**2** mailings · messages: **2** sent, **1** failed, **5** pending"
    assert line in [markdown.value for markdown in at.markdown]


def test_dashboard_dates_are_read_in_the_page_timezone() -> None:
    assert data.zone_named(" Europe/Moscow ") == MOSCOW
    assert data.local_time(datetime(2024, 1, 1, 21, 30, tzinfo=ZoneInfo("UTC")), MOSCOW) == "2024-01-02 00:30"
    with pytest.raises(ValueError, match="unknown timezone"):
        data.zone_named("Moscow")
