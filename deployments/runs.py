"""Start runs of the deployments now, for the dashboard and the CLI, through the Prefect client.

Needs ``PREFECT_API_URL`` (a Prefect server with the deployments of prefect.yaml). Without it, or
when the server cannot start the run, the stored work waits for the deployment's scheduled run:
nothing is lost either way, so these functions never raise; they return a message for a person.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL

from core.names import (
    COLLECT_BRIEF,
    DISPATCH_MAILINGS,
    PROCESS_PENDING,
    collect_run_name,
    dispatch_run_name,
    pending_run_name,
)
from core.settings import get_settings

logger = logging.getLogger(__name__)


def start_run(
    deployment: str, parameters: dict[str, Any], run_name: str, subject: str, scheduled_by: str | None = None
) -> str:
    """Start a run of ``deployment`` now for ``subject`` (already stored); say what happened.

    ``scheduled_by`` names the scheduled deployment that picks the work up otherwise (default: this one).
    """
    scheduled = (
        f"the scheduled {scheduled_by or deployment.split('/')[-1]} run will pick it up within a minute"
    )
    if not PREFECT_API_URL.value():
        return f"{subject} is stored; no Prefect server is configured, so {scheduled}."
    try:
        flow_run = run_deployment(name=deployment, parameters=parameters, flow_run_name=run_name, timeout=0)
    except ObjectNotFound:
        reason = f"the Prefect server has no deployment {deployment}"
    except Exception as exc:  # server down or refusing: the work is stored anyway
        reason = str(exc) or type(exc).__name__
    else:
        link = f"{get_settings().prefect_ui_url}/runs/flow-run/{flow_run.id}"
        return f"Started flow run [{flow_run.name}]({link}) for {subject.lower()}."
    logger.warning("could not start %s for %s: %s", deployment, subject, reason)
    return f"{subject} is stored, but no run could be started now ({reason}); {scheduled}."


def start_processing(request_id: int) -> str:
    """Count the pages of a stored word-count request now."""
    return start_run(
        PROCESS_PENDING, {"request_id": request_id}, pending_run_name(request_id), f"Request {request_id}"
    )


def start_dispatch(mailing_id: int) -> str:
    """Send the due messages of a mailing whose window is open now."""
    return start_run(
        DISPATCH_MAILINGS, {"mailing_id": mailing_id}, dispatch_run_name(mailing_id), f"Mailing {mailing_id}"
    )


def start_collection(brief_id: int) -> str:
    """Collect (then analyse) a stored brief now."""
    return start_run(
        COLLECT_BRIEF,
        {"brief_id": brief_id},
        collect_run_name(brief_id),
        f"Brief {brief_id}",
        "process-briefs",
    )
