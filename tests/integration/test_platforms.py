"""connectors.platforms against the sandbox's five platform stand-ins, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr

from connectors.platforms import PlatformError, platform_client, search
from core.settings import PLATFORMS, BriefSettings, PlatformSettings, SandboxSettings
from rules.briefs import Article
from sandbox.platforms import expected_articles, expected_counts
from tests.conftest import ConfigureSandbox

KEYWORD = "咖啡"
FAST = BriefSettings(read_timeout=0.5, connect_timeout=0.5)  # for the faults that never answer
PATIENT = BriefSettings(read_timeout=10, connect_timeout=5)  # a loaded machine answers late, not never
WRONG_KEY = "wrong-secret-key-4711"


@dataclass
class Collected:
    """Everything a paging run through one keyword's results returned."""

    articles: list[Article] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    pages: int = 0
    total_pages: set[int | None] = field(default_factory=set)


def settings(sandbox_url: str, platform: str, key: str) -> PlatformSettings:
    return PlatformSettings(base_url=f"{sandbox_url}/platforms/{platform}", api_key=SecretStr(key))


def collect(
    sandbox_url: str,
    platform: str,
    config: SandboxSettings,
    *,
    page_size: int = 20,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Collected:
    """Page through `platform`'s results for `KEYWORD` until it says there are no more."""

    async def run() -> Collected:
        collected = Collected()
        async with platform_client(
            platform, settings(sandbox_url, platform, config.platform_key), PATIENT
        ) as client:
            has_more = True
            while has_more:
                collected.pages += 1
                page = await search(
                    client, platform, KEYWORD, collected.pages, page_size=page_size, since=since, until=until
                )
                collected.articles += page.articles
                collected.malformed += page.malformed
                collected.total_pages.add(page.total_pages)
                has_more = page.has_more
        return collected

    return asyncio.run(run())


def search_once(sandbox_url: str, platform: str, key: str, base_url: str | None = None) -> None:
    """One search of page 1 that is expected to raise."""
    config = settings(sandbox_url, platform, key)
    if base_url is not None:
        config = config.model_copy(update={"base_url": base_url})

    async def run() -> None:
        async with platform_client(platform, config, FAST) as client:
            await search(client, platform, KEYWORD, 1, page_size=20)

    asyncio.run(run())


def raised(call: Callable[[], None]) -> PlatformError:
    with pytest.raises(PlatformError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("platform", PLATFORMS)
def test_pages_through_every_article(
    sandbox_url: str, configure_sandbox: ConfigureSandbox, platform: str
) -> None:
    config = configure_sandbox(platform_articles=130)
    expected = expected_articles(config, platform, KEYWORD)
    collected = collect(sandbox_url, platform, config)
    assert len(expected) == 130
    assert collected.pages == 7
    assert collected.total_pages <= {7, None}
    assert collected.malformed == []
    ids = [article.external_id for article in collected.articles]
    assert ids == [article.external_id for article in expected]  # newest first, none twice
    assert len(set(ids)) == 130
    assert all(KEYWORD in article.title + article.content for article in collected.articles)
    assert all(article.platform == platform for article in collected.articles)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_fields_match_what_the_platform_served(
    sandbox_url: str, configure_sandbox: ConfigureSandbox, platform: str
) -> None:
    config = configure_sandbox(platform_articles=60)
    collected = collect(sandbox_url, platform, config, page_size=50)
    for article, served in zip(collected.articles, expected_articles(config, platform, KEYWORD), strict=True):
        assert article.post_time == served.post_time
        assert (article.like, article.comment) == (served.like, served.comment)
        assert article.user_name == served.author.name
        assert set(article.topics) == set(served.topics)
    authors = {article.user_id for article in collected.articles}
    assert 1 < len(authors) < len(collected.articles) / 2  # accounts repeat, so they aggregate


@pytest.mark.parametrize("platform", PLATFORMS)
def test_time_window(sandbox_url: str, configure_sandbox: ConfigureSandbox, platform: str) -> None:
    config = configure_sandbox(platform_articles=200, platform_malformed_rate=0.1)
    everything = expected_articles(config, platform, KEYWORD)
    until = everything[30].post_time  # excluded, as is everything newer
    since = everything[150].post_time - timedelta(microseconds=1)
    good, malformed = expected_counts(config, platform, KEYWORD, since=since, until=until)
    assert good + malformed == 120
    collected = collect(sandbox_url, platform, config, page_size=50, since=since, until=until)
    assert len(collected.articles) == good
    assert len(collected.malformed) == malformed
    assert all(since <= (article.post_time or since) < until for article in collected.articles)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_malformed_items_are_reported_and_the_rest_kept(
    sandbox_url: str, configure_sandbox: ConfigureSandbox, platform: str
) -> None:
    config = configure_sandbox(platform_articles=300, platform_malformed_rate=0.2)
    good, malformed = expected_counts(config, platform, KEYWORD)
    assert 30 < malformed < 90
    collected = collect(sandbox_url, platform, config)
    assert (len(collected.articles), len(collected.malformed)) == (good, malformed)
    assert all(reason.startswith(f"{platform} page ") for reason in collected.malformed)
    kinds = ("is missing", "count 'abc' is not a number", "'刚刚' is not a")
    assert all(any(kind in reason for kind in kinds) for reason in collected.malformed)
    assert all(any(kind in reason for reason in collected.malformed) for kind in kinds)
    again = collect(sandbox_url, platform, config)
    assert again.malformed == collected.malformed  # the same items, every time


@pytest.mark.parametrize("platform", PLATFORMS)
def test_wrong_key_is_not_transient_and_not_repeated(sandbox_url: str, platform: str) -> None:
    error = raised(lambda: search_once(sandbox_url, platform, WRONG_KEY))
    assert not error.transient
    assert error.retry_after is None
    assert f"{platform} refused the API key (HTTP 401" in str(error)
    assert WRONG_KEY not in str(error)


@pytest.mark.parametrize(
    ("knob", "message", "retry_after"),
    [
        ("platform_error_rate", "is unavailable (HTTP 500", None),
        ("platform_throttle_rate", "is unavailable (HTTP 429: too many requests)", 1.0),
        ("platform_timeout_rate", "timed out", None),
    ],
)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_injected_faults_are_transient(
    sandbox_url: str,
    configure_sandbox: ConfigureSandbox,
    platform: str,
    knob: str,
    message: str,
    retry_after: float | None,
) -> None:
    config = configure_sandbox(**{knob: 1.0})
    error = raised(lambda: search_once(sandbox_url, platform, config.platform_key))
    assert error.transient
    assert message in str(error)
    assert error.retry_after == retry_after
    assert config.platform_key not in str(error)


def test_unreachable_platform_is_transient(sandbox_url: str) -> None:
    error = raised(
        lambda: search_once(sandbox_url, "weibo", "k", base_url="http://127.0.0.1:9/platforms/weibo")
    )
    assert error.transient
    assert "weibo: " in str(error)


def test_unknown_path_is_not_transient(sandbox_url: str) -> None:
    error = raised(
        lambda: search_once(sandbox_url, "weixin", "k", base_url=f"{sandbox_url}/platforms/nowhere")
    )
    assert not error.transient
    assert "weixin rejected the search (HTTP 404" in str(error)


def test_latency_knob_delays_answers(sandbox_url: str, configure_sandbox: ConfigureSandbox) -> None:
    config = configure_sandbox(platform_articles=20, platform_latency_ms=200)
    started = time.monotonic()
    collected = collect(sandbox_url, "bilibili", config)
    assert collected.pages == 1
    assert time.monotonic() - started >= 0.2


def test_unknown_platform_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown platform 'twitter'"):
        platform_client("twitter", PlatformSettings(base_url="http://127.0.0.1:9"), FAST)
