"""The command line (cli/) on a real database (SQLite and PostgreSQL), and its parsing of times."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from cli.app import app
from cli.common import parse_when
from core.settings import get_settings
from db.base import utcnow
from db.mailing import (
    Client,
    Mailing,
    Message,
    add_client,
    create_mailing,
)
from deployments import runs
from rules.mailing import MessageStatus

Sessions = sessionmaker[Session]
Run = Callable[..., Result]
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
RETRY_AT = datetime(2026, 11, 24, 6, 0, 5, tzinfo=UTC)

# phone, tag
CLIENTS = [("79120000001", "vip"), ("79120000002", "vip"), ("79260000003", ""), ("79260000004", "vip")]


@pytest.fixture
def run(sessions: Sessions) -> Run:
    """``python -m cli ARGS…`` on the test database."""
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def seed_clients(sessions: Sessions) -> dict[str, int]:
    with sessions.begin() as session:
        return {phone: add_client(session, phone=phone, tag=tag).id for phone, tag in CLIENTS}


def stored_phones(sessions: Sessions) -> dict[str, str]:
    """Phone → tag of every stored client."""
    with sessions.begin() as session:
        return {phone: tag for phone, tag in session.execute(select(Client.phone, Client.tag))}


def mailing_count(sessions: Sessions) -> int:
    with sessions.begin() as session:
        return session.scalar(select(func.count()).select_from(Mailing)) or 0


def row_after(output: str, header_start: str) -> list[str]:
    """The cells of the table row right under the header line starting with ``header_start``."""
    lines = output.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    return lines[index + 1].split()


# --- parse_when -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        (" NOW ", NOW),
        ("+30m", NOW + timedelta(minutes=30)),
        ("+2h", NOW + timedelta(hours=2)),
        ("+1d", NOW + timedelta(days=1)),
        ("2026-11-24T09:00:00+03:00", NOW),
        ("2026-11-25T06:00:00Z", NOW + timedelta(days=1)),
    ],
)
def test_parse_when_reads_now_relative_and_iso_times(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW) == expected


def test_parse_when_keeps_the_offset_given() -> None:
    assert parse_when("2026-11-24T09:00:00+03:00", NOW).utcoffset() == timedelta(hours=3)
    assert parse_when("2026-11-24T09:00:00+03:00", NOW).tzinfo == timezone(timedelta(hours=3))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-11-24T09:00:00", "no UTC offset"),
        ("2026-11-24", "no UTC offset"),
        ("tomorrow", "not a time"),
        ("+30s", "not a time"),
        ("+m", "not a time"),
        ("-1h", "not a time"),
        ("", "not a time"),
        ("+999999999999d", "too far ahead"),
    ],
)
def test_parse_when_refuses_naive_and_garbage(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_when(text, NOW)


# --- clients --------------------------------------------------------------------------------------


def test_import_keeps_good_rows_and_reports_bad_ones_by_line(
    run: Run, sessions: Sessions, tmp_path: Path
) -> None:
    csv = tmp_path / "clients.csv"
    rows = ["phone;tag", "+7 912 000-00-01;vip", "not a phone;vip", "8 (926) 000 00 03;", "79120000001;again"]
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")

    result = run("clients", "import", str(csv))

    assert result.exit_code == 0
    assert result.stdout == "added 2, updated 0, unchanged 0\n"
    errors = result.stderr.splitlines()
    assert [line.split(":")[0] for line in errors] == ["line 3", "line 5"]
    assert "not a phone" in errors[0]
    assert "on line 2 already" in errors[1]
    assert stored_phones(sessions) == {"79120000001": "vip", "79260000003": ""}


def test_import_of_only_bad_rows_exits_1(run: Run, sessions: Sessions, tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("phone,tag\n12345,x\nhello,y\n", encoding="utf-8")

    result = run("clients", "import", str(csv))

    assert result.exit_code == 1
    assert result.stdout == "added 0, updated 0, unchanged 0\n"
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == [
        "line 2",
        "line 3",
        "every row was refused",
    ]
    assert result.stderr.endswith("nothing imported\n")
    assert stored_phones(sessions) == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), ("name,tag\nAnn,vip\n", "no 'phone' column"), (b"phone\n\xff\xfe\n", "UTF-8")],
)
def test_import_of_an_unusable_file_exits_2(
    run: Run, sessions: Sessions, tmp_path: Path, content: str | bytes | None, message: str
) -> None:
    csv = tmp_path / "clients.csv"
    if isinstance(content, str):
        csv.write_text(content, encoding="utf-8")
    elif content is not None:
        csv.write_bytes(content)

    result = run("clients", "import", str(csv))

    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""
    assert stored_phones(sessions) == {}


def test_add_client_prints_it_and_refuses_bad_input(run: Run, sessions: Sessions) -> None:
    result = run("clients", "add", "+7 (912) 345-67-89", "--tag", "vip", "--timezone", "Europe/Moscow")

    assert result.exit_code == 0
    assert result.stdout.endswith(": phone 79123456789, operator code 912\n")
    with sessions.begin() as session:
        client = session.scalars(select(Client)).one()
    assert result.stdout.startswith(f"client {client.id}:")
    assert (client.tag, client.timezone) == ("vip", "Europe/Moscow")

    for args, message in [
        (["12345"], "not a"),
        (["79123456789"], "exists"),
        (["79123456780", "--timezone", "Mars/Olympus"], "unknown timezone"),
        (["79123456780", "--operator-code", "12"], "3 digits"),
    ]:
        refused = run("clients", "add", *args)
        assert refused.exit_code == 2, args
        assert message in refused.stderr
    assert list(stored_phones(sessions)) == ["79123456789"]


def test_list_clients_filters_and_limits(run: Run, sessions: Sessions) -> None:
    seed_clients(sessions)

    vip = run("clients", "list", "--tag", "vip")
    first = run("clients", "list", "--limit", "1")
    by_operator = run("clients", "list", "--operator-code", "926")

    assert vip.exit_code == first.exit_code == by_operator.exit_code == 0
    assert vip.stdout.split()[:5] == ["id", "phone", "operator", "tag", "timezone"]
    assert [line.split()[1] for line in vip.stdout.splitlines()[1:]] == [
        "79120000001",
        "79120000002",
        "79260000004",
    ]
    assert len(first.stdout.splitlines()) == 2
    assert [line.split()[1] for line in by_operator.stdout.splitlines()[1:]] == ["79260000003", "79260000004"]


# --- mailings -------------------------------------------------------------------------------------


def test_create_in_the_future_stores_messages_without_dispatching(
    run: Run, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []
    monkeypatch.setattr(runs, "start_dispatch", started.append)
    seed_clients(sessions)

    result = run("mailings", "create", "--text", "Hello", "--start", "+1h", "--end", "+1d", "--tag", "vip")

    assert result.exit_code == 0, result.stderr
    with sessions.begin() as session:
        mailing = session.scalars(select(Mailing)).one()
    assert result.stdout.splitlines()[0] == f"mailing {mailing.id}: 3 messages"
    assert "sending starts at" in result.stdout
    assert started == []
    assert timedelta(minutes=59) < mailing.starts_at - utcnow() <= timedelta(hours=1)


def test_create_open_now_starts_dispatch(
    run: Run, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    seed_clients(sessions)

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = run(
            "mailings", "create", "--text", "Now", "--start", "now", "--end", "+2h",
            "--daily-from", "00:00", "--daily-until", "23:59",
        )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith(": 4 messages")
    assert "no Prefect server is configured" in lines[1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--start", "2026-11-24T09:00:00", "--end", "+1d"], "no UTC offset"),
        (["--start", "+1h", "--end", "soon"], "not a time"),
        (["--start", "+2h", "--end", "+1h"], "is not after the start"),
        (["--start", "+1h", "--end", "+2h", "--daily-from", "9am", "--daily-until", "18:00"], "HH:MM"),
        (["--start", "+1h", "--end", "+2h", "--daily-from", "09:00"], "both ends"),
    ],
)
def test_create_refuses_bad_times(run: Run, sessions: Sessions, options: list[str], message: str) -> None:
    result = run("mailings", "create", "--text", "Hello", *options)

    assert result.exit_code == 2
    assert message in result.stderr
    assert mailing_count(sessions) == 0


def seed_statuses(sessions: Sessions) -> tuple[int, int]:
    """An open mailing to four clients (sent, failure, sending, retrying new) and a scheduled one."""
    ids = seed_clients(sessions)
    now = utcnow()
    with sessions.begin() as session:
        open_id = create_mailing(
            session, text="Open", starts_at=now - timedelta(minutes=5), ends_at=now + HOUR
        ).id
        scheduled_id = create_mailing(
            session, text="Later", starts_at=now + HOUR, ends_at=now + 2 * HOUR, filter_tag="vip"
        ).id
        changes = {
            "79120000001": {"status": MessageStatus.SENT, "attempts": 2, "last_error": "timed out"},
            "79120000002": {
                "status": MessageStatus.FAILURE,
                "attempts": 3,
                "last_error": "HTTP 500\nfrom gateway",
            },
            "79260000003": {"status": MessageStatus.SENDING, "attempts": 1},
            "79260000004": {
                "status": MessageStatus.NEW,
                "attempts": 1,
                "last_error": "timed out",
                "next_attempt_at": RETRY_AT,
            },
        }
        for phone, values in changes.items():
            session.execute(
                update(Message)
                .where(Message.mailing_id == open_id, Message.client_id == ids[phone])
                .values(**values)
            )
    return open_id, scheduled_id


def test_stats_lists_every_mailing_with_counts(run: Run, sessions: Sessions) -> None:
    open_id, scheduled_id = seed_statuses(sessions)

    result = run("mailings", "stats")

    assert result.exit_code == 0
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[0] == [
        *("id", "state", "start", "end", "total"),
        *("new", "sending", "sent", "failure", "cancelled"),
    ]
    rows = {int(cells[0]): cells for cells in lines[1:]}
    assert rows.keys() == {open_id, scheduled_id}
    assert rows[open_id][1] == "sending"
    assert rows[open_id][-6:] == ["4", "1", "1", "1", "1", "0"]
    assert rows[scheduled_id][1] == "scheduled"
    assert rows[scheduled_id][-6:] == ["3", "3", "0", "0", "0", "0"]


def test_stats_of_one_mailing_shows_counts_and_problems(run: Run, sessions: Sessions) -> None:
    open_id, _ = seed_statuses(sessions)

    result = run("mailings", "stats", str(open_id))

    assert result.exit_code == 0
    assert result.stdout.startswith(f"mailing {open_id}: sending, ")
    assert "text: Open" in result.stdout
    assert "clients: all" in result.stdout
    assert row_after(result.stdout, "total") == ["4", "1", "1", "1", "1", "0"]
    problems = result.stdout.split("problem messages:\n")[1].splitlines()
    assert problems[0].split() == [
        "message",
        "phone",
        "status",
        "attempts",
        "next",
        "attempt",
        "last",
        "error",
    ]
    # the message sent after an error is no problem any more; the deferred one says when it goes
    assert [line.split()[1:4] for line in problems[1:]] == [
        ["79120000002", "failure", "3"],
        ["79260000004", "new", "1"],
    ]
    assert problems[1].endswith("HTTP 500 from gateway")
    assert problems[2].endswith("2026-11-24 06:00:05 UTC  timed out")


def test_stats_of_a_missing_mailing_exits_2(run: Run, sessions: Sessions) -> None:
    result = run("mailings", "stats", "999999")

    assert result.exit_code == 2
    assert "no mailing 999999" in result.stderr


def test_cancel_stops_unsent_messages(run: Run, sessions: Sessions) -> None:
    open_id, _ = seed_statuses(sessions)

    first = run("mailings", "cancel", str(open_id))
    again = run("mailings", "cancel", str(open_id))
    missing = run("mailings", "cancel", "999999")

    assert first.exit_code == again.exit_code == 0
    assert first.stdout == f"mailing {open_id} cancelled: 2 unsent messages will not be sent\n"
    assert again.stdout == f"mailing {open_id} cancelled: 0 unsent messages will not be sent\n"
    assert (missing.exit_code, missing.stderr) == (2, "no mailing 999999\n")
    stats = run("mailings", "stats", str(open_id))
    assert stats.stdout.startswith(f"mailing {open_id}: cancelled, ")
    assert row_after(stats.stdout, "total") == ["4", "0", "0", "1", "1", "2"]


def test_a_mailing_whose_filter_matches_no_client_is_refused(run: Run, sessions: Sessions) -> None:
    seed_clients(sessions)

    result = run("mailings", "create", "--text", "Hi", "--start", "+1h", "--end", "+2h", "--tag", "nobody")

    assert result.exit_code == 2
    assert result.stderr == "no client matches the filter (tag nobody)\n"
    assert mailing_count(sessions) == 0


def test_create_keeps_to_the_text_length_setting(
    run: Run, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_clients(sessions)
    monkeypatch.setenv("SWITCHYARD_GATEWAY__MAX_TEXT_LENGTH", "5")
    get_settings.cache_clear()
    try:
        result = run("mailings", "create", "--text", "Hello!", "--start", "+1h", "--end", "+2h")
    finally:
        get_settings.cache_clear()  # read again once the environment is restored

    assert result.exit_code == 2
    assert "the message text has 6 characters; at most 5" in result.stderr
    assert mailing_count(sessions) == 0
