"""Message claims have an owner: a lapsed claim taken by another run is lost to the first, whose
outcomes no longer change the message, except a send the gateway accepted."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.claims import Lease
from db.mailing import Message, add_client, create_mailing
from db.mailing.dispatch import claim_due_messages, record_send_outcomes, renew_messages
from rules.mailing import MessageStatus, SendOutcome

Sessions = sessionmaker[Session]


def two_messages(sessions: Sessions) -> list[int]:
    now = utcnow()
    with sessions.begin() as session:
        for n in range(2):
            add_client(session, phone=f"791200000{n:02d}")
        create_mailing(
            session, text="Hi", starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1)
        )
        return sorted(session.scalars(select(Message.id)))


def taken_over(sessions: Sessions) -> tuple[Lease, Lease, list[int]]:
    """Both messages claimed by a first run, its lease lapsed, then claimed by a second run."""
    ids = two_messages(sessions)
    first, second = Lease(seconds=60), Lease(seconds=60)
    with sessions.begin() as session:
        claim_due_messages(session, limit=10, lease=first)
    with sessions.begin() as session:  # later than the first lease's end
        claimed = claim_due_messages(session, limit=10, lease=second, now=utcnow() + timedelta(seconds=61))
    assert [message.id for message in claimed] == ids
    return first, second, ids


def message_rows(sessions: Sessions) -> list[tuple[MessageStatus, str | None, int]]:
    with sessions.begin() as session:
        rows = session.execute(
            select(Message.status, Message.claimed_by, Message.attempts).order_by(Message.id)
        )
        return [tuple(row) for row in rows]


def test_a_renewal_keeps_only_the_claims_still_held(sessions: Sessions) -> None:
    first, second, ids = taken_over(sessions)
    with sessions.begin() as session:
        assert renew_messages(session, ids=ids, lease=first) == set()
    with sessions.begin() as session:
        assert renew_messages(session, ids=ids, lease=second) == set(ids)


def test_outcomes_of_a_lost_claim_are_dropped_but_an_accepted_send_is_recorded(sessions: Sessions) -> None:
    first, second, (failed_id, sent_id) = taken_over(sessions)
    outcomes = [
        SendOutcome(id=failed_id, status=MessageStatus.FAILURE, tried=True, error="rejected"),
        SendOutcome(id=sent_id, status=MessageStatus.SENT, tried=True, sent=True),
    ]
    with sessions.begin() as session:
        record_send_outcomes(session, outcomes=outcomes, owner=first.owner)
    assert message_rows(sessions) == [
        (MessageStatus.SENDING, second.owner, 0),  # still the second run's to send
        (MessageStatus.SENT, None, 1),  # the gateway took it: the record says so
    ]


def test_outcomes_alike_and_not_are_each_written_as_they_were(sessions: Sessions) -> None:
    """Outcomes alike but for their message go in one statement, the others one by one: each row gets
    its own outcome either way, and the outcomes of a claim lost to another run are dropped."""
    now = utcnow()
    with sessions.begin() as session:
        for n in range(10):
            add_client(session, phone=f"791300000{n:02d}")
        create_mailing(
            session, text="Hi", starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1)
        )
    mine, other = Lease(seconds=60), Lease(seconds=60)
    with sessions.begin() as session:
        ids = [message.id for message in claim_due_messages(session, limit=8, lease=mine)]
        lost = [message.id for message in claim_due_messages(session, limit=2, lease=other)]
    retry_at = now + timedelta(seconds=30)
    expected: dict[int, tuple[object, ...]] = {}
    outcomes = []
    for n, message_id in enumerate(ids + lost):
        if n < 4 or n == 8:  # sent alike (the one of a lost claim too: the gateway took it)
            outcome = SendOutcome(
                id=message_id, status=MessageStatus.SENT, tried=True, sent=True, answer="OK"
            )
            expected[message_id] = (MessageStatus.SENT, None, 1, "OK", None, None, 0)
        elif n == 4:  # sent, its own answer
            outcome = SendOutcome(
                id=message_id, status=MessageStatus.SENT, tried=True, sent=True, answer=f"#{n}"
            )
            expected[message_id] = (MessageStatus.SENT, None, 1, f"#{n}", None, None, 0)
        elif n < 7:  # retried alike, outcome unknown
            outcome = SendOutcome(
                id=message_id,
                status=MessageStatus.NEW,
                tried=True,
                retry_at=retry_at,
                error="timed out",
                unknown=True,
            )
            expected[message_id] = (MessageStatus.NEW, None, 1, None, "timed out", retry_at, 1)
        elif n == 7:
            outcome = SendOutcome(id=message_id, status=MessageStatus.FAILURE, tried=True, error="rejected")
            expected[message_id] = (MessageStatus.FAILURE, None, 1, None, "rejected", None, 0)
        else:  # a failure of a claim lost to the other run: dropped
            outcome = SendOutcome(id=message_id, status=MessageStatus.FAILURE, tried=True, error="rejected")
            expected[message_id] = (MessageStatus.SENDING, other.owner, 0, None, None, None, 0)
        outcomes.append(outcome)
    with sessions.begin() as session:
        record_send_outcomes(session, outcomes=outcomes, owner=mine.owner)
    with sessions.begin() as session:
        rows = session.execute(
            select(
                Message.id,
                Message.status,
                Message.claimed_by,
                Message.attempts,
                Message.gateway_answer,
                Message.last_error,
                Message.next_attempt_at,
                Message.unknown_outcomes,
                Message.sent_at,
            ).where(Message.id.in_(ids + lost))
        )
        found = list(rows)
    written = {row[0]: tuple(row[1:8]) for row in found}
    sent_at = {row[0]: row[8] for row in found}
    assert written == expected
    assert {message_id for message_id, at in sent_at.items() if at is not None} == {
        message_id for message_id, row in expected.items() if row[0] == MessageStatus.SENT
    }
