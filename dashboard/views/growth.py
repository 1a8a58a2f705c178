"""Growth: connected accounts of the photo network, their settings and switches, follow and like jobs
with their candidates, stats against the quotas, notices, and the job logic."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from commands.growth import MAX_JOB_SIZE
from core.display import moment, plural
from core.settings import JobLogic
from dashboard import growth_data
from dashboard.widgets import live, pick, report, show_notes, stored_toggle, submit_and_start
from db.growth.reports import AccountSummary, JobSummary
from deployments import runs
from rules.growth import (
    AccountSettings,
    AccountState,
    FollowSource,
    JobStatus,
    TargetStatus,
    UnfollowPolicy,
)

SELECTED_ACCOUNT = "growth_account"
SELECTED_JOB = "growth_job"
SWITCHES = {"likes_on": "Likes", "follows_on": "Follows", "unfollows_on": "Unfollows"}
QUOTAS = {"like_quota": "Likes", "follow_quota": "Follows", "unfollow_quota": "Unfollows"}
HOURS_STEP = 900  # seconds: the working-hours pickers' choices; any minute can be typed
DEFAULT_TIMEZONE = "Europe/Moscow"
PAUSABLE = (JobStatus.ADDED, JobStatus.PROCESSING, JobStatus.FOLLOWS)

# --- accounts -------------------------------------------------------------------------------------


def show_accounts_table() -> None:
    accounts = growth_data.account_summaries()
    if not accounts:
        st.info("No connected account yet: add one on the Add an account tab.")
        return
    st.dataframe(growth_data.accounts_frame(accounts), hide_index=True)


def account_label(account: AccountSummary) -> str:
    return f"@{account.username} · {account.owner} · {growth_data.state_label(account)}"


def select_account(accounts: list[AccountSummary]) -> AccountSummary:
    """The account picked (the first by default, and when the one picked is no longer listed)."""
    return pick(
        "Account", {account.id: account for account in accounts}, describe=account_label, key=SELECTED_ACCOUNT
    )


def switches(account: AccountSummary) -> None:
    """The account's three switches, each stored as soon as it is toggled."""
    for column, name in zip(st.columns(len(SWITCHES)), SWITCHES, strict=True):

        def store(on: bool, name: str = name) -> str:
            growth_data.change_switch(account.id, name, on)
            return f"{SWITCHES[name]} of @{account.username} turned {'on' if on else 'off'}."

        stored_toggle(
            column, SWITCHES[name], key=f"{name}-{account.id}", value=getattr(account, name), store=store
        )


def state_controls(account: AccountSummary) -> None:
    """Pause or resume the account; one that needs attention is logged in again with its password."""
    if account.state is AccountState.ACTIVE:
        if st.button("Pause account", key=f"pause-{account.id}", help="its running batches stop at once"):
            growth_data.pause_account(account.id)
            report(("success", f"@{account.username} paused."))
        return
    if account.state is AccountState.PAUSED:
        st.info(f"@{account.username} is paused ({account.state_reason or 'by its owner'}).")
        if st.button("Resume account", key=f"resume-{account.id}"):
            resume(account, None)
        return
    st.error(
        f"@{account.username} needs attention: {account.state_reason or 'the network asked for a login'}. "
        "Log it in again to resume it."
    )
    with st.form(f"relogin-{account.id}"):
        password = st.text_input("Password", type="password", key=f"relogin-password-{account.id}")
        submitted = st.form_submit_button("Log in again and resume")
    if submitted:
        resume(account, password)


def resume(account: AccountSummary, password: str | None) -> None:
    try:
        moved = growth_data.resume_account(account.id, password)
    except ValueError as exc:
        report(("error", f"Not resumed: {exc}."))
    if moved:
        report(("success", f"@{account.username} resumed."))
    report(("info", f"@{account.username} was not resumed: its state changed meanwhile."))


def block_controls(account: AccountSummary) -> None:
    """The account's blocks with their end, and a button to lift one early."""
    if not account.blocks:
        return
    for block in account.blocks:
        st.warning(f"Blocked: {growth_data.block_label(block)}")
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    action = left.selectbox(
        "Block to lift", [block.action for block in account.blocks], key=f"block-{account.id}"
    )
    if right.button("Lift block", key=f"lift-{account.id}", help="the network may block it again"):
        lifted = growth_data.lift_block(account.id, action)
        said = f"{action} of @{account.username} unblocked." if lifted else "That block had ended already."
        report(("success", said))


def like_job_button(account: AccountSummary) -> None:
    idle = not account.likes_on or account.state is not AccountState.ACTIVE
    hint = "turn likes on (and the account active) first: until then a like job would wait"
    helped = hint if idle else "like recent posts of some followers"
    if not st.button("Like job now", key=f"like-{account.id}", help=helped, disabled=idle):
        return
    try:
        created = growth_data.create_like_job(account.id)
    except ValueError as exc:
        report(("error", f"No like job: {exc}."))
    started = runs.start_growth_job(created.kind, False, f"Job {created.id}")
    report(("success", f"Job {created.id} stored: {created.description}."), ("info", started))


def follow_job_form(account: AccountSummary) -> None:
    """A follow job of the account: candidates from a target account, a hashtag or a location."""
    with st.form(f"follow-{account.id}"):
        st.markdown(f"**New follow job** of @{account.username}")
        left, middle, right = st.columns([1, 2, 1])
        source = left.selectbox(
            "Source", list(FollowSource), format_func=str, key=f"follow-source-{account.id}"
        )
        target = middle.text_input(
            "Target", placeholder="a username, a hashtag or a location id", key=f"follow-target-{account.id}"
        )
        count = right.number_input(
            "Count", min_value=1, max_value=MAX_JOB_SIZE, value=50, step=1, key=f"follow-count-{account.id}"
        )
        submitted = st.form_submit_button("Create follow job", type="primary")
    if not submitted:
        return
    created = submit_and_start(
        f"follow-{account.id}",
        (str(source), target, int(count)),
        store=lambda: growth_data.create_follow_job(account.id, str(source), target, int(count)),
        stored=lambda job: f"Job {job.id} stored: {job.description}.",
        start=lambda job: runs.start_growth_job(job.kind, False, f"Job {job.id}"),
    )
    if created is not None:
        st.session_state[SELECTED_JOB] = created.id


def quota_inputs(settings: AccountSettings, key: str) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name, label in QUOTAS.items():
        quota = getattr(settings, name)
        left, right = st.columns(2)
        per_hour = left.number_input(
            f"{label} per hour", min_value=0, value=quota.per_hour, step=1, key=f"{key}-{name}-hour"
        )
        per_day = right.number_input(
            f"{label} per day", min_value=0, value=quota.per_day, step=1, key=f"{key}-{name}-day"
        )
        changes[name] = {"per_hour": int(per_hour), "per_day": int(per_day)}
    return changes


def pacing_inputs(settings: AccountSettings, key: str) -> dict[str, Any]:
    calls, low, high = st.columns(3)
    changes: dict[str, Any] = {
        "calls_per_day": int(
            calls.number_input(
                "Server calls per day",
                min_value=0,
                value=settings.calls_per_day,
                step=100,
                key=f"{key}-calls",
            )
        ),
        "min_delay": low.number_input(
            "Least seconds between actions", min_value=0.0, value=settings.min_delay, key=f"{key}-min-delay"
        ),
        "max_delay": high.number_input(
            "Most seconds between actions", min_value=0.0, value=settings.max_delay, key=f"{key}-max-delay"
        ),
    }
    start, end = st.columns(2)
    changes["work_from"] = start.time_input(
        "Works from", value=settings.work_from, step=HOURS_STEP, key=f"{key}-from"
    )
    changes["work_until"] = end.time_input(
        "Works until", value=settings.work_until, step=HOURS_STEP, key=f"{key}-until"
    )
    st.caption("Working hours are in the account's timezone; equal times mean all day.")
    return changes


def optional_count(column: Any, label: str, value: int | None, key: str) -> int | None:
    """A bound that may be off (left empty)."""
    chosen = column.number_input(label, min_value=0, value=value, step=1, key=key, placeholder="off")
    return None if chosen is None else int(chosen)


def skip_inputs(settings: AccountSettings, key: str) -> dict[str, Any]:
    skip = settings.skip
    st.markdown("**Skip** (users never acted on)")
    private, business, no_posts = st.columns(3)
    rules: dict[str, Any] = {
        "skip_private": private.checkbox("Private users", value=skip.skip_private, key=f"{key}-private"),
        "skip_business": business.checkbox(
            "Business accounts", value=skip.skip_business, key=f"{key}-business"
        ),
        "skip_no_posts": no_posts.checkbox(
            "Users with no posts", value=skip.skip_no_posts, key=f"{key}-noposts"
        ),
    }
    columns = st.columns(4)
    rules["min_followers"] = int(
        columns[0].number_input(
            "Min followers", min_value=0, value=skip.min_followers, step=1, key=f"{key}-min-followers"
        )
    )
    rules["max_followers"] = optional_count(
        columns[1], "Max followers", skip.max_followers, f"{key}-max-followers"
    )
    rules["min_followings"] = int(
        columns[2].number_input(
            "Min followings", min_value=0, value=skip.min_followings, step=1, key=f"{key}-min-followings"
        )
    )
    rules["max_followings"] = optional_count(
        columns[3], "Max followings", skip.max_followings, f"{key}-max-followings"
    )
    ratio, words = st.columns([1, 3])
    rules["max_ratio"] = ratio.number_input(
        "Max followers per following",
        value=skip.max_ratio,
        step=0.5,
        key=f"{key}-ratio",
        placeholder="off",
        help="empty: off",
    )
    rules["bio_keywords"] = words.text_input(
        "Bio words (comma-separated)", value=", ".join(skip.bio_keywords), key=f"{key}-bio"
    )
    return {"skip": rules}


def list_inputs(settings: AccountSettings, key: str) -> dict[str, Any]:
    black, white = st.columns(2)
    changes: dict[str, Any] = {
        "blacklist": black.text_area(
            "Blacklist: never acted on (one username per line)",
            value="\n".join(settings.blacklist),
            key=f"{key}-blacklist",
        ),
        "whitelist": white.text_area(
            "Whitelist: never unfollowed (one username per line)",
            value="\n".join(settings.whitelist),
            key=f"{key}-whitelist",
        ),
    }
    recent, after, policy = st.columns(3)
    changes["recent_days"] = int(
        recent.number_input(
            "Never the same user again within (days)",
            min_value=0,
            value=settings.recent_days,
            step=1,
            key=f"{key}-recent",
        )
    )
    changes["unfollow_after_days"] = int(
        after.number_input(
            "Unfollow after (days)",
            min_value=0,
            value=settings.unfollow_after_days,
            step=1,
            key=f"{key}-after",
        )
    )
    policies = list(UnfollowPolicy)
    changes["unfollow_policy"] = policy.selectbox(
        "Unfollow",
        policies,
        index=policies.index(settings.unfollow_policy),
        format_func=lambda p: (
            "everyone followed" if p is UnfollowPolicy.AFTER_DAYS else "who does not follow back"
        ),
        key=f"{key}-policy",
    )
    return changes


def settings_form(account: AccountSummary) -> None:
    """Every setting of the account in one form, saved all together or not at all."""
    settings = growth_data.settings_of(account.id)
    key = f"settings-{account.id}"
    with st.expander("Settings"), st.form(key):
        timezone = st.text_input("Timezone", value=account.timezone, key=f"{key}-timezone")
        changes = quota_inputs(settings, key)
        changes |= pacing_inputs(settings, key)
        changes |= skip_inputs(settings, key)
        changes |= list_inputs(settings, key)
        submitted = st.form_submit_button("Save settings")
    if not submitted:
        return
    try:
        growth_data.save_settings(account.id, changes, timezone)
    except ValueError as exc:
        report(("error", f"Not saved: {exc}."))
    report(
        ("success", f"Settings of @{account.username} saved: running jobs use them from their next action.")
    )


def show_account(account: AccountSummary) -> None:
    """Switches, state, blocks, new jobs and settings of the picked account."""
    switches(account)
    state_controls(account)
    block_controls(account)
    like_job_button(account)
    follow_job_form(account)
    settings_form(account)


# --- jobs -----------------------------------------------------------------------------------------


def job_label(job: JobSummary) -> str:
    return f"#{job.id} · @{job.account} · {job.description} · {job.status}"


def job_buttons(job: JobSummary) -> None:
    if job.status in PAUSABLE and st.button("Pause job", key=f"pause-job-{job.id}"):
        moved = growth_data.pause_job(job.id)
        report(("success", f"Job {job.id} paused.") if moved else ("info", f"Job {job.id} had ended."))
    if job.status is JobStatus.PAUSED and st.button("Resume job", key=f"resume-job-{job.id}"):
        resumed = growth_data.resume_job(job.id)
        if resumed is None:
            report(("info", f"Job {job.id} was not paused."))
        started = runs.start_growth_job(job.kind, resumed is JobStatus.FOLLOWS, f"Job {job.id}")
        report(("success", f"Job {job.id} resumed."), ("info", started))


def show_job(job: JobSummary) -> None:
    """The picked job's state, its buttons and its candidates."""
    st.progress(growth_data.done_share(job), text=f"{job.done} of {job.wanted} done")
    if job.wake_at and job.status in PAUSABLE:
        st.info(f"Waiting for {job.waiting_for or 'its time'} until {moment(job.wake_at)}.")
    if job.last_error:
        (st.error if job.status is JobStatus.FAILED else st.warning)(f"Last error: {job.last_error}")
    job_buttons(job)
    status = st.selectbox(
        "Candidates",
        [None, *TargetStatus],
        format_func=lambda s: "all" if s is None else str(s),
        key=f"targets-{job.id}",
    )
    targets = growth_data.targets_frame(job.id, status)
    st.caption(f"{plural(len(targets), 'candidate')} shown (at most {growth_data.TARGET_ROWS})")
    st.dataframe(targets, hide_index=True)


def show_jobs(account: AccountSummary | None) -> None:
    """Jobs (of the picked account unless all are asked for) and the picked job."""
    every = account is None or st.checkbox("Jobs of every account", key="growth_all_jobs")
    jobs = growth_data.job_summaries(None if every else account.id)
    if not jobs:
        st.info("No jobs yet.")
        return
    st.dataframe(
        growth_data.jobs_frame(jobs),
        hide_index=True,
        column_config={
            "progress": st.column_config.ProgressColumn(
                "progress", format="percent", min_value=0.0, max_value=1.0, width="small"
            )
        },
    )
    show_job(pick("Job", {job.id: job for job in jobs}, describe=job_label, key=SELECTED_JOB))


# --- stats ----------------------------------------------------------------------------------------


def show_stats(account: AccountSummary) -> None:
    """Followers over time, actions per day against the quotas, quota use now and skip reasons."""
    followers = growth_data.followers_frame(account.id)
    st.markdown("**Followers over time**")
    if followers.empty:
        st.caption("No sync has counted them yet.")
    else:
        long = followers.melt(id_vars="at", var_name="count", value_name="users")
        st.altair_chart(
            alt.Chart(long).mark_line(point=True).encode(x="at:T", y="users:Q", color="count:N"),
        )
    st.markdown("**Quota use now** (current hour and day windows)")
    st.dataframe(growth_data.quota_frame(account.id), hide_index=True)
    actions = growth_data.actions_frame(account.id)
    st.markdown("**Actions per day** (last 30 days, in the account's timezone)")
    if actions.empty:
        st.caption("Nothing done yet.")
    else:
        chart = actions.assign(day=pd.to_datetime(actions["day"]))
        bars = alt.Chart(chart).mark_bar().encode(x="day:T", y="done:Q", color="action:N", xOffset="action:N")
        quota = (
            alt.Chart(chart)
            .mark_tick(color="red", thickness=2)
            .encode(x="day:T", y="quota per day:Q", xOffset="action:N", tooltip=["action", "quota per day"])
        )
        st.altair_chart(bars + quota)
        st.dataframe(actions, hide_index=True)
    st.markdown("**Skipped candidates by reason**")
    skips = growth_data.skips_frame(account.id)
    if skips.empty:
        st.caption("None skipped.")
    else:
        st.dataframe(skips, hide_index=True)


# --- notices --------------------------------------------------------------------------------------


def show_notices(accounts: list[AccountSummary]) -> None:
    """Notices, unread first, and marking them read."""
    owners = sorted({account.owner for account in accounts})
    owner = st.selectbox(
        "Owner", [None, *owners], format_func=lambda o: o or "every owner", key="notice-owner"
    )
    usernames = {account.id: account.username for account in accounts}
    notices = growth_data.notices_frame(owner, usernames)
    if notices.empty:
        st.info("No notices.")
        return
    unread = notices.loc[~notices["read"], "id"].tolist()
    st.caption(f"{plural(len(unread), 'unread notice')}")
    st.dataframe(notices, hide_index=True)
    if not unread:
        return
    left, middle, right = st.columns([3, 1, 1], vertical_alignment="bottom")
    picked = left.multiselect("Notices to mark read", unread, key="notices-picked")
    if middle.button("Mark read", key="mark-read", disabled=not picked):
        marked = growth_data.mark_read([int(i) for i in picked], None)
        report(("success", f"{plural(marked, 'notice')} marked read."))
    if right.button("Mark all read", key="mark-all-read"):
        marked = growth_data.mark_read(None, owner)
        report(("success", f"{plural(marked, 'notice')} marked read."))


# --- new account and job logic ---------------------------------------------------------------------


def add_account_form() -> None:
    """Log an account in on the network, store it, and start its first sync."""
    with st.form("growth-add"):
        st.markdown("**Add an account**")
        owner_column, user_column = st.columns(2)
        owner = owner_column.text_input("Owner", key="add-owner")
        username = user_column.text_input("Username", placeholder="without @", key="add-username")
        password = st.text_input(
            "Password", type="password", key="add-password", help="used once to log in; never stored"
        )
        timezone = st.text_input("Timezone", value=DEFAULT_TIMEZONE, key="add-timezone")
        chosen = {
            name: column.checkbox(label, key=f"add-{name}")
            for column, (name, label) in zip(st.columns(len(SWITCHES)), SWITCHES.items(), strict=True)
        }
        submitted = st.form_submit_button("Add account", type="primary")
    if not submitted:
        return
    started: list[str] = []
    added = submit_and_start(
        "growth-add",
        (owner, username, timezone, tuple(chosen.items())),  # never the password
        store=lambda: growth_data.add_account(owner, username, password, timezone, chosen),
        stored=lambda added: f"@{added.username} connected (account {added.id}).",
        start=lambda added: started.append(runs.start_sync(added.id)),  # said after the rerun below
    )
    if added is not None:  # the page again, so the accounts above show the new one at once
        st.session_state[SELECTED_ACCOUNT] = added.id
        report(("success", f"@{added.username} connected (account {added.id})."), ("info", started[0]))


def logic_form() -> None:
    """The job logic's knobs, for every account; saved all together or not at all."""
    logic = growth_data.current_logic()
    with st.form("growth-logic"):
        st.markdown("**Job logic** (for every account)")
        values: dict[str, Any] = {}
        columns = st.columns(2)
        for number, (name, field) in enumerate(JobLogic.model_fields.items()):
            current = getattr(logic, name)
            values[name] = columns[number % 2].number_input(
                name.replace("_", " ").capitalize(),
                value=current,
                step=1 if isinstance(current, int) else 0.5,
                help=field.description,
                key=f"logic-{name}",
            )
        submitted = st.form_submit_button("Save job logic")
    if not submitted:
        return
    try:
        growth_data.change_logic(values)
    except ValueError as exc:
        report(("error", f"Not saved: {exc}."))
    report(("success", "Job logic saved: runs use it from their next job."))


# --- the page -------------------------------------------------------------------------------------


st.title("Growth")
st.caption(
    "Likes, follows and unfollows for connected accounts of the photo network, within their quotas, "
    "working hours and skip rules."
)
show_notes()
live(show_accounts_table, busy=growth_data.any_open_jobs)
summaries = growth_data.account_summaries()
selected = select_account(summaries) if summaries else None
account_tab, jobs_tab, stats_tab, notices_tab, add_tab, logic_tab = st.tabs(
    ["Account", "Jobs", "Stats", "Notices", "Add an account", "Job logic"]
)
with account_tab:
    if selected is None:
        st.info("Add an account first.")
    else:
        show_account(selected)
with jobs_tab:
    live(lambda: show_jobs(selected), busy=growth_data.any_open_jobs)
with stats_tab:
    if selected is None:
        st.info("Add an account first.")
    else:
        show_stats(selected)
with notices_tab:
    show_notices(summaries)
with add_tab:
    add_account_form()
with logic_tab:
    logic_form()
