"""A settings error never shows a value: not on CLI stderr, in Prefect logs and states, on the dashboard."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from cli.app import app
from core.secrets import MIN_SECRET_LENGTH, redact
from core.settings import SettingsError, get_settings

REAL_TOKEN = "a-real-gateway-token-0123"
VIEWS = Path(__file__).resolve().parents[2] / "dashboard" / "views"


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Production with a real gateway token but the platforms' development placeholder keys."""
    monkeypatch.setenv("SWITCHYARD_ENVIRONMENT", "production")
    monkeypatch.setenv("SWITCHYARD_GATEWAY__TOKEN", REAL_TOKEN)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def settings_error() -> SettingsError:
    get_settings.cache_clear()
    with pytest.raises(SettingsError) as caught:
        get_settings()
    return caught.value


def shown(error: BaseException) -> str:
    """Everything a traceback of ``error`` prints."""
    return "".join(traceback.format_exception(error))


def test_a_settings_error_names_the_setting_and_never_the_token(production: pytest.MonkeyPatch) -> None:
    error = settings_error()
    assert "platforms.weibo.api_key is the development placeholder" in str(error)
    assert REAL_TOKEN not in shown(error) and "input_value" not in shown(error)


def test_field_errors_are_listed_without_their_values(production: pytest.MonkeyPatch) -> None:
    production.setenv("SWITCHYARD_GATEWAY__CONCURRENCY", "0")
    production.setenv("SWITCHYARD_FETCH__ALLOWED_NETWORKS", "10.0.0.0/8,not-a-network-secret")
    error = settings_error()
    assert "gateway.concurrency: Input should be greater than or equal to 1" in str(error)
    assert "fetch.allowed_networks: item 2 is not a network" in str(error)
    assert "not-a-network-secret" not in shown(error) and REAL_TOKEN not in shown(error)


@pytest.mark.parametrize("token", ["", "T", "x" * (MIN_SECRET_LENGTH - 1)])
def test_empty_or_short_tokens_are_refused_outside_development(
    production: pytest.MonkeyPatch, token: str
) -> None:
    production.setenv("SWITCHYARD_GATEWAY__TOKEN", token)
    error = settings_error()
    assert f"gateway.token is shorter than {MIN_SECRET_LENGTH} characters" in str(error)
    assert f"'{token}'" not in shown(error)


def test_development_accepts_a_short_sandbox_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_GATEWAY__TOKEN", "T")
    get_settings.cache_clear()
    try:
        assert get_settings().gateway.token.get_secret_value() == "T"
    finally:
        monkeypatch.delenv("SWITCHYARD_GATEWAY__TOKEN")
        get_settings.cache_clear()


def test_redaction_never_reveals_a_short_token_by_its_letters() -> None:
    assert redact("The Token was sent", "T", "[token]") == "The Token was sent"
    assert redact(f"echo {REAL_TOKEN}!", REAL_TOKEN, "[token]") == "echo [token]!"


def test_the_cli_names_the_setting_on_stderr(production: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(app, ["mailings", "stats"])
    assert result.exit_code == 2
    assert "platforms.weibo.api_key" in result.stderr
    assert REAL_TOKEN not in result.output + result.stderr


def test_the_dashboard_names_the_setting(production: pytest.MonkeyPatch) -> None:
    at = AppTest.from_file(VIEWS / "mailings.py", default_timeout=30).run()
    (error,) = at.exception
    assert "platforms.weibo.api_key" in error.message
    assert REAL_TOKEN not in error.message + "".join(error.stack_trace)


@pytest.mark.usefixtures("prefect_harness")
def test_a_flow_run_names_the_setting_in_its_state_and_logs(
    production: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from flows.mailing import dispatch_mailings

    state = asyncio.run(dispatch_mailings(None, return_state=True))
    assert state.is_failed()
    assert "platforms.weibo.api_key" in str(state.message)
    logged = caplog.text + capfd.readouterr().err  # wherever Prefect's log went, tracebacks included
    assert "platforms.weibo.api_key" in logged
    assert REAL_TOKEN not in f"{state.message} {logged}" and "input_value" not in logged
