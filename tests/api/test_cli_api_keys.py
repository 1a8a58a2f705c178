"""``python -m cli api-keys create|list|revoke``: the key is printed once, stored only hashed, and
refused by the API once revoked."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from cli.app import app
from db.api_keys import ApiKey, hash_key
from tests.api.conftest import bearer

runner = CliRunner()


def test_create_list_revoke(client: TestClient, sessions: sessionmaker[Session]) -> None:
    created = runner.invoke(app, ["api-keys", "create", "--name", "billing", "--scope", "write"])
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("sy_")
    with sessions.begin() as session:
        row = session.scalar(select(ApiKey))
        assert (
            row is not None and row.secret_hash == hash_key(key) and key not in (row.secret_hash, row.prefix)
        )
    assert client.post("/clients", json={"phone": "79123456701"}, headers=bearer(key)).status_code == 201

    listed = runner.invoke(app, ["api-keys", "list"])
    assert listed.exit_code == 0 and "billing" in listed.output and "write" in listed.output
    assert key not in listed.output

    revoked = runner.invoke(app, ["api-keys", "revoke", str(row.id)])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert client.get("/clients", headers=bearer(key)).status_code == 401
    assert runner.invoke(app, ["api-keys", "revoke", "999"]).exit_code == 2


def test_bad_scope_is_refused(sessions: sessionmaker[Session]) -> None:
    answer = runner.invoke(app, ["api-keys", "create", "--name", "x", "--scope", "root"])
    assert answer.exit_code == 2
