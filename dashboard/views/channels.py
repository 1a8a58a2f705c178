"""Channels: microblog brand accounts with their state and switches, composing and scheduling posts
into time slots, the queue by slot, repost and hashtag rules (tried against the home timeline), the
repost log, notifications, and connecting a channel."""

from __future__ import annotations

from collections import Counter
from typing import Any

import streamlit as st

from commands.channels import Scheduled
from core.display import moment, plural
from dashboard import channels_data
from dashboard.widgets import live, pick, report, show_notes, stored_toggle, submit_and_start
from db.channels.models import ChannelState
from db.channels.reports import ChannelSummary, QueuedPost, RuleSummary
from rules.channels import MAX_WEIGHTED_LENGTH, HashtagPosition, KeywordMode, PostState

SELECTED_CHANNEL = "channels_channel"
SELECTED_POST = "channels_post"
SELECTED_RULE = "channels_rule"
TRIED = "channels_tried"  # (channel id, what was tried, its posts) of the last "test" click
AUTHORIZE = "channels_authorize"  # (owner, link) of the last connect form
NEXT_SLOT, CHOSEN_TIME = "next free slot", "at a chosen time"
DEFAULT_TIMEZONE = "Europe/Moscow"
TIME_STEP = 300  # seconds: the time picker's choices; any minute can be typed


def name(channel: ChannelSummary) -> str:
    return f"@{channel.screen_name}"


# --- connecting (the microblog sends the browser back here with code and state) -------------------


def finish_connect_from_callback() -> None:
    """The page opened by the microblog's redirect: store the channel it authorised, say so, and take
    the code out of the address."""
    params = st.query_params.to_dict()
    if "state" not in params or not ({"code", "error"} & params.keys()):
        return
    st.query_params.clear()
    try:
        connected = channels_data.finish_connect(params)
    except ValueError as exc:
        st.error(f"Not connected: {exc}.")
        return
    st.session_state[SELECTED_CHANNEL] = connected.id
    st.session_state.pop(AUTHORIZE, None)
    again = "connected again: its new tokens are stored and it runs" if connected.reconnected else "connected"
    st.success(
        f"@{connected.screen_name} {again} (channel {connected.id}, owner {connected.owner}, "
        f"time zone {connected.timezone})."
    )


def connect_form() -> None:
    """Owner, time zone and (on the sandbox) which account to sign in as; then the authorize link."""
    with st.form("channels-connect"):
        st.markdown("**Connect a channel**")
        owner_column, zone_column, hint_column = st.columns(3)
        owner = owner_column.text_input("Owner", key="connect-owner")
        timezone = zone_column.text_input("Time zone", value=DEFAULT_TIMEZONE, key="connect-timezone")
        hint = hint_column.text_input(
            "Account to sign in as (optional)",
            key="connect-hint",
            help="a login hint; the sandbox signs in as this account (default demo_brand)",
        )
        submitted = st.form_submit_button("Get the authorize link", type="primary")
    if submitted:
        try:
            link = channels_data.begin_connect(owner, timezone, hint)
        except ValueError as exc:
            st.session_state.pop(AUTHORIZE, None)
            st.error(f"No link: {exc}.")
            return
        st.session_state[AUTHORIZE] = (owner.strip(), link)
    if AUTHORIZE in st.session_state:
        owner, link = st.session_state[AUTHORIZE]
        st.link_button("Authorize on the microblog", link, type="primary")
        st.caption(
            f"The microblog asks you to allow Switchyard, then sends you back to this page, which "
            f"stores the channel for {owner}. The link works once, for a short while."
        )


# --- channels -------------------------------------------------------------------------------------


def show_channels_table() -> None:
    channels = channels_data.channel_summaries()
    if not channels:
        st.info("No channel connected yet: connect one on the Connect a channel tab.")
        return
    st.dataframe(channels_data.channels_frame(channels), hide_index=True)


def channel_label(channel: ChannelSummary) -> str:
    return f"{name(channel)} · {channel.owner} · {channels_data.state_label(channel)}"


def show_state(channel: ChannelSummary) -> None:
    """State, token expiry, and the button that stops or starts the channel."""
    if channel.state is ChannelState.RUNNING:
        st.success(f"{name(channel)} is running.")
        if st.button("Stop channel", key=f"stop-{channel.id}", help="no posts and no reposts until started"):
            moved = channels_data.stop(channel.id)
            report(
                ("success", f"{name(channel)} stopped.")
                if moved
                else ("info", "Its state changed meanwhile.")
            )
    elif channel.state is ChannelState.STOPPED:
        st.info(f"{name(channel)} is stopped ({channel.state_reason or 'by its owner'}).")
        if st.button("Start channel", key=f"start-{channel.id}"):
            try:
                moved = channels_data.start(channel.id)
            except ValueError as exc:
                report(("error", f"Not started: {exc}."))
            report(
                ("success", f"{name(channel)} started.")
                if moved
                else ("info", "Its state changed meanwhile.")
            )
    else:
        st.error(
            f"{name(channel)} is unauthorised: {channel.state_reason or 'the microblog refused its token'}. "
            "Connect it again (Connect a channel tab) to resume it."
        )
    st.caption(
        f"Owner {channel.owner} · time zone {channel.timezone} · "
        f"token expires: {channels_data.token_label(channel)} (refreshed before it ends)"
    )


def show_switches(channel: ChannelSummary) -> None:
    """Scheduling, reposting and hashtags, each stored as soon as it is toggled."""
    for column, (switch, label) in zip(st.columns(3), channels_data.SWITCHES.items(), strict=True):

        def store(on: bool, switch: str = switch, label: str = label) -> str:
            channels_data.set_switch(channel.id, switch, on)
            return f"{label} of {name(channel)} turned {'on' if on else 'off'}."

        stored_toggle(
            column, label, key=f"{switch}-{channel.id}", value=getattr(channel, f"{switch}_on"), store=store
        )


# --- compose --------------------------------------------------------------------------------------


def show_preview(channel: ChannelSummary, text: str) -> bool:
    """The text as it would go out now (hashtags added) and its weighted length; whether it fits."""
    if not text.strip():
        st.caption(f"Preview: write a post (at most {MAX_WEIGHTED_LENGTH}, weighted).")
        return False
    shown = channels_data.preview(channel.id, text.strip())
    st.markdown("**Preview**")
    st.code(shown.text, language=None, wrap_lines=True)
    added = f" · hashtags added: {' '.join('#' + tag for tag in shown.added)}" if shown.added else ""
    st.caption(f"{shown.weighted} / {MAX_WEIGHTED_LENGTH} weighted{added}")
    if not shown.fits:
        st.error(
            f"Too long: {shown.weighted} weighted, at most {MAX_WEIGHTED_LENGTH} "
            "(URLs count 23, CJK characters and emoji 2)."
        )
    return shown.fits


def compose(channel: ChannelSummary) -> None:
    """Text, then the next free slot or a chosen time in the channel's time zone; a live preview."""
    if not channel.scheduling_on or channel.state is not ChannelState.RUNNING:
        st.warning(
            f"{name(channel)} publishes nothing until it runs with scheduling on: posts wait in the queue."
        )
    text = st.text_area("Post", key="compose-text", height=120, placeholder=f"What {name(channel)} says")
    when = st.radio("When", [NEXT_SLOT, CHOSEN_TIME], horizontal=True, key="compose-when")
    due = None
    if when == CHOSEN_TIME:
        start = channels_data.default_due(channel)
        day_column, time_column = st.columns(2)
        day = day_column.date_input("Date", value=start.date(), key="compose-date")
        at = time_column.time_input("Time", value=start.time(), step=TIME_STEP, key="compose-time")
        due = channels_data.due_at(day, at, channel)
        st.caption(f"In {channel.timezone}: {moment(due, channels_data.zone(channel))}.")
    else:
        slots = channels_data.slots_of(channel.id)
        slot_names = ", ".join(f"{slot:%H:%M}" for slot in slots) or "none: set them on the Queue tab"
        st.caption(f"Slots of {name(channel)} ({channel.timezone}): {slot_names}.")
    show_preview(channel, text)
    if not st.button("Schedule post", type="primary", key="compose-schedule"):
        return
    scheduled = submit_and_start(
        "channels-post",
        (channel.id, text.strip(), due),
        store=lambda: channels_data.schedule(channel.id, text, due),
        stored=lambda post: scheduled_note(post, channel),
        start=lambda post: None,  # publish-due-posts claims it a minute before its time
    )
    if scheduled is not None:
        report(("success", scheduled_note(scheduled, channel)))


def scheduled_note(post: Scheduled, channel: ChannelSummary) -> str:
    where = "its next free slot" if post.from_slot else "the chosen time"
    due = moment(post.due_at, channels_data.zone(channel))
    return f"Post {post.id} queued for @{post.channel} at {due} ({where})."


# --- queue ----------------------------------------------------------------------------------------


def slots_form(channel: ChannelSummary) -> None:
    slots = channels_data.slots_of(channel.id)
    with st.form(f"slots-{channel.id}"):
        text = st.text_input(
            f"Time slots (HH:MM in {channel.timezone}, comma-separated)",
            value=", ".join(f"{slot:%H:%M}" for slot in slots),
            key=f"slots-text-{channel.id}",
        )
        submitted = st.form_submit_button("Save slots")
    if not submitted:
        return
    try:
        saved = channels_data.set_slots(channel.id, text)
    except ValueError as exc:
        report(("error", f"Slots not saved: {exc}."))
    report(("success", f"Slots of {name(channel)}: {', '.join(f'{slot:%H:%M}' for slot in saved)}."))


def post_label(post: QueuedPost, channel: ChannelSummary) -> str:
    text = post.text if len(post.text) <= 40 else post.text[:39] + "…"
    return f"#{post.id} · {moment(post.due_at, channels_data.zone(channel))} · {post.status} · {text}"


def show_queue(channel: ChannelSummary) -> None:
    """The channel's open posts by slot, and cancelling or retrying one."""
    grouped = channels_data.queue_by_slot(channel)
    if not grouped:
        st.info(f"Nothing queued for {name(channel)}.")
        return
    posts: dict[int, QueuedPost] = {}
    for slot in sorted(grouped, key=lambda slot: (slot == "other time", slot)):
        st.markdown(f"**{slot}** · {plural(len(grouped[slot]), 'post')}")
        st.dataframe(channels_data.queue_frame(grouped[slot], channel), hide_index=True)
        posts |= {post.id: post for post in grouped[slot]}
    chosen = pick("Post", posts, describe=lambda post: post_label(post, channel), key=SELECTED_POST)
    if chosen.last_error:
        st.warning(f"Post {chosen.id}: {chosen.last_error}")
    cancel_column, retry_column = st.columns(2)
    if cancel_column.button(
        "Cancel post", key=f"cancel-{chosen.id}", disabled=chosen.status is PostState.PUBLISHING
    ):
        done = channels_data.cancel(chosen.id)
        report(
            ("success", f"Post {chosen.id} cancelled.")
            if done
            else ("info", f"Post {chosen.id} was out already.")
        )
    if retry_column.button(
        "Retry post",
        key=f"retry-{chosen.id}",
        disabled=chosen.status is not PostState.ERROR,
        help="queue an errored post again, now",
    ):
        done = channels_data.retry(chosen.id)
        report(
            ("success", f"Post {chosen.id} queued again.")
            if done
            else ("info", f"Post {chosen.id} had moved on.")
        )


# --- rules ----------------------------------------------------------------------------------------


def hashtag_form(channel: ChannelSummary) -> None:
    """The channel's hashtags: tags, where they go, how many; or none."""
    rule = channels_data.hashtag_rule(channel.id)
    if not channel.hashtags_on:
        st.caption("The Hashtags switch is off: posts go out as written.")
    positions = list(HashtagPosition)
    with st.form(f"hashtag-rule-{channel.id}"):
        tags_column, position_column, count_column = st.columns([3, 1, 1])
        tags = tags_column.text_input(
            "Hashtags (without #, comma-separated, in order of preference)",
            value=", ".join(rule.tags) if rule else "",
            key=f"tags-{channel.id}",
        )
        position = position_column.selectbox(
            "Where",
            positions,
            index=positions.index(rule.position) if rule else 1,
            format_func=str,
            key=f"tags-position-{channel.id}",
        )
        count = count_column.number_input(
            "How many",
            min_value=1,
            max_value=50,
            value=rule.count if rule else 1,
            key=f"tags-count-{channel.id}",
        )
        shuffle = st.checkbox(
            "In random order", value=rule.shuffle if rule else False, key=f"tags-shuffle-{channel.id}"
        )
        saved = st.form_submit_button("Save hashtags")
    if saved:
        fields = {"tags": tags, "position": str(position), "count": int(count), "shuffle": shuffle}
        try:
            channels_data.set_hashtags(channel.id, fields)
        except ValueError as exc:
            report(("error", f"Hashtags not saved: {exc}."))
        report(("success", f"Hashtags of {name(channel)} saved."))
    if rule and st.button("Remove hashtags", key=f"tags-remove-{channel.id}"):
        channels_data.set_hashtags(channel.id, None)
        report(("success", f"{name(channel)} adds no hashtags now."))


def rule_inputs(key: str) -> dict[str, Any]:
    """The fields of a repost rule (rules.channels.RepostRule); lists are comma-separated."""
    fields: dict[str, Any] = {}
    left, right = st.columns(2)
    fields["keywords"] = left.text_input("Keywords to require", key=f"{key}-keywords")
    fields["keyword_mode"] = str(
        right.selectbox(
            "Required keywords",
            list(KeywordMode),
            format_func=lambda mode: "any of them" if mode is KeywordMode.ANY else "all of them",
            key=f"{key}-mode",
        )
    )
    fields["refused_keywords"] = left.text_input("Keywords to refuse", key=f"{key}-refused-keywords")
    fields["languages"] = right.text_input(
        "Languages (ISO 639-1 such as en, ru)", key=f"{key}-languages", help="empty: any language"
    )
    fields["allowed_users"] = left.text_input(
        "Only these users", key=f"{key}-allowed", help="usernames or user ids; empty: anyone"
    )
    fields["refused_users"] = right.text_input("Never these users", key=f"{key}-refused")
    columns = st.columns(4)
    fields["min_likes"] = int(
        columns[0].number_input("Min likes", min_value=0, step=1, key=f"{key}-min-likes")
    )
    fields["min_reposts"] = int(
        columns[1].number_input("Min reposts", min_value=0, step=1, key=f"{key}-min-reposts")
    )
    fields["max_hashtags"] = columns[2].number_input(
        "Max hashtags", min_value=0, value=None, step=1, placeholder="off", key=f"{key}-max-hashtags"
    )
    fields["wait_for_likes"] = columns[3].number_input(
        "Repost once it has likes",
        min_value=1,
        value=None,
        step=1,
        placeholder="off",
        key=f"{key}-wait",
        help="not yet below this many likes: the post is checked again later",
    )
    replies, reposts = st.columns(2)
    fields["no_replies"] = replies.checkbox("No replies", value=True, key=f"{key}-no-replies")
    fields["no_reposts_of_reposts"] = reposts.checkbox(
        "No reposts of reposts", value=True, key=f"{key}-no-reposts"
    )
    return fields


def add_rule_form(channel: ChannelSummary) -> None:
    """A new repost rule, added or first tried against the home timeline."""
    key = f"rule-{channel.id}"
    with st.form(key):
        st.markdown("**New repost rule**")
        rule_name = st.text_input("Name", key=f"{key}-name")
        fields = rule_inputs(key)
        add_column, try_column = st.columns(2)
        add = add_column.form_submit_button("Add rule", type="primary")
        tried = try_column.form_submit_button("Test this rule", help="against the last 200 timeline posts")
    if tried:
        try_rules(channel, fields, "this rule")
    if not add:
        return
    added = submit_and_start(
        f"{key}-add",
        (rule_name, tuple(fields.items())),
        store=lambda: channels_data.add_rule(channel.id, rule_name, fields),
        stored=lambda rule_id: f"Rule {rule_id} ({rule_name.strip()}) added to {name(channel)}.",
        start=lambda rule_id: None,
    )
    if added is not None:
        st.session_state[SELECTED_RULE] = added
        report(("success", f"Rule {added} ({rule_name.strip()}) added to {name(channel)}."))


def try_rules(channel: ChannelSummary, fields: dict[str, Any] | None, what: str) -> None:
    """Try a rule (or the channel's enabled ones) on the home timeline; keep the answer for the page."""
    try:
        tried = channels_data.try_rules(channel.id, fields)
    except ValueError as exc:
        st.session_state.pop(TRIED, None)
        st.error(f"Not tried: {exc}.")
        return
    st.session_state[TRIED] = (channel.id, what, tried)


def show_tried(channel: ChannelSummary) -> None:
    """What the last test said: each timeline post, repost or not and why."""
    kept = st.session_state.get(TRIED)
    if not kept or kept[0] != channel.id:
        return
    _, what, tried = kept
    counts = Counter(post.outcome for post in tried)
    st.markdown(
        f"**Tried {what} on {plural(len(tried), 'timeline post')}**: {counts['repost']} reposted, "
        f"{counts['not_yet']} not yet, {counts['never']} never"
    )
    if tried:
        st.dataframe(channels_data.tried_frame(tried), hide_index=True)


def rule_buttons(channel: ChannelSummary, rules: list[RuleSummary]) -> None:
    chosen = pick(
        "Rule",
        {rule.id: rule for rule in rules},
        describe=lambda rule: f"#{rule.id} · {rule.name} · {'enabled' if rule.enabled else 'disabled'}",
        key=SELECTED_RULE,
    )
    toggle_column, delete_column = st.columns(2)
    label = "Disable rule" if chosen.enabled else "Enable rule"
    if toggle_column.button(label, key=f"rule-toggle-{chosen.id}"):
        channels_data.enable_rule(channel.id, chosen.id, not chosen.enabled)
        state = "disabled" if chosen.enabled else "enabled"
        report(("success", f"Rule {chosen.id} ({chosen.name}) {state}."))
    if delete_column.button("Delete rule", key=f"rule-delete-{chosen.id}"):
        channels_data.delete_rule(channel.id, chosen.id)
        report(("success", f"Rule {chosen.id} ({chosen.name}) deleted."))


def show_rules(channel: ChannelSummary) -> None:
    """Repost rules (any enabled one lets a post through), their test, and the hashtags."""
    st.markdown("**Repost rules** (a timeline post is reposted when any enabled rule lets it through)")
    if not channel.reposting_on:
        st.caption("The Reposting switch is off: rules are kept but nothing is reposted.")
    rules = channels_data.repost_rules(channel.id)
    if rules:
        st.dataframe(channels_data.rules_frame(rules), hide_index=True)
        rule_buttons(channel, rules)
        if st.button(
            "Test the enabled rules", key=f"rules-try-{channel.id}", help="on the last 200 timeline posts"
        ):
            try_rules(channel, None, "the enabled rules")
    else:
        st.info(f"{name(channel)} has no repost rules yet.")
    add_rule_form(channel)
    show_tried(channel)
    st.markdown("**Hashtags** added to outgoing posts")
    hashtag_form(channel)


# --- repost log and notifications -----------------------------------------------------------------


def show_repost_log(channel: ChannelSummary) -> None:
    log = channels_data.repost_log_frame(channel)
    if log.empty:
        st.info(f"No timeline post judged for {name(channel)} yet.")
        return
    st.caption(f"The last {plural(len(log), 'timeline post')} judged (at most {channels_data.LOG_ROWS})")
    st.dataframe(log, hide_index=True)


def show_notifications(channels: list[ChannelSummary], channel: ChannelSummary) -> None:
    """Notifications of the channel (or every channel), unread first, and marking them read."""
    every = st.checkbox("Every channel", key="notifications-every")
    chosen = None if every else channel
    notices = channels_data.notifications_frame(
        chosen.id if chosen else None, {summary.id: summary.screen_name for summary in channels}
    )
    if notices.empty:
        st.info("No notifications.")
        return
    unread = int((~notices["read"]).sum())
    st.caption(f"{plural(unread, 'unread notification')}")
    st.dataframe(notices, hide_index=True)
    whose = "of every channel" if chosen is None else f"of {name(chosen)}"
    if unread and st.button(f"Mark all read {whose}", key="notifications-read"):
        marked = channels_data.mark_read(chosen.id if chosen else None)
        report(("success", f"{plural(marked, 'notification')} marked read."))


# --- the page -------------------------------------------------------------------------------------


st.title("Channels")
st.caption(
    "Brand accounts on the microblog: posts scheduled into time slots, reposts of home-timeline posts "
    "that pass the rules, hashtags added to outgoing posts, notifications."
)
finish_connect_from_callback()
show_notes()
live(show_channels_table, busy=channels_data.any_due_soon)
summaries = channels_data.channel_summaries()
selected = (
    pick("Channel", {c.id: c for c in summaries}, describe=channel_label, key=SELECTED_CHANNEL)
    if summaries
    else None
)
unread = channels_data.unread_count()
channel_tab, compose_tab, queue_tab, rules_tab, log_tab, notifications_tab, connect_tab = st.tabs(
    [
        "Channel",
        "Compose",
        "Queue",
        "Rules",
        "Repost log",
        f"Notifications ({unread} unread)",
        "Connect a channel",
    ]
)
if selected is None:
    for tab in (channel_tab, compose_tab, queue_tab, rules_tab, log_tab, notifications_tab):
        tab.info("Connect a channel first.")
else:
    with channel_tab:
        show_state(selected)
        show_switches(selected)
    with compose_tab:
        compose(selected)
    with queue_tab:
        slots_form(selected)
        live(lambda: show_queue(selected), busy=channels_data.any_due_soon)
    with rules_tab:
        show_rules(selected)
    with log_tab:
        show_repost_log(selected)
    with notifications_tab:
        show_notifications(summaries, selected)
with connect_tab:
    connect_form()
