"""Fixtures of the dashboard tests."""

from __future__ import annotations

import prefect.context
import pytest


@pytest.fixture(autouse=True)
def no_prefect_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Prefect API, even after the session's test harness started one: runs wait for the schedule."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(prefect.context, "GLOBAL_SETTINGS_CONTEXT", prefect.context.root_settings_context())
