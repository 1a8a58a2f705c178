"""The daily report: which day it covers (midnight to midnight in the report's time zone), its figures
per domain, and its rendering as markdown and as an e-mail subject. Pure: no database, no Prefect."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo


def day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The instants (UTC) ``day`` begins and ends in ``timezone``: [start, end). A day with a clock
    change has 23 or 25 hours."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def yesterday(now: datetime, timezone: str) -> date:
    """The day before ``now``'s date in ``timezone``."""
    return now.astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)


def check_day(day: date, now: datetime, timezone: str) -> None:
    """Refuse a day that is not over yet in ``timezone`` (today or later): its figures would change."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    if day >= today:
        raise ValueError(f"{day.isoformat()} is not over yet in {timezone} (today is {today.isoformat()})")


@dataclass(frozen=True)
class MailingDay:
    """One mailing's messages sent and failed during the day."""

    id: int
    text: str
    sent: int
    failed: int


@dataclass(frozen=True)
class Durations:
    """Seconds from creation to finish of the briefs finished during the day."""

    count: int = 0
    median_seconds: float | None = None
    max_seconds: float | None = None

    @classmethod
    def of(cls, seconds: list[float]) -> Durations:
        if not seconds:
            return cls()
        return cls(len(seconds), float(median(seconds)), float(max(seconds)))


@dataclass(frozen=True)
class DayFigures:
    """What happened during one day, per domain."""

    day: date
    timezone: str
    mailings: list[MailingDay] = field(default_factory=list)
    briefs_finished: Durations = Durations()
    briefs_failed: int = 0
    requests: int = 0  # word-count requests created
    pages_counted: int = 0
    pages_failed: int = 0
    growth_actions: dict[str, int] = field(default_factory=dict)  # done, per action
    growth_blocks: int = 0  # "action blocked" answers (cooldowns begun)
    posts_published: int = 0
    posts_failed: int = 0
    reposts: int = 0

    @property
    def messages_sent(self) -> int:
        return sum(m.sent for m in self.mailings)

    @property
    def messages_failed(self) -> int:
        return sum(m.failed for m in self.mailings)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (the database's ``figures``), totals included."""
        data = asdict(self)
        data["day"] = self.day.isoformat()
        data["messages_sent"] = self.messages_sent
        data["messages_failed"] = self.messages_failed
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DayFigures:
        """The figures ``to_json`` wrote."""
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        known["day"] = date.fromisoformat(data["day"])
        known["mailings"] = [MailingDay(**m) for m in data.get("mailings", [])]
        known["briefs_finished"] = Durations(**data.get("briefs_finished", {}))
        return cls(**known)


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def _cell(text: str, width: int = 40) -> str:
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def subject(figures: DayFigures) -> str:
    """The e-mail's subject: the day and its main figures."""
    return (
        f"Switchyard daily report {figures.day.isoformat()} ({figures.timezone}): "
        f"{figures.messages_sent} messages sent, {figures.messages_failed} failed, "
        f"{figures.briefs_finished.count} briefs, {figures.pages_counted} pages counted"
    )


def render_markdown(figures: DayFigures) -> str:
    """The report as markdown: one section per domain, the mailings as a table."""
    lines = [
        f"# Switchyard daily report: {figures.day.isoformat()}",
        "",
        f"From midnight to midnight in {figures.timezone}.",
        "",
        "## Mailings",
        "",
        f"Messages sent: **{figures.messages_sent}**, failed: **{figures.messages_failed}**.",
        "",
    ]
    if figures.mailings:
        lines += ["| mailing | text | sent | failed |", "|---:|---|---:|---:|"]
        lines += [f"| {m.id} | {_cell(m.text)} | {m.sent} | {m.failed} |" for m in figures.mailings]
        lines += [f"| **total** | | **{figures.messages_sent}** | **{figures.messages_failed}** |", ""]
    else:
        lines += ["No message was sent or failed.", ""]
    durations = figures.briefs_finished
    lines += [
        "## Briefs",
        "",
        f"Finished: **{durations.count}** (from order to zip: median {_seconds(durations.median_seconds)}, "
        f"longest {_seconds(durations.max_seconds)}); failed: **{figures.briefs_failed}**.",
        "",
        "## Web-page word counts",
        "",
        f"Requests: **{figures.requests}**; pages counted: **{figures.pages_counted}**, "
        f"failed: **{figures.pages_failed}**.",
        "",
        "## Growth",
        "",
    ]
    if figures.growth_actions:
        done = ", ".join(f"{action}: **{count}**" for action, count in sorted(figures.growth_actions.items()))
        lines.append(f"Actions done: {done}.")
    else:
        lines.append("No action was done.")
    lines += [
        f"Blocks (action-blocked answers): **{figures.growth_blocks}**.",
        "",
        "## Channels",
        "",
        f"Posts published: **{figures.posts_published}**, failed: **{figures.posts_failed}**; "
        f"reposts made: **{figures.reposts}**.",
        "",
    ]
    return "\n".join(lines)
