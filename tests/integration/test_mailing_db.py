"""Clients, CSV import, mailings and their statistics in db/mailing.py on a real database (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.mailing import (
    Client,
    Mailing,
    Message,
    add_client,
    cancel_mailing,
    count_clients,
    create_mailing,
    delete_client,
    delete_mailing,
    find_clients,
    import_clients_csv,
    mailing_detail,
    mailing_stats,
    update_client,
    update_mailing,
)
from rules.mailing import MessageStatus

Sessions = sessionmaker[Session]
HOUR = timedelta(hours=1)

# phone, operator code, tag
CLIENTS = [
    ("79120000001", "912", "vip"),
    ("79120000002", "912", "vip"),
    ("79120000003", "912", ""),
    ("79260000004", "926", "vip"),
    ("79260000005", "926", "new"),
    ("74950000006", "495", ""),
]


def seed_clients(sessions: Sessions) -> dict[str, int]:
    with sessions.begin() as session:
        return {phone: add_client(session, phone=phone, tag=tag).id for phone, _, tag in CLIENTS}


def new_mailing(sessions: Sessions, starts_in: timedelta = HOUR, **kwargs: object) -> int:
    starts_at = utcnow() + starts_in
    options = {"text": "Hello", "starts_at": starts_at, "ends_at": starts_at + 2 * HOUR} | kwargs
    with sessions.begin() as session:
        return create_mailing(session, **options).id


def message_statuses(sessions: Sessions, mailing_id: int) -> dict[str, MessageStatus]:
    """Phone → status of every message of a mailing."""
    with sessions.begin() as session:
        rows = session.execute(
            select(Client.phone, Message.status)
            .join(Client, Client.id == Message.client_id)
            .where(Message.mailing_id == mailing_id)
        )
        return dict(rows.all())


def set_status(sessions: Sessions, mailing_id: int, phones: list[str], **values: object) -> None:
    with sessions.begin() as session:
        client_ids = select(Client.id).where(Client.phone.in_(phones))
        session.execute(
            update(Message)
            .where(Message.mailing_id == mailing_id, Message.client_id.in_(client_ids))
            .values(**values)
        )


def clients_by_phone(sessions: Sessions) -> dict[str, Client]:
    with sessions.begin() as session:
        return {client.phone: client for client in session.scalars(select(Client))}


# --- clients --------------------------------------------------------------------------------------


def test_a_client_gets_a_normalised_phone_and_its_operator_code(sessions: Sessions) -> None:
    with sessions.begin() as session:
        client = add_client(session, phone="8 (912) 345-67-89", tag=" vip ", timezone="Europe/Moscow")
        other = add_client(session, phone="+7 926 000 00 01", operator_code="999")
    assert (client.phone, client.operator_code, client.tag, client.timezone) == (
        "79123456789",
        "912",
        "vip",
        "Europe/Moscow",
    )
    assert (other.operator_code, other.tag, other.timezone) == ("999", "", "UTC")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"phone": "12345"}, "not a phone number|not a valid"),
        ({"phone": "+1 212 555 0100"}, "not a \\+7 number"),
        ({"phone": "79123456789", "timezone": "Mars/Base"}, "unknown timezone"),
        ({"phone": "79123456789", "operator_code": "9x1"}, "3 digits"),
        ({"phone": "79123456789", "tag": "t" * 65}, "at most 64"),
    ],
)
def test_invalid_clients_are_refused(sessions: Sessions, fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message), sessions.begin() as session:
        add_client(session, **fields)
    assert clients_by_phone(sessions) == {}


def test_a_phone_belongs_to_one_client(sessions: Sessions) -> None:
    with sessions.begin() as session:
        add_client(session, phone="79123456789")
    with (
        pytest.raises(ValueError, match="a client with phone 79123456789 exists"),
        sessions.begin() as session,
    ):
        add_client(session, phone="+7 912 345 67 89")


def test_updating_the_phone_derives_the_operator_code_unless_one_is_given(sessions: Sessions) -> None:
    ids = seed_clients(sessions)
    client_id = ids["79120000001"]
    with sessions.begin() as session:
        client = update_client(session, client_id=client_id, phone="+7 926 111 22 33")
        assert (client.phone, client.operator_code, client.tag) == ("79261112233", "926", "vip")
        client = update_client(session, client_id=client_id, phone="79031112233", operator_code="777")
        assert (client.phone, client.operator_code) == ("79031112233", "777")
        client = update_client(session, client_id=client_id, tag="", timezone="Asia/Kolkata")
        assert (client.tag, client.timezone, client.operator_code) == ("", "Asia/Kolkata", "777")
    with (
        pytest.raises(ValueError, match="a client with phone 79120000002 exists"),
        sessions.begin() as session,
    ):
        update_client(session, client_id=client_id, phone="79120000002")
    with pytest.raises(ValueError, match="no client 0"), sessions.begin() as session:
        update_client(session, client_id=0, tag="x")


def test_deleting_a_client_deletes_its_messages(sessions: Sessions) -> None:
    ids = seed_clients(sessions)
    mailing_id = new_mailing(sessions)
    with sessions.begin() as session:
        delete_client(session, client_id=ids["79120000001"])
    assert "79120000001" not in message_statuses(sessions, mailing_id)
    assert len(message_statuses(sessions, mailing_id)) == len(CLIENTS) - 1


def test_clients_are_found_by_tag_operator_code_and_phone_prefix(sessions: Sessions) -> None:
    seed_clients(sessions)

    def phones(**filters: object) -> list[str]:
        with sessions.begin() as session:
            return [client.phone for client in find_clients(session, **filters)]

    assert phones() == [phone for phone, _, _ in CLIENTS]
    assert phones(tag="vip") == ["79120000001", "79120000002", "79260000004"]
    assert phones(tag="vip", operator_code="912") == ["79120000001", "79120000002"]
    assert phones(phone_prefix="+7 926") == ["79260000004", "79260000005"]
    assert phones(phone_prefix="7%") == phones(phone_prefix="7")
    assert phones(tag=" ", operator_code="") == phones()
    assert phones(limit=2, offset=1) == ["79120000002", "79120000003"]
    with sessions.begin() as session:
        assert count_clients(session) == 6
        assert count_clients(session, operator_code="912") == 3
        assert count_clients(session, tag="vip") == 3
        assert count_clients(session, operator_code="926", tag="vip") == 1


# --- CSV import -----------------------------------------------------------------------------------


def test_bad_csv_rows_are_reported_by_line_and_good_rows_imported(sessions: Sessions) -> None:
    text = (
        "Phone,TAG,Timezone,Operator_Code,name\n"  # line 1; unknown columns are ignored
        "+7 912 000-00-01,vip,Europe/Moscow,,Ann\n"
        "12345,vip,UTC,,Bob\n"  # line 3: bad phone
        "79120000002,vip,Mars/Base,,Cid\n"  # line 4: unknown timezone
        "\n"  # line 5: blank, skipped silently
        "79120000003,,UTC,91,Dan\n"  # line 6: bad operator code
        ",vip,UTC,,Eve\n"  # line 7: no phone
        "8 926 000 00 04,,,999\n"  # line 8: short row, empty cells take defaults
        "79120000001,x,UTC,,Fay\n"  # line 9: the phone of line 2 again
        "79120000005,a,UTC,,b,c\n"  # line 10: too many fields
    )
    with sessions.begin() as session:
        report = import_clients_csv(session, text=text)
    assert (report.added, report.updated) == (2, 0)
    assert [line for line, _ in report.errors] == [3, 4, 6, 7, 9, 10]
    messages = dict(report.errors)
    assert "not a valid +7 number" in messages[3]
    assert "unknown timezone" in messages[4]
    assert "3 digits" in messages[6]
    assert "empty" in messages[7]
    assert "on line 2 already" in messages[9]
    assert "6 fields; the header has 5" in messages[10]
    clients = clients_by_phone(sessions)
    assert set(clients) == {"79120000001", "79260000004"}
    ann, other = clients["79120000001"], clients["79260000004"]
    assert (ann.tag, ann.timezone, ann.operator_code) == ("vip", "Europe/Moscow", "912")
    assert (other.tag, other.timezone, other.operator_code) == ("", "UTC", "999")


def test_a_reimport_updates_known_phones_and_leaves_missing_columns_alone(sessions: Sessions) -> None:
    with sessions.begin() as session:
        import_clients_csv(session, text="phone;tag;timezone\n79120000001;vip;Asia/Kolkata\n")
    with sessions.begin() as session:
        report = import_clients_csv(session, text="phone;tag\n79120000001;gold\n79120000002;\n")
    assert (report.added, report.updated, report.errors) == (1, 1, [])
    clients = clients_by_phone(sessions)
    assert len(clients) == 2
    assert (clients["79120000001"].tag, clients["79120000001"].timezone) == ("gold", "Asia/Kolkata")
    assert (clients["79120000002"].tag, clients["79120000002"].timezone) == ("", "UTC")


def test_many_rows_import_in_bulk_and_reimport_without_duplicates(sessions: Sessions) -> None:
    def csv_text(tag: str) -> str:
        return "phone,tag\n" + "".join(f"7912{n:07d},{tag if n < 3000 else 'old'}\n" for n in range(6000))

    with sessions.begin() as session:
        first = import_clients_csv(session, text="\ufeff" + csv_text("old"))
    with sessions.begin() as session:
        second = import_clients_csv(session, text=csv_text("new"))
        assert count_clients(session) == 6000
        assert count_clients(session, tag="new") == 3000
    assert (first.added, first.updated, first.unchanged, first.errors) == (6000, 0, 0, [])
    assert (second.added, second.updated, second.unchanged, second.errors) == (0, 3000, 3000, [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("\n \n", "empty"),
        ("tag,timezone\nvip,UTC\n", "no 'phone' column"),
        ("phone,timezon\n79120000001,UTC\n", "column 'timezon': did you mean 'timezone'?"),
        ("phone;Tags\n79120000001;vip\n", "column 'tags': did you mean 'tag'?"),
        ("phone,operator code\n79120000001,912\n", "column 'operator code': did you mean 'operator_code'?"),
        ("phones,tag\n79120000001,vip\n", "column 'phones': did you mean 'phone'?"),
    ],
)
def test_an_unusable_csv_imports_nothing(sessions: Sessions, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message), sessions.begin() as session:
        import_clients_csv(session, text=text)
    assert clients_by_phone(sessions) == {}


# --- mailings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {phone for phone, _, _ in CLIENTS}),
        ({"filter_operator_code": "912"}, {"79120000001", "79120000002", "79120000003"}),
        ({"filter_tag": "vip"}, {"79120000001", "79120000002", "79260000004"}),
        ({"filter_operator_code": "926", "filter_tag": "vip"}, {"79260000004"}),
        ({"filter_operator_code": "", "filter_tag": "  "}, {phone for phone, _, _ in CLIENTS}),
        ({"filter_tag": "nobody"}, set()),
    ],
)
def test_a_new_mailing_has_one_new_message_per_matching_client(
    sessions: Sessions, filters: dict[str, str], expected: set[str]
) -> None:
    seed_clients(sessions)
    starts_at = utcnow() + HOUR
    with sessions.begin() as session:
        created = create_mailing(
            session, text=" Hi ", starts_at=starts_at, ends_at=starts_at + HOUR, **filters
        )
    assert (created.messages, created.starts_now) == (len(expected), False)
    statuses = message_statuses(sessions, created.id)
    assert set(statuses) == expected
    assert set(statuses.values()) <= {MessageStatus.NEW}
    with sessions.begin() as session:
        assert session.get(Mailing, created.id).text == "Hi"


def test_a_mailing_whose_window_is_open_starts_now(sessions: Sessions) -> None:
    seed_clients(sessions)
    now = utcnow()
    with sessions.begin() as session:
        created = create_mailing(
            session,
            text="Now",
            starts_at=now - HOUR,
            ends_at=now + HOUR,
            filter_tag=" ",
            filter_operator_code="",
        )
        mailing = session.get(Mailing, created.id)
        assert (mailing.filter_operator_code, mailing.filter_tag) == (None, None)  # blank: no filter
    assert (created.messages, created.starts_now) == (len(CLIENTS), True)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ends_at": utcnow() - HOUR, "starts_at": utcnow() - 2 * HOUR}, "has passed"),
        ({"ends_at": utcnow()}, "not after"),
        ({"text": "  "}, "empty"),
        ({"text": "x" * 11, "max_text_length": 10}, "at most 10"),
        ({"filter_operator_code": "12"}, "3 digits"),
        ({"daily_from": time(9)}, "both ends"),
        ({"starts_at": datetime(2030, 1, 1)}, "timezone-aware"),
    ],
)
def test_invalid_mailings_store_nothing(sessions: Sessions, changes: dict[str, object], message: str) -> None:
    seed_clients(sessions)
    options = {"text": "Hello", "starts_at": utcnow(), "ends_at": utcnow() + HOUR} | changes
    with pytest.raises(ValueError, match=message), sessions.begin() as session:
        create_mailing(session, **options)
    with sessions.begin() as session:
        assert mailing_stats(session) == []
        assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_updating_a_mailing_before_it_starts_replans_its_messages(sessions: Sessions) -> None:
    seed_clients(sessions)
    mailing_id = new_mailing(sessions, filter_tag="vip")
    with sessions.begin() as session:
        add_client(session, phone="79031234567", tag="vip")
        created = update_mailing(session, mailing_id=mailing_id, filter_operator_code="912")
    assert set(message_statuses(sessions, mailing_id)) == {"79120000001", "79120000002"}
    assert created.messages == 2
    with sessions.begin() as session:
        created = update_mailing(session, mailing_id=mailing_id, filter_operator_code=None)
        assert created.messages == 4  # the vip clients, the one added since included
        later = utcnow() + 3 * HOUR
        update_mailing(
            session,
            mailing_id=mailing_id,
            starts_at=later,
            ends_at=later + HOUR,
            daily_from=time(22),
            daily_until=time(6),
        )
        mailing = session.get(Mailing, mailing_id)
        assert (mailing.starts_at, mailing.daily_from, mailing.daily_until) == (later, time(22), time(6))
        pairs = session.execute(select(Message.client_id).where(Message.mailing_id == mailing_id)).all()
        assert len(pairs) == len(set(pairs)) == 4


def test_a_started_mailing_changes_only_its_text_and_end(sessions: Sessions) -> None:
    seed_clients(sessions)
    mailing_id = new_mailing(sessions, starts_in=-HOUR, filter_tag="vip")
    set_status(sessions, mailing_id, ["79120000001"], status=MessageStatus.SENT, sent_at=utcnow())
    with sessions.begin() as session:
        mailing = session.get(Mailing, mailing_id)
        new_end = mailing.ends_at + HOUR
        created = update_mailing(
            session,
            mailing_id=mailing_id,
            text="Changed",
            ends_at=new_end,
            filter_tag="vip",  # unchanged: no change
            starts_at=mailing.starts_at,
        )
        assert (created.messages, created.starts_now) == (3, True)
        assert (mailing.text, mailing.ends_at) == ("Changed", new_end)
    for changes in ({"filter_tag": "new"}, {"filter_operator_code": None, "filter_tag": None}):
        with (
            pytest.raises(ValueError, match=f"mailing {mailing_id} has started: only its text and end"),
            sessions.begin() as session,
        ):
            update_mailing(session, mailing_id=mailing_id, **changes)
    with pytest.raises(ValueError, match="has passed"), sessions.begin() as session:
        update_mailing(session, mailing_id=mailing_id, ends_at=utcnow() - timedelta(minutes=1))
    assert message_statuses(sessions, mailing_id)["79120000001"] == MessageStatus.SENT


def test_cancelling_cancels_unsent_messages_once(sessions: Sessions) -> None:
    seed_clients(sessions)
    mailing_id = new_mailing(sessions, starts_in=-HOUR)
    set_status(sessions, mailing_id, ["79120000001"], status=MessageStatus.SENT)
    set_status(sessions, mailing_id, ["79120000002"], status=MessageStatus.FAILURE)
    set_status(sessions, mailing_id, ["79120000003"], status=MessageStatus.SENDING)
    first_time = utcnow()
    with sessions.begin() as session:
        assert cancel_mailing(session, mailing_id=mailing_id, now=first_time) == 4
    with sessions.begin() as session:
        assert cancel_mailing(session, mailing_id=mailing_id) == 0
        assert session.get(Mailing, mailing_id).cancelled_at == first_time
    statuses = message_statuses(sessions, mailing_id)
    assert statuses.pop("79120000001") == MessageStatus.SENT
    assert statuses.pop("79120000002") == MessageStatus.FAILURE
    assert set(statuses.values()) == {MessageStatus.CANCELLED}
    with pytest.raises(ValueError, match="cancelled: it cannot change"), sessions.begin() as session:
        update_mailing(session, mailing_id=mailing_id, text="Again")


def test_deleting_a_mailing_deletes_its_messages(sessions: Sessions) -> None:
    seed_clients(sessions)
    mailing_id, other_id = new_mailing(sessions), new_mailing(sessions)
    with sessions.begin() as session:
        delete_mailing(session, mailing_id=mailing_id)
    with sessions.begin() as session:
        assert session.get(Mailing, mailing_id) is None
        assert session.scalar(select(func.count()).where(Message.mailing_id == mailing_id)) == 0
        assert session.scalar(select(func.count()).where(Message.mailing_id == other_id)) == len(CLIENTS)
    with pytest.raises(ValueError, match=f"no mailing {mailing_id}"), sessions.begin() as session:
        delete_mailing(session, mailing_id=mailing_id)


# --- statistics -----------------------------------------------------------------------------------


def test_stats_count_messages_by_status_for_every_mailing(sessions: Sessions) -> None:
    seed_clients(sessions)
    sending_id = new_mailing(sessions, starts_in=-HOUR, text="A" * 100)
    scheduled_id = new_mailing(sessions, filter_tag="vip")
    finished_id = new_mailing(sessions, starts_in=-HOUR, filter_operator_code="926")
    cancelled_id = new_mailing(sessions)
    empty_id = new_mailing(sessions, starts_in=-HOUR, filter_tag="nobody")
    set_status(sessions, sending_id, ["79120000001", "79120000002"], status=MessageStatus.SENT)
    set_status(sessions, sending_id, ["79120000003"], status=MessageStatus.FAILURE)
    set_status(sessions, sending_id, ["79260000004"], status=MessageStatus.SENDING)
    set_status(sessions, finished_id, ["79260000004", "79260000005"], status=MessageStatus.SENT)
    with sessions.begin() as session:
        cancel_mailing(session, mailing_id=cancelled_id)
        stats = {row.id: row for row in mailing_stats(session)}
        assert list(stats) == [empty_id, cancelled_id, finished_id, scheduled_id, sending_id]
        assert [row.id for row in mailing_stats(session, limit=2)] == [empty_id, cancelled_id]
        assert [row.id for row in mailing_stats(session, mailing_ids=[scheduled_id])] == [scheduled_id]
    counts = {
        mailing_id: (row.total, row.new, row.sending, row.sent, row.failure, row.cancelled, row.state)
        for mailing_id, row in stats.items()
    }
    assert counts == {
        sending_id: (6, 2, 1, 2, 1, 0, "sending"),
        scheduled_id: (3, 3, 0, 0, 0, 0, "scheduled"),
        finished_id: (2, 0, 0, 2, 0, 0, "finished"),
        cancelled_id: (6, 0, 0, 0, 0, 6, "cancelled"),
        empty_id: (0, 0, 0, 0, 0, 0, "finished"),
    }
    assert stats[sending_id].text == "A" * 80
    assert (stats[scheduled_id].filter_tag, stats[finished_id].filter_operator_code) == ("vip", "926")


def test_detail_lists_problems_and_sends_per_minute(sessions: Sessions) -> None:
    seed_clients(sessions)
    mailing_id = new_mailing(sessions, starts_in=-HOUR)
    minute = datetime(2026, 5, 1, 10, 7, tzinfo=UTC)
    sent = {
        "79120000001": minute + timedelta(seconds=1),
        "79120000002": minute + timedelta(seconds=59, microseconds=999_999),
        "79120000003": minute + timedelta(minutes=2, seconds=30),
    }
    for phone, sent_at in sent.items():
        set_status(sessions, mailing_id, [phone], status=MessageStatus.SENT, sent_at=sent_at)
    set_status(
        sessions,
        mailing_id,
        ["79260000004"],
        status=MessageStatus.FAILURE,
        attempts=3,
        last_error="HTTP 400",
        gateway_answer='{"code": 1}',
    )
    set_status(sessions, mailing_id, ["79260000005"], attempts=1, last_error="timeout")
    with sessions.begin() as session:
        detail = mailing_detail(session, mailing_id=mailing_id)
    assert (detail.stats.id, detail.stats.sent, detail.stats.failure) == (mailing_id, 3, 1)
    problems = [
        (problem.phone, problem.status, problem.attempts, problem.last_error, problem.gateway_answer)
        for problem in detail.problems
    ]
    assert problems == [
        ("79260000004", MessageStatus.FAILURE, 3, "HTTP 400", '{"code": 1}'),
        ("79260000005", MessageStatus.NEW, 1, "timeout", None),
    ]
    assert detail.sends_per_minute == [(minute, 2), (minute + timedelta(minutes=2), 1)]
    with pytest.raises(ValueError, match="no mailing 0"), sessions.begin() as session:
        mailing_detail(session, mailing_id=0)


def test_columns_unlike_any_known_one_are_ignored(sessions: Sessions) -> None:
    with sessions.begin() as session:
        report = import_clients_csv(session, text="name,phone,email\nAnna,79120000001,a@example.com\n")
    assert (report.added, report.errors) == (1, [])
