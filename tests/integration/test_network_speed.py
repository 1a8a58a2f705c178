"""The network stand-in keeps up with the benchmark: ≥ 500 actions/s and ≥ 5,000 followers/s through
the HTTP connector, with 100 ms of latency on every answer (measured: about 2–3 times that here)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from connectors.growth import LoggedIn, login, network_client
from core.settings import NetworkSettings
from tests.conftest import ConfigureSandbox

ACCOUNTS = 10
LATENCY_MS = 100


@pytest.fixture
def settings(sandbox_url: str, configure_sandbox: ConfigureSandbox) -> Iterator[NetworkSettings]:
    httpx.post(f"{sandbox_url}/network/_control/reset").raise_for_status()
    configure_sandbox(network_latency_ms=LATENCY_MS)
    yield NetworkSettings(base_url=f"{sandbox_url}/network", concurrency=50, read_timeout=10)


async def logins(settings: NetworkSettings) -> list[LoggedIn]:
    return list(
        await asyncio.gather(
            *(login(settings, f"user{20_000 + n}", "sandbox-password") for n in range(ACCOUNTS))
        )
    )


def test_actions_per_second(settings: NetworkSettings) -> None:
    per_account = 100

    async def run() -> float:
        accounts = await logins(settings)

        async def act(n: int, account: LoggedIn) -> None:
            async with network_client(settings, account.session) as network:
                targets = range(100_000 + n * per_account, 100_000 + (n + 1) * per_account)
                await asyncio.gather(*(network.follow(str(pk)) for pk in targets))

        started = time.perf_counter()
        await asyncio.gather(*(act(n, account) for n, account in enumerate(accounts)))
        return ACCOUNTS * per_account / (time.perf_counter() - started)

    rate = asyncio.run(run())
    assert rate >= 500, f"{rate:.0f} actions/s"


def test_followers_per_second(settings: NetworkSettings) -> None:
    pages = 8

    async def run() -> float:
        accounts = await logins(settings)

        async def page_through(account: LoggedIn) -> int:
            async with network_client(settings, account.session) as network:
                cursor, seen = None, 0
                for _ in range(pages):
                    page = await network.followers("10", cursor)
                    seen, cursor = seen + len(page.items), page.next_cursor
                return seen

        started = time.perf_counter()
        seen = sum(await asyncio.gather(*(page_through(account) for account in accounts)))
        assert seen == ACCOUNTS * pages * 200
        return seen / (time.perf_counter() - started)

    rate = asyncio.run(run())
    assert rate >= 5_000, f"{rate:.0f} followers/s"
