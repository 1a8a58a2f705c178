"""The brief analysis: a brief's articles turned into two workbooks, two word clouds and one zip.

Pure logic (no Prefect, no database). Each article's title and content is counted once: hashtags,
mentions and URLs taken out first; the brief's keywords counted as substrings in any case and added
to jieba's dictionary; the rest segmented by jieba, stop words, single characters and numbers not
counted. Large corpora are segmented by a process pool over chunks.

Files, under ``out_dir / brief_name``: ``keyword.xlsx`` (sheets "articles", "words"),
``keyword_analysis.xlsx`` ("summary", "accounts", "daily", "topics", "missing": the searches
that came up short and why), ``content_wc.png`` and
``topic_wc.png``; then ``out_dir / f"{brief_name}.zip"`` with the four under ``brief_name/``. Every
file is written under a temporary name and renamed, the zip last: a zip that exists is complete.
Counting words is `rules/brief_words.py`.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, WriteOnlyCell
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from core.xlsx import TableWorkbook
from rules.brief_cloud import draw_cloud
from rules.brief_words import segmenting
from rules.briefs import OPEN_HASHTAG_RE, PAIRED_HASHTAG_RE, Article, ShortSearch

ENGAGEMENT = ("like", "read", "share", "comment", "collect", "play", "danmu", "download", "interaction")


ARTICLE_COLUMNS = (
    "keyword",
    "platform",
    "url",
    "title",
    "content",
    "post_time (UTC)",
    *ENGAGEMENT,
    "user_name",
    "user_fans",
    "user_fans_level",
    "topics",
)


WORD_COLUMNS = ("rank", "word", "count", "articles")


SUMMARY_COLUMNS = ("keyword", "platform", "articles", "accounts", *ENGAGEMENT)


ACCOUNT_COLUMNS = (
    "keyword",
    "platform",
    "user_name",
    "user_fans",
    "user_fans_level",
    "articles",
    "interaction",
)


DAILY_COLUMNS = ("keyword", "platform", "date", "articles", "interaction")


TOPIC_COLUMNS = ("topic", "count")


MISSING_COLUMNS = ("platform", "keyword", "status", "pages", "articles", "reason")


MAX_ROWS = 1_048_576  # an xlsx sheet's last row: filters cover every row written
COMPLETE = "every search of the brief was collected in full"  # the "missing" sheet when nothing is


KEYWORD_WORKBOOK = "keyword.xlsx"


ANALYSIS_WORKBOOK = "keyword_analysis.xlsx"


CONTENT_CLOUD = "content_wc.png"


TOPIC_CLOUD = "topic_wc.png"


TOP_ACCOUNTS = 20  # per keyword × platform in the "accounts" sheet


NO_TOPICS = "无话题"  # what the topic cloud says when no article has a topic


NO_WORDS = "无内容"  # what the content cloud says when no word was counted


EXCEL_MAX_CELL = 32_767  # characters Excel keeps in one cell


URL_RE = re.compile(r"(?:https?://|www\.)[^\s\u3000-\u303f\uff00-\uffef]+", re.IGNORECASE)


MENTION_RE = re.compile(r"@[\w\-]{1,30}")


TOPIC_SUFFIX = "[话题]"  # xiaohongshu writes "#话题[话题]#"


@dataclass(frozen=True)
class WordCount:
    """A word, its occurrences in the corpus and the number of articles containing it."""

    word: str
    count: int
    articles: int


@dataclass(frozen=True)
class TopicCount:
    """A topic or hashtag and the number of articles carrying it."""

    topic: str
    count: int


@dataclass(frozen=True)
class AccountSummary:
    """One account's articles and interaction within a keyword × platform."""

    user_id: str
    user_name: str
    user_fans: int
    user_fans_level: str
    articles: int
    interaction: int


@dataclass(frozen=True)
class DayCount:
    """Articles and their interaction on one UTC date."""

    day: date
    articles: int
    interaction: int


@dataclass(frozen=True)
class KeywordPlatformSummary:
    """Everything counted for one keyword on one platform."""

    keyword: str
    platform: str
    articles: int
    accounts: int
    like: int
    read: int
    share: int
    comment: int
    collect: int
    play: int
    danmu: int
    download: int
    interaction: int
    top_accounts: tuple[AccountSummary, ...]  # by interaction, at most TOP_ACCOUNTS
    daily: tuple[DayCount, ...]  # by date; articles without a post time are not in it


@dataclass(frozen=True)
class BriefAnalysis:
    """The result of one brief's analysis: the counts and the files written."""

    words: tuple[WordCount, ...]  # the top ``top_words``, most frequent first
    summary: tuple[KeywordPlatformSummary, ...]
    topics: tuple[TopicCount, ...]  # most frequent first
    files: dict[str, Path] = field(hash=False)  # file name → path, the four files in the zip
    zip_path: Path
    articles: int
    seconds: float


def normalise_topic(topic: str) -> str:
    return topic.strip().strip("#").removesuffix(TOPIC_SUFFIX).strip()


def article_text(article: Article) -> tuple[str, set[str]]:
    """The text to segment (hashtags, mentions and URLs removed) and the article's topics."""
    text = URL_RE.sub(" ", f"{article.title}\n{article.content}")
    topics = {normalise_topic(topic) for topic in article.topics}
    for pattern in (PAIRED_HASHTAG_RE, OPEN_HASHTAG_RE):
        topics.update(normalise_topic(tag) for tag in pattern.findall(text))
        text = pattern.sub(" ", text)
    topics.discard("")
    return MENTION_RE.sub(" ", text), topics


def rank_words(counts: Counter[str], articles: Counter[str], limit: int) -> tuple[WordCount, ...]:
    """The ``limit`` most frequent words (ties by word, so the order is stable)."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return tuple(WordCount(word, count, articles[word]) for word, count in ranked)


def account_key(article: Article) -> str:
    return article.user_id or article.user_name


def summarise(articles: Sequence[Article], keywords: Sequence[str]) -> tuple[KeywordPlatformSummary, ...]:
    """Per keyword × platform: articles, engagement sums, accounts, top accounts, articles per day."""
    groups: dict[tuple[str, str], list[Article]] = {}
    for article in articles:
        groups.setdefault((article.keyword, article.platform), []).append(article)
    order = {keyword: index for index, keyword in enumerate(keywords)}
    keys = sorted(groups, key=lambda key: (order.get(key[0], len(order)), key[0], key[1]))
    return tuple(summarise_group(keyword, platform, groups[keyword, platform]) for keyword, platform in keys)


def summarise_group(keyword: str, platform: str, articles: list[Article]) -> KeywordPlatformSummary:
    sums = {name: sum(getattr(article, name) for article in articles) for name in ENGAGEMENT}
    accounts: dict[str, list[Article]] = {}
    days: dict[date, list[int]] = {}
    for article in articles:
        if key := account_key(article):
            accounts.setdefault(key, []).append(article)
        if article.post_time is not None:
            day = days.setdefault(article.post_time.date(), [0, 0])
            day[0] += 1
            day[1] += article.interaction
    top = sorted(
        (summarise_account(key, posts) for key, posts in accounts.items()),
        key=lambda account: (-account.interaction, -account.articles, account.user_name, account.user_id),
    )[:TOP_ACCOUNTS]
    return KeywordPlatformSummary(
        keyword=keyword,
        platform=platform,
        articles=len(articles),
        accounts=len(accounts),
        **sums,
        top_accounts=tuple(top),
        daily=tuple(DayCount(day, n, interaction) for day, (n, interaction) in sorted(days.items())),
    )


def summarise_account(key: str, posts: list[Article]) -> AccountSummary:
    """One account from its articles: the name and level last seen non-empty, the most fans seen."""
    return AccountSummary(
        user_id=posts[0].user_id,
        user_name=next((post.user_name for post in reversed(posts) if post.user_name), key),
        user_fans=max(post.user_fans for post in posts),
        user_fans_level=next((post.user_fans_level for post in reversed(posts) if post.user_fans_level), ""),
        articles=len(posts),
        interaction=sum(post.interaction for post in posts),
    )


def count_topics(topic_sets: Iterable[set[str]]) -> tuple[TopicCount, ...]:
    """Topics by the number of articles carrying them (ties by name)."""
    counts = Counter(topic for topics in topic_sets for topic in topics)
    return tuple(TopicCount(topic, n) for topic, n in sorted(counts.items(), key=lambda i: (-i[1], i[0])))


def cell(sheet: WriteOnlyWorksheet, value: Any) -> Any:
    """A value Excel accepts: strings without control characters, cut to Excel's limit, never a formula."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)[:EXCEL_MAX_CELL]
    if value.startswith("="):  # openpyxl would store it as a formula
        text = WriteOnlyCell(sheet, value)
        text.data_type = "s"
        return text
    return value


WIDE_COLUMNS = {"url": 40, "title": 40, "content": 60, "topics": 30, "reason": 60, "word": 16, "topic": 20}


def new_sheet(workbook: Workbook, name: str, columns: Sequence[str]) -> WriteOnlyWorksheet:
    """A sheet with its header row, column widths for what they hold, the header frozen and filters
    on every column."""
    sheet = workbook.create_sheet(name)
    for number, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(number)].width = widths([column])[0]
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{MAX_ROWS}"
    append(sheet, columns)
    return sheet


def append(sheet: WriteOnlyWorksheet, row: Iterable[Any]) -> None:
    sheet.append([cell(sheet, value) for value in row])


def save_atomically(workbook: Workbook, path: Path) -> None:
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    workbook.save(partial)
    os.replace(partial, path)


def article_row(article: Article, topics: set[str]) -> list[Any]:
    posted = article.post_time.astimezone(UTC).replace(tzinfo=None) if article.post_time else None
    return [
        article.keyword,
        article.platform,
        article.url,
        article.title,
        article.content,
        posted,
        *(getattr(article, name) for name in ENGAGEMENT),
        article.user_name,
        article.user_fans,
        article.user_fans_level,
        ",".join(sorted(topics)),
    ]


def plain(value: Any) -> Any:
    """A value an xlsx cell holds: strings without control characters, cut to Excel's limit."""
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)[:EXCEL_MAX_CELL]
    return value


def widths(columns: Sequence[str]) -> list[int]:
    return [WIDE_COLUMNS.get(column, max(10, len(column) + 2)) for column in columns]


def keyword_workbook(articles: Sequence[Article], topic_sets: Sequence[set[str]]) -> TableWorkbook:
    """``keyword.xlsx`` begun: its "articles" sheet, one row per article (the largest sheet by far,
    written by core/xlsx.py: openpyxl took ~0.17 ms of CPU per article)."""
    workbook = TableWorkbook()
    rows = (
        [plain(value) for value in article_row(article, topics)]
        for article, topics in zip(articles, topic_sets, strict=True)
    )
    workbook.add_sheet("articles", ARTICLE_COLUMNS, widths(ARTICLE_COLUMNS), rows)
    return workbook


def write_keyword_workbook(path: Path, workbook: TableWorkbook, words: Sequence[WordCount]) -> None:
    """``keyword.xlsx`` finished: its "words" sheet (rank, word, count, articles), saved to ``path``."""
    rows = ((rank, plain(word.word), word.count, word.articles) for rank, word in enumerate(words, start=1))
    workbook.add_sheet("words", WORD_COLUMNS, widths(WORD_COLUMNS), rows)
    workbook.save(path)


def write_analysis_workbook(
    path: Path,
    summary: Sequence[KeywordPlatformSummary],
    topics: Sequence[TopicCount],
    short: Sequence[ShortSearch] = (),
) -> None:
    """``keyword_analysis.xlsx``: sheets "summary", "accounts", "daily", "topics" and "missing" (the
    searches that came up short and why, or a line saying none did)."""
    workbook = Workbook(write_only=True)
    layout = {
        "summary": SUMMARY_COLUMNS,
        "accounts": ACCOUNT_COLUMNS,
        "daily": DAILY_COLUMNS,
        "topics": TOPIC_COLUMNS,
        "missing": MISSING_COLUMNS,
    }
    sheets = {name: new_sheet(workbook, name, columns) for name, columns in layout.items()}
    for row in summary:
        key = (row.keyword, row.platform)
        append(sheets["summary"], (*key, row.articles, row.accounts, *(getattr(row, n) for n in ENGAGEMENT)))
        for account in row.top_accounts:
            account_counts = (account.articles, account.interaction)
            append(
                sheets["accounts"],
                (*key, account.user_name, account.user_fans, account.user_fans_level, *account_counts),
            )
        for day in row.daily:
            append(sheets["daily"], (*key, day.day, day.articles, day.interaction))
    for topic in topics:
        append(sheets["topics"], (topic.topic, topic.count))
    for search in short:
        row = (search.platform, search.keyword, search.status, search.pages, search.articles, search.reason)
        append(sheets["missing"], row)
    if not short:
        append(sheets["missing"], (None, None, "complete", None, None, COMPLETE))
    save_atomically(workbook, path)


def zip_brief(zip_path: Path, files: dict[str, Path], brief_name: str) -> None:
    """The files under ``brief_name/`` in one zip, stored as is (xlsx and png are compressed already)."""
    partial = zip_path.with_name(f".{zip_path.name}.{uuid.uuid4().hex}.part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, path in files.items():
            archive.write(path, f"{brief_name}/{name}")
    os.replace(partial, zip_path)


def publish_files(staged: Path, out_dir: Path, brief_name: str) -> None:
    """Move a brief's folder and zip written under ``staged`` into ``out_dir``, replacing earlier ones.

    The folder is swapped in by renames (the old one removed after), the zip moved last.
    """
    target = out_dir / brief_name
    old = out_dir / f".{brief_name}.{uuid.uuid4().hex}.old"
    if target.exists():
        os.replace(target, old)
    os.replace(staged / brief_name, target)
    os.replace(staged / f"{brief_name}.zip", out_dir / f"{brief_name}.zip")
    shutil.rmtree(old, ignore_errors=True)


def brief_keywords(keywords: Iterable[str]) -> list[str]:
    """The keywords an analysis counts: stripped, the empty ones left out."""
    return [keyword.strip() for keyword in keywords if keyword.strip()]


def analyse_brief_articles(
    articles: Sequence[Article],
    keywords: Sequence[str],
    *,
    out_dir: Path,
    brief_name: str,
    font: Path,
    processes: int = 2,
    top_words: int = 200,
    jieba_dir: Path,
    short: Sequence[ShortSearch] = (),
    fast: bool = True,
) -> BriefAnalysis:
    """Count a brief's words, engagement, accounts, days and topics, and write its files and zip.

    ``fast``: segment with rjieba where it cuts as jieba does (the same counts); False: jieba alone.
    """
    if not brief_name or Path(brief_name).name != brief_name or brief_name in (".", ".."):
        raise ValueError(f"brief_name must be a plain file name, got {brief_name!r}")
    started = time.perf_counter()
    keywords = brief_keywords(keywords)
    brief_dir = out_dir / brief_name
    brief_dir.mkdir(parents=True, exist_ok=True)
    prepared = [article_text(article) for article in articles]
    texts = [text for text, _ in prepared]
    topic_sets = [topics for _, topics in prepared]
    files = {
        name: brief_dir / name for name in (KEYWORD_WORKBOOK, ANALYSIS_WORKBOOK, CONTENT_CLOUD, TOPIC_CLOUD)
    }
    cloud = {"font": font, "max_words": top_words}
    with (
        ThreadPoolExecutor(1) as waiter,
        segmenting(texts, keywords, processes=processes, jieba_dir=jieba_dir, fast=fast) as work,
    ):

        def count_and_draw_words() -> tuple[tuple[WordCount, ...], Callable[[], None]]:
            """In a thread: the top words as soon as they are counted, and their cloud started."""
            ranked = rank_words(*work.counts(), top_words)
            frequencies = {word.word: word.count for word in ranked}
            return ranked, work.run(
                draw_cloud, files[CONTENT_CLOUD], frequencies, empty_text=NO_WORDS, **cloud
            )

        summary = summarise(articles, keywords)
        topics = count_topics(topic_sets)
        topic_frequencies = {topic.topic: topic.count for topic in topics[:top_words]}
        topic_cloud = work.run(
            draw_cloud, files[TOPIC_CLOUD], topic_frequencies, empty_text=NO_TOPICS, **cloud
        )
        counted = waiter.submit(count_and_draw_words)
        # while the pool segments and draws: everything that does not need the words
        write_analysis_workbook(files[ANALYSIS_WORKBOOK], summary, topics, short)
        workbook = keyword_workbook(articles, topic_sets)
        words, content_cloud = counted.result()
        write_keyword_workbook(files[KEYWORD_WORKBOOK], workbook, words)
        topic_cloud()
        content_cloud()
    zip_path = out_dir / f"{brief_name}.zip"
    zip_brief(zip_path, files, brief_name)
    return BriefAnalysis(
        words=words,
        summary=summary,
        topics=topics,
        files=files,
        zip_path=zip_path,
        articles=len(articles),
        seconds=time.perf_counter() - started,
    )
