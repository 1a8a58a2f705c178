"""Briefs in db/briefs.py on a real database (SQLite and PostgreSQL): claims, upserts, accounts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.briefs import (
    BriefArticle,
    BriefStatus,
    SearchOutcome,
    SearchStatus,
    claim_brief,
    count_articles,
    create_brief,
    fail_abandoned,
    fail_brief,
    finish_brief,
    finish_collection,
    get_brief,
    holds_claim,
    list_accounts,
    list_articles,
    list_briefs,
    list_searches,
    platform_totals,
    record_search,
    store_articles,
    waiting_briefs,
)
from rules.briefs import Article, Stage, validate_brief

Sessions = sessionmaker[Session]
POSTED = datetime(2026, 11, 20, 8, tzinfo=UTC)


def article(external_id: str, user: str = "小王", like: int = 1, keyword: str = "新能源") -> Article:
    return Article(
        platform="weibo",
        external_id=external_id,
        url=f"https://weibo.example/{external_id}",
        title="标题",
        content="新能源汽车的内容",
        post_time=POSTED,
        like=like,
        share=2,
        comment=3,
        interaction=like + 5,
        user_name=user,
        user_fans=12000,
        user_fans_level="1万-10万",
        topics=("新能源", "汽车"),
        keyword=keyword,
    )


def new_job(sessions: Sessions, keywords: tuple[str, ...] = ("新能源", "电动车")) -> int:
    spec = validate_brief(keywords, ["weibo", "douyin"], max_keywords=10)
    with sessions.begin() as session:
        return create_brief(session, spec=spec)


def test_a_job_has_one_search_per_platform_and_keyword(sessions: Sessions) -> None:
    brief_id = new_job(sessions)
    with sessions.begin() as session:
        searches = list_searches(session, brief_id=brief_id)
        brief = get_brief(session, brief_id=brief_id)
    assert [(s["platform"], s["keyword"]) for s in searches] == [
        ("weibo", "新能源"), ("weibo", "电动车"), ("douyin", "新能源"), ("douyin", "电动车"),
    ]  # fmt: skip
    assert {s["status"] for s in searches} == {SearchStatus.PENDING}
    assert brief is not None and brief.status == BriefStatus.SUBMITTED and brief.finished_at is None


def test_two_runs_never_hold_a_job_and_a_lapsed_lease_frees_it(sessions: Sessions) -> None:
    brief_id = new_job(sessions)
    with sessions.begin() as session:
        first = claim_brief(session, brief_id=brief_id, stage=Stage.COLLECT, lease_seconds=60)
    with sessions.begin() as session:
        second = claim_brief(session, brief_id=brief_id, stage=Stage.COLLECT, lease_seconds=60)
        waiting_now = waiting_briefs(session, stage=Stage.COLLECT)
        later = utcnow() + timedelta(seconds=61)
        waiting_later = waiting_briefs(session, stage=Stage.COLLECT, now=later)
        third = claim_brief(session, brief_id=brief_id, stage=Stage.COLLECT, lease_seconds=60, now=later)
        analysis = claim_brief(session, brief_id=brief_id, stage=Stage.ANALYSE, lease_seconds=60)
    assert first is not None and len(first.searches) == 4
    assert second is None and analysis is None
    assert waiting_now == [] and waiting_later == [brief_id]
    assert third is not None
    with sessions.begin() as session:
        assert get_brief(session, brief_id=brief_id).attempts == 2  # type: ignore[union-attr]


def test_articles_are_upserted_so_a_rerun_adds_no_duplicates(sessions: Sessions) -> None:
    brief_id = new_job(sessions)
    with sessions.begin() as session:
        store_articles(session, brief_id=brief_id, articles=[article("1"), article("2"), article("1")])
    with sessions.begin() as session:  # a re-run: new counts, and the same article found by another keyword
        store_articles(
            session, brief_id=brief_id, articles=[article("1", like=50, keyword="电动车"), article("3")]
        )
    with sessions.begin() as session:
        rows = {a.external_id: a for a in list_articles(session, brief_id=brief_id)}
        total = session.scalar(select(func.count()).select_from(BriefArticle))
    assert total == 3 and set(rows) == {"1", "2", "3"}
    assert rows["1"].like == 50 and rows["1"].keyword == "新能源"
    assert rows["1"].topics == ("新能源", "汽车") and rows["1"].post_time == POSTED


def test_collection_sums_accounts_and_records_what_could_not_be_had(sessions: Sessions) -> None:
    brief_id = new_job(sessions)
    with sessions.begin() as session:
        claimed = claim_brief(session, brief_id=brief_id, stage=Stage.COLLECT, lease_seconds=60)
        assert claimed is not None
        articles = [article("1", like=10), article("2", like=20), article("3", user="小李", like=5)]
        store_articles(session, brief_id=brief_id, articles=articles)
        first, second = claimed.searches[:2]
        record_search(session, outcome=SearchOutcome(first.id, pages=1, articles=3, malformed=1, attempts=2))
        record_search(
            session,
            outcome=SearchOutcome(second.id, pages=0, articles=0, malformed=0, attempts=5, error="HTTP 500"),
        )
        assert finish_collection(session, brief_id=brief_id, claim=claimed.claim)
    with sessions.begin() as session:
        brief = get_brief(session, brief_id=brief_id)
        accounts = {a["user_name"]: a for a in list_accounts(session, brief_id=brief_id)}
        statuses = [s["status"] for s in list_searches(session, brief_id=brief_id)]
    assert brief is not None and brief.status == BriefStatus.COLLECTED and brief.articles == 3
    assert brief.collected_at is not None and "weibo/电动车: HTTP 500" in (brief.last_error or "")
    assert accounts["小王"]["articles"] == 2 and accounts["小王"]["like"] == 30
    assert accounts["小王"]["interaction"] == 40 and accounts["小李"]["articles"] == 1
    assert statuses[:2] == [SearchStatus.DONE, SearchStatus.FAILED]


def test_finish_and_failure_always_record_the_finish_time(sessions: Sessions) -> None:
    done, broken = new_job(sessions), new_job(sessions, ("电池",))
    with sessions.begin() as session:
        collecting = claim_brief(session, brief_id=done, stage=Stage.COLLECT, lease_seconds=60)
        assert collecting and finish_collection(session, brief_id=done, claim=collecting.claim)
        analysing = claim_brief(session, brief_id=done, stage=Stage.ANALYSE, lease_seconds=60)
        assert analysing
        assert finish_brief(
            session, brief_id=done, claim=analysing.claim, zip_path="/x/1.zip", summary={"articles": 0}
        )
        assert fail_brief(session, brief_id=broken, error="platform down")
        assert not fail_brief(session, brief_id=done, error="too late")
    with sessions.begin() as session:
        finished, failed = get_brief(session, brief_id=done), get_brief(session, brief_id=broken)
    assert finished is not None and finished.status == BriefStatus.FINISHED and finished.finished_at
    assert failed is not None and failed.status == BriefStatus.FAILED and failed.last_error == "platform down"
    assert failed.finished_at is not None


def test_jobs_are_found_by_keyword_status_and_submission_time(sessions: Sessions) -> None:
    first, second = new_job(sessions, ("新能源",)), new_job(sessions, ("电动车", "电池%"))
    with sessions.begin() as session:
        fail_brief(session, brief_id=first, error="x")
        by_keyword = [j.id for j in list_briefs(session, keyword="电池%")]
        by_part = [j.id for j in list_briefs(session, keyword="电")]
        by_status = [j.id for j in list_briefs(session, status=BriefStatus.FAILED)]
        future = [j.id for j in list_briefs(session, submitted_from=utcnow() + timedelta(minutes=1))]
    assert by_keyword == [second] and by_part == [second]
    assert by_status == [first] and future == []


def test_articles_filter_and_sort(sessions: Sessions) -> None:
    brief_id = new_job(sessions)
    low, high = article("1", like=1), replace(article("2", like=9), content="电池很好", keyword="电动车")
    with sessions.begin() as session:
        store_articles(session, brief_id=brief_id, articles=[low, high])
        by_like = [a.external_id for a in list_articles(session, brief_id=brief_id, order_by="like")]
        by_keyword = [a.external_id for a in list_articles(session, brief_id=brief_id, keyword="电动车")]
        by_text = [a.external_id for a in list_articles(session, brief_id=brief_id, text="电池")]
        totals = [
            count_articles(session, brief_id=brief_id),
            count_articles(session, brief_id=brief_id, keyword="电动车"),
            count_articles(session, brief_id=brief_id, text="电池", platform="douyin"),
        ]
        first = list_articles(session, brief_id=brief_id, order_by="like", limit=1)
    assert by_like == ["2", "1"] and by_keyword == ["2"] and by_text == ["2"]
    assert totals == [2, 1, 0] and len(first) == 1  # the total counts what a limit leaves out


def test_a_job_whose_runs_keep_getting_lost_is_failed_with_the_reason(sessions: Sessions) -> None:
    brief_id, healthy = new_job(sessions), new_job(sessions)
    later = utcnow()
    with sessions.begin() as session:
        for _ in range(3):  # claimed three times, each run lost before its lease ran out
            later += timedelta(seconds=61)
            assert claim_brief(session, brief_id=brief_id, stage=Stage.COLLECT, lease_seconds=60, now=later)
        assert claim_brief(session, brief_id=healthy, stage=Stage.COLLECT, lease_seconds=60, now=later)
        assert fail_abandoned(session, max_attempts=3, now=later + timedelta(seconds=30)) == 0  # leases hold
        assert fail_abandoned(session, max_attempts=3, now=later + timedelta(seconds=61)) == 1
    with sessions.begin() as session:
        lost, kept = get_brief(session, brief_id=brief_id), get_brief(session, brief_id=healthy)
    assert (
        lost is not None
        and lost.status == BriefStatus.FAILED
        and "gave up after 3 claims" in (lost.last_error or "")
    )
    assert lost.finished_at is not None and kept is not None and kept.status == BriefStatus.COLLECTING


def test_platform_totals_count_every_article_even_without_an_account(sessions: Sessions) -> None:
    brief_id = new_job(sessions)
    anonymous = replace(article("3", like=7), user_name="", platform="douyin")
    with sessions.begin() as session:
        store_articles(
            session, brief_id=brief_id, articles=[article("1", like=1), article("2", like=2), anonymous]
        )
        totals = {row["platform"]: row for row in platform_totals(session, brief_id=brief_id)}
    assert totals["weibo"]["articles"] == 2 and totals["weibo"]["like"] == 3
    assert totals["douyin"]["articles"] == 1 and totals["douyin"]["interaction"] == 12


def test_a_later_claim_fences_off_the_run_that_held_the_brief_before(sessions: Sessions) -> None:
    brief_id = new_job(sessions)
    later = utcnow() + timedelta(seconds=61)
    with sessions.begin() as session:
        collecting = claim_brief(session, brief_id=brief_id, stage=Stage.COLLECT, lease_seconds=60)
        assert collecting and finish_collection(session, brief_id=brief_id, claim=collecting.claim)
        slow = claim_brief(session, brief_id=brief_id, stage=Stage.ANALYSE, lease_seconds=60)
        taken_over = claim_brief(session, brief_id=brief_id, stage=Stage.ANALYSE, lease_seconds=60, now=later)
        assert slow and taken_over and taken_over.claim == slow.claim + 1
        assert not holds_claim(session, brief_id=brief_id, stage=Stage.ANALYSE, claim=slow.claim)
        assert not finish_brief(session, brief_id=brief_id, claim=slow.claim, zip_path="/x", summary={})
        assert not fail_brief(session, brief_id=brief_id, claim=slow.claim, error="the slow run gave up")
        assert holds_claim(session, brief_id=brief_id, stage=Stage.ANALYSE, claim=taken_over.claim)
        assert finish_brief(session, brief_id=brief_id, claim=taken_over.claim, zip_path="/y", summary={})
        brief = get_brief(session, brief_id=brief_id)
    assert brief is not None and brief.status == BriefStatus.FINISHED and brief.zip_path == "/y"


def test_waiting_briefs_page_through_every_brief_not_only_the_first_fifty(sessions: Sessions) -> None:
    created = [new_job(sessions) for _ in range(7)]
    with sessions.begin() as session:
        pages, after = [], 0
        while page := waiting_briefs(session, stage=Stage.COLLECT, after=after, limit=3):
            pages.append(page)
            after = page[-1]
    assert [len(page) for page in pages] == [3, 3, 1] and [i for page in pages for i in page] == created


def test_a_collection_claims_only_the_searches_not_yet_done(sessions: Sessions) -> None:
    brief_id = new_job(sessions)
    with sessions.begin() as session:
        first = claim_brief(session, brief_id=brief_id, stage=Stage.COLLECT, lease_seconds=60)
        assert first is not None
        record_search(session, outcome=SearchOutcome(first.searches[0].id, 1, 3, 0, 1))
        again = claim_brief(
            session,
            brief_id=brief_id,
            stage=Stage.COLLECT,
            lease_seconds=60,
            now=utcnow() + timedelta(seconds=61),
        )
    assert again is not None and [s.id for s in again.searches] == [s.id for s in first.searches[1:]]
