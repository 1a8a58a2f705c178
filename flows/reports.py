"""The daily report: yesterday's figures of every domain, kept, published and e-mailed.

Settings used: ``SWITCHYARD_DATABASE_URL``, ``SWITCHYARD_REPORT__*`` (the day's time zone, whether
and where to e-mail it; the SMTP password is a secret). The schedule (``report.time`` in
``report.timezone``) is the daily-report deployment's.
"""

# Parameter annotations stay objects (no `from __future__ import annotations`): serve pickles a flow by
# value into its run's process, where a string naming `Annotated` could not be resolved.
from datetime import date
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State
from pydantic import Field

from commands.reports import report_day
from core.settings import get_settings
from tasks.reports import build_report, email_report, publish_report


def _run_name() -> str:
    day = flow_run.parameters.get("day")
    return f"daily report of {day}" if day else "daily report of yesterday"


@flow(flow_run_name=_run_name)
async def daily_report(
    day: Annotated[
        date | None, Field(description="the day to report (YYYY-MM-DD); empty: yesterday in report.timezone")
    ] = None,
    send: Annotated[bool, Field(description="e-mail it (and report.send is on)")] = True,
) -> State[Any]:
    """Sum a past day (default: yesterday), keep and publish the report, and e-mail it.

    The report is kept and published before it is sent: a failed send is recorded on its row and
    the run ends Failed (the report is there; ``python -m cli reports daily --day D`` sends it again),
    so a report nobody received shows in the Prefect UI and its automations, not only in a log line.
    """
    logger = get_run_logger()
    chosen = report_day(day)  # a day not over yet is refused before anything is kept
    stored = await build_report(chosen)
    await publish_report(stored)
    figures = stored.figures
    summary = {
        "day": chosen.isoformat(),
        "messages_sent": figures.messages_sent,
        "messages_failed": figures.messages_failed,
        "briefs_finished": figures.briefs_finished.count,
        "pages_counted": figures.pages_counted,
    }
    if not (send and get_settings().report.send):
        logger.info("report of %s kept and published; not e-mailed (send off)", chosen)
        return Completed(message=f"report of {chosen} kept, not e-mailed", data=summary)
    outcome = await email_report(chosen)
    if outcome.error:
        logger.error("report of %s kept and published, but not e-mailed: %s", chosen, outcome.error)
        return Failed(message=f"report of {chosen} kept, e-mail failed: {outcome.error}", data=summary)
    logger.info("report of %s e-mailed to %s", chosen, ", ".join(outcome.recipients))
    return Completed(message=f"report of {chosen} e-mailed", data=summary)
