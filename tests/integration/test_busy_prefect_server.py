"""A person who submits work while the Prefect server is busy gets an answer within
``run_start_seconds``: the work is stored, and its sweep picks it up. The busy server is a real HTTP
server on loopback that answers 503 to every request (as Prefect's SQLite server does while its
database is locked; Prefect's client retries after 2, 4, 8, 16 and 32 s) or never answers."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from core.settings import get_settings
from deployments.runs import start_collection, start_processing
from tests.conftest import set_env

BOUND = "1"


class BusyServer(ThreadingHTTPServer):
    """Answers every request with 503 (``silent=False``) or holds it until the server stops."""

    daemon_threads = True

    def __init__(self, silent: bool) -> None:
        super().__init__(("127.0.0.1", 0), BusyHandler)
        self.silent = silent
        self.released = threading.Event()
        self.requests = 0


class BusyHandler(BaseHTTPRequestHandler):
    server: BusyServer

    def answer(self) -> None:
        self.server.requests += 1
        if self.server.silent:
            self.server.released.wait(60)
            return
        body = b'{"exception_message": "Service Unavailable"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def busy_prefect(silent: bool) -> Iterator[BusyServer]:
    """``PREFECT_API_URL`` on a busy server, and starts bounded to ``BOUND`` s."""
    server = BusyServer(silent)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    saved = os.environ.get("SWITCHYARD_RUN_START_SECONDS")
    set_env({"SWITCHYARD_RUN_START_SECONDS": BOUND})
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


def not_started(subject: str, sweep: str) -> str:
    return (
        f"{subject} is stored, but no run could be started now (the Prefect server did not answer within "
        f"{BOUND} s, so a run may still start); the scheduled {sweep} run will pick it up within a minute "
        "once the server answers."
    )


@pytest.mark.parametrize("silent", [False, True], ids=["503", "no answer"])
def test_a_start_answers_within_its_bound_when_the_server_is_busy(silent: bool) -> None:
    with busy_prefect(silent) as server:
        started = time.monotonic()
        said = start_processing(5)
        took = time.monotonic() - started
    assert said == not_started("Request 5", "process-pending")
    assert server.requests >= 1
    assert took < 2 * float(BOUND) + 1


def test_a_brief_and_its_analysis_run_share_one_bound() -> None:
    with busy_prefect(silent=True):
        started = time.monotonic()
        said = start_collection(6)
        took = time.monotonic() - started
    assert said == not_started("Brief 6", "process-briefs")
    assert took < 2 * float(BOUND) + 1
