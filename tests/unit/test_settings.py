import ipaddress
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import Settings


def test_defaults_put_the_database_under_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SWITCHYARD_DATABASE_URL", raising=False)
    monkeypatch.delenv("SWITCHYARD_FETCH__ALLOWED_NETWORKS", raising=False)
    settings = Settings(data_dir=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'switchyard.db'}"
    assert settings.fetch.allowed_networks == []


def test_environment_with_prefix_and_nested_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_DATABASE_URL", "postgresql+psycopg2://u@db:5432/sy")
    monkeypatch.setenv("SWITCHYARD_FETCH__CONCURRENCY", "25")
    monkeypatch.setenv("SWITCHYARD_FETCH__ALLOWED_NETWORKS", "127.0.0.1/32, 10.1.0.0/16")
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg2://u@db:5432/sy"
    assert settings.fetch.concurrency == 25
    assert settings.fetch.allowed_networks == [
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.1.0.0/16"),
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SWITCHYARD_FETCH__CONCURRENCY", "0"),
        ("SWITCHYARD_FETCH__ALLOWED_NETWORKS", "not-a-network"),
        ("SWITCHYARD_DATABASE_URL", "mysql://x"),
        ("SWITCHYARD_SANDBOX__FAULT_RATE", "1.5"),
    ],
)
def test_bad_values_are_refused_with_the_setting_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_env_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWITCHYARD_WEBPAGES__BATCH_SIZE", raising=False)
    (tmp_path / ".env").write_text("SWITCHYARD_WEBPAGES__BATCH_SIZE=7\n")
    assert Settings().webpages.batch_size == 7


def test_a_lease_shorter_than_the_longest_batch_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_FETCH__CONCURRENCY", "10")
    monkeypatch.setenv("SWITCHYARD_WEBPAGES__BATCH_SIZE", "500")
    with pytest.raises(ValidationError, match="lease_seconds"):
        Settings()
    monkeypatch.setenv("SWITCHYARD_WEBPAGES__LEASE_SECONDS", "1501")
    assert Settings().webpages.lease_seconds == 1501
