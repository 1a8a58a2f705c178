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


def test_secret_keys_are_fernet_keys_and_production_refuses_the_development_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.crypto import Cipher, new_key
    from core.settings import DEV_SECRET_KEY, SettingsError, get_settings

    first, second = new_key(), new_key()
    monkeypatch.setenv("SWITCHYARD_SECRET_KEYS", f"{first}, {second}")
    keys = [key.get_secret_value() for key in Settings().secret_keys]
    assert keys == [first, second]
    old_token = Cipher([second]).encrypt("a secret")
    assert Cipher(keys).decrypt(old_token) == "a secret"  # every listed key decrypts
    rotated = Cipher(keys).rotate(old_token)
    assert Cipher([first]).decrypt(rotated) == "a secret"  # rotation re-encrypts with the first
    with pytest.raises(ValueError, match="cannot be decrypted"):
        Cipher([second]).decrypt(rotated)
    monkeypatch.setenv("SWITCHYARD_SECRET_KEYS", f"{first},not-a-key-at-all")
    with pytest.raises(ValidationError, match="key 2: not a Fernet key") as refused:
        Settings()
    assert "not-a-key-at-all" not in str(refused.value.errors(include_input=False))
    monkeypatch.setenv("SWITCHYARD_ENVIRONMENT", "production")
    monkeypatch.setenv("SWITCHYARD_GATEWAY__TOKEN", "a-real-gateway-token")
    for platform in ("WEIBO", "WEIXIN", "XIAOHONGSHU", "DOUYIN", "BILIBILI"):
        monkeypatch.setenv(f"SWITCHYARD_PLATFORMS__{platform}__API_KEY", "a-real-platform-key")
        monkeypatch.setenv(f"SWITCHYARD_PLATFORMS__{platform}__BASE_URL", "https://data.example/api")
    monkeypatch.setenv("SWITCHYARD_MICROBLOG__CLIENT_SECRET", "a-real-client-secret")
    monkeypatch.setenv("SWITCHYARD_SECRET_KEYS", DEV_SECRET_KEY)
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match="secret_keys holds the development key"):
            get_settings()
        monkeypatch.setenv("SWITCHYARD_SECRET_KEYS", first)
        get_settings.cache_clear()
        assert get_settings().environment == "production"
    finally:
        get_settings.cache_clear()


def test_report_settings_are_checked_and_the_password_never_shown(monkeypatch) -> None:
    import pytest
    from pydantic import ValidationError

    from core.settings import ReportSettings

    settings = ReportSettings(time="06:05", timezone="Asia/Tokyo", recipients="a@x.test, b@y.test")
    assert settings.cron == "5 6 * * *" and settings.recipients == ["a@x.test", "b@y.test"]
    for bad, field in [
        ({"time": "7am"}, "time"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"recipients": "ops"}, "recipients"),
    ]:
        with pytest.raises(ValidationError, match=field):
            ReportSettings(**bad)
    secret = ReportSettings(smtp_user="me", smtp_password="hunter2-long-password")
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret.model_dump())
