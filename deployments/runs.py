"""Start runs of the deployments now, for the dashboard and the CLI, through the Prefect client.

Needs ``PREFECT_API_URL`` (a Prefect server with the deployments of prefect.yaml). The work is stored
before a run is started, so nothing is lost when no run can start: these functions never raise; they
return a message for a person that says what will happen, and promise a scheduled run only when the
server has the scheduled deployment that makes it. A run is named when it is created (the name the
flow gives it), and `run_state` says where a started run stands, to show beside its link.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.objects import DeploymentStatus
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL

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
SERVE_HINT = "start them with `make demo` or `python -m deployments.serve`, or `make deploy` and workers"
NOTHING = f"so nothing will run it until the deployments are served ({SERVE_HINT})"


def _when_missing(sweep: str) -> str:
    """What happens to stored work when the deployment to start is missing: the sweep's run, or nothing."""
    sweep_name = sweep.split("/")[-1]
    try:
        with get_client(sync_client=True) as client:
            found = client.read_deployment_by_name(sweep)
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


def _who_runs(deployment: str) -> str:
    """Empty when a serve process or a worker polled ``deployment`` lately (Prefect marks it READY)."""
    try:
        with get_client(sync_client=True) as client:
            status = client.read_deployment_by_name(deployment).status
    except Exception:  # the run exists; not knowing who serves it is no reason to alarm anyone
        return ""
    if status == DeploymentStatus.READY:
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
) -> str:
    """Start a run of ``deployment`` now for ``subject`` (already stored); say what happened.

    ``scheduled_by`` names the scheduled deployment (``flow/deployment``) that picks the work up
    otherwise (default: this one). ``idempotency_key`` (an API caller's Idempotency-Key) is passed
    to Prefect, which then creates one run however often the same key is given.
    """
    sweep = scheduled_by or deployment
    sweep_name = sweep.split("/")[-1]
    if not PREFECT_API_URL.value():
        return (
            f"{subject} is stored; no Prefect server is configured (PREFECT_API_URL), so no run can start "
            f"now and no scheduled {sweep_name} run comes until one serves the deployments ({SERVE_HINT})."
        )
    try:
        flow_run = run_deployment(
            name=deployment,
            parameters=parameters,
            flow_run_name=run_name,
            timeout=0,
            idempotency_key=idempotency_key,
        )
    except ObjectNotFound:
        reason, later = f"the Prefect server has no deployment {deployment}", _when_missing(sweep)
    except Exception as exc:  # server down or refusing: the work is stored anyway
        reason = str(exc) or type(exc).__name__
        later = f"the scheduled {sweep_name} run will pick it up {_how_soon(sweep)} once the server answers"
    else:
        link = f"{get_settings().prefect_ui_url}/runs/flow-run/{flow_run.id}"
        return f"Started flow run [{flow_run.name}]({link}) for {subject.lower()}{_who_runs(deployment)}."
    logger.warning("could not start %s for %s: %s", deployment, subject, reason)
    return f"{subject} is stored, but no run could be started now ({reason}); {later}."


def run_state(flow_run_id: UUID | str) -> str:
    """Where a started flow run stands, for a person: its state's name ("Scheduled", "Late", "Running",
    "Completed", "Failed", "Crashed", …), "not found", or "unknown" with the reason. Never raises."""
    if not PREFECT_API_URL.value():
        return "unknown (no Prefect server is configured)"
    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(UUID(str(flow_run_id))).state
    except ObjectNotFound:
        return "not found"
    except Exception as exc:
        return f"unknown ({str(exc) or type(exc).__name__})"
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
    said = start_run(
        COLLECT_BRIEF,
        {"brief_id": brief_id},
        collect_run_name(brief_id),
        f"Brief {brief_id}",
        PROCESS_BRIEFS,
        idempotency_key=idempotency_key,
    )
    start_quietly(
        ANALYSE_BRIEF,
        {"brief_id": brief_id},
        analyse_run_name(brief_id),
        idempotency_key=f"{idempotency_key}-analyse" if idempotency_key else None,
    )
    return said


def start_quietly(
    deployment: str, parameters: dict[str, Any], run_name: str, *, idempotency_key: str | None = None
) -> bool:
    """Start a run of ``deployment`` now for work that another run also starts when needed: whether
    it was started (why not is logged, never raised)."""
    if not PREFECT_API_URL.value():
        return False
    try:
        run_deployment(
            name=deployment,
            parameters=parameters,
            flow_run_name=run_name,
            timeout=0,
            idempotency_key=idempotency_key,
        )
    except Exception as exc:  # no deployment, server down or refusing: the other run starts it
        logger.info("did not start %s now (%s)", run_name, str(exc) or type(exc).__name__)
        return False
    return True


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
