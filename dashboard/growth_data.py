"""Database access for the Growth page: plain data and frames from db/growth/reports.py, and the
growth commands the page's forms and buttons call. No session secret ever reaches a frame."""

from __future__ import annotations

from typing import Any

import pandas as pd

from commands import growth as commands
from core.display import moment
from core.settings import JobLogic
from dashboard.data import sessions
from db.growth import accounts as accounts_db
from db.growth import reports
from db.growth.reports import AccountSummary, Block, JobSummary
from rules.growth import AccountSettings, AccountState, Action, JobStatus, TargetStatus

NOTICE_ROWS = 200
JOB_ROWS = 200
TARGET_ROWS = 500


# --- reads ----------------------------------------------------------------------------------------


def account_summaries(owner: str | None = None) -> list[AccountSummary]:
    """Every connected account (of ``owner``), by username."""
    with sessions().begin() as session:
        return reports.accounts(session, owner=owner)


def state_label(account: AccountSummary) -> str:
    """``active``, ``paused`` or ``needs attention: <why>``."""
    label = account.state.value.replace("_", " ")
    if account.state is AccountState.NEEDS_ATTENTION and account.state_reason:
        return f"{label}: {account.state_reason}"
    return label


def block_label(block: Block) -> str:
    return f"{block.action} until {moment(block.until)} ({block.reason})"


def accounts_frame(accounts: list[AccountSummary]) -> pd.DataFrame:
    """One row per account: switches, state, counts, last sync, open jobs and blocks."""
    return pd.DataFrame(
        [
            {
                "id": account.id,
                "username": f"@{account.username}",
                "owner": account.owner,
                "likes": account.likes_on,
                "follows": account.follows_on,
                "unfollows": account.unfollows_on,
                "state": state_label(account),
                "followers": account.followers,
                "followings": account.followings,
                "last sync": moment(account.last_synced_at),
                "sync error": account.last_sync_error or "",
                "open jobs": account.open_jobs,
                "blocks": "; ".join(block_label(block) for block in account.blocks),
                "timezone": account.timezone,
            }
            for account in accounts
        ],
        columns=[
            "id", "username", "owner", "likes", "follows", "unfollows", "state", "followers", "followings",
            "last sync", "sync error", "open jobs", "blocks", "timezone",
        ],
    )  # fmt: skip


def settings_of(account_id: int) -> AccountSettings:
    """The account's settings now."""
    with sessions().begin() as session:
        return accounts_db.account_settings(accounts_db.find_account(session, account_id))


def job_summaries(account_id: int | None = None, open_only: bool = False) -> list[JobSummary]:
    with sessions().begin() as session:
        return reports.jobs(session, account_id=account_id, open_only=open_only, limit=JOB_ROWS)


def any_open_jobs() -> bool:
    """Whether some job is at work or waiting to be (a paused one is not): the page refreshes meanwhile."""
    with sessions().begin() as session:
        open_jobs = reports.jobs(session, open_only=True, limit=JOB_ROWS)
    return any(job.status is not JobStatus.PAUSED for job in open_jobs)


def done_share(job: JobSummary) -> float:
    return min(job.done / job.wanted, 1.0) if job.wanted else 0.0


def jobs_frame(jobs: list[JobSummary]) -> pd.DataFrame:
    """One row per job: progress (done of wanted), its counts and what it waits for."""
    return pd.DataFrame(
        [
            {
                "id": job.id,
                "account": f"@{job.account}",
                "job": job.description,
                "status": job.status.value,
                "done / wanted": f"{job.done} / {job.wanted}",
                "progress": done_share(job),
                "pending": job.pending,
                "skipped": job.skipped,
                "failed": job.failed,
                "batches": job.batches,
                "waiting for": job.waiting_for or "",
                "wakes": moment(job.wake_at) if job.wake_at else "",
                "created": moment(job.created_at),
                "finished": moment(job.finished_at) if job.finished_at else "",
                "last error": job.last_error or "",
            }
            for job in jobs
        ],
        columns=[
            "id", "account", "job", "status", "done / wanted", "progress", "pending", "skipped", "failed",
            "batches", "waiting for", "wakes", "created", "finished", "last error",
        ],
    )  # fmt: skip


def targets_frame(job_id: int, status: TargetStatus | None = None) -> pd.DataFrame:
    """A job's candidates in order: who, what became of each and why (a skip keeps its reason)."""
    with sessions().begin() as session:
        targets = reports.job_targets(session, job_id=job_id, status=status, limit=TARGET_ROWS)
        rows = [
            {
                "#": target.position,
                "username": f"@{target.username}",
                "status": target.status.value,
                "why": target.reason or "",
                "tries": target.tries,
                "decided": moment(target.decided_at) if target.decided_at else "",
            }
            for target in targets
        ]
    return pd.DataFrame(rows, columns=["#", "username", "status", "why", "tries", "decided"])


def followers_frame(account_id: int) -> pd.DataFrame:
    """Followers and followings at each sync."""
    with sessions().begin() as session:
        rows = [
            {"at": count.at, "followers": count.followers, "followings": count.followings}
            for count in reports.followers_over_time(session, account_id=account_id)
        ]
    return pd.DataFrame(rows, columns=["at", "followers", "followings"])


def actions_frame(account_id: int, days: int = 30) -> pd.DataFrame:
    """Done, failed and skipped per day and action, beside the action's daily quota."""
    with sessions().begin() as session:
        settings = accounts_db.account_settings(accounts_db.find_account(session, account_id))
        stats = reports.actions_per_day(session, account_id=account_id, days=days)
        rows = [
            {
                "day": stat.day,
                "action": stat.action,
                "done": stat.done,
                "failed": stat.failed,
                "skipped": stat.skipped,
                "quota per day": _daily_quota(settings, stat.action),
            }
            for stat in stats
        ]
    return pd.DataFrame(rows, columns=["day", "action", "done", "failed", "skipped", "quota per day"])


def _daily_quota(settings: AccountSettings, action: str) -> int | None:
    try:
        return settings.quota(Action(action)).per_day
    except ValueError:
        return None


def quota_frame(account_id: int) -> pd.DataFrame:
    """Uses of each action (and of server calls) in the current hour and day windows, against the quotas."""
    with sessions().begin() as session:
        use = reports.quota_use(session, account_id=account_id)
    return pd.DataFrame(
        [
            {
                "action": row.action,
                "this hour": row.hour_used,
                "per hour": row.hour_limit if row.hour_limit else None,
                "today": row.day_used,
                "per day": row.day_limit,
            }
            for row in use
        ],
        columns=["action", "this hour", "per hour", "today", "per day"],
    )


def skips_frame(account_id: int) -> pd.DataFrame:
    """Candidates of the account's jobs skipped, by reason, most first."""
    with sessions().begin() as session:
        counts = reports.skip_reasons(session, account_id=account_id)
    return pd.DataFrame(list(counts.items()), columns=["reason", "candidates"])


def notices_frame(owner: str | None, usernames: dict[int, str]) -> pd.DataFrame:
    """Notices, unread first, newest first within each."""
    with sessions().begin() as session:
        notices = accounts_db.list_notices(session, owner=owner, limit=NOTICE_ROWS)
        rows = [
            {
                "id": notice.id,
                "read": notice.read_at is not None,
                "at": moment(notice.created_at),
                "owner": notice.owner,
                "account": f"@{usernames[notice.account_id]}" if notice.account_id in usernames else "",
                "level": notice.level,
                "text": notice.text,
            }
            for notice in notices
        ]
    return pd.DataFrame(rows, columns=["id", "read", "at", "owner", "account", "level", "text"])


def current_logic() -> JobLogic:
    return commands.current_logic()


# --- writes (the growth commands: ValueError for bad input, nothing stored then) -------------------


def add_account(
    owner: str, username: str, password: str, timezone: str, switches: dict[str, bool]
) -> commands.AddedAccount:
    """Log the account in on the network and store it; raises ValueError."""
    return commands.add_account(
        owner=owner, username=username, password=password, timezone=timezone.strip(), **switches
    )


def change_switch(account_id: int, name: str, on: bool) -> None:
    """Turn one of the account's switches (``likes_on``, ``follows_on``, ``unfollows_on``) on or off."""
    commands.change_account(account_id, **{name: on})


def save_settings(account_id: int, changes: dict[str, Any], timezone: str) -> AccountSettings:
    """Save the settings form in one go (nothing of it when a field is bad); raises ValueError."""
    return commands.change_account(account_id, settings=changes, timezone=timezone.strip())


def pause_account(account_id: int) -> bool:
    return commands.pause_account(account_id)


def resume_account(account_id: int, password: str | None) -> bool:
    return commands.resume_account(account_id, password=password or None)


def lift_block(account_id: int, action: Action) -> bool:
    return commands.lift_block(account_id, action)


def create_follow_job(account_id: int, source: str, target: str, count: int) -> commands.CreatedJob:
    return commands.create_follow_job(account_id, source=source, target=target, count=count)


def create_like_job(account_id: int) -> commands.CreatedJob:
    return commands.create_like_job(account_id)


def pause_job(job_id: int) -> bool:
    return commands.pause_job(job_id)


def resume_job(job_id: int) -> JobStatus | None:
    return commands.resume_job(job_id)


def mark_read(notice_ids: list[int] | None, owner: str | None) -> int:
    return commands.mark_notices_read(notice_ids=notice_ids, owner=owner)


def change_logic(changes: dict[str, Any]) -> JobLogic:
    return commands.change_logic(**changes)
