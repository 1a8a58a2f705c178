"""Briefs, their searches (one per platform × keyword), articles and accounts: models and queries.

A brief goes submitted → collecting (claimed, with a lease) → collected → analysing (claimed) →
finished, or failed with the reason; `states.transition` owns every change of status. A search goes
pending → running → done | partial (some pages could not be had) | failed. Articles are unique
per brief, platform and external id, so a re-run updates instead of adding. Functions take a
keyword-only ``session`` and never commit: the caller does.

`models` (the tables), `states` (every status change and claim), `articles` (articles and accounts),
`queries` (what the dashboard and CLI list); everything is importable from ``db.briefs`` too.
"""

from db.briefs.articles import (
    ARTICLE_COLUMNS,
    articles_per_day,
    count_accounts,
    count_articles,
    list_accounts,
    list_articles,
    platform_totals,
    refresh_accounts,
    store_articles,
)
from db.briefs.models import (
    COUNT_FIELDS,
    UNFINISHED,
    Brief,
    BriefAccount,
    BriefArticle,
    BriefSearch,
    BriefStatus,
    SearchStatus,
)
from db.briefs.queries import (
    BriefSummary,
    count_briefs,
    count_by_status,
    get_brief,
    list_briefs,
    list_searches,
    short_searches,
    status_label,
)
from db.briefs.states import (
    STAGES,
    ClaimedBrief,
    SearchOutcome,
    SearchToRun,
    claim_brief,
    create_brief,
    fail_abandoned,
    fail_brief,
    finish_brief,
    finish_collection,
    holds_claim,
    record_search,
    reopen_short_searches,
    start_searches,
    transition,
    waiting_briefs,
)

__all__ = [
    "ARTICLE_COLUMNS",
    "COUNT_FIELDS",
    "STAGES",
    "UNFINISHED",
    "Brief",
    "BriefAccount",
    "BriefArticle",
    "BriefSearch",
    "BriefStatus",
    "BriefSummary",
    "ClaimedBrief",
    "SearchOutcome",
    "SearchStatus",
    "SearchToRun",
    "articles_per_day",
    "claim_brief",
    "count_accounts",
    "count_articles",
    "count_briefs",
    "count_by_status",
    "create_brief",
    "fail_abandoned",
    "fail_brief",
    "finish_brief",
    "finish_collection",
    "get_brief",
    "holds_claim",
    "list_accounts",
    "list_articles",
    "list_briefs",
    "list_searches",
    "platform_totals",
    "record_search",
    "refresh_accounts",
    "reopen_short_searches",
    "short_searches",
    "start_searches",
    "status_label",
    "store_articles",
    "transition",
    "waiting_briefs",
]  # fmt: skip
