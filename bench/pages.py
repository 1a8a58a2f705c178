"""Benchmark: count a word on N sandbox pages served with latency, end to end.

Times ``count_words`` from submission to the last result stored (a real flow run, real HTTP to a
sandbox in its own process, a real database), checks every count against the page's
X-Expected-Count, and reports pages/s, the CPU per page and the peak memory of the process running
the flow, and the load average at the end.

    python -m bench.pages [--pages 1000] [--latency-ms 100] [--database-url URL] [--sandbox-port N]
                          [--server sandbox|http.server] [--record]

``--server http.server``: the same pages from Python's own http.server (``bench.http_server``: a
thread per connection, a listen backlog of 5) instead of the sandbox.

With ``PREFECT_API_URL`` set, the flow runs against that Prefect server; without, against a
temporary one that Prefect starts on a port of its own choosing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx

from bench.common import (
    configure,
    database_name,
    free_port,
    own_server_args,
    peak_rss_mb,
    record,
    sandbox_process,
    server_process,
)


async def warm_sandbox(urls: list[str]) -> None:
    """Fetch every page once, so the timed run measures Switchyard, not the sandbox building pages."""
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=20)) as client:
        for start in range(0, len(urls), 100):
            await asyncio.gather(*(client.get(url) for url in urls[start : start + 100]))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--sandbox-port", type=int, default=0, help="default: a free port")
    parser.add_argument("--server", choices=["sandbox", "http.server"], default="sandbox")
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    return parser.parse_args()


@contextmanager
def pages_server(kind: str, latency_ms: int, port: int) -> Iterator[str]:
    """The pages' server in its own process; yields the URL its ``/pages/gen/{n}`` pages are under."""
    if kind == "sandbox":
        with sandbox_process({"SWITCHYARD_SANDBOX__LATENCY_MS": str(latency_ms)}, port=port) as url:
            yield url
        return
    port = port or free_port()
    command = own_server_args("bench.http_server", port, latency_ms)
    with server_process(command, dict(os.environ), port) as (url, _):
        yield url


def count_wrong(request_id: int) -> list[str]:
    """URLs of pages not finished, or whose count differs from the generated page's (n % 7)."""
    from db.engine import session_factory
    from db.webpages import PageStatus, request_pages

    with session_factory().begin() as session:
        return [
            page.url
            for page in request_pages(session, request_id=request_id)
            if page.status != PageStatus.FINISHED or page.count != int(page.url.rsplit("/", 1)[1]) % 7
        ]


def main() -> None:
    args = parse_args()
    configure(args.database_url, {"SWITCHYARD_FETCH__ALLOWED_NETWORKS": "127.0.0.1/32"})
    from db.migrate import upgrade
    from deployments.warm_starts import prepare_run_process
    from flows.webpages import count_words

    upgrade()
    with pages_server(args.server, args.latency_ms, args.sandbox_port) as server_url:
        base = f"{server_url}/pages/gen"
        asyncio.run(count_words(urls=[f"{base}/999999"]))  # warm-up: Prefect API, imports, pools
        urls = [f"{base}/{n}" for n in range(args.pages)]
        asyncio.run(warm_sandbox(urls))
        prepare_run_process()  # as a warm flow-run process is before its run
        started, cpu_started = time.perf_counter(), time.process_time()
        result = asyncio.run(count_words(urls=urls))
        seconds = time.perf_counter() - started
        cpu_ms = (time.process_time() - cpu_started) * 1000 / args.pages

    wrong = count_wrong(result["request_id"])
    rate = args.pages / seconds
    peak_mb = peak_rss_mb()
    print(
        f"{args.pages} pages in {seconds:.2f} s = {rate:.0f} pages/s; {cpu_ms:.2f} ms of CPU a page "
        f"in the flow's process; peak RSS {peak_mb:.0f} MB; load {os.getloadavg()[0]:.1f}"
    )
    print(f"wrong or unfinished: {len(wrong)} {wrong[:5]}")
    database = database_name(args.database_url)
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d} | {args.pages} | {args.latency_ms} ms | {args.server} | {database} "
        f"| {seconds:.2f} s | {rate:.0f} | {cpu_ms:.2f} ms | {peak_mb:.0f} MB | {len(wrong)} "
        f"| {os.getloadavg()[0]:.1f} |"
    )
    if args.record:
        record("pages", HEADER, row)


HEADER = (
    "| date | pages | latency | server | database | submit → last result | pages/s | CPU a page | peak RSS "
    "| wrong | load |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


if __name__ == "__main__":
    main()
