"""The ``growth`` and ``secrets`` command groups: connect accounts of the photo network, change what
they do, start follow and like jobs, pause and resume accounts and jobs, read notices and stats,
change the job logic; make a secret key and re-encrypt the stored sessions with it.

Adding an account logs it in on the network (``SWITCHYARD_NETWORK__BASE_URL``) and starts its first
sync (``PREFECT_API_URL`` needed; without it the scheduled sync does it). Bad input exits with code 2
and a one-line message on stderr; nothing is stored then. Session secrets are never printed.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.common import echo_table, fail, one_line, refusing, transaction, utc
from commands import growth as commands
from core.settings import JobLogic
from db.growth import accounts as accounts_db
from db.growth import reports
from db.growth.models import Job
from rules.growth import AccountSettings, AccountState, Action, JobStatus, TargetStatus

growth_app = typer.Typer(
    help="Growth: likes, follows and unfollows for connected accounts of the photo network.",
    no_args_is_help=True,
)

NONE = {"none", "null", "off", ""}
Account = Annotated[str, typer.Argument(metavar="ACCOUNT", help="its username (with or without @) or id")]
Switch = Annotated[bool | None, typer.Option(show_default=False)]
Sets = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="NAME=VALUE",
        help="repeat it; nested names with dots (like_quota.per_hour=20, skip.max_followers=none)",
    ),
]


def _state(account: reports.AccountSummary) -> str:
    label = account.state.value.replace("_", " ")
    if account.state is AccountState.NEEDS_ATTENTION and account.state_reason:
        return f"{label}: {account.state_reason}"
    return label


def _switches(account: reports.AccountSummary) -> str:
    on = [name for name, value in (("likes", account.likes_on), ("follows", account.follows_on),
          ("unfollows", account.unfollows_on)) if value]  # fmt: skip
    return ",".join(on) or "-"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _parse_sets(sets: list[str]) -> dict[str, Any]:
    """``name=value`` pairs as a nested mapping (``a.b=1`` → ``{"a": {"b": "1"}}``); ``none`` is None."""
    changes: dict[str, Any] = {}
    for item in sets:
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise ValueError(f"not NAME=VALUE: {item!r}")
        *parents, leaf = name.strip().split(".")
        place = changes
        for parent in parents:
            place = place.setdefault(parent, {})
            if not isinstance(place, dict):
                raise ValueError(f"{name} is set twice")
        place[leaf] = None if value.strip().lower() in NONE else value.strip()
    return changes


def _merged(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` over ``current``, nested mappings merged (so one quota bound can change alone)."""
    merged = dict(current)
    for name, value in changes.items():
        if isinstance(value, dict) and isinstance(current.get(name), dict):
            merged[name] = _merged(current[name], value)
        else:
            merged[name] = value
    return merged


# --- accounts -------------------------------------------------------------------------------------


@growth_app.command("accounts")
def list_accounts(owner: Annotated[str | None, typer.Option(help="only this owner's")] = None) -> None:
    """Connected accounts: switches, state, followers, last sync, open jobs and blocks."""
    with transaction() as session:
        found = reports.accounts(session, owner=owner)
    rows = [
        (
            account.id,
            f"@{account.username}",
            account.owner,
            _switches(account),
            _state(account),
            _count(account.followers),
            _count(account.followings),
            utc(account.last_synced_at) if account.last_synced_at else "-",
            account.open_jobs,
            "; ".join(f"{block.action} until {utc(block.until)}" for block in account.blocks) or "-",
        )
        for account in found
    ]
    headers = (
        "id",
        "account",
        "owner",
        "on",
        "state",
        "followers",
        "followings",
        "last sync",
        "jobs",
        "blocks",
    )
    echo_table(headers, rows)
    for account in found:
        if account.last_sync_error:
            typer.echo(f"@{account.username}: last sync failed: {one_line(account.last_sync_error, 100)}")


@growth_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="the account's username on the network")],
    owner: Annotated[str, typer.Option(help="who the account belongs to")],
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, help="used once to log in; prompted hidden if not given"),
    ],
    timezone: Annotated[str, typer.Option(help="IANA name of its working hours' zone")] = "UTC",
    likes: Annotated[bool, typer.Option(help="like followers' posts")] = False,
    follows: Annotated[bool, typer.Option(help="work follow jobs")] = False,
    unfollows: Annotated[bool, typer.Option(help="unfollow by its policy")] = False,
) -> None:
    """Log an account in on the network, store it (its session encrypted) and start its first sync."""
    with refusing():
        added = commands.add_account(
            owner=owner,
            username=username,
            password=password,
            timezone=timezone,
            likes_on=likes,
            follows_on=follows,
            unfollows_on=unfollows,
        )
    typer.echo(f"account {added.id}: @{added.username} connected (user id {added.user_id})")
    from deployments.runs import start_sync  # imports Prefect (seconds): only when it is needed

    typer.echo(start_sync(added.id))


@growth_app.command("settings")
def settings(
    account: Account,
    sets: Sets = None,
    timezone: Annotated[str | None, typer.Option(help="IANA name of its working hours' zone")] = None,
    likes: Switch = None,
    follows: Switch = None,
    unfollows: Switch = None,
) -> None:
    """Show an account's settings, or change some of them, its timezone or its switches (all or nothing)."""
    changes = None
    if sets:
        with refusing():
            parsed = _parse_sets(sets)
        with transaction() as session:
            found = accounts_db.find_account(session, account)
            changes = _merged(accounts_db.account_settings(found).model_dump(mode="json"), parsed)
    with refusing():
        now = commands.change_account(
            account,
            settings=changes,
            timezone=timezone,
            likes_on=likes,
            follows_on=follows,
            unfollows_on=unfollows,
        )
    with transaction() as session:
        found = accounts_db.find_account(session, account)
        on = {
            name: "on" if getattr(found, f"{name}_on") else "off"
            for name in ("likes", "follows", "unfollows")
        }
        typer.echo(
            f"@{found.username}: timezone {found.timezone}; " + ", ".join(f"{n} {v}" for n, v in on.items())
        )
    for name, value in now.model_dump(mode="json").items():
        if isinstance(value, dict):
            value = ", ".join(f"{key}={'none' if v is None else v}" for key, v in value.items())
        elif isinstance(value, list):
            value = ",".join(value) or "-"
        typer.echo(f"{name}: {value}")


@growth_app.command("pause")
def pause(
    account: Annotated[str | None, typer.Argument(metavar="[ACCOUNT]", help="its username or id")] = None,
    job: Annotated[int | None, typer.Option(help="pause this job instead")] = None,
) -> None:
    """Pause an account (all its work stops before its next action), or one job with --job."""
    if (account is None) == (job is None):
        fail("give an account or --job N")
    with refusing():
        if job is not None:
            moved = commands.pause_job(job)
            typer.echo(f"job {job} paused" if moved else f"job {job} is not open: nothing to pause")
            return
        with transaction() as session:
            found = accounts_db.find_account(session, account)
            if found.state is AccountState.NEEDS_ATTENTION:  # pausing would let resume skip the login
                fail(f"{account} needs attention: resume it with its password instead")
        moved = commands.pause_account(account)
    typer.echo(f"{account} paused" if moved else f"{account} was not paused")


@growth_app.command("resume")
def resume(
    account: Annotated[str | None, typer.Argument(metavar="[ACCOUNT]", help="its username or id")] = None,
    job: Annotated[int | None, typer.Option(help="resume this job instead")] = None,
    password: Annotated[
        str | None, typer.Option(help="to log in again an account that needs attention (prompted if needed)")
    ] = None,
) -> None:
    """Let an account work again (one that needs attention is logged in again), or one job with --job."""
    if (account is None) == (job is None):
        fail("give an account or --job N")
    with refusing():
        if job is not None:
            resumed = commands.resume_job(job)
            if resumed is None:
                typer.echo(f"job {job} is not paused: nothing to resume")
                return
            typer.echo(f"job {job} resumed")
            _start_job(job, resumed is JobStatus.FOLLOWS)
            return
        if password is None:
            with transaction() as session:
                found = accounts_db.find_account(session, account)
                attention = found.state is AccountState.NEEDS_ATTENTION
                reason = found.state_reason
            if attention:
                typer.echo(f"{account} needs attention ({reason or 'a login'}): log it in again", err=True)
                password = typer.prompt("Password", hide_input=True)
        moved = commands.resume_account(account, password=password)
    typer.echo(f"{account} resumed" if moved else f"{account} was not resumed")


@growth_app.command("lift")
def lift(
    account: Account,
    action: Annotated[str, typer.Argument(help=f"one of {', '.join(Action)}")],
) -> None:
    """End a block of one action of an account early."""
    try:
        blocked = Action(action.strip().lower())
    except ValueError:
        fail(f"unknown action {action!r}: one of {', '.join(Action)}")
    with refusing():
        lifted = commands.lift_block(account, blocked)
    typer.echo(f"{blocked} of {account} unblocked" if lifted else f"{account} had no {blocked} block")


# --- jobs -----------------------------------------------------------------------------------------


@growth_app.command("follow")
def follow(
    account: Account,
    target: Annotated[str, typer.Argument(help="a username, a hashtag or a location id, as --by says")],
    by: Annotated[str, typer.Option(help="account (its followers), hashtag or location (recent posts)")],
    count: Annotated[int, typer.Option(help="candidates to follow")] = 50,
) -> None:
    """A follow job: candidates from an account's followers, a hashtag or a location, checked first."""
    with refusing():
        created = commands.create_follow_job(account, source=by.strip().lower(), target=target, count=count)
    typer.echo(f"job {created.id}: @{created.account} will {created.description}")
    _start_job(created.id, planned=False)


@growth_app.command("likes")
def likes(account: Account) -> None:
    """A like job now: like recent posts of some of the account's followers."""
    with refusing():
        created = commands.create_like_job(account)
    typer.echo(f"job {created.id}: @{created.account} will {created.description}")
    _start_job(created.id, planned=False)


def _start_job(job_id: int, planned: bool) -> None:
    """Start the run that works the job now (plan it, or act when ``planned``), and say what happened."""
    from deployments.runs import start_growth_job  # imports Prefect (seconds): only when it is needed

    with transaction() as session:
        kind = session.get(Job, job_id).kind
    typer.echo(start_growth_job(kind, planned, f"Job {job_id}"))


@growth_app.command("jobs")
def jobs(
    account: Annotated[str | None, typer.Argument(metavar="[ACCOUNT]", help="only this account's")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="only open jobs")] = False,
    job: Annotated[int | None, typer.Option(help="this job's candidates, with why any was skipped")] = None,
    status: Annotated[str | None, typer.Option(help="with --job: only candidates in this status")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, newest first")] = 50,
) -> None:
    """Jobs with their progress, or one job's candidates with --job."""
    if job is not None:
        show_candidates(job, status, limit)
        return
    with transaction() as session:
        account_id = accounts_db.find_account(session, account).id if account else None
        found = reports.jobs(session, account_id=account_id, open_only=open_only, limit=limit)
    rows = [
        (
            j.id,
            f"@{j.account}",
            j.description,
            j.status.value,
            f"{j.done}/{j.wanted}",
            j.pending,
            j.skipped,
            j.failed,
            j.batches,
            f"{j.waiting_for} until {utc(j.wake_at)}" if j.wake_at else "-",
            one_line(j.last_error, 40) or "-",
        )
        for j in found
    ]
    headers = ("id", "account", "job", "status", "done", "pending", "skipped", "failed", "batches",
               "waiting", "last error")  # fmt: skip
    echo_table(headers, rows)


def show_candidates(job_id: int, status: str | None, limit: int) -> None:
    """A job's candidates in order: what became of each, and why one was skipped or failed."""
    try:
        wanted = TargetStatus(status.strip().lower()) if status else None
    except ValueError:
        fail(f"unknown status {status!r}: one of {', '.join(TargetStatus)}")
    with transaction() as session:
        if session.get(Job, job_id) is None:
            fail(f"there is no growth job {job_id}")
        targets = reports.job_targets(session, job_id=job_id, status=wanted, limit=limit)
        rows = [(t.position, f"@{t.username}", t.status.value, t.reason or "-", t.tries) for t in targets]
    echo_table(("#", "candidate", "status", "why", "tries"), rows)


# --- notices, stats, logic ------------------------------------------------------------------------


@growth_app.command("notices")
def notices(
    owner: Annotated[str | None, typer.Option(help="only this owner's")] = None,
    read: Annotated[bool, typer.Option("--read", help="then mark the unread ones shown read")] = False,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, unread first")] = 50,
) -> None:
    """Notices of accounts' owners (blocks, challenges, finished jobs), unread first."""
    with transaction() as session:
        found = accounts_db.list_notices(session, owner=owner, limit=limit)
        usernames = {a.id: a.username for a in reports.accounts(session)}
        rows = [
            (
                n.id,
                "read" if n.read_at else "unread",
                utc(n.created_at),
                n.owner,
                f"@{usernames[n.account_id]}" if n.account_id in usernames else "-",
                n.level,
                one_line(n.text, 100),
            )
            for n in found
        ]
        unread = [n.id for n in found if n.read_at is None]
    echo_table(("id", "", "at", "owner", "account", "level", "text"), rows)
    if read and unread:
        marked = commands.mark_notices_read(notice_ids=unread)
        typer.echo(f"{marked} marked read")


@growth_app.command("stats")
def stats(
    account: Account,
    days: Annotated[int, typer.Option(min=1, max=3650, help="actions of the last this many days")] = 14,
) -> None:
    """Actions per day, quota use now, followers over time and skip reasons of an account."""
    with transaction() as session:
        found = accounts_db.find_account(session, account)
        account_id, username = found.id, found.username
        settings = accounts_db.account_settings(found)
        per_day = reports.actions_per_day(session, account_id=account_id, days=days)
        use = reports.quota_use(session, account_id=account_id)
        counts = reports.followers_over_time(session, account_id=account_id, limit=days)
        skips = reports.skip_reasons(session, account_id=account_id)
        day_rows = [
            (s.day.isoformat(), s.action, s.done, s.failed, s.skipped, _daily_quota(settings, s.action))
            for s in per_day
        ]
        count_rows = [(utc(c.at), c.followers, c.followings, c.posts) for c in counts]
    typer.echo(f"@{username}: actions per day (its timezone)")
    echo_table(("day", "action", "done", "failed", "skipped", "quota"), day_rows)
    typer.echo("\nquota use now (current hour and day windows)")
    echo_table(
        ("action", "hour", "per hour", "day", "per day"),
        [(q.action, q.hour_used, q.hour_limit or "-", q.day_used, q.day_limit) for q in use],
    )
    typer.echo("\nfollowers over time")
    echo_table(("at", "followers", "followings", "posts"), count_rows)
    typer.echo("\nskipped candidates by reason")
    echo_table(("reason", "candidates"), list(skips.items()))


def _daily_quota(settings: AccountSettings, action: str) -> int | str:
    try:
        return settings.quota(Action(action)).per_day
    except ValueError:
        return "-"


@growth_app.command("logic")
def logic(sets: Sets = None) -> None:
    """Show the job logic (for every account), or change some of its knobs (all or nothing)."""
    with refusing():
        changes = _parse_sets(sets or [])
        now = commands.change_logic(**changes) if changes else commands.current_logic()
    for name, field in JobLogic.model_fields.items():
        typer.echo(f"{name}: {getattr(now, name)}  ({field.description})")
