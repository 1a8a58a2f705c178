"""Mailings: clients, new mailings, and each mailing's progress while its messages are sent."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from textwrap import shorten
from typing import Literal, NoReturn
from zoneinfo import ZoneInfo

import altair as alt
import pandas as pd
import streamlit as st

from core.display import plural
from dashboard import data
from dashboard.widgets import live, submit_and_start
from db.mailing import UNSET, MailingStats, Unset
from deployments import runs
from rules.mailing import MessageStatus

RECENT = 100
SELECTED = "selected_mailing"
NOTES = "mailing_notes"
DEFAULT_TIMEZONE = "Europe/Moscow"
FOUND_CLIENTS = 200
LABEL_TEXT = 50  # characters of a mailing's text in the picker
TEXT_COLUMN_PIXELS = 150  # the start of the text: the picker and the Edit form show all of it
DAY = timedelta(days=1)
TIME_STEP = timedelta(minutes=5)  # the picker's choices; any minute can be typed
UNKNOWN_OUTCOMES = (
    "Sends whose answer never came (a read timeout or a lost connection after the request went out), "
    "each tried again: the only sends that may have reached the gateway twice."
)
SEND_MINUTE = "utcyearmonthdatehoursminutes(minute):T"  # a bar a minute wide, the minute read as UTC

Note = tuple[Literal["success", "info", "error"], str]


def moment_input(label: str, default: datetime, zone: ZoneInfo, key: str) -> datetime:
    """A date and a time side by side, read as an aware datetime in ``zone``."""
    local = default.astimezone(zone).replace(second=0, microsecond=0)
    day_column, clock_column = st.columns(2)
    day = day_column.date_input(f"{label} date", value=local.date(), key=f"{key}-day")
    clock = clock_column.time_input(f"{label} time", value=local.time(), step=TIME_STEP, key=f"{key}-time")
    return datetime.combine(day, clock, tzinfo=zone)


def unless_same(moment: datetime, stored: datetime) -> datetime | None:
    """None when ``moment`` is ``stored`` as shown (to the minute): the form left it unchanged."""
    return None if moment == stored.replace(second=0, microsecond=0) else moment


# --- clients --------------------------------------------------------------------------------------


def add_client_form() -> None:
    """Add one client; say what was stored or why not."""
    with st.form("client"):
        st.markdown("**Add a client**")
        phone = st.text_input("Phone", placeholder="+7 912 345-67-89", key="client-phone")
        tag = st.text_input("Tag", key="client-tag")
        timezone = st.text_input("Client timezone", value=DEFAULT_TIMEZONE, key="client-timezone")
        operator_code = st.text_input("Operator code", placeholder="from the phone", key="client-operator")
        submitted = st.form_submit_button("Add client", type="primary")
    if not submitted:
        return
    try:
        client = data.add_client(phone, tag, timezone, operator_code)
    except ValueError as exc:
        st.error(f"Not added: {exc}.")
        return
    st.success(f"Client {client['phone']} added (operator code {client['operator code']}).")


def import_form() -> None:
    """Import a CSV file of clients when the form is submitted, and show the report."""
    with st.form("import"):
        st.markdown("**Import clients from CSV**")
        upload = st.file_uploader(
            "A header with `phone` and optionally `tag`, `timezone`, `operator_code`; "
            "known phones are updated",
            type="csv",
        )
        submitted = st.form_submit_button("Import")
    if not submitted:
        return
    if upload is None:
        st.error("Choose a CSV file first.")
        return
    try:
        report = data.import_clients(upload.getvalue())
    except ValueError as exc:
        st.error(f"Nothing imported: {exc}.")
        return
    st.success(f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged.")
    if report.errors:
        st.warning(f"{len(report.errors)} rows skipped:")
        st.table(data.import_errors_frame(report), hide_index=True)


def find_clients() -> None:
    """Clients matching the filters as they are typed."""
    st.subheader("Find clients")
    tag_column, code_column, prefix_column = st.columns(3)
    tag = tag_column.text_input("Tag", key="find-tag")
    operator_code = code_column.text_input("Operator code", key="find-operator")
    phone_prefix = prefix_column.text_input("Phone starts with", placeholder="7912", key="find-phone")
    clients = data.clients_frame(tag, operator_code, phone_prefix, limit=FOUND_CLIENTS)
    shown = f"the first {FOUND_CLIENTS}" if len(clients) == FOUND_CLIENTS else str(len(clients))
    st.caption(f"Showing {shown} matching clients.")
    st.dataframe(clients, hide_index=True)


# --- new mailing ----------------------------------------------------------------------------------


def new_mailing_form(zone: ZoneInfo) -> None:
    """The filter with a live count of its clients, then the rest of the mailing in a form."""
    code_column, tag_column = st.columns(2)
    operator_code = code_column.text_input("Operator code filter", placeholder="any", key="new-operator")
    tag = tag_column.text_input("Tag filter", placeholder="any", key="new-tag")
    matching = data.matching_clients(operator_code, tag)
    if matching:
        st.markdown(f"**{matching}** clients match this filter now.")
    else:
        st.warning("No client matches this filter: a mailing to it would have no messages.")
    now = datetime.now(zone)
    with st.form("mailing"):
        text = st.text_area("Text", key="new-text")
        st.caption(f"Start and end are in {zone.key}; a start already past starts the mailing now.")
        starts_at = moment_input("Start", now, zone, "new-start")
        ends_at = moment_input("End", now + DAY, zone, "new-end")
        daily = st.checkbox("Send only between these times of each client's own day", key="new-daily")
        from_column, until_column = st.columns(2)
        daily_from = from_column.time_input("From", value=time(9), step=TIME_STEP, key="new-from")
        daily_until = until_column.time_input("Until", value=time(21), step=TIME_STEP, key="new-until")
        submitted = st.form_submit_button("Create mailing", type="primary")
    if submitted:
        create(text, starts_at, ends_at, operator_code, tag, (daily_from, daily_until) if daily else None)


def create(
    text: str,
    starts_at: datetime,
    ends_at: datetime,
    operator_code: str,
    tag: str,
    daily: tuple[time, time] | None,
) -> None:
    """Store the mailing (once: the same form again is not a second mailing), pick it on the Mailings
    tab, and start sending it if its window is open."""
    created = submit_and_start(
        "mailing",
        (text, starts_at, ends_at, operator_code, tag, daily),
        store=lambda: data.create_mailing(text, starts_at, ends_at, operator_code, tag, daily),
        stored=lambda created: f"Mailing {created.id} created with {plural(created.messages, 'message')}.",
        start=lambda created: runs.start_dispatch(created.id) if created.starts_now else None,
    )
    if created is not None:
        st.session_state[SELECTED] = created.id


# --- mailings and the selected one ----------------------------------------------------------------


def mailing_label(stats: MailingStats, zone: ZoneInfo) -> str:
    """How a mailing is named in the picker."""
    text = shorten(stats.text, LABEL_TEXT, placeholder="…")
    return f"#{stats.id} · {text!r} · starts {data.local_time(stats.starts_at, zone)}"


def report(mailing_id: int, *notes: Note) -> NoReturn:
    """Keep what an action on a mailing did for the next run, and rerun the whole page to show its effect.

    Shown through session state, the notes outlive that rerun and the two-second refreshes; they stay
    until the next action or until another mailing is picked.
    """
    st.session_state[NOTES] = (mailing_id, notes)
    st.rerun(scope="app")


def show_notes(mailing_id: int) -> None:
    """What the last action on this mailing did; forgets the notes of another mailing."""
    noted_id, notes = st.session_state.get(NOTES, (mailing_id, ()))
    if noted_id != mailing_id:
        del st.session_state[NOTES]
        return
    for kind, text in notes:
        getattr(st, kind)(text)


def cancel_button(stats: MailingStats) -> None:
    """Cancel the mailing's unsent messages; only while it has some to send."""
    if st.button("Cancel mailing", disabled=stats.state in ("cancelled", "finished"), key="cancel"):
        cancelled = data.cancel_mailing(stats.id)
        report(stats.id, ("success", f"Mailing {stats.id} cancelled: {cancelled} unsent messages cancelled."))


def start_and_filter_inputs(
    stats: MailingStats, zone: ZoneInfo, key: str
) -> tuple[datetime | None, str | Unset, str | Unset]:
    """Before a mailing starts, its start (None when unchanged) and filter; after, nothing to change."""
    if stats.state != "scheduled":
        st.caption("The mailing has started: only its text and end can change.")
        return None, UNSET, UNSET
    starts_at = moment_input("Start", stats.starts_at, zone, f"{key}-start")
    code_column, tag_column = st.columns(2)
    operator_code = code_column.text_input(
        "Operator code filter", value=stats.filter_operator_code or "", key=f"{key}-operator"
    )
    tag = tag_column.text_input("Tag filter", value=stats.filter_tag or "", key=f"{key}-tag")
    return unless_same(starts_at, stats.starts_at), operator_code, tag


def edit_form(stats: MailingStats, zone: ZoneInfo) -> None:
    """Change the text and end of a mailing, and its start and filter before it starts."""
    if stats.state == "cancelled":
        return
    key = f"edit-{stats.id}"
    with st.expander("Edit"), st.form(key):
        text = st.text_area("Text", value=data.mailing_text(stats.id), key=f"{key}-text")
        st.caption(f"Times are in {zone.key}.")
        ends_at = moment_input("End", stats.ends_at, zone, f"{key}-end")
        starts_at, operator_code, tag = start_and_filter_inputs(stats, zone, key)
        submitted = st.form_submit_button("Save changes")
    if not submitted:
        return
    try:
        changed = data.update_mailing(
            stats.id,
            text=text,
            ends_at=unless_same(ends_at, stats.ends_at),
            starts_at=starts_at,
            filter_operator_code=operator_code,
            filter_tag=tag,
        )
    except ValueError as exc:
        report(stats.id, ("error", f"Not changed: {exc}."))
    saved: Note = ("success", f"Mailing {stats.id} saved: {changed.messages} messages.")
    if stats.state == "scheduled" and changed.starts_now:
        report(stats.id, saved, ("info", runs.start_dispatch(stats.id)))
    report(stats.id, saved)


def sends_chart(sends: pd.DataFrame) -> alt.Chart:
    """A bar a minute wide for each minute with sends.

    The minutes are naive wall-clock times of the page's timezone: read as UTC, they show as given
    whatever the browser's own timezone.
    """
    return (
        alt.Chart(sends)
        .mark_bar()
        .encode(
            x=alt.X(SEND_MINUTE, title=None, axis=alt.Axis(format="%H:%M")),
            y=alt.Y("sent:Q", title="messages sent"),
            tooltip=[alt.Tooltip(SEND_MINUTE, title="minute", format="%Y-%m-%d %H:%M"), "sent:Q"],
        )
        .properties(height=220)
    )


def show_detail(mailing_id: int, zone: ZoneInfo) -> MailingStats:
    """Counts by status, progress, sends per minute and problem messages of a mailing; returns its counts."""
    detail = data.mailing_detail(mailing_id)
    stats = detail.stats
    st.subheader(f"Mailing {mailing_id}: {stats.state}")
    st.caption(
        f"{data.local_time(stats.starts_at, zone)} – {data.local_time(stats.ends_at, zone)} ({zone.key}) · "
        f"{data.mailing_filter(stats)}"
    )
    *by_status, unknown = st.columns(len(MessageStatus) + 1)
    for column, status in zip(by_status, MessageStatus, strict=True):
        column.metric(status.value.capitalize(), getattr(stats, status.value), border=True)
    unknown.metric("Unknown outcomes", stats.unknown_outcomes, border=True, help=UNKNOWN_OUTCOMES)
    to_send = stats.total - stats.cancelled
    st.progress(
        data.mailing_done_share(stats), text=f"{stats.sent + stats.failure} of {to_send} messages done"
    )
    st.markdown(f"**Sent per minute** ({zone.key})")
    if detail.sends_per_minute:
        st.altair_chart(sends_chart(data.sends_frame(detail.sends_per_minute, zone)))
    else:
        st.caption("Nothing sent yet.")
    st.markdown("**Problem messages**")
    if detail.problems:
        st.table(data.problems_frame(detail.problems, zone), hide_index=True)
    else:
        st.caption("None: no message failed or met an error.")
    return stats


def select_mailing(summaries: list[MailingStats], zone: ZoneInfo) -> MailingStats:
    """The mailing picked, the newest by default (and when the one picked is no longer listed)."""
    by_id = {stats.id: stats for stats in summaries}
    if st.session_state.get(SELECTED) not in by_id:
        st.session_state.pop(SELECTED, None)
    selected = st.selectbox(
        "Mailing", by_id, format_func=lambda mailing_id: mailing_label(by_id[mailing_id], zone), key=SELECTED
    )
    return by_id[selected]


def show_mailings(zone: ZoneInfo) -> None:
    """Mailings, actions on the selected one and its detail."""
    summaries = data.recent_mailings(limit=RECENT)
    if not summaries:
        st.info("No mailings yet: add clients, then create one on the New mailing tab.")
        return
    st.caption(f"Times are in {zone.key}.")
    st.dataframe(
        data.mailings_frame(summaries, zone),
        hide_index=True,
        column_config={
            "text": st.column_config.TextColumn(width=TEXT_COLUMN_PIXELS),
            "done": st.column_config.ProgressColumn(
                "done", format="percent", min_value=0.0, max_value=1.0, width="small"
            ),
        },
    )
    selected = select_mailing(summaries, zone)
    cancel_button(selected)
    edit_form(selected, zone)
    show_notes(selected.id)
    show_detail(selected.id, zone)


def selected_is_sending() -> bool:
    """Whether the selected mailing (or the newest) is sending now: the page refreshes while it is."""
    return data.mailing_state(st.session_state.get(SELECTED)) == "sending"


st.title("Mailings")
st.caption(
    "Send a text to every client matching a filter inside a time window, through the notification gateway."
)
zone_name = st.text_input("Timezone of the dates and times on this page", value=DEFAULT_TIMEZONE, width=360)
try:
    zone = data.zone_named(zone_name)
except ValueError as exc:
    st.error(f"{exc}: give an IANA name such as Europe/Moscow or UTC.")
    st.stop()

mailings_tab, new_tab, clients_tab = st.tabs(["Mailings", "New mailing", "Clients"])
with clients_tab:
    add_column, import_column = st.columns(2)
    with add_column:
        add_client_form()
    with import_column:
        import_form()
    find_clients()
with new_tab:
    new_mailing_form(zone)
with mailings_tab:
    live(lambda: show_mailings(zone), busy=selected_is_sending)
