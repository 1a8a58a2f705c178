"""Shared fixtures: a real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set), the
sandbox on an ephemeral loopback port, and one Prefect test harness per session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette

from core.settings import PLATFORMS, SandboxSettings, get_settings
from db.base import Base
from db.engine import get_engine, session_factory
from db.migrate import upgrade
from sandbox.app import create_app
from sandbox.server import running_sandbox
from sandbox.smtp import Mailbox, running_smtp

# Settings every test sees: the sandbox on loopback may be fetched, and slow pages give up fast.
TEST_ENV = {
    "SWITCHYARD_FETCH__ALLOWED_NETWORKS": "127.0.0.1/32",
    "SWITCHYARD_FETCH__READ_TIMEOUT": "2",
    "SWITCHYARD_FETCH__CONNECT_TIMEOUT": "2",
    "SWITCHYARD_FETCH__PAGE_DEADLINE": "6",
    "SWITCHYARD_FETCH__BACKOFF": "0.05",
    "SWITCHYARD_FETCH__MAX_BYTES": "2000000",
    "SWITCHYARD_WEBPAGES__BATCH_SIZE": "50",
    "SWITCHYARD_API__STATS_SECONDS": "0",  # each test reads what it just stored (one test sets it)
}


def set_env(values: dict[str, str]) -> None:
    """Apply settings overrides through the environment, as a deployment would."""
    os.environ.update(values)
    get_settings.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def test_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    saved = dict(os.environ)
    set_env({**TEST_ENV, "SWITCHYARD_DATA_DIR": str(tmp_path_factory.mktemp("data"))})
    yield
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def _postgres_schema_url(base_url: str, schema: str) -> str:
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database: a SQLite file, or a fresh schema in TEST_DATABASE_URL's PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'switchyard.db'}"
        cleanup = None
    else:
        base_url = os.environ.get("TEST_DATABASE_URL")
        if not base_url:
            pytest.skip("PostgreSQL tests run when TEST_DATABASE_URL is set (.ci/run sets it)")
        schema = f"switchyard_test_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base_url)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = _postgres_schema_url(base_url, schema)

        def cleanup() -> None:
            get_engine(url).dispose()
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    previous = os.environ.get("SWITCHYARD_DATABASE_URL")
    set_env({"SWITCHYARD_DATABASE_URL": url})
    upgrade(url)
    yield url
    if previous is None:
        os.environ.pop("SWITCHYARD_DATABASE_URL", None)
    else:
        os.environ["SWITCHYARD_DATABASE_URL"] = previous
    get_settings.cache_clear()
    if cleanup:
        cleanup()


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """A sessionmaker on the test database; every table is emptied after the test."""
    yield session_factory(database_url)
    engine = get_engine(database_url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(scope="session")
def sandbox_app() -> Starlette:
    """The sandbox application: tests reach its knobs (``state.config``) and records through it."""
    return create_app(SandboxSettings(port=0))


ConfigureSandbox = Callable[..., SandboxSettings]


@pytest.fixture
def configure_sandbox(sandbox_app: Starlette) -> Iterator[ConfigureSandbox]:
    """Change the running sandbox's knobs for one test (``configure_sandbox(platform_articles=40)``)."""
    saved: SandboxSettings = sandbox_app.state.config

    def apply(**knobs: object) -> SandboxSettings:
        sandbox_app.state.config = saved.model_copy(update=knobs)
        return sandbox_app.state.config

    yield apply
    sandbox_app.state.config = saved


@pytest.fixture(scope="session")
def sandbox_url(sandbox_app: Starlette) -> Iterator[str]:
    """Base URL of the sandbox, started once on an ephemeral loopback port."""
    with running_sandbox(app=sandbox_app) as url:
        yield url


@pytest.fixture(scope="session")
def smtp_port(sandbox_app: Starlette, sandbox_url: str) -> Iterator[int]:
    """The sandbox's SMTP stand-in on an ephemeral loopback port, keeping mail in the sandbox app's
    mailbox (read at ``{sandbox_url}/smtp/messages``)."""
    with running_smtp(sandbox_app.state.mailbox, sandbox_app.state.config) as port:
        yield port


@pytest.fixture
def mailbox(smtp_port: int, sandbox_app: Starlette) -> Iterator[Mailbox]:
    """The SMTP stand-in as the report's server, emptied; the environment restored after."""
    saved = dict(os.environ)
    box: Mailbox = sandbox_app.state.mailbox
    box.clear()
    set_env({"SWITCHYARD_REPORT__SMTP_HOST": "127.0.0.1", "SWITCHYARD_REPORT__SMTP_PORT": str(smtp_port)})
    yield box
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect API and database for the whole session (~6 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture
def platforms_on_the_sandbox(sandbox_url: str) -> Iterator[None]:
    """Every platform's base URL on the test sandbox, quick retries; the environment restored after."""
    saved = dict(os.environ)
    urls = {f"SWITCHYARD_PLATFORMS__{p.upper()}__BASE_URL": f"{sandbox_url}/platforms/{p}" for p in PLATFORMS}
    set_env(urls | {"SWITCHYARD_BRIEFS__BACKOFF": "0.01", "SWITCHYARD_BRIEFS__READ_TIMEOUT": "1"})
    yield
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


@pytest.fixture
def microblog(sandbox_url: str, sessions: sessionmaker[Session]) -> Iterator[str]:
    """The sandbox's microblog, reset, as the settings' base URL; the environment restored after."""
    saved = dict(os.environ)
    base = f"{sandbox_url}/microblog"
    httpx.post(f"{base}/_control/reset").raise_for_status()
    set_env({"SWITCHYARD_MICROBLOG__BASE_URL": base})
    yield base
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def consent(url: str, *, deny: bool = False) -> str:
    """What a browser does at the sandbox's authorize URL: it approves (or, as a person refusing,
    denies) and redirects; the callback URL it redirects to."""
    answer = httpx.get(url + ("&decision=deny" if deny else ""))
    assert answer.status_code == 302
    return answer.headers["location"]


def connect_channel(login_hint: str = "demo_brand", owner: str = "ann", timezone: str = "UTC") -> int:
    """A channel connected for real on the sandbox's microblog, as a person would: the authorize link,
    the consent, the callback (the ``microblog`` fixture points the settings at it); its id."""
    from commands import channels

    url = channels.begin_connect(owner, timezone, "http://127.0.0.1:9/callback", login_hint=login_hint)
    return channels.finish_connect(consent(url)).id


@pytest.fixture
def finished_brief(sessions: sessionmaker[Session]) -> int:
    """A brief collected (its douyin search partial) and analysed into its zip; its id."""
    from tests.briefs_data import finished_brief_in

    return finished_brief_in(sessions)
