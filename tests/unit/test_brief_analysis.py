"""The brief analysis on a small fixed corpus: counts, workbooks, clouds and the zip."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import jieba
import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from core.fonts import cjk_font
from rules import brief_words
from rules.brief_analysis import (
    ACCOUNT_COLUMNS,
    ARTICLE_COLUMNS,
    COMPLETE,
    DAILY_COLUMNS,
    MISSING_COLUMNS,
    SUMMARY_COLUMNS,
    TOPIC_COLUMNS,
    WORD_COLUMNS,
    BriefAnalysis,
    analyse_brief_articles,
    article_text,
)
from rules.brief_cloud import drawable
from rules.brief_words import brief_tokenizer, count_words, prepare_jieba
from rules.briefs import Article, ShortSearch

EV, COFFEE = "新能源汽车", "咖啡"
KEYWORDS = [EV, COFFEE]
PLANTED = "续航"  # planted 6 times in 5 articles


def day(d: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, d, hour, tzinfo=UTC)


def article(n: int, keyword: str, platform: str, content: str, **fields: object) -> Article:
    values: dict = {
        "platform": platform,
        "external_id": f"{platform}-{n}",
        "url": f"https://{platform}.example.com/{n}",
        "title": f"标题{n}",
        "content": content,
        "post_time": day(1),
        "keyword": keyword,
        "user_id": f"u{n}",
        "user_name": f"作者{n}",
    }
    return Article(**(values | fields))


CORPUS = [
    # 新能源汽车 × weibo: 4 articles, 3 of them by one account
    article(
        1,
        EV,
        "weibo",
        "新能源汽车行业发展很快，续航很好。#电动车# https://t.cn/abc123 @小王 2024",
        like=10,
        share=1,
        comment=2,
        interaction=13,
        user_id="laowang",
        user_name="车评人老王",
        user_fans=5000,
        user_fans_level="黄V",
        topics=("电动车",),
        post_time=day(1, 1),
    ),
    article(
        2,
        EV,
        "weibo",
        "我们因为喜欢所以买了新能源汽车，续航也不错，续航真的强。",
        like=20,
        read=100,
        interaction=20,
        user_id="laowang",
        user_name="车评人老王",
        user_fans=5200,
        post_time=day(1, 23),
    ),
    article(
        3,
        EV,
        "weibo",
        "周末去看了新能源汽车展。#电动车#",
        like=5,
        collect=3,
        interaction=8,
        user_id="laowang",
        user_name="车评人老王",
        post_time=day(2),
    ),
    article(4, EV, "weibo", "充电桩越来越多了，续航焦虑少了。", like=1, interaction=1, post_time=None),
    # 新能源汽车 × douyin: 2 articles
    article(5, EV, "douyin", "新能源汽车试驾视频，续航表现亮眼。", play=1000, like=50, interaction=50),
    article(
        6, EV, "douyin", "电池技术进步明显。", play=500, danmu=0, download=7, interaction=3, post_time=day(3)
    ),
    # 咖啡 × xiaohongshu: 3 articles, with control characters and a would-be formula
    article(
        7,
        COFFEE,
        "xiaohongshu",
        "今天的拿铁很香\x00\x07，#咖啡探店 #周末 推荐给大家。",
        like=30,
        interaction=30,
    ),
    article(8, COFFEE, "xiaohongshu", "手冲咖啡的风味很特别。", title="=SUM(1,2)", like=4, interaction=4),
    article(
        9, COFFEE, "xiaohongshu", "咖啡豆的产地很重要。", topics=("咖啡探店[话题]",), like=6, interaction=6
    ),
    # 咖啡 × weibo: 3 articles, one without any account
    article(10, COFFEE, "weibo", "喝咖啡提神，续航一整天。", like=2, interaction=2, post_time=day(2)),
    article(11, COFFEE, "weibo", "咖啡店排队的人很多。", user_id="", user_name="", like=1, interaction=1),
    article(12, COFFEE, "weibo", "冷萃咖啡适合夏天。", like=0, interaction=0, post_time=day(5)),
]


@pytest.fixture(scope="session")
def font(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cjk_font(None, tmp_path_factory.mktemp("fonts"))


@pytest.fixture(scope="session")
def jieba_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jieba")


@pytest.fixture(scope="session")
def analysis(tmp_path_factory: pytest.TempPathFactory, font: Path, jieba_dir: Path) -> BriefAnalysis:
    return analyse_brief_articles(
        CORPUS,
        KEYWORDS,
        out_dir=tmp_path_factory.mktemp("briefs"),
        brief_name="brief-1",
        font=font,
        processes=1,
        top_words=50,
        jieba_dir=jieba_dir,
    )


def rows(path: Path, sheet: str) -> list[tuple]:
    workbook = load_workbook(path, read_only=True)
    try:
        return [tuple(row) for row in workbook[sheet].iter_rows(values_only=True)]
    finally:
        workbook.close()


def keyed(table: list[tuple]) -> dict[tuple, tuple]:
    """Data rows by their first two cells (keyword, platform)."""
    return {row[:2]: row for row in table[1:]}


def test_workbooks_hold_the_expected_sheets_and_headers(analysis: BriefAnalysis) -> None:
    keyword_book = load_workbook(analysis.files["keyword.xlsx"], read_only=True)
    analysis_book = load_workbook(analysis.files["keyword_analysis.xlsx"], read_only=True)
    assert keyword_book.sheetnames == ["articles", "words"]
    assert analysis_book.sheetnames == ["summary", "accounts", "daily", "topics", "missing"]
    keyword_book.close()
    analysis_book.close()
    expected = {
        ("keyword.xlsx", "articles"): ARTICLE_COLUMNS,
        ("keyword.xlsx", "words"): WORD_COLUMNS,
        ("keyword_analysis.xlsx", "summary"): SUMMARY_COLUMNS,
        ("keyword_analysis.xlsx", "accounts"): ACCOUNT_COLUMNS,
        ("keyword_analysis.xlsx", "daily"): DAILY_COLUMNS,
        ("keyword_analysis.xlsx", "topics"): TOPIC_COLUMNS,
        ("keyword_analysis.xlsx", "missing"): MISSING_COLUMNS,
    }
    for (name, sheet), header in expected.items():
        assert rows(analysis.files[name], sheet)[0] == header
    articles = rows(analysis.files["keyword.xlsx"], "articles")
    assert len(articles) == 1 + len(CORPUS)
    assert analysis.articles == len(CORPUS)
    first = dict(zip(ARTICLE_COLUMNS, articles[1], strict=True))
    assert first["keyword"] == EV
    assert first["platform"] == "weibo"
    assert first["post_time (UTC)"] == datetime(2026, 11, 1, 1)
    assert first["user_fans_level"] == "黄V"
    assert first["topics"] == "电动车"


def test_every_sheet_has_widths_a_frozen_header_and_filters(analysis: BriefAnalysis) -> None:
    for name in ("keyword.xlsx", "keyword_analysis.xlsx"):
        for sheet in load_workbook(analysis.files[name]).worksheets:
            assert sheet.freeze_panes == "A2", (name, sheet.title)
            assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith("A1:"), (name, sheet.title)
            assert sheet.column_dimensions["A"].width >= 10, (name, sheet.title)
    articles = load_workbook(analysis.files["keyword.xlsx"])["articles"]
    content = [cell.value for cell in articles[1]].index("content") + 1
    assert articles.column_dimensions[get_column_letter(content)].width == 60


def test_summary_counts_articles_engagement_and_accounts(analysis: BriefAnalysis) -> None:
    summary = keyed(rows(analysis.files["keyword_analysis.xlsx"], "summary"))
    assert set(summary) == {(EV, "weibo"), (EV, "douyin"), (COFFEE, "xiaohongshu"), (COFFEE, "weibo")}
    ev_weibo = dict(zip(SUMMARY_COLUMNS, summary[EV, "weibo"], strict=True))
    assert ev_weibo | {"keyword": None, "platform": None} == {
        "keyword": None,
        "platform": None,
        "articles": 4,
        "accounts": 2,  # 老王 (3 articles) and 作者4
        "like": 36,
        "read": 100,
        "share": 1,
        "comment": 2,
        "collect": 3,
        "play": 0,
        "danmu": 0,
        "download": 0,
        "interaction": 42,
    }
    ev_douyin = dict(zip(SUMMARY_COLUMNS, summary[EV, "douyin"], strict=True))
    assert (ev_douyin["articles"], ev_douyin["play"], ev_douyin["download"]) == (2, 1500, 7)
    coffee_weibo = dict(zip(SUMMARY_COLUMNS, summary[COFFEE, "weibo"], strict=True))
    assert (coffee_weibo["articles"], coffee_weibo["accounts"]) == (3, 2)  # one article has no account
    assert [(row.keyword, row.platform) for row in analysis.summary][:2] == [(EV, "douyin"), (EV, "weibo")]


def test_top_accounts_by_interaction_with_fans_and_level(analysis: BriefAnalysis) -> None:
    accounts = rows(analysis.files["keyword_analysis.xlsx"], "accounts")[1:]
    ev_weibo = [row for row in accounts if row[:2] == (EV, "weibo")]
    assert ev_weibo == [
        (EV, "weibo", "车评人老王", 5200, "黄V", 3, 41),
        (EV, "weibo", "作者4", 0, None, 1, 1),
    ]


def test_articles_per_utc_day(analysis: BriefAnalysis) -> None:
    daily = rows(analysis.files["keyword_analysis.xlsx"], "daily")[1:]
    ev_weibo = [(row[2].date(), row[3], row[4]) for row in daily if row[:2] == (EV, "weibo")]
    assert ev_weibo == [(date(2026, 11, 1), 2, 33), (date(2026, 11, 2), 1, 8)]  # article 4 has no time
    coffee_weibo = [(row[2].date(), row[3]) for row in daily if row[:2] == (COFFEE, "weibo")]
    assert coffee_weibo == [(date(2026, 11, 1), 1), (date(2026, 11, 2), 1), (date(2026, 11, 5), 1)]


def test_planted_word_and_keyword_counts(analysis: BriefAnalysis) -> None:
    words = {row[1]: row for row in rows(analysis.files["keyword.xlsx"], "words")[1:]}
    assert words[PLANTED][2:] == (6, 5)
    assert words[EV][2:] == (4, 4)  # one token, although jieba alone splits it
    assert "新能源" not in words
    assert EV not in jieba.lcut("新能源汽车行业")  # the brief's keywords stay out of the shared dictionary
    assert [row[0] for row in words.values()] == list(range(1, len(words) + 1))
    assert {(w.word, w.count, w.articles) for w in analysis.words} >= {(PLANTED, 6, 5), (EV, 4, 4)}


def test_stop_words_numbers_urls_and_mentions_are_not_counted(analysis: BriefAnalysis) -> None:
    counted = {word.word for word in analysis.words}
    assert not counted & {"我们", "因为", "所以", "的", "了", "，", "。", "2024", "https", "t.cn", "小王"}
    assert all(len(word) > 1 and "#" not in word for word in counted)


def test_hashtags_are_counted_as_topics_once_per_article(analysis: BriefAnalysis) -> None:
    topics = dict(rows(analysis.files["keyword_analysis.xlsx"], "topics")[1:])
    assert topics == {"电动车": 2, "咖啡探店": 2, "周末": 1}
    assert analysis.topics[0].topic in {"电动车", "咖啡探店"}


def test_control_characters_are_stripped_and_formulas_stay_text(analysis: BriefAnalysis) -> None:
    workbook = load_workbook(analysis.files["keyword.xlsx"])
    sheet = workbook["articles"]
    title, content = ARTICLE_COLUMNS.index("title") + 1, ARTICLE_COLUMNS.index("content") + 1
    assert sheet.cell(8, content).value == "今天的拿铁很香，#咖啡探店 #周末 推荐给大家。"
    assert sheet.cell(9, title).value == "=SUM(1,2)"
    assert sheet.cell(9, title).data_type == "s"


def test_zip_holds_the_four_files_and_no_partial_file_is_left(analysis: BriefAnalysis) -> None:
    assert analysis.zip_path.name == "brief-1.zip"
    with zipfile.ZipFile(analysis.zip_path) as archive:
        assert sorted(archive.namelist()) == [
            "brief-1/content_wc.png",
            "brief-1/keyword.xlsx",
            "brief-1/keyword_analysis.xlsx",
            "brief-1/topic_wc.png",
        ]
        assert archive.testzip() is None
    out_dir = analysis.zip_path.parent
    assert not [path for path in out_dir.rglob("*") if path.name.endswith(".part")]
    assert all(path.parent == out_dir / "brief-1" for path in analysis.files.values())


def test_a_pool_counts_what_one_process_counts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, font: Path, jieba_dir: Path, analysis: BriefAnalysis
) -> None:
    monkeypatch.setattr(brief_words, "POOL_MIN_CHARS", 0)
    pooled = analyse_brief_articles(
        CORPUS,
        KEYWORDS,
        out_dir=tmp_path,
        brief_name="pooled",
        font=font,
        processes=2,
        top_words=50,
        jieba_dir=jieba_dir,
    )
    assert pooled.words == analysis.words
    assert pooled.summary == analysis.summary


def test_no_articles_still_gives_every_file(tmp_path: Path, font: Path, jieba_dir: Path) -> None:
    empty = analyse_brief_articles(
        [], KEYWORDS, out_dir=tmp_path, brief_name="empty", font=font, jieba_dir=jieba_dir
    )
    assert (empty.articles, empty.words, empty.summary, empty.topics) == (0, (), (), ())
    assert all(path.stat().st_size > 0 for path in empty.files.values())
    assert rows(empty.files["keyword.xlsx"], "articles") == [ARTICLE_COLUMNS]


def test_a_job_name_that_is_not_a_plain_name_is_refused(tmp_path: Path, font: Path, jieba_dir: Path) -> None:
    with pytest.raises(ValueError, match="brief_name"):
        analyse_brief_articles(
            CORPUS, KEYWORDS, out_dir=tmp_path, brief_name="../x", font=font, jieba_dir=jieba_dir
        )


def test_a_keyword_with_a_space_is_counted_as_one_word(jieba_dir: Path) -> None:
    brief_words.prepare_jieba(jieba_dir)
    keywords = frozenset({"smart phone", "新能源"})
    texts = ["我的Smart  Phone很好用，smart phone真香", "smart phones 和 smartphone 不算"]
    texts.append("新能源smart phone")
    counts, articles = count_words(texts, brief_words.brief_tokenizer(keywords), keywords)
    assert counts["smart phone"] == 3 and articles["smart phone"] == 2
    assert counts["新能源"] == 1 and "smart_phone" not in counts and "phone" not in counts


def test_keywords_count_as_substrings_in_any_case(jieba_dir: Path) -> None:
    brief_words.prepare_jieba(jieba_dir)
    keywords = frozenset({"咖啡", "AI", "新能源汽车", "新能源"})
    texts = ["咖啡馆里聊AI和ai，不聊said", "新能源汽车和新能源", "没有关键词的句子"]
    counts, articles = count_words(texts, brief_words.brief_tokenizer(keywords), keywords)
    assert (counts["咖啡"], counts["AI"], counts["新能源汽车"], counts["新能源"]) == (1, 2, 1, 2)
    assert (articles["咖啡"], articles["AI"], articles["新能源"]) == (1, 1, 1)
    assert "ai" not in counts and "said" in counts and "咖啡馆" in counts  # the compound stays a word


def hanging_chunk(texts: list[str]) -> object:
    """A worker's chunk that counts, then leaves the worker unable to exit and deaf to SIGTERM."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=threading.Event().wait).start()  # a non-daemon thread never ends
    return COUNT_CHUNK(texts)


COUNT_CHUNK = brief_words._count_chunk
HUNG_ANALYSIS = """
import multiprocessing, sys
from pathlib import Path
from rules import brief_analysis, brief_words
from tests.unit import test_brief_analysis as t
brief_words.POOL_MIN_CHARS = 0
brief_words.POOL_SHUTDOWN_SECONDS = 0.2
brief_words._count_chunk = t.hanging_chunk
out, font, jieba_dir = map(Path, sys.argv[1:])
result = brief_analysis.analyse_brief_articles(
    t.CORPUS, t.KEYWORDS, out_dir=out, brief_name="hung", font=font, processes=2, jieba_dir=jieba_dir
)
print(len(result.words), len(multiprocessing.active_children()))
"""


def test_a_hung_pool_worker_does_not_hang_the_analysis(tmp_path: Path, font: Path, jieba_dir: Path) -> None:
    arguments = [str(tmp_path), str(font), str(jieba_dir)]
    ended = subprocess.run(
        [sys.executable, "-c", HUNG_ANALYSIS, *arguments],
        capture_output=True,
        text=True,
        timeout=120,  # only keeps a hanging shutdown from hanging the test run
        cwd=Path(__file__).resolve().parents[2],
    )
    assert ended.returncode == 0, ended.stderr
    words, workers_left = map(int, ended.stdout.split())
    assert words > 0 and workers_left == 0  # every worker ended: killed, as SIGTERM was ignored


def test_the_missing_sheet_names_the_searches_that_came_up_short(
    tmp_path: Path, font: Path, jieba_dir: Path, analysis: BriefAnalysis
) -> None:
    short = [ShortSearch("weibo", "咖啡", "failed", 0, 0, "page 1: weibo answered HTTP 404")]
    partial = analyse_brief_articles(
        CORPUS, KEYWORDS, out_dir=tmp_path, brief_name="short", font=font, jieba_dir=jieba_dir, short=short
    )
    assert rows(partial.files["keyword_analysis.xlsx"], "missing")[1:] == [
        ("weibo", "咖啡", "failed", 0, 0, "page 1: weibo answered HTTP 404")
    ]
    assert rows(analysis.files["keyword_analysis.xlsx"], "missing")[1:] == [
        (None, None, "complete", None, None, COMPLETE)
    ]


def test_open_hashtags_and_hashtags_with_spaces_inside_are_topics_without_stray_words() -> None:
    post = Article("weibo", "1", "u", "", "看 #New York# 的夜景 #旅行日记 #咖啡 #周末#", None)
    text, topics = article_text(post)
    assert topics == {"New York", "旅行日记", "咖啡", "周末"}
    assert "York" not in text and "#" not in text


def test_a_keyword_jieba_splits_is_counted_once_and_its_parts_not_beside_it(jieba_dir: Path) -> None:
    prepare_jieba(jieba_dir)
    keywords = ["咖啡☕", "奶茶"]
    counts, _ = count_words(["今天的咖啡☕很香，奶茶也好喝"], brief_tokenizer(keywords), frozenset(keywords))
    assert counts["咖啡☕"] == 1 and counts["奶茶"] == 1 and "咖啡" not in counts and "☕" not in counts


def test_words_with_emoji_are_left_out_of_the_clouds() -> None:
    assert drawable({"☕": 5, "咖啡☕": 3, "咖啡": 2, "New York": 1}) == {"咖啡": 2, "New York": 1}
