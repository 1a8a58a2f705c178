"""The Briefs page under AppTest, on a real database with a brief analysed for real."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest

from db.briefs import (
    BriefStatus,
    create_brief,
    fail_brief,
    list_briefs,
    list_searches,
)
from deployments.runs import start_collection
from rules.briefs import validate_brief

Sessions = sessionmaker[Session]
BRIEFS = Path(__file__).resolve().parents[2] / "dashboard" / "views" / "briefs.py"


def test_a_finished_brief_shows_progress_articles_accounts_charts_and_files(finished_brief: int) -> None:
    at = AppTest.from_file(BRIEFS, default_timeout=60).run()

    assert not at.exception
    briefs = at.dataframe[0].value
    assert list(briefs["id"]) == [finished_brief] and list(briefs["status"]) == ["finished (partial)"]
    assert list(briefs["articles"]) == [6]
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Status"] == "finished (partial)" and metrics["Articles"] == "6"
    assert "douyin/新能源: page 2: douyin answered HTTP 500" in at.warning[0].value
    searches = at.dataframe[1].value
    assert list(searches["status"]) == ["done", "partial"] and list(searches["articles"]) == [3, 3]
    shown = at.dataframe[2].value
    assert len(shown) == 6 and list(shown["interaction"]) == sorted(shown["interaction"], reverse=True)
    accounts = at.dataframe[3].value
    assert set(accounts["user_name"]) == {"作者0", "作者1", "作者2"} and accounts["articles"].sum() == 6
    assert len(at.get("vega_lite_chart")) == 3
    assert len(at.get("image")) == 2
    assert at.get("download_button")[0].proto.label == "Download the brief (zip)"


def test_articles_filter_by_platform_and_text(finished_brief: int) -> None:
    at = AppTest.from_file(BRIEFS, default_timeout=60).run()
    platform = next(box for box in at.selectbox if box.label == "Platform")
    platform.select("douyin").run()
    assert not at.exception
    assert set(at.dataframe[2].value["platform"]) == {"douyin"}

    next(box for box in at.text_input if box.label == "Text contains").input("第2篇").run()
    assert list(at.dataframe[2].value["title"]) == ["新能源汽车第2篇"]
    assert any(caption.value.startswith("1 article shown") for caption in at.caption)


def test_jobs_are_searched_by_keyword_and_status(finished_brief: int, sessions: Sessions) -> None:
    spec = validate_brief(["咖啡"], None, max_keywords=5)
    with sessions.begin() as session:
        waiting = create_brief(session, spec=spec)
    at = AppTest.from_file(BRIEFS, default_timeout=60).run()
    assert list(at.dataframe[0].value["id"]) == [waiting, finished_brief]

    next(box for box in at.text_input if box.label == "Keyword contains").input("咖").run()
    assert list(at.dataframe[0].value["id"]) == [waiting]
    next(box for box in at.selectbox if box.label == "Status").select(BriefStatus.FINISHED).run()
    assert not at.exception and "No briefs found." in [info.value for info in at.info]


def test_the_form_stores_a_brief_with_its_searches(sessions: Sessions) -> None:
    at = AppTest.from_file(BRIEFS, default_timeout=60).run()
    at.text_area[0].input("新能源，电动车")
    at.multiselect[0].set_value(["weibo", "bilibili"])
    at.button[0].click().run()

    assert not at.exception
    with sessions.begin() as session:
        (brief,) = list_briefs(session)
        searches = list_searches(session, brief_id=brief.id)
    assert brief.keywords == ["新能源", "电动车"] and brief.platforms == ["weibo", "bilibili"]
    assert len(searches) == 4 and brief.status == BriefStatus.SUBMITTED
    assert at.success[0].value == f"Brief {brief.id} stored."
    assert "no scheduled process-briefs run comes" in at.info[0].value


@pytest.mark.parametrize(
    ("keywords", "platforms", "reason"),
    [("  ", ["weibo"], "at least one keyword"), ("新能源", [], "at least one platform")],
)
def test_bad_form_input_shows_an_error_and_stores_nothing(
    sessions: Sessions, keywords: str, platforms: list[str], reason: str
) -> None:
    at = AppTest.from_file(BRIEFS, default_timeout=60).run()
    at.text_area[0].input(keywords)
    at.multiselect[0].set_value(platforms)
    at.button[0].click().run()

    assert not at.exception
    assert reason in at.error[0].value and not at.success
    with sessions.begin() as session:
        assert list_briefs(session) == []


def test_start_collection_without_a_server_leaves_the_brief_to_the_schedule() -> None:
    message = start_collection(5)
    assert message.startswith("Brief 5 is stored") and "process-briefs" in message


def test_a_failed_brief_says_why(sessions: Sessions) -> None:
    with sessions.begin() as session:
        brief_id = create_brief(session, spec=validate_brief(["咖啡"], ["weibo"], max_keywords=5))
        fail_brief(session, brief_id=brief_id, error="analysis failed: disk full")
    at = AppTest.from_file(BRIEFS, default_timeout=60).run()
    assert not at.exception
    assert at.error[0].value == "The brief failed: analysis failed: disk full"
    assert {metric.label: metric.value for metric in at.metric}["Status"] == "failed"


def test_the_short_searches_of_a_partial_brief_are_re_collected_from_the_page(
    finished_brief: int, sessions: Sessions
) -> None:
    at = AppTest.from_file(BRIEFS, default_timeout=60).run()
    button = next(b for b in at.button if b.label == "Re-collect the 1 short search")
    button.click().run()

    assert not at.exception
    assert at.success[0].value == f"Brief {finished_brief}: 1 search to collect again."
    with sessions.begin() as session:
        (brief,) = list_briefs(session)
        searches = list_searches(session, brief_id=finished_brief)
    assert brief.status == BriefStatus.SUBMITTED and brief.articles == 6  # what was stored is kept
    assert [(s["status"], s["articles"]) for s in searches] == [("done", 3), ("pending", 3)]
