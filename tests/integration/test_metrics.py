"""``/metrics``: HTTP requests by route template and status, and the database's work read on each
scrape, on a tiny FastAPI app with the module's middleware and route."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from api.metrics import DatabaseCollector, HttpMetrics, MetricsMiddleware, metrics_route
from db.base import utcnow
from db.briefs.models import Brief, BriefStatus
from db.limits import SeenLimit
from db.mailing.models import Client, Mailing, Message
from db.webpages import CountRequest, PageJob, PageStatus
from rules.mailing import MessageStatus


def tiny_app(sessions: sessionmaker[Session]) -> FastAPI:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(lambda: sessions, recent_briefs=10))
    app = FastAPI()

    @app.get("/mailings/{mailing_id}")
    def mailing(mailing_id: int) -> dict[str, int]:
        if mailing_id == 404:
            raise HTTPException(404, "no such mailing")
        return {"id": mailing_id}

    app.add_middleware(MetricsMiddleware, http=HttpMetrics(registry))
    app.router.routes.append(metrics_route(registry))
    return app


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def seed(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    with sessions.begin() as session:
        clients = [Client(phone=f"7900000{n:04d}", operator_code="900") for n in range(6)]
        mailing = Mailing(text="hi", starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1))
        session.add_all([*clients, mailing])
        session.flush()
        for client, (status, sent_at, next_at) in zip(
            clients,
            [
                (MessageStatus.SENT, now - timedelta(seconds=10), None),
                (MessageStatus.SENT, now - timedelta(seconds=30), None),
                (MessageStatus.SENT, now - timedelta(minutes=5), None),
                (MessageStatus.FAILURE, None, None),
                (MessageStatus.NEW, None, None),
                (MessageStatus.NEW, None, now + timedelta(minutes=10)),  # not due yet
            ],
            strict=True,
        ):
            session.add(
                Message(
                    mailing_id=mailing.id,
                    client_id=client.id,
                    status=status,
                    sent_at=sent_at,
                    next_attempt_at=next_at,
                )
            )
        for minutes in (2, 20, 200):
            session.add(
                Brief(
                    keywords=["k"],
                    platforms=["weibo"],
                    status=BriefStatus.FINISHED,
                    created_at=now - timedelta(minutes=minutes + 1),
                    finished_at=now - timedelta(minutes=1),
                )
            )
        session.add(Brief(keywords=["k"], platforms=["weibo"], status=BriefStatus.COLLECTING))
        request = CountRequest(word="python")
        session.add(request)
        session.flush()
        session.add_all(
            [
                PageJob(request_id=request.id, url=f"http://x.test/{n}", status=PageStatus.NOT_STARTED)
                for n in range(3)
            ]
        )
        session.add(
            SeenLimit(
                service="microblog",
                account="42",
                action="post",
                limit=100,
                remaining=0,
                reset_at=now + timedelta(minutes=5),
                seen_at=now,
            )
        )


def test_a_scrape_shows_the_database_work(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    with TestClient(tiny_app(sessions)) as client:
        samples = scrape(client)
    assert samples[("switchyard_metrics_scrape_error", ())] == 0
    assert samples[("switchyard_messages", (("status", "sent"),))] == 3
    assert samples[("switchyard_messages", (("status", "failure"),))] == 1
    assert samples[("switchyard_messages", (("status", "new"),))] == 2
    assert samples[("switchyard_messages", (("status", "cancelled"),))] == 0
    assert samples[("switchyard_queue_depth", (("domain", "mailing"),))] == 1
    assert samples[("switchyard_queue_depth", (("domain", "webpages"),))] == 3
    assert samples[("switchyard_queue_depth", (("domain", "briefs"),))] == 1
    assert samples[("switchyard_queue_depth", (("domain", "growth"),))] == 0
    assert samples[("switchyard_messages_sent_last_minute", ())] == 2
    assert samples[("switchyard_brief_duration_seconds_count", ())] == 3
    assert samples[("switchyard_brief_duration_seconds_bucket", (("le", "300.0"),))] == 1
    assert samples[("switchyard_brief_duration_seconds_bucket", (("le", "1800.0"),))] == 2
    assert samples[("switchyard_brief_duration_seconds_sum", ())] == pytest.approx(222 * 60, abs=1)
    assert samples[("switchyard_rate_limit_spent_keys", (("action", "post"), ("service", "microblog")))] == 1
    wait = samples[("switchyard_rate_limit_wait_seconds", (("action", "post"), ("service", "microblog")))]
    assert 200 < wait <= 300


def test_requests_are_counted_by_route_template_and_status(sessions: sessionmaker[Session]) -> None:
    with TestClient(tiny_app(sessions)) as client:
        for mailing_id in (1, 2, 3, 404):
            client.get(f"/mailings/{mailing_id}")
        client.get("/no/such/path")
        samples = scrape(client)
    route = ("route", "/mailings/{mailing_id}")
    assert samples[("switchyard_http_requests_total", (("method", "GET"), route, ("status", "200")))] == 3
    assert samples[("switchyard_http_requests_total", (("method", "GET"), route, ("status", "404")))] == 1
    unmatched = (("method", "GET"), ("route", "<unmatched>"), ("status", "404"))
    assert samples[("switchyard_http_requests_total", unmatched)] == 1
    assert samples[("switchyard_http_request_duration_seconds_count", (("method", "GET"), route))] == 4
    assert not any("/mailings/1" in str(key) for key in samples)


def test_a_database_that_cannot_be_read_is_a_metric_not_a_failed_scrape() -> None:
    def broken() -> sessionmaker[Session]:
        raise ConnectionError("database down")

    registry = CollectorRegistry()
    registry.register(DatabaseCollector(broken))
    app = FastAPI()
    app.add_middleware(MetricsMiddleware, http=HttpMetrics(registry))
    app.router.routes.append(metrics_route(registry))
    with TestClient(app) as client:
        samples = scrape(client)
    assert samples[("switchyard_metrics_scrape_error", ())] == 1
    assert datetime.now(UTC)  # the HTTP metrics are still there
    assert ("switchyard_messages", (("status", "sent"),)) not in samples
