"""Prometheus metrics of the service API: HTTP requests by route template and status with their
latency (`MetricsMiddleware`), and the work in the database read on each scrape (`DatabaseCollector`),
served as the text exposition at ``/metrics`` (`metrics_route`, `metrics_app`).

Wiring, in ``api/app.py:create_app`` (the import, then the two lines)::

    from api.metrics import MetricsMiddleware, metrics_route

    app.add_middleware(MetricsMiddleware)
    app.router.routes.append(metrics_route())

What a scrape shows (prefix ``switchyard_``):

- ``http_requests_total{method,route,status}`` and ``http_request_duration_seconds{method,route}``:
  the route is the template (``/mailings/{mailing_id}``), never the raw path; a path no route
  matches is counted as ``<unmatched>``;
- ``messages{status}``: messages by status (new, sending, sent, failure, cancelled);
- ``queue_depth{domain}``: messages due, pages pending, briefs not finished, growth jobs open,
  channel posts queued or publishing;
- ``brief_duration_seconds``: a histogram of order-to-finish times of the last N finished briefs;
- ``messages_sent_last_minute``: dispatch throughput;
- ``rate_limit_window_uses{service,action,seconds}``: uses counted in each current window of the
  shared limiter (its limits live in settings and code, not in the database, so "full" is not
  judged here); ``rate_limit_spent_keys{service,action}`` and ``rate_limit_wait_seconds{…}``:
  limits a service said were spent and not reset yet (its workers wait for the reset);
- ``metrics_scrape_error``: 1 when the database could not be read within the timeout (the HTTP
  metrics are still served).

Each scrape runs one query per domain in one read-only transaction, under a statement timeout on
PostgreSQL (``SCRAPE_TIMEOUT_MS``). HTTP metrics live in the process: with several uvicorn workers
scrape each worker, or run prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db.base import utcnow
from db.engine import session_factory
from db.metrics import (
    brief_durations,
    messages_by_status,
    messages_sent_since,
    one_minute_before,
    queue_depths,
    spent_limits,
    window_uses,
)

logger = logging.getLogger(__name__)

PREFIX = "switchyard"
SCRAPE_TIMEOUT_MS = 2000
RECENT_BRIEFS = 500
BRIEF_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14_400.0)
UNMATCHED = "<unmatched>"


class HttpMetrics:
    """The HTTP request counter and latency histogram, registered once per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            f"{PREFIX}_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ["method", "route"],
            registry=registry,
        )


class DatabaseCollector(Collector):
    """Reads the work in the database on each scrape (one query per domain, with a timeout)."""

    def __init__(
        self,
        sessions: Callable[[], sessionmaker[Session]] = session_factory,
        *,
        recent_briefs: int = RECENT_BRIEFS,
        timeout_ms: int = SCRAPE_TIMEOUT_MS,
    ) -> None:
        self._sessions = sessions
        self._recent_briefs = recent_briefs
        self._timeout_ms = timeout_ms

    def describe(self) -> Iterable[Metric]:
        return []  # read at scrape time only: registering must not touch the database

    def collect(self) -> Iterable[Metric]:
        error = GaugeMetricFamily(f"{PREFIX}_metrics_scrape_error", "1 if the database could not be read")
        try:
            metrics = self._read()
        except Exception as exc:  # a scrape shows what it can; the error is a metric and a log line
            logger.warning("metrics: could not read the database (%s)", type(exc).__name__)
            error.add_metric([], 1)
            yield error
            return
        error.add_metric([], 0)
        yield error
        yield from metrics

    def _read(self) -> list[Metric]:
        now = utcnow()
        with self._sessions().begin() as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text(f"SET LOCAL statement_timeout = {int(self._timeout_ms)}"))
            statuses = messages_by_status(session)
            depths = queue_depths(session, now=now)
            durations = brief_durations(session, limit=self._recent_briefs)
            sent_last_minute = messages_sent_since(session, since=one_minute_before(now))
            uses = window_uses(session, now=now)
            spent = spent_limits(session, now=now)

        messages = GaugeMetricFamily(f"{PREFIX}_messages", "Messages by status", labels=["status"])
        for status, count in statuses.items():
            messages.add_metric([status], count)
        queues = GaugeMetricFamily(f"{PREFIX}_queue_depth", "Work waiting, per domain", labels=["domain"])
        for domain, count in depths.items():
            queues.add_metric([domain], count)
        throughput = GaugeMetricFamily(
            f"{PREFIX}_messages_sent_last_minute", "Messages sent in the last 60 seconds"
        )
        throughput.add_metric([], sent_last_minute)
        window = GaugeMetricFamily(
            f"{PREFIX}_rate_limit_window_uses",
            "Uses counted in the current window of the shared limiter, all accounts",
            labels=["service", "action", "seconds"],
        )
        for use in uses:
            window.add_metric([use.service, use.action, str(use.seconds)], use.used)
        spent_keys = GaugeMetricFamily(
            f"{PREFIX}_rate_limit_spent_keys",
            "Accounts whose rate limit a service said is spent, until its reset",
            labels=["service", "action"],
        )
        wait = GaugeMetricFamily(
            f"{PREFIX}_rate_limit_wait_seconds",
            "Longest wait left for a spent rate limit to reset",
            labels=["service", "action"],
        )
        for limit in spent:
            spent_keys.add_metric([limit.service, limit.action], limit.waiting)
            wait.add_metric([limit.service, limit.action], limit.longest_wait_seconds)
        return [messages, queues, brief_histogram(durations), throughput, window, spent_keys, wait]


def brief_histogram(durations: Sequence[float], buckets: Sequence[float] = BRIEF_BUCKETS) -> Metric:
    """A histogram of brief durations (cumulative buckets, sum and count) from the raw seconds."""
    family = HistogramMetricFamily(
        f"{PREFIX}_brief_duration_seconds",
        f"Order-to-finish time of the last {RECENT_BRIEFS} finished briefs",
    )
    cumulative = [(floatToGoString(bound), sum(1 for d in durations if d <= bound)) for bound in buckets]
    cumulative.append(("+Inf", len(durations)))
    family.add_metric([], cumulative, sum_value=sum(durations))
    return family


REGISTRY = CollectorRegistry()
HTTP = HttpMetrics(REGISTRY)
REGISTRY.register(DatabaseCollector())


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``/mailings/{mailing_id}``), never the raw path."""
    route = scope.get("route")
    if route is not None and getattr(route, "path", None):
        return str(route.path)
    app = scope.get("app")
    for candidate in getattr(getattr(app, "router", None), "routes", []) or []:
        match, _ = candidate.matches(scope)
        if match == Match.FULL and getattr(candidate, "path", None):
            return str(candidate.path)
    return UNMATCHED


class MetricsMiddleware:
    """Pure ASGI middleware: counts each HTTP request by method, route template and status, and
    times it. An exception from the app counts as status 500 and is raised on."""

    def __init__(self, app: ASGIApp, http: HttpMetrics = HTTP) -> None:
        self.app = app
        self.http = http

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = route_template(scope)
            method = scope.get("method", "GET")
            self.http.requests.labels(method, route, str(status)).inc()
            self.http.latency.labels(method, route).observe(time.perf_counter() - started)


def metrics_app(registry: CollectorRegistry = REGISTRY) -> Callable[[Request], Response]:
    """The ``/metrics`` endpoint: the registry's text exposition."""

    def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics


def metrics_route(registry: CollectorRegistry = REGISTRY) -> Route:
    """``GET /metrics`` as a route, left out of the OpenAPI schema (it is not JSON)."""
    return Route("/metrics", metrics_app(registry), methods=["GET"], include_in_schema=False)
