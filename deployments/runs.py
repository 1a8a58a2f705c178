"""Start runs of the deployments now, for the dashboard and the CLI, through the Prefect client.

Needs ``PREFECT_API_URL`` (a Prefect server with the deployments of prefect.yaml). The work is stored
before a run is started, so nothing is lost when no run can start: these functions never raise; they
return a message for a person that says what will happen, and promise a scheduled run only when the
server has the scheduled deployment that makes it. A run is named when it is created (the name the
flow gives it), and `run_state` says where a started run stands, to show beside its link.

Each answer comes within ``run_start_seconds`` (settings, 10 s); the stored work is left to its sweep
when the Prefect server has not taken the run by then. A busy SQLite Prefect server refuses writes
at once with 503 ("database is locked") while others write; Prefect's client tries again after 2, 4,
8, 16 and 32 s (a minute for five refusals, measured under overload: bench/RESULTS.md), so here a
refused request is sent again every ``RETRY_PAUSE`` s instead, until the bound. One client and two
requests a run (the deployment, whose status also says whether anything polls it; the run).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from uuid import UUID

import anyio
import httpx
from prefect import get_client
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import DeploymentStatus, FlowRun, State
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL
from prefect.utilities.asyncutils import run_coro_as_sync

from core.display import plural
from core.names import (
    ANALYSE_BRIEF,
    COLLECT_BRIEF,
    COUNT_REQUEST,
    DISPATCH_MAILING,
    DISPATCH_MAILINGS,
    PLAN_FOLLOWS,
    PLAN_FOLLOWS_NOW,
    PLAN_FOLLOWS_RUN,
    PLAN_LIKES,
    PLAN_LIKES_NOW,
    PLAN_LIKES_RUN,
    PROCESS_BRIEFS,
    PROCESS_PENDING,
    RUN_FOLLOWS,
    RUN_FOLLOWS_NOW,
    RUN_FOLLOWS_RUN,
    RUN_LIKES,
    RUN_LIKES_NOW,
    RUN_LIKES_RUN,
    SYNC_ACCOUNT,
    SYNC_ACCOUNTS,
    analyse_run_name,
    collect_run_name,
    dispatch_run_name,
    pending_run_name,
    sync_run_name,
)
from core.settings import get_settings
from deployments.specs import load_specs

logger = logging.getLogger(__name__)
T = TypeVar("T")
SERVE_HINT = "start them with `make demo` or `python -m deployments.serve`, or `make deploy` and workers"
NOTHING = f"so nothing will run it until the deployments are served ({SERVE_HINT})"
RETRY_PAUSE = 0.5  # s before a refused request is sent again (within run_start_seconds)
BUSY = {429, 502, 503}  # the answers Prefect's client retries: the server is busy or restarting


class Busy(Exception):
    """The Prefect server refused a request as busy (one of ``BUSY``)."""


async def _raise_busy(response: httpx.Response) -> None:
    """httpx response hook: a busy answer raises at once, before Prefect's client waits to retry it
    (it waits 2 s even with its retries set to 0)."""
    if response.status_code in BUSY:
        raise Busy(f"{response.status_code} for {response.request.method} {response.request.url.path}")


@dataclass(frozen=True)
class NewRun:
    """A run to create now: of ``deployment`` (``flow/deployment``), named ``name``."""

    deployment: str
    parameters: dict[str, Any]
    name: str
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Created:
    """A created run, and whether a serve process or worker polled its deployment lately (READY)."""

    flow_run: FlowRun
    polled: bool


def _bounded(work: Callable[[PrefectClient], Awaitable[T]]) -> T:
    """``work`` on one Prefect client, given up (TimeoutError) after ``run_start_seconds``. A busy
    answer raises `Busy` at once: ``work`` sends each request through `_taken`."""

    async def bounded() -> T:
        with anyio.fail_after(get_settings().run_start_seconds):
            async with get_client(httpx_settings={"event_hooks": {"response": [_raise_busy]}}) as client:
                return await work(client)

    return cast(T, run_coro_as_sync(bounded()))


async def _taken(request: Callable[[], Awaitable[T]]) -> T:
    """``request``'s answer, sent again every ``RETRY_PAUSE`` s while the server refuses it as busy;
    only the caller's bound stops it."""
    while True:
        try:
            return await request()
        except Busy:
            await anyio.sleep(RETRY_PAUSE)


async def _create(client: PrefectClient, run: NewRun) -> Created:
    """Create ``run`` on its deployment, scheduled now, as Prefect's ``run_deployment`` does."""
    deployment = await _taken(lambda: client.read_deployment_by_name(run.deployment))
    flow_run = await _taken(
        lambda: client.create_flow_run_from_deployment(
            deployment.id, parameters=run.parameters, name=run.name, idempotency_key=run.idempotency_key
        )
    )
    return Created(flow_run, deployment.status == DeploymentStatus.READY)


def _when_missing(sweep: str) -> str:
    """What happens to stored work when the deployment to start is missing: the sweep's run, or nothing."""
    sweep_name = sweep.split("/")[-1]
    try:
        found = _bounded(lambda client: _taken(lambda: client.read_deployment_by_name(sweep)))
    except Exception:  # not there, or the server stopped answering: promise nothing
        return f"there is no scheduled {sweep_name} either, {NOTHING}"
    if found.paused or not any(schedule.active for schedule in found.schedules):
        return f"the {sweep_name} schedule is paused (no serve process is running), {NOTHING}"
    return f"the scheduled {sweep_name} run will pick it up {_how_soon(sweep, list(found.schedules))}"


def _how_soon(sweep: str, schedules: list[Any] | None = None) -> str:
    """When the sweep ``sweep`` (``flow/deployment``) next runs, in words: from its ``schedules`` on the
    server (Prefect's deployment schedules) if given, else from prefect.yaml."""
    if schedules is None:
        configured = next((spec.schedules for spec in load_specs() if spec.full_name == sweep), [])
        seconds = [float(config["interval"]) for config in configured if "interval" in config]
    else:
        configured = schedules
        intervals = [getattr(item.schedule, "interval", None) for item in schedules]
        seconds = [interval.total_seconds() for interval in intervals if interval is not None]
    if not seconds:
        return "at its next scheduled time" if configured else "when one is started"
    shortest = min(seconds)
    return "within a minute" if shortest <= 60 else f"within {plural(round(shortest / 60), 'minute')}"


def _who_runs(deployment: str, created: Created) -> str:
    """Empty when a serve process or a worker polled ``deployment`` lately, else what that means."""
    if created.polled:
        return ""
    return f"; no serve process or worker is polling {deployment} now, so it waits until one does"


def start_run(
    deployment: str,
    parameters: dict[str, Any],
    run_name: str,
    subject: str,
    scheduled_by: str | None = None,
    *,
    idempotency_key: str | None = None,
    beside: NewRun | None = None,
) -> str:
    """Start a run of ``deployment`` now for ``subject`` (already stored); say what happened.

    ``scheduled_by`` names the scheduled deployment (``flow/deployment``) that picks the work up
    otherwise (default: this one). ``idempotency_key`` (an API caller's Idempotency-Key) is passed
    to Prefect, which then creates one run however often the same key is given. ``beside``: a second
    run created after it on the same client and within the same time, for work the first run also
    starts when needed (so its failure is only logged).
    """
    sweep = scheduled_by or deployment
    sweep_name = sweep.split("/")[-1]
    if not PREFECT_API_URL.value():
        return (
            f"{subject} is stored; no Prefect server is configured (PREFECT_API_URL), so no run can start "
            f"now and no scheduled {sweep_name} run comes until one serves the deployments ({SERVE_HINT})."
        )
    runs = [NewRun(deployment, parameters, run_name, idempotency_key), *([beside] if beside else [])]
    created: list[Created] = []

    async def create(client: PrefectClient) -> None:
        for run in runs:
            created.append(await _create(client, run))

    try:
        _bounded(create)
    except Exception as exc:
        if not created:
            return _not_started(deployment, subject, sweep, exc)
        # the run beside: the first run starts it when it is needed
        logger.info("did not start %s now (%s)", runs[len(created)].name, _why(exc))
    link = f"{get_settings().prefect_ui_url}/runs/flow-run/{created[0].flow_run.id}"
    return (
        f"Started flow run [{created[0].flow_run.name}]({link}) for {subject.lower()}"
        f"{_who_runs(deployment, created[0])}."
    )


def _not_started(deployment: str, subject: str, sweep: str, error: Exception) -> str:
    """What a person is told when no run of ``deployment`` could be created for ``subject``."""
    sweep_name = sweep.split("/")[-1]
    if isinstance(error, ObjectNotFound):
        reason, later = f"the Prefect server has no deployment {deployment}", _when_missing(sweep)
    else:  # server down, refusing or too slow: the work is stored anyway
        reason = _why(error)
        later = f"the scheduled {sweep_name} run will pick it up {_how_soon(sweep)} once the server answers"
    logger.warning("could not start %s for %s: %s", deployment, subject, reason)
    return f"{subject} is stored, but no run could be started now ({reason}); {later}."


def _why(error: Exception) -> str:
    """Why a Prefect call failed, for a person."""
    if isinstance(error, TimeoutError):
        seconds = get_settings().run_start_seconds
        return f"the Prefect server was too busy to answer within {seconds:g} s, so a run may still start"
    return str(error) or type(error).__name__


def run_state(flow_run_id: UUID | str) -> str:
    """Where a started flow run stands, for a person: its state's name ("Scheduled", "Late", "Running",
    "Completed", "Failed", "Crashed", …), "not found", or "unknown" with the reason. Never raises."""
    if not PREFECT_API_URL.value():
        return "unknown (no Prefect server is configured)"

    async def read_state(client: PrefectClient) -> State | None:
        return (await _taken(lambda: client.read_flow_run(UUID(str(flow_run_id))))).state

    try:
        state = _bounded(read_state)
    except ObjectNotFound:
        return "not found"
    except Exception as exc:
        return f"unknown ({_why(exc)})"
    return state.name if state and state.name else "unknown (no state yet)"


def start_processing(request_id: int, *, idempotency_key: str | None = None) -> str:
    """Count the pages of a stored word-count request now."""
    return start_run(
        COUNT_REQUEST,
        {"request_id": request_id},
        pending_run_name(request_id),
        f"Request {request_id}",
        PROCESS_PENDING,
        idempotency_key=idempotency_key,
    )


def start_dispatch(mailing_id: int, *, idempotency_key: str | None = None) -> str:
    """Send the due messages of a mailing whose window is open now."""
    return start_run(
        DISPATCH_MAILING,
        {"mailing_id": mailing_id},
        dispatch_run_name(mailing_id),
        f"Mailing {mailing_id}",
        DISPATCH_MAILINGS,
        idempotency_key=idempotency_key,
    )


def start_collection(brief_id: int, *, idempotency_key: str | None = None) -> str:
    """Collect (then analyse) a stored brief now: its collect run, and its analysis run beside it.

    The analysis run gets ready while the brief is collected and waits for it; the collect run then
    finds it queued or running instead of creating it. Created here, before the collect run writes
    anything, its creation seldom meets a busy SQLite Prefect server (503, which Prefect's client
    waits out 2 s); created by the collect run during the searches it took 2–4.5 s (bench/RESULTS.md,
    issue 11 fourth session). If it cannot be started here, the collect run starts it.
    """
    return start_run(
        COLLECT_BRIEF,
        {"brief_id": brief_id},
        collect_run_name(brief_id),
        f"Brief {brief_id}",
        PROCESS_BRIEFS,
        idempotency_key=idempotency_key,
        beside=NewRun(
            ANALYSE_BRIEF,
            {"brief_id": brief_id},
            analyse_run_name(brief_id),
            f"{idempotency_key}-analyse" if idempotency_key else None,
        ),
    )


def start_sync(account_id: int) -> str:
    """Sync a connected account now: its details, then its followers and followings."""
    return start_run(
        SYNC_ACCOUNT,
        {"account_id": account_id},
        sync_run_name(account_id),
        f"Account {account_id}",
        SYNC_ACCOUNTS,
    )


def start_growth_job(kind: str, planned: bool, subject: str, *, idempotency_key: str | None = None) -> str:
    """Work a stored (or resumed) growth job now: plan it, or act on it when ``planned``."""
    deployments = {
        ("like", False): (PLAN_LIKES_NOW, PLAN_LIKES_RUN, PLAN_LIKES),
        ("follow", False): (PLAN_FOLLOWS_NOW, PLAN_FOLLOWS_RUN, PLAN_FOLLOWS),
        ("like", True): (RUN_LIKES_NOW, RUN_LIKES_RUN, RUN_LIKES),
        ("follow", True): (RUN_FOLLOWS_NOW, RUN_FOLLOWS_RUN, RUN_FOLLOWS),
    }
    deployment, run_name, sweep = deployments[(kind, planned)]
    return start_run(deployment, {}, run_name, subject, sweep, idempotency_key=idempotency_key)
