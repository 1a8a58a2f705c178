"""The daily report's pure parts: the day's bounds in a time zone, and the rendering of fixed figures."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from rules.reports import (
    DayFigures,
    Durations,
    MailingDay,
    check_day,
    day_bounds,
    render_markdown,
    subject,
    yesterday,
)

FIGURES = DayFigures(
    day=date(2026, 12, 5),
    timezone="Europe/Moscow",
    mailings=[MailingDay(1, "Spring | sale\nnow", 120, 3), MailingDay(4, "x" * 60, 5, 0)],
    briefs_finished=Durations.of([600.0, 1800.0, 9000.0]),
    briefs_failed=1,
    requests=2,
    pages_counted=52,
    pages_failed=4,
    growth_actions={"like": 40, "follow": 15},
    growth_blocks=1,
    posts_published=6,
    posts_failed=1,
    reposts=9,
)


def test_the_day_runs_from_midnight_to_midnight_in_its_time_zone() -> None:
    assert day_bounds(date(2026, 12, 5), "Asia/Tokyo") == (
        datetime(2026, 12, 4, 15, tzinfo=UTC),
        datetime(2026, 12, 5, 15, tzinfo=UTC),
    )
    start, end = day_bounds(date(2026, 3, 29), "Europe/Berlin")  # clocks go forward: 23 hours
    assert (end - start).total_seconds() == 23 * 3600
    assert yesterday(datetime(2026, 12, 5, 22, tzinfo=UTC), "Asia/Tokyo") == date(2026, 12, 5)
    assert yesterday(datetime(2026, 12, 5, 22, tzinfo=UTC), "UTC") == date(2026, 12, 4)


def test_a_day_not_over_is_refused() -> None:
    now = datetime(2026, 12, 5, 22, tzinfo=UTC)  # the 6th in Tokyo
    check_day(date(2026, 12, 5), now, "Asia/Tokyo")
    with pytest.raises(ValueError, match="2026-12-05 is not over yet in UTC"):
        check_day(date(2026, 12, 5), now, "UTC")


def test_the_markdown_of_fixed_figures() -> None:
    markdown = render_markdown(FIGURES)
    assert markdown.startswith(
        "# Switchyard daily report: 2026-12-05\n\nFrom midnight to midnight in Europe/Moscow."
    )
    assert "Messages sent: **125**, failed: **3**." in markdown
    assert "| 1 | Spring \\| sale now | 120 | 3 |" in markdown
    assert f"| 4 | {'x' * 39}… | 5 | 0 |" in markdown
    assert "| **total** | | **125** | **3** |" in markdown
    assert "Finished: **3** (from order to zip: median 30.0 min, longest 2.5 h); failed: **1**." in markdown
    assert "Requests: **2**; pages counted: **52**, failed: **4**." in markdown
    assert "Actions done: follow: **15**, like: **40**." in markdown
    assert "Blocks (action-blocked answers): **1**." in markdown
    assert "Posts published: **6**, failed: **1**; reposts made: **9**." in markdown
    assert subject(FIGURES) == (
        "Switchyard daily report 2026-12-05 (Europe/Moscow): "
        "125 messages sent, 3 failed, 3 briefs, 52 pages counted"
    )


def test_an_empty_day_says_so_and_the_figures_survive_json() -> None:
    empty = DayFigures(day=date(2026, 1, 1), timezone="UTC")
    markdown = render_markdown(empty)
    assert "No message was sent or failed." in markdown and "No action was done." in markdown
    assert "median –, longest –" in markdown
    assert DayFigures.from_json(FIGURES.to_json()) == FIGURES
    assert FIGURES.to_json()["messages_sent"] == 125
