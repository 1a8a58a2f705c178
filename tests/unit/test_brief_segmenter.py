"""The fast segmenter (rjieba) gives jieba's word tables, and jieba stands in when rjieba is missing."""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jieba
import pytest
from openpyxl import load_workbook

from rules import brief_segmenter
from rules.brief_analysis import analyse_brief_articles
from rules.brief_segmenter import FastTokenizer, cut_alike, fast_package
from rules.brief_words import brief_tokenizer, prepare_jieba, segmenter
from rules.briefs import Article

pytestmark = pytest.mark.skipif(fast_package() is None, reason="rjieba is not installed")

# In the dictionary (咖啡, 人工智能, AI as a prefix-free Latin word), not in it (新能源汽车), a word
# jieba's HMM finds (绝绝子): each is added as jieba adds it, which changes the routes around it.
KEYWORDS = ["新能源汽车", "人工智能", "咖啡", "AI", "绝绝子"]
PLAIN = (
    "今天终于体验了{kw}，感觉比想象中要好很多。",
    "朋友推荐的{kw}真的很不错，价格也比较实惠。",
    "关于{kw}的讨论越来越多，大家怎么看？",
    "上海和北京的用户反馈差别很大，南方城市更关注续航。",
    "数据显示，第三季度销量同比增长了3.5%，达到30%的份额。",
    "蔚来和小红书上的博主都说{kw}绝绝子，yyds！",
    "人工智能改变了咖啡馆的点单方式，AI助手很聪明。",
    "周末和家人一起去了商场，顺便看了看{kw}。",
)
# Text rjieba cuts otherwise than jieba (these go to jieba): symbols inside ASCII runs, CJK outside
# U+4E00–U+9FD5 (extension A and B, U+9FD6 and up, compatibility ideographs).
OTHER = (
    "家里的Wi-Fi信号很差",
    "COVID-19之后大家更注意健康",
    "变量x_y的值",
    "版本v1.2.3发布了",
    "型号12.75a很少见",
    "K-pop明星来了",
    "生僻字㐀㐁也有",
    "新字鿾鿷出现",
    "兼容字\ufa6e\ufa6f",
    "扩展字𠀀𠀁很少",
)


def corpus() -> list[Article]:
    """300 fixed articles over the keywords, a third of them with text rjieba cuts otherwise."""
    rng = random.Random(7)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    articles = []
    for n in range(300):
        keyword = KEYWORDS[n % len(KEYWORDS)]
        parts = [rng.choice(PLAIN).format(kw=keyword) for _ in range(rng.randrange(2, 6))]
        if n % 3 == 0:
            parts.append(rng.choice(OTHER))
        articles.append(
            Article(
                platform="weibo",
                external_id=str(n),
                url=f"https://weibo.example.com/{n}",
                title=f"{keyword}体验",
                content="".join(parts),
                post_time=start + timedelta(hours=n),
                keyword=keyword,
                user_id=f"u{n % 17}",
                user_name=f"作者{n % 17}",
            )
        )
    return articles


def words_sheet(path: Path) -> list[tuple]:
    workbook = load_workbook(path / "keyword.xlsx", read_only=True)
    try:
        return [tuple(row) for row in workbook["words"].iter_rows(values_only=True)]
    finally:
        workbook.close()


@pytest.fixture(scope="module")
def jieba_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("jieba")
    prepare_jieba(directory)
    return directory


def test_the_word_tables_of_rjieba_and_jieba_are_identical(tmp_path: Path, jieba_dir: Path) -> None:
    from core.fonts import cjk_font

    font = cjk_font(None, tmp_path / "fonts")
    articles = corpus()
    assert isinstance(segmenter(KEYWORDS, jieba_dir), FastTokenizer)
    analyses = {
        fast: analyse_brief_articles(
            articles,
            KEYWORDS,
            out_dir=tmp_path / str(fast),
            brief_name="b",
            font=font,
            processes=1,
            top_words=500,
            jieba_dir=jieba_dir,
            fast=fast,
        )
        for fast in (True, False)
    }
    assert analyses[True].words == analyses[False].words
    assert len(analyses[True].words) > 50
    assert words_sheet(tmp_path / "True" / "b") == words_sheet(tmp_path / "False" / "b")


@pytest.fixture(scope="module")
def fast(jieba_dir: Path) -> FastTokenizer:
    tokenizer = segmenter(KEYWORDS, jieba_dir)
    assert isinstance(tokenizer, FastTokenizer)
    return tokenizer


@pytest.mark.parametrize("text", [*OTHER, *(p.format(kw="新能源汽车") for p in PLAIN)])
def test_every_text_is_cut_into_jieba_tokens(text: str, fast: FastTokenizer) -> None:
    assert fast.lcut(text, HMM=True) == brief_tokenizer(KEYWORDS).lcut(text, HMM=True)
    assert cut_alike(text) == (text not in OTHER)


def test_keywords_are_added_with_jieba_frequencies_and_total(fast: FastTokenizer) -> None:
    reference = brief_tokenizer(KEYWORDS)
    assert fast.frequencies.added == {keyword: reference.FREQ[keyword] for keyword in KEYWORDS}
    assert fast.frequencies.total == reference.total


def test_jieba_counts_when_rjieba_is_missing_or_fails_to_import(
    monkeypatch: pytest.MonkeyPatch, jieba_dir: Path
) -> None:
    monkeypatch.setitem(sys.modules, "rjieba", None)  # import rjieba raises ImportError
    fast_package.cache_clear()
    try:
        assert fast_package() is None
        tokenizer = segmenter(KEYWORDS, jieba_dir)
        assert isinstance(tokenizer, jieba.Tokenizer)
        assert tokenizer.lcut("新能源汽车绝绝子") == ["新能源汽车", "绝绝子"]
    finally:
        fast_package.cache_clear()


def test_a_keyword_rjieba_cuts_otherwise_gives_jieba_for_the_brief(jieba_dir: Path) -> None:
    assert isinstance(segmenter(["Wi-Fi", "咖啡"], jieba_dir), jieba.Tokenizer)
    assert isinstance(segmenter(["Wi-Fi", "咖啡"], jieba_dir, fast=False), jieba.Tokenizer)
    assert brief_segmenter.fast_tokenizer(["咖啡"], jieba_dir) is not None


@pytest.mark.parametrize(
    ("texts", "loaded"),
    [(["今天的咖啡很香", "新能源汽车卖得好"], False), (["今天的咖啡很香", "家里的Wi-Fi坏了"], True)],
)
def test_the_analysis_loads_jieba_before_forking_only_when_a_text_needs_it(
    monkeypatch: pytest.MonkeyPatch, jieba_dir: Path, texts: list[str], loaded: bool
) -> None:
    from rules import brief_words

    if fast_package() is None:
        pytest.skip("rjieba is not installed")
    calls: list[Path] = []
    monkeypatch.setattr(brief_words, "prepare_jieba", calls.append)
    with brief_words.segmenting(texts, ["咖啡"], processes=1, jieba_dir=jieba_dir):
        pass
    assert bool(calls) is loaded


def test_a_dictionary_built_ahead_serves_one_brief_and_no_other_sees_its_keywords(jieba_dir: Path) -> None:
    brief_segmenter.build_fast_ahead()
    built = brief_segmenter._built
    assert built is not None
    first = brief_segmenter.fast_tokenizer(["绝绝子咖啡馆"], jieba_dir)
    second = brief_segmenter.fast_tokenizer(["新能源汽车"], jieba_dir)
    assert first is not None and second is not None
    assert first.fast is built and second.fast is not built and brief_segmenter._built is None
    assert "绝绝子咖啡馆" in first.lcut("今天去了绝绝子咖啡馆")
    assert "绝绝子咖啡馆" not in second.lcut("今天去了绝绝子咖啡馆")


def test_pool_workers_forked_with_a_dictionary_built_ahead_count_what_one_process_counts(
    jieba_dir: Path,
) -> None:
    from rules.brief_analysis import article_text
    from rules.brief_words import POOL_MIN_CHARS, count_words, segmenting

    texts = [article_text(article)[0] for article in corpus()]
    texts *= -(-POOL_MIN_CHARS // sum(map(len, texts)))  # large enough for a pool
    alone = count_words(texts, segmenter(KEYWORDS, jieba_dir), frozenset(KEYWORDS))
    brief_segmenter.build_fast_ahead()
    built = brief_segmenter._built
    with segmenting(texts, KEYWORDS, processes=2, jieba_dir=jieba_dir) as work:
        assert work.counts() == alone
    assert brief_segmenter._built is built  # each worker took its own copy; this process keeps it


def test_a_pool_forked_ahead_is_taken_by_its_brief_alone_and_counts_what_one_process_counts(
    jieba_dir: Path,
) -> None:
    from rules import brief_words
    from rules.brief_analysis import article_text
    from rules.brief_words import count_words, pool_ahead, segmenting

    texts = [article_text(article)[0] for article in corpus()]  # a small corpus, some texts for jieba
    assert not all(map(cut_alike, texts))
    alone = count_words(texts, segmenter(KEYWORDS, jieba_dir), frozenset(KEYWORDS))
    with pool_ahead(KEYWORDS, processes=2, jieba_dir=jieba_dir):
        (pool,) = brief_words._ahead.values()
        workers = list(pool._pool)  # type: ignore[attr-defined]
        with segmenting(texts, KEYWORDS[:2], processes=2, jieba_dir=jieba_dir):
            assert list(brief_words._ahead.values()) == [pool]  # another brief's: not taken
        with segmenting(texts, KEYWORDS, processes=1, jieba_dir=jieba_dir):
            assert list(brief_words._ahead.values()) == [pool]  # another number of processes
        with segmenting(texts, KEYWORDS, processes=2, jieba_dir=jieba_dir) as work:
            assert not brief_words._ahead
            assert work.counts() == alone  # in its workers, jieba loaded there for the texts that need it
        assert not any(worker.is_alive() for worker in workers)


def test_a_pool_forked_ahead_that_nothing_took_ends_with_its_block(jieba_dir: Path) -> None:
    from rules import brief_words

    with brief_words.pool_ahead(["咖啡"], processes=2, jieba_dir=jieba_dir):
        (pool,) = brief_words._ahead.values()
        workers = list(pool._pool)  # type: ignore[attr-defined]
        assert len(workers) == 2 and all(worker.is_alive() for worker in workers)
    assert not brief_words._ahead
    assert not any(worker.is_alive() for worker in workers)


@pytest.mark.parametrize(("keywords", "processes"), [(["Wi-Fi", "咖啡"], 2), (["咖啡"], 1)])
def test_no_pool_is_forked_ahead_for_a_brief_rjieba_does_not_segment_or_for_one_process(
    jieba_dir: Path, keywords: list[str], processes: int
) -> None:
    from rules import brief_words

    with brief_words.pool_ahead(keywords, processes=processes, jieba_dir=jieba_dir):
        assert not brief_words._ahead
