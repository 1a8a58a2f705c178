"""Benchmarks of briefs: a whole brief end to end, and the analysis alone.

By default: a real ``submit_brief`` flow run (3 keywords × 5 platforms × 400 articles from the sandbox
platforms in their own process, each answer delayed by ``--latency-ms``, a real database) timed from
submission to the zip on disk, with the collection and analysis phases from the brief's own times.
The Prefect API is started by a trivial flow first. The run is that of a fresh worker process on a
machine that has run a brief before (as ``bench/brief_served.py`` times it, after one untimed brief):
jieba's dictionary cache and the extracted font are on disk (built by another process) and the sandbox
has built its catalogues (the first page of every search asked once); loading jieba and the font and
everything else is paid for inside the timed run. ``--cold`` times a first run ever instead: the
caches are built and the sandbox's catalogues generated inside the timed run.

    python -m bench.brief [--articles-per-search 400] [--latency-ms 100] [--database-url URL] [--cold]
        [--sandbox-port PORT] [--record]

``--analysis-only`` times ``analyse_brief_articles`` on N synthetic articles (plausible Chinese text of
100–300 characters with hashtags, repeating authors, times over 30 days), no database, no Prefect.
With ``--from-database`` the articles are stored in a brief first (SQLite, or ``--database-url``) and
the timed part is the analysis task's own (``analyse_claimed``: read the brief's articles, analyse).
``--segmenter jieba`` segments with jieba alone (the path rjieba replaces), for a side-by-side run.
Peak RSS is reported for this process and for its pool workers (the largest child).

    python -m bench.brief --analysis-only [--articles 10000] [--processes 2] [--from-database]
        [--database-url URL] [--segmenter fast|jieba] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import resource
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prefect import flow

from bench.common import configure, database_name, peak_rss_mb, record, sandbox_process
from core.settings import PLATFORMS
from rules.briefs import Article

KEYWORDS = ["新能源汽车", "人工智能", "咖啡"]
SENTENCES = (
    "今天终于体验了{kw}，感觉比想象中要好很多。",
    "朋友推荐的{kw}真的很不错，价格也比较实惠。",
    "关于{kw}的讨论越来越多，大家怎么看？",
    "最近在研究{kw}，发现市场竞争非常激烈。",
    "{kw}行业的发展速度让人惊讶，未来可期。",
    "周末和家人一起去了商场，顺便看了看{kw}。",
    "有没有人知道{kw}哪个品牌的质量最好？",
    "专家表示，{kw}将在明年迎来新的增长。",
    "这次活动的体验感很好，服务人员态度热情。",
    "上海和北京的用户反馈差别很大，南方城市更关注续航。",
    "年轻人越来越喜欢分享自己的生活方式和消费习惯。",
    "数据显示，第三季度销量同比增长了百分之三十。",
    "这个视频拍得太好了，画面清晰，音乐也很好听。",
    "评论区的网友纷纷表示支持，点赞已经过万。",
    "希望厂家能够继续改进产品，提升用户体验。",
    "技术创新是推动产业升级的重要力量。",
    "我觉得性价比才是普通消费者最关心的问题。",
    "学校附近新开了一家店，环境安静，适合学习。",
    "政府出台了新的补贴政策，鼓励绿色消费。",
    "大家一定要理性消费，不要盲目跟风。",
    "记录一下今天的心情，阳光明媚，工作顺利。",
    "直播间的主播介绍得很详细，学到了很多知识。",
    "详情请看 https://example.com/post/{n} 了解更多。",
    "第{n}期节目已经更新，欢迎关注我们的账号。",
)
TOPICS = ("生活日常", "科技前沿", "好物推荐", "消费观察", "周末去哪儿", "热点新闻", "美食探店", "数码评测")
AUTHOR_NAMES = ("小明", "科技观察员", "咖啡爱好者", "汽车之家", "生活家", "数码君", "旅行日记", "财经早知道")
FANS_LEVELS = ("", "普通用户", "黄V", "蓝V", "金V")
HEADER = (
    "| date | articles | articles from | segmenter | processes "
    "| analysis (segment, count, 2 xlsx, 2 clouds, zip) | CPU (all processes) | articles/s "
    "| peak RSS (main) | peak RSS (largest worker) | load (1 min) |"
    "\n|---|---|---|---|---|---|---|---|---|---|---|"
)
SEED_BATCH = 2_000  # articles generated and stored at a time, so that seeding leaves no memory peak


def synthetic_articles(n: int, keywords: list[str], seed: int) -> list[Article]:
    """``n`` plausible Chinese articles over ``keywords``, five platforms, ≤2,000 authors and 30 days."""
    return list(generate_articles(n, keywords, seed))


def generate_articles(n: int, keywords: list[str], seed: int) -> Iterator[Article]:
    """The articles of :func:`synthetic_articles`, one at a time."""
    rng = random.Random(seed)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    authors = [
        (
            f"u{a}",
            f"{rng.choice(AUTHOR_NAMES)}{a}",
            int(rng.paretovariate(1.2) * 100),
            rng.choice(FANS_LEVELS),
        )
        for a in range(max(10, min(2000, n // 5)))
    ]
    for i in range(n):
        keyword = keywords[i % len(keywords)]
        platform = PLATFORMS[rng.randrange(len(PLATFORMS))]
        topics = tuple(rng.sample(TOPICS, rng.randrange(0, 3)))
        parts = [f"#{topic}#" for topic in topics if rng.random() < 0.5]
        while sum(map(len, parts)) < rng.randrange(100, 300):
            parts.append(rng.choice(SENTENCES).format(kw=keyword, n=rng.randrange(1000)))
        user_id, user_name, fans, level = authors[int(rng.paretovariate(1.1)) % len(authors)]
        like, share, comment, collect = (int(rng.expovariate(1 / m)) for m in (200, 30, 50, 20))
        yield (
            Article(
                platform=platform,
                external_id=f"{platform}-{i}",
                url=f"https://{platform}.example.com/p/{i}",
                title=f"{keyword}{rng.choice(('体验分享', '最新消息', '深度解读', '避坑指南'))}",
                content="".join(parts),
                post_time=start + timedelta(seconds=rng.randrange(30 * 86_400)),
                like=like,
                read=like * rng.randrange(5, 50),
                share=share,
                comment=comment,
                collect=collect,
                play=like * 10 if platform in ("douyin", "bilibili") else 0,
                danmu=rng.randrange(100) if platform == "bilibili" else 0,
                interaction=like + share + comment + collect,
                user_id=user_id,
                user_name=user_name,
                user_fans=fans,
                user_fans_level=level,
                topics=topics,
                keyword=keyword,
            )
        )


def children_peak_rss_mb() -> float:
    """Peak resident memory of the largest waited-for child process (the pool's workers)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def warm_caches(jieba_dir: Path) -> None:
    """jieba's dictionary cache, the extracted font and, where the code has it, rjieba's dictionary total."""
    from rules.brief_words import prepare_jieba
    from tasks.briefs import analysis_font

    prepare_jieba(jieba_dir)
    analysis_font()
    try:
        from rules.brief_segmenter import dictionary_total
    except ImportError:  # code from before rjieba, timed side by side
        return
    dictionary_total(jieba_dir)


def build_jieba_cache(jieba_dir: Path) -> None:
    """jieba's caches and the font built in a child process, as a worker that ran before would leave them."""
    process = multiprocessing.get_context("spawn").Process(target=warm_caches, args=(jieba_dir,))
    process.start()
    process.join()


def analysis_options(segmenter: str) -> dict[str, bool]:
    """``fast=False`` for jieba alone; nothing otherwise (so this script also times code without the flag)."""
    return {"fast": False} if segmenter == "jieba" else {}


def cpu_seconds() -> float:
    """CPU time of this process and of its waited-for children (the pool's workers) so far."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_analysis(n: int, processes: int, segmenter: str) -> tuple[float, float, int]:
    """Seconds ``analyse_brief_articles`` takes on ``n`` synthetic articles (font and jieba cache ready)."""
    from core.settings import get_settings
    from rules.brief_analysis import analyse_brief_articles
    from tasks.briefs import analysis_font, jieba_dir

    settings = get_settings()
    build_jieba_cache(jieba_dir())
    articles = synthetic_articles(n, KEYWORDS, seed=42)
    font = analysis_font()
    out_dir = Path(tempfile.mkdtemp(prefix="switchyard-brief-"))
    cpu, started = cpu_seconds(), time.perf_counter()
    result = analyse_brief_articles(
        articles,
        KEYWORDS,
        out_dir=out_dir,
        brief_name="bench",
        font=font,
        processes=processes,
        top_words=settings.briefs.top_words,
        jieba_dir=jieba_dir(),
        **analysis_options(segmenter),
    )
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    print(f"zip: {result.zip_path} ({result.zip_path.stat().st_size / 1e6:.1f} MB)")
    return seconds, cpu, result.articles


def seed_brief(n: int) -> int:
    """A brief of the three keywords with ``n`` synthetic articles stored, a batch at a time; its id."""
    from itertools import islice

    from commands.briefs import order_brief
    from db.briefs import store_articles
    from db.engine import session_factory
    from db.migrate import upgrade

    upgrade()
    brief_id = order_brief(KEYWORDS).id
    articles = generate_articles(n, KEYWORDS, seed=42)
    while batch := list(islice(articles, SEED_BATCH)):
        with session_factory().begin() as session:
            store_articles(session, brief_id=brief_id, articles=batch)
    return brief_id


def time_stored_analysis(n: int, processes: int, segmenter: str) -> tuple[float, float, int]:
    """Seconds the analysis task takes on a stored brief of ``n`` articles: read them, analyse, zip.

    As a worker that prepared the analysis runs it: jieba's cache built and the font found first.
    """
    import tasks.briefs
    from core.settings import get_settings
    from db.briefs import ClaimedBrief
    from rules import brief_analysis

    brief_id = seed_brief(n)
    os.environ["SWITCHYARD_BRIEFS__ANALYSIS_PROCESSES"] = str(processes)
    get_settings.cache_clear()
    build_jieba_cache(tasks.briefs.jieba_dir())
    tasks.briefs.analysis_font()
    options = analysis_options(segmenter)
    if options:
        analyse = brief_analysis.analyse_brief_articles
        tasks.briefs.analyse_brief_articles = lambda *a, **k: analyse(*a, **k, **options)  # type: ignore[assignment]
    claimed = ClaimedBrief(brief_id, 1, KEYWORDS, list(PLATFORMS), None, None, [])
    cpu, started = cpu_seconds(), time.perf_counter()
    result = tasks.briefs.analyse_claimed.fn(claimed)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    print(f"zip: {result.zip_path} ({result.zip_path.stat().st_size / 1e6:.1f} MB)")
    return seconds, cpu, result.articles


E2E_HEADER = (
    "| date (UTC) | caches | searches | articles | API latency | database | submit → zip | collection "
    "| analysis | peak RSS | articles stored | load after |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def load() -> str:
    """The load averages (1, 5, 15 minutes)."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


@flow
def warm_up() -> None:
    """Nothing: starts Prefect's temporary API before the timed run."""


async def ask_every_search_once(keywords: list[str]) -> None:
    """The first page of every search, so that the sandbox has built its catalogues (as a real
    platform has its data) before the timed run."""
    from connectors.platforms import platform_client, search
    from core.settings import get_settings

    settings = get_settings()

    async def first_pages(platform: str) -> None:
        async with platform_client(platform, settings.platforms.of(platform), settings.briefs) as client:
            for keyword in keywords:
                await search(client, platform, keyword, 1, page_size=settings.briefs.page_size)

    await asyncio.gather(*(first_pages(platform) for platform in PLATFORMS))


def time_brief(per_search: int, latency_ms: int, database_url: str, *, cold: bool, sandbox_port: int) -> str:
    """Run one brief of 3 keywords on the 5 platforms against the sandbox; the RESULTS.md row."""
    from core.settings import get_settings
    from db.briefs import get_brief
    from db.engine import session_factory
    from db.migrate import upgrade
    from deployments.warm_starts import prepare_run_process
    from flows.briefs import submit_brief
    from tasks.briefs import jieba_dir

    knobs = {
        "SWITCHYARD_SANDBOX__PLATFORM_LATENCY_MS": str(latency_ms),
        "SWITCHYARD_SANDBOX__PLATFORM_ARTICLES": str(per_search),
        "SWITCHYARD_SANDBOX__SMTP_PORT": "0",  # any free port: the SMTP stand-in is not used here
    }
    with sandbox_process(knobs, sandbox_port) as sandbox_url:
        for platform in PLATFORMS:
            os.environ[f"SWITCHYARD_PLATFORMS__{platform.upper()}__BASE_URL"] = (
                f"{sandbox_url}/platforms/{platform}"
            )
        os.environ["SWITCHYARD_BRIEFS__MAX_ARTICLES"] = str(per_search)
        get_settings.cache_clear()
        upgrade()
        warm_up()
        httpx.get(f"{sandbox_url}/health")
        if not cold:
            build_jieba_cache(jieba_dir())
            asyncio.run(ask_every_search_once(KEYWORDS))
        prepare_run_process()  # as a warm flow-run process is before its run
        started = time.perf_counter()
        result = asyncio.run(submit_brief(KEYWORDS, list(PLATFORMS)))
        seconds = time.perf_counter() - started
    with session_factory().begin() as session:
        brief = get_brief(session, brief_id=result["brief_id"])
    assert brief is not None and brief.zip_path and brief.collected_at and brief.finished_at
    collection = (brief.collected_at - brief.created_at).total_seconds()
    analysis = (brief.finished_at - brief.collected_at).total_seconds()
    expected = per_search * len(KEYWORDS) * len(PLATFORMS)
    print(
        f"brief {brief.id}: {brief.status.value}, {brief.articles} of {expected} articles; "
        f"submit → zip {seconds:.2f} s (collection {collection:.2f} s, analysis {analysis:.2f} s); "
        f"zip {brief.zip_path}"
    )
    searches = len(KEYWORDS) * len(PLATFORMS)
    return (
        f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {'cold' if cold else 'warm'} | {searches} "
        f"| {per_search} each | {latency_ms} ms | {database_name(database_url)} | {seconds:.2f} s "
        f"| {collection:.2f} s | {analysis:.2f} s "
        f"| {peak_rss_mb():.0f} MB | {brief.articles:,} of {expected:,} | {load()} |"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--analysis-only", action="store_true", help="time the analysis alone")
    parser.add_argument("--articles", type=int, default=10_000, help="with --analysis-only")
    parser.add_argument("--articles-per-search", type=int, default=400)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--from-database", action="store_true", help="with --analysis-only: store the articles, time the task"
    )
    parser.add_argument("--segmenter", choices=("fast", "jieba"), default="fast", help="with --analysis-only")
    parser.add_argument("--label", default="", help="the segmenter column's text (e.g. older code timed)")
    parser.add_argument("--cold", action="store_true", help="a first run ever: caches built in the timed run")
    parser.add_argument("--sandbox-port", type=int, default=0, help="the sandbox's port (default: any free)")
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    configure(args.database_url)
    if not args.analysis_only:
        row = time_brief(
            args.articles_per_search,
            args.latency_ms,
            args.database_url,
            cold=args.cold,
            sandbox_port=args.sandbox_port,
        )
        if args.record:
            record("brief", E2E_HEADER, row)
        return
    timer = time_stored_analysis if args.from_database else time_analysis
    seconds, cpu, articles = timer(args.articles, args.processes, args.segmenter)
    load = os.getloadavg()[0]
    main_mb, worker_mb = peak_rss_mb(), children_peak_rss_mb()
    print(
        f"{articles} articles analysed in {seconds:.2f} s = {articles / seconds:.0f} articles/s; "
        f"CPU {cpu:.2f} s; peak RSS {main_mb:.0f} MB (main), {worker_mb:.0f} MB (largest worker); "
        f"load {load:.2f}"
    )
    source = database_name(args.database_url) if args.from_database else "memory"
    segmenter = args.label or args.segmenter
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d} | {articles:,} | {source} | {segmenter} | {args.processes} "
        f"| {seconds:.2f} s | {cpu:.2f} s | {articles / seconds:.0f} | {main_mb:.0f} MB | {worker_mb:.0f} MB "
        f"| {load:.2f} |"
    )
    print(row)
    if args.record:
        record("brief", HEADER, row)


if __name__ == "__main__":
    main()
