"""The API under test: a TestClient over ``create_app()`` on the real test database (SQLite, and
PostgreSQL when TEST_DATABASE_URL is set), and a key of each scope."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from commands.api_keys import create_key


@pytest.fixture(scope="session")
def app() -> FastAPI:
    return create_app()


@pytest.fixture
def client(app: FastAPI, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _key(sessions: sessionmaker[Session], scope: str) -> str:
    return create_key(name=f"test {scope}", scope=scope, sessions=sessions)[1]


@pytest.fixture
def read_key(sessions: sessionmaker[Session]) -> str:
    return _key(sessions, "read")


@pytest.fixture
def write_key(sessions: sessionmaker[Session]) -> str:
    return _key(sessions, "write")


@pytest.fixture
def admin_key(sessions: sessionmaker[Session]) -> str:
    return _key(sessions, "admin")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
