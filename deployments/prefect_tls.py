"""Prefect API clients of one process share their TLS context instead of building one each.

Prefect 3.8.8 builds a new ``ssl.SSLContext`` from the CA bundle (certifi's, or
``PREFECT_API_SSL_CERT_FILE``) for every API client it creates, even for a plain-HTTP API: ~20 ms of
CPU each here. A flow run creates about eight (its engine, result storage, log and events workers,
suspension observer, lease renewal), and a loop that opens a client per look pays it every time
(py-spy: about a quarter of a short sweep run's CPU). `share_tls_contexts` makes Prefect's client
module build each distinct context once per process (same arguments, same settings: the same
context, which an ``httpx`` client only reads). Only Prefect's clients are affected; the app's own
HTTP clients keep theirs. Used by serve and by every flow-run process started warm.
"""

from __future__ import annotations

import functools
import ssl
from types import SimpleNamespace

from prefect.client import orchestration


@functools.cache
def _context(cafile: str | None = None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile)


def _shared_context(
    purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH, *, cafile: str | None = None
) -> ssl.SSLContext:
    """``ssl.create_default_context`` for Prefect's clients: one context per CA file, built once."""
    if purpose is not ssl.Purpose.SERVER_AUTH:
        return ssl.create_default_context(purpose, cafile=cafile)
    return _context(cafile)


def share_tls_contexts() -> None:
    """From now on, Prefect's API clients in this process share their TLS context (see above)."""
    if isinstance(orchestration.ssl, SimpleNamespace):
        return
    orchestration.ssl = SimpleNamespace(**{**vars(ssl), "create_default_context": _shared_context})  # type: ignore[assignment]
