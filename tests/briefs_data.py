"""A brief collected and analysed for real (its zip on disk), as the flows would leave it: shared by
the dashboard's and the API's tests (``finished_brief`` in tests/conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from db.briefs import (
    SearchOutcome,
    claim_brief,
    create_brief,
    finish_collection,
    record_search,
    store_articles,
)
from rules.briefs import Article, Stage, validate_brief
from tasks.briefs import analyse_claimed, finish_analysis

Sessions = sessionmaker[Session]
POSTED = datetime(2026, 11, 20, 9, tzinfo=UTC)


def articles() -> list[Article]:
    """Six articles on two platforms by three authors over two days."""
    return [
        Article(
            platform=platform,
            external_id=f"{platform}-{n}",
            url=f"https://{platform}.example/{n}",
            title=f"新能源汽车第{n}篇",
            content=f"新能源汽车的续航越来越好了 #电动车# 第{n}条",
            post_time=POSTED + timedelta(days=n % 2),
            like=10 * n,
            share=n,
            comment=2,
            interaction=11 * n + 2,
            user_name=f"作者{n % 3}",
            user_fans=20_000,
            user_fans_level="1万-10万",
            topics=("电动车",),
            keyword="新能源",
        )
        for platform in ("weibo", "douyin")
        for n in range(1, 4)
    ]


def finished_brief_in(sessions: Sessions) -> int:
    """A brief collected (one search failed) and analysed into its files, as the flows would."""
    spec = validate_brief(["新能源"], ["weibo", "douyin"], max_keywords=5)
    with sessions.begin() as session:
        brief_id = create_brief(session, spec=spec)
        brief = claim_brief(session, brief_id=brief_id, stage=Stage.COLLECT, lease_seconds=60)
        assert brief is not None
        store_articles(session, brief_id=brief_id, articles=articles())
        weibo, douyin = brief.searches
        record_search(session, outcome=SearchOutcome(weibo.id, pages=1, articles=3, malformed=0, attempts=1))
        record_search(
            session, outcome=SearchOutcome(douyin.id, 1, 3, 0, 6, error="page 2: douyin answered HTTP 500")
        )
        finish_collection(session, brief_id=brief_id, claim=brief.claim)
        claimed = claim_brief(session, brief_id=brief_id, stage=Stage.ANALYSE, lease_seconds=60)
    assert claimed is not None
    assert finish_analysis(claimed, analyse_claimed.fn(claimed))[0]
    return brief_id
