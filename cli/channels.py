"""The ``channels`` command group: connect microblog accounts (OAuth in the browser, the callback
received on loopback), list them, start and stop them, set their slots and switches, compose and
schedule posts (with the text as it will go out and its weighted length), see the queue by slot,
cancel or retry a post, edit repost and hashtag rules, read the repost log and the notifications.

Connecting talks to the microblog (``SWITCHYARD_MICROBLOG__BASE_URL``). Bad input exits with code 2
and a one-line message on stderr; nothing is stored then. Tokens are never printed.
"""

from __future__ import annotations

import json
import webbrowser
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from cli.common import (
    WHEN_HELP,
    echo_table,
    fail,
    one_line,
    parse_when,
    refusing,
    time_of_day,
    transaction,
    utc,
)
from cli.loopback import LoopbackCallback
from commands import channels as commands
from db.base import utcnow
from db.channels import channels as channels_db
from db.channels import reports
from db.channels import reposts as reposts_db
from db.channels.models import ChannelState
from rules.channels import MAX_WEIGHTED_LENGTH, KeywordMode, RepostRule

channels_app = typer.Typer(
    help="Channels: microblog accounts with scheduled posts, reposts by filter, hashtags, notifications.",
    no_args_is_help=True,
)
rules_app = typer.Typer(help="A channel's repost rules and hashtags.", no_args_is_help=True)
channels_app.add_typer(rules_app, name="rules")

Channel = Annotated[str, typer.Argument(metavar="CHANNEL", help="its screen name (with or without @) or id")]
Switch = Annotated[bool | None, typer.Option(show_default=False)]
Words = Annotated[list[str] | None, typer.Option(show_default=False, help="repeat it, or a,b,c")]
CONNECT_TIMEOUT = 300


def _state(channel: reports.ChannelSummary) -> str:
    if channel.state is not ChannelState.RUNNING and channel.state_reason:
        return one_line(f"{channel.state.value}: {channel.state_reason}", 50)
    return channel.state.value


def _switches(channel: reports.ChannelSummary) -> str:
    on = [name for name, value in (("scheduling", channel.scheduling_on), ("reposting", channel.reposting_on),
          ("hashtags", channel.hashtags_on)) if value]  # fmt: skip
    return ",".join(on) or "-"


def _local(when: Any, timezone: str) -> str:
    return when.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")


# --- channels -------------------------------------------------------------------------------------


@channels_app.command("list")
def list_channels(owner: Annotated[str | None, typer.Option(help="only this owner's")] = None) -> None:
    """Connected channels: state, switches, queued and errored posts, unread notifications, token expiry."""
    with transaction() as session:
        found = reports.channels(session, owner=owner)
    rows = [
        (
            c.id,
            f"@{c.screen_name}",
            c.owner,
            _state(c),
            _switches(c),
            c.timezone,
            c.queued,
            c.errors,
            utc(c.next_due) if c.next_due else "-",
            c.unread,
            utc(c.token_expires_at) if c.token_expires_at else "-",
        )
        for c in found
    ]
    headers = ("id", "channel", "owner", "state", "on", "timezone", "queued", "errors", "next post",
               "unread", "token ends")  # fmt: skip
    echo_table(headers, rows)


@channels_app.command("connect")
def connect(
    owner: Annotated[str, typer.Option(help="who the channel belongs to")],
    timezone: Annotated[str, typer.Option(help="IANA name of its slots' zone")] = "UTC",
    login_hint: Annotated[
        str | None, typer.Option("--as", help="the account to sign in as (the sandbox has no login page)")
    ] = None,
    browser: Annotated[bool, typer.Option(help="open the link in a browser (else only print it)")] = True,
    timeout: Annotated[int, typer.Option(min=1, help="seconds to wait for the browser to come back")] = (
        CONNECT_TIMEOUT
    ),
) -> None:
    """Connect a channel: authorise it in the browser; the answer comes back to this command on loopback."""
    with refusing():
        with LoopbackCallback() as callback:
            url = commands.begin_connect(owner, timezone, callback.redirect_uri, login_hint=login_hint)
            typer.echo(f"Authorise the channel in your browser:\n  {url}")
            if browser and not webbrowser.open(url):
                typer.echo("(no browser could be opened: open the link yourself)")
            typer.echo(f"Waiting for the browser on {callback.redirect_uri} (up to {timeout} s)…")
            received = callback.wait(timeout)
        if received is None:
            fail(f"the browser did not come back within {timeout} s: nothing was connected")
        connected = commands.finish_connect(received)
    verb = "connected again (new tokens; it runs)" if connected.reconnected else "connected"
    typer.echo(
        f"channel {connected.id}: @{connected.screen_name} {verb} (user id {connected.platform_user_id}, "
        f"owner {connected.owner}, timezone {connected.timezone})"
    )


@channels_app.command("start")
def start(channel: Channel) -> None:
    """Let a stopped channel post and repost again."""
    with refusing():
        moved = commands.start_channel(channel)
    typer.echo(f"{channel} started" if moved else f"{channel} was not stopped: nothing to start")


@channels_app.command("stop")
def stop(channel: Channel) -> None:
    """Stop a channel's posts and reposts until it is started."""
    with refusing():
        moved = commands.stop_channel(channel)
    typer.echo(f"{channel} stopped" if moved else f"{channel} was not running: nothing to stop")


@channels_app.command("switches")
def switches(
    channel: Channel, scheduling: Switch = None, reposting: Switch = None, hashtags: Switch = None
) -> None:
    """Show a channel's switches, or turn scheduled posts, reposts or hashtags on or off."""
    with refusing():
        now = commands.set_switches(channel, scheduling=scheduling, reposting=reposting, hashtags=hashtags)
    names = ("scheduling", "reposting", "hashtags")
    typer.echo(
        f"{channel}: " + ", ".join(f"{n} {'on' if v else 'off'}" for n, v in zip(names, now, strict=True))
    )


@channels_app.command("slots")
def slots(
    channel: Channel,
    times: Annotated[list[str] | None, typer.Argument(metavar="[HH:MM]...", help="the new slots")] = None,
) -> None:
    """Show a channel's posting slots (its local time), or replace them."""
    with refusing():
        if times:
            parsed = [time_of_day(text) for text in ",".join(times).split(",") if text.strip()]
            commands.set_slots(channel, [moment for moment in parsed if moment is not None])
    with transaction() as session:
        found = channels_db.find_channel(session, channel)
        now = channels_db.slots_of(session, channel_id=found.id)
        typer.echo(
            f"@{found.screen_name} ({found.timezone}): "
            + (", ".join(t.strftime("%H:%M") for t in now) or "no slots")
        )


# --- posts ----------------------------------------------------------------------------------------


@channels_app.command("post")
def post(
    channel: Channel,
    text: Annotated[str, typer.Argument(help="the post; the channel's hashtags are added if they fit")],
    at: Annotated[str | None, typer.Option(help=f"when: {WHEN_HELP}; default: the next free slot")] = None,
    preview_only: Annotated[bool, typer.Option("--preview", help="only show it as it would go out")] = False,
) -> None:
    """Compose a post and queue it at a time or in the next free slot; shows it as it will go out."""
    with refusing():
        if preview_only:
            shown = commands.preview(channel, text)
            _echo_preview(shown.text, shown.weighted, shown.added)
            if not shown.fits:
                fail(f"the post is {shown.weighted} long, weighted: at most {MAX_WEIGHTED_LENGTH}")
            return
        now = utcnow()
        due_at = parse_when(at, now) if at else None
        made = commands.schedule_post(channel, text=text, due_at=due_at, now=now)
    with transaction() as session:
        timezone = channels_db.find_channel(session, made.channel).timezone
    how = "its next free slot" if made.from_slot else "the time given"
    typer.echo(
        f"post {made.id}: @{made.channel} at {utc(made.due_at)} ({_local(made.due_at, timezone)}, {how})"
    )
    _echo_preview(made.preview.text, made.preview.weighted, made.preview.added)


def _echo_preview(text: str, weighted: int, added: tuple[str, ...]) -> None:
    tags = f"; hashtags added: {' '.join('#' + tag for tag in added)}" if added else ""
    typer.echo(f"as it will go out ({weighted} of {MAX_WEIGHTED_LENGTH} weighted{tags}):\n  {text}")


@channels_app.command("cancel")
def cancel(post_id: Annotated[int, typer.Argument(help="the post's id")]) -> None:
    """Cancel a post not yet out."""
    with refusing():
        done = commands.cancel_post(post_id)
    typer.echo(f"post {post_id} cancelled" if done else f"post {post_id} is not open: nothing to cancel")


@channels_app.command("retry")
def retry(
    post_id: Annotated[int, typer.Argument(help="the errored post's id")],
    at: Annotated[str | None, typer.Option(help=f"when: {WHEN_HELP}; default: now")] = None,
) -> None:
    """Queue an errored post again, now or at a time."""
    with refusing():
        due_at = parse_when(at, utcnow()) if at else None
        done = commands.retry_post(post_id, due_at=due_at)
    typer.echo(
        f"post {post_id} queued again" if done else f"post {post_id} is not in error: nothing to retry"
    )


@channels_app.command("queue")
def queue(
    channel: Channel,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, soonest first")] = 200,
) -> None:
    """A channel's open posts (queued, publishing, errored), grouped by the slot each takes."""
    with transaction() as session:
        found = channels_db.find_channel(session, channel)
        name, timezone = found.screen_name, found.timezone
        chosen = channels_db.slots_of(session, channel_id=found.id)
        posts = reports.queue(session, channel_id=found.id, limit=limit)
    if not posts:
        typer.echo(f"@{name}: nothing queued")
        return
    for slot, grouped in reports.by_slot(posts, chosen, timezone).items():
        typer.echo(f"@{name}, {'slot ' + slot if slot != 'other time' else 'other times'} ({timezone}):")
        rows = [
            (
                p.id,
                utc(p.due_at),
                p.status.value,
                p.attempts,
                one_line(p.text, 50),
                one_line(p.last_error, 40) or "-",
            )
            for p in grouped
        ]
        echo_table(("id", "due", "status", "tries", "text", "last error"), rows)


# --- rules ----------------------------------------------------------------------------------------


def _rule_text(rule: RepostRule) -> str:
    """The fields that differ from a rule that lets everything through."""
    default = RepostRule()
    said = []
    for field in RepostRule.model_fields:
        value = getattr(rule, field)
        if value != getattr(default, field):
            said.append(f"{field}={','.join(value) if isinstance(value, tuple) else value}")
    return "; ".join(said) or "(everything)"


@rules_app.command("list")
def list_rules(channel: Channel) -> None:
    """A channel's repost rules and its hashtags."""
    with transaction() as session:
        found = channels_db.find_channel(session, channel)
        rules = reposts_db.repost_rules(session, channel_id=found.id)
        hashtags = reposts_db.hashtag_rule(session, channel_id=found.id)
        name, reposting, tagging = found.screen_name, found.reposting_on, found.hashtags_on
    typer.echo(f"@{name}: reposting {'on' if reposting else 'off'}")
    echo_table(
        ("id", "name", "rule"), [(rule_id, rule_name, _rule_text(rule)) for rule_id, rule_name, rule in rules]
    )
    _echo_hashtags(hashtags, tagging)


def _echo_hashtags(rule: Any, on: bool) -> None:
    if rule is None:
        typer.echo(f"hashtags ({'on' if on else 'off'}): none")
        return
    tags = " ".join(f"#{tag}" for tag in rule.tags)
    order = ", shuffled" if rule.shuffle else ""
    typer.echo(
        f"hashtags ({'on' if on else 'off'}): {tags}; at most {rule.count}, at the {rule.position}{order}"
    )


@rules_app.command("add")
def add_rule(
    channel: Channel,
    name: Annotated[str, typer.Option(help="what the rule is for")],
    fields_json: Annotated[
        str | None, typer.Option("--json", help='the fields as JSON ({"languages": ["en"], "min_likes": 5})')
    ] = None,
    language: Words = None,
    keyword: Words = None,
    keyword_mode: Annotated[str | None, typer.Option(help="any or all of the keywords")] = None,
    refuse_keyword: Words = None,
    allow_user: Words = None,
    refuse_user: Words = None,
    min_likes: Annotated[int | None, typer.Option()] = None,
    min_reposts: Annotated[int | None, typer.Option()] = None,
    max_hashtags: Annotated[int | None, typer.Option()] = None,
    replies: Annotated[bool | None, typer.Option("--replies/--no-replies", help="repost replies too")] = None,
    reposts_of_reposts: Annotated[
        bool | None, typer.Option("--reposts-of-reposts/--no-reposts-of-reposts", help="repost reposts too")
    ] = None,
    wait_for_likes: Annotated[
        int | None, typer.Option(help="repost once the post has this many likes")
    ] = None,
) -> None:
    """A repost rule from options or JSON (the options override the JSON); an unknown field or
    language is refused by name."""
    fields: dict[str, Any] = {}
    if fields_json is not None:
        try:
            fields = json.loads(fields_json)
        except ValueError:
            fail("--json is not JSON")
        if not isinstance(fields, dict):
            fail('--json must be an object, as {"languages": ["en"]}')
    unknown = sorted(set(fields) - set(RepostRule.model_fields))
    if unknown:
        fail(
            f"unknown rule field {', '.join(map(repr, unknown))}: one of {', '.join(RepostRule.model_fields)}"
        )
    given = {
        "languages": language,
        "keywords": keyword,
        "keyword_mode": keyword_mode,
        "refused_keywords": refuse_keyword,
        "allowed_users": allow_user,
        "refused_users": refuse_user,
        "min_likes": min_likes,
        "min_reposts": min_reposts,
        "max_hashtags": max_hashtags,
        "no_replies": None if replies is None else not replies,
        "no_reposts_of_reposts": None if reposts_of_reposts is None else not reposts_of_reposts,
        "wait_for_likes": wait_for_likes,
    }
    for field, value in given.items():
        if value is not None:
            fields[field] = ",".join(value) if isinstance(value, list) else value
    if isinstance(fields.get("keyword_mode"), str) and fields["keyword_mode"] not in set(KeywordMode):
        fail(f"unknown keyword mode {fields['keyword_mode']!r}: one of {', '.join(KeywordMode)}")
    with refusing():
        rule_id = commands.add_repost_rule(channel, name=name, fields=fields)
    typer.echo(f"rule {rule_id} added to {channel}")


@rules_app.command("delete")
def delete_rule(channel: Channel, rule_id: Annotated[int, typer.Argument(help="the rule's id")]) -> None:
    """Delete one of a channel's repost rules."""
    with refusing():
        deleted = commands.delete_repost_rule(channel, rule_id)
    if not deleted:
        fail(f"{channel} has no repost rule {rule_id}")
    typer.echo(f"rule {rule_id} deleted")


@rules_app.command("hashtags")
def hashtags(
    channel: Channel,
    tags: Words = None,
    position: Annotated[str | None, typer.Option(help="start, end or inline")] = None,
    count: Annotated[int | None, typer.Option(help="add at most this many")] = None,
    shuffle: Annotated[bool | None, typer.Option("--shuffle/--in-order", show_default=False)] = None,
    off: Annotated[bool, typer.Option("--none", help="remove the channel's hashtags")] = False,
) -> None:
    """Show a channel's hashtags, or set them (tags, position, how many; all or nothing)."""
    with refusing():
        if off:
            commands.set_hashtag_rule(channel, None)
        elif tags or position or count is not None or shuffle is not None:
            with transaction() as session:
                found = channels_db.find_channel(session, channel)
                current = reposts_db.hashtag_rule(session, channel_id=found.id)
            fields = current.model_dump(mode="json") if current else {}
            changes = {"tags": ",".join(tags) if tags else None, "position": position, "count": count,
                       "shuffle": shuffle}  # fmt: skip
            fields |= {field: value for field, value in changes.items() if value is not None}
            commands.set_hashtag_rule(channel, fields)
    with transaction() as session:
        found = channels_db.find_channel(session, channel)
        rule, on = reposts_db.hashtag_rule(session, channel_id=found.id), found.hashtags_on
    _echo_hashtags(rule, on)
    if rule is not None and not on:
        typer.echo(
            f"(hashtags are off for {channel}: `channels switches {channel} --hashtags` turns them on)"
        )


@channels_app.command("reposts")
def reposts(
    channel: Channel,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, newest first")] = 50,
) -> None:
    """The repost log: what became of each timeline post judged for the channel, and why."""
    with transaction() as session:
        found = channels_db.find_channel(session, channel)
        rows = [
            (
                r.source_post_id,
                f"@{r.author}",
                r.status.value,
                utc(r.decided_at),
                one_line(r.reason, 60) or "-",
            )
            for r in reposts_db.repost_log(session, channel_id=found.id, limit=limit)
        ]
    echo_table(("post", "author", "status", "decided", "why"), rows)


# --- notifications --------------------------------------------------------------------------------


@channels_app.command("notifications")
def notifications(
    channel: Annotated[str | None, typer.Argument(metavar="[CHANNEL]", help="only this channel's")] = None,
    read: Annotated[bool, typer.Option("--read", help="then mark the unread ones shown read")] = False,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, unread first")] = 50,
) -> None:
    """Notifications of channels (failures, unauthorised, limits), unread first."""
    with transaction() as session:
        channel_id = channels_db.find_channel(session, channel).id if channel is not None else None
        names = {c.id: c.screen_name for c in reports.channels(session)}
        found = channels_db.notifications(session, channel_id=channel_id, limit=limit)
        unread_total = channels_db.unread_count(session, channel_id=channel_id)
        rows = [
            (
                n.id,
                "read" if n.read_at else "unread",
                utc(n.created_at),
                f"@{names.get(n.channel_id, n.channel_id)}",
                n.level,
                one_line(n.text, 100),
            )
            for n in found
        ]
        unread = [n.id for n in found if n.read_at is None]
    typer.echo(f"{unread_total} unread")
    echo_table(("id", "", "at", "channel", "level", "text"), rows)
    if read and unread:
        marked = commands.mark_notifications_read(channel, ids=unread)
        typer.echo(f"{marked} marked read")
