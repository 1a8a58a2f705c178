"""The running dashboard in headless Chromium, showing the results of a real flow run."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from flows.briefs import submit_brief
from flows.webpages import count_words
from sandbox.platforms import expected_counts
from sandbox.webpages import EXPECTED_COUNTS
from tests.conftest import ConfigureSandbox

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60
METRIC_PARTS = ("stMetricLabel", "stMetricValue")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian chromium is not installed at {CHROMIUM}"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    """Wait until Streamlit's health check answers ok."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"streamlit did not answer within {STARTUP_SECONDS} s")


@contextmanager
def running_dashboard(database_url: str, log: Path) -> Iterator[str]:
    """``streamlit run dashboard/app.py`` on a free loopback port, without a Prefect API; yields its URL."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name != "PREFECT_API_URL"}
    env["SWITCHYARD_DATABASE_URL"] = database_url
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless", "true"]
    command += ["--server.port", str(port), "--server.address", "127.0.0.1"]
    command += ["--browser.gatherUsageStats", "false"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, process)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def sqlite_url(database_url: str) -> str:
    """The browser checks run once, on the SQLite database."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the browser checks run once, on SQLite")
    return database_url


@pytest.fixture
def dashboard_url(sqlite_url: str, tmp_path: Path) -> Iterator[str]:
    with running_dashboard(sqlite_url, tmp_path / "streamlit.log") as url:
        yield url


@contextmanager
def browser_page(url: str) -> Iterator[sync_api.Page]:
    """A headless Chromium page opened at ``url`` (Playwright's loop runs until the block ends)."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.goto(url)
            yield page
        finally:
            browser.close()


def wait_rendered(page: sync_api.Page, selector: str) -> None:
    """Wait for ``selector``, then for the script run to finish and lazy elements to load."""
    page.wait_for_selector(selector, timeout=60_000)
    for busy in ("stStatusWidget", "stSkeleton"):
        page.wait_for_selector(f'[data-testid="{busy}"]', state="detached", timeout=30_000)


def screenshot(page: sync_api.Page, path: Path) -> None:
    page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 20_000


def table_rows(page: sync_api.Page) -> dict[str, list[str]]:
    """The rows of the per-URL results table, by URL."""
    rows = page.locator('[data-testid="stTable"] tbody tr').all()
    return {cells[0]: cells for cells in (row.locator("th, td").all_inner_texts() for row in rows)}


@pytest.mark.usefixtures("prefect_harness", "sessions")
def test_overview_and_web_pages_show_real_counts(
    sandbox_url: str, dashboard_url: str, tmp_path: Path
) -> None:
    utf8, tricky = f"{sandbox_url}/pages/utf8", f"{sandbox_url}/pages/tricky"
    asyncio.run(count_words(urls=[utf8, tricky, "ftp://x"], word="python"))

    with browser_page(dashboard_url) as page:  # entry page first: see the deep-link test below
        wait_rendered(page, '[data-testid="stMetric"]')
        screenshot(page, tmp_path / "overview.png")
        labels, values = (page.locator(f'[data-testid="{part}"]').all_inner_texts() for part in METRIC_PARTS)
        page.locator('[data-testid="stSidebarNav"]').get_by_text("Web pages").click()
        page.wait_for_url(f"{dashboard_url}/webpages")
        wait_rendered(page, '[data-testid="stTable"]')
        screenshot(page, tmp_path / "webpages.png")
        rows = table_rows(page)
        body = page.inner_text("body")

    assert dict(zip(labels, values, strict=True)) == {
        "Not started": "0",
        "Pending": "0",
        "Finished": "2",
        "Failed": "1",
    }
    assert "3 of 3 pages done" in body
    assert rows[utf8][1:3] == ["finished", str(EXPECTED_COUNTS["/utf8"])]
    assert rows[tricky][1:3] == ["finished", str(EXPECTED_COUNTS["/tricky"])]
    assert rows["ftp://x"][1] == "failed" and "only http and https" in rows["ftp://x"][-1]


def test_a_deep_link_into_a_fresh_server_gets_the_navigation(
    dashboard_url: str,
) -> None:
    with browser_page(f"{dashboard_url}/webpages") as page:
        wait_rendered(page, '[data-testid="stForm"]')
        navigation = page.locator('[data-testid="stSidebarNav"]').inner_text()

    assert "Overview" in navigation and "Web pages" in navigation


@pytest.mark.usefixtures("prefect_harness", "sessions", "platforms_on_the_sandbox")
def test_a_finished_brief_shows_its_results_and_word_clouds(
    sandbox_url: str, configure_sandbox: ConfigureSandbox, dashboard_url: str, tmp_path: Path
) -> None:
    config = configure_sandbox(platform_articles=30)
    brief_id = asyncio.run(submit_brief(["咖啡"], ["weibo", "bilibili"]))["brief_id"]
    expected = sum(expected_counts(config, platform, "咖啡")[0] for platform in ("weibo", "bilibili"))

    with browser_page(f"{dashboard_url}/briefs") as page:
        wait_rendered(page, '[data-testid="stMetric"]')
        labels, values = (page.locator(f'[data-testid="{part}"]').all_inner_texts() for part in METRIC_PARTS)
        page.get_by_role("tab", name="Files").click()
        page.wait_for_selector('[data-testid="stImage"] img', timeout=30_000)
        page.wait_for_function(
            "[...document.querySelectorAll('[data-testid=stImage] img')].every(i => i.complete)"
        )
        widths = page.eval_on_selector_all(
            '[data-testid="stImage"] img', "images => images.map(i => i.naturalWidth)"
        )
        download = page.get_by_role("button", name="Download the brief (zip)").count()
        screenshot(page, tmp_path / "briefs.png")
        body = page.inner_text("body")

    metrics = dict(zip(labels, values, strict=True))
    assert metrics["Status"] == "finished" and metrics["Articles"] == str(expected)
    assert f"Brief {brief_id}" in body and widths == [800, 800] and download == 1
