"""A mailing sender: one long-lived process that keeps the gateway busy until nothing is due.

The dispatch run forks ``mailing.senders`` of them from its own process (`fork_sender`: everything
a sender needs is imported there already, where a new Python spent ~0.9 s of CPU importing it) and
reads what they write on a pipe, one JSON object a line: ``{"tally": {...}}`` (counts so far),
``{"log": [level, text]}`` (a failed or retried try) and, last, ``{"done": {...}}`` (the counts and
the CPU seconds spent). ``python -m tasks.mailing_sender MAILING_ID PARENT_PID`` (0: every open
mailing) runs one on its own, writing the same lines on stdout.

Each sender keeps its event loop (uvloop), its gateway client and its database sessions for its whole
life, and runs a pipeline:

- up to ``gateway.concurrency`` sends in flight; the next claimed message starts as soon as a send
  ends, and the next ``mailing.batch_size`` messages are claimed while half of those claimed are
  still waiting to start (a hung request holds only its own slot, never a batch);
- one writer records whatever sends ended while its previous write ran (group commit), so the sends
  accepted but not yet recorded are never many more than those in flight;
- every claimed message not yet recorded is renewed every third of ``mailing.lease_seconds`` (15 s):
  a sender that dies leaves its messages to be claimed again within a lease; a renewal never runs
  beside a record (the two deadlocked in PostgreSQL);
- it dies with its parent (``PR_SET_PDEATHSIG`` on Linux, and a check of its parent's pid); its
  name (``/proc/PID/comm``, what ``top`` and ``ps -o comm`` show) is ``mailing-sender``.

No Prefect here: a sender starts in a fraction of a second and spends its CPU on sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import resource
import signal
import sys
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial
from typing import TextIO

import uvloop
from sqlalchemy.orm import Session, sessionmaker

from connectors.gateway import GatewayClient, gateway_http_client, send_message
from core.pacing import LimitKey, Pacer, Window
from core.processes import die_with_parent
from core.settings import Settings, get_settings
from db.base import utcnow
from db.claims import Lease
from db.engine import session_factory
from db.mailing.dispatch import claim_due_messages, next_retry_time, record_send_outcomes, renew_messages
from db.transactions import in_transaction
from rules.mailing import (
    WINDOW_CLOSED,
    DueMessage,
    MessageStatus,
    SendOutcome,
    decide,
    not_yet,
    send_deadline,
    too_late,
)
from tasks.pacing import shared_pacer

GATEWAY_SENDS = LimitKey("gateway", action="send")
IDLE_POLL = 0.5  # seconds between claims while sends are in flight and nothing else is due
WAIT_POLL = 1.0  # the longest wait between looks while waiting for retries or leases held elsewhere
FIRST_LOOK = 0.05  # the first such wait, doubled at each look: a sibling sender ending its last sends
TALLY_EVERY = 1.0  # seconds between the counts a sender reports
PROCESS_NAME = b"mailing-sender"
PARENT_CHECK = 1.0  # seconds between checks that the parent is alive (where PDEATHSIG is missing)


@dataclass
class Tally:
    """What one sender did: outcomes recorded, and tries whose outcome was unknown."""

    sent: int = 0
    failed: int = 0
    deferred: int = 0
    unknown: int = 0

    def add(self, outcome: SendOutcome) -> None:
        if outcome.sent:
            self.sent += 1
        elif outcome.status == MessageStatus.FAILURE:
            self.failed += 1
        else:
            self.deferred += 1
        self.unknown += outcome.unknown


def gateway_pacer(per_second: int) -> Pacer | None:
    """Sends paced by the gateway's limit across every sender and run (None when it is off), reserved
    a tenth of a second's worth at a time."""
    if not per_second:
        return None
    return shared_pacer(GATEWAY_SENDS, [Window(per_second, 1)], chunk=max(1, per_second // 10))


async def wait_until(deadline: datetime, waiting: Awaitable[object]) -> bool:
    """Await ``waiting`` unless ``deadline`` comes first; False (and ``waiting`` cancelled) when it did."""
    try:
        async with asyncio.timeout((deadline - utcnow()).total_seconds()):
            await waiting
    except TimeoutError:
        return False
    return True


def seconds_until_due(sessions: sessionmaker[Session], mailing_id: int | None) -> float | None:
    """Seconds until a message of the mailing (None: of any open mailing) may be claimed (0: one may
    now), or None when none is left to send."""
    with sessions.begin() as session:
        due = next_retry_time(session, mailing_id=mailing_id)
    return None if due is None else max(0.0, (due - utcnow()).total_seconds())


def window_closed(message: DueMessage) -> SendOutcome:
    return SendOutcome(id=message.id, status=MessageStatus.FAILURE, error=WINDOW_CLOSED)


async def send_one(
    message: DueMessage,
    *,
    client: GatewayClient,
    pacer: Pacer | None,
    held: Callable[[int], bool],
    settings: Settings,
) -> SendOutcome | None:
    """Send one claimed message unless its window says not now; no wait (for a rate-limit slot or a
    connection), and no send, starts past the end margin. None: its claim was lost, it is another
    sender's now."""
    skipped = not_yet(message, utcnow(), settings.mailing)
    if skipped is not None:
        return skipped
    deadline = send_deadline(message, settings.mailing)
    if pacer is not None and not await wait_until(deadline, pacer.acquire()):
        return window_closed(message)
    now = utcnow()
    if too_late(message, now, settings.mailing):
        return window_closed(message)
    if not held(message.id):
        return None
    within = (deadline - now).total_seconds()
    result = await send_message(client, message.id, message.phone, message.text, connect_within=within)
    return decide(message, result, utcnow(), settings.mailing)


def problem_line(message: DueMessage, outcome: SendOutcome) -> tuple[int, str]:
    """One log line per failed or retried try, searchable by mailing=, message= and client=."""
    failed = outcome.status == MessageStatus.FAILURE
    text = (
        f"mailing={message.mailing_id} message={message.id} client={message.client_id} "
        f"{'failed' if failed else 'will retry'}: {outcome.error}"
    )
    return (logging.WARNING if failed else logging.INFO), text


class Sender:
    """The pipeline of one sender process (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        mailing_id: int | None,
        emit: Callable[[dict[str, object]], None],
        run_id: str | None = None,
    ):
        self.settings = settings
        self.mailing_id = mailing_id
        self.emit = emit
        self.sessions = session_factory()
        self.lease = Lease.for_run(settings.mailing.lease_seconds, run_id)
        self.tally = Tally()
        self.waiting: deque[DueMessage] = deque()  # claimed, not started
        # claimed and not yet recorded, by id: the claim (the object) a send and its outcome belong to
        self.held: dict[int, DueMessage] = {}
        self.ended: list[tuple[DueMessage, SendOutcome]] = []  # sends ended, not yet recorded
        self.in_flight = 0
        self.sends: set[asyncio.Task[None]] = set()
        self.closing = False
        self.to_write = asyncio.Event()
        # a record and a renewal of the same claims, run at once on two connections, lock their rows
        # in different orders and can deadlock in PostgreSQL (the loser fails the sender, and every
        # send it had ended unrecorded is sent again): one at a time
        self.writing = asyncio.Lock()
        self.settled = asyncio.Event()  # set when nothing claimed is left unrecorded
        self.slots = asyncio.Semaphore(settings.gateway.concurrency)

    # --- the database side, each call one transaction in a worker thread ---

    def claim(self) -> list[DueMessage]:
        with self.sessions.begin() as session:
            return claim_due_messages(
                session, limit=self.settings.mailing.batch_size, lease=self.lease, mailing_id=self.mailing_id
            )

    def record(self, outcomes: list[SendOutcome]) -> None:
        record = partial(record_send_outcomes, outcomes=outcomes, owner=self.lease.owner)
        in_transaction(self.sessions, record)

    def renew(self, ids: list[int]) -> set[int]:
        return in_transaction(self.sessions, partial(renew_messages, ids=ids, lease=self.lease))

    def seconds_until_next_retry(self) -> float | None:
        return seconds_until_due(self.sessions, self.mailing_id)

    # --- the pipeline ---

    def holds(self, message: DueMessage) -> bool:
        """Whether this claim of ``message`` is still ours (not lost after a lapse, not recorded)."""
        return self.held.get(message.id) is message

    async def run(self) -> Tally:
        pacer = gateway_pacer(self.settings.gateway.rate_limit)
        async with gateway_http_client(self.settings.gateway) as client:
            writer = asyncio.create_task(self.write())
            helpers = [asyncio.create_task(self.keep_leases()), asyncio.create_task(self.report())]
            try:
                feeding = asyncio.create_task(self.feed(client, pacer))
                await asyncio.wait([feeding, writer, *helpers], return_when=asyncio.FIRST_COMPLETED)
                for task in (writer, *helpers):
                    if task.done():  # only a failure ends them early (a database error): the sender
                        feeding.cancel()  # fails, and its claims come back when their lease lapses
                        task.result()
                await feeding
                while self.in_flight:  # the last sends end
                    await asyncio.sleep(0.01)
                self.closing = True
                self.to_write.set()
                await writer
            finally:
                for task in [*helpers, writer]:
                    task.cancel()
        return self.tally

    async def feed(self, client: GatewayClient, pacer: Pacer | None) -> None:
        """Start sends while there are claimed messages and free slots; claim more while half a
        claim still waits; stop when nothing is due, in flight or waiting for a retry soon."""
        low_water = max(1, self.settings.mailing.batch_size // 2)
        look = FIRST_LOOK
        claiming: asyncio.Task[list[DueMessage]] | None = None
        dry = False  # the last claim found nothing due
        while True:
            if claiming is None and not dry and len(self.waiting) <= low_water:
                claiming = asyncio.create_task(asyncio.to_thread(self.claim))
            if claiming is not None and (claiming.done() or not self.waiting):
                claimed = await claiming
                claiming = None
                dry = not claimed
                if claimed:
                    look = FIRST_LOOK
                self.held.update((message.id, message) for message in claimed)
                self.waiting.extend(claimed)
                continue
            if self.waiting:
                await self.slots.acquire()
                message = self.waiting.popleft()
                if not self.holds(message):
                    self.slots.release()
                    continue
                self.in_flight += 1
                task = asyncio.create_task(self.send(message, client, pacer))
                self.sends.add(task)
                task.add_done_callback(self.sends.discard)
                continue
            if self.held:  # sends in flight or outcomes not yet recorded: wait for them to be
                self.settled.clear()  # recorded, claiming again every IDLE_POLL meanwhile (new or
                try:  # retried messages may come due)
                    async with asyncio.timeout(IDLE_POLL):
                        await self.settled.wait()
                except TimeoutError:
                    dry = False
                continue
            wait = await asyncio.to_thread(self.seconds_until_next_retry)
            if wait is None or wait > self.settings.mailing.wait_for_retries:
                return
            # looked at again within a second: a lease held by a live sender ends sooner, when it
            # records its outcome
            await asyncio.sleep(min(max(wait, FIRST_LOOK), look))
            look = min(look * 2, WAIT_POLL)
            dry = False

    async def send(self, message: DueMessage, client: GatewayClient, pacer: Pacer | None) -> None:
        try:
            outcome = await send_one(
                message,
                client=client,
                pacer=pacer,
                held=lambda _: self.holds(message),
                settings=self.settings,
            )
        except Exception as exc:  # the message's own error: recorded on it, the sender goes on
            error = f"unexpected error: {type(exc).__name__}: {exc}"[:500]
            outcome = SendOutcome(id=message.id, status=MessageStatus.FAILURE, error=error)
        finally:
            self.in_flight -= 1
            self.slots.release()
        if outcome is None or not (outcome.sent or self.holds(message)):
            return  # the claim was lost: the message is another sender's now
        if outcome.error:
            level, text = problem_line(message, outcome)
            self.emit({"log": [level, text]})
        self.ended.append((message, outcome))
        self.to_write.set()

    async def write(self) -> None:
        """Record whatever ended while the previous write ran: one write at a time, never waiting
        for more to come."""
        while True:
            await self.to_write.wait()
            self.to_write.clear()
            while self.ended:
                group, self.ended = self.ended, []
                async with self.writing:
                    await asyncio.to_thread(self.record, [outcome for _, outcome in group])
                    for message, outcome in group:
                        if self.holds(message):
                            del self.held[message.id]
                            self.tally.add(outcome)
                        elif outcome.sent:  # recorded whoever holds it now
                            self.tally.add(outcome)
                if not self.held:
                    self.settled.set()
            if self.closing:
                return

    async def keep_leases(self) -> None:
        """Renew every claimed message not yet recorded, every third of the lease; a claim not
        renewed was lost (its lease lapsed and another sender took it): it is not sent here."""
        every = self.settings.mailing.lease_seconds / 3
        while True:
            await asyncio.sleep(every)
            async with self.writing:  # never beside a record (see ``writing``)
                claims = dict(self.held)
                still = await asyncio.to_thread(self.renew, sorted(claims))
            for message_id, message in claims.items():
                if message_id not in still and self.holds(message):
                    del self.held[message_id]
            if not self.held:
                self.settled.set()

    async def report(self) -> None:
        while True:
            await asyncio.sleep(TALLY_EVERY)
            self.emit({"tally": asdict(self.tally)})


async def watch_parent(parent: int) -> None:
    while True:
        await asyncio.sleep(PARENT_CHECK)
        if os.getppid() != parent:
            os._exit(1)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def line_writer(stream: TextIO) -> Callable[[dict[str, object]], None]:
    """Write each record to ``stream`` as one JSON line, at once."""

    def emit(record: dict[str, object]) -> None:
        stream.write(json.dumps(record) + "\n")
        stream.flush()

    return emit


async def main(
    mailing_id: int | None, parent: int, run_id: str | None, emit: Callable[[dict[str, object]], None]
) -> None:
    watcher = asyncio.create_task(watch_parent(parent))
    tally = await Sender(get_settings(), mailing_id, emit, run_id).run()
    watcher.cancel()
    emit({"done": asdict(tally) | {"cpu": cpu_seconds()}})


class SenderProcess:
    """A forked sender as its parent follows it: its pid, its lines, its exit."""

    def __init__(self, pid: int, stdout: asyncio.StreamReader) -> None:
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None  # as asyncio's: -N when killed by signal N
        self._exit: asyncio.Future[tuple[int, int]] | None = None

    async def wait(self) -> int:
        if self._exit is None:
            self._exit = asyncio.ensure_future(asyncio.to_thread(os.waitpid, self.pid, 0))
        _, status = await asyncio.shield(self._exit)
        self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


async def fork_sender(mailing_id: int | None, run_id: str | None) -> SenderProcess:
    """A sender forked from this process: it dies with this process, and exits with 0 once done, 1 on
    an error (its traceback on stderr)."""
    parent = os.getpid()
    read_end, write_end = os.pipe()
    for stream in (sys.stdout, sys.stderr):  # what is buffered is written once, by this process
        stream.flush()
    pid = os.fork()
    if pid == 0:  # the sender: nothing of the parent's loop, sessions or client is used here
        code = 1
        try:
            os.close(read_end)
            asyncio.events._set_running_loop(None)  # what Python 3.12 does itself at a fork
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a new Python's handlers, not
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # those of the run's process
            die_with_parent(parent, PROCESS_NAME)
            with os.fdopen(write_end, "w") as stream:
                uvloop.run(main(mailing_id, parent, run_id, line_writer(stream)))
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write_end)
    stdout = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdout), os.fdopen(read_end, "rb"))
    return SenderProcess(pid, stdout)


def run() -> None:
    """The process's entry point: ``python -m tasks.mailing_sender MAILING_ID PARENT_PID [RUN_ID]``."""
    mailing_id, parent = int(sys.argv[1]) or None, int(sys.argv[2])
    run_id = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
    die_with_parent(parent, PROCESS_NAME)
    uvloop.run(main(mailing_id, parent, run_id, line_writer(sys.stdout)))


if __name__ == "__main__":
    run()
