"""Database access for the dashboard pages: one cached sessionmaker and thin helpers returning plain data.

The database comes from settings (``SWITCHYARD_DATABASE_URL``). Reads are not cached with
``st.cache_data``: each is one indexed query, pages re-read them every two seconds while work is
pending, and a request must show up the moment it is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from commands import mailing as commands
from commands.webpages import recount_failed, submit_pages
from core.secrets import redact
from core.settings import get_settings
from core.urls import split_urls
from db import mailing as mailing_db
from db import reports as report_db
from db.engine import session_factory
from db.mailing import (
    UNSET,
    Client,
    CreatedMailing,
    ImportReport,
    MailingDetail,
    MailingState,
    MailingStats,
    MessageProblem,
    Unset,
)
from db.reports import StoredReport
from db.webpages import (
    CreatedRequest,
    PageStatus,
    RequestSummary,
    count_unfinished,
    list_requests,
    request_pages,
    status_totals,
)
from rules.mailing import MessageStatus, check_timezone

PAGE_COLUMNS = ["url", "status", "count", "HTTP", "charset", "bytes", "elapsed ms", "error"]


@st.cache_resource(show_spinner=False)
def _sessions_for(database_url: str) -> sessionmaker[Session]:
    """One sessionmaker per database URL for the whole server process."""
    return session_factory(database_url)


def sessions() -> sessionmaker[Session]:
    """The sessionmaker for the settings' database."""
    return _sessions_for(get_settings().database_url)


def page_totals() -> dict[PageStatus, int]:
    """All pages counted by status."""
    with sessions().begin() as session:
        return status_totals(session)


def unfinished_pages() -> int:
    """Pages of any request not yet finished or failed."""
    with sessions().begin() as session:
        return count_unfinished(session)


def recent_requests(limit: int) -> list[RequestSummary]:
    """The newest requests first, with their pages counted by status."""
    with sessions().begin() as session:
        return list_requests(session, limit=limit)


def requests_frame(summaries: list[RequestSummary]) -> pd.DataFrame:
    """One row per request: counts by status and the share of pages done (0 to 1)."""
    return pd.DataFrame(
        [
            {
                "id": summary.id,
                "word": summary.word,
                "source": summary.source,
                "created": f"{summary.created_at:%Y-%m-%d %H:%M:%S} UTC",
                "total": summary.total,
                "not started": summary.not_started,
                "pending": summary.pending,
                "finished": summary.finished,
                "failed": summary.failed,
                "done": done_share(summary),
            }
            for summary in summaries
        ]
    )


def done_share(summary: RequestSummary) -> float:
    """Finished and failed pages as a share of all pages of the request."""
    return (summary.finished + summary.failed) / summary.total if summary.total else 1.0


def pages_frame(request_id: int) -> pd.DataFrame:
    """Every page of one request, in the order given, with its result."""
    with sessions().begin() as session:
        rows = [
            [
                page.url,
                page.status.value,
                page.count,
                page.http_status,
                page.charset,
                page.bytes_read,
                page.elapsed_ms,
                page.last_error,
            ]
            for page in request_pages(session, request_id=request_id)
        ]
    frame = pd.DataFrame(rows, columns=PAGE_COLUMNS)
    return frame.astype({column: "Int64" for column in ("count", "HTTP", "bytes", "elapsed ms")})


def submit_request(urls_text: str, word: str) -> CreatedRequest:
    """Store a dashboard request, one URL per line; raises ValueError (nothing stored) for bad input."""
    return submit_pages(split_urls(urls_text), word, source="dashboard", sessions=sessions())


def recount_request(request_id: int) -> int:
    """Put the failed pages of a request back in the queue (not those refused when stored); how many."""
    return recount_failed(request_id, sessions=sessions())


# --- mailings -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailingTotals:
    """All mailings, and all their messages by outcome (pending: new or being sent)."""

    mailings: int
    sent: int
    failure: int
    pending: int


def zone_named(name: str) -> ZoneInfo:
    """An IANA timezone; raises ValueError for an unknown name."""
    return ZoneInfo(check_timezone(name))


def mailing_totals() -> MailingTotals:
    """Mailings counted, and their messages by status, for the overview."""
    with sessions().begin() as session:
        mailings, by_status = mailing_db.message_totals(session)
    return MailingTotals(
        mailings=mailings,
        sent=by_status.get(MessageStatus.SENT, 0),
        failure=by_status.get(MessageStatus.FAILURE, 0),
        pending=by_status.get(MessageStatus.NEW, 0) + by_status.get(MessageStatus.SENDING, 0),
    )


def recent_reports(limit: int = 7) -> list[StoredReport]:
    """The last daily reports kept, newest day first."""
    with sessions().begin() as session:
        return report_db.recent_reports(session, limit=limit)


def reports_frame(reports: list[StoredReport]) -> pd.DataFrame:
    """One row per report: the day and a few of its figures, and whether it was e-mailed."""
    rows = [
        {
            "day": r.day.isoformat(),
            "messages sent": r.figures.messages_sent,
            "messages failed": r.figures.messages_failed,
            "briefs finished": r.figures.briefs_finished.count,
            "pages counted": r.figures.pages_counted,
            "posts published": r.figures.posts_published,
            "e-mailed": "yes" if r.emailed_at else ("failed" if r.email_error else "no"),
        }
        for r in reports
    ]
    return pd.DataFrame(rows)


def add_client(phone: str, tag: str, timezone: str, operator_code: str) -> dict[str, str | int]:
    """Store a client (a blank operator code is taken from the phone); raises ValueError, storing nothing."""
    client = commands.add_client(phone=phone, tag=tag, timezone=timezone, operator_code=operator_code)
    return _client_row(client)


def _client_row(client: Client) -> dict[str, str | int]:
    return {
        "id": client.id,
        "phone": client.phone,
        "operator code": client.operator_code,
        "tag": client.tag,
        "timezone": client.timezone,
    }


def import_clients(content: bytes) -> ImportReport:
    """Import an uploaded CSV file of clients; raises ValueError, importing nothing, for an unusable file."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("the file is not UTF-8 text") from None
    return commands.import_clients(text=text)


def import_errors_frame(report: ImportReport) -> pd.DataFrame:
    return pd.DataFrame(report.errors, columns=["line", "message"])


def clients_frame(tag: str, operator_code: str, phone_prefix: str, limit: int) -> pd.DataFrame:
    """The first ``limit`` clients matching every filter given (blank filters are ignored)."""
    with sessions().begin() as session:
        clients = mailing_db.find_clients(
            session, tag=tag, operator_code=operator_code, phone_prefix=phone_prefix, limit=limit
        )
        rows = [_client_row(client) for client in clients]
    return pd.DataFrame(rows, columns=["id", "phone", "operator code", "tag", "timezone"])


def matching_clients(operator_code: str, tag: str) -> int:
    """How many clients a mailing with this filter would be sent to now."""
    with sessions().begin() as session:
        return mailing_db.count_clients(session, operator_code=operator_code, tag=tag)


def create_mailing(
    text: str,
    starts_at: datetime,
    ends_at: datetime,
    operator_code: str,
    tag: str,
    daily: tuple[time, time] | None,
) -> CreatedMailing:
    """Store a mailing and its messages; raises ValueError (nothing stored) for bad input or a filter
    matching no client."""
    daily_from, daily_until = daily or (None, None)
    return commands.create_mailing(
        text=text,
        starts_at=starts_at,
        ends_at=ends_at,
        operator_code=operator_code,
        tag=tag,
        daily_from=daily_from,
        daily_until=daily_until,
    )


def update_mailing(
    mailing_id: int,
    *,
    text: str,
    ends_at: datetime | None,
    starts_at: datetime | None = None,
    filter_operator_code: str | Unset = UNSET,
    filter_tag: str | Unset = UNSET,
) -> CreatedMailing:
    """Change a mailing (None or UNSET: unchanged); raises ValueError, changing nothing."""
    return commands.update_mailing(
        mailing_id=mailing_id,
        text=text,
        starts_at=starts_at,
        ends_at=ends_at,
        operator_code=filter_operator_code,
        tag=filter_tag,
    )


def cancel_mailing(mailing_id: int) -> int:
    """Cancel a mailing; returns how many unsent messages were cancelled."""
    return commands.cancel_mailing(mailing_id=mailing_id)


def mailing_text(mailing_id: int) -> str:
    """The whole text of a mailing (the statistics carry its first 80 characters)."""
    with sessions().begin() as session:
        return mailing_db.mailing_text(session, mailing_id=mailing_id)


def recent_mailings(limit: int) -> list[MailingStats]:
    """The newest mailings first, with their messages counted by status."""
    with sessions().begin() as session:
        return mailing_db.mailing_stats(session, limit=limit)


def mailing_state(mailing_id: int | None) -> MailingState | None:
    """The state of a mailing, or of the newest one when none is given; None when there is none."""
    with sessions().begin() as session:
        found = mailing_db.mailing_stats(
            session, mailing_ids=None if mailing_id is None else [mailing_id], limit=1
        )
    return found[0].state if found else None


def mailing_detail(mailing_id: int) -> MailingDetail:
    """One mailing's counts, problem messages and sends per minute."""
    with sessions().begin() as session:
        return mailing_db.mailing_detail(session, mailing_id=mailing_id)


def mailing_done_share(stats: MailingStats) -> float:
    """Sent and failed messages as a share of those not cancelled (0 to 1)."""
    to_send = stats.total - stats.cancelled
    return (stats.sent + stats.failure) / to_send if to_send else 1.0


def mailing_filter(stats: MailingStats) -> str:
    """Who a mailing is for and when in their day, in words."""
    parts = []
    if stats.filter_operator_code:
        parts.append(f"operator {stats.filter_operator_code}")
    if stats.filter_tag:
        parts.append(f"tag {stats.filter_tag}")
    if stats.daily_from and stats.daily_until:
        parts.append(f"{stats.daily_from:%H:%M}–{stats.daily_until:%H:%M} local")
    return ", ".join(parts) or "all clients"


def local_time(moment: datetime, zone: ZoneInfo, *, seconds: bool = False) -> str:
    return (
        f"{moment.astimezone(zone):%Y-%m-%d %H:%M:%S}"
        if seconds
        else f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"
    )


def mailings_frame(summaries: list[MailingStats], zone: ZoneInfo) -> pd.DataFrame:
    """One row per mailing: its state and share done (first: they matter most), window, filter, counts."""
    return pd.DataFrame(
        [
            {
                "id": stats.id,
                "state": stats.state,
                "done": mailing_done_share(stats),
                "text": stats.text,
                "start": local_time(stats.starts_at, zone),
                "end": local_time(stats.ends_at, zone),
                "filter": mailing_filter(stats),
                "total": stats.total,
                **{status.value: getattr(stats, status.value) for status in MessageStatus},
                "unknown outcomes": stats.unknown_outcomes,
            }
            for stats in summaries
        ]
    )


def problems_frame(problems: list[MessageProblem], zone: ZoneInfo) -> pd.DataFrame:
    """The problem messages of a mailing, with the gateway token blanked out should an answer echo it."""
    rows = [
        [
            problem.id,
            problem.phone,
            problem.status.value,
            problem.attempts,
            problem.next_attempt_at and local_time(problem.next_attempt_at, zone, seconds=True),
            _redacted(problem.last_error),
            _redacted(problem.gateway_answer),
        ]
        for problem in problems
    ]
    columns = ["id", "phone", "status", "attempts", "next attempt", "last error", "gateway answer"]
    return pd.DataFrame(rows, columns=columns)


def _redacted(text: str | None) -> str | None:
    return text and redact(text, get_settings().gateway.token.get_secret_value(), "[token]")


def sends_frame(sends_per_minute: list[tuple[datetime, int]], zone: ZoneInfo) -> pd.DataFrame:
    """Messages sent per minute, the minutes as wall-clock times in ``zone`` (charts show them as given)."""
    return pd.DataFrame(
        [(minute.astimezone(zone).replace(tzinfo=None), sent) for minute, sent in sends_per_minute],
        columns=["minute", "sent"],
    )
