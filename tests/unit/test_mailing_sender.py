"""A sender's own database writes: a lease renewal never runs beside a record of outcomes.

On PostgreSQL the two, run at once on two connections of one sender, updated the same claimed rows
in different orders and deadlocked (bench.cluster, 100,000 messages: the sender died and 957 sends
it had ended but not recorded were sent again).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from core.settings import get_settings
from rules.mailing import DueMessage, MessageStatus, SendOutcome
from tasks.mailing_sender import Sender

Result = TypeVar("Result")


def due(number: int) -> DueMessage:
    return DueMessage(
        id=number,
        mailing_id=1,
        client_id=number,
        phone="79000000000",
        text="hello",
        timezone="UTC",
        ends_at=datetime.now(UTC) + timedelta(hours=1),
        daily_from=None,
        daily_until=None,
        attempts=0,
    )


def test_a_renewal_never_runs_beside_a_record(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = get_settings()
    # renewed every 0.05 s, while each record takes 0.2 s: without the rule they overlap at once
    settings = settings.model_copy(
        update={"mailing": settings.mailing.model_copy(update={"lease_seconds": 0.15})}
    )
    sender = Sender(settings, mailing_id=1, emit=lambda _: None)
    running: list[str] = []
    overlaps: list[tuple[str, str]] = []
    calls: list[str] = []
    guard = threading.Lock()

    def tracked(name: str, seconds: float, answer: Callable[[Any], Result]) -> Callable[[Any], Result]:
        def call(argument: Any) -> Result:
            with guard:
                overlaps.extend((other, name) for other in running)
                running.append(name)
                calls.append(name)
            time.sleep(seconds)
            with guard:
                running.remove(name)
            return answer(argument)

        return call

    monkeypatch.setattr(sender, "record", tracked("record", 0.2, lambda _: None))
    monkeypatch.setattr(sender, "renew", tracked("renew", 0.02, set))

    async def scenario() -> None:
        sender.held.update((number, due(number)) for number in range(100, 110))  # claimed, not sent
        writer = asyncio.create_task(sender.write())
        renewing = asyncio.create_task(sender.keep_leases())
        for number in range(1, 5):
            message = due(number)
            sender.held[number] = message
            sender.ended.append((message, SendOutcome(id=number, status=MessageStatus.SENT, sent=True)))
            sender.to_write.set()
            await asyncio.sleep(0.1)
        sender.closing = True
        sender.to_write.set()
        await writer
        renewing.cancel()

    asyncio.run(scenario())
    assert calls.count("record") >= 2 and calls.count("renew") >= 2
    assert overlaps == []
    assert sender.tally.sent == 4
