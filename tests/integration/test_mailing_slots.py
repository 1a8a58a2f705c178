"""The machine's bound on sender processes across dispatch runs (``mailing.senders_per_machine``):
two runs in two processes never exceed it, a run without a free slot waits while messages are due and
ends when none is, and a slot held by a dead sender is free again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.settings import PREFECT_API_URL
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette

from core.settings import PROJECT_ROOT
from core.slots import Slot, held_slots, take_slot
from db.base import utcnow
from db.mailing import Message
from flows.mailing import dispatch_mailings
from rules.mailing import MessageStatus
from tasks.mailing import sender_slots
from tests.integration.test_mailing_dispatch import gateway, new_mailing, set_faults, statuses
from tests.integration.test_mailing_senders import settings_for_test

pytestmark = pytest.mark.usefixtures("prefect_harness")
Sessions = sessionmaker[Session]
__all__ = ["gateway", "settings_for_test"]  # fixtures, used by name


def senders_by_parent() -> Counter[int]:
    """Live ``mailing-sender`` processes on this machine, counted by their parent's pid."""
    found: Counter[int] = Counter()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("Name") == "mailing-sender" and not fields.get("State", "").startswith("Z"):
            found[int(fields["PPid"])] += 1
    return found


class Watch:
    """Samples the sender processes of some parents every few milliseconds, in a thread."""

    def __init__(self) -> None:
        self.parents: set[int] = set()
        self.peak_total = 0
        self.peak_by_parent: Counter[int] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            counts = senders_by_parent()
            ours = {parent: n for parent, n in counts.items() if parent in self.parents}
            self.peak_total = max(self.peak_total, sum(ours.values()))
            for parent, n in ours.items():
                self.peak_by_parent[parent] = max(self.peak_by_parent[parent], n)
            time.sleep(0.01)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def all_slots_held(settings_for_test: Any) -> Iterator[list[Slot]]:
    """Every sender slot of this machine held by the test (two of them)."""
    settings_for_test(mailing__senders_per_machine=2, mailing__senders=2)
    directory, count = sender_slots()
    slots = [take_slot(directory, count) for _ in range(count)]
    assert all(slots)
    yield [slot for slot in slots if slot is not None]
    for slot in slots:
        if slot is not None:
            slot.release()


def test_two_dispatch_runs_in_two_processes_never_exceed_the_machine_bound(
    sessions: Sessions, gateway: Any, sandbox_app: Starlette, settings_for_test: Any
) -> None:
    """Run A (its own process) takes two of three slots; run B, started while A's senders send,
    gets the one left, not the two it asks for."""
    settings_for_test(mailing__senders_per_machine=3, mailing__senders=2, gateway__concurrency=10)
    set_faults(sandbox_app, latency_ms=50)
    mailing_id = new_mailing(sessions, 3000)
    env = os.environ | {"PREFECT_API_URL": PREFECT_API_URL.value()}
    code = (
        "import asyncio; from flows.mailing import dispatch_mailings; "
        f"print(asyncio.run(dispatch_mailings({mailing_id})), flush=True)"
    )
    with Watch() as watch:
        run_a = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT)
        watch.parents.update({run_a.pid, os.getpid()})
        try:
            deadline = time.monotonic() + 60
            while senders_by_parent()[run_a.pid] < 2 and time.monotonic() < deadline:
                assert run_a.poll() is None, "run A ended before its senders were seen"
                time.sleep(0.01)
            assert senders_by_parent()[run_a.pid] == 2
            totals_b = asyncio.run(dispatch_mailings(mailing_id))  # run B, in this process
            assert run_a.wait(timeout=120) == 0
        finally:
            run_a.kill()
            run_a.wait()
    assert watch.peak_total == 3  # both sent at once, three senders, never four
    assert watch.peak_by_parent[run_a.pid] == 2
    assert watch.peak_by_parent[os.getpid()] == 1
    assert totals_b["sent"] > 0
    messages = statuses(sessions, mailing_id)
    assert set(messages.values()) == {MessageStatus.SENT}
    assert gateway.delivered_ids() == set(messages)
    assert gateway.duplicates() == {}
    directory, count = sender_slots()
    assert held_slots(directory, count) == 0  # every sender's slot freed when it ended


def test_a_run_without_a_slot_waits_while_messages_are_due_and_sends_once_one_frees(
    sessions: Sessions, gateway: Any, all_slots_held: list[Slot]
) -> None:
    mailing_id = new_mailing(sessions, 50)
    freed_at: list[float] = []

    async def run() -> dict[str, int]:
        async def free_one() -> None:
            await asyncio.sleep(2)
            freed_at.append(time.time())
            all_slots_held[0].release()

        freeing = asyncio.create_task(free_one())
        totals = await dispatch_mailings(mailing_id)
        await freeing
        return totals

    totals = asyncio.run(run())
    assert totals["sent"] == 50
    assert min(gateway.first_accepted(id_).timestamp() for id_ in gateway.delivered_ids()) >= freed_at[0]
    assert set(statuses(sessions, mailing_id).values()) == {MessageStatus.SENT}
    assert gateway.duplicates() == {}


def test_a_run_without_a_slot_ends_when_nothing_is_due(
    sessions: Sessions, gateway: Any, all_slots_held: list[Slot]
) -> None:
    """While it waits, the messages are sent elsewhere (marked sent here): it ends without sending."""
    mailing_id = new_mailing(sessions, 30)

    def sent_elsewhere() -> None:
        time.sleep(1.5)
        with sessions.begin() as session:
            session.execute(
                update(Message)
                .where(Message.mailing_id == mailing_id)
                .values(status=MessageStatus.SENT, finished_at=utcnow())
            )

    elsewhere = threading.Thread(target=sent_elsewhere)
    elsewhere.start()
    started = time.monotonic()
    totals = asyncio.run(dispatch_mailings(mailing_id))
    elsewhere.join()
    assert time.monotonic() - started < 20  # it ended on its own, without a slot
    assert totals.get("sent", 0) == 0
    assert gateway.delivered_ids() == set()
    assert all(slot.fd >= 0 for slot in all_slots_held)  # still held by the test: no slot was taken


def test_a_killed_sender_frees_its_slot(
    sessions: Sessions, gateway: Any, sandbox_app: Starlette, settings_for_test: Any
) -> None:
    settings_for_test(mailing__senders_per_machine=1, mailing__senders=1, mailing__lease_seconds=3)
    set_faults(sandbox_app, gateway_timeout_rate=1.0)  # every send hangs: the sender would go on
    mailing_id = new_mailing(sessions, 20)
    directory, count = sender_slots()

    async def run() -> None:
        async def kill_the_sender() -> None:
            while not senders_by_parent()[os.getpid()]:
                await asyncio.sleep(0.01)
            assert held_slots(directory, count) == 1
            [pid] = [
                int(p.parent.name)
                for p in Path("/proc").glob("[0-9]*/comm")
                if p.read_text().strip() == "mailing-sender"
                and f"PPid:\t{os.getpid()}\n" in (p.parent / "status").read_text()
            ]
            os.kill(pid, signal.SIGKILL)

        killer = asyncio.create_task(kill_the_sender())
        with pytest.raises(Exception, match="exited with code -9"):
            await dispatch_mailings(mailing_id)
        await killer

    try:
        asyncio.run(run())
    finally:
        set_faults(sandbox_app, gateway_timeout_rate=0.0)
    slot = take_slot(directory, count)  # the dead sender's slot is free again
    assert slot is not None
    slot.release()
