"""Run the sandbox on an ephemeral loopback port in a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from core.settings import SandboxSettings
from sandbox.app import create_app

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT = 10.0
GRACEFUL_SHUTDOWN_SECONDS = 1  # then requests still open (e.g. /pages/hang) are cancelled


@contextmanager
def running_sandbox(config: SandboxSettings | None = None, app: ASGIApp | None = None) -> Iterator[str]:
    """Serve `app` (default: ``create_app(config)``) on 127.0.0.1 and yield its base URL.

    uvicorn 0.54 skips installing signal handlers when not on the main thread, so this is safe anywhere.
    """
    server = uvicorn.Server(
        uvicorn.Config(
            app if app is not None else create_app(config),
            host=LOOPBACK,
            port=0,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
    )
    thread = threading.Thread(target=server.run, name="sandbox-server", daemon=True)
    thread.start()
    try:
        _wait_started(server, thread)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join()


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("sandbox server failed to start")
        if time.monotonic() > deadline:
            raise TimeoutError(f"sandbox server did not start within {STARTUP_TIMEOUT} s")
        time.sleep(0.01)
