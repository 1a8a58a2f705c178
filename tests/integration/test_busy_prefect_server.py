"""A person who submits work while the Prefect server is busy gets an answer within
``run_start_seconds``: the run, or the work stored and left to its sweep. The busy server is a real
HTTP server on loopback in front of the Prefect API: it answers 503 (as Prefect's SQLite server does
while its database is locked) to every request or to the first few, or never answers."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from core.names import COUNT_REQUEST
from core.settings import get_settings
from deployments.runs import start_collection, start_processing
from deployments.specs import build_deployment, load_specs
from tests.conftest import set_env

BOUND = 2.0
NEVER = 10**6


class BusyServer(ThreadingHTTPServer):
    """Answers 503 to the first ``refusals`` requests, then passes them on to ``upstream`` (the real
    Prefect API); with no upstream it holds each request until it stops (``silent``) or refuses it."""

    daemon_threads = True

    def __init__(self, refusals: int, upstream: str = "", silent: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), BusyHandler)
        self.refusals, self.upstream, self.silent = refusals, upstream, silent
        self.refused = 0
        self.released = threading.Event()


class BusyHandler(BaseHTTPRequestHandler):
    server: BusyServer

    def answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.server.silent:
            self.server.released.wait(60)
            return
        if self.server.refused < self.server.refusals:
            self.server.refused += 1
            self.reply(503, b'{"exception_message": "Service Unavailable"}', "application/json")
            return
        passed = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "accept-encoding")}
        upstream = httpx.request(
            self.command, self.server.upstream + self.path, content=body, headers=passed, timeout=30
        )
        self.reply(upstream.status_code, upstream.content, upstream.headers.get("content-type", ""))

    def reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def in_front_of_prefect(server: BusyServer) -> Iterator[BusyServer]:
    """``PREFECT_API_URL`` on ``server``, and starts bounded to ``BOUND`` s."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    saved = os.environ.get("SWITCHYARD_RUN_START_SECONDS")
    set_env({"SWITCHYARD_RUN_START_SECONDS": str(BOUND)})
    try:
        with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{server.server_port}/api"}):
            yield server
    finally:
        server.released.set()
        server.shutdown()
        server.server_close()
        os.environ.pop("SWITCHYARD_RUN_START_SECONDS")
        if saved is not None:
            os.environ["SWITCHYARD_RUN_START_SECONDS"] = saved
        get_settings.cache_clear()


def timed(start: Callable[[int], str], item: int) -> tuple[str, float]:
    began = time.monotonic()
    said = start(item)
    return said, time.monotonic() - began


def left_to(subject: str, sweep: str) -> str:
    return (
        f"{subject} is stored, but no run could be started now (the Prefect server was too busy to "
        f"answer within {BOUND:g} s, so a run may still start); the scheduled {sweep} run will pick it up "
        "within a minute once the server answers."
    )


@pytest.mark.parametrize("silent", [False, True], ids=["503", "no answer"])
def test_a_start_answers_within_its_bound_when_the_server_is_busy(silent: bool) -> None:
    with in_front_of_prefect(BusyServer(NEVER, silent=silent)) as server:
        said, took = timed(start_processing, 5)
    assert said == left_to("Request 5", "process-pending")
    assert took < BOUND + 1
    assert server.refused >= (0 if silent else 3)  # tried again and again, not after 2, 4, 8 … s


def test_a_brief_and_its_analysis_run_share_one_bound() -> None:
    with in_front_of_prefect(BusyServer(NEVER, silent=True)):
        said, took = timed(start_collection, 6)
    assert said == left_to("Brief 6", "process-briefs")
    assert took < BOUND + 1


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_the_server_refuses_a_few_times_is_started_within_the_bound() -> None:
    build_deployment(next(spec for spec in load_specs() if spec.full_name == COUNT_REQUEST)).apply()
    with in_front_of_prefect(BusyServer(3, upstream=PREFECT_API_URL.value().removesuffix("/api"))) as server:
        said, took = timed(start_processing, 12)
    assert said.startswith("Started flow run [count pages of request 12](")
    assert server.refused == 3
    assert took < BOUND
