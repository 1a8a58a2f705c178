"""Benchmark: a brief on the served path, as the dashboard and the CLI order it, timed to its zip.

Starts the sandbox platforms (each answer delayed by ``--latency-ms``), its own Prefect server
(``--port``, ``PREFECT_HOME`` under /tmp) and serve (``python -m deployments.serve``) from this
checkout (``after``) or from ``--before-dir`` (``before``, serve polling every 5 s as ``make demo``
set it). Each brief (3 keywords × 5 platforms × ``--articles-per-search``) is stored with
``commands.briefs.order_brief`` and started with ``deployments.runs.start_collection``, the calls
behind the dashboard's form and ``cli briefs submit``; timed from just before the order to the
moment the brief is seen finished with its zip on disk (polled every 50 ms). One brief first,
untimed, as on a demo that has run before.

    python -m bench.brief_served [--variant before] [--variant after] [--before-dir DIR] [--runs 3]
        [--latency-ms 100] [--articles-per-search 400] [--database-url URL] [--port P] [--sandbox-port P]
        [--record]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from prefect.settings import PREFECT_API_URL, temporary_settings

from bench.brief import KEYWORDS
from bench.common import configure, database_name, free_port, prefect_server_command, record, sandbox_process
from bench.starts import BEFORE, load, process, wait_for_deployment, wait_healthy
from core.settings import PLATFORMS, PROJECT_ROOT

HEADER = (
    "| date | variant | database | searches | articles | API latency | runs | order → zip p50 | each run "
    "| collection p50 | analysis p50 | load before → after |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def brief_done(brief_id: int, timeout: float = 180) -> tuple[float, float, float]:
    """Wait until the brief has its zip; seconds since it was stored, its collection, its analysis."""
    from db.briefs import BriefStatus, get_brief
    from db.engine import session_factory

    deadline = time.monotonic() + timeout
    while True:
        with session_factory().begin() as session:
            brief = get_brief(session, brief_id=brief_id)
            if brief and brief.status == BriefStatus.FAILED:
                raise SystemExit(f"brief {brief_id} failed: {brief.last_error}")
            if brief and brief.zip_path and brief.finished_at and Path(brief.zip_path).is_file():
                seen = datetime.now(UTC)
                assert brief.collected_at is not None
                return (
                    (seen - brief.created_at).total_seconds(),
                    (brief.collected_at - brief.created_at).total_seconds(),
                    (brief.finished_at - brief.collected_at).total_seconds(),
                )
        if time.monotonic() > deadline:
            raise SystemExit(f"brief {brief_id} was not done within {timeout:.0f} s")
        time.sleep(0.05)


async def _run_states(name: str) -> dict[str, datetime]:
    """When the flow run named ``name`` was created and entered each state (first time each)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    async with get_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))
        if not runs:
            return {}
        run = runs[-1]
        moments: dict[str, datetime] = {"created": run.created} if run.created else {}
        for state in sorted(await client.read_flow_run_states(run.id), key=lambda s: s.timestamp):
            moments.setdefault(state.name or str(state.type), state.timestamp)
    return moments


def timeline(brief_id: int, ordered_at: datetime, zip_seen: datetime) -> str:
    """One line: seconds from the order to each step of the brief's served path."""
    import asyncio

    from core.names import analyse_run_name, collect_run_name
    from db.briefs import get_brief, list_searches
    from db.engine import session_factory

    with session_factory().begin() as session:
        brief = get_brief(session, brief_id=brief_id)
        searches = list_searches(session, brief_id=brief_id)
    assert brief is not None
    steps: list[tuple[str, datetime | None]] = [("stored", brief.created_at)]
    collect = asyncio.run(_run_states(collect_run_name(brief_id)))
    analyse = asyncio.run(_run_states(analyse_run_name(brief_id)))
    steps += [(f"collect {k}", collect.get(k)) for k in ("created", "Pending", "Running")]
    starts = [s["started_at"] for s in searches if s["started_at"]]
    ends = [s["finished_at"] for s in searches if s["finished_at"]]
    steps += [("first search", min(starts, default=None)), ("last search", max(ends, default=None))]
    steps += [("collected", brief.collected_at), ("collect run ended", collect.get("Completed"))]
    steps += [(f"analyse {k}", analyse.get(k)) for k in ("created", "Pending", "Running")]
    steps += [("finished", brief.finished_at), ("zip seen", zip_seen)]
    return ", ".join(
        f"{what} {(when - ordered_at).total_seconds():.2f}" for what, when in steps if when is not None
    )


def start_collect_run_only(brief_id: int) -> str:
    """What ``start_collection`` did before this branch (f282f7a): the collect run alone."""
    from core.names import COLLECT_BRIEF, PROCESS_BRIEFS, collect_run_name
    from deployments.runs import start_run

    return start_run(
        COLLECT_BRIEF, {"brief_id": brief_id}, collect_run_name(brief_id), f"Brief {brief_id}", PROCESS_BRIEFS
    )


def order_and_wait(variant: str) -> tuple[float, float, float]:
    """One brief ordered and started as the CLI does; (order → zip, collection, analysis) seconds.
    The ``before`` variant starts it as main's code did (the collect run only)."""
    from commands.briefs import order_brief
    from deployments.runs import start_collection

    start = start_collect_run_only if variant == "before" else start_collection
    ordered_at, started = datetime.now(UTC), time.perf_counter()
    ordered = order_brief(KEYWORDS, list(PLATFORMS))
    said = start(ordered.id)
    print(f"  {said} (order and start: {time.perf_counter() - started:.2f} s)", flush=True)
    _, collection, analysis = brief_done(ordered.id)
    seconds = time.perf_counter() - started
    try:
        print(f"  timeline (s from the order): {timeline(ordered.id, ordered_at, datetime.now(UTC))}")
    except Exception as exc:  # the breakdown is a help, never a reason to lose the figures
        print(f"  no timeline ({exc})")
    return seconds, collection, analysis


def measure(variant: str, code: Path, env: dict[str, str], runs: int, log: Path) -> tuple[list, str, str]:
    """serve from ``code`` with the variant's settings; ``runs`` briefs timed after one untimed."""
    extra = BEFORE["serve"] if variant == "before" else {}
    environment = env | {"PYTHONPATH": str(code)} | extra
    with process([sys.executable, "-m", "deployments.serve"], environment, code, log):
        import asyncio

        asyncio.run(wait_for_deployment())
        print(f"{variant}: one brief untimed", flush=True)
        order_and_wait(variant)
        before = load()
        timed = []
        for number in range(runs):
            timed.append(order_and_wait(variant))
            print(f"  brief {number + 1}: order → zip {timed[-1][0]:.2f} s", flush=True)
        return timed, before, load()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", action="append", choices=["before", "after"])
    parser.add_argument("--before-dir", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--articles-per-search", type=int, default=400)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--port", type=int, default=0, help="the Prefect server's port (default: a free one)")
    parser.add_argument("--sandbox-port", type=int, default=0, help="the sandbox's port (default: any free)")
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    variants = args.variant or ["after"]
    if "before" in variants and not args.before_dir:
        raise SystemExit("--variant before needs --before-dir")
    configure(args.database_url)
    scratch = Path(os.environ["SWITCHYARD_DATA_DIR"])
    args.port = args.port or free_port()
    api = f"http://127.0.0.1:{args.port}/api"
    os.environ |= {
        "PREFECT_HOME": str(scratch / "prefect"),
        "PREFECT_API_URL": api,
        "SWITCHYARD_BRIEFS__MAX_ARTICLES": str(args.articles_per_search),
    }
    knobs = {
        "SWITCHYARD_SANDBOX__PLATFORM_LATENCY_MS": str(args.latency_ms),
        "SWITCHYARD_SANDBOX__PLATFORM_ARTICLES": str(args.articles_per_search),
        "SWITCHYARD_SANDBOX__SMTP_PORT": "0",  # any free port: the SMTP stand-in is not used here
    }
    rows = []
    with sandbox_process(knobs, args.sandbox_port) as sandbox_url:
        for platform in PLATFORMS:
            os.environ[f"SWITCHYARD_PLATFORMS__{platform.upper()}__BASE_URL"] = (
                f"{sandbox_url}/platforms/{platform}"
            )
        env = dict(os.environ)
        subprocess.run(
            [sys.executable, "-m", "db.migrate"], env=env | {"PYTHONPATH": str(PROJECT_ROOT)}, check=True
        )
        server = prefect_server_command(args.port)
        with (
            process(server, env | {"PYTHONPATH": str(PROJECT_ROOT)}, scratch, scratch / "server.log"),
            temporary_settings({PREFECT_API_URL: api}),
        ):
            wait_healthy(api)
            for variant in variants:
                code = args.before_dir.resolve() if variant == "before" else PROJECT_ROOT
                timed, before, after = measure(
                    variant, code, env, args.runs, scratch / f"serve-{variant}.log"
                )
                totals = [t for t, _, _ in timed]
                p50 = statistics.median(totals)
                collection = statistics.median(c for _, c, _ in timed)
                analysis = statistics.median(a for _, _, a in timed)
                print(
                    f"{variant}: order → zip p50 {p50:.2f} s "
                    f"(collection {collection:.2f} s, analysis {analysis:.2f} s)"
                )
                rows.append(
                    f"| {datetime.now(UTC):%Y-%m-%d} | {variant} | {database_name(args.database_url)} "
                    f"| {len(KEYWORDS) * len(PLATFORMS)} | {args.articles_per_search} each "
                    f"| {args.latency_ms} ms "
                    f"| {len(timed)} | {p50:.2f} s | {', '.join(f'{t:.2f}' for t in totals)} s "
                    f"| {collection:.2f} s | {analysis:.2f} s | {before} → {after} |"
                )
    print(f"logs in {scratch}")
    if args.record:
        record("brief_served", HEADER, "\n".join(rows))


if __name__ == "__main__":
    main()
