"""The last process of ``make demo``: waits for the platform, seeds the demo once, says where to look.

The demo request, mailing, brief and growth accounts are submitted on the first start only:
``var/demo-seeded.json`` records each one, so a second ``make demo`` on the same ``var/`` sends and
orders nothing again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
from prefect import get_client
from prefect.client.schemas.objects import DeploymentStatus
from prefect.exceptions import ObjectNotFound

from commands import growth as growth_commands
from commands import mailing as mailing_commands
from commands.briefs import order_brief
from commands.webpages import submit_pages
from core.names import COLLECT_BRIEF, COUNT_REQUEST, SYNC_ACCOUNT
from core.settings import get_settings
from db.base import utcnow
from db.engine import session_factory
from db.mailing import count_clients
from deployments.readiness import wait_for_prefect_api
from deployments.runs import start_collection, start_dispatch, start_growth_job, start_processing, start_sync

DEMO_KEYWORDS = ["新能源汽车", "咖啡"]
DEMO_PAGES = [
    "utf8",
    "cp1251?declare=none",
    "gb2312?declare=meta",
    "tricky",
    "plain",
    "gzip",
    "redirect/2",
    "status/404",
    "redirect-loop",
    "binary",
    *(f"gen/{n}" for n in range(40)),
]
DEMO_REFUSED = ["ftp://example.com/file", "http://10.0.0.1/admin"]
DEMO_ACCOUNTS = ("demo_bakery", "demo_gallery")  # sandbox accounts, see sandbox/network/graph.py
# a few seconds between actions (not the 30–70 s of the defaults) so the demo moves while you watch
DEMO_ACCOUNT_SETTINGS = {"min_delay": 2, "max_delay": 5, "skip": {"max_ratio": 20}}
DEMO_BLOCK_AFTER = 15  # the gallery's follows are blocked after this many, to show a block and its notice


async def wait_for_deployment(name: str, timeout: float = 180.0) -> None:
    """Block until the deployment ``name`` is registered and serve polls it (Prefect marks it READY)."""
    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            with contextlib.suppress(ObjectNotFound):
                if (await client.read_deployment_by_name(name)).status == DeploymentStatus.READY:
                    return
            if time.monotonic() > deadline:
                raise SystemExit(f"deployment {name} was not served within {timeout:.0f} s")
            await asyncio.sleep(1)


def wait_for_sandbox(base_url: str, timeout: float = 60.0) -> None:
    """Block until the sandbox answers its health check."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise SystemExit(f"the sandbox at {base_url} did not answer within {timeout:.0f} s")


def submit_demo(sandbox_url: str) -> str:
    """Store a request over sandbox pages (and two refused URLs) and start counting it now."""
    urls = [f"{sandbox_url}/pages/{page}" for page in DEMO_PAGES] + DEMO_REFUSED
    return start_processing(submit_pages(urls, "python", source="demo").id)


def submit_demo_mailing() -> str:
    """200 demo clients (once) and a mailing to them, open for ten minutes; start sending it now."""
    rows = "\n".join(f"7912{n:07d},demo,Europe/Moscow" for n in range(200))
    with session_factory().begin() as session:
        known = count_clients(session, tag="demo")
    if not known:
        mailing_commands.import_clients(text=f"phone,tag,timezone\n{rows}\n")
    now = utcnow()
    created = mailing_commands.create_mailing(
        text="Switchyard demo: hello!", starts_at=now, ends_at=now + timedelta(minutes=10), tag="demo"
    )
    return start_dispatch(created.id)


def submit_demo_brief() -> str:
    """A brief on two keywords from all five sandbox platforms; collect and analyse it now."""
    return start_collection(order_brief(DEMO_KEYWORDS).id)


def submit_demo_growth(sandbox_url: str) -> str:
    """Connect two sandbox accounts with likes and follows on and start their first syncs; a follow
    job by hashtag for the gallery, whose follows the sandbox blocks after a few."""
    password = get_settings().sandbox.network_password
    said = []
    for username in DEMO_ACCOUNTS:
        added = growth_commands.add_account(
            owner="demo",
            username=username,
            password=password,
            timezone="Europe/Moscow",
            settings=DEMO_ACCOUNT_SETTINGS,
            likes_on=True,
            follows_on=True,
        )
        said.append(start_sync(added.id))
    budget = f"{sandbox_url}/network/_control/accounts/demo_gallery/block_budget"
    httpx.put(budget, json={"budget": DEMO_BLOCK_AFTER}, timeout=5).raise_for_status()
    job = growth_commands.create_follow_job("demo_gallery", source="hashtag", target="art", count=30)
    said.append(
        start_growth_job(job.kind, False, f"Follow job {job.id} ({job.description} for @{job.account})")
    )
    return " ".join(said)


def seed_once(record: Path, item: str, submit: Callable[[], str]) -> str:
    """Run ``submit`` unless ``record`` says ``item`` was seeded already; what to tell the person."""
    done: dict[str, dict[str, str]] = (
        json.loads(record.read_text(encoding="utf-8")) if record.exists() else {}
    )
    if item in done:
        return f"seeded on {done[item]['at']}, not again ({done[item]['said']})"
    said = submit()
    done[item] = {"at": utcnow().strftime("%Y-%m-%d %H:%M:%S UTC"), "said": said}
    record.write_text(json.dumps(done, ensure_ascii=False, indent=2), encoding="utf-8")
    return said


def main() -> None:
    settings = get_settings()
    sandbox_url = f"http://{settings.sandbox.host}:{settings.sandbox.port}"
    wait_for_prefect_api()
    wait_for_sandbox(sandbox_url)
    asyncio.run(wait_for_deployment(COUNT_REQUEST))
    asyncio.run(wait_for_deployment(COLLECT_BRIEF))
    asyncio.run(wait_for_deployment(SYNC_ACCOUNT))
    record = settings.data_dir / "demo-seeded.json"
    request = seed_once(record, "request", lambda: submit_demo(sandbox_url))
    mailing = seed_once(record, "mailing", submit_demo_mailing)
    brief = seed_once(record, "brief", submit_demo_brief)
    growth = seed_once(record, "growth", lambda: submit_demo_growth(sandbox_url))
    print(
        "\n"
        "Switchyard demo is running\n"
        f"  dashboard   http://127.0.0.1:8501\n"
        f"  Prefect UI  {settings.prefect_ui_url}\n"
        f"  sandbox     {sandbox_url}/pages/utf8\n"
        f"Demo request: {request}\nIts results appear on the dashboard's Web pages page; submit your own\n"
        f"URLs there.\nDemo mailing: {mailing}\n"
        "Watch it on the dashboard's Mailings page.\n"
        f"Demo brief: {brief}\nIts files appear on the dashboard's Briefs page.\n"
        f"Demo growth: {growth}\nWatch the accounts, jobs, quotas and notices on the Growth page.\n"
        f"The demo seeds once: delete {record} to seed again. Ctrl-C stops everything.\n",
        flush=True,
    )
    while True:  # deployments.up stops every process when one exits
        time.sleep(3600)


if __name__ == "__main__":
    main()
