"""The shared kit's pure parts: answer classes, backoff, redaction, grouped results, the batch skeleton."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from core.batching import gather_in_groups
from core.retry import Answer, backoff_delay, classify_status
from core.secrets import MIN_SECRET_LENGTH, redact
from db.claims import Lease
from tasks.batch import Batch, run_batch


def test_answer_classes_are_the_same_for_every_service() -> None:
    assert {classify_status(s) for s in (200, 204, 302)} == {Answer.OK}
    assert {classify_status(s) for s in (408, 425, 429, 500, 502, 503, 504)} == {Answer.RETRY}
    assert {classify_status(s) for s in (401, 403)} == {Answer.AUTH}
    assert {classify_status(s) for s in (400, 404, 410, 422, 501, 505)} == {Answer.PERMANENT}


@given(attempt=st.integers(0, 64), base=st.floats(0.01, 10), cap=st.floats(0.01, 3600))
def test_backoff_doubles_up_to_the_cap(attempt: int, base: float, cap: float) -> None:
    delay = backoff_delay(attempt, base=base, cap=cap)
    assert 0 < delay <= cap
    assert delay <= backoff_delay(attempt + 1, base=base, cap=cap)
    assert delay == min(cap, base * 2**attempt)


@given(retry_after=st.floats(-10, 10_000), cap=st.floats(0.01, 3600))
def test_backoff_takes_the_services_retry_after_within_the_cap(retry_after: float, cap: float) -> None:
    assert backoff_delay(5, base=1, cap=cap, retry_after=retry_after) == min(max(retry_after, 0.0), cap)


def test_redaction_hides_a_secret_and_never_reveals_a_short_one() -> None:
    secret = "s3cr3t-token-value"
    assert redact(f"echo {secret}!", secret, "[token]") == "echo [token]!"
    short = "T" * (MIN_SECRET_LENGTH - 1)
    assert redact("The Token", short[:1]) == "The Token"  # replacing every "T" would reveal it
    assert redact(f"x{short}x", short) == f"x{short}x"


def test_grouped_results_are_flushed_on_a_timer_while_a_slow_job_hangs() -> None:
    async def scenario() -> list[list[str]]:
        release = asyncio.Event()
        first_flush = asyncio.Event()
        flushed: list[list[str]] = []

        async def fast() -> str:
            return "fast"

        async def slow() -> str:
            await release.wait()
            return "slow"

        async def flush(group: list[str]) -> None:
            flushed.append(list(group))
            first_flush.set()

        gathering = asyncio.create_task(
            gather_in_groups([fast(), slow()], flush, group_size=100, max_wait=0.05)
        )
        await asyncio.wait_for(first_flush.wait(), timeout=30)
        assert flushed == [["fast"]]  # stored while the slow one still hangs
        release.set()
        await gathering
        return flushed

    assert asyncio.run(scenario()) == [["fast"], ["slow"]]


def test_many_results_are_each_flushed_once_in_full_groups_and_a_raising_job_stops_the_rest() -> None:
    async def scenario() -> tuple[list[list[int]], str, int]:
        flushed: list[list[int]] = []

        async def job(n: int) -> int:
            await asyncio.sleep((n * 7919 % 1000) / 100_000)  # up to 10 ms, in a scrambled order
            return n

        async def flush(group: list[int]) -> None:
            await asyncio.sleep(0)  # results keep arriving while a group is written
            flushed.append(list(group))

        await gather_in_groups((job(n) for n in range(1000)), flush, group_size=100, max_wait=60)

        async def waiting(n: int) -> int:
            await asyncio.sleep(60)
            return n

        async def failing() -> int:
            raise RuntimeError("broken")

        jobs = [asyncio.ensure_future(waiting(n)) for n in range(3)]
        error = ""
        try:
            await gather_in_groups([*jobs, failing()], flush, group_size=100, max_wait=60)
        except RuntimeError as exc:
            error = str(exc)
        await asyncio.sleep(0)
        return flushed, error, sum(job.cancelled() for job in jobs)

    flushed, error, cancelled = asyncio.run(scenario())
    assert sorted(n for group in flushed for n in group) == list(range(1000))
    assert all(len(group) >= 100 for group in flushed[:-1])
    assert (error, cancelled) == ("broken", 3)


@dataclass(frozen=True)
class Done:
    id: int
    error: str | None = None


def _batch(
    items: list[int], work, recorded: list[Done], renewals: list[list[int]], held: set[int] | None = None
) -> Batch[int, Done]:
    def renew(lease: Lease, ids: Sequence[int]) -> set[int]:
        renewals.append(list(ids))
        return set(ids) if held is None else set(ids) & held

    return Batch(
        claim=lambda lease: items,
        work=work,
        record=recorded.extend,
        renew=renew,
        item_id=lambda item: item,
        outcome_id=lambda outcome: outcome.id,
        crashed=lambda item, error: Done(item, error),
    )


def test_one_item_that_raises_is_that_items_error_and_the_batch_goes_on() -> None:
    async def work(item: int) -> Done:
        if item == 2:
            raise ValueError("cannot combine AUTHORIZATION header with URL credentials")
        return Done(item)

    recorded: list[Done] = []
    claimed, outcomes = asyncio.run(
        run_batch(_batch([1, 2, 3], work, recorded, []), lease_seconds=60, concurrency=3)
    )
    assert claimed == 3 and sorted(recorded, key=lambda d: d.id) == sorted(outcomes, key=lambda d: d.id)
    errors = {outcome.id: outcome.error for outcome in outcomes}
    assert errors[1] is None and errors[3] is None
    assert "unexpected error: ValueError: cannot combine" in errors[2]


def test_the_lease_is_renewed_while_the_batch_works_and_a_lost_claim_is_not_started() -> None:
    renewals: list[list[int]] = []

    async def scenario() -> list[Done]:
        renewed_twice = asyncio.Event()

        async def work(item: int) -> Done:  # one at a time: item 2 waits for item 1, past the renewals
            if item == 1:
                while len(renewals) < 2:
                    await asyncio.sleep(0.01)
                renewed_twice.set()
            return Done(item)

        _, outcomes = await run_batch(
            _batch([1, 2], work, [], renewals, held={1}), lease_seconds=0.03, concurrency=1, max_wait=0.01
        )
        assert renewed_twice.is_set()
        return outcomes

    outcomes = {outcome.id: outcome.error for outcome in asyncio.run(scenario())}
    assert renewals[0] == [1, 2]  # the lease is renewed for every item not yet recorded
    assert outcomes[1] is None
    assert outcomes[2] == "its claim was lost before the work started"
