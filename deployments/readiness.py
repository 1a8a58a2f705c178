"""Waiting for the Prefect API, for processes that start alongside the server."""

from __future__ import annotations

import time

import httpx
from prefect.settings import PREFECT_API_URL


def wait_for_prefect_api(timeout: float = 180.0) -> str:
    """Block until the Prefect API answers its health check; return its URL."""
    api_url = PREFECT_API_URL.value()
    if not api_url:
        raise SystemExit("PREFECT_API_URL is not set: start a Prefect server and point PREFECT_API_URL at it")
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{api_url.rstrip('/')}/health", timeout=2).status_code == 200:
                return api_url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the Prefect API at {api_url} did not answer within {timeout:.0f} s")
        time.sleep(1)
