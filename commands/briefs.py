"""Brief commands, one per thing an analyst does: order a brief, re-collect what came up short.

Each validates, owns its transaction and raises ValueError (nothing stored) for bad input; starting
the runs is the caller's (``deployments/runs.py``), so the same command serves the dashboard, the
CLI, the flows, the demo and the benchmarks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from core.settings import get_settings
from db.briefs import create_brief, reopen_short_searches
from db.engine import session_factory
from rules.briefs import BriefSpec, validate_brief


@dataclass(frozen=True)
class OrderedBrief:
    """A stored brief: its id and what was ordered (keywords and platforms cleaned, times in UTC)."""

    id: int
    spec: BriefSpec


def order_brief(
    keywords: Iterable[str],
    platforms: Iterable[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> OrderedBrief:
    """Validate and store a brief with one search per platform × keyword (no platforms: all five)."""
    spec = validate_brief(keywords, platforms, since, until, max_keywords=get_settings().briefs.max_keywords)
    with session_factory().begin() as session:
        return OrderedBrief(create_brief(session, spec=spec), spec)


def recollect_brief(brief_id: int) -> int:
    """Send a finished or failed brief back to collection for its partial and failed searches only,
    keeping what was stored; how many searches run again."""
    with session_factory().begin() as session:
        return reopen_short_searches(session, brief_id=brief_id)
