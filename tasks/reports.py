"""Tasks of the daily report: build and keep it, publish it as a markdown artifact, e-mail it."""

from __future__ import annotations

import asyncio
from datetime import date

from prefect import task
from prefect.artifacts import acreate_markdown_artifact

from commands.reports import EmailOutcome, build_daily_report, email_daily_report
from db.reports import StoredReport
from tasks.artifacts import report

ARTIFACT_KEY = "daily-report"


@task(task_run_name="build the report of {day}")
async def build_report(day: date | None) -> StoredReport:
    """Sum the day from every domain, render it and keep it (replacing one of that day)."""
    return await asyncio.to_thread(build_daily_report, day)


@task(task_run_name="publish the report of {stored.day}")
async def publish_report(stored: StoredReport) -> bool:
    """The report as the ``daily-report`` markdown artifact; a refused write is logged, never raised."""
    write = acreate_markdown_artifact(
        markdown=stored.markdown,
        key=ARTIFACT_KEY,
        description=f"Daily report of {stored.day.isoformat()} ({stored.timezone})",
    )
    return await report(write, "daily report artifact")


@task(task_run_name="e-mail the report of {day}")
async def email_report(day: date) -> EmailOutcome:
    """Send the kept report to the recipients and record the outcome on its row (never raises for a
    failed send: the outcome carries the error). Not retried: a send whose outcome is unknown could
    arrive twice."""
    return await asyncio.to_thread(email_daily_report, day)
