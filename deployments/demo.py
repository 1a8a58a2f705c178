"""The last process of ``make demo``: waits for the platform, seeds the demo once, says where to look.

The demo request, mailing, brief, growth accounts and channels are submitted on the first start only:
``var/demo-seeded.json`` records each one, so a second ``make demo`` on the same ``var/`` sends and
orders nothing again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from datetime import time as clock
from datetime import timedelta
from pathlib import Path

import httpx
from prefect import get_client
from prefect.client.schemas.objects import DeploymentStatus
from prefect.exceptions import ObjectNotFound

from commands import channels as channel_commands
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
# sandbox channels (sandbox/microblog/catalog.py: CHANNELS), their time zones and posting slots
DEMO_CHANNELS = {
    "demo_brand": ("Europe/Moscow", [clock(2), clock(6, 40), clock(11, 40), clock(18), clock(21, 30)]),
    "demo_cafe": ("Asia/Shanghai", [clock(8), clock(12, 30), clock(19)]),
}
DEMO_CALLBACK = "http://127.0.0.1:8501/"  # never fetched: the sandbox's redirect is read, not followed


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


def store_demo_request(sandbox_url: str) -> int:
    """Store a request over sandbox pages (and two refused URLs): its id."""
    urls = [f"{sandbox_url}/pages/{page}" for page in DEMO_PAGES] + DEMO_REFUSED
    return submit_pages(urls, "python", source="demo").id


def submit_demo(sandbox_url: str) -> str:
    """Store the demo request and start counting it now."""
    return start_processing(store_demo_request(sandbox_url))


def store_demo_mailing() -> int:
    """200 demo clients (once) and a mailing to them, open for ten minutes: its id."""
    rows = "\n".join(f"7912{n:07d},demo,Europe/Moscow" for n in range(200))
    with session_factory().begin() as session:
        known = count_clients(session, tag="demo")
    if not known:
        mailing_commands.import_clients(text=f"phone,tag,timezone\n{rows}\n")
    now = utcnow()
    return mailing_commands.create_mailing(
        text="Switchyard demo: hello!", starts_at=now, ends_at=now + timedelta(minutes=10), tag="demo"
    ).id


def submit_demo_mailing() -> str:
    """Store the demo mailing and start sending it now."""
    return start_dispatch(store_demo_mailing())


def store_demo_brief() -> int:
    """A brief on two keywords from all five sandbox platforms: its id."""
    return order_brief(DEMO_KEYWORDS).id


def submit_demo_brief() -> str:
    """Order the demo brief; collect and analyse it now."""
    return start_collection(store_demo_brief())


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


def connect_demo_channel(name: str, timezone: str) -> channel_commands.ConnectedChannel:
    """Connect a sandbox channel the way a person does, with the browser's part done by httpx: the
    authorize link approves at once and redirects to the callback, which finishes the connection."""
    url = channel_commands.begin_connect("demo", timezone, DEMO_CALLBACK, login_hint=name)
    answer = httpx.get(url, timeout=10)
    if answer.status_code != 302:
        raise SystemExit(f"the sandbox's authorize page answered {answer.status_code}, not a redirect")
    return channel_commands.finish_connect(answer.headers["location"])


def submit_demo_channels() -> str:
    """Two sandbox channels with slots, hashtags on @demo_brand, a repost rule on @demo_cafe, and a
    few posts: two due within minutes (publish-due-posts sends them), the others in the next slots."""
    said = []
    for name, (timezone, slots) in DEMO_CHANNELS.items():
        connected = connect_demo_channel(name, timezone)
        channel_commands.set_slots(name, slots)
        said.append(f"@{connected.screen_name} connected (channel {connected.id})")
    channel_commands.set_hashtag_rule("demo_brand", {"tags": ["coffee", "morning", "switchyard"], "count": 2})
    channel_commands.set_switches("demo_brand", hashtags=True)
    channel_commands.add_repost_rule(
        "demo_cafe",
        name="English coffee and food news",
        fields={"languages": ["en"], "keywords": ["coffee", "food", "eats", "news"], "min_likes": 5},
    )
    channel_commands.set_switches("demo_cafe", reposting=True)
    now = utcnow()
    posts = [
        ("demo_brand", "Good morning from the Switchyard demo!", now + timedelta(minutes=2)),
        ("demo_cafe", "Our new 咖啡 blend is in: come and taste it", now + timedelta(minutes=4)),
        ("demo_brand", "Fresh beans are roasting today", None),
        ("demo_brand", "What do you drink in the afternoon?", None),
        ("demo_cafe", "Lunch menu: noodles and tea https://example.com/menu", None),
    ]
    for name, text, due_at in posts:
        channel_commands.schedule_post(name, text=text, due_at=due_at, now=now)
    return "; ".join(said) + f"; {len(posts)} posts queued"


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
    channels = seed_once(record, "channels", submit_demo_channels)
    print(
        "\n"
        "Switchyard demo is running\n"
        f"  dashboard   http://127.0.0.1:8501\n"
        f"  Prefect UI  {settings.prefect_ui_url}\n"
        f"  sandbox     {sandbox_url}/pages/utf8\n"
        f"  API         http://{settings.api.host}:{settings.api.port}/docs (a key: "
        "python -m cli api-keys create --name me --scope write)\n"
        f"  e-mail      {sandbox_url}/smtp/messages (what the SMTP stand-in received)\n"
        f"Demo request: {request}\nIts results appear on the dashboard's Web pages page; submit your own\n"
        f"URLs there.\nDemo mailing: {mailing}\n"
        "Watch it on the dashboard's Mailings page.\n"
        f"Demo brief: {brief}\nIts files appear on the dashboard's Briefs page.\n"
        f"Demo growth: {growth}\nWatch the accounts, jobs, quotas and notices on the Growth page.\n"
        f"Demo channels: {channels}\nWatch them on the Channels page, or `python -m cli channels list`.\n"
        f"The demo seeds once: delete {record} to seed again. Ctrl-C stops everything.\n",
        flush=True,
    )
    while True:  # deployments.up stops every process when one exits
        time.sleep(3600)


if __name__ == "__main__":
    main()
